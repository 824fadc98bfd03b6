//! Every `extern "C"` function, and nothing else: marshal C types, guard
//! against panics, set errno as the very last step.
//!
//! The doc comment of each function is its man page; cbindgen copies it into
//! `include/rmap.h`. Each ERRORS entry carries, in brackets, the name of the
//! C test case under `tests/c/` that provokes it (the man pages leave it out).
//!
//! This layer sees C types (from `libc`, as C types) and calls only the
//! operations of the Rust crate (`rmap/`): `mapping` and `guarded`.

use std::ffi::{CStr, c_char, c_int, c_uchar, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};

use libc::{EINVAL, ENOENT, ENOTRECOVERABLE, off_t, ssize_t};

use rmap_rust::guarded;
use rmap_rust::mapping::{self, CheckMode, Common, Errno, Info};

/// Sets the calling thread's errno: the last step of a failing call.
fn set_errno(error: Errno) {
    // SAFETY: __errno_location points at this thread's errno.
    unsafe { *libc::__errno_location() = error.0 };
}

/// The calling thread's errno (for the tests).
#[cfg(test)]
fn errno_now() -> i32 {
    // SAFETY: as above.
    unsafe { *libc::__errno_location() }
}

/// The panic boundary shared by every exported function: runs `body`, and on
/// an error or a panic returns `failure` with errno set (ENOTRECOVERABLE for
/// a panic). errno is untouched on success, as libc leaves it. (Always
/// inlined: it is a few instructions around the body, and a call costs the
/// fast copies of `rmap_read` several percent.)
#[inline(always)]
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
/// The first four EINVAL conditions (a misaligned `offset`, a `length` of 0,
/// a misaligned fixed `addr`, no map type), EBADF for a negative `fd` and
/// EOVERFLOW are decided by librmap before any system call, with Linux's own
/// rules and order; every other error, the `MAP_HUGETLB` and `MAP_GROWSDOWN`
/// cases of EINVAL among them, is the kernel's answer, unchanged.
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
    // SAFETY: the caller upholds mmap's contract, which map_common() forwards.
    match unsafe { mapping::map_common(addr.cast(), length, prot, flags, fd, offset) } {
        Common::Done(ptr) => ptr.cast(),
        Common::Failed(error) => {
            common_call_failed(error.0);
            libc::MAP_FAILED
        }
        // SAFETY: as above.
        Common::Other => unsafe { map_general(addr, length, prot, flags, fd, offset) },
    }
}

/// `rmap_map` but for the common map, in the panic guard. Out of line, as
/// `copy_unfinished` is for the copies: the common map is a leaf without
/// a stack frame to speak of (`mapping::map_common`), and jumps here
/// (`extern "C"`: nothing unwinds out of it, so the jump needs no landing
/// pad).
///
/// # Safety
/// As for `mmap(2)`.
#[cold]
#[inline(never)]
unsafe extern "C" fn map_general(
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

/// A common map or unmap the kernel refused with `errno`: counted, and
/// errno set. Out of line, as `map_general`.
#[cold]
#[inline(never)]
extern "C" fn common_call_failed(errno: c_int) {
    guard((), || Err(mapping::failed(Errno(errno))))
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
/// except in checked mode for one of the last ranges unmapped (see
/// `rmap_set_check`). The registry forgets the
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
/// - `EINVAL` [unmap_einval_unowned_checked]: checked mode only: the range
///   holds memory librmap did not map (the C library's `mmap`, `malloc`'s,
///   the stack), or a librmap mapping there was unmapped or replaced behind
///   librmap's back; or one of the process's last 64 unmaps covered part of
///   it (a double unmap). Reported as `rmap: unmap-unowned: ...` or
///   `rmap: double-unmap: ...`; the memory is not touched.
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
    // SAFETY: the caller upholds munmap's contract, which unmap_common() forwards.
    match unsafe { mapping::unmap_common(addr.cast(), length) } {
        Common::Done(()) => 0,
        Common::Failed(error) => {
            common_call_failed(error.0);
            -1
        }
        // SAFETY: as above.
        Common::Other => unsafe { unmap_general(addr, length) },
    }
}

/// `rmap_unmap` but for the common unmap, in the panic guard: see
/// `map_general`.
///
/// # Safety
/// As for `munmap(2)`.
#[cold]
#[inline(never)]
unsafe extern "C" fn unmap_general(addr: *mut c_void, length: usize) -> c_int {
    guard(-1, || {
        // SAFETY: the caller upholds munmap's contract, which unmap() forwards.
        unsafe { mapping::unmap(addr.cast(), length) }?;
        Ok(0)
    })
}

/// Set the protection of a range of mappings: the drop-in replacement for
/// `mprotect(2)`.
///
/// Changes the access allowed to the pages of [`addr`, `addr` + `length`),
/// `length` rounded up to whole pages, to `prot`: `PROT_NONE` or an OR of
/// `PROT_READ`, `PROT_WRITE`, `PROT_EXEC`, optionally with `PROT_SEM` (ignored)
/// or one of `PROT_GROWSDOWN` (the change extends down to the start of a
/// `MAP_GROWSDOWN` mapping) and `PROT_GROWSUP`. The registry records the new
/// protection, splitting and merging records as the kernel splits and merges
/// its mappings.
///
/// # RETURN VALUE
///
/// 0 on success; -1 on error, with errno set.
///
/// # ERRORS
///
/// - `EACCES` [protect_eacces_shared_write_readonly_fd]: `PROT_WRITE` for a
///   `MAP_SHARED` file mapping whose descriptor was not open for writing.
/// - `EACCES` [protect_eacces_deny_write_exec]: the process refuses new
///   executable memory (`prctl(PR_SET_MDWE)`) and `prot` would make a
///   mapping executable.
/// - `EINVAL` [protect_einval_addr_misaligned]: `addr` is not page aligned.
/// - `EINVAL` [protect_einval_prot_unknown]: `prot` has a bit other than
///   `PROT_READ`, `PROT_WRITE`, `PROT_EXEC`, `PROT_SEM`, `PROT_GROWSDOWN` and
///   `PROT_GROWSUP`.
/// - `EINVAL` [protect_einval_grows_both]: `prot` has both `PROT_GROWSDOWN`
///   and `PROT_GROWSUP`.
/// - `EINVAL` [protect_einval_growsdown_not_growsdown]: `PROT_GROWSDOWN` (or
///   `PROT_GROWSUP`, which x86-64 lacks) for a mapping that cannot grow.
/// - `ENOMEM` [protect_enomem_unmapped]: part of the range is not mapped.
/// - `ENOMEM` [protect_enomem_range_wraps]: `addr` plus `length`, rounded up
///   to a page, wraps past the end of the address space.
/// - `ENOMEM` [protect_enomem_map_count]: splitting a mapping would exceed
///   `vm.max_map_count`.
/// - `EPERM` [protect_eperm_sealed]: the range is sealed with `mseal(2)`.
///
/// EINVAL for both GROWS bits, then for a misaligned `addr`, then ENOMEM for a
/// wrapping range, then EINVAL for unknown `prot` bits are decided by librmap
/// before any system call, in that order (Linux's); a `length` of 0 succeeds
/// after the first two. The rest are the kernel's answers.
///
/// # NOTES
///
/// - When the call fails part way (a hole, a mapping that refuses the new
///   protection), the mappings before it have already changed, as with
///   `mprotect`; the registry asks the kernel and records what changed.
/// - In checked mode, a protection both writable and executable is reported
///   as `rmap: write-exec: ...` (the call is made).
/// - Thread safety: safe from any number of threads at once. Not
///   async-signal-safe.
///
/// # EXAMPLES
///
/// ```c
/// rmap_protect(page, 4096, PROT_READ);   /* a guard against stray writes */
/// ```
///
/// # SEE ALSO
///
/// `rmap_map(3)`, `rmap_query(3)`, `mprotect(2)`
///
/// # Safety
///
/// As for `mprotect(2)`: accesses the new protection forbids fault.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmap_protect(addr: *mut c_void, length: usize, prot: c_int) -> c_int {
    guard(-1, || {
        // SAFETY: the caller upholds mprotect's contract, which protect() forwards.
        unsafe { mapping::protect(addr.cast(), length, prot) }?;
        Ok(0)
    })
}

