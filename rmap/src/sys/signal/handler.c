/* librmap's SIGBUS/SIGSEGV handler: the one function the kernel calls for
 * a fault in this process once librmap installed it (at the first guarded
 * copy or tolerant mapping, or in checked mode at the first file mapping).
 *
 * For a fault of the thread's own access (a synchronous code), in order:
 * a tolerant page (the tolerator, process.rs: zeros in its place, or the
 * access runs again while another thread changes the range) ; a guarded
 * copy's or search's fault, redirected to its fix-up (guarded.c) ; else
 * checked mode's report (the observer) and the program's own action.
 * Every other signal goes straight to the program's action. The handler
 * takes no lock the program could hold: what it reads of librmap's
 * mappings is lock-free (watch.rs), the program's actions are read under
 * a sequence count, and every buffer it writes is its thread's own.
 *
 * The program's actions stay its own: librmap keeps its handler in front
 * of them, through the sigaction, signal and mask functions it exports
 * (ffi.rs) and those other objects' calls are rebound to (rebind.c), and
 * the actions lock here (begin_write) is the one lock for installing and
 * changing handlers: held with every signal blocked, one writer at a
 * time, across fork by the fork handlers. Each action the kernel would
 * take is reproduced exactly: SIG_IGN ignores a sent signal (a fault
 * cannot be ignored: the kernel kills, and so does this), SIG_DFL gets the
 * default action (the signal is sent again, with its information), and a
 * handler runs with its own flags and mask (librmap's handler is installed
 * with the previous one's sa_mask, SA_NODEFER, SA_ONSTACK and SA_RESTART,
 * so the kernel sets them up; SA_RESETHAND is honoured by forgetting the
 * handler after its first signal; SA_SIGINFO decides how it is called).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "protocol.h"

/* ---- The C library's own functions ----
 * librmap exports sigaction, signal, sysv_signal, __sysv_signal, sigprocmask
 * and pthread_sigmask (src/ffi.rs), so its own calls go to the definitions
 * that follow it: __sigaction (which glibc exports, also in libc.a) and the
 * next definitions found with dlsym(RTLD_NEXT). A fully static program has
 * no next definition; there the masks are set with the system call, leaving
 * out the C library's two internal signals as glibc does, and signal() builds
 * its action as glibc does. */
int __sigaction(int sig, const struct sigaction *act, struct sigaction *old);
void rmap_sys_rebind(void); /* rebind.c */

typedef int mask_fn(int how, const sigset_t *set, sigset_t *old);
typedef void (*handler_fn)(int);
typedef handler_fn signal_fn(int sig, handler_fn handler);

static _Atomic(mask_fn *) next_pthread_sigmask, next_sigprocmask;
static _Atomic(signal_fn *) next_signal, next_sysv_signal;

/* The functions that set the mask from memory (see "Masks restored from
 * memory" below). */
typedef void jump_fn(struct __jmp_buf_tag env[1], int val);
typedef int set_context_fn(const ucontext_t *to);
typedef int swap_context_fn(ucontext_t *from, const ucontext_t *to);
static _Atomic(jump_fn *) real_siglongjmp, real_longjmp_chk;
static _Atomic(set_context_fn *) real_setcontext;
static _Atomic(swap_context_fn *) real_swapcontext;
static atomic_int found_next_definitions;

static int mask_by_system_call(int how, const sigset_t *set, sigset_t *old)
{
    sigset_t allowed;
    if (set != NULL && how != SIG_UNBLOCK) {
        allowed = *set;
        for (int sig = 32; sig < SIGRTMIN; sig++) sigdelset(&allowed, sig);
        set = &allowed;
    }
    return syscall(SYS_rt_sigprocmask, how, set, old, _NSIG / 8) == 0 ? 0 : errno;
}

static int process_mask_by_system_call(int how, const sigset_t *set, sigset_t *old)
{
    int error = mask_by_system_call(how, set, old);
    if (error == 0) return 0;
    errno = error;
    return -1;
}

static void *next_definition(const char *name)
{
    return dlsym(RTLD_NEXT, name);
}

/* Runs as a constructor and again before any use, so that a handler never
 * calls dlsym (a program may set signals before librmap's constructor). */
