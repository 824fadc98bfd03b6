//! The registry: every mapping librmap made, as the kernel sees it.
//!
//! Removing a range splits or trims the entries it overlaps, exactly as
//! `munmap` splits VMAs; inserting first removes what the new range overlaps,
//! as `MAP_FIXED` replaces it; changing the attributes of a range (`update`:
//! protection, lock state) splits entries at its ends and merges neighbours
//! that are alike again, as `mprotect` and `mlock` split and merge VMAs.
//! Pure data: no locking and no system calls here.
//!
//! Layout, chosen so that a map and an unmap cost a few hash probes and bit
//! operations whatever the number of live mappings (the kernel's own call is
//! only about 2 µs, and `make bench` holds us to 5% of it):
//! - `entries`: start page -> entry, a hash map (exact lookups, O(1));
//! - `blocks`: one bit per page that starts an entry, in blocks of 4,096
//!   pages (16 MiB) with a summary word, so "the last start at or below this
//!   page" is two word scans inside a block;
//! - `order`: the ids of the blocks, sorted, consulted only to step to an
//!   earlier block (a binary search) or when a block is created or dropped.
//!
//! Mapping and unmapping the same range again and again (the kernel hands
//! the same addresses out again all the time) stays on the fast path: an
//! unmapped entry is marked dead and keeps its key, so the next mapping there
//! overwrites it in place (dead entries are purged once they outnumber the
//! live ones), and an emptied block is kept as `spare` until another one
//! empties, so `order` is not touched.

use crate::page_map::PageMap;

/// Entries are tracked in 4 KiB units, the smallest Linux page size.
const PAGE_SHIFT: u32 = 12;
const BLOCK_SHIFT: u32 = 12;
const BLOCK_WORDS: usize = 1 << (BLOCK_SHIFT - 6);
const NO_BLOCK: u64 = u64::MAX;
/// A `blocks` value whose block was dropped (its key stays until a purge).
const DROPPED: u32 = u32::MAX;
/// Dead keys allowed beyond the live ones before a purge.
const DEAD_SLACK: usize = 64;

/// One mapping (or the part of one that is still mapped).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    pub len: usize,
    pub prot: i32,
    pub flags: i32,
    pub dev: u64,
    pub ino: u64,
    /// File offset of the entry's first byte.
    pub offset: i64,
    /// Code address that created the mapping (checked mode), else 0.
    pub creator: usize,
    /// `MADV_DONTFORK`: a child made by fork does not have this range.
    pub dont_fork: bool,
    /// `rmap_tolerate`: a page that raises SIGBUS is replaced by zeros.
    pub tolerant: bool,
    /// Mapped by `rmap_map_peer` from a memfd sealed against shrinking.
    pub sealed: bool,
    /// Which mapping call made it: the pieces of one mapping share it, and
    /// only they merge back into one entry.
    pub origin: u64,
    /// Never split: no other entry shares its origin, so a change of its
    /// attributes cannot make it mergeable (the common case skips the search).
    pub whole: bool,
}

impl Entry {
    /// A dead entry (the filler of empty slots and fixed arrays).
    pub const DEAD: Entry = Entry {
        len: 0,
        prot: 0,
        flags: 0,
        dev: 0,
        ino: 0,
        offset: 0,
        creator: 0,
        dont_fork: false,
        tolerant: false,
        sealed: false,
        origin: 0,
        whole: false,
    };

    fn pages(&self) -> u64 {
        (self.len >> PAGE_SHIFT) as u64
    }

    /// Whether `next`, starting where this entry ends, continues it: the
    /// same mapping, attributes and file, at the next file offset. (A file's
    /// identity, learnt lazily, may be known for one piece only.)
    fn continued_by(&self, next: &Entry) -> bool {
        let identity = if self.ino == 0 || next.ino == 0 {
            (next.dev, next.ino)
        } else {
            (self.dev, self.ino)
        };
        Entry {
            len: next.len,
            offset: self.offset.wrapping_add(self.len as i64),
            dev: identity.0,
            ino: identity.1,
            whole: next.whole,
            ..*self
        } == *next
    }
}

/// Start bits of 4,096 consecutive pages; `summary` bit w is set when
/// `words[w]` is not zero.
#[derive(Clone, Copy)]
struct Block {
    words: [u64; BLOCK_WORDS],
    summary: u64,
}

impl Block {
    fn set(&mut self, bit: usize) {
        self.words[bit / 64] |= 1 << (bit % 64);
        self.summary |= 1 << (bit / 64);
    }

    fn clear(&mut self, bit: usize) {
        let word = &mut self.words[bit / 64];
        *word &= !(1 << (bit % 64));
        if *word == 0 {
            self.summary &= !(1 << (bit / 64));
        }
    }

    fn is_empty(&self) -> bool {
        self.summary == 0
    }

