//! Checked mode: off by default (POSIX-exact); `RMAP_CHECK=1` (or `report`)
//! reports misuse and continues, `RMAP_CHECK=2` (or `abort`) reports and
//! aborts; `rmap_set_check` sets it from the program. This module decides
//! the mode and the settings the `RMAP_CHECK_*` variables give, and words
//! the reports: each is a [`Report`], written as one text line
//! (`rmap: <kind>: ...`) or, with `RMAP_CHECK_FORMAT=json`, one JSON object.
//!
//! Reports are written without allocating (into a [`Line`]), so they can be
//! made at exit in a process that has run out of address space, and from the
//! fault handler. Every string in a report that comes from outside librmap
//! (object paths, symbol names, the value of `RMAP_CHECK`) is escaped
//! ([`Escaped`]): nothing it holds can end the line or start another report.
//!
//! The environment is read through `sys::env_var`, which gives nothing in a
//! set-user-ID (secure-execution) process: there the variables are the
//! caller's, not the program's, and `rmap_set_check` is the only switch.

use std::fmt::{self, Write};
use std::sync::atomic::{AtomicU8, Ordering};

use crate::sys;

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
pub fn parse(value: Option<&[u8]>) -> Result<Mode, String> {
    let Some(value) = value else {
        return Ok(Mode::Off);
    };
    match value.trim_ascii().to_ascii_lowercase().as_slice() {
        b"" | b"0" | b"off" => Ok(Mode::Off),
        b"1" | b"report" => Ok(Mode::Report),
        b"2" | b"abort" => Ok(Mode::Abort),
        _ => Err(format!(
            "rmap: RMAP_CHECK=\"{}\" is not one of 0, off, 1, report, 2, abort; checked mode stays off",
            Escaped(value)
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

/// Whether the mode is known and off: false until the first call read
/// `RMAP_CHECK`. For the common map and unmap, which must call nothing.
#[inline(always)]
pub fn known_off() -> bool {
    MODE.load(Ordering::Relaxed) == Mode::Off as u8
}

/// The mode if it is already known, without reading the environment (for
/// the fault handler, which must not).
pub fn mode_if_known() -> Mode {
    decode(MODE.load(Ordering::Relaxed))
}

#[cold]
#[inline(never)]
fn mode_from_environment() -> Mode {
    let from_env = match parse(sys::env_var("RMAP_CHECK").as_deref()) {
        Ok(mode) => mode as u8,
        Err(warning) => {
            sys::warn(&warning);
            Mode::Off as u8
        }
    };
    // An explicit set() that raced ahead wins over the environment.
    match MODE.compare_exchange(UNSET, from_env, Ordering::Relaxed, Ordering::Relaxed) {
        Ok(_) => decode(from_env),
        Err(current) => decode(current),
    }
}

pub fn set(mode: Mode) {
    MODE.store(mode as u8, Ordering::Relaxed);
}

/// What the `RMAP_CHECK_*` variables ask of the reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// `RMAP_CHECK_FORMAT=json`: one JSON object per line.
    pub json: bool,
    /// `RMAP_CHECK_LEAKS=no` leaves out the leak reports.
    pub leaks: bool,
    /// `RMAP_CHECK_SUMMARY=yes`: the summary line at exit.
    pub summary: bool,
    /// `RMAP_CHECK_ERROR_EXITCODE=N`: exit status N when reports were made.
    pub error_exitcode: Option<u8>,
    /// `RMAP_CHECK_BEYOND_EOF=map`: report a file mapping that reaches past
    /// its file when it is made, not only when a page past the end is
    /// touched (costs an `fstat` per file mapping).
    pub beyond_eof_at_map: bool,
}

const SETTINGS_UNREAD: u8 = 0;
/// Bits of the settings, once read: bit 0 says read.
static SETTINGS: AtomicU8 = AtomicU8::new(SETTINGS_UNREAD);
static ERROR_EXITCODE: AtomicU8 = AtomicU8::new(0);

/// The settings; the first call reads the environment. (Racing first calls
/// compute the same value.)
pub fn settings() -> Settings {
    let mut bits = SETTINGS.load(Ordering::Acquire);
    if bits == SETTINGS_UNREAD {
        let flag = |name: &str, default: bool| parse_flag(sys::env_var(name).as_deref(), default);
        let json = sys::env_var("RMAP_CHECK_FORMAT")
            .is_some_and(|v| v.trim_ascii().eq_ignore_ascii_case(b"json"));
        let eof_at_map = sys::env_var("RMAP_CHECK_BEYOND_EOF")
            .is_some_and(|v| v.trim_ascii().eq_ignore_ascii_case(b"map"));
        let exitcode = sys::env_var("RMAP_CHECK_ERROR_EXITCODE").and_then(|v| parse_status(&v));
        ERROR_EXITCODE.store(exitcode.unwrap_or(0), Ordering::Relaxed);
        bits = 1
            | u8::from(json) << 1
            | u8::from(flag("RMAP_CHECK_LEAKS", true)) << 2
            | u8::from(flag("RMAP_CHECK_SUMMARY", false)) << 3
            | u8::from(exitcode.is_some()) << 4
            | u8::from(eof_at_map) << 5;
        SETTINGS.store(bits, Ordering::Release);
    }
    decode_settings(bits)
}

/// The settings if they were read already (for the fault handler).
pub fn settings_if_read() -> Option<Settings> {
    match SETTINGS.load(Ordering::Acquire) {
        SETTINGS_UNREAD => None,
        bits => Some(decode_settings(bits)),
    }
}

fn decode_settings(bits: u8) -> Settings {
    Settings {
        json: bits & 2 != 0,
        leaks: bits & 4 != 0,
        summary: bits & 8 != 0,
        error_exitcode: (bits & 16 != 0).then(|| ERROR_EXITCODE.load(Ordering::Relaxed)),
        beyond_eof_at_map: bits & 32 != 0,
    }
}

/// yes/no: `1`, `yes`, `true`, `on` or `0`, `no`, `false`, `off` (any
/// case); unset or anything else is `default`.
pub fn parse_flag(value: Option<&[u8]>, default: bool) -> bool {
    match value
        .map(|v| v.trim_ascii().to_ascii_lowercase())
        .as_deref()
    {
        Some(b"1" | b"yes" | b"true" | b"on") => true,
        Some(b"0" | b"no" | b"false" | b"off") => false,
        _ => default,
    }
}

/// An exit status, 0 to 255.
pub fn parse_status(value: &[u8]) -> Option<u8> {
    std::str::from_utf8(value).ok()?.trim().parse().ok()
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
    Tolerate,
    Secure,
}

impl Call {
    pub const COUNT: usize = 11;
    pub const ALL: [Call; Call::COUNT] = [
        Call::Map,
        Call::Unmap,
        Call::Sync,
        Call::Protect,
        Call::Advise,
        Call::Lock,
        Call::Unlock,
        Call::Remap,
        Call::Resident,
        Call::Tolerate,
        Call::Secure,
    ];

    pub fn index(self) -> usize {
        self as usize
    }

    /// The name in report kinds: `unmap` of `unmap-unowned`.
    pub fn kind(self) -> &'static str {
        [
            "map", "unmap", "sync", "protect", "advise", "lock", "unlock", "remap", "resident",
            "tolerate", "secure",
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
            ("rmap_tolerate", "rmap_tolerate"),
            ("rmap_secure", "rmap_secure"),
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
    Lost,
    NoSpace,
    IoError,
}

impl Finding {
    pub const COUNT: usize = Call::COUNT + 8;

    pub fn index(self) -> usize {
        match self {
            Finding::Unowned(call) => call.index(),
            Finding::Leak => Call::COUNT,
            Finding::BeyondEof => Call::COUNT + 1,
            Finding::WriteExec => Call::COUNT + 2,
            Finding::FaultHandler => Call::COUNT + 3,
            Finding::DoubleUnmap => Call::COUNT + 4,
            Finding::Lost => Call::COUNT + 5,
            Finding::NoSpace => Call::COUNT + 6,
            Finding::IoError => Call::COUNT + 7,
        }
    }

    /// The kind as reports name it: `unmap-unowned`, `leak`, ...
    fn write_kind(index: usize, out: &mut dyn Write) -> fmt::Result {
        if index < Call::COUNT {
            return write!(out, "{}-unowned", Call::ALL[index].kind());
        }
        out.write_str(
            [
                "leak",
                "beyond-eof",
                "write-exec",
                "fault-handler",
                "double-unmap",
                "lost-page",
                "no-space",
                "io-error",
            ][index - Call::COUNT],
        )
    }
}

/// Where in the program something happened: the object file (as the
/// loader names it, raw bytes), the offset from its load address (what
/// `addr2line -e OBJECT OFFSET` takes), and the exported symbol covering
/// it, with the offset from that symbol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Site<'a> {
    pub object: &'a [u8],
    pub offset: usize,
    pub symbol: Option<(&'a [u8], usize)>,
    /// For rmap-check's symbolizer, which adds the function and file:line:
    /// the location carries a mark naming the object and offset (see
    /// [`MARK_START`]), which the symbolizer replaces.
    pub marked: bool,
}

/// The marks a location carries for rmap-check's symbolizer (never in a
/// line that reaches a person: the symbolizer replaces them, and
/// [`Line::strip_marks`] removes them when it is gone). In a text line,
/// after `OBJECT+0xOFFSET`: `\x01`, the object's bytes in hex, `\x1f`, the
/// offset in hex, `\x1f`, the text that follows without a symbolizer (` (symbol+0x2)`
/// or nothing), `\x02`; the symbolizer puts ` (function, file:line)` in place
/// of all that when the object has debug information, else that text. In a
/// JSON location object, the same with nothing between the last `\x1f` and
/// `\x02`, before the closing brace: the symbolizer adds `"function"`,
/// `"file"` and `"line"` there. In JSON's `message` the text marks appear
/// JSON-escaped (`\u0001` ...). Control characters from outside librmap
/// are escaped ([`Escaped`]), so the marks cannot be forged.
pub const MARK_START: u8 = 0x01;
pub const MARK_SEPARATOR: u8 = 0x1f;
pub const MARK_END: u8 = 0x02;

/// The longest object name a mark carries (in hex, twice that): a longer
/// one goes unmarked, so that a line with four marks still fits.
const MARKED_OBJECT: usize = 1024;

/// The mark's head: start, object in hex, separator, offset in hex,
/// separator (raw bytes; JSON escapes them where they are in a string).
struct MarkHead<'a>(&'a Site<'a>);

impl fmt::Display for MarkHead<'_> {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        out.write_char(MARK_START as char)?;
        for byte in self.0.object {
            write!(out, "{byte:02x}")?;
        }
        write!(
            out,
            "{}{:x}{}",
            MARK_SEPARATOR as char, self.0.offset, MARK_SEPARATOR as char
        )
    }
}

impl Site<'_> {
    fn carries_mark(&self) -> bool {
        self.marked && self.object.len() <= MARKED_OBJECT
    }
}

/// A code address as reports show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Where<'a> {
    Site(Site<'a>),
    /// No object file contains the address.
    Address(usize),
    /// librmap is linked into the program, which cannot be told apart from
    /// librmap's own code.
    Unknown,
}

impl fmt::Display for Where<'_> {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Where::Site(site) => {
                write!(out, "{}+{:#x}", Escaped(site.object), site.offset)?;
                if site.carries_mark() {
                    write!(out, "{}", MarkHead(&site))?;
                }
                if let Some((name, off)) = site.symbol {
                    write!(out, " ({}+{off:#x})", Escaped(name))?;
                }
                if site.carries_mark() {
                    out.write_char(MARK_END as char)?;
                }
                Ok(())
            }
            Where::Address(addr) => write!(out, "{addr:#x}"),
            Where::Unknown => {
                out.write_str("an unknown caller (librmap is linked into the program)")
            }
        }
    }
}

