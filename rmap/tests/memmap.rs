//! The safe API's behaviour beyond the port: errors, offsets, the registry,
//! and guarded reads and writes of a truncated file.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};

use librmap::{Advice, Mmap, MmapMut, MmapOptions, RemapOptions, page_size};

struct TempFile {
    path: std::path::PathBuf,
    file: File,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A file of `len` bytes 'a'..'z' repeated, open for reading and writing.
fn temp_file(name: &str, len: usize) -> TempFile {
    let path = std::env::temp_dir().join(format!("rmap-test-{}-{name}", std::process::id()));
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    let bytes: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
    file.write_all(&bytes).unwrap();
    TempFile { path, file }
}

#[test]
fn anonymous_length_zero_maps_nothing_visible() {
    let map = MmapOptions::new().map_anon().unwrap();
    assert!(map.is_empty());
    let map = MmapMut::map_anon(0).unwrap();
    assert_eq!(map.len(), 0);
}

#[test]
fn unaligned_offsets_map_from_the_page_below() {
    let t = temp_file("unaligned", 3 * page_size());
    for offset in [1, 25, page_size() as u64 - 1, page_size() as u64 + 7] {
        let map = unsafe { MmapOptions::new().offset(offset).map(&t.file) }.unwrap();
        assert_eq!(map.len(), 3 * page_size() - offset as usize);
        assert_eq!(map[0], b'a' + (offset % 26) as u8);
        let info = map.query().unwrap();
        assert_eq!(info.start, map.as_ptr() as usize & !(page_size() - 1));
        assert_eq!(info.offset as u64, offset & !(page_size() as u64 - 1));
    }
}

#[test]
fn offset_past_the_end_is_invalid_data() {
    let t = temp_file("past", 100);
    let error = unsafe { MmapOptions::new().offset(101).map(&t.file) }.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidData);
}

#[test]
fn system_errors_carry_the_errno() {
    let t = temp_file("errno", 100);
    let read_only = File::open(&t.path).unwrap();
    let error = unsafe { MmapMut::map_mut(&read_only) }.unwrap_err();
    assert_eq!(error.raw_os_error(), Some(libc::EACCES));
    let error = unsafe { Mmap::map(-1) }.unwrap_err();
    assert_eq!(error.raw_os_error(), Some(libc::EBADF));
    let error = MmapOptions::new()
        .len(usize::MAX / 2)
        .map_anon()
        .unwrap_err();
    assert_eq!(error.raw_os_error(), Some(libc::ENOMEM));
}

#[test]
fn lengths_past_isize_max_are_invalid_data_as_in_memmap2() {
    for len in [isize::MAX as usize + 1, usize::MAX - 5000, usize::MAX] {
        let error = MmapMut::map_anon(len).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidData, "length {len}");
        let t = temp_file("isize", 100);
        let error = unsafe { MmapOptions::new().len(len).map(&t.file) }.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidData, "length {len}");
    }
}

