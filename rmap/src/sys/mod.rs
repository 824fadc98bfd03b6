//! Raw system calls and platform constants: the only module that knows the OS.
//!
//! Each wrapper captures `errno` immediately after its system call and returns
//! it as a value, so nothing between the call and the caller can clobber it.

#[cfg(not(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
)))]
compile_error!(
    "librmap supports Linux on x86-64 and AArch64: its argument rules mirror that kernel, \
     and its guarded copies are assembly of each architecture (sys/signal/ARCH.c)"
);

mod c;
mod signal;
// What differs between architectures besides the signal machinery: the
// system call instruction and numbers, `struct stat`, and the few argument
// rules of their own.
#[cfg_attr(target_arch = "aarch64", path = "aarch64.rs")]
#[cfg_attr(target_arch = "x86_64", path = "x86_64.rs")]
mod arch;

use arch::syscall6;
pub use arch::{PROT_DECIDED_BY_KERNEL, SURE_USER_SPAN};

pub use signal::*;

use std::ffi::{CStr, c_int, c_void};
use std::sync::atomic::{
    AtomicBool, AtomicI32, AtomicPtr, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering,
};

/// An errno value, captured right after its system call and carried as a
/// value to where it is reported (the C library sets it last). Our own
/// type, not the `errno` crate's: one crate fewer on a dependent's build's
/// critical path (make bench times that build).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Errno(pub i32);

/// The calling thread's errno, now.
pub fn errno() -> Errno {
    Errno(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
}

pub use c::{
    EBADF, EFAULT, EFBIG, EINVAL, EIO, ENODEV, ENOMEM, EOVERFLOW, EPERM, MADV_DODUMP, MADV_DOFORK,
    MADV_DONTDUMP, MADV_DONTFORK, MADV_DONTNEED, MADV_FREE, MADV_HUGEPAGE, MADV_HWPOISON,
    MADV_MERGEABLE, MADV_NOHUGEPAGE, MADV_NORMAL, MADV_POPULATE_READ, MADV_POPULATE_WRITE,
    MADV_RANDOM, MADV_REMOVE, MADV_SEQUENTIAL, MADV_UNMERGEABLE, MADV_WILLNEED, MAP_32BIT,
    MAP_ANONYMOUS, MAP_FIXED, MAP_FIXED_NOREPLACE, MAP_HUGE_SHIFT, MAP_HUGETLB, MAP_LOCKED,
    MAP_NORESERVE, MAP_POPULATE, MAP_PRIVATE, MAP_SHARED, MAP_SHARED_VALIDATE, MAP_STACK,
    MREMAP_DONTUNMAP, MREMAP_FIXED, MREMAP_MAYMOVE, MS_ASYNC, MS_INVALIDATE, MS_SYNC, PROT_EXEC,
    PROT_GROWSDOWN, PROT_GROWSUP, PROT_READ, PROT_WRITE,
};

/// `PROT_SEM`: accepted by `mprotect` (and ignored).
pub const PROT_SEM: i32 = 0x8;

/// `MAP_TYPE`: the bits that select SHARED, PRIVATE, SHARED_VALIDATE (and newer types).
pub const MAP_TYPE: i32 = 0x0f;
/// `MAP_DROPPABLE` (Linux 6.11): an anonymous mapping type that older kernels reject.
pub const MAP_DROPPABLE: i32 = 0x08;

/// What `fget()` would find behind a descriptor, and how far the kernel lets a
/// mapping of it reach (`file_mmap_size_max`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FdKind {
    /// Not open, or an `O_PATH` descriptor: the kernel answers EBADF.
    Closed,
    /// Regular file, block device or socket: offset + length must fit in `off_t`.
    OffTLimited,
    /// Anything else (pipes, character devices, directories, ...).
    Other,
}

static PAGE_SIZE: AtomicUsize = AtomicUsize::new(0);

/// The page size, from `sysconf(_SC_PAGESIZE)`, read once.
#[inline]
pub fn page_size() -> usize {
    match PAGE_SIZE.load(Ordering::Relaxed) {
        0 => read_page_size(),
        size => size,
    }
}

/// The page size, or 0 before [`page_size`] first read it: for the common
/// map and unmap, which must call nothing.
#[inline(always)]
pub fn page_size_if_read() -> usize {
    PAGE_SIZE.load(Ordering::Relaxed)
}

#[cold]
fn read_page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { c::sysconf(c::_SC_PAGESIZE) };
    // Linux always knows its page size; 4096 keeps the type total.
    let size = usize::try_from(size).unwrap_or(4096);
    PAGE_SIZE.store(size, Ordering::Relaxed);
    size
}

/// The kernel's return value as a Result: -4095..-1 are errors.
#[inline(always)]
fn result_of(ret: isize) -> Result<usize, Errno> {
    if (-4095..0).contains(&ret) {
        Err(Errno(-ret as c_int))
    } else {
        Ok(ret as usize)
    }
}

/// `mmap(2)`.
///
/// # Safety
/// As for `mmap`: with `MAP_FIXED` the range is replaced, whatever it held.
#[inline]
pub unsafe fn mmap(
    addr: *mut u8,
    len: usize,
    prot: i32,
    flags: i32,
    fd: i32,
    offset: i64,
) -> Result<*mut u8, Errno> {
    let args = [
        addr as usize,
        len,
        prot as usize,
        flags as usize,
        fd as usize,
        offset as usize,
    ];
    // SAFETY: forwarded to the caller's contract.
    result_of(unsafe { syscall6(c::SYS_mmap, args) }).map(|ptr| ptr as *mut u8)
}

/// `msync(2)`.
///
/// # Safety
/// As for `msync`; `MS_INVALIDATE` may discard data of other mappings' views.
#[inline]
pub unsafe fn msync(addr: *mut u8, len: usize, flags: i32) -> Result<(), Errno> {
    // SAFETY: forwarded to the caller's contract.
    zero_or_error(unsafe { syscall6(c::SYS_msync, [addr as usize, len, flags as usize, 0, 0, 0]) })
}

/// `munmap(2)`.
///
/// # Safety
/// As for `munmap`: no reference into the range may be used afterwards.
#[inline]
pub unsafe fn munmap(addr: *mut u8, len: usize) -> Result<(), Errno> {
    // SAFETY: forwarded to the caller's contract.
    zero_or_error(unsafe { syscall6(c::SYS_munmap, [addr as usize, len, 0, 0, 0, 0]) })
}

#[inline(always)]
fn zero_or_error(ret: isize) -> Result<(), Errno> {
    result_of(ret).map(|_| ())
}

