//! Guarded copies: `memcpy` that turns SIGBUS into EIO and SIGSEGV into
//! EFAULT instead of killing the process (`rmap_read`, `rmap_write`).
//!
//! A fault is recoverable only if it reaches librmap's handler: the kernel
//! kills the process when the faulting thread blocks the signal (it unblocks
//! it and forces the default action) and when the signal's action is no
//! longer librmap's handler. The program's `sigaction`, `signal`,
//! `sigprocmask` and `pthread_sigmask` calls come through librmap (see the
//! functions at the end): actions go behind librmap's handler, and a mask
//! change sends the thread back to the checkpoint. Reading a thread's
//! signal mask takes a system call, several times the cost of a 4 KiB copy,
//! so it is read at that checkpoint: each thread's first guarded copy, and
//! its first after each mask change. There librmap also installs its handler
//! again if SIG_DFL or SIG_IGN was set behind its back. A thread that passes
//! is marked, and its copies test that mark with one load. A thread that
//! blocks either signal has them unblocked in the kernel there and hidden
//! from the program, which still sees and passes on the mask it set
//! (sys/signal/mask.c), so its copies take the same fast path; where that
//! cannot be kept (a vfork child, a C library linked in statically), its
//! copies run with the two signals unblocked for the copy (two system
//! calls, the mask restored after).

use std::ffi::c_int;

use crate::process::{ensure_fault_handler, recheck_fault_handler};
use crate::sys::{self, Copied, EFAULT, EIO, ENOMEM, Errno, Fault, ThreadCheck};
pub use crate::sys::{SigAction, SigHandler, SigSet};

/// Bytes the calling thread's last failed [`copy`] copied before it stopped
/// (a record of the thread's that a program's signal handler does not
/// change for the code it interrupted: sys/signal/handler.c).
pub fn last_copied() -> usize {
    sys::last_copied()
}

/// Copies `n` bytes from `src` to `dst`, either of which may be a mapping
/// whose pages can fault: SIGBUS becomes EIO, SIGSEGV becomes EFAULT.
///
/// On error, [`last_copied`] tells how many leading bytes were copied: every
/// byte before the first page that faulted (a successful copy copied all
/// `n`). Finding it costs a second, page by page pass, paid only after a
/// fault.
///
/// # Safety
/// `dst` and `src` must not overlap, and writing `dst` must not break the
/// caller (as for `memcpy`); inaccessible pages are allowed.
#[inline]
pub unsafe fn copy(dst: *mut u8, src: *const u8, n: usize) -> Result<(), Errno> {
    // SAFETY: forwarded to the caller's contract.
    match unsafe { copy_fast(dst, src, n) } {
        0 => Ok(()),
        // SAFETY: as above.
        unfinished => unsafe { copy_rest(unfinished) },
    }
}

/// The fast path of [`copy`], all of it in `sys` (no Rust code that could
/// panic): 0 when everything was copied, else the code [`copy_rest`] takes.
/// A thread that passed its checkpoint copies with nothing set up.
///
/// # Safety
/// As for [`copy`].
#[inline(always)]
pub unsafe fn copy_fast(dst: *mut u8, src: *const u8, n: usize) -> c_int {
    // SAFETY: a thread passes its checkpoint only once the handler is in
    // place; the rest is the caller's contract.
    unsafe { sys::guarded_copy(dst, src, n) }
}

/// The rest of a copy whose fast path returned `unfinished`: a fault
/// (redone page by page), or a thread that has not passed its checkpoint.
///
/// # Safety
/// Right after [`copy_fast`] returned `unfinished` in this thread, whose
/// arguments still hold the caller's contract.
#[cold]
#[inline(never)]
pub unsafe fn copy_rest(unfinished: c_int) -> Result<(), Errno> {
    let (dst, src, n) = sys::failed_copy_args();
    if unfinished == sys::COPY_FAULTED {
        // SAFETY: the caller's contract, for the same arguments.
        return unsafe { copy_failed(dst, src, n, false) };
    }
    let unblock = checkpoint()?;
    // SAFETY: the handler is in place, and the signals reach it.
    match unsafe { sys::guarded_copy_checked(dst, src, n, unblock) }? {
        // SAFETY: the caller's contract, for the same arguments.
        Copied::Faulted(_) => unsafe { copy_failed(dst, src, n, unblock) },
        _ => Ok(()),
    }
}

