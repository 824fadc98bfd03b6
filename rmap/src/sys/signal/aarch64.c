/* librmap's guarded copies and searches for 64-bit ARM (AArch64), in
 * assembly, and the parts of the interrupted context the handler reads and
 * changes. What the routines answer and change is written in protocol.h;
 * x86_64.c is the same for x86-64.
 *
 * Plain loops: 16 bytes at a time with ldp/stp, then single bytes; the C
 * library's memcpy in a guarded frame from RMAP_LARGE_COPY up; the search
 * one byte at a time. Every load and store that may fault is listed in
 * the fix-up table (section rmap_copy_fixups), and its fix-up returns
 * RMAP_COPY_FAULTED (RMAP_FIND_FAULTED): nothing is set up per call. Tested
 * under qemu-aarch64 only (make check-aarch64), so no speed is claimed. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>

#include "protocol.h"

#if !defined(__aarch64__)
#error "aarch64.c is the AArch64 half of librmap's signal machinery"
#endif

#define STRINGIFY(x) #x
#define STR(x) STRINGIFY(x)

/* The address of an initial-exec thread-local into register `reg`
 * (clobbers `tmp`). */
#define TLS_ADDRESS(reg, tmp, symbol)                                                                             \
    "    mrs " tmp ", tpidr_el0\n"                                                                                \
    "    adrp " reg ", :gottprel:" symbol "\n"                                                                    \
    "    ldr " reg ", [" reg ", #:gottprel_lo12:" symbol "]\n"                                                     \
    "    add " reg ", " reg ", " tmp "\n"

/* The large copy's and the guarded call's frame: every callee-saved
 * register (memcpy, or the called function, may keep its own in them when
 * the fault comes, and the fix-up resumes on this frame). */
#define SAVE_CALLEE_SAVED \
    "    stp x29, x30, [sp, #-160]!\n" \
    "    mov x29, sp\n" \
    "    stp x19, x20, [sp, #16]\n" \
    "    stp x21, x22, [sp, #32]\n" \
    "    stp x23, x24, [sp, #48]\n" \
    "    stp x25, x26, [sp, #64]\n" \
    "    stp x27, x28, [sp, #80]\n" \
    "    stp d8, d9, [sp, #96]\n" \
    "    stp d10, d11, [sp, #112]\n" \
    "    stp d12, d13, [sp, #128]\n" \
    "    stp d14, d15, [sp, #144]\n"

/* int rmap_sys_guarded_copy(void *dst, const void *src, size_t n): x0, x1,
 * x2; returns 0, 1 when a fault stopped the copy, or 2 (nothing copied)
 * when this thread has not passed its checkpoint or blocks a fault signal
 * (its mark is not 1); for 1 and 2 its arguments are in rmap_sys_copy_args.
 * int rmap_sys_guarded_copy_unchecked(...): the same copy without the test
 * and without the large copy's frame. Both keep x0 to x2 and use x3 to x7
 * and x9, x10. */
