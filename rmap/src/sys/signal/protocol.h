/* The protocol of librmap's signal machinery: what its handler
 * (handler.c), its guarded copies and searches (guarded.c and the
 * assembly of each architecture, x86_64.c and aarch64.c) and the Rust code calling them
 * (sys/signal.rs and sys/signal/x86_64.rs) agree on, in one place: the
 * return codes, the sizes, the fix-up records, the per-thread records, and
 * what each assembly routine changes. sys/signal.rs's tests compare these
 * values with its own (guarded.c exports them as rmap_sys_protocol). */
#ifndef RMAP_SYS_SIGNAL_PROTOCOL_H
#define RMAP_SYS_SIGNAL_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

/* A guarded copy's answers (rmap_sys_guarded_copy and the rest). */
#define RMAP_COPY_DONE 0
/* A fault stopped it: the signal and the address in the thread's last-fault
 * record (rmap_sys_last_fault); the arguments in its copy-arguments record. */
#define RMAP_COPY_FAULTED 1
/* Nothing was copied: the thread has not passed its checkpoint (signal
 * mask read, handler in place: guarded.rs); the arguments in the record. */
#define RMAP_COPY_UNCHECKED 2

/* rmap_sys_find_byte's answers. */
#define RMAP_FIND_NOT_FOUND 0
#define RMAP_FIND_FOUND 1 /* the offset stored at its fourth argument */
#define RMAP_FIND_UNCHECKED 2
#define RMAP_FIND_FAULTED 3
#define RMAP_FIND_NOT_IN_SPAN 4 /* not in the first RMAP_FIND_SPAN bytes of more */

/* What the handler tells the tolerator (process.rs) of a SIGBUS, as bits. */
#define RMAP_FAULT_WROTE 1   /* the access wrote */
#define RMAP_FAULT_GUARDED 2 /* a guarded copy's or search's: its fix-up may answer */
/* What the tolerator answers the handler for a SIGBUS. */
#define RMAP_PASS_ON 0   /* to a guarded copy's fix-up, or the program's action */
#define RMAP_RUN_AGAIN 1 /* the faulting instruction runs again */

/* Sizes. Copies of up to RMAP_SMALL_COPY bytes are inlined into their
 * caller (the Rust assembly of each architecture: below 16 bytes
 * overlapping moves, 16-byte vector moves up to 128, from 129 32-byte AVX
 * moves or, without AVX, a call of rmap_sys_copy_small: overlapping vector
 * moves without a loop), as are
 * those rmap_sys_guarded_copy gets
 * below RMAP_VECTOR_COPY; below RMAP_LARGE_COPY, one string move (`rep movsb` on x86-64); from there the
 * C library's memcpy in a guarded frame. rmap_sys_find_byte searches the
 * first RMAP_FIND_SPAN bytes. */
#define RMAP_SMALL_COPY 256
#define RMAP_VECTOR_COPY 256
#define RMAP_LARGE_COPY 65536
#define RMAP_FIND_SPAN 65536

/* A fix-up record: every instruction of a copy or search that may fault,
 * and where to go when it does, in section rmap_copy_fixups (retained,
 * read-only), each offset relative to its own field's address, as the
 * kernel's exception table: no relocation for the loader. The handler
 * moves the instruction pointer of a fault at `instruction` to `fixup`,
 * which returns RMAP_COPY_FAULTED (or RMAP_FIND_FAULTED). Written in
 * assembly as `.long INSN - ., FIXUP - .`. */
struct rmap_copy_fixup {
    int32_t instruction, fixup;
};

/* The thread's guarded frame: a large copy's call of memcpy, or a guarded
 * call (a search), records the stack pointer to come back to and the
 * range; a fault inside, at an address of the range, resumes at the
 * frame's fix-up with that stack pointer (the callee-saved registers are
 * on that stack). `n` is 0 when no frame is open. The assembly addresses
 * the fields at these offsets. */
struct rmap_guarded_frame {
    void *resume_sp;
    uintptr_t dst, src, n;
};
#define RMAP_FRAME_RESUME_SP 0
#define RMAP_FRAME_DST 8
#define RMAP_FRAME_SRC 16
#define RMAP_FRAME_N 24
_Static_assert(offsetof(struct rmap_guarded_frame, n) == RMAP_FRAME_N, "frame layout");

/* The arguments of the thread's last copy that did not finish
 * (RMAP_COPY_FAULTED or RMAP_COPY_UNCHECKED), so that the fast path keeps
 * nothing across its call. */
struct rmap_copy_args {
    void *dst;
    const void *src;
    size_t n;
};
#define RMAP_ARGS_DST 0
#define RMAP_ARGS_SRC 8
#define RMAP_ARGS_N 16
_Static_assert(offsetof(struct rmap_copy_args, n) == RMAP_ARGS_N, "arguments layout");

/* The per-thread records, initial-exec thread-locals (one load from the
 * thread pointer; never allocated lazily, so the handler may use them). */