/// `mprotect(2)`.
///
/// # Safety
/// As for `mprotect`: removing access makes later accesses fault.
#[inline]
pub unsafe fn mprotect(addr: *mut u8, len: usize, prot: i32) -> Result<(), Errno> {
    // SAFETY: forwarded to the caller's contract.
    zero_or_error(unsafe {
        syscall6(
            c::SYS_mprotect,
            [addr as usize, len, prot as usize, 0, 0, 0],
        )
    })
}

/// `madvise(2)`.
///
/// # Safety
/// As for `madvise`: some advice (MADV_DONTNEED, MADV_FREE, MADV_REMOVE)
/// discards the contents of the range.
#[inline]
pub unsafe fn madvise(addr: *mut u8, len: usize, advice: i32) -> Result<(), Errno> {
    // SAFETY: forwarded to the caller's contract.
    zero_or_error(unsafe {
        syscall6(
            c::SYS_madvise,
            [addr as usize, len, advice as usize, 0, 0, 0],
        )
    })
}

/// `mlock(2)`. Changes no memory, so it is safe.
#[inline]
pub fn mlock(addr: *const u8, len: usize) -> Result<(), Errno> {
    // SAFETY: mlock only changes the residency of the range's pages.
    zero_or_error(unsafe { syscall6(c::SYS_mlock, [addr as usize, len, 0, 0, 0, 0]) })
}

/// `munlock(2)`. Changes no memory, so it is safe.
#[inline]
pub fn munlock(addr: *const u8, len: usize) -> Result<(), Errno> {
    // SAFETY: munlock only changes the residency of the range's pages.
    zero_or_error(unsafe { syscall6(c::SYS_munlock, [addr as usize, len, 0, 0, 0, 0]) })
}

/// `mremap(2)` with its fifth argument always passed (the kernel reads it
/// only for `MREMAP_FIXED` and `MREMAP_DONTUNMAP`).
///
/// # Safety
/// As for `mremap`: the old range may move or go away, and `MREMAP_FIXED`
/// replaces whatever the new range held.
#[inline]
pub unsafe fn mremap(
    addr: *mut u8,
    old_len: usize,
    new_len: usize,
    flags: i32,
    new_addr: *mut u8,
) -> Result<*mut u8, Errno> {
    let args = [
        addr as usize,
        old_len,
        new_len,
        flags as usize,
        new_addr as usize,
        0,
    ];
    // SAFETY: forwarded to the caller's contract.
    result_of(unsafe { syscall6(c::SYS_mremap, args) }).map(|ptr| ptr as *mut u8)
}

/// `mincore(2)`.
///
/// # Safety
/// `vec` must be writable for one byte per page of the range (the kernel
/// answers EFAULT if it is not mapped, but may write part of it first).
#[inline]
pub unsafe fn mincore(addr: *mut u8, len: usize, vec: *mut u8) -> Result<(), Errno> {
    // SAFETY: forwarded to the caller's contract.
    zero_or_error(unsafe { syscall6(c::SYS_mincore, [addr as usize, len, vec as usize, 0, 0, 0]) })
}

/// Classifies `fd` the way `mmap` would see it. Called only on the error path,
/// so a successful mapping costs no extra system call.
#[cold]
#[inline(never)]
pub fn fd_kind(fd: i32) -> FdKind {
    // SAFETY: F_GETFL takes no pointer; an invalid fd just fails.
    let status = unsafe { c::fcntl(fd, c::F_GETFL) };
    if status == -1 || status & c::O_PATH != 0 {
        return FdKind::Closed;
    }
    // SAFETY: stat is plain data, so all-zero is a valid value to overwrite.
    let mut st: c::Stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid, writable stat buffer.
    if unsafe { c::fstat(fd, &mut st) } != 0 {
        return FdKind::Closed;
    }
    match st.st_mode & c::S_IFMT {
        c::S_IFREG | c::S_IFBLK | c::S_IFSOCK => FdKind::OffTLimited,
        _ => FdKind::Other,
    }
}

unsafe extern "C" {
    // src/sys/interposed.c, set by rmap-check's preload (tools/rmap-check/preload.c).
    static rmap_sys_interposed: c_int;
    fn rmap_sys_caller_hint() -> usize;
    fn rmap_sys_report_stderr() -> c_int;
    fn rmap_sys_foreign_change_seen() -> c_int;
}

/// The seals of a memfd (`fcntl(F_GET_SEALS)`), or None for any other file.
pub fn memfd_seals(fd: i32) -> Option<i32> {
    // SAFETY: F_GET_SEALS only reads; a bad descriptor is an error.
    let seals = unsafe { c::fcntl(fd, c::F_GET_SEALS) };
    (seals >= 0).then_some(seals)
}

/// The seals a memfd can carry (`F_SEAL_*`).
pub const SEALS_ALL: i32 =
    c::F_SEAL_SEAL | c::F_SEAL_SHRINK | c::F_SEAL_GROW | c::F_SEAL_WRITE | c::F_SEAL_FUTURE_WRITE;
pub use c::F_SEAL_SHRINK;

/// `memfd_create(name, MFD_ALLOW_SEALING [| MFD_CLOEXEC])`.
pub fn memfd(name: &CStr, close_on_exec: bool) -> Result<i32, Errno> {
    let flags = c::MFD_ALLOW_SEALING | if close_on_exec { c::MFD_CLOEXEC } else { 0 };
    // SAFETY: `name` is a valid C string.
    let fd = unsafe { c::memfd_create(name.as_ptr(), flags) };
    if fd >= 0 { Ok(fd) } else { Err(errno()) }
}

/// `shm_open(name, O_RDWR | O_CREAT | O_EXCL [| O_CLOEXEC], 0600)`: a POSIX
/// shared memory object that did not exist, for its creator only.
pub fn shm_create(name: &CStr, close_on_exec: bool) -> Result<i32, Errno> {
    let flags = c::O_RDWR | c::O_CREAT | c::O_EXCL | if close_on_exec { c::O_CLOEXEC } else { 0 };
    // SAFETY: `name` is a valid C string.
    let fd = unsafe { c::shm_open(name.as_ptr(), flags, 0o600) };
    if fd >= 0 { Ok(fd) } else { Err(errno()) }
}

/// `shm_unlink(name)`, its error ignored (for undoing a creation).
pub fn shm_remove(name: &CStr) {
    // SAFETY: `name` is a valid C string.
    unsafe { c::shm_unlink(name.as_ptr()) };
}

