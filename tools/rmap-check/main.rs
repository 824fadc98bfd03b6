//! rmap-check: runs an unmodified, dynamically linked program with its
//! mapping calls routed to librmap in checked mode.
//!
//! The work is done by librmap_check.so (preload.c beside this file), which
//! the dynamic linker loads into the program through `LD_PRELOAD`, and
//! which reads the `RMAP_CHECK*` variables set here. Children inherit the
//! environment, so they are checked too unless `--trace-children=no`.
//!
//! This launcher starts the program and stays beside it, as its parent:
//! every checked process sends its reports through one socket
//! (`RMAP_CHECK_REPORT_FD`), and this process names the function and
//! `file:line` of each location (symbolize.rs) before it prints them, so
//! that the program itself never reads debug information. It passes on the
//! signals sent to it, and ends as the program ended (its exit status, or
//! the signal that killed it).
//!
//! Dependencies: `addr2line` and `object` (reading DWARF is theirs, not
//! ours), `libc` (the socket, signals); no argument parser, since a few
//! options do not warrant one. Building it never rebuilds librmap.

#![deny(unsafe_op_in_unsafe_fn)]

mod symbolize;

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, exit};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const PRELOAD: &str = "librmap_check.so";

const USAGE: &str = "\
usage: rmap-check [OPTIONS] PROGRAM [ARGS...]

Runs PROGRAM with every mmap, mmap64, munmap, msync, mprotect, madvise,
mremap, mlock, munlock and mincore call it makes through the C library
checked by librmap: unmaps of memory it does not own, double unmaps,
write+exec mappings, mappings past the end of a file, and mappings still
held at exit are reported with the calling location (its function and
file:line when the program has debug information). rmap-check stays beside
the program, passes on the signals sent to it, and exits as it did.

options:
  --log-file=FILE        append reports to FILE instead of stderr
  --json                 one JSON object per report instead of a text line
  --leaks=yes|no         report mappings still held at exit [yes]
  --summary=yes|no       one summary line per process at exit [yes]
  --beyond-eof=touch|map report a file mapping reaching past its file's end
                         when a page there is touched [touch], or also
                         when it is made [map]
  --trace-children=yes|no  check programs it executes too [yes]
  --abort-on-report      abort (SIGABRT) at the first report
  --error-exitcode=N     exit with status N if any report was made
  -h, --help             this text
  --version              rmap-check's version

Set-user-ID and set-group-ID programs run unchecked: rmap-check refuses to
start one, and one the checked program starts ignores the checker (the
dynamic linker drops LD_PRELOAD, librmap ignores RMAP_CHECK*).

Environment: RMAP_CHECK_PRELOAD names the preload library to use.
See rmap-check(1).
";

/// What the options ask for, as the environment the preload reads.
struct Settings {
    env: Vec<(&'static str, OsString)>,
    program: OsString,
    args: Vec<OsString>,
}

fn fail(message: &str) -> ! {
    eprintln!("rmap-check: {message}");
    exit(2)
}

fn yes_no(option: &str, value: &str) -> &'static str {
    match value {
        "yes" => "yes",
        "no" => "no",
        _ => fail(&format!(
            "{option} takes yes or no, not {value:?} (see rmap-check --help)"
        )),
    }
}

