/* conformance: librmap against libc, case by case.
 *
 * Every case runs twice in its own child process, once calling mmap/msync/
 * munmap and once calling rmap_map/rmap_sync/rmap_unmap, and the outcomes
 * (return class, errno, or the signal that killed the child) must be equal.
 * A case also names the outcome it must provoke, so it cannot pass by both
 * sides doing the wrong thing. Case names of the form <fn>_<errno>_<what>
 * are the tags of the ERRORS entries in include/rmap.h; a suffix after '__'
 * marks another way of provoking the same entry.
 *
 * Under valgrind, which emulates mmap itself, every case runs and nothing is
 * compared (each counts as skipped); the native run compares.
 *
 * Usage: conformance [CASE]
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/mman.h>
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
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#ifndef MAP_DROPPABLE
#define MAP_DROPPABLE 0x08
#endif
#ifndef SYS_mseal
#define SYS_mseal 462
#endif
#ifndef PR_SET_MDWE
#define PR_SET_MDWE 65
#endif
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#define MADV_POPULATE_WRITE 23
#endif

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
    /* 128 MiB: a huge page size of no x86-64 or AArch64 kernel (AArch64 has
     * 32 MiB ones). */
    return of_map(a->map(NULL, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | (27 << MAP_HUGE_SHIFT), -1, 0));
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
CASE(unmap_einval_outside) { UNUSED; return of_rc(a->unmap((void *)OUTSIDE_USER_SPACE, PG)); }
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

static outcome_t touch_read(volatile char *p) { touch((const char *)p); return ok(); }
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
    if (prot & PROT_READ) touch(p);
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
#if defined(__x86_64__)
    return (uintptr_t)p < ((uintptr_t)1 << 31) ? ok() : err(ENOTRECOVERABLE);
#else
    return ok(); /* an unknown bit there (harness.h): ignored, mapped anywhere */
#endif
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


/* ---- rmap_protect, rmap_advise, rmap_lock, rmap_unlock, rmap_remap, rmap_resident ---- */

/* n pages of anonymous memory (through the side's own map), the last `holes` of them unmapped again. */
static char *anon_with_hole(const api_t *a, size_t n, size_t holes)
{
    char *p = a->map(NULL, n * PG, PROT_READ | PROT_WRITE, ANON, -1, 0);
    if (p == MAP_FAILED) die("map");
    if (holes && a->unmap(p + (n - holes) * PG, holes * PG) != 0) die("unmap");
    return p;
}

static char *anon_page(const api_t *a, int prot) { char *p = a->map(NULL, PG, prot, ANON, -1, 0); if (p == MAP_FAILED) die("map"); return p; }

/* Seal a range with mseal(2) (Linux 6.10), or say why not. */
static int sealed(char *p, size_t len) { return syscall(SYS_mseal, p, len, 0) == 0; }

CASE(protect_eacces_shared_write_readonly_fd)
{
    char *p = a->map(NULL, PG, PROT_READ, MAP_SHARED, fx->ro, 0);
    return of_rc(a->protect(p, PG, PROT_READ | PROT_WRITE));
}
CASE(protect_eacces_deny_write_exec)
{
    UNUSED;
    char *p = anon_page(a, PROT_READ | PROT_WRITE);
    if (prctl(PR_SET_MDWE, 1 /* PR_MDWE_REFUSE_EXEC_GAIN */, 0, 0, 0) != 0)
        return skip("cannot provoke: prctl(PR_SET_MDWE) needs Linux 6.3");
    return of_rc(a->protect(p, PG, PROT_READ | PROT_EXEC));
}
CASE(protect_einval_addr_misaligned) { UNUSED; return of_rc(a->protect(anon_page(a, PROT_READ) + 1, PG, PROT_READ)); }
CASE(protect_einval_prot_unknown) { UNUSED; return of_rc(a->protect(anon_page(a, PROT_READ), PG, PROT_READ | 0x40)); }
CASE(protect_einval_grows_both) { UNUSED; return of_rc(a->protect(anon_page(a, PROT_READ), PG, PROT_GROWSDOWN | PROT_GROWSUP)); }
CASE(protect_einval_growsdown_not_growsdown) { UNUSED; return of_rc(a->protect(anon_page(a, PROT_READ), PG, PROT_READ | PROT_GROWSDOWN)); }
CASE(protect_einval_growsdown_not_growsdown__growsup) { UNUSED; return of_rc(a->protect(anon_page(a, PROT_READ), PG, PROT_READ | PROT_GROWSUP)); }
CASE(protect_enomem_unmapped) { UNUSED; return of_rc(a->protect(anon_with_hole(a, 2, 1), 2 * PG, PROT_READ)); }
CASE(protect_enomem_unmapped__hole) { UNUSED; return of_rc(a->protect(hole(2), PG, PROT_READ)); }
CASE(protect_enomem_range_wraps) { UNUSED; return of_rc(a->protect(anon_page(a, PROT_READ), SIZE_MAX, PROT_READ)); }
CASE(protect_enomem_range_wraps__before_bad_prot) { UNUSED; return of_rc(a->protect(anon_page(a, PROT_READ), SIZE_MAX - PG, 0x40)); }
CASE(protect_enomem_map_count)
{
    UNUSED;
    char *p = anon_with_hole(a, 3, 0);
    if (exhaust_map_count() != 0) return skip("could not reach vm.max_map_count");
    return of_rc(a->protect(p + PG, PG, PROT_READ));
}
CASE(protect_eperm_sealed)
{
    UNUSED;
    char *p = anon_page(a, PROT_READ);
    if (!sealed(p, PG)) return skip("cannot provoke: mseal(2) needs Linux 6.10");
    return of_rc(a->protect(p, PG, PROT_READ | PROT_WRITE));
}

