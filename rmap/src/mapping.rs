//! The operations behind the mapping calls: validate in Rust, ask the kernel,
//! keep the registry as the kernel keeps its mappings, and in checked mode
//! report misuse. Pure Rust types in, `Result<T, Errno>` out.
//!
//! Each call's operation is inlined into the C function that calls it in
//! optimized builds (one return after the system call: BENCHMARKS.md's
//! notes), never forced in debug builds, where it only made a dependent's
//! clean build slower (every caller got a copy). Map and unmap are split
//! instead: their common call in a single-threaded process is a leaf
//! ([`map_common`], [`unmap_common`]: no call, no lock word), and the C
//! functions run the general operation ([`map`], [`unmap`]) out of line
//! when the leaf declines.
//!
//! Every call that changes mappings holds the registry lock across its
//! system call, so the registry sees the calls of all threads in the order
//! the kernel did. When a call fails after the kernel changed part of the
//! range (a hole stops `mprotect` or `mlock` half way; `MREMAP_FIXED`
//! unmaps its target first), the registry re-reads that range from the
//! kernel: a cold path, so the registry never lies about what it recorded.

use std::ptr::null_mut;

use crate::checked::{self, Call, PastEnd, Report};
use crate::process::{self, Held, Hold, Ownership, Pending, hold, hold_unsettled, where_of};
use crate::registry::{Entry, Registry};
pub use crate::sys::Errno;
use crate::sys::{
    self, EINVAL, EIO, ENOMEM, EOVERFLOW, MAP_ANONYMOUS, MAP_FIXED, MAP_LOCKED, MREMAP_DONTUNMAP,
    MREMAP_FIXED, PROT_GROWSDOWN, PROT_GROWSUP, PROT_READ, PROT_WRITE,
};
use crate::validate::{self, MapArgs, round_up_to_page};
use crate::watch::{self, Moved};

/// The checked mode, as callers name it.
pub use crate::checked::Mode as CheckMode;
/// The system page size, read once.
pub use crate::sys::page_size;
/// The platform's `PROT_*`, `MAP_*`, `MS_*`, `MADV_*` and `MREMAP_*`
/// values, as the operations take them.
pub use crate::sys::{
    EBADF, MADV_DODUMP, MADV_DOFORK, MADV_DONTDUMP, MADV_DONTFORK, MADV_DONTNEED, MADV_FREE,
    MADV_HUGEPAGE, MADV_HWPOISON, MADV_MERGEABLE, MADV_NOHUGEPAGE, MADV_NORMAL, MADV_POPULATE_READ,
    MADV_POPULATE_WRITE, MADV_RANDOM, MADV_REMOVE, MADV_SEQUENTIAL, MADV_UNMERGEABLE,
    MADV_WILLNEED, MAP_ANONYMOUS as ANONYMOUS, MAP_HUGE_SHIFT, MAP_HUGETLB, MAP_NORESERVE,
    MAP_POPULATE, MAP_PRIVATE as PRIVATE, MAP_SHARED as SHARED, MAP_STACK, MREMAP_MAYMOVE,
    MS_ASYNC, MS_SYNC, PROT_EXEC, PROT_READ as READ, PROT_WRITE as WRITE,
};

/// Sets the checked mode from the program.
pub fn set_check_mode(mode: CheckMode) {
    checked::set(mode);
}

/// Writes a report; in abort mode, aborts after it.
#[cold]
fn report(report: &Report, mode: CheckMode) {
    process::report(report);
    if mode == CheckMode::Abort {
        sys::abort();
    }
}

/// The checked mode; in checked mode the call is counted for the summary.
#[inline(always)]
fn mode_for(call: Call) -> CheckMode {
    let mode = checked::mode();
    if mode != CheckMode::Off {
        process::count_call(call);
    }
    mode
}

/// Counts a failure; successes are counted where they happen.
#[cold]
pub fn failed(error: Errno) -> Errno {
    process::count_failure();
    error
}

/// Makes room in the registry for `entries` more records, before the
/// system call whose result it will record: ENOMEM (counted as a failure)
/// with nothing done when the memory cannot be had, never an abort after
/// the kernel acted.
#[inline(always)]
fn reserve(registry: &mut Registry, entries: usize) -> Result<(), Errno> {
    registry
        .reserve(entries)
        .map_err(|()| failed(Errno(ENOMEM)))
}

/// A length rounded up to whole pages, saturating: the registry records
/// lengths as the kernel would after its own rounding.
fn pages_covering(len: usize, page: usize) -> usize {
    round_up_to_page(len, page).unwrap_or(!(page - 1))
}

/// What the common map or unmap did ([`map_common`], [`unmap_common`]).
pub enum Common<T> {
    /// It was the common call, and the kernel carried it out.
    Done(T),
    /// It was the common call, and the kernel refused it with this error
    /// (not yet counted: the caller passes it to [`failed`], out of line).
    Failed(Errno),
    /// It was not the common call, and nothing was done: the general
    /// operation ([`map`], [`unmap`]) must run.
    Other,
}

/// The common map and unmap's conditions on the process: those of
/// [`changes_are_plain`], the mode already read (false before it is, and
/// the general path reads it).
#[inline(always)]
fn common_changes() -> bool {
    checked::known_off() && nothing_watched_or_lost()
}

/// The common map (plain arguments, see [`validate::plain_map`], in a
/// single-threaded process, nothing pending, room reserved, checked mode
/// off, files not watched, no loss outstanding), or [`Common::Other`]
/// with nothing done. Its record is left pending as [`map_pending`]
/// leaves it.
///
/// A leaf: it calls nothing, so `rmap_map`'s code for it is one straight
/// run of instructions with one return after the system call. The
/// kernel's `mmap` and `munmap` evict librmap's code between calls, and
/// each line of it is fetched again: with the common path inside the
/// general operation, a one-page pair ran 209 instructions over 18 lines
/// of code and `make bench`'s row measured 1.013-1.021 of libc's time;
/// as leaves, 157 over 12 and 1.008-1.019 (12 processes each,
/// alternated). Threads take the general path: a leaf that took the lock
/// word as well measured a median of 1.0145 against 1.0095 without (its
/// release after the system call, and the flag kept for it, cost lines).
///
/// # Safety
/// As for `mmap(2)`.
#[inline(always)]
pub unsafe fn map_common(
    addr: *mut u8,
    len: usize,
    prot: i32,
    flags: i32,
    fd: i32,
    offset: i64,
) -> Common<*mut u8> {
    let page = sys::page_size_if_read();
    if page == 0 || !validate::plain_map(len, flags, fd, offset, page) || !common_changes() {
        return Common::Other;
    }
    let Some(mut held) = process::hold_single_threaded() else {
        return Common::Other;
    };
    if !held.ready_for_pending() {
        return Common::Other;
    }
    // SAFETY: forwarded to the caller's contract.
    match unsafe { mmap_pending(&mut held, addr, len, prot, flags, fd, offset, page) } {
        Ok(ptr) => Common::Done(ptr),
        Err(error) => Common::Failed(error),
    }
}

