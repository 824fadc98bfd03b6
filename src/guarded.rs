//! Guarded copies: `memcpy` that turns SIGBUS into EIO and SIGSEGV into
//! EFAULT instead of killing the process (`rmap_read`, `rmap_write`).

use std::cell::Cell;

use errno::Errno;

use crate::process::ensure_fault_handler;
use crate::sys::{self, EFAULT, EIO, Fault};

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
/// On error, [`last_copied`] tells how many leading bytes were copied: all
/// pages before the first faulting one (a successful copy copied all `n`).
/// Finding it costs a second, page by page pass, paid only after a fault.
///
/// # Safety
/// `dst` and `src` must not overlap, and writing `dst` must not break the
/// caller (as for `memcpy`); inaccessible pages are allowed.
#[inline]
pub unsafe fn copy(dst: *mut u8, src: *const u8, n: usize) -> Result<(), Errno> {
    ensure_fault_handler()?;
    // SAFETY: the handler is installed; the rest is the caller's contract.
    match unsafe { sys::guarded_copy(dst, src, n) } {
        Ok(()) => Ok(()),
        // SAFETY: as above.
        Err(_) => unsafe { copy_failed(dst, src, n) },
    }
}

/// Redoes a failed copy in segments that never cross a page boundary of
/// either side, in order, and stops at the first that faults: every byte
/// before it is copied. Records that count (only failures do, so a
/// successful copy touches no thread-local).
///
/// # Safety
/// As for [`copy`].
#[cold]
unsafe fn copy_failed(dst: *mut u8, src: *const u8, n: usize) -> Result<(), Errno> {
    let page = sys::page_size();
    let to_page_end = |addr: usize| page - (addr & (page - 1));
    let mut done = 0;
    while done < n {
        let step = to_page_end(src as usize + done)
            .min(to_page_end(dst as usize + done))
            .min(n - done);
        // SAFETY: a sub-range of the caller's buffers, which the caller vouches for.
        if let Err(fault) = unsafe { sys::guarded_copy(dst.add(done), src.add(done), step) } {
            LAST_COPIED.set(done);
            return Err(match fault {
                Fault::Bus => Errno(EIO),
                Fault::Segv => Errno(EFAULT),
            });
        }
        done += step;
    }
    // The fault went away between the passes (the file grew back): all copied.
    Ok(())
}
