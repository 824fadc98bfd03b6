/* librmap's guarded copies and searches for x86-64, in assembly, and the
 * parts of the interrupted context the handler reads and changes. What the
 * routines answer and change is written in protocol.h.
 *
 * The copy is one `rep movsb` (on CPUs with fast string moves, as fast as
 * glibc's memcpy from 4 KiB up), overlapping SSE2 moves from 16 bytes
 * below RMAP_VECTOR_COPY (rmap_sys_copy_small, which the inlined copy of
 * x86_64.rs calls for 129 to 256 bytes without AVX), the C library's memcpy in a guarded
 * frame from RMAP_LARGE_COPY up. When one of them faults, the handler moves the
 * instruction pointer to its fix-up label, which returns
 * RMAP_COPY_FAULTED: nothing is set up per call, as the kernel's
 * copy_from_user does with its exception tables. */
#define _GNU_SOURCE
#include <cpuid.h>
#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <ucontext.h>

#include "protocol.h"

#if !defined(__x86_64__)
#error "x86_64.c is the x86-64 half of librmap's signal machinery"
#endif

#define STRINGIFY(x) #x
#define STR(x) STRINGIFY(x)

/* int rmap_sys_guarded_copy(void *dst, const void *src, size_t n):
 * returns 0, 1 when a fault stopped the copy, or 2 (nothing copied) when
 * this thread has not passed its checkpoint or blocks a fault signal
 * (its mark is not 1); for 1 and 2 its arguments are in
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
        "    cmpb $1, %fs:(%rax)\n"
        "    jne 1f\n"
        "    cmp $" STR(RMAP_LARGE_COPY) ", %rdx\n"
        "    jae 3f\n"
        "    cmp $" STR(RMAP_VECTOR_COPY) ", %rdx\n"
        "    jb rmap_sys_copy_small\n"
        "rmap_sys_guarded_copy_unchecked:\n"
        "    mov %rdx, %rcx\n"
        "rmap_copy_instruction:\n"
        "    rep movsb\n"
        "    xor %eax, %eax\n"
        "    ret\n"
        "rmap_copy_fixup:\n"
        "    mov $" STR(RMAP_COPY_FAULTED) ", %eax\n"
        "    jmp 8f\n"
        "1:  mov $" STR(RMAP_COPY_UNCHECKED) ", %eax\n"
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
        "    mov $" STR(RMAP_COPY_FAULTED) ", %ecx\n"
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

__asm__(".text\n"
        /* rmap_sys_copy_small: 16 to 256 bytes (rmap_sys_guarded_copy comes here
         * for 16 <= n < VECTOR_COPY; sys/signal/x86_64.rs's inlined copy calls it
         * directly from 129 bytes without AVX, the checkpoint mark tested, its arguments
         * in rdi, rsi, rdx):
         * the first and the last 16, 32, 64 or 128 bytes, loads before stores,
         * every move in rmap_copy_fixups, a return from each size (no jumps back).
         * It changes rax, rcx, xmm0 to xmm7 and the flags, and uses no stack but
         * its return address. */
        ".p2align 6\n"
        ".globl rmap_sys_copy_small\n"
        ".hidden rmap_sys_copy_small\n"
        ".type rmap_sys_copy_small, @function\n"
        "rmap_sys_copy_small:\n"
        "    cmp $64, %rdx\n"
        "    ja 13f\n"
        "    cmp $32, %rdx\n"
        "    ja 12f\n"
        "100: movdqu (%rsi), %xmm0\n"
        "101: movdqu -16(%rsi,%rdx), %xmm1\n"
        "102: movdqu %xmm0, (%rdi)\n"
        "103: movdqu %xmm1, -16(%rdi,%rdx)\n"
        "    xor %eax, %eax\n"
        "    ret\n"
        "12:\n"
        "104: movdqu (%rsi), %xmm0\n"
        "105: movdqu 16(%rsi), %xmm1\n"
        "106: movdqu -32(%rsi,%rdx), %xmm2\n"
        "107: movdqu -16(%rsi,%rdx), %xmm3\n"
        "108: movdqu %xmm0, (%rdi)\n"
        "109: movdqu %xmm1, 16(%rdi)\n"
        "110: movdqu %xmm2, -32(%rdi,%rdx)\n"
        "111: movdqu %xmm3, -16(%rdi,%rdx)\n"
        "    xor %eax, %eax\n"
        "    ret\n"
        "13: cmp $128, %rdx\n"
        "    ja 14f\n"
        "112: movdqu (%rsi), %xmm0\n"
        "113: movdqu 16(%rsi), %xmm1\n"
        "114: movdqu 32(%rsi), %xmm2\n"
        "115: movdqu 48(%rsi), %xmm3\n"
        "116: movdqu -64(%rsi,%rdx), %xmm4\n"
        "117: movdqu -48(%rsi,%rdx), %xmm5\n"
        "118: movdqu -32(%rsi,%rdx), %xmm6\n"
        "119: movdqu -16(%rsi,%rdx), %xmm7\n"
        "120: movdqu %xmm0, (%rdi)\n"
        "121: movdqu %xmm1, 16(%rdi)\n"
        "122: movdqu %xmm2, 32(%rdi)\n"
        "123: movdqu %xmm3, 48(%rdi)\n"
        "124: movdqu %xmm4, -64(%rdi,%rdx)\n"
        "125: movdqu %xmm5, -48(%rdi,%rdx)\n"
        "126: movdqu %xmm6, -32(%rdi,%rdx)\n"
        "127: movdqu %xmm7, -16(%rdi,%rdx)\n"
        "    xor %eax, %eax\n"
        "    ret\n"
        "14:\n"
        "128: movdqu (%rsi), %xmm0\n"
        "129: movdqu 16(%rsi), %xmm1\n"
        "130: movdqu 32(%rsi), %xmm2\n"
        "131: movdqu 48(%rsi), %xmm3\n"
        "132: movdqu 64(%rsi), %xmm4\n"
        "133: movdqu 80(%rsi), %xmm5\n"
        "134: movdqu 96(%rsi), %xmm6\n"
        "135: movdqu 112(%rsi), %xmm7\n"
        "136: movdqu %xmm0, (%rdi)\n"
        "137: movdqu %xmm1, 16(%rdi)\n"
        "138: movdqu %xmm2, 32(%rdi)\n"
        "139: movdqu %xmm3, 48(%rdi)\n"
        "140: movdqu %xmm4, 64(%rdi)\n"
        "141: movdqu %xmm5, 80(%rdi)\n"
        "142: movdqu %xmm6, 96(%rdi)\n"
        "143: movdqu %xmm7, 112(%rdi)\n"
        "144: movdqu -128(%rsi,%rdx), %xmm0\n"
        "145: movdqu -112(%rsi,%rdx), %xmm1\n"
        "146: movdqu -96(%rsi,%rdx), %xmm2\n"
        "147: movdqu -80(%rsi,%rdx), %xmm3\n"
        "148: movdqu -64(%rsi,%rdx), %xmm4\n"
        "149: movdqu -48(%rsi,%rdx), %xmm5\n"
        "150: movdqu -32(%rsi,%rdx), %xmm6\n"
        "151: movdqu -16(%rsi,%rdx), %xmm7\n"
        "152: movdqu %xmm0, -128(%rdi,%rdx)\n"
        "153: movdqu %xmm1, -112(%rdi,%rdx)\n"
        "154: movdqu %xmm2, -96(%rdi,%rdx)\n"
        "155: movdqu %xmm3, -80(%rdi,%rdx)\n"
        "156: movdqu %xmm4, -64(%rdi,%rdx)\n"
        "157: movdqu %xmm5, -48(%rdi,%rdx)\n"
        "158: movdqu %xmm6, -32(%rdi,%rdx)\n"
        "159: movdqu %xmm7, -16(%rdi,%rdx)\n"
        "    xor %eax, %eax\n"
        "    ret\n"
        /* A fault in one of them: the arguments recorded, as for an unchecked thread. */
        "rmap_small_copy_fixup:\n"
        "    mov $" STR(RMAP_COPY_FAULTED) ", %eax\n"
        "    mov rmap_sys_copy_args@gottpoff(%rip), %rcx\n"
        "    mov %rdi, %fs:(%rcx)\n"
        "    mov %rsi, %fs:8(%rcx)\n"
        "    mov %rdx, %fs:16(%rcx)\n"
        "    ret\n"
        ".size rmap_sys_copy_small, . - rmap_sys_copy_small\n"
        ".pushsection rmap_copy_fixups, \"aR\"\n"
        ".balign 4\n"
        ".long 100b - ., rmap_small_copy_fixup - .\n"
        ".long 101b - ., rmap_small_copy_fixup - .\n"
        ".long 102b - ., rmap_small_copy_fixup - .\n"
        ".long 103b - ., rmap_small_copy_fixup - .\n"
        ".long 104b - ., rmap_small_copy_fixup - .\n"
        ".long 105b - ., rmap_small_copy_fixup - .\n"
        ".long 106b - ., rmap_small_copy_fixup - .\n"
        ".long 107b - ., rmap_small_copy_fixup - .\n"
        ".long 108b - ., rmap_small_copy_fixup - .\n"
        ".long 109b - ., rmap_small_copy_fixup - .\n"
        ".long 110b - ., rmap_small_copy_fixup - .\n"
        ".long 111b - ., rmap_small_copy_fixup - .\n"
        ".long 112b - ., rmap_small_copy_fixup - .\n"
        ".long 113b - ., rmap_small_copy_fixup - .\n"
        ".long 114b - ., rmap_small_copy_fixup - .\n"
        ".long 115b - ., rmap_small_copy_fixup - .\n"
        ".long 116b - ., rmap_small_copy_fixup - .\n"
        ".long 117b - ., rmap_small_copy_fixup - .\n"
        ".long 118b - ., rmap_small_copy_fixup - .\n"
        ".long 119b - ., rmap_small_copy_fixup - .\n"
        ".long 120b - ., rmap_small_copy_fixup - .\n"
        ".long 121b - ., rmap_small_copy_fixup - .\n"
        ".long 122b - ., rmap_small_copy_fixup - .\n"
        ".long 123b - ., rmap_small_copy_fixup - .\n"
        ".long 124b - ., rmap_small_copy_fixup - .\n"
        ".long 125b - ., rmap_small_copy_fixup - .\n"
        ".long 126b - ., rmap_small_copy_fixup - .\n"
        ".long 127b - ., rmap_small_copy_fixup - .\n"
        ".long 128b - ., rmap_small_copy_fixup - .\n"
        ".long 129b - ., rmap_small_copy_fixup - .\n"
        ".long 130b - ., rmap_small_copy_fixup - .\n"
        ".long 131b - ., rmap_small_copy_fixup - .\n"
        ".long 132b - ., rmap_small_copy_fixup - .\n"
        ".long 133b - ., rmap_small_copy_fixup - .\n"
        ".long 134b - ., rmap_small_copy_fixup - .\n"
        ".long 135b - ., rmap_small_copy_fixup - .\n"
        ".long 136b - ., rmap_small_copy_fixup - .\n"
        ".long 137b - ., rmap_small_copy_fixup - .\n"
        ".long 138b - ., rmap_small_copy_fixup - .\n"
        ".long 139b - ., rmap_small_copy_fixup - .\n"
        ".long 140b - ., rmap_small_copy_fixup - .\n"
        ".long 141b - ., rmap_small_copy_fixup - .\n"
        ".long 142b - ., rmap_small_copy_fixup - .\n"
        ".long 143b - ., rmap_small_copy_fixup - .\n"
        ".long 144b - ., rmap_small_copy_fixup - .\n"
        ".long 145b - ., rmap_small_copy_fixup - .\n"
        ".long 146b - ., rmap_small_copy_fixup - .\n"
        ".long 147b - ., rmap_small_copy_fixup - .\n"
        ".long 148b - ., rmap_small_copy_fixup - .\n"
        ".long 149b - ., rmap_small_copy_fixup - .\n"
        ".long 150b - ., rmap_small_copy_fixup - .\n"
        ".long 151b - ., rmap_small_copy_fixup - .\n"
        ".long 152b - ., rmap_small_copy_fixup - .\n"
        ".long 153b - ., rmap_small_copy_fixup - .\n"
        ".long 154b - ., rmap_small_copy_fixup - .\n"
        ".long 155b - ., rmap_small_copy_fixup - .\n"
        ".long 156b - ., rmap_small_copy_fixup - .\n"
        ".long 157b - ., rmap_small_copy_fixup - .\n"
        ".long 158b - ., rmap_small_copy_fixup - .\n"
        ".long 159b - ., rmap_small_copy_fixup - .\n"
        ".popsection\n");

