//! The registry: every mapping librmap made, as the kernel sees it.
//!
//! Ranges are whole pages, keyed by start address in a B-tree, so lookups and
//! updates are O(log n). Removing a range splits or trims the entries it
//! overlaps, exactly as `munmap` splits VMAs; inserting first removes what the
//! new range overlaps, as `MAP_FIXED` replaces it. Pure data: no locking and
//! no system calls here.

use std::collections::BTreeMap;

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
}

#[derive(Debug, Default)]
pub struct Registry {
    entries: BTreeMap<usize, Entry>,
    bytes: usize,
    /// Successful maps and unmaps, counted here because their callers hold
    /// the registry anyway (cheaper than a shared atomic).
    pub maps: u64,
    pub unmaps: u64,
}

impl Registry {
    pub const fn new() -> Registry {
        Registry {
            entries: BTreeMap::new(),
            bytes: 0,
            maps: 0,
            unmaps: 0,
        }
    }

    /// Records a new mapping at `start`, replacing whatever it overlaps.
    pub fn insert(&mut self, start: usize, entry: Entry) {
        // Usually nothing overlaps (the kernel handed out a free range): one
        // lookup instead of a removal.
        let end = start.saturating_add(entry.len);
        if self
            .entries
            .range(..end)
            .next_back()
            .is_some_and(|(&s, e)| s + e.len > start)
        {
            self.remove(start, entry.len);
        }
        self.bytes += entry.len;
        self.entries.insert(start, entry);
    }

    /// Forgets [start, start + len): splits or trims overlapping entries.
    /// Returns the number of bytes that were recorded there.
    pub fn remove(&mut self, start: usize, len: usize) -> usize {
        // Usually the range is exactly one entry: one tree operation. (Entries
        // never overlap, so nothing else can lie in it.)
        if let Some(entry) = self.entries.remove(&start) {
            if entry.len == len {
                self.bytes -= len;
                return len;
            }
            self.entries.insert(start, entry);
        }
        let end = start.saturating_add(len);
        let mut removed = 0;
        // An entry starting before `start` may reach into the range.
        if let Some((&s, &e)) = self.entries.range(..start).next_back() {
            if s + e.len > start {
                removed += self.cut(s, e, start, end);
            }
        }
        while let Some((&s, &e)) = self.entries.range(start..end).next() {
            removed += self.cut(s, e, start, end);
        }
        removed
    }

    /// Removes entry (s, e) and puts back the parts outside [start, end).
    fn cut(&mut self, s: usize, e: Entry, start: usize, end: usize) -> usize {
        self.entries.remove(&s);
        let e_end = s + e.len;
        if s < start {
            self.entries.insert(
                s,
                Entry {
                    len: start - s,
                    ..e
                },
            );
        }
        if e_end > end {
            let skipped = (end - s) as i64;
            let tail = Entry {
                len: e_end - end,
                offset: e.offset.wrapping_add(skipped),
                ..e
            };
            self.entries.insert(end, tail);
        }
        let removed = e_end.min(end) - s.max(start);
        self.bytes -= removed;
        removed
    }

    /// The entry containing `addr`, with its start.
    pub fn find(&self, addr: usize) -> Option<(usize, Entry)> {
        let (&s, &e) = self.entries.range(..=addr).next_back()?;
        (addr < s + e.len).then_some((s, e))
    }

    /// Whether every byte of [start, start + len) lies in recorded entries.
    pub fn covers(&self, start: usize, len: usize) -> bool {
        let Some(end) = start.checked_add(len) else {
            return false;
        };
        let mut at = start;
        while at < end {
            match self.find(at) {
                Some((s, e)) => at = s + e.len,
                None => return false,
            }
        }
        true
    }

    pub fn iter(&self) -> impl Iterator<Item = (usize, Entry)> + '_ {
        self.entries.iter().map(|(&s, &e)| (s, e))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
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
        }
    }

    fn ranges(r: &Registry) -> Vec<(usize, usize, i64)> {
        r.iter().map(|(s, e)| (s, e.len, e.offset)).collect()
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
    fn find_and_covers() {
        let mut r = Registry::new();
        r.insert(10 * P, entry(2 * P, 0));
        r.insert(12 * P, entry(P, 0));
        assert_eq!(r.find(11 * P + 5).map(|(s, _)| s), Some(10 * P));
        assert_eq!(r.find(13 * P), None);
        assert_eq!(r.find(9 * P), None);
        assert!(r.covers(10 * P, 3 * P));
        assert!(!r.covers(10 * P, 4 * P));
        assert!(!r.covers(9 * P, P));
        assert!(!r.covers(usize::MAX - P, 2 * P));
    }

    #[test]
    fn huge_ranges_do_not_overflow() {
        let mut r = Registry::new();
        r.insert(usize::MAX - 2 * P + 1, entry(P, 0));
        assert_eq!(r.remove(usize::MAX - 4 * P, usize::MAX), P);
        assert_eq!(r.len(), 0);
    }
}
