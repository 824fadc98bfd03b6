//! The x86-64 assembly of guarded copies that the Rust code inlines: the
//! small copies (up to [`SMALL_COPY`](super::SMALL_COPY) bytes, overlapping
//! moves without a loop, each listed in the fix-up table) and the call of the one-byte
//! search, which keeps its caller's registers (protocol.h says what
//! `rmap_sys_find_byte` changes).

use std::ffi::c_int;

use super::{COPY_FAULTED, COPY_UNCHECKED, SMALL_COPY};

unsafe extern "C" {
    fn rmap_sys_guarded_copy(
        dst: *mut std::ffi::c_void,
        src: *const std::ffi::c_void,
        n: usize,
    ) -> c_int;
}

/// Copies `n` bytes, turning a SIGBUS or SIGSEGV raised by the copy into
/// an early return, if this thread passed its checkpoint
/// ([`set_thread_checked`]); otherwise copies nothing. Returns 0 (all
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
        return unsafe { rmap_sys_guarded_copy(dst.cast(), src.cast(), n) };
    }
    let result: c_int;
    // SAFETY: reads `n` bytes at `src` and writes them at `dst`, as the
    // caller allows (each move within both ranges: the pairs overlap in the
    // middle, never past an end); a fault at any move goes to the fix-up
    // (label 6) through the table in section rmap_copy_fixups, which the
    // fault handler (signal/guarded.c) searches. An unfinished copy leaves its
    // arguments in this thread's rmap_sys_copy_args (protocol.h), as the large
    // copies do. No stack is used.
    unsafe {
        std::arch::asm!(
            "mov rmap_sys_thread_checked@gottpoff(%rip), {tls}",
            "cmpb $1, %fs:({tls})",
            "jne 5f",
            // One byte (Python's m[i]) on the shortest path: one taken branch.
            "cmp $1, {n}",
            "jne 17f",
            "20:",
            "movzbl ({src}), {a:e}",
            "21:",
            "mov {a:l}, ({dst})",
            "4:",
            "xor {result:e}, {result:e}",
            "jmp 8f",
            // Every other size (each jumps back to 4 when copied), then the
            // way out of an unfinished copy. (Inside the function, not in a
            // section of their own: valgrind and debuggers name code by its
            // function.)
            "17:",
            "cmp $16, {n}",
            "jae 13f",
            "cmp $8, {n}",
            "jb 11f",
            // 8 to 15 bytes: the first 8 and the last 8.
            "22:",
            "mov ({src}), {a}",
            "23:",
            "mov -8({src},{n}), {b}",
            "24:",
            "mov {a}, ({dst})",
            "25:",
            "mov {b}, -8({dst},{n})",
            "jmp 4b",
            "11:",
            "cmp $4, {n}",
            "jb 12f",
            // 4 to 7: the first 4 and the last 4.
            "26:",
            "mov ({src}), {a:e}",
            "27:",
            "mov -4({src},{n}), {b:e}",
            "28:",
            "mov {a:e}, ({dst})",
            "29:",
            "mov {b:e}, -4({dst},{n})",
            "jmp 4b",
            "12:",
            "test {n}, {n}",
            "jz 4b",
            // 2 or 3: the first byte, then the last 2.
            "30:",
            "movzbl ({src}), {a:e}",
            "31:",
            "mov {a:l}, ({dst})",
            "32:",
            "movzwl -2({src},{n}), {b:e}",
            "33:",
            "mov {b:x}, -2({dst},{n})",
            "jmp 4b",
            "13:",
            "cmp $32, {n}",
            "ja 14f",
            // 16 to 32 bytes: the first 16 and the last 16.
            "40:",
            "movdqu ({src}), %xmm0",
            "41:",
            "movdqu -16({src},{n}), %xmm1",
            "42:",
            "movdqu %xmm0, ({dst})",
            "43:",
            "movdqu %xmm1, -16({dst},{n})",
            "jmp 4b",
            "14:",
            "cmp $64, {n}",
            "ja 15f",
            // 33 to 64: the first 32 and the last 32.
            "44:",
            "movdqu ({src}), %xmm0",
            "45:",
            "movdqu 16({src}), %xmm1",
            "46:",
            "movdqu -32({src},{n}), %xmm2",
            "47:",
            "movdqu -16({src},{n}), %xmm3",
            "48:",
            "movdqu %xmm0, ({dst})",
            "49:",
            "movdqu %xmm1, 16({dst})",
            "50:",
            "movdqu %xmm2, -32({dst},{n})",
            "51:",
            "movdqu %xmm3, -16({dst},{n})",
            "jmp 4b",
            "15:",
            "cmp $128, {n}",
            "ja 16f",
            // 65 to 128: the first 64 and the last 64.
            "52:",
            "movdqu ({src}), %xmm0",
            "53:",
            "movdqu 16({src}), %xmm1",
            "54:",
            "movdqu 32({src}), %xmm2",
            "55:",
            "movdqu 48({src}), %xmm3",
            "56:",
            "movdqu -64({src},{n}), %xmm4",
            "57:",
            "movdqu -48({src},{n}), %xmm5",
            "58:",
            "movdqu -32({src},{n}), %xmm6",
            "59:",
            "movdqu -16({src},{n}), %xmm7",
            "60:",
            "movdqu %xmm0, ({dst})",
            "61:",
            "movdqu %xmm1, 16({dst})",
            "62:",
            "movdqu %xmm2, 32({dst})",
            "63:",
            "movdqu %xmm3, 48({dst})",
            "64:",
            "movdqu %xmm4, -64({dst},{n})",
            "65:",
            "movdqu %xmm5, -48({dst},{n})",
            "66:",
            "movdqu %xmm6, -32({dst},{n})",
            "67:",
            "movdqu %xmm7, -16({dst},{n})",
            "jmp 4b",
            "16:",
            // 129 to 256: the first 128, then the last 128.
            "68:",
            "movdqu ({src}), %xmm0",
            "69:",
            "movdqu 16({src}), %xmm1",
            "70:",
            "movdqu 32({src}), %xmm2",
            "71:",
            "movdqu 48({src}), %xmm3",
            "72:",
            "movdqu 64({src}), %xmm4",
            "73:",
            "movdqu 80({src}), %xmm5",
            "74:",
            "movdqu 96({src}), %xmm6",
            "75:",
            "movdqu 112({src}), %xmm7",
            "76:",
            "movdqu %xmm0, ({dst})",
            "77:",
            "movdqu %xmm1, 16({dst})",
            "78:",
            "movdqu %xmm2, 32({dst})",
            "79:",
            "movdqu %xmm3, 48({dst})",
            "80:",
            "movdqu %xmm4, 64({dst})",
            "81:",
            "movdqu %xmm5, 80({dst})",
            "82:",
            "movdqu %xmm6, 96({dst})",
            "83:",
            "movdqu %xmm7, 112({dst})",
            "84:",
            "movdqu -128({src},{n}), %xmm0",
            "85:",
            "movdqu -112({src},{n}), %xmm1",
            "86:",
            "movdqu -96({src},{n}), %xmm2",
            "87:",
            "movdqu -80({src},{n}), %xmm3",
            "88:",
            "movdqu -64({src},{n}), %xmm4",
            "89:",
            "movdqu -48({src},{n}), %xmm5",
            "90:",
            "movdqu -32({src},{n}), %xmm6",
            "91:",
            "movdqu -16({src},{n}), %xmm7",
            "92:",
            "movdqu %xmm0, -128({dst},{n})",
            "93:",
            "movdqu %xmm1, -112({dst},{n})",
            "94:",
            "movdqu %xmm2, -96({dst},{n})",
            "95:",
            "movdqu %xmm3, -80({dst},{n})",
            "96:",
            "movdqu %xmm4, -64({dst},{n})",
            "97:",
            "movdqu %xmm5, -48({dst},{n})",
            "98:",
            "movdqu %xmm6, -32({dst},{n})",
            "99:",
            "movdqu %xmm7, -16({dst},{n})",
            "jmp 4b",
            "5:",
            "mov ${unchecked}, {result:e}",
            "jmp 7f",
            "6:",
            "mov ${faulted}, {result:e}",
            "7:",
            "mov rmap_sys_copy_args@gottpoff(%rip), {tls}",
            "mov {dst}, %fs:({tls})",
            "mov {src}, %fs:8({tls})",
            "mov {n}, %fs:16({tls})",
            "8:",
            // Entries relative to themselves, as the kernel's exception table: no
            // relocation for the loader to apply.
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
            ".long 40b - ., 6b - .",
            ".long 41b - ., 6b - .",
            ".long 42b - ., 6b - .",
            ".long 43b - ., 6b - .",
            ".long 44b - ., 6b - .",
            ".long 45b - ., 6b - .",
            ".long 46b - ., 6b - .",
            ".long 47b - ., 6b - .",
            ".long 48b - ., 6b - .",
            ".long 49b - ., 6b - .",
            ".long 50b - ., 6b - .",
            ".long 51b - ., 6b - .",
            ".long 52b - ., 6b - .",
            ".long 53b - ., 6b - .",
            ".long 54b - ., 6b - .",
            ".long 55b - ., 6b - .",
            ".long 56b - ., 6b - .",
            ".long 57b - ., 6b - .",
            ".long 58b - ., 6b - .",
            ".long 59b - ., 6b - .",
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
            ".long 72b - ., 6b - .",
            ".long 73b - ., 6b - .",
            ".long 74b - ., 6b - .",
            ".long 75b - ., 6b - .",
            ".long 76b - ., 6b - .",
            ".long 77b - ., 6b - .",
            ".long 78b - ., 6b - .",
            ".long 79b - ., 6b - .",
            ".long 80b - ., 6b - .",
            ".long 81b - ., 6b - .",
            ".long 82b - ., 6b - .",
            ".long 83b - ., 6b - .",
            ".long 84b - ., 6b - .",
            ".long 85b - ., 6b - .",
            ".long 86b - ., 6b - .",
            ".long 87b - ., 6b - .",
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
            ".popsection",
            tls = out(reg) _,
            a = out(reg) _,
            b = out(reg) _,
            out("xmm0") _,
            out("xmm1") _,
            out("xmm2") _,
            out("xmm3") _,
            out("xmm4") _,
            out("xmm5") _,
            out("xmm6") _,
            out("xmm7") _,
            result = out(reg) result,
            src = in(reg) src,
            dst = in(reg) dst,
            n = in(reg) n,
            unchecked = const COPY_UNCHECKED,
            faulted = const COPY_FAULTED,
            options(att_syntax, nostack),
        );
    }
    result
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
    // SAFETY: forwarded to the caller's contract. rmap_sys_find_byte
    // (x86_64.c) changes only the registers listed and keeps the rest, so
    // its caller keeps everything in registers (an `extern "C"` call made
    // rmap_find save six registers: ~10% of a Python readline()).
    unsafe {
        std::arch::asm!(
            "call rmap_sys_find_byte",
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
        );
    }
    result
}
