//! The C library's functions, constants and structures that `sys` uses,
//! declared here instead of taken from the libc crate: a dependent's clean
//! build compiles rmap as soon as its build script is done, instead of
//! after the libc crate (0.35 s of its 2.5 s clean build on this machine;
//! `make bench` times that build against memmap2's and holds it to twice).
//! What differs between x86-64 and AArch64 (the system call numbers, `struct
//! stat`, `MAP_32BIT`) is in the architecture's module (sys/x86_64.rs,
//! sys/aarch64.rs). Every value, layout and signature below is compared with
//! the libc crate's by the tests at the end (libc is a dev-dependency only),
//! on both architectures (`make check-aarch64` runs them on an arm64
//! kernel), so a mistake here fails `cargo test`, not a program.

// The C library's names, spelled as in C (SYS_mmap, _exit).
#![allow(non_upper_case_globals)]

use std::ffi::{c_char, c_int, c_long, c_uint, c_ulong, c_void};

// errno values.
pub const ENOENT: c_int = 2;
pub const EIO: c_int = 5;
pub const EBADF: c_int = 9;
pub const ENOMEM: c_int = 12;
pub const EFAULT: c_int = 14;
pub const EINVAL: c_int = 22;
pub const EMFILE: c_int = 24;
pub const EOVERFLOW: c_int = 75;
pub const ENXIO: c_int = 6;
pub const ENODEV: c_int = 19;
pub const EFBIG: c_int = 27;
pub const EPERM: c_int = 1;

// <sys/mman.h>.
pub const PROT_READ: c_int = 0x1;
pub const PROT_WRITE: c_int = 0x2;
pub const PROT_EXEC: c_int = 0x4;
pub const PROT_GROWSDOWN: c_int = 0x0100_0000;
pub const PROT_GROWSUP: c_int = 0x0200_0000;
pub const MAP_SHARED: c_int = 0x01;
pub const MAP_PRIVATE: c_int = 0x02;
pub const MAP_SHARED_VALIDATE: c_int = 0x03;
pub const MAP_FIXED: c_int = 0x10;
pub const MAP_ANONYMOUS: c_int = 0x20;
pub const MAP_LOCKED: c_int = 0x2000;
pub const MAP_NORESERVE: c_int = 0x4000;
pub const MAP_POPULATE: c_int = 0x8000;
pub const MAP_STACK: c_int = 0x2_0000;
pub const MAP_HUGETLB: c_int = 0x4_0000;
pub const MAP_FIXED_NOREPLACE: c_int = 0x10_0000;
pub const MAP_HUGE_SHIFT: c_int = 26;
pub const MREMAP_MAYMOVE: c_int = 1;
pub const MREMAP_FIXED: c_int = 2;
pub const MREMAP_DONTUNMAP: c_int = 4;
pub const MS_ASYNC: c_int = 1;
pub const MS_INVALIDATE: c_int = 2;
pub const MS_SYNC: c_int = 4;
pub const MADV_NORMAL: c_int = 0;
pub const MADV_RANDOM: c_int = 1;
pub const MADV_SEQUENTIAL: c_int = 2;
pub const MADV_WILLNEED: c_int = 3;
pub const MADV_DONTNEED: c_int = 4;
pub const MADV_FREE: c_int = 8;
pub const MADV_REMOVE: c_int = 9;
pub const MADV_DONTFORK: c_int = 10;
pub const MADV_DOFORK: c_int = 11;
pub const MADV_MERGEABLE: c_int = 12;
pub const MADV_UNMERGEABLE: c_int = 13;
pub const MADV_HUGEPAGE: c_int = 14;
pub const MADV_NOHUGEPAGE: c_int = 15;
pub const MADV_DONTDUMP: c_int = 16;
pub const MADV_DODUMP: c_int = 17;
pub const MADV_POPULATE_READ: c_int = 22;
pub const MADV_POPULATE_WRITE: c_int = 23;
pub const MADV_HWPOISON: c_int = 100;