/// The common unmap (the pending mapping, whole, not tolerant, in a
/// range the registry holds nothing in, meeting no watched slot, in a
/// single-threaded process, under [`map_common`]'s conditions on the
/// process), or [`Common::Other`] with nothing done. A leaf, for the
/// reason given at [`map_common`].
///
/// # Safety
/// As for `munmap(2)`.
#[inline(always)]
pub unsafe fn unmap_common(addr: *mut u8, len: usize) -> Common<()> {
    let page = sys::page_size_if_read();
    if page == 0 || !common_changes() {
        return Common::Other;
    }
    let Some(mut held) = process::hold_single_threaded() else {
        return Common::Other;
    };
    let range = [(addr as usize, pages_covering(len, page))];
    if !held.pending_is_plain(range[0].0, range[0].1) || watch::meets_live_slots(&range) {
        return Common::Other;
    }
    // SAFETY: forwarded to the caller's contract.
    match unsafe { sys::munmap(addr, len) } {
        Ok(()) => {
            held.forget_plain_pending();
            held.unmaps += 1;
            Common::Done(())
        }
        Err(error) => Common::Failed(error),
    }
}

/// `mmap` with Linux's argument rules decided in Rust first; the mapping is
/// recorded in the registry. The file's device and inode are not looked up
/// here (that would cost a system call): `query` asks the kernel for them
/// when first asked (checked mode records them at once, with the file size).
///
/// # Safety
/// As for `mmap(2)`: with `MAP_FIXED` whatever was mapped in the range is replaced.
#[cfg_attr(not(debug_assertions), inline(always))]
pub unsafe fn map(
    addr: *mut u8,
    len: usize,
    prot: i32,
    flags: i32,
    fd: i32,
    offset: i64,
) -> Result<*mut u8, Errno> {
    let page = page_size();
    if validate::plain_map(len, flags, fd, offset, page) && changes_are_plain() {
        // SAFETY: forwarded to the caller's contract.
        return unsafe { map_pending(addr, len, prot, flags, fd, offset, page) };
    }
    // SAFETY: forwarded to the caller's contract.
    unsafe { map_recorded(addr, len, prot, flags, fd, offset) }
}

/// Whether a change of mappings needs nothing but the registry: checked
/// mode off, files not watched, no loss outstanding.
#[inline(always)]
fn changes_are_plain() -> bool {
    checked::mode() == CheckMode::Off && nothing_watched_or_lost()
}

/// Files not watched, no loss outstanding.
#[inline(always)]
fn nothing_watched_or_lost() -> bool {
    !watch::files_watched() && !watch::some_loss()
}

/// The common map (plain arguments, see [`validate::plain_map`], and
/// [`changes_are_plain`]) where [`map_common`] declined it: in a process
/// with threads (under the lock), or with a mapping pending (recorded
/// first) or the registry short of room (made first). Nothing to validate
/// further, replace, watch or forget; its record is left pending,
/// recorded when the lock is next taken, unless unmapped first.
///
/// Apart from [`map_recorded`], which is cold and out of line, so that
/// this path is in a row: the kernel's `mmap` evicts it between calls,
/// and each cache line of code is fetched again. With the general path
/// inlined around it, a map+unmap pair ran 299 instructions over 33 lines
/// of code and took 1.019-1.027 of libc's time (`make bench`, one page,
/// alternated); this way 228 over 18, 1.012-1.019.
///
/// # Safety
/// As for `mmap(2)`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn map_pending(
    addr: *mut u8,
    len: usize,
    prot: i32,
    flags: i32,
    fd: i32,
    offset: i64,
    page: usize,
) -> Result<*mut u8, Errno> {
    let mut held = hold_unsettled();
    let held = &mut *held;
    held.settle();
    // The new record, and a record it splits in three when it is recorded.
    reserve(&mut held.registry, 3)?;
    // SAFETY: forwarded to the caller's contract.
    unsafe { mmap_pending(held, addr, len, prot, flags, fd, offset, page) }.map_err(failed)
}

/// The system call of a common map, its mapping left pending in `held`
/// (which must be ready: [`Held::ready_for_pending`]); the error is not
/// counted. The record's fields are read before the call, so that after
/// it come only stores and the return.
///
/// # Safety
/// As for `mmap(2)`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn mmap_pending(
    held: &mut Held,
    addr: *mut u8,
    len: usize,
    prot: i32,
    flags: i32,
    fd: i32,
    offset: i64,
    page: usize,
) -> Result<*mut u8, Errno> {
    let origin = held.maps;
    let pages_len = pages_covering(len, page);
    // SAFETY: forwarded to the caller's contract.
    let ptr = unsafe { sys::mmap(addr, len, prot, flags, fd, offset) }?;
    held.set_pending(Pending {
        start: ptr as usize,
        len: pages_len,
        offset,
        origin,
        prot,
        flags,
    });
    held.maps = origin + 1;
    Ok(ptr)
}

/// Every other map: validated in full, recorded at once, watched and
/// checked as the mode asks. Cold: see [`map_pending`].
///
/// # Safety
/// As for `mmap(2)`.
#[cold]
#[inline(never)]
unsafe fn map_recorded(
    addr: *mut u8,
    len: usize,
    prot: i32,
    flags: i32,
    fd: i32,
    offset: i64,
) -> Result<*mut u8, Errno> {
    let mode = mode_for(Call::Map);
    let args = MapArgs {
        addr: addr as usize,
        len,
        flags,
        fd,
        offset,
    };
    let page = page_size();
    validate::check_map(&args, page, sys::fd_kind).map_err(failed)?;
    let anonymous = flags & MAP_ANONYMOUS != 0;
    let (creator, file) = match mode {
        CheckMode::Off => (0, None),
        _ => {
            if !anonymous {
                process::watch_faults();
            }
            // The file's identity, so that a replacement behind librmap's
            // back is noticed (and its size, for RMAP_CHECK_BEYOND_EOF=map).
            (
                sys::caller_address(),
                (!anonymous).then(|| sys::file_identity(fd)).flatten(),
            )
        }
    };
    let mut held = hold();
    let held = &mut *held;
    // The new record, and a record it splits in three.
    reserve(&mut held.registry, 3)?;
    // A fixed mapping replaces what the range held.
    let replaced: &[(usize, usize)] = match flags & MAP_FIXED {
        0 => &[],
        _ => &[(addr as usize, pages_covering(len, page))],
    };
    let change =
        watch::before_change(&held.registry, &mut held.losses, replaced).map_err(failed)?;
    // SAFETY: forwarded to the caller's contract.
    let result = unsafe { sys::mmap(addr, len, prot, flags, fd, offset) };
    let mut made = (0, 0);
    if let Ok(ptr) = result {
        let entry = Entry {
            len: pages_covering(len, page),
            prot,
            flags,
            dev: file.map_or(0, |f| f.dev),
            ino: file.map_or(0, |f| f.ino),
            offset,
            creator,
            dont_fork: false,
            tolerant: false,
            sealed: false,
            // Every successful map counts once, under the lock: a unique id.
            origin: held.maps,
            whole: true,
        };
        held.registry.insert(ptr as usize, entry);
        held.maps += 1;
        if watch::some_loss() {
            held.losses.forget(ptr as usize, entry.len, None);
        }
        made = (ptr as usize, entry.len);
    }
    watch::after_change(
        &held.registry,
        &mut held.losses,
        change,
        &[made, replaced.first().copied().unwrap_or((0, 0))],
        None,
        !anonymous,
    );
    if let (Ok(ptr), CheckMode::Report | CheckMode::Abort) = (result, mode) {
        let size = file
            .and_then(|f| f.size)
            .filter(|_| checked::settings().beyond_eof_at_map);
        let at = || where_of(creator);
        check_beyond_eof(Call::Map, ptr as usize, len, offset, size, page, mode, at);
        check_write_exec(Call::Map, ptr as usize, len, prot, mode, at);
    }
    result.map_err(failed)
}

