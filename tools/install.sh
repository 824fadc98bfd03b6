#!/usr/bin/env bash
# make install / make uninstall.
#   install.sh install RECORD      reads "SOURCE DESTINATION MODE" and
#                                  "-> TARGET LINK" lines on stdin (the
#                                  Makefile's install_list), installs each
#                                  under $DESTDIR ($PREFIX names the place in
#                                  the record), and writes RECORD: every
#                                  file and link written, every folder created
#   install.sh uninstall RECORD [PLACE]
#                                  removes what RECORD lists (files and links,
#                                  then the folders install created, when
#                                  empty); PLACE, when make was given PREFIX or
#                                  DESTDIR, must be where the record says the
#                                  install went, or nothing is removed
set -euo pipefail
action=${1:?usage: install.sh install|uninstall RECORD [PLACE]}
record=${2:?usage: install.sh install|uninstall RECORD [PLACE]}
destdir=${DESTDIR:-}

case $action in
install)
    lines=$(cat)
    created=() written=()
    # make_dirs DIR: creates DIR and its missing parents, remembering them.
    make_dirs() {
        local dir=$1 missing=()
        while [ ! -d "$dir" ]; do missing=("$dir" "${missing[@]}"); dir=$(dirname "$dir"); done
        for dir in "${missing[@]}"; do mkdir "$dir"; created+=("$dir"); done
    }
    while read -r first second third; do
        [ -n "$first" ] || continue
        if [ "$first" = "->" ]; then
            dest="$destdir$third"
            make_dirs "$(dirname "$dest")"
            ln -sfn "$second" "$dest"
        else
            dest="$destdir$second"
            make_dirs "$(dirname "$dest")"
            install -m "$third" "$first" "$dest"
        fi
        echo "installed $dest"
        written+=("$dest")
    done <<<"$lines"
    place=${PREFIX:?install.sh install needs PREFIX}
    mkdir -p "$(dirname "$record")"
    {
        echo "# What 'make install' wrote; 'make uninstall' removes it (files, then the folders it created, if empty)."
        echo "place $destdir$place"
        for f in "${written[@]}"; do echo "file $(realpath -ms "$f")"; done
        for d in "${created[@]}"; do echo "dir $(realpath -ms "$d")"; done
    } >"$record"
    echo "installed ${#written[@]} files into $destdir$place; 'make uninstall' removes them (the list is in $record)"
    # A real install (no stage): can programs find librmap.so.0 at run time?
    if [ -z "$destdir" ] && [ -n "${LIBDIR:-}" ]; then
        libdir=$(realpath -ms "$LIBDIR")
        ldconfig=$(PATH="$PATH:/usr/sbin:/sbin" command -v ldconfig || true)
        searched=$( { [ -z "$ldconfig" ] || "$ldconfig" -v -N 2>/dev/null; } | sed -n 's|^\(/[^:]*\):.*|\1|p')
        if grep -qxF "$libdir" <<<"$searched"; then
            if [ -w /etc/ld.so.cache ] && "$ldconfig"; then
                echo "ldconfig $ldconfig" >>"$record" # make uninstall runs it again
                echo "ran ldconfig: the dynamic loader finds librmap.so.0 in $libdir"
            else
                echo "note: the dynamic loader looks in $libdir, but its cache is stale until 'sudo ldconfig' runs"
            fi
        else
            echo "note: the dynamic loader does not look in $libdir: link programs with"
            echo "      -Wl,-rpath,$libdir  (that is: -Wl,-rpath,\$(pkg-config --variable=libdir rmap); see docs/install.md)"
        fi
    fi
    ;;
uninstall)
    asked=${3:-}
    if [ ! -f "$record" ]; then
        echo "make uninstall: $record is missing, so there is no record of what 'make install' wrote here:" >&2
        echo "nothing removed. ('make install' with the same PREFIX and DESTDIR writes it again; then 'make uninstall'.)" >&2
        exit 1
    fi
    place=$(sed -n 's/^place //p' "$record")
    if [ -n "$asked" ] && [ "$(realpath -ms "$asked")" != "$(realpath -ms "$place")" ]; then
        echo "make uninstall: the last 'make install' went to $place, not $asked: nothing removed." >&2
        echo "(Run 'make uninstall' without PREFIX and DESTDIR to remove that install.)" >&2
        exit 1
    fi
    removed=0
    while read -r kind path; do
        [ "$kind" = file ] || continue
        if [ -e "$path" ] || [ -L "$path" ]; then rm -f "$path"; removed=$((removed + 1)); fi
    done <"$record"
    # Folders deepest first, and only those install created that are now empty.
    grep '^dir ' "$record" | cut -d' ' -f2- | awk '{ print length($0) " " $0 }' | sort -rn | cut -d' ' -f2- |
        while read -r dir; do rmdir "$dir" 2>/dev/null || true; done
    ldconfig=$(sed -n 's/^ldconfig //p' "$record")
    rm -f "$record"
    echo "removed $removed files installed into $place"
    if [ -n "$ldconfig" ] && "$ldconfig"; then echo "ran ldconfig: the loader's cache forgets librmap.so.0"; fi
    ;;
*)
    echo "usage: install.sh install|uninstall RECORD [PLACE]" >&2
    exit 2
    ;;
esac
