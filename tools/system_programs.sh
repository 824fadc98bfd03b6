#!/usr/bin/env bash
# The programs make check takes from the system rather than from target/,
# in one table (docs/install.md "What make check needs from the system"
# says the same). `tools/system_programs.sh ensure PACKAGE...` installs a
# package whose programs are missing, with apt-get, when it can (as root on
# Debian or Ubuntu: CI); when it cannot, it says why and returns 0: the cases
# that need the program skip with that reason (`tools/system_programs.sh
# skip CASE PROGRAM`), and make check's last line counts them.
set -uo pipefail
cd "$(dirname "$0")/.."

# package     | programs it gives        | the cases that need them
TABLE='
lmdb-utils    | mdb_load mdb_stat mdb_dump | rmap-check on LMDB (tests/rmap-check/run.sh)
sqlite3       | sqlite3                   | rmap-check on sqlite3 (tests/rmap-check/run.sh)
clang         | clang++                   | rmap.hpp built with clang++ (make cpp-check)
abigail-tools | abidw abidiff             | the types and layouts of the ABI (make abi-check)
'
SKIPPED=target/skipped-cases

programs_of() { awk -F'|' -v p="$1" '{ gsub(/ /, "", $1) } $1 == p { n = split($2, w, " "); for (i = 1; i <= n; i++) print w[i] }' <<<"$TABLE"; }

missing_of() {
	local program
	for program in $(programs_of "$1"); do command -v "$program" >/dev/null || echo "$program"; done
}

case "${1:-}" in
ensure)
	shift
	mkdir -p target
	for package in "$@"; do
		[ -n "$(programs_of "$package")" ] || { echo "tools/system_programs.sh: no package $package in the table" >&2; exit 2; }
		[ -z "$(missing_of "$package")" ] && continue
		why=
		[ "$(id -u)" = 0 ] || why="not root"
		command -v apt-get >/dev/null || why="${why:+$why, }no apt-get"
		if [ -n "$why" ]; then
			echo "note: $package is not installed and cannot be installed here ($why): the cases that need $(missing_of "$package" | tr '\n' ' ')will be skipped"
			continue
		fi
		echo "== installing $package from the distribution (apt-get)"
		export DEBIAN_FRONTEND=noninteractive
		{ apt-get install -y -q "$package" || { apt-get update -q && apt-get install -y -q "$package"; }; } \
			>"target/apt-$package.log" 2>&1 ||
			{ tail -3 "target/apt-$package.log"; echo "note: apt-get could not install $package: the cases that need it will be skipped"; }
	done
	;;
skip)
	# skip CASE PROGRAM: print the reason, and count it for make check's summary.
	mkdir -p target
	line="skip $2: $3 is not installed (see docs/install.md, What make check needs from the system)"
	echo "$line"
	echo "$line" >>"$SKIPPED"
	;;
reset) rm -f "$SKIPPED" ;;
summary)
	if [ -s "$SKIPPED" ]; then
		echo "== make check: all passed, $(wc -l <"$SKIPPED") case(s) skipped for a missing system program:"
		sed 's/^/     /' "$SKIPPED"
	else
		echo "== make check: all passed"
	fi
	;;
*) echo "usage: $0 ensure PACKAGE... | skip CASE PROGRAM | reset | summary" >&2; exit 2 ;;
esac
