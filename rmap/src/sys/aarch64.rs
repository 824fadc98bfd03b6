//! AArch64: the system call instruction and numbers, `struct stat`, and the
//! argument rules of its own.

// The system call numbers are spelled as in C (SYS_mmap).
#![allow(non_upper_case_globals)]

/// A span of user address space that every AArch64 Linux configuration
/// contains (the smallest, 36-bit virtual addresses with 16 KiB pages, has
/// 2^36 bytes; 39, 42, 47, 48 and 52 bits are common). Argument rules that
/// Linux applies only to ranges inside the address space are decided in
/// Rust only for ranges ending below this bound; larger ranges go to the
/// kernel, which knows its own `TASK_SIZE`.
pub const SURE_USER_SPAN: usize = 1 << 36;

/// `mprotect` bits beyond read, write, execute and `PROT_SEM` that the
/// kernel accepts on some machines only (it decides): `PROT_BTI` (branch
/// target identification) and `PROT_MTE` (memory tagging).
pub const PROT_DECIDED_BY_KERNEL: i32 = 0x10 | 0x20;

/// One system call, made directly (not through the C library's wrapper):
/// the kernel's return value, an error being -errno. errno is never touched.
///
/// Direct, so that a library that interposes the C library's `mmap` and
/// friends over librmap (rmap-check's preload) never calls itself back, and
/// one call cheaper than the wrapper.
///
/// # Safety
/// The call's own contract, for its arguments.
#[inline(always)]
pub unsafe fn syscall6(number: i64, args: [usize; 6]) -> isize {
    let ret: isize;
    // SAFETY: the AArch64 Linux system call convention: number in x8,
    // arguments in x0 to x5, the result in x0; nothing else is changed;
    // memory may be read and written as the call's contract says.
    unsafe {
        std::arch::asm!(
            "svc 0",
            in("x8") number,
            inlateout("x0") args[0] => ret,
            in("x1") args[1],
            in("x2") args[2],
            in("x3") args[3],
            in("x4") args[4],
            in("x5") args[5],
            options(nostack),
        );
    }
    ret
}

/// `MAP_32BIT` is x86-64's alone: here no such flag, and the bit means
/// nothing to the kernel.
pub const MAP_32BIT: i32 = 0;

// The system call numbers `sys` uses (the generic table,
// include/uapi/asm-generic/unistd.h).
pub const SYS_mmap: i64 = 222;
pub const SYS_mprotect: i64 = 226;
pub const SYS_munmap: i64 = 215;
pub const SYS_mremap: i64 = 216;
pub const SYS_msync: i64 = 227;
pub const SYS_mincore: i64 = 232;
pub const SYS_madvise: i64 = 233;
pub const SYS_mlock: i64 = 228;
pub const SYS_munlock: i64 = 229;
pub const SYS_futex: i64 = 98;
pub const SYS_rt_sigprocmask: i64 = 135;
pub const SYS_getpid: i64 = 172;
pub const SYS_process_vm_readv: i64 = 270;

/// glibc's `struct stat` on AArch64 (the generic `struct stat`).
#[repr(C)]
pub struct Stat {
    pub st_dev: u64,
    pub st_ino: u64,
    pub st_mode: u32,
    pub st_nlink: u32,
    pub st_uid: u32,
    pub st_gid: u32,
    pub st_rdev: u64,
    __pad1: u64,
    pub st_size: i64,
    pub st_blksize: i32,
    __pad2: i32,
    pub st_blocks: i64,
    /// st_atime, st_atime_nsec, st_mtime, ..., st_ctime_nsec.
    st_times: [i64; 6],
    __unused: [i32; 2],
}