    /// The highest set bit at or below `bit`.
    fn last_at_or_below(&self, bit: usize) -> Option<usize> {
        let w = bit / 64;
        let word = self.words[w] & (u64::MAX >> (63 - bit % 64));
        if word != 0 {
            return Some(w * 64 + 63 - word.leading_zeros() as usize);
        }
        let below = self.summary & ((1 << w) - 1);
        (below != 0).then(|| self.last_in_word(63 - below.leading_zeros() as usize))
    }

    fn last(&self) -> Option<usize> {
        (self.summary != 0).then(|| self.last_in_word(63 - self.summary.leading_zeros() as usize))
    }

    fn last_in_word(&self, w: usize) -> usize {
        w * 64 + 63 - self.words[w].leading_zeros() as usize
    }

    /// Set bits in ascending order.
    fn bits(&self) -> impl Iterator<Item = usize> + '_ {
        self.words.iter().enumerate().flat_map(|(w, &word)| {
            let mut rest = word;
            std::iter::from_fn(move || {
                (rest != 0).then(|| {
                    let bit = rest.trailing_zeros() as usize;
                    rest &= rest - 1;
                    w * 64 + bit
                })
            })
        })
    }
}

/// An entry found before a system call ([`Registry::find_exact`]).
#[derive(Clone, Copy)]
pub struct Exact {
    slot: usize,
    start: usize,
    whole: bool,
}

// `room` and `growths` last, for `Held`'s layout (process.rs).
#[repr(C)]
pub struct Registry {
    /// Start page -> entry. An entry of length 0 is dead: its mapping is gone
    /// but its key stays, so that the next mapping at the same address
    /// overwrites it in place (see page_map.rs).
    entries: PageMap<Entry>,
    dead_entries: usize,
    /// Block id -> index in `slab`, or `DROPPED`.
    blocks: PageMap<u32>,
    dropped_blocks: usize,
    slab: Vec<Block>,
    /// Indices of `slab` no block uses.
    free: Vec<u32>,
    /// Block ids, sorted.
    order: Vec<u64>,
    /// The smallest id in `order` (`NO_BLOCK` when there is none): a search
    /// that starts at or below it needs no step back through `order`.
    lowest: u64,
    /// An empty block left in place (at most one).
    spare: u64,
    /// The block used last and its index in `slab`: consecutive calls
    /// usually touch the same 16 MiB, and then need no lookup in `blocks`.
    hot: (u64, u32),
    bytes: usize,
    /// Entries that can be added without allocating (each perhaps in a
    /// block of its own), as the last `reserve` found, less those added
    /// since: `reserve`'s fast path is one compare.
    room: usize,
    /// Entries ever added or extended: while unchanged, no page became
    /// recorded anywhere.
    growths: u64,
}

impl Default for Registry {
    fn default() -> Registry {
        Registry::new()
    }
}

fn page_of(addr: usize) -> u64 {
    (addr >> PAGE_SHIFT) as u64
}

/// `entry`, which starts at page `s`, clipped to pages [from, to): its file
/// offset moved along, and no longer whole unless nothing was cut off.
fn clipped(s: u64, entry: Entry, from: u64, to: u64) -> Entry {
    Entry {
        len: addr_of(to - from),
        offset: entry.offset.wrapping_add(addr_of(from - s) as i64),
        whole: entry.whole && from == s && to == s + entry.pages(),
        ..entry
    }
}

fn addr_of(page: u64) -> usize {
    (page as usize) << PAGE_SHIFT
}

fn split(page: u64) -> (u64, usize) {
    (
        page >> BLOCK_SHIFT,
        (page & ((1 << BLOCK_SHIFT) - 1)) as usize,
    )
}

impl Registry {
    pub const fn new() -> Registry {
        Registry {
            entries: PageMap::new(),
            dead_entries: 0,
            blocks: PageMap::new(),
            dropped_blocks: 0,
            slab: Vec::new(),
            free: Vec::new(),
            order: Vec::new(),
            lowest: NO_BLOCK,
            spare: NO_BLOCK,
            hot: (NO_BLOCK, 0),
            bytes: 0,
            room: 0,
            growths: 0,
        }
    }

    /// Records a new mapping at `start`, replacing whatever it overlaps.
    #[inline]
    pub fn insert(&mut self, start: usize, entry: Entry) {
        // Usually nothing overlaps (the kernel handed out a free range): one
        // search instead of a removal.
        if self.overlaps(start, entry.len) {
            self.remove(start, entry.len);
        }
        self.add(page_of(start), entry);
    }

    /// How many times an entry was added or extended: while it stays the
    /// same, a range found empty stays empty.
    pub fn growths(&self) -> u64 {
        self.growths
    }

    /// Whether an entry overlaps [start, start + len), `len` a whole number
    /// of pages.
    #[inline]
    pub fn overlaps(&self, start: usize, len: usize) -> bool {
        let first = page_of(start);
        let end = first.saturating_add((len >> PAGE_SHIFT) as u64);
        end > first && self.reaches(end - 1, first)
    }

