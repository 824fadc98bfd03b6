//! Generates the C header with cbindgen and gives the shared library its SONAME.
//!
//! The header goes to `target/<profile>/include/rmap.h`; `make header` copies it
//! to the committed `include/rmap.h`, and `make header-check` compares the two.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let major = env::var("CARGO_PKG_VERSION_MAJOR").unwrap();
    let minor = env::var("CARGO_PKG_VERSION_MINOR").unwrap();
    let patch = env::var("CARGO_PKG_VERSION_PATCH").unwrap();

    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,librmap.so.{major}");
    // The guarded copy is one assembly instruction with a fix-up label, and its
    // signal handler rewrites the interrupted context: C, see the file.
    cc::Build::new()
        .file("src/sys/fault.c")
        .flag("-std=c11")
        .flag("-fvisibility=hidden")
        .warnings(true)
        .extra_warnings(true)
        .warnings_into_errors(true)
        .compile("rmap_fault");
    for input in ["src", "cbindgen.toml", "build.rs", "Cargo.toml"] {
        println!("cargo:rerun-if-changed={input}");
    }

    let mut config = cbindgen::Config::from_file(manifest_dir.join("cbindgen.toml"))
        .expect("cbindgen.toml is readable and valid");
    let number = major.parse::<u32>().unwrap() * 10000
        + minor.parse::<u32>().unwrap() * 100
        + patch.parse::<u32>().unwrap();
    let version_macros = format!(
        "\n/* The version of this header; rmap_version() gives the library's. */\n\
         #define RMAP_VERSION_MAJOR {major}\n\
         #define RMAP_VERSION_MINOR {minor}\n\
         #define RMAP_VERSION_PATCH {patch}\n\
         /* MAJOR * 10000 + MINOR * 100 + PATCH, for #if comparisons. */\n\
         #define RMAP_VERSION_NUMBER {number}\n\
         #define RMAP_VERSION_STRING \"{major}.{minor}.{patch}\"\n"
    );
    let failed_macro = config.after_includes.take().unwrap_or_default();
    config.after_includes = Some(format!("{version_macros}{failed_macro}"));
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(manifest_dir.join("src/ffi.rs"))
        .generate()
        .expect("cbindgen generates the header from src/ffi.rs");

    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap());
    bindings.write_to_file(out_dir.join("rmap.h"));
    // OUT_DIR is target/<profile>/build/rmap-<hash>/out.
    let profile_dir = out_dir
        .ancestors()
        .nth(3)
        .expect("OUT_DIR is inside the target dir");
    let include_dir = profile_dir.join("include");
    fs::create_dir_all(&include_dir).unwrap();
    bindings.write_to_file(include_dir.join("rmap.h"));
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
