/* What rmap-check's preload (tools/rmap-check/preload.c, linked with
 * librmap.a) tells librmap, and where reports go: whether the program's
 * calls are interposed, the caller of the call under way, mapping system
 * calls made around librmap, and a copy of the program's first stderr. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

/* The preload calls rmap_sys_start_interposed when it loads, and sets the hint around
 * each call to the program's return address. */
int rmap_sys_interposed __attribute__((visibility("hidden")));

/* Under rmap-check, set once a mapping system call reached the kernel
 * without librmap (the program's syscall(), or a call from a signal
 * handler that interrupted a librmap call of its thread): from then on the
 * registry may hold records the kernel no longer has, and checked mode
 * asks the kernel before it trusts one. */
atomic_int rmap_sys_foreign_change __attribute__((visibility("hidden")));
__attribute__((visibility("hidden"))) void rmap_sys_note_foreign_change(void)
{
    atomic_store_explicit(&rmap_sys_foreign_change, 1, memory_order_relaxed);
}
int rmap_sys_foreign_change_seen(void)
{
    return atomic_load_explicit(&rmap_sys_foreign_change, memory_order_relaxed);
}
__thread uintptr_t rmap_sys_caller_hint_value __attribute__((tls_model("initial-exec"), visibility("hidden")));
uintptr_t rmap_sys_caller_hint(void) { return rmap_sys_caller_hint_value; }

/* A copy of the stderr the program started with, as valgrind keeps one:
 * reports still reach it after the program closes or redirects fd 2 (sort
 * closes it before the exit handlers that report leaks run). Above the
 * descriptors programs use, close-on-exec (each program executed takes its
 * own copy), and trusted only while it is still the same file: a program
 * that closes every descriptor may reuse the number for one of its own. */
static int stderr_copy = -1;
static dev_t stderr_copy_dev;
static ino_t stderr_copy_ino;

__attribute__((visibility("hidden"))) void rmap_sys_start_interposed(void)
{
    rmap_sys_interposed = 1;
    struct stat st;
    int fd = fcntl(2, F_DUPFD_CLOEXEC, 100);
    if (fd < 0) return;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return;
    }
    stderr_copy_dev = st.st_dev;
    stderr_copy_ino = st.st_ino;
    stderr_copy = fd;
}

/* Where a report goes when no log file is named. */
int rmap_sys_report_stderr(void)
{
    struct stat st;
    if (stderr_copy >= 0 && fstat(stderr_copy, &st) == 0 && st.st_dev == stderr_copy_dev &&
        st.st_ino == stderr_copy_ino)
        return stderr_copy;
    return 2;
}
