/* The one harness of librmap's C test suites (the .c files of tests/c).
 *
 * Every suite prints one line per check ("ok   ...", "FAIL ...", "skip ...")
 * and ends with "<suite>: N passed, N failed, N skipped"; it exits 0 only
 * when nothing failed. Cases that cannot run on this machine say why and
 * count as skipped, never as passed.
 */
#ifndef RMAP_TEST_HARNESS_H
#define RMAP_TEST_HARNESS_H

#include <stddef.h>
#include <sys/types.h>

#include "rmap.h"

/* MAP_32BIT is x86-64's (the first 2 GiB). Elsewhere (AArch64) the C
 * library does not define it and the kernel ignores the bit, as it ignores
 * every unknown flag: the cases that pass it compare librmap with the C
 * library on that unknown bit there. */
#ifndef MAP_32BIT
#define MAP_32BIT 0x40
#endif

/* An address above every user address space, which the kernel refuses. On
 * AArch64 the kernel ignores an address's top byte (Top Byte Ignore: 1 << 63
 * means 0 there), so the bit is 55, above its largest space (52 bits). */
#if defined(__aarch64__)
#define OUTSIDE_USER_SPACE ((uintptr_t)1 << 55)
#else
#define OUTSIDE_USER_SPACE ((uintptr_t)1 << 63)
#endif
/* The end of the user address space the kernel hands out by default
 * (x86-64: 47 bits; AArch64: 48, or less). */
#if defined(__aarch64__)
#define USER_SPACE_END ((uintptr_t)1 << 48)
#else
#define USER_SPACE_END ((uintptr_t)1 << 47)
#endif

/* The page size (set by harness_init). */
extern size_t PG;

/* Call first: reads the page size, unbuffers stdout, turns off core dumps
 * (many cases die of SIGSEGV or SIGBUS on purpose), remembers this
 * program's path for run_self(). */
void harness_init(void);

/* Under `make check-valgrind`, which sets RMAP_UNDER_VALGRIND. */
int under_valgrind(void);

/* The long runs of the stress cases (`make check-long` sets RMAP_TEST_LONG). */
int long_run(void);

/* Built with -fsanitize=address, whose runtime replaces mlock and munlock
 * (for libc's callers and librmap's alike) with stubs that return 0. */
int under_asan(void);

/* perror(what), then _exit(120): the set-up of a case failed. */
_Noreturn void die(const char *what);

/* Returns cond; when it is false, prints "     not so: what". */
int check(int cond, const char *what);

/* ---- memory and files ---- */

/* A hole of `pages` pages: reserved, then released (another thread may take it). */
char *hole(size_t pages);
/* A page that stays reserved with PROT_NONE, so it always faults. */
char *no_access_page(void);
/* Reads the byte at p, keeping the value (valgrind's JIT drops a load whose
 * value is unused, volatile or not, and with it the fault a test wants). */
void touch(const void *p);

/* An unlinked temporary file of `size` bytes 'a'..'z' repeating. */
int temp_file(size_t size);
/* Another process shrinks the file to `size` bytes. */
void truncate_elsewhere(int fd, off_t size);

/* ---- outcomes: what a call did ---- */

/* Returned, failed with an errno, died of a signal, or could not set up its
 * precondition (SKIP, with the reason in `why`). */
enum kind { OK, ERR, SIG, SKIP };
typedef struct {
    enum kind kind;
    int value; /* errno for ERR, signal for SIG */
    char why[160];
} outcome_t;

outcome_t ok(void);
outcome_t err(int e);
outcome_t skip(const char *why);
outcome_t of_map(void *p);  /* MAP_FAILED: err(errno) */
outcome_t of_rc(int rc);    /* -1: err(errno) */
int same(outcome_t x, outcome_t y);
/* "ok", "EINVAL", "SIGSEGV", "skipped (why)". */
const char *describe(outcome_t o, char *buf, size_t n);