/// The most characters one outside string takes in a report, escaped
/// (then "..."): a line quotes at most eight such strings (two locations
/// of two strings each, and the text again in JSON's `message`), and JSON
/// at most doubles them, so a report always fits its line whole.
const SHOWN: usize = 1024;

/// Bytes from outside librmap, shown so that they can neither end the line
/// nor start another report: printable UTF-8 as it is, a backslash as
/// `\\`, control characters (C0, DEL, C1), line and paragraph separators as
/// `\u{N}` (`\n` as `\n`, `\t` as `\t`), bytes that are not UTF-8 as `\xNN`;
/// at most [`SHOWN`] characters of that, then `...`.
pub struct Escaped<'a>(pub &'a [u8]);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut room = SHOWN;
        // Writes one piece if it fits whole; false once the room is used up.
        let mut put = |piece: &str, out: &mut fmt::Formatter<'_>| -> Result<bool, fmt::Error> {
            if piece.len() > room {
                return Ok(false);
            }
            room -= piece.len();
            out.write_str(piece).map(|()| true)
        };
        for chunk in self.0.utf8_chunks() {
            for c in chunk.valid().chars() {
                let mut text = [0u8; 16];
                let piece: &str = match c {
                    '\\' => "\\\\",
                    '\n' => "\\n",
                    '\t' => "\\t",
                    c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => {
                        let mut writer = &mut text[..];
                        let _ = std::io::Write::write_fmt(
                            &mut writer,
                            format_args!("\\u{{{:x}}}", c as u32),
                        );
                        let used = 16 - writer.len();
                        std::str::from_utf8(&text[..used]).unwrap_or("?")
                    }
                    c => c.encode_utf8(&mut text),
                };
                if !put(piece, out)? {
                    return out.write_str("...");
                }
            }
            for byte in chunk.invalid() {
                let hex = b"0123456789abcdef";
                let text = [
                    b'\\',
                    b'x',
                    hex[(byte >> 4) as usize],
                    hex[(byte & 15) as usize],
                ];
                if !put(std::str::from_utf8(&text).unwrap_or("?"), out)? {
                    return out.write_str("...");
                }
            }
        }
        Ok(())
    }
}

