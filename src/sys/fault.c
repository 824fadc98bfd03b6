/* Guarded copies: the one piece of librmap written in C.
 *
 * Why C: recovering from SIGBUS/SIGSEGV means jumping out of the signal
 * handler back into the copy, which is sigsetjmp/siglongjmp. A function that
 * returns twice cannot be called soundly from Rust, so the jump target and
 * the handler live here, and Rust sees two plain functions.
 *
 * The handler recovers a fault only when the faulting thread is inside a
 * guarded copy and the address lies in one of its two ranges. Every other
 * fault goes to the handler that was installed before librmap's, or, if there
 * was none, gets the default action: the signal is reset to SIG_DFL and the
 * faulting access re-executes, so the process dies of the same signal it
 * would have died of without librmap.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>

struct guard {
    sigjmp_buf env;
    uintptr_t src, dst, len;
    volatile int sig;
    volatile uintptr_t addr;
};

/* initial-exec: reading it in the handler never allocates. */
static __thread struct guard *volatile current __attribute__((tls_model("initial-exec")));
static struct sigaction previous_bus, previous_segv;

static int inside(uintptr_t addr, uintptr_t start, uintptr_t len)
{
    return addr - start < len;
}

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
    int saved_errno = errno;
    struct guard *g = current;
    uintptr_t addr = (uintptr_t)info->si_addr;
    if (g && info->si_code > 0 && (inside(addr, g->src, g->len) || inside(addr, g->dst, g->len))) {
        g->sig = sig;
        g->addr = addr;
        /* sigsetjmp did not save the mask (that would cost a system call per
         * copy), so unblock the signal the kernel blocked for this handler. */
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, sig);
        sigprocmask(SIG_UNBLOCK, &set, NULL);
        siglongjmp(g->env, 1);
    }
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
    if (sigaction(SIGBUS, &sa, &previous_bus) != 0 || sigaction(SIGSEGV, &sa, &previous_segv) != 0)
        return errno;
    return 0;
}

/* Copies n bytes. Returns 0, or the signal that stopped the copy, with the
 * faulting address in *fault_addr. Bytes may have been copied in any order. */
int rmap_sys_guarded_copy(void *dst, const void *src, size_t n, uintptr_t *fault_addr)
{
    struct guard g;
    g.src = (uintptr_t)src;
    g.dst = (uintptr_t)dst;
    g.len = n;
    g.sig = 0;
    if (sigsetjmp(g.env, 0)) {
        current = NULL;
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        *fault_addr = g.addr;
        return g.sig;
    }
    current = &g;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    memcpy(dst, src, n);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    current = NULL;
    return 0;
}
