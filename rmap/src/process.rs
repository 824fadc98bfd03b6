//! Process-wide state and its lifecycle: the registry and its lock, the call
//! counters, the handlers that run at load, fork and exit, and the one-time
//! installation of the SIGBUS/SIGSEGV handler.
//!
//! Nothing here is initialised lazily with `std::sync::Once`: a fork in
//! another thread could catch it half done and the child would wait for it
//! forever. What must exist before the first call is set up when the library
//! is loaded (an ELF `.init_array` entry, see `sys::run_at_load!`); the fault
//! handler is installed on first use, under the signal machinery's own lock,
//! which the fork handlers hold across `fork()`.

use std::cell::{RefCell, UnsafeCell};
use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};

use crate::checked::{
    self, Call, Context, Finding, Line, Mode, Report, SigbusCause, Site, Unmapped, Where,
};
use crate::lock::{self, Lock, LockGuard};
use crate::registry::{Entry, Registry};
use crate::sys::{
    self, Errno, MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, MAP_SHARED, PROT_EXEC, PROT_READ,
    PROT_WRITE,
};
use crate::watch::{self, Found, Losses, View};

/// What the registry lock guards: every mapping librmap made, and the
/// counts of the calls that change it (counted under the lock, so without
/// a locked instruction or a cache line of their own).
///
/// In this order (`repr(C)`, from a cache line's start): the registry's
/// last fields (what `reserve` and [`Held::drop_pending`] read), the
/// pending mapping, the empty range and the counts are neighbours, the
/// common map and unmap's data in two cache lines rather than four.
#[repr(C, align(64))]
pub struct Held {
    pub registry: Registry,
    /// The newest mapping of the common map call (checked mode off, no fixed
    /// address, files not watched, no loss outstanding), not yet in
    /// `registry`: unmapping it next, as programs mostly do, then touches
    /// no table of the registry. Every other holder of the lock first
    /// records it ([`hold`]), so none sees it missing; its registry room
    /// was reserved before its system call.
    pending: Option<Pending>,
    /// A range the registry was last found to hold nothing in, and its
    /// count of growths then ([`Registry::growths`]): a map+unmap pair
    /// at the same address again needs no search for stale records.
    empty: (usize, usize, u64),
    pub maps: u64,
    pub unmaps: u64,
    /// The pending mapping's slot in the fault handler's table when it was
    /// made tolerant whole before anyone recorded it (`rmap_tolerate`
    /// right after the map), else [`UNWATCHED`]: set by
    /// [`Held::tolerate_pending`], and back to `UNWATCHED` whenever a
    /// tolerant pending mapping is recorded or unmapped. The common map
    /// never touches it; the common unmap reads it, in the line it reads
    /// the pending mapping's in.
    pending_slot: u32,
    /// Checked mode: the last ranges unmapped, to name double unmaps.
    pub unmapped: Unmapped,
    /// Pages of tolerant mappings replaced by zeros after a SIGBUS, as
    /// folded from the fault handler's ring (`watch`).
    pub losses: Losses,
}

/// [`Held::pending_slot`] when the pending mapping is not tolerant.
const UNWATCHED: u32 = u32::MAX;

/// The pending mapping: what its record holds that differs between common
/// maps (see [`Pending::entry`] for the rest).
#[derive(Clone, Copy)]
pub struct Pending {
    pub start: usize,
    /// Whole pages.
    pub len: usize,
    pub offset: i64,
    /// Its [`Entry::origin`].
    pub origin: u64,
    pub prot: i32,
    pub flags: i32,
}

impl Pending {
    /// Its record: a common map's file identity is asked of the kernel
    /// when first needed, and it has no creator (checked mode is off), no
    /// advice, and no piece cut off.
    fn entry(self, tolerant: bool) -> Entry {
        Entry {
            len: self.len,
            prot: self.prot,
            flags: self.flags,
            dev: 0,
            ino: 0,
            offset: self.offset,
            creator: 0,
            dont_fork: false,
            tolerant,
            sealed: false,
            origin: self.origin,
            whole: true,
        }
    }

