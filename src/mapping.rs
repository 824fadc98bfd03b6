//! The operations behind every entry point: validate in Rust, then ask the
//! kernel. Pure Rust types in, `Result<T, Errno>` out.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use errno::Errno;

use crate::sys::{self, EFAULT, EIO, Fault};
use crate::validate::{self, MapArgs};

static PAGE_SIZE: AtomicUsize = AtomicUsize::new(0);

/// The system page size, read once.
pub fn page_size() -> usize {
    match PAGE_SIZE.load(Ordering::Relaxed) {
        0 => {
            let size = sys::page_size();
            PAGE_SIZE.store(size, Ordering::Relaxed);
            size
        }
        size => size,
    }
}

/// `mmap` with Linux's argument rules decided in Rust first.
///
/// # Safety
/// As for `mmap(2)`: with `MAP_FIXED` whatever was mapped in the range is replaced.
pub unsafe fn map(
    addr: *mut u8,
    len: usize,
    prot: i32,
    flags: i32,
    fd: i32,
    offset: i64,
) -> Result<*mut u8, Errno> {
    let args = MapArgs {
        addr: addr as usize,
        len,
        flags,
        fd,
        offset,
    };
    validate::check_map(&args, page_size(), sys::fd_kind)?;
    // SAFETY: forwarded to the caller's contract.
    unsafe { sys::mmap(addr, len, prot, flags, fd, offset) }
}

/// `msync` with Linux's argument rules decided in Rust first.
///
/// # Safety
/// As for `msync(2)`.
pub unsafe fn sync(addr: *mut u8, len: usize, flags: i32) -> Result<(), Errno> {
    validate::check_sync(addr as usize, len, flags, page_size())?;
    // SAFETY: forwarded to the caller's contract.
    unsafe { sys::msync(addr, len, flags) }
}

/// `munmap` with Linux's argument rules decided in Rust first.
///
/// # Safety
/// As for `munmap(2)`: nothing may use the range afterwards.
pub unsafe fn unmap(addr: *mut u8, len: usize) -> Result<(), Errno> {
    validate::check_unmap(addr as usize, len, page_size())?;
    // SAFETY: forwarded to the caller's contract.
    unsafe { sys::munmap(addr, len) }
}

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
/// pages before the first faulting one (a successful copy copied all `n`). Finding it costs a second, page by
/// page pass, paid only after a fault; the copy itself is one `memcpy`.
///
/// # Safety
/// `dst` and `src` must not overlap, and writing `dst` must not break the
/// caller (as for `memcpy`); inaccessible pages are allowed.
pub unsafe fn copy(dst: *mut u8, src: *const u8, n: usize) -> Result<(), Errno> {
    sys::install_fault_handler()?;
    if n == 0 {
        return Ok(());
    }
    // SAFETY: the handler is installed; the rest is the caller's contract.
    if unsafe { sys::guarded_copy(dst, src, n) }.is_ok() {
        return Ok(());
    }
    // SAFETY: as above, over sub-ranges of the same buffers.
    let (copied, result) = unsafe { copy_by_page(dst, src, n) };
    // Only failures record the count, so a successful copy touches no thread-local.
    LAST_COPIED.set(copied);
    result.map_err(|fault| match fault {
        Fault::Bus => Errno(EIO),
        Fault::Segv => Errno(EFAULT),
    })
}

/// Copies in segments that never cross a page boundary of either side, in
/// order, and stops at the first that faults: every byte before it is copied.
///
/// # Safety
/// As for [`copy`].
unsafe fn copy_by_page(dst: *mut u8, src: *const u8, n: usize) -> (usize, Result<(), Fault>) {
    let page = page_size();
    let mut done = 0;
    while done < n {
        let to_page_end = |addr: usize| page - addr % page;
        let step = to_page_end(src as usize + done)
            .min(to_page_end(dst as usize + done))
            .min(n - done);
        // SAFETY: a sub-range of the caller's buffers, which the caller vouches for.
        if let Err((fault, _)) = unsafe { sys::guarded_copy(dst.add(done), src.add(done), step) } {
            return (done, Err(fault));
        }
        done += step;
    }
    // The fault went away between the passes (the file grew back): all copied.
    (n, Ok(()))
}
