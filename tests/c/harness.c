/* The one harness of librmap's C test suites: see harness.h. */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

size_t PG;

/* This program's path, for run_self() (under valgrind, /proc/self/exe
 * itself names valgrind's tool; reading the link at start names the program). */
static char self_path[4096];

void harness_init(void)
{
    PG = (size_t)sysconf(_SC_PAGESIZE);
    setbuf(stdout, NULL);
    struct rlimit nocore = {0, 0};
    setrlimit(RLIMIT_CORE, &nocore);
    ssize_t n = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
    if (n <= 0) die("readlink /proc/self/exe");
    self_path[n] = 0;
}

const char *self_program(void) { return self_path; }

int under_valgrind(void) { return getenv("RMAP_UNDER_VALGRIND") != NULL; }

int long_run(void) { return getenv("RMAP_TEST_LONG") != NULL; }

int under_asan(void)
{
#ifdef __SANITIZE_ADDRESS__
    return 1;
#else
    return 0;
#endif
}

_Noreturn void die(const char *what)
{
    perror(what);
    _exit(120);
}

int check(int cond, const char *what)
{
    if (!cond) printf("     not so: %s\n", what);
    return cond;
}

/* ---- memory and files ---- */

char *hole(size_t pages)
{
    char *p = mmap(NULL, pages * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) die("reserve a hole");
    munmap(p, pages * PG);
    return p;
}

char *no_access_page(void)
{
    char *p = mmap(NULL, PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) die("PROT_NONE page");
    return p;
}

static volatile char touched;

void touch(const void *p) { touched = *(const volatile char *)p; }

/* Writes `size` bytes 'a'..'z' repeating. */
static void fill(int fd, size_t size)
{
    char *buf = malloc(size + 1);
    if (!buf) die("malloc");
    for (size_t i = 0; i < size; i++) buf[i] = (char)('a' + i % 26);
    if (write(fd, buf, size) != (ssize_t)size) die("write test file");
    free(buf);
}

int temp_file(size_t size)
{
    char path[] = "/tmp/rmap-test-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) die("mkstemp");
    unlink(path);
    fill(fd, size);
    return fd;
}

void truncate_elsewhere(int fd, off_t size)
{
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) _exit(ftruncate(fd, size) == 0 ? 0 : 1);
    int status;
    if (waitpid(pid, &status, 0) != pid || status != 0) die("truncate in another process");
}

/* ---- outcomes ---- */

outcome_t ok(void) { return (outcome_t){OK, 0, ""}; }
outcome_t err(int e) { return (outcome_t){ERR, e, ""}; }
outcome_t skip(const char *why)
{
    outcome_t o = {SKIP, 0, ""};
    snprintf(o.why, sizeof o.why, "%s", why);
    return o;
}
outcome_t of_map(void *p) { return p == MAP_FAILED ? err(errno) : ok(); }
outcome_t of_rc(int rc) { return rc == 0 ? ok() : err(errno); }
int same(outcome_t x, outcome_t y) { return x.kind == y.kind && x.value == y.value; }

const char *describe(outcome_t o, char *buf, size_t n)
{
    switch (o.kind) {
    case OK: snprintf(buf, n, "ok"); break;
    case ERR: snprintf(buf, n, "%s", strerrorname_np(o.value) ? strerrorname_np(o.value) : "E?"); break;
    case SIG: snprintf(buf, n, "SIG%s", sigabbrev_np(o.value) ? sigabbrev_np(o.value) : "?"); break;
    case SKIP: snprintf(buf, n, "skipped (%s)", o.why); break;
    }
    return buf;
}

void record(int fd, outcome_t o)
{
    if (write(fd, &o, sizeof o) != (ssize_t)sizeof o) _exit(121);
}

trace_t in_child_trace(void (*fn)(void *arg, int fd), void *arg)
{
    int p[2];
    if (pipe(p) != 0) die("pipe");
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        close(p[0]);
        fn(arg, p[1]);
        _exit(0);
    }
    close(p[1]);
    trace_t t = {0};
    while (t.steps < MAX_STEPS && read(p[0], &t.step[t.steps], sizeof(outcome_t)) == (ssize_t)sizeof(outcome_t))
        t.steps++;
    close(p[0]);
    int status;
    waitpid(pid, &status, 0);
    if (WIFSIGNALED(status)) {
        t.step[t.steps++] = (outcome_t){SIG, WTERMSIG(status), ""};
    } else if (WEXITSTATUS(status) != 0) {
        outcome_t end = {SKIP, WEXITSTATUS(status), ""};
        snprintf(end.why, sizeof end.why, "child exited %d", WEXITSTATUS(status));
        t.step[t.steps++] = end;
    }
    return t;
}

