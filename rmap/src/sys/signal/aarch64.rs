//! The AArch64 calls of the guarded copy and the one-byte search
//! (sys/signal/aarch64.c): plain calls, nothing inlined (the port is tested
//! under emulation only, where no speed is measured).

use std::ffi::{c_int, c_void};

unsafe extern "C" {
    fn rmap_sys_guarded_copy(dst: *mut c_void, src: *const c_void, n: usize) -> c_int;
    fn rmap_sys_find_byte(s: *const u8, n: usize, byte: *const u8, at: *mut usize) -> c_int;
}

/// Copies `n` bytes, turning a SIGBUS or SIGSEGV raised by the copy into
/// an early return, if this thread passed its checkpoint; otherwise copies
/// nothing. Returns 0 (all copied), `COPY_FAULTED`, or `COPY_UNCHECKED`;
/// then `failed_copy_args` gives its arguments back.
///
/// # Safety
/// As on x86-64 (signal/x86_64.rs): the handler installed before the
/// checkpoint; `dst` and `src` do not overlap; `dst` holds nothing whose
/// overwriting breaks the caller.
#[inline(always)]
pub unsafe fn guarded_copy(dst: *mut u8, src: *const u8, n: usize) -> c_int {
    // SAFETY: forwarded to the caller's contract; every load and store of
    // the routine is in the fix-up table.
    unsafe { rmap_sys_guarded_copy(dst.cast(), src.cast(), n) }
}

/// `memchr` of the byte at `byte` in the first `FIND_BYTE_SPAN` of the `n`
/// bytes at `s`, turning a fault into an early return, if this thread
/// passed its checkpoint (answers as on x86-64).
///
/// # Safety
/// As for [`guarded_copy`]; `at` is valid for writing.
#[inline(always)]
pub unsafe fn find_byte(s: *const u8, n: usize, byte: *const u8, at: *mut usize) -> c_int {
    // SAFETY: forwarded to the caller's contract.
    unsafe { rmap_sys_find_byte(s, n, byte, at) }
}
