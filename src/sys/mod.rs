//! Raw system calls and platform constants: the only module that knows the OS.
//!
//! Each wrapper captures `errno` immediately after its system call and returns
//! it as a value, so nothing between the call and the caller can clobber it.

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
compile_error!(
    "librmap supports Linux on x86-64 only: its argument rules mirror that kernel, \
     and its guarded copy (fault.c) is x86-64 assembly"
);

use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicPtr, AtomicU8, AtomicU32, AtomicUsize, Ordering};

use errno::{Errno, errno};

pub use libc::{
    EBADF, EFAULT, EINVAL, EIO, ENOMEM, EOVERFLOW, MAP_32BIT, MAP_ANONYMOUS, MAP_FIXED,
    MAP_FIXED_NOREPLACE, MAP_HUGETLB, MAP_LOCKED, MAP_PRIVATE, MAP_SHARED, MAP_SHARED_VALIDATE,
    MS_ASYNC, MS_INVALIDATE, MS_SYNC, PROT_EXEC, PROT_READ, PROT_WRITE,
};

/// `MAP_TYPE`: the bits that select SHARED, PRIVATE, SHARED_VALIDATE (and newer types).
pub const MAP_TYPE: i32 = 0x0f;
/// `MAP_DROPPABLE` (Linux 6.11): an anonymous mapping type that older kernels reject.
pub const MAP_DROPPABLE: i32 = 0x08;

/// A span of user address space that every x86-64 configuration contains
/// (with 4-level paging there are 2^47 bytes, with 5-level 2^56). Argument
/// rules that Linux applies only to ranges inside the address space are
/// decided in Rust only for ranges ending below this bound; larger ranges go
/// to the kernel, which knows its own `TASK_SIZE`.
pub const SURE_USER_SPAN: usize = 1 << 46;

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

#[cold]
fn read_page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    // Linux always knows its page size; 4096 keeps the type total.
    let size = usize::try_from(size).unwrap_or(4096);
    PAGE_SIZE.store(size, Ordering::Relaxed);
    size
}

/// `mmap(2)`.
///
/// # Safety
/// As for `mmap`: with `MAP_FIXED` the range is replaced, whatever it held.
pub unsafe fn mmap(
    addr: *mut u8,
    len: usize,
    prot: i32,
    flags: i32,
    fd: i32,
    offset: i64,
) -> Result<*mut u8, Errno> {
    // SAFETY: forwarded to the caller's contract.
    let ptr = unsafe { libc::mmap(addr.cast(), len, prot, flags, fd, offset) };
    if ptr == libc::MAP_FAILED {
        Err(errno())
    } else {
        Ok(ptr.cast())
    }
}

/// `msync(2)`.
///
/// # Safety
/// As for `msync`; `MS_INVALIDATE` may discard data of other mappings' views.
pub unsafe fn msync(addr: *mut u8, len: usize, flags: i32) -> Result<(), Errno> {
    // SAFETY: forwarded to the caller's contract.
    let rc = unsafe { libc::msync(addr.cast(), len, flags) };
    if rc == 0 { Ok(()) } else { Err(errno()) }
}

/// `munmap(2)`.
///
/// # Safety
/// As for `munmap`: no reference into the range may be used afterwards.
pub unsafe fn munmap(addr: *mut u8, len: usize) -> Result<(), Errno> {
    // SAFETY: forwarded to the caller's contract.
    let rc = unsafe { libc::munmap(addr.cast(), len) };
    if rc == 0 { Ok(()) } else { Err(errno()) }
}

/// Classifies `fd` the way `mmap` would see it. Called only on the error path,
/// so a successful mapping costs no extra system call.
#[cold]
#[inline(never)]
pub fn fd_kind(fd: i32) -> FdKind {
    // SAFETY: F_GETFL takes no pointer; an invalid fd just fails.
    let status = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if status == -1 || status & libc::O_PATH != 0 {
        return FdKind::Closed;
    }
    // SAFETY: stat is plain data, so all-zero is a valid value to overwrite.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid, writable stat buffer.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return FdKind::Closed;
    }
    match st.st_mode & libc::S_IFMT {
        libc::S_IFREG | libc::S_IFBLK | libc::S_IFSOCK => FdKind::OffTLimited,
        _ => FdKind::Other,
    }
}

unsafe extern "C" {
    // src/sys/fault.c
    fn rmap_sys_install_fault_handler() -> c_int;
    fn rmap_sys_guarded_copy(dst: *mut c_void, src: *const c_void, n: usize) -> c_int;
    fn rmap_sys_last_fault() -> c_int;
}

/// The signal that stopped a guarded copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// SIGBUS: the backing store no longer covers a page.
    Bus,
    /// SIGSEGV: an address is not mapped, or not accessible.
    Segv,
}

/// Installs librmap's SIGBUS/SIGSEGV handler; a no-op if it is installed.
/// The caller serializes calls.
pub fn install_fault_handler() -> Result<(), Errno> {
    // SAFETY: the C function only calls sigaction.
    match unsafe { rmap_sys_install_fault_handler() } {
        0 => Ok(()),
        error => Err(Errno(error)),
    }
}

