//! The operations behind every entry point: validate in Rust, then ask the
//! kernel. Pure Rust types in, `Result<T, Errno>` out.

use std::sync::atomic::{AtomicUsize, Ordering};

use errno::Errno;

use crate::sys;
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
