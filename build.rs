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
    // Never unloaded (DF_1_NODELETE): dlclose must not leave the SIGBUS and
    // SIGSEGV handlers pointing into unmapped code.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
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

    let mut header = Vec::new();
    bindings.write(&mut header);
    let header = declare_remap_variadic(String::from_utf8(header).expect("cbindgen writes UTF-8"));

    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap());
    fs::write(out_dir.join("rmap.h"), &header).unwrap();
    // OUT_DIR is target/<profile>/build/rmap-<hash>/out.
    let profile_dir = out_dir
        .ancestors()
        .nth(3)
        .expect("OUT_DIR is inside the target dir");
    let include_dir = profile_dir.join("include");
    fs::create_dir_all(&include_dir).unwrap();
    fs::write(include_dir.join("rmap.h"), &header).unwrap();
    link_soname(profile_dir, &major);
}

/// `rmap_remap` is declared variadic, as glibc declares `mremap`, so that
/// calls written for `mremap` with four arguments compile. Rust cannot
/// define a C-variadic function on stable; ffi.rs takes the fifth argument
/// as a fixed parameter (the same register on x86-64), and only this one
/// prototype is rewritten.
fn declare_remap_variadic(header: String) -> String {
    let generated = "int flags, void *new_address);";
    let count = header.matches(generated).count();
    assert_eq!(
        count, 1,
        "rmap_remap's prototype appears once in the header"
    );
    header.replace(generated, "int flags, ...);")
}

/// A program linked with -lrmap asks for the SONAME; the link lets it run
/// from the build tree.
fn link_soname(profile_dir: &Path, major: &str) {
    let link = profile_dir.join(format!("librmap.so.{major}"));
    if fs::symlink_metadata(&link).is_err() {
        std::os::unix::fs::symlink("librmap.so", &link).unwrap();
    }
}
