//! Runs bindgen on the shipped rmap.h and links librmap.
//!
//! Where librmap is: `RMAP_INCLUDE_DIR` and `RMAP_LIB_DIR` if set; else
//! what pkg-config knows as `rmap` (an installed librmap, or this source
//! tree's `target/release/rmap-uninstalled.pc` when `PKG_CONFIG_PATH` points
//! there); else this source tree (`include/`, `target/release/` after
//! `make`). The library's directory goes into the rpath of this crate's
//! examples and tests (so `cargo run --example hello` needs no
//! `LD_LIBRARY_PATH`) and to dependents' build scripts as `DEP_RMAP_LIBDIR`.
//! bindgen needs libclang (`LIBCLANG_PATH`, or the system's).

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let (include, lib) = locate();
    println!(
        "cargo:rerun-if-changed={}",
        include.join("rmap.h").display()
    );
    println!("cargo:rerun-if-env-changed=RMAP_INCLUDE_DIR");
    println!("cargo:rerun-if-env-changed=RMAP_LIB_DIR");
    println!("cargo:rustc-link-search=native={}", lib.display());
    println!("cargo:rustc-link-lib=dylib=rmap");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    println!("cargo:libdir={}", lib.display());
    println!("cargo:include={}", include.display());

    let mut builder = bindgen::Builder::default()
        .header(include.join("rmap.h").to_string_lossy())
        .allowlist_function("rmap_.*")
        .allowlist_var("RMAP_.*|PROT_.*|MAP_.*|MS_.*|MADV_.*|MREMAP_.*")
        .default_macro_constant_type(bindgen::MacroTypeVariation::Signed)
        .clang_arg("-D_GNU_SOURCE");
    // libclang from a wheel has no resource directory: borrow the C compiler's.
    if let Ok(out) = Command::new("cc").arg("-print-file-name=include").output() {
        let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !dir.is_empty() {
            builder = builder.clang_arg(format!("-I{dir}"));
        }
    }
    let bindings = builder.generate().expect("bindgen parses rmap.h");
    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("bindings.rs");
    bindings.write_to_file(out).unwrap();
}

/// The directory holding rmap.h and the one holding librmap.so.
fn locate() -> (PathBuf, PathBuf) {
    if let (Ok(include), Ok(lib)) = (env::var("RMAP_INCLUDE_DIR"), env::var("RMAP_LIB_DIR")) {
        return (include.into(), lib.into());
    }
    if pkg_config::Config::new()
        .cargo_metadata(false)
        .probe("rmap")
        .is_ok()
    {
        // pkg-config escapes a space in a path as "\ ".
        let variable = |name| {
            pkg_config::get_variable("rmap", name)
                .expect("rmap.pc names its directories")
                .replace("\\ ", " ")
        };
        return (variable("includedir").into(), variable("libdir").into());
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../..");
    let (include, lib) = (root.join("include"), root.join("target/release"));
    if include.join("rmap.h").exists() && lib.join("librmap.so").exists() {
        return (include, lib);
    }
    panic!(
        "rmap-sys: librmap not found: install it (make install, so that pkg-config finds rmap.pc), \
         build the librmap source tree around this crate (make), or set RMAP_INCLUDE_DIR and RMAP_LIB_DIR"
    );
}
