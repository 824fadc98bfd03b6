/* Guarded copies: the one piece of librmap written in C (and assembly).
 *
 * The copy is one `rep movsb` in a tiny assembly function, so its cost is
 * the copy's own (on CPUs with fast string moves, as fast as glibc's memcpy
 * from 4 KiB up); from 64 KiB up it calls the C library's memcpy. When the
 * copy faults, the handler sees that the faulting instruction pointer is
 * the `rep movsb` (or that the thread is inside its large copy and the
 * address is in its range), records the signal and the faulting address,
 * moves the instruction pointer to a fix-up label that returns 1, and
 * returns: no setjmp per call and no signal-mask system call. The kernel
 * does the same for copy_from_user with its exception tables.
 *
 * A copy first checks, with one %fs-relative load, that its thread passed
 * the checkpoint of guarded.rs (signal mask read, handler in place); until
 * then it returns 2 and copies nothing.
 *
 * Every other fault, and every SIGBUS/SIGSEGV sent with kill(), goes to the
 * program's action (the one before librmap's, or set since through the
 * sigaction and signal that librmap exports), reproduced exactly: SIG_IGN
 * ignores a sent signal (a real fault cannot be ignored: the kernel kills,
 * and so does this), SIG_DFL gets the default action, and a handler runs
 * with its own flags and mask (librmap's handler is installed with the
 * previous one's sa_mask, SA_NODEFER, SA_ONSTACK and SA_RESTART, so the
 * kernel sets them up; SA_RESETHAND is honoured by forgetting the handler
 * after its first signal; SA_SIGINFO decides how it is called).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#if !defined(__x86_64__)
#error "librmap's guarded copy is written for x86-64"
#endif

/* This thread's signal mask was read and blocks neither SIGBUS nor
 * SIGSEGV, and librmap's handler was in place then (see guarded.rs).
 * initial-exec: the copy reads it with one %fs-relative load. */
__thread char rmap_sys_thread_checked __attribute__((tls_model("initial-exec"), visibility("hidden")));

/* A guarded copy of LARGE_COPY bytes or more calls the C library's memcpy
 * (on some CPUs faster than `rep movsb` for large sizes: glibc picks vector
 * loops and non-temporal stores by cache size), with the range and the
 * stack pointer to come back to in this thread-local record. A fault
 * inside that memcpy, at an address of the range, resumes at a fix-up label
 * with that stack pointer; the callee-saved registers are on that stack.
 * (Below LARGE_COPY the extra stores and call would cost a few percent.)
 * A guarded call (rmap_sys_guarded_call_raw: searches) uses the same record. */
#define LARGE_COPY 65536

/* Below this many bytes a guarded copy moves 16 bytes at a time with SSE2
 * (x86-64's baseline): `rep movsb` takes ~30 cycles to start, which is most
 * of a 100-byte copy (Python's readline() and small slices). */
#define VECTOR_COPY 256

struct large_copy {
    void *resume_sp;
    uintptr_t dst, src, n; /* n: 0 when no copy is running */
};
__thread struct large_copy rmap_sys_large_copy __attribute__((tls_model("initial-exec"), visibility("hidden")));

#define STRINGIFY(x) #x
#define STR(x) STRINGIFY(x)

/* The arguments of this thread's last copy that did not finish (returned 1
 * or 2), for the slow path (guarded.rs): the fast path then keeps nothing
 * across the call, so rmap_read needs no stack frame of its own. */
struct copy_args {
    void *dst;
    const void *src;
    size_t n;
};
__thread struct copy_args rmap_sys_copy_args __attribute__((tls_model("initial-exec"), visibility("hidden")));

void rmap_sys_failed_copy_args(void **dst, const void **src, size_t *n)
{
    *dst = rmap_sys_copy_args.dst;
    *src = rmap_sys_copy_args.src;
    *n = rmap_sys_copy_args.n;
}