__attribute__((constructor)) static void find_next_definitions(void)
{
    if (atomic_load_explicit(&found_next_definitions, memory_order_acquire)) return;
    mask_fn *mask = mask_by_system_call, *process_mask = process_mask_by_system_call;
    signal_fn *bsd = NULL, *sysv = NULL;
    void *found = next_definition("pthread_sigmask");
    if (found) memcpy(&mask, &found, sizeof mask);
    found = next_definition("sigprocmask");
    if (found) memcpy(&process_mask, &found, sizeof process_mask);
    found = next_definition("signal");
    if (found) memcpy(&bsd, &found, sizeof bsd);
    found = next_definition("__sysv_signal");
    if (found) memcpy(&sysv, &found, sizeof sysv);
    atomic_store_explicit(&next_pthread_sigmask, mask, memory_order_relaxed);
    atomic_store_explicit(&next_sigprocmask, process_mask, memory_order_relaxed);
    atomic_store_explicit(&next_signal, bsd, memory_order_relaxed);
    atomic_store_explicit(&next_sysv_signal, sysv, memory_order_relaxed);
    /* What a call of these names reaches without librmap: the first
     * definition in the global scope (a sanitizer's, else the C library's),
     * not RTLD_NEXT's, which would pass over a preloaded interceptor. */
    jump_fn *jump = NULL, *jump_chk = NULL;
    set_context_fn *set = NULL;
    swap_context_fn *swap = NULL;
    if ((found = dlsym(RTLD_DEFAULT, "siglongjmp")) != NULL) memcpy(&jump, &found, sizeof jump);
    if ((found = dlsym(RTLD_DEFAULT, "__longjmp_chk")) != NULL) memcpy(&jump_chk, &found, sizeof jump_chk);
    if ((found = dlsym(RTLD_DEFAULT, "setcontext")) != NULL) memcpy(&set, &found, sizeof set);
    if ((found = dlsym(RTLD_DEFAULT, "swapcontext")) != NULL) memcpy(&swap, &found, sizeof swap);
    atomic_store_explicit(&real_siglongjmp, jump, memory_order_relaxed);
    atomic_store_explicit(&real_longjmp_chk, jump_chk, memory_order_relaxed);
    atomic_store_explicit(&real_setcontext, set, memory_order_relaxed);
    atomic_store_explicit(&real_swapcontext, swap, memory_order_relaxed);
    atomic_store_explicit(&found_next_definitions, 1, memory_order_release);
}

/* pthread_sigmask of the C library: returns 0 or an errno. */
static int real_mask(int how, const sigset_t *set, sigset_t *old)
{
    find_next_definitions();
    return atomic_load_explicit(&next_pthread_sigmask, memory_order_relaxed)(how, set, old);
}

int rmap_sys_real_mask(int how, const void *set, void *old) { return real_mask(how, set, old); }

/* ---- The actions the program set ----
 * Until librmap installs its handler, the kernel holds them. After, the
 * kernel holds librmap's, and `previous` holds the program's: what it last
 * set through sigaction or signal (librmap passes it on, and shows it to
 * the program). Written with every signal blocked in the writing thread and
 * one writer at a time; read under a sequence count, so a handler never
 * waits on its own thread. */
static struct sigaction previous[2];
static atomic_uint previous_version;
/* What glibc's sigaction adds to every action it hands the kernel
 * (SA_RESTORER and its restorer), read back from the kernel when librmap
 * installs its handler: the program's actions are recorded as the kernel
 * would hold them, so reading one back gives what glibc gives. */
#ifndef SA_RESTORER
#define SA_RESTORER 0x04000000
#endif
static int restorer_flag;
static void (*restorer)(void);

static void as_the_kernel_holds(struct sigaction *sa)
{
    if (!restorer_flag) return;
    sa->sa_flags |= SA_RESTORER;
    sa->sa_restorer = restorer;
}

/* The process id librmap last saw as its own: a vfork child shares this
 * memory with its parent but has an id of its own, and its signal actions
 * are its own (not shared), so it must not write the parent's record. */
static atomic_int own_pid;

static int in_vfork_child(void)
{
    int pid = (int)syscall(SYS_getpid);
    return pid != atomic_load_explicit(&own_pid, memory_order_relaxed);
}

static void note_own_pid(void) { atomic_store_explicit(&own_pid, (int)syscall(SYS_getpid), memory_order_relaxed); }
static atomic_flag previous_writer = ATOMIC_FLAG_INIT;
static atomic_int installed;

int rmap_sys_in_vfork_child(void) { return atomic_load_explicit(&installed, memory_order_relaxed) && in_vfork_child(); }

static int which_signal(int sig) { return sig == SIGBUS ? 0 : 1; }

