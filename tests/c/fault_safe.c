/* fault_safe: rmap_read / rmap_write / rmap_find turn SIGBUS and SIGSEGV into errors,
 * and leave every other fault exactly as it was.
 *
 * Each test runs in its own child. Tests named <fn>_<errno>_<what> are the
 * tags of the ERRORS entries in include/rmap.h and must fail with that errno.
 *
 * Usage: fault_safe [TEST]
 */
#include <link.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <spawn.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "harness.h"

static char *map_file(int fd, size_t len, int prot)
{
    char *p = rmap_map(NULL, len, prot, MAP_SHARED, fd, 0);
    if (p == RMAP_FAILED) die("rmap_map");
    return p;
}

/* ---- the ERRORS entries: each returns the errno it got, having checked the rest ---- */

static int read_eio_truncated(void)
{
    int fd = temp_file(3 * PG);
    char *p = map_file(fd, 3 * PG, PROT_READ);
    char buf[3 * 4096 + 1];
    if (rmap_read(buf, p, 3 * PG) != 0) die("read before truncation");
    truncate_elsewhere(fd, (off_t)PG);
    int rc = rmap_read(buf, p, 3 * PG);
    int err = errno;
    size_t copied = rmap_copied();
    int fine = check(rc == -1, "rmap_read returned -1") && check(copied == PG, "rmap_copied() is one page") &&
               check(rmap_read(buf, p + 10, 100) == 0 && memcmp(buf, "klmn", 4) == 0, "the first page still reads");
    printf("     truncated to 1 page: rmap_read of 3 pages -> %d, copied %zu, then the program went on\n", rc, copied);
    return fine ? err : -1;
}

static int read_efault_unmapped(void)
{
    char buf[64];
    int rc = rmap_read(buf, hole(2), sizeof buf);
    int err = errno;
    return check(rc == -1 && rmap_copied() == 0, "-1 and nothing copied") ? err : -1;
}

static int read_efault_bad_destination(void)
{
    int fd = temp_file(PG);
    char *p = map_file(fd, PG, PROT_READ);
    int rc = rmap_read(hole(2), p, 64);
    int err = errno;
    return check(rc == -1, "-1") ? err : -1;
}

static int write_eio_past_eof(void)
{
    int fd = temp_file(100);
    char *p = map_file(fd, 2 * PG, PROT_READ | PROT_WRITE);
    char src[20];
    memset(src, 'Z', sizeof src);
    int rc = rmap_write(p + PG, src, 3);
    int err = errno;
    int fine = check(rc == -1 && rmap_copied() == 0, "-1, nothing copied into the page past EOF");
    /* Straddling: the tail of the last page takes 10 bytes (never reaching the file), then EIO. */
    int rc2 = rmap_write(p + PG - 10, src, sizeof src);
    fine &= check(rc2 == -1 && errno == EIO && rmap_copied() == 10, "straddling write copies the 10 bytes before the page");
    rmap_sync(p, PG, MS_SYNC);
    struct stat st;
    char back[100];
    fstat(fd, &st);
    fine &= check(st.st_size == 100 && pread(fd, back, 100, 0) == 100 && back[0] == 'a' && back[99] == 'v',
                  "the file is unchanged: 100 bytes, same content");
    printf("     write past EOF -> %d (EIO); straddling write -> copied %zu; file still %lld bytes\n", rc, rmap_copied(),
           (long long)st.st_size);
    return fine ? err : -1;
}

static int write_efault_unmapped(void)
{
    char src[16] = "x";
    int rc = rmap_write(hole(2), src, sizeof src);
    int err = errno;
    return check(rc == -1, "-1") ? err : -1;
}

static int write_efault_readonly(void)
{
    int fd = temp_file(PG);
    char *p = map_file(fd, PG, PROT_READ);
    int rc = rmap_write(p, "zzzz", 4);
    int err = errno;
    return check(rc == -1 && p[0] == 'a', "-1 and the mapping unchanged") ? err : -1;
}

static int find_einval_flags(void)
{
    size_t at = 99;
    int rc = rmap_find("abcabc", 6, "b", 1, RMAP_FIND_LAST << 1, &at);
    int err = errno;
    return check(rc == -1 && at == 99, "-1 and *offset untouched") ? err : -1;
}

static int find_einval_null_offset(void)
{
    int rc = rmap_find("abcabc", 6, "b", 1, 0, NULL);
    int err = errno;
    return check(rc == -1, "-1") ? err : -1;
}

/* A file of 3 pages truncated to 1: the search reads in place, so what lies
 * before the truncated page is found, and a search that reaches it fails
 * where memchr would have died. */
static int find_eio_truncated(void)
{
    int fd = temp_file(3 * PG);
    char *p = map_file(fd, 3 * PG, PROT_READ);
    truncate_elsewhere(fd, (off_t)PG);
    size_t at = 0;
    int ok = check(rmap_find(p, 3 * PG, "klmn", 4, 0, &at) == 1 && at == 10, "\"klmn\" found at 10, before the lost pages") &&
             check(rmap_find(p, PG, "z", 1, RMAP_FIND_LAST, &at) == 1 && at == PG - 1 - (PG - 26) % 26,
                   "the last 'z' of the first page found");
    int last = rmap_find(p, 3 * PG, "k", 1, RMAP_FIND_LAST, &at);
    ok &= check(last == -1 && errno == EIO && rmap_copied() == 2 * PG,
                "RMAP_FIND_LAST over the 3 pages: EIO at the last page (rmap_copied() 2 pages)");
    ok &= check(rmap_find("klmn", 4, p + 2 * PG, 1, 0, &at) == -1 && errno == EIO && rmap_copied() == 0,
                "a needle on a truncated page: EIO, rmap_copied() 0");
    ok &= check(rmap_find(p, PG, p + 2 * PG, 1, 0, &at) == -1 && errno == EIO && rmap_copied() == 0,
                "a one-byte needle on a truncated page, a haystack of a page: EIO, rmap_copied() 0");
    int rc = rmap_find(p, 3 * PG, "#", 1, 0, &at);
    int err = errno;
    size_t where = rmap_copied();
    ok &= check(rc == -1 && where == PG, "-1, rmap_copied() one page");
    printf("     truncated to 1 page: rmap_find of a missing byte -> %d at %zu, then the program went on\n", rc, where);
    return ok ? err : -1;
}

static int find_efault_unmapped(void)
{
    size_t at = 99;
    int rc = rmap_find(hole(2), 2 * PG, "ab", 2, 0, &at);
    int err = errno;
    int ok = check(rc == -1 && at == 99 && rmap_copied() == 0, "-1, *offset untouched, rmap_copied() 0");
    char hay[100] = "abab";
    ok &= check(rmap_find(hay, sizeof hay, no_access_page() + 10, 70, 0, &at) == -1 && errno == EFAULT,
                "a needle on a PROT_NONE page (70 bytes: copied to the heap): EFAULT");
    return ok ? err : -1;
}

/* A search reads ahead in vectors, maybe into the next page, yet an
 * occurrence before a page that faults is found, for any distance to that
 * page: forward with the next page truncated, backward with the previous
 * one PROT_NONE. */