/// Checked mode with `RMAP_CHECK_BEYOND_EOF=map`: a file mapping that
/// reaches past the file's last page, reported when it is made. `at` says
/// where the program called from (asked only for a report).
#[cold]
#[allow(clippy::too_many_arguments)]
fn check_beyond_eof(
    call: Call,
    start: usize,
    len: usize,
    offset: i64,
    size: Option<u64>,
    page: usize,
    mode: CheckMode,
    at: impl Fn() -> checked::Where<'static>,
) {
    if let Some(size) = size {
        let first_bad = pages_covering(size as usize, page) as u64;
        if (offset as u64).saturating_add(len as u64) > first_bad {
            let file = PastEnd {
                first_bad,
                size: Some(size),
            };
            report(
                &Report::MappedPastEnd {
                    call,
                    addr: start,
                    len,
                    at: at(),
                    offset,
                    file,
                },
                mode,
            );
        }
    }
}

/// Checked mode: a range both writable and executable.
fn check_write_exec(
    call: Call,
    addr: usize,
    len: usize,
    prot: i32,
    mode: CheckMode,
    at: impl Fn() -> checked::Where<'static>,
) {
    if prot & PROT_WRITE != 0 && prot & PROT_EXEC != 0 {
        let at = at();
        report(
            &Report::WriteExec {
                call,
                addr,
                len,
                at,
            },
            mode,
        );
    }
}

/// Checked mode, before the calls that take memory away from whoever
/// mapped it (unmap, and remap's old range): refuses a range holding memory
/// librmap did not map, a librmap mapping replaced behind librmap's back,
/// or a double unmap; otherwise returns the registry lock, still held: the
/// caller makes its system call and updates the registry under that same
/// hold, so no other thread can unmap or replace the range between the
/// check and the call. Off, it returns None at once (the mode test is
/// inlined, the rest stays off the default path). Every other call goes to
/// the kernel in every mode and returns what the kernel returns: it takes
/// nothing from anyone (a program may lock its heap, or probe memory with
/// `mincore`).
#[inline]
fn check_owned(
    call: Call,
    mode: CheckMode,
    addr: usize,
    len: usize,
    page: usize,
    remap_takes: bool,
) -> Result<Option<Hold>, Errno> {
    match mode {
        CheckMode::Off => Ok(None),
        mode => check_owned_slow(call, addr, len, page, mode, remap_takes).map(Some),
    }
}

/// The range's records must hold, whole and as recorded, in the kernel (a
/// mapping unmapped or replaced, even in part, behind librmap's back with
/// `munmap`, `mmap` or `mremap` called directly is not librmap's any more,
/// and its stale records are dropped), and the kernel must map nothing in
/// the range but them (memory librmap did not map: the C library's `mmap`,
/// `malloc`'s, the stack). Where nothing at all is mapped the kernel
/// answers (`munmap` 0, `mremap` EFAULT), but an unmap that meets one of the
/// last ranges unmapped is a double unmap. Reports are written after the
/// lock is let go.
#[cold]
#[inline(never)]
fn check_owned_slow(
    call: Call,
    addr: usize,
    len: usize,
    page: usize,
    mode: CheckMode,
    remap_takes: bool,
) -> Result<Hold, Errno> {
    let len = pages_covering(len, page);
    let mut held = hold();
    let stale = match process::ownership(&mut held, addr, len) {
        Ownership::Owned => return Ok(held),
        Ownership::Stale => true,
        Ownership::NotRecorded => false,
    };
    let unmapped_at = match call {
        Call::Unmap if !stale => held.unmapped.find(addr, len),
        _ => None,
    };
    let takes = match call {
        // A remap takes memory only when it can move or shrink the mapping
        // (a grow in place takes none), and only when the old range lies
        // in one mapping: the kernel refuses any other with EFAULT.
        Call::Remap => {
            remap_takes
                && sys::kernel_vma(addr, false)
                    .is_some_and(|vma| vma.start <= addr && addr.saturating_add(len) <= vma.end)
        }
        _ => true,
    };
    if !takes
        || (!stale && unmapped_at.is_none() && !process::foreign_within(&held.registry, addr, len))
    {
        return Ok(held);
    }
    drop(held);
    let at = where_of(sys::caller_address());
    let refusal = match unmapped_at {
        Some(unmapped_at) => Report::DoubleUnmap {
            addr,
            len,
            at,
            unmapped_at: where_of(unmapped_at),
        },
        None => Report::Unowned {
            call,
            addr,
            len,
            at,
            stale,
        },
    };
    report(&refusal, mode);
    Err(Errno(EINVAL))
}

/// `msync` with Linux's argument rules decided in Rust first.
///
/// # Safety
/// As for `msync(2)`.
#[cfg_attr(not(debug_assertions), inline(always))]
pub unsafe fn sync(addr: *mut u8, len: usize, flags: i32) -> Result<(), Errno> {
    mode_for(Call::Sync);
    let page = page_size();
    validate::check_sync(addr as usize, len, flags, page).map_err(failed)?;
    // SAFETY: forwarded to the caller's contract.
    unsafe { sys::msync(addr, len, flags) }.map_err(failed)?;
    if watch::some_loss()
        && folded(&mut hold()).any_within(addr as usize, pages_covering(len, page))
    {
        // The pages still backed by the file were written; the lost ones
        // never will be.
        return Err(failed(Errno(EIO)));
    }
    process::count_sync();
    Ok(())
}

