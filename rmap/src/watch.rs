//! What librmap's fault handler may know of librmap's mappings without a
//! lock, and what it hands back to the program.
//!
//! The handler shares no lock with the program (systemd's sigbus.c works
//! the same way: its handler only fills a lock-free queue that normal code
//! drains). Two structures sit between them:
//!
//! - **The table** of watched ranges: every tolerant range, and in checked
//!   mode every file mapping, each in a slot whose fields are atomics. A
//!   slot is FREE, LIVE or RETIRING, with a generation that every change of
//!   phase bumps and a CLAIMED bit. Its fields are written only while it is
//!   not LIVE, by librmap calls holding the registry lock.
//! - **The ring** of pages the handler replaced (page, file offset), which
//!   the next librmap call that needs them folds into [`Losses`] under the
//!   registry lock.
//!
//! The protocol:
//! - The handler finds the LIVE slot covering the faulting page and claims
//!   it with one compare-exchange of its whole state (so the fields it then
//!   reads are the ones published). One handler at a time holds a slot;
//!   another that finds it claimed lets its access run again, to fault
//!   again once the first is done. A handler never waits.
//! - A librmap call about to unmap, move, replace or re-protect a watched
//!   range first retires the slots that meet it (RETIRING, naming its
//!   thread), waiting for a claim to be released (a handler holds one for a
//!   few system calls); then it makes its system call, updates the
//!   registry, folds the ring, frees the retired slots and publishes the
//!   range again from the registry.
//! - A fault on a slot another thread is retiring runs the access again
//!   (the change finishes soon). A fault on one the faulting thread itself
//!   is retiring (an asynchronous signal handler interrupted the change) is
//!   decided by the kernel's own view of the page (process.rs).

use std::ptr::null_mut;
use std::sync::atomic::{
    AtomicBool, AtomicI32, AtomicI64, AtomicPtr, AtomicU64, AtomicUsize, Ordering,
};

use crate::registry::{Entry, Registry};
use crate::sys::{
    self, ENOMEM, Errno, MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED, PROT_READ, PROT_WRITE,
};

/// A watched range, as a slot holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct View {
    pub start: usize,
    pub len: usize,
    /// File offset of `start`.
    pub offset: i64,
    pub prot: i32,
    pub flags: i32,
    /// The file's identity; 0 when not known yet.
    pub dev: u64,
    pub ino: u64,
    /// Where the mapping was made (checked mode), else 0.
    pub creator: usize,
    pub tolerant: bool,
}

impl View {
    /// The part of the registry's `entry` at `start` that lies in [from, to).
    fn of(start: usize, entry: &Entry, from: usize, to: usize) -> View {
        let a = start.max(from);
        let b = (start + entry.len).min(to);
        View {
            start: a,
            len: b - a,
            offset: entry.offset.wrapping_add((a - start) as i64),
            prot: entry.prot,
            flags: entry.flags,
            dev: entry.dev,
            ino: entry.ino,
            creator: entry.creator,
            tolerant: entry.tolerant,
        }
    }

    /// The file offset `addr` stands for.
    pub fn offset_of(&self, addr: usize) -> i64 {
        self.offset.wrapping_add((addr - self.start) as i64)
    }

    pub fn shared(&self) -> bool {
        self.flags & MAP_SHARED != 0
    }

    pub fn anonymous(&self) -> bool {
        self.flags & MAP_ANONYMOUS != 0
    }
}

const PHASE: u64 = 0b11;
const FREE: u64 = 0;
const LIVE: u64 = 1;
const RETIRING: u64 = 2;
const CLAIMED: u64 = 0b100;
/// The generation counts from bit 8 up.
const GENERATION: u64 = 1 << 8;

/// A slot: all zeros is a valid FREE slot (chunks come from anonymous
/// memory).
struct Slot {
    state: AtomicU64,
    /// The thread retiring it (while RETIRING): its `sys::thread_token`.
    retirer: AtomicUsize,
    prot: AtomicI32,
    flags: AtomicI32,
    tolerant: AtomicBool,
    start: AtomicUsize,
    len: AtomicUsize,
    offset: AtomicI64,
    dev: AtomicU64,
    ino: AtomicU64,
    creator: AtomicUsize,
}

impl Slot {
    fn view(&self) -> View {
        View {
            start: self.start.load(Ordering::Relaxed),
            len: self.len.load(Ordering::Relaxed),
            offset: self.offset.load(Ordering::Relaxed),
            prot: self.prot.load(Ordering::Relaxed),
            flags: self.flags.load(Ordering::Relaxed),
            dev: self.dev.load(Ordering::Relaxed),
            ino: self.ino.load(Ordering::Relaxed),
            creator: self.creator.load(Ordering::Relaxed),
            tolerant: self.tolerant.load(Ordering::Relaxed),
        }
    }