/* int rmap_sys_find_byte(const void *s, size_t n, const unsigned char *byte,
 *                        size_t *at), `at` in r9 (not rcx):
 * memchr for rmap_find's fast path over the first RMAP_FIND_SPAN bytes, 32 at a
 * time with SSE2 (x86-64's baseline), every load within the range and
 * listed in rmap_copy_fixups; from 32 bytes, with AVX2 where the CPU and the
 * kernel have it, 32 at a time (vzeroupper before every return from there).
 * Returns 1 (the offset stored in *at), 0 (not
 * found), 4 (not in the first RMAP_FIND_SPAN bytes of more), 2 when this thread
 * has not passed its checkpoint, 3 when a fault stopped it (the slow path
 * redoes it). Called from inline assembly (sys/signal/x86_64.rs): it changes only
 * rax, r10, r11, xmm0 to xmm3 and the flags, and uses no stack but its
 * return address, so its caller keeps everything in registers. */
__asm__(".text\n"
        ".globl rmap_sys_find_byte\n"
        ".hidden rmap_sys_find_byte\n"
        ".type rmap_sys_find_byte, @function\n"
        ".p2align 4\n"
        "rmap_sys_find_byte:\n"
        "    mov rmap_sys_thread_checked@gottpoff(%rip), %rax\n"
        "    cmpb $1, %fs:(%rax)\n"
        "    jne 7f\n"
        "    mov $" STR(RMAP_FIND_SPAN) ", %r11\n"
        "    cmp %r11, %rsi\n"
        "    cmovb %rsi, %r11\n"
        "1:  movzbl (%rdx), %eax\n"
        "    mov %rdi, %r10\n"
        "    cmp $32, %r11\n"
        "    jb 40f\n"
        "    cmpb $0, rmap_sys_has_avx2(%rip)\n"
        "    jne 41f\n"
        "40: cmp $16, %r11\n"
        "    jb 5f\n"
        "    movd %eax, %xmm0\n"
        "    punpcklbw %xmm0, %xmm0\n"
        "    punpcklwd %xmm0, %xmm0\n"
        "    pshufd $0, %xmm0, %xmm0\n"
        "    cmp $32, %r11\n"
        "    lea -16(%rdi,%r11), %r11\n" /* from here: the last 16 bytes */
        "    jbe 3f\n"
        "    .p2align 5\n"
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
        "    mov $" STR(RMAP_FIND_FOUND) ", %eax\n"
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
        "    cmp $" STR(RMAP_FIND_SPAN) ", %rsi\n"
        "    jbe 11f\n"
        "    mov $" STR(RMAP_FIND_NOT_IN_SPAN) ", %eax\n"
        "11: ret\n"
        "10: mov %r10, %rax\n"
        "    sub %rdi, %rax\n"
        "    mov %rax, (%r9)\n"
        "    mov $" STR(RMAP_FIND_FOUND) ", %eax\n"
        "    ret\n"
        "7:  mov $" STR(RMAP_FIND_UNCHECKED) ", %eax\n"
        "    ret\n"
        "8:  mov $" STR(RMAP_FIND_FAULTED) ", %eax\n"
        "    ret\n"
        /* AVX2, 32 bytes or more: 32 at a time, then the last 32
         * (overlapping what was searched), every load within the range. */
        "41: vmovd %eax, %xmm0\n"
        "    vpbroadcastb %xmm0, %ymm0\n"
        "    lea -32(%rdi,%r11), %r11\n" /* from here: the last 32 bytes */
        /* Each loop within one 32-byte block of code: a loop that straddles
         * two took twice the time (80 bytes: 6 ns instead of 3). */
        "    .p2align 5\n"
        "42: vpcmpeqb (%r10), %ymm0, %ymm1\n"
        "    vpmovmskb %ymm1, %eax\n"
        "    test %eax, %eax\n"
        "    jnz 44f\n"
        "    add $32, %r10\n"
        "    cmp %r11, %r10\n"
        "    jb 42b\n"
        "    mov %r11, %r10\n"
        "43: vpcmpeqb (%r10), %ymm0, %ymm1\n"
        "    vpmovmskb %ymm1, %eax\n"
        "    vzeroupper\n"
        "    test %eax, %eax\n"
        "    jnz 4b\n"
        "    jmp 9b\n"
        "44: vzeroupper\n"
        "    jmp 4b\n"
        "45: vzeroupper\n"
        "    jmp 8b\n"
        ".pushsection rmap_copy_fixups, \"aR\"\n"
        ".balign 4\n"
        ".long 1b - ., 8b - .\n"
        ".long 2b - ., 8b - .\n"
        ".long 21b - ., 8b - .\n"
        ".long 3b - ., 8b - .\n"
        ".long 31b - ., 8b - .\n"
        ".long 6b - ., 8b - .\n"
        ".long 42b - ., 45b - .\n"
        ".long 43b - ., 45b - .\n"
        ".popsection\n"
        ".size rmap_sys_find_byte, . - rmap_sys_find_byte\n");

