/* The signal mask the program set, and the one the kernel holds.
 *
 * The kernel kills a thread that faults with SIGBUS or SIGSEGV blocked, so
 * a copy in a thread whose program blocks them (a sigwait server blocks
 * every signal) must run with them unblocked. Unblocking them around each
 * copy costs two system calls, ~12 times a 4 KiB copy. Instead, at its
 * checkpoint (guarded.rs) such a thread unblocks them in the kernel once
 * and keeps them here as *hidden*: blocked as far as the program can tell,
 * unblocked in the kernel, so its copies take the fast path. Wherever the
 * program could tell the difference, it gets the mask it set:
 * - asking for the mask or changing it (sigprocmask, pthread_sigmask,
 *   sighold, sigrelse, sigset, sigblock, sigsetmask, siggetmask): the
 *   hidden signals are blocked in the kernel again first (folded), and the
 *   C library's function runs on the mask the program set;
 * - a handler of the program's (handler.c's run_program_handler) sees them
 *   blocked in its context, and its return puts the thread back as it was;
 * - a SIGBUS or SIGSEGV sent to a thread that hides it (handler.c's hold)
 *   stays pending, as the kernel would have held it, and a fault outside a
 *   guarded copy kills, as the kernel would have killed;
 * - what saves the mask (sigsetjmp, setjmp, getcontext, swapcontext),
 *   waits with a mask of the program's (sigsuspend, sigpause, pselect,
 *   ppoll, epoll_pwait, epoll_pwait2), or starts a thread or a process
 *   with the mask (pthread_create, posix_spawn, posix_spawnp, system,
 *   popen): folded first; the exec family: the hidden signals blocked in
 *   the kernel for the call, and unblocked again if it returns (a vfork
 *   child shares these records with its parent, so it writes none).
 * Other objects' calls of these are rebound here (rebind.c). Where that
 * cannot reach (a process whose C library is linked in statically, a
 * vfork child), a blocking thread unblocks the two signals around each
 * copy instead, as before. What stays outside (system calls made
 * directly, the C library's internal calls of these: docs/fault-handling.md)
 * sees the kernel's mask.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "protocol.h"

__thread unsigned char rmap_sys_thread_hidden __attribute__((tls_model("initial-exec"), visibility("hidden")));

void rmap_sys_hidden_set(unsigned hidden, void *out)
{
    sigset_t *set = out;
    sigemptyset(set);
    if (hidden & RMAP_HIDDEN_BUS) sigaddset(set, SIGBUS);
    if (hidden & RMAP_HIDDEN_SEGV) sigaddset(set, SIGSEGV);
}

/* ---- The checkpoint ---- */

/* The thread's checkpoint (guarded.rs; librmap's handler is in place):
 * reads the mask; a blocked SIGBUS or SIGSEGV is hidden and unblocked in
 * the kernel, where the calls that could show the difference are rebound.
 * Returns 1 (its copies take the fast path), 2 (they must unblock the two
 * signals themselves), or -errno. */
int rmap_sys_pass_checkpoint(void)
{
    sigset_t mask;
    int error = rmap_sys_real_mask(SIG_BLOCK, NULL, &mask);
    if (error) return -error;
    unsigned blocked = (sigismember(&mask, SIGBUS) == 1 ? RMAP_HIDDEN_BUS : 0) |
                       (sigismember(&mask, SIGSEGV) == 1 ? RMAP_HIDDEN_SEGV : 0);
    if (blocked && (!rmap_sys_rebinding_reaches_libc() || rmap_sys_in_vfork_child())) {
        rmap_sys_thread_checked = 2;
        return 2;
    }
    if (blocked) {
        /* Recorded before the kernel's mask changes: a handler in between
         * sees the same mask either way. */
        rmap_sys_thread_hidden |= blocked;
        sigset_t faults;
        rmap_sys_hidden_set(blocked, &faults);
        if ((error = rmap_sys_real_mask(SIG_UNBLOCK, &faults, NULL)) != 0) {
            rmap_sys_thread_hidden &= ~blocked;
            return -error;
        }
        /* One of them was pending: it came in at the unblock, and the
         * handler held it (blocked again, nothing hidden). Neither can be
         * unblocked without delivering it: this copy unblocks them for its
         * duration (as where they cannot be hidden), and the next copy
         * checks again. */
        if ((rmap_sys_thread_hidden & blocked) != blocked) return 2;
    }
    rmap_sys_thread_checked = 1;
    return 1;
}

/* The vfork child that folded last (its pid): its kernel mask is the
 * program's, though the records it shares with its parent still hide. */
