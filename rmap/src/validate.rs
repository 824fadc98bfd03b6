//! Argument rules decided before any system call, in Linux's own order.
//!
//! Each function walks the checks of the kernel's path for its call in the
//! order the kernel makes them (Linux 6.x: `mm/mmap.c`, `mm/msync.c`,
//! `mm/vma.c`, `mm/mprotect.c`, `mm/madvise.c`, `mm/mlock.c`, `mm/mremap.c`,
//! `mm/mincore.c`), deciding only what every kernel from 6.1 on answers the
//! same way before it looks at the address space. It returns an error only when it can tell the
//! kernel would return that same error: as soon as a check depends on state it
//! cannot see (address-space contents, locks, file system), it stops and the
//! call goes to the kernel, whose answer is passed through. So a call with
//! several faults gets the errno Linux gives, not the first one we happen to
//! test. The single exception, documented in the header: a pre-decided
//! argument error wins over ENOMEM for a full address space or the
//! `vm.max_map_count` limit, which the kernel checks earlier.

use crate::sys::{
    EBADF, EFAULT, EINVAL, ENOMEM, EOVERFLOW, Errno, FdKind, MAP_32BIT, MAP_ANONYMOUS,
    MAP_DROPPABLE, MAP_FIXED, MAP_FIXED_NOREPLACE, MAP_HUGETLB, MAP_LOCKED, MAP_PRIVATE,
    MAP_SHARED, MAP_SHARED_VALIDATE, MAP_TYPE, MREMAP_DONTUNMAP, MREMAP_FIXED, MREMAP_MAYMOVE,
    MS_ASYNC, MS_INVALIDATE, MS_SYNC, PROT_DECIDED_BY_KERNEL, PROT_EXEC, PROT_GROWSDOWN,
    PROT_GROWSUP, PROT_READ, PROT_SEM, PROT_WRITE, SURE_USER_SPAN,
};

/// The arguments of one `mmap` call, as plain numbers.
#[derive(Clone, Copy, Debug)]
pub struct MapArgs {
    pub addr: usize,
    pub len: usize,
    pub flags: i32,
    pub fd: i32,
    pub offset: i64,
}

/// An argument error that sits behind the kernel's `fget()`: a closed
/// descriptor would be reported first, and EOVERFLOW depends on the file type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LateError {
    Invalid,
    OffsetOverflow,
}

/// Decides `mmap` argument errors. `fd_kind` is asked only when an error has
/// been found for a file mapping, so a valid call costs no extra system call.
pub fn check_map(
    args: &MapArgs,
    page: usize,
    fd_kind: impl FnOnce(i32) -> FdKind,
) -> Result<(), Errno> {
    // sys_mmap: the byte offset must be page aligned.
    if args.offset as u64 & (page as u64 - 1) != 0 {
        return Err(Errno(EINVAL));
    }
    let anonymous = args.flags & MAP_ANONYMOUS != 0;
    // ksys_mmap_pgoff: fget(fd) for every file mapping.
    if !anonymous && args.fd < 0 {
        return Err(Errno(EBADF));
    }
    // Anonymous huge pages: the kernel sets up a hugetlbfs file first, whose
    // failures depend on its configuration.
    if anonymous && args.flags & MAP_HUGETLB != 0 {
        return Ok(());
    }
    let Some(late) = late_error(args, page, anonymous) else {
        return Ok(());
    };
    let kind = if anonymous {
        FdKind::Other
    } else {
        fd_kind(args.fd)
    };
    match (late, kind) {
        (_, FdKind::Closed) => Err(Errno(EBADF)),
        (LateError::Invalid, _) => Err(Errno(EINVAL)),
        (LateError::OffsetOverflow, FdKind::OffTLimited) => Err(Errno(EOVERFLOW)),
        // Character devices have their own limits: the kernel decides.
        (LateError::OffsetOverflow, FdKind::Other) => Ok(()),
    }
}

