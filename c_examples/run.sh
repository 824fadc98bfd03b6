#!/usr/bin/env bash
# The seed programs and demos of c_examples/, built against librmap.
#   run.sh check BIN_DIR PROGRAM...  check each program's result; one line per
#                                    check, then "N passed, N failed"; exit 1 on
#                                    any failure (the Makefile gives the list)
#   run.sh demo BIN_DIR [RMAP_CHECK] the story: plain mmap against librmap on the
#                                    same mistakes, librmap's additions, then the
#                                    seed programs, each line saying what it shows
# RUNNER, if set, prefixes every program (e.g. "valgrind --error-exitcode=99").
set -u
read -r -a runner <<<"${RUNNER:-}"
mode=${1:?usage: run.sh check|demo BIN_DIR [PROGRAM...]}
bin=${2:?usage: run.sh check|demo BIN_DIR [PROGRAM...]}
shift 2
ulimit -c 0
work=$(mktemp -d /tmp/rmap-examples.XXXXXX)
trap 'rm -rf "$work"' EXIT
passed=0 failed=0

pass() { passed=$((passed + 1)); printf 'ok   %-18s %s\n' "$1" "$2"; }
fail() { failed=$((failed + 1)); printf 'FAIL %-18s %s\n' "$1" "$2"; [ -s "$work/out" ] && sed 's/^/     | /' "$work/out"; }

# run PROGRAM ARGS...: output in $work/out, exit status in $status (128+N: signal N).
run() {
    "${runner[@]}" "$bin/$1" "${@:2}" >"$work/out" 2>&1 &
    wait $! 2>/dev/null
    status=$?
}

# A file of N bytes "abcd...": byte 20 is 'u'.
make_file() { yes abcdefghijklmnopqrstuvwxyz | tr -d '\n' | head -c "$2" >"$1"; }
byte_at() { dd if="$1" bs=1 skip="$2" count=1 status=none; }

