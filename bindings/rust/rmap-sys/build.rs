//! Runs bindgen on the shipped include/rmap.h and links librmap.
//!
//! Finds the header and library in this source tree (`RMAP_INCLUDE_DIR` and
//! `RMAP_LIB_DIR` override), and libclang through bindgen's usual
//! `LIBCLANG_PATH`. C compilers' own headers (stddef.h) come from `cc`.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap()).join("../../..");
    let include = env::var("RMAP_INCLUDE_DIR").map_or_else(|_| root.join("include"), PathBuf::from);
    let lib = env::var("RMAP_LIB_DIR").map_or_else(|_| root.join("target/release"), PathBuf::from);
    println!(
        "cargo:rerun-if-changed={}",
        include.join("rmap.h").display()
    );
    println!("cargo:rerun-if-env-changed=RMAP_INCLUDE_DIR");
    println!("cargo:rerun-if-env-changed=RMAP_LIB_DIR");
    println!("cargo:rustc-link-search=native={}", lib.display());
    println!("cargo:rustc-link-lib=dylib=rmap");
    // Programs and tests built here run against that librmap without installing it.
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());

    let mut builder = bindgen::Builder::default()
        .header(include.join("rmap.h").to_string_lossy())
        .allowlist_function("rmap_.*")
        .allowlist_var("RMAP_.*")
        .clang_arg("-D_DEFAULT_SOURCE");
    // libclang from a wheel has no resource directory: borrow the C compiler's.
    if let Ok(out) = Command::new("cc").arg("-print-file-name=include").output() {
        let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !dir.is_empty() {
            builder = builder.clang_arg(format!("-I{dir}"));
        }
    }
    let bindings = builder.generate().expect("bindgen parses include/rmap.h");
    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("bindings.rs");
    bindings.write_to_file(out).unwrap();
}