// <fcntl.h>, <sys/stat.h>.
pub const O_RDONLY: c_int = 0;
pub const O_WRONLY: c_int = 0o1;
pub const O_CREAT: c_int = 0o100;
pub const O_APPEND: c_int = 0o2000;
pub const O_CLOEXEC: c_int = 0o200_0000;
pub const O_PATH: c_int = 0o1000_0000;
pub const F_GETFL: c_int = 3;
pub const F_DUPFD_CLOEXEC: c_int = 1030;
pub const MSG_NOSIGNAL: c_int = 0x4000;
pub const F_GET_SEALS: c_int = 1034;
pub const F_SEAL_SHRINK: c_int = 0x2;
pub const F_SEAL_WRITE: c_int = 0x8;
pub const F_ADD_SEALS: c_int = 1033;
pub const F_SEAL_SEAL: c_int = 0x1;
pub const F_SEAL_GROW: c_int = 0x4;
pub const F_SEAL_FUTURE_WRITE: c_int = 0x10;
pub const O_RDWR: c_int = 0o2;
pub const O_EXCL: c_int = 0o200;
pub const MFD_CLOEXEC: c_uint = 0x1;
pub const MFD_ALLOW_SEALING: c_uint = 0x2;
pub const SEEK_DATA: c_int = 3;
pub const S_IFMT: u32 = 0o17_0000;
pub const S_IFSOCK: u32 = 0o14_0000;
pub const S_IFREG: u32 = 0o10_0000;
pub const S_IFBLK: u32 = 0o6_0000;

// Signals, the auxiliary vector, sysconf, system call numbers, futexes.
pub const SIGBUS: c_int = 7;
/// `SIG_ERR` as a `sighandler_t`.
pub const SIG_ERR: SigHandler = !0;
pub const AT_ENTRY: c_ulong = 9;
pub const AT_SECURE: c_ulong = 23;
pub const _SC_PAGESIZE: c_int = 30;
pub use super::arch::{
    MAP_32BIT, SYS_futex, SYS_getpid, SYS_madvise, SYS_mincore, SYS_mlock, SYS_mmap, SYS_mprotect,
    SYS_mremap, SYS_msync, SYS_munlock, SYS_munmap, SYS_process_vm_readv, SYS_rt_sigprocmask, Stat,
};
pub const SIG_BLOCK: c_int = 0;
pub const SIG_SETMASK: c_int = 2;
pub const FUTEX_WAIT: c_int = 0;
pub const FUTEX_WAKE: c_int = 1;
pub const FUTEX_PRIVATE_FLAG: c_int = 128;
/// `RTLD_DEFAULT` for `dlsym`.
pub const RTLD_DEFAULT: *mut c_void = std::ptr::null_mut();

// <sys/resource.h>.
pub const RLIMIT_FSIZE: c_uint = 1;
pub const RLIM_INFINITY: u64 = u64::MAX;

/// `struct rlimit`.
#[repr(C)]
pub struct Rlimit {
    pub rlim_cur: u64,
    pub rlim_max: u64,
}

/// glibc's `struct statfs` on x86-64 and AArch64 (x86-64's `f_flags` is
/// AArch64's first spare word).
#[repr(C)]
pub struct StatFs {
    pub f_type: i64,
    pub f_bsize: i64,
    pub f_blocks: u64,
    pub f_bfree: u64,
    pub f_bavail: u64,
    pub f_files: u64,
    pub f_ffree: u64,
    f_fsid: [c_int; 2],
    pub f_namelen: i64,
    pub f_frsize: i64,
    f_spare: [i64; 5],
}

/// `Dl_info` of <dlfcn.h>.
#[repr(C)]
pub struct DlInfo {
    pub dli_fname: *const c_char,
    pub dli_fbase: *mut c_void,
    pub dli_sname: *const c_char,
    pub dli_saddr: *mut c_void,
}

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
pub type SigHandler = usize;

/// glibc's `makedev`: the `st_dev` encoding of a device number.
pub const fn makedev(major: c_uint, minor: c_uint) -> u64 {
    let (major, minor) = (major as u64, minor as u64);
    ((major & 0xffff_f000) << 32)
        | ((major & 0x0000_0fff) << 8)
        | ((minor & 0xffff_ff00) << 12)
        | (minor & 0x0000_00ff)
}