/// A JSON string: the text `T` displays, with `"`, `\` and control
/// characters escaped as JSON wants.
struct Json<T>(T);

impl<T: fmt::Display> fmt::Display for Json<T> {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        out.write_char('"')?;
        write!(JsonEscaper(out), "{}", self.0)?;
        out.write_char('"')
    }
}

struct JsonEscaper<'a, 'b>(&'a mut fmt::Formatter<'b>);

impl Write for JsonEscaper<'_, '_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for c in text.chars() {
            match c {
                '"' => self.0.write_str("\\\"")?,
                '\\' => self.0.write_str("\\\\")?,
                c if (c as u32) < 0x20 => write!(self.0, "\\u{:04x}", c as u32)?,
                c => self.0.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// A [`Where`] as a JSON object: `{"object": ..., "offset": ..., "symbol":
/// ..., "symbol_offset": ...}`, `{"address": ...}` or null.
struct JsonWhere<'a>(Where<'a>);

impl fmt::Display for JsonWhere<'_> {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Where::Site(site) => {
                write!(
                    out,
                    "{{\"object\":{},\"offset\":\"{:#x}\"",
                    Json(Escaped(site.object)),
                    site.offset
                )?;
                if let Some((name, off)) = site.symbol {
                    write!(
                        out,
                        ",\"symbol\":{},\"symbol_offset\":\"{off:#x}\"",
                        Json(Escaped(name))
                    )?;
                }
                if site.carries_mark() {
                    write!(out, "{}{}", MarkHead(&site), MARK_END as char)?;
                }
                out.write_char('}')
            }
            Where::Address(addr) => write!(out, "{{\"address\":\"{addr:#x}\"}}"),
            Where::Unknown => out.write_str("null"),
        }
    }
}

/// The file behind a mapping whose page past its end was touched, or that
/// reaches past its end when made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PastEnd {
    /// File offset of the first page wholly past the end of the file.
    pub first_bad: u64,
    /// The file's size, when known.
    pub size: Option<u64>,
}

/// One report: what happened, with everything the line says.
#[derive(Clone, Copy, Debug)]
pub enum Report<'a> {
    /// A call on a range librmap does not hold (`stale`: it held it, but
    /// the kernel no longer maps it as recorded).
    Unowned {
        call: Call,
        addr: usize,
        len: usize,
        at: Where<'a>,
        stale: bool,
    },
    /// An unmap of a range unmapped before (at `unmapped_at`).
    DoubleUnmap {
        addr: usize,
        len: usize,
        at: Where<'a>,
        unmapped_at: Where<'a>,
    },
    /// A mapping still held at exit.
    Leak {
        addr: usize,
        len: usize,
        created_at: Where<'a>,
    },
    /// A file mapping made (`rmap_map`, or grown by `rmap_remap`) reaching
    /// past its file's last page (only with `RMAP_CHECK_BEYOND_EOF=map`).
    MappedPastEnd {
        call: Call,
        addr: usize,
        len: usize,
        at: Where<'a>,
        offset: i64,
        file: PastEnd,
    },
    /// A SIGBUS at a file mapping librmap made, about to go to the
    /// program's own action, with its cause: a page past the end of the
    /// file, a hole the file system had no space to fill, or an I/O error.
    Sigbus {
        cause: SigbusCause,
        fault: usize,
        /// The file offset of the byte at `fault`.
        file_offset: u64,
        start: usize,
        len: usize,
        created_at: Where<'a>,
        size: Option<u64>,
    },
    WriteExec {
        call: Call,
        addr: usize,
        len: usize,
        at: Where<'a>,
    },
    /// A page of a tolerant mapping raised SIGBUS and was replaced by zeros.
    Lost {
        fault: usize,
        file_offset: u64,
        start: usize,
        len: usize,
        created_at: Where<'a>,
    },
    /// SIGBUS or SIGSEGV set to SIG_DFL or SIG_IGN behind librmap's back.
    FaultHandler,
    /// At exit: the calls and reports of this process, by kind.
    Summary {
        calls: &'a [u64; Call::COUNT],
        findings: &'a [u64; Finding::COUNT],
    },
}

