//! The safe Rust API: memmap2 0.9's, on librmap.
//!
//! A memmap2 user ports by renaming the crate (`use librmap as memmap2;` works):
//! [`Mmap`] and [`MmapMut`] dereference to `[u8]`, [`MmapOptions`] builds
//! them, offsets need not be page aligned (the mapping starts at the page
//! below, as memmap2 does), and errors are `std::io::Error` with the errno.
//! Every mapping goes through librmap, so it is in the registry
//! ([`Mmap::query`], [`stats`]) and checked mode sees it.
//!
//! Beyond memmap2: [`Mmap::read_at`], [`MmapMut::read_at`] and
//! [`MmapMut::write_at`] copy through librmap's guarded copy, so a file
//! truncated underneath gives `Err` (EIO) instead of SIGBUS.

use std::fmt;
use std::fs::File;
use std::io::{Error, ErrorKind, Result};
use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::null_mut;

use crate::guarded;
use crate::mapping::{
    self, ANONYMOUS, EBADF, Errno, MAP_HUGE_SHIFT, MAP_HUGETLB, MAP_NORESERVE, MAP_POPULATE,
    MAP_STACK, MREMAP_MAYMOVE, MS_ASYNC, MS_SYNC, PRIVATE, PROT_EXEC, READ, SHARED, WRITE,
    page_size,
};

fn os_error(error: Errno) -> Error {
    Error::from_raw_os_error(error.0)
}

/// A file descriptor to map, as memmap2 takes it.
///
/// ```
/// use librmap::{MmapAsRawDesc, MmapRawDescriptor};
/// let file = std::fs::File::open("Cargo.toml")?;
/// let _: MmapRawDescriptor = (&file).as_raw_desc();
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct MmapRawDescriptor(RawFd);

/// What can be mapped: a [`RawFd`], or a reference to anything with one
/// (`&File`, `&BorrowedFd`, ...), as in memmap2.
///
/// ```
/// use std::os::fd::AsRawFd;
/// use librmap::Mmap;
/// let file = std::fs::File::open("Cargo.toml")?;
/// let by_ref = unsafe { Mmap::map(&file)? };
/// let by_fd = unsafe { Mmap::map(file.as_raw_fd())? };
/// assert_eq!(&by_ref[..], &by_fd[..]);
/// # Ok::<(), std::io::Error>(())
/// ```
pub trait MmapAsRawDesc {
    /// The descriptor to map.
    fn as_raw_desc(&self) -> MmapRawDescriptor;
}

impl MmapAsRawDesc for RawFd {
    fn as_raw_desc(&self) -> MmapRawDescriptor {
        MmapRawDescriptor(*self)
    }
}

impl<T: AsRawFd> MmapAsRawDesc for &T {
    fn as_raw_desc(&self) -> MmapRawDescriptor {
        MmapRawDescriptor(self.as_raw_fd())
    }
}

/// A mapping's address range: `ptr` is the first byte the caller asked for,
/// which lies `ptr % page` bytes into the first mapped page.
struct Inner {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: the range is owned like a Box<[u8]>; shared access only reads
// (writes need &mut through MmapMut), and librmap's calls are thread-safe.
unsafe impl Send for Inner {}
// SAFETY: as above.
unsafe impl Sync for Inner {}

impl Inner {
    fn map(
        len: usize,
        prot: i32,
        flags: i32,
        fd: RawFd,
        offset: u64,
        tolerant: bool,
    ) -> Result<Inner> {
        // A slice never exceeds isize::MAX bytes; memmap2 refuses such a length the same way.
        if isize::try_from(len).is_err() {
            return Err(Error::new(
                ErrorKind::InvalidData,
                "memory map length overflows isize",
            ));
        }
        let page = page_size() as u64;
        let alignment = (offset % page) as usize;
        // mmap refuses length 0: map one byte, as memmap2 does, and show none.
        let map_len = len
            .checked_add(alignment)
            .ok_or_else(|| {
                Error::new(ErrorKind::InvalidInput, "memory map length overflows usize")
            })?
            .max(1);
        // A wrapped offset is refused by the kernel's own rules (EOVERFLOW/EINVAL).
        let aligned = (offset - alignment as u64) as i64;
        // SAFETY: no MAP_FIXED, so nothing already mapped is touched.
        let base = unsafe { mapping::map(null_mut(), map_len, prot, flags, fd, aligned) }
            .map_err(os_error)?;
        if tolerant && let Err(error) = mapping::tolerate(base as usize, map_len) {
            // SAFETY: the mapping just made, never handed out.
            let _ = unsafe { mapping::unmap(base, map_len) };
            return Err(os_error(error));
        }
        Ok(Inner {
            // SAFETY: alignment < page <= map_len: inside the new mapping.
            ptr: unsafe { base.add(alignment) },
            len,
        })
    }

    /// The mapped range: first page, length in bytes, and where `ptr` lies in it.
    fn range(&self) -> (*mut u8, usize, usize) {
        let alignment = self.ptr as usize % page_size();
        (
            self.ptr.wrapping_sub(alignment),
            (self.len + alignment).max(1),
            alignment,
        )
    }

