//! x86-64: the system call instruction and the argument rules of its own.

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
