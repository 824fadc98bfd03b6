#!/usr/bin/env bash
# make cargo-c-check: cargo-c's build of librmap-ffi (in DIR) against
# make's (target/release): the same SONAME, the same exported symbols
# (abi/symbols.txt), and a pkg-config file with the same name, version and
# libraries.
# Usage: tools/cargo_c_check.sh DIR
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:?usage: cargo_c_check.sh DIR}
soname() { readelf -d "$1" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p'; }
field() { sed -n "s/^$1: //p" "$2"; }
problems=()
[ "$(soname "$dir/librmap.so")" = "$(soname target/release/librmap.so)" ] ||
    problems+=("SONAME $(soname "$dir/librmap.so"), make's $(soname target/release/librmap.so)")
nm -D --defined-only "$dir/librmap.so" | awk '{print $3}' | sort | diff -q - abi/symbols.txt >/dev/null ||
    problems+=("its exports are not abi/symbols.txt's")
for key in Name Version Libs Libs.private; do
    [ "$(field "$key" "$dir/rmap.pc")" = "$(field "$key" target/release/rmap-uninstalled.pc)" ] ||
        problems+=("rmap.pc's $key '$(field "$key" "$dir/rmap.pc")', make's '$(field "$key" target/release/rmap-uninstalled.pc)'")
done
if [ ${#problems[@]} -gt 0 ]; then
    for problem in "${problems[@]}"; do echo "FAIL cargo-c: $problem"; done
    exit 1
fi
echo "ok   cargo-c: cargo cbuild makes what make does: SONAME $(soname "$dir/librmap.so"), the $(wc -l <abi/symbols.txt) exports of abi/symbols.txt, rmap.pc (Name, Version, Libs, Libs.private)"
