//! rmap: memory mapping for Rust with memmap2's API, on librmap.
//!
//! Rust programs use memmap2's API ([`Mmap`], [`MmapMut`], [`MmapRaw`],
//! [`MmapOptions`]: port by renaming the crate), with librmap's extras
//! ([`Mmap::read_at`], [`MmapMut::write_at`], [`Mmap::query`], [`stats`],
//! tolerant mappings). The same code is librmap, the C library (`rmap_map`,
//! `rmap_sync`, `rmap_unmap` and the rest of `<sys/mman.h>` as drop-in
//! replacements with a tested errno contract): that is the workspace's top
//! package, whose `ffi.rs` calls this crate's operations; a Rust program
//! depending on this crate builds no C library.
//!
//! ```
//! use librmap::{Mmap, MmapMut, MmapOptions};
//! let mut anon = MmapMut::map_anon(4096)?;
//! anon[..5].copy_from_slice(b"hello");
//! let file = std::fs::File::open("Cargo.toml")?;
//! let map = unsafe { Mmap::map(&file)? }; // unsafe: see MmapOptions
//! assert!(map.starts_with(b"[package]"));
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Layers, each calling only the ones below it (docs/architecture.md has
//! the table, and `make check` enforces it): `memmap` (the safe API; and the
//! C library's `ffi.rs`, C types, panic guard, errno) → the operations `mapping` and `guarded`
//! → `validate` (Linux's argument rules), `registry`, `checked`, `process`
//! (process-wide state and lifecycle) → `sys` (system calls, the only module
//! that knows the OS).

#![deny(unsafe_op_in_unsafe_fn)]
// Without the C library, the operations only its functions call (checked
// mode's switch, rmap_find, the signal functions' bodies) are unused.
#![cfg_attr(not(feature = "c-library"), allow(dead_code))]

mod checked;
// The operations behind the C library's functions: public to the C library
// package alone (feature `c-library`), private otherwise.
#[cfg(feature = "c-library")]
#[doc(hidden)]
pub mod guarded;
#[cfg(not(feature = "c-library"))]
mod guarded;
mod lock;
#[cfg(feature = "c-library")]
#[doc(hidden)]
pub mod mapping;
#[cfg(not(feature = "c-library"))]
mod mapping;
mod memmap;
mod page_map;
mod process;
mod registry;
mod sys;
mod validate;
mod watch;

pub use memmap::{
    Advice, MapIfSafeError, MapInfo, Mmap, MmapAsRawDesc, MmapMut, MmapOptions, MmapRaw,
    MmapRawDescriptor, RemapOptions, Stats, UncheckedAdvice, copied, shm_create, stats,
};

/// The system page size in bytes, read once.
///
/// ```
/// assert!(librmap::page_size().is_power_of_two());
/// ```
pub fn page_size() -> usize {
    mapping::page_size()
}

/// The crate version, as "MAJOR.MINOR.PATCH".
///
/// ```
/// assert_eq!(librmap::VERSION.split('.').count(), 3);
/// ```
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