static void begin_write(sigset_t *saved)
{
    sigset_t all;
    sigfillset(&all);
    real_mask(SIG_SETMASK, &all, saved);
    while (atomic_flag_test_and_set_explicit(&previous_writer, memory_order_acquire)) {}
    atomic_fetch_add_explicit(&previous_version, 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
}

static void end_write(const sigset_t *saved)
{
    atomic_fetch_add_explicit(&previous_version, 1, memory_order_release);
    atomic_flag_clear_explicit(&previous_writer, memory_order_release);
    real_mask(SIG_SETMASK, saved, NULL);
}

/* Held by the forking thread across fork() (from process.rs's fork
 * handlers): a child must not inherit a writer that does not exist in it. */
static __thread sigset_t held_across_fork __attribute__((tls_model("initial-exec")));
void rmap_sys_hold_actions(void) { begin_write(&held_across_fork); }
void rmap_sys_release_actions(void)
{
    /* In the child of a fork (and, harmlessly, the parent): the id the
     * records belong to. */
    note_own_pid();
    end_write(&held_across_fork);
}

/* One of the recorded actions, read under the sequence count. */
static struct sigaction read_recorded(const struct sigaction *recorded)
{
    struct sigaction copy;
    unsigned version;
    do {
        while ((version = atomic_load_explicit(&previous_version, memory_order_acquire)) & 1) {}
        memcpy(&copy, recorded, sizeof copy);
        atomic_thread_fence(memory_order_acquire);
    } while (atomic_load_explicit(&previous_version, memory_order_relaxed) != version);
    return copy;
}

static struct sigaction read_previous(int sig) { return read_recorded(&previous[which_signal(sig)]); }

/* Whether the signal reports a fault of this thread's own access, which
 * runs again when the handler returns: the kernel's synchronous codes. An
 * asynchronous notice (BUS_MCEERR_AO: memory failed somewhere, no access
 * of this thread's; SEGV_MTEAERR) and a signal sent with kill(), sigqueue()
 * or rt_sigqueueinfo() with a code of its own are not. */
static int synchronous(int sig, const siginfo_t *info)
{
    if (info->si_code == SI_KERNEL) return 1;
    if (sig == SIGBUS)
        return info->si_code == BUS_ADRALN || info->si_code == BUS_ADRERR || info->si_code == BUS_OBJERR ||
               info->si_code == BUS_MCEERR_AR;
    /* SEGV_MAPERR (1) to SEGV_CPERR (10), but SEGV_MTEAERR (8): an
     * asynchronous tag check. */
    return info->si_code >= 1 && info->si_code <= 10 && info->si_code != 8;
}

static void default_action(int sig, siginfo_t *info)
{
    /* The default action, as without librmap: a fault runs again when this
     * handler returns and faults again, now with the default action; any
     * other signal is sent again to this thread with the information it
     * came with, and delivered once this handler returns. Either kills. */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    __sigaction(sig, &dfl, NULL);
    if (synchronous(sig, info)) return;
    if (syscall(SYS_rt_tgsigqueueinfo, (long)syscall(SYS_getpid), (long)syscall(SYS_gettid), (long)sig, info) != 0)
        raise(sig);
}

/* Called (in the handler) when a fault of this thread's is about to kill
 * the process (the program's action is SIG_DFL or SIG_IGN): checked mode
 * lists the leaks and the summary first. */
typedef void death_observer_fn(int sig);
static _Atomic(death_observer_fn *) death_observer;
void rmap_sys_set_death_observer(death_observer_fn *observer)
{
    atomic_store_explicit(&death_observer, observer, memory_order_release);
}

static void fatal_fault(int sig, siginfo_t *info)
{
    death_observer_fn *observer = atomic_load_explicit(&death_observer, memory_order_acquire);
    if (observer != NULL) observer(sig);
    default_action(sig, info);
}

/* The last SIGBUS librmap was about to pass on in this thread (see
 * process.rs: a fault is passed on only once it is known current). */
struct pass_pending {
    uintptr_t page;
    uint64_t generation;
};
static __thread struct pass_pending pass_pending __attribute__((tls_model("initial-exec")));

/* The first word of a context's mask: the kernel's whole mask (64
 * signals), and all of it the kernel's frame holds. */
static uint64_t context_mask(const ucontext_t *uc)
{
    uint64_t word;
    memcpy(&word, &uc->uc_sigmask, sizeof word);
    return word;
}

static void set_context_mask(ucontext_t *uc, uint64_t word) { memcpy(&uc->uc_sigmask, &word, sizeof word); }

static uint64_t hidden_bits(unsigned hidden)
{
    return ((hidden & RMAP_HIDDEN_BUS) ? 1ull << (SIGBUS - 1) : 0) |
           ((hidden & RMAP_HIDDEN_SEGV) ? 1ull << (SIGSEGV - 1) : 0);
}

static unsigned hidden_bit(int sig) { return sig == SIGBUS ? RMAP_HIDDEN_BUS : RMAP_HIDDEN_SEGV; }

/* Runs a handler of the program's for a delivery of `sig`, as the kernel
 * would have without librmap:
 * - its copies read the mask the kernel set for it (its sa_mask, or a
 *   sigsuspend's mask, may block SIGBUS or SIGSEGV; so does plain longjmp
 *   out of it, which restores no mask);
 * - its context shows the mask the program set, hidden signals blocked
 *   (mask.c);
 * - when it returns, the kernel puts back the mask the thread had, and
 *   the thread's records are put back with it; unless the handler changed
 *   the mask to return to in its context, which the kernel then sets
 *   exactly (nothing hidden).
 * - the thread's records (a copy's arguments, fault, open frame, count:
 *   protocol.h) are set aside for it and put back after, so the handler
 *   may copy and search while its thread was inside a copy or search.
 * (Under valgrind, which puts back its own copy of the mask, a changed
 * context mask has no effect, with or without librmap.) */
static void run_program_handler(const struct sigaction *handler, int sig, siginfo_t *info, void *context)
{
    ucontext_t *uc = context;
    struct rmap_thread_records records;
    rmap_sys_set_aside_thread_records(&records);
    struct pass_pending passing = pass_pending;
    unsigned hidden = rmap_sys_thread_hidden;
    char checked = rmap_sys_thread_checked;
    uint64_t shown = context_mask(uc) | hidden_bits(hidden);
    set_context_mask(uc, shown);
    rmap_sys_thread_checked = 0;
    if (handler->sa_flags & SA_SIGINFO)
        handler->sa_sigaction(sig, info, context);
    else
        handler->sa_handler(sig);
    if (context_mask(uc) == shown) {
        set_context_mask(uc, shown & ~hidden_bits(hidden));
        rmap_sys_thread_hidden = hidden;
        rmap_sys_thread_checked = checked;
    } else {
        rmap_sys_thread_hidden = 0;
        rmap_sys_thread_checked = 0;
    }
    pass_pending = passing;
    rmap_sys_restore_thread_records(&records);
}

/* A SIGBUS or SIGSEGV sent (kill, tgkill, sigqueue) to a thread that hides
 * it (mask.c): the program blocked it, so it stays pending, as the kernel
 * would have held it. Sent again with its information: to the process, as
 * kill() and sigqueue() send, or to this thread, as tgkill() does (and
 * where the kernel refuses the first: it lets a kill()'s code be sent
 * again only by the thread whose id is the process's). Blocked until this
 * handler returns, and from then by the context's mask. */
static void hold(int sig, siginfo_t *info, void *context)
{
    unsigned hidden = rmap_sys_thread_hidden;
    sigset_t set;
    rmap_sys_hidden_set(hidden, &set);
    real_mask(SIG_BLOCK, &set, NULL);
    ucontext_t *uc = context;
    set_context_mask(uc, context_mask(uc) | hidden_bits(hidden));
    rmap_sys_thread_hidden = 0;
    rmap_sys_thread_checked = 0;
    long pid = (long)syscall(SYS_getpid);
    if (info->si_code == SI_TKILL || syscall(SYS_rt_sigqueueinfo, pid, (long)sig, info) != 0)
        syscall(SYS_rt_tgsigqueueinfo, pid, (long)syscall(SYS_gettid), (long)sig, info);
}

static void chain(int sig, siginfo_t *info, void *context)
{
    struct sigaction handler = read_previous(sig);
    if (handler.sa_handler == SIG_IGN) {
        /* Sent signals and notices stay ignored; a fault cannot be ignored
         * (the kernel forces the default action), so it still kills. */
        if (synchronous(sig, info)) fatal_fault(sig, info);
        return;
    }
    if (handler.sa_handler == SIG_DFL) {
        /* Only a fault is observed: a sent signal may have interrupted
         * this thread inside librmap. */
        if (synchronous(sig, info))
            fatal_fault(sig, info);
        else
            default_action(sig, info);
        return;
    }
    if (handler.sa_flags & SA_RESETHAND) {
        /* One-shot: the next signal gets the default action, as the kernel
         * would have reset it on this delivery. */
        sigset_t saved;
        begin_write(&saved);
        memset(&previous[which_signal(sig)], 0, sizeof previous[0]);
        previous[which_signal(sig)].sa_handler = SIG_DFL;
        end_write(&saved);
    }
    run_program_handler(&handler, sig, info, context);
}

/* Called (in the handler) for each SIGBUS of an access passed on to the
 * program, with whether the access wrote: checked mode reports it. */
typedef void bus_observer_fn(void *addr, int write);
static _Atomic(bus_observer_fn *) bus_observer;
void rmap_sys_set_bus_observer(bus_observer_fn *observer)
{
    atomic_store_explicit(&bus_observer, observer, memory_order_release);
}

/* Asked first about every SIGBUS of an access (process.rs: a tolerant page
 * is replaced by zeros), with whether the access wrote (RMAP_FAULT_WROTE)
 * and whether it is a guarded copy's or search's (RMAP_FAULT_GUARDED);
 * RMAP_RUN_AGAIN means the access may run again. */
typedef int bus_tolerator_fn(void *addr, int how);
static _Atomic(bus_tolerator_fn *) bus_tolerator;
void rmap_sys_set_bus_tolerator(bus_tolerator_fn *tolerator)
{
    atomic_store_explicit(&bus_tolerator, tolerator, memory_order_release);
}

int rmap_sys_faulted_again(uintptr_t page, uint64_t generation)
{
    if (pass_pending.page == page && pass_pending.generation == generation) {
        pass_pending.page = 0;
        return 1;
    }
    pass_pending.page = page;
    pass_pending.generation = generation;
    return 0;
}

static int tolerated(void *addr, void *context)
{
    bus_tolerator_fn *tolerator = atomic_load_explicit(&bus_tolerator, memory_order_acquire);
    if (tolerator == NULL) return RMAP_PASS_ON;
    int how = (rmap_sys_context_wrote(context) ? RMAP_FAULT_WROTE : 0) |
              (rmap_sys_is_guarded_fault(addr, context) ? RMAP_FAULT_GUARDED : 0);
    int saved_errno = errno;
    int again = tolerator(addr, how);
    errno = saved_errno;
    return again;
}

static void on_fault(int sig, siginfo_t *info, void *context)
{
    /* Only a fault of this thread's access is librmap's to handle; every
     * other signal goes to the program's action as it came. */
    if (!synchronous(sig, info)) {
        int saved_errno = errno;
        if (rmap_sys_thread_hidden & hidden_bit(sig))
            hold(sig, info, context);
        else
            chain(sig, info, context);
        errno = saved_errno;
        return;
    }
    /* A tolerant page: replaced, and the faulting instruction (a copy's
     * too: the string move, the small moves and memcpy all resume) runs
     * again. */
    if (sig == SIGBUS && tolerated(info->si_addr, context) == RMAP_RUN_AGAIN) return;
    if (rmap_sys_redirect_guarded_fault(sig, info->si_addr, context)) return;
    int saved_errno = errno;
    bus_observer_fn *observer = atomic_load_explicit(&bus_observer, memory_order_acquire);
    if (sig == SIGBUS && observer != NULL) observer(info->si_addr, rmap_sys_context_wrote(context));
    /* The program blocked it (hidden, mask.c): the kernel kills a thread
     * whose fault it cannot deliver, whatever the action. */
    if (rmap_sys_thread_hidden & hidden_bit(sig))
        fatal_fault(sig, info);
    else
        chain(sig, info, context);
    errno = saved_errno;
}

/* librmap's action in front of the program's action `program`: the kernel
 * blocks what the program's handler would have it block. */
static struct sigaction ours(const struct sigaction *program)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | (program->sa_flags & (SA_ONSTACK | SA_NODEFER | SA_RESTART));
    sa.sa_mask = program->sa_mask;
    return sa;
}

