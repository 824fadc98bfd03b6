//! The C library's functions, constants and structures that `sys` uses:
//! the libc crate's, for every architecture (declaring them by hand, as
//! librmap did for x86-64 alone, would be one more way to be wrong per
//! architecture), and the few that differ between architectures or that
//! librmap only passes on by address.

// The C library's names, spelled as in C (SYS_mmap, _exit).
#![allow(non_upper_case_globals)]

use std::ffi::{c_int, c_void};

pub use libc::{
    _SC_PAGESIZE, _exit, AT_ENTRY, AT_SECURE, EBADF, EFAULT, EFBIG, EINVAL, EIO, EMFILE, ENODEV,
    ENOENT, ENOMEM, ENXIO, EOVERFLOW, EPERM, F_ADD_SEALS, F_DUPFD_CLOEXEC, F_GET_SEALS, F_GETFL,
    F_SEAL_FUTURE_WRITE, F_SEAL_GROW, F_SEAL_SEAL, F_SEAL_SHRINK, F_SEAL_WRITE, FUTEX_PRIVATE_FLAG,
    FUTEX_WAIT, FUTEX_WAKE, MADV_DODUMP, MADV_DOFORK, MADV_DONTDUMP, MADV_DONTFORK, MADV_DONTNEED,
    MADV_FREE, MADV_HUGEPAGE, MADV_HWPOISON, MADV_MERGEABLE, MADV_NOHUGEPAGE, MADV_NORMAL,
    MADV_POPULATE_READ, MADV_POPULATE_WRITE, MADV_RANDOM, MADV_REMOVE, MADV_SEQUENTIAL,
    MADV_UNMERGEABLE, MADV_WILLNEED, MAP_ANONYMOUS, MAP_FIXED, MAP_FIXED_NOREPLACE, MAP_HUGE_SHIFT,
    MAP_HUGETLB, MAP_LOCKED, MAP_NORESERVE, MAP_POPULATE, MAP_PRIVATE, MAP_SHARED,
    MAP_SHARED_VALIDATE, MAP_STACK, MFD_ALLOW_SEALING, MFD_CLOEXEC, MREMAP_DONTUNMAP, MREMAP_FIXED,
    MREMAP_MAYMOVE, MS_ASYNC, MS_INVALIDATE, MS_SYNC, MSG_NOSIGNAL, O_APPEND, O_CLOEXEC, O_CREAT,
    O_EXCL, O_PATH, O_RDONLY, O_RDWR, O_WRONLY, PROT_EXEC, PROT_GROWSDOWN, PROT_GROWSUP, PROT_READ,
    PROT_WRITE, RLIM_INFINITY, RLIMIT_FSIZE, S_IFBLK, S_IFMT, S_IFREG, S_IFSOCK, SEEK_DATA,
    SIG_BLOCK, SIG_ERR, SIG_SETMASK, SIGBUS, SYS_futex, SYS_getpid, SYS_madvise, SYS_mincore,
    SYS_mlock, SYS_mmap, SYS_mprotect, SYS_mremap, SYS_msync, SYS_munlock, SYS_munmap,
    SYS_process_vm_readv, SYS_rt_sigprocmask, atexit, backtrace, close, dladdr, dlsym, fallocate,
    fcntl, fflush, fstat, getauxval, getenv, geteuid, getppid, getrlimit, gettid, ioctl, lseek,
    makedev, memfd_create, open, pthread_atfork, read, readlink, send, shm_open, shm_unlink, stat,
    statfs, syscall, sysconf, write,
};

/// `MAP_32BIT` (x86-64 only: the first 2 GiB); elsewhere no such flag, and
/// the bit means nothing to the kernel.
#[cfg(target_arch = "x86_64")]
pub const MAP_32BIT: c_int = libc::MAP_32BIT;
#[cfg(not(target_arch = "x86_64"))]
pub const MAP_32BIT: c_int = 0;

/// `RTLD_DEFAULT` for `dlsym`.
pub const RTLD_DEFAULT: *mut c_void = libc::RTLD_DEFAULT;

pub type Stat = libc::stat;
pub type StatFs = libc::statfs;
pub type DlInfo = libc::Dl_info;
pub type Rlimit = libc::rlimit;

/// The C library's `struct sigaction`: only passed on by address (to
/// the signal machinery and from the C library's callers), never read here.
#[repr(C)]
pub struct SigAction {
    _opaque: [u8; 0],
}

/// The C library's `sigset_t`: only passed on by address.
#[repr(C)]
pub struct SigSet {
    _opaque: [u8; 0],
}

/// `sighandler_t`: a handler's address, or `SIG_DFL` (0), `SIG_IGN` (1),
/// `SIG_ERR` (-1).
pub type SigHandler = libc::sighandler_t;
