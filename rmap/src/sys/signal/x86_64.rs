//! The x86-64 assembly of guarded copies that the Rust code inlines: the
//! small copies (up to [`SMALL_COPY`](super::SMALL_COPY) bytes: overlapping
//! moves, each listed in the fix-up table; from 129 bytes AVX moves, or a
//! call of `rmap_sys_copy_small` on a CPU without AVX) and the one-byte search: its first 128 bytes
//! here, then a call of `rmap_sys_find_byte`, which keeps its caller's
//! registers (protocol.h says what it changes).

use std::ffi::c_int;

use super::{COPY_FAULTED, COPY_UNCHECKED, FIND_BYTE_FAULTED, FIND_BYTE_FOUND, SMALL_COPY};

unsafe extern "C" {
    fn rmap_sys_guarded_copy(
        dst: *mut std::ffi::c_void,
        src: *const std::ffi::c_void,
        n: usize,
    ) -> c_int;
}

/// Copies `n` bytes, turning a SIGBUS or SIGSEGV raised by the copy into
/// an early return, if this thread passed its checkpoint
/// ([`super::pass_checkpoint`]); otherwise copies nothing. Returns 0 (all
/// copied), [`COPY_FAULTED`], or 2 when this thread has not passed its
/// checkpoint; then [`failed_copy_args`] gives its arguments back (the
/// caller keeps nothing across this call).
///
/// # Safety
/// `install_fault_handler` must have succeeded before this thread passed its
/// checkpoint. `dst` and `src` must not overlap; memory may be inaccessible
/// (that is what the guard is for), but `dst` must not hold anything whose
/// overwriting breaks the caller.
#[inline(always)]
pub unsafe fn guarded_copy(dst: *mut u8, src: *const u8, n: usize) -> c_int {
    if n > SMALL_COPY {
        // SAFETY: forwarded to the caller's contract.
        return unsafe { larger_copy(dst, src, n) };
    }
    let result: c_int;
    // SAFETY: reads `n` bytes at `src` and writes them at `dst`, as the
    // caller allows (each move within both ranges: the pairs overlap in the
    // middle, never past an end); a fault at any move goes to the fix-up
    // (label 6, or rmap_sys_copy_small's own) through the table in section
    // rmap_copy_fixups, which the fault handler (signal/guarded.c) searches.
    // An unfinished copy leaves its arguments in this thread's
    // rmap_sys_copy_args (protocol.h), as the large copies do.
    // rmap_sys_copy_small (x86_64.c) changes only rax, rcx, xmm0 to xmm7 and
    // the flags, and uses no stack but its return address.
    unsafe {
        std::arch::asm!(
            "mov rmap_sys_thread_checked@gottpoff(%rip), {tls}",
            "cmpb $1, %fs:({tls})",
            "jne 5f",
            // 16 to 256 inline, loads before stores, the sizes from 16 to 64
            // on the fewest taken branches: a call of rmap_sys_copy_small
            // cost a third of a 64-byte copy (AMD EPYC: 11.4 cycles against
            // memcpy's 5.7).
            "cmp $16, %rdx",
            "jb 18f",
            "cmp $64, %rdx",
            "ja 41f",
            "cmp $32, %rdx",
            "jbe 40f",
            // 33 to 64: the first 32 and the last 32.
            "64:",
            "movdqu (%rsi), %xmm0",
            "65:",
            "movdqu 16(%rsi), %xmm1",
            "66:",
            "movdqu -32(%rsi,%rdx), %xmm2",
            "67:",
            "movdqu -16(%rsi,%rdx), %xmm3",
            "68:",
            "movdqu %xmm0, (%rdi)",
            "69:",
            "movdqu %xmm1, 16(%rdi)",
            "70:",
            "movdqu %xmm2, -32(%rdi,%rdx)",
            "71:",
            "movdqu %xmm3, -16(%rdi,%rdx)",
            "xor %eax, %eax",
            "jmp 8f",
            // 16 to 32: the first 16 and the last 16.
            "40:",
            "60:",
            "movdqu (%rsi), %xmm0",
            "61:",
            "movdqu -16(%rsi,%rdx), %xmm1",
            "62:",
            "movdqu %xmm0, (%rdi)",
            "63:",
            "movdqu %xmm1, -16(%rdi,%rdx)",
            "xor %eax, %eax",
            "jmp 8f",
            // 65 to 128: the first 64 and the last 64.
            "41:",
            "cmp $128, %rdx",
            "ja 43f",
            "88:",
            "movdqu (%rsi), %xmm0",
            "89:",
            "movdqu 16(%rsi), %xmm1",
            "90:",
            "movdqu 32(%rsi), %xmm2",
            "91:",
            "movdqu 48(%rsi), %xmm3",
            "92:",
            "movdqu -64(%rsi,%rdx), %xmm4",
            "93:",
            "movdqu -48(%rsi,%rdx), %xmm5",
            "94:",
            "movdqu -32(%rsi,%rdx), %xmm6",
            "95:",
            "movdqu -16(%rsi,%rdx), %xmm7",
            "96:",
            "movdqu %xmm0, (%rdi)",
            "97:",
            "movdqu %xmm1, 16(%rdi)",
            "98:",
            "movdqu %xmm2, 32(%rdi)",
            "99:",
            "movdqu %xmm3, 48(%rdi)",
            "100:",
            "movdqu %xmm4, -64(%rdi,%rdx)",
            "101:",
            "movdqu %xmm5, -48(%rdi,%rdx)",
            "102:",
            "movdqu %xmm6, -32(%rdi,%rdx)",
            "103:",
            "movdqu %xmm7, -16(%rdi,%rdx)",
            "xor %eax, %eax",
            "jmp 8f",
            // 129 to 256: with AVX (x86_64.c's rmap_sys_has_avx2), the first
            // and the last 128 bytes in 32-byte moves (256 bytes on AMD
            // EPYC: 8.5 cycles, against 13.5 for a call of
            // rmap_sys_copy_small's SSE2 moves and memcpy's 7); without, that
            // routine, which returns from each size (its own fix-ups record
            // the arguments).
            "43:",
            "cmpb $0, rmap_sys_has_avx2(%rip)",
            "je 44f",
            "110:",
            "vmovdqu (%rsi), %ymm0",
            "111:",
            "vmovdqu 32(%rsi), %ymm1",
            "112:",
            "vmovdqu 64(%rsi), %ymm2",
            "113:",
            "vmovdqu 96(%rsi), %ymm3",
            "114:",
            "vmovdqu -128(%rsi,%rdx), %ymm4",
            "115:",
            "vmovdqu -96(%rsi,%rdx), %ymm5",
            "116:",
            "vmovdqu -64(%rsi,%rdx), %ymm6",
            "117:",
            "vmovdqu -32(%rsi,%rdx), %ymm7",
            "118:",
            "vmovdqu %ymm0, (%rdi)",
            "119:",
            "vmovdqu %ymm1, 32(%rdi)",
            "120:",
            "vmovdqu %ymm2, 64(%rdi)",
            "121:",
            "vmovdqu %ymm3, 96(%rdi)",
            "122:",
            "vmovdqu %ymm4, -128(%rdi,%rdx)",
            "123:",
            "vmovdqu %ymm5, -96(%rdi,%rdx)",
            "124:",
            "vmovdqu %ymm6, -64(%rdi,%rdx)",
            "125:",
            "vmovdqu %ymm7, -32(%rdi,%rdx)",
            "vzeroupper",
            "xor %eax, %eax",
            "jmp 8f",
            "44:",
            "call rmap_sys_copy_small",
            "jmp 8f",
            "18:",
            // One byte (Python's m[i]) first among the short ones.
            "cmp $1, %rdx",
            "jne 17f",
            "20:",
            "movzbl (%rsi), {a:e}",
            "21:",
            "mov {a:l}, (%rdi)",
            "xor %eax, %eax",
            "jmp 8f",
            "17:",
            "cmp $8, %rdx",
            "jb 11f",
            // 8 to 15 bytes: the first 8 and the last 8.
            "22:",
            "mov (%rsi), {a}",
            "23:",
            "mov -8(%rsi,%rdx), {b}",
            "24:",
            "mov {a}, (%rdi)",
            "25:",
            "mov {b}, -8(%rdi,%rdx)",
            "jmp 4f",
            "11:",
            "cmp $4, %rdx",
            "jb 12f",
            // 4 to 7: the first 4 and the last 4.
            "26:",
            "mov (%rsi), {a:e}",
            "27:",
            "mov -4(%rsi,%rdx), {b:e}",
            "28:",
            "mov {a:e}, (%rdi)",
            "29:",
            "mov {b:e}, -4(%rdi,%rdx)",
            "jmp 4f",
            "12:",
            "test %rdx, %rdx",
            "jz 4f",
            // 2 or 3: the first byte, then the last 2.
            "30:",
            "movzbl (%rsi), {a:e}",
            "31:",
            "mov {a:l}, (%rdi)",
            "32:",
            "movzwl -2(%rsi,%rdx), {b:e}",
            "33:",
            "mov {b:x}, -2(%rdi,%rdx)",
            "4:",
            "xor %eax, %eax",
            "jmp 8f",
            "5:",
            "mov ${unchecked}, %eax",
            "jmp 7f",
            // A fault in an AVX move: the upper halves cleared first.
            "46:",
            "vzeroupper",
            "6:",
            "mov ${faulted}, %eax",
            "7:",
            "mov rmap_sys_copy_args@gottpoff(%rip), {tls}",
            "mov %rdi, %fs:({tls})",
            "mov %rsi, %fs:8({tls})",
            "mov %rdx, %fs:16({tls})",
            "8:",
            // Entries relative to themselves, as the kernel's exception
            // table: no relocation for the loader to apply.
            ".pushsection rmap_copy_fixups, \"aR\"",
            ".balign 4",
            ".long 20b - ., 6b - .",
            ".long 21b - ., 6b - .",
            ".long 22b - ., 6b - .",
            ".long 23b - ., 6b - .",
            ".long 24b - ., 6b - .",
            ".long 25b - ., 6b - .",
            ".long 26b - ., 6b - .",
            ".long 27b - ., 6b - .",
            ".long 28b - ., 6b - .",
            ".long 29b - ., 6b - .",
            ".long 30b - ., 6b - .",
            ".long 31b - ., 6b - .",
            ".long 32b - ., 6b - .",
            ".long 33b - ., 6b - .",
            ".long 60b - ., 6b - .",
            ".long 61b - ., 6b - .",
            ".long 62b - ., 6b - .",
            ".long 63b - ., 6b - .",
            ".long 64b - ., 6b - .",
            ".long 65b - ., 6b - .",
            ".long 66b - ., 6b - .",
            ".long 67b - ., 6b - .",
            ".long 68b - ., 6b - .",
            ".long 69b - ., 6b - .",
            ".long 70b - ., 6b - .",
            ".long 71b - ., 6b - .",
            ".long 88b - ., 6b - .",
            ".long 89b - ., 6b - .",
            ".long 90b - ., 6b - .",
            ".long 91b - ., 6b - .",
            ".long 92b - ., 6b - .",
            ".long 93b - ., 6b - .",
            ".long 94b - ., 6b - .",
            ".long 95b - ., 6b - .",
            ".long 96b - ., 6b - .",
            ".long 97b - ., 6b - .",
            ".long 98b - ., 6b - .",
            ".long 99b - ., 6b - .",
            ".long 100b - ., 6b - .",
            ".long 101b - ., 6b - .",
            ".long 102b - ., 6b - .",
            ".long 103b - ., 6b - .",
            ".long 110b - ., 46b - .",
            ".long 111b - ., 46b - .",
            ".long 112b - ., 46b - .",
            ".long 113b - ., 46b - .",
            ".long 114b - ., 46b - .",
            ".long 115b - ., 46b - .",
            ".long 116b - ., 46b - .",
            ".long 117b - ., 46b - .",
            ".long 118b - ., 46b - .",
            ".long 119b - ., 46b - .",
            ".long 120b - ., 46b - .",
            ".long 121b - ., 46b - .",
            ".long 122b - ., 46b - .",
            ".long 123b - ., 46b - .",
            ".long 124b - ., 46b - .",
            ".long 125b - ., 46b - .",
            ".popsection",
            tls = out(reg) _,
            a = out(reg) _,
            b = out(reg) _,
            lateout("eax") result,
            out("rcx") _,
            out("xmm0") _,
            out("xmm1") _,
            out("xmm2") _,
            out("xmm3") _,
            out("xmm4") _,
            out("xmm5") _,
            out("xmm6") _,
            out("xmm7") _,
            // The AVX moves end with vzeroupper, which clears the upper half
            // of every ymm register.
            out("xmm8") _,
            out("xmm9") _,
            out("xmm10") _,
            out("xmm11") _,
            out("xmm12") _,
            out("xmm13") _,
            out("xmm14") _,
            out("xmm15") _,
            in("rsi") src,
            in("rdi") dst,
            in("rdx") n,
            unchecked = const COPY_UNCHECKED,
            faulted = const COPY_FAULTED,
            options(att_syntax),
        );
    }
    result
}

