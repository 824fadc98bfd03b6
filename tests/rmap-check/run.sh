#!/usr/bin/env bash
# rmap-check(1) against plain programs (no librmap in their build) and real
# ones. Usage: run.sh RMAP_CHECK BIN_DIR VENV_PYTHON
#   BIN_DIR holds misuse, misuse-static, correct and plugin.so built from
#   this directory's sources.
set -u
checker=$1 bin=$2 python=$3
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/rmap-check-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
passed=0 failed=0 skipped=0
# skip_missing CASE PROGRAM: a case whose system program is not installed (counted for make check's summary)
skip_missing() { bash "$here/../../tools/system_programs.sh" skip "$1" "$2"; skipped=$((skipped + 1)); }

check() { # check DESCRIPTION COMMAND...: the command's status says ok or FAIL
    local what=$1
    shift
    if "$@"; then
        echo "ok   $what"; passed=$((passed + 1))
    else
        echo "FAIL $what"; failed=$((failed + 1))
        echo "     stderr was:"; sed 's/^/     | /' "$work/err" | head -20
    fi
}

# run ARGS...: runs a command, stdout to $work/out, stderr to $work/err, status to $status
run() { "$@" >"$work/out" 2>"$work/err"; status=$?; }
count() { grep -c "^rmap: $1:" "${2:-$work/err}"; }
no_reports() { ! grep -v '^rmap: summary:' "$work/err" | grep -q '^rmap: '; }
only_leaks() { ! grep -v '^rmap: summary:\|^rmap: leak:' "$work/err" | grep -q '^rmap: '; }
summary_of() { grep '^rmap: summary:' "$work/err" | tail -n 1; }