/* int rmap_sys_guarded_copy(void *dst, const void *src, size_t n):
 * returns 0, 1 when a fault stopped the copy, or 2 (nothing copied) when
 * this thread has not been checked yet; for 1 and 2 its arguments are in
 * rmap_sys_copy_args.
 * int rmap_sys_guarded_copy_unchecked(...): the same copy without the test,
 * always with `rep movsb` (rmap_sys_copy_args unspecified). */
__asm__(".text\n"
        ".globl rmap_sys_guarded_copy, rmap_sys_guarded_copy_unchecked\n"
        ".hidden rmap_sys_guarded_copy, rmap_sys_guarded_copy_unchecked\n"
        ".type rmap_sys_guarded_copy, @function\n"
        ".type rmap_sys_guarded_copy_unchecked, @function\n"
        ".p2align 4\n"
        ".globl rmap_copy_instruction, rmap_copy_fixup, rmap_large_copy_fixup\n"
        ".hidden rmap_copy_instruction, rmap_copy_fixup, rmap_large_copy_fixup\n"

        "rmap_sys_guarded_copy:\n"
        "    mov %rdi, %r8\n"
        "    mov %rsi, %r9\n"
        "    mov %rdx, %r10\n"
        "    mov rmap_sys_thread_checked@gottpoff(%rip), %rax\n"
        "    cmpb $0, %fs:(%rax)\n"
        "    je 1f\n"
        "    cmp $" STR(LARGE_COPY) ", %rdx\n"
        "    jae 3f\n"
        "    cmp $" STR(VECTOR_COPY) ", %rdx\n"
        "    jb 5f\n"
        "rmap_sys_guarded_copy_unchecked:\n"
        "    mov %rdx, %rcx\n"
        "rmap_copy_instruction:\n"
        "    rep movsb\n"
        "    xor %eax, %eax\n"
        "    ret\n"
        "rmap_copy_fixup:\n"
        "    mov $1, %eax\n"
        "    jmp 8f\n"
        /* 16 <= n < VECTOR_COPY: 32 bytes at a time, then the last 32 (again,
         * where they overlap); 16 to 32 bytes: the first 16 and the last 16.
         * Each move is listed in rmap_copy_fixups. */
        "5:  lea -16(%rsi,%rdx), %r11\n"
        "    lea -16(%rdi,%rdx), %rax\n"
        "    cmp $32, %rdx\n"
        "    jbe 9f\n"
        "    mov %rdx, %rcx\n"
        "6:  movdqu (%rsi), %xmm0\n"
        "61: movdqu 16(%rsi), %xmm1\n"
        "7:  movdqu %xmm0, (%rdi)\n"
        "71: movdqu %xmm1, 16(%rdi)\n"
        "    add $32, %rsi\n"
        "    add $32, %rdi\n"
        "    sub $32, %rcx\n"
        "    cmp $32, %rcx\n"
        "    ja 6b\n"
        "    lea -16(%r11), %rsi\n"
        "    lea -16(%rax), %rdi\n"
        "9:  movdqu (%rsi), %xmm0\n"
        "91: movdqu (%r11), %xmm1\n"
        "10: movdqu %xmm0, (%rdi)\n"
        "11: movdqu %xmm1, (%rax)\n"
        "    xor %eax, %eax\n"
        "    ret\n"
        ".pushsection rmap_copy_fixups, \"aR\"\n"
        ".balign 4\n"
        ".long 6b - ., rmap_copy_fixup - .\n"
        ".long 61b - ., rmap_copy_fixup - .\n"
        ".long 7b - ., rmap_copy_fixup - .\n"
        ".long 71b - ., rmap_copy_fixup - .\n"
        ".long 9b - ., rmap_copy_fixup - .\n"
        ".long 91b - ., rmap_copy_fixup - .\n"
        ".long 10b - ., rmap_copy_fixup - .\n"
        ".long 11b - ., rmap_copy_fixup - .\n"
        ".popsection\n"
        "1:  mov $2, %eax\n"
        "8:  mov rmap_sys_copy_args@gottpoff(%rip), %rcx\n"
        "    mov %r8, %fs:(%rcx)\n"
        "    mov %r9, %fs:8(%rcx)\n"
        "    mov %r10, %fs:16(%rcx)\n"
        "    ret\n"
        /* The large copy: save the callee-saved registers, align the stack
         * for the call, record where to come back to. */
        "3:  push %rbx\n"
        "    push %rbp\n"
        "    push %r12\n"
        "    push %r13\n"
        "    push %r14\n"
        "    push %r15\n"
        "    sub $8, %rsp\n"
        "    mov rmap_sys_copy_args@gottpoff(%rip), %rax\n"
        "    mov %rdi, %fs:(%rax)\n"
        "    mov %rsi, %fs:8(%rax)\n"
        "    mov %rdx, %fs:16(%rax)\n"
        "    mov rmap_sys_large_copy@gottpoff(%rip), %rax\n"
        "    mov %rsp, %fs:(%rax)\n"
        "    mov %rdi, %fs:8(%rax)\n"
        "    mov %rsi, %fs:16(%rax)\n"
        "    mov %rdx, %fs:24(%rax)\n"
        "    call memcpy@PLT\n"
        "    xor %ecx, %ecx\n"
        "4:  mov rmap_sys_large_copy@gottpoff(%rip), %rax\n"
        "    movq $0, %fs:24(%rax)\n"
        "    mov %ecx, %eax\n"
        "    add $8, %rsp\n"
        "    pop %r15\n"
        "    pop %r14\n"
        "    pop %r13\n"
        "    pop %r12\n"
        "    pop %rbp\n"
        "    pop %rbx\n"
        "    ret\n"
        "rmap_large_copy_fixup:\n"
        "    mov $1, %ecx\n"
        "    jmp 4b\n"
        /* The guarded call: the same frame and record as the large copy,
         * so a fault resumes at the same fix-up. */
        ".globl rmap_sys_guarded_call_raw\n"
        ".hidden rmap_sys_guarded_call_raw\n"
        ".type rmap_sys_guarded_call_raw, @function\n"
        "rmap_sys_guarded_call_raw:\n"
        "    push %rbx\n"
        "    push %rbp\n"
        "    push %r12\n"
        "    push %r13\n"
        "    push %r14\n"
        "    push %r15\n"
        "    sub $8, %rsp\n"
        "    mov rmap_sys_large_copy@gottpoff(%rip), %rax\n"
        "    mov %rsp, %fs:(%rax)\n"
        "    mov %rdi, %fs:8(%rax)\n"
        "    mov %rdi, %fs:16(%rax)\n"
        "    mov %rsi, %fs:24(%rax)\n"
        "    mov %rcx, %rdi\n"
        "    call *%rdx\n"
        "    xor %ecx, %ecx\n"
        "    jmp 4b\n"
        ".size rmap_sys_guarded_call_raw, . - rmap_sys_guarded_call_raw\n"

        ".size rmap_sys_guarded_copy, . - rmap_sys_guarded_copy\n");