    fn covers(&self, addr: usize) -> bool {
        let start = self.start.load(Ordering::Relaxed);
        addr >= start && addr - start < self.len.load(Ordering::Relaxed)
    }

    fn meets(&self, start: usize, end: usize) -> bool {
        let a = self.start.load(Ordering::Relaxed);
        a < end && a + self.len.load(Ordering::Relaxed) > start
    }
}

/// Slots live in chunks of anonymous memory, allocated as needed and never
/// freed (a handler may be reading one).
const CHUNK: usize = 1024;
const CHUNKS: usize = 256;
// At most CHUNK * CHUNKS (262,144) ranges are watched at once.

static CHUNK_AT: [AtomicPtr<Slot>; CHUNKS] = [const { AtomicPtr::new(null_mut()) }; CHUNKS];
/// Slots ever used: the handler looks at these only (their chunks exist).
static USED: AtomicUsize = AtomicUsize::new(0);
/// LIVE and RETIRING slots, and slots in allocated chunks; written by the
/// registry lock's holder only.
static LIVE_SLOTS: AtomicUsize = AtomicUsize::new(0);
static RETIRING_SLOTS: AtomicUsize = AtomicUsize::new(0);
static ALLOCATED_SLOTS: AtomicUsize = AtomicUsize::new(0);
/// An address range holding every live slot (it grows as slots are
/// published, and starts again when none is live): a change outside it
/// meets no slot, tested in two compares.
static SPAN_LO: AtomicUsize = AtomicUsize::new(usize::MAX);
static SPAN_HI: AtomicUsize = AtomicUsize::new(0);
/// Whether checked mode watches every file mapping (to report a touch past
/// the end of its file with where it was made).
static WATCH_FILES: AtomicBool = AtomicBool::new(false);
/// Counts the slots ever published or retired: a handler that sees it
/// unchanged from its start to its decision decided on one state of the
/// table.
static GENERATION_OF_TABLE: AtomicU64 = AtomicU64::new(0);
/// Where the next search for a free slot starts (registry lock's holder).
static FREE_HINT: AtomicUsize = AtomicUsize::new(0);

fn slot(i: usize) -> &'static Slot {
    let chunk = CHUNK_AT[i / CHUNK].load(Ordering::Acquire);
    debug_assert!(!chunk.is_null());
    // SAFETY: slot i < USED, whose chunk was stored (Release) before USED
    // grew past i, and chunks are never freed; a zeroed Slot is valid.
    unsafe { &*chunk.add(i % CHUNK) }
}

fn used() -> usize {
    USED.load(Ordering::Acquire)
}

// ---- the handler's side ----

/// What the table says of a faulting page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Found {
    /// No watched range covers it.
    Nothing,
    /// A LIVE slot covers it: claim it with its state as read.
    Live(usize, u64),
    /// Another handler holds the slot, or another thread is changing the
    /// range: the access should run again.
    Busy,
    /// The calling thread itself is changing the range (its handler
    /// interrupted a librmap call).
    Own,
}

/// The slot covering `page` (async-signal-safe: loads only, and `gettid`
/// when a retiring slot covers it).
pub fn find(page: usize) -> Found {
    for i in 0..used() {
        let s = slot(i);
        let state = s.state.load(Ordering::Acquire);
        let phase = state & PHASE;
        if phase == FREE || !s.covers(page) {
            continue;
        }
        return match phase {
            LIVE if state & CLAIMED == 0 => Found::Live(i, state),
            LIVE => Found::Busy,
            _ if s.retirer.load(Ordering::Relaxed) == sys::thread_token() => Found::Own,
            _ => Found::Busy,
        };
    }
    Found::Nothing
}

/// One more change of the table (the registry lock's holder only: a plain
/// store, which handlers read with Acquire).
fn bump_generation() {
    let next = GENERATION_OF_TABLE.load(Ordering::Relaxed).wrapping_add(1);
    GENERATION_OF_TABLE.store(next, Ordering::Release);
}

/// How many times a range was published or retired so far.
pub fn generation() -> u64 {
    GENERATION_OF_TABLE.load(Ordering::Acquire)
}

/// Claims slot `i` if its state is still `state`; then its fields are
/// stable until [`release`].
pub fn claim(i: usize, state: u64) -> Option<View> {
    let s = slot(i);
    s.state
        .compare_exchange(state, state | CLAIMED, Ordering::Acquire, Ordering::Relaxed)
        .ok()?;
    Some(s.view())
}

/// Records the file's identity in a claimed slot (learnt from the kernel).
pub fn learn_identity(i: usize, dev: u64, ino: u64) {
    let s = slot(i);
    s.dev.store(dev, Ordering::Relaxed);
    s.ino.store(ino, Ordering::Relaxed);
}

pub fn release(i: usize) {
    slot(i).state.fetch_and(!CLAIMED, Ordering::Release);
}