/// Copies `n` bytes, turning a SIGBUS or SIGSEGV raised by the copy into an
/// error. Bytes before the fault may or may not have been copied.
///
/// # Safety
/// `install_fault_handler` must have succeeded. `dst` and `src` must not
/// overlap; memory may be inaccessible (that is what the guard is for), but
/// `dst` must not hold anything whose overwriting breaks the caller.
#[inline]
pub unsafe fn guarded_copy(dst: *mut u8, src: *const u8, n: usize) -> Result<(), Fault> {
    // SAFETY: forwarded to the caller's contract.
    if unsafe { rmap_sys_guarded_copy(dst.cast(), src.cast(), n) } == 0 {
        return Ok(());
    }
    // SAFETY: reads this thread's record of the fault that just happened.
    match unsafe { rmap_sys_last_fault() } {
        libc::SIGBUS => Err(Fault::Bus),
        _ => Err(Fault::Segv),
    }
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
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid, writable stat buffer.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return None;
    }
    let regular = st.st_mode & libc::S_IFMT == libc::S_IFREG;
    Some(FileIdentity {
        dev: st.st_dev,
        ino: st.st_ino,
        size: regular.then_some(st.st_size as u64),
    })
}

/// Writes one report line to stderr with a single write(2), so lines from
/// different threads do not interleave.
pub fn report_line(line: &str) {
    let mut bytes = Vec::with_capacity(line.len() + 1);
    bytes.extend_from_slice(line.as_bytes());
    bytes.push(b'\n');
    // SAFETY: the buffer is valid for its length; a failed write is dropped.
    let _ = unsafe { libc::write(2, bytes.as_ptr().cast(), bytes.len()) };
}

/// Ends the process with SIGABRT.
pub fn abort() -> ! {
    std::process::abort()
}

/// The first return address on the stack outside librmap's own object file:
/// the code that called into it (0 when librmap is linked into the program
/// itself, where the two cannot be told apart).
#[cold]
#[inline(never)]
pub fn caller_address() -> usize {
    let mut frames = [std::ptr::null_mut::<c_void>(); 32];
    // SAFETY: the buffer holds 32 pointers, as passed.
    let n = unsafe { libc::backtrace(frames.as_mut_ptr(), frames.len() as c_int) };
    let own = object_base(caller_address as *const () as usize);
    frames[..n.max(0) as usize]
        .iter()
        .map(|&f| f as usize)
        .find(|&f| object_base(f) != own)
        .unwrap_or(0)
}

/// The load address of the object file containing `addr`.
fn object_base(addr: usize) -> usize {
    // SAFETY: Dl_info is plain data; dladdr fills it or returns 0.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: `info` is a valid out-parameter.
    match unsafe { libc::dladdr(addr as *const c_void, &mut info) } {
        0 => 0,
        _ => info.dli_fbase as usize,
    }
}

/// The symbol, offset and object file that contain `addr`, if known.
fn symbol_of(addr: usize) -> Option<(String, usize, String)> {
    // SAFETY: Dl_info is plain data; dladdr fills it or returns 0.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: `info` is a valid out-parameter.
    if unsafe { libc::dladdr(addr as *const c_void, &mut info) } == 0 {
        return None;
    }
    let text = |p: *const std::ffi::c_char| {
        // SAFETY: dladdr returns NUL-terminated strings or NULL.
        (!p.is_null()).then(|| {
            unsafe { std::ffi::CStr::from_ptr(p) }
                .to_string_lossy()
                .into_owned()
        })
    };
    let object = text(info.dli_fname).unwrap_or_default();
    match text(info.dli_sname) {
        Some(name) => Some((name, addr - info.dli_saddr as usize, object)),
        None => Some((String::new(), addr - info.dli_fbase as usize, object)),
    }
}

/// "main+0x1c (./prog)", or the bare address.
pub fn describe_address(addr: usize) -> String {
    match symbol_of(addr) {
        Some((name, offset, object)) if !name.is_empty() => {
            format!("{name}+{offset:#x} ({object})")
        }
        Some((_, offset, object)) => format!("{object}+{offset:#x}"),
        None => format!("{addr:#x}"),
    }
}

/// `pthread_atfork`; returns false if it failed.
pub fn at_fork(prepare: extern "C" fn(), parent: extern "C" fn(), child: extern "C" fn()) -> bool {
    // SAFETY: the handlers are plain functions valid for the process lifetime.
    unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) == 0 }
}

/// `atexit`; returns false if it failed.
pub fn at_exit(handler: extern "C" fn()) -> bool {
    // SAFETY: the handler is a plain function valid for the process lifetime.
    unsafe { libc::atexit(handler) == 0 }
}

/// glibc's `__libc_single_threaded` (since 2.32), found when the library
/// loads; null before that, with an older C library, or in a static program.
static SINGLE_THREADED_FLAG: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());

extern "C" fn find_single_threaded_flag() {
    // SAFETY: dlsym with a NUL-terminated name; null when absent.
    let flag = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"__libc_single_threaded".as_ptr()) };
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
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            expected,
            std::ptr::null::<libc::timespec>(),
        );
    }
}

/// Wakes one thread sleeping in [`futex_wait`] on `word`.
pub fn futex_wake_one(word: &AtomicU32) {
    // SAFETY: the futex word is a live, aligned u32.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
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

run_at_load!(find_single_threaded_flag);
