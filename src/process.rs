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

use crate::checked::{self, Mode};
use crate::lock::{self, Lock, LockGuard};
use crate::registry::Registry;
use crate::sys;

/// Every mapping librmap made. Held across map and unmap system calls, so an
/// address the kernel reuses is never recorded out of order. (A panic while
/// holding it leaves the data consistent: every update is one call on
/// Registry.)
static REGISTRY: Lock<Registry> = Lock::new(Registry::new());

/// The registry, locked.
pub fn registry() -> LockGuard<'static, Registry> {
    REGISTRY.lock()
}

/// Totals since the process started, all in one place. `maps` and `unmaps`
/// change only under the registry lock, so they need no locked instruction
/// ([`Counters::add_locked`]); the others are counted with [`lock::count`].
pub struct Counters {
    pub maps: AtomicU64,
    pub unmaps: AtomicU64,
    pub syncs: AtomicU64,
    pub failures: AtomicU64,
}

pub static COUNTERS: Counters = Counters {
    maps: AtomicU64::new(0),
    unmaps: AtomicU64::new(0),
    syncs: AtomicU64::new(0),
    failures: AtomicU64::new(0),
};

impl Counters {
    /// Adds one to a counter whose every writer holds the registry lock
    /// (the guard is the proof), so a plain load and store cannot race.
    #[inline]
    pub fn add_locked(counter: &AtomicU64, _held: &LockGuard<'_, Registry>) {
        counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }

    /// Adds one to a counter that any thread may bump without the lock.
    #[inline]
    pub fn add(counter: &AtomicU64) {
        lock::count(counter);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

thread_local! {
    /// The registry lock taken by the fork-preparing thread, released after fork.
    static HELD_ACROSS_FORK: RefCell<Option<LockGuard<'static, Registry>>> = const { RefCell::new(None) };
}

extern "C" fn before_fork() {
    let guard = registry();
    HELD_ACROSS_FORK.with(|held| *held.borrow_mut() = Some(guard));
}

extern "C" fn after_fork() {
    HELD_ACROSS_FORK.with(|held| drop(held.borrow_mut().take()));
}

/// Runs when librmap is loaded, before any thread can be inside it.
extern "C" fn at_load() {
    sys::at_fork(before_fork, after_fork, after_fork);
    sys::at_exit(report_leaks);
}

sys::run_at_load!(at_load);

/// At exit, in checked mode: one line per mapping still held.
extern "C" fn report_leaks() {
    if checked::mode() == Mode::Off {
        return;
    }
    for (start, entry) in registry().iter() {
        let creator = sys::describe_address(entry.creator);
        sys::report_line(&checked::leak(start, entry.len, &creator));
    }
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

/// Under the registry lock, which the fork handlers hold across fork(), so a
/// child never sees the installation half done.
#[cold]
#[inline(never)]
fn install_fault_handler_once() -> Result<(), Errno> {
    let _lock = registry();
    if !FAULT_HANDLER_INSTALLED.load(Ordering::Acquire) {
        sys::install_fault_handler()?;
        FAULT_HANDLER_INSTALLED.store(true, Ordering::Release);
    }
    Ok(())
}