/* Whether rmap_sys_find_byte may use AVX2: the CPU has it and the kernel
 * saves the vector state (XCR0's SSE and AVX bits). Set before main; a
 * search before that uses SSE2. */
char rmap_sys_has_avx2 __attribute__((visibility("hidden")));

__attribute__((constructor)) static void detect_avx2(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE) || !(c & bit_AVX)) return;
    unsigned lo, hi;
    __asm__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & 6) != 6) return;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return;
    rmap_sys_has_avx2 = (b & bit_AVX2) != 0;
}


uintptr_t rmap_sys_context_ip(const void *context)
{
    return (uintptr_t)((const ucontext_t *)context)->uc_mcontext.gregs[REG_RIP];
}

/* Resumes at `ip`, with the stack pointer `sp` (0: as it was). */
void rmap_sys_context_resume(void *context, uintptr_t ip, uintptr_t sp)
{
    ucontext_t *uc = context;
    uc->uc_mcontext.gregs[REG_RIP] = (greg_t)ip;
    if (sp) uc->uc_mcontext.gregs[REG_RSP] = (greg_t)sp;
}

/* Whether the faulting access wrote: the page-fault error code's W bit. */
int rmap_sys_context_wrote(const void *context)
{
    return (((const ucontext_t *)context)->uc_mcontext.gregs[REG_ERR] & 2) != 0;
}