    /// Whether the last entry starting at or below `last` ends after `first`.
    #[inline]
    fn reaches(&self, last: u64, first: u64) -> bool {
        self.last_start_at_or_below(last)
            .is_some_and(|s| s + self.live(s).map_or(0, Entry::pages) > first)
    }

    /// Forgets [start, start + len), `len` a whole number of pages (an end
    /// past the address space counts as its end): splits or trims
    /// overlapping entries. Returns the number of bytes that were recorded there.
    #[inline]
    pub fn remove(&mut self, start: usize, len: usize) -> usize {
        let first = page_of(start);
        // Usually the range is exactly one entry. (Entries never overlap, so
        // nothing else can lie in it.)
        if let Some(entry) = self.entries.get_mut(first)
            && entry.len == len
        {
            entry.len = 0;
            self.forget_start(first);
            self.bytes -= len;
            return len;
        }
        // Or the tail of one entry (a shrinking mremap, a trimming munmap).
        let end = first.saturating_add((len >> PAGE_SHIFT) as u64);
        if let Some(s) = self.last_start_at_or_below(first)
            && s < first
            && let Some(entry) = self.entries.get_mut(s)
            && s + entry.pages() == end
        {
            entry.len -= len;
            self.bytes -= len;
            return len;
        }
        self.remove_range(start, len)
    }

    #[cold]
    fn remove_range(&mut self, start: usize, len: usize) -> usize {
        let first = page_of(start);
        let end = page_of(start.saturating_add(len)).max(first + 1);
        // Walk down from the end: each step cuts the last entry that starts
        // below `end`, until one ends at or before `first`.
        let mut removed = 0;
        while let Some(s) = self.last_start_at_or_below(end - 1) {
            let entry = self.entry(s);
            let entry_end = s + entry.pages();
            if entry_end <= first {
                break;
            }
            self.take(s);
            self.bytes -= entry.len;
            // Cut in two, the pieces share an origin; trimmed, it stays whole.
            let whole = entry.whole && (s >= first || entry_end <= end);
            if s < first {
                self.add(
                    s,
                    Entry {
                        len: addr_of(first - s),
                        whole,
                        ..entry
                    },
                );
            }
            if entry_end > end {
                let skipped = addr_of(end - s) as i64;
                let tail = Entry {
                    len: addr_of(entry_end - end),
                    offset: entry.offset.wrapping_add(skipped),
                    whole,
                    ..entry
                };
                self.add(end, tail);
            }
            removed += addr_of(entry_end.min(end) - s.max(first));
            if s <= first {
                break;
            }
        }
        removed
    }

    /// Changes the attributes of every recorded byte in [start, start + len)
    /// (`len` a whole number of pages) with `change`, splitting entries at the
    /// ends of the range and merging neighbours that become alike. Bytes not
    /// recorded stay unrecorded.
    #[inline]
    pub fn update(&mut self, start: usize, len: usize, change: impl Fn(&mut Entry)) {
        self.update_with(start, len, &change);
    }

    /// [`Registry::update`]'s body, compiled once rather than per caller's
    /// closure (eight copies of it were ~3% of the crate's compile time).
    fn update_with(&mut self, start: usize, len: usize, change: &dyn Fn(&mut Entry)) {
        if len == 0 {
            return;
        }
        let first = page_of(start);
        let end = first + (len >> PAGE_SHIFT) as u64;
        // Usually the range is exactly one entry: change it in place.
        if let Some(entry) = self.entries.get_mut(first)
            && entry.len == len
        {
            change(entry);
            if !entry.whole {
                self.merge_at(first);
                self.merge_at(end);
            }
            return;
        }
        // Walk down from the end, as remove_range does, cutting each entry
        // that overlaps into its unchanged head and tail and its changed
        // middle (no allocation: this also runs when memory is short).
        let mut at = end;
        while let Some((s, entry)) = self.overlap_below(at, first) {
            let entry_end = s + entry.pages();
            let (from, to) = (s.max(first), entry_end.min(end));
            self.take(s);
            self.bytes -= entry.len;
            if s < from {
                self.add(s, clipped(s, entry, s, from));
            }
            let mut middle = clipped(s, entry, from, to);
            change(&mut middle);
            self.add(from, middle);
            if to < entry_end {
                self.add(to, clipped(s, entry, to, entry_end));
            }
            self.merge_at(to);
            self.merge_at(from);
            at = s;
        }
    }

    /// Finds, before a system call, the entry that is exactly [start, start +
    /// len) when there is one, so that recording the call's effect afterwards
    /// is one store (after a system call every cache miss costs most). The
    /// registry must not change in between.
    #[inline]
    pub fn find_exact(&self, start: usize, len: usize) -> Option<Exact> {
        let slot = self.entries.slot_of(page_of(start))?;
        let entry = self.entries.get(page_of(start))?;
        (entry.len == len && len != 0).then_some(Exact {
            slot,
            start,
            whole: entry.whole,
        })
    }

