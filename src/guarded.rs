//! Guarded copies: `memcpy` that turns SIGBUS into EIO and SIGSEGV into
//! EFAULT instead of killing the process (`rmap_read`, `rmap_write`).
//!
//! A fault is recoverable only if it reaches librmap's handler: the kernel
//! kills the process when the faulting thread blocks the signal (it unblocks
//! it and forces the default action) and when the signal's action is no
//! longer librmap's handler. The program's `sigaction`, `signal`,
//! `sigprocmask` and `pthread_sigmask` calls come through librmap (see the
//! functions at the end): actions go behind librmap's handler, and a mask
//! change sends the thread back to the checkpoint. Reading a thread's
//! signal mask takes a system call, several times the cost of a 4 KiB copy,
//! so it is read at that checkpoint: each thread's first guarded copy, and
//! its first after each mask change. There librmap also installs its handler
//! again if SIG_DFL or SIG_IGN was set behind its back. A thread that passes
//! (neither signal blocked) is marked, and its copies test that mark with
//! one load; a thread that blocks either signal comes back to the checkpoint
//! at every copy, which then runs with the two signals unblocked.

use std::cell::Cell;
use std::ffi::c_int;

use errno::Errno;

use crate::process::{ensure_fault_handler, recheck_fault_handler};
use crate::sys::{self, Copied, EFAULT, EIO, Fault};
pub use crate::sys::{SigAction, SigHandler, SigSet};

thread_local! {
    static LAST_COPIED: Cell<usize> = const { Cell::new(0) };
}

/// Bytes the calling thread's last failed [`copy`] copied before it stopped.
pub fn last_copied() -> usize {
    LAST_COPIED.get()
}

/// Copies `n` bytes from `src` to `dst`, either of which may be a mapping
/// whose pages can fault: SIGBUS becomes EIO, SIGSEGV becomes EFAULT.
///
/// On error, [`last_copied`] tells how many leading bytes were copied: every
/// byte before the first page that faulted (a successful copy copied all
/// `n`). Finding it costs a second, page by page pass, paid only after a
/// fault.
///
/// # Safety
/// `dst` and `src` must not overlap, and writing `dst` must not break the
/// caller (as for `memcpy`); inaccessible pages are allowed.
#[inline]
pub unsafe fn copy(dst: *mut u8, src: *const u8, n: usize) -> Result<(), Errno> {
    // SAFETY: forwarded to the caller's contract.
    match unsafe { copy_fast(dst, src, n) } {
        0 => Ok(()),
        // SAFETY: as above.
        unfinished => unsafe { copy_rest(unfinished) },
    }
}

/// The fast path of [`copy`], all of it in `sys` (no Rust code that could
/// panic): 0 when everything was copied, else the code [`copy_rest`] takes.
/// A thread that passed its checkpoint copies with nothing set up.
///
/// # Safety
/// As for [`copy`].
#[inline(always)]
pub unsafe fn copy_fast(dst: *mut u8, src: *const u8, n: usize) -> c_int {
    // SAFETY: a thread passes its checkpoint only once the handler is in
    // place; the rest is the caller's contract.
    unsafe { sys::guarded_copy(dst, src, n) }
}

/// The rest of a copy whose fast path returned `unfinished`: a fault
/// (redone page by page), or a thread that has not passed its checkpoint.
///
/// # Safety
/// Right after [`copy_fast`] returned `unfinished` in this thread, whose
/// arguments still hold the caller's contract.
#[cold]
#[inline(never)]
pub unsafe fn copy_rest(unfinished: c_int) -> Result<(), Errno> {
    let (dst, src, n) = sys::failed_copy_args();
    if unfinished == sys::COPY_FAULTED {
        // SAFETY: the caller's contract, for the same arguments.
        return unsafe { copy_failed(dst, src, n, false) };
    }
    ensure_fault_handler()?;
    // SAFETY: as above.
    unsafe { copy_at_checkpoint(dst, src, n) }
}

/// A thread's first guarded copy, and every copy of a thread that blocks
/// SIGBUS or SIGSEGV: the handler made sure of, the mask read.
///
/// # Safety
/// As for [`copy`].
#[cold]
#[inline(never)]
unsafe fn copy_at_checkpoint(dst: *mut u8, src: *const u8, n: usize) -> Result<(), Errno> {
    recheck_fault_handler()?;
    let unblock = sys::fault_signals_blocked()?;
    if !unblock {
        sys::set_thread_checked();
    }
    // SAFETY: the handler is in place, and the signals reach it.
    match unsafe { sys::guarded_copy_checked(dst, src, n, unblock) }? {
        Copied::Faulted(_) => unsafe { copy_failed(dst, src, n, unblock) },
        _ => Ok(()),
    }
}

/// Redoes a failed copy in segments that never cross a page boundary of
/// either side, in order, and stops at the first that faults: every byte
/// before it is copied. The count it records is the start of the page that
/// faulted (on whichever side), so it never ends inside a page that faulted
/// even when a file shrinks between the passes. Only failures record it, so
/// a successful copy touches no thread-local.
///
/// # Safety
/// As for [`copy`].
#[cold]
unsafe fn copy_failed(dst: *mut u8, src: *const u8, n: usize, unblock: bool) -> Result<(), Errno> {
    let page = sys::page_size();
    let to_page_end = |addr: usize| page - (addr & (page - 1));
    let mut done = 0;
    while done < n {
        let step = to_page_end(src as usize + done)
            .min(to_page_end(dst as usize + done))
            .min(n - done);
        // SAFETY: a sub-range of the caller's buffers, which the caller vouches for.
        let copied =
            unsafe { sys::guarded_copy_checked(dst.add(done), src.add(done), step, unblock) }?;
        if let Copied::Faulted(fault) = copied {
            LAST_COPIED.set(done.min(start_of_faulting_page(fault, dst, src, n, page)));
            return Err(Errno(if fault.bus { EIO } else { EFAULT }));
        }
        done += step;
    }
    // The fault went away between the passes (the file grew back): all copied.
    Ok(())
}

/// How many bytes precede the page that faulted, on the side it faulted.
fn start_of_faulting_page(
    fault: Fault,
    dst: *mut u8,
    src: *const u8,
    n: usize,
    page: usize,
) -> usize {
    let page_start = fault.addr & !(page - 1);
    [src as usize, dst as usize]
        .into_iter()
        .find(|&base| (base..base + n).contains(&fault.addr))
        .map_or(usize::MAX, |base| page_start.saturating_sub(base))
}

/// `sigaction` for the program. Once librmap's handler is installed, a
/// program's SIGBUS or SIGSEGV action goes behind it instead of replacing it
/// (guarded copies keep working whatever the program sets), and the program
/// is shown its own action.
///
/// # Safety
/// As for `sigaction`: `act` and `old` are NULL or valid.
pub unsafe fn set_signal_action(
    sig: c_int,
    act: *const SigAction,
    old: *mut SigAction,
) -> Result<(), Errno> {
    // SAFETY: forwarded to the caller's contract.
    unsafe { sys::set_signal_action(sig, act, old) }
}

/// `signal` (BSD semantics) or `sysv_signal` for the program, the same way.
pub fn set_signal_handler(
    sig: c_int,
    handler: SigHandler,
    sysv: bool,
) -> Result<SigHandler, Errno> {
    sys::set_signal_handler(sig, handler, sysv)
}

/// `pthread_sigmask` or `sigprocmask` for the program: the new mask may
/// block SIGBUS or SIGSEGV, so the calling thread's next copy goes through
/// the checkpoint again.
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
    unsafe { sys::set_signal_mask(how, set, old, process) }
}