static int finds_stop_short_of_a_faulting_page(void)
{
    int fd = temp_file(3 * PG);
    char *p = map_file(fd, 3 * PG, PROT_READ | PROT_WRITE);
    truncate_elsewhere(fd, (off_t)PG);
    int ok = 1;
    size_t at;
    for (size_t d = 1; d <= 300 && ok; d++) {
        p[PG - d] = '#';
        ok &= check(rmap_find(p, 3 * PG, "#", 1, 0, &at) == 1 && at == PG - d, "a byte before the truncated page");
        ok &= check(rmap_find(p, 3 * PG, "#a", 2, 0, &at) == (d == 1 ? -1 : 1), "two bytes before it (or across it)");
        p[PG - d] = 'a';
    }
    char *q = rmap_map(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (q == RMAP_FAILED) die("rmap_map");
    memset(q, 'a', 2 * PG);
    if (mprotect(q, PG, PROT_NONE) != 0) die("mprotect");
    for (size_t d = 0; d < 300 && ok; d++) {
        q[PG + d] = '#';
        ok &= check(rmap_find(q, 2 * PG, "#", 1, RMAP_FIND_LAST, &at) == 1 && at == PG + d,
                    "the last byte after a PROT_NONE page");
        ok &= check(rmap_find(q, 2 * PG, "a#", 2, RMAP_FIND_LAST, &at) == (d == 0 ? -1 : 1),
                    "two bytes after it (or across it)");
        q[PG + d] = 'a';
    }
    ok &= check(rmap_find(q, 2 * PG, "#", 1, RMAP_FIND_LAST, &at) == -1 && errno == EFAULT && rmap_copied() == 0,
                "none there: EFAULT at the PROT_NONE page");
    printf("     an occurrence 1 to 300 bytes before a truncated page, and 0 to 299 after a PROT_NONE one, is found\n");
    return ok ? 0 : 1;
}

/* A one-byte search starting 1 to 160 bytes before a truncated page, over
 * more than a page: each load of its first 128 bytes (searched inline, 32
 * at a time) meets the lost page in turn. A byte before the page is found;
 * none: EIO, rmap_copied() where the page starts. */
static int one_byte_finds_meet_a_lost_page_at_every_offset(void)
{
    int fd = temp_file(3 * PG);
    char *p = map_file(fd, 3 * PG, PROT_READ | PROT_WRITE);
    memset(p, 'a', PG);
    truncate_elsewhere(fd, (off_t)PG);
    int ok = 1;
    size_t at;
    for (size_t k = 1; k <= 160 && ok; k++) {
        char *start = p + PG - k;
        int rc = rmap_find(start, 2 * PG, "#", 1, 0, &at);
        ok &= check(rc == -1 && errno == EIO && rmap_copied() == k, "no '#': EIO where the lost page starts");
        start[k - 1] = '#';
        rc = rmap_find(start, 2 * PG, "#", 1, 0, &at);
        ok &= check(rc == 1 && at == k - 1, "a '#' just before the lost page: found");
        start[k - 1] = 'a';
    }
    printf("     a one-byte search starting 1 to 160 bytes before a lost page: EIO there, or the byte before it\n");
    return ok ? 0 : 1;
}

/* Every small range of a mapping whose file was truncated to its first
 * page (PG bytes readable), searched both ways for needles of 1 to 3
 * bytes: lengths 1 to 300 at starts around the end of that page (and in the
 * lost pages), each answer checked against what the readable bytes decide.
 * A position of the range is a match (its bytes readable and equal to the
 * needle), no match (a readable byte differs), or unknown (its readable
 * bytes match but it needs lost ones). Forward, the first match before any
 * unknown must be found; an unknown first gives EIO. Backward, the last
 * match after any unknown is found (or EIO, when the search read the lost
 * page first); an unknown last gives EIO. With neither, not found (or EIO
 * when the range reaches the lost page). And nothing dies: issue 38's
 * RMAP_FIND_LAST over 32 bytes or fewer died of SIGBUS (memrchr reads an
 * aligned block from below the range). */
enum { MATCH, NO_MATCH, UNKNOWN };
static int position(const char *copy, size_t i, const char *needle, size_t m)
{
    int unknown = 0;
    for (size_t j = 0; j < m; j++) {
        if (i + j >= PG)
            unknown = 1;
        else if (copy[i + j] != needle[j])
            return NO_MATCH;
    }
    return unknown ? UNKNOWN : MATCH;
}

static int finds_over_every_small_range_never_die(void)
{
    int fd = temp_file(3 * PG);
    char *p = map_file(fd, 3 * PG, PROT_READ | PROT_WRITE);
    /* Page 0: a, b and c in a pseudo-random order, so that every needle
     * occurs often and sometimes not for a while. */
    unsigned seed = 5;
    for (size_t i = 0; i < PG; i++) p[i] = "abcaaab"[rand_r(&seed) % 7];
    char *copy = malloc(PG);
    memcpy(copy, p, PG);
    truncate_elsewhere(fd, (off_t)PG);
    static const char *const needles[] = {"b", "cb", "bca"};
    const size_t starts[] = {7,      PG - 300, PG - 257, PG - 129, PG - 64, PG - 33,     PG - 32,    PG - 31,
                             PG - 17, PG - 16, PG - 15,  PG - 3,   PG - 1,  PG,          PG + 1,     2 * PG - 31,
                             2 * PG - 1};
    long calls = 0, wrong = 0, eio = 0, found = 0;
    for (size_t si = 0; si < sizeof starts / sizeof *starts; si++)
        for (size_t n = 1; n <= 300; n++)
            for (int k = 0; k < 3; k++)
                for (int last = 0; last < 2; last++) {
                    size_t start = starts[si], m = strlen(needles[k]), at = 0;
                    int rc = rmap_find(p + start, n, needles[k], m, last ? RMAP_FIND_LAST : 0, &at);
                    int e = errno;
                    /* The decisive position: the first (last) that is not no-match. */
                    long decisive = -1;
                    int kind = NO_MATCH;
                    for (size_t step = 0; m <= n && step <= n - m; step++) {
                        size_t i = last ? start + (n - m) - step : start + step;
                        kind = position(copy, i, needles[k], m);
                        if (kind != NO_MATCH) {
                            decisive = (long)(i - start);
                            break;
                        }
                    }
                    int is_eio = rc == -1 && e == EIO;
                    int right;
                    if (decisive < 0)
                        right = rc == 0;
                    else if (kind == UNKNOWN)
                        right = is_eio;
                    else
                        right = rc == 1 && at == (size_t)decisive;
                    calls++;
                    eio += is_eio;
                    found += rc == 1;
                    if (!right && ++wrong <= 5)
                        printf("     start %zu, %zu bytes, \"%s\" %s: %d %s at %zu; decisive position %ld (%s)\n", start,
                               n, needles[k], last ? "last" : "first", rc, rc == -1 ? strerrorname_np(e) : "-", at,
                               decisive, decisive < 0 ? "none" : kind == MATCH ? "a match" : "needs lost bytes");
                }
    free(copy);
    printf("     %ld searches (17 starts around and past the end of the page that stays, 1 to 300 bytes, needles of "
           "1 to 3 bytes, both ways): %ld found, %ld EIO, %ld not what the readable bytes decide\n",
           calls, found, eio, wrong);
    return check(wrong == 0, "every answer what the readable bytes decide, EIO where lost bytes decide, no death") ? 0
                                                                                                                   : 1;
}

/* One-byte searches look at the first 64 KiB in place and hand the rest to
 * the guarded call: an occurrence either side, none, a fault past 64 KiB. */
static int long_finds_past_the_fast_span(void)
{
    size_t len = 40 * PG, at = 0;
    int fd = temp_file(len);
    char *p = map_file(fd, len, PROT_READ | PROT_WRITE);
    memset(p, 'a', len);
    int ok = check(rmap_find(p, len, "#", 1, 0, &at) == 0, "none in 160 KiB");
    p[100000] = '#';
    ok &= check(rmap_find(p, len, "#", 1, 0, &at) == 1 && at == 100000, "found at 100,000");
    p[65535] = '#';
    ok &= check(rmap_find(p, len, "#", 1, 0, &at) == 1 && at == 65535, "found at 65,535");
    ok &= check(rmap_find(p + 1, len - 1, "#", 1, 0, &at) == 1 && at == 65534, "from byte 1: at 65,534");
    p[65535] = p[100000] = 'a';
    truncate_elsewhere(fd, (off_t)(20 * PG));
    ok &= check(rmap_find(p, len, "#", 1, 0, &at) == -1 && errno == EIO && rmap_copied() == 20 * PG,
                "the file truncated to 20 pages: EIO at page 20");
    printf("     160 KiB: none, at 100,000, at 65,535 (the last byte of the in-place span), EIO at 80 KiB\n");
    return ok ? 0 : 1;
}

/* rmap_find equals memmem/memchr (first) and a byte-by-byte search (last)
 * at random places, lengths and needles, empty ones included. */
static size_t naive_last(const char *h, size_t n, const char *needle, size_t m, int *found)
{
    *found = 0;
    if (m > n) return 0;
    for (size_t i = n - m + 1; i-- > 0;)
        if (memcmp(h + i, needle, m) == 0) {
            *found = 1;
            return i;
        }
    return 0;
}

static int finds_match_memmem(void)
{
    size_t len = 16 * PG;
    int fd = temp_file(len);
    char *p = map_file(fd, len, PROT_READ | PROT_WRITE);
    srand(11);
    for (size_t i = 0; i < len; i += (size_t)rand() % 97) p[i] = (char)('#' + rand() % 3);
    int checked = 0;
    for (int i = 0; i < (under_valgrind() ? 300 : 3000); i++) {
        size_t off = (size_t)rand() % len, n = (size_t)rand() % (len - off + 1);
        size_t m = (size_t)rand() % 4, from = (size_t)rand() % (len - m);
        if (i % 7 == 0) from = off + n / 2 < len - m ? off + n / 2 : from;
        const char *needle = p + from;
        char copy[4];
        memcpy(copy, needle, m);
        size_t at = 0, want;
        int found = rmap_find(p + off, n, copy, m, 0, &at);
        const char *hit = memmem(p + off, n, copy, m);
        if (found != (hit != NULL) || (hit && at != (size_t)(hit - (p + off)))) {
            printf("     first: off %zu n %zu m %zu: rmap_find %d at %zu, memmem %s\n", off, n, m, found, at,
                   hit ? "found" : "not found");
            return 1;
        }
        int found_last;
        want = m == 0 ? n : naive_last(p + off, n, copy, m, &found_last);
        if (m == 0) found_last = 1;
        found = rmap_find(p + off, n, copy, m, RMAP_FIND_LAST, &at);
        if (found != found_last || (found && at != want)) {
            printf("     last: off %zu n %zu m %zu: rmap_find %d at %zu, want %d at %zu\n", off, n, m, found, at,
                   found_last, want);
            return 1;
        }
        checked++;
    }
    /* Every haystack length up to 100 at 16 alignments, the byte at each
     * place or nowhere, and twice (the first is found). */
    memset(p, 'a', 256);
    for (size_t n = 0; n <= 100; n++)
        for (size_t align = 0; align < 16; align++)
            for (size_t hit = 0; hit <= n; hit++) {
                char *h = p + align;
                if (hit < n) h[hit] = '#';
                if (hit + 5 < n) h[hit + 5] = '#';
                size_t at = 12345;
                int found = rmap_find(h, n, "#", 1, 0, &at);
                if (hit < n ? found != 1 || at != hit : found != 0 || at != 12345) {
                    printf("     n %zu align %zu hit %zu: rmap_find %d at %zu\n", n, align, hit, found, at);
                    return 1;
                }
                h[hit] = 'a';
                if (hit + 5 < n) h[hit + 5] = 'a';
                checked++;
            }
    printf("     %d random haystacks and needles (0 to 3 bytes), and one byte at each place of haystacks of 0 to 100 "
           "bytes at 16 alignments: rmap_find equals memmem, and RMAP_FIND_LAST a byte-by-byte search from the end\n",
           checked);
    return 0;
}

/* ---- everything else stays as it was ---- */

static int plain_access_still_sigbus(void)
{
    int fd = temp_file(2 * PG);
    char *p = map_file(fd, 2 * PG, PROT_READ);
    char buf[8];
    truncate_elsewhere(fd, 0);
    if (rmap_read(buf, p, sizeof buf) != -1 || errno != EIO) return 1;
    return *(volatile char *)p; /* must die of SIGBUS */
}

static int plain_segv_without_handler(void)
{
    char buf[8];
    if (rmap_read(buf, hole(1), sizeof buf) != -1) return 1; /* installs librmap's handler */
    return *(volatile char *)hole(1);                         /* must die of SIGSEGV */
}

static sigjmp_buf own_jump;
static volatile sig_atomic_t own_faults;
static void own_handler(int sig)
{
    (void)sig;
    own_faults++;
    siglongjmp(own_jump, 1);
}

/* The program's own SIGSEGV handler, installed as programs usually do. */
static void set_segv_handler(void (*handler)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSEGV, &sa, NULL) != 0) die("sigaction");
}

/* Touches an unmapped page; returns once the program's own handler jumped back. */
static void own_fault(void)
{
    if (sigsetjmp(own_jump, 1) == 0) touch(no_access_page());
}

static int own_handler_installed_before(void)
{
    set_segv_handler(own_handler);
    own_fault();
    char buf[8];
    int rc = rmap_read(buf, hole(1), sizeof buf); /* librmap's, not the program's */
    int err = errno;
    own_fault();
    printf("     own handler saw %d faults; the guarded copy returned %d (%s)\n", (int)own_faults, rc, strerrorname_np(err));
    return check(own_faults == 2 && rc == -1 && err == EFAULT, "2 own faults, EFAULT from librmap") ? 0 : 1;
}

static int own_handler_installed_after(void)
{
    char buf[8];
    if (rmap_read(buf, hole(1), sizeof buf) != -1) return 1;
    set_segv_handler(own_handler);
    own_fault();
    own_fault();
    printf("     own handler saw %d faults\n", (int)own_faults);
    return check(own_faults == 2, "2 own faults") ? 0 : 1;
}

/* Two threads: one takes SIGBUS in guarded copies, one SIGSEGV into its own handler. */
enum { ROUNDS = 2000 };
static char *truncated_page;
static __thread sigjmp_buf thread_jump;
static volatile sig_atomic_t thread_faults;
static void thread_handler(int sig)
{
    (void)sig;
    thread_faults++;
    siglongjmp(thread_jump, 1);
}

static void *guarded_copier(void *arg)
{
    long eio = 0;
    char buf[16];
    for (int i = 0; i < ROUNDS; i++)
        if (rmap_read(buf, truncated_page, sizeof buf) == -1 && errno == EIO && rmap_copied() == 0) eio++;
    *(long *)arg = eio;
    return NULL;
}

static void *plain_faulter(void *arg)
{
    char *h = no_access_page();
    for (int i = 0; i < ROUNDS; i++)
        if (sigsetjmp(thread_jump, 1) == 0) touch(h);
    (void)arg;
    return NULL;
}

static int two_threads_do_not_confuse_faults(void)
{
    set_segv_handler(thread_handler);
    int fd = temp_file(PG);
    truncated_page = map_file(fd, PG, PROT_READ);
    truncate_elsewhere(fd, 0);
    long eio = 0;
    pthread_t a, b;
    pthread_create(&a, NULL, guarded_copier, &eio);
    pthread_create(&b, NULL, plain_faulter, NULL);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    printf("     guarded thread: %ld of %d copies failed with EIO; other thread: %d faults in its own handler\n", eio, ROUNDS,
           (int)thread_faults);
    return check(eio == ROUNDS && thread_faults == ROUNDS, "each side saw exactly its own faults") ? 0 : 1;
}

/* Lengths up to 256 KiB: copies from 64 KiB up take the large path (the C
 * library's memcpy under the guard). */
static int copies_match_memcpy(void)
{
    size_t len = 64 * PG;
    int fd = temp_file(len);
    char *p = map_file(fd, len, PROT_READ | PROT_WRITE);
    char *want = malloc(len), *got = malloc(len);
    if (!want || !got) die("malloc");
    srand(7);
    int checked = 0;
    for (int i = 0; i < (under_valgrind() ? 200 : 2000); i++) {
        size_t off = (size_t)rand() % len, n = (size_t)rand() % (len - off + 1);
        if (i % 10 == 0) n = 0;
        memset(got, 0, len);
        memcpy(want, p + off, n);
        if (rmap_read(got, p + off, n) != 0 || memcmp(got, want, n) != 0) return 1;
        /* And back in through rmap_write, at another unaligned place. */
        size_t to = (size_t)rand() % (len - n + 1);
        memcpy(want, p + to, n);
        if (rmap_write(p + to, got, n) != 0 || memcmp(p + to, got, n) != 0) return 1;
        checked++;
    }
    /* Every length up to 300 (the byte loop, 16 to 32, the 32-byte loop,
     * rep movsb) at every alignment of either side. */
    for (size_t n = 0; n <= 300; n++)
        for (size_t align = 0; align < 16; align++) {
            memset(got, 0, 400);
            if (rmap_read(got + align, p + 3 * align + n, n) != 0 || memcmp(got + align, p + 3 * align + n, n) != 0 ||
                got[align + n] != 0 || (align && got[align - 1] != 0))
                return 1;
            checked++;
        }
    printf("     %d random offsets and lengths (0 and unaligned included), and each length 0 to 300 at 16 alignments: "
           "rmap_read and rmap_write equal memcpy, no byte written outside\n", checked);
    free(want);
    free(got);
    return 0;
}


