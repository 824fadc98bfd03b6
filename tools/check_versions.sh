#!/usr/bin/env bash
# One version number, [workspace.package] of the top Cargo.toml, and every
# place that states or derives it: the workspace's crates (which inherit
# it), rmap-check (a workspace of its own), the
# Python package, the header's RMAP_VERSION_* macros, the man pages, and the
# built library's SONAME (librmap.so.MAJOR) and pkg-config file.
# Usage: tools/check_versions.sh   (after make lib)
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)
[ -n "$version" ] || { echo "FAIL versions: no version in Cargo.toml's [workspace.package]"; exit 1; }
IFS=. read -r major minor patch <<<"$version"
problems=()
stated() { # stated WHERE FOUND
    [ "$2" = "$version" ] || problems+=("$1 says ${2:-nothing}")
}
field() { sed -n "s/^version = \"\(.*\)\"/\1/p" "$1" | head -n 1; }
stated tools/rmap-check/Cargo.toml "$(field tools/rmap-check/Cargo.toml)"
stated bindings/python/pyproject.toml "$(field bindings/python/pyproject.toml)"
for package in librmap librmap-ffi rmap-sys; do
    stated "cargo's version of $package" "$(cargo metadata --locked --no-deps --format-version 1 |
        python3 -c "import json, sys; print(next(p['version'] for p in json.load(sys.stdin)['packages'] if p['name'] == '$package'))")"
done
macro() { sed -n "s/^#define RMAP_VERSION_$1 \([0-9]*\)$/\1/p" include/rmap.h; }
stated "include/rmap.h's RMAP_VERSION_*" "$(macro MAJOR).$(macro MINOR).$(macro PATCH)"
stated "librmap.so's SONAME major" "$(readelf -d target/release/librmap.so | sed -n 's/.*Library soname: \[librmap\.so\.\([0-9]*\)\]/\1/p').$minor.$patch"
stated "target/release/rmap-uninstalled.pc" "$(sed -n 's/^Version: //p' target/release/rmap-uninstalled.pc)"
for page in man/*.3 tools/rmap-check/rmap-check.1; do
    grep -q "\"librmap $version\"" "$page" || problems+=("$page does not name librmap $version")
done
if [ ${#problems[@]} -gt 0 ]; then
    for problem in "${problems[@]}"; do echo "FAIL versions: $problem; Cargo.toml's [workspace.package] says $version"; done
    exit 1
fi
echo "ok   versions: $version everywhere (librmap, librmap-ffi, rmap-sys, rmap-check, the Python package, RMAP_VERSION_*, the SONAME's major $major, rmap-uninstalled.pc, $(ls man/*.3 | wc -l) man pages and rmap-check(1))"