__asm__(".text\n"
        ".globl rmap_sys_guarded_copy, rmap_sys_guarded_copy_unchecked\n"
        ".hidden rmap_sys_guarded_copy, rmap_sys_guarded_copy_unchecked\n"
        ".type rmap_sys_guarded_copy, %function\n"
        ".type rmap_sys_guarded_copy_unchecked, %function\n"
        ".globl rmap_copy_instruction, rmap_copy_fixup, rmap_large_copy_fixup\n"
        ".hidden rmap_copy_instruction, rmap_copy_fixup, rmap_large_copy_fixup\n"
        ".p2align 4\n"
        "rmap_sys_guarded_copy:\n" TLS_ADDRESS("x9", "x10", "rmap_sys_thread_checked")
        "    ldrb w9, [x9]\n"
        "    cmp w9, #1\n"
        "    b.ne 1f\n"
        "    cmp x2, #" STR(RMAP_LARGE_COPY / 4096) ", lsl #12\n"
        "    b.hs 3f\n"
        "rmap_sys_guarded_copy_unchecked:\n"
        "    mov x3, x0\n"
        "    mov x4, x1\n"
        "    mov x5, x2\n"
        "    cmp x5, #16\n"
        "    b.lo 11f\n"
        "10:\n"
        "rmap_copy_instruction:\n"
        "    ldp x6, x7, [x4], #16\n"
        "12: stp x6, x7, [x3], #16\n"
        "    sub x5, x5, #16\n"
        "    cmp x5, #16\n"
        "    b.hs 10b\n"
        "11: cbz x5, 14f\n"
        "13: ldrb w6, [x4], #1\n"
        "15: strb w6, [x3], #1\n"
        "    subs x5, x5, #1\n"
        "    b.ne 13b\n"
        "14: mov w0, #" STR(RMAP_COPY_DONE) "\n"
        "    ret\n"
        "rmap_copy_fixup:\n"
        "    mov w9, #" STR(RMAP_COPY_FAULTED) "\n"
        "    b 8f\n"
        "1:  mov w9, #" STR(RMAP_COPY_UNCHECKED) "\n"
        "8:\n" TLS_ADDRESS("x10", "x3", "rmap_sys_copy_args")
        "    stp x0, x1, [x10]\n"
        "    str x2, [x10, #16]\n"
        "    mov w0, w9\n"
        "    ret\n"
        /* The large copy: save the callee-saved registers (memcpy may
         * keep its own in them when the fault comes), record where to come
         * back to, call memcpy. */
        "3:\n" SAVE_CALLEE_SAVED TLS_ADDRESS("x9", "x10", "rmap_sys_copy_args")
        "    stp x0, x1, [x9]\n"
        "    str x2, [x9, #16]\n" TLS_ADDRESS("x9", "x10", "rmap_sys_large_copy")
        "    mov x10, sp\n"
        "    stp x10, x0, [x9]\n"
        "    stp x1, x2, [x9, #16]\n"
        "    bl memcpy\n"
        "    mov w19, #0\n"
        "4:\n" TLS_ADDRESS("x9", "x10", "rmap_sys_large_copy")
        "    str xzr, [x9, #" STR(RMAP_FRAME_N) "]\n"
        "    mov w0, w19\n"
        "    ldp x19, x20, [sp, #16]\n"
        "    ldp x21, x22, [sp, #32]\n"
        "    ldp x23, x24, [sp, #48]\n"
        "    ldp x25, x26, [sp, #64]\n"
        "    ldp x27, x28, [sp, #80]\n"
        "    ldp d8, d9, [sp, #96]\n"
        "    ldp d10, d11, [sp, #112]\n"
        "    ldp d12, d13, [sp, #128]\n"
        "    ldp d14, d15, [sp, #144]\n"
        "    ldp x29, x30, [sp], #160\n"
        "    ret\n"
        "rmap_large_copy_fixup:\n"
        "    mov w19, #" STR(RMAP_COPY_FAULTED) "\n"
        "    b 4b\n"
        /* The guarded call (base x0, len x1, fn x2, arg x3): the same frame
         * and record as the large copy, so a fault resumes at the same
         * fix-up. */
        ".globl rmap_sys_guarded_call_raw\n"
        ".hidden rmap_sys_guarded_call_raw\n"
        ".type rmap_sys_guarded_call_raw, %function\n"
        "rmap_sys_guarded_call_raw:\n" SAVE_CALLEE_SAVED TLS_ADDRESS("x9", "x10", "rmap_sys_large_copy")
        "    mov x10, sp\n"
        "    stp x10, x0, [x9]\n"
        "    stp x0, x1, [x9, #16]\n"
        "    mov x0, x3\n"
        "    blr x2\n"
        "    mov w19, #0\n"
        "    b 4b\n"
        ".size rmap_sys_guarded_call_raw, . - rmap_sys_guarded_call_raw\n"
        ".size rmap_sys_guarded_copy, . - rmap_sys_guarded_copy\n"
        ".pushsection rmap_copy_fixups, \"aR\"\n"
        ".balign 4\n"
        ".long 10b - ., rmap_copy_fixup - .\n"
        ".long 12b - ., rmap_copy_fixup - .\n"
        ".long 13b - ., rmap_copy_fixup - .\n"
        ".long 15b - ., rmap_copy_fixup - .\n"
        ".popsection\n");