static int is_ours(const struct sigaction *sa)
{
    return (sa->sa_flags & SA_SIGINFO) && sa->sa_sigaction == on_fault;
}

/* ---- The program's handlers of other signals ----
 * Once librmap's handler is installed, every handler the program sets for
 * another signal is installed behind `on_program_signal`, with the
 * program's own mask and flags (the kernel sets up the delivery as it
 * would for the program's handler: SA_RESETHAND, SA_NODEFER, SA_ONSTACK,
 * SA_RESTART, the mask), and recorded in `program_handlers` (written as
 * `previous` is, and shown to the program as its own): for the actions
 * already set when it is installed, and from then on as they are set. A
 * handler runs with a mask the thread's checkpoint did not read and may
 * copy (sigfillset(&sa.sa_mask) is common: without this, a copy there died
 * of SIGBUS), and must see and return to the mask the program set
 * (run_program_handler). */
static struct sigaction program_handlers[_NSIG];

static void on_program_signal(int sig, siginfo_t *info, void *context)
{
    struct sigaction handler = read_recorded(&program_handlers[sig]);
    run_program_handler(&handler, sig, info, context);
}

static int is_in_front_of_program(const struct sigaction *sa)
{
    return (sa->sa_flags & SA_SIGINFO) && sa->sa_sigaction == on_program_signal;
}