CASE(advise_eacces_remove_not_shared_writable)
{
    char *p = a->map(NULL, PG, PROT_READ, MAP_SHARED, fx->ro, 0);
    return of_rc(a->advise(p, PG, MADV_REMOVE));
}
CASE(advise_efault_populate_past_eof)
{
    char *p = a->map(NULL, 2 * PG, PROT_READ, MAP_SHARED, fx->small, 0);
    return of_rc(a->advise(p, 2 * PG, MADV_POPULATE_READ));
}
CASE(advise_einval_addr_misaligned) { UNUSED; return of_rc(a->advise(anon_page(a, PROT_READ) + 1, PG, MADV_NORMAL)); }
CASE(advise_einval_unknown_advice) { UNUSED; return of_rc(a->advise(anon_page(a, PROT_READ), PG, 9999)); }
CASE(advise_einval_range_wraps) { UNUSED; return of_rc(a->advise(anon_page(a, PROT_READ), SIZE_MAX, MADV_NORMAL)); }
CASE(advise_einval_range_wraps__top) { UNUSED; return of_rc(a->advise((void *)(uintptr_t)(0 - PG), 2 * PG, MADV_NORMAL)); }
CASE(advise_einval_dontneed_locked)
{
    UNUSED;
    char *p = a->map(NULL, PG, PROT_READ | PROT_WRITE, ANON | MAP_LOCKED, -1, 0);
    if (p == MAP_FAILED) return skip("cannot lock a page");
    return of_rc(a->advise(p, PG, MADV_DONTNEED));
}
CASE(advise_einval_remove_anonymous) { UNUSED; return of_rc(a->advise(anon_page(a, PROT_READ | PROT_WRITE), PG, MADV_REMOVE)); }
CASE(advise_einval_free_shared)
{
    char *p = a->map(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fx->rw, 0);
    return of_rc(a->advise(p, PG, MADV_FREE));
}
CASE(advise_einval_populate_forbidden) { UNUSED; return of_rc(a->advise(anon_page(a, PROT_READ), PG, MADV_POPULATE_WRITE)); }
CASE(advise_enomem_unmapped) { UNUSED; return of_rc(a->advise(anon_with_hole(a, 2, 1), 2 * PG, MADV_NORMAL)); }
CASE(advise_eperm_hwpoison)
{
    UNUSED;
    char *p = anon_page(a, PROT_READ | PROT_WRITE);
    p[0] = 1;
    if (geteuid() == 0 && setuid(65534) != 0) return skip("cannot drop privileges");
    outcome_t o = of_rc(a->advise(p, PG, MADV_SOFT_OFFLINE));
    if (o.kind == ERR && o.value == EINVAL) return skip("cannot provoke: the kernel lacks CONFIG_MEMORY_FAILURE");
    return o;
}
CASE(advise_eperm_sealed)
{
    UNUSED;
    char *p = anon_page(a, PROT_READ);
    if (!sealed(p, PG)) return skip("cannot provoke: mseal(2) needs Linux 6.10");
    return of_rc(a->advise(p, PG, MADV_DONTNEED));
}

