#!/usr/bin/env bash
# What make check must leave as it found it: `tools/tree_state.sh save FILE`
# at the start records git's view of the work tree (every changed, added or
# untracked file that is not ignored, with a hash of its content);
# `tools/tree_state.sh compare FILE` at the end fails with the files whose
# state changed. Outside a git work tree (a release tarball) there is nothing
# to compare, and it says so.
set -euo pipefail
cd "$(dirname "$0")/.."
state() {
	git status --porcelain=v1 -z --no-renames --untracked-files=all | tr '\0' '\n' | sed 's/^...//' | sort -u |
		while IFS= read -r path; do
			if [ -f "$path" ]; then
				printf '%s  %s\n' "$(git hash-object --no-filters -- "$path")" "$path"
			else
				printf 'absent  %s\n' "$path"
			fi
		done
}
if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	[ "$1" = compare ] && echo "skip tree: not a git work tree, so no record of what make check may change"
	exit 0
fi
case "$1" in
save) state >"$2" ;;
compare)
	after=$(state)
	if changed=$(diff <(cat "$2") <(printf '%s\n' "$after" | sed '/^$/d') | sed -n 's/^[<>] [^ ]*  //p' | sort -u) &&
		[ -z "$changed" ]; then
		echo "ok   tree: make check changed no tracked file and left no new file git would see ($(wc -l <"$2") file(s) differed from the commit before it began, the same after)"
	else
		echo "FAIL tree: make check changed these files (git status shows them; commit what should be tracked, ignore what is built):"
		printf '%s\n' "$changed" | sed 's/^/     /'
		exit 1
	fi
	;;
*) echo "usage: $0 save FILE | compare FILE" >&2; exit 2 ;;
esac