/* int rmap_sys_find_byte(const void *s, size_t n, const unsigned char *byte,
 *                        size_t *at), `at` in r9 (not rcx):
 * memchr for rmap_find's fast path over the first FIND_SPAN bytes, 32 at a
 * time with SSE2 (x86-64's baseline), every load within the range and
 * listed in rmap_copy_fixups. Returns 1 (the offset stored in *at), 0 (not
 * found), 4 (not in the first FIND_SPAN bytes of more), 2 when this thread
 * has not passed its checkpoint, 3 when a fault stopped it (the slow path
 * redoes it). Called from inline assembly (sys/mod.rs): it changes only
 * rax, r10, r11, xmm0 to xmm3 and the flags, and uses no stack but its
 * return address, so its caller keeps everything in registers. */
#define FIND_SPAN 65536
__asm__(".text\n"
        ".globl rmap_sys_find_byte\n"
        ".hidden rmap_sys_find_byte\n"
        ".type rmap_sys_find_byte, @function\n"
        ".p2align 4\n"
        "rmap_sys_find_byte:\n"
        "    mov rmap_sys_thread_checked@gottpoff(%rip), %rax\n"
        "    cmpb $0, %fs:(%rax)\n"
        "    je 7f\n"
        "    mov $" STR(FIND_SPAN) ", %r11\n"
        "    cmp %r11, %rsi\n"
        "    cmovb %rsi, %r11\n"
        "1:  movzbl (%rdx), %eax\n"
        "    mov %rdi, %r10\n"
        "    cmp $16, %r11\n"
        "    jb 5f\n"
        "    movd %eax, %xmm0\n"
        "    punpcklbw %xmm0, %xmm0\n"
        "    punpcklwd %xmm0, %xmm0\n"
        "    pshufd $0, %xmm0, %xmm0\n"
        "    cmp $32, %r11\n"
        "    lea -16(%rdi,%r11), %r11\n" /* from here: the last 16 bytes */
        "    jbe 3f\n"
        "2:  movdqu (%r10), %xmm1\n"
        "21: movdqu 16(%r10), %xmm2\n"
        "    pcmpeqb %xmm0, %xmm1\n"
        "    pcmpeqb %xmm0, %xmm2\n"
        "    movdqa %xmm1, %xmm3\n"
        "    por %xmm2, %xmm3\n"
        "    pmovmskb %xmm3, %eax\n"
        "    test %eax, %eax\n"
        "    jnz 12f\n"
        "    add $32, %r10\n"
        "    lea 16(%r10), %rax\n"
        "    cmp %r11, %rax\n"
        "    jb 2b\n"
        "    lea -16(%r11), %r10\n"
        /* The last 32 bytes (16 to 32 in all: the first 16 and the last
         * 16), overlapping what was searched. */
        "3:  movdqu (%r10), %xmm1\n"
        "31: movdqu (%r11), %xmm2\n"
        "    pcmpeqb %xmm0, %xmm1\n"
        "    pcmpeqb %xmm0, %xmm2\n"
        "    pmovmskb %xmm1, %eax\n"
        "    test %eax, %eax\n"
        "    jnz 4f\n"
        "    pmovmskb %xmm2, %eax\n"
        "    test %eax, %eax\n"
        "    jz 9f\n"
        "    mov %r11, %r10\n"
        "    jmp 4f\n"
        /* A hit in the 32 bytes at r10: which half. */
        "12: pmovmskb %xmm1, %eax\n"
        "    test %eax, %eax\n"
        "    jnz 4f\n"
        "    pmovmskb %xmm2, %eax\n"
        "    add $16, %r10\n"
        "4:  bsf %eax, %eax\n"
        "    add %r10, %rax\n"
        "    sub %rdi, %rax\n"
        "    mov %rax, (%r9)\n"
        "    mov $1, %eax\n"
        "    ret\n"
        /* Fewer than 16 bytes: one at a time. */
        "5:  add %rdi, %r11\n"
        "    cmp %r11, %r10\n"
        "    jae 9f\n"
        "6:  cmpb %al, (%r10)\n"
        "    je 10f\n"
        "    inc %r10\n"
        "    cmp %r11, %r10\n"
        "    jb 6b\n"
        "9:  xor %eax, %eax\n"
        "    cmp $" STR(FIND_SPAN) ", %rsi\n"
        "    jbe 11f\n"
        "    mov $4, %eax\n"
        "11: ret\n"
        "10: mov %r10, %rax\n"
        "    sub %rdi, %rax\n"
        "    mov %rax, (%r9)\n"
        "    mov $1, %eax\n"
        "    ret\n"
        "7:  mov $2, %eax\n"
        "    ret\n"
        "8:  mov $3, %eax\n"
        "    ret\n"
        ".pushsection rmap_copy_fixups, \"aR\"\n"
        ".balign 4\n"
        ".long 1b - ., 8b - .\n"
        ".long 2b - ., 8b - .\n"
        ".long 21b - ., 8b - .\n"
        ".long 3b - ., 8b - .\n"
        ".long 31b - ., 8b - .\n"
        ".long 6b - ., 8b - .\n"
        ".popsection\n"
        ".size rmap_sys_find_byte, . - rmap_sys_find_byte\n");