    /// What the fault handler's table holds of it, tolerant.
    pub fn tolerant_view(self) -> View {
        View {
            start: self.start,
            len: self.len,
            offset: self.offset,
            prot: self.prot,
            flags: self.flags,
            dev: 0,
            ino: 0,
            creator: 0,
            tolerant: true,
        }
    }
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
    calls: [AtomicU64; Call::COUNT],
    findings: [AtomicU64; Finding::COUNT],
}

static PROCESS: Process = Process {
    held: Lock::new(Held {
        registry: Registry::new(),
        pending: None,
        empty: (0, 0, u64::MAX),
        maps: 0,
        unmaps: 0,
        unmapped: Unmapped::new(),
        losses: Losses::new(),
        pending_slot: UNWATCHED,
    }),
    syncs: AtomicU64::new(0),
    failures: AtomicU64::new(0),
    calls: [const { AtomicU64::new(0) }; Call::COUNT],
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

/// Where a code address lies, as reports show it.
pub fn where_of(addr: usize) -> Where<'static> {
    match sys::locate(addr) {
        sys::CodeAt::Site {
            object,
            offset,
            symbol,
        } => Where::Site(Site {
            object,
            offset,
            symbol,
            marked: sys::symbolizer_follows(),
        }),
        sys::CodeAt::Address(addr) => Where::Address(addr),
        sys::CodeAt::Unknown => Where::Unknown,
    }
}

/// Writes a checked-mode report and counts it for the summary. Allocates
/// nothing once the log is open: the line is built in one buffer shared by
/// all threads, taken in turn.
pub fn report(report: &Report) {
    prepare_reports();
    if let Some(finding) = report.finding() {
        PROCESS.findings[finding.index()].fetch_add(1, Ordering::Relaxed);
    }
    let json = checked::settings().json;
    // None only when a signal handler of this thread reports while the
    // thread was writing a report: the handler's report is counted, not
    // written.
    if let Some(line) = take_line(false) {
        write_line(line.get(), report, json);
    }
}

/// [`report`] from a signal handler: gives up rather than wait long for
/// the line another thread is writing.
fn report_from_handler(report: &Report) {
    if let Some(finding) = report.finding() {
        PROCESS.findings[finding.index()].fetch_add(1, Ordering::Relaxed);
    }
    let json = checked::settings_if_read().is_some_and(|s| s.json);
    if let Some(line) = take_line(true) {
        write_line(line.get(), report, json);
    }
}

/// Writes `report` as its line; again without the symbolizer's marks if
/// rmap-check's symbolizer turns out to be gone.
fn write_line(line: &mut Line, report: &Report, json: bool) {
    if !sys::report_line(line.of(report, context(), json)) {
        sys::report_line(line.strip_marks());
    }
}

fn context() -> Context {
    Context {
        pid: sys::pid(),
        libc_names: libc_names(),
    }
}

/// The one report line buffer (16 KiB: too large for every thread's stack,
/// or a signal handler's), and the thread holding it (0: none).
struct SharedLine(UnsafeCell<Line>);
// SAFETY: reached only through a LineTurn, which LINE_OWNER makes unique.
unsafe impl Sync for SharedLine {}
static LINE: SharedLine = SharedLine(UnsafeCell::new(Line::new()));
static LINE_OWNER: AtomicI32 = AtomicI32::new(0);

struct LineTurn;

impl LineTurn {
    #[allow(clippy::mut_from_ref)]
    fn get(&self) -> &mut Line {
        // SAFETY: this thread owns the line until the turn is dropped.
        unsafe { &mut *LINE.0.get() }
    }
}

impl Drop for LineTurn {
    fn drop(&mut self) {
        LINE_OWNER.store(0, Ordering::Release);
    }
}

/// Waits for the line. From a signal handler (`in_handler`), None when this
/// very thread holds it (the handler interrupted its report) or when
/// another thread keeps it for long.
fn take_line(in_handler: bool) -> Option<LineTurn> {
    let me = sys::thread_id();
    let mut spins: u64 = 0;
    loop {
        match LINE_OWNER.compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed) {
            Ok(_) => return Some(LineTurn),
            Err(owner) if owner == me => return None,
            Err(_) if in_handler && spins > 50_000_000 => return None,
            Err(_) => {
                spins += 1;
                std::hint::spin_loop();
                if spins.is_multiple_of(1024) {
                    std::thread::yield_now();
                }
            }
        }
    }
}