unsafe extern "C" {
    pub fn sysconf(name: c_int) -> c_long;
    pub fn fcntl(fd: c_int, cmd: c_int, ...) -> c_int;
    pub fn ioctl(fd: c_int, request: c_ulong, ...) -> c_int;
    pub fn open(path: *const c_char, flags: c_int, ...) -> c_int;
    pub fn close(fd: c_int) -> c_int;
    pub fn read(fd: c_int, buf: *mut c_void, count: usize) -> isize;
    pub fn write(fd: c_int, buf: *const c_void, count: usize) -> isize;
    pub fn send(fd: c_int, buf: *const c_void, len: usize, flags: c_int) -> isize;
    pub fn getppid() -> c_int;
    pub fn fstat(fd: c_int, buf: *mut Stat) -> c_int;
    pub fn stat(path: *const c_char, buf: *mut Stat) -> c_int;
    pub fn statfs(path: *const c_char, buf: *mut StatFs) -> c_int;
    pub fn lseek(fd: c_int, offset: i64, whence: c_int) -> i64;
    pub fn geteuid() -> c_uint;
    pub fn readlink(path: *const c_char, buf: *mut c_char, size: usize) -> isize;
    pub fn getauxval(kind: c_ulong) -> c_ulong;
    pub fn getenv(name: *const c_char) -> *mut c_char;
    /// `FILE *stream`: librmap only ever passes NULL (every stream).
    pub fn fflush(stream: *mut c_void) -> c_int;
    pub fn _exit(status: c_int) -> !;
    pub fn backtrace(buffer: *mut *mut c_void, size: c_int) -> c_int;
    pub fn dladdr(addr: *const c_void, info: *mut DlInfo) -> c_int;
    pub fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
    pub fn gettid() -> i32;
    pub fn pthread_atfork(
        prepare: Option<extern "C" fn()>,
        parent: Option<extern "C" fn()>,
        child: Option<extern "C" fn()>,
    ) -> c_int;
    pub fn atexit(handler: extern "C" fn()) -> c_int;
    pub fn syscall(number: c_long, ...) -> c_long;
    pub fn fallocate(fd: c_int, mode: c_int, offset: i64, len: i64) -> c_int;
    pub fn memfd_create(name: *const c_char, flags: c_uint) -> c_int;
    pub fn shm_open(name: *const c_char, oflag: c_int, mode: c_uint) -> c_int;
    pub fn shm_unlink(name: *const c_char) -> c_int;
    pub fn getrlimit(resource: c_uint, rlim: *mut Rlimit) -> c_int;
}

#[cfg(test)]
mod tests {
    use std::mem::{align_of, offset_of, size_of};

    /// Each pair: our value, the libc crate's (the same type, so a type
    /// that differs does not compile either).
    macro_rules! same {
        ($($name:ident),* $(,)?) => {
            $(assert_eq!(super::$name, libc::$name, stringify!($name));)*
        };
    }

    #[test]
    fn constants_are_the_libc_crates() {
        same!(
            ENOENT, EIO, EBADF, ENOMEM, EFAULT, EINVAL, EMFILE, EOVERFLOW, ENXIO, ENODEV, EFBIG,
            EPERM
        );
        same!(SEEK_DATA);
        same!(
            PROT_READ,
            PROT_WRITE,
            PROT_EXEC,
            PROT_GROWSDOWN,
            PROT_GROWSUP
        );
        same!(
            MAP_SHARED,
            MAP_PRIVATE,
            MAP_SHARED_VALIDATE,
            MAP_FIXED,
            MAP_ANONYMOUS,
            MAP_LOCKED,
            MAP_NORESERVE,
            MAP_POPULATE,
            MAP_STACK,
            MAP_HUGETLB,
            MAP_FIXED_NOREPLACE,
            MAP_HUGE_SHIFT,
        );
        #[cfg(target_arch = "x86_64")]
        same!(MAP_32BIT);
        same!(MREMAP_MAYMOVE, MREMAP_FIXED, MREMAP_DONTUNMAP);
        same!(MS_ASYNC, MS_INVALIDATE, MS_SYNC);
        same!(
            MADV_NORMAL,
            MADV_RANDOM,
            MADV_SEQUENTIAL,
            MADV_WILLNEED,
            MADV_DONTNEED,
            MADV_FREE,
            MADV_REMOVE,
            MADV_DONTFORK,
            MADV_DOFORK,
            MADV_MERGEABLE,
            MADV_UNMERGEABLE,
            MADV_HUGEPAGE,
            MADV_NOHUGEPAGE,
            MADV_DONTDUMP,
            MADV_DODUMP,
            MADV_POPULATE_READ,
            MADV_POPULATE_WRITE,
            MADV_HWPOISON,
        );
        same!(
            O_RDONLY, O_WRONLY, O_RDWR, O_EXCL, O_CREAT, O_APPEND, O_CLOEXEC, O_PATH
        );
        same!(MFD_CLOEXEC, MFD_ALLOW_SEALING);
        same!(
            F_GETFL,
            F_DUPFD_CLOEXEC,
            F_GET_SEALS,
            F_ADD_SEALS,
            F_SEAL_SEAL,
            F_SEAL_SHRINK,
            F_SEAL_GROW,
            F_SEAL_WRITE,
            F_SEAL_FUTURE_WRITE
        );
        same!(S_IFMT, S_IFSOCK, S_IFREG, S_IFBLK);
        same!(SIGBUS, SIG_ERR, AT_ENTRY, AT_SECURE, _SC_PAGESIZE);
        same!(
            SYS_mmap,
            SYS_mprotect,
            SYS_munmap,
            SYS_mremap,
            SYS_msync,
            SYS_mincore,
            SYS_madvise,
            SYS_mlock,
            SYS_munlock,
            SYS_futex,
            SYS_rt_sigprocmask,
            SYS_getpid,
            SYS_process_vm_readv,
        );
        same!(SIG_BLOCK, SIG_SETMASK);
        same!(RLIMIT_FSIZE, RLIM_INFINITY);
        same!(FUTEX_WAIT, FUTEX_WAKE, FUTEX_PRIVATE_FLAG, RTLD_DEFAULT);
    }