/// Why a SIGBUS was raised at a file mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigbusCause {
    /// The page lies past the end of the file.
    PastEnd,
    /// A write into a hole of the file, on a file system with no space left.
    NoSpace,
    /// The file covers the page, but reading or writing it failed.
    IoError,
}

/// What every report line shares: the process, and whether calls go by
/// the C library's names (under rmap-check).
#[derive(Clone, Copy, Debug)]
pub struct Context {
    pub pid: u32,
    pub libc_names: bool,
}

impl Report<'_> {
    /// The kind it counts as (None: the summary counts nothing).
    pub fn finding(&self) -> Option<Finding> {
        Some(match self {
            Report::Unowned { call, .. } => Finding::Unowned(*call),
            Report::DoubleUnmap { .. } => Finding::DoubleUnmap,
            Report::Leak { .. } => Finding::Leak,
            Report::MappedPastEnd { .. } => Finding::BeyondEof,
            Report::Sigbus { cause, .. } => match cause {
                SigbusCause::PastEnd => Finding::BeyondEof,
                SigbusCause::NoSpace => Finding::NoSpace,
                SigbusCause::IoError => Finding::IoError,
            },
            Report::WriteExec { .. } => Finding::WriteExec,
            Report::Lost { .. } => Finding::Lost,
            Report::FaultHandler => Finding::FaultHandler,
            Report::Summary { .. } => return None,
        })
    }

    fn kind(&self, out: &mut dyn Write) -> fmt::Result {
        match self.finding() {
            Some(finding) => Finding::write_kind(finding.index(), out),
            None => out.write_str("summary"),
        }
    }

    /// The report as one text line (without its newline).
    pub fn text(&self, cx: Context, out: &mut dyn Write) -> fmt::Result {
        out.write_str("rmap: ")?;
        self.kind(out)?;
        out.write_str(": ")?;
        let name = |call: Call| call.name(cx.libc_names);
        match *self {
            Report::Unowned {
                call,
                addr,
                len,
                at,
                stale: false,
            } => write!(
                out,
                "{}({addr:#x}, {len}) at {at}: this range holds memory librmap did not map; \
                 refused with {}",
                name(call),
                // rmap_tolerate and rmap_secure answer ENOMEM in every mode,
                // as documented.
                if matches!(call, Call::Tolerate | Call::Secure) { "ENOMEM" } else { "EINVAL" }
            ),
            Report::Unowned {
                call,
                addr,
                len,
                at,
                stale: true,
            } => write!(
                out,
                "{}({addr:#x}, {len}) at {at}: the librmap mapping here was unmapped \
                 or replaced behind librmap's back (munmap, mmap or mremap called directly); \
                 refused with EINVAL",
                name(call)
            ),
            Report::DoubleUnmap {
                addr,
                len,
                at,
                unmapped_at,
            } => write!(
                out,
                "{}({addr:#x}, {len}) at {at}: already unmapped at {unmapped_at}; refused with EINVAL",
                name(Call::Unmap)
            ),
            Report::Leak {
                addr,
                len,
                created_at,
            } => write!(
                out,
                "{len} bytes at {addr:#x} still mapped at exit, created at {created_at}"
            ),
            Report::MappedPastEnd {
                call,
                addr,
                len,
                at,
                offset,
                file,
            } => write!(
                out,
                "{}({addr:#x}, {len}) at {at} maps offset {offset} of a {}-byte file: \
                 touching file offsets from {} on raises SIGBUS",
                name(call),
                file.size.unwrap_or(0),
                file.first_bad
            ),
            Report::Sigbus {
                cause,
                fault,
                file_offset,
                start,
                len,
                created_at,
                size,
            } => {
                write!(
                    out,
                    "{fault:#x} {}, file offset {file_offset} of the mapping {}({start:#x}, {len}) \
                     created at {created_at}: ",
                    if cause == SigbusCause::NoSpace { "written" } else { "touched" },
                    name(Call::Map)
                )?;
                match (cause, size) {
                    (SigbusCause::PastEnd, Some(size)) => write!(out, "the file is {size} bytes long"),
                    (SigbusCause::PastEnd, None) => out.write_str("the file no longer covers that page"),
                    (SigbusCause::NoSpace, _) => out.write_str(
                        "the file system has no space left to fill this hole of the file",
                    ),
                    (SigbusCause::IoError, _) => out.write_str(
                        "the file covers it, but reading or writing the page failed (an I/O error)",
                    ),
                }?;
                out.write_str(" (SIGBUS; the program's own action follows)")
            }
            Report::WriteExec {
                call,
                addr,
                len,
                at,
            } => write!(
                out,
                "{}({addr:#x}, {len}) at {at} is both writable and executable",
                name(call)
            ),
            Report::Lost {
                fault,
                file_offset,
                start,
                len,
                created_at,
            } => write!(
                out,
                "{fault:#x} touched, file offset {file_offset} of the tolerant mapping {}({start:#x}, {len}) \
                 created at {created_at}: the file no longer backs that page; it reads as zeros from now on, \
                 writes to it stay in memory, and rmap_sync over it fails with EIO",
                name(Call::Map)
            ),
            Report::FaultHandler => out.write_str(
                "SIGBUS or SIGSEGV was set to SIG_DFL or SIG_IGN after librmap installed its \
                 handler, bypassing librmap's sigaction and signal; installed again (chaining to that \
                 action) so that rmap_read and rmap_write stay safe",
            ),
            Report::Summary { calls, findings } => summary(cx, calls, findings, out),
        }
    }

    /// The report as one JSON object (without its newline): `kind`, `pid`,
    /// then the fields of its kind, and `message`, the text line.
    pub fn json(&self, cx: Context, out: &mut dyn Write) -> fmt::Result {
        out.write_str("{\"kind\":\"")?;
        self.kind(out)?;
        write!(out, "\",\"pid\":{}", cx.pid)?;
        let call = |out: &mut dyn Write, call: Call| {
            write!(out, ",\"call\":\"{}\"", call.name(cx.libc_names))
        };
        let range = |out: &mut dyn Write, addr: usize, len: usize| {
            write!(out, ",\"address\":\"{addr:#x}\",\"length\":{len}")
        };
        match *self {
            Report::Unowned {
                call: c,
                addr,
                len,
                at,
                stale,
            } => {
                call(out, c)?;
                range(out, addr, len)?;
                write!(out, ",\"caller\":{},\"stale\":{stale}", JsonWhere(at))?;
            }
            Report::DoubleUnmap {
                addr,
                len,
                at,
                unmapped_at,
            } => {
                call(out, Call::Unmap)?;
                range(out, addr, len)?;
                write!(
                    out,
                    ",\"caller\":{},\"unmapped_by\":{}",
                    JsonWhere(at),
                    JsonWhere(unmapped_at)
                )?;
            }
            Report::Leak {
                addr,
                len,
                created_at,
            } => {
                range(out, addr, len)?;
                write!(out, ",\"created_by\":{}", JsonWhere(created_at))?;
            }
            Report::MappedPastEnd {
                call: c,
                addr,
                len,
                at,
                offset,
                file,
            } => {
                call(out, c)?;
                range(out, addr, len)?;
                write!(
                    out,
                    ",\"caller\":{},\"file_offset\":{offset},\"first_bad_offset\":{}",
                    JsonWhere(at),
                    file.first_bad
                )?;
                if let Some(size) = file.size {
                    write!(out, ",\"file_size\":{size}")?;
                }
            }
            Report::Sigbus {
                fault,
                file_offset,
                start,
                len,
                created_at,
                size,
                ..
            } => {
                write!(
                    out,
                    ",\"fault_address\":\"{fault:#x}\",\"file_offset\":{file_offset}"
                )?;
                call(out, Call::Map)?;
                range(out, start, len)?;
                write!(out, ",\"created_by\":{}", JsonWhere(created_at))?;
                if let Some(size) = size {
                    write!(out, ",\"file_size\":{size}")?;
                }
            }
            Report::WriteExec {
                call: c,
                addr,
                len,
                at,
            } => {
                call(out, c)?;
                range(out, addr, len)?;
                write!(out, ",\"caller\":{}", JsonWhere(at))?;
            }
            Report::Lost {
                fault,
                file_offset,
                start,
                len,
                created_at,
            } => {
                write!(
                    out,
                    ",\"fault_address\":\"{fault:#x}\",\"file_offset\":{file_offset}"
                )?;
                call(out, Call::Map)?;
                range(out, start, len)?;
                write!(out, ",\"created_by\":{}", JsonWhere(created_at))?;
            }
            Report::FaultHandler => {}
            Report::Summary { calls, findings } => {
                out.write_str(",\"calls\":{")?;
                for (i, c) in Call::ALL.iter().enumerate() {
                    let sep = if i == 0 { "" } else { "," };
                    write!(
                        out,
                        "{sep}\"{}\":{}",
                        c.name(cx.libc_names),
                        calls[c.index()]
                    )?;
                }
                out.write_str("},\"reports\":{")?;
                for (i, n) in findings.iter().enumerate() {
                    out.write_str(if i == 0 { "\"" } else { ",\"" })?;
                    Finding::write_kind(i, out)?;
                    write!(out, "\":{n}")?;
                }
                out.write_char('}')?;
            }
        }
        out.write_str(",\"message\":")?;
        write!(out, "{}", Json(TextOf(self, cx)))?;
        out.write_char('}')
    }
}

