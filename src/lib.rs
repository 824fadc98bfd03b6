//! librmap: memory mapping for C, written in Rust.
//!
//! C programs call `rmap_map`, `rmap_sync` and `rmap_unmap` (declared in
//! `include/rmap.h`) as drop-in replacements for `mmap`, `msync` and
//! `munmap`, with an errno contract that is written down in the header and
//! proven by `make check`. Rust programs use [`Mapping`], or the raw
//! [`map`], [`sync`] and [`unmap`] that the C functions call too.
//!
//! Layers, each calling only the ones below it (docs/architecture.md has
//! the table, and `make check` enforces it): `ffi` (C types, panic guard,
//! errno) and this file's safe API → the operations `mapping` and `guarded`
//! → `validate` (Linux's argument rules), `registry`, `checked`, `process`
//! (process-wide state and lifecycle) → `sys` (system calls, the only module
//! that knows the OS).

#![deny(unsafe_op_in_unsafe_fn)]

mod checked;
mod ffi;
mod guarded;
mod lock;
mod mapping;
mod page_map;
mod process;
mod registry;
mod sys;
mod validate;

use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr::NonNull;

pub use errno::Errno;
pub use mapping::{advise, lock, map, page_size, protect, remap, resident, sync, unlock, unmap};

/// The crate version, as "MAJOR.MINOR.PATCH".
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// How a file mapping may be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Shared, read-only.
    Read,
    /// Shared, read-write: writes reach the file.
    Write,
    /// Private, read-write: writes are copy-on-write and never reach the file.
    Copy,
}

/// How [`Mapping::sync`] writes back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncMode {
    /// Wait until the data is written (`MS_SYNC`).
    Wait,
    /// Schedule the write-back and return (`MS_ASYNC`).
    Schedule,
}

/// A mapping owned by Rust: unmapped when dropped.
#[derive(Debug)]
pub struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
    writable: bool,
}

// SAFETY: a Mapping owns its range exclusively, like a Box<[u8]>.
unsafe impl Send for Mapping {}
// SAFETY: shared access only reads; writes need &mut.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// A private, zero-filled, read-write anonymous mapping of `len` bytes.
    pub fn anonymous(len: usize) -> Result<Mapping, Errno> {
        let flags = mapping::PRIVATE | mapping::ANONYMOUS;
        // SAFETY: no MAP_FIXED, so no existing memory is touched.
        let ptr = unsafe { map(std::ptr::null_mut(), len, RW, flags, -1, 0) }?;
        Ok(Mapping::owning(ptr, len, true))
    }

    /// Maps `len` bytes of the file behind `fd`, starting at `offset` (a
    /// multiple of [`page_size`]).
    ///
    /// # Safety
    /// The file must not be truncated below `offset + len` while the mapping
    /// lives (touching such pages raises SIGBUS), and for [`Access::Read`] and
    /// [`Access::Write`] no other process or mapping may write the range
    /// while Rust references into it are alive.
    pub unsafe fn file(
        fd: BorrowedFd<'_>,
        offset: i64,
        len: usize,
        access: Access,
    ) -> Result<Mapping, Errno> {
        let (prot, flags) = match access {
            Access::Read => (mapping::READ, mapping::SHARED),
            Access::Write => (RW, mapping::SHARED),
            Access::Copy => (RW, mapping::PRIVATE),
        };
        let raw = fd.as_raw_fd();
        // SAFETY: no MAP_FIXED, so no existing memory is touched.
        let ptr = unsafe { map(std::ptr::null_mut(), len, prot, flags, raw, offset) }?;
        Ok(Mapping::owning(ptr, len, access != Access::Read))
    }

    fn owning(ptr: *mut u8, len: usize, writable: bool) -> Mapping {
        let ptr = NonNull::new(ptr).expect("mmap returned NULL without MAP_FIXED");
        Mapping { ptr, len, writable }
    }

    /// The first byte of the mapping.
    pub fn as_ptr(&self) -> *const u8 {
        self.ptr.as_ptr()
    }

    /// The length in bytes, as requested (the mapping covers whole pages).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: a mapping has at least one byte.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The mapped bytes.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: the range is mapped readable for `len` bytes while self lives.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    /// The mapped bytes, writable; None for a read-only mapping.
    pub fn as_mut_slice(&mut self) -> Option<&mut [u8]> {
        // SAFETY: mapped writable for `len` bytes; &mut self makes it exclusive.
        self.writable
            .then(|| unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) })
    }

    /// Writes the mapping back to its file.
    pub fn sync(&self, mode: SyncMode) -> Result<(), Errno> {
        let flags = match mode {
            SyncMode::Wait => mapping::MS_SYNC,
            SyncMode::Schedule => mapping::MS_ASYNC,
        };
        // SAFETY: the range is ours and mapped; msync does not invalidate it.
        unsafe { sync(self.ptr.as_ptr(), self.len, flags) }
    }
}