    #[test]
    fn makedev_is_the_libc_crates() {
        for (major, minor) in [(0, 0), (8, 1), (0xfe, 1), (259, 7), (0xfff, 0xff)]
            .into_iter()
            .chain([(0x1234_5678, 0x9abc_def0), (u32::MAX, u32::MAX)])
        {
            assert_eq!(super::makedev(major, minor), libc::makedev(major, minor));
        }
    }

    #[test]
    fn structures_are_laid_out_as_the_libc_crates() {
        use super::{DlInfo, SigHandler, Stat};
        assert_eq!(size_of::<Stat>(), size_of::<libc::stat>());
        assert_eq!(align_of::<Stat>(), align_of::<libc::stat>());
        assert_eq!(offset_of!(Stat, st_dev), offset_of!(libc::stat, st_dev));
        assert_eq!(offset_of!(Stat, st_ino), offset_of!(libc::stat, st_ino));
        assert_eq!(offset_of!(Stat, st_mode), offset_of!(libc::stat, st_mode));
        assert_eq!(offset_of!(Stat, st_rdev), offset_of!(libc::stat, st_rdev));
        assert_eq!(offset_of!(Stat, st_size), offset_of!(libc::stat, st_size));
        use super::Rlimit;
        assert_eq!(size_of::<Rlimit>(), size_of::<libc::rlimit>());
        assert_eq!(
            offset_of!(Rlimit, rlim_max),
            offset_of!(libc::rlimit, rlim_max)
        );
        use super::StatFs;
        assert_eq!(size_of::<StatFs>(), size_of::<libc::statfs>());
        assert_eq!(
            offset_of!(StatFs, f_bsize),
            offset_of!(libc::statfs, f_bsize)
        );
        assert_eq!(
            offset_of!(StatFs, f_bfree),
            offset_of!(libc::statfs, f_bfree)
        );
        assert_eq!(
            offset_of!(StatFs, f_bavail),
            offset_of!(libc::statfs, f_bavail)
        );
        assert_eq!(
            offset_of!(StatFs, f_frsize),
            offset_of!(libc::statfs, f_frsize)
        );
        assert_eq!(size_of::<DlInfo>(), size_of::<libc::Dl_info>());
        assert_eq!(
            offset_of!(DlInfo, dli_fname),
            offset_of!(libc::Dl_info, dli_fname)
        );
        assert_eq!(
            offset_of!(DlInfo, dli_fbase),
            offset_of!(libc::Dl_info, dli_fbase)
        );
        assert_eq!(
            offset_of!(DlInfo, dli_sname),
            offset_of!(libc::Dl_info, dli_sname)
        );
        assert_eq!(
            offset_of!(DlInfo, dli_saddr),
            offset_of!(libc::Dl_info, dli_saddr)
        );
        assert_eq!(size_of::<SigHandler>(), size_of::<libc::sighandler_t>());
    }

    #[test]
    fn fstat_fills_the_fields_the_libc_crates_does() {
        let file = std::fs::File::open("/proc/self/exe").expect("the test's own program");
        let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
        // SAFETY: both are plain data, filled by fstat (checked below).
        let (mut ours, mut theirs): (super::Stat, libc::stat) = unsafe { std::mem::zeroed() };
        // SAFETY: an open descriptor and writable buffers of the right size.
        let results = unsafe { (super::fstat(fd, &mut ours), libc::fstat(fd, &mut theirs)) };
        assert_eq!(results, (0, 0));
        assert_eq!(
            (ours.st_dev, ours.st_ino, ours.st_mode, ours.st_size),
            (theirs.st_dev, theirs.st_ino, theirs.st_mode, theirs.st_size)
        );
        assert_ne!(ours.st_size, 0);
    }

