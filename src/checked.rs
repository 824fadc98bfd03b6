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

/// The nine mapping calls, as checked mode names and counts them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    Map,
    Unmap,
    Sync,
    Protect,
    Advise,
    Lock,
    Unlock,
    Remap,
    Resident,
}

impl Call {
    pub const ALL: [Call; 9] = [
        Call::Map,
        Call::Unmap,
        Call::Sync,
        Call::Protect,
        Call::Advise,
        Call::Lock,
        Call::Unlock,
        Call::Remap,
        Call::Resident,
    ];

    pub fn index(self) -> usize {
        self as usize
    }

    /// The name in report kinds: `unmap` of `unmap-unowned`.
    pub fn kind(self) -> &'static str {
        [
            "map", "unmap", "sync", "protect", "advise", "lock", "unlock", "remap", "resident",
        ][self.index()]
    }

    /// The function the program called: librmap's, or the C library's when
    /// rmap-check routes the C library's calls to librmap.
    pub fn name(self, libc_names: bool) -> &'static str {
        let (rmap, libc) = [
            ("rmap_map", "mmap"),
            ("rmap_unmap", "munmap"),
            ("rmap_sync", "msync"),
            ("rmap_protect", "mprotect"),
            ("rmap_advise", "madvise"),
            ("rmap_lock", "mlock"),
            ("rmap_unlock", "munlock"),
            ("rmap_remap", "mremap"),
            ("rmap_resident", "mincore"),
        ][self.index()];
        if libc_names { libc } else { rmap }
    }
}

/// What a report is about, for the counts of the summary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finding {
    Unowned(Call),
    Leak,
    BeyondEof,
    WriteExec,
    FaultHandler,
    DoubleUnmap,
}

impl Finding {
    pub const COUNT: usize = 14;

    pub fn index(self) -> usize {
        match self {
            Finding::Unowned(call) => call.index(),
            Finding::Leak => 9,
            Finding::BeyondEof => 10,
            Finding::WriteExec => 11,
            Finding::FaultHandler => 12,
            Finding::DoubleUnmap => 13,
        }
    }

    fn kind(index: usize) -> String {
        match index {
            0..9 => format!("{}-unowned", Call::ALL[index].kind()),
            9 => "leak".into(),
            10 => "beyond-eof".into(),
            11 => "write-exec".into(),
            12 => "fault-handler".into(),
            _ => "double-unmap".into(),
        }
    }
}

/// `CALL(addr, len) at WHERE`, as the reports show a call.
fn shown(call: Call, libc_names: bool, addr: usize, len: usize, at: &str) -> String {
    format!("{}({addr:#x}, {len}) at {at}", call.name(libc_names))
}

pub fn unowned(call: Call, libc_names: bool, addr: usize, len: usize, at: &str) -> String {
    format!(
        "rmap: {}-unowned: {}: no librmap mapping covers this range \
         (never mapped by librmap, or already unmapped); refused with EINVAL",
        call.kind(),
        shown(call, libc_names, addr, len, at)
    )
}

/// An unmap of a range this process unmapped before (at `unmapped_at`).
pub fn double_unmap(
    libc_names: bool,
    addr: usize,
    len: usize,
    at: &str,
    unmapped_at: &str,
) -> String {
    format!(
        "rmap: double-unmap: {}: already unmapped at {unmapped_at}; refused with EINVAL",
        shown(Call::Unmap, libc_names, addr, len, at)
    )
}

/// The ranges most recently unmapped, with where: a later unmap that finds
/// no mapping is called a double unmap when it meets one of them. A fixed
/// ring, so remembering costs no allocation and the oldest are forgotten.
pub struct Unmapped {
    ranges: [(usize, usize, usize); Unmapped::KEPT],
    next: usize,
}

impl Unmapped {
    const KEPT: usize = 64;

    pub const fn new() -> Unmapped {
        Unmapped {
            ranges: [(0, 0, 0); Unmapped::KEPT],
            next: 0,
        }
    }