/// `fcntl(fd, F_ADD_SEALS, seals)`.
pub fn add_seals(fd: i32, seals: i32) -> Result<(), Errno> {
    // SAFETY: F_ADD_SEALS takes an int; a bad descriptor is an error.
    if unsafe { c::fcntl(fd, c::F_ADD_SEALS, seals) } == 0 {
        Ok(())
    } else {
        Err(errno())
    }
}

/// `close(fd)`, its error ignored (for undoing a creation).
pub fn close_fd(fd: i32) {
    // SAFETY: a descriptor this call's caller owns.
    unsafe { c::close(fd) };
}

/// The seals that keep a memfd from shrinking and from being written.
pub const SEALS_IMMUTABLE: (i32, i32) = (c::F_SEAL_SHRINK, c::F_SEAL_WRITE);

/// Whether the file has fs-verity on (its measurement can be asked for:
/// the ioctl answers, or says the buffer is too small).
pub fn has_fs_verity(fd: i32) -> bool {
    #[repr(C)]
    struct Digest {
        algorithm: u16,
        size: u16,
    }
    const FS_IOC_MEASURE_VERITY: std::ffi::c_ulong = 0xC004_6686;
    let mut digest = Digest {
        algorithm: 0,
        size: 0,
    };
    // SAFETY: the ioctl writes at most the header given (size 0: no digest).
    let result = unsafe { c::ioctl(fd, FS_IOC_MEASURE_VERITY, &mut digest) };
    result == 0 || errno().0 == EOVERFLOW
}

/// The size of the file behind `fd` (`fstat`).
pub fn file_size(fd: i32) -> Result<u64, Errno> {
    // SAFETY: stat is plain data, so all-zero is a valid value to overwrite.
    let mut st: c::Stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid, writable stat buffer.
    if unsafe { c::fstat(fd, &mut st) } != 0 {
        return Err(errno());
    }
    Ok(st.st_size as u64)
}

/// What the registry records about the file behind a mapping.
#[derive(Clone, Copy, Debug)]
pub struct FileIdentity {
    pub dev: u64,
    pub ino: u64,
    /// Size in bytes, for regular files; None for others.
    pub size: Option<u64>,
}

/// `fstat(fd)`, reduced to what the registry records. (Not inlined: its
/// `struct stat` would bloat the anonymous-mapping path's stack frame.)
#[inline(never)]
pub fn file_identity(fd: i32) -> Option<FileIdentity> {
    // SAFETY: stat is plain data, so all-zero is a valid value to overwrite.
    let mut st: c::Stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid, writable stat buffer.
    if unsafe { c::fstat(fd, &mut st) } != 0 {
        return None;
    }
    let regular = st.st_mode & c::S_IFMT == c::S_IFREG;
    Some(FileIdentity {
        dev: st.st_dev,
        ino: st.st_ino,
        size: regular.then_some(st.st_size as u64),
    })
}

/// `fallocate(fd, 0, offset, len)`: the file system allocates the file's
/// blocks for [offset, offset + len), and the file grows to offset + len if
/// it is shorter. Its errno as the kernel gives it (ENOSPC, EDQUOT, EFBIG,
/// EBADF, EPERM, EOPNOTSUPP, ...).
pub fn allocate(fd: i32, offset: i64, len: i64) -> Result<(), Errno> {
    // SAFETY: no memory is passed; a bad descriptor is the kernel's EBADF.
    if unsafe { c::fallocate(fd, 0, offset, len) } == 0 {
        Ok(())
    } else {
        Err(errno())
    }
}

/// The soft limit on the size of the files this process writes
/// (`RLIMIT_FSIZE`): the kernel sends SIGXFSZ to a process that grows a
/// file past it, so a caller that must fail with EFBIG instead checks it
/// first. None: no limit.
pub fn file_size_limit() -> Option<u64> {
    let mut limit = c::Rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable struct rlimit.
    let known = unsafe { c::getrlimit(c::RLIMIT_FSIZE, &mut limit) } == 0;
    (known && limit.rlim_cur != c::RLIM_INFINITY).then_some(limit.rlim_cur)
}

/// One mapping as the kernel holds it (a VMA).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelVma {
    pub start: usize,
    pub end: usize,
    /// `PROT_READ`, `PROT_WRITE`, `PROT_EXEC` bits.
    pub prot: i32,
    pub shared: bool,
    /// File offset of `start` (0 for anonymous memory).
    pub offset: i64,
    /// Device (as `st_dev` encodes it) and inode of the file; 0 for none.
    pub dev: u64,
    pub ino: u64,
}

/// The kernel's mapping that contains `addr`, or with `or_next` the first
/// one above it. Costs a few system calls: for checked mode and queries
/// only, never a mapping call's hot path. Uses the `PROCMAP_QUERY` ioctl
/// (Linux 6.11), else reads `/proc/self/maps`.
#[cold]
pub fn kernel_vma(addr: usize, or_next: bool) -> Option<KernelVma> {
    if !NO_PROCMAP_QUERY.load(Ordering::Relaxed) {
        let fd = maps_fd();
        if fd >= 0 {
            match procmap_query(fd, addr, or_next) {
                Ok(found) => return found,
                Err(()) => {
                    // Still ours: this kernel has no PROCMAP_QUERY. Else the
                    // program closed it (and may have reused the number).
                    if is_maps_fd(fd) {
                        NO_PROCMAP_QUERY.store(true, Ordering::Relaxed);
                    }
                    forget_maps_fd();
                }
            }
        }
    }
    parse_maps(addr, or_next)
}

static NO_PROCMAP_QUERY: AtomicBool = AtomicBool::new(false);

/// `/proc/self/maps`, opened once: checked mode asks it on every unmap,
/// and opening it costs more than the query. Above the descriptors programs
/// use, close-on-exec; its inode, to tell it from a descriptor the program
/// made with the same number after closing it.
static MAPS_FD: AtomicI32 = AtomicI32::new(-1);
static MAPS_INO: AtomicU64 = AtomicU64::new(0);

fn maps_fd() -> c_int {
    let fd = MAPS_FD.load(Ordering::Acquire);
    if fd >= 0 {
        return fd;
    }
    // SAFETY: a NUL-terminated path.
    let opened = unsafe { c::open(c"/proc/self/maps".as_ptr(), c::O_RDONLY | c::O_CLOEXEC) };
    if opened < 0 {
        return -1;
    }
    let moved = moved_high(opened);
    let Some(ino) = inode_of(moved) else {
        return -1;
    };
    match MAPS_FD.compare_exchange(-1, moved, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => {
            MAPS_INO.store(ino, Ordering::Release);
            moved
        }
        Err(first) => {
            // SAFETY: our own descriptor, never published.
            unsafe { c::close(moved) };
            first
        }
    }
}

