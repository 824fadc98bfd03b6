/* secure: rmap_secure. Writers never die of SIGBUS: a file's blocks are
 * allocated before any store can need them, a full disk or a file-size
 * limit comes back as -1 with ENOSPC or EFBIG, and a mapping grows in place
 * (its address never moves) while readers go on.
 *
 * Each test runs in its own child. Tests named <fn>_<errno>_<what> are tags
 * of ERRORS entries in include/rmap.h; where the C library has the same
 * operation (fallocate), the case compares with it.
 *
 * The full-disk cases mount a 1 MiB tmpfs of their own (a private mount
 * namespace: root only; elsewhere they say why they are skipped).
 *
 * Usage: secure [TEST]
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

/* An empty unlinked file, open for reading and writing. */
static int empty_file(void)
{
    char path[] = "/tmp/rmap-secure-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) die("mkstemp");
    unlink(path);
    return fd;
}

static off_t size_of(int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0) die("fstat");
    return st.st_size;
}

/* A folder of this test's own on a fresh `fs` ("tmpfs" with `options`, or
 * "ramfs"), in a private mount namespace; skips the test where that cannot
 * be had. */
static void own_mount(const char *fs, const char *options, char *dir)
{
    if (geteuid() != 0) skip_test("mounting a file system of the test's own needs root");
    if (!mkdtemp(dir)) die("mkdtemp");
    if (unshare(CLONE_NEWNS) != 0 || mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount(fs, dir, fs, 0, options) != 0)
        skip_test("this machine refused a private mount");
}

/* A file in `dir`, created empty. */
static int file_in(const char *dir, const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) die("open in the mounted folder");
    return fd;
}

/* A MAP_SHARED read-write mapping of `len` bytes of fd, by librmap. */
static char *shared(int fd, size_t len)
{
    char *p = rmap_map(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == RMAP_FAILED) die("rmap_map");
    return p;
}

/* ---- the ERRORS entries ---- */

static int secure_einval_misaligned(void)
{
    int fd = empty_file();
    char *p = shared(fd, 4 * PG);
    return rmap_secure(p + 1, PG, fd) == -1 ? errno : 0;
}

static int secure_einval_length_zero(void)
{
    int fd = empty_file();
    char *p = shared(fd, 4 * PG);
    /* fallocate says EINVAL for a length of 0 too. */
    int ok = check(fallocate(fd, 0, 0, 0) == -1 && errno == EINVAL, "fallocate with length 0: EINVAL");
    int rc = rmap_secure(p, 0, fd);
    return ok && rc == -1 ? errno : 0;
}

static int secure_einval_other_file(void)
{
    int fd = empty_file(), other = empty_file();
    char *p = shared(fd, 4 * PG);
    int rc = rmap_secure(p, PG, other);
    int e = errno;
    int ok = check(size_of(other) == 0 && size_of(fd) == 0, "neither file grew");
    return ok && rc == -1 ? e : 0;
}

static int secure_enomem_not_librmaps(void)
{
    int fd = empty_file();
    char *p = shared(fd, 2 * PG);
    char *foreign = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (foreign == MAP_FAILED) die("mmap");
    int ok = check(rmap_secure(p, 3 * PG, fd) == -1 && errno == ENOMEM, "a range reaching past librmap's mapping");
    ok &= check(rmap_secure(hole(1), PG, fd) == -1 && errno == ENOMEM, "a hole");
    ok &= check(rmap_secure(p, SIZE_MAX - (size_t)p + 2, fd) == -1 && errno == ENOMEM, "a range that wraps");
    ok &= check(size_of(fd) == 0, "the file did not grow");
    int rc = rmap_secure(foreign, PG, fd);
    return ok && rc == -1 ? errno : 0;
}