/* int rmap_sys_find_byte(const void *s, size_t n, const unsigned char *byte,
 *                        size_t *at): x0 to x3.
 * memchr for rmap_find's fast path over the first RMAP_FIND_SPAN bytes, one
 * at a time, every load listed in rmap_copy_fixups. Returns 1 (the offset
 * stored in *at), 0 (not found), 4 (not in the first RMAP_FIND_SPAN bytes
 * of more), 2 when this thread has not passed its checkpoint, 3 when a
 * fault stopped it (the slow path redoes it). Uses x4 to x7, x9, x10. */
__asm__(".text\n"
        ".globl rmap_sys_find_byte\n"
        ".hidden rmap_sys_find_byte\n"
        ".type rmap_sys_find_byte, %function\n"
        ".p2align 4\n"
        "rmap_sys_find_byte:\n" TLS_ADDRESS("x9", "x10", "rmap_sys_thread_checked")
        "    ldrb w9, [x9]\n"
        "    cmp w9, #1\n"
        "    b.ne 7f\n"
        "    mov x5, #" STR(RMAP_FIND_SPAN / 4096) "\n"
        "    lsl x5, x5, #12\n"
        "    cmp x1, x5\n"
        "    csel x5, x1, x5, lo\n"
        "1:  ldrb w4, [x2]\n"
        "    mov x6, #0\n"
        "    cbz x5, 9f\n"
        "2:  ldrb w7, [x0, x6]\n"
        "    cmp w7, w4\n"
        "    b.eq 10f\n"
        "    add x6, x6, #1\n"
        "    cmp x6, x5\n"
        "    b.lo 2b\n"
        "9:  mov w0, #" STR(RMAP_FIND_NOT_FOUND) "\n"
        "    cmp x1, x5\n"
        "    b.ls 11f\n"
        "    mov w0, #" STR(RMAP_FIND_NOT_IN_SPAN) "\n"
        "11: ret\n"
        "10: str x6, [x3]\n"
        "    mov w0, #" STR(RMAP_FIND_FOUND) "\n"
        "    ret\n"
        "7:  mov w0, #" STR(RMAP_FIND_UNCHECKED) "\n"
        "    ret\n"
        "8:  mov w0, #" STR(RMAP_FIND_FAULTED) "\n"
        "    ret\n"
        ".pushsection rmap_copy_fixups, \"aR\"\n"
        ".balign 4\n"
        ".long 1b - ., 8b - .\n"
        ".long 2b - ., 8b - .\n"
        ".popsection\n"
        ".size rmap_sys_find_byte, . - rmap_sys_find_byte\n");

uintptr_t rmap_sys_context_ip(const void *context)
{
    return (uintptr_t)((const ucontext_t *)context)->uc_mcontext.pc;
}

/* Resumes at `ip`, with the stack pointer `sp` (0: as it was). */
void rmap_sys_context_resume(void *context, uintptr_t ip, uintptr_t sp)
{
    ucontext_t *uc = context;
    uc->uc_mcontext.pc = ip;
    if (sp) uc->uc_mcontext.sp = sp;
}

/* The exception syndrome the kernel records after the registers (an
 * esr_context record in the reserved area), or 0 when there is none. */