/// A descriptor librmap opened, moved to 100 or above (close-on-exec), out
/// of the way of programs that expect the lowest free numbers; -1 if that
/// fails.
fn moved_high(fd: c_int) -> c_int {
    if fd < 0 {
        return -1;
    }
    // SAFETY: our own descriptor, copied, then closed once.
    unsafe {
        let moved = c::fcntl(fd, c::F_DUPFD_CLOEXEC, 100);
        c::close(fd);
        moved
    }
}

fn inode_of(fd: c_int) -> Option<u64> {
    let mut st = std::mem::MaybeUninit::<c::Stat>::uninit();
    // SAFETY: fstat fills the buffer when it returns 0.
    (fd >= 0 && unsafe { c::fstat(fd, st.as_mut_ptr()) } == 0)
        // SAFETY: initialized by the successful fstat.
        .then(|| unsafe { st.assume_init() }.st_ino)
}

fn is_maps_fd(fd: c_int) -> bool {
    inode_of(fd).is_some_and(|ino| ino == MAPS_INO.load(Ordering::Acquire))
}

/// Drops the cached `/proc/self/maps` descriptor, closing it if it is
/// still ours. The child of a fork calls it: its /proc/self is another.
pub fn forget_maps_fd() {
    let fd = MAPS_FD.swap(-1, Ordering::AcqRel);
    if is_maps_fd(fd) {
        // SAFETY: our own descriptor, unpublished above, closed once.
        unsafe { c::close(fd) };
    }
}

/// `struct procmap_query` of <linux/fs.h> (Linux 6.11).
#[repr(C)]
#[derive(Default)]
struct ProcmapQuery {
    size: u64,
    query_flags: u64,
    query_addr: u64,
    vma_start: u64,
    vma_end: u64,
    vma_flags: u64,
    vma_page_size: u64,
    vma_offset: u64,
    inode: u64,
    dev_major: u32,
    dev_minor: u32,
    vma_name_size: u32,
    build_id_size: u32,
    vma_name_addr: u64,
    build_id_addr: u64,
}

/// `_IOWR('f', 17, struct procmap_query)`.
const PROCMAP_QUERY: std::ffi::c_ulong = 0xc068_6611;
const PROCMAP_QUERY_COVERING_OR_NEXT_VMA: u64 = 0x10;

/// Ok(None): no such mapping; Err: the kernel has no PROCMAP_QUERY.
fn procmap_query(fd: c_int, addr: usize, or_next: bool) -> Result<Option<KernelVma>, ()> {
    let mut query = ProcmapQuery {
        size: std::mem::size_of::<ProcmapQuery>() as u64,
        query_flags: if or_next {
            PROCMAP_QUERY_COVERING_OR_NEXT_VMA
        } else {
            0
        },
        query_addr: addr as u64,
        ..ProcmapQuery::default()
    };
    // SAFETY: the argument is a valid, writable procmap_query of the size it states.
    if unsafe { c::ioctl(fd, PROCMAP_QUERY, &mut query) } != 0 {
        return match errno().0 {
            c::ENOENT => Ok(None),
            _ => Err(()),
        };
    }
    Ok(Some(KernelVma {
        start: query.vma_start as usize,
        end: query.vma_end as usize,
        // PROCMAP_QUERY_VMA_READABLE/WRITABLE/EXECUTABLE are PROT_READ/WRITE/EXEC.
        prot: (query.vma_flags & 0x7) as i32,
        shared: query.vma_flags & 0x8 != 0,
        offset: query.vma_offset as i64,
        dev: c::makedev(query.dev_major, query.dev_minor),
        ino: query.inode,
    }))
}

/// The same answer from the text of `/proc/self/maps`.
fn parse_maps(addr: usize, or_next: bool) -> Option<KernelVma> {
    read_proc(c"/proc/self/maps")?
        .lines()
        .filter_map(parse_maps_line)
        .find(|vma| vma.end > addr && (or_next || vma.start <= addr))
}

/// Reads a whole /proc file (its size is not known in advance).
fn read_proc(path: &std::ffi::CStr) -> Option<String> {
    // SAFETY: a NUL-terminated path; the descriptor is closed below.
    let fd = unsafe { c::open(path.as_ptr(), c::O_RDONLY | c::O_CLOEXEC) };
    if fd < 0 {
        return None;
    }
    let mut text = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        // SAFETY: the buffer is valid and writable for its length.
        let n = unsafe { c::read(fd, chunk.as_mut_ptr().cast(), chunk.len()) };
        if n <= 0 {
            break;
        }
        text.extend_from_slice(&chunk[..n as usize]);
    }
    // SAFETY: our own descriptor, closed once.
    unsafe { c::close(fd) };
    Some(String::from_utf8_lossy(&text).into_owned())
}

/// The parts of [start, end) the kernel holds locked (`VM_LOCKED`, "lo" in
/// the VmFlags of /proc/self/smaps), in address order. Expensive (smaps
/// walks page tables): only after a lock call failed, to learn how far it
/// got.
#[cold]
pub fn kernel_locked_ranges(start: usize, end: usize) -> Vec<(usize, usize)> {
    let Some(text) = read_proc(c"/proc/self/smaps") else {
        return Vec::new();
    };
    let mut ranges = Vec::new();
    let mut current: Option<(usize, usize)> = None;
    for line in text.lines() {
        if let Some(vma) = parse_maps_line(line) {
            current = Some((vma.start, vma.end));
        } else if let (Some(flags), Some((s, e))) = (line.strip_prefix("VmFlags:"), current)
            && flags.split_ascii_whitespace().any(|f| f == "lo")
            && s < end
            && e > start
        {
            ranges.push((s.max(start), e.min(end)));
        }
    }
    ranges
}

/// [`kernel_vma`] for the fault handler: allocates nothing
/// (`PROCMAP_QUERY`, else `/proc/self/maps` read through a fixed buffer).
pub fn kernel_vma_in_handler(addr: usize) -> Option<KernelVma> {
    if !NO_PROCMAP_QUERY.load(Ordering::Relaxed) {
        let fd = maps_fd();
        if fd >= 0
            && let Ok(found) = procmap_query(fd, addr, false)
        {
            return found;
        }
    }
    maps_line_covering(addr)
}

