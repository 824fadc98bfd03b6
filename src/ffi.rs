//! Every `extern "C"` function, and nothing else: marshal C types, guard
//! against panics, set errno as the very last step.
//!
//! The doc comment of each function is its man page; cbindgen copies it into
//! `include/rmap.h`. Each ERRORS entry carries, in brackets, the name of the
//! C test case under `tests/c/` that provokes it (the man pages leave it out).
//!
//! This layer sees C types (from `libc`, as C types) and calls only the
//! operations: `mapping` and `guarded`.

use std::ffi::{CStr, c_char, c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};

use errno::{Errno, set_errno};
use libc::{EINVAL, ENOENT, ENOTRECOVERABLE, off_t};

use crate::guarded;
use crate::mapping::{self, CheckMode, Info};

/// The panic boundary shared by every exported function: runs `body`, and on
/// an error or a panic returns `failure` with errno set (ENOTRECOVERABLE for
/// a panic). errno is untouched on success, as libc leaves it.
fn guard<T>(failure: T, body: impl FnOnce() -> Result<T, Errno>) -> T {
    let error = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(value)) => return value,
        Ok(Err(error)) => error,
        Err(_) => Errno(ENOTRECOVERABLE),
    };
    set_errno(error);
    failure
}

/// Map files or devices into memory: the drop-in replacement for `mmap(2)`.
///
/// Creates a mapping of `length` bytes in the calling process's address
/// space, exactly as `mmap` does. `addr` is a hint (NULL lets the kernel
/// choose) unless `flags` holds `MAP_FIXED` or `MAP_FIXED_NOREPLACE`. `prot`
/// takes the platform's `PROT_*` bits and `flags` its `MAP_*` bits from
/// `<sys/mman.h>`: one of `MAP_SHARED`, `MAP_PRIVATE` or `MAP_SHARED_VALIDATE`,
/// ORed with any of `MAP_ANONYMOUS` (`MAP_ANON`), `MAP_FIXED`,
/// `MAP_FIXED_NOREPLACE`, `MAP_NORESERVE`, `MAP_LOCKED`, `MAP_GROWSDOWN`,
/// `MAP_32BIT`, `MAP_POPULATE`, `MAP_NONBLOCK`, `MAP_STACK`, `MAP_SYNC`,
/// `MAP_HUGETLB` (with `MAP_HUGE_2MB`, `MAP_HUGE_1GB` or another size in the
/// `MAP_HUGE_SHIFT` bits), and the ignored `MAP_FILE`, `MAP_DENYWRITE` and
/// `MAP_EXECUTABLE`. Unknown flag bits are ignored, as Linux ignores them.
/// For a file mapping, `fd` must be open for reading and `offset` a multiple
/// of the page size; for an anonymous mapping both are ignored (Linux still
/// requires `offset` to be page aligned).
///
/// # RETURN VALUE
///
/// The address of the new mapping; on error `RMAP_FAILED` (`(void *) -1`),
/// with errno set.
///
/// # ERRORS
///
/// - `EACCES` [map_eacces_fd_not_readable]: a file mapping was requested but
///   `fd` is not open for reading.
/// - `EACCES` [map_eacces_shared_write_readonly_fd]: `MAP_SHARED` with
///   `PROT_WRITE`, but `fd` is not open for writing.
/// - `EACCES` [map_eacces_append_only]: `MAP_SHARED`, `fd` is open for
///   writing, and the file is append-only.
/// - `EAGAIN` [map_eagain_memlock_limit]: `MAP_LOCKED` and the mapping would
///   exceed `RLIMIT_MEMLOCK` (without `CAP_IPC_LOCK`).
/// - `EBADF` [map_ebadf_fd_invalid]: not `MAP_ANONYMOUS`, and `fd` is not an
///   open file descriptor (negative, closed, or `O_PATH`).
/// - `EEXIST` [map_eexist_fixed_noreplace]: `MAP_FIXED_NOREPLACE` and the range
///   overlaps an existing mapping.
/// - `EINVAL` [map_einval_offset_misaligned]: `offset` is not a multiple of
///   the page size.
/// - `EINVAL` [map_einval_length_zero]: `length` is 0.
/// - `EINVAL` [map_einval_fixed_addr_misaligned]: `MAP_FIXED` or
///   `MAP_FIXED_NOREPLACE`, and `addr` is not page aligned.
/// - `EINVAL` [map_einval_no_map_type]: `flags` holds none of `MAP_SHARED`,
///   `MAP_PRIVATE` and `MAP_SHARED_VALIDATE` (or a type this kernel lacks).
/// - `EINVAL` [map_einval_hugetlb_file]: `MAP_HUGETLB` for a file that is not
///   on hugetlbfs, or with a huge page size the system does not have.
/// - `EINVAL` [map_einval_growsdown_shared]: `MAP_GROWSDOWN` with a file or a
///   shared mapping.
/// - `ENFILE` [map_enfile_file_table_full]: the system-wide limit on open
///   files was reached (a shared anonymous mapping needs one).
/// - `ENODEV` [map_enodev_not_mappable]: the file type does not support
///   mapping (a pipe, a directory).
/// - `ENOMEM` [map_enomem_no_address_space]: no free range of `length` bytes,
///   or `length` rounds past the end of the address space.
/// - `ENOMEM` [map_enomem_fixed_outside]: `MAP_FIXED` and the range lies
///   outside the user address space.
/// - `ENOMEM` [map_enomem_map_count]: the process would exceed
///   `vm.max_map_count` mappings.
/// - `ENOMEM` [map_enomem_rlimit_as]: the process would exceed `RLIMIT_AS`.
/// - `EOPNOTSUPP` [map_eopnotsupp_shared_validate]: `MAP_SHARED_VALIDATE` with
///   a flag the file does not support (for example `MAP_SYNC` on a
///   non-DAX file).
/// - `EOVERFLOW` [map_eoverflow_offset]: for a regular file, `offset` plus
///   `length` does not fit in `off_t` (this includes any negative `offset`).
/// - `EPERM` [map_eperm_sealed]: `MAP_SHARED` with `PROT_WRITE` of a memfd
///   sealed with `F_SEAL_WRITE` or `F_SEAL_FUTURE_WRITE`.
/// - `EPERM` [map_eperm_noexec]: `PROT_EXEC` of a file on a file system
///   mounted `noexec`.
/// - `EPERM` [map_eperm_locked]: `MAP_LOCKED` with `RLIMIT_MEMLOCK` of 0 and
///   without `CAP_IPC_LOCK`.
/// - `ETXTBSY` [map_etxtbsy_swapfile]: `MAP_SHARED` with `PROT_WRITE` of an
///   active swap file. (`MAP_DENYWRITE` is ignored, so it no longer causes
///   this error.)
///
/// The first six argument conditions of EINVAL, EBADF for a negative `fd` and
/// EOVERFLOW are decided by librmap before any system call, with Linux's own
/// rules and order; every other error is the kernel's answer, unchanged.
///
/// # NOTES
///
/// - Writing a mapping without `PROT_WRITE`, or touching an address after it
///   was unmapped, raises `SIGSEGV`.
/// - Touching a page that lies wholly past the end of the mapped file raises
///   `SIGBUS`; bytes past the end of the file inside its last page read as
///   zero, may be written, and never reach the file. Shrinking the file of a
///   live mapping turns its pages past the new end into `SIGBUS` pages.
/// - `fd` may be closed as soon as `rmap_map` returns; the mapping keeps the
///   file open.
/// - Writes to a `MAP_PRIVATE` mapping are copy-on-write and never reach the
///   file; the process may see later changes of the file in pages it has not
///   written.
/// - When several conditions hold at once, the errno is the one Linux
///   returns, with one deliberate exception: an argument error that librmap
///   decides itself is reported even when the kernel would first have run out
///   of address space or hit `vm.max_map_count` (ENOMEM).
/// - Thread safety: safe to call from any number of threads at once, as
///   `mmap(2)` is. Async-signal-safe: no.
/// - A panic inside librmap never unwinds into C: the call returns
///   `RMAP_FAILED` with errno `ENOTRECOVERABLE`.
///
/// # EXAMPLES
///
/// ```c
/// int fd = open("data", O_RDWR);
/// char *p = rmap_map(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
/// if (p == RMAP_FAILED)
///     err(1, "rmap_map");
/// close(fd);          /* the mapping keeps the file open */
/// p[0] = 'x';         /* reaches the file */
/// rmap_sync(p, 4096, MS_SYNC);
/// rmap_unmap(p, 4096);
/// ```
///
/// # SEE ALSO
///
/// `rmap_sync(3)`, `rmap_unmap(3)`, `rmap_pagesize(3)`, `mmap(2)`
///
/// # Safety
///
/// As for `mmap(2)`: `MAP_FIXED` replaces whatever the range held.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmap_map(
    addr: *mut c_void,
    length: usize,
    prot: c_int,
    flags: c_int,
    fd: c_int,
    offset: off_t,
) -> *mut c_void {
    guard(libc::MAP_FAILED, || {
        // SAFETY: the caller upholds mmap's contract, which map() forwards.
        let ptr = unsafe { mapping::map(addr.cast(), length, prot, flags, fd, offset) }?;
        Ok(ptr.cast())
    })
}

