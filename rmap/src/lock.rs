//! The registry's lock: a futex mutex (the classic three-state one) that
//! takes no atomic operation at all while the process has a single thread;
//! and `count`, a shared counter with the same property.
//!
//! Why not `std::sync::Mutex`: after a system call, each locked instruction
//! costs about 20 ns here, and a map plus an unmap took four of them, 3% of
//! `mmap` + `munmap` (see BENCHMARKS.md). With one thread nothing can race,
//! so the lock is skipped; with more it costs what std's does.
//!
//! "One thread" is glibc's `__libc_single_threaded`, which glibc clears
//! when `pthread_create` (or `thrd_create`, or a `fork` child's) makes a
//! second thread. A thread made with a raw `clone(2)` that glibc never
//! hears of leaves it set: such threads must not call librmap (glibc's own
//! `malloc` and stdio skip their locks the same way, so such a program
//! cannot use them either). The fault handler never takes this lock
//! (see watch.rs), so a signal handler touching memory while its thread
//! is inside librmap never waits on it.

use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::sys;

const UNLOCKED: u32 = 0;
const LOCKED: u32 = 1;
/// Locked, and a thread may be sleeping on the word.
const CONTENDED: u32 = 2;

pub struct Lock<T> {
    state: AtomicU32,
    data: UnsafeCell<T>,
}

// SAFETY: `data` is only reached through a guard, and guards exclude each
// other: by the state word, or because no second thread exists.
unsafe impl<T: Send> Sync for Lock<T> {}

pub struct LockGuard<'a, T> {
    lock: &'a Lock<T>,
    /// Whether the state word was taken (and must be given back).
    taken: bool,
}

impl<T> Lock<T> {
    pub const fn new(data: T) -> Lock<T> {
        Lock {
            state: AtomicU32::new(UNLOCKED),
            data: UnsafeCell::new(data),
        }
    }

    pub fn lock(&self) -> LockGuard<'_, T> {
        // A single-threaded process cannot create a thread while it is
        // inside librmap (nothing here calls back into the program with the
        // lock held), so skipping the word is safe for the guard's lifetime.
        if sys::single_threaded() {
            return LockGuard {
                lock: self,
                taken: false,
            };
        }
        if self
            .state
            .compare_exchange(UNLOCKED, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_contended();
        }
        LockGuard {
            lock: self,
            taken: true,
        }
    }

    /// The data, without touching the lock word, while the process has a
    /// single thread; `None` when it has more (then take [`Lock::lock`]).
    /// For the common map and unmap, which must call nothing.
    #[inline(always)]
    pub fn lock_single_threaded(&self) -> Option<LockGuard<'_, T>> {
        sys::single_threaded().then(|| LockGuard {
            lock: self,
            taken: false,
        })
    }

    /// For a signal handler: the lock if it can be had within `spins`
    /// attempts (a thread holding it may be the one the handler stopped).
    /// A single-threaded process's only thread is the handler's, outside
    /// librmap when it faulted: the guard is granted without the word, as
    /// in [`Lock::lock`].
    pub fn try_lock_spinning(&self, spins: u32) -> Option<LockGuard<'_, T>> {
        if sys::single_threaded() {
            return Some(LockGuard {
                lock: self,
                taken: false,
            });
        }
        for _ in 0..spins {
            if self
                .state
                .compare_exchange(UNLOCKED, LOCKED, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return Some(LockGuard {
                    lock: self,
                    taken: true,
                });
            }
            std::hint::spin_loop();
        }
        None
    }

    #[cold]
    fn lock_contended(&self) {
        // Holders are usually inside one system call (a map or an unmap,
        // ~1.5 us here), and a holder that loops takes the word back before
        // a waiter sees it free more often than not: spin up to 500 pauses
        // (~13 us at the 26 ns of this AMD EPYC's `pause`) before sleeping.
        // With 100, two threads mapping at once went through the futex on
        // most hand-overs (`make bench`'s two-thread row 1.07-1.09 of libc,
        // against 0.95-1.04 with 500).
        for _ in 0..500 {
            if self.state.load(Ordering::Relaxed) == UNLOCKED
                && self
                    .state
                    .compare_exchange(UNLOCKED, LOCKED, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                return;
            }
            std::hint::spin_loop();
        }
        while self.state.swap(CONTENDED, Ordering::Acquire) != UNLOCKED {
            sys::futex_wait(&self.state, CONTENDED);
        }
    }
}

impl<T> Drop for LockGuard<'_, T> {
    fn drop(&mut self) {
        if self.taken && self.lock.state.swap(UNLOCKED, Ordering::Release) == CONTENDED {
            sys::futex_wake_one(&self.lock.state);
        }
    }
}

impl<T> Deref for LockGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard excludes every other guard (see `Sync`).
        unsafe { &*self.lock.data.get() }
    }
}

impl<T> DerefMut for LockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as for `deref`, and `&mut self` makes this borrow unique.
        unsafe { &mut *self.lock.data.get() }
    }
}

/// Adds one to a shared counter: a locked add only when another thread
/// could add at the same time.
#[inline]
pub fn count(counter: &AtomicU64) {
    if sys::single_threaded() {
        counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    } else {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn threads_never_overlap_inside_the_lock() {
        // Spawning makes the process multi-threaded, so the word is used.
        let lock = Arc::new(Lock::new((0u64, 0u64)));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let lock = Arc::clone(&lock);
                std::thread::spawn(move || {
                    for _ in 0..50_000 {
                        let mut guard = lock.lock();
                        // A torn update would leave the two halves unequal.
                        guard.0 += 1;
                        std::hint::black_box(&mut *guard);
                        guard.1 += 1;
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let guard = lock.lock();
        assert_eq!(*guard, (200_000, 200_000));
        assert!(!sys::single_threaded());
    }

    #[test]
    fn counts_from_many_threads_add_up() {
        let counter = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let counter = Arc::clone(&counter);
                std::thread::spawn(move || (0..50_000).for_each(|_| count(&counter)))
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(counter.load(Ordering::Relaxed), 200_000);
    }
}
