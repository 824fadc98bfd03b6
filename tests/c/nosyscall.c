/* nosyscall: the argument errors include/rmap.h says librmap decides before
 * any system call really need none.
 *
 * Each case runs in a child under a seccomp filter that makes mmap, msync,
 * munmap, mprotect, madvise, mlock, munlock, mremap and mincore fail with ENOSYS without reaching the kernel's memory code; the
 * documented errno must still come back. A control case (a valid call)
 * proves the filter works: it must get ENOSYS.
 *
 * Usage: nosyscall [CASE]
 */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <linux/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "harness.h"

/* From here on the nine memory calls fail with ENOSYS without reaching the
 * kernel's memory code. fcntl and fstat, which librmap may use to learn
 * about the fd, stay allowed. */
static void forbid_mapping_syscalls(void)
{
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mmap, 9, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_munmap, 8, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_msync, 7, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mprotect, 6, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_madvise, 5, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mlock, 4, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_munlock, 3, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mremap, 2, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mincore, 1, 0),
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
#define AT ((void *)(uintptr_t)0x10000000)
#define OFF_PAGE ((void *)(uintptr_t)0x10000001)
NOSYSCALL(protect_einval_grows_both) { (void)fx; return of_rc(rmap_protect(OFF_PAGE, 0, PROT_GROWSDOWN | PROT_GROWSUP)); }
NOSYSCALL(protect_einval_addr_misaligned) { (void)fx; return of_rc(rmap_protect(OFF_PAGE, PG, PROT_READ)); }
NOSYSCALL(protect_enomem_range_wraps) { (void)fx; return of_rc(rmap_protect(AT, SIZE_MAX, 0x40)); }
NOSYSCALL(protect_einval_prot_unknown) { (void)fx; return of_rc(rmap_protect(AT, PG, 0x40)); }
NOSYSCALL(advise_einval_addr_misaligned) { (void)fx; return of_rc(rmap_advise(OFF_PAGE, PG, MADV_NORMAL)); }
NOSYSCALL(advise_einval_range_wraps) { (void)fx; return of_rc(rmap_advise(AT, SIZE_MAX, MADV_NORMAL)); }
NOSYSCALL(unlock_einval_range_wraps) { (void)fx; return of_rc(rmap_unlock(AT, SIZE_MAX - 8 * PG)); }
static outcome_t of_remap(void *p) { return of_map(p); }
NOSYSCALL(remap_einval_unknown_flag) { (void)fx; return of_remap(rmap_remap(AT, PG, PG, 8)); }
NOSYSCALL(remap_einval_addr_misaligned) { (void)fx; return of_remap(rmap_remap(OFF_PAGE, PG, PG, MREMAP_MAYMOVE)); }
NOSYSCALL(remap_einval_new_size_zero) { (void)fx; return of_remap(rmap_remap(AT, PG, 0, MREMAP_MAYMOVE)); }
NOSYSCALL(remap_einval_move_without_maymove) { (void)fx; return of_remap(rmap_remap(AT, PG, PG, MREMAP_FIXED, AT)); }
NOSYSCALL(remap_einval_dontunmap_resize)
{
    (void)fx;
    return of_remap(rmap_remap(AT, PG, 2 * PG, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, NULL));
}
NOSYSCALL(resident_einval_addr_misaligned) { (void)fx; unsigned char v[1]; return of_rc(rmap_resident(OFF_PAGE, PG, v)); }
NOSYSCALL(resident_enomem_range_wraps) { (void)fx; unsigned char v[1]; return of_rc(rmap_resident(AT, SIZE_MAX, v)); }
NOSYSCALL(resident_efault_vec) { (void)fx; return of_rc(rmap_resident(AT, PG, (unsigned char *)UINTPTR_MAX)); }
/* The controls: valid calls do reach the (forbidden) system calls. */
NOSYSCALL(control_valid_protect_reaches_the_kernel) { (void)fx; return of_rc(rmap_protect(AT, PG, PROT_READ)); }
NOSYSCALL(control_valid_remap_reaches_the_kernel) { (void)fx; return of_remap(rmap_remap(AT, PG, 2 * PG, MREMAP_MAYMOVE)); }
NOSYSCALL(control_lock_is_never_decided_before) { (void)fx; return of_rc(rmap_lock(AT, SIZE_MAX)); }
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
    NS(protect_einval_grows_both, EINVAL),          NS(protect_einval_addr_misaligned, EINVAL),
    NS(protect_enomem_range_wraps, ENOMEM),         NS(protect_einval_prot_unknown, EINVAL),
    NS(advise_einval_addr_misaligned, EINVAL),      NS(advise_einval_range_wraps, EINVAL),
    NS(unlock_einval_range_wraps, EINVAL),          NS(remap_einval_unknown_flag, EINVAL),
    NS(remap_einval_addr_misaligned, EINVAL),       NS(remap_einval_new_size_zero, EINVAL),
    NS(remap_einval_move_without_maymove, EINVAL),  NS(remap_einval_dontunmap_resize, EINVAL),
    NS(resident_einval_addr_misaligned, EINVAL),    NS(resident_enomem_range_wraps, ENOMEM),
    NS(resident_efault_vec, EFAULT),                NS(control_valid_protect_reaches_the_kernel, ENOSYS),
    NS(control_valid_remap_reaches_the_kernel, ENOSYS), NS(control_lock_is_never_decided_before, ENOSYS),
};


static outcome_t run_case(void *arg)
{
    const nosyscall_t *c = arg;
    fixture_t fx = fixture();
    /* librmap makes room in its registry before a call's system call: a
     * first call made here, so that under the filter no allocation (which
     * may need mmap) comes before the one the case is about. */
    if (rmap_unmap(rmap_map(NULL, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), PG) != 0) die("a first call");
    forbid_mapping_syscalls();
    return c->fn(&fx);
}

int main(int argc, char **argv)
{
    harness_init();
    const char *only = argc > 1 ? argv[1] : NULL;
    int passed = 0, failed = 0, skipped = 0;
    for (size_t i = 0; i < sizeof NOSYSCALL_CASES / sizeof *NOSYSCALL_CASES; i++) {
        const nosyscall_t *c = &NOSYSCALL_CASES[i];
        if (only && strcmp(only, c->name) != 0) continue;
        const char *cannot = under_asan() && strstr(c->name, "lock") ? "ASan's runtime replaces mlock and munlock"
                             : !under_valgrind()                            ? NULL
                             : strcmp(c->name, "control_valid_remap_reaches_the_kernel") == 0
                                 ? "valgrind 3.19 handles mremap itself and crashes on an unmapped range"
                             : strcmp(c->name, "control_lock_is_never_decided_before") == 0
                                 ? "valgrind handles mlock itself and runs out of memory for SIZE_MAX"
                                 : NULL;
        if (cannot) {
            printf("skip %s: %s\n", c->name, cannot);
            skipped++;
            continue;
        }
        outcome_t o = in_child(run_case, (void *)c);
        char buf[200];
        outcome_t want = {ERR, c->want, ""};
        if (same(o, want)) {
            printf("ok   %s: %s with the memory system calls forbidden\n", c->name, describe(o, buf, sizeof buf));
            passed++;
        } else {
            printf("FAIL %s: %s, expected %s\n", c->name, describe(o, buf, sizeof buf), strerrorname_np(c->want));
            failed++;
        }
    }
    return finish("nosyscall", passed, failed, skipped);
}
