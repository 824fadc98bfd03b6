//! Process-wide state and its lifecycle: the registry and its lock, the call
//! counters, the handlers that run at load, fork and exit, and the one-time
//! installation of the SIGBUS/SIGSEGV handler.
//!
//! Nothing here is initialised lazily with `std::sync::Once`: a fork in
//! another thread could catch it half done and the child would wait for it
//! forever. What must exist before the first call is set up when the library
//! is loaded (an ELF `.init_array` entry, see `sys::run_at_load!`); the fault
//! handler is installed on first use, under the registry lock, which the fork
//! handlers hold across `fork()`.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use errno::Errno;

use crate::checked::{self, Call, Finding, Mode, Unmapped};
use crate::lock::{self, Lock, LockGuard};
use crate::registry::{Entry, Registry};
use crate::sys::{self, MAP_ANONYMOUS, MAP_SHARED, PROT_EXEC, PROT_READ, PROT_WRITE};

/// What the registry lock guards: every mapping librmap made, and the
/// counts of the calls that change it (counted under the lock, so without
/// a locked instruction or a cache line of their own).
pub struct Held {
    pub registry: Registry,
    pub maps: u64,
    pub unmaps: u64,
    /// Checked mode: the last ranges unmapped, to name double unmaps.
    pub unmapped: Unmapped,
}

/// The process-wide state, in one place: the registry and all the counters.
struct Process {
    /// Held across map and unmap system calls, so an address the kernel
    /// reuses is never recorded out of order. (A panic while holding it
    /// leaves the data consistent: every update is one call on Registry.)
    held: Lock<Held>,
    /// Counted without the lock ([`lock::count`]).
    syncs: AtomicU64,
    failures: AtomicU64,
    /// Checked mode only, for the summary: calls by kind, reports by kind.
    calls: [AtomicU64; 9],
    findings: [AtomicU64; Finding::COUNT],
}

static PROCESS: Process = Process {
    held: Lock::new(Held {
        registry: Registry::new(),
        maps: 0,
        unmaps: 0,
        unmapped: Unmapped::new(),
    }),
    syncs: AtomicU64::new(0),
    failures: AtomicU64::new(0),
    calls: [const { AtomicU64::new(0) }; 9],
    findings: [const { AtomicU64::new(0) }; Finding::COUNT],
};

/// Checked mode: counts a call for the summary.
pub fn count_call(call: Call) {
    PROCESS.calls[call.index()].fetch_add(1, Ordering::Relaxed);
}

/// Whether reports name the C library's functions: rmap-check routes the
/// program's `mmap`, `munmap`, ... to librmap.
pub fn libc_names() -> bool {
    sys::interposed()
}

/// Writes a checked-mode report and counts it for the summary.
pub fn report(finding: Finding, line: &str) {
    PROCESS.findings[finding.index()].fetch_add(1, Ordering::Relaxed);
    sys::report_line(line);
}

/// The registry and its counts, locked.
pub fn hold() -> LockGuard<'static, Held> {
    PROCESS.held.lock()
}

pub fn count_sync() {
    lock::count(&PROCESS.syncs);
}

pub fn count_failure() {
    lock::count(&PROCESS.failures);
}

/// (syncs, failures) so far; maps and unmaps are in [`Held`].
pub fn unlocked_counts() -> (u64, u64) {
    (
        PROCESS.syncs.load(Ordering::Relaxed),
        PROCESS.failures.load(Ordering::Relaxed),
    )
}

thread_local! {
    /// The registry lock taken by the fork-preparing thread, released after fork.
    static HELD_ACROSS_FORK: RefCell<Option<LockGuard<'static, Held>>> = const { RefCell::new(None) };
}

extern "C" fn before_fork() {
    let guard = hold();
    HELD_ACROSS_FORK.with(|held| *held.borrow_mut() = Some(guard));
    sys::hold_signal_actions();
}

extern "C" fn after_fork_in_parent() {
    sys::release_signal_actions();
    HELD_ACROSS_FORK.with(|held| drop(held.borrow_mut().take()));
}

/// The child has no `MADV_DONTFORK` ranges: forget them before anyone can ask.
extern "C" fn after_fork_in_child() {
    sys::release_signal_actions();
    sys::forget_maps_fd();
    // The child's summary counts the child's own calls and reports.
    for counter in PROCESS.calls.iter().chain(&PROCESS.findings) {
        counter.store(0, Ordering::Relaxed);
    }
    HELD_ACROSS_FORK.with(|held| {
        if let Some(guard) = held.borrow_mut().as_mut()
            && SOME_DONT_FORK.load(Ordering::Relaxed)
        {
            guard.registry.forget_if(|entry| entry.dont_fork);
        }
        drop(held.borrow_mut().take());
    });
}

/// Whether any range was ever marked `MADV_DONTFORK` (so that a fork
/// without one costs no walk over the registry).
static SOME_DONT_FORK: AtomicBool = AtomicBool::new(false);

pub fn note_dont_fork() {
    SOME_DONT_FORK.store(true, Ordering::Relaxed);
}

/// Runs when librmap is loaded, before any thread can be inside it.
extern "C" fn at_load() {
    sys::at_fork(before_fork, after_fork_in_parent, after_fork_in_child);
    sys::at_exit(at_exit);
}

sys::run_at_load!(at_load);

