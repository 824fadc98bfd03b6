#!/usr/bin/env bash
# Prints, one per line, an interpreter for each CPython the Python package
# supports (3.9 to 3.13), or for the versions named as arguments (3.12 ...):
# python3.X on PATH if it runs, else pyenv's (`pyenv root`/versions/3.X.*,
# ~/.pyenv when pyenv itself is not on PATH). Exits 1, naming what is
# missing, when one cannot be found: make check runs each interpreter's own
# test_mmap, so a missing one is a failure, not a skip.
set -u
versions=("$@")
[ ${#versions[@]} -gt 0 ] || versions=(3.9 3.10 3.11 3.12 3.13)
missing=()
root=$(pyenv root 2>/dev/null) || root=~/.pyenv
for version in "${versions[@]}"; do
    found=
    if [ "$("python$version" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" = "$version" ]; then
        found=$("python$version" -c 'import sys; print(sys.executable)')
    else
        for candidate in "$root"/versions/"$version".*/bin/python3; do
            [ -x "$candidate" ] && found=$candidate
        done
    fi
    if [ -n "$found" ]; then echo "$found"; else missing+=("$version"); fi
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "no CPython ${missing[*]} found (python3.X on PATH, or pyenv's); the Python package supports 3.9 to 3.13" >&2
    exit 1
fi