static atomic_int vfork_child_folded;

/* Blocks the hidden signals in the kernel again, so that the kernel's mask
 * is the program's, and sends the thread back to its checkpoint. */
void rmap_sys_fold_hidden(void)
{
    unsigned hidden = rmap_sys_thread_hidden;
    if (!hidden) return;
    int saved_errno = errno;
    sigset_t set;
    rmap_sys_hidden_set(hidden, &set);
    rmap_sys_real_mask(SIG_BLOCK, &set, NULL);
    if (rmap_sys_in_vfork_child()) {
        atomic_store_explicit(&vfork_child_folded, (int)syscall(SYS_getpid), memory_order_relaxed);
    } else {
        /* In this order: a handler in between finds the records true. */
        rmap_sys_thread_hidden = 0;
        rmap_sys_thread_checked = 0;
    }
    errno = saved_errno;
}

/* For the assembly of sigsetjmp, setjmp and getcontext (x86_64.c,
 * aarch64.c), which then jump to the C library's. */
void rmap_sys_fold_before_saving(int saves_mask)
{
    if (saves_mask) rmap_sys_fold_hidden();
}

/* ---- What the rebound names reached before ----
 * The first definition in the global scope (a sanitizer's interceptor,
 * else the C library's), found once, before any rebinding. */
enum next {
    NEXT_SIGSUSPEND,
    NEXT_SIGPAUSE,
    NEXT___SIGPAUSE,
    NEXT___XPG_SIGPAUSE,
    NEXT_SIGBLOCK,
    NEXT_SIGSETMASK,
    NEXT_SIGGETMASK,
    NEXT_PSELECT,
    NEXT_PPOLL,
    NEXT___PPOLL_CHK,
    NEXT_EPOLL_PWAIT,
    NEXT_EPOLL_PWAIT2,
    NEXT_PTHREAD_CREATE,
    NEXT_POSIX_SPAWN,
    NEXT_POSIX_SPAWNP,
    NEXT_SYSTEM,
    NEXT_POPEN,
    NEXT_EXECVE,
    NEXT_EXECV,
    NEXT_EXECVP,
    NEXT_EXECVPE,
    NEXT_FEXECVE,
    NEXT_EXECVEAT,
    NEXT_COUNT
};
static const char *const NEXT_NAMES[NEXT_COUNT] = {
    "sigsuspend", "sigpause",     "__sigpause",   "__xpg_sigpause", "sigblock",       "sigsetmask",
    "siggetmask", "pselect",      "ppoll",        "__ppoll_chk",    "epoll_pwait",    "epoll_pwait2",
    "pthread_create", "posix_spawn", "posix_spawnp", "system",     "popen",          "execve",
    "execv",      "execvp",       "execvpe",      "fexecve",        "execveat",
};
static void *next[NEXT_COUNT];
void *rmap_sys_next_sigsetjmp, *rmap_sys_next_setjmp, *rmap_sys_next_getcontext;

__attribute__((constructor)) static void find_next(void)
{
    for (int i = 0; i < NEXT_COUNT; i++) next[i] = dlsym(RTLD_DEFAULT, NEXT_NAMES[i]);
    rmap_sys_next_sigsetjmp = dlsym(RTLD_DEFAULT, "__sigsetjmp");
    rmap_sys_next_setjmp = dlsym(RTLD_DEFAULT, "setjmp");
    rmap_sys_next_getcontext = dlsym(RTLD_DEFAULT, "getcontext");
}

/* A rebound name whose definition was not found is never rewritten
 * (rebind.c asks), so these are only reached with one. */
int rmap_sys_has_next(const char *name)
{
    for (int i = 0; i < NEXT_COUNT; i++)
        if (strcmp(name, NEXT_NAMES[i]) == 0) return next[i] != NULL;
    if (strcmp(name, "__sigsetjmp") == 0) return rmap_sys_next_sigsetjmp != NULL;
    if (strcmp(name, "setjmp") == 0) return rmap_sys_next_setjmp != NULL;
    if (strcmp(name, "getcontext") == 0) return rmap_sys_next_getcontext != NULL;
    return 1;
}

#define NEXT(index, type) ((type)next[index])

/* ---- Masks asked for and changed (the rest is rmap_sys_sigmask) ---- */
int rmap_sys_rebound_sigblock(int mask)
{
    rmap_sys_fold_hidden();
    return NEXT(NEXT_SIGBLOCK, int (*)(int))(mask);
}

int rmap_sys_rebound_sigsetmask(int mask)
{
    rmap_sys_fold_hidden();
    return NEXT(NEXT_SIGSETMASK, int (*)(int))(mask);
}

