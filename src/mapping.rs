//! The operations behind the mapping calls: validate in Rust, ask the kernel,
//! keep the registry as the kernel keeps its mappings, and in checked mode
//! report misuse. Pure Rust types in, `Result<T, Errno>` out.

use errno::Errno;

use crate::checked;
use crate::process::{COUNTERS, Counters, registry};
use crate::registry::Entry;
use crate::sys::{self, EINVAL, MAP_ANONYMOUS, PROT_EXEC, PROT_WRITE};
use crate::validate::{self, MapArgs, round_up_to_page};

/// The checked mode, as callers name it.
pub use crate::checked::Mode as CheckMode;
/// The system page size, read once.
pub use crate::sys::page_size;
/// The platform's `PROT_*`, `MAP_*` and `MS_*` values, as the operations take them.
pub use crate::sys::{
    MAP_ANONYMOUS as ANONYMOUS, MAP_PRIVATE as PRIVATE, MAP_SHARED as SHARED, MS_ASYNC, MS_SYNC,
    PROT_READ as READ, PROT_WRITE as WRITE,
};

/// Sets the checked mode from the program.
pub fn set_check_mode(mode: CheckMode) {
    checked::set(mode);
}

fn report(line: &str, mode: CheckMode) {
    sys::report_line(line);
    if mode == CheckMode::Abort {
        sys::abort();
    }
}

/// Counts a failure; successes are counted where they happen.
#[cold]
fn failed(error: Errno) -> Errno {
    Counters::add(&COUNTERS.failures);
    error
}

/// A length rounded up to whole pages, saturating: the registry records
/// lengths as the kernel would after its own rounding.
fn pages_covering(len: usize, page: usize) -> usize {
    round_up_to_page(len, page).unwrap_or(!(page - 1))
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
    validate::check_map(&args, page, sys::fd_kind).map_err(failed)?;
    let mode = checked::mode();
    let creator = if mode == CheckMode::Off {
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
            len: pages_covering(len, page),
            prot,
            flags,
            dev: file.map_or(0, |f| f.dev),
            ino: file.map_or(0, |f| f.ino),
            offset,
            creator,
        };
        registry.insert(ptr as usize, entry);
        Counters::add_locked(&COUNTERS.maps, &registry);
    }
    drop(registry);
    if let (Ok(ptr), CheckMode::Report | CheckMode::Abort) = (result, mode) {
        check_new_mapping(ptr as usize, len, prot, offset, file, page, mode);
    }
    result.map_err(failed)
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
    mode: CheckMode,
) {
    if let Some(size) = file.and_then(|f| f.size) {
        let first_bad = pages_covering(size as usize, page) as u64;
        if (offset as u64).saturating_add(len as u64) > first_bad {
            report(
                &checked::beyond_eof(start, len, offset, size, first_bad),
                mode,
            );
        }
    }
    if prot & PROT_WRITE != 0 && prot & PROT_EXEC != 0 {
        report(&checked::write_exec(start, len), mode);
    }
}

/// In checked mode, refuses a range librmap does not hold. The mode test is
/// inlined; the rest stays off the default path.
#[inline]
fn check_owned(call: &str, addr: *mut u8, len: usize, page: usize) -> Result<(), Errno> {
    match checked::mode() {
        CheckMode::Off => Ok(()),
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
    mode: CheckMode,
) -> Result<(), Errno> {
    if registry().covers(addr as usize, pages_covering(len, page)) {
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
    Counters::add(&COUNTERS.syncs);
    Ok(())
}

/// `munmap` with Linux's argument rules decided in Rust first; the range is
/// removed from the registry.
///
/// # Safety
/// As for `munmap(2)`: nothing may use the range afterwards.
pub unsafe fn unmap(addr: *mut u8, len: usize) -> Result<(), Errno> {
    let page = page_size();
    validate::check_unmap(addr as usize, len, page).map_err(failed)?;
    check_owned("unmap", addr, len, page).map_err(failed)?;
    let mut registry = registry();
    // SAFETY: forwarded to the caller's contract.
    unsafe { sys::munmap(addr, len) }.map_err(failed)?;
    registry.remove(addr as usize, pages_covering(len, page));
    Counters::add_locked(&COUNTERS.unmaps, &registry);
    Ok(())
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

/// Live mappings and bytes, and the call totals.
pub struct Totals {
    pub live_mappings: usize,
    pub live_bytes: usize,
    pub maps: u64,
    pub unmaps: u64,
    pub syncs: u64,
    pub failures: u64,
}

pub fn totals() -> Totals {
    let registry = registry();
    Totals {
        live_mappings: registry.len(),
        live_bytes: registry.bytes(),
        maps: Counters::get(&COUNTERS.maps),
        unmaps: Counters::get(&COUNTERS.unmaps),
        syncs: Counters::get(&COUNTERS.syncs),
        failures: Counters::get(&COUNTERS.failures),
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
