//! Checked mode: off by default (POSIX-exact); `RMAP_CHECK=1` reports misuse
//! and continues, `RMAP_CHECK=abort` reports and aborts; `rmap_set_check`
//! sets it from the program. Each report is one line, `rmap: <kind>: ...`.
//! This module decides the mode and words the reports; it does no I/O.

use std::sync::atomic::{AtomicU8, Ordering};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Off = 0,
    Report = 1,
    Abort = 2,
}

const UNSET: u8 = u8::MAX;
static MODE: AtomicU8 = AtomicU8::new(UNSET);

/// The value of `RMAP_CHECK`, as a mode.
pub fn parse(value: Option<&str>) -> Mode {
    match value {
        Some("abort") => Mode::Abort,
        Some("1") | Some("report") => Mode::Report,
        _ => Mode::Off,
    }
}

fn decode(value: u8) -> Mode {
    match value {
        1 => Mode::Report,
        2 => Mode::Abort,
        _ => Mode::Off,
    }
}

/// The current mode; the first call reads `RMAP_CHECK`.
#[inline]
pub fn mode() -> Mode {
    match MODE.load(Ordering::Relaxed) {
        UNSET => mode_from_environment(),
        value => decode(value),
    }
}

#[cold]
#[inline(never)]
fn mode_from_environment() -> Mode {
    let from_env = parse(std::env::var("RMAP_CHECK").ok().as_deref()) as u8;
    // An explicit set() that raced ahead wins over the environment.
    match MODE.compare_exchange(UNSET, from_env, Ordering::Relaxed, Ordering::Relaxed) {
        Ok(_) => decode(from_env),
        Err(current) => decode(current),
    }
}

pub fn set(mode: Mode) {
    MODE.store(mode as u8, Ordering::Relaxed);
}

pub fn unowned(call: &str, addr: usize, len: usize) -> String {
    format!(
        "rmap: {call}-unowned: rmap_{call}({addr:#x}, {len}): no librmap mapping covers this range \
         (never mapped by librmap, or already unmapped); refused with EINVAL"
    )
}

/// An unowned range that librmap had recorded, but that the kernel no
/// longer holds as recorded.
pub fn stale(call: &str, addr: usize, len: usize) -> String {
    format!(
        "rmap: {call}-unowned: rmap_{call}({addr:#x}, {len}): the librmap mapping here was unmapped \
         or replaced behind librmap's back (munmap, mmap or mremap called directly); refused with EINVAL"
    )
}

pub fn leak(addr: usize, len: usize, creator: &str) -> String {
    format!("rmap: leak: {len} bytes at {addr:#x} still mapped at exit, created at {creator}")
}

/// `first_bad` is the file offset of the first page wholly past end of file.
pub fn beyond_eof(
    call: &str,
    addr: usize,
    len: usize,
    offset: i64,
    size: u64,
    first_bad: u64,
) -> String {
    format!(
        "rmap: beyond-eof: rmap_{call}({addr:#x}, {len}) maps offset {offset} of a {size}-byte file: \
         touching file offsets from {first_bad} on raises SIGBUS"
    )
}

pub fn write_exec(call: &str, addr: usize, len: usize) -> String {
    format!("rmap: write-exec: rmap_{call}({addr:#x}, {len}) is both writable and executable")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_values() {
        assert_eq!(parse(None), Mode::Off);
        assert_eq!(parse(Some("0")), Mode::Off);
        assert_eq!(parse(Some("1")), Mode::Report);
        assert_eq!(parse(Some("abort")), Mode::Abort);
        assert_eq!(parse(Some("yes please")), Mode::Off);
    }

    #[test]
    fn reports_start_with_rmap_and_their_kind() {
        assert!(
            unowned("unmap", 0x1000, 4096)
                .starts_with("rmap: unmap-unowned: rmap_unmap(0x1000, 4096): ")
        );
        assert_eq!(
            leak(0x2000, 8192, "main+0x10 (prog)"),
            "rmap: leak: 8192 bytes at 0x2000 still mapped at exit, created at main+0x10 (prog)"
        );
        assert!(
            beyond_eof("map", 0x3000, 8192, 0, 100, 4096)
                .ends_with("of a 100-byte file: touching file offsets from 4096 on raises SIGBUS")
        );
        assert_eq!(
            write_exec("protect", 0x4000, 4096),
            "rmap: write-exec: rmap_protect(0x4000, 4096) is both writable and executable"
        );
        assert!(
            stale("unmap", 0x5000, 4096)
                .starts_with("rmap: unmap-unowned: rmap_unmap(0x5000, 4096): ")
        );
    }
}