/// A copy of more than [`SMALL_COPY`] bytes: out of line, so that the small
/// copies' path has no taken branch before its moves.
///
/// # Safety
/// As for [`guarded_copy`].
#[cold]
#[inline(never)]
unsafe fn larger_copy(dst: *mut u8, src: *const u8, n: usize) -> c_int {
    // SAFETY: forwarded to the caller's contract.
    unsafe { rmap_sys_guarded_copy(dst.cast(), src.cast(), n) }
}

/// `memchr` of the byte at `byte` in the first [`FIND_BYTE_SPAN`] of the
/// `n` bytes at `s`, turning a fault (there or at `byte`) into an early
/// return, if this thread passed its checkpoint: [`FIND_BYTE_FOUND`] (the
/// offset stored in `*at`), [`FIND_BYTE_NOT_FOUND`],
/// [`FIND_BYTE_NOT_IN_SPAN`] (not in the first span of a longer range), or
/// another value (unchecked thread, fault) after which nothing is known.
/// SSE2, 32 bytes at a time: for short searches, where a guarded call's
/// set-up would cost more than the search.
///
/// # Safety
/// As for [`guarded_copy`]; `at` is valid for writing.
#[inline(always)]
pub unsafe fn find_byte(s: *const u8, n: usize, byte: *const u8, at: *mut usize) -> c_int {
    let result: c_int;
    // SAFETY: forwarded to the caller's contract. The first 128 bytes of a
    // haystack of 128 or more are searched here: four AVX2 compares of 32
    // bytes unrolled (x86_64.c's rmap_sys_has_avx2), else SSE2 32 bytes a
    // round (the call of rmap_sys_find_byte and its return were a third of
    // finding a byte 16 or 80 bytes in on AMD EPYC); every load, the
    // needle's too, is in the fix-up table, and a fault there returns
    // FIND_BYTE_FAULTED, after which the caller searches again with care.
    // Otherwise rmap_sys_find_byte (x86_64.c), which changes only the
    // registers listed and keeps the rest, so its caller keeps everything in
    // registers (an `extern "C"` call made rmap_find save six registers:
    // ~10% of a Python readline()).
    unsafe {
        std::arch::asm!(
            "mov rmap_sys_thread_checked@gottpoff(%rip), %r10",
            "cmpb $1, %fs:(%r10)",
            "jne 9f",
            "cmp $128, %rsi",
            "jb 9f",
            "cmpb $0, rmap_sys_has_avx2(%rip)",
            "je 50f",
            // AVX2: 32 bytes a compare, the four unrolled; a hit jumps into
            // the chain that adds 32 per compare passed ({r11}: the offset).
            "53:",
            "vpbroadcastb (%rdx), %ymm0",
            "xor %r11d, %r11d",
            "54:",
            "vpcmpeqb (%rdi), %ymm0, %ymm1",
            "vpmovmskb %ymm1, %eax",
            "test %eax, %eax",
            "jnz 20f",
            "55:",
            "vpcmpeqb 32(%rdi), %ymm0, %ymm1",
            "vpmovmskb %ymm1, %eax",
            "test %eax, %eax",
            "jnz 21f",
            "56:",
            "vpcmpeqb 64(%rdi), %ymm0, %ymm1",
            "vpmovmskb %ymm1, %eax",
            "test %eax, %eax",
            "jnz 22f",
            "57:",
            "vpcmpeqb 96(%rdi), %ymm0, %ymm1",
            "vpmovmskb %ymm1, %eax",
            "test %eax, %eax",
            "jnz 23f",
            "vzeroupper",
            "jmp 9f",
            // SSE2: 32 bytes a round of two compares.
            "50:",
            "movzbl (%rdx), %r10d",
            "movd %r10d, %xmm0",
            "punpcklbw %xmm0, %xmm0",
            "punpcklwd %xmm0, %xmm0",
            "pshufd $0, %xmm0, %xmm0",
            "xor %r11d, %r11d",
            "2:",
            "51:",
            "movdqu (%rdi,%r11), %xmm1",
            "52:",
            "movdqu 16(%rdi,%r11), %xmm2",
            "pcmpeqb %xmm0, %xmm1",
            "pcmpeqb %xmm0, %xmm2",
            "pmovmskb %xmm1, %eax",
            "pmovmskb %xmm2, %r10d",
            "shl $16, %r10d",
            "or %r10d, %eax",
            "jnz 3f",
            "add $32, %r11",
            "cmp $128, %r11",
            "jb 2b",
            // Not in the first 128 bytes: the routine, from the start.
            "9:",
            "call rmap_sys_find_byte",
            "jmp 8f",
            "3:",
            "bsf %eax, %eax",
            "add %r11, %rax",
            "mov %rax, (%r9)",
            "mov ${found}, %eax",
            "jmp 8f",
            // A fault in an AVX2 load: the upper halves cleared first.
            "7:",
            "vzeroupper",
            "6:",
            "mov ${faulted}, %eax",
            "jmp 8f",
            // An AVX2 hit, last: it falls through to the end, no jump more
            // (finding a byte 16 bytes in: 1.50 of memchr's time with one,
            // see docs/benchmarks.md).
            "23:",
            "add $32, %r11d",
            "22:",
            "add $32, %r11d",
            "21:",
            "add $32, %r11d",
            "20:",
            "vzeroupper",
            "bsf %eax, %eax",
            "add %r11, %rax",
            "mov %rax, (%r9)",
            "mov ${found}, %eax",
            "8:",
            ".pushsection rmap_copy_fixups, \"aR\"",
            ".balign 4",
            ".long 53b - ., 7b - .",
            ".long 54b - ., 7b - .",
            ".long 55b - ., 7b - .",
            ".long 56b - ., 7b - .",
            ".long 57b - ., 7b - .",
            ".long 50b - ., 6b - .",
            ".long 51b - ., 6b - .",
            ".long 52b - ., 6b - .",
            ".popsection",
            in("rdi") s,
            in("rsi") n,
            in("rdx") byte,
            in("r9") at, // where rmap_find has it
            lateout("eax") result,
            out("r10") _,
            out("r11") _,
            out("xmm0") _,
            out("xmm1") _,
            out("xmm2") _,
            out("xmm3") _,
            // Its AVX2 loop ends with vzeroupper, which clears the upper
            // half of every ymm register.
            out("xmm4") _,
            out("xmm5") _,
            out("xmm6") _,
            out("xmm7") _,
            out("xmm8") _,
            out("xmm9") _,
            out("xmm10") _,
            out("xmm11") _,
            out("xmm12") _,
            out("xmm13") _,
            out("xmm14") _,
            out("xmm15") _,
            found = const FIND_BYTE_FOUND,
            faulted = const FIND_BYTE_FAULTED,
            options(att_syntax),
        );
    }
    result
}