/// Give advice about the use of a range of memory: the drop-in replacement
/// for `madvise(2)`.
///
/// Passes `advice` (`MADV_NORMAL`, `MADV_RANDOM`, `MADV_SEQUENTIAL`,
/// `MADV_WILLNEED`, `MADV_DONTNEED`, `MADV_FREE`, `MADV_REMOVE`,
/// `MADV_DONTFORK`, `MADV_DOFORK`, `MADV_POPULATE_READ`, ... as the kernel
/// knows them) for the pages of [`addr`, `addr` + `length`), `length` rounded
/// up to whole pages. The registry follows `MADV_DONTFORK` and `MADV_DOFORK`:
/// a child made by `fork` does not have (or record) a don't-fork range.
///
/// # RETURN VALUE
///
/// 0 on success; -1 on error, with errno set.
///
/// # ERRORS
///
/// - `EACCES` [advise_eacces_remove_not_shared_writable]: `MADV_REMOVE` for a
///   file mapping that is not shared and writable.
/// - `EFAULT` [advise_efault_populate_past_eof]: `MADV_POPULATE_READ` or
///   `MADV_POPULATE_WRITE`, and a page lies past the end of its file (an
///   access would raise SIGBUS).
/// - `EINVAL` [advise_einval_addr_misaligned]: `addr` is not page aligned.
/// - `EINVAL` [advise_einval_unknown_advice]: `advice` is not one this kernel
///   knows (`MADV_MERGEABLE` and `MADV_HUGEPAGE`, for example, exist only in
///   kernels built with KSM and transparent huge pages).
/// - `EINVAL` [advise_einval_range_wraps]: `length` rounded up to a page, or
///   `addr` plus it, wraps past the end of the address space.
/// - `EINVAL` [advise_einval_dontneed_locked]: `MADV_DONTNEED` or `MADV_FREE`
///   for locked pages.
/// - `EINVAL` [advise_einval_remove_anonymous]: `MADV_REMOVE` for private
///   anonymous memory.
/// - `EINVAL` [advise_einval_free_shared]: `MADV_FREE` or `MADV_WIPEONFORK` for
///   a shared or file mapping.
/// - `EINVAL` [advise_einval_populate_forbidden]: `MADV_POPULATE_WRITE` for a
///   mapping without `PROT_WRITE` (or `MADV_POPULATE_READ` without
///   `PROT_READ`).
/// - `ENOMEM` [advise_enomem_unmapped]: part of the range is not mapped (the
///   advice still applies to the mapped parts).
/// - `EPERM` [advise_eperm_hwpoison]: `MADV_HWPOISON` or `MADV_SOFT_OFFLINE`
///   without `CAP_SYS_ADMIN`.
/// - `EPERM` [advise_eperm_sealed]: advice that discards data (`MADV_DONTNEED`,
///   `MADV_FREE`, ...) for a sealed read-only private mapping.
///
/// EINVAL for a misaligned `addr` or a wrapping range is decided by librmap
/// before any system call (every other cause of the same errno also comes
/// before any other check in Linux, so the order cannot differ). Whether
/// `advice` is known depends on the kernel's configuration, so the kernel
/// decides it; so are all other errors.
///
/// # NOTES
///
/// - A `length` of 0 succeeds (for an aligned `addr` and known `advice`).
/// - Other errors of `madvise(2)` (EAGAIN, EIO, EHWPOISON, EBUSY for
///   `MADV_COLLAPSE`) are the kernel's, passed through unchanged.
/// - Thread safety: safe from any number of threads at once. Not
///   async-signal-safe.
///
/// # EXAMPLES
///
/// ```c
/// rmap_advise(map, length, MADV_SEQUENTIAL);   /* read ahead aggressively */
/// ```
///
/// # SEE ALSO
///
/// `rmap_map(3)`, `rmap_resident(3)`, `madvise(2)`
///
/// # Safety
///
/// As for `madvise(2)`: some advice (`MADV_DONTNEED`, `MADV_FREE`,
/// `MADV_REMOVE`) discards the contents of the range.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmap_advise(addr: *mut c_void, length: usize, advice: c_int) -> c_int {
    guard(-1, || {
        // SAFETY: the caller upholds madvise's contract, which advise() forwards.
        unsafe { mapping::advise(addr.cast(), length, advice) }?;
        Ok(0)
    })
}

/// Lock pages in memory: the drop-in replacement for `mlock(2)`.
///
/// Locks the pages that contain any part of [`addr`, `addr` + `length`) into
/// RAM and faults them in; `addr` need not be aligned. The registry records
/// the range as locked: `rmap_query` and `rmap_foreach` report `MAP_LOCKED`
/// in `flags` while it is.
///
/// # RETURN VALUE
///
/// 0 on success; -1 on error, with errno set.
///
/// # ERRORS
///
/// - `EINVAL` [lock_einval_range_wraps]: the range, widened to whole pages,
///   wraps past the end of the address space (with `CAP_IPC_LOCK`; without
///   it, such a range exceeds `RLIMIT_MEMLOCK`: ENOMEM).
/// - `ENOMEM` [lock_enomem_unmapped]: part of the range is not mapped (the
///   mappings before the hole are locked).
/// - `ENOMEM` [lock_enomem_limit]: the locked memory would exceed
///   `RLIMIT_MEMLOCK`, without `CAP_IPC_LOCK`.
/// - `EPERM` [lock_eperm_no_limit]: `RLIMIT_MEMLOCK` is 0, without
///   `CAP_IPC_LOCK`.
///
/// Nothing is decided before the system call: Linux checks the caller's
/// limit and capability first, which only the kernel knows.
///
/// # NOTES
///
/// - EAGAIN (the pages could not be faulted in for lack of memory) is the
///   kernel's answer; the range is then locked, as the registry records.
/// - Thread safety: safe from any number of threads at once. Not
///   async-signal-safe.
///
/// # EXAMPLES
///
/// ```c
/// if (rmap_lock(key, sizeof key) == -1)   /* keep a secret out of swap */
///     err(1, "rmap_lock");
/// ```
///
/// # SEE ALSO
///
/// `rmap_unlock(3)`, `rmap_query(3)`, `mlock(2)`
///
/// # Safety
///
/// Any pointer value may be passed; no memory is read or written.
#[unsafe(no_mangle)]
pub extern "C" fn rmap_lock(addr: *const c_void, length: usize) -> c_int {
    guard(-1, || {
        mapping::lock(addr.cast(), length)?;
        Ok(0)
    })
}

/// Unlock pages: the drop-in replacement for `munlock(2)`.
///
/// Unlocks the pages that contain any part of [`addr`, `addr` + `length`);
/// `addr` need not be aligned. The registry records them as unlocked.
///
/// # RETURN VALUE
///
/// 0 on success; -1 on error, with errno set.
///
/// # ERRORS
///
/// - `EINVAL` [unlock_einval_range_wraps]: the range, widened to whole pages,
///   wraps past the end of the address space.
/// - `ENOMEM` [unlock_enomem_unmapped]: part of the range is not mapped (the
///   mappings before the hole are unlocked).
///
/// EINVAL for a wrapping range is decided by librmap before any system call.
///
/// # NOTES
///
/// Thread safety: safe from any number of threads at once. Not
/// async-signal-safe.
///
/// # SEE ALSO
///
/// `rmap_lock(3)`, `munlock(2)`
///
/// # Safety
///
/// Any pointer value may be passed; no memory is read or written.
#[unsafe(no_mangle)]
pub extern "C" fn rmap_unlock(addr: *const c_void, length: usize) -> c_int {
    guard(-1, || {
        mapping::unlock(addr.cast(), length)?;
        Ok(0)
    })
}

