//! Names the source of each location in a report: the function and
//! `file:line` from the object's debug information (DWARF, read with the
//! `addr2line` crate), added where librmap's marks say (`checked::Site` in
//! rmap/src/checked.rs describes them: `OBJECT+0xOFFSET`, then `\x01`, the
//! object in hex, `\x1f`, the offset in hex, `\x1f`, the text to keep
//! when nothing is known, `\x02`; JSON-escaped inside JSON strings).
//!
//! Runs here, in rmap-check's own process, never in the checked program:
//! reading DWARF allocates and maps files, which a report made inside a
//! mapping call (or a signal handler) must not do.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write;

use addr2line::gimli::{self, EndianSlice, RunTimeEndian};
use object::{Object, ObjectSection, ObjectSegment};

type Slice = EndianSlice<'static, RunTimeEndian>;

/// What the debug information says of one code address.
#[derive(Default, Debug, PartialEq, Eq)]
pub struct Source {
    pub function: Option<String>,
    pub file: Option<String>,
    pub line: Option<u32>,
}

impl Source {
    fn is_empty(&self) -> bool {
        self.function.is_none() && self.file.is_none()
    }
}

/// One object file's debug information, and the address its load address
/// stands for (what the loader's `dli_fbase`, and so a report's offset,
/// counts from: the first loaded segment's address, rounded down to a page).
struct Symbols {
    context: addr2line::Context<Slice>,
    base: u64,
}

/// The symbolizer: each object file read once, when first named.
#[derive(Default)]
pub struct Symbolizer {
    objects: HashMap<Vec<u8>, Option<Symbols>>,
}

impl Symbolizer {
    /// Function and file:line of `offset` in `object` (empty when the
    /// object cannot be read or has no debug information there).
    pub fn source(&mut self, object: &[u8], offset: u64) -> Source {
        let symbols = self
            .objects
            .entry(object.to_vec())
            .or_insert_with(|| load(object));
        let Some(symbols) = symbols else {
            return Source::default();
        };
        let probe = symbols.base.wrapping_add(offset);
        let mut source = Source::default();
        let Ok(mut frames) = symbols.context.find_frames(probe).skip_all_loads() else {
            return source;
        };
        // The innermost frame: the line itself, in the function (perhaps
        // inlined) that holds it.
        if let Ok(Some(frame)) = frames.next() {
            source.function = frame
                .function
                .as_ref()
                .and_then(|name| name.raw_name().ok())
                .map(Cow::into_owned);
            if let Some(location) = frame.location {
                source.file = location.file.map(str::to_owned);
                source.line = location.line;
            }
        }
        source
    }

    /// `line` (one report, with its newline) with every mark replaced.
    pub fn rewrite(&mut self, line: &[u8]) -> Vec<u8> {
        let json = line.first() == Some(&b'{');
        let mut out = Vec::with_capacity(line.len() + 128);
        let mut at = 0;
        while at < line.len() {
            let Some((width, mark)) = mark_at(line, at) else {
                out.push(line[at]);
                at += 1;
                continue;
            };
            match self.replace(&line[at..], width, mark, json) {
                Some((used, text)) => {
                    out.extend_from_slice(&text);
                    at += used;
                }
                None => {
                    // Not a whole mark: left as it came.
                    out.push(line[at]);
                    at += 1;
                }
            }
        }
        out
    }

    /// The mark at the start of `text` (spelled `width` bytes a byte):
    /// how many bytes it spans, and what goes in its place.
    fn replace(
        &mut self,
        text: &[u8],
        width: usize,
        mark: u8,
        json: bool,
    ) -> Option<(usize, Vec<u8>)> {
        if mark != START {
            return None;
        }
        let fields = split_mark(text, width)?;
        let object = from_hex(fields.object)?;
        let offset = u64::from_str_radix(std::str::from_utf8(fields.offset).ok()?, 16).ok()?;
        let source = self.source(&object, offset);
        let mut out = String::new();
        if json && width == 1 {
            // Inside a JSON location object: fields of its own.
            if let Some(function) = &source.function {
                let _ = write!(out, ",\"function\":{}", json_string(function));
            }
            if let Some(file) = &source.file {
                let _ = write!(out, ",\"file\":{}", json_string(file));
            }
            if let Some(line) = source.line {
                let _ = write!(out, ",\"line\":{line}");
            }
        } else if source.is_empty() {
            return Some((fields.len, fields.keep.to_vec()));
        } else {
            let mut words = Vec::new();
            if let Some(function) = &source.function {
                words.push(escaped(function));
            }
            if let Some(file) = &source.file {
                match source.line {
                    Some(line) => words.push(format!("{}:{line}", escaped(file))),
                    None => words.push(escaped(file)),
                }
            }
            let text = format!(" ({})", words.join(", "));
            // Inside a JSON string (the message), escaped as JSON wants.
            out = if width == 6 {
                let quoted = json_string(&text);
                quoted[1..quoted.len() - 1].to_owned()
            } else {
                text
            };
        }
        Some((fields.len, out.into_bytes()))
    }
}

const START: u8 = 0x01;
const SEPARATOR: u8 = 0x1f;
const END: u8 = 0x02;

