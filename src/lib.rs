//! librmap: memory mapping for C, written in Rust.
//!
//! C programs call `rmap_map`, `rmap_sync`, `rmap_unmap` and the rest of
//! `<sys/mman.h>` (declared in `include/rmap.h`) as drop-in replacements,
//! with an errno contract that is written down in the header and proven by
//! `make check`. Rust programs use memmap2's API ([`Mmap`], [`MmapMut`],
//! [`MmapOptions`]: port by renaming the crate), with librmap's extras
//! ([`Mmap::read_at`], [`MmapMut::write_at`], [`Mmap::query`], [`stats`]).
//!
//! ```
//! use rmap::{Mmap, MmapMut, MmapOptions};
//! let mut anon = MmapMut::map_anon(4096)?;
//! anon[..5].copy_from_slice(b"hello");
//! let file = std::fs::File::open("Cargo.toml")?;
//! let map = unsafe { Mmap::map(&file)? }; // unsafe: see MmapOptions
//! assert!(map.starts_with(b"[package]"));
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Layers, each calling only the ones below it (docs/architecture.md has
//! the table, and `make check` enforces it): `ffi` (C types, panic guard,
//! errno) and `memmap` (the safe API) → the operations `mapping` and `guarded`
//! → `validate` (Linux's argument rules), `registry`, `checked`, `process`
//! (process-wide state and lifecycle) → `sys` (system calls, the only module
//! that knows the OS).

#![deny(unsafe_op_in_unsafe_fn)]

mod checked;
mod ffi;
mod guarded;
mod lock;
mod mapping;
mod memmap;
mod page_map;
mod process;
mod registry;
mod sys;
mod validate;

pub use memmap::{
    Advice, MapInfo, Mmap, MmapAsRawDesc, MmapMut, MmapOptions, MmapRawDescriptor, RemapOptions,
    Stats, UncheckedAdvice, copied, stats,
};

/// The system page size in bytes, read once.
///
/// ```
/// assert!(rmap::page_size().is_power_of_two());
/// ```
pub fn page_size() -> usize {
    mapping::page_size()
}

/// The crate version, as "MAJOR.MINOR.PATCH".
///
/// ```
/// assert_eq!(rmap::VERSION.split('.').count(), 3);
/// ```
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