/// A report's text line, as a Display.
struct TextOf<'a, 'b>(&'a Report<'b>, Context);

impl fmt::Display for TextOf<'_, '_> {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.text(self.1, out)
    }
}

/// The summary's text after `rmap: summary: `: calls seen and reports
/// made, by kind (kinds with none left out), and the process they are about.
fn summary(
    cx: Context,
    calls: &[u64; Call::COUNT],
    findings: &[u64; Finding::COUNT],
    out: &mut dyn Write,
) -> fmt::Result {
    let plural = |n: u64| if n == 1 { "" } else { "s" };
    let call_total: u64 = calls.iter().sum();
    write!(
        out,
        "pid {}: {call_total} call{}",
        cx.pid,
        plural(call_total)
    )?;
    let mut first = true;
    for c in Call::ALL {
        let n = calls[c.index()];
        if n > 0 {
            out.write_str(if first { " (" } else { ", " })?;
            write!(out, "{} {n}", c.name(cx.libc_names))?;
            first = false;
        }
    }
    if !first {
        out.write_char(')')?;
    }
    let report_total: u64 = findings.iter().sum();
    write!(out, ", {report_total} report{}", plural(report_total))?;
    first = true;
    for (i, &n) in findings.iter().enumerate() {
        if n > 0 {
            out.write_str(if first { " (" } else { ", " })?;
            Finding::write_kind(i, out)?;
            write!(out, " {n}")?;
            first = false;
        }
    }
    if !first {
        out.write_char(')')?;
    }
    Ok(())
}

