#!/usr/bin/env bash
# The README works as written: its first C example, saved as hello.c, builds
# with the command in the sh block right under it (run from the repository
# root, as the README says) and runs; and it builds without a single warning
# with the README's pkg-config line (against this tree's rmap-uninstalled.pc);
# and a machine without cargo is told how to get it.
set -u
cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/rmap-readme.XXXXXX)
trap 'rm -rf "$work"' EXIT

# The first ```c block, and the first line of the ```sh block that follows it.
awk '/^```c$/ && !seen { inside = 1; seen = 1; next } inside && /^```$/ { inside = 0; exit } inside' README.md >"$work/hello.c"
command=$(awk '/^```c$/ { c = 1 } c && /^```sh$/ { getline; print; exit }' README.md)
if [ ! -s "$work/hello.c" ] || [ -z "$command" ]; then
    echo "FAIL readme: no C example with a build command under it"; exit 1
fi
# A scratch copy of the repository root: the command's relative paths and
# $PWD resolve as in the real one, and hello.c lands in no tracked tree.
ln -s "$PWD/include" "$PWD/target" "$work/"
if ! (cd "$work" && eval "$command") >"$work/log" 2>&1; then
    cat "$work/log"; echo "FAIL readme: the first C example does not build with: $command"; exit 1
fi
program=$(grep -o -- '-o [^ ]*' <<<"$command" | cut -d' ' -f2)
output=$(cd "$work" && "./${program:-a.out}" 2>&1)
status=$?
if [ $status -ne 0 ]; then
    echo "$output"; echo "FAIL readme: the first C example exits $status"; exit 1
fi
echo "ok   readme: the first C example builds with '$command' and prints: $output"

# The pkg-config line of "Install and link", with hello.c for prog.c.
line=$(awk '/^## Install and link/ { s = 1 } s && /pkg-config --cflags --libs rmap/ { print; exit }' README.md |
    sed 's/ *#.*//')
[ -n "$line" ] || { echo "FAIL readme: no pkg-config line under 'Install and link'"; exit 1; }
line=${line//prog.c/hello.c}
if ! (cd "$work" && export PKG_CONFIG_PATH="$work/target/release" && eval "$line -o hello-pc") >"$work/log" 2>&1; then
    cat "$work/log"; echo "FAIL readme: hello.c does not build with: $line"; exit 1
fi
if [ -s "$work/log" ]; then
    cat "$work/log"; echo "FAIL readme: hello.c built with '$line' gives warnings"; exit 1
fi
output=$(cd "$work" && LD_LIBRARY_PATH="$work/target/release" ./hello-pc 2>&1) ||
    { echo "$output"; echo "FAIL readme: hello.c built with pkg-config does not run"; exit 1; }
echo "ok   readme: hello.c builds with '$line' (rmap-uninstalled.pc) without a warning and prints: $output"

# Without cargo, make says what is missing and where to get it.
out=$(env PATH=/usr/bin:/bin CARGO=rmap-no-such-cargo make -s cargo-ready 2>&1)
if [ $? -ne 0 ] && grep -q rustup <<<"$out" && grep -q "not on PATH" <<<"$out"; then
    echo "ok   readme: without cargo, make stops and says: $(head -n 1 <<<"$out") ... rustup ..."
else echo "$out"; echo "FAIL readme: make without cargo does not point at rustup"; exit 1; fi
