/* fault_safe: rmap_read / rmap_write turn SIGBUS and SIGSEGV into errors,
 * and leave every other fault exactly as it was.
 *
 * Each test runs in its own child. Tests named <fn>_<errno>_<what> are the
 * tags of the ERRORS entries in include/rmap.h and must fail with that errno.
 *
 * Usage: fault_safe [TEST]
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
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
    if (sigsetjmp(own_jump, 1) == 0) (void)*(volatile char *)no_access_page();
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
        if (sigsetjmp(thread_jump, 1) == 0) (void)*(volatile char *)h;
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

static int copies_match_memcpy(void)
{
    size_t len = 16 * PG;
    int fd = temp_file(len);
    char *p = map_file(fd, len, PROT_READ | PROT_WRITE);
    char *want = malloc(len), *got = malloc(len);
    if (!want || !got) die("malloc");
    srand(7);
    int checked = 0;
    for (int i = 0; i < 2000; i++) {
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
    printf("     %d random offsets and lengths (0 and unaligned included): rmap_read and rmap_write equal memcpy\n", checked);
    free(want);
    free(got);
    return 0;
}

static const test_t TESTS[] = {
    E(read_eio_truncated, EIO),
    E(read_efault_unmapped, EFAULT),
    E(read_efault_bad_destination, EFAULT),
    E(write_eio_past_eof, EIO),
    E(write_efault_unmapped, EFAULT),
    E(write_efault_readonly, EFAULT),
    S(plain_access_still_sigbus, SIGBUS),
    S(plain_segv_without_handler, SIGSEGV),
    K(own_handler_installed_before),
    K(own_handler_installed_after),
    K(two_threads_do_not_confuse_faults),
    K(copies_match_memcpy),
};

int main(int argc, char **argv)
{
    harness_init();
    return run_tests("fault_safe", TESTS, sizeof TESTS / sizeof *TESTS, argc > 1 ? argv[1] : NULL);
}
