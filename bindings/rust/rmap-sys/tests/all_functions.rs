//! Calls every function of the generated bindings.

use rmap_sys::*;
use std::ffi::CStr;

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

        let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
        let p = rmap_map(
            std::ptr::null_mut(),
            page,
            libc::PROT_READ | libc::PROT_WRITE,
            flags,
            -1,
            0,
        );
        assert_ne!(p as isize, -1);
        let src = *b"bindgen";
        assert_eq!(rmap_write(p, src.as_ptr().cast(), src.len()), 0);
        let mut back = [0u8; 7];
        assert_eq!(rmap_read(back.as_mut_ptr().cast(), p, back.len()), 0);
        assert_eq!(&back, b"bindgen");
        assert_eq!(rmap_sync(p, page, libc::MS_SYNC), 0);
        assert_eq!(rmap_unmap(p, page), 0);

        assert_eq!(
            rmap_map(std::ptr::null_mut(), 0, libc::PROT_READ, flags, -1, 0) as isize,
            -1
        );
        assert_eq!(*libc::__errno_location(), libc::EINVAL);
        assert_eq!(rmap_read(back.as_mut_ptr().cast(), p, back.len()), -1);
        assert_eq!(*libc::__errno_location(), libc::EFAULT);
        assert_eq!(rmap_copied(), 0);
    }
}