/// Synchronize a mapped file with its storage: the drop-in replacement for
/// `msync(2)`.
///
/// Writes back the dirty pages of the shared file mappings in the range
/// [`addr`, `addr` + `length`), rounded up to whole pages. `flags` is `MS_SYNC`
/// (wait for the write-back), `MS_ASYNC` (schedule it; on Linux a no-op, since
/// the page cache is already shared), or 0, optionally ORed with
/// `MS_INVALIDATE`.
///
/// # RETURN VALUE
///
/// 0 on success; -1 on error, with errno set.
///
/// # ERRORS
///
/// - `EBUSY` [sync_ebusy_invalidate_locked]: `MS_INVALIDATE` and the range
///   holds locked pages (`mlock`, `MAP_LOCKED`).
/// - `EINVAL` [sync_einval_unknown_flag]: `flags` has a bit other than
///   `MS_ASYNC`, `MS_SYNC` and `MS_INVALIDATE`.
/// - `EINVAL` [sync_einval_addr_misaligned]: `addr` is not page aligned.
/// - `EINVAL` [sync_einval_async_and_sync]: both `MS_ASYNC` and `MS_SYNC`.
/// - `EINVAL` [sync_einval_unowned_checked]: checked mode only: the range is
///   not wholly a librmap mapping (never mapped by librmap, or already
///   unmapped). Reported as `rmap: sync-unowned: ...`; no system call is made.
/// - `ENOMEM` [sync_enomem_unmapped]: part of the range is not mapped (with
///   `MS_ASYNC` alone, already when the range starts in a hole).
/// - `ENOMEM` [sync_enomem_range_wraps]: `addr` plus `length`, rounded up to
///   a page, wraps past the end of the address space.
///
/// All of these but EBUSY and the unmapped case of ENOMEM are decided by
/// librmap before any system call, with Linux's rules and order.
///
/// # NOTES
///
/// - `length` 0 succeeds, as does a `length` so large that rounding it up to
///   a page wraps to 0: Linux treats both as an empty range.
/// - With `MS_SYNC`, errors of writing the data back (`EIO`, `ENOSPC`) are
///   passed through from the kernel.
/// - Thread safety: safe to call from any number of threads at once.
///   A panic inside librmap returns -1 with errno `ENOTRECOVERABLE`.
///
/// # EXAMPLES
///
/// ```c
/// p[0] = 'x';
/// if (rmap_sync(p, length, MS_SYNC) == -1)
///     err(1, "rmap_sync");    /* now on disk */
/// ```
///
/// # SEE ALSO
///
/// `rmap_map(3)`, `rmap_unmap(3)`, `msync(2)`
///
/// # Safety
///
/// As for `msync(2)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmap_sync(addr: *mut c_void, length: usize, flags: c_int) -> c_int {
    guard(-1, || {
        // SAFETY: the caller upholds msync's contract, which sync() forwards.
        unsafe { mapping::sync(addr.cast(), length, flags) }?;
        Ok(0)
    })
}

