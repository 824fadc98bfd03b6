//! librmap's signal machinery, as the rest of the crate sees it: the
//! SIGBUS/SIGSEGV handler's hooks, the program's actions and masks kept
//! behind it, guarded copies and searches, and the protocol they share with
//! the C and assembly halves (src/sys/signal/protocol.h, whose values the
//! tests here compare with these). The handler itself, the architecture-
//! independent halves of the copies and the rebinding are C in
//! src/sys/signal/; each architecture's assembly is one file there and one
//! module here (`arch`, from signal/ARCH.rs: the calls of the copies and of
//! the one-byte search, inlined on x86-64).

use std::ffi::{c_int, c_void};

use super::c;
use super::{Errno, syscall6};

#[cfg_attr(target_arch = "aarch64", path = "signal/aarch64.rs")]
#[cfg_attr(target_arch = "x86_64", path = "signal/x86_64.rs")]
mod arch;
pub use arch::{find_byte, guarded_copy};

// The protocol (protocol.h): answers and sizes.
/// A guarded copy copied everything.
pub const COPY_DONE: c_int = 0;
/// A fault stopped a guarded copy.
pub const COPY_FAULTED: c_int = 1;
/// Nothing copied: the thread has not passed its checkpoint.
pub const COPY_UNCHECKED: c_int = 2;
/// [`find_byte`]'s answers.
pub const FIND_BYTE_NOT_FOUND: c_int = 0;
pub const FIND_BYTE_FOUND: c_int = 1;
#[cfg(test)]
const FIND_BYTE_UNCHECKED: c_int = 2;
#[cfg_attr(not(target_arch = "x86_64"), cfg(test))]
const FIND_BYTE_FAULTED: c_int = 3;
pub const FIND_BYTE_NOT_IN_SPAN: c_int = 4;
/// What a SIGBUS hook answers the handler: go on (to a guarded copy's
/// fix-up, or the program's action), or run the access again.
pub const PASS_ON: c_int = 0;
pub const RUN_AGAIN: c_int = 1;
/// What the handler tells a SIGBUS hook of the access, as bits: it wrote;
/// it is a guarded copy's or search's (whose fix-up answers if nothing
/// else does).
pub const FAULT_WROTE: c_int = 1;
pub const FAULT_GUARDED: c_int = 2;
/// Up to this many bytes a guarded copy is inlined into its caller, without
/// a loop: one byte first, below 16 bytes at most four moves (two
/// overlapping of 8, 4 or 2 bytes, or one byte and two), up to 128 the
/// first and the last 16, 32 or 64 bytes in 16-byte vector moves, each size
/// leaving on one jump (the call of `rmap_sys_copy_small` these sizes made
/// before cost a third of a 64-byte copy on AMD EPYC: 11.4 cycles against
/// `memcpy`'s 5.7, now 7.8), and from 129 the first and the last 128 bytes
/// in 32-byte AVX moves, or on a CPU without AVX a direct call of
/// `rmap_sys_copy_small`, which moves them in 16-byte ones and returns (an
/// inlined chain of jumps made the speed of 256 bytes depend on where the
/// linker put the function: 1.2 or 1.8 of `memcpy`).
/// The string move takes ~5 ns to start on some CPUs (AMD Zen with FSRM
/// measured here), a call through the GOT another 2 to 3 ns: Python's `m[i]`
/// copies one byte in a 30 to 45 ns operation, and a C program's 100-byte
/// copy costs its `memcpy` ~2 ns.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
const SMALL_COPY: usize = 256;
#[cfg(test)]
const VECTOR_COPY: usize = 256;
#[cfg(test)]
const LARGE_COPY: usize = 65536;
/// How much [`find_byte`] searches: the first 64 KiB.
pub const FIND_BYTE_SPAN: usize = 65536;
/// A fix-up record: two 32-bit offsets, each from its own address.
#[cfg(test)]
const FIXUP_RECORD: usize = 8;