/// The line of `/proc/self/maps` covering `addr`, read a buffer at a time.
/// A line longer than the buffer (a long path) is parsed from its first
/// part, which holds every field but the path.
fn maps_line_covering(addr: usize) -> Option<KernelVma> {
    // SAFETY: a NUL-terminated path; the descriptor is closed below.
    let fd = unsafe { c::open(c"/proc/self/maps".as_ptr(), c::O_RDONLY | c::O_CLOEXEC) };
    if fd < 0 {
        return None;
    }
    let mut buf = [0u8; 4096];
    let (mut filled, mut skipping, mut found) = (0, false, None);
    'reading: loop {
        // SAFETY: the buffer's free part is valid and writable.
        let n = unsafe { c::read(fd, buf[filled..].as_mut_ptr().cast(), buf.len() - filled) };
        if n <= 0 {
            break;
        }
        filled += n as usize;
        let mut at = 0;
        loop {
            let rest = &buf[at..filled];
            let Some(newline) = rest.iter().position(|&b| b == b'\n') else {
                if at == 0 && filled == buf.len() {
                    // A line longer than the buffer: parse what is here,
                    // drop the rest of it.
                    if !skipping
                        && let Some(vma) =
                            maps_prefix(rest).filter(|v| v.start <= addr && addr < v.end)
                    {
                        found = Some(vma);
                        break 'reading;
                    }
                    skipping = true;
                    at = filled;
                }
                break;
            };
            if !skipping
                && let Some(vma) =
                    maps_prefix(&rest[..newline]).filter(|v| v.start <= addr && addr < v.end)
            {
                found = Some(vma);
                break 'reading;
            }
            skipping = false;
            at += newline + 1;
        }
        buf.copy_within(at..filled, 0);
        filled -= at;
    }
    // SAFETY: our own descriptor, closed once.
    unsafe { c::close(fd) };
    found
}

/// A maps line's fields before the path (all ASCII) as a KernelVma.
fn maps_prefix(line: &[u8]) -> Option<KernelVma> {
    let ascii = line
        .iter()
        .position(|b| !b.is_ascii())
        .unwrap_or(line.len());
    parse_maps_line(std::str::from_utf8(&line[..ascii]).ok()?)
}

/// The size of the regular file mapped at `addr`, when the kernel names
/// it: through /proc/self/map_files (needs privilege), else the path in
/// /proc/self/maps if it still names the same inode. For checked mode.
#[cold]
pub fn mapped_file_size(addr: usize) -> Option<u64> {
    if let Some(size) = mapped_file_size_in_handler(addr) {
        return Some(size);
    }
    let vma = kernel_vma(addr, false)?;
    let text = read_proc(c"/proc/self/maps")?;
    let line = text
        .lines()
        .find(|line| parse_maps_line(line).is_some_and(|v| v.start == vma.start))?;
    let path = line
        .split_ascii_whitespace()
        .nth(5)
        .filter(|p| p.starts_with('/'))?;
    let st = stat_path(&std::ffi::CString::new(path).ok()?)?;
    (st.st_mode & c::S_IFMT == c::S_IFREG && st.st_ino == vma.ino).then_some(st.st_size as u64)
}

/// [`mapped_file_size`] without allocating or reading /proc/self/maps as
/// text (for the fault handler): `PROCMAP_QUERY` and /proc/self/map_files
/// only, so None on kernels before 6.11 or without the privilege.
pub fn mapped_file_size_in_handler(addr: usize) -> Option<u64> {
    let (path, vma) = map_files_path(addr)?;
    let path = std::ffi::CStr::from_bytes_until_nul(&path).ok()?;
    let st = stat_path(path)?;
    (st.st_mode & c::S_IFMT == c::S_IFREG && st.st_ino == vma.ino).then_some(st.st_size as u64)
}

/// Whether the file system of the file mapped at `addr` has less than a
/// page free (for the calling user: root may use the blocks reserved for
/// it). For the fault handler, as [`mapped_file_size_in_handler`]; false
/// when the kernel does not say.
pub fn no_space_for_file_at(addr: usize) -> bool {
    let Some((path, _)) = map_files_path(addr) else {
        return false;
    };
    let Ok(path) = std::ffi::CStr::from_bytes_until_nul(&path) else {
        return false;
    };
    // SAFETY: statfs is plain data, so all-zero is a valid value to overwrite.
    let mut fs: c::StatFs = unsafe { std::mem::zeroed() };
    // SAFETY: a NUL-terminated path and a writable statfs buffer.
    if unsafe { c::statfs(path.as_ptr(), &mut fs) } != 0 {
        return false;
    }
    // SAFETY: geteuid has no preconditions.
    let free = if unsafe { c::geteuid() } == 0 {
        fs.f_bfree
    } else {
        fs.f_bavail
    };
    free.saturating_mul(fs.f_bsize.max(0) as u64) < page_size() as u64
}

/// Whether file offset `offset` of the file mapped at `addr` lies in a hole
/// (no block allocated: `lseek(SEEK_DATA)` finds data only past it). For
/// the fault handler, as [`mapped_file_size_in_handler`]; None when the
/// kernel does not say.
pub fn hole_in_file_at(addr: usize, offset: i64) -> Option<bool> {
    let (path, _) = map_files_path(addr)?;
    let path = std::ffi::CStr::from_bytes_until_nul(&path).ok()?;
    // SAFETY: a NUL-terminated path; the descriptor is closed below.
    let fd = unsafe { c::open(path.as_ptr(), c::O_RDONLY | c::O_CLOEXEC) };
    if fd < 0 {
        return None;
    }
    // SAFETY: our own descriptor.
    let data = unsafe { c::lseek(fd, offset, c::SEEK_DATA) };
    let error = errno();
    // SAFETY: our own descriptor, closed once.
    unsafe { c::close(fd) };
    match data {
        -1 if error.0 == c::ENXIO => Some(true),
        -1 => None,
        data => Some(data > offset),
    }
}

/// "/proc/self/map_files/START-END" (NUL-terminated) of the mapping at
/// `addr`, and that mapping, without allocating.
fn map_files_path(addr: usize) -> Option<([u8; 64], KernelVma)> {
    if NO_PROCMAP_QUERY.load(Ordering::Relaxed) {
        return None;
    }
    let vma = procmap_query(maps_fd(), addr, false).ok()??;
    // At most 22 + 2 * 16 + 1 bytes.
    let mut path = [0u8; 64];
    let mut writer = &mut path[..];
    use std::io::Write;
    write!(
        writer,
        "/proc/self/map_files/{:x}-{:x}\0",
        vma.start, vma.end
    )
    .ok()?;
    Some((path, vma))
}

