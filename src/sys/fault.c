/* Guarded copies: the one piece of librmap written in C (and assembly).
 *
 * The copy is one `rep movsb` in a tiny assembly function, so its cost is
 * the copy's own (on CPUs with fast string moves, as fast as glibc's memcpy
 * from 4 KiB up). When that instruction faults, the handler sees that the
 * faulting instruction pointer is the `rep movsb`, moves it to a fix-up label
 * that returns 1, and returns: no setjmp per call and no signal-mask system
 * call. The kernel does the same for copy_from_user with its exception
 * tables. (The registers `rep movsb` leaves behind would say how far it got,
 * but valgrind does not keep them exact at a fault; the caller finds the
 * count with a second, page-by-page pass instead.)
 *
 * A fault anywhere else goes to the handler that was installed before
 * librmap's, or, if there was none, gets the default action: the signal is
 * reset to SIG_DFL and the faulting access re-executes, so the process dies
 * of the same signal it would have died of without librmap.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <ucontext.h>

#if !defined(__x86_64__)
#error "librmap's guarded copy is written for x86-64"
#endif

/* int rmap_sys_guarded_copy(void *dst, const void *src, size_t n):
 * returns 0, or 1 when a fault stopped the copy. */
__asm__(".text\n"
        ".globl rmap_sys_guarded_copy\n"
        ".hidden rmap_sys_guarded_copy\n"
        ".type rmap_sys_guarded_copy, @function\n"
        ".p2align 4\n"
        ".globl rmap_copy_instruction, rmap_copy_fixup\n"
        ".hidden rmap_copy_instruction, rmap_copy_fixup\n"
        "rmap_sys_guarded_copy:\n"
        "    mov %rdx, %rcx\n"
        "rmap_copy_instruction:\n"
        "    rep movsb\n"
        "    xor %eax, %eax\n"
        "    ret\n"
        "rmap_copy_fixup:\n"
        "    mov $1, %eax\n"
        "    ret\n"
        ".size rmap_sys_guarded_copy, . - rmap_sys_guarded_copy\n");

extern const char rmap_copy_instruction[], rmap_copy_fixup[];

/* The signal that stopped this thread's last failed copy. initial-exec:
 * writing it in the handler never allocates. */
static __thread volatile int last_fault __attribute__((tls_model("initial-exec")));
static struct sigaction previous_bus, previous_segv;

static void chain(int sig, siginfo_t *info, void *context)
{
    const struct sigaction *prev = sig == SIGBUS ? &previous_bus : &previous_segv;
    if (prev->sa_flags & SA_SIGINFO) {
        prev->sa_sigaction(sig, info, context);
    } else if (prev->sa_handler != SIG_DFL && prev->sa_handler != SIG_IGN) {
        prev->sa_handler(sig);
    } else {
        /* Default action. A fault re-executes and is delivered again, now to
         * SIG_DFL; a signal sent by kill() is raised again. */
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        sigaction(sig, &dfl, NULL);
        if (info->si_code <= 0)
            raise(sig);
    }
}

static void on_fault(int sig, siginfo_t *info, void *context)
{
    ucontext_t *uc = context;
    greg_t *ip = &uc->uc_mcontext.gregs[REG_RIP];
    /* si_code > 0: a real fault, not a signal sent with kill(). */
    if (*ip == (greg_t)rmap_copy_instruction && info->si_code > 0) {
        last_fault = sig;
        *ip = (greg_t)rmap_copy_fixup;
        return;
    }
    int saved_errno = errno;
    chain(sig, info, context);
    errno = saved_errno;
}

/* Installs the handler for SIGBUS and SIGSEGV; returns 0 or an errno. The
 * caller serializes calls; installing twice would make the handler its own
 * "previous" one, so a second call does nothing. */
int rmap_sys_install_fault_handler(void)
{
    struct sigaction current;
    if (sigaction(SIGSEGV, NULL, &current) == 0 && (current.sa_flags & SA_SIGINFO) &&
        current.sa_sigaction == on_fault)
        return 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGBUS, &sa, &previous_bus) != 0)
        return errno;
    if (sigaction(SIGSEGV, &sa, &previous_segv) != 0) {
        /* Never half installed: put SIGBUS back as it was. */
        int error = errno;
        sigaction(SIGBUS, &previous_bus, NULL);
        return error;
    }
    return 0;
}

/* The signal (SIGBUS or SIGSEGV) that stopped this thread's last failed
 * guarded copy. */
int rmap_sys_last_fault(void)
{
    return last_fault;
}