/// Remove a mapping: the drop-in replacement for `munmap(2)`.
///
/// Unmaps every page in [`addr`, `addr` + `length`), rounded up to whole
/// pages. Pages of the range that are not mapped are skipped: unmapping a
/// range that holds no mapping (including one already unmapped) succeeds,
/// except in checked mode (see `rmap_set_check`). The registry forgets the
/// range: a partial unmap splits or trims the mappings it recorded.
///
/// # RETURN VALUE
///
/// 0 on success; -1 on error, with errno set.
///
/// # ERRORS
///
/// - `EINVAL` [unmap_einval_addr_misaligned]: `addr` is not page aligned.
/// - `EINVAL` [unmap_einval_length_zero]: `length` is 0.
/// - `EINVAL` [unmap_einval_outside]: the range does not lie inside the user
///   address space.
/// - `EINVAL` [unmap_einval_unowned_checked]: checked mode only: the range is
///   not wholly a librmap mapping (never mapped by librmap, or already
///   unmapped: a double unmap). Reported as `rmap: unmap-unowned: ...`; the
///   memory is not touched.
/// - `ENOMEM` [unmap_enomem_map_count]: unmapping the middle of a mapping
///   would split it beyond `vm.max_map_count` mappings.
/// - `EPERM` [unmap_eperm_sealed]: the range holds memory sealed with
///   `mseal(2)`.
///
/// The first two EINVAL conditions are decided by librmap before any system
/// call; the others are the kernel's answer.
///
/// # NOTES
///
/// - Touching the range afterwards raises `SIGSEGV` (unless something else
///   was mapped there since).
/// - Thread safety: safe to call from any number of threads at once.
///   A panic inside librmap returns -1 with errno `ENOTRECOVERABLE`.
///
/// # EXAMPLES
///
/// ```c
/// char *p = rmap_map(NULL, 3 * 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
/// rmap_unmap(p + 4096, 4096);   /* punch out the middle page */
/// rmap_unmap(p, 3 * 4096);      /* the hole is skipped: returns 0 */
/// ```
///
/// # SEE ALSO
///
/// `rmap_map(3)`, `munmap(2)`
///
/// # Safety
///
/// As for `munmap(2)`: nothing may use the range afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmap_unmap(addr: *mut c_void, length: usize) -> c_int {
    guard(-1, || {
        // SAFETY: the caller upholds munmap's contract, which unmap() forwards.
        unsafe { mapping::unmap(addr.cast(), length) }?;
        Ok(0)
    })
}

