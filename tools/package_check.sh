#!/usr/bin/env bash
# The crates as crates.io would get them: `cargo package` for the three
# crates meant for it (each verified by building it from its package alone,
# against a local registry of the others), then a fresh cargo project that
# depends on the packaged librmap (target/package-check/package, not the
# workspace) and runs README.md's and docs/rust.md's examples as written.
# Usage: tools/package_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)
# cargo verifies each package against the others through a registry of
# them (tmp-registry), and it takes a registry's crates for immutable: an
# unpacked copy under $CARGO_HOME/registry/src (in a folder named after the
# registry's path) and a build in the target folder, once made, are reused
# for the same name and version, so a second run in the same folder (or a
# clone at a path used before) verified against the crates of an earlier
# run. Both go first: the unpacked copies of our own packages (never
# crates.io's, whose folder is index.crates.io-*), and the builds of our
# packages in a target folder that only this check uses.
for unpacked in "${CARGO_HOME:-$HOME/.cargo}"/registry/src/-*/{librmap,librmap-ffi,rmap-sys}-"$version"; do
    if [ -d "$unpacked" ]; then rm -rf "$unpacked"; fi
done
out=target/package-check
rm -rf "$out"/debug/.fingerprint/{librmap,librmap-ffi,rmap-sys}-* "$out"/package
# Offline when make check's builds already fetched what it needs.
CARGO_TARGET_DIR=$out cargo package --workspace --locked --offline --allow-dirty >target/package.log 2>&1 ||
    CARGO_TARGET_DIR=$out cargo package --workspace --locked --allow-dirty >target/package.log 2>&1 || { cat target/package.log; echo "FAIL cargo package"; exit 1; }
packaged=$(sed -n 's/^ *Packaging \([^ ]*\) v\([^ ]*\) .*/\1 \2/p' target/package.log | paste -sd, - | sed 's/,/, /g')
echo "ok   crates.io: $(grep -c '^ *Verifying' target/package.log) crates packaged and built alone: $packaged"

# example DOCUMENT OUTPUT: the document's first Rust block, as a fresh
# project's main.rs on the packaged librmap, prints OUTPUT.
example() {
    local document=$1 want=$2 user result
    user=target/rust-users/from-package
    rm -rf "$user" && mkdir -p "$user/src"
    printf '[package]\nname = "from-package"\nversion = "0.1.0"\nedition = "2024"\n\n[dependencies]\nlibrmap = { path = "%s" }\n\n[workspace]\n' \
        "$PWD/$out/package/librmap-$version" >"$user/Cargo.toml"
    awk '/^```rust$/ { inside = 1; next } /^```$/ { if (inside) exit; inside = 0 } inside' "$document" >"$user/src/main.rs"
    # One target folder for both projects: the packaged librmap is built once.
    result=$(cd "$user" && CARGO_TARGET_DIR=../target cargo run -q 2>&1) || { echo "$result"; echo "FAIL a project on the packaged librmap does not build or run $document's example"; exit 1; }
    [ "$result" = "$want" ] || { echo "$result"; echo "FAIL $document's example printed the above, not: $want"; exit 1; }
    echo "ok   crates.io: a fresh project on $out/package/librmap-$version (not the workspace) runs $document's Rust example: $result"
}
example README.md "hello"
example docs/rust.md "8192 bytes mapped, byte 4096 is 7, the tail starts with 7"