/// Whether the calling thread (`me`) is retiring any slot.
pub fn retiring_by(me: usize) -> bool {
    (0..used()).any(|i| {
        let s = slot(i);
        s.state.load(Ordering::Acquire) & PHASE == RETIRING
            && s.retirer.load(Ordering::Relaxed) == me
    })
}

/// The ranges the calling thread (`me`) is retiring.
pub fn retired_by(me: usize) -> impl Iterator<Item = View> {
    (0..used()).filter_map(move |i| {
        let s = slot(i);
        (s.state.load(Ordering::Acquire) & PHASE == RETIRING
            && s.retirer.load(Ordering::Relaxed) == me)
            .then(|| s.view())
    })
}

/// The watched range covering `page`, read without a claim (for a report:
/// its fields may be torn by a concurrent change).
pub fn peek(page: usize) -> Option<View> {
    (0..used()).find_map(|i| {
        let s = slot(i);
        (s.state.load(Ordering::Acquire) & PHASE != FREE && s.covers(page)).then(|| s.view())
    })
}

// ---- the ring of losses ----

/// Pages replaced and not folded yet: beyond this, a loss is still
/// absorbed, and the overflow makes every tolerant mapping count as damaged.
const RING: usize = 4096;

/// A cell of the ring (Vyukov's bounded queue). `seq` is stored relative to
/// the cell's index, so that all zeros is the empty ring.
struct RingCell {
    seq: AtomicUsize,
    page: AtomicUsize,
    offset: AtomicI64,
}

static CELLS: [RingCell; RING] = [const {
    RingCell {
        seq: AtomicUsize::new(0),
        page: AtomicUsize::new(0),
        offset: AtomicI64::new(0),
    }
}; RING];
static TAIL: AtomicUsize = AtomicUsize::new(0);
/// Read and written by the registry lock's holder only.
static HEAD: AtomicUsize = AtomicUsize::new(0);
static RING_OVERFLOW: AtomicBool = AtomicBool::new(false);
/// Whether any page was ever lost: the calls that look for losses cost
/// nothing in a process that never had one.
static SOME_LOSS: AtomicBool = AtomicBool::new(false);

#[inline(always)]
pub fn some_loss() -> bool {
    SOME_LOSS.load(Ordering::Relaxed)
}

/// Hands a replaced page to the program (from the handler: lock-free, and
/// a handler interrupting another's push is fine).
pub fn push_loss(page: usize, offset: i64) {
    SOME_LOSS.store(true, Ordering::Relaxed);
    let mut pos = TAIL.load(Ordering::Relaxed);
    loop {
        let i = pos % RING;
        let cell = &CELLS[i];
        let seq = cell.seq.load(Ordering::Acquire).wrapping_add(i);
        match seq.wrapping_sub(pos) as isize {
            0 => match TAIL.compare_exchange_weak(
                pos,
                pos.wrapping_add(1),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    cell.page.store(page, Ordering::Relaxed);
                    cell.offset.store(offset, Ordering::Relaxed);
                    cell.seq
                        .store(pos.wrapping_add(1).wrapping_sub(i), Ordering::Release);
                    return;
                }
                Err(now) => pos = now,
            },
            d if d < 0 => {
                RING_OVERFLOW.store(true, Ordering::Relaxed);
                return;
            }
            _ => pos = TAIL.load(Ordering::Relaxed),
        }
    }
}

/// Takes every loss the handler finished pushing, in order (registry
/// lock's holder only). One still being pushed, and those after it, wait
/// for the next drain.
fn drain(mut take: impl FnMut(usize, i64)) {
    let mut pos = HEAD.load(Ordering::Relaxed);
    loop {
        let i = pos % RING;
        let cell = &CELLS[i];
        let seq = cell.seq.load(Ordering::Acquire).wrapping_add(i);
        if seq != pos.wrapping_add(1) {
            break;
        }
        take(
            cell.page.load(Ordering::Relaxed),
            cell.offset.load(Ordering::Relaxed),
        );
        cell.seq
            .store(pos.wrapping_add(RING).wrapping_sub(i), Ordering::Release);
        pos = pos.wrapping_add(1);
    }
    HEAD.store(pos, Ordering::Relaxed);
}

// ---- the losses, folded ----

/// The pages of tolerant mappings that raised SIGBUS and were replaced by
/// zero-filled private memory: each page's address and the file offset it
/// stood for, in the order they were folded. A fixed table; beyond its
/// capacity `overflowed` makes every tolerant mapping count as damaged.
pub struct Losses {
    pages: [(usize, i64); Losses::CAPACITY],
    len: usize,
    pub overflowed: bool,
}

/// A move of [old, old + old_len) to [new, new + new_len) (`mremap`).
#[derive(Clone, Copy, Debug)]
pub struct Moved {
    pub old: usize,
    pub old_len: usize,
    pub new: usize,
    pub new_len: usize,
}