extern const char rmap_copy_instruction[], rmap_copy_fixup[], rmap_large_copy_fixup[];

/* The small copies (sys/mod.rs: below SMALL_COPY bytes, inlined into
 * rmap_read and rmap_write) list each move that may fault, and where to go
 * when it does, in the section rmap_copy_fixups, as the kernel's exception
 * table does; the linker gives its bounds. */
struct copy_fixup {
    int32_t instruction, fixup; /* each relative to its own address */
};
extern const struct copy_fixup __start_rmap_copy_fixups[] __attribute__((visibility("hidden")));
extern const struct copy_fixup __stop_rmap_copy_fixups[] __attribute__((visibility("hidden")));

static uintptr_t fixup_of(uintptr_t ip)
{
    for (const struct copy_fixup *f = __start_rmap_copy_fixups; f < __stop_rmap_copy_fixups; f++)
        if ((uintptr_t)&f->instruction + (intptr_t)f->instruction == ip)
            return (uintptr_t)&f->fixup + (intptr_t)f->fixup;
    return 0;
}
int rmap_sys_guarded_copy_unchecked(void *dst, const void *src, size_t n);

/* Whether a fault at `addr` belongs to this thread's running large copy. */
static int in_large_copy(uintptr_t addr)
{
    const struct large_copy *c = &rmap_sys_large_copy;
    return c->n != 0 && ((addr - c->src) < c->n || (addr - c->dst) < c->n);
}