extern __thread char rmap_sys_thread_checked;
extern __thread struct rmap_guarded_frame rmap_sys_large_copy;
extern __thread struct rmap_copy_args rmap_sys_copy_args;
/* What the thread's last failed copy or search copied or searched before
 * the page that faulted (rmap_copied), kept here for the handler below. */
extern __thread size_t rmap_sys_last_copied;
/* Everything a copy, search or call leaves in its thread's records for
 * the call that made it to read after (the open frame, the arguments, the
 * fault, the count, rmap-check's caller hint): saved around each handler
 * of the program's and cleared for it (handler.c's run_program_handler),
 * so that a copy in a handler neither changes what the interrupted call
 * reads nor is taken for it. */
struct rmap_thread_records {
    struct rmap_guarded_frame frame;
    struct rmap_copy_args args;
    int fault;
    void *fault_addr;
    size_t copied;
    uintptr_t caller_hint;
};
void rmap_sys_set_aside_thread_records(struct rmap_thread_records *saved);
void rmap_sys_restore_thread_records(const struct rmap_thread_records *saved);
/* The signals this thread's program blocked that librmap unblocked in the
 * kernel at its checkpoint (mask.c), as bits. */
extern __thread unsigned char rmap_sys_thread_hidden;
#define RMAP_HIDDEN_BUS 1
#define RMAP_HIDDEN_SEGV 2

/* The assembly of each architecture (x86_64.c, aarch64.c):
 * - int rmap_sys_guarded_copy(void *dst, const void *src, size_t n): a
 *   RMAP_COPY_* answer, after testing the checkpoint mark.
 * - int rmap_sys_guarded_copy_unchecked(...): the same copy without the
 *   test (one string move).
 * - int rmap_sys_copy_small(...) (x86-64 only: AArch64's guarded copy does
 *   every size itself): 16 to 256 bytes, the mark tested by the caller; it
 *   changes only rax, rcx, xmm0 to xmm7 and the flags and uses no stack
 *   but its return address (the inlined copy calls it from 129 bytes on a
 *   CPU without AVX).
 * - int rmap_sys_guarded_call_raw(const void *base, size_t len,
 *   void (*fn)(void *), void *arg): fn(arg) in a guarded frame over
 *   [base, base + len); 0, or 1 when a fault stopped fn.
 * - int rmap_sys_find_byte(const void *s, size_t n, const unsigned char
 *   *byte, size_t *at): memchr over the first RMAP_FIND_SPAN bytes, a
 *   RMAP_FIND_* answer. On x86-64 `at` is in r9 (not rcx), and it changes
 *   only rax, r10, r11, xmm0 to xmm3 and the flags and uses no stack but
 *   its return address: its Rust caller (sys/signal/x86_64.rs) keeps every
 *   other register.
 * and the interrupted context, as the handler needs it: */
uintptr_t rmap_sys_context_ip(const void *context);
void rmap_sys_context_resume(void *context, uintptr_t ip, uintptr_t sp);
int rmap_sys_context_wrote(const void *context);
/* mprotect made directly, for the rebinding (rebind.c): rmap-check's
 * preload defines mprotect and syscall, and this is no call of the
 * program's. The kernel's answer: 0 or -errno. */
long rmap_sys_raw_mprotect(void *addr, size_t len, int prot);
extern const char rmap_copy_instruction[], rmap_copy_fixup[], rmap_large_copy_fixup[];
int rmap_sys_guarded_copy_unchecked(void *dst, const void *src, size_t n);
int rmap_sys_guarded_call_raw(const void *base, size_t len, void (*fn)(void *), void *arg);

/* guarded.c, for the handler: a fault of a guarded copy, search or call
 * (instruction listed in rmap_copy_fixups, the string move, or an address
 * in the thread's open frame) is redirected to its fix-up and recorded;
 * returns 1 then, else 0. */
int rmap_sys_redirect_guarded_fault(int sig, void *addr, void *context);
/* Whether it is one, without redirecting it. */
int rmap_sys_is_guarded_fault(void *addr, const void *context);

/* handler.c, for guarded.c and mask.c: the C library's pthread_sigmask;
 * whether this is a vfork child (a system call). */
int rmap_sys_real_mask(int how, const void *set, void *old);
int rmap_sys_in_vfork_child(void);
/* rebind.c, for mask.c: whether the C library is a shared object whose
 * callers' GOT entries the rebinding rewrites. */
int rmap_sys_rebinding_reaches_libc(void);
/* mask.c: the hidden signals as a set (a sigset_t *), folded back into the
 * kernel's mask; whether a rebound name's next definition was found; the
 * next definitions the assembly's sigsetjmp, setjmp and getcontext jump to
 * after rmap_sys_fold_before_saving. */
void rmap_sys_hidden_set(unsigned hidden, void *set);
void rmap_sys_fold_hidden(void);
int rmap_sys_has_next(const char *name);
void rmap_sys_fold_before_saving(int saves_mask);
extern void *rmap_sys_next_sigsetjmp, *rmap_sys_next_setjmp, *rmap_sys_next_getcontext;

#endif