CASE(lock_einval_range_wraps)
{
    UNUSED;
    if (geteuid() != 0) return skip("cannot provoke: needs CAP_IPC_LOCK (without it the limit answers ENOMEM)");
    return of_rc(a->lock(anon_page(a, PROT_READ), SIZE_MAX - PG));
}
CASE(lock_enomem_unmapped) { UNUSED; return of_rc(a->lock(anon_with_hole(a, 2, 1), 2 * PG)); }
CASE(lock_enomem_limit)
{
    UNUSED;
    char *p = anon_with_hole(a, 8, 0);
    if (unprivileged_memlock(PG) != 0) return skip("cannot drop privileges to apply RLIMIT_MEMLOCK");
    return of_rc(a->lock(p, 8 * PG));
}
CASE(lock_eperm_no_limit)
{
    UNUSED;
    char *p = anon_page(a, PROT_READ);
    if (unprivileged_memlock(0) != 0) return skip("cannot drop privileges to apply RLIMIT_MEMLOCK");
    return of_rc(a->lock(p, PG));
}
CASE(unlock_einval_range_wraps) { UNUSED; return of_rc(a->unlock(anon_page(a, PROT_READ), SIZE_MAX - PG)); }
CASE(unlock_enomem_unmapped) { UNUSED; return of_rc(a->unlock(anon_with_hole(a, 2, 1), 2 * PG)); }

static outcome_t of_remap(void *p) { return of_map(p); }
CASE(remap_eagain_memlock)
{
    UNUSED;
    if (unprivileged_memlock(2 * PG) != 0) return skip("cannot drop privileges to apply RLIMIT_MEMLOCK");
    char *p = a->map(NULL, PG, PROT_READ | PROT_WRITE, ANON | MAP_LOCKED, -1, 0);
    if (p == MAP_FAILED) return skip("cannot lock a page");
    return of_remap(a->remap(p, PG, 8 * PG, MREMAP_MAYMOVE));
}
CASE(remap_efault_unmapped) { UNUSED; return of_remap(a->remap(hole(2), PG, 2 * PG, MREMAP_MAYMOVE)); }
CASE(remap_efault_unmapped__past_the_end) { UNUSED; return of_remap(a->remap(anon_with_hole(a, 2, 1), 2 * PG, 3 * PG, MREMAP_MAYMOVE)); }
CASE(remap_einval_unknown_flag) { UNUSED; return of_remap(a->remap(anon_page(a, PROT_READ), PG, PG, 8)); }
CASE(remap_einval_addr_misaligned) { UNUSED; return of_remap(a->remap(anon_page(a, PROT_READ) + 1, PG, 2 * PG, MREMAP_MAYMOVE)); }
CASE(remap_einval_new_size_zero) { UNUSED; return of_remap(a->remap(anon_page(a, PROT_READ), PG, 0, MREMAP_MAYMOVE)); }
CASE(remap_einval_move_without_maymove) { UNUSED; return of_remap(a->remap(anon_page(a, PROT_READ), PG, PG, MREMAP_FIXED, hole(2))); }
CASE(remap_einval_move_without_maymove__dontunmap) { UNUSED; return of_remap(a->remap(anon_page(a, PROT_READ), PG, PG, MREMAP_DONTUNMAP, NULL)); }
CASE(remap_einval_dontunmap_resize)
{
    UNUSED;
    return of_remap(a->remap(anon_page(a, PROT_READ), PG, 2 * PG, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, NULL));
}
CASE(remap_einval_new_address_misaligned)
{
    UNUSED;
    return of_remap(a->remap(anon_page(a, PROT_READ), PG, PG, MREMAP_MAYMOVE | MREMAP_FIXED, hole(2) + 1));
}
CASE(remap_einval_overlap)
{
    UNUSED;
    char *p = anon_with_hole(a, 2, 0);
    return of_remap(a->remap(p, 2 * PG, 2 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, p + PG));
}
CASE(remap_einval_duplicate_private) { UNUSED; return of_remap(a->remap(anon_page(a, PROT_READ), 0, PG, MREMAP_MAYMOVE)); }
CASE(remap_enomem_no_room) { UNUSED; return of_remap(a->remap(anon_with_hole(a, 2, 0), PG, 2 * PG, 0)); }
CASE(remap_eperm_sealed)
{
    UNUSED;
    char *p = anon_page(a, PROT_READ);
    if (!sealed(p, PG)) return skip("cannot provoke: mseal(2) needs Linux 6.10");
    return of_remap(a->remap(p, PG, 2 * PG, MREMAP_MAYMOVE));
}