/// The calling thread's checkpoint, passed at its first guarded copy and
/// its first after each change of its signal mask (the handler made sure
/// of, the mask read, the thread marked); after that, what the mark says.
/// Returns whether its copies must unblock SIGBUS and SIGSEGV.
#[cold]
fn checkpoint() -> Result<bool, Errno> {
    ensure_fault_handler()?;
    match sys::thread_check() {
        ThreadCheck::Passed => Ok(false),
        ThreadCheck::PassedBlocking => Ok(true),
        ThreadCheck::NotYet => {
            recheck_fault_handler()?;
            sys::pass_checkpoint()
        }
    }
}

/// Redoes a failed copy in segments that never cross a page boundary of
/// either side, in order, and stops at the first that faults: every byte
/// before it is copied. The count it records is the start of the page that
/// faulted (on whichever side), so it never ends inside a page that faulted
/// even when a file shrinks between the passes. Only failures record it, so
/// a successful copy touches no thread-local.
///
/// # Safety
/// As for [`copy`].
#[cold]
unsafe fn copy_failed(dst: *mut u8, src: *const u8, n: usize, unblock: bool) -> Result<(), Errno> {
    let page = sys::page_size();
    let to_page_end = |addr: usize| page - (addr & (page - 1));
    let mut done = 0;
    while done < n {
        let step = to_page_end(src as usize + done)
            .min(to_page_end(dst as usize + done))
            .min(n - done);
        // SAFETY: a sub-range of the caller's buffers, which the caller vouches for.
        let copied =
            unsafe { sys::guarded_copy_checked(dst.add(done), src.add(done), step, unblock) }?;
        if let Copied::Faulted(fault) = copied {
            sys::set_last_copied(done.min(start_of_faulting_page(fault, dst, src, n, page)));
            return Err(Errno(if fault.bus { EIO } else { EFAULT }));
        }
        done += step;
    }
    // The fault went away between the passes (the file grew back): all copied.
    Ok(())
}

/// How many bytes precede the page that faulted, on the side it faulted.
fn start_of_faulting_page(
    fault: Fault,
    dst: *mut u8,
    src: *const u8,
    n: usize,
    page: usize,
) -> usize {
    let page_start = fault.addr & !(page - 1);
    [src as usize, dst as usize]
        .into_iter()
        .find(|&base| (base..base + n).contains(&fault.addr))
        .map_or(usize::MAX, |base| page_start.saturating_sub(base))
}

/// Which occurrence [`find`] looks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Occurrence {
    First,
    Last,
}

/// How much of a one-byte forward search [`find_fast`] does in place before
/// handing the rest to [`find`] (whose guarded call, ~10 ns to set up, runs
/// the C library's vector width).
pub const FIND_FAST_SPAN: usize = sys::FIND_BYTE_SPAN;

/// What [`find_fast`] settled.
pub enum FastFind {
    /// Found: the offset is stored.
    Found,
    NotFound,
    /// Not in the first [`FIND_FAST_SPAN`] bytes: [`find`] searches the rest.
    NotInFirstSpan,
    /// A fault, or a thread that has not passed its checkpoint: [`find`].
    Unknown,
}

/// The fast path of a one-byte forward [`find`] (readline's newline): the
/// first [`FIND_FAST_SPAN`] bytes searched in place with nothing set up,
/// the offset stored at `at` when found (and only then).
///
/// # Safety
/// As for [`find`]; `at` is valid for writing.
#[inline(always)]
pub unsafe fn find_fast(
    haystack: *const u8,
    n: usize,
    byte: *const u8,
    at: *mut usize,
) -> FastFind {
    // SAFETY: forwarded to the caller's contract.
    match unsafe { sys::find_byte(haystack, n, byte, at) } {
        sys::FIND_BYTE_FOUND => FastFind::Found,
        sys::FIND_BYTE_NOT_FOUND => FastFind::NotFound,
        sys::FIND_BYTE_NOT_IN_SPAN => FastFind::NotInFirstSpan,
        _ => FastFind::Unknown,
    }
}