/// Grow, shrink or move a mapping: the drop-in replacement for `mremap(2)`.
///
/// Resizes the mapping at [`old_address`, `old_address` + `old_size`) to
/// `new_size` bytes, in place if it can. `flags` is 0 or an OR of
/// `MREMAP_MAYMOVE` (it may move), `MREMAP_FIXED` (it moves to the fifth
/// argument, `void *new_address`, replacing whatever is there) and
/// `MREMAP_DONTUNMAP` (it moves, leaving the old range mapped). The fifth
/// argument is read only with `MREMAP_FIXED` or `MREMAP_DONTUNMAP`, as glibc
/// reads it. An `old_size` of 0 maps the same shared pages a second time.
/// The registry follows: records grow, shrink or move with their attributes.
///
/// The C declaration is variadic, `void *rmap_remap(void *old_address,
/// size_t old_size, size_t new_size, int flags, ...)`, exactly glibc's
/// `mremap`, so a call written for `mremap` with four arguments or five
/// compiles unchanged (`#define mremap rmap_remap`). librmap defines it in
/// Rust, which cannot define C-variadic functions on stable, with the fifth
/// argument as a fixed parameter: on x86-64 a variadic call passes it in the
/// same register, and librmap reads it only when `flags` says it was passed.
///
/// # RETURN VALUE
///
/// The address of the mapping; on error `RMAP_FAILED` (`(void *) -1`), with
/// errno set.
///
/// # ERRORS
///
/// - `EAGAIN` [remap_eagain_memlock]: growing a locked mapping beyond
///   `RLIMIT_MEMLOCK`, without `CAP_IPC_LOCK`.
/// - `EFAULT` [remap_efault_unmapped]: `old_address` is not mapped, or the old
///   range reaches past the end of its mapping.
/// - `EINVAL` [remap_einval_unknown_flag]: `flags` has a bit other than
///   `MREMAP_MAYMOVE`, `MREMAP_FIXED` and `MREMAP_DONTUNMAP`.
/// - `EINVAL` [remap_einval_addr_misaligned]: `old_address` is not page
///   aligned.
/// - `EINVAL` [remap_einval_new_size_zero]: `new_size` is 0 (or rounds up to 0
///   pages).
/// - `EINVAL` [remap_einval_move_without_maymove]: `MREMAP_FIXED` or
///   `MREMAP_DONTUNMAP` without `MREMAP_MAYMOVE`.
/// - `EINVAL` [remap_einval_dontunmap_resize]: `MREMAP_DONTUNMAP` with
///   different old and new sizes.
/// - `EINVAL` [remap_einval_new_address_misaligned]: `MREMAP_FIXED` and
///   `new_address` is not page aligned.
/// - `EINVAL` [remap_einval_overlap]: `MREMAP_FIXED` and the new range overlaps
///   the old.
/// - `EINVAL` [remap_einval_duplicate_private]: `old_size` 0 for a private
///   mapping.
/// - `ENOMEM` [remap_enomem_no_room]: the mapping cannot grow in place and
///   `MREMAP_MAYMOVE` is not given (or there is no free range to move to).
/// - `EPERM` [remap_eperm_sealed]: the mapping is sealed with `mseal(2)`.
/// - `EINVAL` [remap_einval_unowned_checked]: checked mode only: the call
///   could move or shrink the mapping of the old range (`MREMAP_MAYMOVE`,
///   `MREMAP_FIXED`, or a smaller new size), which lies in one mapping the
///   kernel holds, and that is memory librmap did not map, or a librmap
///   mapping replaced behind librmap's back. Reported as
///   `rmap: remap-unowned: ...`; no system call is made.
///
/// EINVAL for an unknown flag, a move without `MREMAP_MAYMOVE`, a resizing
/// `MREMAP_DONTUNMAP`, a misaligned `old_address` and a new size of 0 pages
/// is decided by librmap before any system call (all precede any other check
/// in Linux, so the order cannot differ). Checks of `new_address` come
/// before the old mapping is looked up in Linux 6.18 but after it in 6.1:
/// the kernel decides them.
///
/// # NOTES
///
/// - A `MREMAP_FIXED` move that fails late may already have unmapped the new
///   range, as with `mremap`; the registry asks the kernel and records that.
/// - In checked mode with `RMAP_CHECK_BEYOND_EOF=map`, growing a file
///   mapping past the file's last page is reported as `rmap: beyond-eof:
///   ...`; without it, a touch of such a page is (see `rmap_set_check`).
/// - Thread safety: safe from any number of threads at once. Not
///   async-signal-safe.
///
/// # EXAMPLES
///
/// ```c
/// char *bigger = rmap_remap(buf, 4096, 8192, MREMAP_MAYMOVE);
/// char *there = rmap_remap(buf, 4096, 4096, MREMAP_MAYMOVE | MREMAP_FIXED, target);
/// ```
///
/// # SEE ALSO
///
/// `rmap_map(3)`, `rmap_query(3)`, `mremap(2)`
///
/// # Safety
///
/// As for `mremap(2)`: after a move nothing usable is left at the old address
/// (but with `MREMAP_DONTUNMAP`), and `MREMAP_FIXED` replaces what the new
/// range held.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmap_remap(
    old_address: *mut c_void,
    old_size: usize,
    new_size: usize,
    flags: c_int,
    new_address: *mut c_void,
) -> *mut c_void {
    guard(libc::MAP_FAILED, || {
        // SAFETY: the caller upholds mremap's contract, which remap() forwards;
        // new_address is read only when flags say it was passed.
        let ptr = unsafe {
            mapping::remap(
                old_address.cast(),
                old_size,
                new_size,
                flags,
                new_address.cast(),
            )
        }?;
        Ok(ptr.cast())
    })
}

