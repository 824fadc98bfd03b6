//! Integration tests of the Rust API: the same paths the C functions take.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsFd;

use rmap::{Access, Advice, Errno, Mapping, SyncMode, page_size};

fn temp_file(len: usize) -> (tempdir::Dir, File) {
    let dir = tempdir::Dir::new();
    let path = dir.path.join("data");
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    let bytes: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
    file.write_all(&bytes).unwrap();
    (dir, file)
}

/// A temporary directory removed on drop (no dependency needed for this).
mod tempdir {
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};

    pub struct Dir {
        pub path: PathBuf,
    }

    impl Dir {
        pub fn new() -> Dir {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let path = std::env::temp_dir().join(format!("rmap-test-{}-{n}", std::process::id()));
            std::fs::create_dir_all(&path).unwrap();
            Dir { path }
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

fn read_back(file: &mut File, offset: u64, len: usize) -> Vec<u8> {
    let mut buf = vec![0; len];
    file.seek(SeekFrom::Start(offset)).unwrap();
    file.read_exact(&mut buf).unwrap();
    buf
}

#[test]
fn anonymous_mapping_is_zeroed_and_writable() {
    let mut map = Mapping::anonymous(3 * page_size() + 1).unwrap();
    assert!(map.as_slice().iter().all(|&b| b == 0));
    map.as_mut_slice().unwrap().fill(7);
    assert_eq!(map.as_slice()[3 * page_size()], 7);
    assert_eq!(map.len(), 3 * page_size() + 1);
}

#[test]
fn anonymous_length_zero_is_einval() {
    assert_eq!(Mapping::anonymous(0).unwrap_err(), Errno(libc::EINVAL));
}

#[test]
fn shared_write_reaches_the_file_after_sync() {
    let (_dir, mut file) = temp_file(100);
    // SAFETY: nothing else touches the file during the test.
    let mut map = unsafe { Mapping::file(file.as_fd(), 0, 100, Access::Write) }.unwrap();
    map.as_mut_slice().unwrap()[20] = b'9';
    map.sync(SyncMode::Wait).unwrap();
    assert_eq!(read_back(&mut file, 20, 1), b"9");
}

#[test]
fn copy_write_never_reaches_the_file() {
    let (_dir, mut file) = temp_file(100);
    // SAFETY: nothing else touches the file during the test.
    let mut map = unsafe { Mapping::file(file.as_fd(), 0, 100, Access::Copy) }.unwrap();
    map.as_mut_slice().unwrap()[20] = b'9';
    map.sync(SyncMode::Schedule).unwrap();
    assert_eq!(map.as_slice()[20], b'9');
    assert_eq!(read_back(&mut file, 20, 1), b"u");
}

#[test]
fn read_mapping_is_not_writable_from_rust() {
    let (_dir, file) = temp_file(100);
    // SAFETY: nothing else touches the file during the test.
    let mut map = unsafe { Mapping::file(file.as_fd(), 0, 100, Access::Read) }.unwrap();
    assert!(map.as_mut_slice().is_none());
    assert_eq!(&map.as_slice()[..3], b"abc");
}

#[test]
fn offset_selects_later_pages() {
    let page = page_size();
    let (_dir, file) = temp_file(2 * page);
    // SAFETY: nothing else touches the file during the test.
    let map = unsafe { Mapping::file(file.as_fd(), page as i64, page, Access::Read) }.unwrap();
    assert_eq!(map.as_slice()[0], b'a' + (page % 26) as u8);
}

#[test]
fn file_errors_come_back_as_errno() {
    let (dir, file) = temp_file(100);
    let fd = file.as_fd();
    // SAFETY: these calls fail before mapping anything.
    unsafe {
        assert_eq!(
            Mapping::file(fd, 1, 100, Access::Read).unwrap_err(),
            Errno(libc::EINVAL)
        );
        assert_eq!(
            Mapping::file(fd, 0, 0, Access::Read).unwrap_err(),
            Errno(libc::EINVAL)
        );
        assert_eq!(
            Mapping::file(fd, -4096, 100, Access::Read).unwrap_err(),
            Errno(libc::EOVERFLOW)
        );
    }
    let readonly = File::open(dir.path.join("data")).unwrap();
    // SAFETY: fails with EACCES before mapping anything.
    let err = unsafe { Mapping::file(readonly.as_fd(), 0, 100, Access::Write) }.unwrap_err();
    assert_eq!(err, Errno(libc::EACCES));
}

#[test]
fn raw_calls_match_the_kernel() {
    let page = page_size();
    // SAFETY: fresh anonymous memory, unmapped exactly once below.
    unsafe {
        let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
        let ptr = rmap::map(
            std::ptr::null_mut(),
            2 * page,
            libc::PROT_READ,
            flags,
            -1,
            0,
        )
        .unwrap();
        assert_eq!(rmap::unmap(ptr.add(1), page), Err(Errno(libc::EINVAL)));
        assert_eq!(rmap::unmap(ptr, 0), Err(Errno(libc::EINVAL)));
        assert_eq!(
            rmap::sync(ptr, page, libc::MS_SYNC | libc::MS_ASYNC),
            Err(Errno(libc::EINVAL))
        );
        assert_eq!(rmap::sync(ptr, page, libc::MS_SYNC), Ok(()));
        assert_eq!(rmap::unmap(ptr, 2 * page), Ok(()));
        // Unmapping an unmapped range succeeds, as munmap does.
        assert_eq!(rmap::unmap(ptr, 2 * page), Ok(()));
        assert_eq!(
            rmap::sync(ptr, page, libc::MS_SYNC),
            Err(Errno(libc::ENOMEM))
        );
    }
}

#[test]
fn version_matches_the_package() {
    assert_eq!(rmap::VERSION, env!("CARGO_PKG_VERSION"));
}

#[test]
fn resize_keeps_the_contents_and_moves_if_it_must() {
    let page = page_size();
    let mut map = Mapping::anonymous(page).unwrap();
    map.as_mut_slice().unwrap()[..5].copy_from_slice(b"grows");
    map.resize(5 * page).unwrap();
    assert_eq!(map.len(), 5 * page);
    assert_eq!(&map.as_slice()[..5], b"grows");
    map.as_mut_slice().unwrap()[5 * page - 1] = 1;
    map.resize(page).unwrap();
    assert_eq!((map.len(), &map.as_slice()[..5]), (page, &b"grows"[..]));
}

#[test]
fn make_read_only_takes_the_mutable_view_away() {
    let mut map = Mapping::anonymous(page_size()).unwrap();
    map.as_mut_slice().unwrap()[0] = 9;
    map.make_read_only().unwrap();
    assert!(map.as_mut_slice().is_none());
    assert_eq!(map.as_slice()[0], 9);
}

#[test]
fn advice_lock_and_residency() {
    let page = page_size();
    let mut map = Mapping::anonymous(3 * page).unwrap();
    map.as_mut_slice().unwrap()[0] = 1;
    map.advise(Advice::WillNeed).unwrap();
    map.advise(Advice::Sequential).unwrap();
    map.lock().unwrap();
    let resident = map.resident().unwrap();
    assert_eq!(resident.len(), 3);
    assert!(resident.iter().all(|&r| r), "locking faults every page in");
    map.unlock().unwrap();
}

#[test]
fn raw_new_calls_keep_their_errno_contract() {
    let page = page_size();
    // SAFETY: fresh anonymous memory, unmapped exactly once below.
    unsafe {
        let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
        let ptr = rmap::map(std::ptr::null_mut(), page, libc::PROT_READ, flags, -1, 0).unwrap();
        assert_eq!(
            rmap::protect(ptr.add(1), page, libc::PROT_READ),
            Err(Errno(libc::EINVAL))
        );
        assert_eq!(
            rmap::protect(ptr, usize::MAX, libc::PROT_READ),
            Err(Errno(libc::ENOMEM))
        );
        assert_eq!(
            rmap::advise(ptr.add(1), page, libc::MADV_NORMAL),
            Err(Errno(libc::EINVAL))
        );
        let moved = rmap::remap(ptr, page, page, 8, std::ptr::null_mut());
        assert_eq!(moved, Err(Errno(libc::EINVAL)));
        let mut vec = [0u8; 1];
        assert_eq!(rmap::resident(ptr, page, vec.as_mut_ptr()), Ok(()));
        assert_eq!(rmap::unmap(ptr, page), Ok(()));
    }
}
