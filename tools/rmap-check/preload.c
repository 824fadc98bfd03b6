/* rmap-check's preload: the C library's mapping calls, routed to librmap.
 *
 * Loaded with LD_PRELOAD by rmap-check(1), this library defines mmap,
 * mmap64, munmap, msync, mprotect, madvise, mremap, mlock, munlock and
 * mincore, so that every such call a program makes through the PLT (its
 * own, and every library's) goes to librmap's rmap_* function, in checked
 * mode; and syscall, to notice mapping system calls made around them. It is
 * linked with librmap.a and exports only those eleven names (exports.map):
 * librmap.so keeps exporting only rmap_*.
 *
 * librmap never calls back into these names: its system calls are made
 * directly (src/sys). A call made while this thread is already inside one
 * (a signal handler interrupting it) goes straight to the kernel, unchecked,
 * rather than waiting for the registry lock its own thread holds.
 *
 * Written in C because each entry takes the program's return address
 * (__builtin_return_address), which stable Rust cannot read: librmap
 * reports it as the calling location.
 */
#define _GNU_SOURCE
#include <rmap.h>

#include <dlfcn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <string.h>
#include <strings.h>
#include <sys/syscall.h>
#include <unistd.h>

/* librmap's (src/sys/interposed.c), linked in from librmap.a. */
extern __thread uintptr_t rmap_sys_caller_hint_value;
void rmap_sys_start_interposed(void);
void rmap_sys_note_foreign_change(void);

/* syscall(2), for the program: a mapping system call made through it
 * reaches the kernel without librmap, so librmap is told that its records
 * may no longer be the kernel's (and asks the kernel before trusting one
 * from then on). Every call goes on to the C library's syscall, whose six
 * argument registers are passed as they came. */
typedef long syscall_fn(long, long, long, long, long, long, long);
static syscall_fn *_Atomic next_syscall;

long syscall(long number, ...)
{
    va_list args;
    va_start(args, number);
    long a[6];
    for (int i = 0; i < 6; i++) a[i] = va_arg(args, long);
    va_end(args);
    switch (number) {
    case SYS_mmap:
    case SYS_munmap:
    case SYS_mremap:
    case SYS_mprotect:
    case SYS_pkey_mprotect:
    case SYS_shmat:
    case SYS_shmdt:
        rmap_sys_note_foreign_change();
    }
    syscall_fn *next = atomic_load_explicit(&next_syscall, memory_order_relaxed);
    if (!next) {
        void *found = dlsym(RTLD_NEXT, "syscall");
        memcpy(&next, &found, sizeof next);
        atomic_store_explicit(&next_syscall, next, memory_order_relaxed);
    }
    return next(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}

static __thread int inside;

/* Runs `routed` (a librmap call) with the caller's location handed to
 * librmap, or `direct` (the system call itself) when already inside one. */
#define ROUTE(type, direct, routed)                                                                                 \
    do {                                                                                                            \
        if (inside) return (type)(direct);                                                                          \
        inside = 1;                                                                                                 \
        rmap_sys_caller_hint_value = (uintptr_t)__builtin_return_address(0);                                        \
        type result = (routed);                                                                                     \
        rmap_sys_caller_hint_value = 0;                                                                             \
        inside = 0;                                                                                                 \
        return result;                                                                                              \
    } while (0)

void *mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset)
{
    ROUTE(void *, syscall(SYS_mmap, addr, length, prot, flags, fd, offset),
          rmap_map(addr, length, prot, flags, fd, offset));
}

void *mmap64(void *addr, size_t length, int prot, int flags, int fd, off_t offset) __attribute__((alias("mmap")));

int munmap(void *addr, size_t length)
{
    ROUTE(int, syscall(SYS_munmap, addr, length), rmap_unmap(addr, length));
}

int msync(void *addr, size_t length, int flags)
{
    ROUTE(int, syscall(SYS_msync, addr, length, flags), rmap_sync(addr, length, flags));
}

int mprotect(void *addr, size_t length, int prot)
{
    ROUTE(int, syscall(SYS_mprotect, addr, length, prot), rmap_protect(addr, length, prot));
}

int madvise(void *addr, size_t length, int advice)
{
    ROUTE(int, syscall(SYS_madvise, addr, length, advice), rmap_advise(addr, length, advice));
}

int mlock(const void *addr, size_t length)
{
    ROUTE(int, syscall(SYS_mlock, addr, length), rmap_lock(addr, length));
}

int munlock(const void *addr, size_t length)
{
    ROUTE(int, syscall(SYS_munlock, addr, length), rmap_unlock(addr, length));
}

int mincore(void *addr, size_t length, unsigned char *vec)
{
    ROUTE(int, syscall(SYS_mincore, addr, length, vec), rmap_resident(addr, length, vec));
}

/* As glibc's: the fifth argument is read only when the flags use it. */
void *mremap(void *old_address, size_t old_size, size_t new_size, int flags, ...)
{
    void *new_address = NULL;
    if (flags & (MREMAP_FIXED | MREMAP_DONTUNMAP)) {
        va_list args;
        va_start(args, flags);
        new_address = va_arg(args, void *);
        va_end(args);
    }
    ROUTE(void *, syscall(SYS_mremap, old_address, old_size, new_size, flags, new_address),
          rmap_remap(old_address, old_size, new_size, flags, new_address));
}

/* Drops this library from LD_PRELOAD, and RMAP_CHECK (this process keeps
 * its mode: set above), so that programs this one executes run unchecked
 * (rmap-check --trace-children=no), even one linked with librmap. */
static void untrace_children(void)
{
    unsetenv("RMAP_CHECK");
    const char *preload = getenv("LD_PRELOAD");
    if (!preload) return;
    char *kept = malloc(strlen(preload) + 1), *copy = strdup(preload);
    if (!kept || !copy) {
        free(kept);
        free(copy);
        return;
    }
    kept[0] = 0;
    for (char *save = NULL, *item = strtok_r(copy, ": ", &save); item; item = strtok_r(NULL, ": ", &save)) {
        if (strstr(item, "librmap_check.so")) continue;
        if (kept[0]) strcat(kept, ":");
        strcat(kept, item);
    }
    if (kept[0]) setenv("LD_PRELOAD", kept, 1);
    else unsetenv("LD_PRELOAD");
    free(copy);
    free(kept);
}

__attribute__((constructor)) static void start(void)
{
    /* A set-user-ID program's environment is its caller's: the loader
     * preloads only trusted libraries there, and if this one was, it must
     * not take orders from RMAP_CHECK* (as librmap does not). */
    if (getauxval(AT_SECURE)) return;
    rmap_sys_start_interposed();
    /* rmap-check sets RMAP_CHECK to report or abort; loaded without it,
     * this library still checks (and reports). */
    const char *mode = getenv("RMAP_CHECK");
    int abort_mode = mode && (strcasecmp(mode, "abort") == 0 || strcmp(mode, "2") == 0);
    rmap_set_check(abort_mode ? RMAP_CHECK_ABORT : RMAP_CHECK_REPORT);
    const char *children = getenv("RMAP_CHECK_CHILDREN");
    if (children && strcmp(children, "no") == 0) untrace_children();
}