static int runs_a_handler(const struct sigaction *sa)
{
    return sa->sa_handler != SIG_DFL && sa->sa_handler != SIG_IGN;
}

/* Sets the program's action `wanted` for `sig` (not SIGBUS or SIGSEGV),
 * behind on_program_signal if it runs a handler. Inside begin_write.
 * Returns 0 or an errno. */
static int set_other_action(int sig, const struct sigaction *wanted)
{
    if (!runs_a_handler(wanted)) return __sigaction(sig, wanted, NULL) == 0 ? 0 : errno;
    struct sigaction front = *wanted;
    front.sa_sigaction = on_program_signal;
    front.sa_flags |= SA_SIGINFO;
    if (__sigaction(sig, &front, NULL) != 0) return errno;
    program_handlers[sig] = *wanted;
    as_the_kernel_holds(&program_handlers[sig]);
    return 0;
}

/* The actions set before librmap's handler was installed. Inside
 * begin_write. */
static void put_in_front_of_program_handlers(void)
{
    for (int sig = 1; sig < _NSIG; sig++) {
        struct sigaction current;
        if (sig == SIGBUS || sig == SIGSEGV || sig == SIGKILL || sig == SIGSTOP) continue;
        /* glibc's own signals (32, 33) are refused: skipped. */
        if (__sigaction(sig, NULL, &current) != 0 || is_in_front_of_program(&current)) continue;
        if (runs_a_handler(&current)) set_other_action(sig, &current);
    }
}