/// Which pages of a range are resident in memory: the drop-in replacement
/// for `mincore(2)`.
///
/// Fills `vec`, one byte per page of [`addr`, `addr` + `length`), with 1 in
/// the lowest bit for a page resident in memory (in the page cache, for a
/// file), 0 otherwise.
///
/// # RETURN VALUE
///
/// 0 on success; -1 on error, with errno set.
///
/// # ERRORS
///
/// - `EFAULT` [resident_efault_vec]: `vec` is not writable for one byte per
///   page.
/// - `EINVAL` [resident_einval_addr_misaligned]: `addr` is not page aligned.
/// - `ENOMEM` [resident_enomem_range_wraps]: `addr` plus `length` lies outside
///   the user address space.
/// - `ENOMEM` [resident_enomem_unmapped]: part of the range is not mapped.
///
/// EINVAL for a misaligned `addr`, then ENOMEM for a range that wraps or ends
/// above 2^63, then EFAULT for a `vec` too near the top for the range (when
/// the range surely lies in the address space) are decided by librmap before
/// any system call, in that order (Linux's).
///
/// # NOTES
///
/// - A `length` of 0 succeeds and writes nothing.
/// - EAGAIN (the kernel is out of memory) is passed through.
/// - Thread safety: safe from any number of threads at once. Not
///   async-signal-safe.
///
/// # EXAMPLES
///
/// ```c
/// unsigned char vec[256];
/// rmap_resident(map, 256 * 4096, vec);   /* vec[i] & 1: page i is in memory */
/// ```
///
/// # SEE ALSO
///
/// `rmap_advise(3)`, `mincore(2)`
///
/// # Safety
///
/// `vec` must be writable for one byte per page of the range.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmap_resident(
    addr: *mut c_void,
    length: usize,
    vec: *mut c_uchar,
) -> c_int {
    guard(-1, || {
        // SAFETY: the caller vouches for vec, which resident() forwards.
        unsafe { mapping::resident(addr.cast(), length, vec) }?;
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
///   thread; every other fault gets the program's action exactly (its
///   handler with its own `sa_mask` and flags, including `SA_RESETHAND`;
///   `SIG_IGN` for signals sent with `kill()`; otherwise the default), so the
///   process dies of the same signal as without librmap. A plain pointer
///   access to a truncated page still raises SIGBUS.
/// - The guarantee: a guarded copy returns EIO or EFAULT whatever the rest
///   of the process did to SIGBUS/SIGSEGV handling and to the signal mask,
///   in any order and through the C library's functions, whoever calls
///   them: the program, a library loaded before librmap, or a host that
///   loaded librmap with `dlopen(RTLD_LOCAL)` (Python's faulthandler and
///   signal modules, a JVM). librmap exports `sigaction`, `signal`,
///   `sysv_signal`, `__sysv_signal`, `sigprocmask` and `pthread_sigmask`,
///   and when it installs its handler it also points every loaded object's
///   calls of those and of `bsd_signal`, `sigset`, `sigignore`, `sighold`
///   and `sigrelse` at its own (objects loaded later: at any thread's next
///   first copy, or copy after a mask change). Through them a SIGBUS or
///   SIGSEGV action set after the first copy goes behind librmap's handler
///   instead of replacing it (and is what the program reads back, flags and
///   `sa_restorer` as glibc gives them), and a thread that changes its mask
///   has it read again at its next copy. So `SIG_DFL`, `SIG_IGN`, a handler
///   that does not chain or returns, or a blocked SIGBUS/SIGSEGV cannot make
///   a copy kill the process or hang. A program's handler that leaves with
///   `longjmp` (SIGBUS then stays blocked) sends its thread back to the
///   first-copy check too: librmap's `sigaction` puts a function of its own
///   in front of every handler of any other signal (the kernel still runs
///   it with its mask and flags, and `sigaction` reports the program's
///   action), and a copy in a handler checks the mask the handler runs with
///   (its `sa_mask`, or `sigsuspend`'s mask). In a `vfork` child, `sigaction` and `signal` act
///   on the child's own actions only, leaving the parent's record alone.
/// - Blocked signals: in a thread whose mask blocks SIGBUS or SIGSEGV, the
///   first copy (after each mask change) unblocks them in the kernel and
///   keeps them blocked as the program sees them, so copies cost what they
///   cost elsewhere. Wherever the program can tell, it gets the mask it
///   set: `sigprocmask` and the other mask functions, a handler's context
///   and the mask it returns to, `sigsetjmp` and `getcontext`, `sigsuspend`
///   and the waits that take a mask, threads and programs started
///   (`pthread_create`, `posix_spawn`, `system`, `popen`, the exec family),
///   all rebound as the signal functions are; a SIGBUS or SIGSEGV sent to
///   the thread stays pending, and a fault outside a copy kills, as the
///   kernel does. Where that cannot be kept (a C library linked in
///   statically, a `vfork` child, one of them pending at that first copy),
///   each copy runs with both unblocked and restores the mask (two more
///   system calls per copy; a pending one is delivered during that copy).
/// - What the guarantee does not cover: an action or mask changed with the
///   system call itself (`rt_sigaction`, `rt_sigprocmask`), through a
///   function pointer fetched with `dlsym`, or by the C library's own
///   internal calls (a `makecontext` context that returns to its `uc_link`,
///   `wordexp`'s child; the kernel's mask is also what a raw system call
///   and `/proc/self/status` show;
///   `siglongjmp` and `longjmp` to a buffer that saved the mask,
///   `setcontext` and `swapcontext` are covered: they are rebound as the
///   signal functions are, and send the thread back to its first-copy
///   check). Those are found at each thread's first copy, and at its first after a
///   mask change, where librmap installs its handler again over `SIG_DFL`
///   or `SIG_IGN` and reads the mask; between two such points a copy can
///   still be killed. A handler installed that way must pass the faults it
///   does not handle to the old action.
/// - librmap is never unloaded (`dlclose` leaves it in place), so its
///   handler never points into unmapped code.
/// - On failure, bytes of `dst` past `rmap_copied()` are unspecified: part
///   of the page that faulted may have been written.
/// - `src` and `dst` must not overlap, as for `memcpy`. Below 16 bytes the
///   copy is at most four moves inlined into the call; below 256 bytes SSE2
///   moves of 16 bytes; below 64 KiB one `rep movsb` (x86-64), about as
///   fast as `memcpy` from a few KiB up; from 64 KiB up it is the C
///   library's `memcpy` under the same guard. After a fault, a second,
///   page-by-page pass finds the exact count. If installing the handler
///   fails, the call returns -1 with the errno of `sigaction(2)`.
/// - Thread safety: safe from any number of threads at once. It may be
///   called in a signal handler the program set with `sigaction` or
///   `signal`, also one that interrupted a copy or search of its own
///   thread: librmap runs such handlers with the thread's records set
///   aside (arguments, fault, open frame, `rmap_copied`'s count) and puts
///   them back after. Not in a handler set with the system call itself,
///   nor in one that interrupted `dlopen` or `dlclose` (a copy in a
///   handler checks the loaded objects). A panic inside librmap returns -1
///   with errno `ENOTRECOVERABLE`.
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
/// is the mapping. The fast path is the copy alone (no Rust code, nothing
/// kept across it, so no stack frame: a call with saved registers cost ~10%
/// of a 4 KiB copy, and 20% of Python's `m[i]`); the rest runs in the guard.
///
/// # Safety
/// As for `memcpy`, except that inaccessible pages are allowed.
#[inline(always)]
unsafe fn guarded_copy(dst: *mut c_void, src: *const c_void, n: usize) -> c_int {
    // SAFETY: forwarded to the caller's contract.
    match unsafe { guarded::copy_fast(dst.cast(), src.cast(), n) } {
        0 => 0,
        // SAFETY: right after the fast path, in this thread.
        unfinished => unsafe { copy_unfinished(unfinished) },
    }
}

/// The slow path of `rmap_read` and `rmap_write`, in the panic guard. (Not
/// inlined: its landing pad would give the fast path a stack frame. `extern
/// "C"`, which cannot unwind: the fast path then jumps to it instead of
/// calling it, and keeps no frame at all.)
///
/// # Safety
/// Right after the fast path returned `unfinished`, in this thread.
#[cold]
#[inline(never)]
unsafe extern "C" fn copy_unfinished(unfinished: c_int) -> c_int {
    guard(-1, || {
        // SAFETY: the caller's contract.
        unsafe { guarded::copy_rest(unfinished) }?;
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
/// `rmap_write` copied (for `rmap_find`: where its search faulted).
///
/// Like errno, it is meaningful right after a call that returned -1: a
/// successful copy copied all its bytes and does not update the count (so
/// the fast path touches no thread-local state).
///
/// # RETURN VALUE
///
/// The number of leading bytes the last failed copy of this thread copied:
/// every byte before the first page that faulted (of the source or of the
/// destination), whose first byte was not copied; 0 in a thread with no
/// failed copy. Bytes of the destination past the count are unspecified.
/// After a failed `rmap_find`: the offset in its haystack of the start of
/// the page that faulted (0 if that page starts before the haystack).
/// This function cannot fail.
///
/// # NOTES
///
/// Thread safety: each thread has its own count; a copy in a signal handler
/// the program set with `sigaction` or `signal` does not change the count
/// the interrupted code reads (see `rmap_read`).
///
/// # SEE ALSO
///
/// `rmap_read(3)`, `rmap_write(3)`, `rmap_find(3)`
#[unsafe(no_mangle)]
pub extern "C" fn rmap_copied() -> usize {
    guard(0, || Ok(guarded::last_copied()))
}

/// Search a mapping for bytes without risking SIGBUS or SIGSEGV.
///
/// Looks for the `needle_len` bytes at `needle` in the `n` bytes at
/// `haystack` (typically inside a mapping), like `memmem(3)` (`memchr(3)`
/// for one byte), but in place and guarded as `rmap_read` copies are: a page
/// of the haystack that faults does not kill the process, the call fails
/// with an errno instead. With `RMAP_FIND_LAST` in `flags` it finds the last
/// occurrence (`memrchr(3)` for one byte). An empty needle is found at
/// offset 0 (the last: at `n`); a needle longer than the haystack is not
/// found.
///
/// # RETURN VALUE
///
/// 1 when the needle was found, its offset from `haystack` stored in
/// `*offset`; 0 when it was not (`*offset` untouched); -1 on error, with
/// errno set and `rmap_copied()` giving the offset in the haystack of the
/// start of the page that faulted.
///
/// # ERRORS
///
/// - `EINVAL` [find_einval_flags]: `flags` holds a bit other than
///   `RMAP_FIND_LAST`.
/// - `EINVAL` [find_einval_null_offset]: `offset` is NULL.
/// - `EIO` [find_eio_truncated]: a page of the haystack that the search
///   read, or of the needle, is no longer backed by its file, or reading it
///   hit an I/O error (SIGBUS).
/// - `EFAULT` [find_efault_unmapped]: a page of the haystack that the search
///   read, or of the needle, is not mapped or not readable (SIGSEGV).
///
/// # NOTES
///
/// - The search reads the haystack in place (SIMD, at about `memchr`'s
///   speed; no copy): only pages it reads can fault, so a needle found
///   before a truncated page is found.
/// - The needle may lie in a mapping too: it is copied first, guarded, and
///   a fault there fails the same way (`rmap_copied()` then 0).
/// - As for `rmap_read`: the handler, what a program with its own handler
///   must do, blocked signals, thread safety.
///
/// # EXAMPLES
///
/// ```c
/// size_t at;
/// int found = rmap_find(map + start, len - start, "\n", 1, 0, &at);
/// if (found == -1)
///     fprintf(stderr, "byte %zu: %s\n", start + rmap_copied(), strerror(errno));
/// ```
///
/// # SEE ALSO
///
/// `rmap_read(3)`, `rmap_copied(3)`, `memmem(3)`
///
/// # Safety
///
/// `offset` is NULL or valid; the pages of the haystack and of the needle
/// may be inaccessible.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmap_find(
    haystack: *const c_void,
    n: usize,
    needle: *const c_void,
    needle_len: usize,
    flags: c_int,
    offset: *mut usize,
) -> c_int {
    let mut searched = 0;
    if needle_len == 1 && flags == 0 && !offset.is_null() {
        // SAFETY: the haystack and the needle may fault, find_fast guards
        // both; `offset` is not NULL, and the caller vouches for it.
        match unsafe { guarded::find_fast(haystack.cast(), n, needle.cast(), offset) } {
            guarded::FastFind::Found => return 1,
            guarded::FastFind::NotFound => return 0,
            guarded::FastFind::NotInFirstSpan => searched = guarded::FIND_FAST_SPAN,
            guarded::FastFind::Unknown => {}
        }
    }
    // SAFETY: the caller's contract.
    unsafe { find_slow(haystack, n, needle, needle_len, flags, offset, searched) }
}

/// The rest of `rmap_find`, in the panic guard. (Not inlined, and `extern
/// "C"` as `copy_unfinished` is: its landing pad and frame would cost the
/// fast path, a readline()'s newline, ~15%.)
///
/// # Safety
/// As for `rmap_find`.
#[cold]
#[inline(never)]
unsafe extern "C" fn find_slow(
    haystack: *const c_void,
    n: usize,
    needle: *const c_void,
    needle_len: usize,
    flags: c_int,
    offset: *mut usize,
    searched: usize,
) -> c_int {
    guard(-1, || {
        if flags & !RMAP_FIND_LAST != 0 || offset.is_null() {
            return Err(Errno(EINVAL));
        }
        let occurrence = if flags & RMAP_FIND_LAST != 0 {
            guarded::Occurrence::Last
        } else {
            guarded::Occurrence::First
        };
        // SAFETY: the haystack and the needle may fault; find() guards both.
        let found = unsafe {
            guarded::find(
                haystack.cast(),
                n,
                needle.cast(),
                needle_len,
                occurrence,
                searched,
            )
        }?;
        Ok(found.map_or(0, |at| {
            // SAFETY: `offset` is not NULL, and the caller vouches for it.
            unsafe { *offset = at };
            1
        }))
    })
}

/// `rmap_find` flag: find the last occurrence instead of the first.
pub const RMAP_FIND_LAST: c_int = 1;

// The C library's signal functions, as librmap keeps them.
//
// librmap exports these six names, so a program (or library) that links
// librmap calls them instead of the C library's, and each calls the C
// library's in turn. They are not in rmap.h: their prototypes are the ones
// of <signal.h>. Two differences, both for SIGBUS and SIGSEGV only:
//
// - Once librmap's handler is installed (the first `rmap_read` or
//   `rmap_write`), setting a SIGBUS or SIGSEGV action puts it behind
//   librmap's handler instead of replacing it, and asking for the action
//   returns the program's own. Guarded copies keep working whatever the
//   program sets (SIG_DFL, SIG_IGN, a handler that never passes faults on);
//   every other fault gets exactly the program's action.
// - Changing a thread's signal mask sends that thread's next guarded copy
//   through the checkpoint again (see guarded.rs), which notices a mask
//   that now blocks SIGBUS or SIGSEGV and hides them (sys/signal/mask.c).

/// Examine and change a signal action: the C library's `sigaction(2)`, with
/// librmap's SIGBUS/SIGSEGV handler kept in front of the program's action.
///
/// # RETURN VALUE
///
/// 0 on success; -1 with errno set.
///
/// # ERRORS
///
/// As for the C library's `sigaction(2)` (`EINVAL` for an invalid signal,
/// `SIGKILL` or `SIGSTOP`).
///
/// # NOTES
///
/// For SIGBUS and SIGSEGV after librmap installed its handler: the action
/// given is recorded as the program's, librmap's handler is installed again
/// with the new action's `sa_mask` and its `SA_ONSTACK`, `SA_NODEFER` and
/// `SA_RESTART` flags (so the kernel sets up the delivery as it would for
/// the program's handler), and the old action returned is the program's
/// previous one. For another signal after librmap installed its handler: a
/// handler is installed behind a function of librmap's (with its own mask
/// and flags), which sends the thread's copies in it back to their mask
/// check, shows the handler the mask the program set, and puts the thread
/// back as it was when the handler returns (see `rmap_read`); the old action
/// returned is the program's. Async-signal-safe,
/// as `sigaction(2)` is.
///
/// # Safety
///
/// As for `sigaction(2)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sigaction(
    signum: c_int,
    act: *const guarded::SigAction,
    oldact: *mut guarded::SigAction,
) -> c_int {
    guard(-1, || {
        // SAFETY: forwarded to the caller's contract.
        unsafe { guarded::set_signal_action(signum, act, oldact) }?;
        Ok(0)
    })
}

/// ANSI C signal handling: the C library's `signal(3)` (BSD semantics),
/// going through librmap's `sigaction` for SIGBUS and SIGSEGV.
///
/// # RETURN VALUE
///
/// The previous handler; `SIG_ERR` with errno set on error.
///
/// # ERRORS
///
/// - `EINVAL`: `signum` is invalid, or `handler` is `SIG_ERR`.
///
/// # NOTES
///
/// For SIGBUS and SIGSEGV the action is built as glibc builds it (the signal
/// blocked during its handler, `SA_RESTART`), except that a `siginterrupt(3)`
/// call, which librmap cannot see, does not remove `SA_RESTART`.
///
/// # Safety
///
/// As for `signal(3)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn signal(
    signum: c_int,
    handler: guarded::SigHandler,
) -> guarded::SigHandler {
    guard(libc::SIG_ERR, || {
        guarded::set_signal_handler(signum, handler, false)
    })
}

/// System V signal handling: the C library's `sysv_signal(3)` (one-shot,
/// not blocked during its handler), going through librmap's `sigaction` for
/// SIGBUS and SIGSEGV.
///
/// # RETURN VALUE
///
/// As for `signal`.
///
/// # ERRORS
///
/// As for `signal`.
///
/// # Safety
///
/// As for `sysv_signal(3)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sysv_signal(
    signum: c_int,
    handler: guarded::SigHandler,
) -> guarded::SigHandler {
    guard(libc::SIG_ERR, || {
        guarded::set_signal_handler(signum, handler, true)
    })
}

/// `sysv_signal` under the name glibc's <signal.h> gives `signal` when a
/// program is compiled without `_DEFAULT_SOURCE` (for example with
/// `-std=c11` alone).
///
/// # RETURN VALUE
///
/// As for `signal`.
///
/// # ERRORS
///
/// As for `signal`.
///
/// # Safety
///
/// As for `sysv_signal(3)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __sysv_signal(
    signum: c_int,
    handler: guarded::SigHandler,
) -> guarded::SigHandler {
    guard(libc::SIG_ERR, || {
        guarded::set_signal_handler(signum, handler, true)
    })
}

/// Examine and change blocked signals: the C library's `sigprocmask(2)`,
/// on the mask the program set (SIGBUS and SIGSEGV that librmap unblocked
/// for the thread's copies are blocked again first: see `rmap_read`); the
/// calling thread's next `rmap_read` or `rmap_write` checks the new mask.
///
/// # RETURN VALUE
///
/// 0 on success; -1 with errno set.
///
/// # ERRORS
///
/// As for the C library's `sigprocmask(2)` (`EINVAL` for an invalid `how`).
///
/// # Safety
///
/// As for `sigprocmask(2)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sigprocmask(
    how: c_int,
    set: *const guarded::SigSet,
    oldset: *mut guarded::SigSet,
) -> c_int {
    guard(-1, || {
        // SAFETY: forwarded to the caller's contract.
        unsafe { guarded::set_signal_mask(how, set, oldset, true) }?;
        Ok(0)
    })
}

