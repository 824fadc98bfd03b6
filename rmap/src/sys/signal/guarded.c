/* The architecture-independent half of librmap's guarded copies and
 * searches: the per-thread records, the fix-up table's lookup, the
 * redirection of a guarded copy's fault (for the handler), guarded calls,
 * and rmap_find's search. The assembly is in x86_64.c and aarch64.c; the
 * protocol in protocol.h. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "protocol.h"

/* This thread passed its checkpoint (mask.c's rmap_sys_pass_checkpoint):
 * librmap's handler was in place and its signal mask was read, SIGBUS and
 * SIGSEGV unblocked in the kernel (1) or blocked where they cannot be
 * hidden (2); 0 before, and after each mask change. */
__thread char rmap_sys_thread_checked __attribute__((tls_model("initial-exec"), visibility("hidden")));
__thread struct rmap_guarded_frame rmap_sys_large_copy __attribute__((tls_model("initial-exec"), visibility("hidden")));
__thread struct rmap_copy_args rmap_sys_copy_args __attribute__((tls_model("initial-exec"), visibility("hidden")));

/* A token of the calling thread that costs no system call (unlike gettid):
 * the address of one of its thread-locals, initial-exec, so a signal
 * handler may ask too. Unique among live threads. */
static __thread char thread_token __attribute__((tls_model("initial-exec")));
uintptr_t rmap_sys_thread_token(void) { return (uintptr_t)&thread_token; }

/* The values of protocol.h, for sys/signal.rs's test. */
const long rmap_sys_protocol[] = {
    RMAP_COPY_DONE,       RMAP_COPY_FAULTED,  RMAP_COPY_UNCHECKED,  RMAP_FIND_NOT_FOUND,
    RMAP_FIND_FOUND,      RMAP_FIND_UNCHECKED, RMAP_FIND_FAULTED,   RMAP_FIND_NOT_IN_SPAN,
    RMAP_PASS_ON,         RMAP_RUN_AGAIN,     RMAP_FAULT_WROTE,     RMAP_FAULT_GUARDED,
    RMAP_SMALL_COPY,      RMAP_VECTOR_COPY,
    RMAP_LARGE_COPY,      RMAP_FIND_SPAN,     sizeof(struct rmap_copy_fixup),
    sizeof(struct rmap_copy_args),
};

void rmap_sys_failed_copy_args(void **dst, const void **src, size_t *n)
{
    *dst = rmap_sys_copy_args.dst;
    *src = rmap_sys_copy_args.src;
    *n = rmap_sys_copy_args.n;
}

extern const struct rmap_copy_fixup __start_rmap_copy_fixups[] __attribute__((visibility("hidden")));
extern const struct rmap_copy_fixup __stop_rmap_copy_fixups[] __attribute__((visibility("hidden")));

static uintptr_t fixup_of(uintptr_t ip)
{
    for (const struct rmap_copy_fixup *f = __start_rmap_copy_fixups; f < __stop_rmap_copy_fixups; f++)
        if ((uintptr_t)&f->instruction + (intptr_t)f->instruction == ip)
            return (uintptr_t)&f->fixup + (intptr_t)f->fixup;
    return 0;
}

/* Whether a fault at `addr` belongs to this thread's open guarded frame. */
static int in_large_copy(uintptr_t addr)
{
    const struct rmap_guarded_frame *c = &rmap_sys_large_copy;
    return c->n != 0 && ((addr - c->src) < c->n || (addr - c->dst) < c->n);
}

/* The signal and faulting address of this thread's last failed copy.
 * initial-exec: writing them in the handler never allocates. */
static __thread volatile int last_fault __attribute__((tls_model("initial-exec")));
static __thread void *volatile last_fault_addr __attribute__((tls_model("initial-exec")));

__thread size_t rmap_sys_last_copied __attribute__((tls_model("initial-exec"), visibility("hidden")));
size_t rmap_sys_get_last_copied(void) { return rmap_sys_last_copied; }
void rmap_sys_set_last_copied(size_t n) { rmap_sys_last_copied = n; }

extern __thread uintptr_t rmap_sys_caller_hint_value; /* interposed.c */

void rmap_sys_set_aside_thread_records(struct rmap_thread_records *saved)
{
    saved->frame = rmap_sys_large_copy;
    saved->args = rmap_sys_copy_args;
    saved->fault = last_fault;
    saved->fault_addr = last_fault_addr;
    saved->copied = rmap_sys_last_copied;
    saved->caller_hint = rmap_sys_caller_hint_value;
    /* No frame is open for the handler: a fault of its own in the range of
     * a copy it interrupted is its own. */
    rmap_sys_large_copy.n = 0;
}

void rmap_sys_restore_thread_records(const struct rmap_thread_records *saved)
{
    rmap_sys_large_copy = saved->frame;
    rmap_sys_copy_args = saved->args;
    last_fault = saved->fault;
    last_fault_addr = saved->fault_addr;
    rmap_sys_last_copied = saved->copied;
    rmap_sys_caller_hint_value = saved->caller_hint;
}

int rmap_sys_is_guarded_fault(void *addr, const void *context)
{
    uintptr_t ip = rmap_sys_context_ip(context);
    return ip == (uintptr_t)rmap_copy_instruction || fixup_of(ip) != 0 || in_large_copy((uintptr_t)addr);
}