int rmap_sys_rebound_siggetmask(void)
{
    rmap_sys_fold_hidden();
    return NEXT(NEXT_SIGGETMASK, int (*)(void))();
}

/* ---- Waits with a mask of the program's ---- */
int rmap_sys_rebound_sigsuspend(const sigset_t *mask)
{
    rmap_sys_fold_hidden();
    return NEXT(NEXT_SIGSUSPEND, int (*)(const sigset_t *))(mask);
}

int rmap_sys_rebound_sigpause(int mask)
{
    rmap_sys_fold_hidden();
    return NEXT(NEXT_SIGPAUSE, int (*)(int))(mask);
}

int rmap_sys_rebound___sigpause(int sig_or_mask, int is_sig)
{
    rmap_sys_fold_hidden();
    return NEXT(NEXT___SIGPAUSE, int (*)(int, int))(sig_or_mask, is_sig);
}

int rmap_sys_rebound_xpg_sigpause(int sig)
{
    rmap_sys_fold_hidden();
    return NEXT(NEXT___XPG_SIGPAUSE, int (*)(int))(sig);
}

int rmap_sys_rebound_pselect(int n, fd_set *r, fd_set *w, fd_set *e, const struct timespec *timeout,
                             const sigset_t *mask)
{
    if (mask != NULL) rmap_sys_fold_hidden();
    return NEXT(NEXT_PSELECT, int (*)(int, fd_set *, fd_set *, fd_set *, const struct timespec *,
                                      const sigset_t *))(n, r, w, e, timeout, mask);
}

int rmap_sys_rebound_ppoll(struct pollfd *fds, nfds_t n, const struct timespec *timeout, const sigset_t *mask)
{
    if (mask != NULL) rmap_sys_fold_hidden();
    return NEXT(NEXT_PPOLL, int (*)(struct pollfd *, nfds_t, const struct timespec *, const sigset_t *))(
        fds, n, timeout, mask);
}

int rmap_sys_rebound_ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *timeout, const sigset_t *mask,
                               size_t fds_len)
{
    if (mask != NULL) rmap_sys_fold_hidden();
    return NEXT(NEXT___PPOLL_CHK,
                int (*)(struct pollfd *, nfds_t, const struct timespec *, const sigset_t *, size_t))(
        fds, n, timeout, mask, fds_len);
}

int rmap_sys_rebound_epoll_pwait(int fd, struct epoll_event *events, int max, int timeout, const sigset_t *mask)
{
    if (mask != NULL) rmap_sys_fold_hidden();
    return NEXT(NEXT_EPOLL_PWAIT, int (*)(int, struct epoll_event *, int, int, const sigset_t *))(
        fd, events, max, timeout, mask);
}

int rmap_sys_rebound_epoll_pwait2(int fd, struct epoll_event *events, int max, const struct timespec *timeout,
                                  const sigset_t *mask)
{
    if (mask != NULL) rmap_sys_fold_hidden();
    return NEXT(NEXT_EPOLL_PWAIT2,
                int (*)(int, struct epoll_event *, int, const struct timespec *, const sigset_t *))(
        fd, events, max, timeout, mask);
}

/* ---- Threads and processes started with the mask ---- */
int rmap_sys_rebound_pthread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*start)(void *),
                                    void *arg)
{
    rmap_sys_fold_hidden();
    return NEXT(NEXT_PTHREAD_CREATE,
                int (*)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *))(thread, attr, start, arg);
}

typedef int spawn_fn(pid_t *, const char *, const posix_spawn_file_actions_t *, const posix_spawnattr_t *,
                     char *const[], char *const[]);

int rmap_sys_rebound_posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *actions,
                                 const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    rmap_sys_fold_hidden();
    return NEXT(NEXT_POSIX_SPAWN, spawn_fn *)(pid, path, actions, attr, argv, envp);
}

int rmap_sys_rebound_posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *actions,
                                  const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    rmap_sys_fold_hidden();
    return NEXT(NEXT_POSIX_SPAWNP, spawn_fn *)(pid, file, actions, attr, argv, envp);
}

int rmap_sys_rebound_system(const char *command)
{
    rmap_sys_fold_hidden();
    return NEXT(NEXT_SYSTEM, int (*)(const char *))(command);
}

FILE *rmap_sys_rebound_popen(const char *command, const char *type)
{
    rmap_sys_fold_hidden();
    return NEXT(NEXT_POPEN, FILE * (*)(const char *, const char *))(command, type);
}