    /// [`Registry::update`] for an entry found by [`Registry::find_exact`].
    #[inline]
    pub fn update_exact(&mut self, exact: Exact, change: impl Fn(&mut Entry)) {
        let entry = self.entries.at_mut(exact.slot);
        change(entry);
        if !exact.whole {
            let first = page_of(exact.start);
            let end = first + entry.pages();
            self.merge_at(first);
            self.merge_at(end);
        }
    }

    /// Calls `each` with every entry meeting [start, start + len), whole
    /// (not clipped) and with its start, from the highest address down.
    /// Allocates nothing.
    pub fn each_meeting(&self, start: usize, len: usize, mut each: impl FnMut(usize, Entry)) {
        let first = page_of(start);
        let end = page_of(
            start
                .saturating_add(len)
                .saturating_add((1 << PAGE_SHIFT) - 1),
        )
        .max(first);
        let mut at = end;
        while let Some((s, entry)) = self.overlap_below(at, first) {
            each(addr_of(s), entry);
            at = s;
        }
    }

    /// [`Registry::pieces`], allocating fallibly (Err when the memory cannot
    /// be had); empty when one record holds the whole range (the caller
    /// moves that record whole: see mapping.rs's record_remap).
    pub fn try_pieces(&self, start: usize, len: usize) -> Result<Vec<(usize, Entry)>, ()> {
        if self
            .find(start)
            .is_some_and(|(s, entry)| start.saturating_add(len) <= s + entry.len)
        {
            return Ok(Vec::new());
        }
        let mut count = 0;
        self.each_meeting(start, len, |_, _| count += 1);
        let mut found = Vec::new();
        found.try_reserve_exact(count).map_err(|_| ())?;
        let first = page_of(start);
        let end = page_of(start.saturating_add(len));
        let mut at = end;
        while let Some((s, entry)) = self.overlap_below(at, first) {
            let (from, to) = (s.max(first), (s + entry.pages()).min(end));
            found.push((addr_of(from), clipped(s, entry, from, to)));
            at = s;
        }
        found.reverse();
        Ok(found)
    }

    /// The recorded parts of [start, start + len), each clipped to the range
    /// (its file offset moved along), in address order.
    pub fn pieces(&self, start: usize, len: usize) -> Vec<(usize, Entry)> {
        let first = page_of(start);
        let end = page_of(start.saturating_add(len));
        let mut found = Vec::new();
        let mut at = end;
        while let Some((s, entry)) = self.overlap_below(at, first) {
            let (from, to) = (s.max(first), (s + entry.pages()).min(end));
            found.push((addr_of(from), clipped(s, entry, from, to)));
            at = s;
        }
        found.reverse();
        found
    }

    /// Lengthens the entry that ends at `end` by `more` bytes (an in-place
    /// `mremap` growth); the range beyond must be unrecorded. Returns
    /// whether an entry ended there.
    pub fn extend(&mut self, end: usize, more: usize) -> bool {
        let end_page = page_of(end);
        let Some(s) = end_page
            .checked_sub(1)
            .and_then(|last| self.last_start_at_or_below(last))
        else {
            return false;
        };
        let entry = self.entries.get_mut(s).expect("a start bit has its entry");
        if s + entry.pages() != end_page {
            return false;
        }
        entry.len += more;
        self.bytes += more;
        self.growths += 1;
        if !entry.whole {
            self.merge_at(page_of(end + more));
        }
        true
    }

    /// Merges the entry that ends at page `boundary` with the one that
    /// starts there, when the second continues the first.
    fn merge_at(&mut self, boundary: u64) {
        let Some(next) = self.live(boundary).copied() else {
            return;
        };
        let Some(s) = boundary
            .checked_sub(1)
            .and_then(|last| self.last_start_at_or_below(last))
        else {
            return;
        };
        let entry = self.entry(s);
        if s + entry.pages() != boundary || entry.origin != next.origin {
            return;
        }
        // Pieces of one mapping side by side: neither is whole any more.
        self.entries.get_mut(s).expect("checked above").whole = false;
        self.entries.get_mut(boundary).expect("checked above").whole = false;
        if !entry.continued_by(&next) {
            return;
        }
        self.take(boundary);
        let merged = self.entries.get_mut(s).expect("checked above");
        merged.len += next.len;
        merged.whole = false;
        if merged.ino == 0 {
            (merged.dev, merged.ino) = (next.dev, next.ino);
        }
    }

    /// Forgets every entry `drop` accepts (after fork: the don't-fork ranges).
    pub fn forget_if(&mut self, drop: impl Fn(&Entry) -> bool) {
        let doomed: Vec<(usize, usize)> = self
            .iter()
            .filter(|(_, e)| drop(e))
            .map(|(s, e)| (s, e.len))
            .collect();
        for (start, len) in doomed {
            self.remove(start, len);
        }
    }

