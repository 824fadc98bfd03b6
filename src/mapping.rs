//! The operations behind every entry point: validate in Rust, then ask the
//! kernel. Pure Rust types in, `Result<T, Errno>` out.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use errno::Errno;

use crate::checked::{self, Mode};
use crate::lock::{self, Lock, LockGuard};
use crate::registry::{Entry, Registry};
use crate::sys::{self, EFAULT, EINVAL, EIO, Fault, MAP_ANONYMOUS, PROT_WRITE};
use crate::validate::{self, MapArgs};

/// Every mapping librmap made. Held across map and unmap system calls, so an
/// address the kernel reuses is never recorded out of order.
static REGISTRY: Lock<Registry> = Lock::new(Registry::new());

/// Totals since the process started (maps and unmaps live in the registry).
struct Counters {
    syncs: AtomicU64,
    failures: AtomicU64,
}

static COUNTERS: Counters = Counters {
    syncs: AtomicU64::new(0),
    failures: AtomicU64::new(0),
};

/// Live mappings and bytes, and the call totals.
pub struct Totals {
    pub live_mappings: usize,
    pub live_bytes: usize,
    pub maps: u64,
    pub unmaps: u64,
    pub syncs: u64,
    pub failures: u64,
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

/// The registry, locked. (A panic while holding the lock leaves the data
/// consistent: every update is one call on Registry.)
pub fn registry() -> LockGuard<'static, Registry> {
    REGISTRY.lock()
}

/// Runs when librmap is loaded, before any thread can be inside it: one-time
/// set-up done lazily could be caught half-done by a fork in another thread,
/// and the child would wait for it forever.
extern "C" fn at_load() {
    sys::at_fork(before_fork, after_fork, after_fork);
    sys::at_exit(report_leaks);
}

sys::run_at_load!(at_load);

fn checked_mode() -> Mode {
    checked::mode()
}

/// Sets the checked mode from the program.
pub fn set_checked(mode: Mode) {
    checked::set(mode);
}

/// Whether librmap's SIGBUS/SIGSEGV handler is installed.
static FAULT_HANDLER_INSTALLED: AtomicBool = AtomicBool::new(false);

/// Installs the SIGBUS/SIGSEGV handler on first use. (Inlined: after the
/// first copy, this is one load on every guarded copy's path.)
#[inline]
fn ensure_fault_handler() -> Result<(), Errno> {
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

extern "C" fn report_leaks() {
    if checked::mode() == Mode::Off {
        return;
    }
    for (start, entry) in registry().iter() {
        let creator = sys::describe_address(entry.creator);
        sys::report_line(&checked::leak(start, entry.len, &creator));
    }
}

fn report(line: &str, mode: Mode) {
    sys::report_line(line);
    if mode == Mode::Abort {
        sys::abort();
    }
}

/// Counts a failure; successes are counted where they happen.
fn count_failure<T>(result: Result<T, Errno>) -> Result<T, Errno> {
    result.map_err(failed)
}

#[cold]
fn failed(error: Errno) -> Errno {
    lock::count(&COUNTERS.failures);
    error
}

static PAGE_SIZE: AtomicUsize = AtomicUsize::new(0);

/// The system page size, read once.
pub fn page_size() -> usize {
    match PAGE_SIZE.load(Ordering::Relaxed) {
        0 => {
            let size = sys::page_size();
            PAGE_SIZE.store(size, Ordering::Relaxed);
            size
        }
        size => size,
    }
}

/// `mmap` with Linux's argument rules decided in Rust first; the mapping is
/// recorded in the registry.
///
/// # Safety
/// As for `mmap(2)`: with `MAP_FIXED` whatever was mapped in the range is replaced.
pub unsafe fn map(
    addr: *mut u8,
    len: usize,
    prot: i32,
    flags: i32,
    fd: i32,
    offset: i64,
) -> Result<*mut u8, Errno> {
    let args = MapArgs {
        addr: addr as usize,
        len,
        flags,
        fd,
        offset,
    };
    let page = page_size();
    if let Err(error) = validate::check_map(&args, page, sys::fd_kind) {
        return count_failure(Err(error));
    }
    let mode = checked_mode();
    let creator = if mode == Mode::Off {
        0
    } else {
        sys::caller_address()
    };
    let file = if flags & MAP_ANONYMOUS == 0 {
        sys::file_identity(fd)
    } else {
        None
    };
    let mut registry = registry();
    // SAFETY: forwarded to the caller's contract.
    let result = unsafe { sys::mmap(addr, len, prot, flags, fd, offset) };
    if let Ok(ptr) = result {
        let entry = Entry {
            len: round_up(len, page),
            prot,
            flags,
            dev: file.map_or(0, |f| f.dev),
            ino: file.map_or(0, |f| f.ino),
            offset,
            creator,
        };
        registry.insert(ptr as usize, entry);
        registry.maps += 1;
    }
    drop(registry);
    if let (Ok(ptr), Mode::Report | Mode::Abort) = (result, mode) {
        check_new_mapping(ptr as usize, len, prot, offset, file, page, mode);
    }
    count_failure(result)
}

/// Checked-mode reports about a mapping just made.
#[cold]
#[inline(never)]
fn check_new_mapping(
    start: usize,
    len: usize,
    prot: i32,
    offset: i64,
    file: Option<sys::FileIdentity>,
    page: usize,
    mode: Mode,
) {
    if let Some(size) = file.and_then(|f| f.size) {
        let first_bad = round_up(size as usize, page) as u64;
        if (offset as u64).saturating_add(len as u64) > first_bad {
            report(
                &checked::beyond_eof(start, len, offset, size, first_bad),
                mode,
            );
        }
    }
    if prot & PROT_WRITE != 0 && prot & sys::PROT_EXEC != 0 {
        report(&checked::write_exec(start, len), mode);
    }
}

/// In checked mode, refuses a range librmap does not hold. The mode test is
/// inlined; the rest stays off the default path.
#[inline]
fn check_owned(call: &str, addr: *mut u8, len: usize, page: usize) -> Result<(), Errno> {
    match checked_mode() {
        Mode::Off => Ok(()),
        mode => check_owned_slow(call, addr, len, page, mode),
    }
}

#[cold]
#[inline(never)]
fn check_owned_slow(
    call: &str,
    addr: *mut u8,
    len: usize,
    page: usize,
    mode: Mode,
) -> Result<(), Errno> {
    if registry().covers(addr as usize, round_up(len, page)) {
        return Ok(());
    }
    report(&checked::unowned(call, addr as usize, len), mode);
    Err(Errno(EINVAL))
}

/// `msync` with Linux's argument rules decided in Rust first.
///
/// # Safety
/// As for `msync(2)`.
pub unsafe fn sync(addr: *mut u8, len: usize, flags: i32) -> Result<(), Errno> {
    let page = page_size();
    validate::check_sync(addr as usize, len, flags, page).map_err(failed)?;
    check_owned("sync", addr, len, page).map_err(failed)?;
    // SAFETY: forwarded to the caller's contract.
    unsafe { sys::msync(addr, len, flags) }.map_err(failed)?;
    lock::count(&COUNTERS.syncs);
    Ok(())
}

/// `munmap` with Linux's argument rules decided in Rust first; the range is
/// removed from the registry.
///
/// # Safety
/// As for `munmap(2)`: nothing may use the range afterwards.
pub unsafe fn unmap(addr: *mut u8, len: usize) -> Result<(), Errno> {
    let page = page_size();
    let result = validate::check_unmap(addr as usize, len, page)
        .and_then(|()| check_owned("unmap", addr, len, page))
        .and_then(|()| {
            let mut registry = registry();
            // SAFETY: forwarded to the caller's contract.
            let result = unsafe { sys::munmap(addr, len) };
            if result.is_ok() {
                registry.remove(addr as usize, round_up(len, page));
                registry.unmaps += 1;
            }
            result
        });
    count_failure(result)
}

/// A mapping librmap holds, as the introspection calls report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Info {
    pub start: usize,
    pub entry: Entry,
}