/// Whether `check_map` would pass these arguments on its shortest path:
/// a mapping the kernel places itself, of a known type, with none of the
/// flags whose errors need kernel state, and a file offset far from
/// `off_t`'s limit. The common map tests this alone (its callers go to
/// `check_map` when it is false), so it must imply `check_map`'s Ok: the
/// unit test `plain_maps_pass_check_map` compares the two.
#[inline(always)]
pub fn plain_map(len: usize, flags: i32, fd: i32, offset: i64, page: usize) -> bool {
    let unusual = MAP_FIXED | MAP_FIXED_NOREPLACE | MAP_HUGETLB | MAP_32BIT | MAP_LOCKED;
    let map_type = flags & MAP_TYPE;
    flags & unusual == 0
        && (map_type == MAP_PRIVATE || map_type == MAP_SHARED)
        && len.wrapping_sub(1) < SURE_USER_SPAN
        // Page aligned and below 2^62: with any length up to
        // SURE_USER_SPAN, no file's offset overflows off_t.
        && offset as u64 & ((page as u64 - 1) | (3 << 62)) == 0
        && (flags & MAP_ANONYMOUS != 0 || fd >= 0)
}

/// The checks of `do_mmap` after `fget`, up to the first one that needs
/// kernel state.
fn late_error(args: &MapArgs, page: usize, anonymous: bool) -> Option<LateError> {
    if args.len == 0 {
        return Some(LateError::Invalid);
    }
    // A file with MAP_HUGETLB is EINVAL unless it lives on hugetlbfs, where
    // lengths round to the huge page size: the kernel decides.
    if args.flags & MAP_HUGETLB != 0 {
        return None;
    }
    // Lengths near the top of the address space fail with ENOMEM in
    // get_unmapped_area; the kernel knows its own TASK_SIZE.
    if args.len > SURE_USER_SPAN {
        return None;
    }
    let len = round_up_to_page(args.len, page)?;
    if args.flags & (MAP_FIXED | MAP_FIXED_NOREPLACE) != 0 {
        match args.addr.checked_add(len) {
            Some(end) if end <= SURE_USER_SPAN => {}
            _ => return None,
        }
        if args.addr & (page - 1) != 0 {
            return Some(LateError::Invalid);
        }
        // Next: EEXIST for MAP_FIXED_NOREPLACE, which needs the address space.
        return None;
    }
    // MAP_32BIT confines the search to the low 2 GiB, where get_unmapped_area
    // may well fail with ENOMEM first.
    if args.flags & MAP_32BIT != 0 {
        return None;
    }
    // Next: EPERM / EAGAIN for MAP_LOCKED, which need limits and capabilities.
    if args.flags & MAP_LOCKED != 0 {
        return None;
    }
    if !anonymous && exceeds_off_t(args.offset, len, page) {
        return Some(LateError::OffsetOverflow);
    }
    let map_type = args.flags & MAP_TYPE;
    let known = [MAP_SHARED, MAP_PRIVATE, MAP_SHARED_VALIDATE];
    if known.contains(&map_type) || (anonymous && map_type == MAP_DROPPABLE) {
        None
    } else {
        Some(LateError::Invalid)
    }
}

/// `file_mmap_ok()` for a file whose size limit is `off_t`'s maximum.
fn exceeds_off_t(offset: i64, len: usize, page: usize) -> bool {
    let max = i64::MAX as u64;
    let len = len as u64;
    if len > max {
        return true;
    }
    let shift = page.trailing_zeros();
    (offset as u64 >> shift) > (max - len) >> shift
}

/// Decides `msync` argument errors; all of them are arithmetic.
pub fn check_sync(addr: usize, len: usize, flags: i32, page: usize) -> Result<(), Errno> {
    if flags & !(MS_ASYNC | MS_INVALIDATE | MS_SYNC) != 0 {
        return Err(Errno(EINVAL));
    }
    if addr & (page - 1) != 0 {
        return Err(Errno(EINVAL));
    }
    if flags & MS_ASYNC != 0 && flags & MS_SYNC != 0 {
        return Err(Errno(EINVAL));
    }
    // The kernel rounds the length up modulo 2^64 (to 0 when that wraps),
    // then rejects a wrapping end.
    let len = round_up_to_page(len, page).unwrap_or(0);
    if addr.checked_add(len).is_none() {
        return Err(Errno(ENOMEM));
    }
    Ok(())
}

/// Decides `munmap` argument errors that need no address-space bound.
pub fn check_unmap(addr: usize, len: usize, page: usize) -> Result<(), Errno> {
    if addr & (page - 1) != 0 || len == 0 {
        return Err(Errno(EINVAL));
    }
    Ok(())
}

/// `PAGE_ALIGN(len)` as the kernel computes it: modulo 2^64, so a length
/// within a page of the top wraps to 0.
fn page_align_wrapping(len: usize, page: usize) -> usize {
    round_up_to_page(len, page).unwrap_or(0)
}