impl Moved {
    fn apply(&self, page: usize) -> Option<usize> {
        if page < self.old || page - self.old >= self.old_len {
            return Some(page);
        }
        (page - self.old < self.new_len).then(|| self.new + (page - self.old))
    }
}

impl Losses {
    pub const CAPACITY: usize = 16_384;

    pub const fn new() -> Losses {
        Losses {
            pages: [(0, 0); Losses::CAPACITY],
            len: 0,
            overflowed: false,
        }
    }

    fn add(&mut self, page: usize, offset: i64) {
        if self.within(page, 1).next().is_some() {
            return;
        }
        if self.len < Losses::CAPACITY {
            self.pages[self.len] = (page, offset);
            self.len += 1;
        } else {
            self.overflowed = true;
        }
    }

    /// Folds what the handler pushed. A page no mapping of the registry
    /// holds any more was unmapped since (its loss went with it); `moved`
    /// is the move of the call folding, for a page replaced at its old
    /// address while the call ran (its handler interrupted the call).
    #[inline]
    pub fn fold(&mut self, registry: &Registry, moved: Option<Moved>) {
        if some_loss() {
            self.fold_slow(registry, moved);
        }
    }

    #[cold]
    fn fold_slow(&mut self, registry: &Registry, moved: Option<Moved>) {
        drain(|page, offset| {
            let page = match moved {
                Some(moved) => moved.apply(page),
                None => Some(page),
            };
            if let Some(page) = page.filter(|&page| registry.find(page).is_some()) {
                self.add(page, offset);
            }
        });
        if RING_OVERFLOW.swap(false, Ordering::Relaxed) {
            self.overflowed = true;
        }
    }

    /// The lost pages in [start, start + len), in the order they were lost.
    pub fn within(&self, start: usize, len: usize) -> impl Iterator<Item = (usize, i64)> + '_ {
        self.pages[..self.len]
            .iter()
            .copied()
            .filter(move |&(page, _)| page >= start && page - start < len)
    }

    /// Forgets the lost pages of [start, start + len) (unmapped, or mapped
    /// over); with `moved_to`, moves them to the same place of a range
    /// starting there instead (`mremap`), keeping those below `new_len`.
    pub fn forget(&mut self, start: usize, len: usize, moved_to: Option<(usize, usize)>) {
        let mut kept = 0;
        for i in 0..self.len {
            let (page, offset) = self.pages[i];
            let inside = page >= start && page - start < len;
            let moved = match (inside, moved_to) {
                (false, _) => Some(page),
                (true, Some((to, new_len))) if page - start < new_len => Some(to + (page - start)),
                (true, _) => None,
            };
            if let Some(page) = moved {
                self.pages[kept] = (page, offset);
                kept += 1;
            }
        }
        self.len = kept;
    }

    /// Whether every page of [start, start + len) is a lost page.
    pub fn all_lost(&self, start: usize, len: usize) -> bool {
        let page = sys::page_size();
        (start..start + len)
            .step_by(page)
            .all(|at| self.within(at, page).next().is_some())
    }

    /// Whether [start, start + len) holds a lost page (or could: overflowed).
    pub fn any_within(&self, start: usize, len: usize) -> bool {
        self.overflowed || self.within(start, len).next().is_some()
    }
}

// ---- the writers' side (the registry lock's holder) ----

/// Whether a registry entry is watched: tolerant, or (checked mode) a file
/// mapping.
fn watched(entry: &Entry) -> bool {
    entry.tolerant || (entry.flags & MAP_ANONYMOUS == 0 && WATCH_FILES.load(Ordering::Relaxed))
}

/// Whether every file mapping is watched (checked mode).
#[inline(always)]
pub fn files_watched() -> bool {
    WATCH_FILES.load(Ordering::Relaxed)
}

/// Whether any range is watched, or may become so with the next mapping:
/// while not, changes of mappings skip the table altogether.
#[inline(always)]
pub fn wanted() -> bool {
    LIVE_SLOTS.load(Ordering::Relaxed) > 0 || WATCH_FILES.load(Ordering::Relaxed)
}

/// Checked mode: from now on every file mapping is watched. Publishes the
/// file mappings already in `registry`.
pub fn watch_files(registry: &Registry) {
    if WATCH_FILES.swap(true, Ordering::AcqRel) {
        return;
    }
    let _ = retire_meeting(0, usize::MAX);
    let _ = publish_range(registry, 0, usize::MAX);
    free_retired();
}

/// Slots free or still to be used, without allocating.
fn free_slots_without_growth() -> usize {
    ALLOCATED_SLOTS.load(Ordering::Relaxed)
        - LIVE_SLOTS.load(Ordering::Relaxed)
        - RETIRING_SLOTS.load(Ordering::Relaxed)
}

