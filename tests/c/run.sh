#!/usr/bin/env bash
# Runs librmap's C test suites and checks that each ends with
# "<suite>: N passed, 0 failed, N skipped" and exit status 0.
#   run.sh BIN_DIR SUITE...   (the Makefile gives the list)
# RUNNER, if set, prefixes every program (e.g. "valgrind --error-exitcode=99").
set -u
read -r -a runner <<<"${RUNNER:-}"
bin=${1:?usage: run.sh BIN_DIR SUITE...}
shift
ulimit -c 0
out=$(mktemp /tmp/rmap-suite.XXXXXX)
trap 'rm -f "$out"' EXIT
passed=0 failed=0
for suite in "$@"; do
    if ! nm -u "$bin/$suite" | grep -q ' rmap_'; then
        echo "FAIL $suite: does not call librmap (nm)"; failed=$((failed + 1)); continue
    fi
    "${runner[@]}" "$bin/$suite" 2>&1 | tee "$out" | sed -u 's/^/     | /'
    status=${PIPESTATUS[0]}
    summary=$(tail -n 1 "$out")
    if [ "$status" -eq 0 ] && grep -Eq "^$suite: [0-9]+ passed, 0 failed, [0-9]+ skipped$" <<<"$summary"; then
        echo "ok   $suite: ${summary#"$suite": }"; passed=$((passed + 1))
    else
        echo "FAIL $suite: $summary (exit $status)"; failed=$((failed + 1))
    fi
done
echo "C test suites: $passed passed, $failed failed"
[ $failed -eq 0 ]