check_all() {
    for prog in "$@"; do
        if nm -u "$bin/$prog" | grep -q ' rmap_'; then pass "$prog" "links rmap_* from librmap (nm)"
        else : >"$work/out"; fail "$prog" "does not call librmap"; fi
    done

    run pagesize
    if [ $status -eq 0 ] && [ "$(sed -n 1p "$work/out")" = "$(getconf PAGESIZE)" ] &&
        [ "$(sed -n 3p "$work/out")" = "$(getconf PAGESIZE)" ]; then
        pass pagesize "rmap_pagesize() = getpagesize() = sysconf = $(getconf PAGESIZE)"
    else fail pagesize "page sizes disagree (exit $status)"; fi

    make_file "$work/f" 64
    run shared_modify "$work/f"
    if [ $status -eq 0 ] && [ "$(byte_at "$work/f" 20)" = 9 ]; then
        pass shared_modify "MAP_SHARED write + MS_SYNC: byte 20 of the file is now '9'"
    else fail shared_modify "byte 20 is '$(byte_at "$work/f" 20)' (exit $status)"; fi

    make_file "$work/f" 64
    run private_modify "$work/f"
    if [ $status -eq 0 ] && grep -q "has '9'" "$work/out" && [ "$(byte_at "$work/f" 20)" = u ]; then
        pass private_modify "MAP_PRIVATE write seen in the mapping, file byte 20 still 'u'"
    else fail private_modify "byte 20 is '$(byte_at "$work/f" 20)' (exit $status)"; fi

    make_file "$work/f" 64
    "${runner[@]}" "$bin/shm_reader" "$work/f" S >"$work/reader" 2>&1 &
    reader=$!
    sleep 0.3
    run shm_writer "$work/f" private P
    private_status=$status
    sleep 0.3
    run shm_writer "$work/f" shared S
    shared_status=$status
    wait $reader
    reader_status=$?
    cp "$work/reader" "$work/out"
    if [ $reader_status -eq 0 ] && [ "$(tail -n 1 "$work/reader" | cut -c21)" = S ]; then
        pass shm_reader "saw the other process's MAP_SHARED write ('S' at byte 20)"
    else fail shm_reader "did not see the shared write (exit $reader_status)"; fi
    if [ $private_status -eq 0 ] && [ $shared_status -eq 0 ] && ! cut -c21 "$work/reader" | grep -q P &&
        [ "$(byte_at "$work/f" 20)" = S ]; then
        pass shm_writer "MAP_PRIVATE write ('P') reached neither the reader nor the file"
    else fail shm_writer "private write leaked, or a writer failed ($private_status, $shared_status)"; fi

    run anon_parent_child
    if [ $status -eq 0 ] && [ "$(cat "$work/out")" = "child got a message: hi, this is father
parent got a message: hi, dad, this is son" ]; then
        pass anon_parent_child "both messages crossed MAP_SHARED|MAP_ANONYMOUS"
    else fail anon_parent_child "unexpected output (exit $status)"; fi

    make_file "$work/f" 100
    run past_eof "$work/f" inside
    if [ $status -eq 0 ] && [ "$(stat -c %s "$work/f")" = 100 ] && [ "$(byte_at "$work/f" 99)" = v ]; then
        pass past_eof "write inside the last page past EOF: no fault, file still 100 bytes"
    else fail past_eof "inside: exit $status, size $(stat -c %s "$work/f")"; fi
    run past_eof "$work/f" eof-page
    if [ $status -eq $((128 + 7)) ]; then pass past_eof "first page wholly past EOF: SIGBUS"
    else fail past_eof "eof-page: exit $status, expected SIGBUS (135)"; fi
    run past_eof "$work/f" past-mapping
    if [ $status -eq $((128 + 11)) ]; then pass past_eof "past the end of the mapping: SIGSEGV"
    else fail past_eof "past-mapping: exit $status, expected SIGSEGV (139)"; fi
    run past_eof "$work/f" eof-page-tolerant
    if [ $status -eq 0 ] && grep -q "goes on: p_map\[[0-9]*\] is '9'" "$work/out" &&
        grep -q "file offset $(getconf PAGESIZE) was lost; rmap_query flags RMAP_INFO_DAMAGED; rmap_sync -> -1 (Input/output error)" "$work/out" &&
        [ "$(stat -c %s "$work/f")" = 100 ]; then
        pass past_eof "the same write after rmap_tolerate: goes on, the loss told, the file still 100 bytes"
    else fail past_eof "eof-page-tolerant: exit $status"; fi

    run fork_counter
    if [ $status -eq 0 ] && [ "$(cat "$work/out")" = "child: 1
child: 2
child: 3
a: 1
shared: 4" ]; then
        pass fork_counter "malloc counter stays 1 in the parent; MAP_SHARED one reaches 4"
    else fail fork_counter "unexpected output (exit $status)"; fi

    run sem_counter "$work/sem"
    values=$(grep -E '^(parent|child): ' "$work/out" | sed 's/.*: //' | sort -n | tr '\n' ' ')
    if [ $status -eq 0 ] && [ "$values" = "0 1 2 3 4 5 " ] && grep -qx 'final count: 6' "$work/out" &&
        [ "$(grep -c '^parent: ' "$work/out")" = 3 ] && [ "$(grep -c '^child: ' "$work/out")" = 3 ]; then
        pass sem_counter "values 0..5 each printed once (3 parent, 3 child), final count 6"
    else fail sem_counter "values '$values' (exit $status)"; fi

    # The four mistakes, plain and through librmap in checked mode.
    make_file "$work/f" 8192
    run mistakes truncated plain "$work/f"
    if [ $status -eq $((128 + 7)) ]; then pass mistakes "plain: a pointer read of a truncated mapping dies of SIGBUS"
    else fail mistakes "truncated plain: exit $status, expected SIGBUS (135)"; fi
    make_file "$work/f" 8192
    RMAP_CHECK=1 run mistakes truncated rmap "$work/f"
    if [ $status -eq 0 ] && grep -q '^result: rmap_read -> -1 EIO (Input/output error) at byte 0' "$work/out"; then
        pass mistakes "librmap: rmap_read of the same page: EIO at byte 0, the program goes on"
    else fail mistakes "truncated rmap: exit $status"; fi
    run mistakes double-unmap plain
    if [ $status -eq 0 ] && grep -q '^result: munmap(p) again -> 0$' "$work/out" && ! grep -q '^rmap: ' "$work/out"; then
        pass mistakes "plain: the second munmap of a page answers 0"
    else fail mistakes "double-unmap plain: exit $status"; fi
    RMAP_CHECK=1 run mistakes double-unmap rmap
    if [ $status -eq 0 ] && grep -q '^result: rmap_unmap(p) again -> -1 EINVAL$' "$work/out" &&
        [ "$(grep -c '^rmap: double-unmap: ' "$work/out")" = 1 ]; then
        pass mistakes "librmap checked mode: the second rmap_unmap is refused (EINVAL) and reported"
    else fail mistakes "double-unmap rmap: exit $status"; fi
    make_file "$work/f" 100
    run mistakes past-eof plain "$work/f"
    if [ $status -eq $((128 + 7)) ] && ! grep -q '^rmap: ' "$work/out"; then
        pass mistakes "plain: a write to a page past the end of the file dies of SIGBUS, nothing said"
    else fail mistakes "past-eof plain: exit $status"; fi
    RMAP_CHECK=1 run mistakes past-eof rmap "$work/f"
    # Behind librmap's handler the fault is delivered again to SIG_DFL, which
    # valgrind reports as SIGSEGV (reproduced without librmap).
    if [ -n "${RMAP_UNDER_VALGRIND:-}" ] && [ $status -eq $((128 + 11)) ]; then status=$((128 + 7)); fi
    if [ $status -eq $((128 + 7)) ] && [ "$(grep -c '^rmap: beyond-eof: ' "$work/out")" = 1 ]; then
        pass mistakes "librmap checked mode: the same write is reported (beyond-eof), then SIGBUS"
    else fail mistakes "past-eof rmap: exit $status"; fi
    run mistakes leak plain
    if [ $status -eq 0 ] && ! grep -q '^rmap: ' "$work/out"; then pass mistakes "plain: a leaked mapping: exit 0, nothing said"
    else fail mistakes "leak plain: exit $status"; fi
    RMAP_CHECK=1 run mistakes leak rmap
    if [ $status -eq 0 ] && [ "$(grep -c '^rmap: leak: ' "$work/out")" = 1 ]; then
        pass mistakes "librmap checked mode: the leak is reported at exit with its creation site"
    else fail mistakes "leak rmap: exit $status"; fi

    run tour
    if [ $status -eq 0 ] && grep -q '^rmap: double-unmap: ' "$work/out" && grep -q 'again -> -1, errno EINVAL' "$work/out" &&
        [ "$(grep -c 'libc \(E[A-Z]*\) *librmap \1$' "$work/out")" = 5 ]; then
        pass tour "5 wrong calls: same errno from libc and librmap; a double unmap reported and refused"
    else fail tour "unexpected output (exit $status)"; fi

    run mapped_log append "$work/log" 5000
    if [ $status -eq 0 ]; then run mapped_log recover "$work/log"; fi
    if [ $status -eq 0 ] && grep -q '^recovered 5000 records' "$work/out"; then
        pass mapped_log "5000 records appended through a growing mapping, recovered whole"
    else fail mapped_log "append and recover: exit $status"; fi
    run mapped_log crash "$work/crash-log" "${MAPPED_LOG_CRASHES:-200}"
    if [ $status -eq 0 ]; then pass mapped_log "$(sed -n 's/ (up to.*in)//; s/recovery returned/recovered/p' "$work/out"); $(sed -n 's/ (the shared.*//p' "$work/out") (the shared counter)"
    else fail mapped_log "kill -9 of the writer: exit $status"; fi
    # A 1 MiB tmpfs of its own (a private mount namespace): root only.
    if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null; then
        echo "skip mapped_log           the full disk: mounting a 1 MiB tmpfs needs root and unshare(1)"
    else
        mkdir -p "$work/small"
        unshare --mount sh -c 'mount -t tmpfs -o size=1m none "$1" && shift && exec "$@"' sh "$work/small" \
            "${runner[@]}" "$bin/mapped_log" fill "$work/small" 100 >"$work/out" 2>&1
        status=$?
        if [ $status -eq 0 ]; then pass mapped_log "on a 1 MiB tmpfs: $(sed -n 's/ (.*//p' "$work/out")"
        else fail mapped_log "the full disk: exit $status"; fi
    fi

    run shm_pool plain 100
    if [ $status -eq $((128 + 7)) ] || { [ -n "${RMAP_UNDER_VALGRIND:-}" ] && [ $status -eq $((128 + 11)) ]; }; then
        pass shm_pool "plain mmap: the server dies of SIGBUS at the client's first truncation ($(grep -c '^plain mmap: serving' "$work/out") buffer begun)"
    else fail shm_pool "plain: exit $status, expected SIGBUS"; fi
    run shm_pool rmap 1000
    if [ $status -eq 0 ] && grep -q '^rmap: 1000 buffers served; the client truncated 1000 of them .*; 1000 seen as damaged' "$work/out"; then
        pass shm_pool "rmap_map_peer: 1000 buffers, each truncated by the client, each seen as damaged; no death"
    else fail shm_pool "rmap: exit $status"; fi
    run shm_pool sealed 1000
    if [ $status -eq 0 ] && grep -q '^sealed: 1000 buffers served; the client truncated 0 of them (1000 truncations refused: EPERM); 0 seen' "$work/out"; then
        pass shm_pool "rmap_shm_create sealed: 1000 truncations refused with EPERM, nothing lost"
    else fail shm_pool "sealed: exit $status"; fi

    echo "c_examples: $passed passed, $failed failed"
    [ $failed -eq 0 ]
}

# show PROGRAM ARGS...: the command, its output, and how it ended, with the
# signal named (it runs in the background, so bash prints no job message).
show() {
    echo "\$ $*" | sed "s|$work/||g"
    "$bin/$1" "${@:2}" 2>&1 &
    wait $! 2>/dev/null
    local status=$?
    if [ $status -gt 128 ]; then echo "[killed by SIG$(kill -l $((status - 128)))]"
    elif [ $status -ne 0 ]; then echo "[exit status $status]"; fi
}

# mistake_cell MISTAKE plain|rmap [FILE]: runs it and says, in a few words,
# how it ended: what the call answered, the signal, the reports made.
mistake_cell() {
    local side=$2 cell reports
    if [ "$side" = rmap ]; then RMAP_CHECK=1 run mistakes "$@"; else run mistakes "$@"; fi
    cp "$work/out" "$work/$1-$side"
    cell=$(sed -n 's/^result: //p' "$work/out" | tail -n 1 | sed 's/ (.*)//; s/ at byte.*//; s/; the program.*//; s/(p) again//')
    if [ $status -gt 128 ]; then cell="killed by SIG$(kill -l $((status - 128)))"
    elif [ -z "$cell" ] || [ "${cell#exit}" != "$cell" ]; then cell="exit $status"
    else cell="$cell; exit $status"; fi
    reports=$(grep -c '^rmap: ' "$work/out")
    if [ "$reports" -gt 0 ]; then cell="$cell; $reports report ($(sed -n 's/^rmap: \([a-z-]*\):.*/\1/p' "$work/out" | head -n 1))"
    elif [ "$side" = plain ]; then cell="$cell; nothing said"; fi
    echo "$cell"
}

demo() {
    checker=${1:-}
    echo "=== Plain mmap against librmap: the same four mistakes"
    echo "(c_examples/mistakes.c makes each one through the C library, then through librmap"
    echo " with RMAP_CHECK=1; every cell below is what this run measured)"
    echo
    local row what plain rmap
    printf '  %-32s %-34s %s\n' "mistake" "plain mmap" "librmap (RMAP_CHECK=1)"
    for row in "truncated|a file truncated while mapped|8192" "double-unmap|the same page unmapped twice|" \
        "past-eof|a write past the end of the file|100" "leak|a mapping never unmapped|"; do
        IFS='|' read -r mistake what size <<<"$row"
        args=("$mistake")
        [ -n "$size" ] && make_file "$work/m" "$size"
        plain=$(mistake_cell "$mistake" plain ${size:+"$work/m"})
        [ -n "$size" ] && make_file "$work/m" "$size"
        rmap=$(mistake_cell "$mistake" rmap ${size:+"$work/m"})
        printf '  %-32s %-34s %s\n' "$what" "$plain" "$rmap"
    done
    echo
    echo "What librmap said, line by line (each report names where the program made the call;"
    echo "addr2line -e PROGRAM OFFSET gives the source line):"
    for mistake in truncated double-unmap past-eof leak; do
        grep '^rmap: \|^result: rmap_read' "$work/$mistake-rmap" | sed "s|$work/||g; s/^/  /"
    done
    echo
    if [ -n "$checker" ]; then
        echo "--- rmap-check: the same checked mode for a program that never heard of librmap"
        echo "(here the plain side, which calls the C library's mmap and munmap)"
        echo "\$ rmap-check mistakes double-unmap plain"
        "$checker" "$bin/mistakes" double-unmap plain 2>&1 | sed 's/^/  /'
        echo
    fi
    echo "--- The rest of what librmap adds: its errno contract, the registry, checked mode from the program"
    show tour
    echo
    echo "=== The seed programs: the articles' C samples, calling rmap_* instead of mmap/msync/munmap"
    echo
    make_file "$work/data" 64
    echo "--- The page size three ways: rmap_pagesize, getpagesize, sysconf"
    echo "    (from the article 'How others use mmap', 看看别人使用mmap)"
    show pagesize
    echo
    echo "--- A MAP_SHARED write reaches the file; a MAP_PRIVATE one never does (from 'mmap basics', mmap基础用例)"
    echo "data: $(cat "$work/data")"
    show shared_modify "$work/data"; echo "data: $(cat "$work/data")   <- byte 20 is now '9'"
    make_file "$work/data" 64
    show private_modify "$work/data"; echo "data: $(cat "$work/data")   <- unchanged"
    echo
    echo "--- Another process sees a MAP_SHARED write at once, never a MAP_PRIVATE one ('mmap basics')"
    echo "(the reader prints its own MAP_SHARED view of the file each time it changes)"
    "$bin/shm_reader" "$work/data" S 2>&1 | sed -u 's/^/    reader: /' &
    sleep 0.3; show shm_writer "$work/data" private P
    sleep 0.3; show shm_writer "$work/data" shared S
    wait
    echo
    echo "--- Parent and child talk through MAP_SHARED|MAP_ANONYMOUS memory ('mmap basics')"
    show anon_parent_child
    echo
    echo "--- A 2-page mapping of a 100-byte file: inside the last page, past the file, past the mapping ('mmap basics')"
    make_file "$work/short" 100
    show past_eof "$work/short" inside
    show past_eof "$work/short" eof-page
    show past_eof "$work/short" past-mapping
    echo "    ...and the article's SIGBUS write once more, after librmap's rmap_tolerate:"
    show past_eof "$work/short" eof-page-tolerant
    echo
    echo "--- After fork, a malloc'd counter is the child's own copy; a MAP_SHARED one is shared"
    echo "    (from the article on mmap for interprocess communication; the child increments both"
    echo "    three times, then the parent prints them: a is still 1, shared is 4)"
    show fork_counter
    echo
    echo "--- A process-shared semaphore in a file mapping: parent and child count 0..5 in turns (same article)"
    show sem_counter "$work/sem"
    echo
    echo "--- The articles' mmap log (Logdog, Android_MMap), done right: records framed with a CRC32C, the"
    echo "    committed length published after each record, space secured first (rmap_secure), so a"
    echo "    writer killed at any moment loses no committed record and a full disk is ENOSPC"
    show mapped_log append "$work/log" 1000
    show mapped_log recover "$work/log"
    show mapped_log crash "$work/crash-log" 50
    echo
    echo "--- Shared memory from a peer that truncates it (a Wayland compositor's buffers): a server maps"
    echo "    each buffer a client process sends while the client truncates it; plain mmap, then librmap"
    show shm_pool plain 100
    show shm_pool rmap 1000
    show shm_pool sealed 1000
}

case $mode in
check) check_all "$@" ;;
demo) demo "$@" ;;
*) echo "usage: run.sh check|demo BIN_DIR" >&2; exit 2 ;;
esac
