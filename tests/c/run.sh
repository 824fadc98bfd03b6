#!/usr/bin/env bash
# Runs librmap's C test suites and checks that each ends with
# "<suite>: N passed, 0 failed, N skipped" and exit status 0.
#   run.sh BIN_DIR SUITE...   (the Makefile gives the list)
# RUNNER, if set, prefixes every program (e.g. "valgrind --error-exitcode=99").
# Two suites run at a time (RMAP_SUITE_JOBS=1 for one), the longest first;
# each suite's output is printed whole when it ends, then its verdict.
set -u
read -r -a runner <<<"${RUNNER:-}"
bin=${1:?usage: run.sh BIN_DIR SUITE...}
shift
jobs=${RMAP_SUITE_JOBS:-2}
ulimit -c 0
work=$(mktemp -d /tmp/rmap-suites.XXXXXX)
trap 'rm -rf "$work"' EXIT
passed=0 failed=0

# The suites that take longest (seconds, measured) start first.
order=()
for suite in tolerant registry differential fault_safe "$@"; do
    for wanted in "$@"; do
        if [ "$suite" = "$wanted" ] && [[ " ${order[*]} " != *" $suite "* ]]; then order+=("$suite"); fi
    done
done

verdict() { # verdict SUITE: print its output and whether it passed
    local suite=$1 status summary
    status=$(cat "$work/$suite.status")
    sed 's/^/     | /' "$work/$suite.out"
    summary=$(tail -n 1 "$work/$suite.out")
    if [ "$status" -eq 0 ] && grep -Eq "^$suite: [0-9]+ passed, 0 failed, [0-9]+ skipped$" <<<"$summary"; then
        echo "ok   $suite: ${summary#"$suite": }"; passed=$((passed + 1))
    else
        echo "FAIL $suite: $summary (exit $status)"; failed=$((failed + 1))
    fi
}

declare -A running=() started=()
quiet_since=$SECONDS
# reap [LIMIT]: waits until fewer than LIMIT suites run (0: none), printing
# each one that ends, and every 5 s without a line which ones still run.
reap() {
    local limit=${1:-0} pid names
    while [ "${#running[@]}" -gt 0 ] && [ "${#running[@]}" -ge "$limit" ]; do
        for pid in "${!running[@]}"; do
            if ! kill -0 "$pid" 2>/dev/null; then
                wait "$pid"
                verdict "${running[$pid]}"
                unset "running[$pid]"
                quiet_since=$SECONDS
            fi
        done
        if [ $((SECONDS - quiet_since)) -ge 5 ]; then
            names=
            for pid in "${!running[@]}"; do names+=" ${running[$pid]} ($((SECONDS - started[$pid])) s)"; done
            echo "     ... still running:$names"
            quiet_since=$SECONDS
        fi
        sleep 0.1
        [ "$limit" -gt 0 ] && [ "${#running[@]}" -lt "$limit" ] && break
    done
}
for suite in "${order[@]}"; do
    if ! nm -u "$bin/$suite" | grep -q ' rmap_'; then
        echo "FAIL $suite: does not call librmap (nm)"; failed=$((failed + 1)); continue
    fi
    reap "$jobs"
    { "${runner[@]}" "$bin/$suite" >"$work/$suite.out" 2>&1; echo $? >"$work/$suite.status"; } &
    running[$!]=$suite
    started[$!]=$SECONDS
done
reap 0
echo "C test suites: $passed passed, $failed failed"
[ $failed -eq 0 ]