long rmap_sys_raw_mprotect(void *addr, size_t len, int prot)
{
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"((long)SYS_mprotect), "D"(addr), "S"(len), "d"((long)prot)
                     : "rcx", "r11", "memory");
    return ret;
}

/* __sigsetjmp, setjmp and getcontext for other objects' calls (rebind.c):
 * they save the mask, so the hidden signals are folded back first
 * (mask.c: rmap_sys_fold_before_saving, given whether the mask is saved),
 * then the jump to the C library's keeps the caller's frame and return
 * address, which these save: no frame of librmap's stays between. */
#define SAVE_MASK_FIRST(name, saves_mask, next)                                                                   \
    ".text\n"                                                                                                    \
    ".globl " name "\n"                                                                                           \
    ".hidden " name "\n"                                                                                          \
    ".type " name ", @function\n"                                                                                 \
    ".p2align 4\n" name ":\n"                                                                                     \
    "    endbr64\n"                                                                                              \
    "    push %rdi\n"                                                                                            \
    "    push %rsi\n"                                                                                            \
    "    sub $8, %rsp\n"                                                                                         \
    "    mov " saves_mask ", %edi\n"                                                                             \
    "    call rmap_sys_fold_before_saving\n"                                                                     \
    "    add $8, %rsp\n"                                                                                         \
    "    pop %rsi\n"                                                                                             \
    "    pop %rdi\n"                                                                                             \
    "    jmp *" next "(%rip)\n"                                                                                  \
    ".size " name ", . - " name "\n"

__asm__(SAVE_MASK_FIRST("rmap_sys_rebound_sigsetjmp", "%esi", "rmap_sys_next_sigsetjmp")
            SAVE_MASK_FIRST("rmap_sys_rebound_setjmp", "$1", "rmap_sys_next_setjmp")
                SAVE_MASK_FIRST("rmap_sys_rebound_getcontext", "$1", "rmap_sys_next_getcontext"));