/// Makes sure `n` slots can be published without allocating (before a
/// system call whose result must be published): ENOMEM when the table is
/// full or its memory cannot be had.
pub fn reserve(n: usize) -> Result<(), Errno> {
    while free_slots_without_growth() < n {
        let chunks = ALLOCATED_SLOTS.load(Ordering::Relaxed) / CHUNK;
        if chunks == CHUNKS {
            return Err(Errno(ENOMEM));
        }
        let bytes = CHUNK * std::mem::size_of::<Slot>();
        // SAFETY: a fresh private anonymous mapping; zeros are valid slots.
        let memory = unsafe {
            sys::mmap(
                null_mut(),
                bytes,
                PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS,
                -1,
                0,
            )
        }?;
        CHUNK_AT[chunks].store(memory.cast(), Ordering::Release);
        ALLOCATED_SLOTS.store((chunks + 1) * CHUNK, Ordering::Relaxed);
    }
    Ok(())
}

/// A free slot, made usable (its chunk exists: see [`reserve`]).
fn take_free_slot() -> Result<usize, Errno> {
    let used = used();
    let hint = FREE_HINT.load(Ordering::Relaxed).min(used);
    if let Some(i) = (hint..used)
        .chain(0..hint)
        .find(|&i| slot(i).state.load(Ordering::Relaxed) & PHASE == FREE)
    {
        FREE_HINT.store(i + 1, Ordering::Relaxed);
        return Ok(i);
    }
    reserve(1)?;
    USED.store(used + 1, Ordering::Release);
    FREE_HINT.store(used + 1, Ordering::Relaxed);
    Ok(used)
}

/// Publishes `view` in a free slot: its index. Called directly for a
/// range no live slot meets, made tolerant as a whole (the pending mapping
/// of `process`, which is in no registry table yet): the index is then
/// kept for [`retire_slot`].
pub fn publish(view: View) -> Result<usize, Errno> {
    let i = take_free_slot()?;
    let s = slot(i);
    s.start.store(view.start, Ordering::Relaxed);
    s.len.store(view.len, Ordering::Relaxed);
    s.offset.store(view.offset, Ordering::Relaxed);
    s.prot.store(view.prot, Ordering::Relaxed);
    s.flags.store(view.flags, Ordering::Relaxed);
    s.dev.store(view.dev, Ordering::Relaxed);
    s.ino.store(view.ino, Ordering::Relaxed);
    s.creator.store(view.creator, Ordering::Relaxed);
    s.tolerant.store(view.tolerant, Ordering::Relaxed);
    let state = s.state.load(Ordering::Relaxed);
    s.state.store(
        (state.wrapping_add(GENERATION) & !(PHASE | CLAIMED)) | LIVE,
        Ordering::Release,
    );
    // Counters the registry lock's holder alone writes: no locked
    // instruction (each costs ~20 ns after a system call here).
    let live = LIVE_SLOTS.load(Ordering::Relaxed);
    let (lo, hi) = match live {
        0 => (usize::MAX, 0),
        _ => (
            SPAN_LO.load(Ordering::Relaxed),
            SPAN_HI.load(Ordering::Relaxed),
        ),
    };
    LIVE_SLOTS.store(live + 1, Ordering::Relaxed);
    SPAN_LO.store(lo.min(view.start), Ordering::Relaxed);
    SPAN_HI.store(hi.max(view.start + view.len), Ordering::Relaxed);
    bump_generation();
    Ok(i)
}

/// Publishes the watched entries of `registry` meeting [from, to), each
/// clipped to it. ENOMEM (the table full) leaves a range unwatched.
fn publish_range(registry: &Registry, from: usize, to: usize) -> Result<(), Errno> {
    let mut result = Ok(());
    registry.each_meeting(from, to - from, |start, entry| {
        if watched(&entry) {
            result = result.and(publish(View::of(start, &entry, from, to)).map(drop));
        }
    });
    result
}

/// Retires every LIVE slot meeting [start, end), waiting while a handler
/// holds one; returns the union of their extents.
fn retire_meeting(start: usize, end: usize) -> Option<(usize, usize)> {
    let me = sys::thread_token();
    let mut extent: Option<(usize, usize)> = None;
    for i in 0..used() {
        if let Some((a, b)) = retire(slot(i), me, |s| s.meets(start, end)) {
            extent = Some(match extent {
                Some((lo, hi)) => (lo.min(a), hi.max(b)),
                None => (a, b),
            });
        }
    }
    extent
}

/// Retires slot `i`, LIVE (from [`publish`]): a fault there now runs
/// its access again. Then [`free_retired`], or [`undo_retire`].
pub fn retire_slot(i: usize) {
    let retired = retire(slot(i), sys::thread_token(), |_| true);
    debug_assert!(retired.is_some());
}

