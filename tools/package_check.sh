#!/usr/bin/env bash
# The crates as crates.io would get them: `cargo package` for the three
# crates meant for it (each verified by building it from its package alone,
# against a local registry of the others), then a fresh cargo project that
# depends on the packaged librmap (target/package, not the workspace) and
# runs docs/rust.md's example as written.
# Usage: tools/package_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# Offline when make check's builds already fetched what it needs.
cargo package --workspace --locked --offline --allow-dirty >target/package.log 2>&1 ||
    cargo package --workspace --locked --allow-dirty >target/package.log 2>&1 || { cat target/package.log; echo "FAIL cargo package"; exit 1; }
packaged=$(sed -n 's/^ *Packaging \([^ ]*\) v\([^ ]*\) .*/\1 \2/p' target/package.log | paste -sd, - | sed 's/,/, /g')
echo "ok   crates.io: $(grep -c '^ *Verifying' target/package.log) crates packaged and built alone: $packaged"

version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)
# example DOCUMENT OUTPUT: the document's first Rust block, as a fresh
# project's main.rs on the packaged librmap, prints OUTPUT.
example() {
    local document=$1 want=$2 user out
    user=target/rust-users/from-package
    rm -rf "$user" && mkdir -p "$user/src"
    printf '[package]\nname = "from-package"\nversion = "0.1.0"\nedition = "2024"\n\n[dependencies]\nlibrmap = { path = "%s" }\n\n[workspace]\n' \
        "$PWD/target/package/librmap-$version" >"$user/Cargo.toml"
    awk '/^```rust$/ { inside = 1; next } /^```$/ { if (inside) exit; inside = 0 } inside' "$document" >"$user/src/main.rs"
    # One target folder for both projects: the packaged librmap is built once.
    out=$(cd "$user" && CARGO_TARGET_DIR=../target cargo run -q 2>&1) || { echo "$out"; echo "FAIL a project on the packaged librmap does not build or run $document's example"; exit 1; }
    [ "$out" = "$want" ] || { echo "$out"; echo "FAIL $document's example printed the above, not: $want"; exit 1; }
    echo "ok   crates.io: a fresh project on target/package/librmap-$version (not the workspace) runs $document's Rust example: $out"
}
example README.md "hello"
example docs/rust.md "8192 bytes mapped, byte 4096 is 7, the tail starts with 7"