int same_trace(const trace_t *x, const trace_t *y)
{
    if (x->steps != y->steps) return 0;
    for (int i = 0; i < x->steps; i++)
        if (!same(x->step[i], y->step[i])) return 0;
    return 1;
}

void print_trace(const char *who, const trace_t *t)
{
    char buf[200];
    printf("       %s:", who);
    for (int i = 0; i < t->steps; i++) printf(" %s", describe(t->step[i], buf, sizeof buf));
    printf("\n");
}

typedef struct {
    outcome_t (*fn)(void *);
    void *arg;
} one_step_t;

static void one_step(void *arg, int fd)
{
    one_step_t *one = arg;
    record(fd, one->fn(one->arg));
}

outcome_t in_child(outcome_t (*fn)(void *arg), void *arg)
{
    one_step_t one = {fn, arg};
    trace_t t = in_child_trace(one_step, &one);
    if (t.steps == 0) return skip("child reported nothing");
    outcome_t end = t.step[t.steps - 1];
    return end.kind == SIG || t.steps == 1 ? end : t.step[0];
}

/* ---- libc and librmap ---- */

const api_t LIBC = {"libc", mmap, msync, munmap, mprotect, madvise, mlock, munlock, mremap, mincore};
const api_t RMAP = {"rmap",      rmap_map,  rmap_sync,   rmap_unmap, rmap_protect,
                    rmap_advise, rmap_lock, rmap_unlock, rmap_remap, rmap_resident};

/* A file `name` in `dir` of `size` bytes 'a'..'z', reopened with `flags`. */
static int fixture_file(const char *dir, const char *name, size_t size, int flags)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) die("open fixture");
    fill(fd, size);
    int ret = fd;
    if (flags != O_RDWR) {
        ret = open(path, flags);
        if (ret < 0) die("reopen fixture");
        close(fd);
    }
    unlink(path);
    return ret;
}

fixture_t fixture(void)
{
    fixture_t fx;
    char dir[] = "/tmp/rmap-fixture-XXXXXX";
    if (!mkdtemp(dir)) die("mkdtemp");
    fx.rw = fixture_file(dir, "rw", 3 * PG, O_RDWR);
    fx.ro = fixture_file(dir, "ro", 3 * PG, O_RDONLY);
    fx.wo = fixture_file(dir, "wo", 3 * PG, O_WRONLY);
    fx.small = fixture_file(dir, "small", 100, O_RDWR);
    fx.empty = fixture_file(dir, "empty", 0, O_RDWR);
    fx.opath = fixture_file(dir, "opath", PG, O_PATH);
    fx.dir = open(dir, O_RDONLY | O_DIRECTORY);
    rmdir(dir);
    int p[2];
    if (pipe(p) != 0) die("pipe");
    fx.pipe_r = p[0];
    fx.devzero = open("/dev/zero", O_RDWR);
    fx.memfd = memfd_create("fixture", 0);
    fx.sealed = memfd_create("fixture-sealed", MFD_ALLOW_SEALING);
    if (fx.dir < 0 || fx.devzero < 0 || fx.memfd < 0 || fx.sealed < 0) die("fixture fds");
    if (ftruncate(fx.memfd, (off_t)(3 * PG)) || ftruncate(fx.sealed, (off_t)(3 * PG))) die("ftruncate");
    if (fcntl(fx.sealed, F_ADD_SEALS, F_SEAL_WRITE) != 0) die("F_ADD_SEALS");
    fx.closed = 900;
    close(fx.closed);
    return fx;
}

/* ---- suites ---- */

enum { SKIPPED = 77 };

_Noreturn void skip_test(const char *why)
{
    printf("     %s\n", why);
    fflush(stdout); /* _exit flushes nothing: the reason would be lost in a pipe */
    _exit(SKIPPED);
}

int finish(const char *suite, int passed, int failed, int skipped)
{
    printf("%s: %d passed, %d failed, %d skipped\n", suite, passed, failed, skipped);
    return failed ? 1 : 0;
}

