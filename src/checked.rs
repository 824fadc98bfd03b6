//! Checked mode: off by default (POSIX-exact); `RMAP_CHECK=1` (or `report`)
//! reports misuse and continues, `RMAP_CHECK=2` (or `abort`) reports and
//! aborts; `rmap_set_check` sets it from the program. Each report is one
//! line, `rmap: <kind>: ...`. This module decides the mode and words the
//! reports; its only I/O is the warning about a value of `RMAP_CHECK` it
//! does not know.

use std::sync::atomic::{AtomicU8, Ordering};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Off = 0,
    Report = 1,
    Abort = 2,
}

const UNSET: u8 = u8::MAX;
static MODE: AtomicU8 = AtomicU8::new(UNSET);

/// The value of `RMAP_CHECK`, as a mode: `0`/`off`, `1`/`report`,
/// `2`/`abort` (the numbers are `RMAP_CHECK_OFF`, `_REPORT`, `_ABORT`), in
/// any case, spaces around ignored; unset or empty is off. Anything else is
/// off too, with a warning line (Err).
pub fn parse(value: Option<&str>) -> Result<Mode, String> {
    let Some(value) = value else {
        return Ok(Mode::Off);
    };
    match value.trim().to_ascii_lowercase().as_str() {
        "" | "0" | "off" => Ok(Mode::Off),
        "1" | "report" => Ok(Mode::Report),
        "2" | "abort" => Ok(Mode::Abort),
        _ => Err(format!(
            "rmap: RMAP_CHECK={value:?} is not one of 0, off, 1, report, 2, abort; checked mode stays off"
        )),
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
    let value = std::env::var_os("RMAP_CHECK");
    let from_env = match parse(value.as_ref().map(|v| v.to_string_lossy()).as_deref()) {
        Ok(mode) => mode as u8,
        Err(warning) => {
            warn(&warning);
            Mode::Off as u8
        }
    };
    // An explicit set() that raced ahead wins over the environment.
    match MODE.compare_exchange(UNSET, from_env, Ordering::Relaxed, Ordering::Relaxed) {
        Ok(_) => decode(from_env),
        Err(current) => decode(current),
    }
}

/// Writes one line to stderr with a single write(2). (This module does no
/// other I/O: the environment's verdict is reported where it is read.)
fn warn(line: &str) {
    use std::io::Write;
    let _ = std::io::stderr().write_all(format!("{line}\n").as_bytes());
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

/// SIGBUS or SIGSEGV was set back to the default (or ignored) after librmap
/// installed its handler, in a way that bypassed librmap's `sigaction`; a
/// thread's first guarded copy noticed.
pub fn handler_reinstalled() -> &'static str {
    "rmap: fault-handler: SIGBUS or SIGSEGV was set to SIG_DFL or SIG_IGN after librmap installed its \
     handler, bypassing librmap's sigaction and signal; installed again (chaining to that action) so that \
     rmap_read and rmap_write stay safe"
}

pub fn write_exec(call: &str, addr: usize, len: usize) -> String {
    format!("rmap: write-exec: rmap_{call}({addr:#x}, {len}) is both writable and executable")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_values() {
        assert_eq!(parse(None), Ok(Mode::Off));
        assert_eq!(parse(Some("")), Ok(Mode::Off));
        assert_eq!(parse(Some("0")), Ok(Mode::Off));
        assert_eq!(parse(Some("off")), Ok(Mode::Off));
        assert_eq!(parse(Some("1")), Ok(Mode::Report));
        assert_eq!(parse(Some(" 1")), Ok(Mode::Report));
        assert_eq!(parse(Some("Report")), Ok(Mode::Report));
        assert_eq!(parse(Some("2")), Ok(Mode::Abort));
        assert_eq!(parse(Some("ABORT")), Ok(Mode::Abort));
        for wrong in ["yes", "3", "on", "1x"] {
            let warning = parse(Some(wrong)).unwrap_err();
            assert!(warning.starts_with("rmap: RMAP_CHECK="), "{warning}");
            assert!(warning.contains("0, off, 1, report, 2, abort"), "{warning}");
        }
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
