//! x86-64: the system call instruction and numbers, `struct stat`, and the
//! argument rules of its own.

// The system call numbers are spelled as in C (SYS_mmap).
#![allow(non_upper_case_globals)]

/// A span of user address space that every x86-64 configuration contains
/// (with 4-level paging there are 2^47 bytes, with 5-level 2^56). Argument
/// rules that Linux applies only to ranges inside the address space are
/// decided in Rust only for ranges ending below this bound; larger ranges go
/// to the kernel, which knows its own `TASK_SIZE`.
pub const SURE_USER_SPAN: usize = 1 << 46;

/// `mprotect` bits beyond read, write, execute and `PROT_SEM` that the
/// kernel accepts on some machines only (it decides): none on x86-64.
pub const PROT_DECIDED_BY_KERNEL: i32 = 0;

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
    // SAFETY: the x86-64 Linux system call convention: number in rax,
    // arguments in rdi, rsi, rdx, r10, r8, r9; rcx and r11 are clobbered;
    // memory may be read and written as the call's contract says.
    unsafe {
        std::arch::asm!(
            "syscall",
            inlateout("rax") number as isize => ret,
            in("rdi") args[0],
            in("rsi") args[1],
            in("rdx") args[2],
            in("r10") args[3],
            in("r8") args[4],
            in("r9") args[5],
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

/// `MAP_32BIT`: the first 2 GiB (x86-64 only).
pub const MAP_32BIT: i32 = 0x40;

// The system call numbers `sys` uses (arch/x86/entry/syscalls/syscall_64.tbl).
pub const SYS_mmap: i64 = 9;
pub const SYS_mprotect: i64 = 10;
pub const SYS_munmap: i64 = 11;
pub const SYS_mremap: i64 = 25;
pub const SYS_msync: i64 = 26;
pub const SYS_mincore: i64 = 27;
pub const SYS_madvise: i64 = 28;
pub const SYS_mlock: i64 = 149;
pub const SYS_munlock: i64 = 150;
pub const SYS_futex: i64 = 202;
pub const SYS_rt_sigprocmask: i64 = 14;
pub const SYS_getpid: i64 = 39;
pub const SYS_process_vm_readv: i64 = 310;

/// glibc's `struct stat` on x86-64 (the kernel's `struct stat`).
#[repr(C)]
pub struct Stat {
    pub st_dev: u64,
    pub st_ino: u64,
    pub st_nlink: u64,
    pub st_mode: u32,
    pub st_uid: u32,
    pub st_gid: u32,
    __pad0: i32,
    pub st_rdev: u64,
    pub st_size: i64,
    pub st_blksize: i64,
    pub st_blocks: i64,
    /// st_atime, st_atime_nsec, st_mtime, ..., st_ctime_nsec.
    st_times: [i64; 6],
    __unused: [i64; 3],
}