    /// `[offset, offset + len)` of the mapping, widened down to its page.
    fn sub_range(&self, offset: usize, len: usize) -> Result<(*mut u8, usize)> {
        if offset.checked_add(len).is_none_or(|end| end > self.len) {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "range outside the memory map",
            ));
        }
        let start = self.ptr.wrapping_add(offset);
        let alignment = start as usize % page_size();
        Ok((start.wrapping_sub(alignment), len + alignment))
    }

    fn flush(&self, offset: usize, len: usize, flags: i32) -> Result<()> {
        let (start, len) = self.sub_range(offset, len)?;
        // SAFETY: a range of this mapping; msync leaves it mapped.
        unsafe { mapping::sync(start, len, flags) }.map_err(os_error)
    }

    /// `rmap_secure` of `[offset, offset + len)` through `fd`: the range
    /// may reach past the file (a map longer than its file), not past the
    /// map.
    fn secure(&self, fd: RawFd, offset: usize, len: usize) -> Result<()> {
        if offset.checked_add(len).is_none_or(|end| end > self.len) {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "range outside the memory map",
            ));
        }
        let start = self.ptr as usize + offset;
        let page_start = start - start % page_size();
        mapping::secure(page_start, start + len - page_start, fd).map_err(os_error)
    }

    /// # Safety
    /// `advice` must not change the contents while they are borrowed.
    unsafe fn advise(&self, advice: i32, offset: usize, len: usize) -> Result<()> {
        let (start, len) = self.sub_range(offset, len)?;
        // SAFETY: a range of this mapping; the contents are the caller's concern.
        unsafe { mapping::advise(start, len, advice) }.map_err(os_error)
    }

    /// An empty map holds no byte to lock (its one mapped byte stands for
    /// nothing): Ok, as `mlock(ptr, 0)` is for memmap2.
    fn lock(&self) -> Result<()> {
        if self.len == 0 {
            return Ok(());
        }
        let (start, len, _) = self.range();
        mapping::lock(start, len).map_err(os_error)
    }

    fn unlock(&self) -> Result<()> {
        if self.len == 0 {
            return Ok(());
        }
        let (start, len, _) = self.range();
        mapping::unlock(start, len).map_err(os_error)
    }

    /// # Safety
    /// Nothing may rely on an access the new protection forbids.
    unsafe fn protect(&self, prot: i32) -> Result<()> {
        let (start, len, _) = self.range();
        // SAFETY: this mapping's own range.
        unsafe { mapping::protect(start, len, prot) }.map_err(os_error)
    }

    /// # Safety
    /// Nothing may borrow the mapping (it may move), and for a file mapping
    /// the file must cover what the new length exposes.
    unsafe fn remap(&mut self, new_len: usize, options: RemapOptions) -> Result<()> {
        let (start, old_len, alignment) = self.range();
        let map_len = new_len
            .checked_add(alignment)
            .ok_or_else(|| {
                Error::new(ErrorKind::InvalidInput, "memory map length overflows usize")
            })?
            .max(1);
        let flags = if options.may_move { MREMAP_MAYMOVE } else { 0 };
        // SAFETY: this mapping's own range; the fifth argument is not read
        // without MREMAP_FIXED.
        let moved = unsafe { mapping::remap(start, old_len, map_len, flags, null_mut()) }
            .map_err(os_error)?;
        // SAFETY: alignment < page <= map_len: inside the mapping.
        self.ptr = unsafe { moved.add(alignment) };
        self.len = new_len;
        Ok(())
    }

    fn read_at(&self, offset: usize, buf: &mut [u8]) -> Result<()> {
        self.sub_range(offset, buf.len())?;
        // SAFETY: the source is inside this mapping (faults are recovered),
        // the destination is a distinct, exclusively borrowed buffer.
        unsafe { guarded::copy(buf.as_mut_ptr(), self.ptr.add(offset), buf.len()) }
            .map_err(os_error)
    }

    fn write_at(&self, offset: usize, data: &[u8]) -> Result<()> {
        self.sub_range(offset, data.len())?;
        // SAFETY: the destination is inside this mapping, borrowed mutably by
        // the caller (MmapMut::write_at takes &mut self); faults are recovered.
        unsafe { guarded::copy(self.ptr.add(offset), data.as_ptr(), data.len()) }.map_err(os_error)
    }

    fn query(&self) -> Option<MapInfo> {
        let found = mapping::query(self.ptr as usize)?;
        Some(MapInfo {
            start: found.start,
            len: found.entry.len,
            prot: found.entry.prot,
            flags: found.entry.flags,
            dev: found.entry.dev,
            ino: found.entry.ino,
            offset: found.entry.offset,
            tolerant: found.entry.tolerant,
            damaged: found.damaged,
        })
    }

    fn losses(&self) -> Result<Vec<usize>> {
        let (start, len, _) = self.range();
        let lost = mapping::losses(start as usize, len).map_err(os_error)?;
        let first = self.ptr as usize;
        Ok(lost
            .into_iter()
            .map(|(page, _)| page.max(first) - first)
            .collect())
    }

    fn slice(&self) -> &[u8] {
        // SAFETY: `len` readable bytes at `ptr` while self lives.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    fn slice_mut(&mut self) -> &mut [u8] {
        // SAFETY: as above, writable (MmapMut only), and &mut self is exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let (start, len, _) = self.range();
        // SAFETY: the range is ours and nothing borrows it any more. memmap2
        // ignores the error too: Drop cannot report it.
        let _ = unsafe { mapping::unmap(start, len) };
    }
}

/// A memory map builder: offset, length and flags, then one of the `map*`
/// calls, as in memmap2.
///
/// # Safety of file mappings
///
/// The constructors of file mappings are `unsafe`, as in memmap2: the mapping
/// hands out `&[u8]` (and `&mut [u8]`) over memory that another process, or
/// another mapping of the same file, can change at any time (Rust's aliasing
/// rules then no longer hold), and reading a page past a truncated end of
/// the file raises SIGBUS. Use file permissions, locks or private files to
/// keep others out; [`Mmap::read_at`] and [`MmapMut::write_at`] turn the
/// truncation into an error.
///
/// ```
/// use librmap::{MmapMut, MmapOptions};
/// let mut mmap: MmapMut = MmapOptions::new().len(36).map_anon()?;
/// mmap.copy_from_slice(b"...data to copy to the memory map...");
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct MmapOptions {
    offset: u64,
    len: Option<usize>,
    huge: Option<u8>,
    stack: bool,
    populate: bool,
    no_reserve_swap: bool,
    tolerant: bool,
}