/// Decides `mprotect` argument errors (`do_mprotect_pkey`); all arithmetic.
/// A `len` of 0 is a success the kernel gives without looking further.
pub fn check_protect(addr: usize, len: usize, prot: i32, page: usize) -> Result<(), Errno> {
    let grows = prot & (PROT_GROWSDOWN | PROT_GROWSUP);
    if grows == PROT_GROWSDOWN | PROT_GROWSUP {
        return Err(Errno(EINVAL));
    }
    if addr & (page - 1) != 0 {
        return Err(Errno(EINVAL));
    }
    if len == 0 {
        return Ok(());
    }
    let end = addr.wrapping_add(page_align_wrapping(len, page));
    if end <= addr {
        return Err(Errno(ENOMEM));
    }
    // arch_validate_prot(), on the bits left after the GROWS ones (the
    // bits some machines of the architecture accept: the kernel decides).
    let known = PROT_READ | PROT_WRITE | PROT_EXEC | PROT_SEM | PROT_DECIDED_BY_KERNEL;
    if prot & !grows & !known != 0 {
        return Err(Errno(EINVAL));
    }
    Ok(())
}

/// Decides the `madvise` argument errors that do not depend on which advice
/// this kernel knows (`is_valid_madvise`): every one of them is EINVAL, so
/// their order does not matter. Whether `advice` is valid depends on the
/// kernel's configuration (KSM, THP, memory failure): the kernel decides.
pub fn check_advise(addr: usize, len: usize, page: usize) -> Result<(), Errno> {
    if addr & (page - 1) != 0 {
        return Err(Errno(EINVAL));
    }
    let aligned = page_align_wrapping(len, page);
    // A length within a page of the top rounds to 0, or the range wraps.
    if (len != 0 && aligned == 0) || addr.checked_add(aligned).is_none() {
        return Err(Errno(EINVAL));
    }
    Ok(())
}

/// Decides `munlock` argument errors (`apply_vma_lock_flags`): the range,
/// widened to whole pages, must not wrap. (`mlock` checks `RLIMIT_MEMLOCK`
/// and `CAP_IPC_LOCK` first, which only the kernel knows: nothing is decided
/// for it.)
pub fn check_unlock(addr: usize, len: usize, page: usize) -> Result<(), Errno> {
    let start = addr & !(page - 1);
    let len = page_align_wrapping(len.wrapping_add(addr & (page - 1)), page);
    if start.wrapping_add(len) < start {
        return Err(Errno(EINVAL));
    }
    Ok(())
}

/// The `mremap` flags glibc and the kernel know; glibc refuses any other
/// bit with EINVAL before the system call.
pub const REMAP_FLAGS: i32 = MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP;

/// Decides `mremap` argument errors that every kernel from 6.1 on decides
/// before looking up the old mapping, all EINVAL: unknown flags, a fixed or
/// don't-unmap move without `MREMAP_MAYMOVE`, a don't-unmap move that would
/// resize, a misaligned `addr`, a new size of 0 pages. (Checks of
/// `new_addr` come after the lookup in 6.1 and before it in 6.18: the
/// kernel decides those.)
pub fn check_remap(
    addr: usize,
    old_len: usize,
    new_len: usize,
    flags: i32,
    page: usize,
) -> Result<(), Errno> {
    if flags & !REMAP_FLAGS != 0 {
        return Err(Errno(EINVAL));
    }
    if flags & (MREMAP_FIXED | MREMAP_DONTUNMAP) != 0 && flags & MREMAP_MAYMOVE == 0 {
        return Err(Errno(EINVAL));
    }
    // 6.1 compares the lengths as given, 6.18 rounded: decided only when
    // both differ.
    if flags & MREMAP_DONTUNMAP != 0
        && old_len != new_len
        && page_align_wrapping(old_len, page) != page_align_wrapping(new_len, page)
    {
        return Err(Errno(EINVAL));
    }
    if addr & (page - 1) != 0 || page_align_wrapping(new_len, page) == 0 {
        return Err(Errno(EINVAL));
    }
    Ok(())
}

