//! A program written against memmap2 0.9, ported by renaming the crate:
//! only the `use` line differs from the memmap2 original.

use librmap as memmap2;

use std::fs::OpenOptions;
use std::io::Write;
use std::sync::Arc;
use std::thread;

use memmap2::{Advice, Mmap, MmapMut, MmapOptions, RemapOptions};

fn temp_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("rmap-port-{}-{name}", std::process::id()))
}

#[test]
fn a_memmap2_program_runs_unchanged() -> std::io::Result<()> {
    // Anonymous memory, through the options and directly.
    let mut anon: MmapMut = MmapOptions::new().len(4096).populate().map_anon()?;
    anon[..5].copy_from_slice(b"hello");
    let mut plain = MmapMut::map_anon(8192)?;
    plain.copy_from_slice(&[7; 8192]);
    assert_eq!(&anon[..5], b"hello");
    assert!(plain.iter().all(|&b| b == 7));

    // A file: written through a shared map, flushed, read back read-only.
    let path = temp_path("file");
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)?;
    file.set_len(3 * 4096)?;
    let mut map = unsafe { MmapOptions::new().map_mut(&file)? };
    map[..12].copy_from_slice(b"memmap2 port");
    map.flush()?;
    map[4096..4100].copy_from_slice(b"page");
    map.flush_range(4096, 4)?;
    map.flush_async()?;
    map.flush_async_range(0, 12)?;
    map.advise(Advice::Sequential)?;
    map.advise_range(Advice::WillNeed, 4096, 4096)?;
    map.lock()?;
    map.unlock()?;
    let read_only: Mmap = map.make_read_only()?;
    assert_eq!(&read_only[..12], b"memmap2 port");
    let mut writable: MmapMut = read_only.make_mut()?;
    writable[0] = b'M';
    drop(writable);
    assert_eq!(&std::fs::read(&path)?[..12], b"Memmap2 port");

    // Unaligned offset and length, as memmap2 allows.
    let slice = unsafe { MmapOptions::new().offset(4097).len(3).map(&file)? };
    assert_eq!(&slice[..], b"age");

    // Copy-on-write: the file keeps its bytes.
    let mut cow = unsafe { MmapOptions::new().map_copy(&file)? };
    cow[..3].copy_from_slice(b"cow");
    assert_eq!(&std::fs::read(&path)?[..3], b"Mem");
    let cow_read = unsafe { MmapOptions::new().map_copy_read_only(&file)? };
    assert_eq!(&cow_read[..3], b"Mem");

    // Whole-file map, shared across threads (Send + Sync).
    let whole = Arc::new(unsafe { Mmap::map(&file)? });
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let whole = Arc::clone(&whole);
            thread::spawn(move || whole[i * 4096..].len())
        })
        .collect();
    let lens: Vec<usize> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(lens, vec![3 * 4096, 2 * 4096, 4096, 0]);
    let mut moving = MmapMut::map_anon(4096)?;
    thread::spawn(move || moving[0] = 1).join().unwrap();

    // Resizing.
    let mut growing = MmapMut::map_anon(4096)?;
    growing[0] = 9;
    unsafe { growing.remap(1 << 20, RemapOptions::new().may_move(true))? };
    assert_eq!((growing.len(), growing[0]), (1 << 20, 9));

    let mut out = Vec::new();
    out.write_all(&anon[..5])?;
    assert_eq!(out, b"hello");
    std::fs::remove_file(&path)?;
    Ok(())
}