static int secure_enodev_not_shared_file(void)
{
    int fd = empty_file();
    if (ftruncate(fd, 2 * (off_t)PG) != 0) die("ftruncate");
    char *private = rmap_map(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    char *anon = rmap_map(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (private == RMAP_FAILED || anon == RMAP_FAILED) die("rmap_map");
    int ok = check(rmap_secure(anon, PG, fd) == -1 && errno == ENODEV, "shared anonymous memory: ENODEV");
    int rc = rmap_secure(private, 2 * PG, fd);
    return ok && rc == -1 ? errno : 0;
}

static int secure_ebadf_not_open(void)
{
    int fd = empty_file();
    char *p = shared(fd, 2 * PG);
    int closed = empty_file();
    close(closed);
    int ok = check(fallocate(closed, 0, 0, (off_t)PG) == -1 && errno == EBADF, "fallocate on it: EBADF");
    ok &= check(rmap_secure(p, PG, -1) == -1 && errno == EBADF, "fd -1: EBADF");
    int rc = rmap_secure(p, PG, closed);
    return ok && rc == -1 ? errno : 0;
}

static int secure_ebadf_read_only(void)
{
    char path[] = "/tmp/rmap-secure-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) die("mkstemp");
    int ro = open(path, O_RDONLY);
    unlink(path);
    if (ro < 0) die("open read-only");
    char *p = shared(fd, 2 * PG);
    int ok = check(fallocate(ro, 0, 0, (off_t)PG) == -1 && errno == EBADF, "fallocate through it: EBADF");
    int rc = rmap_secure(p, PG, ro);
    return ok && rc == -1 ? errno : 0;
}

/* Growing past RLIMIT_FSIZE: fallocate is killed by SIGXFSZ; rmap_secure
 * answers EFBIG and the process goes on. */
static int secure_efbig_file_size_limit(void)
{
    int fd = empty_file();
    char *p = shared(fd, 64 * PG);
    struct rlimit limit = {16 * PG, RLIM_INFINITY};
    if (setrlimit(RLIMIT_FSIZE, &limit) != 0) die("setrlimit");
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        fallocate(fd, 0, 0, 32 * (off_t)PG);
        _exit(0);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid) die("waitpid");
    int ok = check(WIFSIGNALED(status) && WTERMSIG(status) == SIGXFSZ, "fallocate past the limit: killed by SIGXFSZ");
    ok &= check(rmap_secure(p, 16 * PG, fd) == 0 && size_of(fd) == 16 * (off_t)PG, "up to the limit: secured");
    int rc = rmap_secure(p, 32 * PG, fd);
    int e = errno;
    ok &= check(size_of(fd) == 16 * (off_t)PG, "the file did not grow");
    return ok && rc == -1 ? e : 0;
}

static int secure_enospc_disk_full(void)
{
    char dir[] = "/tmp/rmap-secure-fs-XXXXXX";
    own_mount("tmpfs", "size=1m", dir);
    int fd = file_in(dir, "grows"), plain = file_in(dir, "plain");
    char *p = shared(fd, 4 << 20);
    int ok = check(fallocate(plain, 0, 0, 2 << 20) == -1 && errno == ENOSPC, "fallocate of 2 MiB: ENOSPC");
    int rc = rmap_secure(p, 2 << 20, fd);
    int e = errno;
    ok &= check(size_of(fd) == 0, "the file did not grow");
    return ok && rc == -1 ? e : 0;
}

static int secure_eperm_sealed(void)
{
    int fd = memfd_create("rmap-secure", MFD_ALLOW_SEALING);
    if (fd < 0) die("memfd_create");
    if (ftruncate(fd, (off_t)PG) != 0 || fcntl(fd, F_ADD_SEALS, F_SEAL_GROW) != 0) die("seal");
    char *p = shared(fd, 2 * PG);
    int ok = check(fallocate(fd, 0, 0, 2 * (off_t)PG) == -1 && errno == EPERM, "fallocate past the end: EPERM");
    ok &= check(rmap_secure(p, PG, fd) == 0, "within the sealed size: secured");
    int rc = rmap_secure(p, 2 * PG, fd);
    return ok && rc == -1 ? errno : 0;
}

static int secure_eopnotsupp_no_fallocate(void)
{
    char dir[] = "/tmp/rmap-secure-fs-XXXXXX";
    own_mount("ramfs", NULL, dir);
    int fd = file_in(dir, "ram");
    char *p = shared(fd, 4 * PG);
    int ok = check(fallocate(fd, 0, 0, (off_t)PG) == -1 && errno == EOPNOTSUPP, "fallocate on ramfs: EOPNOTSUPP");
    int rc = rmap_secure(p, PG, fd);
    int e = errno;
    ok &= check(size_of(fd) == 0, "the file did not grow");
    return ok && rc == -1 ? e : 0;
}

/* ---- what it is for ---- */

/* The problem: a store into a hole of a sparse file on a full disk. */
static int plain_store_into_a_hole_on_a_full_disk_dies(void)
{
    char dir[] = "/tmp/rmap-secure-fs-XXXXXX";
    own_mount("tmpfs", "size=1m", dir);
    int fd = file_in(dir, "sparse"), filler = file_in(dir, "filler");
    if (ftruncate(fd, 2 << 20) != 0) die("ftruncate");
    char *p = mmap(NULL, 2 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) die("mmap");
    while (fallocate(filler, 0, 0, size_of(filler) + (off_t)PG) == 0) {
    }
    memset(p, 'x', 2 << 20); /* dies of SIGBUS on the first page with no room */
    return 0;
}

/* Appends in steps of `step` bytes to a mapping of `capacity` bytes until
 * the disk is full: each step secured, then written. Returns the bytes
 * appended, or -1 when a secure failed with anything but ENOSPC. */
static long append_until_full(int fd, char *p, size_t capacity, size_t step)
{
    size_t used = 0;
    while (used + step <= capacity) {
        if (rmap_secure(p + used / PG * PG, used % PG + step, fd) != 0) return errno == ENOSPC ? (long)used : -1;
        for (size_t i = 0; i < step; i++) p[used + i] = (char)('a' + (used + i) % 26);
        used += step;
    }
    return -2; /* never filled the disk */
}

/* 100 runs on a 1 MiB tmpfs: appends of varied sizes until the disk is
 * full get ENOSPC, never a signal, and every byte appended is in the file. */
static int appends_until_the_disk_is_full_get_enospc(void)
{
    char dir[] = "/tmp/rmap-secure-fs-XXXXXX";
    own_mount("tmpfs", "size=1m", dir);
    int runs = 100, enospc = 0, intact = 0;
    size_t steps[] = {64, 256, 1000, 4096, 10000};
    for (int run = 0; run < runs; run++) {
        int fd = file_in(dir, "log");
        char *p = shared(fd, 4 << 20);
        long used = append_until_full(fd, p, 4 << 20, steps[run % 5]);
        if (used > 0) enospc++;
        char *back = malloc(used > 0 ? (size_t)used : 1);
        if (!back) die("malloc");
        int same = used > 0 && pread(fd, back, (size_t)used, 0) == used;
        for (long i = 0; same && i < used; i++) same = back[i] == (char)('a' + i % 26);
        intact += same && size_of(fd) == used;
        free(back);
        rmap_unmap(p, 4 << 20);
        close(fd);
    }
    printf("     %d runs of appends (64 B to 10,000 B steps) into a 4 MiB mapping on a 1 MiB tmpfs: %d ended with "
           "ENOSPC, %d with every appended byte in the file and the file exactly that long; no signal\n",
           runs, enospc, intact);
    return check(enospc == runs && intact == runs, "every run: ENOSPC, nothing lost") ? 0 : 1;
}

/* A sparse file mapped for writing: its blocks secured first, part by part,
 * until the disk is full; the secured parts take their stores. */
static int a_sparse_file_secured_part_by_part_never_faults(void)
{
    char dir[] = "/tmp/rmap-secure-fs-XXXXXX";
    own_mount("tmpfs", "size=1m", dir);
    int runs = 100, told = 0;
    for (int run = 0; run < runs; run++) {
        int fd = file_in(dir, "sparse");
        if (ftruncate(fd, 2 << 20) != 0) die("ftruncate");
        char *p = shared(fd, 2 << 20);
        int whole = rmap_secure(p, 2 << 20, fd) == -1 && errno == ENOSPC;
        size_t secured = 0, part = (size_t)(run % 4 + 1) * 16 * PG;
        while (secured < (2u << 20) && rmap_secure(p + secured, part, fd) == 0) {
            memset(p + secured, 'y', part);
            secured += part;
        }
        int stopped = errno == ENOSPC && secured > 0 && secured < (2u << 20);
        told += whole && stopped && size_of(fd) == 2 << 20;
        rmap_unmap(p, 2 << 20);
        close(fd);
    }
    printf("     %d runs: a 2 MiB sparse file on a 1 MiB tmpfs, secured whole (ENOSPC), then 64-256 KiB at a time "
           "and written: %d stopped at ENOSPC, the file's size unchanged; no signal\n",
           runs, told);
    return check(told == runs, "every run told ENOSPC and took every store it secured") ? 0 : 1;
}

typedef struct {
    const char *base;
    _Atomic size_t secured;
    atomic_int stop;
    long reads;
} reader_t;

static void *read_secured(void *arg)
{
    reader_t *r = arg;
    unsigned sum = 0;
    while (!atomic_load(&r->stop)) {
        size_t n = atomic_load(&r->secured);
        for (size_t i = 0; i < n; i += PG) sum += (unsigned char)r->base[i];
        r->reads++;
    }
    return (void *)(uintptr_t)sum;
}

/* 10,000 growths within the capacity: the address never moves (nothing is
 * remapped), and a reader of the secured part runs throughout. */
static int grows_in_place_while_readers_read(void)
{
    int fd = empty_file();
    size_t capacity = 64 << 20, growths = 10000, step = 4096;
    char *p = shared(fd, capacity);
    reader_t r = {p, 0, 0, 0};
    pthread_t reader;
    if (pthread_create(&reader, NULL, read_secured, &r) != 0) die("pthread_create");
    int ok = 1;
    for (size_t i = 0; i < growths && ok; i++) {
        ok = rmap_secure(p + i * step / PG * PG, step, fd) == 0;
        p[i * step] = (char)i;
        atomic_store(&r.secured, (i + 1) * step);
    }
    atomic_store(&r.stop, 1);
    pthread_join(reader, NULL);
    struct rmap_info info;
    int same_mapping = rmap_query(p, &info) == 0 && info.start == p && info.length == capacity;
    printf("     %zu growths of %zu bytes in a %zu MiB mapping, the reader made %ld passes over the secured part; "
           "the file is %lld bytes\n",
           growths, step, capacity >> 20, r.reads, (long long)size_of(fd));
    ok = check(ok, "every growth secured") & check(same_mapping, "one mapping, at the address it was made at") &
         check(size_of(fd) == (off_t)(growths * step), "the file exactly as long as the growths") &
         check(r.reads > 0, "the reader ran");
    return ok ? 0 : 1;
}

/* A file offset moved along: secure at the mapping's offset, in pieces of a
 * mapping split by rmap_protect. */
static int secures_the_offsets_the_mapping_maps(void)
{
    int fd = empty_file();
    if (ftruncate(fd, 8 * (off_t)PG) != 0) die("ftruncate");
    char *p = rmap_map(NULL, 8 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 8 * (off_t)PG);
    if (p == RMAP_FAILED) die("rmap_map");
    if (rmap_protect(p + 2 * PG, PG, PROT_READ) != 0) die("rmap_protect");
    int ok = check(rmap_secure(p, 5 * PG + 10, fd) == 0, "five pages and 10 bytes over three pieces: secured");
    ok &= check(size_of(fd) == 13 * (off_t)PG + 10, "the file grew to offset 8 pages + 5 pages + 10 bytes, exactly");
    p[5 * PG + 9] = 'z';
    ok &= check(rmap_secure(p, PG, fd) == 0 && size_of(fd) == 13 * (off_t)PG + 10, "securing less never shrinks it");
    return ok ? 0 : 1;
}

/* Checked mode refuses a range that is not librmap's with ENOMEM, and says so. */
static int checked_mode_reports_an_unowned_range(void)
{
    int fd = empty_file(), log = empty_file();
    char *foreign = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (foreign == MAP_FAILED) die("mmap");
    rmap_set_check(RMAP_CHECK_REPORT);
    int saved = dup(2);
    if (saved < 0 || dup2(log, 2) != 2) die("dup2");
    int rc = rmap_secure(foreign, PG, fd);
    int e = errno;
    dup2(saved, 2);
    char said[1024] = "";
    ssize_t n = pread(log, said, sizeof said - 1, 0);
    said[n > 0 ? n : 0] = '\0';
    printf("     %s", said);
    int ok = check(rc == -1 && e == ENOMEM, "ENOMEM") & check(size_of(fd) == 0, "the file did not grow");
    ok &= check(strstr(said, "rmap_secure(") && strstr(said, "librmap did not map") && strstr(said, "ENOMEM"),
                "the report names rmap_secure, the range and the refusal");
    return ok ? 0 : 1;
}

static const test_t TESTS[] = {
    E(secure_einval_misaligned, EINVAL),
    E(secure_einval_length_zero, EINVAL),
    E(secure_einval_other_file, EINVAL),
    E(secure_enomem_not_librmaps, ENOMEM),
    E(secure_enodev_not_shared_file, ENODEV),
    E(secure_ebadf_not_open, EBADF),
    E(secure_ebadf_read_only, EBADF),
    E(secure_efbig_file_size_limit, EFBIG),
    E(secure_enospc_disk_full, ENOSPC),
    E(secure_eperm_sealed, EPERM),
    E(secure_eopnotsupp_no_fallocate, EOPNOTSUPP),
    S(plain_store_into_a_hole_on_a_full_disk_dies, SIGBUS),
    K(appends_until_the_disk_is_full_get_enospc),
    K(a_sparse_file_secured_part_by_part_never_faults),
    K(grows_in_place_while_readers_read),
    K(secures_the_offsets_the_mapping_maps),
    K(checked_mode_reports_an_unowned_range),
};

int main(int argc, char **argv)
{
    harness_init();
    return run_tests("secure", TESTS, sizeof TESTS / sizeof *TESTS, argc > 1 ? argv[1] : NULL);
}