fn parse(mut args: impl Iterator<Item = OsString>) -> Settings {
    let mut env: Vec<(&'static str, OsString)> = vec![
        ("RMAP_CHECK", "report".into()),
        ("RMAP_CHECK_SUMMARY", "yes".into()),
        ("RMAP_CHECK_LEAKS", "yes".into()),
        ("RMAP_CHECK_CHILDREN", "yes".into()),
    ];
    let mut set = |name: &'static str, value: OsString| {
        env.retain(|(n, _)| *n != name);
        env.push((name, value));
    };
    let program = loop {
        let Some(arg) = args.next() else {
            eprint!("{USAGE}");
            exit(2)
        };
        let Some(text) = arg.to_str() else { break arg };
        if text == "--" {
            match args.next() {
                Some(program) => break program,
                None => fail("no program to run after --"),
            }
        }
        if !text.starts_with('-') {
            break arg;
        }
        let (option, value) = match text.split_once('=') {
            Some((option, value)) => (option, Some(value)),
            None => (text, None),
        };
        match (option, value) {
            ("-h" | "--help", None) => {
                print!("{USAGE}");
                exit(0)
            }
            ("--version", None) => {
                println!("rmap-check {}", env!("CARGO_PKG_VERSION"));
                exit(0)
            }
            ("--abort-on-report", None) => set("RMAP_CHECK", "abort".into()),
            ("--json", None) => set("RMAP_CHECK_FORMAT", "json".into()),
            ("--beyond-eof", Some(v @ ("touch" | "map"))) => set("RMAP_CHECK_BEYOND_EOF", v.into()),
            ("--beyond-eof", Some(v)) => fail(&format!(
                "--beyond-eof takes touch or map, not {v:?} (see rmap-check --help)"
            )),
            ("--log-file", Some(file)) if !file.is_empty() => set("RMAP_CHECK_LOG", file.into()),
            ("--leaks", Some(v)) => set("RMAP_CHECK_LEAKS", yes_no(option, v).into()),
            ("--summary", Some(v)) => set("RMAP_CHECK_SUMMARY", yes_no(option, v).into()),
            ("--trace-children", Some(v)) => set("RMAP_CHECK_CHILDREN", yes_no(option, v).into()),
            ("--error-exitcode", Some(n)) => match n.parse::<u8>() {
                Ok(status) if status > 0 => set("RMAP_CHECK_ERROR_EXITCODE", n.into()),
                _ => fail(&format!(
                    "--error-exitcode takes a status from 1 to 255, not {n:?}"
                )),
            },
            _ => fail(&format!("unknown option {text:?} (see rmap-check --help)")),
        }
    };
    Settings {
        env,
        program,
        args: args.collect(),
    }
}

/// The preload library: `RMAP_CHECK_PRELOAD`, else beside this executable
/// (the build tree), else `../lib/rmap/` from it (an installation).
fn preload_library() -> PathBuf {
    if let Some(path) = std::env::var_os("RMAP_CHECK_PRELOAD") {
        return std::fs::canonicalize(&path).unwrap_or_else(|error| {
            fail(&format!(
                "RMAP_CHECK_PRELOAD={}: {error}",
                Path::new(&path).display()
            ))
        });
    }
    let exe = std::env::current_exe()
        .unwrap_or_else(|error| fail(&format!("cannot find itself: {error}")));
    let dir = exe.parent().unwrap_or(Path::new("/"));
    let candidates = [dir.join(PRELOAD), dir.join("../lib/rmap").join(PRELOAD)];
    for candidate in &candidates {
        if let Ok(path) = std::fs::canonicalize(candidate) {
            return path;
        }
    }
    fail(&format!(
        "cannot find {PRELOAD} (looked at {} and {}); set RMAP_CHECK_PRELOAD",
        candidates[0].display(),
        candidates[1].display()
    ))
}

/// How `LD_PRELOAD` names the preload. The dynamic linker splits that list
/// at spaces and colons, with no way to quote one, so a preload in a folder
/// whose path holds a space (a build tree under "My Projects") is named by
/// its file name alone, and its folder goes first in `LD_LIBRARY_PATH`,
/// whose entries may hold spaces.
fn preload_entry(preload: &Path, command: &mut Command) -> OsString {
    let bytes = preload.as_os_str().as_bytes();
    if !bytes.iter().any(|&b| b == b' ' || b == b':') {
        return preload.as_os_str().to_owned();
    }
    let (Some(dir), Some(name)) = (preload.parent(), preload.file_name()) else {
        fail(&format!("cannot name {} in LD_PRELOAD", preload.display()))
    };
    if dir.as_os_str().as_bytes().contains(&b':') || name.as_bytes().contains(&b' ') {
        fail(&format!(
            "{} cannot be named in LD_PRELOAD or LD_LIBRARY_PATH (a colon in its folder, or a \
             space in its name); install rmap-check elsewhere or set RMAP_CHECK_PRELOAD",
            preload.display()
        ));
    }
    let mut search = dir.as_os_str().to_owned();
    if let Some(existing) = std::env::var_os("LD_LIBRARY_PATH").filter(|v| !v.is_empty()) {
        search.push(":");
        search.push(existing);
    }
    command.env("LD_LIBRARY_PATH", search);
    name.to_owned()
}

