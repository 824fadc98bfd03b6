#!/usr/bin/env bash
# make check: what Rust users get. rmap-sys's example runs with plain
# `cargo run --example hello` (no LD_LIBRARY_PATH), librmap linked
# statically (the default) and, with the feature pkg-config, this tree's
# librmap.so; a fresh `cargo new` project on rmap-sys runs with plain `cargo
# run` and no environment; a fresh project that depends on rmap by path has
# no cbindgen in its dependency tree, no C library in its target, and runs;
# rmap/tests/memmap2_port.rs, with its `use librmap as memmap2;` line removed, builds
# and passes against memmap2 0.9 itself (so the port test is memmap2's API,
# not ours).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
failed=0

# rmap-sys's example: statically linked (the default), and with the
# installed-library feature finding this tree's librmap through pkg-config.
hello() { # hello TARGET-DIR [CARGO-ARGS...]
    local target=$1
    shift
    (cd bindings/rust/rmap-sys && env -u LD_LIBRARY_PATH cargo run -q --example hello --target-dir "$root/$target" "$@")
}
for how in static pkg-config; do
    # Static: the workspace's own target folder, which cargo test built.
    if [ $how = static ]; then out=$(PKG_CONFIG_PATH= PKG_CONFIG_LIBDIR=/nonexistent hello target)
    else out=$(PKG_CONFIG_PATH="$root/target/release" hello target/rmap-sys-dynamic --no-default-features --features pkg-config); fi
    dir=target; [ $how = static ] || dir=target/rmap-sys-dynamic
    dynamic=$(ldd "$dir/debug/examples/hello" | grep -c 'librmap\.so' || true)
    expected=1; [ $how = static ] && expected=0
    if [ "$out" = "hello from librmap $version" ] && [ "$dynamic" = "$expected" ]; then
        echo "ok   rmap-sys: cargo run --example hello (librmap linked $how$([ $how = static ] || echo ': librmap.so.0 from the tree')): $out"
    else echo "FAIL rmap-sys: the example (librmap linked $how) printed '$out', librmap.so in ldd: $dynamic"; failed=1; fi
done

# The projects live in target/rust-users and are made with `cargo new` once
# (again when what they depend on changes); their files are rewritten only
# when they differ, so a second run recompiles nothing.
user=$root/target/rust-users
mkdir -p "$user"
put() { # put FILE: stdin into FILE, unless FILE already holds exactly that
    local new
    new=$(cat)
    [ -f "$1" ] && [ "$(cat "$1")" = "$new" ] || printf '%s\n' "$new" >"$1"
}
# project NAME DEPENDENCY-LINE [--lib]: a `cargo new` project with that dependency.
# Made outside this tree and moved in: `cargo new` inside the workspace
# would add the project to its members (target/ is excluded from it, so
# there the project is a workspace of its own, with its own target folder).
project() {
    if ! grep -qxF "$2" "$user/$1/Cargo.toml" 2>/dev/null; then
        rm -rf "${user:?}/$1"
        local scratch
        scratch=$(mktemp -d /tmp/rmap-rust-user.XXXXXX)
        cargo new -q --vcs none ${3:-} "$scratch/$1"
        echo "$2" >>"$scratch/$1/Cargo.toml"
        mv "$scratch/$1" "$user/$1"
        rmdir "$scratch"
    fi
}
project uses-rmap "librmap = { path = \"$root/rmap\" }"
put "$user/uses-rmap/src/main.rs" <<'RUST'
fn main() -> std::io::Result<()> {
    let mut map = librmap::MmapOptions::new().len(4096).map_anon()?;
    map[..6].copy_from_slice(b"mapped");
    println!("{}", String::from_utf8_lossy(&map[..6]));
    Ok(())
}
RUST
tree=$(cd "$user/uses-rmap" && cargo tree -q -e normal,build)
if grep -q cbindgen <<<"$tree"; then echo "FAIL rust: a project depending on librmap pulls in cbindgen"; failed=1
else echo "ok   rust: cargo new + librmap by path: $(grep -c . <<<"$tree") crates in cargo tree, no cbindgen"; fi
out=$(cd "$user/uses-rmap" && cargo run)
if [ "$out" = mapped ]; then echo "ok   rust: the new project runs: $out"
else echo "FAIL rust: the new project printed '$out'"; failed=1; fi
# A Rust program builds the Rust crate, not the C library.
artefacts=$(find "$user/uses-rmap/target" \( -name 'librmap*.so*' -o -name 'librmap*.a' \) -printf '%P\n')
if [ -z "$artefacts" ]; then echo "ok   rust: no librmap*.so or librmap*.a in the new project's target folder"
else echo "FAIL rust: the new project's target folder holds C library artefacts: $artefacts"; failed=1; fi
# A fresh project on rmap-sys: plain `cargo run`, no environment but a
# bare PATH (and HOME, for cargo): librmap is compiled into the program.
project uses-rmap-sys "rmap-sys = { path = \"$root/bindings/rust/rmap-sys\" }"
put "$user/uses-rmap-sys/src/main.rs" <<'RUST'
fn main() {
    // SAFETY: rmap_version returns a static NUL-terminated string.
    let version = unsafe { std::ffi::CStr::from_ptr(rmap_sys::rmap_version()) };
    println!("librmap {}", version.to_str().unwrap());
}
RUST
cargo_bin=$(dirname "$(command -v cargo)")
if out=$(cd "$user/uses-rmap-sys" && env -i HOME="$HOME" PATH="$cargo_bin:/usr/bin:/bin" cargo run -q 2>&1) &&
    [ "$out" = "librmap $version" ]; then
    echo "ok   rmap-sys: a fresh cargo project runs with plain cargo run and no environment: $out"
    if ldd "$user/uses-rmap-sys/target/debug/uses-rmap-sys" | grep -q librmap; then
        echo "FAIL rmap-sys: the program links librmap.so, not the static build"; failed=1
    fi
else echo "FAIL rmap-sys: a fresh project's cargo run printed: $out"; failed=1; fi

project uses-memmap2 'memmap2 = "=0.9.12"' --lib
mkdir -p "$user/uses-memmap2/tests"
grep -v '^use librmap as memmap2;$' rmap/tests/memmap2_port.rs | put "$user/uses-memmap2/tests/port.rs"
if cmp -s rmap/tests/memmap2_port.rs "$user/uses-memmap2/tests/port.rs"; then
    echo "FAIL rust: rmap/tests/memmap2_port.rs lost its 'use librmap as memmap2;' line"; failed=1
elif (cd "$user/uses-memmap2" && cargo test --no-run --test port) &&
    out=$(cd "$user/uses-memmap2" && cargo test -q --test port 2>&1); then
    echo "ok   rust: rmap/tests/memmap2_port.rs without its use line passes against memmap2 $(cd "$user/uses-memmap2" && cargo tree -q -i memmap2 --depth 0 | sed 's/.* v//')"
else echo "FAIL rust: rmap/tests/memmap2_port.rs against memmap2 itself:"; echo "$out" | tail -20; failed=1; fi
exit $failed