/// Examine and change a thread's blocked signals: the C library's
/// `pthread_sigmask(3)`, on the mask the program set (as for
/// `sigprocmask`); the thread's next `rmap_read` or `rmap_write` checks the
/// new mask.
///
/// # RETURN VALUE
///
/// 0 on success; an error number on error (errno is not set).
///
/// # ERRORS
///
/// As for the C library's `pthread_sigmask(3)` (`EINVAL` for an invalid
/// `how`).
///
/// # Safety
///
/// As for `pthread_sigmask(3)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_sigmask(
    how: c_int,
    set: *const guarded::SigSet,
    oldset: *mut guarded::SigSet,
) -> c_int {
    guard(ENOTRECOVERABLE, || {
        // SAFETY: forwarded to the caller's contract.
        Ok(unsafe { guarded::set_signal_mask(how, set, oldset, false) }
            .map_or_else(|error| error.0, |()| 0))
    })
}

/// A mapping as librmap recorded it (`rmap_query`, `rmap_foreach`): one
/// record per range the kernel keeps as one mapping of one `rmap_map` call
/// (a protection or lock change of part of it splits it, as the kernel
/// splits its own mappings, and undoing the change merges it again).
///
/// The size of this struct is fixed for the life of the SONAME
/// `librmap.so.0`: `rmap_query` writes exactly these fields, so a program
/// built against any 0.x header stays safe. Later facts are reported in the
/// bits of `flags` (as `MAP_LOCKED` is) or by new functions, never by
/// growing it.
#[repr(C)]
pub struct rmap_info {
    /// First byte of the mapping (or of what is left of it).
    pub start: *mut c_void,
    /// Length in bytes, a multiple of the page size.
    pub length: usize,
    /// `PROT_*` bits as last set by `rmap_map` or `rmap_protect` (without
    /// `PROT_GROWSDOWN`/`PROT_GROWSUP`).
    pub prot: c_int,
    /// `MAP_*` bits as passed to `rmap_map`, with `MAP_LOCKED` set while the
    /// range is locked (`MAP_LOCKED`, `rmap_lock`) and clear after
    /// `rmap_unlock`.
    pub flags: c_int,
    /// Device (as `st_dev` encodes it) and inode of the mapped file, as the
    /// kernel names the file it maps (equal to `fstat`'s `st_dev` and
    /// `st_ino` but on overlayfs and btrfs subvolumes, where the kernel names
    /// the underlying file); 0 for anonymous memory.
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
    /// Calls of the nine mapping functions (`rmap_map` to `rmap_resident`)
    /// that failed.
    pub failures: u64,
}

/// A bit of `struct rmap_info`'s `flags`: the range is tolerant
/// (`rmap_tolerate`). Not a `MAP_*` value (no flag of `mmap` uses it).
pub const RMAP_INFO_TOLERANT: c_int = 0x0200_0000;
/// A bit of `struct rmap_info`'s `flags`: a page of the range was lost (a
/// tolerant page that raised SIGBUS reads as zeros now; `rmap_losses`).
pub const RMAP_INFO_DAMAGED: c_int = 0x0100_0000;
/// A bit of `struct rmap_info`'s `flags`: `rmap_map_peer` mapped the range
/// plainly, from a memfd sealed against shrinking (`F_SEAL_SHRINK`) that
/// covered it: no peer can truncate it. (Other mappings do not say: librmap
/// asks no file for its seals on the mapping calls' path.)
pub const RMAP_INFO_SEALED: c_int = 0x0080_0000;

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
        flags: found.entry.flags
            | if found.entry.tolerant {
                RMAP_INFO_TOLERANT
            } else {
                0
            }
            | if found.damaged { RMAP_INFO_DAMAGED } else { 0 }
            | if found.entry.sealed {
                RMAP_INFO_SEALED
            } else {
                0
            },
        dev: found.entry.dev,
        ino: found.entry.ino,
        offset: found.entry.offset,
    }
}