/// The file `program` names, as execvp(3) would find it.
fn locate(program: &OsStr) -> Option<PathBuf> {
    if program.as_bytes().contains(&b'/') {
        return Some(PathBuf::from(program));
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| {
            candidate
                .metadata()
                .is_ok_and(|m| m.is_file() && m.mode() & 0o111 != 0)
        })
}

/// Whether an ELF executable asks for a dynamic linker (has PT_INTERP):
/// `None` when the file is not ELF (a script: its interpreter is checked).
fn is_dynamic(path: &Path) -> Option<bool> {
    const PT_INTERP: u32 = 3;
    let mut bytes = Vec::new();
    File::open(path)
        .ok()?
        .take(1 << 16)
        .read_to_end(&mut bytes)
        .ok()?;
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" || bytes[4] != 2 || bytes[5] != 1 {
        return None; // not a 64-bit little-endian ELF file
    }
    let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]) as usize;
    let phoff = u64::from_le_bytes(bytes[32..40].try_into().ok()?) as usize;
    let (phentsize, phnum) = (u16_at(54), u16_at(56));
    let mut dynamic = false;
    for index in 0..phnum {
        let at = phoff.checked_add(index.checked_mul(phentsize)?)?;
        let kind = bytes.get(at..at + 4)?;
        dynamic |= u32::from_le_bytes(kind.try_into().ok()?) == PT_INTERP;
    }
    Some(dynamic)
}

/// Refuses programs the preload cannot enter, with the reason.
fn check_program(program: &OsStr) {
    let shown = Path::new(program).display();
    let Some(path) = locate(program) else {
        eprintln!("rmap-check: {shown}: command not found");
        exit(127)
    };
    if let Err(error) = path.metadata() {
        eprintln!("rmap-check: {shown}: {error}");
        exit(127)
    }
    if is_dynamic(&path) == Some(false) {
        fail(&format!(
            "{} is statically linked: its mapping calls never go through a dynamic linker, so \
             rmap-check cannot see them (link it dynamically, or call librmap's rmap_* functions \
             and set RMAP_CHECK=1)",
            path.display()
        ));
    }
    if let Ok(meta) = path.metadata() {
        let privileged = (meta.mode() & 0o4000 != 0 && meta.uid() != effective_uid())
            || (meta.mode() & 0o2000 != 0 && meta.gid() != effective_gid());
        if privileged {
            fail(&format!(
                "{} is set-user-ID or set-group-ID: the dynamic linker ignores LD_PRELOAD for it, \
                 so rmap-check cannot see its calls",
                path.display()
            ));
        }
    }
}

fn effective_uid() -> u32 {
    proc_status_id("Uid:")
}

fn effective_gid() -> u32 {
    proc_status_id("Gid:")
}

/// The effective id (the second number) of /proc/self/status's `Uid:` or
/// `Gid:` line.
fn proc_status_id(key: &str) -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|line| line.starts_with(key))?;
            line.split_whitespace().nth(2)?.parse().ok()
        })
        .unwrap_or(u32::MAX)
}

