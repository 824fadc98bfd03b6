//! Calls every function of the generated bindings, and checks the constants
//! against the C library's.

use rmap_sys::*;
use std::ffi::{CStr, c_int, c_void};
use std::ptr::null_mut;

fn errno() -> c_int {
    // SAFETY: reads this thread's errno.
    unsafe { *libc::__errno_location() }
}

#[test]
fn constants_are_the_platform_values() {
    assert_eq!(
        (PROT_READ, PROT_WRITE, PROT_EXEC, PROT_NONE),
        (libc::PROT_READ, libc::PROT_WRITE, libc::PROT_EXEC, 0)
    );
    assert_eq!(
        (MAP_SHARED, MAP_PRIVATE, MAP_ANONYMOUS),
        (libc::MAP_SHARED, libc::MAP_PRIVATE, libc::MAP_ANONYMOUS)
    );
    assert_eq!(
        (MAP_FIXED, MAP_LOCKED, MAP_POPULATE),
        (libc::MAP_FIXED, libc::MAP_LOCKED, libc::MAP_POPULATE)
    );
    assert_eq!(
        (MS_ASYNC, MS_SYNC, MS_INVALIDATE),
        (libc::MS_ASYNC, libc::MS_SYNC, libc::MS_INVALIDATE)
    );
    assert_eq!(
        (MADV_NORMAL, MADV_DONTNEED, MADV_DONTFORK),
        (libc::MADV_NORMAL, libc::MADV_DONTNEED, libc::MADV_DONTFORK)
    );
    assert_eq!(
        (MREMAP_MAYMOVE, MREMAP_FIXED),
        (libc::MREMAP_MAYMOVE, libc::MREMAP_FIXED)
    );
    assert_eq!(RMAP_FAILED, libc::MAP_FAILED);
    assert_eq!(RMAP_CHECK_REPORT, 1);
}

extern "C" fn count(_info: *const rmap_info, ctx: *mut c_void) -> c_int {
    // SAFETY: ctx is the counter passed to rmap_foreach.
    unsafe { *ctx.cast::<usize>() += 1 };
    0
}

#[test]
fn every_function_through_the_generated_declarations() {
    // SAFETY: each call follows the contract in rmap.h; the mapping is ours.
    unsafe {
        let page = rmap_pagesize();
        assert_eq!(page, libc::sysconf(libc::_SC_PAGESIZE) as usize);
        let version = CStr::from_ptr(rmap_version()).to_str().unwrap();
        assert_eq!(
            version.as_bytes(),
            &RMAP_VERSION_STRING[..RMAP_VERSION_STRING.len() - 1]
        );
        assert_eq!(
            RMAP_VERSION_NUMBER,
            RMAP_VERSION_MAJOR * 10000 + RMAP_VERSION_MINOR * 100 + RMAP_VERSION_PATCH
        );

        let p = rmap_map(
            null_mut(),
            2 * page,
            PROT_READ | PROT_WRITE,
            MAP_PRIVATE | MAP_ANONYMOUS,
            -1,
            0,
        );
        assert_ne!(p, RMAP_FAILED);
        let src = *b"bindgen";
        assert_eq!(rmap_write(p, src.as_ptr().cast(), src.len()), 0);
        let mut back = [0u8; 7];
        assert_eq!(rmap_read(back.as_mut_ptr().cast(), p, back.len()), 0);
        assert_eq!(&back, b"bindgen");
        assert_eq!(rmap_sync(p, page, MS_SYNC), 0);
        assert_eq!(rmap_protect(p, page, PROT_READ), 0);
        assert_eq!(rmap_advise(p, 2 * page, MADV_WILLNEED), 0);
        assert_eq!(rmap_lock(p, page), 0);
        assert_eq!(rmap_unlock(p, page), 0);
        let mut vec = [0u8; 2];
        assert_eq!(rmap_resident(p, 2 * page, vec.as_mut_ptr()), 0);
        assert_eq!(vec[0] & 1, 1);
        let mut info: rmap_info = std::mem::zeroed();
        assert_eq!(rmap_query(p, &mut info), 0);
        assert_eq!((info.start, info.length, info.prot), (p, page, PROT_READ));
        let mut stats: rmap_stats = std::mem::zeroed();
        assert_eq!(rmap_stats(&mut stats), 0);
        assert!(stats.live_mappings >= 2);
        let mut seen = 0usize;
        assert_eq!(rmap_foreach(Some(count), (&raw mut seen).cast()), 0);
        assert_eq!(seen, stats.live_mappings);
        assert_eq!(rmap_protect(p, page, PROT_READ | PROT_WRITE), 0);
        let q = rmap_remap(p, 2 * page, 4 * page, MREMAP_MAYMOVE);
        assert_ne!(q, RMAP_FAILED);
        assert_eq!(rmap_set_check(RMAP_CHECK_OFF), 0);
        assert_eq!(rmap_unmap(q, 4 * page), 0);

        assert_eq!(
            rmap_map(null_mut(), 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
            RMAP_FAILED
        );
        assert_eq!(errno(), libc::EINVAL);
        assert_eq!(rmap_read(back.as_mut_ptr().cast(), q, back.len()), -1);
        assert_eq!(errno(), libc::EFAULT);
        assert_eq!(rmap_copied(), 0);
        assert_eq!(rmap_set_check(7), -1);
    }
}