/// Let pages of librmap mappings survive the loss of what backs them.
///
/// Marks the pages of `[addr, addr + length)`, which must lie wholly in
/// mappings made by librmap, as tolerant: when an access to one of them
/// raises SIGBUS (its file was truncated below it, reading it hit an I/O
/// error, the file system has no space to fill a hole, the page is
/// poisoned), librmap puts zero-filled private memory with the page's
/// protection in its place, records the loss, and lets the access run
/// again, instead of the process dying. Reads see zeros; writes stay in
/// memory and never reach the file. Pages still backed by the file stay
/// shared with it. `length` is rounded up to whole pages.
///
/// The program learns what was lost: `rmap_sync` of a range holding a lost
/// page fails with EIO every time (its data never reaches the file, and
/// never will: unlike `fsync`, which reports a writeback error once),
/// `rmap_query` sets `RMAP_INFO_DAMAGED` in `info.flags` (and
/// `RMAP_INFO_TOLERANT` for any tolerant range), `rmap_losses` gives the
/// file offsets lost, and checked mode reports each loss (`rmap: lost-page:
/// ...`, with where the mapping was made).
///
/// # RETURN VALUE
///
/// 0 on success; -1 with errno set.
///
/// # ERRORS
///
/// - `EINVAL` [tolerate_einval_misaligned]: `addr` is not page aligned.
/// - `EINVAL` [tolerate_einval_length_zero]: `length` is 0.
/// - `EINVAL` [tolerate_einval_stale_checked]: checked mode only: a mapping
///   of the range was unmapped or replaced behind librmap's back.
/// - `ENOMEM` [tolerate_enomem_not_librmaps]: part of the range is not a
///   mapping librmap made (or the range wraps around the address space);
///   or librmap cannot get the memory to watch more tolerant ranges (at
///   most 262,144 at once).
///
/// # NOTES
///
/// - Tolerance is an attribute of the pages, as protection is: it goes with
///   them through `rmap_protect`, `rmap_lock`, `rmap_remap` (grown pages of
///   a tolerant mapping are tolerant, a moved range stays tolerant) and
///   into the child of `fork`; a partial `rmap_unmap` or a `MAP_FIXED`
///   mapping over the range ends it there. Memory librmap did not map, and
///   librmap's mappings that are not tolerant, keep the kernel's behaviour
///   exactly: a SIGBUS still kills.
/// - Guarded copies (`rmap_read`, `rmap_write`) of a tolerant page succeed
///   too, reading zeros after a loss.
/// - The first call installs librmap's SIGBUS/SIGSEGV handler (see
///   `rmap_read`, which says how it stays in charge). The handler takes no
///   lock the program could hold, so no librmap call makes a tolerant fault
///   wait; it replaces a page only while no librmap call can change its
///   range, and only if the kernel says it still faults, so a fault in one
///   thread never replaces memory another thread's `rmap_unmap`,
///   `rmap_remap` or `rmap_map` put there meanwhile; memory unmapped behind
///   librmap's back (the C library's `munmap`) is outside that promise. A
///   signal handler touching tolerant pages while its thread is inside a
///   librmap call has them absorbed and the losses recorded.
/// - A lost page is a separate mapping to the kernel: `rmap_remap` of a
///   range holding one fails with EFAULT, as `mremap` of a range spanning
///   two mappings does; and each loss counts toward `vm.max_map_count` (at
///   the limit the page cannot be replaced, and the SIGBUS goes on to the
///   program's action).
/// - Cost: marking costs no system call; until a fault nothing else
///   changes (reading a tolerant mapping is as fast as any other), and one
///   absorbed fault costs a few system calls in the signal handler (a probe
///   of the page, the `mmap` that replaces it, the signal mask).
/// - Thread safety: safe from any number of threads at once. Not
///   async-signal-safe.
///
/// # EXAMPLES
///
/// ```c
/// char *p = rmap_map(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
/// rmap_tolerate(p, len);
/// checksum(p, len);                       /* never dies of SIGBUS */
/// if (rmap_sync(p, len, MS_SYNC) == -1 && errno == EIO)
///     fprintf(stderr, "the file shrank under us\n");
/// ```
///
/// # SEE ALSO
///
/// `rmap_losses(3)`, `rmap_query(3)`, `rmap_sync(3)`, `rmap_read(3)`
#[unsafe(no_mangle)]
pub extern "C" fn rmap_tolerate(addr: *mut c_void, length: usize) -> c_int {
    guard(-1, || {
        mapping::tolerate(addr as usize, length)?;
        Ok(0)
    })
}

/// Secure the storage under a shared file mapping, growing the file if
/// need be, so that stores there cannot die of SIGBUS.
///
/// Allocates the file system's blocks for the bytes of the file that
/// `[addr, addr + length)` maps (as `fallocate(2)` with mode 0 does), and
/// makes the file at least as long as the range's last byte requires,
/// exactly (a file already longer keeps its size). The range must lie
/// wholly in `MAP_SHARED` mappings librmap made of the file `fd` is open
/// on, for writing; `addr` page aligned; `length` is in bytes, not rounded.
/// After it returns 0, no store to the range faults for want of space (a
/// full disk, a quota) or for lying past the end of the file, until the
/// file is truncated or its blocks punched out.
///
/// This is how a writer never dies of SIGBUS on a full disk, and how a
/// mapping grows in place: map the file with room to grow (a length larger
/// than the file: the address space is reserved, the pages past the end
/// fault until the file reaches them), then secure each part before
/// storing into it. The address never moves, and readers of the part
/// already secured go on. Past its length, `rmap_remap` with
/// `MREMAP_MAYMOVE` moves the mapping, and only when the program allows it.
///
/// # RETURN VALUE
///
/// 0 on success; -1 on error, with errno set. A range over several
/// mappings is secured one mapping after the other: an error from the file
/// system can leave the first ones secured.
///
/// # ERRORS
///
/// - `EINVAL` [secure_einval_misaligned]: `addr` is not page aligned.
/// - `EINVAL` [secure_einval_length_zero]: `length` is 0.
/// - `EINVAL` [secure_einval_other_file]: `fd` is open on another file than
///   the one mapped in the range.
/// - `ENOMEM` [secure_enomem_not_librmaps]: part of the range is not a
///   mapping librmap made, or `addr` plus `length` wraps.
/// - `ENODEV` [secure_enodev_not_shared_file]: part of the range is
///   anonymous memory or a `MAP_PRIVATE` mapping (whose stores never reach
///   the file).
/// - `EBADF` [secure_ebadf_not_open]: `fd` is not an open file descriptor.
/// - `EBADF` [secure_ebadf_read_only]: `fd` is not open for writing.
/// - `EFBIG` [secure_efbig_file_size_limit]: the file would grow past the
///   process's `RLIMIT_FSIZE`. Checked before the kernel is asked, so no
///   SIGXFSZ is sent (`fallocate` sends one).
/// - `ENOSPC` [secure_enospc_disk_full]: the file system has no room for
///   the blocks (a file system may keep those it allocated before it ran
///   out).
/// - `EPERM` [secure_eperm_sealed]: the range reaches past the end of a
///   file sealed against growth (`F_SEAL_GROW`), or the file is immutable
///   or append-only.
/// - `EOPNOTSUPP` [secure_eopnotsupp_no_fallocate]: the file system cannot
///   allocate blocks ahead of the writes (ramfs, some network and FUSE file
///   systems). librmap then secures nothing rather than write zeros over
///   data a store may be putting there at the same moment (what
///   `posix_fallocate`'s emulation risks): `ftruncate` grows such a file,
///   whose stores can still fault if the disk fills.
///
/// `EDQUOT` (a disk quota), `EFBIG` (past the file system's largest file),
/// `EINTR` and `EIO` come from the file system as `fallocate(2)` documents
/// them.
///
/// # NOTES
///
/// - The file offsets are those the mappings map: a mapping made at offset
///   `off` secures from `off + (addr - start)`.
/// - The blocks are allocated through `fd`, not through the mapping: no
///   page of the range is touched or dirtied, and no page cache is filled.
/// - Checked mode reports (and refuses with ENOMEM) a range that is not
///   librmap's, as `rmap_tolerate` does; a range the kernel no longer holds
///   as librmap recorded it is refused with EINVAL.
/// - Thread safety: safe from any number of threads at once; other librmap
///   calls do not wait while the file system allocates. Not
///   async-signal-safe.
///
/// # EXAMPLES
///
/// ```c
/// /* A log that grows in place, up to 1 GiB, never dying of a full disk. */
/// char *log = rmap_map(NULL, 1 << 30, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
/// if (rmap_secure(log + used_pages, 1 << 20, fd) == -1 && errno == ENOSPC)
///     return -1;                          /* told, not killed */
/// ```
///
/// # SEE ALSO
///
/// `fallocate(2)`, `posix_fallocate(3)`, `rmap_map(3)`, `rmap_remap(3)`,
/// `rmap_tolerate(3)`
#[unsafe(no_mangle)]
pub extern "C" fn rmap_secure(addr: *mut c_void, length: usize, fd: c_int) -> c_int {
    guard(-1, || {
        mapping::secure(addr as usize, length, fd)?;
        Ok(0)
    })
}