/* ---- The exec family ----
 * The hidden signals are blocked in the kernel for the call only: the new
 * program starts with the mask the program set, and a failed exec returns
 * to the mask as it was. No record is written (a vfork child shares them
 * with its parent); a vfork child that folded already has the program's
 * mask. Returns what it blocked. */
static unsigned block_hidden_for_exec(void)
{
    unsigned hidden = rmap_sys_thread_hidden;
    if (!hidden) return 0;
    if (rmap_sys_in_vfork_child() &&
        atomic_load_explicit(&vfork_child_folded, memory_order_relaxed) == (int)syscall(SYS_getpid))
        return 0;
    sigset_t set;
    rmap_sys_hidden_set(hidden, &set);
    return rmap_sys_real_mask(SIG_BLOCK, &set, NULL) == 0 ? hidden : 0;
}

static int unblock_after_exec(unsigned blocked, int result)
{
    if (blocked) {
        int saved_errno = errno;
        sigset_t set;
        rmap_sys_hidden_set(blocked, &set);
        rmap_sys_real_mask(SIG_UNBLOCK, &set, NULL);
        errno = saved_errno;
    }
    return result;
}

typedef int execve_fn(const char *, char *const[], char *const[]);
typedef int execv_fn(const char *, char *const[]);

int rmap_sys_rebound_execve(const char *path, char *const argv[], char *const envp[])
{
    unsigned blocked = block_hidden_for_exec();
    return unblock_after_exec(blocked, NEXT(NEXT_EXECVE, execve_fn *)(path, argv, envp));
}

int rmap_sys_rebound_execv(const char *path, char *const argv[])
{
    unsigned blocked = block_hidden_for_exec();
    return unblock_after_exec(blocked, NEXT(NEXT_EXECV, execv_fn *)(path, argv));
}

int rmap_sys_rebound_execvp(const char *file, char *const argv[])
{
    unsigned blocked = block_hidden_for_exec();
    return unblock_after_exec(blocked, NEXT(NEXT_EXECVP, execv_fn *)(file, argv));
}

int rmap_sys_rebound_execvpe(const char *file, char *const argv[], char *const envp[])
{
    unsigned blocked = block_hidden_for_exec();
    return unblock_after_exec(blocked, NEXT(NEXT_EXECVPE, execve_fn *)(file, argv, envp));
}

int rmap_sys_rebound_fexecve(int fd, char *const argv[], char *const envp[])
{
    unsigned blocked = block_hidden_for_exec();
    return unblock_after_exec(blocked, NEXT(NEXT_FEXECVE, int (*)(int, char *const[], char *const[]))(fd, argv, envp));
}

int rmap_sys_rebound_execveat(int dirfd, const char *path, char *const argv[], char *const envp[], int flags)
{
    unsigned blocked = block_hidden_for_exec();
    return unblock_after_exec(
        blocked, NEXT(NEXT_EXECVEAT, int (*)(int, const char *, char *const[], char *const[], int))(dirfd, path, argv,
                                                                                                   envp, flags));
}

/* execl, execlp and execle: their arguments gathered as the C library
 * does, then execv, execvp or execve. */
static int exec_list(int which, const char *path, const char *arg, va_list ap)
{
    va_list count;
    va_copy(count, ap);
    size_t n = 1;
    while (va_arg(count, const char *) != NULL) n++;
    va_end(count);
    const char *argv[n + 1];
    argv[0] = arg;
    for (size_t i = 1; i <= n; i++) argv[i] = va_arg(ap, const char *);
    char *const *args = (char *const *)argv;
    if (which == NEXT_EXECVE) return rmap_sys_rebound_execve(path, args, va_arg(ap, char *const *));
    if (which == NEXT_EXECVP) return rmap_sys_rebound_execvp(path, args);
    return rmap_sys_rebound_execv(path, args);
}

int rmap_sys_rebound_execl(const char *path, const char *arg, ...)
{
    va_list ap;
    va_start(ap, arg);
    int result = exec_list(NEXT_EXECV, path, arg, ap);
    va_end(ap);
    return result;
}

int rmap_sys_rebound_execlp(const char *file, const char *arg, ...)
{
    va_list ap;
    va_start(ap, arg);
    int result = exec_list(NEXT_EXECVP, file, arg, ap);
    va_end(ap);
    return result;
}

int rmap_sys_rebound_execle(const char *path, const char *arg, ...)
{
    va_list ap;
    va_start(ap, arg);
    int result = exec_list(NEXT_EXECVE, path, arg, ap);
    va_end(ap);
    return result;
}
