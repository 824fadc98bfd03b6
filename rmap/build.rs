//! Compiles the C half of `sys` into a static library linked into this
//! crate: the signal machinery (src/sys/signal/: the SIGBUS/SIGSEGV
//! handler, the guarded copies and searches with the assembly of the target
//! architecture, the GOT rewriting), which rewrites interrupted contexts
//! and needs exact assembly, and what rmap-check's preload tells librmap
//! (src/sys/interposed.c).
//!
//! With the C compiler directly, not the `cc` crate: building `cc` took
//! 1.2 s of a dependent's 3.1 s clean build, all of it on the critical path
//! (make bench times that build against memmap2's), and two x86-64 Linux
//! files with fixed flags need none of its portability. `CC` and `AR`
//! choose the tools, as for `cc`.

use std::env;
use std::path::PathBuf;
use std::process::Command;

/// Under src/sys, without `.c`; `ARCH` is the target architecture's file.
const SOURCES: [&str; 6] = [
    "signal/handler",
    "signal/guarded",
    "signal/ARCH",
    "signal/rebind",
    "signal/mask",
    "interposed",
];

fn run(command: &mut Command) {
    let status = command
        .status()
        .unwrap_or_else(|error| panic!("rmap: cannot run {command:?}: {error}"));
    assert!(status.success(), "rmap: {command:?} failed ({status})");
}

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let cc = env::var("CC").unwrap_or_else(|_| "cc".into());
    let ar = env::var("AR").unwrap_or_else(|_| "ar".into());
    let arch = env::var("CARGO_CFG_TARGET_ARCH").expect("cargo sets the target");
    let sources: Vec<String> = SOURCES
        .iter()
        .map(|name| name.replace("ARCH", &arch))
        .collect();
    println!("cargo:rerun-if-changed=src/sys/signal/protocol.h");
    // All at once: a clean build of a dependent waits for this.
    let objects: Vec<PathBuf> = sources
        .iter()
        .map(|name| out.join(format!("{}.o", name.replace('/', "_"))))
        .collect();
    let compilers: Vec<_> = sources
        .iter()
        .zip(&objects)
        .map(|(name, object)| {
            println!("cargo:rerun-if-changed=src/sys/{name}.c");
            let mut command = Command::new(&cc);
            command
                .args(["-std=c11", "-O2", "-g", "-fPIC", "-fvisibility=hidden"])
                .args(["-Wall", "-Wextra", "-Werror", "-c"])
                .arg(format!("src/sys/{name}.c"))
                .arg("-o")
                .arg(object);
            let child = command
                .spawn()
                .unwrap_or_else(|error| panic!("rmap: cannot run {command:?}: {error}"));
            (command, child)
        })
        .collect();
    for (command, mut child) in compilers {
        let status = child.wait().expect("the C compiler runs");
        assert!(status.success(), "rmap: {command:?} failed ({status})");
    }
    let archive = out.join("libsys_fault.a");
    let _ = std::fs::remove_file(&archive);
    run(Command::new(&ar).arg("crs").arg(&archive).args(&objects));
    println!("cargo:rustc-link-search=native={}", out.display());
    println!("cargo:rustc-link-lib=static=sys_fault");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CC");
    println!("cargo:rerun-if-env-changed=AR");
}