impl MmapOptions {
    /// Options with offset 0, the file's length, and no flags.
    ///
    /// ```
    /// let options = librmap::MmapOptions::new();
    /// let map = options.clone().len(4096).map_anon()?;
    /// assert_eq!(map.len(), 4096);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new() -> MmapOptions {
        MmapOptions::default()
    }

    /// Maps from byte `offset` of the file, aligned or not (the mapping
    /// starts at the page below, and the slice at `offset`). No effect on
    /// anonymous maps.
    ///
    /// ```
    /// use std::io::Write;
    /// let path = std::env::temp_dir().join(format!("rmap-doc-offset-{}", std::process::id()));
    /// std::fs::File::create(&path)?.write_all(b"0123456789")?;
    /// let file = std::fs::File::open(&path)?;
    /// let map = unsafe { librmap::MmapOptions::new().offset(3).len(4).map(&file)? };
    /// assert_eq!(&map[..], b"3456");
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn offset(&mut self, offset: u64) -> &mut Self {
        self.offset = offset;
        self
    }

    /// The length in bytes: required for anonymous maps (else 0); for file
    /// maps the default is the file's length from the offset.
    ///
    /// ```
    /// let file = std::fs::File::open("Cargo.toml")?;
    /// let map = unsafe { librmap::MmapOptions::new().len(9).map(&file)? };
    /// assert_eq!(&map[..], b"[package]");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn len(&mut self, len: usize) -> &mut Self {
        self.len = Some(len);
        self
    }

    /// Anonymous maps only: suitable for a stack (`MAP_STACK`).
    ///
    /// ```
    /// let stack = librmap::MmapOptions::new().stack().len(4096).map_anon()?;
    /// assert_eq!(stack.len(), 4096);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn stack(&mut self) -> &mut Self {
        self.stack = true;
        self
    }

    /// Anonymous maps only: huge pages (`MAP_HUGETLB`), of `2^page_bits`
    /// bytes or the system's default size. The length must be a multiple of
    /// it, and the system must have such pages reserved.
    ///
    /// ```
    /// // Fails where no huge pages are reserved (the usual default).
    /// let huge = librmap::MmapOptions::new().huge(Some(21)).len(2 << 20).map_anon();
    /// assert!(huge.is_ok() || huge.unwrap_err().raw_os_error().is_some());
    /// ```
    pub fn huge(&mut self, page_bits: Option<u8>) -> &mut Self {
        self.huge = Some(page_bits.unwrap_or(0));
        self
    }

    /// Prefaults the page tables (`MAP_POPULATE`); reads ahead a file.
    ///
    /// ```
    /// let file = std::fs::File::open("Cargo.toml")?;
    /// let map = unsafe { librmap::MmapOptions::new().populate().map(&file)? };
    /// assert!(map.starts_with(b"[package]"));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn populate(&mut self) -> &mut Self {
        self.populate = true;
        self
    }

    /// Reserves no swap space for the map (`MAP_NORESERVE`).
    ///
    /// ```
    /// let map = librmap::MmapOptions::new().no_reserve_swap().len(1 << 30).map_anon()?;
    /// assert_eq!(map.len(), 1 << 30);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn no_reserve_swap(&mut self) -> &mut Self {
        self.no_reserve_swap = true;
        self
    }

    /// Makes the map tolerant (librmap's `rmap_tolerate`, beyond memmap2):
    /// a page the file no longer backs (another process truncated it, an
    /// I/O error) reads as zeros instead of raising SIGBUS, writes to it stay
    /// in memory, and the map's [`Mmap::losses`] and a failing `flush`
    /// (`EIO`) tell the program. Reading a tolerant map costs nothing more
    /// until a page is lost.
    ///
    /// ```
    /// use std::io::Write;
    /// let path = std::env::temp_dir().join(format!("rmap-doc-tolerant-{}", std::process::id()));
    /// std::fs::File::create(&path)?.write_all(&[7u8; 8192])?;
    /// let file = std::fs::OpenOptions::new().read(true).write(true).open(&path)?;
    /// let map = unsafe { librmap::MmapOptions::new().tolerant().map_mut(&file)? };
    /// file.set_len(4096)?; // the second page is gone
    /// assert_eq!((map[0], map[4096]), (7, 0)); // no SIGBUS: zeros
    /// assert_eq!(map.losses()?, vec![4096]);
    /// assert_eq!(map.flush().unwrap_err().raw_os_error(), Some(libc::EIO));
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn tolerant(&mut self) -> &mut Self {
        self.tolerant = true;
        self
    }

    /// memmap2's Windows option (create the section with exactly the
    /// protection asked for); Linux has no section to probe for, so on
    /// Linux, as in memmap2, it changes nothing.
    ///
    /// ```
    /// let file = std::fs::File::open("Cargo.toml")?;
    /// let map = unsafe { librmap::MmapOptions::new().no_probe_handle().map(&file)? };
    /// assert!(map.starts_with(b"[package]"));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn no_probe_handle(&mut self) -> &mut Self {
        self
    }

    /// A read-write shared map of the file that hands out raw pointers
    /// only ([`MmapRaw`]); the file must be open for reading and writing.
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("rmap-doc-raw-{}", std::process::id()));
    /// std::fs::write(&path, b"abc123")?;
    /// let file = std::fs::OpenOptions::new().read(true).write(true).open(&path)?;
    /// let raw = librmap::MmapOptions::new().map_raw(&file)?;
    /// assert_eq!((raw.len(), unsafe { *raw.as_ptr() }), (6, b'a'));
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn map_raw<T: MmapAsRawDesc>(&self, file: T) -> Result<MmapRaw> {
        Ok(MmapRaw {
            inner: self.map_file(file, READ | WRITE, SHARED)?,
        })
    }

    /// A read-only shared map of the file that hands out raw pointers only.
    ///
    /// ```
    /// let file = std::fs::File::open("Cargo.toml")?;
    /// let raw = librmap::MmapOptions::new().map_raw_read_only(&file)?;
    /// assert_eq!(unsafe { *raw.as_ptr() }, b'[');
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn map_raw_read_only<T: MmapAsRawDesc>(&self, file: T) -> Result<MmapRaw> {
        Ok(MmapRaw {
            inner: self.map_file(file, READ, SHARED)?,
        })
    }

    /// A read-only map of the file, made only if the file cannot change
    /// or shrink while mapped: a memfd sealed with `F_SEAL_SHRINK` and
    /// `F_SEAL_WRITE`, or a file with fs-verity, and the range within the
    /// file's size. Not `unsafe`, as in memmap2: the usual hazard is ruled
    /// out. [`MapIfSafeError`] says which step refused.
    ///
    /// ```
    /// let file = std::fs::File::open("Cargo.toml")?; // an ordinary file can change
    /// assert!(librmap::MmapOptions::new().map_if_safe(&file).unwrap_err().not_safe());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn map_if_safe<T: MmapAsRawDesc>(
        &self,
        file: T,
    ) -> std::result::Result<Mmap, MapIfSafeError> {
        let fd = file.as_raw_desc().0;
        let len = self.file_len(fd).map_err(MapIfSafeError::map_failed_with)?;
        if let Err(why) = mapping::immutable_file(fd) {
            return Err(MapIfSafeError::not_safe_because(why.to_string()));
        }
        let size = mapping::file_size(fd).map_err(|error| {
            MapIfSafeError::not_safe_because(format!(
                "fd is not safe to map: failed to determine file size: {}",
                os_error(error)
            ))
        })?;
        let end = self.offset.checked_add(len as u64).ok_or_else(|| {
            MapIfSafeError::map_failed_with(Error::new(
                ErrorKind::InvalidInput,
                "mapping region overflows u64",
            ))
        })?;
        if end > size {
            return Err(MapIfSafeError::not_safe_because(format!(
                "map request is not safe: offset + length ({end}) exceeds the size of the file ({size})"
            )));
        }
        Inner::map(
            len,
            READ,
            self.flags(SHARED),
            fd,
            self.offset,
            self.tolerant,
        )
        .map(|inner| Mmap { inner })
        .map_err(MapIfSafeError::map_failed_with)
    }

    fn flags(&self, sharing: i32) -> i32 {
        let mut flags = sharing;
        if self.populate {
            flags |= MAP_POPULATE;
        }
        if self.no_reserve_swap {
            flags |= MAP_NORESERVE;
        }
        flags
    }

    fn file_len(&self, fd: RawFd) -> Result<usize> {
        if let Some(len) = self.len {
            return Ok(len);
        }
        if fd < 0 {
            return Err(Error::from_raw_os_error(EBADF));
        }
        // SAFETY: a descriptor (not -1), borrowed for fstat only;
        // ManuallyDrop never closes it.
        let file = ManuallyDrop::new(unsafe { File::from_raw_fd(fd) });
        let file_len = file.metadata()?.len();
        if file_len < self.offset {
            return Err(Error::new(
                ErrorKind::InvalidData,
                "memory map offset is larger than length",
            ));
        }
        usize::try_from(file_len - self.offset)
            .map_err(|_| Error::new(ErrorKind::InvalidData, "memory map length overflows usize"))
    }

    /// A read-write map of memory a peer process sent (librmap's, not
    /// memmap2's): `rmap_map_peer(3)`. Plain when the descriptor is a memfd
    /// sealed against shrinking that covers the length; otherwise tolerant,
    /// so the peer's truncation reads as zeros and shows in
    /// [`MmapMut::losses`] instead of raising SIGBUS. The length is
    /// [`MmapOptions::len`] or the descriptor's size; the offset must be 0.
    ///
    /// # Safety
    /// The peer may write the memory while it is borrowed: treat it as
    /// shared with another process (see [`MmapOptions`]).
    ///
    /// ```
    /// use librmap::{MmapOptions, shm_create};
    /// // As a peer would send it: sealed, so it cannot shrink.
    /// let fd = shm_create("frames", 8192, libc::F_SEAL_SHRINK | libc::F_SEAL_GROW)?;
    /// let map = unsafe { MmapOptions::new().map_peer(&fd)? };
    /// let info = map.query().unwrap();
    /// assert!(map.len() == 8192 && !info.tolerant && map.losses()?.is_empty());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub unsafe fn map_peer<T: MmapAsRawDesc>(&self, file: T) -> Result<MmapMut> {
        if self.offset != 0 {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "a peer's memory is mapped from offset 0",
            ));
        }
        let fd = file.as_raw_desc().0;
        let len = self.file_len(fd)?;
        // SAFETY: no MAP_FIXED: a new range; the contents are the caller's concern.
        let ptr = unsafe { mapping::map_peer(fd, len, READ | WRITE) }.map_err(os_error)?;
        Ok(MmapMut {
            inner: Inner { ptr, len },
        })
    }

    fn map_file<T: MmapAsRawDesc>(&self, file: T, prot: i32, sharing: i32) -> Result<Inner> {
        let fd = file.as_raw_desc().0;
        Inner::map(
            self.file_len(fd)?,
            prot,
            self.flags(sharing),
            fd,
            self.offset,
            self.tolerant,
        )
    }

    /// A read-only shared map of the file.
    ///
    /// # Safety
    /// See [`MmapOptions`]: the file must not change or shrink while mapped.
    ///
    /// ```
    /// let file = std::fs::File::open("Cargo.toml")?;
    /// let map = unsafe { librmap::MmapOptions::new().map(&file)? };
    /// assert_eq!(&map[..], &std::fs::read("Cargo.toml")?[..]);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub unsafe fn map<T: MmapAsRawDesc>(&self, file: T) -> Result<Mmap> {
        Ok(Mmap {
            inner: self.map_file(file, READ, SHARED)?,
        })
    }

    /// A readable and executable shared map of the file.
    ///
    /// # Safety
    /// See [`MmapOptions`].
    ///
    /// ```
    /// let file = std::fs::File::open("Cargo.toml")?;
    /// let map = unsafe { librmap::MmapOptions::new().map_exec(&file)? };
    /// assert_eq!(map.query().unwrap().prot, libc::PROT_READ | libc::PROT_EXEC);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub unsafe fn map_exec<T: MmapAsRawDesc>(&self, file: T) -> Result<Mmap> {
        Ok(Mmap {
            inner: self.map_file(file, READ | PROT_EXEC, SHARED)?,
        })
    }

    /// A writable shared map of the file: writes reach it.
    ///
    /// # Safety
    /// See [`MmapOptions`].
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("rmap-doc-map-mut-{}", std::process::id()));
    /// let file = std::fs::OpenOptions::new().read(true).write(true).create(true).open(&path)?;
    /// file.set_len(13)?;
    /// let mut map = unsafe { librmap::MmapOptions::new().map_mut(&file)? };
    /// map.copy_from_slice(b"Hello, world!");
    /// map.flush()?;
    /// assert_eq!(std::fs::read(&path)?, b"Hello, world!");
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub unsafe fn map_mut<T: MmapAsRawDesc>(&self, file: T) -> Result<MmapMut> {
        Ok(MmapMut {
            inner: self.map_file(file, READ | WRITE, SHARED)?,
        })
    }

    /// A copy-on-write map of the file: writes stay in this process.
    ///
    /// # Safety
    /// See [`MmapOptions`].
    ///
    /// ```
    /// let file = std::fs::File::open("Cargo.toml")?;
    /// let mut map = unsafe { librmap::MmapOptions::new().map_copy(&file)? };
    /// map[..5].copy_from_slice(b"hello");
    /// assert!(std::fs::read("Cargo.toml")?.starts_with(b"[package]"));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub unsafe fn map_copy<T: MmapAsRawDesc>(&self, file: T) -> Result<MmapMut> {
        Ok(MmapMut {
            inner: self.map_file(file, READ | WRITE, PRIVATE)?,
        })
    }

    /// A read-only private map of the file.
    ///
    /// # Safety
    /// See [`MmapOptions`].
    ///
    /// ```
    /// let file = std::fs::File::open("Cargo.toml")?;
    /// let map = unsafe { librmap::MmapOptions::new().map_copy_read_only(&file)? };
    /// assert!(map.starts_with(b"[package]"));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub unsafe fn map_copy_read_only<T: MmapAsRawDesc>(&self, file: T) -> Result<Mmap> {
        Ok(Mmap {
            inner: self.map_file(file, READ, PRIVATE)?,
        })
    }

    /// A private, zero-filled anonymous map of [`len`](Self::len) bytes.
    ///
    /// ```
    /// let map = librmap::MmapOptions::new().len(4096).map_anon()?;
    /// assert!(map.iter().all(|&b| b == 0));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn map_anon(&self) -> Result<MmapMut> {
        let mut flags = self.flags(PRIVATE | ANONYMOUS);
        if self.stack {
            flags |= MAP_STACK;
        }
        if let Some(bits) = self.huge {
            flags |= MAP_HUGETLB | (i32::from(bits) << MAP_HUGE_SHIFT);
        }
        Ok(MmapMut {
            inner: Inner::map(
                self.len.unwrap_or(0),
                READ | WRITE,
                flags,
                -1,
                0,
                self.tolerant,
            )?,
        })
    }
}