    /// Whether `entries` more entries can be recorded without allocating
    /// (see [`Registry::reserve`]).
    #[inline(always)]
    pub fn has_room(&self, entries: usize) -> bool {
        self.room >= entries
    }

    /// Makes room to record `entries` more entries (each perhaps in a block
    /// of its own) without allocating: a call reserves before its system
    /// call, so that recording what the kernel did cannot fail (ENOMEM
    /// then, with nothing done). One compare when the room is there.
    #[inline(always)]
    pub fn reserve(&mut self, entries: usize) -> Result<(), ()> {
        if self.has_room(entries) {
            return Ok(());
        }
        self.reserve_slow(entries)
    }

    #[cold]
    #[inline(never)]
    fn reserve_slow(&mut self, entries: usize) -> Result<(), ()> {
        // Room for a few calls more than asked, so that this path is rare.
        let entries = entries.max(16);
        let grown = self.entries.reserve(entries, Entry::DEAD)
            && self.blocks.reserve(entries, DROPPED)
            && self.slab.try_reserve(entries).is_ok()
            && self.order.try_reserve(entries).is_ok()
            // Every slab index may end up in the free list.
            && self.free.try_reserve(self.slab.capacity()).is_ok();
        if !grown {
            return Err(());
        }
        // A table grows when it would be more than half full.
        let room = |len: usize, capacity: usize| (capacity / 2).saturating_sub(len);
        self.room = room(self.entries.len(), self.entries.capacity())
            .min(room(self.blocks.len(), self.blocks.capacity()))
            .min(self.slab.capacity() - self.slab.len() + self.free.len())
            .min(self.order.capacity() - self.order.len());
        Ok(())
    }

    /// Records `entry` at page `first`; nothing may overlap it.
    #[inline(always)]
    fn add(&mut self, first: u64, entry: Entry) {
        self.room = self.room.saturating_sub(1);
        self.growths += 1;
        self.bytes += entry.len;
        if let Some(replaced) = self.entries.insert(first, entry) {
            debug_assert_eq!(replaced.len, 0, "nothing live overlaps a new entry");
            self.dead_entries -= 1;
        }
        let (id, bit) = split(first);
        let index = match self.block_index(id) {
            Some(index) => {
                if id == self.spare {
                    self.spare = NO_BLOCK;
                }
                index
            }
            None => self.new_block(id),
        };
        self.slab[index as usize].set(bit);
    }

    /// The index in `slab` of block `id`, if it exists; remembers it.
    #[inline]
    fn block_index(&mut self, id: u64) -> Option<u32> {
        if self.hot.0 == id {
            return Some(self.hot.1);
        }
        let index = self.blocks.get(id).copied().filter(|&i| i != DROPPED)?;
        self.hot = (id, index);
        Some(index)
    }

    #[cold]
    fn purge_dead_entries(&mut self) {
        // The table shrinks to the live entries: reserve measures again.
        self.room = 0;
        self.entries.retain(|e| e.len != 0);
        self.dead_entries = 0;
    }

    #[cold]
    fn new_block(&mut self, id: u64) -> u32 {
        let empty = Block {
            words: [0; BLOCK_WORDS],
            summary: 0,
        };
        let index = match self.free.pop() {
            Some(index) => {
                self.slab[index as usize] = empty;
                index
            }
            None => {
                self.slab.push(empty);
                (self.slab.len() - 1) as u32
            }
        };
        if self.blocks.insert(id, index).is_some() {
            self.dropped_blocks -= 1;
        }
        self.hot = (id, index);
        if let Err(at) = self.order.binary_search(&id) {
            self.order.insert(at, id);
        }
        self.lowest = self.lowest.min(id);
        index
    }

    /// The live entry starting at page `first`.
    #[inline]
    fn live(&self, first: u64) -> Option<&Entry> {
        self.entries.get(first).filter(|e| e.len != 0)
    }

    /// The entry starting at page `first`, which must be live.
    fn entry(&self, first: u64) -> Entry {
        *self.live(first).expect("an entry starts here")
    }

    /// The index in `slab` of block `id`, without remembering it.
    #[inline(always)]
    fn find_block(&self, id: u64) -> Option<u32> {
        if self.hot.0 == id {
            return Some(self.hot.1);
        }
        self.blocks.get(id).copied().filter(|&i| i != DROPPED)
    }

    fn block(&self, id: u64) -> &Block {
        &self.slab[self.find_block(id).expect("the block exists") as usize]
    }

    /// Removes the entry starting at page `first` (which must exist); the
    /// caller accounts for its bytes.
    fn take(&mut self, first: u64) -> Entry {
        let slot = self.entries.get_mut(first).expect("an entry starts here");
        let entry = *slot;
        debug_assert_ne!(entry.len, 0, "the entry is live");
        slot.len = 0;
        self.forget_start(first);
        entry
    }