fn stat_path(path: &std::ffi::CStr) -> Option<c::Stat> {
    // SAFETY: stat is plain data, so all-zero is a valid value to overwrite.
    let mut st: c::Stat = unsafe { std::mem::zeroed() };
    // SAFETY: a NUL-terminated path and a writable stat buffer.
    (unsafe { c::stat(path.as_ptr(), &mut st) } == 0).then_some(st)
}

/// "7f00-7f01 rw-s 00001000 fe:00 1234  /path" as a KernelVma.
fn parse_maps_line(line: &str) -> Option<KernelVma> {
    let mut fields = line.split_ascii_whitespace();
    let (start, end) = fields.next()?.split_once('-')?;
    let perms = fields.next()?.as_bytes();
    let offset = fields.next()?;
    let (major, minor) = fields.next()?.split_once(':')?;
    let ino = fields.next()?;
    let hex = |text: &str| u64::from_str_radix(text, 16).ok();
    let flag = |i: usize, c: u8, bit: i32| if perms.get(i) == Some(&c) { bit } else { 0 };
    Some(KernelVma {
        start: hex(start)? as usize,
        end: hex(end)? as usize,
        prot: flag(0, b'r', PROT_READ) | flag(1, b'w', PROT_WRITE) | flag(2, b'x', PROT_EXEC),
        shared: perms.get(3) == Some(&b's'),
        offset: hex(offset)? as i64,
        dev: c::makedev(hex(major)? as u32, hex(minor)? as u32),
        ino: ino.parse().ok()?,
    })
}

/// Writes one report line (with its newline) with a single write(2), so
/// lines from different threads do not interleave: to rmap-check's
/// symbolizer when [`take_report_socket`] found it, else to the log set by
/// [`set_report_log`], else stderr. False when the symbolizer is gone
/// (rmap-check ended before this process): nothing was written, and the
/// line is to be written again without the symbolizer's marks. Allocates
/// nothing and reads no environment, so a signal handler may call it.
pub fn report_line(line: &[u8]) -> bool {
    let socket = REPORT_SOCKET.load(Ordering::Relaxed);
    if socket >= 0 {
        // One message of the socket's (SOCK_SEQPACKET): lines of processes
        // sharing it never interleave. MSG_NOSIGNAL: no SIGPIPE once
        // rmap-check is gone.
        // SAFETY: the buffer is valid for its length.
        let sent = unsafe { c::send(socket, line.as_ptr().cast(), line.len(), c::MSG_NOSIGNAL) };
        if sent == line.len() as isize {
            return true;
        }
        REPORT_SOCKET.store(-1, Ordering::Relaxed);
        return false;
    }
    let fd = match LOG.load(Ordering::Relaxed) {
        fd if fd >= 0 => fd,
        // SAFETY: no arguments; interposed.c answers a descriptor (fstat only):
        // under rmap-check, the program's first stderr.
        _ => unsafe { rmap_sys_report_stderr() },
    };
    write_all(fd, line);
    true
}

/// rmap-check's symbolizer, reached through the socket it passes its
/// program (`RMAP_CHECK_REPORT_FD=FD:INODE`, inherited by the processes
/// the program starts): a private copy of that descriptor above those
/// programs use, taken when librmap loads (a program may close the number
/// it was given). -1: none.
static REPORT_SOCKET: AtomicI32 = AtomicI32::new(-1);