/// `munmap` with Linux's argument rules decided in Rust first; the range is
/// removed from the registry.
///
/// # Safety
/// As for `munmap(2)`: nothing may use the range afterwards.
#[cfg_attr(not(debug_assertions), inline(always))]
pub unsafe fn unmap(addr: *mut u8, len: usize) -> Result<(), Errno> {
    let page = page_size();
    if changes_are_plain() {
        let mut held = hold_unsettled();
        let range = [(addr as usize, pages_covering(len, page))];
        if held.pending_is(range[0].0, range[0].1) && !watch::meets_live_slots(&range) {
            // The newest mapping, unmapped whole, with no watched slot to
            // retire: the registry never held it. (Being the pending
            // mapping, the range is page aligned and not empty, all that
            // `check_unmap` asks.)
            // SAFETY: forwarded to the caller's contract.
            unsafe { sys::munmap(addr, len) }.map_err(failed)?;
            held.drop_pending();
            held.unmaps += 1;
            return Ok(());
        }
        if let Some((_, Some(slot))) = held.pending_at(range[0].0, range[0].1) {
            // SAFETY: forwarded to the caller's contract.
            return unsafe { unmap_tolerant_pending(addr, len, range[0].1, slot, held) };
        }
        validate::check_unmap(addr as usize, len, page).map_err(failed)?;
        // SAFETY: forwarded to the caller's contract.
        return unsafe { unmap_recorded(addr, len, CheckMode::Off, held) };
    }
    let mode = mode_for(Call::Unmap);
    validate::check_unmap(addr as usize, len, page).map_err(failed)?;
    let owned = check_owned(Call::Unmap, mode, addr as usize, len, page, true).map_err(failed)?;
    // SAFETY: forwarded to the caller's contract.
    unsafe { unmap_recorded(addr, len, mode, owned.unwrap_or_else(hold_unsettled)) }
}

/// The unmap of the pending mapping made tolerant (map, `rmap_tolerate`,
/// unmap: the registry never held it), `pages_len` its length in whole
/// pages, its one slot published by
/// [`tolerate`] and `held` the lock: while the mapping stays pending no
/// other slot meets it (it met none when published, and whoever publishes
/// records the pending mapping first). The slot is retired before the
/// system call, as [`unmap_recorded`] retires what it meets, and a loss a
/// handler pushed before that goes with the mapping (no record holds its
/// page when the ring is folded).
///
/// # Safety
/// As for `munmap(2)`.
#[cold]
#[inline(never)]
unsafe fn unmap_tolerant_pending(
    addr: *mut u8,
    len: usize,
    pages_len: usize,
    slot: usize,
    mut held: Hold,
) -> Result<(), Errno> {
    let held = &mut *held;
    watch::retire_slot(slot);
    // SAFETY: forwarded to the caller's contract.
    let result = unsafe { sys::munmap(addr, len) };
    if result.is_ok() {
        held.drop_tolerant_pending();
        held.losses.fold(&held.registry, None);
        held.unmaps += 1;
        watch::free_retired();
    } else {
        // Still mapped: recorded, tolerant, and published again.
        held.settle();
        let start = addr as usize;
        watch::undo_retire(&held.registry, Some((start, start + pages_len)));
    }
    result.map_err(failed)
}

/// Every unmap but that of the pending mapping, its arguments validated,
/// `held` the registry lock. Inlined after the common path, unlike
/// [`map_recorded`]: out of line, the unmap of a recorded mapping returned
/// twice after its system call, and `make bench`'s row of map, then
/// rmap_tolerate, then unmap measured 1.051-1.059 of the plain pair
/// instead of 1.044-1.049.
///
/// # Safety
/// As for `munmap(2)`.
#[inline(always)]
unsafe fn unmap_recorded(
    addr: *mut u8,
    len: usize,
    mode: CheckMode,
    mut held: Hold,
) -> Result<(), Errno> {
    let page = page_size();
    let at = match mode {
        CheckMode::Off => 0,
        _ => sys::caller_address(),
    };
    let held = &mut *held;
    let range = [(addr as usize, pages_covering(len, page))];
    held.settle();
    // A record split in two.
    reserve(&mut held.registry, 1)?;
    let change = watch::before_change(&held.registry, &mut held.losses, &range).map_err(failed)?;
    // SAFETY: forwarded to the caller's contract.
    let result = unsafe { sys::munmap(addr, len) };
    if result.is_ok() {
        let len = range[0].1;
        held.registry.remove(addr as usize, len);
        if watch::some_loss() {
            held.losses.forget(addr as usize, len, None);
        }
        held.unmaps += 1;
        if mode != CheckMode::Off {
            held.unmapped.record(addr as usize, len, at);
        }
    }
    watch::after_unmap(
        &held.registry,
        &mut held.losses,
        change,
        range[0].0,
        range[0].1,
    );
    result.map_err(failed)
}

/// `mprotect` with Linux's argument rules decided in Rust first; the
/// registry records the new protection (splitting and merging records as
/// the kernel splits and merges its mappings).
///
/// # Safety
/// As for `mprotect(2)`: accesses the new protection forbids will fault.
#[cfg_attr(not(debug_assertions), inline(always))]
pub unsafe fn protect(addr: *mut u8, len: usize, prot: i32) -> Result<(), Errno> {
    let mode = mode_for(Call::Protect);
    let page = page_size();
    validate::check_protect(addr as usize, len, prot, page).map_err(failed)?;
    let recorded = prot & !(PROT_GROWSDOWN | PROT_GROWSUP);
    let (mut start, pages_len) = (addr as usize, pages_covering(len, page));
    let mut held = hold();
    let Held {
        registry, losses, ..
    } = &mut *held;
    if prot & PROT_GROWSDOWN != 0 {
        // The kernel extends the change down to the start of the mapping.
        start = registry.find(start).map_or(start, |(s, _)| s);
    }
    let end = addr as usize + pages_len;
    let range = [(start, end - start)];
    // Records split at both ends.
    reserve(registry, 2)?;
    let change = watch::before_change(registry, losses, &range).map_err(failed)?;
    let exact = registry.find_exact(start, end - start);
    // SAFETY: forwarded to the caller's contract.
    let result = unsafe { sys::mprotect(addr, len, prot) };
    match (result, exact) {
        (Ok(()), Some(exact)) => registry.update_exact(exact, |e| e.prot = recorded),
        (Ok(()), None) => registry.update(start, end - start, |e| e.prot = recorded),
        (Err(_), _) => resync_protection(registry, start, end - start),
    }
    watch::after_change(registry, losses, change, &range, None, false);
    drop(held);
    result.map_err(failed)?;
    if mode != CheckMode::Off {
        let at = || where_of(sys::caller_address());
        check_write_exec(Call::Protect, addr as usize, pages_len, prot, mode, at);
    }
    Ok(())
}

/// After a failed `mprotect`: each recorded page takes the protection the
/// kernel now has (it may have changed the mappings before the one that
/// failed). Walks the kernel's mappings, allocating nothing: the call may
/// have failed for want of memory.
#[cold]
fn resync_protection(registry: &mut Registry, start: usize, len: usize) {
    let end = start + len;
    let mut at = start;
    while at < end {
        let Some(vma) = sys::kernel_vma(at, true).filter(|vma| vma.start < end) else {
            break;
        };
        let (from, to) = (vma.start.max(start), vma.end.min(end));
        let rwx = PROT_READ | PROT_WRITE | PROT_EXEC;
        registry.update(from, to - from, |e| e.prot = (e.prot & !rwx) | vma.prot);
        at = to;
    }
}