/// Copy bytes out of a mapping without risking SIGBUS or SIGSEGV.
///
/// Copies `n` bytes from `src` (typically inside a mapping) to `dst`, like
/// `memcpy`, but a page that faults does not kill the process: when another
/// process truncated the mapped file, an I/O error hit, or a page is not
/// mapped, the call fails with an errno instead. `rmap_copied()` then tells
/// how many leading bytes were copied: every byte before the first page that
/// faulted, so a caller can report the exact offset. `n` 0 copies nothing.
///
/// # RETURN VALUE
///
/// 0 on success (all `n` bytes copied); -1 on error, with errno set and
/// `rmap_copied()` giving the number of bytes copied.
///
/// # ERRORS
///
/// - `EIO` [read_eio_truncated]: a page of the source range is no longer
///   backed by its file (the file was truncated below it), or reading it hit
///   an I/O error (SIGBUS).
/// - `EFAULT` [read_efault_unmapped]: part of the source range is not mapped
///   or not readable (SIGSEGV).
/// - `EFAULT` [read_efault_bad_destination]: part of `dst` is not mapped or
///   not writable (SIGSEGV).
///
/// # NOTES
///
/// - The first call installs a process-wide handler for SIGBUS and SIGSEGV.
///   It recovers only faults raised inside a guarded copy of the calling
///   thread; every other fault goes to the handler installed before it, or,
///   if there was none, gets the default action, so the process dies of the
///   same signal as without librmap. A plain pointer access to a truncated
///   page still raises SIGBUS.
/// - A program that installs its own SIGBUS or SIGSEGV handler after the
///   first `rmap_read` or `rmap_write` must pass the faults it does not
///   handle to the previous handler, the one `sigaction(2)` returned as the
///   old action. Otherwise faults inside guarded copies reach its handler.
/// - `src` and `dst` must not overlap, as for `memcpy`. The copy is one
///   `rep movsb` (x86-64), about as fast as `memcpy` from a few KiB up;
///   after a fault, a second, page-by-page pass finds the exact count. If
///   installing the handler fails, the call returns -1 with the errno of
///   `sigaction(2)`.
/// - Thread safety: safe from any number of threads at once. Not
///   async-signal-safe. A panic inside librmap returns -1 with errno
///   `ENOTRECOVERABLE`.
///
/// # EXAMPLES
///
/// ```c
/// if (rmap_read(buf, map + offset, len) == -1)
///     fprintf(stderr, "byte %zu: %s\n", offset + rmap_copied(), strerror(errno));
/// ```
///
/// # SEE ALSO
///
/// `rmap_write(3)`, `rmap_copied(3)`, `rmap_map(3)`
///
/// # Safety
///
/// As for `memcpy`, except that inaccessible pages are allowed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmap_read(dst: *mut c_void, src: *const c_void, n: usize) -> c_int {
    // SAFETY: the caller upholds memcpy's contract; faults are recovered.
    unsafe { guarded_copy(dst, src, n) }
}