/// Retires `s` for thread `me` if it is LIVE and `meets` it, waiting while
/// a handler holds it: its extent.
fn retire(s: &Slot, me: usize, meets: impl Fn(&Slot) -> bool) -> Option<(usize, usize)> {
    loop {
        let state = s.state.load(Ordering::Acquire);
        if state & PHASE != LIVE || !meets(s) {
            return None;
        }
        if state & CLAIMED != 0 {
            // A handler is absorbing a fault there: a few system calls.
            std::thread::yield_now();
            continue;
        }
        s.retirer.store(me, Ordering::Relaxed);
        let retiring = (state.wrapping_add(GENERATION) & !PHASE) | RETIRING;
        if s.state
            .compare_exchange(state, retiring, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            LIVE_SLOTS.store(LIVE_SLOTS.load(Ordering::Relaxed) - 1, Ordering::Relaxed);
            RETIRING_SLOTS.store(
                RETIRING_SLOTS.load(Ordering::Relaxed) + 1,
                Ordering::Relaxed,
            );
            bump_generation();
            let a = s.start.load(Ordering::Relaxed);
            return Some((a, a + s.len.load(Ordering::Relaxed)));
        }
    }
}

/// Frees the slots the calling thread retired.
pub fn free_retired() {
    if RETIRING_SLOTS.load(Ordering::Relaxed) == 0 {
        return;
    }
    let me = sys::thread_token();
    // The span of what stays live, measured again on the way.
    let (mut lo, mut hi) = (usize::MAX, 0);
    for i in 0..used() {
        let s = slot(i);
        let state = s.state.load(Ordering::Relaxed);
        if state & PHASE == RETIRING && s.retirer.load(Ordering::Relaxed) == me {
            s.state.store(
                (state.wrapping_add(GENERATION) & !PHASE) | FREE,
                Ordering::Release,
            );
            RETIRING_SLOTS.store(
                RETIRING_SLOTS.load(Ordering::Relaxed) - 1,
                Ordering::Relaxed,
            );
            FREE_HINT.store(FREE_HINT.load(Ordering::Relaxed).min(i), Ordering::Relaxed);
        } else if state & PHASE != FREE {
            let start = s.start.load(Ordering::Relaxed);
            lo = lo.min(start);
            hi = hi.max(start + s.len.load(Ordering::Relaxed));
        }
    }
    SPAN_LO.store(lo, Ordering::Relaxed);
    SPAN_HI.store(hi, Ordering::Relaxed);
}

/// A change of mappings under way (between [`before_change`] and
/// [`after_change`]): the extent of the slots retired.
#[must_use]
pub struct Change {
    retired: Option<(usize, usize)>,
    /// The call makes ranges watched (`rmap_tolerate`): publish after it
    /// even though nothing was retired.
    publish: bool,
}

/// Before a system call that may unmap, replace, move or re-protect
/// [start, start + len): retires the slots meeting it (a fault there now
/// waits by running its access again), folds what the handler pushed, and
/// makes sure the range can be published again afterwards (ENOMEM, the
/// table full: nothing was changed). Costs one load while nothing is
/// watched.
#[inline(always)]
pub fn before_change(
    registry: &Registry,
    losses: &mut Losses,
    ranges: &[(usize, usize)],
) -> Result<Change, Errno> {
    if !wanted() {
        return Ok(Change {
            retired: None,
            publish: false,
        });
    }
    if !meets_live_slots(ranges) {
        // No live slot there: nothing to retire.
        return Ok(Change {
            retired: None,
            publish: false,
        });
    }
    before_change_slow(registry, losses, ranges)
}

/// Whether a watched entry of `registry` meets one of `ranges`.
#[inline]
fn any_watched(registry: &Registry, ranges: &[(usize, usize)]) -> bool {
    let mut found = false;
    for &(start, len) in ranges {
        if len > 0 {
            registry.each_meeting(start, len, |_, entry| found |= watched(&entry));
        }
    }
    found
}

/// [`before_change`] for a call that makes a range watched
/// (`rmap_tolerate`): it always makes room for it first.
pub fn before_publishing(
    registry: &Registry,
    losses: &mut Losses,
    ranges: &[(usize, usize)],
) -> Result<Change, Errno> {
    if !meets_live_slots(ranges) {
        // Nothing there is watched yet: only room for the new slots.
        reserve(ranges.len())?;
        return Ok(Change {
            retired: None,
            publish: true,
        });
    }
    Ok(Change {
        publish: true,
        ..before_change_slow(registry, losses, ranges)?
    })
}

/// Whether one of `ranges` may meet a live slot (the slots' span).
#[inline(always)]
pub fn meets_live_slots(ranges: &[(usize, usize)]) -> bool {
    if LIVE_SLOTS.load(Ordering::Relaxed) == 0 {
        return false;
    }
    let (lo, hi) = (
        SPAN_LO.load(Ordering::Relaxed),
        SPAN_HI.load(Ordering::Relaxed),
    );
    ranges
        .iter()
        .any(|&(start, len)| start < hi && start.saturating_add(len) > lo)
}