/* Copies of up to 256 bytes (inlined, overlapping moves) that straddle a
 * page boundary into a truncated page fail with the exact count, both ways,
 * for every length, and for every split below 16 bytes; above, every split
 * within 17 bytes of either end and at each 16-byte step (-1, 0, +1): the
 * boundary inside each move, and between every two. */
static int small_copies_stop_at_the_faulting_page(void)
{
    int fd = temp_file(2 * PG);
    char *p = map_file(fd, 2 * PG, PROT_READ | PROT_WRITE);
    truncate_elsewhere(fd, (off_t)PG);
    int ok = 1, cases = 0;
    char src[256];
    for (size_t i = 0; i < sizeof src; i++) src[i] = (char)(i * 7 + 1);
    for (size_t n = 1; n <= 256 && ok; n++)
        for (size_t k = 0; k < n; k++) {
            if (!(n < 16 || k < 17 || k + 17 > n || k % 16 <= 1 || k % 16 == 15)) continue;
            char buf[256] = {0};
            int rc = rmap_read(buf, p + PG - k, n);
            ok &= check(rc == -1 && errno == EIO && rmap_copied() == k && memcmp(buf, p + PG - k, k) == 0,
                        "a read straddling into the truncated page: EIO, the bytes before it copied");
            rc = rmap_write(p + PG - k, src, n);
            ok &= check(rc == -1 && errno == EIO && rmap_copied() == k && memcmp(p + PG - k, src, k) == 0,
                        "a write straddling into it: EIO, the bytes before it written");
            cases += 2;
        }
    printf("     %d copies of 1 to 256 bytes across the boundary of a truncated page: EIO with the exact count\n", cases);
    return ok ? 0 : 1;
}

/* Large copies (64 KiB and up, the C library's memcpy under the guard)
 * stop at the first faulting page as small ones do, and the thread goes on
 * with its registers and stack intact. */
static int large_copies_stop_at_the_first_faulting_page(void)
{
    size_t len = 64 * PG;
    int fd = temp_file(len);
    char *p = map_file(fd, len, PROT_READ | PROT_WRITE);
    char *buf = malloc(len), *src = malloc(len);
    if (!buf || !src) die("malloc");
    memset(src, 'q', len);
    truncate_elsewhere(fd, (off_t)(37 * PG));
    int ok = 1;
    volatile size_t sum = 0;
    for (size_t i = 0; i < 100; i++) {
        size_t keep = i * 7 + 3; /* lives across the faulting copies */
        ok &= check(rmap_read(buf, p, len) == -1 && errno == EIO && rmap_copied() == 37 * PG,
                    "read of 64 pages from a file cut to 37: EIO after exactly 37 pages");
        ok &= check(rmap_write(p + 5 * PG + 1, src, 40 * PG) == -1 && errno == EIO &&
                        rmap_copied() == 32 * PG - 1,
                    "write of 40 pages from page 5 (+1): EIO after the bytes up to page 37");
        ok &= check(rmap_read(hole(20), p, 20 * PG) == -1 && errno == EFAULT && rmap_copied() == 0,
                    "read of 20 pages into a hole: EFAULT, nothing copied");
        ok &= check(rmap_read(buf, p, 30 * PG) == 0 && memcmp(buf + 5 * PG + 1, src, 30 * PG - 5 * PG - 1) == 0,
                    "a 30-page read inside the file still works and sees the write");
        sum += keep;
        if (!ok) break;
    }
    ok &= check(sum == 100 * 3 + 7 * 4950, "locals kept across 300 faulting large copies");
    printf("     100 rounds: 64-page read -> EIO at 37 pages, 40-page write -> EIO at page 37, 20 pages into a hole -> "
           "EFAULT, 30-page read fine\n");
    free(buf);
    free(src);
    return ok ? 0 : 1;
}

/* ---- programs that set up signals themselves (one test per way) ---- */

/* A mapping of a 2-page file truncated to nothing by another process. */
static char *truncated_mapping(void)
{
    int fd = temp_file(2 * PG);
    char *p = map_file(fd, 2 * PG, PROT_READ);
    truncate_elsewhere(fd, 0);
    return p;
}

static int blocks(int sig)
{
    sigset_t now;
    pthread_sigmask(SIG_BLOCK, NULL, &now);
    return sigismember(&now, sig);
}

/* In a thread that blocks `which` (0: every signal), a truncated read gives
 * EIO and an unmapped one EFAULT, and the mask is as the thread left it. */
static void *blocking_reader(void *arg)
{
    int which = *(int *)arg, ok = 1;
    sigset_t set;
    if (which) {
        sigemptyset(&set);
        sigaddset(&set, which);
    } else {
        sigfillset(&set);
    }
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    char buf[64], *p = truncated_mapping();
    for (int i = 0; i < 3; i++) {
        ok &= check(rmap_read(buf, p + 10, sizeof buf) == -1 && errno == EIO, "EIO from a truncated page");
        ok &= check(rmap_read(buf, no_access_page(), sizeof buf) == -1 && errno == EFAULT, "EFAULT from PROT_NONE");
        size_t at;
        ok &= check(rmap_find(p, PG, "#", 1, 0, &at) == -1 && errno == EIO, "rmap_find: EIO from a truncated page");
        ok &= check(rmap_find(no_access_page(), PG, "#", 1, 0, &at) == -1 && errno == EFAULT,
                    "rmap_find: EFAULT from PROT_NONE");
    }
    ok &= check(!which || blocks(which), "the signal is still blocked after the copies");
    *(int *)arg = ok;
    return NULL;
}

static int in_blocking_thread(int which)
{
    pthread_t t;
    int arg = which;
    pthread_create(&t, NULL, blocking_reader, &arg);
    pthread_join(t, NULL);
    printf("     a thread blocking %s: 3 reads and finds of a truncated page gave EIO, 3 of a PROT_NONE page EFAULT\n",
           which ? sigabbrev_np(which) : "every signal");
    return arg ? 0 : 1;
}

static int blocked_sigbus_thread_gets_eio(void) { return in_blocking_thread(SIGBUS); }
static int blocked_sigsegv_thread_gets_efault(void) { return in_blocking_thread(SIGSEGV); }
static int thread_blocking_every_signal_gets_errors(void) { return in_blocking_thread(0); }

/* librmap stays loaded after dlclose: a program that never linked it still
 * has its own handler afterwards (tests/c/unload_helper.c). */
static int find_librmap(struct dl_phdr_info *info, size_t size, void *path)
{
    (void)size;
    if (!strstr(info->dlpi_name, "/librmap.so")) return 0;
    snprintf(path, 4096, "%s", info->dlpi_name);
    return 1;
}

static int dlclose_leaves_no_dangling_handler(void)
{
    char librmap[4096] = "";
    if (!dl_iterate_phdr(find_librmap, librmap)) die("librmap is not loaded");
    char helper[4200];
    ssize_t n = readlink("/proc/self/exe", helper, sizeof helper - 20);
    if (n <= 0) die("readlink");
    helper[n] = 0;
    strcpy(strrchr(helper, '/') + 1, "unload_helper");
    pid_t pid = fork();
    if (pid == 0) {
        execl(helper, helper, librmap, (char *)NULL);
        die("exec unload_helper");
    }
    int status;
    waitpid(pid, &status, 0);
    return check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the helper's own handler ran after dlclose") ? 0 : 1;
}

/* A program beside this one, given `args`; returns its wait status. */
static int run_helper(const char *name, const char *const args[])
{
    char helper[4200];
    snprintf(helper, sizeof helper, "%s", self_program());
    strcpy(strrchr(helper, '/') + 1, name);
    pid_t pid = fork();
    if (pid == 0) {
        const char *argv[8] = {helper};
        for (int i = 0; args[i] && i < 6; i++) argv[i + 1] = args[i];
        execv(helper, (char *const *)argv);
        die("exec helper");
    }
    int status;
    waitpid(pid, &status, 0);
    return status;
}

/* A host that loads librmap with dlopen(RTLD_LOCAL) and changes SIGBUS
 * through the C library after the first copy (tests/c/dlopen_host.c). */
static int dlopen_host_changing_sigbus_through_the_c_library_gets_eio(void)
{
    char librmap[4096] = "";
    if (!dl_iterate_phdr(find_librmap, librmap)) die("librmap is not loaded");
    char path[] = "/tmp/rmap-host-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || ftruncate(fd, 8192) != 0) die("file for the host");
    close(fd);
    const char *args[] = {librmap, path, NULL};
    int status = run_helper("dlopen_host", args);
    unlink(path);
    return check(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                 "EIO after each of: its own handler, SIG_DFL, SIG_IGN, SIGBUS blocked")
               ? 0
               : 1;
}

/* A handler of the program's that leaves with plain longjmp: SIGBUS stays
 * blocked (the kernel blocked it for the handler, longjmp restores no
 * mask), as it would without librmap; the next copy must still give EIO. */
static jmp_buf plain_jump;
static void longjmp_handler(int sig)
{
    (void)sig;
    longjmp(plain_jump, 1);
}

static int longjmp_out_of_a_handler_keeps_copies_safe(void)
{
    char buf[8], *p = truncated_mapping();
    if (rmap_read(buf, p, sizeof buf) != -1) return 1; /* the first copy: checkpoint passed */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = longjmp_handler;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, NULL);
    if (setjmp(plain_jump) == 0) touch(p); /* the program's own fault, its handler longjmps */
    int rc = rmap_read(buf, p, sizeof buf), err = errno;
    int blocked = blocks(SIGBUS); /* asked after the copy: asking goes through librmap */
    printf("     after longjmp out of the program's handler SIGBUS is %s; rmap_read -> %d (%s)\n",
           blocked ? "blocked" : "not blocked", rc, rc ? strerrorname_np(err) : "-");
    return check(blocked && rc == -1 && err == EIO, "EIO, not death, with SIGBUS left blocked") ? 0 : 1;
}

/* The handler the kernel holds for `sig`, read with the system call. */
static uintptr_t kernel_handler(int sig)
{
    struct {
        uintptr_t handler;
        unsigned long flags;
        uintptr_t restorer;
        uint64_t mask;
    } kernel_action;
    if (syscall(SYS_rt_sigaction, sig, NULL, &kernel_action, sizeof kernel_action.mask) != 0) die("rt_sigaction");
    return kernel_action.handler;
}

/* A handler of another signal whose mask blocks SIGBUS or SIGSEGV (every
 * signal, as programs that sigfillset() their sa_mask have it) runs with
 * them blocked, so a copy in it must not take the fast path its thread's
 * checkpoint allowed outside: EIO, not death. The copy comes first in each
 * handler (asking for the mask goes through librmap, which would send the
 * thread back to its checkpoint anyway). */
static char *masked_source;
static volatile sig_atomic_t masked_runs, masked_wrong;
static void masked_copier(int sig, siginfo_t *info, void *context)
{
    (void)context;
    char buf[16];
    int rc = rmap_read(buf, masked_source, sizeof buf), err = errno;
    if (rc != -1 || err != EIO || !blocks(SIGBUS) || !blocks(SIGSEGV) || info->si_signo != sig ||
        info->si_code != SI_TKILL)
        masked_wrong++;
    masked_runs++;
}

static void masked_copier_without_info(int sig)
{
    char buf[16];
    int rc = rmap_read(buf, masked_source, sizeof buf), err = errno;
    if (rc != -1 || err != EIO || !blocks(SIGSEGV) || sig != SIGUSR2) masked_wrong++;
    masked_runs++;
}