/// Why [`MmapOptions::map_if_safe`] made no map: the platform cannot tell
/// (never on Linux), the file could change (`not_safe`), or the map itself
/// failed (`map_failed`). Converts into the `std::io::Error` inside.
///
/// ```
/// let file = std::fs::File::open("Cargo.toml")?;
/// let error = librmap::Mmap::map_if_safe(&file).unwrap_err();
/// assert!(error.not_safe() && !error.map_failed() && !error.not_supported());
/// let as_io: std::io::Error = error.into();
/// assert_eq!(as_io.kind(), std::io::ErrorKind::InvalidInput);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct MapIfSafeError {
    kind: MapIfSafeKind,
}

#[derive(Debug)]
enum MapIfSafeKind {
    NotSafe(Error),
    MapFailed(Error),
}

impl MapIfSafeError {
    fn not_safe_because(why: String) -> MapIfSafeError {
        MapIfSafeError {
            kind: MapIfSafeKind::NotSafe(Error::new(ErrorKind::InvalidInput, why)),
        }
    }

    fn map_failed_with(error: Error) -> MapIfSafeError {
        MapIfSafeError {
            kind: MapIfSafeKind::MapFailed(error),
        }
    }

    /// Whether the platform cannot check: never on Linux.
    pub fn not_supported(&self) -> bool {
        false
    }