#[cold]
#[inline(never)]
fn before_change_slow(
    registry: &Registry,
    losses: &mut Losses,
    ranges: &[(usize, usize)],
) -> Result<Change, Errno> {
    let mut retired = None;
    let mut count = 0;
    for &(start, len) in ranges {
        if let Some((a, b)) = retire_meeting(start, start.saturating_add(len)) {
            retired = Some(match retired {
                Some((lo, hi)) => (a.min(lo), b.max(hi)),
                None => (a, b),
            });
            count += 1;
        }
    }
    losses.fold(registry, None);
    // A range splits into at most three pieces per range changed.
    if let Err(error) = reserve(count + 3 * ranges.len()) {
        undo_retire(registry, retired);
        return Err(error);
    }
    Ok(Change {
        retired,
        publish: false,
    })
}

/// Publishes again what a refused change retired: the watched entries of
/// `registry` in [lo, hi).
#[cold]
pub fn undo_retire(registry: &Registry, retired: Option<(usize, usize)>) {
    if let Some((lo, hi)) = retired {
        let _ = publish_range(registry, lo, hi);
    }
    free_retired();
}

/// After the system call and the registry's update: folds what the
/// handler pushed meanwhile (`moved`: the call's move), frees the retired
/// slots and publishes again the watched entries meeting the retired
/// extent and `touched` (the ranges whose entries the call changed).
/// Costs one test when the call met no watched range and made none
/// (`new_file_mapping`: a mapping call made one, which checked mode may
/// watch): a range nothing watched met cannot turn watched by an unmap,
/// protect or remap.
#[inline(always)]
pub fn after_change(
    registry: &Registry,
    losses: &mut Losses,
    change: Change,
    touched: &[(usize, usize)],
    moved: Option<Moved>,
    new_file_mapping: bool,
) {
    if change.retired.is_some()
        || change.publish
        || (new_file_mapping
            && WATCH_FILES.load(Ordering::Relaxed)
            && any_watched(registry, touched))
    {
        after_change_slow(registry, losses, change, touched, moved);
    }
}

/// [`after_change`] for an unmap of [start, start + len): when the slots it
/// retired lay wholly inside the range, nothing is left to publish (the
/// common case: a tolerant mapping unmapped whole).
#[inline(always)]
pub fn after_unmap(
    registry: &Registry,
    losses: &mut Losses,
    change: Change,
    start: usize,
    len: usize,
) {
    match change.retired {
        None => {}
        Some((lo, hi)) if lo >= start && hi <= start.saturating_add(len) => {
            losses.fold(registry, None);
            free_retired();
        }
        Some(_) => after_change_slow(registry, losses, change, &[(start, len)], None),
    }
}

#[cold]
#[inline(never)]
fn after_change_slow(
    registry: &Registry,
    losses: &mut Losses,
    change: Change,
    touched: &[(usize, usize)],
    moved: Option<Moved>,
) {
    losses.fold(registry, moved);
    // The slots partition what is watched: every live slot meeting the
    // retired extent or a touched range was retired, so publishing the
    // watched entries there, each clipped to that union, keeps the
    // partition (an entry the call merged past it keeps its other slot,
    // with the same attributes).
    let mut extent = change.retired;
    for &(start, len) in touched {
        let end = start.saturating_add(len);
        if start < end {
            extent = Some(match extent {
                Some((lo, hi)) => (start.min(lo), end.max(hi)),
                None => (start, end),
            });
        }
    }
    if let Some((lo, hi)) = extent {
        let _ = publish_range(registry, lo, hi);
    }
    // Only now: until the new slots are live, a fault in the range finds a
    // retiring one (and runs its access again), never none.
    free_retired();
}

/// In the child of fork (one thread): no handler holds a slot and no push
/// is half done, so the table and ring start again from the registry.
pub fn after_fork_in_child(registry: &Registry, losses: &mut Losses) {
    for i in 0..used() {
        slot(i).state.fetch_and(!CLAIMED, Ordering::Relaxed);
    }
    losses.fold(registry, None);
    // A push another thread had begun never ends here: start the ring over.
    for cell in &CELLS {
        cell.seq.store(0, Ordering::Relaxed);
    }
    TAIL.store(0, Ordering::Relaxed);
    HEAD.store(0, Ordering::Relaxed);
    let _ = retire_meeting(0, usize::MAX);
    let _ = publish_range(registry, 0, usize::MAX);
    free_retired();
}