/// `madvise` with Linux's argument rules decided in Rust first. Only
/// `MADV_DONTFORK`/`MADV_DOFORK` change what the registry records (which
/// ranges a forked child has).
///
/// # Safety
/// As for `madvise(2)`: some advice discards the range's contents.
#[cfg_attr(not(debug_assertions), inline(always))]
pub unsafe fn advise(addr: *mut u8, len: usize, advice: i32) -> Result<(), Errno> {
    mode_for(Call::Advise);
    let page = page_size();
    validate::check_advise(addr as usize, len, page).map_err(failed)?;
    if advice != MADV_DONTFORK && advice != MADV_DOFORK {
        // SAFETY: forwarded to the caller's contract.
        return unsafe { sys::madvise(addr, len, advice) }.map_err(failed);
    }
    let mut held = hold();
    reserve(&mut held.registry, 2)?;
    // SAFETY: forwarded to the caller's contract.
    let result = unsafe { sys::madvise(addr, len, advice) };
    // On failure (a hole), the kernel applied it to what precedes the hole.
    let len = match result {
        Ok(()) => pages_covering(len, page),
        Err(_) => mapped_prefix(addr as usize, pages_covering(len, page)),
    };
    let dont_fork = advice == MADV_DONTFORK;
    held.registry
        .update(addr as usize, len, |e| e.dont_fork = dont_fork);
    if dont_fork {
        process::note_dont_fork();
    }
    result.map_err(failed)
}

/// How much of [start, start + len) the kernel maps without a hole from
/// `start` on (after a call that stops at the first hole failed).
#[cold]
fn mapped_prefix(start: usize, len: usize) -> usize {
    let mut at = start;
    while at < start + len {
        match sys::kernel_vma(at, false) {
            Some(vma) => at = vma.end,
            None => break,
        }
    }
    at.min(start + len) - start
}

/// `mlock`: no argument error is decided before the kernel (it checks
/// `RLIMIT_MEMLOCK` and `CAP_IPC_LOCK` first). The registry records the
/// range as locked (`MAP_LOCKED` in its flags).
#[cfg_attr(not(debug_assertions), inline(always))]
pub fn lock(addr: *const u8, len: usize) -> Result<(), Errno> {
    mode_for(Call::Lock);
    let page = page_size();
    let (start, pages_len) = pages_of(addr as usize, len, page);
    let mut held = hold();
    reserve(&mut held.registry, 2)?;
    let result = sys::mlock(addr, len);
    record_lock(&mut held.registry, start, pages_len, true, result.is_ok());
    result.map_err(failed)
}

/// `munlock` with Linux's argument rules decided in Rust first; the
/// registry records the range as unlocked.
#[cfg_attr(not(debug_assertions), inline(always))]
pub fn unlock(addr: *const u8, len: usize) -> Result<(), Errno> {
    mode_for(Call::Unlock);
    let page = page_size();
    validate::check_unlock(addr as usize, len, page).map_err(failed)?;
    let (start, pages_len) = pages_of(addr as usize, len, page);
    let mut held = hold();
    reserve(&mut held.registry, 2)?;
    let result = sys::munlock(addr, len);
    record_lock(&mut held.registry, start, pages_len, false, result.is_ok());
    result.map_err(failed)
}

/// The whole pages `mlock` and `munlock` act on: [addr, addr + len)
/// widened to page boundaries (saturating where the kernel fails anyway).
fn pages_of(addr: usize, len: usize, page: usize) -> (usize, usize) {
    let start = addr & !(page - 1);
    let end = addr.saturating_add(len).saturating_add(page - 1) & !(page - 1);
    (start, end - start)
}

fn record_lock(registry: &mut Registry, start: usize, len: usize, locked: bool, ok: bool) {
    if ok {
        registry.update(start, len, |e| set_locked(e, locked));
    } else {
        resync_locks(registry, start, len);
    }
}

fn set_locked(entry: &mut Entry, locked: bool) {
    if locked {
        entry.flags |= MAP_LOCKED;
    } else {
        entry.flags &= !MAP_LOCKED;
    }
}

/// After a failed lock call: the kernel may have changed the mappings
/// before a hole, or locked everything and then failed to fault it in.
#[cold]
fn resync_locks(registry: &mut Registry, start: usize, len: usize) {
    registry.update(start, len, |e| set_locked(e, false));
    for (from, to) in sys::kernel_locked_ranges(start, start + len) {
        registry.update(from, to - from, |e| set_locked(e, true));
    }
}

/// `mremap` with Linux's argument rules decided in Rust first, taking its
/// fifth argument only with `MREMAP_FIXED` or `MREMAP_DONTUNMAP`, as
/// glibc does. The registry follows: the records grow, shrink or move
/// (keeping their attributes), a fixed move replaces what it covers, and a
/// don't-unmap move leaves the old ones in place.
///
/// # Safety
/// As for `mremap(2)`: a move leaves nothing usable at the old address
/// (except with `MREMAP_DONTUNMAP`), and `MREMAP_FIXED` replaces whatever
/// the new range held.
#[cfg_attr(not(debug_assertions), inline(always))]
pub unsafe fn remap(
    old: *mut u8,
    old_len: usize,
    new_len: usize,
    flags: i32,
    new_addr: *mut u8,
) -> Result<*mut u8, Errno> {
    let mode = mode_for(Call::Remap);
    let page = page_size();
    validate::check_remap(old as usize, old_len, new_len, flags, page).map_err(failed)?;
    let new_addr = if flags & (MREMAP_FIXED | MREMAP_DONTUNMAP) != 0 {
        new_addr
    } else {
        null_mut()
    };
    // A zero old length duplicates the mapping at `old`: its first page must be ours.
    let takes = flags & (MREMAP_MAYMOVE | MREMAP_FIXED) != 0 || new_len < old_len;
    let owned = check_owned(Call::Remap, mode, old as usize, old_len.max(1), page, takes)
        .map_err(failed)?;
    let mut held = owned.unwrap_or_else(hold);
    let Held {
        registry, losses, ..
    } = &mut *held;
    let (old_start, old_pages) = (old as usize, pages_covering(old_len, page));
    let new_pages = pages_covering(new_len, page);
    // What the call may unmap, move or replace: the old range (grown in
    // place too), and a fixed move's target.
    let changed = [
        (old_start, old_pages.max(new_pages)),
        match flags & MREMAP_FIXED {
            0 => (0, 0),
            _ => (new_addr as usize, new_pages),
        },
    ];
    // A move of several records takes them along: each, and the splits
    // at the ends of both ranges.
    let pieces = registry
        .try_pieces(old_start, old_pages.min(new_pages))
        .map_err(|()| failed(Errno(ENOMEM)))?;
    reserve(registry, pieces.len() + 3)?;
    let change = watch::before_change(registry, losses, &changed).map_err(failed)?;
    // SAFETY: forwarded to the caller's contract.
    let result = unsafe { sys::mremap(old, old_len, new_len, flags, new_addr) };
    let (old_len, new_len) = (old_pages, new_pages);
    let mut moved = None;
    let mut touched = changed;
    match result {
        Ok(ptr) => {
            record_remap(
                registry,
                old_start,
                old_len,
                new_len,
                flags,
                ptr as usize,
                pieces,
            );
            touched[1] = (ptr as usize, new_len);
            if old_len > 0 && flags & MREMAP_DONTUNMAP == 0 && ptr != old {
                moved = Some(Moved {
                    old: old_start,
                    old_len,
                    new: ptr as usize,
                    new_len,
                });
            }
            if watch::some_loss() {
                // A move's target first lost what it held; the old range's
                // losses go along (a copy's stay: MREMAP_DONTUNMAP).
                losses.forget(ptr as usize, new_len, None);
                if old_len > 0 && flags & MREMAP_DONTUNMAP == 0 {
                    losses.forget(old_start, old_len, Some((ptr as usize, new_len)));
                }
            }
        }
        Err(_) => {
            // A fixed move unmaps its target first, a shrink its tail.
            drop_unmapped(registry, old_start, old_len);
            if flags & MREMAP_FIXED != 0 {
                drop_unmapped(registry, new_addr as usize, new_len);
            }
        }
    }
    watch::after_change(registry, losses, change, &touched, moved, false);
    drop(held);
    let ptr = result.map_err(failed)?;
    if mode != CheckMode::Off && new_len > old_len && checked::settings().beyond_eof_at_map {
        check_grown_file(ptr as usize, new_len, page, mode);
    }
    Ok(ptr)
}