/// One report line, built without allocating: a fixed buffer that keeps
/// what fits (a line that does not fit ends with "..."; outside strings are
/// cut at [`SHOWN`] bytes each, so reports fit).
pub struct Line {
    bytes: [u8; Line::CAPACITY],
    len: usize,
    cut: bool,
}

impl Line {
    const CAPACITY: usize = 16 * 1024;

    pub const fn new() -> Line {
        Line {
            bytes: [0; Line::CAPACITY],
            len: 0,
            cut: false,
        }
    }

    /// Writes `report` as text or JSON; returns the line with its newline.
    pub fn of(&mut self, report: &Report, cx: Context, json: bool) -> &[u8] {
        self.len = 0;
        self.cut = false;
        let _ = if json {
            report.json(cx, self)
        } else {
            report.text(cx, self)
        };
        if self.cut && json {
            // Never a cut JSON object: the kind and the process, marked.
            self.len = 0;
            self.cut = false;
            let _ = self.write_str("{\"kind\":\"");
            let _ = report.kind(self);
            let _ = write!(self, "\",\"pid\":{},\"cut\":true}}", cx.pid);
        } else if self.cut {
            self.len = Line::CAPACITY - 4;
            self.bytes[self.len..self.len + 3].copy_from_slice(b"...");
            self.len += 3;
        }
        self.bytes[self.len] = b'\n';
        &self.bytes[..self.len + 1]
    }
}

impl Line {
    /// The last line [`Line::of`] made, without the symbolizer's marks (for
    /// when rmap-check is gone): each mark's head and end removed, raw or
    /// JSON-escaped, and the text between kept.
    pub fn strip_marks(&mut self) -> &[u8] {
        let len = strip_marks(&mut self.bytes[..self.len + 1]);
        self.len = len - 1;
        &self.bytes[..len]
    }
}

/// How many bytes at `at` spell the mark byte `byte`: 1 raw, 6 JSON-escaped
/// (`\u00XX`), 0 neither.
fn mark_at(bytes: &[u8], at: usize, byte: u8) -> usize {
    if bytes.get(at) == Some(&byte) {
        return 1;
    }
    let code = [
        b'\\',
        b'u',
        b'0',
        b'0',
        HEX[(byte >> 4) as usize],
        HEX[(byte & 15) as usize],
    ];
    if bytes[at.min(bytes.len())..].starts_with(&code) {
        6
    } else {
        0
    }
}