fn main() {
    let settings = parse(std::env::args_os().skip(1));
    check_program(&settings.program);
    let preload = preload_library();
    let mut command = Command::new(&settings.program);
    let mut ld_preload = preload_entry(&preload, &mut command);
    if let Some(existing) = std::env::var_os("LD_PRELOAD").filter(|v| !v.is_empty()) {
        ld_preload.push(":");
        ld_preload.push(existing);
    }
    command.args(&settings.args).env("LD_PRELOAD", ld_preload);
    for (name, value) in &settings.env {
        command.env(name, value);
    }
    // The program is this process's child: its summary is always shown.
    command.env("RMAP_CHECK_PID", std::process::id().to_string());
    let output = report_output(&settings);
    let (reports, for_program) = report_socket();
    command.env(
        "RMAP_CHECK_REPORT_FD",
        format!("{}:{}", for_program.as_raw_fd(), inode(&for_program)),
    );
    let (forwarded, before) = block_signals();
    // The program starts with the mask this process was started with.
    // SAFETY: between fork and exec only pthread_sigmask runs, which is
    // async-signal-safe; `before` is a copy moved into the closure.
    unsafe {
        command.pre_exec(move || {
            libc::pthread_sigmask(libc::SIG_SETMASK, &before, std::ptr::null_mut());
            Ok(())
        })
    };
    let child = match command.spawn() {
        Ok(child) => child,
        Err(error) => {
            eprintln!(
                "rmap-check: cannot run {}: {error}",
                Path::new(&settings.program).display()
            );
            exit(127)
        }
    };
    drop(for_program);
    let ended = std::sync::Arc::new(AtomicBool::new(false));
    let reader = {
        let ended = ended.clone();
        std::thread::spawn(move || print_reports(reports, output, &ended))
    };
    let pid = child.id();
    let status = supervise(child, &forwarded);
    ended.store(true, Ordering::Release);
    let (summaries, mut output) = reader
        .join()
        .unwrap_or_else(|_| (Vec::new(), report_output(&settings)));
    // A signal librmap cannot see coming (SIGKILL, or one the program
    // leaves at its default action) ends the program before its summary:
    // say so, rather than leave the reader to wonder.
    if let Some(signal) = status.signal()
        && !summaries.contains(&pid)
        && settings
            .env
            .iter()
            .any(|(name, value)| *name == "RMAP_CHECK_SUMMARY" && value == "yes")
    {
        let _ = writeln!(
            output,
            "rmap-check: {} (pid {pid}) was killed by signal {signal} ({}) before librmap could list its leaks and summary",
            Path::new(&settings.program).display(),
            signal_name(signal)
        );
    }
    match (status.code(), status.signal()) {
        (Some(code), _) => exit(code),
        (None, Some(signal)) => die_of(signal),
        (None, None) => exit(1),
    }
}

/// Where reports go: the --log-file (appended to, as the preload would),
/// else this process's stderr, the program's first one.
fn report_output(settings: &Settings) -> Box<dyn Write + Send> {
    let log = settings
        .env
        .iter()
        .find(|(name, _)| *name == "RMAP_CHECK_LOG");
    if let Some((_, path)) = log {
        match std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
        {
            Ok(file) => return Box::new(file),
            Err(error) => eprintln!(
                "rmap-check: --log-file={} cannot be opened ({error}); reports go to stderr",
                Path::new(path).display()
            ),
        }
    }
    Box::new(std::io::stderr())
}

/// A SOCK_SEQPACKET pair: this process reads one end; the program, and
/// every process it starts, inherit the other (each report one message, so
/// lines of different processes never interleave).
fn report_socket() -> (OwnedFd, OwnedFd) {
    let mut fds = [-1; 2];
    // SAFETY: socketpair fills the two descriptors when it returns 0.
    if unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    } != 0
    {
        fail(&format!(
            "cannot make the report socket: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: both descriptors are new and ours alone.
    let (ours, theirs) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // The program's end survives exec: clear its close-on-exec flag (this
    // process starts no other child).
    // SAFETY: a descriptor we own.
    unsafe { libc::fcntl(theirs.as_raw_fd(), libc::F_SETFD, 0) };
    (ours, theirs)
}

fn inode(fd: &OwnedFd) -> u64 {
    let file = fd.try_clone().map(File::from);
    file.and_then(|f| f.metadata()).map_or(0, |m| m.ino())
}

/// The signals passed on to the program when sent to this process (and
/// SIGCHLD), blocked here and taken with sigwaitinfo.
const FORWARDED: [libc::c_int; 8] = [
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTERM,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGALRM,
    libc::SIGCHLD,
];

/// Blocks [`FORWARDED`]; returns that set and the mask before.
fn block_signals() -> (libc::sigset_t, libc::sigset_t) {
    // SAFETY: sigset_t is plain data, filled by sigemptyset and pthread_sigmask.
    let (mut set, mut before): (libc::sigset_t, libc::sigset_t) = unsafe { std::mem::zeroed() };
    // SAFETY: valid sets; the reader thread, started later, inherits the mask.
    unsafe {
        libc::sigemptyset(&mut set);
        for signal in FORWARDED {
            libc::sigaddset(&mut set, signal);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut before);
    }
    (set, before)
}

/// Waits for the program to end, passing on what is sent to this process
/// with kill (a terminal's SIGINT or SIGQUIT reaches the program itself,
/// as the whole foreground group gets it: not sent twice).
fn supervise(mut child: Child, set: &libc::sigset_t) -> std::process::ExitStatus {
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return status;
        }
        // SAFETY: siginfo_t is plain data; sigwaitinfo fills it.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: a valid set and out-parameter.
        let signal = unsafe { libc::sigwaitinfo(set, &mut info) };
        if signal <= 0 || signal == libc::SIGCHLD || info.si_code == libc::SI_KERNEL {
            continue;
        }
        // SAFETY: kill has no memory arguments.
        unsafe { libc::kill(child.id() as libc::pid_t, signal) };
    }
}

