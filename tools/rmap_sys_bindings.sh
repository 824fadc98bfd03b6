#!/usr/bin/env bash
# rmap-sys's bindings are committed (src/bindings.rs: building rmap-sys needs
# no libclang). `check` regenerates them with bindgen (the feature bindgen;
# LIBCLANG_PATH from the Makefile) and fails if they differ; `update`
# writes them.
# Usage: tools/rmap_sys_bindings.sh check|update
set -euo pipefail
cd "$(dirname "$0")/.."
# Not quiet: the first build of bindgen takes ~10 s, its progress shows.
out=$(cargo build --locked --manifest-path bindings/rust/rmap-sys/Cargo.toml --features bindgen \
    --target-dir target/rmap-sys-bindgen --message-format json | python3 -c '
import json, sys
for line in sys.stdin:
    message = json.loads(line)
    if message.get("reason") == "build-script-executed" and "rmap-sys" in message["package_id"]:
        print(message["out_dir"])')
generated=$out/bindings.rs
committed=bindings/rust/rmap-sys/src/bindings.rs
case ${1:-check} in
update) cp "$generated" "$committed"; echo "wrote $committed" ;;
check)
    if cmp -s "$generated" "$committed"; then
        echo "ok   rmap-sys: src/bindings.rs is what bindgen generates from include/rmap.h ($(grep -c 'pub fn' "$committed") functions)"
    else
        diff -u "$committed" "$generated" | head -30
        echo "FAIL rmap-sys: src/bindings.rs is stale: run  make rmap-sys-bindings"; exit 1
    fi ;;
esac