unsafe extern "C" {
    // src/sys/signal/handler.c and guarded.c (the assembly: x86_64.rs).
    fn rmap_sys_install_fault_handler() -> c_int;
    fn rmap_sys_reinstall_over_default() -> c_int;
    fn rmap_sys_pass_checkpoint() -> c_int;
    fn rmap_sys_get_last_copied() -> usize;
    fn rmap_sys_set_last_copied(n: usize);
    fn rmap_sys_failed_copy_args(dst: *mut *mut c_void, src: *mut *const c_void, n: *mut usize);
    fn rmap_sys_guarded_copy_unchecked(dst: *mut c_void, src: *const c_void, n: usize) -> c_int;
    fn rmap_sys_guarded_copy_unblocked(dst: *mut c_void, src: *const c_void, n: usize) -> c_int;
    fn rmap_sys_last_fault(addr: *mut *mut c_void) -> c_int;
    fn rmap_sys_thread_is_checked() -> c_int;
    fn rmap_sys_guarded_search(
        haystack: *const c_void,
        n: usize,
        needle: *const c_void,
        m: usize,
        last: c_int,
        unblock: c_int,
        at: *mut usize,
    ) -> c_int;
    fn rmap_sys_sigaction(sig: c_int, act: *const SigAction, old: *mut SigAction) -> c_int;
    fn rmap_sys_signal(sig: c_int, handler: SigHandler, sysv: c_int, old: *mut SigHandler)
    -> c_int;
    fn rmap_sys_sigmask(how: c_int, set: *const SigSet, old: *mut SigSet, process: c_int) -> c_int;
    fn rmap_sys_hold_actions();
    fn rmap_sys_set_bus_observer(observer: extern "C" fn(*mut c_void, c_int));
    fn rmap_sys_set_death_observer(observer: extern "C" fn(c_int));
    fn rmap_sys_set_bus_tolerator(tolerator: extern "C" fn(*mut c_void, c_int) -> c_int);
    fn rmap_sys_release_actions();
    fn rmap_sys_faulted_again(page: usize, generation: u64) -> c_int;
    fn rmap_sys_thread_token() -> usize;
}

/// Has the fault handler call `observer` with the faulting address for each
/// real SIGBUS it passes on to the program's action (a fault that is not a
/// guarded copy's), just before. The observer runs in the signal handler.
pub fn set_bus_observer(observer: extern "C" fn(*mut c_void, c_int)) {
    // SAFETY: stores a function pointer valid for the process lifetime.
    unsafe { rmap_sys_set_bus_observer(observer) };
}

/// Has the fault handler call `observer` with the signal when a fault it
/// passes on is about to kill the process (the program's action for it is
/// SIG_DFL or SIG_IGN), just before. The observer runs in the signal
/// handler.
pub fn set_death_observer(observer: extern "C" fn(c_int)) {
    // SAFETY: stores a function pointer valid for the process lifetime.
    unsafe { rmap_sys_set_death_observer(observer) };
}

/// Has the fault handler ask `tolerator` first about every SIGBUS raised by
/// an access (a guarded copy's too), with the faulting address and
/// [`FAULT_WROTE`] and [`FAULT_GUARDED`] bits: when it answers
/// [`RUN_AGAIN`] the access runs again (it made the page accessible, or
/// another thread is about to).
/// It runs in the signal handler.
pub fn set_bus_tolerator(tolerator: extern "C" fn(*mut c_void, c_int) -> c_int) {
    // SAFETY: stores a function pointer valid for the process lifetime.
    unsafe { rmap_sys_set_bus_tolerator(tolerator) };
}

/// A token of the calling thread, unique among live threads, that costs no
/// system call (async-signal-safe).
pub fn thread_token() -> usize {
    // SAFETY: returns the address of a thread-local of this thread.
    unsafe { rmap_sys_thread_token() }
}

/// Whether the calling thread's previous SIGBUS that librmap was about to
/// pass on was at `page` too, with the same `generation` of watched
/// ranges (then it is forgotten); else this one is remembered. From the
/// fault handler: the record is initial-exec thread-local memory in
/// handler.c, which a handler may use.
pub fn faulted_again(page: usize, generation: u64) -> bool {
    // SAFETY: reads and writes this thread's record.
    unsafe { rmap_sys_faulted_again(page, generation) != 0 }
}