static int handlers_blocking_fault_signals_copy_safely(void)
{
    masked_source = truncated_mapping();
    struct sigaction sa, back;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = masked_copier;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigfillset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    int ok = check(kernel_handler(SIGUSR1) == (uintptr_t)masked_copier,
                   "set before librmap's handler is installed: the kernel holds the program's handler");
    char buf[8];
    ok &= check(rmap_read(buf, masked_source, sizeof buf) == -1 && errno == EIO, "the first copy: EIO");
    ok &= check(kernel_handler(SIGUSR1) != (uintptr_t)masked_copier,
                "once librmap's is installed, the kernel holds librmap's in front of it");
    sigaction(SIGUSR1, NULL, &back);
    ok &= check(back.sa_sigaction == masked_copier && (back.sa_flags & (SA_SIGINFO | SA_RESTART)) ==
                                                          (SA_SIGINFO | SA_RESTART) &&
                    sigismember(&back.sa_mask, SIGBUS) && sigismember(&back.sa_mask, SIGTERM),
                "sigaction() reports the program's handler, flags and mask");
    raise(SIGUSR1);
    raise(SIGUSR1);
    ok &= check(masked_runs == 2 && masked_wrong == 0,
                "SA_SIGINFO handler blocking every signal, twice: EIO in it, with SIGBUS and SIGSEGV blocked there, "
                "and its siginfo");
    /* Set after: one-shot, no SA_SIGINFO, only SIGSEGV in its mask. */
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = masked_copier_without_info;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGSEGV);
    sigaction(SIGUSR2, &sa, NULL);
    sigaction(SIGUSR2, NULL, &back);
    ok &= check(back.sa_handler == masked_copier_without_info && !(back.sa_flags & SA_SIGINFO) &&
                    (back.sa_flags & SA_RESETHAND) && sigismember(&back.sa_mask, SIGSEGV) &&
                    !sigismember(&back.sa_mask, SIGBUS) && kernel_handler(SIGUSR2) != (uintptr_t)sa.sa_handler,
                "set after: reported as set, librmap's in front");
    raise(SIGUSR2);
    sigaction(SIGUSR2, NULL, &back);
    ok &= check(masked_runs == 3 && masked_wrong == 0 && back.sa_handler == SIG_DFL,
                "one-shot handler without SA_SIGINFO: EIO in it, then SIG_DFL");
    ok &= check(rmap_read(buf, masked_source, sizeof buf) == -1 && errno == EIO && !blocks(SIGBUS),
                "after the handlers: EIO, SIGBUS not blocked");
    /* One that blocks neither is behind librmap's too (every handler is:
     * it may run inside sigsuspend with a mask that blocks them, and its
     * context shows the mask the program set), and reported as set. */
    sa.sa_sigaction = masked_copier;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGUSR1, NULL, &back);
    ok &= check(kernel_handler(SIGUSR1) != (uintptr_t)masked_copier && back.sa_sigaction == masked_copier &&
                    !sigismember(&back.sa_mask, SIGBUS),
                "a handler that blocks neither: librmap's in front of it too, reported as set");
    printf("     3 deliveries to handlers that block SIGBUS or SIGSEGV (set before and after librmap's): each copy "
           "EIO, %d wrong\n",
           (int)masked_wrong);
    return ok ? 0 : 1;
}

/* Leaving such a handler with plain longjmp leaves SIGBUS blocked: the
 * next copy must still give EIO. */
static jmp_buf masked_jump;
static void masked_jumper(int sig)
{
    (void)sig;
    longjmp(masked_jump, 1);
}

static int longjmp_out_of_a_handler_blocking_sigbus_keeps_copies_safe(void)
{
    char buf[8], *p = truncated_mapping();
    if (rmap_read(buf, p, sizeof buf) != -1) return 1; /* the first copy: checkpoint passed */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = masked_jumper;
    sigfillset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    if (setjmp(masked_jump) == 0) raise(SIGUSR1);
    int rc = rmap_read(buf, p, sizeof buf), err = errno;
    int blocked = blocks(SIGBUS);
    printf("     after longjmp out of a SIGUSR1 handler that blocks every signal SIGBUS is %s; rmap_read -> %d (%s)\n",
           blocked ? "blocked" : "not blocked", rc, rc ? strerrorname_np(err) : "-");
    return check(blocked && rc == -1 && err == EIO, "EIO, not death, with SIGBUS left blocked") ? 0 : 1;
}

/* siglongjmp back to a sigsetjmp made while SIGBUS was blocked puts that
 * mask back (the C library sets it itself): the next copy must read it. */
static int siglongjmp_restoring_a_blocking_mask_keeps_copies_safe(void)
{
    char buf[8], *p = truncated_mapping();
    sigset_t bus;
    sigemptyset(&bus);
    sigaddset(&bus, SIGBUS);
    static sigjmp_buf blocked_jump;
    static volatile int jumped;
    int ok = 1;
    pthread_sigmask(SIG_BLOCK, &bus, NULL);
    if (sigsetjmp(blocked_jump, 1) == 0) {
        pthread_sigmask(SIG_UNBLOCK, &bus, NULL);
        ok &= check(rmap_read(buf, p, sizeof buf) == -1 && errno == EIO, "EIO with SIGBUS unblocked (checkpoint passed)");
        jumped = 1;
        siglongjmp(blocked_jump, 1);
    }
    int rc = rmap_read(buf, p, sizeof buf), err = errno;
    int blocked = blocks(SIGBUS);
    printf("     after siglongjmp to a mask that blocks SIGBUS it is %s; rmap_read -> %d (%s)\n",
           blocked ? "blocked" : "not blocked", rc, rc ? strerrorname_np(err) : "-");
    return check(ok && jumped && blocked && rc == -1 && err == EIO, "EIO, not death, with SIGBUS blocked again") ? 0 : 1;
}

/* swapcontext to a context whose mask blocks SIGBUS, and back. */
static ucontext_t main_context, blocking_context;
static char *context_source;
static volatile int context_rc = 1, context_err, context_blocked;
static void copy_in_context(void)
{
    char buf[8];
    context_rc = rmap_read(buf, context_source, sizeof buf);
    context_err = errno;
    context_blocked = blocks(SIGBUS);
}

static int swapcontext_to_a_blocking_mask_keeps_copies_safe(void)
{
    char buf[8];
    context_source = truncated_mapping();
    if (rmap_read(buf, context_source, sizeof buf) != -1) return 1; /* checkpoint passed, SIGBUS unblocked */
    static char stack[256 * 1024];
    if (getcontext(&blocking_context) != 0) die("getcontext");
    blocking_context.uc_stack.ss_sp = stack;
    blocking_context.uc_stack.ss_size = sizeof stack;
    blocking_context.uc_link = &main_context;
    sigaddset(&blocking_context.uc_sigmask, SIGBUS);
    makecontext(&blocking_context, copy_in_context, 0);
    if (swapcontext(&main_context, &blocking_context) != 0) die("swapcontext");
    int rc = rmap_read(buf, context_source, sizeof buf), err = errno;
    printf("     in a context whose mask blocks SIGBUS (it is %s there): rmap_read -> %d (%s); back: %d (%s)\n",
           context_blocked ? "blocked" : "not blocked", (int)context_rc,
           context_rc ? strerrorname_np(context_err) : "-", rc, rc ? strerrorname_np(err) : "-");
    return check(context_blocked && context_rc == -1 && context_err == EIO && rc == -1 && err == EIO && !blocks(SIGBUS),
                 "EIO in the context, not death, and EIO back in the first")
               ? 0
               : 1;
}

/* What a vfork child does to its signal actions is its own: the parent's
 * handler keeps working. */
static volatile sig_atomic_t parent_handler_runs;
static sigjmp_buf parent_jump;
static void parent_handler(int sig)
{
    (void)sig;
    parent_handler_runs++;
    siglongjmp(parent_jump, 1);
}

static int vfork_child_changing_actions_leaves_the_parents(void)
{
    char buf[8], *p = truncated_mapping();
    if (rmap_read(buf, p, sizeof buf) != -1) return 1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = parent_handler;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, NULL);
    pid_t pid = vfork();
    if (pid == 0) {
        signal(SIGSEGV, SIG_DFL); /* before exec, as a shell does */
        execl("/bin/true", "true", (char *)NULL);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    struct sigaction now;
    sigaction(SIGSEGV, NULL, &now);
    if (sigsetjmp(parent_jump, 1) == 0) touch(no_access_page());
    int rc = rmap_read(buf, no_access_page(), sizeof buf), err = errno;
    printf("     after a vfork child set SIGSEGV to SIG_DFL: the parent reads back %s, its handler ran %d time(s), "
           "rmap_read -> %s\n",
           now.sa_handler == parent_handler ? "its handler" : "something else", (int)parent_handler_runs,
           rc ? strerrorname_np(err) : "0");
    return check(now.sa_handler == parent_handler && parent_handler_runs == 1 && rc == -1 && err == EFAULT,
                 "the parent's record, handler and copies are as before")
               ? 0
               : 1;
}

/* An action read back once librmap's handler is installed is what glibc
 * gives back: its sa_flags (with SA_RESTORER on x86-64, where glibc adds
 * its restorer; on AArch64 the kernel returns through the vDSO and glibc
 * adds none), and there its sa_restorer. */
#ifndef SA_RESTORER
#define SA_RESTORER 0x04000000
#endif
#if defined(__x86_64__)
#define GLIBC_ADDS_RESTORER 1
#else
#define GLIBC_ADDS_RESTORER 0
#endif
static void some_handler(int sig) { (void)sig; }

static int read_back_flags_and_restorer_are_glibcs(void)
{
    struct sigaction sa, before, after;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = some_handler;
    sa.sa_flags = SA_ONSTACK | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, NULL); /* librmap's handler not yet installed: the kernel's answer */
    sigaction(SIGBUS, NULL, &before);
    char buf[8];
    rmap_read(buf, truncated_mapping(), sizeof buf); /* installs librmap's */
    sigaction(SIGBUS, &sa, NULL);
    sigaction(SIGBUS, NULL, &after);
    uintptr_t restorer_before, restorer_after;
    memcpy(&restorer_before, &before.sa_restorer, sizeof restorer_before);
    memcpy(&restorer_after, &after.sa_restorer, sizeof restorer_after);
    printf("     before: flags %#x restorer %#lx; after librmap's handler: flags %#x restorer %#lx\n",
           (unsigned)before.sa_flags, (unsigned long)restorer_before, (unsigned)after.sa_flags,
           (unsigned long)restorer_after);
    /* Without SA_RESTORER the field means nothing (AArch64's glibc reads
     * back whatever the kernel's structure held there): not compared. */
    return check(!!(before.sa_flags & SA_RESTORER) == GLIBC_ADDS_RESTORER && after.sa_flags == before.sa_flags &&
                     (!GLIBC_ADDS_RESTORER || after.sa_restorer == before.sa_restorer) &&
                     after.sa_handler == some_handler,
                 "the same sa_flags (with SA_RESTORER where glibc adds it) and sa_restorer as glibc's")
               ? 0
               : 1;
}

/* SIG_IGN stays: a SIGBUS sent with kill() is still ignored once librmap's
 * handler is installed over it. */
static int ignored_sigbus_stays_ignored(void)
{
    signal(SIGBUS, SIG_IGN);
    char buf[8];
    int rc = rmap_read(buf, truncated_mapping(), sizeof buf);
    kill(getpid(), SIGBUS);
    raise(SIGBUS);
    printf("     SIGBUS ignored: rmap_read -> %d (%s), then two sent SIGBUS ignored\n", rc, strerrorname_np(errno));
    return check(rc == -1, "EIO first") ? 0 : 1;
}

/* A real fault cannot be ignored: it kills with SIGBUS, as without librmap. */
static int ignored_sigbus_real_fault_still_kills(void)
{
    signal(SIGBUS, SIG_IGN);
    char buf[8], *p = truncated_mapping();
    if (rmap_read(buf, p, sizeof buf) != -1) return 1;
    return *(volatile char *)p;
}

/* The program's handler, chained to, runs with its own sa_mask and flags. */
static sigjmp_buf chained_jump;
static volatile sig_atomic_t chained_runs, chained_saw_usr1_blocked, chained_saw_segv_blocked;
static volatile void *chained_addr;

static void chained_handler(int sig, siginfo_t *info, void *context)
{
    (void)sig, (void)context;
    chained_runs++;
    chained_saw_usr1_blocked = blocks(SIGUSR1);
    chained_saw_segv_blocked = blocks(SIGSEGV);
    chained_addr = info->si_addr;
    siglongjmp(chained_jump, 1);
}

static void install_chained(int flags)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = chained_handler;
    sa.sa_flags = SA_SIGINFO | flags;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGUSR1);
    if (sigaction(SIGSEGV, &sa, NULL) != 0) die("sigaction");
    char buf[8];
    if (rmap_read(buf, no_access_page(), sizeof buf) != -1) die("rmap_read");
}

/* Faults a fresh PROT_NONE page; returns whether the program's handler took it. */
static int plain_fault(char **where)
{
    *where = no_access_page();
    if (sigsetjmp(chained_jump, 1) == 0) touch(*where);
    return 1;
}