    /// Remembers that `[start, start + len)` was unmapped from `at`.
    pub fn record(&mut self, start: usize, len: usize, at: usize) {
        self.ranges[self.next % Unmapped::KEPT] = (start, len, at);
        self.next = self.next.wrapping_add(1);
    }

    /// Where the most recent unmap meeting `[start, start + len)` was made.
    pub fn find(&self, start: usize, len: usize) -> Option<usize> {
        let end = start.saturating_add(len);
        (0..Unmapped::KEPT.min(self.next))
            .map(|back| self.ranges[(self.next - 1 - back) % Unmapped::KEPT])
            .find(|&(s, l, _)| l > 0 && s < end && start < s.saturating_add(l))
            .map(|(_, _, at)| at)
    }
}

impl Default for Unmapped {
    fn default() -> Unmapped {
        Unmapped::new()
    }
}

/// An unowned range that librmap had recorded, but that the kernel no
/// longer holds as recorded.
pub fn stale(call: Call, libc_names: bool, addr: usize, len: usize, at: &str) -> String {
    format!(
        "rmap: {}-unowned: {}: the librmap mapping here was unmapped \
         or replaced behind librmap's back (munmap, mmap or mremap called directly); refused with EINVAL",
        call.kind(),
        shown(call, libc_names, addr, len, at)
    )
}

pub fn leak(addr: usize, len: usize, creator: &str) -> String {
    format!("rmap: leak: {len} bytes at {addr:#x} still mapped at exit, created at {creator}")
}

/// A file mapping reaching past the file's last page; `first_bad` is the
/// file offset of the first page wholly past end of file.
pub struct BeyondEof {
    pub offset: i64,
    pub size: u64,
    pub first_bad: u64,
}