/// The body of `rmap_read` and `rmap_write`, which differ only in which side
/// is the mapping. (Inlined: a call with saved registers costs ~10% of a
/// 4 KiB copy.)
///
/// # Safety
/// As for `memcpy`, except that inaccessible pages are allowed.
#[inline(always)]
unsafe fn guarded_copy(dst: *mut c_void, src: *const c_void, n: usize) -> c_int {
    guard(-1, || {
        // SAFETY: forwarded to the caller's contract.
        unsafe { guarded::copy(dst.cast(), src.cast(), n) }?;
        Ok(0)
    })
}

/// Copy bytes into a mapping without risking SIGBUS or SIGSEGV.
///
/// Copies `n` bytes from `src` to `dst` (typically inside a mapping), like
/// `memcpy`, but a page that faults does not kill the process; see
/// `rmap_read`. `rmap_copied()` tells how many leading bytes reached `dst`.
///
/// # RETURN VALUE
///
/// 0 on success; -1 on error, with errno set.
///
/// # ERRORS
///
/// - `EIO` [write_eio_past_eof]: a page of the destination range lies wholly
///   past the end of the mapped file, or writing it hit an I/O error or a
///   full file system (SIGBUS). Nothing is written to that page or after it.
/// - `EFAULT` [write_efault_unmapped]: part of the destination range is not
///   mapped (SIGSEGV).
/// - `EFAULT` [write_efault_readonly]: part of the destination range is
///   mapped without `PROT_WRITE` (SIGSEGV).
///
/// # NOTES
///
/// As for `rmap_read`: the handler, what a program with its own handler must
/// do, thread safety.
///
/// # EXAMPLES
///
/// ```c
/// if (rmap_write(map + offset, record, sizeof record) == -1 && errno == EIO)
///     /* the file was truncated under us: reopen, remap */;
/// ```
///
/// # SEE ALSO
///
/// `rmap_read(3)`, `rmap_copied(3)`, `rmap_sync(3)`
///
/// # Safety
///
/// As for `memcpy`, except that inaccessible pages are allowed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmap_write(dst: *mut c_void, src: *const c_void, n: usize) -> c_int {
    // SAFETY: the caller upholds memcpy's contract; faults are recovered.
    unsafe { guarded_copy(dst, src, n) }
}