/// `rmap_shm_create`'s `flags`: create the POSIX shared memory object
/// `name` (as `shm_open` with `O_CREAT | O_EXCL`) instead of a memfd.
pub const RMAP_SHM_NAMED: c_int = 1;
/// `rmap_shm_create`'s `flags`: the descriptor stays open across `execve`
/// (by default it is close-on-exec).
pub const RMAP_SHM_INHERIT: c_int = 2;

/// Create shared memory for other processes, its storage allocated and
/// sealed as asked: a full /dev/shm is an error now, not a SIGBUS later.
///
/// Makes `size` bytes of shared memory and returns a descriptor for it: a
/// memfd (`memfd_create(2)`; `name`, which may be NULL, only labels it in
/// `/proc`), or with `RMAP_SHM_NAMED` the POSIX shared memory object `name`
/// (`shm_open(3)`, created for its owner alone, never an existing one).
/// Before it returns, the memory's storage is allocated (`fallocate(2)`):
/// too little memory or space in /dev/shm, a container's limit included,
/// makes this call fail, where `ftruncate` would have succeeded and the
/// first touch past what fits would have raised SIGBUS. Then `seals` (the
/// `F_SEAL_*` bits of `fcntl(2)`, 0 for none) are added and read back: the
/// descriptor is never returned with fewer seals than asked. It is
/// close-on-exec unless `flags` holds `RMAP_SHM_INHERIT`.
///
/// # RETURN VALUE
///
/// A new file descriptor; -1 on error, with errno set and nothing left
/// behind (no descriptor, no name).
///
/// # ERRORS
///
/// - `EINVAL` [shm_create_einval_flags]: `flags` has a bit other than
///   `RMAP_SHM_NAMED` and `RMAP_SHM_INHERIT`.
/// - `EINVAL` [shm_create_einval_seals]: `seals` has a bit other than
///   `F_SEAL_SEAL`, `F_SEAL_SHRINK`, `F_SEAL_GROW`, `F_SEAL_WRITE` and
///   `F_SEAL_FUTURE_WRITE`.
/// - `EINVAL` [shm_create_einval_no_name]: `RMAP_SHM_NAMED` and `name` is
///   NULL.
/// - `EINVAL` [shm_create_einval_long_name]: a memfd's `name` is longer than
///   249 bytes (`memfd_create`'s limit).
/// - `EEXIST` [shm_create_eexist_named]: the named object exists already.
/// - `ENOSPC` [shm_create_enospc_no_room]: the file system that holds the
///   memory (/dev/shm for a named object) has no room for `size` bytes.
/// - `EFBIG` [shm_create_efbig_file_size_limit]: `size` is past the
///   process's `RLIMIT_FSIZE`. Checked first, so no SIGXFSZ is sent
///   (`fallocate` sends one).
/// - `EPERM` [shm_create_eperm_named_seals]: seals asked for a named object
///   (the kernel seals memfds only).
///
/// `ENOMEM` (the memory, or a memory cgroup's limit, cannot hold `size`
/// bytes), `EMFILE`, `ENFILE`, `EACCES` (a named object), and `EBUSY` or
/// `EINVAL` from `F_ADD_SEALS` (a kernel that lacks a seal, or refuses it)
/// come from the kernel as its calls document them.
///
/// # NOTES
///
/// - A memfd vanishes with its last descriptor and mapping. A named object
///   stays until `shm_unlink(3)`: a creator that can die before its peers
///   have opened it should unlink it as soon as they have (or use a memfd
///   and pass the descriptor over a Unix socket).
/// - To hand out memory the peer may only read: create it with
///   `F_SEAL_SHRINK | F_SEAL_GROW`, map it writable, then add
///   `F_SEAL_FUTURE_WRITE` with `fcntl` (`F_SEAL_WRITE` would refuse while
///   the writable mapping exists).
/// - Map what a peer sent with `rmap_map_peer`.
/// - Thread safety: safe from any number of threads at once.
///
/// # SEE ALSO
///
/// `rmap_map_peer(3)`, `rmap_secure(3)`, `memfd_create(2)`, `shm_open(3)`,
/// `fcntl(2)`
///
/// # Safety
///
/// `name` is NULL or points to a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmap_shm_create(
    name: *const c_char,
    size: usize,
    seals: std::ffi::c_uint,
    flags: c_int,
) -> c_int {
    guard(-1, || {
        if flags & !(RMAP_SHM_NAMED | RMAP_SHM_INHERIT) != 0 {
            return Err(Errno(EINVAL));
        }
        let named = flags & RMAP_SHM_NAMED != 0;
        let name = if name.is_null() {
            if named {
                return Err(Errno(EINVAL));
            }
            c"rmap"
        } else {
            // SAFETY: the caller passes a C string (or NULL, handled above).
            unsafe { CStr::from_ptr(name) }
        };
        let seals = c_int::try_from(seals).map_err(|_| Errno(EINVAL))?;
        mapping::shm_create(name, size, seals, named, flags & RMAP_SHM_INHERIT == 0)
    })
}

/// Map shared memory a peer process sent, so that the peer cannot crash
/// this process by truncating it.
///
/// Maps the first `length` bytes of `fd` shared (`MAP_SHARED`, offset 0)
/// with protection `prot`. When `fd` is a memfd sealed against shrinking
/// (`F_SEAL_SHRINK`) whose size covers `length`, the mapping is a plain
/// one; otherwise it is tolerant (`rmap_tolerate`): a page the peer
/// truncates away, or one past the end it sent, reads as zeros and takes
/// writes in private memory instead of raising SIGBUS, and the loss is
/// recorded (`rmap_losses`, `rmap_query`'s `RMAP_INFO_DAMAGED`,
/// `rmap_sync`'s EIO), so a server learns which peer misbehaved.
///
/// # RETURN VALUE
///
/// The address of the new mapping; `RMAP_FAILED` on error, with errno set.
///
/// # ERRORS
///
/// - `EBADF` [map_peer_ebadf_not_open]: `fd` is not an open file descriptor.
/// - `EINVAL` [map_peer_einval_length_zero]: `length` is 0.
/// - `EACCES` [map_peer_eacces_read_only]: `prot` has `PROT_WRITE` and `fd`
///   is not open for writing.
/// - `EPERM` [map_peer_eperm_write_sealed]: `prot` has `PROT_WRITE` and the
///   memfd is sealed against writing (`F_SEAL_WRITE`,
///   `F_SEAL_FUTURE_WRITE`).
///
/// Every other error of `rmap_map` (and of `rmap_tolerate`) for a shared
/// mapping of `fd` at offset 0.
///
/// # NOTES
///
/// - Unmap it with `rmap_unmap`. Its pages are tolerant exactly when
///   `rmap_query` says `RMAP_INFO_TOLERANT`.
/// - Thread safety: safe from any number of threads at once.
///
/// # SEE ALSO
///
/// `rmap_shm_create(3)`, `rmap_tolerate(3)`, `rmap_losses(3)`, `rmap_map(3)`
#[unsafe(no_mangle)]
pub extern "C" fn rmap_map_peer(fd: c_int, length: usize, prot: c_int) -> *mut c_void {
    guard(libc::MAP_FAILED, || {
        // SAFETY: no MAP_FIXED: nothing already mapped is touched.
        let ptr = unsafe { mapping::map_peer(fd, length, prot) }?;
        Ok(ptr.cast())
    })
}

/// Which file offsets of a tolerant mapping were lost.
///
/// Looks at the pages of `[addr, addr + length)`, which must lie wholly in
/// mappings made by librmap, and writes the file offsets of the lost ones
/// (tolerant pages that raised SIGBUS and read as zeros now; see
/// `rmap_tolerate`), in address order, to `offsets`: the first `max` of them
/// when there are more (the others are not written).
/// `length` is rounded up to whole pages.
///
/// # RETURN VALUE
///
/// The number of lost pages in the range (which may exceed `max`: call
/// again with room for all); -1 with errno set.
///
/// # ERRORS
///
/// - `EINVAL` [losses_einval_misaligned]: `addr` is not page aligned.
/// - `EINVAL` [losses_einval_length_zero]: `length` is 0.
/// - `EINVAL` [losses_einval_null_offsets]: `offsets` is NULL and `max` is
///   not 0.
/// - `ENOMEM` [losses_enomem_not_librmaps]: part of the range is not a
///   mapping librmap made.
/// - `EOVERFLOW` [losses_eoverflow_too_many]: more pages were lost in the
///   process than librmap remembers one by one (16,384): every tolerant
///   mapping then counts as damaged.
///
/// # NOTES
///
/// - The offsets are those of the mapped file (for anonymous memory, the
///   offset passed to `rmap_map`, moved along). A lost page is forgotten
///   when it is unmapped or mapped over.
/// - Thread safety: safe from any number of threads at once.
///
/// # SEE ALSO
///
/// `rmap_tolerate(3)`, `rmap_query(3)`
///
/// # Safety
///
/// `offsets` is NULL or points to writable memory for `max` `off_t`s.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmap_losses(
    addr: *const c_void,
    length: usize,
    offsets: *mut off_t,
    max: usize,
) -> ssize_t {
    guard(-1, || {
        if offsets.is_null() && max != 0 {
            return Err(Errno(EINVAL));
        }
        let lost = mapping::losses(addr as usize, length)?;
        for (i, &(_, offset)) in lost.iter().take(max).enumerate() {
            // SAFETY: i < max, and the caller vouches for `max` off_t's.
            unsafe { offsets.add(i).write(offset) };
        }
        Ok(lost.len() as ssize_t)
    })
}