/// Removes the symbolizer's marks from `bytes` in place, keeping the text
/// each carries for when there is no symbolizer; returns the new length.
pub fn strip_marks(bytes: &mut [u8]) -> usize {
    let (mut from, mut to) = (0, 0);
    while from < bytes.len() {
        let end = mark_at(bytes, from, MARK_END);
        if end > 0 {
            from += end;
            continue;
        }
        let start = mark_at(bytes, from, MARK_START);
        if start == 0 {
            bytes[to] = bytes[from];
            from += 1;
            to += 1;
            continue;
        }
        // Past the object and the offset: two separators, spelled as the
        // start was.
        from += start;
        for _ in 0..2 {
            while from < bytes.len() && mark_at(bytes, from, MARK_SEPARATOR) != start {
                from += 1;
            }
            from = (from + start).min(bytes.len());
        }
    }
    to
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl Default for Line {
    fn default() -> Line {
        Line::new()
    }
}

impl Write for Line {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        // One byte stays free for the newline.
        let room = Line::CAPACITY - 1 - self.len;
        if text.len() > room {
            self.bytes[self.len..self.len + room].copy_from_slice(&text.as_bytes()[..room]);
            self.len += room;
            self.cut = true;
            return Err(fmt::Error);
        }
        self.bytes[self.len..self.len + text.len()].copy_from_slice(text.as_bytes());
        self.len += text.len();
        Ok(())
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    const CX: Context = Context {
        pid: 7,
        libc_names: false,
    };
    const LIBC: Context = Context {
        pid: 7,
        libc_names: true,
    };

    fn text(report: &Report, cx: Context) -> String {
        let mut line = Line::new();
        String::from_utf8(line.of(report, cx, false).to_vec()).unwrap()
    }

    fn json(report: &Report, cx: Context) -> String {
        let mut line = Line::new();
        String::from_utf8(line.of(report, cx, true).to_vec()).unwrap()
    }

    fn site(object: &'static [u8]) -> Where<'static> {
        Where::Site(Site {
            object,
            offset: 0x10,
            symbol: None,
            marked: false,
        })
    }

    #[test]
    fn environment_values() {
        assert_eq!(parse(None), Ok(Mode::Off));
        assert_eq!(parse(Some(b"")), Ok(Mode::Off));
        assert_eq!(parse(Some(b"0")), Ok(Mode::Off));
        assert_eq!(parse(Some(b"off")), Ok(Mode::Off));
        assert_eq!(parse(Some(b"1")), Ok(Mode::Report));
        assert_eq!(parse(Some(b" 1")), Ok(Mode::Report));
        assert_eq!(parse(Some(b"Report")), Ok(Mode::Report));
        assert_eq!(parse(Some(b"2")), Ok(Mode::Abort));
        assert_eq!(parse(Some(b"ABORT")), Ok(Mode::Abort));
        for wrong in [&b"yes"[..], b"3", b"on", b"1x"] {
            let warning = parse(Some(wrong)).unwrap_err();
            assert!(warning.starts_with("rmap: RMAP_CHECK="), "{warning}");
            assert!(warning.contains("0, off, 1, report, 2, abort"), "{warning}");
        }
        assert!(parse_flag(Some(b" Yes"), false) && !parse_flag(Some(b"off"), true));
        assert!(parse_flag(Some(b"maybe"), true) && !parse_flag(None, false));
        assert_eq!(parse_status(b" 9"), Some(9));
        assert_eq!(parse_status(b"256"), None);
    }

    #[test]
    fn a_value_can_neither_end_the_line_nor_start_a_report() {
        let warning = parse(Some(b"x\nrmap: leak: forged")).unwrap_err();
        assert!(!warning.contains('\n'), "{warning}");
        assert!(warning.contains("x\\nrmap: leak: forged"), "{warning}");
    }

    #[test]
    fn outside_bytes_are_escaped() {
        let shown = |bytes: &[u8]| Escaped(bytes).to_string();
        assert_eq!(shown(b"/usr/lib/a b.so"), "/usr/lib/a b.so");
        assert_eq!(shown(b"a\nb\rc\td\\e"), "a\\nb\\u{d}c\\td\\\\e");
        assert_eq!(shown(b"\x1b[31m\x7f"), "\\u{1b}[31m\\u{7f}");
        assert_eq!(shown(b"bad\xff\xfe."), "bad\\xff\\xfe.");
        assert_eq!(
            shown("中文\u{85}\u{2028}".as_bytes()),
            "中文\\u{85}\\u{2028}"
        );
        let long = vec![b'a'; SHOWN + 10];
        assert_eq!(shown(&long).len(), SHOWN + 3);
        // Nothing it writes is a line break.
        let all: Vec<u8> = (0..=255).collect();
        assert!(!shown(&all).contains(['\n', '\r']));
    }

    /// 4 KiB of control bytes and bytes that are not UTF-8, in every
    /// string a report quotes: the line is whole, one line, and (JSON) has
    /// every string closed.
    #[test]
    fn hostile_strings_never_cut_a_line() {
        let hostile: Vec<u8> = (0..4096)
            .map(|i| [1u8, 0x7f, 0x85, 0xff, b'\\', b'"'][i % 6])
            .collect();
        let place = Where::Site(Site {
            object: &hostile,
            offset: 0x10,
            symbol: Some((&hostile, 0x4)),
            marked: false,
        });
        let double = Report::DoubleUnmap {
            addr: 0x1000,
            len: 4096,
            at: place,
            unmapped_at: place,
        };
        for (line, json) in [(text(&double, CX), false), (json(&double, CX), true)] {
            assert!(line.len() < 16 * 1024 - 1, "{} bytes", line.len());
            assert_eq!(line.matches('\n').count(), 1);
            assert!(!line.contains("\"cut\""), "cut");
            if json {
                assert!(line.ends_with("}\n"));
                // Every quote that is not escaped opens or closes a string:
                // an even number of them.
                let bytes = line.as_bytes();
                let quotes = (0..bytes.len())
                    .filter(|&i| {
                        bytes[i] == b'"'
                            && bytes[..i].iter().rev().take_while(|&&b| b == b'\\').count() % 2 == 0
                    })
                    .count();
                assert_eq!(quotes % 2, 0);
            }
        }
    }

    #[test]
    fn reports_start_with_rmap_and_their_kind() {
        let unowned = Report::Unowned {
            call: Call::Unmap,
            addr: 0x1000,
            len: 4096,
            at: site(b"/bin/p"),
            stale: false,
        };
        assert!(
            text(&unowned, CX)
                .starts_with("rmap: unmap-unowned: rmap_unmap(0x1000, 4096) at /bin/p+0x10: ")
        );
        assert!(
            text(&unowned, LIBC)
                .starts_with("rmap: unmap-unowned: munmap(0x1000, 4096) at /bin/p+0x10: ")
        );
        let leak = Report::Leak {
            addr: 0x2000,
            len: 8192,
            created_at: Where::Site(Site {
                object: b"/bin/p",
                offset: 0x10,
                symbol: Some((b"main", 0x2)),
                marked: false,
            }),
        };
        assert_eq!(
            text(&leak, CX),
            "rmap: leak: 8192 bytes at 0x2000 still mapped at exit, created at /bin/p+0x10 (main+0x2)\n"
        );
        let mapped = Report::MappedPastEnd {
            call: Call::Map,
            addr: 0x3000,
            len: 8192,
            at: site(b"/p"),
            offset: 0,
            file: PastEnd {
                first_bad: 4096,
                size: Some(100),
            },
        };
        assert!(
            text(&mapped, LIBC).ends_with(
                "of a 100-byte file: touching file offsets from 4096 on raises SIGBUS\n"
            )
        );
        let write_exec = Report::WriteExec {
            call: Call::Protect,
            addr: 0x4000,
            len: 4096,
            at: Where::Unknown,
        };
        assert_eq!(
            text(&write_exec, CX),
            "rmap: write-exec: rmap_protect(0x4000, 4096) at an unknown caller (librmap is linked \
             into the program) is both writable and executable\n"
        );
        let stale = Report::Unowned {
            call: Call::Resident,
            addr: 0x5000,
            len: 4096,
            at: Where::Address(0x99),
            stale: true,
        };
        assert!(
            text(&stale, LIBC)
                .starts_with("rmap: resident-unowned: mincore(0x5000, 4096) at 0x99: the librmap")
        );
        let double = Report::DoubleUnmap {
            addr: 0x1000,
            len: 4096,
            at: site(b"/bin/p"),
            unmapped_at: Where::Site(Site {
                object: b"/bin/p",
                offset: 0x8,
                symbol: None,
                marked: false,
            }),
        };
        assert_eq!(
            text(&double, LIBC),
            "rmap: double-unmap: munmap(0x1000, 4096) at /bin/p+0x10: already unmapped at \
             /bin/p+0x8; refused with EINVAL\n"
        );
        let touched = Report::Sigbus {
            cause: SigbusCause::PastEnd,
            fault: 0x7000,
            file_offset: 4096,
            start: 0x6000,
            len: 8192,
            created_at: site(b"/p"),
            size: Some(100),
        };
        assert_eq!(
            text(&touched, LIBC),
            "rmap: beyond-eof: 0x7000 touched, file offset 4096 of the mapping mmap(0x6000, 8192) \
             created at /p+0x10: the file is 100 bytes long (SIGBUS; the program's own action follows)\n"
        );
    }

    #[test]
    fn a_forged_path_stays_inside_its_line() {
        let forged =
            b"/tmp/x\nrmap: double-unmap: munmap(0xdead, 1) at /bin/sh+0x1: already unmapped";
        let leak = Report::Leak {
            addr: 0x2000,
            len: 4096,
            created_at: site(forged),
        };
        for line in [text(&leak, CX), json(&leak, CX)] {
            assert_eq!(line.matches('\n').count(), 1, "{line}");
            assert!(line.ends_with('\n'));
        }
    }

    /// A leak whose location is marked for the symbolizer, or not.
    fn leak(marked: bool, symbol: Option<(&'static [u8], usize)>) -> Report<'static> {
        Report::Leak {
            addr: 0x2000,
            len: 8192,
            created_at: Where::Site(Site {
                object: b"/bin/p q\n",
                offset: 0x10,
                symbol,
                marked,
            }),
        }
    }

    #[test]
    fn marks_carry_the_object_and_offset_and_strip_to_the_plain_line() {
        let hex = "2f62696e2f7020710a"; // "/bin/p q\n"
        for symbol in [None, Some((&b"main"[..], 2))] {
            let keep = if symbol.is_some() { " (main+0x2)" } else { "" };
            let marked = text(&leak(true, symbol), CX);
            assert_eq!(
                marked,
                format!(
                    "rmap: leak: 8192 bytes at 0x2000 still mapped at exit, created at \
                     /bin/p q\\n+0x10\x01{hex}\x1f10\x1f{keep}\x02\n"
                )
            );
            let as_json = json(&leak(true, symbol), CX);
            assert!(
                as_json.contains("\"offset\":\"0x10\"")
                    && as_json.contains(&format!("\x01{hex}\x1f10\x1f\x02}}")),
                "{as_json}"
            );
            assert!(
                as_json.contains(&format!("\\u0001{hex}\\u001f10\\u001f{keep}\\u0002")),
                "{as_json}"
            );
            for json_form in [false, true] {
                let mut line = Line::new();
                line.of(&leak(true, symbol), CX, json_form);
                let stripped = String::from_utf8(line.strip_marks().to_vec()).unwrap();
                let plain = if json_form {
                    json(&leak(false, symbol), CX)
                } else {
                    text(&leak(false, symbol), CX)
                };
                assert_eq!(stripped, plain);
            }
        }
    }

    #[test]
    fn a_long_object_name_goes_unmarked() {
        let long: &'static [u8] = Box::leak(vec![b'a'; MARKED_OBJECT + 1].into_boxed_slice());
        let report = Report::Leak {
            addr: 0x2000,
            len: 8192,
            created_at: Where::Site(Site {
                object: long,
                offset: 0x10,
                symbol: None,
                marked: true,
            }),
        };
        assert!(!text(&report, CX).contains('\x01'));
    }

    #[test]
    fn json_names_the_fields() {
        let leak = Report::Leak {
            addr: 0x2000,
            len: 8192,
            created_at: Where::Site(Site {
                object: b"/bin/\"p\"\xff",
                offset: 0x10,
                symbol: Some((b"main", 0x2)),
                marked: false,
            }),
        };
        assert_eq!(
            json(&leak, CX),
            "{\"kind\":\"leak\",\"pid\":7,\"address\":\"0x2000\",\"length\":8192,\"created_by\":\
             {\"object\":\"/bin/\\\"p\\\"\\\\xff\",\"offset\":\"0x10\",\"symbol\":\"main\",\
             \"symbol_offset\":\"0x2\"},\"message\":\"rmap: leak: 8192 bytes at 0x2000 still \
             mapped at exit, created at /bin/\\\"p\\\"\\\\xff+0x10 (main+0x2)\"}\n"
        );
    }

    #[test]
    fn summary_names_what_happened() {
        let mut calls = [0; Call::COUNT];
        calls[Call::Map.index()] = 3;
        calls[Call::Unmap.index()] = 2;
        let mut findings = [0; Finding::COUNT];
        findings[Finding::Unowned(Call::Unmap).index()] = 1;
        findings[Finding::Leak.index()] = 1;
        let report = Report::Summary {
            calls: &calls,
            findings: &findings,
        };
        assert_eq!(
            text(&report, LIBC),
            "rmap: summary: pid 7: 5 calls (mmap 3, munmap 2), 2 reports (unmap-unowned 1, leak 1)\n"
        );
        let none = Report::Summary {
            calls: &[0; Call::COUNT],
            findings: &[0; Finding::COUNT],
        };
        assert_eq!(
            text(&none, CX),
            "rmap: summary: pid 7: 0 calls, 0 reports\n"
        );
        let mut one = [0; Call::COUNT];
        one[Call::Map.index()] = 1;
        let mut one_report = [0; Finding::COUNT];
        one_report[Finding::DoubleUnmap.index()] = 1;
        let report = Report::Summary {
            calls: &one,
            findings: &one_report,
        };
        assert_eq!(
            text(&report, CX),
            "rmap: summary: pid 7: 1 call (rmap_map 1), 1 report (double-unmap 1)\n"
        );
        assert!(json(&report, CX).starts_with(
            "{\"kind\":\"summary\",\"pid\":7,\"calls\":{\"rmap_map\":1,\"rmap_unmap\":0,"
        ));
    }

    #[test]
    fn a_line_too_long_is_cut_and_still_ends() {
        let mut full = Line::new();
        for _ in 0..Line::CAPACITY {
            let _ = full.write_str("x");
        }
        assert!(full.cut);
        let mut line = Line::new();
        let long = vec![b'a'; 100_000];
        let report = Report::Leak {
            addr: 1,
            len: 1,
            created_at: site(long.leak()),
        };
        let out = line.of(&report, CX, false);
        assert!(out.ends_with(b"...+0x10\n") && out.len() < Line::CAPACITY);
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
}