/// How many bytes the calling thread's last failed `rmap_read` or
/// `rmap_write` copied.
///
/// Like errno, it is meaningful right after a call that returned -1: a
/// successful copy copied all its bytes and does not update the count (so
/// the fast path touches no thread-local state).
///
/// # RETURN VALUE
///
/// The number of leading bytes the last failed copy of this thread copied
/// before the first page that faulted; 0 in a thread with no failed copy.
/// This function cannot fail.
///
/// # NOTES
///
/// Thread safety: each thread has its own count. Async-signal-safe: no.
///
/// # SEE ALSO
///
/// `rmap_read(3)`, `rmap_write(3)`
#[unsafe(no_mangle)]
pub extern "C" fn rmap_copied() -> usize {
    guard(0, || Ok(guarded::last_copied()))
}

/// A mapping as librmap recorded it (`rmap_query`, `rmap_foreach`).
#[repr(C)]
pub struct rmap_info {
    /// First byte of the mapping (or of what is left of it).
    pub start: *mut c_void,
    /// Length in bytes, a multiple of the page size.
    pub length: usize,
    /// `PROT_*` bits as passed to `rmap_map`.
    pub prot: c_int,
    /// `MAP_*` bits as passed to `rmap_map`.
    pub flags: c_int,
    /// Device and inode of the mapped file; 0 for anonymous memory.
    pub dev: u64,
    pub ino: u64,
    /// File offset of `start` (for anonymous memory, what was passed, moved
    /// along with partial unmaps).
    pub offset: off_t,
}

/// Totals kept by librmap (`rmap_stats`).
#[repr(C)]
pub struct rmap_stats {
    /// Mappings librmap holds now, and their bytes.
    pub live_mappings: usize,
    pub live_bytes: usize,
    /// Successful calls since the process started.
    pub maps: u64,
    pub unmaps: u64,
    pub syncs: u64,
    /// Calls of `rmap_map`, `rmap_unmap` and `rmap_sync` that failed.
    pub failures: u64,
}

/// Checked mode off: POSIX-exact behaviour (the default).
pub const RMAP_CHECK_OFF: c_int = 0;
/// Checked mode: report misuse on stderr and go on.
pub const RMAP_CHECK_REPORT: c_int = 1;
/// Checked mode: report misuse on stderr, then abort().
pub const RMAP_CHECK_ABORT: c_int = 2;

fn info_of(found: Info) -> rmap_info {
    rmap_info {
        start: found.start as *mut c_void,
        length: found.entry.len,
        prot: found.entry.prot,
        flags: found.entry.flags,
        dev: found.entry.dev,
        ino: found.entry.ino,
        offset: found.entry.offset,
    }
}

/// Find the librmap mapping that contains an address.
///
/// librmap records every mapping it makes, as the kernel holds it: a partial
/// `rmap_unmap` splits or trims the record, `MAP_FIXED` replaces the parts it
/// covers. This looks `addr` up (O(log n)) and fills `*info`.
///
/// # RETURN VALUE
///
/// 0 and `*info` filled; -1 with errno set.
///
/// # ERRORS
///
/// - `ENOENT` [query_enoent_not_mapped]: no mapping made by librmap contains
///   `addr` (memory mapped otherwise, by `mmap` or `malloc`, is not known).
/// - `EINVAL` [query_einval_null_info]: `info` is NULL.
///
/// # NOTES
///
/// Mappings changed behind librmap's back (`munmap`, `mmap` with `MAP_FIXED`,
/// `mremap` called directly) are not seen. Thread safety: safe from any
/// number of threads at once; the answer reflects every call that returned
/// before this one started.
///
/// # SEE ALSO
///
/// `rmap_foreach(3)`, `rmap_stats(3)`, `rmap_map(3)`
///
/// # Safety
///
/// `info` is NULL or points to writable memory for one `struct rmap_info`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmap_query(addr: *const c_void, info: *mut rmap_info) -> c_int {
    guard(-1, || {
        if info.is_null() {
            return Err(Errno(EINVAL));
        }
        let found = mapping::query(addr as usize).ok_or(Errno(ENOENT))?;
        // SAFETY: checked non-NULL; the caller vouches it is writable.
        unsafe { info.write(info_of(found)) };
        Ok(0)
    })
}

