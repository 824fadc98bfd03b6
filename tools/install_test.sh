#!/usr/bin/env bash
# Install test: the staged install of docs/install.md, run as written (with
# its own stage); `make install` into a temporary DESTDIR, then build a
# program that is not part of the build with nothing but pkg-config,
# dynamically and statically; run both; check what they link; check the
# three version sources agree; `make uninstall` (given nothing but the
# record install wrote) must leave no file behind, and without a record it
# must refuse.
set -u
cd "$(dirname "$0")/.."
root=$PWD
make=${MAKE:-make}
stage=$(mktemp -d /tmp/rmap-stage.XXXXXX)
work=$(mktemp -d /tmp/rmap-outside.XXXXXX)
trap 'rm -rf "$stage" "$work"' EXIT
failed=0
ok() { echo "ok   install: $*"; }
bad() { echo "FAIL install: $*"; failed=1; }
# Never the user's own record (target/installed-files) of a real install.
export INSTALL_RECORD="$work/record"
unset PKG_CONFIG_PATH PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR DESTDIR PREFIX
expected_hello="hello from librmap $(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)"

# docs/install.md's staged install, run as written with the README's
# hello.c: its make line in the repository root, the rest in a scratch
# folder (hello.c is not written into the tree); only STAGE is its own.
block=$(awk '/^<!-- staged-install/ { s = 1; next } s && /^```sh$/ { b = 1; next } b && /^```$/ { exit } b' docs/install.md)
if [ -z "$block" ] || ! grep -q '^STAGE=' <<<"$block"; then bad "docs/install.md has no staged-install block starting with STAGE="
else
    mkdir "$work/scratch" "$work/stage"
    awk '/^```c$/ && !seen { inside = 1; seen = 1; next } inside && /^```$/ { exit } inside' README.md >"$work/scratch/hello.c"
    script=$(sed "s|^STAGE=.*|STAGE='$work/stage'|; s|^make \(.*\)|(cd \"\$ROOT\" \&\& \"\$MAKE\" -s \1 >/dev/null)|" <<<"$block")
    if out=$(cd "$work/scratch" && ROOT=$root MAKE=$make bash -euc "$script" 2>&1) && [ "$(tail -n 1 <<<"$out")" = "$expected_hello" ]; then
        ok "docs/install.md's staged install, run as written: $(tail -n 1 <<<"$out")"
    else echo "$out" | tail -20; bad "docs/install.md's staged install does not work as written"; fi
    "$make" -s uninstall >/dev/null 2>&1 || bad "make uninstall after the staged install failed"
    left=$(cd "$work/stage" && find . -type f -o -type l)
    [ -z "$left" ] && ok "make uninstall (no PREFIX, no DESTDIR) removed everything the staged install wrote" ||
        bad "left behind after the staged install: $left"
fi

# docs/install.md's install under a prefix the loader does not search, run
# as written with its own PREFIX: the program runs with no LD_LIBRARY_PATH.
block=$(awk '/^<!-- prefix-install/ { s = 1; next } s && /^```sh$/ { b = 1; next } b && /^```$/ { exit } b' docs/install.md)
if [ -z "$block" ] || ! grep -q '^PREFIX=' <<<"$block"; then bad "docs/install.md has no prefix-install block starting with PREFIX="
else
    mkdir -p "$work/prefix-scratch"
    awk '/^```c$/ && !seen { inside = 1; seen = 1; next } inside && /^```$/ { exit } inside' README.md >"$work/prefix-scratch/hello.c"
    script=$(sed "s|^PREFIX=.*|PREFIX='$work/prefix'|; s|^make \(.*\)|(cd \"\$ROOT\" \&\& \"\$MAKE\" -s \1 >/dev/null)|" <<<"$block")
    if out=$(cd "$work/prefix-scratch" && env -u LD_LIBRARY_PATH ROOT="$root" MAKE="$make" bash -euc "$script" 2>&1) &&
        [ "$(tail -n 1 <<<"$out")" = "$expected_hello" ]; then
        ok "docs/install.md's install under another prefix, run as written: the program runs without LD_LIBRARY_PATH: $(tail -n 1 <<<"$out")"
    else echo "$out" | tail -20; bad "docs/install.md's install under another prefix does not work as written"; fi
    "$make" -s uninstall >/dev/null 2>&1 || bad "make uninstall after the prefix install failed"
