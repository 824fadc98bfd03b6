//! `cargo run --example hello`: librmap's C API from Rust, through the
//! generated bindings; runs without LD_LIBRARY_PATH: by default librmap is
//! compiled into it, and with the feature `pkg-config` rmap-sys's build
//! script puts the installed library's folder in the rpath of its own
//! examples and tests (a dependent's binaries need the line docs/rust.md
//! gives).

use rmap_sys::*;
use std::ffi::CStr;

fn main() {
    // SAFETY: each call follows rmap.h; the mapping is ours until unmapped.
    unsafe {
        let len = rmap_pagesize();
        let p = rmap_map(
            std::ptr::null_mut(),
            len,
            PROT_READ | PROT_WRITE,
            MAP_PRIVATE | MAP_ANONYMOUS,
            -1,
            0,
        );
        assert_ne!(p, RMAP_FAILED, "rmap_map failed");
        let greeting = b"hello from librmap";
        assert_eq!(rmap_write(p, greeting.as_ptr().cast(), greeting.len()), 0);
        let mut back = [0u8; 18];
        assert_eq!(rmap_read(back.as_mut_ptr().cast(), p, back.len()), 0);
        let version = CStr::from_ptr(rmap_version()).to_str().unwrap();
        println!("{} {version}", String::from_utf8_lossy(&back));
        assert_eq!(rmap_unmap(p, len), 0);
    }
}