static uint64_t syndrome(const ucontext_t *uc)
{
    const unsigned char *at = uc->uc_mcontext.__reserved;
    const unsigned char *end = at + sizeof uc->uc_mcontext.__reserved;
    while (at + 8 <= end) {
        uint32_t magic, size;
        memcpy(&magic, at, 4);
        memcpy(&size, at + 4, 4);
        if (magic == 0 || size < 8 || size > (size_t)(end - at)) return 0;
        if (magic == 0x45535201 && size >= 16) { /* ESR_MAGIC */
            uint64_t esr;
            memcpy(&esr, at + 8, 8);
            return esr;
        }
        at += size;
    }
    return 0;
}

/* Whether the faulting access wrote: the syndrome's WnR bit for a data
 * abort; without a syndrome (emulators may give none), the instruction:
 * stores of the load/store classes, and atomic read-modify-writes. */
int rmap_sys_context_wrote(const void *context)
{
    const ucontext_t *uc = context;
    uint64_t esr = syndrome(uc);
    unsigned class = (unsigned)(esr >> 26) & 0x3f;
    if (class == 0x24 || class == 0x25) return (esr >> 6) & 1; /* data abort: WnR */
    uint32_t insn;
    memcpy(&insn, (const void *)uc->uc_mcontext.pc, 4);
    if ((insn & 0x0a000000) != 0x08000000) return 0; /* not a load or store */
    if ((insn & 0x3f000000) == 0x08000000) return !((insn >> 22) & 1); /* exclusive: L */
    if ((insn & 0x38000000) == 0x28000000) return !((insn >> 22) & 1); /* pair: L */
    if ((insn & 0x38000000) == 0x38000000) {
        if ((insn & 0x3f200c00) == 0x38200000) return 1; /* atomic memory operation */
        unsigned opc = (insn >> 22) & 3, simd = (insn >> 26) & 1;
        return simd ? !(opc & 1) : opc == 0;
    }
    return 0;
}

long rmap_sys_raw_mprotect(void *addr, size_t len, int prot)
{
    register long x8 __asm__("x8") = SYS_mprotect;
    register long x0 __asm__("x0") = (long)addr;
    register long x1 __asm__("x1") = (long)len;
    register long x2 __asm__("x2") = prot;
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
    return x0;
}

/* __sigsetjmp, setjmp and getcontext for other objects' calls (rebind.c):
 * they save the mask, so the hidden signals are folded back first
 * (mask.c: rmap_sys_fold_before_saving, given whether the mask is saved),
 * then the jump to the C library's keeps the caller's frame and return
 * address (x30, restored), which these save: no frame of librmap's stays
 * between. */
#define SAVE_MASK_FIRST(name, saves_mask, next)                                                                   \
    ".text\n"                                                                                                    \
    ".globl " name "\n"                                                                                           \
    ".hidden " name "\n"                                                                                          \
    ".type " name ", %function\n"                                                                                 \
    ".p2align 4\n" name ":\n"                                                                                     \
    "    stp x29, x30, [sp, #-32]!\n"                                                                            \
    "    mov x29, sp\n"                                                                                          \
    "    stp x0, x1, [sp, #16]\n"                                                                                \
    "    " saves_mask "\n"                                                                                       \
    "    bl rmap_sys_fold_before_saving\n"                                                                       \
    "    ldp x0, x1, [sp, #16]\n"                                                                                \
    "    ldp x29, x30, [sp], #32\n"                                                                              \
    "    adrp x16, " next "\n"                                                                                   \
    "    ldr x16, [x16, :lo12:" next "]\n"                                                                       \
    "    br x16\n"                                                                                               \
    ".size " name ", . - " name "\n"

__asm__(SAVE_MASK_FIRST("rmap_sys_rebound_sigsetjmp", "mov w0, w1", "rmap_sys_next_sigsetjmp")
            SAVE_MASK_FIRST("rmap_sys_rebound_setjmp", "mov w0, #1", "rmap_sys_next_setjmp")
                SAVE_MASK_FIRST("rmap_sys_rebound_getcontext", "mov w0, #1", "rmap_sys_next_getcontext"));