/// Checked mode with `RMAP_CHECK_BEYOND_EOF=map`: a grown file mapping
/// that now reaches past its file.
#[cold]
fn check_grown_file(at: usize, len: usize, page: usize, mode: CheckMode) {
    let Some((start, entry)) = hold().registry.find(at) else {
        return;
    };
    if entry.flags & MAP_ANONYMOUS == 0 {
        let offset = entry.offset.wrapping_add((at - start) as i64);
        let size = sys::mapped_file_size(at);
        let caller = || where_of(sys::caller_address());
        check_beyond_eof(Call::Remap, at, len, offset, size, page, mode, caller);
    }
}

/// The registry after a successful `mremap` of [old, old + old_len) to
/// `new_len` bytes at `ptr` (lengths in whole pages); `pieces` are the
/// records of the part that moves, taken before the call.
fn record_remap(
    registry: &mut Registry,
    old: usize,
    old_len: usize,
    new_len: usize,
    flags: i32,
    ptr: usize,
    pieces: Vec<(usize, Entry)>,
) {
    if old_len == 0 {
        // A second mapping of the same shared pages, with the same attributes.
        if let Some((start, entry)) = registry.find(old) {
            let offset = entry.offset.wrapping_add((old - start) as i64);
            registry.insert(
                ptr,
                Entry {
                    len: new_len,
                    offset,
                    ..entry
                },
            );
        }
        return;
    }
    if ptr == old {
        if new_len < old_len {
            registry.remove(old + new_len, old_len - new_len);
        } else if new_len > old_len {
            registry.extend(old + old_len, new_len - old_len);
        }
        return;
    }
    // Usually the old range is all or part of one record: it moves whole,
    // grown or shrunk (the record for the new range replaces what was there).
    if let Some((start, entry)) = registry.find(old)
        && old + old_len <= start + entry.len
    {
        let moved = Entry {
            len: new_len,
            offset: entry.offset.wrapping_add((old - start) as i64),
            whole: entry.whole
                && start == old
                && entry.len == old_len
                && flags & MREMAP_DONTUNMAP == 0,
            ..entry
        };
        if flags & MREMAP_DONTUNMAP == 0 {
            registry.remove(old, old_len);
        }
        registry.insert(ptr, moved);
        return;
    }
    // The pieces of [old, old + min(old_len, new_len)), taken before the call.
    if flags & MREMAP_DONTUNMAP == 0 {
        registry.remove(old, old_len);
    }
    registry.remove(ptr, new_len);
    for (start, entry) in pieces {
        registry.insert(ptr + (start - old), entry);
    }
    if new_len > old_len {
        registry.extend(ptr + old_len, new_len - old_len);
    }
}

/// Drops the records of [start, start + len) the kernel no longer maps.
#[cold]
fn drop_unmapped(registry: &mut Registry, start: usize, len: usize) {
    for (piece_start, piece) in registry.pieces(start, len) {
        let mut at = piece_start;
        while at < piece_start + piece.len {
            let next = sys::kernel_vma(at, true).map_or(usize::MAX, |vma| vma.start);
            if next > at {
                registry.remove(at, next.min(piece_start + piece.len) - at);
            }
            at = sys::kernel_vma(next, false).map_or(usize::MAX, |vma| vma.end);
        }
    }
}

/// `mincore` with Linux's argument rules decided in Rust first.
///
/// # Safety
/// `vec` must be writable for one byte per page of the range.
#[cfg_attr(not(debug_assertions), inline(always))]
pub unsafe fn resident(addr: *mut u8, len: usize, vec: *mut u8) -> Result<(), Errno> {
    mode_for(Call::Resident);
    let page = page_size();
    validate::check_resident(addr as usize, len, vec as usize, page).map_err(failed)?;
    // SAFETY: forwarded to the caller's contract.
    unsafe { sys::mincore(addr, len, vec) }.map_err(failed)
}

/// Marks the pages of [addr, addr + len) tolerant: a SIGBUS at one of them
/// (file truncated, I/O error, no space to fill a hole, a poisoned page)
/// replaces it by zero-filled private memory instead of killing the process
/// (process.rs, from the fault handler). The range must lie wholly in
/// mappings librmap made (ENOMEM otherwise; in checked mode also reported,
/// and refused with EINVAL for a range the kernel no longer holds as
/// recorded); `addr` page aligned and `len` not 0 (EINVAL).
pub fn tolerate(addr: usize, len: usize) -> Result<(), Errno> {
    let mode = mode_for(Call::Tolerate);
    let page = page_size();
    if addr & (page - 1) != 0 || len == 0 {
        return Err(failed(Errno(EINVAL)));
    }
    let len = match round_up_to_page(len, page) {
        Some(len) if addr.checked_add(len).is_some() => len,
        _ => return Err(failed(Errno(ENOMEM))),
    };
    process::ensure_fault_handler().map_err(failed)?;
    let mut held = hold_unsettled();
    let range = [(addr, len)];
    if mode == CheckMode::Off
        && !watch::files_watched()
        && let Some((pending, slot)) = held.pending_at(addr, len)
    {
        // The newest mapping, whole: published as it is, recorded later.
        if slot.is_some() {
            return Ok(());
        }
        if !watch::meets_live_slots(&range) {
            // A table without room grows here, or fails with ENOMEM.
            let slot = watch::publish(pending.tolerant_view()).map_err(failed)?;
            held.tolerate_pending(slot);
            return Ok(());
        }
    }
    held.settle();
    let found = match mode {
        CheckMode::Off => process::ownership_of_records(&mut held.registry, addr, len),
        _ => process::ownership(&mut held, addr, len),
    };
    if found == process::Ownership::Owned {
        let Held {
            registry, losses, ..
        } = &mut *held;
        reserve(registry, 2)?;
        let change = watch::before_publishing(registry, losses, &range).map_err(failed)?;
        match registry.find_exact(addr, len) {
            Some(exact) => registry.update_exact(exact, |e| e.tolerant = true),
            None => registry.update(addr, len, |e| e.tolerant = true),
        }
        watch::after_change(registry, losses, change, &range, None, false);
        return Ok(());
    }
    drop(held);
    let stale = found == process::Ownership::Stale;
    if mode != CheckMode::Off {
        let at = where_of(sys::caller_address());
        let refusal = Report::Unowned {
            call: Call::Tolerate,
            addr,
            len,
            at,
            stale,
        };
        report(&refusal, mode);
    }
    Err(failed(Errno(if stale { EINVAL } else { ENOMEM })))
}