/// Takes the lock on the program's SIGBUS/SIGSEGV actions (with every
/// signal blocked in this thread) until [`release_signal_actions`]: fork
/// holds it, so that a child never inherits it held by another thread.
pub fn hold_signal_actions() {
    // SAFETY: takes a spin lock and sets this thread's mask.
    unsafe { rmap_sys_hold_actions() };
}

/// Releases [`hold_signal_actions`] and restores this thread's mask.
pub fn release_signal_actions() {
    // SAFETY: releases the lock this thread took.
    unsafe { rmap_sys_release_actions() };
}

/// The C library's `struct sigaction`, `sighandler_t` and `sigset_t`.
pub use c::{SigAction, SigHandler, SigSet};

fn zero_or(error: c_int) -> Result<(), Errno> {
    match error {
        0 => Ok(()),
        error => Err(Errno(error)),
    }
}

/// `sigaction(2)` as the program sees it: for SIGBUS and SIGSEGV, once
/// librmap's handler is installed, sets and returns the program's action,
/// and librmap's handler stays in front of it.
///
/// # Safety
/// As for `sigaction`: `act` and `old` are NULL or valid.
pub unsafe fn set_signal_action(
    sig: c_int,
    act: *const SigAction,
    old: *mut SigAction,
) -> Result<(), Errno> {
    // SAFETY: forwarded to the caller's contract.
    zero_or(unsafe { rmap_sys_sigaction(sig, act, old) })
}

/// `signal(3)` (or, with `sysv`, `sysv_signal(3)`) as the program sees it;
/// returns the previous handler.
pub fn set_signal_handler(
    sig: c_int,
    handler: SigHandler,
    sysv: bool,
) -> Result<SigHandler, Errno> {
    let mut old = c::SIG_ERR;
    // SAFETY: `old` is a valid out-parameter; the handler is only stored.
    zero_or(unsafe { rmap_sys_signal(sig, handler, sysv.into(), &mut old) })?;
    Ok(old)
}

/// `pthread_sigmask(3)` (or, with `process`, `sigprocmask(2)`); the calling
/// thread's next guarded copy goes through the checkpoint again.
///
/// # Safety
/// As for `pthread_sigmask`: `set` and `old` are NULL or valid.
pub unsafe fn set_signal_mask(
    how: c_int,
    set: *const SigSet,
    old: *mut SigSet,
    process: bool,
) -> Result<(), Errno> {
    // SAFETY: forwarded to the caller's contract.
    zero_or(unsafe { rmap_sys_sigmask(how, set, old, process.into()) })
}

/// The signal that stopped a guarded copy, and the address that faulted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    /// SIGBUS (the backing store no longer covers a page) rather than
    /// SIGSEGV (an address not mapped, or not accessible).
    pub bus: bool,
    pub addr: usize,
}

/// What a guarded copy did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Copied {
    All,
    /// A fault stopped it; bytes before the fault may or may not be copied.
    Faulted(Fault),
    /// Nothing: this thread has not passed its checkpoint.
    Unchecked,
}

/// Installs librmap's SIGBUS/SIGSEGV handler; a no-op if it is installed.
/// The caller serializes calls.
pub fn install_fault_handler() -> Result<(), Errno> {
    // SAFETY: the C function only calls sigaction.
    match unsafe { rmap_sys_install_fault_handler() } {
        0 => Ok(()),
        error => Err(Errno(error)),
    }
}

/// Installs librmap's handler again where the program set SIGBUS or
/// SIGSEGV back to SIG_DFL or SIG_IGN; returns how many it installed again.
/// The caller serializes calls.
pub fn reinstall_fault_handler_over_default() -> Result<u32, Errno> {
    // SAFETY: the C function only calls sigaction.
    match unsafe { rmap_sys_reinstall_over_default() } {
        again if again >= 0 => Ok(again as u32),
        error => Err(Errno(-error)),
    }
}

/// The calling thread's checkpoint, with librmap's handler in place: its
/// mask read (one system call), a blocked SIGBUS or SIGSEGV unblocked in
/// the kernel and hidden from the program (sys/signal/mask.c: one more),
/// the thread marked. Returns whether its copies must unblock the two
/// signals themselves (where the hiding cannot be kept: a vfork child, a C
/// library linked in statically).
pub fn pass_checkpoint() -> Result<bool, Errno> {
    // SAFETY: the C function calls pthread_sigmask and writes this thread's
    // thread-locals.
    match unsafe { rmap_sys_pass_checkpoint() } {
        1 => Ok(false),
        2 => Ok(true),
        error => Err(Errno(-error)),
    }
}

