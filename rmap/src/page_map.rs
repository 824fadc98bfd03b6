//! A hash map from page numbers to small values, made for the registry's hot
//! path: open addressing with linear probing, Fibonacci hashing, at most half
//! full. A lookup is usually one probe of one cache line.
//!
//! Kept rather than `hashbrown` (0.17, with rustc-hash's FxHasher) because
//! that costs more on the path `make bench` holds to 1.05 of libc with about
//! one point to spare: callgrind, one-page `rmap_map`+`rmap_unmap` pairs,
//! 456 user-space instructions per pair with this map against 497 with
//! hashbrown (+9%), and 470 against 522 (+11%) with 1,000 other mappings
//! live (the same registry code over both; the registry's model test passes
//! on both). It is also two crates fewer for every user of librmap.
//!
//! There is no removal of single keys: the registry marks a value dead and
//! keeps its key, so mapping the same address again (which the kernel does
//! all the time) overwrites it in place, and it calls `retain` to drop the
//! dead ones once they outnumber the live ones.

/// Marks an empty slot; page numbers are below 2^52, so no key collides.
const EMPTY: u64 = u64::MAX;
const FIBONACCI: u64 = 0x9E37_79B9_7F4A_7C15;
const MIN_CAPACITY: usize = 16;

#[derive(Clone, Copy)]
struct Slot<V> {
    key: u64,
    value: V,
}

pub struct PageMap<V> {
    slots: Vec<Slot<V>>,
    len: usize,
    /// 64 - log2(capacity): the hash's top bits pick the home slot.
    shift: u32,
}

