/* conformance: librmap against libc, case by case.
 *
 * Every case runs twice in its own child process, once calling mmap/msync/
 * munmap and once calling rmap_map/rmap_sync/rmap_unmap, and the outcomes
 * (return class, errno, or the signal that killed the child) must be equal.
 * A case may also name the outcome it must provoke, so it cannot pass by both
 * sides doing the wrong thing. Case names of the form <fn>_<errno>_<what>
 * are the tags of the ERRORS entries in include/rmap.h; a suffix after '/'
 * marks another way of provoking the same entry.
 *
 * Then a sweep calls both sides in-process with the cross product of awkward
 * arguments (combined faults included) and compares every result.
 *
 * Output: one line per case, then "conformance: N passed, N failed, N skipped".
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/filter.h>
#include <linux/mman.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rmap.h"

#ifndef MAP_DROPPABLE
#define MAP_DROPPABLE 0x08
#endif
#ifndef SYS_mseal
#define SYS_mseal 462
#endif

typedef struct {
    const char *name;
    void *(*map)(void *, size_t, int, int, int, off_t);
    int (*sync)(void *, size_t, int);
    int (*unmap)(void *, size_t);
} api_t;

static const api_t LIBC = {"libc", mmap, msync, munmap};
static const api_t RMAP = {"rmap", rmap_map, rmap_sync, rmap_unmap};

static size_t PG;
static int compare = 1; /* 0 under valgrind: run everything, compare nothing */

/* What a case did: returned OK, failed with an errno, died of a signal, or
 * could not set up its precondition (SKIP, with a reason). */
enum kind { OK, ERR, SIG, SKIP };
typedef struct {
    enum kind kind;
    int value; /* errno for ERR, signal for SIG */
    char why[160];
} outcome_t;

static outcome_t ok(void) { return (outcome_t){OK, 0, ""}; }
static outcome_t err(int e) { return (outcome_t){ERR, e, ""}; }
static outcome_t skip(const char *why)
{
    outcome_t o = {SKIP, 0, ""};
    snprintf(o.why, sizeof o.why, "%s", why);
    return o;
}
static outcome_t of_map(void *p) { return p == MAP_FAILED ? err(errno) : ok(); }
static outcome_t of_rc(int rc) { return rc == 0 ? ok() : err(errno); }

/* ---- fixtures: made afresh in every child, unlinked at once ---- */

typedef struct {
    int rw, ro, wo, small, empty, pipe_r, dir, devzero, memfd, sealed, closed, opath;
} fixture_t;

static char tmpl_dir[] = "/tmp/rmap-conf-XXXXXX";

static void die(const char *what)
{
    perror(what);
    _exit(120);
}

static int make_file(const char *dir, const char *name, size_t size, int flags)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) die("open fixture");
    char *buf = malloc(size + 1);
    if (!buf) die("malloc");
    for (size_t i = 0; i < size; i++) buf[i] = (char)('a' + i % 26);
    if (write(fd, buf, size) != (ssize_t)size) die("write fixture");
    free(buf);
    int ret = fd;
    if (flags != O_RDWR) {
        ret = open(path, flags);
        if (ret < 0) die("reopen fixture");
        close(fd);
    }
    return ret;
}