/* The signal and faulting address of this thread's last failed copy.
 * initial-exec: writing them in the handler never allocates. */
static __thread volatile int last_fault __attribute__((tls_model("initial-exec")));
static __thread void *volatile last_fault_addr __attribute__((tls_model("initial-exec")));

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
    atomic_store_explicit(&found_next_definitions, 1, memory_order_release);
}

/* pthread_sigmask of the C library: returns 0 or an errno. */
static int real_mask(int how, const sigset_t *set, sigset_t *old)
{
    find_next_definitions();
    return atomic_load_explicit(&next_pthread_sigmask, memory_order_relaxed)(how, set, old);
}

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

static struct sigaction read_previous(int sig)
{
    struct sigaction copy;
    unsigned version;
    do {
        while ((version = atomic_load_explicit(&previous_version, memory_order_acquire)) & 1) {}
        memcpy(&copy, &previous[which_signal(sig)], sizeof copy);
        atomic_thread_fence(memory_order_acquire);
    } while (atomic_load_explicit(&previous_version, memory_order_relaxed) != version);
    return copy;
}

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
    /* The default action, as without librmap: the signal is sent again to
     * this thread, with the information it came with, and delivered once
     * this handler returns (a fault would also run again and fault again);
     * it kills. */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    __sigaction(sig, &dfl, NULL);
    if (syscall(SYS_rt_tgsigqueueinfo, (long)syscall(SYS_getpid), (long)syscall(SYS_gettid), (long)sig, info) != 0 &&
        !synchronous(sig, info))
        raise(sig);
}