/* Runs fn(arg) in a child: its outcome comes back through a pipe, or the
 * signal that killed the child is the outcome. */
outcome_t in_child(outcome_t (*fn)(void *arg), void *arg);

/* A trace: the outcome of each step a child recorded, then how the child
 * ended, if not by exit(0): the signal (SIG), or the exit status (SKIP). */
enum { MAX_STEPS = 16 };
typedef struct {
    int steps;
    outcome_t step[MAX_STEPS + 1];
} trace_t;

/* Runs fn(arg, fd) in a child, which records each step with record(fd, o). */
trace_t in_child_trace(void (*fn)(void *arg, int fd), void *arg);
void record(int fd, outcome_t o);
int same_trace(const trace_t *x, const trace_t *y);
/* "       who: ok EINVAL SIGSEGV" */
void print_trace(const char *who, const trace_t *t);

/* ---- libc and librmap behind one table ---- */

typedef struct {
    const char *name;
    void *(*map)(void *, size_t, int, int, int, off_t);
    int (*sync)(void *, size_t, int);
    int (*unmap)(void *, size_t);
    int (*protect)(void *, size_t, int);
    int (*advise)(void *, size_t, int);
    int (*lock)(const void *, size_t);
    int (*unlock)(const void *, size_t);
    void *(*remap)(void *, size_t, size_t, int, ...);
    int (*resident)(void *, size_t, unsigned char *);
} api_t;

extern const api_t LIBC, RMAP;

/* Descriptors of every kind a mapping call may meet, made afresh (their
 * files already unlinked). `closed` is a number no descriptor has. */
typedef struct {
    int rw, ro, wo, small, empty, pipe_r, dir, devzero, memfd, sealed, closed, opath;
} fixture_t;

fixture_t fixture(void);

/* ---- suites of tests, each run in its own child ---- */

/* A test returns the errno it got (for an E entry) or 0 (K), or must die
 * of a signal (S). A test that cannot run calls skip_test(). */
typedef struct {
    const char *name;
    int (*fn)(void);
    int want_errno;
    int want_signal;
} test_t;

#define E(fn, e) {#fn, fn, e, 0}
#define K(fn) {#fn, fn, 0, 0}
#define S(fn, s) {#fn, fn, 0, s}

/* Prints "     why" and ends the test as skipped. */
_Noreturn void skip_test(const char *why);

/* Runs each test (or only the one named `only`, if not NULL) in a child,
 * prints a line for each and the summary; returns the exit status. */
int run_tests(const char *suite, const test_t *tests, size_t count, const char *only);

/* Prints "<suite>: N passed, N failed, N skipped"; returns the exit status. */
int finish(const char *suite, int passed, int failed, int skipped);

/* ---- this program again, in a fresh process ---- */

typedef struct {
    int status;
    char out[4096], err[4096];
} run_t;

/* Runs this program with `args` (NULL-terminated), with the environment
 * variable `name` set to `value` (unset when value is NULL), and returns its
 * exit status, stdout and stderr. */
run_t run_self(const char *const args[], const char *name, const char *value);
int exited_ok(const run_t *r);
/* This program's absolute path, as read at start (reports name it). */
const char *self_program(void);

/* ---- checked-mode reports ---- */

/* Splits a report line "rmap: KIND: CALL(ADDR, LEN) at WHERE: ..." (or
 * "... at WHERE maps ...", "... at WHERE is both ...") into the line without
 * " at WHERE" (into `rest`) and WHERE (into `where`). Returns 0 if the line
 * has no location. */
int split_location(const char *line, char *rest, size_t rest_size, char *where, size_t where_size);

/* The source line ("file.c:42") that addr2line finds for a WHERE of the
 * form "OBJECT+0xOFFSET" or "SYMBOL+0xOFF (OBJECT)" (then OBJECT+offset from
 * the symbol), or "" if it cannot tell. */
const char *source_line_of(const char *where);

#endif