static int chained_handler_gets_its_mask_and_info(void)
{
    install_chained(0);
    char *at;
    plain_fault(&at);
    printf("     the program's handler ran %d time(s): SIGUSR1 %s, SIGSEGV %s, si_addr %s\n", (int)chained_runs,
           chained_saw_usr1_blocked ? "blocked" : "NOT blocked", chained_saw_segv_blocked ? "blocked" : "NOT blocked",
           chained_addr == at ? "the page" : "wrong");
    return check(chained_runs == 1 && chained_saw_usr1_blocked && chained_saw_segv_blocked && chained_addr == at,
                 "its sa_mask and SIGSEGV blocked inside it, the fault's siginfo")
               ? 0
               : 1;
}

static int chained_nodefer_handler_leaves_the_signal_unblocked(void)
{
    if (under_valgrind()) skip_test("valgrind drops sa_mask for SA_NODEFER handlers (reproduced without librmap)");
    install_chained(SA_NODEFER);
    char *at;
    plain_fault(&at);
    printf("     SA_NODEFER handler ran %d time(s): SIGSEGV %s, SIGUSR1 %s inside\n", (int)chained_runs,
           chained_saw_segv_blocked ? "blocked" : "not blocked", chained_saw_usr1_blocked ? "blocked" : "not blocked");
    return check(chained_runs == 1 && !chained_saw_segv_blocked && chained_saw_usr1_blocked,
                 "SA_NODEFER: SIGSEGV not blocked inside, sa_mask still applied")
               ? 0
               : 1;
}

/* SA_RESETHAND: the first fault reaches the handler, the second gets the
 * default action (dies of SIGSEGV), as without librmap. */
static int chained_one_shot_handler_runs_once(void)
{
    install_chained(SA_RESETHAND);
    char *at;
    plain_fault(&at);
    if (chained_runs != 1) return 1;
    plain_fault(&at); /* must die here */
    return 0;
}

/* The program changes SIGBUS or SIGSEGV after librmap installed its
 * handler, through sigaction or signal: the change goes behind librmap's
 * handler. Copies stay safe; every other fault gets the program's action. */
static int default_set_after_first_copy_keeps_copies_safe(void)
{
    char buf[8], *p = truncated_mapping();
    if (rmap_read(buf, p, sizeof buf) != -1) return 1;
    int set = signal(SIGBUS, SIG_DFL) != SIG_ERR;
    int rc = rmap_read(buf, p, sizeof buf), err = errno;
    struct sigaction now;
    sigaction(SIGBUS, NULL, &now);
    printf("     SIGBUS set to SIG_DFL after the first copy: the same thread's next copy -> %d (%s); "
           "sigaction reports %s\n",
           rc, strerrorname_np(err), now.sa_handler == SIG_DFL ? "SIG_DFL" : "something else");
    return check(set && rc == -1 && err == EIO && now.sa_handler == SIG_DFL,
                 "EIO, not a crash, and the program sees the action it set")
               ? 0
               : 1;
}

static int default_set_after_first_copy_still_kills_plain_faults(void)
{
    char buf[8], *p = truncated_mapping();
    if (rmap_read(buf, p, sizeof buf) != -1) return 1;
    signal(SIGBUS, SIG_DFL);
    if (rmap_read(buf, p, sizeof buf) != -1) return 1;
    return *(volatile char *)p; /* must die of SIGBUS */
}

static sigjmp_buf own_jump;
static volatile sig_atomic_t own_runs;

static void handler_that_does_not_chain(int sig)
{
    (void)sig;
    own_runs++;
    siglongjmp(own_jump, 1);
}

static int handler_that_does_not_chain_keeps_copies_safe(void)
{
    char buf[8], *p = truncated_mapping();
    if (rmap_read(buf, p, sizeof buf) != -1) return 1;
    struct sigaction sa, now;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler_that_does_not_chain;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, NULL);
    int rc = rmap_read(buf, p, sizeof buf), err = errno, runs_after_copy = own_runs;
    if (sigsetjmp(own_jump, 1) == 0) touch(p);
    sigaction(SIGBUS, NULL, &now);
    printf("     a handler that never chains, set after the first copy: copy -> %d (%s), handler ran %d time(s); "
           "a plain read: handler ran %d time(s); sigaction reports %s\n",
           rc, strerrorname_np(err), runs_after_copy, (int)own_runs,
           now.sa_handler == handler_that_does_not_chain ? "it" : "something else");
    return check(rc == -1 && err == EIO && runs_after_copy == 0 && own_runs == 1 &&
                     now.sa_handler == handler_that_does_not_chain,
                 "the copy fails with EIO, the plain read reaches the handler, sigaction shows it")
               ? 0
               : 1;
}

/* sysv_signal (one-shot, the signal() of -std=c11 programs): the first
 * plain fault runs the handler, a copy after it fails with EFAULT, and the
 * next plain fault (in a child) dies of SIGSEGV. */
static int sysv_handler_set_after_first_copy_runs_once(void)
{
    char buf[8];
    if (rmap_read(buf, no_access_page(), sizeof buf) != -1) return 1;
    sysv_signal(SIGSEGV, handler_that_does_not_chain);
    if (sigsetjmp(own_jump, 1) == 0) touch(no_access_page());
    int runs = own_runs, rc = rmap_read(buf, no_access_page(), sizeof buf), err = errno;
    pid_t pid = fork();
    if (pid == 0) {
        touch(no_access_page());
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    printf("     sysv_signal handler set after the first copy: ran %d time(s) for a plain fault; copy -> %d (%s); "
           "a second plain fault: %s\n",
           runs, rc, strerrorname_np(err), WIFSIGNALED(status) ? strsignal(WTERMSIG(status)) : "no death");
    return check(runs == 1 && rc == -1 && err == EFAULT && WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV,
                 "once, then EFAULT for the copy, then the default action")
               ? 0
               : 1;
}

/* A thread that blocks SIGBUS or SIGSEGV after its first copy: its next
 * copy notices (pthread_sigmask and sigprocmask tell librmap). */
static void *blocks_after_first_copy(void *arg)
{
    (void)arg;
    char buf[64], *p = truncated_mapping();
    int ok = check(rmap_read(buf, p, sizeof buf) == -1 && errno == EIO, "first copy: EIO");
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGBUS);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    ok &= check(rmap_read(buf, p, sizeof buf) == -1 && errno == EIO, "SIGBUS blocked with pthread_sigmask: EIO");
    sigemptyset(&set);
    sigaddset(&set, SIGSEGV);
    sigprocmask(SIG_BLOCK, &set, NULL);
    ok &= check(rmap_read(buf, no_access_page(), sizeof buf) == -1 && errno == EFAULT,
                "SIGSEGV blocked with sigprocmask: EFAULT");
    ok &= check(blocks(SIGBUS) && blocks(SIGSEGV), "both still blocked after the copies");
    return (void *)(intptr_t)ok;
}

/* Runs `body` in a thread of its own (its mask its own); prints what it
 * showed. Returns 0 when it returned nonzero, else 1. */
static int in_own_thread(void *(*body)(void *), const char *what, const char *shown)
{
    pthread_t t;
    void *ok;
    pthread_create(&t, NULL, body, NULL);
    pthread_join(t, &ok);
    printf("     %s: %s\n", what, ok ? shown : "wrong");
    return ok ? 0 : 1;
}

static int signals_blocked_after_first_copy_get_errors(void)
{
    return in_own_thread(blocks_after_first_copy, "a thread that blocked SIGBUS, then SIGSEGV, after its first copy",
                         "EIO, then EFAULT");
}

/* A thread that blocks SIGBUS copies safely and keeps the mask it set:
 * also when the mask changes behind librmap's back (the system call
 * itself) after asking for it, which sent the thread back to its
 * checkpoint (a raw change after a checkpoint, with no call of librmap's
 * between, is outside the guarantee: docs/fault-handling.md). */
static int raw_sigbus_mask(int how)
{
    uint64_t set = 1ull << (SIGBUS - 1);
    return (int)syscall(SYS_rt_sigprocmask, how, &set, NULL, sizeof set);
}

static void *blocking_thread_mask_changes(void *arg)
{
    (void)arg;
    char buf[64], *p = truncated_mapping();
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGBUS);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    int ok = 1;
    for (int i = 0; i < 3; i++)
        ok &= check(rmap_read(buf, p, sizeof buf) == -1 && errno == EIO && blocks(SIGBUS),
                    "SIGBUS blocked: EIO, still blocked after");
    ok &= check(raw_sigbus_mask(SIG_UNBLOCK) == 0, "SIGBUS unblocked with the system call");
    ok &= check(rmap_read(buf, p, sizeof buf) == -1 && errno == EIO && !blocks(SIGBUS),
                "EIO, and SIGBUS not blocked again by the copy");
    ok &= check(raw_sigbus_mask(SIG_BLOCK) == 0, "SIGBUS blocked with the system call");
    ok &= check(rmap_read(buf, p, sizeof buf) == -1 && errno == EIO && blocks(SIGBUS),
                "EIO, and SIGBUS still blocked");
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    ok &= check(rmap_read(buf, p, sizeof buf) == -1 && errno == EIO && !blocks(SIGBUS),
                "unblocked with pthread_sigmask: EIO");
    return (void *)(intptr_t)ok;
}

static int blocking_thread_keeps_its_mask_as_it_changes(void)
{
    return in_own_thread(blocking_thread_mask_changes,
                         "a thread blocking SIGBUS, its mask changed behind librmap's back both ways",
                         "EIO each time, the mask as the thread set it");
}

/* ---- A thread whose program blocks SIGBUS and SIGSEGV ----
 * Its checkpoint unblocks them in the kernel and hides them (mask.c): its
 * copies take the fast path, and wherever the program could tell, it gets
 * the mask it set. Each case checks the kernel's mask with the system call
 * to see that they were hidden. */
#define SIGNAL_BIT(sig) (1ull << ((sig) - 1))
#define FAULT_BITS (SIGNAL_BIT(SIGBUS) | SIGNAL_BIT(SIGSEGV))

static uint64_t kernel_mask(void)
{
    uint64_t mask = 0;
    if (syscall(SYS_rt_sigprocmask, SIG_BLOCK, NULL, &mask, sizeof mask) != 0) die("rt_sigprocmask");
    return mask;
}

/* Blocks SIGBUS, SIGSEGV and `also` (0: none) in this thread, then copies
 * from `lost`: whether that gave EIO and left both hidden. */
static int hide_fault_signals(const char *lost, int also)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGBUS);
    sigaddset(&set, SIGSEGV);
    if (also) sigaddset(&set, also);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    char buf[16];
    return rmap_read(buf, lost, sizeof buf) == -1 && errno == EIO && (kernel_mask() & FAULT_BITS) == 0;
}

static int copy_gives_eio(const char *lost)
{
    char buf[16];
    return rmap_read(buf, lost, sizeof buf) == -1 && errno == EIO;
}

static int hidden_signals_are_shown_as_the_program_set_them(void)
{
    char *lost = truncated_mapping();
    int ok = check(hide_fault_signals(lost, 0), "SIGBUS and SIGSEGV blocked, a copy: EIO, both unblocked in the kernel");
    for (int i = 0; i < 1000; i++) ok &= copy_gives_eio(lost);
    ok &= check((kernel_mask() & FAULT_BITS) == 0, "1000 more copies: EIO, still unblocked in the kernel");
    sigset_t old;
    pthread_sigmask(SIG_BLOCK, NULL, &old);
    ok &= check(sigismember(&old, SIGBUS) && sigismember(&old, SIGSEGV) && (kernel_mask() & FAULT_BITS) == FAULT_BITS,
                "pthread_sigmask shows both blocked; the kernel blocks them again");
    ok &= check(copy_gives_eio(lost) && (kernel_mask() & FAULT_BITS) == 0, "the next copy: EIO, hidden again");
    sigset_t bus;
    sigemptyset(&bus);
    sigaddset(&bus, SIGBUS);
    sigprocmask(SIG_UNBLOCK, &bus, &old);
    ok &= check(sigismember(&old, SIGBUS) && sigismember(&old, SIGSEGV) && !blocks(SIGBUS) && blocks(SIGSEGV),
                "sigprocmask(SIG_UNBLOCK, SIGBUS): the old mask had both, now only SIGSEGV is blocked");
    ok &= check(copy_gives_eio(lost) && (kernel_mask() & FAULT_BITS) == 0 && blocks(SIGSEGV) && !blocks(SIGBUS),
                "a copy: EIO; SIGSEGV hidden, shown blocked");
    printf("     %s\n", ok ? "both hidden at the copies, shown blocked to the program, folded back when it asks"
                           : "wrong");
    return ok ? 0 : 1;
}