/// The calling thread's record of what its last failed copy or search
/// copied or searched before the page that faulted.
pub fn last_copied() -> usize {
    // SAFETY: the C function reads a thread-local of this thread.
    unsafe { rmap_sys_get_last_copied() }
}

/// Sets the record [`last_copied`] reads.
pub fn set_last_copied(n: usize) {
    // SAFETY: the C function writes a thread-local of this thread.
    unsafe { rmap_sys_set_last_copied(n) }
}

/// Reads this thread's record of the fault that just stopped a copy.
fn last_fault() -> Fault {
    let mut addr = std::ptr::null_mut();
    // SAFETY: reads this thread's record into a valid out-parameter.
    let signal = unsafe { rmap_sys_last_fault(&mut addr) };
    Fault {
        bus: signal == c::SIGBUS,
        addr: addr as usize,
    }
}

fn copied(result: c_int) -> Result<Copied, Errno> {
    match result {
        COPY_DONE => Ok(Copied::All),
        COPY_FAULTED => Ok(Copied::Faulted(last_fault())),
        COPY_UNCHECKED => Ok(Copied::Unchecked),
        error => Err(Errno(-error)),
    }
}

/// Where the calling thread stands at its checkpoint ([`pass_checkpoint`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadCheck {
    /// Not passed: its first copy, or its first since a mask change.
    NotYet,
    /// Passed, blocking neither SIGBUS nor SIGSEGV.
    Passed,
    /// Passed, blocking SIGBUS or SIGSEGV where they cannot be hidden: its
    /// copies unblock them.
    PassedBlocking,
}

/// Where the calling thread stands at its checkpoint.
pub fn thread_check() -> ThreadCheck {
    // SAFETY: the C function reads a thread-local byte of this thread.
    match unsafe { rmap_sys_thread_is_checked() } {
        0 => ThreadCheck::NotYet,
        1 => ThreadCheck::Passed,
        _ => ThreadCheck::PassedBlocking,
    }
}

/// The C library's `memchr`/`memmem` (`last`: `memrchr`, and for a longer
/// needle `memrchr` of its first byte then `memcmp`) of the `m` bytes at
/// `needle` in the `n` bytes at `haystack`, run in a guarded call: a SIGBUS
/// or SIGSEGV at an address of the haystack stops it and gives
/// [`Copied::Faulted`]. With the offset found, if any. With `unblock`, both
/// signals are unblocked in this thread for the call (two more system
/// calls).
///
/// # Safety
/// The fault handler is installed and this thread passed its checkpoint
/// (or `unblock`); `needle` is valid for `m` bytes (1 or more), the
/// haystack's pages may fault.
pub unsafe fn guarded_search(
    haystack: *const u8,
    n: usize,
    needle: *const u8,
    m: usize,
    last: bool,
    unblock: bool,
) -> Result<(Copied, Option<usize>), Errno> {
    let mut at = usize::MAX;
    // SAFETY: forwarded to the caller's contract; `at` is ours.
    let result = unsafe {
        rmap_sys_guarded_search(
            haystack.cast(),
            n,
            needle.cast(),
            m,
            last as c_int,
            unblock as c_int,
            &mut at,
        )
    };
    Ok((copied(result)?, (at != usize::MAX).then_some(at)))
}

/// The arguments of this thread's last [`guarded_copy`] that did not finish.
pub fn failed_copy_args() -> (*mut u8, *const u8, usize) {
    let (mut dst, mut src, mut n) = (std::ptr::null_mut(), std::ptr::null(), 0);
    // SAFETY: three valid out-parameters; reads this thread's record.
    unsafe { rmap_sys_failed_copy_args(&mut dst, &mut src, &mut n) };
    (dst.cast(), src.cast(), n)
}