/// Counts of live mappings and of calls made.
///
/// # RETURN VALUE
///
/// 0 and `*stats` filled; -1 with errno set.
///
/// # ERRORS
///
/// - `EINVAL` [stats_einval_null]: `stats` is NULL.
///
/// # NOTES
///
/// Thread safety: safe from any thread; counters of calls still running in
/// other threads may or may not be included.
///
/// # SEE ALSO
///
/// `rmap_query(3)`, `rmap_foreach(3)`
///
/// # Safety
///
/// `stats` is NULL or points to writable memory for one `struct rmap_stats`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmap_stats(stats: *mut rmap_stats) -> c_int {
    guard(-1, || {
        if stats.is_null() {
            return Err(Errno(EINVAL));
        }
        let totals = mapping::totals();
        let value = rmap_stats {
            live_mappings: totals.live_mappings,
            live_bytes: totals.live_bytes,
            maps: totals.maps,
            unmaps: totals.unmaps,
            syncs: totals.syncs,
            failures: totals.failures,
        };
        // SAFETY: checked non-NULL; the caller vouches it is writable.
        unsafe { stats.write(value) };
        Ok(0)
    })
}

/// Visit every live librmap mapping in address order.
///
/// Calls `fn(info, ctx)` for each mapping, lowest address first. A non-zero
/// return from `fn` stops the walk.
///
/// # RETURN VALUE
///
/// 0 after visiting every mapping; the non-zero value `fn` returned when it
/// stopped the walk (as `nftw` does); -1 with errno set on error.
///
/// # ERRORS
///
/// - `EINVAL` [foreach_einval_null_fn]: `fn` is NULL.
///
/// # NOTES
///
/// The walk visits a snapshot taken when it starts, so `fn` may itself call
/// librmap (even unmap what it is shown). Thread safety: safe from any thread.
///
/// # SEE ALSO
///
/// `rmap_query(3)`
///
/// # Safety
///
/// `fn` is NULL or a function safe to call with the given `ctx`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmap_foreach(
    r#fn: Option<unsafe extern "C" fn(info: *const rmap_info, ctx: *mut c_void) -> c_int>,
    ctx: *mut c_void,
) -> c_int {
    guard(-1, || {
        let visit = r#fn.ok_or(Errno(EINVAL))?;
        for found in mapping::snapshot() {
            let info = info_of(found);
            // SAFETY: the caller vouches for fn and ctx; info lives across the call.
            let stop = unsafe { visit(&info, ctx) };
            if stop != 0 {
                return Ok(stop);
            }
        }
        Ok(0)
    })
}