/// The offset of the first or last occurrence of the `m` bytes at `needle`
/// in the `n` bytes at `haystack` (an empty needle: 0 or `n`), or None;
/// SIGBUS in the haystack becomes EIO and SIGSEGV EFAULT, and then
/// [`last_copied`] gives the offset of the start of the page that faulted
/// (0 if before the haystack, or in the needle: its pages may fault too).
/// A forward search starts at `searched`: the bytes before it are known not
/// to start an occurrence (0 when nothing is known).
///
/// # Safety
/// The `n` bytes at `haystack` and the `m` bytes at `needle` are memory
/// whose pages may fault (a mapping), or valid.
pub unsafe fn find(
    haystack: *const u8,
    n: usize,
    needle: *const u8,
    m: usize,
    occurrence: Occurrence,
    searched: usize,
) -> Result<Option<usize>, Errno> {
    if m > n {
        return Ok(None);
    }
    if m == 0 {
        return Ok(Some(if occurrence == Occurrence::First {
            0
        } else {
            n
        }));
    }
    // The needle may lie in a mapping too: a guarded copy of it (on the
    // stack when short, as a one-byte needle is).
    let mut short = [0u8; 64];
    let mut long = Vec::new();
    let copy: *mut u8 = if m <= short.len() {
        short.as_mut_ptr()
    } else {
        long.try_reserve_exact(m).map_err(|_| Errno(ENOMEM))?;
        long.as_mut_ptr()
    };
    // SAFETY: `copy` has room for `m` bytes and does not overlap the needle.
    if let Err(error) = unsafe { self::copy(copy, needle, m) } {
        sys::set_last_copied(0);
        return Err(error);
    }
    let needle = copy.cast_const();
    let unblock = checkpoint()?;
    // A search reads ahead of what it has matched (vectors of up to 128
    // bytes), so a fault does not prove that no occurrence lies before the
    // page that faulted: search again up to that page (from its end, for
    // the last occurrence). What is found there is the answer; else the
    // error is, at the page nearest to the search's start that faulted.
    let page = sys::page_size();
    let (mut from, mut to) = match occurrence {
        Occurrence::First => (searched.min(n), n),
        Occurrence::Last => (0, n),
    };
    let mut faulted: Option<(usize, Errno)> = None;
    loop {
        // SAFETY: the handler is in place and the signals reach it (checked,
        // or unblocked for the call); `from` <= `to` <= `n`: inside the
        // haystack; the needle is our copy.
        let (copied, found) = unsafe {
            sys::guarded_search(
                haystack.add(from),
                to - from,
                needle,
                m,
                occurrence == Occurrence::Last,
                unblock,
            )
        }?;
        match copied {
            Copied::Faulted(fault) => {
                let page_start = (fault.addr & !(page - 1)).saturating_sub(haystack as usize);
                let error = Errno(if fault.bus { EIO } else { EFAULT });
                faulted = Some((page_start, error));
                match occurrence {
                    Occurrence::First if page_start > from && page_start < to => to = page_start,
                    Occurrence::Last if page_start + page > from && page_start + page < to => {
                        from = page_start + page
                    }
                    _ => break,
                }
                if to - from < m {
                    break;
                }
            }
            _ => match (found, faulted) {
                (Some(at), _) => return Ok(Some(from + at)),
                (None, None) => return Ok(None),
                (None, Some(_)) => break,
            },
        }
    }
    let (at, error) = faulted.expect("the loop leaves only after a fault");
    // Lost bytes decide the answer only if some position may hold an
    // occurrence that reads them: said otherwise, the bytes still readable
    // may decide it (the standard module's search answers there when it
    // happens not to read the lost page).
    if error.0 == EIO
        // SAFETY: as for the searches above.
        && let Some(answer) = unsafe {
            decided_by_readable_bytes(haystack, n, needle, m, occurrence, searched, unblock)
        }
    {
        return Ok(answer);
    }
    sys::set_last_copied(at);
    Err(error)
}