    /// Whether the file (or the range) could change while mapped.
    pub fn not_safe(&self) -> bool {
        matches!(self.kind, MapIfSafeKind::NotSafe(_))
    }

    /// Whether the file was safe but mapping it failed.
    pub fn map_failed(&self) -> bool {
        matches!(self.kind, MapIfSafeKind::MapFailed(_))
    }
}

impl std::error::Error for MapIfSafeError {}

impl fmt::Display for MapIfSafeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            MapIfSafeKind::NotSafe(error) | MapIfSafeKind::MapFailed(error) => {
                fmt::Display::fmt(error, f)
            }
        }
    }
}

impl fmt::Debug for MapIfSafeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.kind, f)
    }
}

impl From<MapIfSafeError> for Error {
    fn from(value: MapIfSafeError) -> Error {
        match value.kind {
            MapIfSafeKind::NotSafe(error) | MapIfSafeKind::MapFailed(error) => error,
        }
    }
}

/// How [`Mmap::remap`] may resize a mapping.
///
/// ```
/// let options = librmap::RemapOptions::new().may_move(true);
/// let mut map = librmap::MmapMut::map_anon(4096)?;
/// unsafe { map.remap(1 << 20, options)? };
/// assert_eq!(map.len(), 1 << 20);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RemapOptions {
    may_move: bool,
}

impl RemapOptions {
    /// Resize in place only.
    ///
    /// ```
    /// assert_eq!(librmap::RemapOptions::new(), librmap::RemapOptions::default());
    /// ```
    pub fn new() -> RemapOptions {
        RemapOptions::default()
    }

    /// Whether the mapping may move to another address (`MREMAP_MAYMOVE`).
    ///
    /// ```
    /// let options = librmap::RemapOptions::new().may_move(true);
    /// assert_ne!(options, librmap::RemapOptions::new());
    /// ```
    pub fn may_move(mut self, may_move: bool) -> RemapOptions {
        self.may_move = may_move;
        self
    }
}

/// Advice that leaves the contents alone ([`Mmap::advise`]), as memmap2's.
///
/// ```
/// let map = librmap::MmapMut::map_anon(4096)?;
/// map.advise(librmap::Advice::Sequential)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[repr(i32)]
#[derive(Clone, Copy, Debug, Eq, PartialEq, Hash)]
pub enum Advice {
    /// `MADV_NORMAL`: no special treatment.
    Normal = mapping::MADV_NORMAL,
    /// `MADV_RANDOM`: expect random access, read ahead little.
    Random = mapping::MADV_RANDOM,
    /// `MADV_SEQUENTIAL`: expect sequential access, read ahead much.
    Sequential = mapping::MADV_SEQUENTIAL,
    /// `MADV_WILLNEED`: expect access soon.
    WillNeed = mapping::MADV_WILLNEED,
    /// `MADV_DONTFORK`: a child made by fork does not get the range.
    DontFork = mapping::MADV_DONTFORK,
    /// `MADV_DOFORK`: undo `DontFork`.
    DoFork = mapping::MADV_DOFORK,
    /// `MADV_MERGEABLE`: let KSM merge identical pages.
    Mergeable = mapping::MADV_MERGEABLE,
    /// `MADV_UNMERGEABLE`: undo `Mergeable`.
    Unmergeable = mapping::MADV_UNMERGEABLE,
    /// `MADV_HUGEPAGE`: back with transparent huge pages.
    HugePage = mapping::MADV_HUGEPAGE,
    /// `MADV_NOHUGEPAGE`: never back with transparent huge pages.
    NoHugePage = mapping::MADV_NOHUGEPAGE,
    /// `MADV_DONTDUMP`: leave out of core dumps.
    DontDump = mapping::MADV_DONTDUMP,
    /// `MADV_DODUMP`: undo `DontDump`.
    DoDump = mapping::MADV_DODUMP,
    /// `MADV_HWPOISON`: poison the pages (privileged, for testing).
    HwPoison = mapping::MADV_HWPOISON,
    /// `MADV_POPULATE_READ`: prefault readable (Linux 5.14).
    PopulateRead = mapping::MADV_POPULATE_READ,
    /// `MADV_POPULATE_WRITE`: prefault writable (Linux 5.14).
    PopulateWrite = mapping::MADV_POPULATE_WRITE,
}

/// Advice that can change the contents ([`Mmap::unchecked_advise`]): the
/// caller must not hold borrows of the pages it frees.
///
/// ```
/// let mut map = librmap::MmapMut::map_anon(4096)?;
/// map[0] = 1;
/// // SAFETY: no borrow of the mapping is alive.
/// unsafe { map.unchecked_advise(librmap::UncheckedAdvice::DontNeed)? };
/// assert_eq!(map[0], 0); // private anonymous pages come back zeroed
/// # Ok::<(), std::io::Error>(())
/// ```
#[repr(i32)]
#[derive(Clone, Copy, Debug, Eq, PartialEq, Hash)]
pub enum UncheckedAdvice {
    /// `MADV_DONTNEED`: free the pages now; they read back from the file,
    /// or as zeros for private anonymous memory.
    DontNeed = mapping::MADV_DONTNEED,
    /// `MADV_FREE`: the pages may be freed under memory pressure.
    Free = mapping::MADV_FREE,
    /// `MADV_REMOVE`: free the pages and their backing store.
    Remove = mapping::MADV_REMOVE,
}

impl Advice {
    /// Whether the running kernel knows this advice (`madvise` of an empty
    /// range), as memmap2 asks.
    ///
    /// ```
    /// assert!(librmap::Advice::Sequential.is_supported());
    /// ```
    pub fn is_supported(self) -> bool {
        mapping::advice_supported(self as i32)
    }
}

impl UncheckedAdvice {
    /// Whether the running kernel knows this advice.
    ///
    /// ```
    /// assert!(librmap::UncheckedAdvice::DontNeed.is_supported());
    /// ```
    pub fn is_supported(self) -> bool {
        mapping::advice_supported(self as i32)
    }
}

/// What librmap recorded for a mapping ([`Mmap::query`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapInfo {
    /// First byte of the mapping's page-aligned range.
    pub start: usize,
    /// Length in bytes, whole pages.
    pub len: usize,
    /// `PROT_*` bits as last set.
    pub prot: i32,
    /// `MAP_*` bits as mapped, with `MAP_LOCKED` while locked.
    pub flags: i32,
    /// Device and inode of the mapped file; 0 for anonymous memory.
    pub dev: u64,
    pub ino: u64,
    /// File offset of `start`.
    pub offset: i64,
    /// Tolerant ([`MmapOptions::tolerant`]).
    pub tolerant: bool,
    /// A page of it was lost ([`Mmap::losses`]).
    pub damaged: bool,
}

/// librmap's totals for the process ([`stats`]).
pub use crate::mapping::Totals as Stats;