/// Turn checked mode on or off from the program.
///
/// Checked mode is off by default, and then every call behaves exactly as
/// documented for the system call it replaces. The environment variable
/// `RMAP_CHECK` sets it at the first librmap call: `RMAP_CHECK=1` reports and
/// continues, `RMAP_CHECK=abort` reports and then aborts; this call overrides
/// it. In checked mode librmap writes one line to stderr per finding:
///
/// - `rmap: unmap-unowned: ...` and `rmap: sync-unowned: ...`: `rmap_unmap`
///   or `rmap_sync` of a range librmap does not hold (never mapped by it, or
///   already unmapped: a double unmap); the call fails with EINVAL and does
///   not touch the memory.
/// - `rmap: leak: N bytes at ADDR still mapped at exit, created at WHERE`:
///   at exit, one line per live mapping, with the code that created it.
/// - `rmap: beyond-eof: ...`: at map time, a file mapping reaching past the
///   file's last page; touching those pages raises SIGBUS.
/// - `rmap: write-exec: ...`: a mapping both writable and executable.
///
/// # RETURN VALUE
///
/// 0 on success; -1 with errno set.
///
/// # ERRORS
///
/// - `EINVAL` [set_check_einval_mode]: `mode` is not `RMAP_CHECK_OFF`,
///   `RMAP_CHECK_REPORT` or `RMAP_CHECK_ABORT`.
///
/// # NOTES
///
/// Thread safety: safe from any thread; calls already running keep the mode
/// they started with.
///
/// # SEE ALSO
///
/// `rmap_unmap(3)`, `rmap_sync(3)`, `rmap_query(3)`
#[unsafe(no_mangle)]
pub extern "C" fn rmap_set_check(mode: c_int) -> c_int {
    guard(-1, || {
        let mode = match mode {
            RMAP_CHECK_OFF => CheckMode::Off,
            RMAP_CHECK_REPORT => CheckMode::Report,
            RMAP_CHECK_ABORT => CheckMode::Abort,
            _ => return Err(Errno(EINVAL)),
        };
        mapping::set_check_mode(mode);
        Ok(0)
    })
}

/// The system page size in bytes: the unit of `offset`, of `MAP_FIXED`
/// addresses and of `rmap_sync` / `rmap_unmap` addresses.
///
/// # RETURN VALUE
///
/// The value of `sysconf(_SC_PAGESIZE)`. This function cannot fail.
///
/// # NOTES
///
/// Thread safety: safe from any thread, and async-signal-safe after its
/// first call.
///
/// # EXAMPLES
///
/// ```c
/// off_t aligned = offset & ~(off_t)(rmap_pagesize() - 1);
/// ```
///
/// # SEE ALSO
///
/// `rmap_map(3)`, `sysconf(3)`
#[unsafe(no_mangle)]
pub extern "C" fn rmap_pagesize() -> usize {
    guard(0, || Ok(mapping::page_size()))
}

/// The version of the loaded librmap, as "MAJOR.MINOR.PATCH".
///
/// Compare it with `RMAP_VERSION_STRING` to tell the header a program was
/// built with from the library it runs with.
///
/// # RETURN VALUE
///
/// A static, NUL-terminated string; never NULL. This function cannot fail.
///
/// # NOTES
///
/// Thread safety: safe from any thread; the string is never freed.
///
/// # EXAMPLES
///
/// ```c
/// if (strcmp(rmap_version(), RMAP_VERSION_STRING) != 0)
///     fprintf(stderr, "built with librmap %s, running %s\n", RMAP_VERSION_STRING, rmap_version());
/// ```
///
/// # SEE ALSO
///
/// `rmap_map(3)`
#[unsafe(no_mangle)]
pub extern "C" fn rmap_version() -> *const c_char {
    guard(c"".as_ptr(), || Ok(VERSION.as_ptr()))
}

const VERSION: &CStr =
    match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
        Ok(version) => version,
        Err(_) => panic!("the package version contains a NUL byte"),
    };

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_turns_a_panic_into_enotrecoverable() {
        set_errno(Errno(0));
        let value = guard(-1, || -> Result<i32, Errno> { panic!("injected") });
        assert_eq!(value, -1);
        assert_eq!(errno::errno().0, ENOTRECOVERABLE);
    }

    #[test]
    fn guard_sets_errno_on_error_and_leaves_it_on_success() {
        set_errno(Errno(1234));
        assert_eq!(guard(-1, || Ok(7)), 7);
        assert_eq!(errno::errno().0, 1234);
        assert_eq!(guard(-1, || Err(Errno(libc::EINVAL))), -1);
        assert_eq!(errno::errno().0, libc::EINVAL);
    }
}