/// The mapping containing `addr`.
pub fn query(addr: usize) -> Option<Info> {
    registry()
        .find(addr)
        .map(|(start, entry)| Info { start, entry })
}

pub fn totals() -> Totals {
    let registry = registry();
    Totals {
        live_mappings: registry.len(),
        live_bytes: registry.bytes(),
        maps: registry.maps,
        unmaps: registry.unmaps,
        syncs: COUNTERS.syncs.load(Ordering::Relaxed),
        failures: COUNTERS.failures.load(Ordering::Relaxed),
    }
}

/// Every live mapping in address order, copied out so the caller may call
/// back into librmap while walking them.
pub fn snapshot() -> Vec<Info> {
    registry()
        .iter()
        .map(|(start, entry)| Info { start, entry })
        .collect()
}

/// Lengths round up to pages (saturating, for the kernel's huge-length errors).
fn round_up(len: usize, page: usize) -> usize {
    len.saturating_add(page - 1) & !(page - 1)
}

thread_local! {
    static LAST_COPIED: Cell<usize> = const { Cell::new(0) };
}

/// Bytes the calling thread's last failed [`copy`] copied before it stopped.
pub fn last_copied() -> usize {
    LAST_COPIED.get()
}

/// Copies `n` bytes from `src` to `dst`, either of which may be a mapping
/// whose pages can fault: SIGBUS becomes EIO, SIGSEGV becomes EFAULT.
///
/// On error, [`last_copied`] tells how many leading bytes were copied: all
/// pages before the first faulting one (a successful copy copied all `n`).
/// Finding it costs a second, page by page pass, paid only after a fault.
///
/// # Safety
/// `dst` and `src` must not overlap, and writing `dst` must not break the
/// caller (as for `memcpy`); inaccessible pages are allowed.
#[inline]
pub unsafe fn copy(dst: *mut u8, src: *const u8, n: usize) -> Result<(), Errno> {
    ensure_fault_handler()?;
    // SAFETY: the handler is installed; the rest is the caller's contract.
    match unsafe { sys::guarded_copy(dst, src, n) } {
        Ok(()) => Ok(()),
        // SAFETY: as above.
        Err(_) => unsafe { copy_failed(dst, src, n) },
    }
}

/// Redoes a failed copy in segments that never cross a page boundary of
/// either side, in order, and stops at the first that faults: every byte
/// before it is copied. Records that count (only failures do, so a
/// successful copy touches no thread-local).
///
/// # Safety
/// As for [`copy`].
#[cold]
unsafe fn copy_failed(dst: *mut u8, src: *const u8, n: usize) -> Result<(), Errno> {
    let page = page_size();
    let to_page_end = |addr: usize| page - (addr & (page - 1));
    let mut done = 0;
    while done < n {
        let step = to_page_end(src as usize + done)
            .min(to_page_end(dst as usize + done))
            .min(n - done);
        // SAFETY: a sub-range of the caller's buffers, which the caller vouches for.
        if let Err(fault) = unsafe { sys::guarded_copy(dst.add(done), src.add(done), step) } {
            LAST_COPIED.set(done);
            return Err(match fault {
                Fault::Bus => Errno(EIO),
                Fault::Segv => Errno(EFAULT),
            });
        }
        done += step;
    }
    // The fault went away between the passes (the file grew back): all copied.
    Ok(())
}
