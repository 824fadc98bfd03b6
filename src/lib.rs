//! librmap, the C library: `librmap.so` and `librmap.a`, whose functions
//! are declared in `include/rmap.h` (generated from `ffi.rs` by cbindgen:
//! `make header`).
//!
//! Every exported function is in `ffi`, and nothing else is here: each
//! marshals C types, runs its body in the one panic guard and sets errno as
//! its last step, over the operations of the Rust crate `librmap` (in
//! `rmap/`), which it reaches through that crate's `c-library` feature.
//! docs/architecture.md has the layers, and `make check` enforces them.

#![deny(unsafe_op_in_unsafe_fn)]

mod ffi;