/// librmap's totals: live mappings and bytes, and successful maps, unmaps,
/// syncs and failed calls so far.
///
/// ```
/// let before = librmap::stats();
/// let map = librmap::MmapMut::map_anon(4096)?;
/// assert_eq!(librmap::stats().maps, before.maps + 1);
/// drop(map);
/// assert_eq!(librmap::stats().unmaps, before.unmaps + 1);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn stats() -> Stats {
    mapping::totals()
}

/// How many bytes the calling thread's last failed `read_at` or `write_at`
/// copied: every byte before the first page that faulted.
///
/// ```
/// let map = librmap::MmapMut::map_anon(4096)?;
/// let mut buf = [0u8; 8];
/// map.read_at(0, &mut buf)?; // a success leaves the count alone
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn copied() -> usize {
    guarded::last_copied()
}

macro_rules! flush_methods {
    () => {
        /// Writes the whole map back to its file and waits (`MS_SYNC`).
        ///
        /// ```
        /// let mut map = librmap::MmapMut::map_anon(4096)?;
        /// map[0] = 1;
        /// map.flush()?;
        /// # Ok::<(), std::io::Error>(())
        /// ```
        pub fn flush(&self) -> Result<()> {
            self.inner.flush(0, self.inner.len, MS_SYNC)
        }

        /// Schedules writing the whole map back (`MS_ASYNC`).
        ///
        /// ```
        /// let map = librmap::MmapMut::map_anon(4096)?;
        /// map.flush_async()?;
        /// # Ok::<(), std::io::Error>(())
        /// ```
        pub fn flush_async(&self) -> Result<()> {
            self.inner.flush(0, self.inner.len, MS_ASYNC)
        }

        /// Writes `[offset, offset + len)` back and waits; the range is widened
        /// down to its page. Past the end: `InvalidInput`.
        ///
        /// ```
        /// let map = librmap::MmapMut::map_anon(8192)?;
        /// map.flush_range(4100, 10)?;
        /// assert!(map.flush_range(8000, 500).is_err());
        /// # Ok::<(), std::io::Error>(())
        /// ```
        pub fn flush_range(&self, offset: usize, len: usize) -> Result<()> {
            self.inner.flush(offset, len, MS_SYNC)
        }

        /// Schedules writing `[offset, offset + len)` back.
        ///
        /// ```
        /// let map = librmap::MmapMut::map_anon(8192)?;
        /// map.flush_async_range(0, 8192)?;
        /// # Ok::<(), std::io::Error>(())
        /// ```
        pub fn flush_async_range(&self, offset: usize, len: usize) -> Result<()> {
            self.inner.flush(offset, len, MS_ASYNC)
        }
    };
}

macro_rules! secure_method {
    () => {
        /// Secures `[offset, offset + len)` of a shared file map (librmap's,
        /// not memmap2's): the file system allocates the file's blocks for
        /// it and the file grows to cover it (`rmap_secure(3)`), so that
        /// writing there cannot die of SIGBUS on a full disk. A full disk,
        /// a quota or `RLIMIT_FSIZE` is an error from this call
        /// (`ENOSPC`, `EDQUOT`, `EFBIG`), with nothing written. A map made
        /// longer than its file ([`MmapOptions::len`]) grows in place this
        /// way: its address never moves. Past the map: `InvalidInput`.
        ///
        /// ```
        /// let path = std::env::temp_dir().join(format!("rmap-doc-secure-{}", std::process::id()));
        /// let file = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&path)?;
        /// // Room for 1 MiB; the file is empty.
        /// let mut log = unsafe { librmap::MmapOptions::new().len(1 << 20).map_mut(&file)? };
        /// log.secure(&file, 0, 5)?;                    // the file is 5 bytes now
        /// log[..5].copy_from_slice(b"hello");
        /// log.secure(&file, 5, 6)?;
        /// log[5..11].copy_from_slice(b" world");
        /// assert_eq!(std::fs::read(&path)?, b"hello world");
        /// # std::fs::remove_file(&path)?;
        /// # Ok::<(), std::io::Error>(())
        /// ```
        pub fn secure<T: MmapAsRawDesc>(&self, file: T, offset: usize, len: usize) -> Result<()> {
            self.inner.secure(file.as_raw_desc().0, offset, len)
        }
    };
}