/// Ranges watched now (for tests).
#[cfg(test)]
fn live_views() -> Vec<View> {
    (0..used())
        .filter(|&i| slot(i).state.load(Ordering::Relaxed) & PHASE == LIVE)
        .map(|i| slot(i).view())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: usize = 4096;

    fn tolerant(len: usize, offset: i64) -> Entry {
        Entry {
            len,
            prot: PROT_READ,
            flags: MAP_SHARED,
            dev: 0,
            ino: 0,
            offset,
            creator: 0,
            dont_fork: false,
            tolerant: true,
            sealed: false,
            origin: 1,
            whole: true,
        }
    }

    // One test: the table is process-wide.
    #[test]
    fn the_table_follows_the_registry_and_the_ring_folds_in_order() {
        let mut registry = Registry::new();
        let mut losses = Losses::new();
        let base = 0x7000_0000_0000;
        // Publish a tolerant entry (as rmap_tolerate does: before_change
        // alone skips the table while nothing is watched).
        registry.insert(base, tolerant(8 * P, 0));
        let skipped = before_change(&registry, &mut losses, &[(base, 8 * P)]).unwrap();
        after_change(
            &registry,
            &mut losses,
            skipped,
            &[(base, 8 * P)],
            None,
            false,
        );
        assert!(live_views().is_empty());
        let change = before_publishing(&registry, &mut losses, &[(base, 8 * P)]).unwrap();
        after_change(
            &registry,
            &mut losses,
            change,
            &[(base, 8 * P)],
            None,
            false,
        );
        assert_eq!(live_views().len(), 1);
        let Found::Live(i, state) = find(base + 3 * P) else {
            panic!("not found live")
        };
        // A second claim of the same state fails while the first holds it.
        let view = claim(i, state).unwrap();
        assert_eq!(view.offset_of(base + 3 * P), 3 * P as i64);
        assert_eq!(find(base + 3 * P), Found::Busy);
        assert!(claim(i, state).is_none());
        release(i);
        assert!(matches!(find(base + 3 * P), Found::Live(..)));
        assert_eq!(find(base + 8 * P), Found::Nothing);

        // Re-protect the middle: three pieces, the middle one read-write.
        let change = before_change(&registry, &mut losses, &[(base + 2 * P, 2 * P)]).unwrap();
        // While retired, this thread's own fault is told apart.
        assert_eq!(find(base + 2 * P), Found::Own);
        registry.update(base + 2 * P, 2 * P, |e| e.prot = PROT_READ | PROT_WRITE);
        after_change(
            &registry,
            &mut losses,
            change,
            &[(base + 2 * P, 2 * P)],
            None,
            false,
        );
        let mut views = live_views();
        views.sort_by_key(|v| v.start);
        let shape: Vec<_> = views
            .iter()
            .map(|v| (v.start - base, v.len, v.prot))
            .collect();
        assert_eq!(
            shape,
            vec![
                (0, 2 * P, PROT_READ),
                (2 * P, 2 * P, PROT_READ | PROT_WRITE),
                (4 * P, 4 * P, PROT_READ)
            ]
        );
        assert_eq!(views[2].offset, 4 * P as i64);

        // Losses pushed by handlers fold in order; a page unmapped since is dropped.
        push_loss(base + 5 * P, 5 * P as i64);
        push_loss(base + 9 * P, 9 * P as i64);
        push_loss(base + P, P as i64);
        losses.fold(&registry, None);
        let folded: Vec<_> = losses.within(base, 16 * P).collect();
        assert_eq!(
            folded,
            vec![(base + 5 * P, 5 * P as i64), (base + P, P as i64)]
        );

        // A move carries a loss pushed at the old address along.
        push_loss(base + 6 * P, 6 * P as i64);
        let moved = Moved {
            old: base + 4 * P,
            old_len: 4 * P,
            new: base + 100 * P,
            new_len: 4 * P,
        };
        registry.remove(base + 4 * P, 4 * P);
        registry.insert(base + 100 * P, tolerant(4 * P, 4 * P as i64));
        losses.fold(&registry, Some(moved));
        assert!(losses.within(base + 102 * P, P).next().is_some());

        // Unmap all: nothing stays watched.
        let all = [(base, 8 * P), (base + 100 * P, 4 * P)];
        let change = before_change(&registry, &mut losses, &all).unwrap();
        registry.remove(base, 8 * P);
        registry.remove(base + 100 * P, 4 * P);
        after_change(&registry, &mut losses, change, &all, None, false);
        assert!(live_views().is_empty());
        assert!(!wanted());

        // The ring wraps around many times.
        for round in 0..3 * RING {
            push_loss(round, 0);
            if round % 7 == 0 {
                drain(|_, _| {});
            }
        }
        drain(|_, _| {});
        let mut seen = 0;
        push_loss(42, 1);
        drain(|page, offset| {
            assert_eq!((page, offset), (42, 1));
            seen += 1;
        });
        assert_eq!(seen, 1);
    }
}