static void chain(int sig, siginfo_t *info, void *context)
{
    struct sigaction handler = read_previous(sig);
    if (handler.sa_handler == SIG_IGN) {
        /* Sent signals and notices stay ignored; a fault cannot be ignored
         * (the kernel forces the default action), so it still kills. */
        if (synchronous(sig, info)) default_action(sig, info);
        return;
    }
    if (handler.sa_handler == SIG_DFL) {
        default_action(sig, info);
        return;
    }
    /* The handler may leave with longjmp, keeping SIGBUS or SIGSEGV blocked
     * (plain longjmp restores no mask): this thread's next copy reads its
     * mask again. */
    rmap_sys_thread_checked = 0;
    if (handler.sa_flags & SA_RESETHAND) {
        /* One-shot: the next signal gets the default action, as the kernel
         * would have reset it on this delivery. */
        sigset_t saved;
        begin_write(&saved);
        memset(&previous[which_signal(sig)], 0, sizeof previous[0]);
        previous[which_signal(sig)].sa_handler = SIG_DFL;
        end_write(&saved);
    }
    if (handler.sa_flags & SA_SIGINFO)
        handler.sa_sigaction(sig, info, context);
    else
        handler.sa_handler(sig);
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
 * is replaced by zeros), with whether the access wrote; 1 means the access
 * may run again. */
typedef int bus_tolerator_fn(void *addr, int write);
static _Atomic(bus_tolerator_fn *) bus_tolerator;
void rmap_sys_set_bus_tolerator(bus_tolerator_fn *tolerator)
{
    atomic_store_explicit(&bus_tolerator, tolerator, memory_order_release);
}

/* The last SIGBUS librmap was about to pass on in this thread (see
 * process.rs: a fault is passed on only once it is known current). */
static __thread struct {
    uintptr_t page;
    uint64_t generation;
} pass_pending __attribute__((tls_model("initial-exec")));

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

/* Whether the faulting access wrote (the page-fault error code's W bit). */
static int fault_wrote(const ucontext_t *uc) { return (uc->uc_mcontext.gregs[REG_ERR] & 2) != 0; }

static int tolerated(void *addr, int write)
{
    bus_tolerator_fn *tolerator = atomic_load_explicit(&bus_tolerator, memory_order_acquire);
    if (tolerator == NULL) return 0;
    int saved_errno = errno;
    int again = tolerator(addr, write);
    errno = saved_errno;
    return again;
}