pub fn beyond_eof(
    call: Call,
    libc_names: bool,
    addr: usize,
    len: usize,
    at: &str,
    file: BeyondEof,
) -> String {
    format!(
        "rmap: beyond-eof: {} maps offset {} of a {}-byte file: \
         touching file offsets from {} on raises SIGBUS",
        shown(call, libc_names, addr, len, at),
        file.offset,
        file.size,
        file.first_bad
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

pub fn write_exec(call: Call, libc_names: bool, addr: usize, len: usize, at: &str) -> String {
    format!(
        "rmap: write-exec: {} is both writable and executable",
        shown(call, libc_names, addr, len, at)
    )
}

/// The line at exit: calls seen and reports made, by kind (kinds with none
/// left out), and the process they are about.
pub fn summary(
    pid: u32,
    libc_names: bool,
    calls: &[u64; 9],
    findings: &[u64; Finding::COUNT],
) -> String {
    // "N" or "N (name n, ...)", kinds with none left out.
    let list = |items: Vec<(String, u64)>| {
        let total: u64 = items.iter().map(|(_, n)| n).sum();
        let named: Vec<String> = items
            .into_iter()
            .filter(|&(_, n)| n > 0)
            .map(|(name, n)| format!("{name} {n}"))
            .collect();
        (
            total,
            if named.is_empty() {
                String::new()
            } else {
                format!(" ({})", named.join(", "))
            },
        )
    };
    let (call_total, call_kinds) = list(
        Call::ALL
            .iter()
            .map(|c| (c.name(libc_names).to_string(), calls[c.index()]))
            .collect(),
    );
    let (report_total, report_kinds) = list(
        (0..Finding::COUNT)
            .map(|i| (Finding::kind(i), findings[i]))
            .collect(),
    );
    let plural = |n: u64| if n == 1 { "" } else { "s" };
    format!(
        "rmap: summary: pid {pid}: {call_total} call{}{call_kinds}, {report_total} report{}{report_kinds}",
        plural(call_total),
        plural(report_total)
    )
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
            unowned(Call::Unmap, false, 0x1000, 4096, "main+0x10 (prog)")
                .starts_with("rmap: unmap-unowned: rmap_unmap(0x1000, 4096) at main+0x10 (prog): ")
        );
        assert!(
            unowned(Call::Unmap, true, 0x1000, 4096, "prog+0x10")
                .starts_with("rmap: unmap-unowned: munmap(0x1000, 4096) at prog+0x10: ")
        );
        assert_eq!(
            leak(0x2000, 8192, "main+0x10 (prog)"),
            "rmap: leak: 8192 bytes at 0x2000 still mapped at exit, created at main+0x10 (prog)"
        );
        let file = BeyondEof {
            offset: 0,
            size: 100,
            first_bad: 4096,
        };
        assert!(
            beyond_eof(Call::Map, true, 0x3000, 8192, "p+0x1", file)
                .ends_with("of a 100-byte file: touching file offsets from 4096 on raises SIGBUS")
        );
        assert_eq!(
            write_exec(Call::Protect, false, 0x4000, 4096, "p+0x2"),
            "rmap: write-exec: rmap_protect(0x4000, 4096) at p+0x2 is both writable and executable"
        );
        assert!(
            stale(Call::Resident, true, 0x5000, 4096, "p+0x3")
                .starts_with("rmap: resident-unowned: mincore(0x5000, 4096) at p+0x3: ")
        );
    }

    #[test]
    fn summary_names_what_happened() {
        let mut calls = [0; 9];
        calls[Call::Map.index()] = 3;
        calls[Call::Unmap.index()] = 2;
        let mut findings = [0; Finding::COUNT];
        findings[Finding::Unowned(Call::Unmap).index()] = 1;
        findings[Finding::Leak.index()] = 1;
        assert_eq!(
            summary(7, true, &calls, &findings),
            "rmap: summary: pid 7: 5 calls (mmap 3, munmap 2), 2 reports (unmap-unowned 1, leak 1)"
        );
        let mut findings = [0; Finding::COUNT];
        findings[Finding::DoubleUnmap.index()] = 2;
        assert_eq!(
            summary(9, true, &calls, &findings),
            "rmap: summary: pid 9: 5 calls (mmap 3, munmap 2), 2 reports (double-unmap 2)"
        );
        let mut one = [0; 9];
        one[Call::Map.index()] = 1;
        let mut one_report = [0; Finding::COUNT];
        one_report[Finding::Leak.index()] = 1;
        assert_eq!(
            summary(10, false, &one, &one_report),
            "rmap: summary: pid 10: 1 call (rmap_map 1), 1 report (leak 1)"
        );
        assert_eq!(
            summary(8, false, &[0; 9], &[0; Finding::COUNT]),
            "rmap: summary: pid 8: 0 calls, 0 reports"
        );
    }

    #[test]
    fn unmapped_ranges_are_found_by_overlap_newest_first() {
        let mut unmapped = Unmapped::new();
        assert_eq!(unmapped.find(0x1000, 0x1000), None);
        unmapped.record(0x1000, 0x2000, 11);
        unmapped.record(0x2000, 0x1000, 22);
        assert_eq!(unmapped.find(0x2000, 0x1000), Some(22));
        assert_eq!(unmapped.find(0x1000, 0x1000), Some(11));
        assert_eq!(unmapped.find(0x3000, 0x1000), None);
        assert_eq!(unmapped.find(0x0, 0x1000), None);
    }

    #[test]
    fn unmapped_forgets_the_oldest() {
        let mut unmapped = Unmapped::new();
        for i in 0..=Unmapped::KEPT {
            unmapped.record(0x1000 * (i + 1), 0x1000, i);
        }
        assert_eq!(unmapped.find(0x1000, 0x1000), None);
        assert_eq!(unmapped.find(0x2000, 0x1000), Some(1));
        assert_eq!(
            unmapped.find(0x1000 * (Unmapped::KEPT + 1), 0x1000),
            Some(Unmapped::KEPT)
        );
    }

    #[test]
    fn double_unmap_names_both_places() {
        assert_eq!(
            double_unmap(true, 0x1000, 4096, "/bin/p+0x10", "/bin/p+0x8"),
            "rmap: double-unmap: munmap(0x1000, 4096) at /bin/p+0x10: already unmapped at /bin/p+0x8; refused with EINVAL"
        );
    }
}