/// [`guarded_copy`] without the checkpoint test; with `unblock`, SIGBUS and
/// SIGSEGV are unblocked in this thread for the copy (two more system calls).
///
/// # Safety
/// As for [`guarded_copy`].
pub unsafe fn guarded_copy_checked(
    dst: *mut u8,
    src: *const u8,
    n: usize,
    unblock: bool,
) -> Result<Copied, Errno> {
    // SAFETY: forwarded to the caller's contract.
    copied(unsafe {
        if unblock {
            rmap_sys_guarded_copy_unblocked(dst.cast(), src.cast(), n)
        } else {
            rmap_sys_guarded_copy_unchecked(dst.cast(), src.cast(), n)
        }
    })
}

/// Whether the byte at `addr` can be read, asked of the kernel
/// (`process_vm_readv` of this process): a page whose access would raise
/// SIGBUS or SIGSEGV gives EFAULT there, not a signal. None when the kernel
/// will not say (the call refused). Async-signal-safe.
pub fn probe_readable(addr: usize) -> Option<bool> {
    #[repr(C)]
    struct IoVec {
        base: usize,
        len: usize,
    }
    let mut byte = 0u8;
    let local = IoVec {
        base: &mut byte as *mut u8 as usize,
        len: 1,
    };
    let remote = IoVec { base: addr, len: 1 };
    // SAFETY: getpid takes no arguments; process_vm_readv writes one byte
    // into `byte` and reads the iovecs, all valid for the call.
    let ret = unsafe {
        let pid = syscall6(c::SYS_getpid, [0; 6]);
        syscall6(
            c::SYS_process_vm_readv,
            [
                pid as usize,
                &local as *const IoVec as usize,
                1,
                &remote as *const IoVec as usize,
                1,
                0,
            ],
        )
    };
    match ret {
        1 => Some(true),
        0 => Some(false),
        e if e == -(c::EFAULT as isize) => Some(false),
        _ => None,
    }
}

/// A thread's signal mask as the kernel holds it.
#[derive(Clone, Copy, Debug)]
pub struct SignalMask(u64);

/// Blocks every signal in the calling thread (one system call,
/// async-signal-safe); returns the mask it had.
pub fn block_all_signals() -> SignalMask {
    let all = !0u64;
    let mut old = 0u64;
    // SAFETY: rt_sigprocmask reads `all` and writes `old`, 8 bytes each.
    unsafe {
        syscall6(
            c::SYS_rt_sigprocmask,
            [
                c::SIG_BLOCK as usize,
                &all as *const u64 as usize,
                &mut old as *mut u64 as usize,
                8,
                0,
                0,
            ],
        )
    };
    SignalMask(old)
}

/// Gives the calling thread back a mask [`block_all_signals`] returned.
pub fn restore_signals(mask: SignalMask) {
    // SAFETY: rt_sigprocmask reads the mask, 8 bytes.
    unsafe {
        syscall6(
            c::SYS_rt_sigprocmask,
            [
                c::SIG_SETMASK as usize,
                &mask.0 as *const u64 as usize,
                0,
                8,
                0,
                0,
            ],
        )
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    unsafe extern "C" {
        static rmap_sys_protocol: [std::ffi::c_long; 18];
    }

    /// The C and assembly halves and this one agree on every value of
    /// protocol.h.
    #[test]
    fn the_protocol_is_the_c_halfs() {
        let ours = [
            COPY_DONE as usize,
            COPY_FAULTED as usize,
            COPY_UNCHECKED as usize,
            FIND_BYTE_NOT_FOUND as usize,
            FIND_BYTE_FOUND as usize,
            FIND_BYTE_UNCHECKED as usize,
            FIND_BYTE_FAULTED as usize,
            FIND_BYTE_NOT_IN_SPAN as usize,
            PASS_ON as usize,
            RUN_AGAIN as usize,
            FAULT_WROTE as usize,
            FAULT_GUARDED as usize,
            SMALL_COPY,
            VECTOR_COPY,
            LARGE_COPY,
            FIND_BYTE_SPAN,
            FIXUP_RECORD,
            3 * std::mem::size_of::<usize>(),
        ];
        // SAFETY: a constant array the C half defines.
        let theirs = unsafe { rmap_sys_protocol }.map(|v| v as usize);
        assert_eq!(ours, theirs);
    }
}
