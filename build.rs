//! Gives the shared library its SONAME and a `librmap.so.0` link in the
//! target directory. (The C half of `sys` is the Rust crate's: rmap/build.rs.)
//!
//! The C header is not generated here: `make header` runs tools/header
//! (cbindgen), and `make header-check` fails on a stale include/rmap.h, so
//! that building librmap, or depending on it from Rust, never pays for it.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

fn main() {
    let major = env::var("CARGO_PKG_VERSION_MAJOR").unwrap();
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,librmap.so.{major}");
    // Never unloaded (DF_1_NODELETE): dlclose must not leave the SIGBUS and
    // SIGSEGV handlers pointing into unmapped code.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
    println!("cargo:rerun-if-changed=build.rs");

    // OUT_DIR is target/<profile>/build/rmap-<hash>/out.
    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap());
    let profile_dir = out_dir
        .ancestors()
        .nth(3)
        .expect("OUT_DIR is inside the target dir");
    link_soname(profile_dir, &major);
}

/// A program linked with -lrmap asks for the SONAME; the link lets it run
/// from the build tree.
fn link_soname(profile_dir: &Path, major: &str) {
    let link = profile_dir.join(format!("librmap.so.{major}"));
    if fs::symlink_metadata(&link).is_err() {
        std::os::unix::fs::symlink("librmap.so", &link).unwrap();
    }
}