fn signal_name(signal: libc::c_int) -> String {
    // SAFETY: strsignal returns a string valid until the next call; copied at once.
    let text = unsafe { libc::strsignal(signal) };
    if text.is_null() {
        return format!("signal {signal}");
    }
    // SAFETY: a NUL-terminated string from the C library.
    unsafe { std::ffi::CStr::from_ptr(text) }
        .to_string_lossy()
        .into_owned()
}

/// The process a summary line is about (`rmap: summary: pid N:` or JSON's
/// `{"kind":"summary","pid":N`).
fn summary_pid(line: &[u8]) -> Option<u32> {
    let text = std::str::from_utf8(line).ok()?;
    let rest = text
        .strip_prefix("rmap: summary: pid ")
        .or_else(|| text.strip_prefix("{\"kind\":\"summary\",\"pid\":"))?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Reads reports until every checked process has closed its end, or until
/// the program has ended and none has come for a moment (a process it left
/// running then writes its own reports, without the source lines). Returns
/// the processes whose summary came, and the output.
type Printed = (Vec<u32>, Box<dyn Write + Send>);

fn print_reports(
    socket: OwnedFd,
    mut output: Box<dyn Write + Send>,
    ended: &AtomicBool,
) -> Printed {
    let mut summaries = Vec::new();
    let mut symbolizer = symbolize::Symbolizer::default();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut quiet_since: Option<Instant> = None;
    loop {
        let mut poll = libc::pollfd {
            fd: socket.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let ready = unsafe { libc::poll(&mut poll, 1, 50) };
        if ready == 0 {
            if ended.load(Ordering::Acquire) {
                let since = *quiet_since.get_or_insert_with(Instant::now);
                if since.elapsed() > Duration::from_millis(200) {
                    return (summaries, output);
                }
            }
            continue;
        }
        quiet_since = None;
        // SAFETY: the buffer is valid for its length.
        let n = unsafe {
            libc::recv(
                socket.as_raw_fd(),
                buffer.as_mut_ptr().cast(),
                buffer.len(),
                libc::MSG_DONTWAIT,
            )
        };
        match n {
            0 => return (summaries, output), // every sender closed its end
            n if n < 0 => {
                let error = std::io::Error::last_os_error();
                if error.kind() != std::io::ErrorKind::WouldBlock
                    && error.kind() != std::io::ErrorKind::Interrupted
                {
                    return (summaries, output);
                }
            }
            n => {
                summaries.extend(summary_pid(&buffer[..n as usize]));
                let line = symbolizer.rewrite(&buffer[..n as usize]);
                let _ = output.write_all(&line);
                let _ = output.flush();
            }
        }
    }
}

/// Ends this process as the program ended: killed by `signal` (without a
/// core file of its own), or, if that signal does not kill, 128 + signal.
fn die_of(signal: libc::c_int) -> ! {
    let _ = std::io::stderr().flush();
    // SAFETY: plain system calls on this process.
    unsafe {
        let no_core = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        libc::setrlimit(libc::RLIMIT_CORE, &no_core);
        libc::signal(signal, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, signal);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::raise(signal);
    }
    exit(128 + signal)
}