int run_tests(const char *suite, const test_t *tests, size_t count, const char *only)
{
    int passed = 0, failed = 0, skipped = 0;
    for (size_t i = 0; i < count; i++) {
        const test_t *t = &tests[i];
        if (only && strcmp(only, t->name) != 0) continue;
        if (t->want_signal == SIGBUS && under_valgrind()) {
            /* Reproduced without librmap: under valgrind, a handler that resets
             * SIGBUS to SIG_DFL and lets the access fault again dies of SIGSEGV. */
            printf("skip %s: valgrind turns a re-raised SIGBUS into SIGSEGV\n", t->name);
            skipped++;
            continue;
        }
        pid_t pid = fork();
        if (pid < 0) die("fork");
        if (pid == 0) {
            int r = t->fn();
            _exit(t->want_errno ? (r == t->want_errno ? 0 : 1) : r);
        }
        int status;
        waitpid(pid, &status, 0);
        char got[64];
        int good;
        if (WIFSIGNALED(status)) {
            snprintf(got, sizeof got, "died of SIG%s", sigabbrev_np(WTERMSIG(status)));
            good = t->want_signal == WTERMSIG(status);
        } else if (WEXITSTATUS(status) == SKIPPED) {
            printf("skip %s\n", t->name);
            skipped++;
            continue;
        } else {
            snprintf(got, sizeof got, "exit %d", WEXITSTATUS(status));
            good = !t->want_signal && WEXITSTATUS(status) == 0;
        }
        char want[32] = "ok";
        if (t->want_errno) snprintf(want, sizeof want, "%s", strerrorname_np(t->want_errno));
        else if (t->want_signal) snprintf(want, sizeof want, "SIG%s", sigabbrev_np(t->want_signal));
        printf("%s %s: expected %s, %s\n", good ? "ok  " : "FAIL", t->name, want, good ? "so it is" : got);
        good ? passed++ : failed++;
    }
    return finish(suite, passed, failed, skipped);
}

/* ---- this program again ---- */

static void slurp(int fd, char *buf, size_t size)
{
    size_t got = 0;
    ssize_t n;
    while (got < size - 1 && (n = read(fd, buf + got, size - 1 - got)) > 0) got += (size_t)n;
    buf[got] = 0;
    char rest[512];
    while (read(fd, rest, sizeof rest) > 0) {} /* never block the child on a full pipe */
}

run_t run_self(const char *const args[], const char *name, const char *value)
{
    int out[2], err_pipe[2];
    if (pipe(out) || pipe(err_pipe)) die("pipe");
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        dup2(out[1], 1);
        dup2(err_pipe[1], 2);
        close(out[0]);
        close(err_pipe[0]);
        if (value) setenv(name, value, 1);
        else unsetenv(name);
        const char *argv[16] = {self_path};
        for (int i = 0; args[i] && i < 14; i++) argv[i + 1] = args[i];
        execv(self_path, (char *const *)argv);
        die("exec");
    }
    close(out[1]);
    close(err_pipe[1]);
    run_t r;
    slurp(out[0], r.out, sizeof r.out);
    slurp(err_pipe[0], r.err, sizeof r.err);
    close(out[0]);
    close(err_pipe[0]);
    waitpid(pid, &r.status, 0);
    return r;
}

int exited_ok(const run_t *r) { return WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0; }

int split_location(const char *line, char *rest, size_t rest_size, char *where, size_t where_size)
{
    const char *at = strstr(line, ") at ");
    if (!at) return 0;
    at += 1; /* " at WHERE" starts here */
    const char *from = at + 4, *end = NULL;
    const char *ends[] = {": ", " maps ", " is both "};
    for (size_t i = 0; i < sizeof ends / sizeof *ends; i++) {
        const char *e = strstr(from, ends[i]);
        if (e && (!end || e < end)) end = e;
    }
    if (!end) return 0;
    snprintf(where, where_size, "%.*s", (int)(end - from), from);
    snprintf(rest, rest_size, "%.*s%s", (int)(at - line), line, end);
    return 1;
}

const char *source_line_of(const char *where)
{
    static char result[512];
    char object[400] = "";
    unsigned long offset = 0;
    result[0] = 0;
    /* OBJECT+0xOFFSET, maybe followed by " (SYMBOL+0xOFF)": the offset from
     * the object's load address, as addr2line wants. OBJECT may hold spaces. */
    const char *symbol = strstr(where, " (");
    size_t length = symbol ? (size_t)(symbol - where) : strlen(where);
    snprintf(object, sizeof object, "%.*s", (int)length, where);
    char *plus = strrchr(object, '+');
    if (!plus || sscanf(plus, "+%lx", &offset) != 1 || object[0] != '/') return result;
    *plus = 0;
    char command[600];
    snprintf(command, sizeof command, "addr2line -e '%s' 0x%lx 2>/dev/null", object, offset);
    FILE *p = popen(command, "r");
    if (!p) return result;
    if (fgets(result, sizeof result, p)) result[strcspn(result, "\n")] = 0;
    pclose(p);
    const char *slash = strrchr(result, '/');
    if (slash) memmove(result, slash + 1, strlen(slash));
    return result;
}