int rmap_sys_redirect_guarded_fault(int sig, void *addr, void *context)
{
    uintptr_t ip = rmap_sys_context_ip(context), to = 0, sp = 0;
    if (ip == (uintptr_t)rmap_copy_instruction) {
        to = (uintptr_t)rmap_copy_fixup;
    } else if ((to = fixup_of(ip)) != 0) {
    } else if (in_large_copy((uintptr_t)addr)) {
        to = (uintptr_t)rmap_large_copy_fixup;
        sp = (uintptr_t)rmap_sys_large_copy.resume_sp;
    } else {
        return 0;
    }
    last_fault = sig;
    last_fault_addr = addr;
    rmap_sys_context_resume(context, to, sp);
    return 1;
}

/* The guarded copy with SIGBUS and SIGSEGV unblocked in this thread for its
 * duration (a blocked synchronous fault would kill: the kernel unblocks it
 * and forces the default action). Returns as the copy does, or -errno. */
int rmap_sys_guarded_copy_unblocked(void *dst, const void *src, size_t n)
{
    sigset_t faults, old;
    sigemptyset(&faults);
    sigaddset(&faults, SIGBUS);
    sigaddset(&faults, SIGSEGV);
    int error = rmap_sys_real_mask(SIG_UNBLOCK, &faults, &old);
    if (error) return -error;
    int copied = rmap_sys_guarded_copy_unchecked(dst, src, n);
    rmap_sys_real_mask(SIG_SETMASK, &old, NULL);
    return copied;
}

/* rmap_sys_guarded_call_raw (protocol.h): fn must be a function that can
 * be left at any instruction: it holds no lock, allocates nothing, and
 * leaves nothing half-written that outlives it (a search). */

/* rmap_sys_guarded_call_raw, with SIGBUS and SIGSEGV unblocked in this
 * thread for the call when `unblock` (two more system calls); -errno if
 * the mask cannot be set. */
/* The guarded frame covers the pages [base, base + len) touches, not only
 * its bytes: the C library's vector routines read aligned blocks that may
 * begin before the range (memrchr of 20 bytes reads 32 from below them),
 * though never in a page the range does not touch. */
int rmap_sys_guarded_call(const void *base, size_t len, void (*fn)(void *), void *arg, int unblock)
{
    static size_t page_mask;
    if (!page_mask) page_mask = (size_t)sysconf(_SC_PAGESIZE) - 1;
    uintptr_t lo = (uintptr_t)base & ~page_mask;
    uintptr_t hi = ((uintptr_t)base + len + page_mask) & ~page_mask;
    if (hi < lo) hi = UINTPTR_MAX & ~page_mask; /* the range reaches the top */
    base = (const void *)lo;
    len = hi - lo;
    if (!unblock) return rmap_sys_guarded_call_raw(base, len, fn, arg);
    sigset_t faults, old;
    sigemptyset(&faults);
    sigaddset(&faults, SIGBUS);
    sigaddset(&faults, SIGSEGV);
    int error = rmap_sys_real_mask(SIG_UNBLOCK, &faults, &old);
    if (error) return -error;
    int faulted = rmap_sys_guarded_call_raw(base, len, fn, arg);
    rmap_sys_real_mask(SIG_SETMASK, &old, NULL);
    return faulted;
}

int rmap_sys_thread_is_checked(void) { return rmap_sys_thread_checked; }

/* rmap_find's search, in a guarded call: the C library's memchr, memmem
 * and memrchr hold no lock and allocate nothing, so they can be left at any
 * instruction. The last occurrence of a longer needle: memrchr of its first
 * byte, then memcmp (worst case n * m, as CPython's rfind). */
struct search {
    const char *haystack;
    size_t n;
    const char *needle;
    size_t m;
    int last;
    const char *found;
};

static void run_search(void *arg)
{
    struct search *s = arg;
    if (s->m == 1) {
        s->found = s->last ? memrchr(s->haystack, s->needle[0], s->n) : memchr(s->haystack, s->needle[0], s->n);
    } else if (!s->last) {
        s->found = memmem(s->haystack, s->n, s->needle, s->m);
    } else {
        s->found = NULL;
        for (size_t starts = s->n - s->m + 1; starts > 0;) {
            const char *candidate = memrchr(s->haystack, s->needle[0], starts);
            if (candidate == NULL) break;
            if (memcmp(candidate, s->needle, s->m) == 0) {
                s->found = candidate;
                break;
            }
            starts = (size_t)(candidate - s->haystack);
        }
    }
}

/* The search of the m bytes at needle (m >= 1, m <= n) in [haystack,
 * haystack + n), guarded: 0 (*at the offset found, or unchanged), 1 when a
 * fault stopped it, or -errno (see rmap_sys_guarded_call). */
int rmap_sys_guarded_search(const void *haystack, size_t n, const void *needle, size_t m, int last, int unblock,
                            size_t *at)
{
    struct search s = {haystack, n, needle, m, last, NULL};
    if (m == 0 || m > n) return 0;
    int result = rmap_sys_guarded_call(haystack, n, run_search, &s, unblock);
    if (result == 0 && s.found != NULL) *at = (size_t)(s.found - (const char *)haystack);
    return result;
}

/* The signal (SIGBUS or SIGSEGV) that stopped this thread's last failed
 * guarded copy, and the address that faulted. */
int rmap_sys_last_fault(void **addr)
{
    *addr = last_fault_addr;
    return last_fault;
}