/* A SIGBUS or SIGSEGV sent to a thread whose program blocked it stays
 * pending, as the kernel holds it, and is delivered with its information
 * when the program unblocks it. */
static volatile sig_atomic_t held_runs, held_bus_code, held_segv_code, held_segv_pid;
static void held_signal(int sig, siginfo_t *info, void *context)
{
    (void)context;
    held_runs++;
    if (sig == SIGBUS) held_bus_code = info->si_code;
    if (sig == SIGSEGV) held_segv_code = info->si_code, held_segv_pid = info->si_pid;
}

static int sent_signals_stay_pending_while_the_program_blocks_them(void)
{
    /* valgrind puts back its own copy of the mask when a handler returns,
     * not the context's: the signal cannot be kept blocked from there. */
    if (under_valgrind()) skip_test("under valgrind, which ignores the mask in a handler's context");
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = held_signal;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGBUS, &sa, NULL);
    sigaction(SIGSEGV, &sa, NULL);
    char *lost = truncated_mapping();
    int ok = check(hide_fault_signals(lost, 0), "both blocked and hidden");
    raise(SIGBUS);
    sigset_t pending;
    sigpending(&pending);
    ok &= check(held_runs == 0 && sigismember(&pending, SIGBUS) && (kernel_mask() & SIGNAL_BIT(SIGBUS)),
                "raise(SIGBUS): not delivered, pending, blocked in the kernel");
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, SIGBUS);
    pthread_sigmask(SIG_UNBLOCK, &one, NULL);
    ok &= check(held_runs == 1 && held_bus_code == SI_TKILL, "SIGBUS unblocked: delivered then, as sent by raise()");
    pthread_sigmask(SIG_BLOCK, &one, NULL);
    ok &= check(copy_gives_eio(lost) && (kernel_mask() & FAULT_BITS) == 0, "blocked again, a copy: EIO, hidden");
    kill(getpid(), SIGSEGV);
    sigpending(&pending);
    ok &= check(held_runs == 1 && sigismember(&pending, SIGSEGV), "kill(SIGSEGV): not delivered, pending");
    sigemptyset(&one);
    sigaddset(&one, SIGSEGV);
    pthread_sigmask(SIG_UNBLOCK, &one, NULL);
    ok &= check(held_runs == 2 && held_segv_code == SI_USER && held_segv_pid == getpid(),
                "SIGSEGV unblocked: delivered then, with kill()'s code and sender");
    printf("     raise(SIGBUS) and kill(SIGSEGV) held while blocked, delivered at the unblock: %d run(s)\n",
           (int)held_runs);
    return ok ? 0 : 1;
}

/* A fault outside a guarded copy in a thread whose program blocked SIGBUS
 * kills, whatever the action, as the kernel does. */
static void exits_if_run(int sig)
{
    (void)sig;
    _exit(3);
}

static int fault_outside_a_copy_while_blocked_kills(void)
{
    signal(SIGBUS, exits_if_run);
    char *lost = truncated_mapping();
    if (!hide_fault_signals(lost, 0)) return 1;
    touch(lost);
    return 1;
}

/* A tolerant mapping's lost page read directly in a thread that hides
 * SIGBUS is replaced as in any thread (without the hiding, the kernel
 * kills a thread that faults with SIGBUS blocked). */
static int tolerant_page_in_a_hiding_thread_reads_zeros(void)
{
    if (under_valgrind())
        skip_test("under valgrind this direct read dies of SIGSEGV at address 0, hidden or not (tolerant's own cases "
                  "cover tolerant reads there)");
    char *lost = truncated_mapping();
    int fd = temp_file(2 * PG);
    char *p = map_file(fd, 2 * PG, PROT_READ);
    if (rmap_tolerate(p, 2 * PG) != 0) die("rmap_tolerate");
    truncate_elsewhere(fd, 0);
    int ok = check(hide_fault_signals(lost, 0), "both blocked and hidden");
    char c = p[PG + 5];
    ok &= check(c == 0 && blocks(SIGBUS), "a direct read of the lost page: 0, SIGBUS still blocked");
    printf("     a tolerant page lost under a thread that blocks SIGBUS read as %d\n", c);
    return ok ? 0 : 1;
}

/* A handler of the program's sees the mask it set in its context and in
 * sigprocmask, and returns to it; one that changes its context's mask gets
 * that mask. */
static char *handler_lost;
static volatile sig_atomic_t context_runs, context_wrong;
static void sees_the_program_mask(int sig, siginfo_t *info, void *context)
{
    (void)sig, (void)info;
    ucontext_t *uc = context;
    if (!sigismember(&uc->uc_sigmask, SIGBUS) || !sigismember(&uc->uc_sigmask, SIGSEGV) || !blocks(SIGBUS) ||
        !copy_gives_eio(handler_lost))
        context_wrong++;
    context_runs++;
}

static void unblocks_sigbus_on_return(int sig, siginfo_t *info, void *context)
{
    (void)sig, (void)info;
    ucontext_t *uc = context;
    if (!copy_gives_eio(handler_lost)) context_wrong++;
    sigdelset(&uc->uc_sigmask, SIGBUS);
    context_runs++;
}

static int handlers_see_and_return_to_the_mask_the_program_set(void)
{
    handler_lost = truncated_mapping();
    int ok = check(hide_fault_signals(handler_lost, 0), "both blocked and hidden");
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = sees_the_program_mask;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGUSR1, &sa, NULL);
    raise(SIGUSR1);
    ok &= check(context_runs == 1 && context_wrong == 0,
                "in a SIGUSR1 handler: both blocked in its context and in pthread_sigmask, a copy EIO");
    ok &= check(copy_gives_eio(handler_lost) && blocks(SIGBUS) && blocks(SIGSEGV), "after it: EIO, both blocked");
    ok &= check(copy_gives_eio(handler_lost) && (kernel_mask() & FAULT_BITS) == 0, "hidden again at the next copy");
    if (!under_valgrind()) {
        sa.sa_sigaction = unblocks_sigbus_on_return;
        sigaction(SIGUSR1, &sa, NULL);
        raise(SIGUSR1);
        ok &= check(context_runs == 2 && context_wrong == 0 && !blocks(SIGBUS) && blocks(SIGSEGV),
                    "a handler that takes SIGBUS out of its context's mask returns to SIGBUS unblocked");
        ok &= check(copy_gives_eio(handler_lost), "then a copy: EIO");
    } else {
        printf("     not under valgrind: a handler changing its context's mask (valgrind ignores that)\n");
    }
    printf("     handlers ran %d time(s) with the mask the program set\n", (int)context_runs);
    return ok ? 0 : 1;
}

/* What saves the mask saves the one the program set: sigsetjmp, getcontext;
 * restoring it restores that one. */
static int saved_masks_are_the_ones_the_program_set(void)
{
    char *lost = truncated_mapping();
    int ok = check(hide_fault_signals(lost, 0), "both blocked and hidden");
    static sigjmp_buf env;
    static volatile int jumped;
    if (sigsetjmp(env, 1) == 0) {
        ok &= check(sigismember(&env->__saved_mask, SIGBUS) && sigismember(&env->__saved_mask, SIGSEGV),
                    "sigsetjmp saved both blocked");
        sigset_t bus;
        sigemptyset(&bus);
        sigaddset(&bus, SIGBUS);
        pthread_sigmask(SIG_UNBLOCK, &bus, NULL);
        ok &= check(copy_gives_eio(lost) && !blocks(SIGBUS), "SIGBUS unblocked: EIO");
        jumped = 1;
        siglongjmp(env, 1);
    }
    ok &= check(jumped && blocks(SIGBUS) && blocks(SIGSEGV) && copy_gives_eio(lost),
                "after siglongjmp: both blocked again, a copy EIO");
    ok &= check(copy_gives_eio(lost) && (kernel_mask() & FAULT_BITS) == 0, "hidden again");
    ucontext_t uc;
    getcontext(&uc);
    ok &= check(sigismember(&uc.uc_sigmask, SIGBUS) && sigismember(&uc.uc_sigmask, SIGSEGV) && copy_gives_eio(lost),
                "getcontext saved both blocked; a copy after: EIO");
    printf("     sigsetjmp and getcontext saved the mask the program set\n");
    return ok ? 0 : 1;
}

/* Threads and programs started from a thread that hides the two signals
 * start with the mask the program set. */
static void *kernel_mask_of_new_thread(void *arg)
{
    (void)arg;
    return (void *)(uintptr_t)kernel_mask();
}

/* The SigBlk line of a program's /proc/self/status, read through `out`. */
static uint64_t blocked_in_status(FILE *out)
{
    char line[256];
    unsigned long long mask = 0;
    while (fgets(line, sizeof line, out) != NULL)
        if (sscanf(line, "SigBlk: %llx", &mask) == 1) break;
    return mask;
}

static uint64_t blocked_in_child(pid_t pid, int read_end)
{
    FILE *out = fdopen(read_end, "r");
    uint64_t mask = blocked_in_status(out);
    fclose(out);
    waitpid(pid, NULL, 0);
    return mask;
}

/* cat, not sh: a shell may set its own mask before it runs a command. */
static char *const STATUS_ARGV[] = {"cat", "/proc/self/status", NULL};

/* Runs `how` (0: fork and execv, 1: vfork and execv, 2: fork and execl) of
 * cat printing its status into a pipe; the SigBlk it printed. */
static uint64_t blocked_in_exec(int how)
{
    int fds[2];
    if (pipe(fds) != 0) die("pipe");
    pid_t pid = how == 1 ? vfork() : fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        dup2(fds[1], 1);
        if (how == 2)
            execl("/bin/cat", "cat", "/proc/self/status", (char *)NULL);
        else
            execv("/bin/cat", STATUS_ARGV);
        _exit(127);
    }
    close(fds[1]);
    return blocked_in_child(pid, fds[0]);
}

static int started_threads_and_programs_get_the_mask_the_program_set(void)
{
    char *lost = truncated_mapping();
    int ok = check(hide_fault_signals(lost, 0), "both blocked and hidden");
    pthread_t t;
    void *mask;
    pthread_create(&t, NULL, kernel_mask_of_new_thread, NULL);
    pthread_join(t, &mask);
    ok &= check(((uintptr_t)mask & FAULT_BITS) == FAULT_BITS, "pthread_create: the new thread's kernel mask blocks both");
    ok &= check(copy_gives_eio(lost), "a copy: EIO");
    int fds[2];
    if (pipe(fds) != 0) die("pipe");
    posix_spawn_file_actions_t actions;
    pid_t pid;
    extern char **environ;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    int spawned = posix_spawn(&pid, "/bin/cat", &actions, NULL, STATUS_ARGV, environ) == 0;
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    ok &= check(spawned && (blocked_in_child(pid, fds[0]) & FAULT_BITS) == FAULT_BITS,
                "posix_spawn: the program started blocks both");
    ok &= check(copy_gives_eio(lost), "a copy: EIO");
    FILE *out = popen("exec cat /proc/self/status", "r");
    ok &= check(out != NULL && (blocked_in_status(out) & FAULT_BITS) == FAULT_BITS, "popen: blocks both");
    if (out) pclose(out);
    const char *names[] = {"fork and execv", "vfork and execv", "fork and execl"};
    for (int how = 0; how < 3; how++) {
        ok &= check(copy_gives_eio(lost) && (kernel_mask() & FAULT_BITS) == 0, "a copy: EIO, hidden");
        char what[64];
        snprintf(what, sizeof what, "%s: the program blocks both", names[how]);
        ok &= check((blocked_in_exec(how) & FAULT_BITS) == FAULT_BITS, what);
    }
    ok &= check(copy_gives_eio(lost) && blocks(SIGBUS) && blocks(SIGSEGV), "after them: EIO, both blocked");
    printf("     a thread, posix_spawn, popen, fork/vfork + execv/execl: each started with both blocked\n");
    return ok ? 0 : 1;
}

/* A handler run by sigsuspend runs with sigsuspend's mask: one that blocks
 * SIGBUS leaves a copy there safe (it died before every handler was
 * librmap's to run), one that unblocks both shows them unblocked. */
static volatile sig_atomic_t suspend_runs, suspend_wrong, suspend_expect_blocked;
static void copies_in_sigsuspend(int sig)
{
    (void)sig;
    /* valgrind runs it with the mask from before sigsuspend (with or
     * without librmap): there only the copy is checked. */
    if (!copy_gives_eio(handler_lost) || (!under_valgrind() && blocks(SIGBUS) != suspend_expect_blocked))
        suspend_wrong++;
    suspend_runs++;
}

