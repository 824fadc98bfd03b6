//! A Rust program's own signal calls (the libc crate's `sigaction` and
//! `signal`, which signal-hook and others use too) keep `read_at` safe: the
//! librmap crate lives in the program's executable, whose calls librmap's
//! rebinding reaches like any other object's (docs/fault-handling.md).
//! Each case runs in a child process, since the failure is a death.

use std::io::ErrorKind;
use std::process::Command;

const CHILD: &str = "RMAP_SIGNALS_CHILD";

/// Runs `name` again in a child with `CHILD` set; returns its stdout.
fn in_child(name: &str) -> String {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, name)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "the child {name} ended with {:?}:\n{stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Whether this process is the child running `name`: then a copy that
/// loops in the program's handler ends by SIGALRM in 20 s.
fn is_child(name: &str) -> bool {
    let child = std::env::var(CHILD).is_ok_and(|n| n == name);
    if child {
        // SAFETY: alarm has no preconditions.
        unsafe { libc::alarm(20) };
    }
    child
}

/// A 2-page file, mapped, read once (the thread passes its checkpoint),
/// then truncated to nothing.
fn truncated_after_first_read() -> (std::fs::File, librmap::Mmap) {
    let path = std::env::temp_dir().join(format!("rmap-signals-{}", std::process::id()));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    file.set_len(8192).unwrap();
    let map = unsafe { librmap::Mmap::map(&file).unwrap() };
    let mut buf = [0u8; 16];
    map.read_at(0, &mut buf).unwrap();
    file.set_len(0).unwrap();
    (file, map)
}

fn eio(map: &librmap::Mmap) -> bool {
    let mut buf = [0u8; 16];
    map.read_at(4096, &mut buf)
        .is_err_and(|e| e.raw_os_error() == Some(libc::EIO) && e.kind() != ErrorKind::Other)
}

#[test]
fn the_programs_own_sigaction_sig_dfl_keeps_read_at_eio() {
    let name = "the_programs_own_sigaction_sig_dfl_keeps_read_at_eio";
    if !is_child(name) {
        let out = in_child(name);
        assert!(out.contains("EIO after each"), "{out}");
        return;
    }
    let (_file, map) = truncated_after_first_read();
    let mut results = Vec::new();
    // SAFETY: plain libc calls with valid arguments; SIG_DFL and SIG_IGN
    // are valid dispositions.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = libc::SIG_DFL;
        libc::sigemptyset(&mut action.sa_mask);
        assert_eq!(
            libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut()),
            0
        );
        results.push(("libc::sigaction(SIGBUS, SIG_DFL)", eio(&map)));
        libc::signal(libc::SIGBUS, libc::SIG_IGN);
        results.push(("libc::signal(SIGBUS, SIG_IGN)", eio(&map)));
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGBUS);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        results.push(("libc::pthread_sigmask(SIG_BLOCK, SIGBUS)", eio(&map)));
    }
    for (call, eio) in &results {
        println!("after {call}: read_at over the truncated page gave EIO: {eio}");
    }
    assert!(results.iter().all(|&(_, eio)| eio));
    println!("EIO after each");
}

#[test]
fn the_programs_own_sigaction_is_shown_back_as_set() {
    let name = "the_programs_own_sigaction_is_shown_back_as_set";
    if !is_child(name) {
        in_child(name);
        return;
    }
    let (_file, map) = truncated_after_first_read();
    extern "C" fn on_bus(_: libc::c_int) {}
    // SAFETY: as above; on_bus is a valid handler.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_bus as extern "C" fn(libc::c_int) as libc::sighandler_t;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut());
        let mut back: libc::sigaction = std::mem::zeroed();
        libc::sigaction(libc::SIGBUS, std::ptr::null(), &mut back);
        assert_eq!(
            back.sa_sigaction, action.sa_sigaction,
            "the program sees its own handler"
        );
    }
    assert!(eio(&map), "and read_at still gives EIO");
}