/// At exit, in checked mode: one line per mapping still held, and still
/// held by the kernel (one unmapped behind librmap's back is no leak of
/// librmap's), unless `RMAP_CHECK_LEAKS=no`; with `RMAP_CHECK_SUMMARY=yes`
/// the summary line; with `RMAP_CHECK_ERROR_EXITCODE=N` and any report, the
/// exit status N. (Registered when the library loads, so it runs after the
/// program's own exit handlers.)
extern "C" fn at_exit() {
    if checked::mode() == Mode::Off {
        return;
    }
    if sys::env_flag("RMAP_CHECK_LEAKS", true) {
        report_leaks();
    }
    let findings: [u64; Finding::COUNT] =
        std::array::from_fn(|i| PROCESS.findings[i].load(Ordering::Relaxed));
    let calls: [u64; 9] = std::array::from_fn(|i| PROCESS.calls[i].load(Ordering::Relaxed));
    // rmap-check's own program always has its summary; the processes it
    // starts (shells, helpers) only when they made a call or a report, and
    // so does a program's own librmap.so beside rmap-check's preload (which
    // holds a librmap of its own and gets the program's calls).
    let quiet = calls.iter().chain(&findings).all(|&n| n == 0)
        && std::env::var("RMAP_CHECK_PID")
            .is_ok_and(|pid| pid != sys::pid().to_string() || !libc_names());
    if sys::env_flag("RMAP_CHECK_SUMMARY", false) && !quiet {
        sys::report_line(&checked::summary(
            sys::pid(),
            libc_names(),
            &calls,
            &findings,
        ));
    }
    if let Some(status) = sys::env_number("RMAP_CHECK_ERROR_EXITCODE")
        && findings.iter().any(|&n| n > 0)
    {
        sys::exit_now(status);
    }
}

fn report_leaks() {
    let mut held = hold();
    let registry = &mut held.registry;
    let all: Vec<(usize, Entry)> = registry.iter().collect();
    for (start, entry) in all {
        drop_stale(registry, start, entry.len);
    }
    let leaks: Vec<(usize, Entry)> = registry.iter().collect();
    drop(held);
    for (start, entry) in leaks {
        let creator = sys::describe_caller(entry.creator);
        report(Finding::Leak, &checked::leak(start, entry.len, &creator));
    }
}

/// Whether the kernel holds `entry` at `start` as recorded: mapped
/// throughout, with its protection, sharing and (when known) file.
/// Costs system calls: checked mode only.
fn kernel_holds(start: usize, entry: &Entry) -> bool {
    let end = start + entry.len;
    let mut at = start;
    while at < end {
        let Some(vma) = sys::kernel_vma(at, false) else {
            return false;
        };
        let offset = entry.offset.wrapping_add((at - start) as i64);
        let shared = entry.flags & MAP_SHARED != 0;
        let same_backing = if entry.flags & MAP_ANONYMOUS != 0 {
            shared || vma.ino == 0
        } else {
            entry.ino == 0
                || (vma.ino == entry.ino
                    && vma.dev == entry.dev
                    && vma.offset.wrapping_add((at - vma.start) as i64) == offset)
        };
        let prot = entry.prot & (PROT_READ | PROT_WRITE | PROT_EXEC);
        if vma.prot != prot || vma.shared != shared || !same_backing {
            return false;
        }
        at = vma.end;
    }
    true
}

/// Drops the records in [start, start + len) that the kernel no longer
/// holds as recorded (unmapped or replaced behind librmap's back); returns
/// how many bytes were dropped.
pub fn drop_stale(registry: &mut Registry, start: usize, len: usize) -> usize {
    let mut dropped = 0;
    for (piece_start, piece) in registry.pieces(start, len) {
        if !kernel_holds(piece_start, &piece) {
            dropped += registry.remove(piece_start, piece.len);
        }
    }
    dropped
}

/// Whether librmap's SIGBUS/SIGSEGV handler is installed.
static FAULT_HANDLER_INSTALLED: AtomicBool = AtomicBool::new(false);

/// Installs the SIGBUS/SIGSEGV handler on first use. (Inlined: after the
/// first copy, this is one load on every guarded copy's path.)
#[inline]
pub fn ensure_fault_handler() -> Result<(), Errno> {
    if FAULT_HANDLER_INSTALLED.load(Ordering::Acquire) {
        return Ok(());
    }
    install_fault_handler_once()
}

/// A thread's checkpoint (see guarded.rs): installs librmap's handler again
/// where the program set SIGBUS or SIGSEGV back to SIG_DFL or SIG_IGN since,
/// saying so in checked mode. Under the registry lock, as installing is.
#[cold]
pub fn recheck_fault_handler() -> Result<(), Errno> {
    let _lock = hold();
    if sys::reinstall_fault_handler_over_default()? > 0 && checked::mode() != Mode::Off {
        report(Finding::FaultHandler, checked::handler_reinstalled());
    }
    Ok(())
}

/// Under the registry lock, which the fork handlers hold across fork(), so a
/// child never sees the installation half done.
#[cold]
#[inline(never)]
fn install_fault_handler_once() -> Result<(), Errno> {
    let _lock = hold();
    if !FAULT_HANDLER_INSTALLED.load(Ordering::Acquire) {
        sys::install_fault_handler()?;
        FAULT_HANDLER_INSTALLED.store(true, Ordering::Release);
    }
    Ok(())
}