static fixture_t fixture(void)
{
    fixture_t fx;
    char dir[sizeof tmpl_dir];
    memcpy(dir, tmpl_dir, sizeof dir);
    if (!mkdtemp(dir)) die("mkdtemp");
    fx.rw = make_file(dir, "rw", 3 * PG, O_RDWR);
    fx.ro = make_file(dir, "ro", 3 * PG, O_RDONLY);
    fx.wo = make_file(dir, "wo", 3 * PG, O_WRONLY);
    fx.small = make_file(dir, "small", 100, O_RDWR);
    fx.empty = make_file(dir, "empty", 0, O_RDWR);
    fx.opath = make_file(dir, "opath", PG, O_PATH);
    char path[256];
    const char *names[] = {"rw", "ro", "wo", "small", "empty", "opath"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    fx.dir = open(dir, O_RDONLY | O_DIRECTORY);
    rmdir(dir);
    int p[2];
    if (pipe(p) != 0) die("pipe");
    fx.pipe_r = p[0];
    fx.devzero = open("/dev/zero", O_RDWR);
    fx.memfd = memfd_create("conf", 0);
    fx.sealed = memfd_create("conf-sealed", MFD_ALLOW_SEALING);
    if (fx.dir < 0 || fx.devzero < 0 || fx.memfd < 0 || fx.sealed < 0) die("fixture fds");
    if (ftruncate(fx.memfd, 3 * PG) || ftruncate(fx.sealed, 3 * PG)) die("ftruncate");
    if (fcntl(fx.sealed, F_ADD_SEALS, F_SEAL_WRITE) != 0) die("F_ADD_SEALS");
    fx.closed = 900;
    close(fx.closed);
    return fx;
}

/* A hole of n pages that nothing else will take: reserved, then released. */
static char *hole(size_t n)
{
    char *p = mmap(NULL, n * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) die("reserve");
    munmap(p, n * PG);
    return p;
}

/* Drop root and cap RLIMIT_MEMLOCK, so the mlock limits apply. */
static int unprivileged_memlock(rlim_t limit)
{
    struct rlimit rl = {limit, limit};
    if (setrlimit(RLIMIT_MEMLOCK, &rl) != 0) return -1;
    if (geteuid() == 0 && setuid(65534) != 0) return -1;
    return 0;
}

/* Fill the address space up to vm.max_map_count with split VMAs. */
static int exhaust_map_count(void)
{
    size_t pages = 140000;
    char *base = mmap(NULL, pages * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) return -1;
    size_t i = 1;
    while (i < pages && mprotect(base + i * PG, PG, PROT_READ) == 0) i += 2;
    if (i >= pages || errno != ENOMEM) return -1;
    /* mprotect stops one short of mmap's limit: add unmergeable pages until mmap fails too. */
    for (int prot = PROT_READ; mmap(NULL, PG, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) != MAP_FAILED;)
        prot = prot == PROT_READ ? PROT_NONE : PROT_READ;
    return errno == ENOMEM ? 0 : -1;
}

/* ---- named cases ---- */

#define CASE(fn) static outcome_t fn(const api_t *a, fixture_t *fx)
#define UNUSED (void)a, (void)fx

CASE(map_eacces_fd_not_readable) { return of_map(a->map(NULL, PG, PROT_READ, MAP_PRIVATE, fx->wo, 0)); }
CASE(map_eacces_shared_write_readonly_fd)
{
    return of_map(a->map(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fx->ro, 0));
}
CASE(map_eacces_append_only)
{
    char path[] = "/tmp/rmap-append-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || ftruncate(fd, PG) != 0) die("mkstemp");
    int attr = FS_APPEND_FL;
    if (ioctl(fd, FS_IOC_SETFLAGS, &attr) != 0) {
        unlink(path);
        return skip("cannot provoke: setting the append-only attribute needs root and ext2/3/4, xfs or btrfs");
    }
    int afd = open(path, O_RDWR | O_APPEND);
    outcome_t o = afd < 0 ? skip("cannot reopen append-only file") : of_map(a->map(NULL, PG, PROT_READ, MAP_SHARED, afd, 0));
    attr = 0;
    ioctl(fd, FS_IOC_SETFLAGS, &attr);
    unlink(path);
    UNUSED;
    return o;
}
CASE(map_eagain_memlock_limit)
{
    UNUSED;
    if (unprivileged_memlock(PG) != 0) return skip("cannot drop privileges to apply RLIMIT_MEMLOCK");
    return of_map(a->map(NULL, 8 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED, -1, 0));
}
CASE(map_ebadf_fd_invalid) { UNUSED; return of_map(a->map(NULL, PG, PROT_READ, MAP_PRIVATE, -1, 0)); }
CASE(map_ebadf_fd_invalid__closed) { return of_map(a->map(NULL, PG, PROT_READ, MAP_PRIVATE, fx->closed, 0)); }
CASE(map_ebadf_fd_invalid__opath) { return of_map(a->map(NULL, PG, PROT_READ, MAP_PRIVATE, fx->opath, 0)); }
CASE(map_ebadf_fd_invalid__length_zero) { UNUSED; return of_map(a->map(NULL, 0, PROT_READ, MAP_SHARED, -1, 0)); }
CASE(map_ebadf_fd_invalid__closed_length_zero) { return of_map(a->map(NULL, 0, PROT_READ, MAP_SHARED, fx->closed, 0)); }
CASE(map_ebadf_fd_invalid__closed_no_type) { return of_map(a->map(NULL, PG, PROT_READ, 0, fx->closed, 0)); }
CASE(map_eexist_fixed_noreplace)
{
    UNUSED;
    char *p = a->map(NULL, 2 * PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return skip("setup mapping failed");
    return of_map(a->map(p + PG, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0));
}
CASE(map_einval_offset_misaligned) { return of_map(a->map(NULL, PG, PROT_READ, MAP_SHARED, fx->rw, 1)); }
CASE(map_einval_offset_misaligned__anonymous) { UNUSED; return of_map(a->map(NULL, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 100)); }
CASE(map_einval_offset_misaligned__with_bad_fd) { UNUSED; return of_map(a->map(NULL, 0, PROT_READ, MAP_SHARED, -1, 1)); }
CASE(map_einval_length_zero) { UNUSED; return of_map(a->map(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)); }
CASE(map_einval_length_zero__file) { return of_map(a->map(NULL, 0, PROT_READ, MAP_SHARED, fx->rw, 0)); }
CASE(map_einval_length_zero__no_type) { return of_map(a->map(NULL, 0, PROT_READ, 0, fx->rw, 0)); }
CASE(map_einval_fixed_addr_misaligned)
{
    UNUSED;
    char *h = hole(4);
    return of_map(a->map(h + 1, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
}
CASE(map_einval_fixed_addr_misaligned__noreplace)
{
    char *h = hole(4);
    return of_map(a->map(h + 10, PG, PROT_READ, MAP_SHARED | MAP_FIXED_NOREPLACE, fx->rw, 0));
}
CASE(map_einval_no_map_type) { UNUSED; return of_map(a->map(NULL, PG, PROT_READ, MAP_ANONYMOUS, -1, 0)); }
CASE(map_einval_no_map_type__file) { return of_map(a->map(NULL, PG, PROT_READ, 0, fx->rw, 0)); }
CASE(map_einval_no_map_type__reserved_type) { return of_map(a->map(NULL, PG, PROT_READ, 0x0f, fx->rw, 0)); }
CASE(map_einval_no_map_type__write_readonly_fd)
{
    /* The type is checked before write access in Linux's order. */
    return of_map(a->map(NULL, PG, PROT_READ | PROT_WRITE, 0, fx->ro, 0));
}
CASE(map_einval_hugetlb_file) { return of_map(a->map(NULL, PG, PROT_READ, MAP_SHARED | MAP_HUGETLB, fx->rw, 0)); }
CASE(map_einval_hugetlb_file__bad_size)
{
    UNUSED;
    return of_map(a->map(NULL, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | (25 << MAP_HUGE_SHIFT), -1, 0));
}
CASE(map_einval_growsdown_shared)
{
    UNUSED;
    return of_map(a->map(NULL, PG, PROT_READ, MAP_SHARED | MAP_ANONYMOUS | MAP_GROWSDOWN, -1, 0));
}
CASE(map_einval_growsdown_shared__file) { return of_map(a->map(NULL, PG, PROT_READ, MAP_PRIVATE | MAP_GROWSDOWN, fx->rw, 0)); }
CASE(map_enfile_file_table_full)
{
    UNUSED;
    return skip("cannot provoke: needs the system-wide file table (fs.file-max) full, which tests do not change");
}
CASE(map_enodev_not_mappable) { return of_map(a->map(NULL, PG, PROT_READ, MAP_SHARED, fx->pipe_r, 0)); }
CASE(map_enodev_not_mappable__directory) { return of_map(a->map(NULL, PG, PROT_READ, MAP_PRIVATE, fx->dir, 0)); }
CASE(map_enomem_no_address_space)
{
    UNUSED;
    return of_map(a->map(NULL, SIZE_MAX - PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
}
CASE(map_enomem_no_address_space__beyond_task_size)
{
    UNUSED;
    return of_map(a->map(NULL, (size_t)1 << 58, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
}
CASE(map_enomem_fixed_outside)
{
    UNUSED;
    void *top = (void *)(uintptr_t)(0 - 16 * PG);
    return of_map(a->map(top, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
}
CASE(map_enomem_fixed_outside__misaligned)
{
    /* Linux checks the range before the alignment: ENOMEM, not EINVAL. */
    UNUSED;
    void *top = (void *)(uintptr_t)(0 - 16 * PG + 1);
    return of_map(a->map(top, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
}
CASE(map_enomem_map_count)
{
    UNUSED;
    if (exhaust_map_count() != 0) return skip("could not reach vm.max_map_count");
    return of_map(a->map(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
}
CASE(map_enomem_rlimit_as)
{
    UNUSED;
    struct rlimit rl = {(rlim_t)1 << 32, (rlim_t)1 << 32};
    if (setrlimit(RLIMIT_AS, &rl) != 0) return skip("cannot set RLIMIT_AS");
    return of_map(a->map(NULL, (size_t)1 << 33, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
}
CASE(map_eopnotsupp_shared_validate)
{
    return of_map(a->map(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED_VALIDATE | MAP_SYNC, fx->rw, 0));
}
CASE(map_eoverflow_offset) { return of_map(a->map(NULL, PG, PROT_READ, MAP_SHARED, fx->rw, -(off_t)PG)); }
CASE(map_eoverflow_offset__near_max)
{
    off_t top = (off_t)((INT64_MAX - 2 * (int64_t)PG + 1) & ~((int64_t)PG - 1));
    return of_map(a->map(NULL, 3 * PG, PROT_READ, MAP_PRIVATE, fx->rw, top));
}
CASE(map_eoverflow_offset__with_bad_type) { return of_map(a->map(NULL, PG, PROT_READ, 0x0f, fx->rw, -(off_t)PG)); }
CASE(map_eperm_sealed) { return of_map(a->map(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fx->sealed, 0)); }
CASE(map_eperm_noexec)
{
    UNUSED;
    char dir[] = "/tmp/rmap-noexec-XXXXXX";
    if (!mkdtemp(dir)) die("mkdtemp");
    if (unshare(CLONE_NEWNS) != 0 || mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount("none", dir, "tmpfs", MS_NOEXEC, NULL) != 0) {
        rmdir(dir);
        return skip("cannot provoke: mounting a noexec tmpfs needs CAP_SYS_ADMIN");
    }
    char path[300];
    snprintf(path, sizeof path, "%s/f", dir);
    int fd = open(path, O_RDWR | O_CREAT, 0700);
    if (fd < 0 || ftruncate(fd, PG) != 0) die("noexec file");
    outcome_t o = of_map(a->map(NULL, PG, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0));
    umount(dir);
    rmdir(dir);
    return o;
}
CASE(map_eperm_locked)
{
    UNUSED;
    if (unprivileged_memlock(0) != 0) return skip("cannot drop privileges to apply RLIMIT_MEMLOCK");
    return of_map(a->map(NULL, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED, -1, 0));
}
CASE(map_etxtbsy_swapfile)
{
    UNUSED;
    return skip("cannot provoke: needs an active swap file, which tests do not enable");
}

CASE(sync_ebusy_invalidate_locked)
{
    UNUSED;
    char *p = a->map(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_LOCKED, -1, 0);
    if (p == MAP_FAILED) return skip("cannot lock a page");
    return of_rc(a->sync(p, PG, MS_INVALIDATE));
}
CASE(sync_einval_unknown_flag)
{
    char *p = a->map(NULL, PG, PROT_READ, MAP_SHARED, fx->rw, 0);
    return of_rc(a->sync(p, PG, MS_SYNC | 0x100));
}
CASE(sync_einval_addr_misaligned)
{
    char *p = a->map(NULL, PG, PROT_READ, MAP_SHARED, fx->rw, 0);
    return of_rc(a->sync(p + 1, PG, MS_SYNC));
}
CASE(sync_einval_async_and_sync)
{
    char *p = a->map(NULL, PG, PROT_READ, MAP_SHARED, fx->rw, 0);
    return of_rc(a->sync(p, PG, MS_SYNC | MS_ASYNC));
}
CASE(sync_enomem_unmapped)
{
    char *p = a->map(NULL, 2 * PG, PROT_READ, MAP_SHARED, fx->rw, 0);
    a->unmap(p + PG, PG);
    return of_rc(a->sync(p, 2 * PG, MS_SYNC));
}
CASE(sync_enomem_unmapped__async_hole_first)
{
    UNUSED;
    char *h = hole(2);
    return of_rc(a->sync(h, PG, MS_ASYNC));
}
CASE(sync_enomem_range_wraps)
{
    char *p = a->map(NULL, PG, PROT_READ, MAP_SHARED, fx->rw, 0);
    return of_rc(a->sync(p, SIZE_MAX - PG, MS_SYNC));
}

CASE(unmap_einval_addr_misaligned)
{
    UNUSED;
    char *p = a->map(NULL, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return of_rc(a->unmap(p + 1, PG));
}
CASE(unmap_einval_length_zero)
{
    UNUSED;
    char *p = a->map(NULL, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return of_rc(a->unmap(p, 0));
}
CASE(unmap_einval_outside) { UNUSED; return of_rc(a->unmap((void *)((uintptr_t)1 << 63), PG)); }
CASE(unmap_enomem_map_count)
{
    UNUSED;
    char *p = a->map(NULL, 3 * PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED || exhaust_map_count() != 0) return skip("could not reach vm.max_map_count");
    return of_rc(a->unmap(p + PG, PG));
}
CASE(unmap_eperm_sealed)
{
    UNUSED;
    char *p = a->map(NULL, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (syscall(SYS_mseal, p, PG, 0) != 0) return skip("cannot provoke: mseal(2) needs Linux 6.10");
    return of_rc(a->unmap(p, PG));
}

/* ---- behaviour: success paths, semantics and signals ---- */

static outcome_t touch_read(volatile char *p) { (void)*p; return ok(); }
static outcome_t touch_write(volatile char *p) { *p = 1; return ok(); }

CASE(anon_private_rw)
{
    UNUSED;
    char *p = a->map(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return err(errno);
    for (size_t i = 0; i < 3 * PG; i++)
        if (p[i] != 0) return skip("anonymous memory not zero");
    memset(p, 7, 3 * PG);
    return of_rc(a->unmap(p, 3 * PG));
}
CASE(shared_write_reaches_file)
{
    char *p = a->map(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fx->rw, 0);
    if (p == MAP_FAILED) return err(errno);
    p[20] = '9';
    if (a->sync(p, PG, MS_SYNC) != 0) return err(errno);
    char c = 0;
    if (pread(fx->rw, &c, 1, 20) != 1) die("pread");
    return c == '9' ? ok() : err(ENOTRECOVERABLE);
}
CASE(private_write_stays_private)
{
    char *p = a->map(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fx->rw, 0);
    if (p == MAP_FAILED) return err(errno);
    p[20] = '9';
    char c = 0;
    if (pread(fx->rw, &c, 1, 20) != 1) die("pread");
    return c == 'u' && p[20] == '9' ? ok() : err(ENOTRECOVERABLE);
}
CASE(fd_closed_after_map)
{
    char *p = a->map(NULL, PG, PROT_READ, MAP_SHARED, fx->rw, 0);
    if (p == MAP_FAILED) return err(errno);
    close(fx->rw);
    return p[1] == 'b' ? ok() : err(ENOTRECOVERABLE);
}
CASE(offset_maps_later_pages)
{
    char *p = a->map(NULL, PG, PROT_READ, MAP_PRIVATE, fx->rw, (off_t)PG);
    if (p == MAP_FAILED) return err(errno);
    return p[0] == (char)('a' + PG % 26) ? ok() : err(ENOTRECOVERABLE);
}
CASE(tail_of_last_page_reads_zero)
{
    char *p = a->map(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fx->small, 0);
    if (p == MAP_FAILED) return err(errno);
    if (p[100] != 0) return err(ENOTRECOVERABLE);
    p[200] = 'x';
    if (a->sync(p, PG, MS_SYNC) != 0) return err(errno);
    struct stat st;
    fstat(fx->small, &st);
    return st.st_size == 100 ? ok() : err(ENOTRECOVERABLE);
}
CASE(sigbus_page_past_eof)
{
    char *p = a->map(NULL, 2 * PG, PROT_READ, MAP_SHARED, fx->small, 0);
    if (p == MAP_FAILED) return err(errno);
    return touch_read(p + PG);
}
CASE(sigbus_empty_file)
{
    char *p = a->map(NULL, PG, PROT_READ, MAP_PRIVATE, fx->empty, 0);
    if (p == MAP_FAILED) return err(errno);
    return touch_read(p);
}
CASE(sigbus_after_truncate_by_other_process)
{
    char *p = a->map(NULL, 2 * PG, PROT_READ, MAP_SHARED, fx->rw, 0);
    if (p == MAP_FAILED) return err(errno);
    (void)p[PG];
    pid_t pid = fork();
    if (pid == 0) _exit(ftruncate(fx->rw, 0) == 0 ? 0 : 1);
    int st;
    waitpid(pid, &st, 0);
    return touch_read(p + PG);
}
CASE(sigsegv_write_readonly)
{
    UNUSED;
    char *p = a->map(NULL, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return err(errno);
    return touch_write(p);
}
CASE(sigsegv_prot_none)
{
    UNUSED;
    char *p = a->map(NULL, PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return err(errno);
    return touch_read(p);
}
CASE(sigsegv_after_unmap)
{
    UNUSED;
    char *p = a->map(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return err(errno);
    p[0] = 1;
    if (a->unmap(p, PG) != 0) return err(errno);
    return touch_read(p);
}
CASE(partial_unmap_keeps_the_rest)
{
    UNUSED;
    char *p = a->map(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return err(errno);
    if (a->unmap(p + PG, PG) != 0) return err(errno);
    p[0] = 1;
    p[2 * PG] = 1;
    return touch_read(p + PG);
}
CASE(unmap_rounds_length_up)
{
    UNUSED;
    char *p = a->map(NULL, 2 * PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return err(errno);
    if (a->unmap(p, 1) != 0) return err(errno);
    (void)p[PG];
    return touch_read(p);
}
CASE(unmap_unmapped_range_succeeds)
{
    UNUSED;
    return of_rc(a->unmap(hole(4), 4 * PG));
}
CASE(unmap_twice_succeeds)
{
    UNUSED;
    char *p = a->map(NULL, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED || a->unmap(p, PG) != 0) return err(errno);
    return of_rc(a->unmap(p, PG));
}
CASE(unmap_null_hint_range_succeeds) { UNUSED; return of_rc(a->unmap(NULL, PG)); }
CASE(fixed_replaces_existing)
{
    UNUSED;
    char *p = a->map(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return err(errno);
    memset(p, 5, 2 * PG);
    char *q = a->map(p + PG, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if (q != p + PG) return err(errno);
    return p[0] == 5 && q[0] == 0 ? ok() : err(ENOTRECOVERABLE);
}
CASE(fixed_noreplace_into_hole)
{
    UNUSED;
    char *h = hole(2);
    char *p = a->map(h, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (p == MAP_FAILED) return err(errno);
    return p == h ? ok() : err(ENOTRECOVERABLE);
}
CASE(misaligned_hint_is_fine)
{
    UNUSED;
    return of_map(a->map((void *)(uintptr_t)12345, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
}
CASE(anonymous_ignores_negative_offset)
{
    UNUSED;
    return of_map(a->map(NULL, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, 77, -(off_t)PG));
}
CASE(length_rounds_up_to_page)
{
    UNUSED;
    char *p = a->map(NULL, 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return err(errno);
    return touch_write(p + PG - 1);
}
static outcome_t map_with(const api_t *a, int prot, int flags, int fd)
{
    char *p = a->map(NULL, 2 * PG, prot, flags, fd, 0);
    if (p == MAP_FAILED) return err(errno);
    if (prot & PROT_READ) (void)*(volatile char *)p;
    return of_rc(a->unmap(p, 2 * PG));
}
#define FLAG_CASE(name, prot, flags, fdexpr) \
    CASE(name) { UNUSED; return map_with(a, prot, flags, fdexpr); }
#define ANON (MAP_PRIVATE | MAP_ANONYMOUS)
FLAG_CASE(flag_populate, PROT_READ | PROT_WRITE, ANON | MAP_POPULATE, -1)
FLAG_CASE(flag_populate_nonblock, PROT_READ, MAP_SHARED | MAP_POPULATE | MAP_NONBLOCK, fx->rw)
FLAG_CASE(flag_noreserve, PROT_READ | PROT_WRITE, ANON | MAP_NORESERVE, -1)
FLAG_CASE(flag_locked, PROT_READ | PROT_WRITE, ANON | MAP_LOCKED, -1)
FLAG_CASE(flag_growsdown, PROT_READ | PROT_WRITE, ANON | MAP_GROWSDOWN, -1)
FLAG_CASE(flag_stack, PROT_READ | PROT_WRITE, ANON | MAP_STACK, -1)
FLAG_CASE(flag_denywrite_executable_ignored, PROT_READ, MAP_PRIVATE | MAP_DENYWRITE | MAP_EXECUTABLE, fx->rw)
FLAG_CASE(flag_file_ignored, PROT_READ, MAP_SHARED | MAP_FILE, fx->rw)
FLAG_CASE(flag_anon_alias, PROT_READ, MAP_PRIVATE | MAP_ANON, -1)
FLAG_CASE(flag_shared_anonymous, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1)
FLAG_CASE(flag_shared_validate, PROT_READ | PROT_WRITE, MAP_SHARED_VALIDATE, fx->rw)
FLAG_CASE(flag_sync_with_shared, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_SYNC, fx->rw)
FLAG_CASE(flag_unknown_bit_ignored, PROT_READ, ANON | (1 << 29), -1)
FLAG_CASE(flag_hugetlb_anonymous, PROT_READ | PROT_WRITE, ANON | MAP_HUGETLB, -1)
FLAG_CASE(flag_hugetlb_2mb, PROT_READ | PROT_WRITE, ANON | MAP_HUGETLB | MAP_HUGE_2MB, -1)
FLAG_CASE(flag_droppable, PROT_READ | PROT_WRITE, MAP_DROPPABLE | MAP_ANONYMOUS, -1)
FLAG_CASE(fd_devzero_shared, PROT_READ | PROT_WRITE, MAP_SHARED, fx->devzero)
FLAG_CASE(fd_devzero_private, PROT_READ | PROT_WRITE, MAP_PRIVATE, fx->devzero)
FLAG_CASE(fd_memfd_shared, PROT_READ | PROT_WRITE, MAP_SHARED, fx->memfd)
FLAG_CASE(fd_sealed_memfd_private_write, PROT_READ | PROT_WRITE, MAP_PRIVATE, fx->sealed)
FLAG_CASE(fd_readonly_shared_read, PROT_READ, MAP_SHARED, fx->ro)
FLAG_CASE(fd_readonly_private_write, PROT_READ | PROT_WRITE, MAP_PRIVATE, fx->ro)
FLAG_CASE(prot_exec, PROT_READ | PROT_EXEC, MAP_PRIVATE, fx->rw)
CASE(flag_32bit_low_address)
{
    UNUSED;
    char *p = a->map(NULL, PG, PROT_READ, ANON | MAP_32BIT, -1, 0);
    if (p == MAP_FAILED) return err(errno);
    return (uintptr_t)p < ((uintptr_t)1 << 31) ? ok() : err(ENOTRECOVERABLE);
}
CASE(fork_shared_anonymous_is_shared)
{
    UNUSED;
    int *n = a->map(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (n == MAP_FAILED) return err(errno);
    pid_t pid = fork();
    if (pid == 0) { *n = 42; _exit(0); }
    waitpid(pid, NULL, 0);
    return *n == 42 ? ok() : err(ENOTRECOVERABLE);
}
CASE(fork_private_anonymous_is_copied)
{
    UNUSED;
    int *n = a->map(NULL, PG, PROT_READ | PROT_WRITE, ANON, -1, 0);
    if (n == MAP_FAILED) return err(errno);
    pid_t pid = fork();
    if (pid == 0) { *n = 42; _exit(0); }
    waitpid(pid, NULL, 0);
    return *n == 0 ? ok() : err(ENOTRECOVERABLE);
}
CASE(sync_length_zero_succeeds)
{
    char *p = a->map(NULL, PG, PROT_READ, MAP_SHARED, fx->rw, 0);
    return of_rc(a->sync(p, 0, MS_SYNC));
}
CASE(sync_flags_zero_succeeds)
{
    char *p = a->map(NULL, PG, PROT_READ, MAP_SHARED, fx->rw, 0);
    return of_rc(a->sync(p, PG, 0));
}
CASE(sync_length_wrapping_to_zero_succeeds)
{
    char *p = a->map(NULL, PG, PROT_READ, MAP_SHARED, fx->rw, 0);
    return of_rc(a->sync(p, SIZE_MAX, MS_SYNC));
}
CASE(sync_async_invalidate)
{
    char *p = a->map(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fx->rw, 0);
    p[0] = 'z';
    return of_rc(a->sync(p, PG, MS_ASYNC | MS_INVALIDATE));
}
CASE(sync_anonymous_private)
{
    UNUSED;
    char *p = a->map(NULL, PG, PROT_READ, ANON, -1, 0);
    return of_rc(a->sync(p, PG, MS_SYNC));
}
CASE(pagesize_matches_sysconf)
{
    UNUSED;
    return rmap_pagesize() == (size_t)sysconf(_SC_PAGESIZE) ? ok() : err(ENOTRECOVERABLE);
}

typedef struct {
    const char *name;
    outcome_t (*fn)(const api_t *, fixture_t *);
    enum kind want;
    int want_value;
} case_t;

#define E(fn, e) {#fn, fn, ERR, e}
#define K(fn) {#fn, fn, OK, 0}
#define S(fn, s) {#fn, fn, SIG, s}
#define ANY(fn) {#fn, fn, SKIP, 0} /* the kernel's answer varies with its configuration */

static const case_t CASES[] = {
    E(map_eacces_fd_not_readable, EACCES),
    E(map_eacces_shared_write_readonly_fd, EACCES),
    E(map_eacces_append_only, EACCES),
    E(map_eagain_memlock_limit, EAGAIN),
    E(map_ebadf_fd_invalid, EBADF),
    E(map_ebadf_fd_invalid__closed, EBADF),
    E(map_ebadf_fd_invalid__opath, EBADF),
    E(map_ebadf_fd_invalid__length_zero, EBADF),
    E(map_ebadf_fd_invalid__closed_length_zero, EBADF),
    E(map_ebadf_fd_invalid__closed_no_type, EBADF),
    E(map_eexist_fixed_noreplace, EEXIST),
    E(map_einval_offset_misaligned, EINVAL),
    E(map_einval_offset_misaligned__anonymous, EINVAL),
    E(map_einval_offset_misaligned__with_bad_fd, EINVAL),
    E(map_einval_length_zero, EINVAL),
    E(map_einval_length_zero__file, EINVAL),
    E(map_einval_length_zero__no_type, EINVAL),
    E(map_einval_fixed_addr_misaligned, EINVAL),
    E(map_einval_fixed_addr_misaligned__noreplace, EINVAL),
    E(map_einval_no_map_type, EINVAL),
    E(map_einval_no_map_type__file, EINVAL),
    E(map_einval_no_map_type__reserved_type, EINVAL),
    E(map_einval_no_map_type__write_readonly_fd, EINVAL),
    E(map_einval_hugetlb_file, EINVAL),
    E(map_einval_hugetlb_file__bad_size, EINVAL),
    E(map_einval_growsdown_shared, EINVAL),
    E(map_einval_growsdown_shared__file, EINVAL),
    E(map_enfile_file_table_full, ENFILE),
    E(map_enodev_not_mappable, ENODEV),
    E(map_enodev_not_mappable__directory, ENODEV),
    E(map_enomem_no_address_space, ENOMEM),
    E(map_enomem_no_address_space__beyond_task_size, ENOMEM),
    E(map_enomem_fixed_outside, ENOMEM),
    E(map_enomem_fixed_outside__misaligned, ENOMEM),
    E(map_enomem_map_count, ENOMEM),
    E(map_enomem_rlimit_as, ENOMEM),
    E(map_eopnotsupp_shared_validate, EOPNOTSUPP),
    E(map_eoverflow_offset, EOVERFLOW),
    E(map_eoverflow_offset__near_max, EOVERFLOW),
    E(map_eoverflow_offset__with_bad_type, EOVERFLOW),
    E(map_eperm_sealed, EPERM),
    E(map_eperm_noexec, EPERM),
    E(map_eperm_locked, EPERM),
    E(map_etxtbsy_swapfile, ETXTBSY),
    E(sync_ebusy_invalidate_locked, EBUSY),
    E(sync_einval_unknown_flag, EINVAL),
    E(sync_einval_addr_misaligned, EINVAL),
    E(sync_einval_async_and_sync, EINVAL),
    E(sync_enomem_unmapped, ENOMEM),
    E(sync_enomem_unmapped__async_hole_first, ENOMEM),
    E(sync_enomem_range_wraps, ENOMEM),
    E(unmap_einval_addr_misaligned, EINVAL),
    E(unmap_einval_length_zero, EINVAL),
    E(unmap_einval_outside, EINVAL),
    E(unmap_enomem_map_count, ENOMEM),
    E(unmap_eperm_sealed, EPERM),
    K(anon_private_rw),
    K(shared_write_reaches_file),
    K(private_write_stays_private),
    K(fd_closed_after_map),
    K(offset_maps_later_pages),
    K(tail_of_last_page_reads_zero),
    S(sigbus_page_past_eof, SIGBUS),
    S(sigbus_empty_file, SIGBUS),
    S(sigbus_after_truncate_by_other_process, SIGBUS),
    S(sigsegv_write_readonly, SIGSEGV),
    S(sigsegv_prot_none, SIGSEGV),
    S(sigsegv_after_unmap, SIGSEGV),
    S(partial_unmap_keeps_the_rest, SIGSEGV),
    S(unmap_rounds_length_up, SIGSEGV),
    K(unmap_unmapped_range_succeeds),
    K(unmap_twice_succeeds),
    K(unmap_null_hint_range_succeeds),
    K(fixed_replaces_existing),
    K(fixed_noreplace_into_hole),
    K(misaligned_hint_is_fine),
    K(anonymous_ignores_negative_offset),
    K(length_rounds_up_to_page),
    K(flag_populate),
    K(flag_populate_nonblock),
    K(flag_noreserve),
    K(flag_locked),
    K(flag_growsdown),
    K(flag_stack),
    K(flag_denywrite_executable_ignored),
    K(flag_file_ignored),
    K(flag_anon_alias),
    K(flag_shared_anonymous),
    K(flag_shared_validate),
    ANY(flag_sync_with_shared),
    K(flag_unknown_bit_ignored),
    ANY(flag_hugetlb_anonymous),
    ANY(flag_hugetlb_2mb),
    ANY(flag_droppable),
    K(fd_devzero_shared),
    K(fd_devzero_private),
    K(fd_memfd_shared),
    K(fd_sealed_memfd_private_write),
    K(fd_readonly_shared_read),
    K(fd_readonly_private_write),
    K(prot_exec),
    K(flag_32bit_low_address),
    K(fork_shared_anonymous_is_shared),
    K(fork_private_anonymous_is_copied),
    K(sync_length_zero_succeeds),
    K(sync_flags_zero_succeeds),
    K(sync_length_wrapping_to_zero_succeeds),
    K(sync_async_invalidate),
    K(sync_anonymous_private),
    K(pagesize_matches_sysconf),
};

/* Runs one side of a case in a child: the outcome comes back through a pipe,
 * or the child's death by signal is the outcome. */
static outcome_t run_side(const case_t *c, const api_t *a)
{
    int p[2];
    if (pipe(p) != 0) die("pipe");
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        close(p[0]);
        fixture_t fx = fixture();
        outcome_t o = c->fn(a, &fx);
        if (write(p[1], &o, sizeof o) != (ssize_t)sizeof o) _exit(121);
        _exit(0);
    }
    close(p[1]);
    outcome_t o = {SKIP, 0, "child reported nothing"};
    ssize_t got = read(p[0], &o, sizeof o);
    close(p[0]);
    int status;
    waitpid(pid, &status, 0);
    if (WIFSIGNALED(status)) return (outcome_t){SIG, WTERMSIG(status), ""};
    if (got != (ssize_t)sizeof o) {
        outcome_t bad = {SKIP, 0, ""};
        snprintf(bad.why, sizeof bad.why, "child exited %d without an outcome", WEXITSTATUS(status));
        return bad;
    }
    return o;
}

static const char *describe(outcome_t o, char *buf, size_t n)
{
    switch (o.kind) {
    case OK: snprintf(buf, n, "ok"); break;
    case ERR: snprintf(buf, n, "%s", strerrorname_np(o.value) ? strerrorname_np(o.value) : "E?"); break;
    case SIG: snprintf(buf, n, "%s", sigabbrev_np(o.value) ? sigabbrev_np(o.value) : "SIG?"); break;
    case SKIP: snprintf(buf, n, "skipped (%s)", o.why); break;
    }
    return buf;
}

static int same(outcome_t x, outcome_t y) { return x.kind == y.kind && x.value == y.value; }

/* ---- sweep: the cross product of awkward arguments, in-process ---- */

static unsigned long sweep_count, sweep_mismatch;

static void sweep_report(const char *call, outcome_t l, outcome_t r, const char *args)
{
    sweep_count++;
    if (same(l, r)) return;
    sweep_mismatch++;
    char a[64], b[64];
    if (sweep_mismatch <= 20)
        printf("     sweep mismatch: %s(%s): libc %s, rmap %s\n", call, args, describe(l, a, sizeof a), describe(r, b, sizeof b));
}

static outcome_t sweep_map(const api_t *a, void *addr, size_t len, int prot, int flags, int fd, off_t off, char *region, size_t region_len)
{
    errno = 0;
    char *p = a->map(addr, len, prot, flags, fd, off);
    outcome_t o = of_map(p);
    if (p != MAP_FAILED) munmap(p, len);
    /* MAP_FIXED may have replaced part of the region: restore it. */
    if (mmap(region, region_len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != region) die("restore region");
    return o;
}

static void sweep(void)
{
    fixture_t fx = fixture();
    const size_t region_pages = 16;
    char *region = mmap(NULL, region_pages * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (region == MAP_FAILED) die("region");
    const size_t lens[] = {0, 1, PG - 1, PG, PG + 1, 3 * PG, (size_t)1 << 46, (size_t)1 << 47,
                           SIZE_MAX - 2 * PG, SIZE_MAX - PG + 1, SIZE_MAX};
    const off_t offs[] = {0, 1, (off_t)PG, (off_t)PG - 1, -1, -(off_t)PG,
                          (off_t)((INT64_MAX - (int64_t)PG + 1) & ~((int64_t)PG - 1)), INT64_MIN};
    const int prots[] = {PROT_NONE, PROT_READ, PROT_READ | PROT_WRITE, PROT_READ | PROT_EXEC, 0x10};
    const int types[] = {0, MAP_SHARED, MAP_PRIVATE, MAP_SHARED_VALIDATE, 0x04, MAP_DROPPABLE, 0x0f};
    const int extras[] = {0, MAP_ANONYMOUS, MAP_FIXED, MAP_FIXED_NOREPLACE, MAP_ANONYMOUS | MAP_FIXED,
                          MAP_HUGETLB, MAP_ANONYMOUS | MAP_HUGETLB, MAP_GROWSDOWN, MAP_SYNC, MAP_NORESERVE};
    const int fds[] = {fx.rw, fx.ro, fx.wo, fx.small, fx.empty, fx.pipe_r, fx.dir, fx.devzero,
                       fx.memfd, fx.sealed, fx.closed, fx.opath, -1};
    char args[200];
    for (size_t li = 0; li < sizeof lens / sizeof *lens; li++)
    for (size_t oi = 0; oi < sizeof offs / sizeof *offs; oi++)
    for (size_t pi = 0; pi < sizeof prots / sizeof *prots; pi++)
    for (size_t ti = 0; ti < sizeof types / sizeof *types; ti++)
    for (size_t ei = 0; ei < sizeof extras / sizeof *extras; ei++)
    for (size_t fi = 0; fi < sizeof fds / sizeof *fds; fi++) {
        size_t len = lens[li];
        int flags = types[ti] | extras[ei];
        /* MAP_FIXED only inside our region, or where the kernel must refuse. */
        void *addrs[3] = {NULL, NULL, NULL};
        int naddr = 1;
        if (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) {
            naddr = 0;
            if (len <= region_pages * PG) {
                addrs[naddr++] = region + PG;
                addrs[naddr++] = region + 7;
            }
            addrs[naddr++] = (void *)(uintptr_t)(0 - 64 * PG + 3);
        }
        /* Keep the sweep cheap: prot varies only for the common flag sets. */
        if (pi != 1 && pi != 2 && ei > 1) continue;
        for (int ai = 0; ai < naddr; ai++) {
            snprintf(args, sizeof args, "%p, %zu, %#x, %#x, fd#%zu, %lld", addrs[ai], len, prots[pi], flags, fi,
                     (long long)offs[oi]);
            outcome_t l = sweep_map(&LIBC, addrs[ai], len, prots[pi], flags, fds[fi], offs[oi], region, region_pages * PG);
            outcome_t r = sweep_map(&RMAP, addrs[ai], len, prots[pi], flags, fds[fi], offs[oi], region, region_pages * PG);
            sweep_report("map", l, r, args);
        }
    }

    /* sync and unmap: ranges inside a mapped/unmapped layout of the region. */
    const int sflags[] = {0, MS_ASYNC, MS_SYNC, MS_INVALIDATE, MS_ASYNC | MS_SYNC, MS_SYNC | MS_INVALIDATE,
                          MS_ASYNC | MS_INVALIDATE, 0x100, -1};
    const size_t slens[] = {0, 1, PG, 2 * PG, 5 * PG, SIZE_MAX - PG, SIZE_MAX, (size_t)1 << 47};
    char *starts[] = {region + PG, region + PG + 1, region + 4 * PG, NULL, (char *)((uintptr_t)1 << 63),
                      (char *)(uintptr_t)(0 - 2 * PG)};
    for (size_t si = 0; si < sizeof starts / sizeof *starts; si++)
    for (size_t li = 0; li < sizeof slens / sizeof *slens; li++) {
        /* Layout: pages 1-2 a shared file mapping, 3 a hole, 4-5 anonymous. */
        munmap(region, region_pages * PG);
        if (mmap(region + PG, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fx.rw, 0) == MAP_FAILED ||
            mmap(region + 4 * PG, 2 * PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
            die("layout");
        for (size_t fi = 0; fi < sizeof sflags / sizeof *sflags; fi++) {
            snprintf(args, sizeof args, "%p, %zu, %#x", (void *)starts[si], slens[li], sflags[fi]);
            errno = 0;
            outcome_t l = of_rc(LIBC.sync(starts[si], slens[li], sflags[fi]));
            errno = 0;
            outcome_t r = of_rc(RMAP.sync(starts[si], slens[li], sflags[fi]));
            sweep_report("sync", l, r, args);
        }
        /* Unmapping must not reach past the region unless the kernel refuses. */
        int inside = starts[si] && (uintptr_t)starts[si] < ((uintptr_t)1 << 47) &&
                     slens[li] <= (size_t)(region + region_pages * PG - starts[si]);
        int refused = !starts[si] ? 0 : (uintptr_t)starts[si] >= ((uintptr_t)1 << 47) || ((uintptr_t)starts[si] % PG);
        if (!inside && !refused && !(starts[si] == NULL && slens[li] <= 16 * PG)) continue;
        snprintf(args, sizeof args, "%p, %zu", (void *)starts[si], slens[li]);
        errno = 0;
        outcome_t l = of_rc(LIBC.unmap(starts[si], slens[li]));
        if (mmap(region, region_pages * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != region) die("region");
        errno = 0;
        outcome_t r = of_rc(RMAP.unmap(starts[si], slens[li]));
        sweep_report("unmap", l, r, args);
    }
    if (mmap(region, region_pages * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != region) die("region");
}



/* ---- decided before any system call: proven with seccomp ---- */

/* From here on mmap, msync and munmap fail with ENOSYS without reaching the
 * kernel's memory code. fcntl and fstat, which librmap may use to learn
 * about the fd, stay allowed. */
static void forbid_mapping_syscalls(void)
{
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mmap, 3, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_munmap, 2, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_msync, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
    };
    struct sock_fprog prog = {sizeof code / sizeof *code, code};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
        die("seccomp");
}

#define NOSYSCALL(fn) static outcome_t nosyscall_##fn(const fixture_t *fx)
NOSYSCALL(map_einval_offset_misaligned) { (void)fx; return of_map(rmap_map(NULL, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 1)); }
NOSYSCALL(map_ebadf_fd_invalid) { (void)fx; return of_map(rmap_map(NULL, PG, PROT_READ, MAP_SHARED, -1, 0)); }
NOSYSCALL(map_einval_length_zero) { (void)fx; return of_map(rmap_map(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)); }
NOSYSCALL(map_einval_length_zero__file) { return of_map(rmap_map(NULL, 0, PROT_READ, MAP_SHARED, fx->rw, 0)); }
NOSYSCALL(map_ebadf_fd_invalid__closed_length_zero) { return of_map(rmap_map(NULL, 0, PROT_READ, MAP_SHARED, fx->closed, 0)); }
NOSYSCALL(map_einval_fixed_addr_misaligned)
{
    (void)fx;
    return of_map(rmap_map((void *)(uintptr_t)0x10000001, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
}
NOSYSCALL(map_einval_no_map_type) { (void)fx; return of_map(rmap_map(NULL, PG, PROT_READ, MAP_ANONYMOUS, -1, 0)); }
NOSYSCALL(map_einval_no_map_type__file) { return of_map(rmap_map(NULL, PG, PROT_READ, 0, fx->rw, 0)); }
NOSYSCALL(map_eoverflow_offset) { return of_map(rmap_map(NULL, PG, PROT_READ, MAP_SHARED, fx->rw, -(off_t)PG)); }
NOSYSCALL(sync_einval_unknown_flag) { (void)fx; return of_rc(rmap_sync((void *)(uintptr_t)0x10000000, PG, 0x100)); }
NOSYSCALL(sync_einval_addr_misaligned) { (void)fx; return of_rc(rmap_sync((void *)(uintptr_t)0x10000001, PG, MS_SYNC)); }
NOSYSCALL(sync_einval_async_and_sync) { (void)fx; return of_rc(rmap_sync((void *)(uintptr_t)0x10000000, PG, MS_SYNC | MS_ASYNC)); }
NOSYSCALL(sync_enomem_range_wraps) { (void)fx; return of_rc(rmap_sync((void *)(uintptr_t)0x10000000, SIZE_MAX - PG, MS_SYNC)); }
NOSYSCALL(unmap_einval_addr_misaligned) { (void)fx; return of_rc(rmap_unmap((void *)(uintptr_t)0x10000001, PG)); }
NOSYSCALL(unmap_einval_length_zero) { (void)fx; return of_rc(rmap_unmap((void *)(uintptr_t)0x10000000, 0)); }
/* The control: a valid call does reach the (forbidden) system call. */
NOSYSCALL(control_valid_map_reaches_the_kernel) { (void)fx; return of_map(rmap_map(NULL, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)); }

typedef struct {
    const char *name;
    outcome_t (*fn)(const fixture_t *);
    int want;
} nosyscall_t;

#define NS(fn, e) {#fn, nosyscall_##fn, e}
static const nosyscall_t NOSYSCALL_CASES[] = {
    NS(map_einval_offset_misaligned, EINVAL),   NS(map_ebadf_fd_invalid, EBADF),
    NS(map_einval_length_zero, EINVAL),         NS(map_einval_length_zero__file, EINVAL),
    NS(map_ebadf_fd_invalid__closed_length_zero, EBADF),
    NS(map_einval_fixed_addr_misaligned, EINVAL), NS(map_einval_no_map_type, EINVAL),
    NS(map_einval_no_map_type__file, EINVAL),   NS(map_eoverflow_offset, EOVERFLOW),
    NS(sync_einval_unknown_flag, EINVAL),       NS(sync_einval_addr_misaligned, EINVAL),
    NS(sync_einval_async_and_sync, EINVAL),     NS(sync_enomem_range_wraps, ENOMEM),
    NS(unmap_einval_addr_misaligned, EINVAL),   NS(unmap_einval_length_zero, EINVAL),
    NS(control_valid_map_reaches_the_kernel, ENOSYS),
};

/* Returns the number of failures. */
static int run_nosyscall_cases(int *passed)
{
    int failed = 0;
    for (size_t i = 0; i < sizeof NOSYSCALL_CASES / sizeof *NOSYSCALL_CASES; i++) {
        const nosyscall_t *c = &NOSYSCALL_CASES[i];
        int p[2];
        if (pipe(p) != 0) die("pipe");
        pid_t pid = fork();
        if (pid < 0) die("fork");
        if (pid == 0) {
            fixture_t fx = fixture();
            forbid_mapping_syscalls();
            outcome_t o = c->fn(&fx);
            _exit(write(p[1], &o, sizeof o) == (ssize_t)sizeof o ? 0 : 121);
        }
        close(p[1]);
        outcome_t o = {SKIP, 0, "no outcome"};
        ssize_t got = read(p[0], &o, sizeof o);
        close(p[0]);
        waitpid(pid, NULL, 0);
        char buf[200];
        outcome_t want = {ERR, c->want, ""};
        if (got == (ssize_t)sizeof o && same(o, want)) {
            printf("ok   no-syscall %s: %s with mmap/msync/munmap forbidden\n", c->name, describe(o, buf, sizeof buf));
            (*passed)++;
        } else {
            printf("FAIL no-syscall %s: %s, expected %s\n", c->name, describe(o, buf, sizeof buf), strerrorname_np(c->want));
            failed++;
        }
    }
    return failed;
}

/* ---- random differential: seeded tuples, each side in its own child ---- */

static uint64_t rng_state;

static uint64_t rnd(void) /* splitmix64 */
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static uint64_t below(uint64_t n) { return rnd() % n; }
static int chance(int one_in) { return below((uint64_t)one_in) == 0; }

enum op { OP_MAP, OP_MAP_TOUCH, OP_MAP_UNMAP, OP_MAP_SYNC, OP_UNMAP, OP_SYNC, N_OPS };
static const char *const OP_NAMES[] = {"map", "map+touch", "map+unmap+touch", "map+sync", "unmap", "sync"};

#define REGION_PAGES 16
typedef struct {
    enum op op;
    uintptr_t addr; /* absolute, or an offset into the region when in_region */
    int in_region;
    size_t len;
    int prot, flags, fd_index;
    off_t off;
    intptr_t f_off; /* follow-up range, relative to the mapping or the region */
    size_t f_len;
    int f_flags;
    size_t touch;
    int touch_write;
} tuple_t;

static const char *const FD_NAMES[] = {"rw", "ro", "wo", "small", "empty", "pipe", "dir", "/dev/zero",
                                       "memfd", "sealed", "closed", "O_PATH", "-1", "12345"};
#define N_FDS (sizeof FD_NAMES / sizeof *FD_NAMES)

static int fd_of(const fixture_t *fx, int i)
{
    const int fds[] = {fx->rw, fx->ro, fx->wo, fx->small, fx->empty, fx->pipe_r, fx->dir, fx->devzero,
                       fx->memfd, fx->sealed, fx->closed, fx->opath, -1, 12345};
    return fds[i];
}

static size_t random_len(void)
{
    switch (below(10)) {
    case 0: return 0;
    case 1: return 1 + below(PG);
    case 2: return PG * (1 + below(8)) + below(3) - 1;
    case 3: return PG * (1 + below(REGION_PAGES));
    case 4: return (size_t)1 << (40 + below(24));
    case 5: return SIZE_MAX - below(3 * PG);
    case 6: return (size_t)rnd();
    default: return PG * (1 + below(4));
    }
}

static off_t random_off(void)
{
    switch (below(8)) {
    case 0: return (off_t)(PG * below(4));
    case 1: return (off_t)(1 + below(PG - 1));
    case 2: return -(off_t)(PG * (1 + below(4)));
    case 3: return -1;
    case 4: return (off_t)((INT64_MAX - (int64_t)(PG * below(8))) & ~((int64_t)PG - 1));
    case 5: return (off_t)rnd();
    default: return 0;
    }
}

static int random_flags(void)
{
    static const int bits[] = {MAP_ANONYMOUS, MAP_FIXED, MAP_FIXED_NOREPLACE, MAP_NORESERVE, MAP_LOCKED,
                               MAP_GROWSDOWN, MAP_32BIT, MAP_POPULATE, MAP_NONBLOCK, MAP_STACK, MAP_SYNC,
                               MAP_HUGETLB, MAP_DENYWRITE, MAP_EXECUTABLE};
    int flags = chance(4) ? (int)below(16) : (int)(1 + below(3)); /* the MAP_TYPE bits */
    for (size_t i = 0; i < sizeof bits / sizeof *bits; i++)
        if (chance(i < 2 ? 3 : 8)) flags |= bits[i];
    if (chance(8)) flags |= (int)(1u << below(31));
    return flags;
}

static tuple_t random_tuple(void)
{
    tuple_t t = {0};
    t.op = (enum op)below(N_OPS);
    t.len = random_len();
    t.prot = (int)below(8);
    if (chance(16)) t.prot |= (int)(1u << below(31));
    t.flags = random_flags();
    t.fd_index = (int)below(N_FDS);
    t.off = random_off();
    if (t.flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) {
        /* Inside our region (where it cannot clobber anything else), or where the kernel must refuse. */
        if (chance(4)) {
            t.addr = (uintptr_t)0 - PG * (1 + below(64)) + (chance(2) ? below(PG) : 0);
        } else {
            t.in_region = 1;
            t.addr = PG * below(REGION_PAGES / 2) + (chance(4) ? 1 + below(PG - 1) : 0);
            if (t.len > REGION_PAGES / 2 * PG) t.len = PG * (1 + below(REGION_PAGES / 2));
        }
    } else if (chance(3)) {
        t.addr = (uintptr_t)rnd();
    }
    /* Populating or locking a huge range would exhaust the machine, not test librmap. */
    if (t.len > 64 * PG) t.flags &= ~(MAP_POPULATE | MAP_LOCKED);
    t.f_off = chance(2) ? 0 : (intptr_t)(PG * below(4)) + (chance(6) ? 1 : 0);
    switch (below(5)) {
    case 0: t.f_len = 0; break;
    case 1: t.f_len = 1 + below(PG); break;
    case 2: t.f_len = (size_t)rnd(); break;
    default: t.f_len = PG * (1 + below(6)); break;
    }
    t.f_flags = chance(8) ? (int)rnd() : (int)below(8);
    t.touch = below(8 * PG);
    t.touch_write = chance(2);
    return t;
}

/* Follow-up ops must not unmap memory the child needs to report. */
static size_t safe_unmap_len(const tuple_t *t)
{
    size_t room = (t->len <= 64 * PG ? (t->len + PG - 1) / PG * PG : 64 * PG) + PG;
    size_t start = t->f_off > 0 ? (size_t)t->f_off : 0;
    if (t->f_len == 0 || (t->f_off % (intptr_t)PG) != 0) return t->f_len;
    return start >= room ? 0 : (t->f_len < room - start ? t->f_len : room - start);
}

/* Up to three recorded steps, then how the child ended if not by exit(0). */
typedef struct {
    int steps;
    outcome_t step[4];
} trace_t;

static void record(int fd, outcome_t o) { if (write(fd, &o, sizeof o) != (ssize_t)sizeof o) _exit(121); }

static void run_tuple(const tuple_t *t, const api_t *a, const fixture_t *fx, char *region, int out)
{
    alarm(10);
    uintptr_t base = t->in_region ? (uintptr_t)region : 0;
    if (t->op == OP_UNMAP || t->op == OP_SYNC) {
        /* Region layout: page 0 hole, 1-2 shared file, 3 hole, 4-5 anonymous, the rest reserved. */
        char *at = region + PG * REGION_PAGES / 4 + t->f_off;
        if (t->op == OP_SYNC) {
            record(out, of_rc(a->sync(at, t->f_len, t->f_flags)));
        } else {
            size_t len = t->f_len > PG * (REGION_PAGES / 2) && ((uintptr_t)at % PG) == 0 ? PG * (REGION_PAGES / 2) : t->f_len;
            record(out, of_rc(a->unmap(at, len)));
        }
        return;
    }
    char *p = a->map((void *)(base + t->addr), t->len, t->prot, t->flags, fd_of(fx, t->fd_index), t->off);
    record(out, of_map(p));
    if (p == MAP_FAILED) return;
    if (t->op == OP_MAP_SYNC) {
        record(out, of_rc(a->sync(p + t->f_off, t->f_len, t->f_flags)));
        return;
    }
    if (t->op == OP_MAP_UNMAP) record(out, of_rc(a->unmap(p + t->f_off, safe_unmap_len(t))));
    if (t->op == OP_MAP_TOUCH || t->op == OP_MAP_UNMAP) {
        if (t->len > 64 * PG) return;
        volatile char *q = p + t->touch;
        if (t->touch_write) *q = 1;
        else (void)*q;
        record(out, ok());
    }
}

static trace_t run_tuple_side(const tuple_t *t, const api_t *a, const fixture_t *fx, char *region)
{
    int pfd[2];
    if (pipe(pfd) != 0) die("pipe");
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        close(pfd[0]);
        run_tuple(t, a, fx, region, pfd[1]);
        _exit(0);
    }
    close(pfd[1]);
    trace_t tr = {0};
    while (tr.steps < 3 && read(pfd[0], &tr.step[tr.steps], sizeof(outcome_t)) == (ssize_t)sizeof(outcome_t)) tr.steps++;
    close(pfd[0]);
    int status;
    waitpid(pid, &status, 0);
    if (WIFSIGNALED(status)) tr.step[tr.steps++] = (outcome_t){SIG, WTERMSIG(status), ""};
    else if (WEXITSTATUS(status) != 0) tr.step[tr.steps++] = (outcome_t){SKIP, WEXITSTATUS(status), "exit"};
    return tr;
}

static int same_trace(const trace_t *x, const trace_t *y)
{
    if (x->steps != y->steps) return 0;
    for (int i = 0; i < x->steps; i++)
        if (!same(x->step[i], y->step[i])) return 0;
    return 1;
}

static void print_trace(const char *who, const trace_t *tr)
{
    char buf[200];
    printf("       %s:", who);
    for (int i = 0; i < tr->steps; i++) printf(" %s", describe(tr->step[i], buf, sizeof buf));
    printf("\n");
}

static void print_tuple(const tuple_t *t)
{
    printf("       %s: addr=%s%#lx len=%#zx prot=%#x flags=%#x fd=%s off=%lld; then range +%ld len=%#zx flags=%#x touch=+%#zx %s\n",
           OP_NAMES[t->op], t->in_region ? "region+" : "", (unsigned long)t->addr, t->len, t->prot, t->flags,
           FD_NAMES[t->fd_index], (long long)t->off, (long)t->f_off, t->f_len, t->f_flags, t->touch,
           t->touch_write ? "write" : "read");
}

/* Runs COUNT tuples from SEED (only tuple ONLY when >= 0); returns mismatches. */
static unsigned long random_differential(uint64_t seed, unsigned long count, long only)
{
    fixture_t fx = fixture();
    char *region = mmap(NULL, REGION_PAGES * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (region == MAP_FAILED) die("region");
    char *layout = region + PG * REGION_PAGES / 4;
    munmap(layout, 6 * PG);
    if (mmap(layout + PG, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fx.rw, 0) == MAP_FAILED ||
        mmap(layout + 4 * PG, 2 * PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
        die("layout");
    rng_state = seed;
    unsigned long mismatches = 0, per_op[N_OPS] = {0};
    for (unsigned long i = 0; i < count; i++) {
        tuple_t t = random_tuple();
        if (only >= 0 && (long)i != only) continue;
        per_op[t.op]++;
        trace_t l = run_tuple_side(&t, &LIBC, &fx, region);
        trace_t r = run_tuple_side(&t, &RMAP, &fx, region);
        if ((same_trace(&l, &r) || !compare) && only < 0) continue;
        if (!same_trace(&l, &r)) mismatches++;
        printf("     %s tuple %lu (reproduce: conformance --random %llu %lu --index %lu)\n",
               same_trace(&l, &r) ? "same" : "MISMATCH", i, (unsigned long long)seed, count, i);
        print_tuple(&t);
        print_trace("libc", &l);
        print_trace("rmap", &r);
    }
    printf("     random: seed %llu, %lu tuples (", (unsigned long long)seed, count);
    for (int op = 0; op < N_OPS; op++) printf("%s%s %lu", op ? ", " : "", OP_NAMES[op], per_op[op]);
    printf("), %lu mismatches\n", mismatches);
    return mismatches;
}

int main(int argc, char **argv)
{
    PG = (size_t)sysconf(_SC_PAGESIZE);
    setbuf(stdout, NULL);
    /* Children that die of SIGSEGV/SIGBUS by design should not dump core. */
    struct rlimit nocore = {0, 0};
    setrlimit(RLIMIT_CORE, &nocore);
    /* conformance [CASE]                          cases, sweep, 20,000 random tuples (seed 1)
     * conformance --random SEED COUNT [--index I]  the random differential alone
     * Environment: RMAP_SEED, RMAP_TUPLES change the seed and count of the first form. */
    if (argc >= 4 && strcmp(argv[1], "--random") == 0) {
        long index = argc >= 6 && strcmp(argv[4], "--index") == 0 ? atol(argv[5]) : -1;
        unsigned long bad = random_differential(strtoull(argv[2], NULL, 0), strtoul(argv[3], NULL, 0), index);
        printf("random: %d passed, %d failed\n", bad ? 0 : 1, bad ? 1 : 0);
        return bad ? 1 : 0;
    }
    const char *only = argc > 1 ? argv[1] : NULL;
    /* Valgrind emulates mmap (its own argument checks and address-space
     * manager), so libc is no longer the kernel there: run everything for the
     * memory check, compare nothing. The native run compares. */
    compare = getenv("RMAP_UNDER_VALGRIND") == NULL;
    int passed = 0, failed = 0, skipped = 0;
    for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++) {
        const case_t *c = &CASES[i];
        if (only && strcmp(only, c->name) != 0) continue;
        outcome_t l = run_side(c, &LIBC);
        outcome_t r = run_side(c, &RMAP);
        char lb[200], rb[200];
        describe(l, lb, sizeof lb);
        describe(r, rb, sizeof rb);
        if (!compare) {
            printf("ran  %s: libc %s, rmap %s\n", c->name, lb, rb);
            skipped++;
            continue;
        }
        if (l.kind == SKIP && r.kind == SKIP) {
            printf("skip %s: %s\n", c->name, l.why);
            skipped++;
            continue;
        }
        outcome_t want = {c->want, c->want_value, ""};
        int good = same(l, r) && (c->want == SKIP || same(l, want));
        if (good) {
            printf("ok   %s: libc %s, rmap %s\n", c->name, lb, rb);
            passed++;
        } else {
            char wb[64];
            printf("FAIL %s: libc %s, rmap %s, expected %s\n", c->name, lb, rb,
                   c->want == SKIP ? "libc's outcome" : describe(want, wb, sizeof wb));
            failed++;
        }
    }
    if (!only && !compare) {
        sweep();
        random_differential(1, 500, -1);
        printf("conformance: under valgrind, %d cases, %lu sweep tuples and 500 random tuples ran; outcomes not compared\n",
               skipped, sweep_count);
        return 0;
    }
    if (!only) {
        failed += run_nosyscall_cases(&passed);
        sweep();
        if (sweep_mismatch == 0) {
            printf("ok   sweep: %lu argument tuples, libc and rmap agree on every one\n", sweep_count);
            passed++;
        } else {
            printf("FAIL sweep: %lu of %lu argument tuples disagree\n", sweep_mismatch, sweep_count);
            failed++;
        }
        /* RMAP_TUPLES lowers the count where every fork is slow (sanitizers). */
        const char *seed = getenv("RMAP_SEED"), *tuples = getenv("RMAP_TUPLES");
        unsigned long count = tuples ? strtoul(tuples, NULL, 0) : 20000;
        unsigned long bad = random_differential(seed ? strtoull(seed, NULL, 0) : 1, count, -1);
        printf("%s random: %lu seeded tuples, each side in its own child\n", bad ? "FAIL" : "ok  ", count);
        bad ? failed++ : passed++;
    }
    printf("conformance: %d passed, %d failed, %d skipped\n", passed, failed, skipped);
    return failed ? 1 : 0;
}