/* The program's action for `sig` (not SIGBUS or SIGSEGV) once librmap's
 * handler is installed: reported as the program set it, and set. Inside
 * begin_write. Returns 0 or an errno. */
static int other_action(int sig, const struct sigaction *wanted, struct sigaction *was)
{
    if (__sigaction(sig, NULL, was) != 0) return errno;
    if (is_in_front_of_program(was)) *was = program_handlers[sig];
    return wanted != NULL ? set_other_action(sig, wanted) : 0;
}

/* Installs (or installs again) the handler for `sig`, the action it
 * replaces becoming the program's. Inside begin_write. Returns 0 or an
 * errno. */
static int install(int sig)
{
    struct sigaction current;
    if (__sigaction(sig, NULL, &current) != 0) return errno;
    if (is_ours(&current)) return 0;
    struct sigaction sa = ours(&current), installed_one;
    if (__sigaction(sig, &sa, NULL) != 0) return errno;
    if (__sigaction(sig, NULL, &installed_one) == 0 && (installed_one.sa_flags & SA_RESTORER)) {
        restorer_flag = 1;
        restorer = installed_one.sa_restorer;
    }
    previous[which_signal(sig)] = current;
    return 0;
}

/* Installs the handler for SIGBUS and SIGSEGV; returns 0 or an errno.
 * Never half installed. */
int rmap_sys_install_fault_handler(void)
{
    sigset_t saved;
    begin_write(&saved);
    struct sigaction bus_before;
    int error = __sigaction(SIGBUS, NULL, &bus_before) != 0 ? errno : install(SIGBUS);
    if (!error) {
        error = install(SIGSEGV);
        if (error) __sigaction(SIGBUS, &bus_before, NULL);
    }
    if (!error) {
        note_own_pid();
        put_in_front_of_program_handlers();
        atomic_store_explicit(&installed, 1, memory_order_relaxed);
    }
    end_write(&saved);
    /* From now on the other objects' calls of the C library's signal
     * functions come here too (rebind.c). */
    if (!error) rmap_sys_rebind();
    return error;
}

/* sigaction() for the program: for SIGBUS and SIGSEGV once librmap's
 * handler is installed, sets and reports the program's action and keeps
 * librmap's in front of it; for another signal, puts on_program_signal in
 * front of a handler. Returns 0 or an errno. */
int rmap_sys_sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    /* A vfork child's actions are its own: the C library's, untouched. */
    if (sig < 1 || sig >= _NSIG || (atomic_load_explicit(&installed, memory_order_relaxed) && in_vfork_child()))
        return __sigaction(sig, act, old) == 0 ? 0 : errno;
    /* Both copied outside the write: a bad pointer faults as it does in the
     * C library, and that fault's handler must not find the writer busy. */
    struct sigaction wanted, was;
    if (act != NULL) wanted = *act;
    int error = 0;
    sigset_t saved;
    begin_write(&saved);
    /* Until librmap's handler is installed the C library's (decided under
     * the write, so an action set while it installs is seen by
     * put_in_front_of_program_handlers). */
    if (!atomic_load_explicit(&installed, memory_order_relaxed)) {
        if (__sigaction(sig, act ? &wanted : NULL, &was) != 0) error = errno;
    } else if (sig != SIGBUS && sig != SIGSEGV) {
        error = other_action(sig, act ? &wanted : NULL, &was);
    } else {
        was = previous[which_signal(sig)];
        if (act != NULL) {
            struct sigaction sa = ours(&wanted);
            if (__sigaction(sig, &sa, NULL) != 0) {
                error = errno;
            } else {
                as_the_kernel_holds(&wanted);
                previous[which_signal(sig)] = wanted;
            }
        }
    }
    end_write(&saved);
    if (!error && old != NULL) *old = was;
    return error;
}