/// Secures the storage of the file bytes [addr, addr + len) maps: the file
/// system allocates their blocks (`fallocate`), and the file grows to cover
/// them if it is shorter, so that a store there cannot fault for want of
/// space (a hole the disk cannot fill) or for lying past the end. The range
/// must lie wholly in `MAP_SHARED` file mappings librmap made of `fd`'s
/// file. Errors: EINVAL (`addr` misaligned, `len` 0, `fd` another file),
/// ENOMEM (not wholly librmap's), EBADF (`fd` not open, or not for
/// writing), ENODEV (anonymous or private memory in the range), EFBIG (the
/// file would grow past `RLIMIT_FSIZE`, checked before the kernel could
/// send SIGXFSZ, or past the file system's limit), and the file system's
/// own: ENOSPC, EDQUOT, EPERM (sealed, immutable), EOPNOTSUPP (no
/// `fallocate`), EINTR.
pub fn secure(addr: usize, len: usize, fd: i32) -> Result<(), Errno> {
    let mode = mode_for(Call::Secure);
    let page = page_size();
    if addr & (page - 1) != 0 || len == 0 {
        return Err(failed(Errno(EINVAL)));
    }
    let Some(end) = addr.checked_add(len) else {
        return Err(failed(Errno(ENOMEM)));
    };
    let pages_len = match round_up_to_page(len, page) {
        Some(pages_len) if addr.checked_add(pages_len).is_some() => pages_len,
        _ => return Err(failed(Errno(ENOMEM))),
    };
    let file = sys::file_identity(fd).ok_or_else(|| failed(Errno(EBADF)))?;
    // The file's ranges are decided under the lock and allocated after it:
    // fallocate may take long, and no librmap call should wait for it.
    let ranges = {
        let mut held = hold();
        let found = match mode {
            CheckMode::Off => process::ownership_of_records(&mut held.registry, addr, pages_len),
            _ => process::ownership(&mut held, addr, pages_len),
        };
        if found != Ownership::Owned {
            drop(held);
            let stale = found == Ownership::Stale;
            if mode != CheckMode::Off {
                let at = where_of(sys::caller_address());
                let refusal = Report::Unowned {
                    call: Call::Secure,
                    addr,
                    len: pages_len,
                    at,
                    stale,
                };
                report(&refusal, mode);
            }
            return Err(failed(Errno(if stale { EINVAL } else { ENOMEM })));
        }
        let mut pieces = held
            .registry
            .try_pieces(addr, pages_len)
            .map_err(|()| failed(Errno(ENOMEM)))?;
        if pieces.is_empty() {
            // One record holds the whole range.
            if let Some((start, entry)) = held.registry.find(addr) {
                let skipped = addr - start;
                pieces.push((
                    addr,
                    Entry {
                        len: pages_len,
                        offset: entry.offset.wrapping_add(skipped as i64),
                        ..entry
                    },
                ));
            }
        }
        let mut ranges = Vec::new();
        ranges
            .try_reserve_exact(pieces.len())
            .map_err(|_| failed(Errno(ENOMEM)))?;
        for (start, entry) in pieces {
            let shared = entry.flags & sys::MAP_TYPE != sys::MAP_PRIVATE;
            if entry.flags & MAP_ANONYMOUS != 0 || !shared {
                return Err(failed(Errno(sys::ENODEV)));
            }
            let (dev, ino) = if entry.ino != 0 {
                (entry.dev, entry.ino)
            } else {
                sys::kernel_vma(start, false).map_or((0, 0), |vma| (vma.dev, vma.ino))
            };
            if (dev, ino) != (file.dev, file.ino) {
                return Err(failed(Errno(EINVAL)));
            }
            // The last piece ends where the caller's range does, to the byte:
            // the file grows to exactly that size.
            let bytes = (start + entry.len).min(end) - start;
            ranges.push((entry.offset, bytes as i64));
        }
        ranges
    };
    let grown_to = ranges
        .iter()
        .map(|&(offset, bytes)| offset.saturating_add(bytes) as u64)
        .max()
        .unwrap_or(0);
    if grown_to > file.size.unwrap_or(0)
        && sys::file_size_limit().is_some_and(|limit| grown_to > limit)
    {
        return Err(failed(Errno(sys::EFBIG)));
    }
    for (offset, bytes) in ranges {
        sys::allocate(fd, offset, bytes).map_err(failed)?;
    }
    Ok(())
}

/// Shared memory of `size` bytes for other processes: a memfd named `name`
/// (for /proc and debugging), or with `named` the POSIX shared memory
/// object `name` (created, never opened: EEXIST if it exists). Its storage
/// is allocated before it is handed out, so too little memory or /dev/shm
/// space is ENOSPC or ENOMEM here, never a SIGBUS at a later touch; then
/// the `seals` (`F_SEAL_*`) are added and read back: memory is never
/// handed out with fewer seals than asked (the kernel's EBUSY or EINVAL, or
/// EPERM for a named object, which cannot be sealed). On any error nothing
/// is left: the descriptor closed, the name unlinked. Errors: EINVAL (a
/// seal bit unknown), EFBIG (`size` past `RLIMIT_FSIZE`, checked before
/// the kernel would send SIGXFSZ), and memfd_create's, shm_open's,
/// fallocate's and F_ADD_SEALS's own.
pub fn shm_create(
    name: &std::ffi::CStr,
    size: usize,
    seals: i32,
    named: bool,
    close_on_exec: bool,
) -> Result<i32, Errno> {
    if seals & !sys::SEALS_ALL != 0 {
        return Err(Errno(EINVAL));
    }
    let size = i64::try_from(size).map_err(|_| Errno(sys::EFBIG))?;
    if sys::file_size_limit().is_some_and(|limit| size as u64 > limit) {
        return Err(Errno(sys::EFBIG));
    }
    let fd = if named {
        sys::shm_create(name, close_on_exec)
    } else {
        sys::memfd(name, close_on_exec)
    }?;
    let undo = |error: Errno| {
        sys::close_fd(fd);
        if named {
            sys::shm_remove(name);
        }
        error
    };
    if size > 0 {
        sys::allocate(fd, 0, size).map_err(undo)?;
    }
    if seals != 0 {
        sys::add_seals(fd, seals).map_err(undo)?;
        if sys::memfd_seals(fd).is_none_or(|now| now & seals != seals) {
            return Err(undo(Errno(sys::EPERM)));
        }
    }
    Ok(fd)
}