/// Opens `RMAP_CHECK_LOG` and reads the settings, once: before the first
/// report, and before the fault handler may report (a signal handler must
/// not read the environment). A log that cannot be opened is said once, on
/// stderr, where the reports then go.
pub fn prepare_reports() {
    static PREPARED: AtomicBool = AtomicBool::new(false);
    if PREPARED.swap(true, Ordering::AcqRel) {
        return;
    }
    checked::settings();
    if let Some(path) = sys::env_var("RMAP_CHECK_LOG").filter(|p| !p.is_empty())
        && let Err(error) = sys::set_report_log(&path)
    {
        sys::warn(&format!(
            "rmap: RMAP_CHECK_LOG=\"{}\" cannot be opened ({}); reports go to stderr",
            checked::Escaped(&path),
            sys::error_text(error)
        ));
    }
}

/// The registry lock, held.
pub type Hold = LockGuard<'static, Held>;

/// The registry and its counts, locked.
pub fn hold() -> Hold {
    let mut held = PROCESS.held.lock();
    held.settle();
    held
}

/// The registry without its lock, in a single-threaded process, with the
/// pending mapping (if any) not yet recorded: for the common map and
/// unmap's leaves (`mapping::map_common`), which must call nothing.
/// `None` when the process has threads.
#[inline(always)]
pub fn hold_single_threaded() -> Option<Hold> {
    PROCESS.held.lock_single_threaded()
}

/// The registry lock, held, with the pending mapping (if any) not yet
/// recorded: for the common map and unmap only.
#[inline(always)]
pub fn hold_unsettled() -> Hold {
    PROCESS.held.lock()
}

impl Held {
    /// Records the pending mapping in the registry.
    #[inline(always)]
    pub fn settle(&mut self) {
        if self.pending.is_some() {
            self.record_pending();
        }
    }

    /// Out of line: inlined, the registry's insert sat between the common
    /// map's test and its system call, two more cache lines of code to
    /// fetch per call.
    #[inline(never)]
    fn record_pending(&mut self) {
        if let Some(pending) = self.pending.take() {
            let tolerant = self.pending_slot != UNWATCHED;
            self.registry.insert(pending.start, pending.entry(tolerant));
            self.pending_slot = UNWATCHED;
        }
    }

    /// Leaves `mapping` pending: see [`Held::pending`]. The room for its
    /// record must have been reserved, and nothing may be pending.
    #[inline(always)]
    pub fn set_pending(&mut self, mapping: Pending) {
        debug_assert!(self.pending.is_none());
        self.pending = Some(mapping);
    }

    /// Whether a common map can leave its mapping pending with nothing to
    /// do first: nothing is pending, and the registry has room to record
    /// it later (and a record it splits in three: see `map_pending`).
    #[inline(always)]
    pub fn ready_for_pending(&self) -> bool {
        self.pending.is_none() && self.registry.has_room(3)
    }

    /// Whether the pending mapping is exactly [start, start + len), not
    /// tolerant, and in a range the registry was last found empty in
    /// (so forgetting it needs no search for stale records: see
    /// [`Held::drop_pending`]).
    #[inline(always)]
    pub fn pending_is_plain(&self, start: usize, len: usize) -> bool {
        self.pending_is(start, len)
            && self.pending_slot == UNWATCHED
            && self.empty == (start, len, self.registry.growths())
    }

    /// Forgets the pending mapping, which [`Held::pending_is_plain`]
    /// accepted: it was unmapped.
    #[inline(always)]
    pub fn forget_plain_pending(&mut self) {
        self.pending = None;
    }

    /// Whether the pending mapping is exactly [start, start + len).
    #[inline(always)]
    pub fn pending_is(&self, start: usize, len: usize) -> bool {
        matches!(self.pending, Some(p) if p.start == start && p.len == len)
    }

    /// The pending mapping, if it is exactly [start, start + len), and
    /// its slot if it is tolerant.
    #[inline(always)]
    pub fn pending_at(&self, start: usize, len: usize) -> Option<(Pending, Option<usize>)> {
        let pending = self.pending.filter(|p| p.start == start && p.len == len)?;
        let slot = (self.pending_slot != UNWATCHED).then_some(self.pending_slot as usize);
        Some((pending, slot))
    }