/// After a search of the `n` bytes at `haystack` met a page the file no
/// longer covers: the answer, if the bytes before the first such page
/// (`readable` of them) decide it. Every position must then start before
/// that page (none may lie wholly past it), and each position that
/// straddles it must differ from the needle in its readable bytes; the
/// answer is then the first (last) occurrence wholly in the readable bytes,
/// searched as before (they cannot fault).
///
/// # Safety
/// As for [`find`]; `needle` is librmap's own copy; `unblock` as there.
unsafe fn decided_by_readable_bytes(
    haystack: *const u8,
    n: usize,
    needle: *const u8,
    m: usize,
    occurrence: Occurrence,
    searched: usize,
    unblock: bool,
) -> Option<Option<usize>> {
    let page = sys::page_size();
    let base = haystack as usize;
    // The first page that faults, probed a byte per page from the start.
    let mut readable = n;
    let mut at = 0;
    while at < n {
        let mut byte = 0u8;
        // SAFETY: one byte of the haystack into our own.
        let probe = unsafe { sys::guarded_copy_checked(&mut byte, haystack.add(at), 1, unblock) };
        if probe.ok()? != Copied::All {
            readable = at;
            break;
        }
        at = ((base + at) & !(page - 1)) + page - base;
    }
    if readable >= n || n - m >= readable {
        return None;
    }
    let mut prefix = [0u8; 64];
    for i in readable.saturating_sub(m - 1)..=n - m {
        let len = (readable - i).min(prefix.len());
        // SAFETY: the bytes before `readable` were readable a moment ago;
        // they are read through a guarded copy (the file may shrink again
        // meanwhile: then the answer is EIO after all).
        if unsafe { sys::guarded_copy_checked(prefix.as_mut_ptr(), haystack.add(i), len, unblock) }
            .ok()?
            != Copied::All
        {
            return None;
        }
        // SAFETY: `needle` holds `m` bytes and len <= readable - i < m.
        let needle_prefix = unsafe { std::slice::from_raw_parts(needle, len) };
        if prefix[..len] == *needle_prefix {
            // It may be an occurrence (a longer needle's prefix beyond 64
            // bytes is not compared: taken as a match, so EIO).
            return None;
        }
    }
    let Some(last_start) = readable.checked_sub(m) else {
        // No position lies wholly in the readable bytes, and none of the
        // others can match.
        return Some(None);
    };
    let from = match occurrence {
        Occurrence::First => searched.min(last_start + 1),
        Occurrence::Last => 0,
    };
    // SAFETY: [from, readable) is readable; as for find's own searches.
    let (copied, found) = unsafe {
        sys::guarded_search(
            haystack.add(from),
            readable - from,
            needle,
            m,
            occurrence == Occurrence::Last,
            unblock,
        )
    }
    .ok()?;
    (!matches!(copied, Copied::Faulted(_))).then_some(found.map(|at| from + at))
}

/// `sigaction` for the program. Once librmap's handler is installed, a
/// program's SIGBUS or SIGSEGV action goes behind it instead of replacing it
/// (guarded copies keep working whatever the program sets), and the program
/// is shown its own action.
///
/// # Safety
/// As for `sigaction`: `act` and `old` are NULL or valid.
pub unsafe fn set_signal_action(
    sig: c_int,
    act: *const SigAction,
    old: *mut SigAction,
) -> Result<(), Errno> {
    // SAFETY: forwarded to the caller's contract.
    unsafe { sys::set_signal_action(sig, act, old) }
}

/// `signal` (BSD semantics) or `sysv_signal` for the program, the same way.
pub fn set_signal_handler(
    sig: c_int,
    handler: SigHandler,
    sysv: bool,
) -> Result<SigHandler, Errno> {
    sys::set_signal_handler(sig, handler, sysv)
}

/// `pthread_sigmask` or `sigprocmask` for the program: the new mask may
/// block SIGBUS or SIGSEGV, so the calling thread's next copy goes through
/// the checkpoint again.
///
/// # Safety
/// As for `pthread_sigmask`: `set` and `old` are NULL or valid.
pub unsafe fn set_signal_mask(
    how: c_int,
    set: *const SigSet,
    old: *mut SigSet,
    process: bool,
) -> Result<(), Errno> {
    // SAFETY: forwarded to the caller's contract.
    unsafe { sys::set_signal_mask(how, set, old, process) }
}