#[test]
fn ranges_past_the_end_are_invalid_input() {
    let map = MmapMut::map_anon(4096).unwrap();
    assert_eq!(
        map.flush_range(4000, 100).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        map.advise_range(Advice::Normal, usize::MAX, 2)
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput
    );
    let mut buf = [0u8; 10];
    assert_eq!(
        map.read_at(4090, &mut buf).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
}

#[test]
fn read_at_and_write_at_turn_truncation_into_eio() {
    let page = page_size();
    let t = temp_file("truncated", 3 * page);
    let mut map = unsafe { MmapMut::map_mut(&t.file) }.unwrap();
    let mut buf = vec![0u8; 3 * page];
    map.read_at(0, &mut buf).unwrap();
    t.file.set_len(page as u64 + 10).unwrap();
    let error = map.read_at(0, &mut buf).unwrap_err();
    assert_eq!(error.raw_os_error(), Some(libc::EIO));
    assert_eq!(librmap::copied(), 2 * page);
    let error = map.write_at(2 * page - 3, b"abcdef").unwrap_err();
    assert_eq!(error.raw_os_error(), Some(libc::EIO));
    assert_eq!(librmap::copied(), 3);
    map.read_at(page, &mut buf[..10]).unwrap();
    let expected: Vec<u8> = (page..page + 10).map(|i| b'a' + (i % 26) as u8).collect();
    assert_eq!(&buf[..10], &expected[..]);
}

#[test]
fn protection_changes_show_in_the_registry() {
    let map = MmapMut::map_anon(2 * page_size()).unwrap();
    assert_eq!(
        map.query().unwrap().prot,
        libc::PROT_READ | libc::PROT_WRITE
    );
    let map = map.make_read_only().unwrap();
    assert_eq!(map.query().unwrap().prot, libc::PROT_READ);
    let map = map.make_mut().unwrap().make_exec().unwrap();
    assert_eq!(map.query().unwrap().prot, libc::PROT_READ | libc::PROT_EXEC);
}

#[test]
fn remap_without_may_move_stays_in_place_or_fails_with_enomem() {
    let mut map = MmapMut::map_anon(2 * page_size()).unwrap();
    map[0] = 5;
    let at = map.as_ptr();
    unsafe { map.remap(page_size(), RemapOptions::new()) }.unwrap();
    assert_eq!((map.as_ptr(), map.len(), map[0]), (at, page_size(), 5));
    match unsafe { map.remap(64 * page_size(), RemapOptions::new()) } {
        Ok(()) => assert_eq!((map.as_ptr(), map.len()), (at, 64 * page_size())),
        Err(error) => {
            assert_eq!(error.raw_os_error(), Some(libc::ENOMEM));
            assert_eq!((map.as_ptr(), map.len()), (at, page_size()));
        }
    }
}

#[test]
fn stats_count_maps_and_unmaps() {
    let before = librmap::stats();
    let maps: Vec<MmapMut> = (0..5).map(|_| MmapMut::map_anon(4096).unwrap()).collect();
    let during = librmap::stats();
    assert!(during.maps >= before.maps + 5);
    drop(maps);
    assert!(librmap::stats().unmaps >= before.unmaps + 5);
}

#[test]
fn debug_shows_pointer_and_length() {
    let map = MmapMut::map_anon(10).unwrap();
    let text = format!("{map:?}");
    assert!(
        text.starts_with("MmapMut { ptr: 0x") && text.ends_with("len: 10 }"),
        "{text}"
    );
}

#[test]
fn a_tolerant_map_reads_zeros_where_the_file_shrank() {
    let page = page_size();
    let file = temp_file("tolerant", 3 * page);
    let mut map = unsafe { MmapOptions::new().tolerant().map_mut(&file.file) }.unwrap();
    let untolerated = unsafe { MmapOptions::new().map(&file.file) }.unwrap();
    assert!(map.query().unwrap().tolerant && !untolerated.query().unwrap().tolerant);
    file.file.set_len(page as u64).unwrap();
    // The lost pages read 0, and a write to one stays in memory only.
    assert_eq!((map[page], map[2 * page + 5]), (0, 0));
    map[page + 1] = b'x';
    assert_eq!(map[page + 1], b'x');
    assert_eq!(file.file.metadata().unwrap().len(), page as u64);
    // The intact page is still the file's.
    map[0] = b'Q';
    assert_eq!(std::fs::read(&file.path).unwrap()[0], b'Q');
    // The program learns what was lost: flush fails with EIO, every time;
    // the positions; the record is damaged.
    for _ in 0..2 {
        assert_eq!(map.flush().unwrap_err().raw_os_error(), Some(libc::EIO));
    }
    map.flush_range(0, page).unwrap();
    assert_eq!(map.losses().unwrap(), vec![page, 2 * page]);
    assert!(map.query().unwrap().damaged);
    assert!(untolerated.losses().unwrap().is_empty());
    // A guarded read of a lost page succeeds with zeros too.
    let mut buf = [1u8; 16];
    map.read_at(2 * page, &mut buf).unwrap();
    assert_eq!(buf, [0; 16]);
}

#[test]
fn an_empty_file_map_locks_and_unlocks_as_memmap2s_does() {
    let file = temp_file("empty-lock", 0);
    let map = unsafe { Mmap::map(&file.file) }.unwrap();
    assert!(map.is_empty());
    map.lock().unwrap();
    map.unlock().unwrap();
    let raw = MmapOptions::new().map_raw_read_only(&file.file).unwrap();
    raw.lock().unwrap();
    raw.unlock().unwrap();
}

#[test]
fn a_raw_map_reads_through_the_guard_and_map_if_safe_refuses_what_can_change() {
    let page = page_size();
    let file = temp_file("raw", 2 * page);
    let raw = MmapOptions::new().map_raw(&file.file).unwrap();
    // SAFETY: the map is 2 pages, writable and shared.
    unsafe { raw.as_mut_ptr().add(page).write(b'r') };
    file.file.set_len(page as u64).unwrap();
    let mut buf = [0u8; 8];
    let error = raw.read_at(page, &mut buf).unwrap_err();
    assert_eq!(error.raw_os_error(), Some(libc::EIO));
    let refused = librmap::Mmap::map_if_safe(&file.file).unwrap_err();
    assert!(refused.not_safe() && !refused.map_failed());
    // On ext4 "not a memfd"; on tmpfs, whose files carry F_SEAL_SEAL,
    // "missing seals F_SEAL_SHRINK and F_SEAL_WRITE".
    let why = refused.to_string();
    assert!(why.contains("not a memfd") || why.contains("missing seals F_SEAL_SHRINK"));
}