    /// The pending mapping was made tolerant, published in `slot`
    /// (`watch::publish`).
    pub fn tolerate_pending(&mut self, slot: usize) {
        debug_assert!(self.pending.is_some());
        self.pending_slot = slot as u32;
    }

    /// Forgets the pending mapping made tolerant: it was unmapped, and its
    /// slot retired.
    pub fn drop_tolerant_pending(&mut self) {
        self.pending_slot = UNWATCHED;
        self.drop_pending();
    }

    /// Forgets the pending mapping: it was unmapped. Records there are
    /// stale (memory unmapped behind librmap's back, whose address the
    /// kernel handed out again): recording the mapping would have removed
    /// them, and so does this.
    #[inline(always)]
    pub fn drop_pending(&mut self) {
        debug_assert_eq!(self.pending_slot, UNWATCHED);
        if let Some(Pending { start, len, .. }) = self.pending.take()
            && self.empty != (start, len, self.registry.growths())
        {
            self.remove_stale(start, len);
        }
    }

    /// Out of line, as [`Held::record_pending`].
    #[inline(never)]
    fn remove_stale(&mut self, start: usize, len: usize) {
        if self.registry.overlaps(start, len) {
            self.registry.remove(start, len);
        }
        self.empty = (start, len, self.registry.growths());
    }
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
        if let Some(guard) = held.borrow_mut().as_mut() {
            if SOME_DONT_FORK.load(Ordering::Relaxed) {
                guard.registry.forget_if(|entry| entry.dont_fork);
            }
            if watch::wanted() {
                let Held {
                    registry, losses, ..
                } = &mut **guard;
                watch::after_fork_in_child(registry, losses);
            }
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
    // Before the program runs: it may close the descriptor it was given.
    sys::take_report_socket();
    sys::at_fork(before_fork, after_fork_in_parent, after_fork_in_child);
    sys::at_exit(at_exit);
    sys::set_bus_observer(bus_seen);
    sys::set_death_observer(dying);
    sys::set_bus_tolerator(tolerate_bus);
}

/// What the handler answers for a SIGBUS: the access runs again, or the
/// signal goes on (to a guarded copy's fix-up, or the program's action).
use sys::{PASS_ON, RUN_AGAIN};

/// The fault handler's first question for a SIGBUS of an access (a guarded
/// copy's too): whether `addr` lies in a tolerant page librmap mapped. If
/// so, and the page still faults, it is replaced by zero-filled private
/// memory with the mapping's protection, the loss goes into the ring for
/// the program, checked mode reports it, and the access runs again.
///
/// It shares no lock with the program (see watch.rs): it claims the
/// tolerant range's slot, which no librmap call can unmap, move or replace
/// while it is claimed, and never waits: a slot claimed by another handler,
/// or being changed by another thread, makes the access run again (and
/// fault again, until the other is done). A change by this very thread (an
/// asynchronous signal handler interrupted it) is decided by the kernel's
/// view of the page. Every signal is blocked while a page is being
/// replaced, so that no handler of this thread interrupts a replacement.
/// Runs in the signal handler: allocates nothing, reads no environment.
extern "C" fn tolerate_bus(addr: *mut c_void, how: std::ffi::c_int) -> std::ffi::c_int {
    let addr = addr as usize;
    let page = addr & !(sys::page_size() - 1);
    let write = how & sys::FAULT_WROTE != 0;
    let guarded = how & sys::FAULT_GUARDED != 0;
    let generation = watch::generation();
    match watch::find(page) {
        Found::Nothing | Found::Own => absorb_own_change(addr, page, write, generation, guarded),
        Found::Busy => RUN_AGAIN,
        Found::Live(slot, state) => {
            let mask = sys::block_all_signals();
            let Some(view) = watch::claim(slot, state) else {
                // Changed since it was read: look again on the next fault.
                sys::restore_signals(mask);
                return RUN_AGAIN;
            };
            if !view.tolerant {
                watch::release(slot);
                sys::restore_signals(mask);
                return pass_on_if_current(page, generation, guarded);
            }
            let mut view = view;
            if view.ino == 0
                && !view.anonymous()
                && let Some(vma) = sys::kernel_vma_in_handler(page)
            {
                (view.dev, view.ino) = (vma.dev, vma.ino);
                watch::learn_identity(slot, vma.dev, vma.ino);
            }
            let outcome = replace_if_faulting(page, view.prot, write);
            if outcome == Replacement::Replaced {
                watch::push_loss(page, view.offset_of(page));
            }
            watch::release(slot);
            match outcome {
                Replacement::Replaced => {
                    report_loss(addr, view.offset_of(page), &view);
                    RUN_AGAIN
                }
                Replacement::NoLongerFaults => RUN_AGAIN,
                Replacement::Failed => {
                    sys::restore_signals(mask);
                    PASS_ON
                }
            }
        }
    }
}

/// A SIGBUS that no tolerant range claims goes on to the program only if
/// it is current. The thread may have faulted on a tolerant mapping that
/// another thread unmapped, replaced or made tolerant before this handler
/// looked; then the access must run again, on what is there now (whose
/// own fault, if any, is the one that counts). So the first time, the
/// access runs again; it goes on only when the same page faults again with
/// the table unchanged in between (one fault more for a SIGBUS that kills).
/// A guarded copy's or search's fault goes on at once: its fix-up answers
/// EIO, which is right for a copy racing an unmap too. (Asking the kernel whether the page faults
/// now would race with mappings made meanwhile by the C library, which
/// the table cannot see.)
fn pass_on_if_current(page: usize, generation: u64, guarded: bool) -> std::ffi::c_int {
    if guarded || (sys::faulted_again(page, generation) && watch::generation() == generation) {
        PASS_ON
    } else {
        RUN_AGAIN
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Replacement {
    Replaced,
    /// The page can be accessed now (the file grew back, or another
    /// handler replaced it first): the access runs again as it is.
    NoLongerFaults,
    /// The kernel refused the replacement (`vm.max_map_count`).
    Failed,
}

/// Replaces `page` by a zero-filled private page with `prot`, unless the
/// kernel says it no longer faults for this access.
fn replace_if_faulting(page: usize, prot: i32, write: bool) -> Replacement {
    match sys::probe_readable(page) {
        Some(true) if !write => return Replacement::NoLongerFaults,
        // Readable, and written: a hole on a full disk, or already a
        // replacement (private anonymous memory, which never faults).
        Some(true)
            if sys::kernel_vma_in_handler(page).is_some_and(|vma| vma.ino == 0 && !vma.shared) =>
        {
            return Replacement::NoLongerFaults;
        }
        _ => {}
    }
    let rwx = PROT_READ | PROT_WRITE | PROT_EXEC;
    // SAFETY: the page lies in a tolerant mapping librmap made, which no
    // librmap call can unmap or replace meanwhile (its slot is claimed, or
    // this thread is the one changing it); its file no longer backs it, so
    // nothing readable is lost by the swap.
    let replaced = unsafe {
        sys::mmap(
            page as *mut u8,
            sys::page_size(),
            prot & rwx,
            MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
            -1,
            0,
        )
    };
    match replaced {
        Ok(_) => Replacement::Replaced,
        Err(_) => Replacement::Failed,
    }
}

/// A SIGBUS in no live tolerant range: when this thread is itself changing
/// tolerant ranges (a handler interrupted its librmap call), the page is
/// one of them if the kernel maps the same file there at an offset of
/// theirs: before the call's system call (the range as it was), or after
/// it (moved: the original address no longer maps that file offset).
fn absorb_own_change(
    addr: usize,
    page: usize,
    write: bool,
    generation: u64,
    guarded: bool,
) -> std::ffi::c_int {
    let me = sys::thread_token();
    if !watch::retiring_by(me) {
        return pass_on_if_current(page, generation, guarded);
    }
    let mask = sys::block_all_signals();
    let ours = sys::kernel_vma_in_handler(page)
        .filter(|vma| vma.ino != 0)
        .and_then(|vma| {
            let offset = vma.offset.wrapping_add((page - vma.start) as i64);
            watch::retired_by(me)
                .find(|view| {
                    let within = offset >= view.offset && offset - view.offset < view.len as i64;
                    let same_file = view.ino == 0 || (view.dev, view.ino) == (vma.dev, vma.ino);
                    view.tolerant
                        && view.shared() == vma.shared
                        && same_file
                        && within
                        && still_here_or_moved(view, offset, page, &vma)
                })
                .map(|view| (view, offset, vma.prot))
        });
    let Some((view, offset, prot)) = ours else {
        sys::restore_signals(mask);
        return pass_on_if_current(page, generation, guarded);
    };
    match replace_if_faulting(page, prot, write) {
        Replacement::Replaced => {
            watch::push_loss(page, offset);
            report_loss(addr, offset, &view);
            RUN_AGAIN
        }
        Replacement::NoLongerFaults => RUN_AGAIN,
        Replacement::Failed => {
            sys::restore_signals(mask);
            PASS_ON
        }
    }
}

/// Whether `page` (mapping `vma`, file `offset`) is `view`'s page: at its
/// own address, or moved away from it (its own address no longer maps that
/// file offset).
fn still_here_or_moved(view: &View, offset: i64, page: usize, vma: &sys::KernelVma) -> bool {
    let home = view.start + (offset - view.offset) as usize;
    home == page
        || !sys::kernel_vma_in_handler(home).is_some_and(|there| {
            (there.dev, there.ino) == (vma.dev, vma.ino)
                && there.offset.wrapping_add((home - there.start) as i64) == offset
        })
}

/// Checked mode: the report of a page replaced (from the handler).
fn report_loss(addr: usize, offset: i64, view: &View) {
    let mode = checked::mode_if_known();
    if mode == Mode::Off || checked::settings_if_read().is_none() {
        return;
    }
    let lost = Report::Lost {
        fault: addr,
        file_offset: offset as u64,
        start: view.start,
        len: view.len,
        created_at: where_of(view.creator),
    };
    report_from_handler(&lost);
    if mode == Mode::Abort {
        sys::abort();
    }
}

/// Checked mode, at the first file mapping: the fault handler goes in
/// front of the program's SIGBUS action, so that a touch of a page past the
/// end of a mapped file is reported (with where the mapping was made)
/// before the program's own action runs. Mapping past the end is no error
/// by itself (LMDB maps its whole map size over a smaller file on purpose);
/// touching such a page is.
pub fn watch_faults() {
    static WATCHING: AtomicBool = AtomicBool::new(false);
    if !WATCHING.load(Ordering::Relaxed) {
        prepare_reports();
        if ensure_fault_handler().is_ok() {
            watch::watch_files(&hold().registry);
            WATCHING.store(true, Ordering::Relaxed);
        }
    }
}

/// The fault handler's observer: a real SIGBUS at `addr` that is not a
/// guarded copy's, about to go to the program's own action. In checked
/// mode, when `addr` lies in a file mapping librmap made, reports the touch
/// past the end of the file. Runs in the signal handler: it reads no
/// environment, allocates nothing, and gives up rather than wait long for
/// a lock.
extern "C" fn bus_seen(addr: *mut c_void, write: std::ffi::c_int) {
    let mode = checked::mode_if_known();
    if mode == Mode::Off || checked::settings_if_read().is_none() {
        return;
    }
    let addr = addr as usize;
    let page = addr & !(sys::page_size() - 1);
    let Some(view) = watch::peek(page).filter(|view| !view.anonymous()) else {
        return;
    };
    let size = sys::mapped_file_size_in_handler(addr);
    let page_offset = view.offset_of(page) as u64;
    // A page at or past the file's end; else a write into a hole of the
    // file (at the faulting byte's block: blocks can be smaller than a
    // page) or on a full file system; else the page could not be read or
    // written.
    let no_space = || {
        write != 0
            && (sys::hole_in_file_at(addr, view.offset_of(addr)) == Some(true)
                || sys::no_space_for_file_at(addr))
    };
    let cause = match size {
        Some(size) if page_offset < size && no_space() => SigbusCause::NoSpace,
        Some(size) if page_offset < size => SigbusCause::IoError,
        None if no_space() => SigbusCause::NoSpace,
        _ => SigbusCause::PastEnd,
    };
    let raised = Report::Sigbus {
        cause,
        fault: addr,
        file_offset: view.offset_of(addr) as u64,
        start: view.start,
        len: view.len,
        created_at: where_of(view.creator),
        size,
    };
    report_from_handler(&raised);
    if mode == Mode::Abort {
        sys::abort();
    }
}

sys::run_at_load!(at_load);

/// At exit, in checked mode: one line per mapping still held, and still
/// held by the kernel (one unmapped behind librmap's back is no leak of
/// librmap's), unless `RMAP_CHECK_LEAKS=no`; with `RMAP_CHECK_SUMMARY=yes`
/// the summary line; with `RMAP_CHECK_ERROR_EXITCODE=N` and any report, the
/// exit status N. (Registered when the library loads, so it runs after the
/// program's own exit handlers.) Nothing here allocates: a process that
/// used up its address space, or `vm.max_map_count`, still exits with its
/// own status.
extern "C" fn at_exit() {
    if checked::mode() == Mode::Off {
        return;
    }
    let settings = checked::settings();
    let findings = last_reports(settings, false);
    if let Some(status) = settings.error_exitcode
        && findings.iter().any(|&n| n > 0)
    {
        sys::exit_now(status.into());
    }
}

/// In checked mode, when a fault is about to kill the process (from the
/// fault handler): the leaks and the summary it would have had at exit,
/// as valgrind gives a process a signal kills. Allocates nothing, and
/// lists no leaks when another thread keeps the registry locked.
extern "C" fn dying(_signal: std::ffi::c_int) {
    if checked::mode_if_known() == Mode::Off {
        return;
    }
    if let Some(settings) = checked::settings_if_read() {
        last_reports(settings, true);
    }
}

/// The leaks and the summary, once per process (a fault in an exit handler
/// after librmap's comes too late for a second list); returns the counts of
/// reports by kind.
fn last_reports(settings: checked::Settings, in_handler: bool) -> [u64; Finding::COUNT] {
    static DONE: AtomicBool = AtomicBool::new(false);
    let done = DONE.swap(true, Ordering::AcqRel);
    if settings.leaks && !done {
        report_leaks(in_handler);
    }
    let findings: [u64; Finding::COUNT] =
        std::array::from_fn(|i| PROCESS.findings[i].load(Ordering::Relaxed));
    let calls: [u64; Call::COUNT] =
        std::array::from_fn(|i| PROCESS.calls[i].load(Ordering::Relaxed));
    // rmap-check's own program (its child: RMAP_CHECK_PID names rmap-check)
    // always has its summary; the processes it starts (shells, helpers)
    // only when they made a call or a report, and so does a program's own
    // librmap.so beside rmap-check's preload (which holds a librmap of its
    // own and gets the program's calls).
    let quiet = calls.iter().chain(&findings).all(|&n| n == 0)
        && sys::env_now(c"RMAP_CHECK_PID", |pid| {
            pid.is_some_and(|pid| !is_decimal(pid, sys::parent_pid()) || !libc_names())
        });
    if settings.summary && !quiet && !done {
        let summary = Report::Summary {
            calls: &calls,
            findings: &findings,
        };
        if in_handler {
            report_from_handler(&summary);
        } else {
            report(&summary);
        }
    }
    findings
}

/// Whether `text` is `n` in decimal.
fn is_decimal(text: &[u8], n: u32) -> bool {
    let mut digits = [0u8; 10];
    let mut at = digits.len();
    let mut rest = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    text == &digits[at..]
}

/// One leak report per mapping still held, and still held by the kernel as
/// recorded. The registry is read under its lock in batches into a fixed
/// array, and each batch reported after letting go: naming where a mapping
/// was made asks the loader (`dladdr`), whose lock a `dlopen` in another
/// thread may hold while its constructor maps memory through librmap.
fn report_leaks(in_handler: bool) {
    const BATCH: usize = 32;
    let mut from = 0;
    loop {
        let mut batch = [(0, Entry::DEAD); BATCH];
        let mut found = 0;
        let mut more = false;
        {
            let held = if in_handler {
                // A thread stopped while holding it would never let go.
                match PROCESS.held.try_lock_spinning(10_000_000) {
                    Some(mut held) => {
                        // No allocation: its room was reserved.
                        held.settle();
                        held
                    }
                    None => return,
                }
            } else {
                hold()
            };
            for (start, entry) in held.registry.iter_from(from) {
                if found == BATCH {
                    more = true;
                    break;
                }
                from = start + 1;
                if kernel_holds(start, &entry, &held.losses, in_handler) {
                    batch[found] = (start, entry);
                    found += 1;
                }
            }
        }
        for &(start, entry) in &batch[..found] {
            let leak = Report::Leak {
                addr: start,
                len: entry.len,
                created_at: where_of(entry.creator),
            };
            if in_handler {
                report_from_handler(&leak);
            } else {
                report(&leak);
            }
        }
        if !more {
            return;
        }
    }
}

/// Whether the kernel holds `entry` at `start` as recorded: mapped
/// throughout, with its protection, sharing and (when known) file.
/// Costs system calls: checked mode only.
fn kernel_holds(start: usize, entry: &Entry, losses: &Losses, in_handler: bool) -> bool {
    let end = start + entry.len;
    let mut at = start;
    while at < end {
        let vma = if in_handler {
            sys::kernel_vma_in_handler(at)
        } else {
            sys::kernel_vma(at, false)
        };
        let Some(vma) = vma else {
            return false;
        };
        // A lost page of a tolerant mapping is the kernel's private
        // anonymous memory now, librmap's own doing.
        if entry.tolerant
            && !vma.shared
            && vma.ino == 0
            && losses.all_lost(at, vma.end.min(end) - at)
        {
            at = vma.end;
            continue;
        }
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

/// What checked mode finds of a range: every byte recorded and every
/// record it meets held by the kernel as recorded; a byte not recorded; or
/// a record the kernel no longer holds as recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ownership {
    Owned,
    NotRecorded,
    Stale,
}

/// Whether every byte of [start, start + len) lies in recorded mappings
/// (without asking the kernel).
pub fn ownership_of_records(registry: &mut Registry, start: usize, len: usize) -> Ownership {
    let end = start.saturating_add(len);
    let mut at = start;
    while at < end {
        match registry.find(at) {
            Some((record_start, record)) => at = record_start + record.len,
            None => return Ownership::NotRecorded,
        }
    }
    Ownership::Owned
}

/// Whether the kernel maps something in [start, start + len) outside the
/// records of `registry`: memory librmap did not map. Asks the kernel once
/// per hole in the records (checked mode's refusals only).
pub fn foreign_within(registry: &Registry, start: usize, len: usize) -> bool {
    let end = start.saturating_add(len);
    let mut at = start;
    while at < end {
        if let Some((record_start, record)) = registry.find(at) {
            at = record_start + record.len;
            continue;
        }
        // Not recorded: the kernel's next mapping from here.
        match sys::kernel_vma(at, true) {
            Some(vma) if vma.start <= at => return true,
            Some(vma) if vma.start < end => at = vma.start,
            _ => return false,
        }
    }
    false
}

/// Walks the records meeting [start, start + len) once, in place: each is
/// checked against the kernel over its whole extent (its first page may be
/// gone while the pages asked about are someone else's with the same
/// protection), and dropped when the kernel no longer holds it as recorded
/// (unmapped or replaced, even in part, behind librmap's back). The kernel
/// is asked only when something could have changed behind librmap's back
/// ([`sys::foreign_changes_possible`]): under rmap-check that is one
/// system call per unmap saved, 8% of a one-page map+unmap.
pub fn ownership(held: &mut Held, start: usize, len: usize) -> Ownership {
    let Held {
        registry, losses, ..
    } = held;
    let end = start.saturating_add(len);
    let mut at = start;
    let mut found = Ownership::Owned;
    while at < end {
        let Some((record_start, record)) = registry.find(at) else {
            return Ownership::NotRecorded;
        };
        if sys::foreign_changes_possible() && !kernel_holds(record_start, &record, losses, false) {
            registry.remove(record_start, record.len);
            found = Ownership::Stale;
        }
        at = record_start + record.len;
    }
    found
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
/// saying so in checked mode. Under the signal machinery's own lock (the
/// actions lock of sys/signal/handler.c), never the registry's: a copy
/// never waits for a mapping call.
#[cold]
pub fn recheck_fault_handler() -> Result<(), Errno> {
    let again = sys::reinstall_fault_handler_over_default()? > 0;
    if again && checked::mode() != Mode::Off {
        report(&Report::FaultHandler);
    }
    Ok(())
}

/// Installing happens under the signal machinery's own lock, which the
/// fork handlers hold across fork() (so a child never sees it half done)
/// and which makes a second installation a no-op.
#[cold]
#[inline(never)]
fn install_fault_handler_once() -> Result<(), Errno> {
    sys::install_fault_handler()?;
    FAULT_HANDLER_INSTALLED.store(true, Ordering::Release);
    Ok(())
}