fi

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
"$make" -s install DESTDIR="$stage" PREFIX=/usr >"$work/log" 2>&1 || { cat "$work/log"; bad "make install failed"; exit 1; }

expected=$(printf '%s\n' usr/include/rmap.h usr/include/rmap.hpp usr/lib/librmap.a usr/lib/librmap.so usr/lib/librmap.so.0 \
    "usr/lib/librmap.so.$version" usr/lib/pkgconfig/rmap.pc \
    usr/bin/rmap-check usr/lib/rmap/librmap_check.so usr/share/man/man1/rmap-check.1 \
    $(for page in man/*.3; do echo "usr/share/man/man3/${page#man/}"; done) | sort)
installed=$(cd "$stage" && find . -type f -o -type l | sed 's|^\./||' | sort)
if [ "$installed" = "$expected" ]; then ok "DESTDIR holds exactly the $(wc -l <<<"$expected") expected files"
else bad "installed files differ:"; diff <(echo "$expected") <(echo "$installed"); fi
[ "$(readlink "$stage/usr/lib/librmap.so")" = librmap.so.0 ] &&
    [ "$(readlink "$stage/usr/lib/librmap.so.0")" = "librmap.so.$version" ] &&
    ok "librmap.so -> librmap.so.0 -> librmap.so.$version" || bad "library links are wrong"

cat >"$work/outside.c" <<'EOF'
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS under -std=c11, as for <sys/mman.h> */
#include <rmap.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    char *p = rmap_map(NULL, 100, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == RMAP_FAILED) return 1;
    strcpy(p, "mapped");
    int number_ok = RMAP_VERSION_NUMBER == RMAP_VERSION_MAJOR * 10000 + RMAP_VERSION_MINOR * 100 + RMAP_VERSION_PATCH;
    printf("%s %s %s %s\n", p, RMAP_VERSION_STRING, rmap_version(), number_ok ? "number-ok" : "number-bad");
    return rmap_unmap(p, 100);
}
EOF
export PKG_CONFIG_PATH="$stage/usr/lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$stage"
cflags=$(pkg-config --cflags rmap) libs=$(pkg-config --libs rmap) static_libs=$(pkg-config --static --libs rmap)
# shellcheck disable=SC2086
if cc -std=c11 -Wall -Wextra -Werror "$work/outside.c" $cflags $libs -o "$work/dynamic"; then
    out=$(LD_LIBRARY_PATH="$stage/usr/lib" "$work/dynamic")
    [ "$out" = "mapped $version $version number-ok" ] && ok "dynamic build with '$cflags $libs' runs: $out" ||
        bad "dynamic program printed '$out'"
    resolved=$(LD_LIBRARY_PATH="$stage/usr/lib" ldd "$work/dynamic" | awk '$1 == "librmap.so.0" {print $3}')
    [ "$resolved" = "$stage/usr/lib/librmap.so.0" ] && ok "ldd: librmap.so.0 => $resolved" ||
        bad "ldd resolves librmap.so.0 to '$resolved'"
else bad "dynamic build failed"; fi

# Static: pkg-config --static supplies Libs.private; -l:librmap.a picks the archive.
static_libs=${static_libs/-lrmap /-l:librmap.a }
# shellcheck disable=SC2086
if cc -std=c11 -Wall -Wextra -Werror "$work/outside.c" $cflags $static_libs -o "$work/static"; then
    out=$("$work/static")
    [ "$out" = "mapped $version $version number-ok" ] && ok "static build with '$static_libs' runs: $out" ||
        bad "static program printed '$out'"
    ldd "$work/static" | grep -q librmap && bad "static program still needs librmap.so" ||
        ok "static program needs no librmap.so (ldd)"
else bad "static build failed"; fi

cat >"$work/outside.cpp" <<'EOF'
#include <rmap.hpp>
#include <cstdio>

int main()
{
    rmap::mapping m = rmap::mapping::anonymous(100);
    m.write(0, "mapped", 7);
    char back[7];
    m.read(0, back, 7);
    std::printf("%s from C++\n", back);
}
EOF
# shellcheck disable=SC2086
if c++ -std=c++17 -Wall -Wextra -Wpedantic -Wold-style-cast -Werror "$work/outside.cpp" $cflags $libs -o "$work/cpp"; then
    out=$(LD_LIBRARY_PATH="$stage/usr/lib" "$work/cpp")
    [ "$out" = "mapped from C++" ] && ok "C++ build of <rmap.hpp> with '$cflags $libs' runs: $out" ||
        bad "C++ program printed '$out'"
else bad "C++ build with <rmap.hpp> failed"; fi

# The installed rmap-check finds its preload in ../lib/rmap/ and checks a
# program from outside the build.
cat >"$work/unmap_twice.c" <<'EOF'
#define _DEFAULT_SOURCE
#include <sys/mman.h>
int main(void)
{
    void *p = mmap(0, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(p, 4096);
    return munmap(p, 4096) == 0;
}
EOF
if cc -std=c11 -o "$work/unmap_twice" "$work/unmap_twice.c"; then
    "$stage/usr/bin/rmap-check" --error-exitcode=3 "$work/unmap_twice" 2>"$work/err"
    status=$?
    [ $status = 3 ] && grep -q '^rmap: double-unmap: munmap(' "$work/err" &&
        ok "the installed rmap-check finds usr/lib/rmap/librmap_check.so and reports a double unmap (exit 3)" ||
        { cat "$work/err"; bad "installed rmap-check: exit status $status"; }
    checker_version=$("$stage/usr/bin/rmap-check" --version)
    [ "$checker_version" = "rmap-check $version" ] && ok "rmap-check --version says $version" ||
        bad "rmap-check --version says '$checker_version'"
else bad "building a program for rmap-check failed"; fi

header_version=$(sed -n 's/#define RMAP_VERSION_STRING "\(.*\)"/\1/p' include/rmap.h)
[ "$header_version" = "$version" ] && ok "Cargo.toml, rmap.h and rmap_version() all say $version" ||
    bad "Cargo.toml says $version, rmap.h says $header_version"

"$make" -s uninstall PREFIX=/elsewhere >"$work/log" 2>&1 && bad "make uninstall PREFIX=/elsewhere ran, though the install went to $stage/usr" ||
    { grep -q "went to $stage/usr, not /elsewhere" "$work/log" && [ -n "$(cd "$stage" && find . -type f)" ] &&
        ok "make uninstall with another PREFIX than the install's: refused, nothing removed ($(head -n 1 "$work/log" | cut -c1-60)...)" ||
        { cat "$work/log"; bad "make uninstall with another PREFIX: no clear refusal"; }; }
"$make" -s uninstall >"$work/log" 2>&1 || { cat "$work/log"; bad "make uninstall failed"; }
left=$(cd "$stage" && find . -type f -o -type l)
dirs=$(cd "$stage" && find . -mindepth 1 -type d)
[ -z "$left" ] && [ -z "$dirs" ] && ok "make uninstall, given nothing but install's record, left no file and no folder behind" ||
    bad "left behind: $left $dirs"
"$make" -s uninstall >"$work/log" 2>&1 && bad "make uninstall without a record exited 0" ||
    { grep -q "no record of what 'make install' wrote" "$work/log" &&
        ok "make uninstall without a record: exit non-zero, nothing removed, and why ($(head -n 1 "$work/log" | cut -c1-60)...)" ||
        { cat "$work/log"; bad "make uninstall without a record: no clear message"; }; }
exit $failed
