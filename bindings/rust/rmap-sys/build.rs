//! Links librmap, and with the feature `bindgen` regenerates the bindings.
//!
//! - feature `static` (the default): nothing to do here: the C library
//!   package of this workspace is a dependency, and its rlib, with every
//!   `rmap_*` function, is linked into the program like any Rust crate.
//! - feature `pkg-config` (without `static`): the installed `librmap.so`
//!   that pkg-config finds as `rmap` (an installed librmap, or this tree's
//!   `target/release/rmap-uninstalled.pc` when `PKG_CONFIG_PATH` points
//!   there); its directory goes into the rpath, so the program runs without
//!   `LD_LIBRARY_PATH`, and to dependents' build scripts as `DEP_RMAP_LIBDIR`.
//! - feature `bindgen`: bindgen over the header (the tree's `include/rmap.h`,
//!   or pkg-config's) writes `$OUT_DIR/bindings.rs`, which the crate then
//!   includes instead of the committed `src/bindings.rs` (needs libclang:
//!   `LIBCLANG_PATH`, or the system's).

use std::env;
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let include = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../include");
    let statically = env::var_os("CARGO_FEATURE_STATIC").is_some();
    #[cfg(feature = "pkg-config")]
    if !statically {
        let include = link_installed();
        generate(&include);
        return;
    }
    if statically {
        println!("cargo:include={}", include.display());
    } else if env::var_os("CARGO_FEATURE_PKG_CONFIG").is_none() {
        panic!("rmap-sys: enable the feature `static` (the default) or `pkg-config`");
    }
    generate(&include);
}

/// Links the installed shared library; returns its include directory.
#[cfg(feature = "pkg-config")]
fn link_installed() -> std::path::PathBuf {
    let library = pkg_config::Config::new()
        .cargo_metadata(false)
        .probe("rmap")
        .unwrap_or_else(|error| {
            panic!(
                "rmap-sys: the feature `pkg-config` needs an installed librmap that pkg-config finds \
                 as `rmap` (make install), or leave it off to link librmap statically: {error}"
            )
        });
    // pkg-config escapes a space in a path as "\ ".
    let variable = |name| {
        pkg_config::get_variable("rmap", name)
            .expect("rmap.pc names its directories")
            .replace("\\ ", " ")
    };
    let (include, lib) = (
        std::path::PathBuf::from(variable("includedir")),
        variable("libdir"),
    );
    println!("cargo:rustc-link-search=native={lib}");
    println!("cargo:rustc-link-lib=dylib=rmap");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    println!("cargo:libdir={lib}");
    println!("cargo:include={}", include.display());
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    let _ = library;
    include
}

#[cfg(feature = "bindgen")]
fn generate(include: &Path) {
    println!(
        "cargo:rerun-if-changed={}",
        include.join("rmap.h").display()
    );
    let mut builder = bindgen::Builder::default()
        .header(include.join("rmap.h").to_string_lossy())
        .allowlist_function("rmap_.*")
        .allowlist_var("RMAP_.*|PROT_.*|MAP_.*|MS_.*|MADV_.*|MREMAP_.*")
        .default_macro_constant_type(bindgen::MacroTypeVariation::Signed)
        .clang_arg("-D_GNU_SOURCE");
    // libclang from a wheel has no resource directory: borrow the C compiler's.
    if let Ok(out) = std::process::Command::new("cc")
        .arg("-print-file-name=include")
        .output()
    {
        let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !dir.is_empty() {
            builder = builder.clang_arg(format!("-I{dir}"));
        }
    }
    let bindings = builder.generate().expect("bindgen parses rmap.h");
    let out = std::path::PathBuf::from(env::var("OUT_DIR").unwrap()).join("bindings.rs");
    bindings.write_to_file(out).unwrap();
}

#[cfg(not(feature = "bindgen"))]
fn generate(_include: &Path) {}