/// Takes rmap-check's report socket, when the environment names one that
/// this process holds (the same socket: a program that closed the number
/// may have reused it).
pub fn take_report_socket() {
    let Some(value) = env_var("RMAP_CHECK_REPORT_FD") else {
        return;
    };
    let text = String::from_utf8_lossy(&value);
    let Some((fd, ino)) = text.split_once(':') else {
        return;
    };
    let (Ok(fd), Ok(ino)) = (fd.parse::<c_int>(), ino.parse::<u64>()) else {
        return;
    };
    let mut st = std::mem::MaybeUninit::<c::Stat>::uninit();
    // SAFETY: fstat fills the buffer when it returns 0.
    if fd < 0 || unsafe { c::fstat(fd, st.as_mut_ptr()) } != 0 {
        return;
    }
    // SAFETY: initialized by the successful fstat.
    let st = unsafe { st.assume_init() };
    if st.st_mode & c::S_IFMT != c::S_IFSOCK || st.st_ino != ino {
        return;
    }
    // SAFETY: copies a descriptor this process holds.
    let copy = unsafe { c::fcntl(fd, c::F_DUPFD_CLOEXEC, 100) };
    if copy >= 0
        && REPORT_SOCKET
            .compare_exchange(-1, copy, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
    {
        // SAFETY: our own copy, never handed out.
        unsafe { c::close(copy) };
    }
}

/// Whether report lines go to rmap-check's symbolizer, which reads the
/// marks in them (see `checked::Site::marked`).
pub fn symbolizer_follows() -> bool {
    REPORT_SOCKET.load(Ordering::Relaxed) >= 0
}

/// This process's parent's id.
pub fn parent_pid() -> u32 {
    // SAFETY: no arguments.
    unsafe { c::getppid() as u32 }
}

fn write_all(fd: c_int, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: the buffer is valid for its length.
        let n = unsafe { c::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if n <= 0 {
            return; // a failed write is dropped: reports never stop the program
        }
        bytes = &bytes[n as usize..];
    }
}

static LOG: AtomicI32 = AtomicI32::new(-1);

/// Opens `path` for appending (created if missing, so that the processes of
/// one run share it) and sends reports there from now on.
pub fn set_report_log(path: &[u8]) -> Result<(), Errno> {
    let path = std::ffi::CString::new(path).map_err(|_| Errno(c::EINVAL))?;
    let flags = c::O_WRONLY | c::O_CREAT | c::O_APPEND | c::O_CLOEXEC;
    // SAFETY: a NUL-terminated path; the mode is passed as open(2) wants.
    let fd = unsafe { c::open(path.as_ptr(), flags, 0o644 as std::ffi::c_uint) };
    if fd < 0 {
        return Err(errno());
    }
    let moved = moved_high(fd);
    if moved < 0 {
        return Err(Errno(c::EMFILE));
    }
    if LOG
        .compare_exchange(-1, moved, Ordering::Relaxed, Ordering::Relaxed)
        .is_err()
    {
        // SAFETY: our own descriptor, never handed out.
        unsafe { c::close(moved) };
    }
    Ok(())
}

/// The text of an errno value.
pub fn error_text(error: Errno) -> String {
    // "Input/output error (os error 5)" without the suffix: the C library's text.
    let text = std::io::Error::from_raw_os_error(error.0).to_string();
    match text.rfind(" (os error ") {
        Some(end) => text[..end].to_string(),
        None => text,
    }
}

/// Whether the process runs in secure-execution mode (set-user-ID or
/// set-group-ID, file capabilities, a security module's say): the kernel's
/// `AT_SECURE`, which glibc's `secure_getenv` obeys. Its environment then
/// belongs to whoever started it, who may not choose where a privileged
/// program writes or with what status it exits.
pub fn secure_execution() -> bool {
    // SAFETY: getauxval reads the auxiliary vector; 0 when absent.
    unsafe { c::getauxval(c::AT_SECURE) != 0 }
}

/// An environment variable's bytes, as `secure_getenv` gives them: nothing
/// in secure-execution mode.
pub fn env_var(name: &str) -> Option<Vec<u8>> {
    if secure_execution() {
        return None;
    }
    std::env::var_os(name).map(|value| value.into_encoded_bytes())
}

/// Calls `f` with an environment variable's bytes as they are now (nothing
/// in secure-execution mode), without allocating: for exit handlers.
pub fn env_now<T>(name: &std::ffi::CStr, f: impl FnOnce(Option<&[u8]>) -> T) -> T {
    if secure_execution() {
        return f(None);
    }
    // SAFETY: a NUL-terminated name; the value is read before anything
    // here could change the environment.
    let value = unsafe { c::getenv(name.as_ptr()) };
    // SAFETY: getenv returns a NUL-terminated string or NULL.
    f((!value.is_null()).then(|| unsafe { std::ffi::CStr::from_ptr(value) }.to_bytes()))
}

/// Writes one line to stderr (a warning of librmap's, not a report).
pub fn warn(line: &str) {
    write_all(2, format!("{line}\n").as_bytes());
}

/// This process's id.
pub fn pid() -> u32 {
    std::process::id()
}

/// Ends the process now with `status`, flushing C stdio first (an exit
/// handler calls it, before the C library would flush).
pub fn exit_now(status: c_int) -> ! {
    // SAFETY: fflush(NULL) flushes every stream; _exit never returns.
    unsafe {
        c::fflush(std::ptr::null_mut());
        c::_exit(status)
    }
}

/// Whether rmap-check's preload routes the program's `mmap`, `munmap`, ...
/// to librmap (it says so when it loads).
pub fn interposed() -> bool {
    // SAFETY: reads a C int written once, at load.
    unsafe { rmap_sys_interposed != 0 }
}

/// Whether the kernel's mappings may have changed without librmap seeing
/// it. Always, for a program that calls librmap itself (it may call the C
/// library's `munmap` too); under rmap-check, only once the program made a
/// mapping system call that bypassed librmap (`syscall(SYS_munmap, ...)`
/// and the like, which the preload notices), since every other mapping call
/// of the program comes to librmap and the C library's own mappings are
/// never librmap's.
pub fn foreign_changes_possible() -> bool {
    // SAFETY: reads C ints.
    !interposed() || unsafe { rmap_sys_foreign_change_seen() } != 0
}

/// Ends the process with SIGABRT.
pub fn abort() -> ! {
    std::process::abort()
}

/// An address inside the instruction that called into librmap: the first
/// return address on the stack outside librmap's own object file, minus one
/// (so that addr2line names the calling line). 0 when librmap is linked into
/// the program itself, where the two cannot be told apart.
#[cold]
#[inline(never)]
pub fn caller_address() -> usize {
    // rmap-check's preload leaves the return address of the program's call.
    // SAFETY: reads this thread's hint.
    let hint = unsafe { rmap_sys_caller_hint() };
    if hint != 0 {
        return hint - 1;
    }
    let own = object_base(caller_address as *const () as usize);
    // Linked into the program itself (librmap.a): its frames and the
    // program's cannot be told apart.
    // SAFETY: getauxval reads the auxiliary vector.
    if own == object_base(unsafe { c::getauxval(c::AT_ENTRY) } as usize) {
        return 0;
    }
    let mut frames = [std::ptr::null_mut::<c_void>(); 8];
    // SAFETY: the buffer holds as many pointers as passed.
    let n = unsafe { c::backtrace(frames.as_mut_ptr(), frames.len() as c_int) };
    // Frames before librmap's own can be a sanitizer's backtrace interceptor.
    frames[..n.max(0) as usize]
        .iter()
        .map(|&f| f as usize)
        .skip_while(|&f| object_base(f) != own)
        .find(|&f| object_base(f) != own)
        .map_or(0, |f| f - 1)
}

/// The load address of the object file containing `addr`.
fn object_base(addr: usize) -> usize {
    // SAFETY: Dl_info is plain data; dladdr fills it or returns 0.
    let mut info: c::DlInfo = unsafe { std::mem::zeroed() };
    // SAFETY: `info` is a valid out-parameter.
    match unsafe { c::dladdr(addr as *const c_void, &mut info) } {
        0 => 0,
        _ => info.dli_fbase as usize,
    }
}

/// Where a code address lies, as reports show it: the object file, the
/// offset from its load address (what `addr2line -e OBJECT OFFSET` takes),
/// and the exported symbol covering it. The names are the loader's, valid
/// while the object stays loaded (reports use them at once).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeAt {
    Site {
        object: &'static [u8],
        offset: usize,
        symbol: Option<(&'static [u8], usize)>,
    },
    /// No object file contains the address.
    Address(usize),
    /// 0: librmap is linked into the program ([`caller_address`]).
    Unknown,
}

/// [`CodeAt`] for `addr`. Allocates nothing (reports at exit and from the
/// fault handler use it).
pub fn locate(addr: usize) -> CodeAt {
    if addr == 0 {
        return CodeAt::Unknown;
    }
    // SAFETY: Dl_info is plain data; dladdr fills it or returns 0.
    let mut info: c::DlInfo = unsafe { std::mem::zeroed() };
    // SAFETY: `info` is a valid out-parameter.
    if unsafe { c::dladdr(addr as *const c_void, &mut info) } == 0 {
        return CodeAt::Address(addr);
    }
    let text = |p: *const std::ffi::c_char| -> Option<&'static [u8]> {
        // SAFETY: dladdr returns NUL-terminated strings (or NULL) that live
        // as long as the object is loaded.
        (!p.is_null()).then(|| unsafe { std::ffi::CStr::from_ptr(p) }.to_bytes())
    };
    let mut object = text(info.dli_fname).unwrap_or_default();
    // The loader names libraries by absolute path; only the program itself
    // may go by the relative name it was started with.
    if !object.starts_with(b"/") {
        object = program_path();
    }
    CodeAt::Site {
        object,
        offset: addr - info.dli_fbase as usize,
        symbol: text(info.dli_sname).map(|name| (name, addr - info.dli_saddr as usize)),
    }
}