/// Decides `mincore` argument errors: a misaligned `addr` (EINVAL), a range
/// that leaves the address space (ENOMEM), then, for a range surely inside
/// it, a `vec` too close to the top for one byte per page (EFAULT).
/// (`access_ok` allows up to 2^63 on some 6.x kernels and up to `TASK_SIZE`
/// on others: ranges between are the kernel's to decide.)
pub fn check_resident(addr: usize, len: usize, vec: usize, page: usize) -> Result<(), Errno> {
    if addr & (page - 1) != 0 {
        return Err(Errno(EINVAL));
    }
    let beyond = |start: usize, len: usize| {
        start
            .checked_add(len)
            .is_none_or(|end| end > i64::MAX as usize)
    };
    if beyond(addr, len) {
        return Err(Errno(ENOMEM));
    }
    let pages = len / page + usize::from(!len.is_multiple_of(page));
    if addr + len <= SURE_USER_SPAN && beyond(vec, pages) {
        return Err(Errno(EFAULT));
    }
    Ok(())
}

/// `len` rounded up to a multiple of `page` (a power of two); None when that
/// does not fit in `usize`. Each caller says what the kernel does then.
#[inline]
pub fn round_up_to_page(len: usize, page: usize) -> Option<usize> {
    // A mask, not `checked_next_multiple_of`, which divides.
    len.checked_add(page - 1).map(|end| end & !(page - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: usize = 4096;
    const FILE_RW: i32 = 3;

    fn map(len: usize, flags: i32, fd: i32, offset: i64) -> MapArgs {
        MapArgs {
            addr: 0,
            len,
            flags,
            fd,
            offset,
        }
    }

    fn check(args: MapArgs, kind: FdKind) -> Result<(), i32> {
        check_map(&args, PAGE, |_| kind).map_err(|e| e.0)
    }

    fn check_unprobed(args: MapArgs) -> Result<(), i32> {
        check_map(&args, PAGE, |_| {
            panic!("fd probed on a path that must not probe")
        })
        .map_err(|e| e.0)
    }

    const ANON: i32 = MAP_PRIVATE | MAP_ANONYMOUS;

    #[test]
    fn plain_maps_pass_check_map() {
        // Every map type, every subset of the flags that matter, lengths
        // and offsets at each edge plain_map draws, closed and open fds.
        let bits = [
            MAP_ANONYMOUS,
            MAP_FIXED,
            MAP_FIXED_NOREPLACE,
            MAP_HUGETLB,
            MAP_32BIT,
            MAP_LOCKED,
            crate::sys::MAP_POPULATE,
            crate::sys::MAP_NORESERVE,
        ];
        let lens = [
            0,
            1,
            PAGE - 1,
            PAGE,
            PAGE + 1,
            SURE_USER_SPAN - PAGE,
            SURE_USER_SPAN,
            SURE_USER_SPAN + 1,
            usize::MAX - PAGE + 1,
            usize::MAX,
        ];
        let offsets = [
            0,
            1,
            PAGE as i64,
            -(PAGE as i64),
            (1 << 62) - PAGE as i64,
            1 << 62,
            i64::MAX & !(PAGE as i64 - 1),
            i64::MIN,
        ];
        let (mut plain, mut tried) = (0, 0);
        for map_type in 0..=MAP_TYPE {
            for subset in 0..1u32 << bits.len() {
                let extra = (0..bits.len())
                    .filter(|b| subset & 1 << b != 0)
                    .fold(0, |flags, b| flags | bits[b]);
                for len in lens {
                    for fd in [-1, 0, FILE_RW] {
                        for offset in offsets {
                            tried += 1;
                            let flags = map_type | extra;
                            if plain_map(len, flags, fd, offset, PAGE) {
                                plain += 1;
                                let args = map(len, flags, fd, offset);
                                assert_eq!(check_unprobed(args), Ok(()), "{args:?}");
                            }
                        }
                    }
                }
            }
        }
        // Not vacuous: the common maps are plain.
        assert!(plain_map(PAGE, ANON, -1, 0, PAGE));
        assert!(plain_map(1 << 20, MAP_SHARED, FILE_RW, PAGE as i64, PAGE));
        assert!(plain >= 500 && plain < tried / 100, "{plain} of {tried}");
    }

    #[test]
    fn valid_calls_pass_without_probing_the_fd() {
        assert_eq!(check_unprobed(map(1, MAP_SHARED, FILE_RW, 0)), Ok(()));
        assert_eq!(check_unprobed(map(PAGE, ANON, -1, 0)), Ok(()));
        assert_eq!(
            check_unprobed(map(PAGE, MAP_SHARED_VALIDATE, FILE_RW, 8192)),
            Ok(())
        );
    }

    #[test]
    fn misaligned_offset_is_einval_before_everything() {
        assert_eq!(check_unprobed(map(0, 0, -1, 1)), Err(EINVAL));
        assert_eq!(check_unprobed(map(PAGE, ANON, -1, 4095)), Err(EINVAL));
        assert_eq!(check_unprobed(map(PAGE, ANON, -1, -1)), Err(EINVAL));
    }

    #[test]
    fn negative_fd_without_anonymous_is_ebadf_before_length() {
        assert_eq!(check_unprobed(map(0, MAP_SHARED, -1, 0)), Err(EBADF));
        assert_eq!(check_unprobed(map(PAGE, 0, -5, 0)), Err(EBADF));
    }

    #[test]
    fn length_zero_is_einval() {
        assert_eq!(check_unprobed(map(0, ANON, -1, 0)), Err(EINVAL));
        assert_eq!(
            check(map(0, MAP_SHARED, FILE_RW, 0), FdKind::OffTLimited),
            Err(EINVAL)
        );
    }

    #[test]
    fn closed_fd_wins_over_later_argument_errors() {
        assert_eq!(
            check(map(0, MAP_SHARED, FILE_RW, 0), FdKind::Closed),
            Err(EBADF)
        );
        assert_eq!(check(map(PAGE, 0, FILE_RW, 0), FdKind::Closed), Err(EBADF));
    }

    #[test]
    fn anonymous_ignores_fd_and_offset_range() {
        assert_eq!(check_unprobed(map(PAGE, ANON, 1234, -4096)), Ok(()));
    }

    #[test]
    fn missing_map_type_is_einval() {
        assert_eq!(check_unprobed(map(PAGE, MAP_ANONYMOUS, -1, 0)), Err(EINVAL));
        assert_eq!(
            check(map(PAGE, 0, FILE_RW, 0), FdKind::OffTLimited),
            Err(EINVAL)
        );
        assert_eq!(
            check(map(PAGE, 0x04, FILE_RW, 0), FdKind::Other),
            Err(EINVAL)
        );
        // MAP_DROPPABLE is a type for anonymous memory on newer kernels only.
        assert_eq!(
            check_unprobed(map(PAGE, MAP_DROPPABLE | MAP_ANONYMOUS, -1, 0)),
            Ok(())
        );
        assert_eq!(
            check(map(PAGE, MAP_DROPPABLE, FILE_RW, 0), FdKind::OffTLimited),
            Err(EINVAL)
        );
    }

    #[test]
    fn fixed_misaligned_address_is_einval_inside_the_address_space() {
        let mut args = map(PAGE, ANON | MAP_FIXED, -1, 0);
        args.addr = 0x1000_0001;
        assert_eq!(check_unprobed(args), Err(EINVAL));
        args.flags = ANON | MAP_FIXED_NOREPLACE;
        assert_eq!(check_unprobed(args), Err(EINVAL));
        // Near the top, the kernel's ENOMEM may come first: not decided here.
        args.addr = usize::MAX - 7;
        assert_eq!(check_unprobed(args), Ok(()));
    }

    #[test]
    fn misaligned_hint_without_fixed_is_fine() {
        let mut args = map(PAGE, ANON, -1, 0);
        args.addr = 12345;
        assert_eq!(check_unprobed(args), Ok(()));
    }

    #[test]
    fn offset_past_off_t_is_eoverflow_for_regular_files_only() {
        let args = map(PAGE, MAP_SHARED, FILE_RW, -4096);
        assert_eq!(check(args, FdKind::OffTLimited), Err(EOVERFLOW));
        assert_eq!(check(args, FdKind::Other), Ok(()));
        assert_eq!(check(args, FdKind::Closed), Err(EBADF));
        let top = (i64::MAX as u64 + 1 - 2 * PAGE as u64) as i64;
        assert_eq!(
            check(map(PAGE, MAP_SHARED, FILE_RW, top), FdKind::OffTLimited),
            Ok(())
        );
        let args = map(2 * PAGE + 1, MAP_SHARED, FILE_RW, top);
        assert_eq!(check(args, FdKind::OffTLimited), Err(EOVERFLOW));
    }

    #[test]
    fn eoverflow_comes_before_a_bad_map_type() {
        assert_eq!(
            check(map(PAGE, 0, FILE_RW, -4096), FdKind::OffTLimited),
            Err(EOVERFLOW)
        );
    }

    #[test]
    fn state_dependent_checks_stop_the_decision() {
        // MAP_LOCKED: EPERM/EAGAIN come before the map type check.
        assert_eq!(
            check_unprobed(map(PAGE, MAP_ANONYMOUS | MAP_LOCKED, -1, 0)),
            Ok(())
        );
        // MAP_32BIT: the low 2 GiB may have no room (ENOMEM) before EOVERFLOW.
        let args = map(1 << 41, MAP_SHARED | MAP_32BIT, FILE_RW, -4096);
        assert_eq!(check(args, FdKind::OffTLimited), Ok(()));
        // Huge lengths: ENOMEM comes before the map type check.
        assert_eq!(
            check_unprobed(map(usize::MAX, MAP_ANONYMOUS, -1, 0)),
            Ok(())
        );
        // Anonymous huge pages: the kernel decides everything after the offset.
        assert_eq!(check_unprobed(map(0, ANON | MAP_HUGETLB, -1, 0)), Ok(()));
        // File with MAP_HUGETLB: length 0 is EINVAL either way; the rest is the kernel's.
        assert_eq!(
            check(map(0, MAP_SHARED | MAP_HUGETLB, FILE_RW, 0), FdKind::Other),
            Err(EINVAL)
        );
        assert_eq!(check_unprobed(map(PAGE, MAP_HUGETLB, FILE_RW, 0)), Ok(()));
    }

    #[test]
    fn sync_rules_follow_the_kernel_order() {
        assert_eq!(check_sync(0x1000, 1, MS_SYNC, PAGE), Ok(()));
        assert_eq!(check_sync(0x1000, 0, 0, PAGE), Ok(()));
        assert_eq!(check_sync(0x1000, 1, 0x100, PAGE), Err(Errno(EINVAL)));
        assert_eq!(check_sync(0x1001, 1, MS_SYNC, PAGE), Err(Errno(EINVAL)));
        assert_eq!(
            check_sync(0x1000, 1, MS_SYNC | MS_ASYNC, PAGE),
            Err(Errno(EINVAL))
        );
        // Unknown bits are reported before misalignment; both are EINVAL.
        assert_eq!(
            check_sync(0x1001, 1, 0x100 | MS_SYNC, PAGE),
            Err(Errno(EINVAL))
        );
        assert_eq!(
            check_sync(usize::MAX - 4095, 8192, MS_SYNC, PAGE),
            Err(Errno(ENOMEM))
        );
        // A length that rounds up past 2^64 wraps to 0: Linux reports success.
        assert_eq!(check_sync(0x1000, usize::MAX, MS_SYNC, PAGE), Ok(()));
    }

    #[test]
    fn protect_rules_follow_the_kernel_order() {
        let p = |addr, len, prot| check_protect(addr, len, prot, PAGE).map_err(|e| e.0);
        assert_eq!(p(0x1000, PAGE, PROT_READ), Ok(()));
        assert_eq!(
            p(0x1000, PAGE, PROT_READ | PROT_SEM | PROT_GROWSDOWN),
            Ok(())
        );
        // Both GROWS bits come first, even before misalignment.
        assert_eq!(p(0x1001, 0, PROT_GROWSDOWN | PROT_GROWSUP), Err(EINVAL));
        assert_eq!(p(0x1001, PAGE, PROT_READ), Err(EINVAL));
        // Length 0 succeeds before the protection bits are looked at.
        assert_eq!(p(0x1000, 0, 0x4000), Ok(()));
        // A wrapping range is ENOMEM before a bad protection is EINVAL.
        assert_eq!(p(usize::MAX - PAGE + 1, PAGE, 0x4000), Err(ENOMEM));
        assert_eq!(p(0x1000, usize::MAX, PROT_READ), Err(ENOMEM));
        assert_eq!(p(0x1000, PAGE, 0x4000), Err(EINVAL));
    }

    #[test]
    fn advise_rules() {
        let a = |addr, len| check_advise(addr, len, PAGE).map_err(|e| e.0);
        assert_eq!(a(0x1000, 0), Ok(()));
        assert_eq!(a(0x1000, PAGE + 1), Ok(()));
        assert_eq!(a(0x1001, PAGE), Err(EINVAL));
        assert_eq!(a(0x1000, usize::MAX), Err(EINVAL));
        assert_eq!(a(usize::MAX - PAGE + 1, 2 * PAGE), Err(EINVAL));
        assert_eq!(a(usize::MAX - PAGE + 1, PAGE), Err(EINVAL));
        assert_eq!(a(usize::MAX - 2 * PAGE + 1, PAGE), Ok(()));
    }

    #[test]
    fn unlock_rules_widen_to_pages_then_check_the_wrap() {
        let u = |addr, len| check_unlock(addr, len, PAGE).map_err(|e| e.0);
        assert_eq!(u(0x1001, 0), Ok(()));
        assert_eq!(u(0x1000, usize::MAX - 2 * PAGE), Ok(()));
        assert_eq!(u(0x10000, usize::MAX - 2 * PAGE), Err(EINVAL));
        // The widened length itself wraps to 0: an empty range, success.
        assert_eq!(u(0x1000, usize::MAX), Ok(()));
        assert_eq!(u(usize::MAX - PAGE + 2, PAGE), Err(EINVAL));
    }

    #[test]
    fn remap_rules() {
        let r = |addr, old, new, flags| check_remap(addr, old, new, flags, PAGE).map_err(|e| e.0);
        assert_eq!(r(0x1000, PAGE, 2 * PAGE, MREMAP_MAYMOVE), Ok(()));
        assert_eq!(r(0x1000, PAGE, 2 * PAGE, 0), Ok(()));
        assert_eq!(r(0x1000, 0, PAGE, MREMAP_MAYMOVE), Ok(()));
        assert_eq!(r(0x1000, PAGE, PAGE, 8), Err(EINVAL));
        assert_eq!(r(0x1000, PAGE, PAGE, -1), Err(EINVAL));
        assert_eq!(r(0x1000, PAGE, PAGE, MREMAP_FIXED), Err(EINVAL));
        assert_eq!(r(0x1000, PAGE, PAGE, MREMAP_DONTUNMAP), Err(EINVAL));
        assert_eq!(
            r(0x1000, PAGE, 2 * PAGE, MREMAP_MAYMOVE | MREMAP_DONTUNMAP),
            Err(EINVAL)
        );
        // Equal once rounded but not as given: 6.1 and 6.18 disagree, the kernel decides.
        assert_eq!(
            r(0x1000, PAGE, PAGE - 1, MREMAP_MAYMOVE | MREMAP_DONTUNMAP),
            Ok(())
        );
        assert_eq!(r(0x1001, PAGE, PAGE, MREMAP_MAYMOVE), Err(EINVAL));
        assert_eq!(r(0x1000, PAGE, 0, MREMAP_MAYMOVE), Err(EINVAL));
        assert_eq!(r(0x1000, PAGE, usize::MAX, MREMAP_MAYMOVE), Err(EINVAL));
    }

    #[test]
    fn resident_rules() {
        let m = |addr, len, vec| check_resident(addr, len, vec, PAGE).map_err(|e| e.0);
        assert_eq!(m(0x1000, PAGE, 0x5000), Ok(()));
        assert_eq!(m(0x1000, 0, 0), Ok(()));
        assert_eq!(m(0x1001, PAGE, 0x5000), Err(EINVAL));
        assert_eq!(m(0x1000, usize::MAX, 0x5000), Err(ENOMEM));
        assert_eq!(m(0x1000, PAGE, usize::MAX), Err(EFAULT));
        // Between SURE_USER_SPAN and 2^63 the kernel's own bound decides.
        assert_eq!(m(0x1000, 1 << 50, usize::MAX), Ok(()));
    }

    #[test]
    fn round_up_to_page_reports_overflow() {
        assert_eq!(round_up_to_page(0, PAGE), Some(0));
        assert_eq!(round_up_to_page(1, PAGE), Some(PAGE));
        assert_eq!(round_up_to_page(PAGE, PAGE), Some(PAGE));
        assert_eq!(
            round_up_to_page(usize::MAX - PAGE + 1, PAGE),
            Some(usize::MAX - PAGE + 1)
        );
        assert_eq!(round_up_to_page(usize::MAX - PAGE + 2, PAGE), None);
    }

    #[test]
    fn unmap_rules() {
        assert_eq!(check_unmap(0x1000, 1, PAGE), Ok(()));
        assert_eq!(check_unmap(0x1001, 1, PAGE), Err(Errno(EINVAL)));
        assert_eq!(check_unmap(0x1000, 0, PAGE), Err(Errno(EINVAL)));
    }
}