CASE(resident_efault_vec) { UNUSED; return of_rc(a->resident(anon_page(a, PROT_READ), PG, (unsigned char *)hole(1))); }
CASE(resident_einval_addr_misaligned)
{
    UNUSED;
    unsigned char vec[2];
    return of_rc(a->resident(anon_page(a, PROT_READ) + 1, PG, vec));
}
CASE(resident_enomem_range_wraps)
{
    UNUSED;
    unsigned char vec[2];
    return of_rc(a->resident(anon_page(a, PROT_READ), SIZE_MAX - PG, vec));
}
CASE(resident_enomem_unmapped)
{
    UNUSED;
    unsigned char vec[2];
    return of_rc(a->resident(anon_with_hole(a, 2, 1), 2 * PG, vec));
}

/* ---- behaviour of the six ---- */

CASE(protect_read_only_then_write_faults)
{
    UNUSED;
    char *p = anon_page(a, PROT_READ | PROT_WRITE);
    p[0] = 1;
    if (a->protect(p, PG, PROT_READ) != 0) return err(errno);
    return touch_write(p);
}
CASE(protect_length_zero_ignores_prot) { UNUSED; return of_rc(a->protect(anon_page(a, PROT_READ), 0, 0x4000)); }
CASE(protect_middle_page_then_back)
{
    UNUSED;
    char *p = anon_with_hole(a, 3, 0);
    if (a->protect(p + PG, PG, PROT_NONE) != 0 || a->protect(p + PG, PG, PROT_READ | PROT_WRITE) != 0) return err(errno);
    p[PG] = 1;
    return of_rc(a->unmap(p, 3 * PG));
}
CASE(protect_growsdown_mapping)
{
    UNUSED;
    char *p = a->map(NULL, 2 * PG, PROT_READ | PROT_WRITE, ANON | MAP_GROWSDOWN, -1, 0);
    if (p == MAP_FAILED) return err(errno);
    if (a->protect(p + PG, PG, PROT_READ | PROT_GROWSDOWN) != 0) return err(errno);
    return touch_write(p); /* the change reached down to the mapping's start: SIGSEGV */
}
CASE(advise_dontneed_zeroes_private_memory)
{
    UNUSED;
    char *p = anon_page(a, PROT_READ | PROT_WRITE);
    p[5] = 7;
    if (a->advise(p, PG, MADV_DONTNEED) != 0) return err(errno);
    return p[5] == 0 ? ok() : err(ENOTRECOVERABLE);
}
CASE(advise_length_zero) { UNUSED; return of_rc(a->advise(anon_page(a, PROT_READ), 0, MADV_WILLNEED)); }
CASE(advise_dontfork_child_lacks_the_range)
{
    UNUSED;
    char *p = anon_page(a, PROT_READ | PROT_WRITE);
    if (a->advise(p, PG, MADV_DONTFORK) != 0) return err(errno);
    pid_t pid = fork();
    if (pid == 0) _exit(*(volatile char *)p);
    int status;
    waitpid(pid, &status, 0);
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV ? ok() : err(ENOTRECOVERABLE);
}
CASE(lock_unaligned_range_then_unlock)
{
    UNUSED;
    char *p = anon_with_hole(a, 2, 0);
    if (a->lock(p + 100, PG) != 0) return err(errno);
    return of_rc(a->unlock(p + 100, PG));
}
CASE(lock_length_zero) { UNUSED; return of_rc(a->lock(anon_page(a, PROT_READ) + 10, 0)); }
CASE(remap_grow_in_place_or_move)
{
    UNUSED;
    char *p = anon_page(a, PROT_READ | PROT_WRITE);
    p[0] = 'x';
    char *q = a->remap(p, PG, 4 * PG, MREMAP_MAYMOVE);
    if (q == MAP_FAILED) return err(errno);
    q[3 * PG] = 'y';
    return q[0] == 'x' ? of_rc(a->unmap(q, 4 * PG)) : err(ENOTRECOVERABLE);
}
CASE(remap_shrink_then_tail_faults)
{
    UNUSED;
    char *p = anon_with_hole(a, 3, 0);
    if (a->remap(p, 3 * PG, PG, 0) != p) return err(errno);
    return touch_read(p + PG);
}
CASE(remap_fixed_move_replaces_target)
{
    UNUSED;
    char *p = anon_page(a, PROT_READ | PROT_WRITE), *t = anon_with_hole(a, 2, 0);
    p[0] = 'm';
    t[0] = 't';
    char *q = a->remap(p, PG, PG, MREMAP_MAYMOVE | MREMAP_FIXED, t);
    if (q != t) return err(errno);
    return t[0] == 'm' ? touch_read(p) : err(ENOTRECOVERABLE);
}
CASE(remap_dontunmap_leaves_old_mapped)
{
    UNUSED;
    char *p = anon_page(a, PROT_READ | PROT_WRITE);
    p[0] = 'd';
    char *q = a->remap(p, PG, PG, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, NULL);
    if (q == MAP_FAILED) return err(errno);
    return q[0] == 'd' && p[0] == 0 ? ok() : err(ENOTRECOVERABLE);
}
CASE(remap_duplicate_shared_view)
{
    UNUSED;
    char *p = a->map(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return err(errno);
    char *q = a->remap(p, 0, PG, MREMAP_MAYMOVE);
    if (q == MAP_FAILED) return err(errno);
    q[0] = 's';
    return p[0] == 's' ? ok() : err(ENOTRECOVERABLE);
}
CASE(remap_fifth_argument_ignored_without_fixed)
{
    UNUSED;
    char *p = anon_page(a, PROT_READ);
    return of_remap(a->remap(p, PG, 2 * PG, MREMAP_MAYMOVE, (void *)(uintptr_t)1));
}
CASE(resident_touched_page_is_resident)
{
    UNUSED;
    char *p = anon_with_hole(a, 2, 0);
    p[0] = 1;
    unsigned char vec[2] = {0, 0};
    if (a->resident(p, 2 * PG, vec) != 0) return err(errno);
    return (vec[0] & 1) ? ok() : err(ENOTRECOVERABLE);
}
CASE(resident_length_zero_null_vec) { UNUSED; return of_rc(a->resident(anon_page(a, PROT_READ), 0, NULL)); }

typedef struct {
    const char *name;
    outcome_t (*fn)(const api_t *, fixture_t *);
    enum kind want;
    int want_value;
} case_t;

/* The rows name the outcome each case must provoke (harness.h's E, K and S
 * are for test_t; these are for case_t). */
#undef E
#undef K
#undef S
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
    E(protect_eacces_shared_write_readonly_fd, EACCES),
    E(protect_eacces_deny_write_exec, EACCES),
    E(protect_einval_addr_misaligned, EINVAL),
    E(protect_einval_prot_unknown, EINVAL),
    E(protect_einval_grows_both, EINVAL),
    E(protect_einval_growsdown_not_growsdown, EINVAL),
    E(protect_einval_growsdown_not_growsdown__growsup, EINVAL),
    E(protect_enomem_unmapped, ENOMEM),
    E(protect_enomem_unmapped__hole, ENOMEM),
    E(protect_enomem_range_wraps, ENOMEM),
    E(protect_enomem_range_wraps__before_bad_prot, ENOMEM),
    E(protect_enomem_map_count, ENOMEM),
    E(protect_eperm_sealed, EPERM),
    E(advise_eacces_remove_not_shared_writable, EACCES),
    E(advise_efault_populate_past_eof, EFAULT),
    E(advise_einval_addr_misaligned, EINVAL),
    E(advise_einval_unknown_advice, EINVAL),
    E(advise_einval_range_wraps, EINVAL),
    E(advise_einval_range_wraps__top, EINVAL),
    E(advise_einval_dontneed_locked, EINVAL),
    E(advise_einval_remove_anonymous, EINVAL),
    E(advise_einval_free_shared, EINVAL),
    E(advise_einval_populate_forbidden, EINVAL),
    E(advise_enomem_unmapped, ENOMEM),
    E(advise_eperm_hwpoison, EPERM),
    E(advise_eperm_sealed, EPERM),
    E(lock_einval_range_wraps, EINVAL),
    E(lock_enomem_unmapped, ENOMEM),
    E(lock_enomem_limit, ENOMEM),
    E(lock_eperm_no_limit, EPERM),
    E(unlock_einval_range_wraps, EINVAL),
    E(unlock_enomem_unmapped, ENOMEM),
    E(remap_eagain_memlock, EAGAIN),
    E(remap_efault_unmapped, EFAULT),
    E(remap_efault_unmapped__past_the_end, EFAULT),
    E(remap_einval_unknown_flag, EINVAL),
    E(remap_einval_addr_misaligned, EINVAL),
    E(remap_einval_new_size_zero, EINVAL),
    E(remap_einval_move_without_maymove, EINVAL),
    E(remap_einval_move_without_maymove__dontunmap, EINVAL),
    E(remap_einval_dontunmap_resize, EINVAL),
    E(remap_einval_new_address_misaligned, EINVAL),
    E(remap_einval_overlap, EINVAL),
    E(remap_einval_duplicate_private, EINVAL),
    E(remap_enomem_no_room, ENOMEM),
    E(remap_eperm_sealed, EPERM),
    E(resident_efault_vec, EFAULT),
    E(resident_einval_addr_misaligned, EINVAL),
    E(resident_enomem_range_wraps, ENOMEM),
    E(resident_enomem_unmapped, ENOMEM),
    S(protect_read_only_then_write_faults, SIGSEGV),
    K(protect_length_zero_ignores_prot),
    K(protect_middle_page_then_back),
    S(protect_growsdown_mapping, SIGSEGV),
    K(advise_dontneed_zeroes_private_memory),
    K(advise_length_zero),
    K(advise_dontfork_child_lacks_the_range),
    K(lock_unaligned_range_then_unlock),
    K(lock_length_zero),
    K(remap_grow_in_place_or_move),
    S(remap_shrink_then_tail_faults, SIGSEGV),
    S(remap_fixed_move_replaces_target, SIGSEGV),
    K(remap_dontunmap_leaves_old_mapped),
    K(remap_duplicate_shared_view),
    K(remap_fifth_argument_ignored_without_fixed),
    K(resident_touched_page_is_resident),
    K(resident_length_zero_null_vec),
};