/// The program's absolute path, read from /proc/self/exe when librmap is
/// loaded (the program may change directory or delete itself later).
fn program_path() -> &'static [u8] {
    let len = PROGRAM_PATH_LEN.load(Ordering::Acquire);
    // SAFETY: written once at load, before any reader (and never again).
    unsafe { &(&*PROGRAM_PATH.0.get())[..len] }
}

struct PathBuffer(std::cell::UnsafeCell<[u8; 4096]>);
// SAFETY: written once at load, before threads can read it.
unsafe impl Sync for PathBuffer {}
static PROGRAM_PATH: PathBuffer = PathBuffer(std::cell::UnsafeCell::new([0; 4096]));
static PROGRAM_PATH_LEN: AtomicUsize = AtomicUsize::new(0);

fn read_program_path() {
    let buffer = PROGRAM_PATH.0.get();
    // SAFETY: at load nothing else touches the buffer; readlink writes at
    // most its size.
    let n = unsafe {
        c::readlink(
            c"/proc/self/exe".as_ptr(),
            (*buffer).as_mut_ptr().cast(),
            (*buffer).len(),
        )
    };
    if n > 0 && (n as usize) < 4096 {
        PROGRAM_PATH_LEN.store(n as usize, Ordering::Release);
    }
}

/// This thread's id (async-signal-safe).
pub fn thread_id() -> i32 {
    // SAFETY: gettid takes no arguments.
    unsafe { c::gettid() }
}

/// `pthread_atfork`; returns false if it failed.
pub fn at_fork(prepare: extern "C" fn(), parent: extern "C" fn(), child: extern "C" fn()) -> bool {
    // SAFETY: the handlers are plain functions valid for the process lifetime.
    unsafe { c::pthread_atfork(Some(prepare), Some(parent), Some(child)) == 0 }
}

/// `atexit`; returns false if it failed.
pub fn at_exit(handler: extern "C" fn()) -> bool {
    // SAFETY: the handler is a plain function valid for the process lifetime.
    unsafe { c::atexit(handler) == 0 }
}

/// glibc's `__libc_single_threaded` (since 2.32), found when the library
/// loads; null before that, with an older C library, or in a static program.
static SINGLE_THREADED_FLAG: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());

fn find_single_threaded_flag() {
    // SAFETY: dlsym with a NUL-terminated name; null when absent.
    let flag = unsafe { c::dlsym(c::RTLD_DEFAULT, c"__libc_single_threaded".as_ptr()) };
    SINGLE_THREADED_FLAG.store(flag.cast(), Ordering::Relaxed);
}

/// Whether the process has only ever had one thread: glibc's
/// `__libc_single_threaded`, which libstdc++ consults the same way to skip
/// atomic operations. It turns false before a second thread can run, and true
/// again only in a child after fork. Without it, assume threads.
#[inline]
pub fn single_threaded() -> bool {
    let flag = SINGLE_THREADED_FLAG.load(Ordering::Relaxed);
    // SAFETY: a byte glibc owns for the process lifetime; it is only written
    // by a thread that is creating another (or by fork), so an atomic read
    // of it is sound.
    !flag.is_null() && unsafe { AtomicU8::from_ptr(flag) }.load(Ordering::Relaxed) != 0
}

/// Sleeps while `*word == expected` (FUTEX_WAIT); returns on wake-up, on a
/// signal, or at once if the word already differs.
pub fn futex_wait(word: &AtomicU32, expected: u32) {
    // SAFETY: the futex word is a live, aligned u32; no timeout pointer.
    unsafe {
        c::syscall(
            c::SYS_futex,
            word.as_ptr(),
            c::FUTEX_WAIT | c::FUTEX_PRIVATE_FLAG,
            expected,
            std::ptr::null::<c_void>(),
        );
    }
}

/// Wakes one thread sleeping in [`futex_wait`] on `word`.
pub fn futex_wake_one(word: &AtomicU32) {
    // SAFETY: the futex word is a live, aligned u32.
    unsafe {
        c::syscall(
            c::SYS_futex,
            word.as_ptr(),
            c::FUTEX_WAKE | c::FUTEX_PRIVATE_FLAG,
            1,
        );
    }
}

/// Runs `$f` (an `extern "C" fn()`) when librmap is loaded, before `main` and
/// before any thread can call into it: an ELF `.init_array` entry.
macro_rules! run_at_load {
    ($f:path) => {
        #[used]
        #[unsafe(link_section = ".init_array")]
        static RUN_AT_LOAD: extern "C" fn() = $f;
    };
}
pub(crate) use run_at_load;

extern "C" fn at_load() {
    find_single_threaded_flag();
    read_program_path();
}

run_at_load!(at_load);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_lines_parse() {
        let vma = parse_maps_line("7f00a000-7f00c000 rw-s 00003000 fe:01 1234   /tmp/x (deleted)");
        assert_eq!(
            vma,
            Some(KernelVma {
                start: 0x7f00a000,
                end: 0x7f00c000,
                prot: PROT_READ | PROT_WRITE,
                shared: true,
                offset: 0x3000,
                dev: c::makedev(0xfe, 1),
                ino: 1234,
            })
        );
        let anon = parse_maps_line("10000-11000 ---p 00000000 00:00 0").unwrap();
        assert_eq!((anon.prot, anon.shared, anon.ino), (0, false, 0));
        assert_eq!(parse_maps_line("garbage"), None);
    }

    #[test]
    fn the_kernel_knows_a_fresh_mapping_either_way() {
        let len = 3 * page_size();
        // SAFETY: a fresh anonymous mapping, unmapped below.
        let p = unsafe {
            mmap(
                std::ptr::null_mut(),
                len,
                PROT_READ,
                MAP_PRIVATE | MAP_ANONYMOUS,
                -1,
                0,
            )
        }
        .unwrap();
        let start = p as usize;
        let found = kernel_vma(start + page_size(), false).expect("the kernel has it");
        assert!(found.start <= start && found.end >= start + len && found.prot == PROT_READ);
        let parsed = parse_maps(start + page_size(), false).expect("the text has it");
        assert_eq!(
            (parsed.start, parsed.end, parsed.prot),
            (found.start, found.end, found.prot)
        );
        // SAFETY: our own mapping.
        unsafe { munmap(p, len) }.unwrap();
        assert!(kernel_vma(start, false).is_none_or(|vma| vma.start > start || vma.end <= start));
        assert!(kernel_vma(start, true).is_none_or(|vma| vma.end > start));
    }
}