/// Find the librmap mapping that contains an address.
///
/// librmap records every mapping it makes, as the kernel holds it: a partial
/// `rmap_unmap` splits or trims the record, `MAP_FIXED` replaces the parts it
/// covers, `rmap_protect`, `rmap_lock` and `rmap_unlock` split and merge
/// records by protection and lock state, `rmap_remap` grows, shrinks or
/// moves them. This looks `addr` up (O(log n)) and fills `*info`.
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
/// - `flags` also holds `RMAP_INFO_TOLERANT` for a tolerant range
///   (`rmap_tolerate`) and `RMAP_INFO_DAMAGED` when a page of the range was
///   lost (`rmap_losses`).
/// - The file's device and inode are not looked up when the file is mapped
///   (that would cost every file mapping a system call): the first query of
///   a file mapping asks the kernel (`PROCMAP_QUERY` on Linux 6.11 and
///   later, else `/proc/self/maps`) and remembers the answer. Checked mode
///   records them at map time.
/// - Mappings changed behind librmap's back (`munmap`, `mmap` with
///   `MAP_FIXED`, `mremap` called directly) are not seen; checked mode
///   notices when a call meets one (see `rmap_set_check`).
/// - Thread safety: safe from any number of threads at once; the answer
///   reflects every call that returned before this one started.
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
/// `RMAP_CHECK` sets it at the first librmap call: `1` or `report` reports
/// and continues, `2` or `abort` reports and then aborts (the numbers are
/// those of `RMAP_CHECK_REPORT` and `RMAP_CHECK_ABORT`), and `0`, `off` or
/// an empty value leave it off; case and surrounding spaces do not matter.
/// Any other value leaves it off and writes one warning line,
/// `rmap: RMAP_CHECK="VALUE" is not one of 0, off, 1, report, 2, abort;
/// checked mode stays off`. This call overrides the variable. In checked
/// mode librmap writes one line to stderr per finding, naming the call and
/// where the program made it (`CALL(ADDR, LEN) at WHERE`; WHERE is
/// `OBJECT+0xOFFSET`, ready for `addr2line -e OBJECT OFFSET`, followed by
/// `(SYMBOL+0xOFF)` when the object exports the function):
///
/// - `rmap: double-unmap: rmap_unmap(ADDR, LEN) at WHERE: already unmapped
///   at WHERE; refused with EINVAL`: an unmap of a range the process
///   unmapped before (one of its last 64 unmaps), naming both calls.
/// - `rmap: unmap-unowned: ...`, `rmap: remap-unowned: ...`: an unmap, or
///   a remap that could move or shrink a mapping, that would take memory
///   librmap did not map from whoever mapped it (the C library's `mmap`,
///   `malloc`'s, the stack, a SysV shared memory segment), or a range
///   librmap held that the kernel no longer holds as recorded (unmapped or
///   replaced behind its back); the call fails with EINVAL and does not
///   touch the memory. Only these (and a double unmap) are refused: every
///   other call on memory librmap did not map (a program locking its heap,
///   probing addresses with `rmap_resident` or `rmap_sync`, growing a
///   mapping in place) goes to the kernel unreported and returns exactly
///   what the kernel returns, and so does an unmap where nothing at all is
///   mapped (0) or a remap whose old range the kernel refuses (EFAULT).
/// - `rmap: leak: N bytes at ADDR still mapped at exit, created at WHERE`:
///   at exit, one line per mapping still held (and still held by the
///   kernel), with the code that created it.
/// - `rmap: beyond-eof: ADDR touched, file offset N of the mapping
///   rmap_map(START, LEN) created at WHERE: the file is SIZE bytes long
///   (SIGBUS; the program's own action follows)`: a page of a file mapping
///   touched where the file has no data (it ends before it, or shrank); N
///   is the file offset of the byte at ADDR. The program's own SIGBUS
///   action runs next, as without librmap. A SIGBUS with another cause is
///   named for it: `rmap: no-space: ADDR written, ...: the file system has
///   no space left to fill this hole of the file` (a write into a hole of a
///   sparse file, or of a file grown with `ftruncate`, on a full file
///   system) and `rmap: io-error: ADDR touched, ...: the file covers it,
///   but reading or writing the page failed (an I/O error)`. Mapping
///   past the end of a file is no error by itself (LMDB reserves its whole
///   map size over a smaller file): with `RMAP_CHECK_BEYOND_EOF=map` such a
///   mapping is also reported when `rmap_map` makes it or `rmap_remap` grows
///   it (`rmap: beyond-eof: rmap_map(ADDR, LEN) at WHERE maps offset O of a
///   SIZE-byte file: touching file offsets from N on raises SIGBUS`; this
///   costs an `fstat` per file mapping).
/// - `rmap: write-exec: ...`: a mapping made, or changed by `rmap_protect`
///   to be, both writable and executable.
/// - `rmap: fault-handler: ...`: SIGBUS or SIGSEGV was set to `SIG_DFL` or
///   `SIG_IGN` bypassing librmap's `sigaction` (see `rmap_read`); a
///   thread's first copy installed the handler again.
///
/// Everything a line quotes from outside librmap (object paths, symbol
/// names, the value of `RMAP_CHECK`) is escaped: a backslash as `\\`,
/// newline and tab as `\n` and `\t`, other control characters and the
/// Unicode line separators as `\u{N}`, bytes that are not UTF-8 as `\xNN`,
/// so that no path can end a line or start a report of its own.
///
/// More environment variables shape the reports (rmap-check(1) sets them
/// from its options): `RMAP_CHECK_LOG=FILE` appends them to FILE instead of
/// stderr (a FILE that cannot be opened is said in one line on stderr, where
/// the reports then go); `RMAP_CHECK_FORMAT=json` writes each as one JSON
/// object on a line of its own instead (`kind`, `pid`, `message` with the
/// text line, and the fields of its kind: `call`, `address` and `length`
/// of the call's range, `caller`, `created_by` and `unmapped_by` as
/// `{"object", "offset", "symbol", "symbol_offset"}` (`{"address"}` when no
/// object contains the code, null when it is unknown; under rmap-check(1)
/// also `function`, `file` and `line` from the object's debug
/// information), `stale`,
/// `fault_address`, `file_offset`, `file_size`, `first_bad_offset`; the
/// summary's `calls` and `reports` by name); `RMAP_CHECK_LEAKS=no` leaves
/// out the leak lines; `RMAP_CHECK_SUMMARY=yes` adds one line at exit,
/// `rmap: summary: pid N: C calls (rmap_map 3, rmap_unmap 2), R reports
/// (leak 1)`; and `RMAP_CHECK_ERROR_EXITCODE=N` (0 to 255) makes the process
/// exit with status N at exit when any report was made.
///
/// In secure-execution mode (a set-user-ID or set-group-ID program, or one
/// with file capabilities: `getauxval(AT_SECURE)`), librmap ignores every
/// `RMAP_CHECK*` variable, as `secure_getenv` would: whoever starts such a
/// program must not choose which file it writes or the status it exits
/// with. The program's own `rmap_set_check` still works there, reporting to
/// stderr.
///
/// Before a refusal or leak report, checked mode asks the kernel whether
/// the recorded mapping is still there with its protection, sharing and
/// file, over its whole extent: it never reports a mapping the kernel no
/// longer has, and never accepts a record the kernel holds only in part.
/// What it cannot tell: an anonymous mapping unmapped behind librmap's back
/// and replaced by another anonymous mapping with the same protection over
/// the same whole range (or a file mapping by one of the same file and
/// offset) still counts as librmap's. The check and the call it guards are
/// one step: no other thread's call can come between them.
///
/// Reports are written without allocating memory (at exit, one line per
/// leak, even in a process that has used up its address space or
/// `vm.max_map_count`, which then exits with its own status).
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
        assert_eq!(errno_now(), ENOTRECOVERABLE);
    }

    #[test]
    fn guard_sets_errno_on_error_and_leaves_it_on_success() {
        set_errno(Errno(1234));
        assert_eq!(guard(-1, || Ok(7)), 7);
        assert_eq!(errno_now(), 1234);
        assert_eq!(guard(-1, || Err(Errno(libc::EINVAL))), -1);
        assert_eq!(errno_now(), libc::EINVAL);
    }
}