macro_rules! shared_methods {
    () => {
        /// Advises the kernel about the whole map.
        ///
        /// ```
        /// let map = librmap::MmapMut::map_anon(8192)?.make_read_only()?;
        /// map.advise(librmap::Advice::Random)?;
        /// # Ok::<(), std::io::Error>(())
        /// ```
        pub fn advise(&self, advice: Advice) -> Result<()> {
            // SAFETY: these kinds of advice leave the contents alone.
            unsafe { self.inner.advise(advice as i32, 0, self.inner.len) }
        }

        /// Advises the kernel about `[offset, offset + len)` of the map
        /// (widened down to its page). A range that does not lie wholly inside
        /// the map is `InvalidInput`, before any system call (memmap2 checks
        /// `offset` and `len` only one at a time, and may advise memory past
        /// the map).
        ///
        /// ```
        /// let map = librmap::MmapMut::map_anon(8192)?;
        /// map.advise_range(librmap::Advice::WillNeed, 4096, 10)?;
        /// # Ok::<(), std::io::Error>(())
        /// ```
        pub fn advise_range(&self, advice: Advice, offset: usize, len: usize) -> Result<()> {
            // SAFETY: as for advise.
            unsafe { self.inner.advise(advice as i32, offset, len) }
        }

        /// Advice that may change the contents, for the whole map.
        ///
        /// # Safety
        /// No borrow of the pages may be alive while the kernel changes them.
        ///
        /// ```
        /// let map = librmap::MmapMut::map_anon(4096)?;
        /// unsafe { map.unchecked_advise(librmap::UncheckedAdvice::DontNeed)? };
        /// # Ok::<(), std::io::Error>(())
        /// ```
        pub unsafe fn unchecked_advise(&self, advice: UncheckedAdvice) -> Result<()> {
            // SAFETY: forwarded to the caller's contract.
            unsafe { self.inner.advise(advice as i32, 0, self.inner.len) }
        }

        /// Advice that may change the contents, for a range.
        ///
        /// # Safety
        /// As for [`unchecked_advise`](Self::unchecked_advise).
        ///
        /// ```
        /// let map = librmap::MmapMut::map_anon(8192)?;
        /// unsafe { map.unchecked_advise_range(librmap::UncheckedAdvice::DontNeed, 4096, 4096)? };
        /// # Ok::<(), std::io::Error>(())
        /// ```
        pub unsafe fn unchecked_advise_range(
            &self,
            advice: UncheckedAdvice,
            offset: usize,
            len: usize,
        ) -> Result<()> {
            // SAFETY: forwarded to the caller's contract.
            unsafe { self.inner.advise(advice as i32, offset, len) }
        }

        /// Locks the map's pages in memory (`mlock`).
        ///
        /// ```
        /// let map = librmap::MmapMut::map_anon(4096)?;
        /// map.lock()?;
        /// assert_ne!(map.query().unwrap().flags & libc::MAP_LOCKED, 0);
        /// map.unlock()?;
        /// # Ok::<(), std::io::Error>(())
        /// ```
        pub fn lock(&self) -> Result<()> {
            self.inner.lock()
        }

        /// Unlocks the map's pages (`munlock`).
        ///
        /// ```
        /// let map = librmap::MmapMut::map_anon(4096)?;
        /// map.lock()?;
        /// map.unlock()?;
        /// assert_eq!(map.query().unwrap().flags & libc::MAP_LOCKED, 0);
        /// # Ok::<(), std::io::Error>(())
        /// ```
        pub fn unlock(&self) -> Result<()> {
            self.inner.unlock()
        }

        /// Resizes the map (`mremap`), moving it if `options` allow.
        ///
        /// # Safety
        /// Nothing may point into the map (it may move), and a file map
        /// must not grow past the file's end (those pages raise SIGBUS).
        ///
        /// ```
        /// let mut map = librmap::MmapMut::map_anon(4096)?;
        /// unsafe { map.remap(8192, librmap::RemapOptions::new().may_move(true))? };
        /// assert_eq!(map.len(), 8192);
        /// # Ok::<(), std::io::Error>(())
        /// ```
        pub unsafe fn remap(&mut self, new_len: usize, options: RemapOptions) -> Result<()> {
            // SAFETY: forwarded to the caller's contract.
            unsafe { self.inner.remap(new_len, options) }
        }

        /// Copies `buf.len()` bytes at `offset` into `buf` through librmap's
        /// guarded copy: a page the file no longer covers gives `Err` with
        /// `EIO` (and an inaccessible one `EFAULT`) instead of SIGBUS; then
        /// [`copied`] tells how many bytes arrived. A range past the end of
        /// the map is `InvalidInput`.
        ///
        /// ```
        /// let mut map = librmap::MmapMut::map_anon(4096)?;
        /// map[10..13].copy_from_slice(b"abc");
        /// let mut buf = [0u8; 3];
        /// map.read_at(10, &mut buf)?;
        /// assert_eq!(&buf, b"abc");
        /// # Ok::<(), std::io::Error>(())
        /// ```
        pub fn read_at(&self, offset: usize, buf: &mut [u8]) -> Result<()> {
            self.inner.read_at(offset, buf)
        }

        /// What librmap recorded for the mapping (at its first page).
        ///
        /// ```
        /// let map = librmap::MmapMut::map_anon(4096)?;
        /// let info = map.query().unwrap();
        /// assert_eq!((info.start, info.len), (map.as_ptr() as usize, 4096));
        /// # Ok::<(), std::io::Error>(())
        /// ```
        pub fn query(&self) -> Option<MapInfo> {
            self.inner.query()
        }

        /// The positions in the map of the pages lost so far: pages of a
        /// tolerant map ([`MmapOptions::tolerant`]) that the file no longer
        /// backs, which read as zeros now. Empty for a map that lost none.
        ///
        /// ```
        /// let map = librmap::MmapOptions::new().len(4096).tolerant().map_anon()?;
        /// assert!(map.losses()?.is_empty() && map.query().unwrap().tolerant);
        /// # Ok::<(), std::io::Error>(())
        /// ```
        pub fn losses(&self) -> Result<Vec<usize>> {
            self.inner.losses()
        }
    };
}

/// Shared memory of `size` bytes for another process (librmap's, not
/// memmap2's): `rmap_shm_create(3)`, a memfd named `name` (a label in
/// /proc), close-on-exec, its storage allocated before it is returned (too
/// little memory is an error here, not a SIGBUS at a later touch) and
/// sealed with `seals` (`libc::F_SEAL_*`, read back: never fewer).
///
/// ```
/// let fd = librmap::shm_create("pool", 4096, libc::F_SEAL_SHRINK)?;
/// let mut map = unsafe { librmap::MmapOptions::new().map_peer(&fd)? };
/// map[0] = 7;
/// assert!(std::fs::File::from(fd).set_len(0).is_err()); // sealed: EPERM
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn shm_create(name: &str, size: usize, seals: i32) -> Result<OwnedFd> {
    let name = std::ffi::CString::new(name)
        .map_err(|_| Error::new(ErrorKind::InvalidInput, "a name with a NUL byte"))?;
    let fd = mapping::shm_create(&name, size, seals, false, true).map_err(os_error)?;
    // SAFETY: a descriptor just made, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A read-only memory map, dereferencing to `&[u8]`; unmapped when dropped.
///
/// ```
/// let file = std::fs::File::open("Cargo.toml")?;
/// let map = unsafe { librmap::Mmap::map(&file)? };
/// assert!(map.starts_with(b"[package]") && !map.is_empty());
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Mmap {
    inner: Inner,
}

impl Mmap {
    /// Maps the whole file read-only; the same as `MmapOptions::new().map(file)`.
    ///
    /// # Safety
    /// See [`MmapOptions`].
    ///
    /// ```
    /// let file = std::fs::File::open("Cargo.toml")?;
    /// let map = unsafe { librmap::Mmap::map(&file)? };
    /// assert_eq!(map.len() as u64, file.metadata()?.len());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub unsafe fn map<T: MmapAsRawDesc>(file: T) -> Result<Mmap> {
        // SAFETY: forwarded to the caller's contract.
        unsafe { MmapOptions::new().map(file) }
    }

    /// Maps the whole file read-only if it cannot change while mapped; the
    /// same as `MmapOptions::new().map_if_safe(file)`.
    ///
    /// ```
    /// let file = std::fs::File::open("Cargo.toml")?;
    /// assert!(librmap::Mmap::map_if_safe(&file).is_err()); // an ordinary file can change
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn map_if_safe<T: MmapAsRawDesc>(file: T) -> std::result::Result<Mmap, MapIfSafeError> {
        MmapOptions::new().map_if_safe(file)
    }

    /// Makes the map writable (`mprotect`), keeping its contents. A shared
    /// file map needs the file open for writing.
    ///
    /// ```
    /// let map = librmap::MmapMut::map_anon(4096)?.make_read_only()?;
    /// let mut map = map.make_mut()?;
    /// map[0] = 1;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn make_mut(self) -> Result<MmapMut> {
        // SAFETY: adding write access breaks nothing that reads.
        unsafe { self.inner.protect(READ | WRITE) }?;
        Ok(MmapMut { inner: self.inner })
    }

    shared_methods!();
}

impl Deref for Mmap {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.inner.slice()
    }
}