# The line of misuse.c a report names: its location through addr2line.
line_of() { grep -n "LINE: $1" "$here/misuse.c" | cut -d: -f1; }
located_at() { # located_at KIND LINE-TAG [which "at"]: the report's location resolves to that line
    local report location
    report=$(grep "^rmap: $1:" "$work/err" | head -n 1)
    # The object's path may hold spaces: the shortest match up to "+0x...".
    location=$(grep -oP "$3 \\K/.*?\\+0x[0-9a-f]+" <<<"$report" | head -n 1)
    [ -n "$location" ] || return 1
    [ "$(addr2line -e "${location%+*}" "${location##*+}" | sed 's/.*://; s/ .*//')" = "$(line_of "$2")" ]
}

echo "== the three misuses"
run "$bin/misuse"
check "without rmap-check: misuse runs, and nothing is reported" \
    eval '[ $status = 0 ] && ! grep -q "^rmap:" "$work/err"'
run "$checker" "$bin/misuse"
check "under rmap-check: exit 0, exactly 3 reports (double-unmap, leak, write-exec) and a summary" \
    eval '[ $status = 0 ] && [ "$(count double-unmap)" = 1 ] && [ "$(count leak)" = 1 ] && [ "$(count write-exec)" = 1 ] &&
          [ "$(grep -c "^rmap: " "$work/err")" = 4 ] && summary_of | grep -q "6 calls (mmap 3, munmap 3), 3 reports"'
check "the double unmap names both lines (addr2line): the second munmap and the first" \
    eval 'located_at double-unmap "double unmap" "at" && located_at double-unmap "first unmap" "unmapped at"'
check "the leak names the line that mapped it" eval 'located_at leak leak "created at"'
check "the write+exec mapping names its line" eval 'located_at write-exec write-exec "at"'
check "the refused munmap returned -1 to the program (checked mode's documented refusal)" \
    grep -q "second munmap returned -1" "$work/out"
# rmap-check's symbolizer: function and file:line after each object+offset.
named() { # named KIND TEXT...: the report's line holds each text
    local report
    report=$(grep "^rmap: $1:" "$work/err" | head -n 1)
    shift
    for text; do [[ $report == *"$text"* ]] || return 1; done
}
check "each report names the function and misuse.c:LINE of its call and of where the mapping was made" \
    eval 'named double-unmap "(main, " "misuse.c:$(line_of "double unmap")): already" "misuse.c:$(line_of "first unmap"))" &&
          named leak "created at " "(main, " "misuse.c:$(line_of leak))" && named write-exec "misuse.c:$(line_of write-exec))" &&
          ! grep -q "[[:cntrl:]]" <(tr -d "\n" <"$work/err")'
cp "$bin/misuse" "$work/misuse-stripped" && strip --strip-debug "$work/misuse-stripped"
run "$checker" "$work/misuse-stripped"
check "without debug information: object+offset as before, and no source line" \
    eval '[ "$(count double-unmap)" = 1 ] && named double-unmap "misuse-stripped+0x" && ! grep -q "misuse.c:" "$work/err" &&
          ! grep -q "[[:cntrl:]]" <(tr -d "\n" <"$work/err")'

echo "== rmap-check beside its program"
run "$checker" "$bin/misuse" exit 3
check "the program's exit status is rmap-check's (3)" eval '[ $status = 3 ]'
"$checker" "$bin/misuse" sleep 30 >"$work/out" 2>"$work/err" &
launcher=$!
for _ in $(seq 100); do grep -q "sleeping" "$work/out" && break; sleep 0.05; done
kill -TERM $launcher
wait $launcher
status=$?
check "SIGTERM sent to rmap-check reaches the program, which it dies of; rmap-check says its summary was lost and dies of it too" \
    eval '[ $status = 143 ] && grep -q "was killed by signal 15 .* before librmap could list its leaks and summary" "$work/err"'
run "$checker" sh -c '"$1" sleep 30 & echo $! >"$2"' - "$bin/misuse" "$work/background"
check "a process the program leaves running does not keep rmap-check waiting" \
    eval '[ $status = 0 ] && kill -0 "$(cat "$work/background")"'
kill "$(cat "$work/background")" 2>/dev/null

echo "== options"
run "$checker" --leaks=no "$bin/misuse"
check "--leaks=no: no leak line, the two other reports" \
    eval '[ $status = 0 ] && [ "$(count leak)" = 0 ] && [ "$(count double-unmap)" = 1 ] && [ "$(count write-exec)" = 1 ]'
run "$checker" --error-exitcode=9 "$bin/misuse"
check "--error-exitcode=9: exit status 9 when reports were made" eval '[ $status = 9 ]'
# (through a second shell, which says "Aborted" into $work/err rather than here)
run bash -c '"$@"; exit $?' - "$checker" --abort-on-report "$bin/misuse"
check "--abort-on-report: SIGABRT at the first report (the double unmap), nothing after it" \
    eval '[ $status = 134 ] && [ "$(grep -c "^rmap: " "$work/err")" = 1 ] && [ "$(count double-unmap)" = 1 ]'
run "$checker" --log-file="$work/log" "$bin/misuse"
check "--log-file: the reports and summary go to the file, none to stderr" \
    eval '[ $status = 0 ] && ! grep -q "^rmap:" "$work/err" && [ "$(grep -c "^rmap: " "$work/log")" = 4 ]'
run "$checker" --summary=no "$bin/misuse"
check "--summary=no: the reports without the summary" \
    eval '[ "$(count summary)" = 0 ] && [ "$(count double-unmap)" = 1 ]'
run "$checker" --bogus "$bin/misuse"
check "an unknown option: exit 2 and a message" eval '[ $status = 2 ] && grep -q "unknown option" "$work/err"'
run "$checker" "$work/no-such-program"
check "a program that does not exist: exit 127 and a message" eval '[ $status = 127 ] && grep -q "No such file" "$work/err"'
run "$checker" no-such-program-on-the-path
check "a program not on PATH: exit 127 and a message" eval '[ $status = 127 ] && grep -q "command not found" "$work/err"'
run "$checker" --version
check "--version prints rmap-check's version" eval '[ $status = 0 ] && grep -q "^rmap-check [0-9]" "$work/out"'

run "$checker" --json --error-exitcode=9 "$bin/misuse"
check "--json: one JSON object per line (double-unmap, write-exec, leak, summary), each with its fields and its function, file and line" \
    eval '[ $status = 9 ] && "$python" -c "
import json, sys
kinds = []
for line in open(sys.argv[1]):
    o = json.loads(line)
    assert o[\"pid\"] > 0 and o[\"message\"].startswith(\"rmap: \")
    if o[\"kind\"] != \"summary\":
        where = o.get(\"caller\") or o.get(\"created_by\")
        assert where[\"object\"].endswith(\"/misuse\") and where[\"offset\"].startswith(\"0x\")
        assert where[\"function\"] == \"main\" and where[\"file\"].endswith(\"/misuse.c\"), where
        assert where[\"line\"] == int(sys.argv[2 + [\"double-unmap\", \"leak\", \"write-exec\"].index(o[\"kind\"])]), where
        assert \"misuse.c:%d)\" % where[\"line\"] in o[\"message\"], o[\"message\"]
    kinds.append(o[\"kind\"])
assert sorted(kinds) == [\"double-unmap\", \"leak\", \"summary\", \"write-exec\"], kinds
" "$work/err" "$(line_of "double unmap")" "$(line_of leak)" "$(line_of write-exec)"'

echo "== a page past the end of a file, touched"
head -c 100 /dev/zero >"$work/short"
run bash -c '"$@"; exit $?' - "$checker" "$bin/misuse" past-eof "$work/short"
check "the read past the end of the file: the beyond-eof report (naming the mmap line), its leak and summary, then SIGBUS" \
    eval '[ $status = 135 ] && [ "$(grep -c "^rmap: " "$work/err")" = 3 ] && grep -q "^rmap: beyond-eof: 0x[0-9a-f]* touched, file offset 4096 of the mapping mmap(" "$work/err" &&
          located_at beyond-eof "past eof" "created at" && named beyond-eof "misuse.c:$(line_of "past eof"))" &&
          named leak "misuse.c:$(line_of "past eof"))" && summary_of | grep -q "1 call (mmap 1), 2 reports (leak 1, beyond-eof 1)"'

echo "== a store into a hole on a full disk"
if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null; then
    skipped=$((skipped + 1))
    echo "skip a store into a hole on a full disk: mounting a 1 MiB tmpfs needs root and unshare(1)"
else
    mkdir -p "$work/small"
    run bash -c '"$@"; exit $?' - unshare --mount sh -c 'mount -t tmpfs -o size=1m none "$1" && shift && exec "$@"' sh "$work/small" \
        "$checker" "$bin/misuse" no-space "$work/small"
    check "reported as no-space (not beyond-eof), with the byte's file offset and the mmap line, then SIGBUS" \
        eval '[ $status = 135 ] && grep -q "^rmap: no-space: 0x[0-9a-f]* written, file offset 8192 of the mapping mmap(" "$work/err" &&
              ! grep -q "beyond-eof" "$work/err" && named no-space "misuse.c:$(line_of "no space"))"'
fi

echo "== a mapping replaced behind the C library's back"
run "$checker" "$bin/misuse" behind-back
check "unmapped and mapped again with syscall(): the program's later munmap is refused as stale, the new mapping left alone" \
    eval '[ $status = 0 ] && grep -q "munmap of the replaced mapping returned -1" "$work/out" &&
          [ "$(count unmap-unowned)" = 1 ] && grep -q "replaced behind librmap.s back" "$work/err"'

echo "== what cannot be seen is said"
if [ -x "$bin/misuse-static" ]; then
    run "$checker" "$bin/misuse-static"
    check "a statically linked program: refused with a message saying why (exit 2)" \
        eval '[ $status = 2 ] && grep -q "statically linked" "$work/err"'
else
    skipped=$((skipped + 1))
    echo "skip a statically linked program: the C library's static archive (libc.a) is not installed, so none was built"
fi

echo "== correct use, threads, signals, dlopen, fork, exec"
run "$bin/correct" "$bin/plugin.so"
cp "$work/out" "$work/plain-out"
check "without rmap-check: correct passes its own checks" eval '[ $status = 0 ] && grep -q " 0 failed" "$work/out"'
run "$checker" --error-exitcode=9 "$bin/correct" "$bin/plugin.so"
check "under rmap-check: the same output, exit 0, and no report at all" \
    eval '[ $status = 0 ] && cmp -s "$work/out" "$work/plain-out" && [ "$(grep -c "^rmap: " "$work/err")" = "$(count summary)" ]'
check "the summary counts the calls of every kind (mmap, munmap, mprotect, mremap, madvise, msync, mlock, mincore)" \
    eval 'summary_of | grep -q "mmap [0-9]*, munmap [0-9]*, msync 1, mprotect [0-9]*, madvise [0-9]*, mlock 1, munlock 1, mremap 2, mincore 2), 0 reports"'
check "the forked child (ending with exit) has its own summary, under its own pid" \
    eval '[ "$(grep "^rmap: summary:" "$work/err" | cut -d" " -f4 | sort -u | wc -l)" = 2 ]'
run "$checker" "$bin/correct" "$bin/plugin.so" "$bin/misuse"
check "fork+exec: the executed misuse program is checked too (its 3 reports, under its own pid)" \
    eval '[ $status = 0 ] && [ "$(count double-unmap)" = 1 ] && [ "$(count write-exec)" = 1 ] && [ "$(count leak)" = 1 ] &&
          [ "$(grep "^rmap: summary:" "$work/err" | grep -c "3 reports")" = 1 ]'
run "$checker" --trace-children=no "$bin/correct" "$bin/plugin.so" "$bin/misuse"
check "--trace-children=no: the executed program runs unchecked (no report; its second munmap returns 0)" \
    eval '[ $status = 0 ] && [ "$(grep -c "^rmap: " "$work/err")" = "$(count summary)" ] && grep -q "returned 0" "$work/out"'

echo "== real programs"
cat >"$work/mmap_use.py" <<'EOF'
import mmap, os, sys
path = sys.argv[1]
with open(path, "wb") as f:
    f.write(b"x" * 8192)
with open(path, "r+b") as f:
    m = mmap.mmap(f.fileno(), 8192)
    m[0:5] = b"hello"
    m.resize(16384)
    m[10000:10005] = b"world"
    m.flush()
    m.close()
a = mmap.mmap(-1, 1 << 20)
a.write(b"abc" * 1000)
a.close()
data = open(path, "rb").read()
print(data[:5], data[10000:10005], len(data))
EOF
run "$python" "$work/mmap_use.py" "$work/py.bin"
cp "$work/out" "$work/plain-out"
run "$checker" --error-exitcode=9 --leaks=no "$python" "$work/mmap_use.py" "$work/py.bin"
check "python3 with the mmap module (map, resize, flush, close): same output, exit 0, no report" \
    eval '[ $status = 0 ] && cmp -s "$work/out" "$work/plain-out" && no_reports'
echo "     $(summary_of)"
repo=$(git -C "$here" rev-parse --show-toplevel 2>/dev/null)
if [ -n "$repo" ]; then
    git -C "$repo" log -p >"$work/plain-out" 2>/dev/null
    run "$checker" git -C "$repo" log -p
    check "git log -p on this repository: same output, exit 0, no report but leak lines" \
        eval '[ $status = 0 ] && cmp -s "$work/out" "$work/plain-out" && only_leaks'
    echo "     $(summary_of)"
    run "$checker" git -C "$repo" fsck
    check "git fsck on this repository: exit 0, no report but leak lines" eval '[ $status = 0 ] && only_leaks'
    echo "     $(summary_of)"
else
    skipped=$((skipped + 1))
    echo "skip git log -p and git fsck: not run from a git clone"
fi
# LMDB maps its whole map size (here 1 GiB) over a smaller file on purpose,
# and touches only the file's pages: correct, so nothing to report.
{ printf 'VERSION=3\nformat=print\ntype=btree\nmapsize=1073741824\nHEADER=END\n'
  seq 1 2000 | awk '{ print " key" $1; print " value" $1 }'; echo DATA=END; } >"$work/lmdb.txt"
if ! command -v mdb_load >/dev/null || ! command -v mdb_stat >/dev/null || ! command -v mdb_dump >/dev/null; then
    skip_missing "LMDB's mdb_stat and mdb_dump under rmap-check" "lmdb-utils (mdb_load, mdb_stat, mdb_dump)"
elif mdb_load -n -f "$work/lmdb.txt" "$work/lmdb" 2>"$work/err"; then
    run "$checker" --error-exitcode=9 mdb_stat -n -a "$work/lmdb"
    check "LMDB's mdb_stat -a (a 1 GiB map over a 132 KiB file): exit 0, no report" \
        eval '[ $status = 0 ] && grep -q "Entries: 2000" "$work/out" && no_reports'
    echo "     $(summary_of)"
    mdb_dump -n -a "$work/lmdb" >"$work/plain-out"
    run "$checker" --error-exitcode=9 mdb_dump -n -a "$work/lmdb"
    check "LMDB's mdb_dump -a: same output, exit 0, no report" \
        eval '[ $status = 0 ] && cmp -s "$work/out" "$work/plain-out" && no_reports'
    echo "     $(summary_of)"
else
    check "mdb_load makes the test database" false
fi
sql="PRAGMA mmap_size=268435456; CREATE TABLE t(k, v); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) INSERT INTO t SELECT i, hex(randomblob(32)) FROM n; SELECT count(*), sum(k) FROM t;"
if command -v sqlite3 >/dev/null; then
    run "$checker" --error-exitcode=9 sqlite3 "$work/sqlite.db" "$sql"
    check "sqlite3 with PRAGMA mmap_size (20,000 rows written and read): exit 0, no report" \
        eval '[ $status = 0 ] && grep -q "^20000|200010000$" "$work/out" && no_reports'
    echo "     $(summary_of)"
else
    skip_missing "sqlite3 with PRAGMA mmap_size under rmap-check" sqlite3
fi
seq 1 1000000 | awk '{ print ($1 * 7919) % 1000003 }' >"$work/numbers"
sort -S 200M -n "$work/numbers" >"$work/plain-out"
run "$checker" --error-exitcode=9 sort -S 200M -n "$work/numbers"
check "sort -S 200M of 1,000,000 numbers: same output, exit 0, no report (its summary despite sort closing stderr)" \
    eval '[ $status = 0 ] && cmp -s "$work/out" "$work/plain-out" && no_reports && [ "$(count summary)" = 1 ]'
echo "     $(summary_of)"

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