    /// Each declaration has the libc crate's signature: our function and
    /// the libc crate's both fit one function pointer type (with our
    /// structures for theirs, whose layouts are checked above).
    #[test]
    fn functions_have_the_libc_crates_signatures() {
        use super::{DlInfo, Rlimit, Stat, StatFs};
        use std::ffi::{c_char, c_int, c_long, c_uint, c_ulong, c_void};
        macro_rules! same {
            ($($name:ident: $type:ty = $theirs:ty;)*) => {$({
                let ours: $type = super::$name;
                // SAFETY: only compared: the same function type but for
                // structures of the same layout (checked above).
                let theirs: $type = unsafe { std::mem::transmute::<$theirs, $type>(libc::$name) };
                assert_ne!(ours as usize, 0, stringify!($name));
                assert_ne!(theirs as usize, 0, stringify!($name));
            })*};
            ($($name:ident: $type:ty;)*) => {$({
                let ours: $type = super::$name;
                let theirs: $type = libc::$name;
                assert_eq!(ours as usize == 0, theirs as usize == 0, stringify!($name));
            })*};
        }
        same! {
            sysconf: unsafe extern "C" fn(c_int) -> c_long;
            fcntl: unsafe extern "C" fn(c_int, c_int, ...) -> c_int;
            ioctl: unsafe extern "C" fn(c_int, c_ulong, ...) -> c_int;
            open: unsafe extern "C" fn(*const c_char, c_int, ...) -> c_int;
            close: unsafe extern "C" fn(c_int) -> c_int;
            read: unsafe extern "C" fn(c_int, *mut c_void, usize) -> isize;
            write: unsafe extern "C" fn(c_int, *const c_void, usize) -> isize;
            send: unsafe extern "C" fn(c_int, *const c_void, usize, c_int) -> isize;
            getppid: unsafe extern "C" fn() -> c_int;
            readlink: unsafe extern "C" fn(*const c_char, *mut c_char, usize) -> isize;
            geteuid: unsafe extern "C" fn() -> c_uint;
            lseek: unsafe extern "C" fn(c_int, i64, c_int) -> i64;
            getauxval: unsafe extern "C" fn(c_ulong) -> c_ulong;
            getenv: unsafe extern "C" fn(*const c_char) -> *mut c_char;
            _exit: unsafe extern "C" fn(c_int) -> !;
            backtrace: unsafe extern "C" fn(*mut *mut c_void, c_int) -> c_int;
            dlsym: unsafe extern "C" fn(*mut c_void, *const c_char) -> *mut c_void;
            gettid: unsafe extern "C" fn() -> i32;
            syscall: unsafe extern "C" fn(c_long, ...) -> c_long;
            fallocate: unsafe extern "C" fn(c_int, c_int, i64, i64) -> c_int;
            memfd_create: unsafe extern "C" fn(*const c_char, c_uint) -> c_int;
            shm_open: unsafe extern "C" fn(*const c_char, c_int, c_uint) -> c_int;
            shm_unlink: unsafe extern "C" fn(*const c_char) -> c_int;
            atexit: unsafe extern "C" fn(extern "C" fn()) -> c_int;
        }
        same! {
            fstat: unsafe extern "C" fn(c_int, *mut Stat) -> c_int
                = unsafe extern "C" fn(c_int, *mut libc::stat) -> c_int;
            stat: unsafe extern "C" fn(*const c_char, *mut Stat) -> c_int
                = unsafe extern "C" fn(*const c_char, *mut libc::stat) -> c_int;
            statfs: unsafe extern "C" fn(*const c_char, *mut StatFs) -> c_int
                = unsafe extern "C" fn(*const c_char, *mut libc::statfs) -> c_int;
            dladdr: unsafe extern "C" fn(*const c_void, *mut DlInfo) -> c_int
                = unsafe extern "C" fn(*const c_void, *mut libc::Dl_info) -> c_int;
            getrlimit: unsafe extern "C" fn(c_uint, *mut Rlimit) -> c_int
                = unsafe extern "C" fn(c_uint, *mut libc::rlimit) -> c_int;
            fflush: unsafe extern "C" fn(*mut c_void) -> c_int
                = unsafe extern "C" fn(*mut libc::FILE) -> c_int;
            pthread_atfork: unsafe extern "C" fn(
                Option<extern "C" fn()>,
                Option<extern "C" fn()>,
                Option<extern "C" fn()>,
            ) -> c_int = unsafe extern "C" fn(
                Option<unsafe extern "C" fn()>,
                Option<unsafe extern "C" fn()>,
                Option<unsafe extern "C" fn()>,
            ) -> c_int;
        }
    }
}