impl AsRef<[u8]> for Mmap {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl fmt::Debug for Mmap {
    fn fmt(&self, fmt: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt.debug_struct("Mmap")
            .field("ptr", &self.as_ptr())
            .field("len", &self.len())
            .finish()
    }
}

/// A writable memory map, dereferencing to `&mut [u8]`; unmapped when dropped.
///
/// ```
/// let mut map = librmap::MmapMut::map_anon(4096)?;
/// map[..5].copy_from_slice(b"hello");
/// assert_eq!(&map[..5], b"hello");
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct MmapMut {
    inner: Inner,
}

impl MmapMut {
    /// Maps the whole file writable and shared; the same as
    /// `MmapOptions::new().map_mut(file)`.
    ///
    /// # Safety
    /// See [`MmapOptions`].
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("rmap-doc-mmapmut-{}", std::process::id()));
    /// let file = std::fs::OpenOptions::new().read(true).write(true).create(true).open(&path)?;
    /// file.set_len(4)?;
    /// let mut map = unsafe { librmap::MmapMut::map_mut(&file)? };
    /// map.copy_from_slice(b"abcd");
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub unsafe fn map_mut<T: MmapAsRawDesc>(file: T) -> Result<MmapMut> {
        // SAFETY: forwarded to the caller's contract.
        unsafe { MmapOptions::new().map_mut(file) }
    }

    /// A private, zero-filled anonymous map of `length` bytes.
    ///
    /// ```
    /// let map = librmap::MmapMut::map_anon(100)?;
    /// assert_eq!(map.len(), 100);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn map_anon(length: usize) -> Result<MmapMut> {
        MmapOptions::new().len(length).map_anon()
    }

    flush_methods!();
    secure_method!();

    /// Makes the map read-only (`mprotect`).
    ///
    /// ```
    /// let mut map = librmap::MmapMut::map_anon(4096)?;
    /// map[0] = 7;
    /// let map: librmap::Mmap = map.make_read_only()?;
    /// assert_eq!(map[0], 7);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn make_read_only(self) -> Result<Mmap> {
        // SAFETY: &self is gone (self is consumed): no writer remains.
        unsafe { self.inner.protect(READ) }?;
        Ok(Mmap { inner: self.inner })
    }

    /// Makes the map readable and executable, not writable.
    ///
    /// ```
    /// let map = librmap::MmapMut::map_anon(4096)?.make_exec()?;
    /// assert_eq!(map.query().unwrap().prot, libc::PROT_READ | libc::PROT_EXEC);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn make_exec(self) -> Result<Mmap> {
        // SAFETY: as for make_read_only.
        unsafe { self.inner.protect(READ | PROT_EXEC) }?;
        Ok(Mmap { inner: self.inner })
    }

    /// Copies `data` to `offset` through librmap's guarded copy: a page past
    /// a truncated end of the file gives `Err` with `EIO` instead of SIGBUS
    /// (nothing is written to it or after it); [`copied`] tells how many
    /// bytes arrived. A range past the end of the map is `InvalidInput`.
    ///
    /// ```
    /// let mut map = librmap::MmapMut::map_anon(4096)?;
    /// map.write_at(100, b"xyz")?;
    /// assert_eq!(&map[100..103], b"xyz");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn write_at(&mut self, offset: usize, data: &[u8]) -> Result<()> {
        self.inner.write_at(offset, data)
    }

    shared_methods!();
}

impl Deref for MmapMut {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.inner.slice()
    }
}

impl DerefMut for MmapMut {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.inner.slice_mut()
    }
}

impl AsRef<[u8]> for MmapMut {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl AsMut<[u8]> for MmapMut {
    fn as_mut(&mut self) -> &mut [u8] {
        self
    }
}

impl fmt::Debug for MmapMut {
    fn fmt(&self, fmt: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt.debug_struct("MmapMut")
            .field("ptr", &self.as_ptr())
            .field("len", &self.len())
            .finish()
    }
}

/// A memory map that hands out raw pointers only, never references: for
/// memory another process may change at any time (shared memory with an
/// untrusted peer). What the pointers read is the caller's concern, as in
/// memmap2; librmap's [`read_at`](MmapRaw::read_at) copies it safely.
///
/// ```
/// let map = librmap::MmapMut::map_anon(4096)?;
/// let raw = librmap::MmapRaw::from(map);
/// unsafe { raw.as_mut_ptr().write(7) };
/// assert_eq!((raw.len(), unsafe { raw.as_ptr().read() }), (4096, 7));
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct MmapRaw {
    inner: Inner,
}

impl MmapRaw {
    /// Maps the whole file read-write and shared; the same as
    /// `MmapOptions::new().map_raw(file)`.
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("rmap-doc-mapraw-{}", std::process::id()));
    /// std::fs::write(&path, b"xyz")?;
    /// let file = std::fs::OpenOptions::new().read(true).write(true).open(&path)?;
    /// assert_eq!(librmap::MmapRaw::map_raw(&file)?.len(), 3);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn map_raw<T: MmapAsRawDesc>(file: T) -> Result<MmapRaw> {
        MmapOptions::new().map_raw(file)
    }

    /// The first byte of the map. Reading through it after the file shrank
    /// raises SIGBUS (use [`read_at`](MmapRaw::read_at) for an error instead).
    ///
    /// ```
    /// let raw = librmap::MmapRaw::from(librmap::MmapMut::map_anon(16)?);
    /// assert!(!raw.as_ptr().is_null());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[inline]
    pub fn as_ptr(&self) -> *const u8 {
        self.inner.ptr
    }

    /// The first byte of the map, for writing (through `&self`, as in
    /// memmap2: the map hands out no references to alias).
    ///
    /// ```
    /// let raw = librmap::MmapRaw::from(librmap::MmapMut::map_anon(16)?);
    /// unsafe { raw.as_mut_ptr().add(3).write(9) };
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[inline]
    pub fn as_mut_ptr(&self) -> *mut u8 {
        self.inner.ptr
    }

    /// Its length in bytes.
    ///
    /// ```
    /// assert_eq!(librmap::MmapRaw::from(librmap::MmapMut::map_anon(10)?).len(), 10);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[inline]
    #[allow(clippy::len_without_is_empty)] // memmap2's MmapRaw has no is_empty
    pub fn len(&self) -> usize {
        self.inner.len
    }

    flush_methods!();
    shared_methods!();
    secure_method!();
}

impl fmt::Debug for MmapRaw {
    fn fmt(&self, fmt: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt.debug_struct("MmapRaw")
            .field("ptr", &self.as_ptr())
            .field("len", &self.len())
            .finish()
    }
}

impl From<Mmap> for MmapRaw {
    fn from(value: Mmap) -> MmapRaw {
        MmapRaw { inner: value.inner }
    }
}

impl From<MmapMut> for MmapRaw {
    fn from(value: MmapMut) -> MmapRaw {
        MmapRaw { inner: value.inner }
    }
}

// SAFETY: the bytes a map dereferences to stay where they are while the map
// lives, however it moves (the map holds a pointer to them); only `remap`
// moves them, and it takes `&mut self`, which no outstanding borrow allows.
#[cfg(feature = "stable_deref_trait")]
unsafe impl stable_deref_trait::StableDeref for Mmap {}
// SAFETY: as above.
#[cfg(feature = "stable_deref_trait")]
unsafe impl stable_deref_trait::StableDeref for MmapMut {}