    /// Clears the start bit of page `first`, whose entry was just marked
    /// dead, and purges dead entries when they outnumber live ones.
    #[inline(always)]
    fn forget_start(&mut self, first: u64) {
        self.dead_entries += 1;
        if self.dead_entries > self.len() + DEAD_SLACK {
            self.purge_dead_entries();
        }
        let (id, bit) = split(first);
        let index = self.block_index(id).expect("its block exists");
        let block = &mut self.slab[index as usize];
        block.clear(bit);
        if block.is_empty() {
            let previous = std::mem::replace(&mut self.spare, id);
            if previous != NO_BLOCK && previous != id {
                self.drop_block(previous);
            }
        }
    }

    #[cold]
    fn drop_block(&mut self, id: u64) {
        let index = self.find_block(id).expect("the block exists");
        *self.blocks.get_mut(id).expect("the block exists") = DROPPED;
        self.dropped_blocks += 1;
        if self.dropped_blocks > self.order.len() + DEAD_SLACK {
            self.blocks.retain(|&i| i != DROPPED);
            self.room = 0;
            self.dropped_blocks = 0;
        }
        // Never allocates: `reserve` keeps room for every slab index.
        self.free.push(index);
        if self.hot.0 == id {
            self.hot = (NO_BLOCK, 0);
        }
        if let Ok(at) = self.order.binary_search(&id) {
            self.order.remove(at);
        }
        if id == self.lowest {
            self.lowest = self.order.first().copied().unwrap_or(NO_BLOCK);
        }
    }

    /// The highest page at or below `page` where an entry starts.
    #[inline(always)]
    /// The last entry that starts below page `at` and ends after page
    /// `first` (walking down a range from its end), with its start.
    fn overlap_below(&self, at: u64, first: u64) -> Option<(u64, Entry)> {
        if at <= first {
            return None;
        }
        let s = self.last_start_at_or_below(at - 1)?;
        let entry = self.entry(s);
        (s + entry.pages() > first).then_some((s, entry))
    }

    fn last_start_at_or_below(&self, page: u64) -> Option<u64> {
        let (id, bit) = split(page);
        let here = self.find_block(id).map(|index| &self.slab[index as usize]);
        if let Some(found) = here.and_then(|b| b.last_at_or_below(bit)) {
            return Some((id << BLOCK_SHIFT) | found as u64);
        }
        if id <= self.lowest {
            return None;
        }
        self.last_start_in_earlier_block(id)
    }

    #[cold]
    fn last_start_in_earlier_block(&self, id: u64) -> Option<u64> {
        // At most one block on the way is empty (the spare).
        let below = self.order.partition_point(|&other| other < id);
        self.order[..below].iter().rev().find_map(|&earlier| {
            let found = self.block(earlier).last()?;
            Some((earlier << BLOCK_SHIFT) | found as u64)
        })
    }

    /// The entry containing `addr`, with its start.
    pub fn find(&self, addr: usize) -> Option<(usize, Entry)> {
        let page = page_of(addr);
        let s = self.last_start_at_or_below(page)?;
        let entry = self.entry(s);
        (page < s + entry.pages()).then_some((addr_of(s), entry))
    }