static void on_fault(int sig, siginfo_t *info, void *context)
{
    ucontext_t *uc = context;
    greg_t *ip = &uc->uc_mcontext.gregs[REG_RIP];
    /* Only a fault of this thread's access is librmap's to handle; every
     * other signal goes to the program's action as it came. */
    if (!synchronous(sig, info)) {
        int saved_errno = errno;
        chain(sig, info, context);
        errno = saved_errno;
        return;
    }
    /* A tolerant page: replaced, and the faulting instruction (a copy's
     * too: `rep movsb`, the small moves and memcpy all resume) runs again. */
    if (sig == SIGBUS && tolerated(info->si_addr, fault_wrote(uc))) return;
    if (*ip == (greg_t)rmap_copy_instruction) {
        last_fault = sig;
        last_fault_addr = info->si_addr;
        *ip = (greg_t)rmap_copy_fixup;
        return;
    }
    uintptr_t small_fixup = fixup_of((uintptr_t)*ip);
    if (small_fixup) {
        last_fault = sig;
        last_fault_addr = info->si_addr;
        *ip = (greg_t)small_fixup;
        return;
    }
    if (in_large_copy((uintptr_t)info->si_addr)) {
        last_fault = sig;
        last_fault_addr = info->si_addr;
        uc->uc_mcontext.gregs[REG_RSP] = (greg_t)rmap_sys_large_copy.resume_sp;
        *ip = (greg_t)rmap_large_copy_fixup;
        return;
    }
    int saved_errno = errno;
    bus_observer_fn *observer = atomic_load_explicit(&bus_observer, memory_order_acquire);
    if (sig == SIGBUS && observer != NULL) observer(info->si_addr, fault_wrote(uc));
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
 * librmap's in front of it. Returns 0 or an errno. */
int rmap_sys_sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    if (sig != SIGBUS && sig != SIGSEGV) return __sigaction(sig, act, old) == 0 ? 0 : errno;
    /* A vfork child's actions are its own: the C library's, untouched. */
    if (atomic_load_explicit(&installed, memory_order_relaxed) && in_vfork_child())
        return __sigaction(sig, act, old) == 0 ? 0 : errno;
    /* Both copied outside the write: a bad pointer faults as it does in the
     * C library, and that fault's handler must not find the writer busy. */
    struct sigaction wanted, was;
    if (act != NULL) wanted = *act;
    int error = 0;
    sigset_t saved;
    begin_write(&saved);
    if (!atomic_load_explicit(&installed, memory_order_relaxed)) {
        if (__sigaction(sig, act ? &wanted : NULL, &was) != 0) error = errno;
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

/* pthread_sigmask() (or sigprocmask(), with `process`) for the program: the
 * calling thread goes back to the checkpoint of guarded.rs, since the new
 * mask may block SIGBUS or SIGSEGV. Returns 0 or an errno. */
int rmap_sys_sigmask(int how, const sigset_t *set, sigset_t *old, int process)
{
    find_next_definitions();
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

/* rmap-check's preload (tools/rmap-check/preload.c, linked with librmap.a)
 * calls rmap_sys_start_interposed when it loads, and sets the hint around
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

/* Marks this thread as checked (Rust cannot name a C thread-local). */
void rmap_sys_set_thread_checked(void) { rmap_sys_thread_checked = 1; }

/* Whether SIGBUS or SIGSEGV is blocked in this thread: 1, 0, or -errno. */
int rmap_sys_fault_signals_blocked(void)
{
    sigset_t mask;
    int error = real_mask(SIG_BLOCK, NULL, &mask);
    if (error) return -error;
    return sigismember(&mask, SIGBUS) || sigismember(&mask, SIGSEGV);
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
    int error = real_mask(SIG_UNBLOCK, &faults, &old);
    if (error) return -error;
    int copied = rmap_sys_guarded_copy_unchecked(dst, src, n);
    real_mask(SIG_SETMASK, &old, NULL);
    return copied;
}

/* int rmap_sys_guarded_call_raw(const void *base, size_t len,
 *                               void (*fn)(void *), void *arg):
 * calls fn(arg), and a fault at an address of [base, base + len) inside it
 * comes back here instead: returns 0, or 1 when a fault stopped fn (its
 * signal and address in last_fault). fn must be a function that can be
 * left at any instruction: it holds no lock, allocates nothing, and leaves
 * nothing half-written that outlives it (a search). */
int rmap_sys_guarded_call_raw(const void *base, size_t len, void (*fn)(void *), void *arg);

/* rmap_sys_guarded_call_raw, with SIGBUS and SIGSEGV unblocked in this
 * thread for the call when `unblock` (two more system calls); -errno if
 * the mask cannot be set. */
int rmap_sys_guarded_call(const void *base, size_t len, void (*fn)(void *), void *arg, int unblock)
{
    if (!unblock) return rmap_sys_guarded_call_raw(base, len, fn, arg);
    sigset_t faults, old;
    sigemptyset(&faults);
    sigaddset(&faults, SIGBUS);
    sigaddset(&faults, SIGSEGV);
    int error = real_mask(SIG_UNBLOCK, &faults, &old);
    if (error) return -error;
    int faulted = rmap_sys_guarded_call_raw(base, len, fn, arg);
    real_mask(SIG_SETMASK, &old, NULL);
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

/* The signal (SIGBUS or SIGSEGV) that stopped this thread's last failed
 * guarded copy, and the address that faulted. */
int rmap_sys_last_fault(void **addr)
{
    *addr = last_fault_addr;
    return last_fault;
}