impl<V: Copy> PageMap<V> {
    pub const fn new() -> PageMap<V> {
        PageMap {
            slots: Vec::new(),
            len: 0,
            shift: 64,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Slots in the table (at most half of them are used).
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    #[inline]
    fn home(&self, key: u64) -> usize {
        (key.wrapping_mul(FIBONACCI) >> self.shift) as usize
    }

    /// The slot holding `key`, or the empty slot where it would go.
    #[inline]
    fn probe(&self, key: u64) -> (usize, bool) {
        let mask = self.mask();
        let mut i = self.home(key);
        loop {
            let slot_key = self.slots[i].key;
            if slot_key == key {
                return (i, true);
            }
            if slot_key == EMPTY {
                return (i, false);
            }
            i = (i + 1) & mask;
        }
    }

    #[inline]
    pub fn get(&self, key: u64) -> Option<&V> {
        if self.len == 0 {
            return None;
        }
        match self.probe(key) {
            (i, true) => Some(&self.slots[i].value),
            _ => None,
        }
    }

    /// Where `key` lives, for a later [`PageMap::at_mut`]: valid until the
    /// next insertion or `retain`.
    #[inline]
    pub fn slot_of(&self, key: u64) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        match self.probe(key) {
            (i, true) => Some(i),
            _ => None,
        }
    }

    /// The value in slot `i` (from [`PageMap::slot_of`]).
    #[inline]
    pub fn at_mut(&mut self, i: usize) -> &mut V {
        &mut self.slots[i].value
    }

    #[inline]
    pub fn get_mut(&mut self, key: u64) -> Option<&mut V> {
        if self.len == 0 {
            return None;
        }
        match self.probe(key) {
            (i, true) => Some(&mut self.slots[i].value),
            _ => None,
        }
    }

    /// Inserts or replaces; returns the value replaced.
    #[inline]
    pub fn insert(&mut self, key: u64, value: V) -> Option<V> {
        debug_assert_ne!(key, EMPTY);
        if 2 * (self.len + 1) > self.slots.len() {
            self.grow(value);
        }
        let (i, found) = self.probe(key);
        let slot = &mut self.slots[i];
        if found {
            return Some(std::mem::replace(&mut slot.value, value));
        }
        *slot = Slot { key, value };
        self.len += 1;
        None
    }

    /// Makes room for `more` insertions that will not grow the table (the
    /// registry reserves before a system call, so that recording its result
    /// cannot fail); false when the memory cannot be had. `filler` only
    /// fills empty slots.
    #[inline]
    pub fn reserve(&mut self, more: usize, filler: V) -> bool {
        let needed = 2 * (self.len + more);
        needed <= self.slots.len()
            || self.try_resize(needed.next_power_of_two().max(MIN_CAPACITY), filler)
    }

    /// Keeps the keys whose value `keep` accepts, in a table sized for them;
    /// keeps everything when the memory for that cannot be had.
    pub fn retain(&mut self, keep: impl Fn(&V) -> bool) {
        let mut kept: Vec<Slot<V>> = Vec::new();
        let count = self
            .slots
            .iter()
            .filter(|s| s.key != EMPTY && keep(&s.value))
            .count();
        if kept.try_reserve_exact(count).is_err() {
            return;
        }
        kept.extend(
            self.slots
                .iter()
                .filter(|s| s.key != EMPTY && keep(&s.value))
                .copied(),
        );
        let Some(first) = kept.first() else {
            *self = PageMap::new();
            return;
        };
        let capacity = (2 * kept.len()).next_power_of_two().max(MIN_CAPACITY);
        let Some(mut table) = Self::empty_table(capacity, first.value) else {
            return;
        };
        std::mem::swap(&mut self.slots, &mut table);
        self.len = 0;
        self.shift = 64 - capacity.trailing_zeros();
        for slot in kept {
            self.insert(slot.key, slot.value);
        }
    }

    /// Doubles the capacity; `filler` only fills the new empty slots. (Only
    /// where nothing reserved room: a failure to allocate aborts here.)
    #[cold]
    fn grow(&mut self, filler: V) {
        let capacity = (2 * self.slots.len()).max(MIN_CAPACITY);
        if !self.try_resize(capacity, filler) {
            std::alloc::handle_alloc_error(
                std::alloc::Layout::array::<Slot<V>>(capacity)
                    .unwrap_or(std::alloc::Layout::new::<Slot<V>>()),
            );
        }
    }

    fn empty_table(capacity: usize, filler: V) -> Option<Vec<Slot<V>>> {
        let mut table = Vec::new();
        table.try_reserve_exact(capacity).ok()?;
        table.resize(
            capacity,
            Slot {
                key: EMPTY,
                value: filler,
            },
        );
        Some(table)
    }

    #[cold]
    fn try_resize(&mut self, capacity: usize, filler: V) -> bool {
        let Some(table) = Self::empty_table(capacity, filler) else {
            return false;
        };
        let old = std::mem::replace(&mut self.slots, table);
        self.shift = 64 - capacity.trailing_zeros();
        for slot in old.into_iter().filter(|s| s.key != EMPTY) {
            let (i, _) = self.probe(slot.key);
            self.slots[i] = slot;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn agrees_with_std_hash_map_under_random_operations() {
        let mut seed = 0x9E37_79B9u64;
        let mut next = move |bound: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % bound
        };
        let mut ours = PageMap::new();
        let mut model = HashMap::new();
        for step in 0..200_000u64 {
            // Clustered keys (as pages are), and spread ones whose runs collide.
            let key = if next(2) == 0 {
                next(64)
            } else {
                next(1 << 40) & !0xff
            };
            assert_eq!(ours.insert(key, step), model.insert(key, step));
            if step % 10_000 == 0 {
                ours.retain(|v| v % 3 != 0);
                model.retain(|_, v| *v % 3 != 0);
            }
            assert_eq!(ours.len(), model.len());
            let probe = next(64);
            assert_eq!(ours.get(probe), model.get(&probe));
            if let Some(value) = ours.get_mut(probe) {
                *value += 1;
                *model.get_mut(&probe).unwrap() += 1;
            }
        }
        for (&key, value) in &model {
            assert_eq!(ours.get(key), Some(value));
        }
    }

    #[test]
    fn retain_shrinks_the_table() {
        let mut map = PageMap::new();
        for key in 0..10_000u64 {
            map.insert(key, key);
        }
        map.retain(|&v| v < 10);
        assert_eq!(map.len(), 10);
        assert_eq!(map.slots.len(), MIN_CAPACITY * 2);
        assert!((0..10_000).all(|k| map.get(k).is_some() == (k < 10)));
        map.retain(|_| false);
        assert_eq!((map.len(), map.get(3)), (0, None));
    }
}