/* signal() (BSD semantics) or sysv_signal() for the program. Returns 0
 * and the previous handler, or an errno. */
int rmap_sys_signal(int sig, handler_fn handler, int sysv, handler_fn *old)
{
    find_next_definitions();
    signal_fn *next = atomic_load_explicit(sysv ? &next_sysv_signal : &next_signal, memory_order_relaxed);
    if (next != NULL && sig != SIGBUS && sig != SIGSEGV) {
        errno = 0;
        *old = next(sig, handler);
        return *old == SIG_ERR ? errno : 0;
    }
    /* As the C library builds it (it also drops SA_RESTART after
     * siginterrupt(), which librmap cannot see). */
    if (handler == SIG_ERR || sig < 1 || sig >= _NSIG) return EINVAL;
    struct sigaction act, was;
    memset(&act, 0, sizeof act);
    act.sa_handler = handler;
    sigemptyset(&act.sa_mask);
    if (sysv) {
        act.sa_flags = SA_RESETHAND | SA_NODEFER;
    } else {
        sigaddset(&act.sa_mask, sig);
        act.sa_flags = SA_RESTART;
    }
    int error = rmap_sys_sigaction(sig, &act, &was);
    if (!error) *old = was.sa_handler;
    return error;
}

/* pthread_sigmask() (or sigprocmask(), with `process`) for the program: on
 * the mask the program set (hidden signals folded back, mask.c), and the
 * calling thread goes back to the checkpoint of guarded.rs, since the new
 * mask may block SIGBUS or SIGSEGV. Returns 0 or an errno. */
int rmap_sys_sigmask(int how, const sigset_t *set, sigset_t *old, int process)
{
    find_next_definitions();
    rmap_sys_fold_hidden();
    rmap_sys_thread_checked = 0;
    int error;
    if (process)
        error = atomic_load_explicit(&next_sigprocmask, memory_order_relaxed)(how, set, old) == 0 ? 0 : errno;
    else
        error = atomic_load_explicit(&next_pthread_sigmask, memory_order_relaxed)(how, set, old);
    /* Again, in case a handler's copy passed the checkpoint in between. */
    rmap_sys_thread_checked = 0;
    return error;
}

/* ---- The C library's signatures, for rebind.c ----
 * The functions other objects' calls of the C library's sigaction, signal,
 * sigprocmask, ... are rebound to: the same functions librmap's exported
 * ones reach (ffi.rs), with the C library's way of reporting errors. */
static int minus_one(int error)
{
    if (!error) return 0;
    errno = error;
    return -1;
}

int rmap_sys_rebound_sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    return minus_one(rmap_sys_sigaction(sig, act, old));
}

static handler_fn signal_for(int sig, handler_fn handler, int sysv)
{
    handler_fn old = SIG_ERR;
    int error = rmap_sys_signal(sig, handler, sysv, &old);
    if (error) errno = error;
    return error ? SIG_ERR : old;
}

handler_fn rmap_sys_rebound_signal(int sig, handler_fn handler) { return signal_for(sig, handler, 0); }
handler_fn rmap_sys_rebound_sysv_signal(int sig, handler_fn handler) { return signal_for(sig, handler, 1); }

int rmap_sys_rebound_sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
    return minus_one(rmap_sys_sigmask(how, set, old, 1));
}

int rmap_sys_rebound_pthread_sigmask(int how, const sigset_t *set, sigset_t *old)
{
    return rmap_sys_sigmask(how, set, old, 0);
}

static int one_signal_mask(int how, int sig)
{
    sigset_t set;
    sigemptyset(&set);
    if (sigaddset(&set, sig) != 0) return -1;
    return rmap_sys_rebound_sigprocmask(how, &set, NULL);
}

int rmap_sys_rebound_sighold(int sig) { return one_signal_mask(SIG_BLOCK, sig); }
int rmap_sys_rebound_sigrelse(int sig) { return one_signal_mask(SIG_UNBLOCK, sig); }

int rmap_sys_rebound_sigignore(int sig)
{
    struct sigaction act;
    memset(&act, 0, sizeof act);
    act.sa_handler = SIG_IGN;
    sigemptyset(&act.sa_mask);
    return rmap_sys_rebound_sigaction(sig, &act, NULL);
}