static int sigsuspend_handlers_copy_with_its_mask(void)
{
    handler_lost = truncated_mapping();
    signal(SIGUSR1, copies_in_sigsuspend);
    int ok = check(copy_gives_eio(handler_lost), "nothing blocked, a copy: EIO (the thread passed its checkpoint)");
    sigset_t usr1, all_but_usr1, none;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &usr1, NULL);
    ok &= check(copy_gives_eio(handler_lost), "SIGUSR1 blocked, a copy: EIO (checked again, SIGBUS not blocked)");
    sigfillset(&all_but_usr1);
    sigdelset(&all_but_usr1, SIGUSR1);
    suspend_expect_blocked = 1;
    raise(SIGUSR1);
    sigsuspend(&all_but_usr1);
    ok &= check(suspend_runs == 1 && suspend_wrong == 0,
                "sigsuspend(every signal but SIGUSR1): its handler's copy EIO, SIGBUS blocked there");
    ok &= check(hide_fault_signals(handler_lost, SIGUSR1), "both blocked and hidden (and SIGUSR1)");
    sigemptyset(&none);
    suspend_expect_blocked = 0;
    raise(SIGUSR1);
    sigsuspend(&none);
    ok &= check(suspend_runs == 2 && suspend_wrong == 0 && blocks(SIGBUS) && copy_gives_eio(handler_lost),
                "sigsuspend(nothing) while hidden: SIGBUS unblocked in the handler, blocked after, copies EIO");
    printf("     2 handlers run by sigsuspend copied with its mask\n");
    return ok ? 0 : 1;
}

/* A program can still replace librmap's handler behind its back (here with
 * the system call itself; also sigset(), sigignore(), a library loaded with
 * RTLD_LOCAL): each thread's first copy checks, and installs librmap's
 * handler again over SIG_DFL or SIG_IGN. */
static void set_default_with_the_system_call(int sig)
{
    struct {
        uintptr_t handler;
        unsigned long flags;
        uintptr_t restorer;
        uint64_t mask;
    } kernel_action = {(uintptr_t)SIG_DFL, 0, 0, 0};
    if (syscall(SYS_rt_sigaction, sig, &kernel_action, NULL, sizeof kernel_action.mask) != 0) die("rt_sigaction");
}

static void *first_copy_in_new_thread(void *arg)
{
    char buf[8];
    int rc = rmap_read(buf, (char *)arg, sizeof buf);
    return (void *)(intptr_t)(rc == -1 && errno == EIO);
}

static int default_set_behind_librmap_is_noticed_by_a_new_thread(void)
{
    char buf[8], *p = truncated_mapping();
    if (rmap_read(buf, p, sizeof buf) != -1) return 1;
    set_default_with_the_system_call(SIGBUS);
    pthread_t t;
    void *eio;
    pthread_create(&t, NULL, first_copy_in_new_thread, p);
    pthread_join(t, &eio);
    printf("     SIGBUS set to SIG_DFL with rt_sigaction after the first copy; a new thread's copy: %s\n",
           eio ? "EIO" : "died");
    return check(eio != NULL, "EIO, not a crash") ? 0 : 1;
}


/* Plugins whose calls of the C library's signal functions never reach
 * librmap when they are loaded after a thread's checkpoint: one loaded with
 * RTLD_DEEPBIND (its own C library's definitions come first) or into a new
 * namespace with dlmopen (a C library of its own). What they set reaches
 * the kernel, as a raw rt_sigaction does; docs/fault-handling.md says so:
 * the thread's next copy dies of SIGBUS, and the next checkpoint (here a
 * new thread's first copy) puts librmap's handler back, after which copies
 * give EIO again in every thread. */
enum { DEEPBIND, NEW_NAMESPACE };

static void *load_signal_plugin(int how)
{
    char path[4200];
    snprintf(path, sizeof path, "%s", self_program());
    strcpy(strrchr(path, '/') + 1, "signal_plugin.so");
    if (how == DEEPBIND) {
        if (under_asan()) skip_test("ASan's runtime refuses RTLD_DEEPBIND");
        return dlopen(path, RTLD_NOW | RTLD_DEEPBIND);
    }
    void *plugin = dlmopen(LM_ID_NEWLM, path, RTLD_NOW);
    if (!plugin) {
        printf("     dlmopen: %s\n", dlerror());
        skip_test("this environment cannot load into a new namespace (valgrind and ASan cannot)");
    }
    return plugin;
}

static void plugin_sets_sig_dfl(int how)
{
    void *plugin = load_signal_plugin(how);
    void (*set_default)(void);
    *(void **)&set_default = plugin ? dlsym(plugin, "plugin_set_sigbus_default") : NULL;
    if (!set_default) die("signal_plugin.so");
    set_default();
}

static int plugin_after_the_checkpoint(int how)
{
    char buf[8], *p = truncated_mapping();
    if (rmap_read(buf, p, sizeof buf) != -1) return 1; /* the checkpoint */
    plugin_sets_sig_dfl(how);
    rmap_read(buf, p, sizeof buf); /* dies of SIGBUS, as documented */
    return 0;
}

static int plugin_noticed_at_the_next_checkpoint(int how)
{
    char buf[8], *p = truncated_mapping();
    if (rmap_read(buf, p, sizeof buf) != -1) return 1;
    plugin_sets_sig_dfl(how);
    pthread_t t;
    void *eio;
    pthread_create(&t, NULL, first_copy_in_new_thread, p);
    pthread_join(t, &eio);
    int rc = rmap_read(buf, p, sizeof buf), err = errno;
    printf("     after the plugin's signal(SIGBUS, SIG_DFL): a new thread's first copy %s; then this thread's %s\n",
           eio ? "EIO" : "not EIO", rc == -1 && err == EIO ? "EIO" : "not EIO");
    return check(eio && rc == -1 && err == EIO, "EIO in both once a checkpoint put the handler back") ? 0 : 1;
}

static int deepbind_plugin_after_the_checkpoint_is_outside_the_guarantee(void)
{
    return plugin_after_the_checkpoint(DEEPBIND);
}
static int deepbind_plugin_is_noticed_at_the_next_checkpoint(void)
{
    return plugin_noticed_at_the_next_checkpoint(DEEPBIND);
}
static int dlmopen_plugin_after_the_checkpoint_is_outside_the_guarantee(void)
{
    return plugin_after_the_checkpoint(NEW_NAMESPACE);
}
static int dlmopen_plugin_is_noticed_at_the_next_checkpoint(void)
{
    return plugin_noticed_at_the_next_checkpoint(NEW_NAMESPACE);
}

/* Loaded before the first copy, a RTLD_DEEPBIND plugin is rewritten like
 * any other object: its SIG_DFL goes behind librmap's handler. */
static int deepbind_plugin_loaded_before_the_checkpoint_is_rebound(void)
{
    char buf[8], *p = truncated_mapping();
    void *plugin = load_signal_plugin(DEEPBIND);
    if (rmap_read(buf, p, sizeof buf) != -1) return 1;
    void (*set_default)(void);
    *(void **)&set_default = plugin ? dlsym(plugin, "plugin_set_sigbus_default") : NULL;
    if (!set_default) die("signal_plugin.so");
    set_default();
    int rc = rmap_read(buf, p, sizeof buf), err = errno;
    return check(rc == -1 && err == EIO, "EIO: the plugin's signal() reached librmap") ? 0 : 1;
}

/* Checked mode says so when it installs the handler again. */
static int default_set_behind_librmap_is_reported_in_checked_mode(void)
{
    const char *args[] = {"--scenario", "sig-dfl", NULL};
    run_t r = run_self(args, "RMAP_CHECK", "1");
    printf("     %s", r.err);
    const char *want = "rmap: fault-handler: SIGBUS or SIGSEGV was set to SIG_DFL or SIG_IGN after librmap installed";
    return check(exited_ok(&r) && strncmp(r.err, want, strlen(want)) == 0, "the rmap: fault-handler line first")
               ? 0
               : 1;
}

/* fork() while another thread sets SIGBUS actions: no child inherits
 * librmap's record of them half written or locked (each child sets one too). */
static atomic_int setter_stop;

static void *keeps_setting_sigbus(void *arg)
{
    (void)arg;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    while (!atomic_load(&setter_stop)) {
        sa.sa_handler = sa.sa_handler == SIG_DFL ? handler_that_does_not_chain : SIG_DFL;
        sigaction(SIGBUS, &sa, NULL);
    }
    return NULL;
}

static int fork_while_setting_actions(void)
{
    char buf[8];
    if (rmap_read(buf, truncated_mapping(), sizeof buf) != -1) return 1;
    pthread_t t;
    pthread_create(&t, NULL, keeps_setting_sigbus, NULL);
    int forks = under_valgrind() ? 20 : 300, fine = 0;
    for (int i = 0; i < forks && fine == i; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            struct sigaction sa;
            memset(&sa, 0, sizeof sa);
            sa.sa_handler = SIG_DFL;
            _exit(sigaction(SIGBUS, &sa, NULL) == 0 && rmap_read(buf, truncated_mapping(), sizeof buf) == -1 ? 0 : 1);
        }
        /* A child that hangs is killed after 5 s (it may block SIGALRM). */
        int status = 0;
        for (int waited = 0; waitpid(pid, &status, WNOHANG) == 0; waited++) {
            if (waited == 5000) kill(pid, SIGKILL);
            usleep(1000);
        }
        fine += WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
    atomic_store(&setter_stop, 1);
    pthread_join(t, NULL);
    printf("     %d forks while a thread set SIGBUS actions: %d children set their own and got EIO\n", forks, fine);
    return check(fine == forks, "every child") ? 0 : 1;
}

/* RMAP_CHECK takes 0/off, 1/report, 2/abort in any case, spaces around
 * ignored; anything else leaves checked mode off with one warning line. */
static int rmap_check_values(void)
{
    struct {
        const char *value;
        int reports, aborts, warns;
    } cases[] = {{"1", 1, 0, 0},      {" 1", 1, 0, 0},  {"report", 1, 0, 0}, {"2", 1, 1, 0}, {"ABORT", 1, 1, 0},
                 {"abort", 1, 1, 0},  {"0", 0, 0, 0},   {"", 0, 0, 0},        {"yes", 0, 0, 1}, {"3", 0, 0, 1}};
    int ok = 1;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *args[] = {"--scenario", "double-unmap", NULL};
        run_t r = run_self(args, "RMAP_CHECK", cases[i].value);
        int reported = strstr(r.err, "rmap: double-unmap: ") != NULL;
        int aborted = WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGABRT;
        int warned = strstr(r.err, "is not one of 0, off, 1, report, 2, abort") != NULL;
        char what[64];
        snprintf(what, sizeof what, "RMAP_CHECK=\"%s\"", cases[i].value);
        ok &= check(reported == cases[i].reports && aborted == cases[i].aborts && warned == cases[i].warns, what);
    }
    printf("     10 values: 1, \" 1\", report -> report; 2, ABORT, abort -> abort; 0, \"\" -> off; yes, 3 -> off + warning\n");
    return ok ? 0 : 1;
}

/* Copies, raw reads under the program's own handler, and a thread with
 * SIGBUS blocked, while another process truncates and extends the file:
 * nothing dies, every failed copy is EIO, and every count ends at a page
 * boundary of the source (or is 0). */
enum { STRESS_PAGES = 32 };
static char *stress_map;
static atomic_int stress_stop;
static __thread sigjmp_buf raw_jump;
static atomic_long raw_faults;

static void raw_handler(int sig)
{
    (void)sig;
    atomic_fetch_add(&raw_faults, 1);
    siglongjmp(raw_jump, 1);
}

typedef struct {
    int block_sigbus;
    long copies, failures, wrong;
} copier_t;

static void *stress_copier(void *arg)
{
    copier_t *c = arg;
    if (c->block_sigbus) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGBUS);
        pthread_sigmask(SIG_BLOCK, &set, NULL);
    }
    unsigned seed = (unsigned)(uintptr_t)arg;
    static __thread char buf[STRESS_PAGES * 4096 + 4096];
    while (!atomic_load(&stress_stop)) {
        size_t off = (size_t)rand_r(&seed) % (STRESS_PAGES * PG), n = 1 + (size_t)rand_r(&seed) % (STRESS_PAGES * PG - off);
        char *dst = buf + rand_r(&seed) % 100;
        c->copies++;
        if (rmap_read(dst, stress_map + off, n) == 0) continue;
        size_t copied = rmap_copied();
        c->failures++;
        c->wrong += errno != EIO || copied > n || (copied != 0 && (off + copied) % PG != 0);
    }
    return NULL;
}