/* One side of a case, in the child that in_child() made. */
typedef struct {
    const case_t *c;
    const api_t *api;
} side_t;

static outcome_t run_side(void *arg)
{
    const side_t *side = arg;
    fixture_t fx = fixture();
    return side->c->fn(side->api, &fx);
}

int main(int argc, char **argv)
{
    harness_init();
    const char *only = argc > 1 ? argv[1] : NULL;
    int compare = !under_valgrind(), passed = 0, failed = 0, skipped = 0;
    for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++) {
        const case_t *c = &CASES[i];
        if (only && strcmp(only, c->name) != 0) continue;
        side_t libc_side = {c, &LIBC}, rmap_side = {c, &RMAP};
        outcome_t l = in_child(run_side, &libc_side);
        outcome_t r = in_child(run_side, &rmap_side);
        char lb[200], rb[200], wb[64];
        describe(l, lb, sizeof lb);
        describe(r, rb, sizeof rb);
        outcome_t want = {c->want, c->want_value, ""};
        int asan_stubs_lock = under_asan() && (strncmp(c->name, "lock_", 5) == 0 || strncmp(c->name, "unlock_", 7) == 0);
        if (!compare || asan_stubs_lock) {
            printf("ran  %s: libc %s, rmap %s (not compared under %s)\n", c->name, lb, rb,
                   compare ? "ASan, whose runtime replaces mlock and munlock" : "valgrind");
            skipped++;
        } else if (l.kind == SKIP && r.kind == SKIP) {
            printf("skip %s: %s\n", c->name, l.why);
            skipped++;
        } else if (same(l, r) && (c->want == SKIP || same(l, want))) {
            printf("ok   %s: libc %s, rmap %s\n", c->name, lb, rb);
            passed++;
        } else {
            printf("FAIL %s: libc %s, rmap %s, expected %s\n", c->name, lb, rb,
                   c->want == SKIP ? "libc's outcome" : describe(want, wb, sizeof wb));
            failed++;
        }
    }
    return finish("conformance", passed, failed, skipped);
}