/* sigset(3), as glibc has it: SIG_HOLD blocks the signal and leaves its
 * action; any other disposition sets the action and unblocks the signal.
 * Returns SIG_HOLD if the signal was blocked, else the previous action. */
handler_fn rmap_sys_rebound_sigset(int sig, handler_fn disposition)
{
    sigset_t set, old_mask;
    sigemptyset(&set);
    if (sigaddset(&set, sig) != 0) return SIG_ERR;
    struct sigaction act, old;
    if (disposition == SIG_HOLD) {
        if (rmap_sys_rebound_sigaction(sig, NULL, &old) != 0) return SIG_ERR;
        if (rmap_sys_rebound_sigprocmask(SIG_BLOCK, &set, &old_mask) != 0) return SIG_ERR;
        return sigismember(&old_mask, sig) ? SIG_HOLD : old.sa_handler;
    }
    memset(&act, 0, sizeof act);
    act.sa_handler = disposition;
    sigemptyset(&act.sa_mask);
    if (rmap_sys_rebound_sigaction(sig, &act, &old) != 0) return SIG_ERR;
    if (rmap_sys_rebound_sigprocmask(SIG_UNBLOCK, &set, &old_mask) != 0) return SIG_ERR;
    return sigismember(&old_mask, sig) ? SIG_HOLD : old.sa_handler;
}

/* The kernel's action for SIGBUS or SIGSEGV can still change behind
 * librmap's back (a system call made directly, sigset(), sigignore(), a
 * library loaded with RTLD_LOCAL that calls the C library's sigaction).
 * Where it became SIG_DFL or SIG_IGN, librmap installs its handler again in
 * front of it. (A handler installed that way stays: the contract is that it
 * passes on the faults it does not handle, and installing over it could
 * loop with one that restores its saved action, librmap's.) Returns how
 * many were installed again, or -errno. */
int rmap_sys_reinstall_over_default(void)
{
    int again = 0, error = 0;
    const int sigs[] = {SIGBUS, SIGSEGV};
    sigset_t saved;
    begin_write(&saved);
    for (int i = 0; i < 2 && !error; i++) {
        struct sigaction current;
        if (__sigaction(sigs[i], NULL, &current) != 0) {
            error = errno;
        } else if (!is_ours(&current) && (current.sa_handler == SIG_DFL || current.sa_handler == SIG_IGN)) {
            error = install(sigs[i]);
            again += !error;
        }
    }
    end_write(&saved);
    /* Objects loaded since the last checkpoint are rewritten now. */
    rmap_sys_rebind();
    return error ? -error : again;
}

/* ---- Masks restored from memory ----
 * siglongjmp (and longjmp, the same function in glibc; __longjmp_chk under
 * _FORTIFY_SOURCE) to a buffer that saved the mask, setcontext and
 * swapcontext set the thread's mask with the C library's internal calls,
 * which nothing rebinds: a thread whose copies passed their checkpoint
 * could be sent back to a mask that blocks SIGBUS. Other objects' calls of
 * them are rebound to these (rebind.c), which send the thread back to its
 * checkpoint first, the hidden signals folded back (mask.c: the mask
 * restored is one the program set, saved with nothing hidden). Only reached
 * through rewritten GOT entries, which exist only where the loader found
 * the definitions these call. */
static void before_restoring_a_mask(void)
{
    rmap_sys_fold_hidden();
    rmap_sys_thread_checked = 0;
}

void rmap_sys_rebound_siglongjmp(struct __jmp_buf_tag env[1], int val)
{
    if (env->__mask_was_saved) before_restoring_a_mask();
    atomic_load_explicit(&real_siglongjmp, memory_order_relaxed)(env, val);
    __builtin_unreachable();
}

void rmap_sys_rebound_longjmp_chk(struct __jmp_buf_tag env[1], int val)
{
    if (env->__mask_was_saved) before_restoring_a_mask();
    atomic_load_explicit(&real_longjmp_chk, memory_order_relaxed)(env, val);
    __builtin_unreachable();
}

int rmap_sys_rebound_setcontext(const ucontext_t *to)
{
    before_restoring_a_mask();
    return atomic_load_explicit(&real_setcontext, memory_order_relaxed)(to);
}

/* The context saved holds the mask the program set; the one switched to
 * starts unchecked, and so does this one when a swapcontext or setcontext
 * (rebound too) comes back to it. */
int rmap_sys_rebound_swapcontext(ucontext_t *from, const ucontext_t *to)
{
    before_restoring_a_mask();
    return atomic_load_explicit(&real_swapcontext, memory_order_relaxed)(from, to);
}