/// The mark byte at `at`, raw (width 1) or JSON-escaped (`\u00XX`, width 6).
fn mark_at(line: &[u8], at: usize) -> Option<(usize, u8)> {
    for mark in [START, SEPARATOR, END] {
        if line[at] == mark {
            return Some((1, mark));
        }
        if line[at..].starts_with(format!("\\u{mark:04x}").as_bytes()) {
            return Some((6, mark));
        }
    }
    None
}

struct MarkFields<'a> {
    object: &'a [u8],
    offset: &'a [u8],
    keep: &'a [u8],
    len: usize,
}

/// The fields of the mark starting `text`, spelled `width` bytes a byte.
fn split_mark(text: &[u8], width: usize) -> Option<MarkFields<'_>> {
    let is = |at: usize, mark: u8| mark_at(text, at) == Some((width, mark));
    let mut at = width;
    let mut bounds = Vec::with_capacity(3);
    for mark in [SEPARATOR, SEPARATOR, END] {
        let from = at;
        while at < text.len() && !is(at, mark) {
            if mark_at(text, at).is_some_and(|(w, _)| w == width) {
                return None; // another mark before this one ended
            }
            at += 1;
        }
        if at >= text.len() {
            return None;
        }
        bounds.push((from, at));
        at += width;
    }
    Some(MarkFields {
        object: &text[bounds[0].0..bounds[0].1],
        offset: &text[bounds[1].0..bounds[1].1],
        keep: &text[bounds[2].0..bounds[2].1],
        len: at,
    })
}

fn from_hex(text: &[u8]) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
        .collect()
}

/// As librmap shows text from outside: control characters and backslashes
/// escaped, so that a file name can neither end the line nor fake a report.
fn escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Reads `object`'s DWARF (None: unreadable, or not an object file). The
/// file's bytes live as long as this process, as the symbolizer does.
fn load(object: &[u8]) -> Option<Symbols> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::path::Path::new(std::ffi::OsStr::from_bytes(object));
    let data: &'static [u8] = Vec::leak(std::fs::read(path).ok()?);
    let file = object::File::parse(data).ok()?;
    let endian = if file.is_little_endian() {
        RunTimeEndian::Little
    } else {
        RunTimeEndian::Big
    };
    let dwarf = gimli::Dwarf::load(|id| -> Result<Slice, gimli::Error> {
        let bytes = file
            .section_by_name(id.name())
            .and_then(|section| section.data().ok())
            .unwrap_or(&[]);
        Ok(EndianSlice::new(bytes, endian))
    })
    .ok()?;
    let context = addr2line::Context::from_dwarf(dwarf).ok()?;
    let page = page_size();
    let base = file
        .segments()
        .map(|segment| segment.address())
        .min()
        .unwrap_or(0)
        & !(page - 1);
    Some(Symbols { context, base })
}

fn page_size() -> u64 {
    // SAFETY: sysconf reads a constant of the system.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if size > 0 { size as u64 } else { 4096 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn an_object_without_debug_information_keeps_the_text() {
        let mut s = Symbolizer::default();
        let line = format!(
            "rmap: leak: 4096 bytes at 0x1000 still mapped at exit, created at /nonexistent+0x10\x01{}\x1f10\x1f (main+0x2)\x02\n",
            hex(b"/nonexistent")
        );
        assert_eq!(
            String::from_utf8(s.rewrite(line.as_bytes())).unwrap(),
            "rmap: leak: 4096 bytes at 0x1000 still mapped at exit, created at /nonexistent+0x10 (main+0x2)\n"
        );
    }

    #[test]
    fn json_marks_go_without_fields_when_nothing_is_known() {
        let mut s = Symbolizer::default();
        let object = hex(b"/nonexistent");
        let line = format!(
            "{{\"kind\":\"leak\",\"created_by\":{{\"object\":\"/nonexistent\",\"offset\":\"0x10\"\x01{object}\x1f10\x1f\x02}},\
             \"message\":\"at /nonexistent+0x10\\u0001{object}\\u001f10\\u001f\\u0002\"}}\n"
        );
        assert_eq!(
            String::from_utf8(s.rewrite(line.as_bytes())).unwrap(),
            "{\"kind\":\"leak\",\"created_by\":{\"object\":\"/nonexistent\",\"offset\":\"0x10\"},\
             \"message\":\"at /nonexistent+0x10\"}\n"
        );
    }

    #[test]
    fn this_test_names_its_own_source_line() {
        // This test binary has debug information: the address of a
        // function here names this file.
        let exe = std::fs::read_link("/proc/self/exe").unwrap();
        let here = this_test_names_its_own_source_line as *const () as usize as u64;
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let base = maps
            .lines()
            .find(|l| l.ends_with(exe.to_str().unwrap()))
            .and_then(|l| u64::from_str_radix(l.split('-').next()?, 16).ok())
            .unwrap();
        let mut s = Symbolizer::default();
        let source = s.source(exe.as_os_str().as_encoded_bytes(), here - base);
        assert!(
            source
                .file
                .as_deref()
                .is_some_and(|f| f.ends_with("symbolize.rs")),
            "{source:?}"
        );
        // The function is the innermost frame's, which can be one inlined here.
        assert!(
            source.function.is_some() && source.line.is_some_and(|l| l > 0),
            "{source:?}"
        );
    }

    #[test]
    fn a_torn_mark_is_left_alone() {
        let mut s = Symbolizer::default();
        let line = b"rmap: x \x01abc\x1f10\n";
        assert_eq!(s.rewrite(line), line.to_vec());
    }
}
