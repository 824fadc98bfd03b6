#!/usr/bin/env bash
# make check: the Python wheel is tagged for its platform, installs alone in a
# fresh venv and imports with no environment; a build with no librmap to
# bundle fails at install time, saying why.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf target/wheel target/wheel-venv
target/venv/bin/pip wheel -q --disable-pip-version-check --no-deps -w target/wheel bindings/python
wheel=$(ls target/wheel/rmap-*.whl)
case $wheel in
*-linux_x86_64.whl) ;;
*) echo "FAIL wheel: $wheel is not tagged for its platform"; exit 1 ;;
esac
target/venv/bin/python -m venv target/wheel-venv
target/wheel-venv/bin/pip install -q --disable-pip-version-check --no-index "$wheel"
python=$PWD/target/wheel-venv/bin/python
(cd / && env -i PATH=/usr/bin:/bin "$python" -c '
import rmap
m = rmap.mmap(-1, 4096)
m[0:5] = b"hello"
assert m[0:5] == b"hello" and rmap.stats()["live_mappings"] == 1
print(rmap.__file__)' | grep -q wheel-venv) || { echo "FAIL wheel: the installed wheel does not import alone"; exit 1; }
echo "ok   wheel: $(basename "$wheel") installs alone in a fresh venv and imports with no environment"

alone=$(mktemp -d /tmp/rmap-wheel.XXXXXX)
trap 'rm -rf "$alone"' EXIT
cp -r bindings/python "$alone"
rm -rf "$alone"/python/build "$alone"/python/*.egg-info
if out=$(PKG_CONFIG_LIBDIR=/nonexistent target/venv/bin/pip install -q --disable-pip-version-check "$alone"/python 2>&1); then
    echo "FAIL wheel: bindings/python copied away from librmap installed without a librmap"; exit 1
fi
grep -q "rmap: no librmap to build against" <<<"$out" || { echo "FAIL wheel: no clear message: $out"; exit 1; }
echo "ok   wheel: a copy of bindings/python alone fails at install time: rmap: no librmap to build against ..."