/// Maps `len` bytes of a descriptor another process sent (shared, from
/// offset 0) so that the peer cannot crash this process: a plain mapping
/// when the descriptor is a memfd sealed against shrinking whose size
/// covers `len`, else a tolerant one ([`tolerate`]: a page the peer
/// truncates away reads as zeros, and the loss is recorded). Errors: EBADF
/// for a descriptor that is not open, and [`map`]'s.
///
/// # Safety
/// As for [`map`] without `MAP_FIXED`: nothing already mapped is touched;
/// the memory's contents may change under the caller (the peer writes it).
pub unsafe fn map_peer(fd: i32, len: usize, prot: i32) -> Result<*mut u8, Errno> {
    let Some(file) = sys::file_identity(fd) else {
        return Err(failed(Errno(sys::EBADF)));
    };
    let sealed = sys::memfd_seals(fd).is_some_and(|seals| seals & sys::F_SEAL_SHRINK != 0);
    let covered = file.size.is_some_and(|size| size >= len as u64);
    // SAFETY: no MAP_FIXED: a new range.
    let ptr = unsafe { map(null_mut(), len, prot, SHARED, fd, 0) }?;
    if sealed && covered {
        let mut held = hold();
        if let Some(exact) = held.registry.find_exact(ptr as usize, len) {
            held.registry.update_exact(exact, |e| e.sealed = true);
        }
    } else if let Err(error) = tolerate(ptr as usize, len) {
        // SAFETY: the mapping just made, never handed out.
        let _ = unsafe { unmap(ptr, len) };
        return Err(error);
    }
    Ok(ptr)
}

/// The lost pages of [addr, addr + len) (pages of tolerant mappings
/// replaced by zeros after a SIGBUS), each with the file offset it stood
/// for, in address order.
/// EINVAL for a misaligned `addr` or a `len` of 0; ENOMEM when the range is
/// not wholly librmap's; EOVERFLOW when more pages were lost in the process
/// than librmap remembers one by one.
pub fn losses(addr: usize, len: usize) -> Result<Vec<(usize, i64)>, Errno> {
    let page = page_size();
    if addr & (page - 1) != 0 || len == 0 {
        return Err(Errno(EINVAL));
    }
    let Some(len) = round_up_to_page(len, page).filter(|&l| addr.checked_add(l).is_some()) else {
        return Err(Errno(ENOMEM));
    };
    let mut held = hold();
    if process::ownership_of_records(&mut held.registry, addr, len) != process::Ownership::Owned {
        return Err(Errno(ENOMEM));
    }
    let losses = folded(&mut held);
    if losses.overflowed {
        return Err(Errno(EOVERFLOW));
    }
    let mut found: Vec<(usize, i64)> = losses.within(addr, len).collect();
    found.sort_unstable();
    Ok(found)
}

/// The losses, with what the fault handler pushed since folded in.
fn folded(held: &mut Held) -> &watch::Losses {
    held.losses.fold(&held.registry, None);
    &held.losses
}

/// A mapping librmap holds, as the introspection calls report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Info {
    pub start: usize,
    pub entry: Entry,
    /// Whether a page of it was lost (a tolerant mapping's page that raised
    /// SIGBUS and reads as zeros now).
    pub damaged: bool,
}

/// The mapping containing `addr`, its file's identity asked of the kernel
/// if not yet known.
pub fn query(addr: usize) -> Option<Info> {
    let mut held = hold();
    let (start, entry) = held.registry.find(addr)?;
    let damaged =
        entry.tolerant && watch::some_loss() && folded(&mut held).any_within(start, entry.len);
    Some(Info {
        start,
        entry: with_identity(&mut held.registry, start, entry),
        damaged,
    })
}

/// `entry` at `start` with its file's device and inode, learnt from the
/// kernel (and remembered) the first time they are asked for.
fn with_identity(registry: &mut Registry, start: usize, entry: Entry) -> Entry {
    if entry.flags & MAP_ANONYMOUS != 0 || entry.ino != 0 {
        return entry;
    }
    let Some(vma) = sys::kernel_vma(start, false).filter(|vma| vma.ino != 0) else {
        return entry;
    };
    registry.update(start, entry.len, |e| (e.dev, e.ino) = (vma.dev, vma.ino));
    Entry {
        dev: vma.dev,
        ino: vma.ino,
        ..entry
    }
}

/// Live mappings and bytes, and the call totals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Totals {
    /// Mappings librmap holds now.
    pub live_mappings: usize,
    /// Their bytes.
    pub live_bytes: usize,
    /// Successful maps since the process started.
    pub maps: u64,
    /// Successful unmaps.
    pub unmaps: u64,
    /// Successful syncs.
    pub syncs: u64,
    /// Failed calls of the nine mapping functions.
    pub failures: u64,
}

/// Whether the file behind `fd` cannot change while mapped: a memfd
/// sealed against shrinking and writing, or a file with fs-verity; else why
/// not (memmap2's words).
pub fn immutable_file(fd: i32) -> Result<(), &'static str> {
    if let Some(seals) = sys::memfd_seals(fd) {
        let (shrink, write) = sys::SEALS_IMMUTABLE;
        return match (seals & shrink != 0, seals & write != 0) {
            (true, true) => Ok(()),
            (true, false) => Err("fd is not safe to map: missing seals F_SEAL_WRITE"),
            (false, true) => Err("fd is not safe to map: missing seals F_SEAL_SHRINK"),
            (false, false) => {
                Err("fd is not safe to map: missing seals F_SEAL_SHRINK and F_SEAL_WRITE")
            }
        };
    }
    if sys::has_fs_verity(fd) {
        Ok(())
    } else {
        Err("fd is not safe to map: it is not a memfd and it has no fs-verity")
    }
}

/// The size of the file behind `fd`.
pub fn file_size(fd: i32) -> Result<u64, Errno> {
    sys::file_size(fd)
}

/// Whether the running kernel knows `advice` (`madvise` of an empty range:
/// it checks the advice first).
pub fn advice_supported(advice: i32) -> bool {
    // SAFETY: an empty range: nothing is advised.
    unsafe { sys::madvise(std::ptr::null_mut(), 0, advice) }.is_ok()
}

pub fn totals() -> Totals {
    let held = hold();
    let (syncs, failures) = process::unlocked_counts();
    Totals {
        live_mappings: held.registry.len(),
        live_bytes: held.registry.bytes(),
        maps: held.maps,
        unmaps: held.unmaps,
        syncs,
        failures,
    }
}

/// Every live mapping in address order, copied out so the caller may call
/// back into librmap while walking them.
pub fn snapshot() -> Vec<Info> {
    let mut held = hold();
    folded(&mut held);
    let all: Vec<(usize, Entry)> = held.registry.iter().collect();
    all.into_iter()
        .map(|(start, entry)| Info {
            start,
            entry: with_identity(&mut held.registry, start, entry),
            damaged: entry.tolerant
                && watch::some_loss()
                && held.losses.any_within(start, entry.len),
        })
        .collect()
}