/// Advice about how a mapping will be used ([`Mapping::advise`]); only the
/// kinds that leave its contents alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Advice {
    /// No special treatment (`MADV_NORMAL`).
    Normal,
    /// Expect random access: read ahead little (`MADV_RANDOM`).
    Random,
    /// Expect sequential access: read ahead much (`MADV_SEQUENTIAL`).
    Sequential,
    /// Expect access soon: start reading (`MADV_WILLNEED`).
    WillNeed,
}

impl Mapping {
    /// Passes `advice` for the whole mapping to the kernel.
    pub fn advise(&self, advice: Advice) -> Result<(), Errno> {
        let advice = match advice {
            Advice::Normal => mapping::MADV_NORMAL,
            Advice::Random => mapping::MADV_RANDOM,
            Advice::Sequential => mapping::MADV_SEQUENTIAL,
            Advice::WillNeed => mapping::MADV_WILLNEED,
        };
        // SAFETY: these kinds of advice leave the contents alone.
        unsafe { advise(self.ptr.as_ptr(), self.len, advice) }
    }

    /// Locks the mapping's pages in memory (`mlock`).
    pub fn lock(&self) -> Result<(), Errno> {
        lock(self.ptr.as_ptr(), self.len)
    }

    /// Unlocks the mapping's pages (`munlock`).
    pub fn unlock(&self) -> Result<(), Errno> {
        unlock(self.ptr.as_ptr(), self.len)
    }

    /// Makes the mapping read-only: writes through a pointer fault, and
    /// [`Mapping::as_mut_slice`] answers None.
    pub fn make_read_only(&mut self) -> Result<(), Errno> {
        // SAFETY: the range is ours; &mut self means no slice is borrowed.
        unsafe { protect(self.ptr.as_ptr(), self.len, mapping::READ) }?;
        self.writable = false;
        Ok(())
    }

    /// Grows or shrinks the mapping to `new_len` bytes, moving it if it
    /// cannot stay (`mremap` with `MREMAP_MAYMOVE`).
    pub fn resize(&mut self, new_len: usize) -> Result<(), Errno> {
        let flags = mapping::MREMAP_MAYMOVE;
        // SAFETY: the range is ours and &mut self means nothing borrows it;
        // the fifth argument is not read without MREMAP_FIXED.
        let ptr = unsafe {
            remap(
                self.ptr.as_ptr(),
                self.len,
                new_len,
                flags,
                std::ptr::null_mut(),
            )
        }?;
        self.ptr = NonNull::new(ptr).expect("mremap does not return NULL");
        self.len = new_len;
        Ok(())
    }

    /// Whether each page of the mapping is resident in memory (`mincore`).
    pub fn resident(&self) -> Result<Vec<bool>, Errno> {
        let mut vec = vec![0u8; self.len.div_ceil(page_size())];
        // SAFETY: vec has one byte per page of the range.
        unsafe { resident(self.ptr.as_ptr(), self.len, vec.as_mut_ptr()) }?;
        Ok(vec.into_iter().map(|byte| byte & 1 != 0).collect())
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: we own the range and nothing borrows it any more. An error
        // is impossible for a range we mapped, and Drop could not report it.
        let _ = unsafe { unmap(self.ptr.as_ptr(), self.len) };
    }
}

const RW: i32 = mapping::READ | mapping::WRITE;