    /// Every entry that starts at or above `addr`, in address order.
    pub fn iter_from(&self, addr: usize) -> impl Iterator<Item = (usize, Entry)> + '_ {
        let first = page_of(addr);
        let from_block = self.order.partition_point(|&id| id < split(first).0);
        self.order[from_block..].iter().flat_map(move |&id| {
            self.block(id)
                .bits()
                .map(move |bit| (id << BLOCK_SHIFT) | bit as u64)
                .filter(move |&page| page >= first)
                .map(move |page| (addr_of(page), self.entry(page)))
        })
    }

    /// Every entry, in address order.
    pub fn iter(&self) -> impl Iterator<Item = (usize, Entry)> + '_ {
        self.order.iter().flat_map(move |&id| {
            self.block(id).bits().map(move |bit| {
                let first = (id << BLOCK_SHIFT) | bit as u64;
                (addr_of(first), self.entry(first))
            })
        })
    }

    pub fn len(&self) -> usize {
        self.entries.len() - self.dead_entries
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: usize = 4096;

    fn entry(len: usize, offset: i64) -> Entry {
        Entry {
            len,
            prot: 3,
            flags: 1,
            dev: 8,
            ino: 42,
            offset,
            creator: 0,
            dont_fork: false,
            tolerant: false,
            sealed: false,
            origin: 1,
            whole: true,
        }
    }

    fn ranges(r: &Registry) -> Vec<(usize, usize, i64)> {
        r.iter().map(|(s, e)| (s, e.len, e.offset)).collect()
    }

    #[test]
    fn every_newly_recorded_page_counts_a_growth() {
        // Held::drop_pending trusts a range found empty while the count
        // stays: each way a page becomes recorded must move it.
        let mut r = Registry::new();
        let mut seen = r.growths();
        let mut grew = |r: &Registry| {
            let moved = r.growths() != seen;
            seen = r.growths();
            moved
        };
        r.insert(10 * P, entry(4 * P, 0));
        assert!(grew(&r), "insert");
        assert!(r.extend(14 * P, 2 * P));
        assert!(grew(&r), "extend");
        r.remove(11 * P, P);
        assert!(grew(&r), "a split adds the tail");
        r.update(12 * P, P, |e| e.prot = 1);
        assert!(r.overlaps(12 * P, P) && !r.overlaps(11 * P, P));
        r.remove(10 * P, 16 * P);
        assert!(!r.overlaps(10 * P, 16 * P));
    }

    #[test]
    fn unmapping_the_middle_splits_and_shifts_the_file_offset() {
        let mut r = Registry::new();
        r.insert(10 * P, entry(4 * P, 0));
        assert_eq!(r.remove(11 * P, P), P);
        assert_eq!(
            ranges(&r),
            vec![(10 * P, P, 0), (12 * P, 2 * P, 2 * P as i64)]
        );
        assert_eq!(r.bytes(), 3 * P);
    }

    #[test]
    fn unmapping_an_end_trims() {
        let mut r = Registry::new();
        r.insert(10 * P, entry(4 * P, 0));
        r.remove(10 * P, P);
        r.remove(13 * P, 5 * P);
        assert_eq!(ranges(&r), vec![(11 * P, 2 * P, P as i64)]);
    }

    #[test]
    fn one_unmap_across_several_entries_and_holes() {
        let mut r = Registry::new();
        r.insert(10 * P, entry(2 * P, 0));
        r.insert(14 * P, entry(2 * P, 0));
        r.insert(20 * P, entry(P, 0));
        assert_eq!(r.remove(11 * P, 10 * P), 4 * P);
        assert_eq!(ranges(&r), vec![(10 * P, P, 0)]);
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn unmapping_foreign_memory_removes_nothing() {
        let mut r = Registry::new();
        r.insert(10 * P, entry(2 * P, 0));
        assert_eq!(r.remove(20 * P, 4 * P), 0);
        assert_eq!(r.remove(0, 10 * P), 0);
        assert_eq!(ranges(&r), vec![(10 * P, 2 * P, 0)]);
    }

    #[test]
    fn fixed_mapping_replaces_the_overlapped_parts() {
        let mut r = Registry::new();
        r.insert(10 * P, entry(4 * P, 0));
        r.insert(11 * P, entry(2 * P, 100 * P as i64));
        assert_eq!(
            ranges(&r),
            vec![
                (10 * P, P, 0),
                (11 * P, 2 * P, 100 * P as i64),
                (13 * P, P, 3 * P as i64)
            ]
        );
        assert_eq!(r.bytes(), 4 * P);
    }

    #[test]
    fn find() {
        let mut r = Registry::new();
        r.insert(10 * P, entry(2 * P, 0));
        r.insert(12 * P, entry(P, 0));
        assert_eq!(r.find(11 * P + 5).map(|(s, _)| s), Some(10 * P));
        assert_eq!(r.find(13 * P), None);
        assert_eq!(r.find(9 * P), None);
    }

    fn with_prot(r: &Registry) -> Vec<(usize, usize, i32)> {
        r.iter().map(|(s, e)| (s, e.len, e.prot)).collect()
    }

    #[test]
    fn changing_the_middle_splits_in_three_and_changing_it_back_merges() {
        let mut r = Registry::new();
        r.insert(10 * P, entry(3 * P, 0));
        r.update(11 * P, P, |e| e.prot = 1);
        assert_eq!(
            with_prot(&r),
            vec![(10 * P, P, 3), (11 * P, P, 1), (12 * P, P, 3)]
        );
        assert_eq!(r.find(12 * P).map(|(_, e)| e.offset), Some(2 * P as i64));
        r.update(11 * P, P, |e| e.prot = 3);
        assert_eq!(with_prot(&r), vec![(10 * P, 3 * P, 3)]);
        assert_eq!((r.len(), r.bytes()), (1, 3 * P));
    }

    #[test]
    fn separate_mappings_alike_stay_separate() {
        let mut r = Registry::new();
        r.insert(10 * P, entry(P, 0));
        r.insert(
            11 * P,
            Entry {
                origin: 2,
                ..entry(P, P as i64)
            },
        );
        r.update(10 * P, 2 * P, |e| e.prot = 1);
        assert_eq!(with_prot(&r), vec![(10 * P, P, 1), (11 * P, P, 1)]);
    }

    #[test]
    fn update_across_entries_and_holes_keeps_the_holes() {
        let mut r = Registry::new();
        r.insert(10 * P, entry(2 * P, 0));
        r.insert(
            14 * P,
            Entry {
                origin: 2,
                ..entry(2 * P, 0)
            },
        );
        r.update(11 * P, 4 * P, |e| e.prot = 1);
        assert_eq!(
            with_prot(&r),
            vec![
                (10 * P, P, 3),
                (11 * P, P, 1),
                (14 * P, P, 1),
                (15 * P, P, 3)
            ]
        );
        assert_eq!(r.bytes(), 4 * P);
        assert_eq!(
            r.pieces(11 * P, 4 * P)
                .iter()
                .map(|(s, e)| (*s, e.len))
                .collect::<Vec<_>>(),
            vec![(11 * P, P), (14 * P, P)]
        );
    }

    #[test]
    fn extend_grows_the_entry_ending_there_and_merges() {
        let mut r = Registry::new();
        r.insert(10 * P, entry(P, 0));
        assert!(r.extend(11 * P, 2 * P));
        assert_eq!(with_prot(&r), vec![(10 * P, 3 * P, 3)]);
        assert!(!r.extend(12 * P, P), "no entry ends at page 12");
        assert_eq!(r.bytes(), 3 * P);
    }

    #[test]
    fn an_entry_and_its_slot_stay_small() {
        // docs/checked-mode.md states the memory per mapping from these sizes.
        assert_eq!(std::mem::size_of::<Entry>(), 64);
    }

    #[test]
    fn huge_ranges_do_not_overflow() {
        let mut r = Registry::new();
        r.insert(usize::MAX - 2 * P + 1, entry(P, 0));
        assert_eq!(r.remove(usize::MAX - 4 * P, usize::MAX), P);
        assert_eq!(r.len(), 0);
    }

    /// A deterministic random walk over a window that spans several blocks,
    /// checked after every step against a model that records each page.
    #[test]
    fn matches_a_page_by_page_model() {
        use std::collections::BTreeMap;
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move |bound: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % bound
        };
        // page -> (tag of the mapping, file offset of the page, protection)
        let mut model: BTreeMap<u64, (usize, i64, i32)> = BTreeMap::new();
        let mut r = Registry::new();
        let window = 3 * (1 << BLOCK_SHIFT) + 100;
        for tag in 1..3_000usize {
            let first = next(window);
            let pages = if next(10) == 0 {
                1 + next(6000)
            } else {
                1 + next(40)
            };
            let (start, len) = (addr_of(first), addr_of(pages));
            if next(3) == 0 {
                let removed = r.remove(start, len);
                let before = model.len();
                model.retain(|&p, _| p < first || p >= first + pages);
                assert_eq!(removed, addr_of((before - model.len()) as u64));
            } else if next(3) == 0 {
                // A protection change: the model keeps the pages, new prot.
                let prot = next(4) as i32;
                r.update(start, len, |e| e.prot = prot);
                for p in first..first + pages {
                    if let Some(page) = model.get_mut(&p) {
                        page.2 = prot;
                    }
                }
            } else {
                let offset = addr_of(next(1000)) as i64;
                r.insert(
                    start,
                    Entry {
                        creator: tag,
                        origin: tag as u64,
                        ..entry(len, offset)
                    },
                );
                for p in first..first + pages {
                    model.insert(p, (tag, offset + addr_of(p - first) as i64, 3));
                }
            }
            let probe = next(window);
            let found = r.find(addr_of(probe)).map(|(_, e)| e.creator);
            assert_eq!(found, model.get(&probe).map(|&(tag, _, _)| tag));
            assert_eq!(r.bytes(), addr_of(model.len() as u64));
            // The whole comparison is O(n): every few steps keeps the test fast.
            if tag % 8 != 0 {
                continue;
            }
            let mut pages_seen = 0;
            let mut last_end = 0;
            for (s, e) in r.iter() {
                assert!(s >= last_end, "entries overlap or are out of order");
                last_end = s + e.len;
                for p in page_of(s)..page_of(s + e.len) {
                    let offset = e.offset + (addr_of(p) - s) as i64;
                    assert_eq!(
                        model.get(&p),
                        Some(&(e.creator, offset, e.prot)),
                        "page {p}"
                    );
                    pages_seen += 1;
                }
            }
            assert_eq!(pages_seen, model.len());
            assert_eq!(r.bytes(), addr_of(model.len() as u64));
            // One entry per run of pages of one mapping with one protection:
            // splits and merges both as the kernel's VMAs.
            let runs = model
                .iter()
                .filter(|&(&p, &(tag, _, prot))| {
                    p == 0
                        || model
                            .get(&(p - 1))
                            .is_none_or(|&(t, _, pr)| t != tag || pr != prot)
                })
                .count();
            assert_eq!(r.len(), runs);
        }
        assert!(r.order.len() <= 5, "empty blocks are dropped");
        assert!(
            r.entries.len() <= 2 * r.len() + DEAD_SLACK + 1,
            "dead entries are purged"
        );
    }
}