static void *raw_reader(void *arg)
{
    long *reads = arg;
    while (!atomic_load(&stress_stop)) {
        for (size_t i = 0; i < STRESS_PAGES; i++)
            if (sigsetjmp(raw_jump, 1) == 0) touch(stress_map + i * PG);
        (*reads)++;
    }
    return NULL;
}

static int copies_under_truncation_signals_and_threads(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = raw_handler;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, NULL);
    int fd = temp_file(STRESS_PAGES * PG);
    stress_map = map_file(fd, STRESS_PAGES * PG, PROT_READ);
    unsigned seconds = under_valgrind() ? 1 : 2;
    pid_t truncator = fork();
    if (truncator == 0) {
        unsigned seed = 1;
        for (time_t end = time(NULL) + seconds; time(NULL) < end;) {
            if (ftruncate(fd, (off_t)(PG * (size_t)(rand_r(&seed) % STRESS_PAGES))) != 0 ||
                ftruncate(fd, (off_t)(STRESS_PAGES * PG)) != 0)
                _exit(1);
        }
        _exit(0);
    }
    copier_t copiers[3] = {{0, 0, 0, 0}, {0, 0, 0, 0}, {1, 0, 0, 0}};
    pthread_t t[4];
    long raw_reads = 0;
    for (int i = 0; i < 3; i++) pthread_create(&t[i], NULL, stress_copier, &copiers[i]);
    pthread_create(&t[3], NULL, raw_reader, &raw_reads);
    int status;
    waitpid(truncator, &status, 0);
    atomic_store(&stress_stop, 1);
    long copies = 0, failures = 0, wrong = 0;
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < 3; i++) copies += copiers[i].copies, failures += copiers[i].failures, wrong += copiers[i].wrong;
    printf("     %u s: %ld copies by 3 threads (one blocking SIGBUS), %ld failed, all EIO at a page boundary: %s; "
           "%ld raw passes took %ld SIGBUS in the program's own handler\n",
           seconds, copies, failures, wrong ? "NO" : "yes", raw_reads, atomic_load(&raw_faults));
    /* Under valgrind (one thread at a time, slowly) a path may meet no fault
     * in the time; natively every path must. */
    int every_path = failures > 0 && copiers[2].failures > 0 && atomic_load(&raw_faults) > 0;
    return check(WIFEXITED(status) && WEXITSTATUS(status) == 0 && wrong == 0 && (every_path || under_valgrind()),
                 "no crash, every failure EIO with an exact count, faults on every path")
               ? 0
               : 1;
}

/* A handler of the program's may copy and search while its thread was
 * inside a copy or search (between its fast path and the slow path that
 * reads the thread's records, or inside a large copy's guarded frame):
 * librmap sets the thread's records aside for the handler. A storm of
 * SIGUSR1 against a thread copying, searching and passing checkpoints,
 * with every result checked on both sides. Not under ASan or valgrind:
 * their own interceptors and signal machinery are not reentrant. */
static char *storm_lost, *storm_half;
static atomic_long storm_handler_runs, storm_handler_wrong;
static void copies_in_storm(int sig)
{
    (void)sig;
    int saved_errno = errno;
    char buf[256];
    size_t at = 0;
    long wrong = 0;
    /* storm_half: one page readable, then one lost. */
    if (rmap_read(buf, storm_half + PG - 100, 200) != -1 || errno != EIO || rmap_copied() != 100) wrong++;
    if (rmap_read(buf, storm_half, sizeof buf) != 0 || buf[0] != 'a' || buf[255] != 'a' + 255 % 26) wrong++;
    if (rmap_find(storm_half + PG - 8, 16, "z", 1, 0, &at) != -1 || errno != EIO) wrong++;
    atomic_fetch_add(&storm_handler_runs, 1);
    if (wrong) atomic_fetch_add(&storm_handler_wrong, wrong);
    errno = saved_errno;
}

static atomic_int storm_over;
static void *storm_sender(void *arg)
{
    pthread_t target = *(pthread_t *)arg;
    while (!atomic_load(&storm_over)) {
        pthread_kill(target, SIGUSR1);
        /* The target may share this CPU (a busy machine): let it run. */
        sched_yield();
    }
    return NULL;
}

static int handler_copies_interrupting_copies_keep_both_right(void)
{
    if (under_asan() || under_valgrind())
        skip_test("under ASan or valgrind, whose interceptors and signal handling are not reentrant");
    storm_lost = truncated_mapping();
    int fd = temp_file(2 * PG);
    storm_half = map_file(fd, 2 * PG, PROT_READ);
    truncate_elsewhere(fd, PG);
    size_t large = 256 * 1024;
    int big_fd = temp_file(large);
    char *big = map_file(big_fd, large, PROT_READ);
    char *dst = malloc(large);
    if (!dst) die("malloc");
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = copies_in_storm;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    pthread_t self = pthread_self(), sender;
    pthread_create(&sender, NULL, storm_sender, &self);
    long rounds = 0, wrong = 0;
    sigset_t bus;
    sigemptyset(&bus);
    sigaddset(&bus, SIGBUS);
    struct timespec start, now;
    long elapsed;
    clock_gettime(CLOCK_MONOTONIC, &start);
    do {
        char buf[64];
        size_t at = 0;
        if (rmap_read(buf, storm_lost, sizeof buf) != -1 || errno != EIO || rmap_copied() != 0) wrong++;
        if (rmap_read(buf, storm_half + 10, sizeof buf) != 0 || buf[0] != 'a' + 10) wrong++;
        if (rmap_read(dst, big, large) != 0 || dst[large - 1] != (char)('a' + (large - 1) % 26)) wrong++;
        if (rmap_read(dst, storm_half, 2 * PG) != -1 || errno != EIO || rmap_copied() != PG) wrong++;
        if (rmap_find(storm_half, 2 * PG, "\n", 1, 0, &at) != -1 || errno != EIO) wrong++;
        if (rmap_find(storm_half, PG, "c", 1, 0, &at) != 1 || at != 2) wrong++;
        /* A checkpoint at the next copy, blocking SIGBUS or not. */
        pthread_sigmask(rounds % 2 ? SIG_UNBLOCK : SIG_BLOCK, &bus, NULL);
        rounds++;
        clock_gettime(CLOCK_MONOTONIC, &now);
        elapsed = (now.tv_sec - start.tv_sec) * 1000000000L + (now.tv_nsec - start.tv_nsec);
        /* At least 0.5 s and 1,000 handlers (a busy machine delivers fewer), at most 5 s. */
    } while ((elapsed < 500000000L || atomic_load(&storm_handler_runs) < 1000) && elapsed < 5000000000L);
    atomic_store(&storm_over, 1);
    pthread_join(sender, NULL);
    long runs = atomic_load(&storm_handler_runs), handler_wrong = atomic_load(&storm_handler_wrong);
    printf("     %.1f s: %ld rounds of 6 copies and searches, %ld wrong; %ld handlers of 3 each ran, %ld wrong\n",
           elapsed / 1e9, rounds, wrong, runs, handler_wrong);
    return check(wrong == 0 && handler_wrong == 0 && runs > 100, "every result right on both sides, 100+ handlers")
               ? 0
               : 1;
}

static const test_t TESTS[] = {
    E(read_eio_truncated, EIO),
    E(read_efault_unmapped, EFAULT),
    E(read_efault_bad_destination, EFAULT),
    E(write_eio_past_eof, EIO),
    E(write_efault_unmapped, EFAULT),
    E(write_efault_readonly, EFAULT),
    E(find_einval_flags, EINVAL),
    E(find_einval_null_offset, EINVAL),
    E(find_eio_truncated, EIO),
    E(find_efault_unmapped, EFAULT),
    K(finds_match_memmem),
    K(finds_stop_short_of_a_faulting_page),
    K(long_finds_past_the_fast_span),
    S(plain_access_still_sigbus, SIGBUS),
    S(plain_segv_without_handler, SIGSEGV),
    K(own_handler_installed_before),
    K(own_handler_installed_after),
    K(two_threads_do_not_confuse_faults),
    K(copies_match_memcpy),
    K(finds_over_every_small_range_never_die),
    K(one_byte_finds_meet_a_lost_page_at_every_offset),
    K(small_copies_stop_at_the_faulting_page),
    K(large_copies_stop_at_the_first_faulting_page),
    K(blocked_sigbus_thread_gets_eio),
    K(blocked_sigsegv_thread_gets_efault),
    K(thread_blocking_every_signal_gets_errors),
    K(dlclose_leaves_no_dangling_handler),
    K(dlopen_host_changing_sigbus_through_the_c_library_gets_eio),
    K(longjmp_out_of_a_handler_keeps_copies_safe),
    K(handlers_blocking_fault_signals_copy_safely),
    K(longjmp_out_of_a_handler_blocking_sigbus_keeps_copies_safe),
    K(siglongjmp_restoring_a_blocking_mask_keeps_copies_safe),
    K(swapcontext_to_a_blocking_mask_keeps_copies_safe),
    K(vfork_child_changing_actions_leaves_the_parents),
    K(read_back_flags_and_restorer_are_glibcs),
    K(ignored_sigbus_stays_ignored),
    S(ignored_sigbus_real_fault_still_kills, SIGBUS),
    K(chained_handler_gets_its_mask_and_info),
    K(chained_nodefer_handler_leaves_the_signal_unblocked),
    S(chained_one_shot_handler_runs_once, SIGSEGV),
    K(default_set_after_first_copy_keeps_copies_safe),
    S(default_set_after_first_copy_still_kills_plain_faults, SIGBUS),
    K(handler_that_does_not_chain_keeps_copies_safe),
    K(sysv_handler_set_after_first_copy_runs_once),
    K(signals_blocked_after_first_copy_get_errors),
    K(blocking_thread_keeps_its_mask_as_it_changes),
    K(hidden_signals_are_shown_as_the_program_set_them),
    K(sent_signals_stay_pending_while_the_program_blocks_them),
    S(fault_outside_a_copy_while_blocked_kills, SIGBUS),
    K(tolerant_page_in_a_hiding_thread_reads_zeros),
    K(handlers_see_and_return_to_the_mask_the_program_set),
    K(saved_masks_are_the_ones_the_program_set),
    K(started_threads_and_programs_get_the_mask_the_program_set),
    K(sigsuspend_handlers_copy_with_its_mask),
    K(default_set_behind_librmap_is_noticed_by_a_new_thread),
    K(default_set_behind_librmap_is_reported_in_checked_mode),
    S(deepbind_plugin_after_the_checkpoint_is_outside_the_guarantee, SIGBUS),
    K(deepbind_plugin_is_noticed_at_the_next_checkpoint),
    K(deepbind_plugin_loaded_before_the_checkpoint_is_rebound),
    S(dlmopen_plugin_after_the_checkpoint_is_outside_the_guarantee, SIGBUS),
    K(dlmopen_plugin_is_noticed_at_the_next_checkpoint),
    K(fork_while_setting_actions),
    K(rmap_check_values),
    K(copies_under_truncation_signals_and_threads),
    K(handler_copies_interrupting_copies_keep_both_right),
};

/* Scenarios run in a fresh process (run_self). */
static int scenario(const char *name)
{
    char buf[8];
    if (strcmp(name, "sig-dfl") == 0) {
        char *p = truncated_mapping();
        rmap_read(buf, p, sizeof buf);
        set_default_with_the_system_call(SIGBUS);
        pthread_t t;
        void *eio;
        pthread_create(&t, NULL, first_copy_in_new_thread, p);
        pthread_join(t, &eio);
        return eio ? 0 : 1;
    }
    if (strcmp(name, "double-unmap") == 0) {
        char *p = map_file(temp_file(PG), PG, PROT_READ);
        rmap_unmap(p, PG);
        rmap_unmap(p, PG);
        return 0;
    }
    return 2;
}

int main(int argc, char **argv)
{
    harness_init();
    if (argc == 3 && strcmp(argv[1], "--scenario") == 0) return scenario(argv[2]);
    return run_tests("fault_safe", TESTS, sizeof TESTS / sizeof *TESTS, argc > 1 ? argv[1] : NULL);
}
