"""librmap for Python: memory mappings with errno you can rely on, and reads
that raise OSError(EIO) instead of killing the process with SIGBUS.

    import rmap
    with open("data", "r+b") as f, rmap.map(f) as m:
        m[0:5] = b"hello"
        m.sync()

Pure Python over ctypes. The library is found through $RMAP_LIBRARY, else the
copy bundled into this package when it was built, else the system's librmap.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import os
from pathlib import Path
from typing import BinaryIO, Optional, Union

__all__ = ["READ", "WRITE", "COPY", "Mapping", "map", "pagesize", "version"]

READ = 1
"""Shared, read-only."""
WRITE = 2
"""Shared, read-write: writes reach the file."""
COPY = 3
"""Private, read-write: writes are copy-on-write and never reach the file."""

_PROT_READ, _PROT_WRITE = 0x1, 0x2
_MAP_SHARED, _MAP_PRIVATE, _MAP_FIXED, _MAP_ANONYMOUS, _MAP_NORESERVE = 0x01, 0x02, 0x10, 0x20, 0x4000
_MS_ASYNC, _MS_SYNC = 1, 4
_FAILED = ctypes.c_void_p(-1).value


def _load() -> ctypes.CDLL:
    bundled = sorted(Path(__file__).parent.glob("librmap.so*"))
    candidates = [os.environ.get("RMAP_LIBRARY"), *(str(p) for p in bundled), ctypes.util.find_library("rmap")]
    for candidate in candidates:
        if candidate:
            return ctypes.CDLL(candidate, use_errno=True)
    raise ImportError("librmap not found: set RMAP_LIBRARY, or install librmap (make install)")


_lib = _load()
_lib.rmap_map.restype = ctypes.c_void_p
_lib.rmap_map.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int64]
_lib.rmap_sync.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
_lib.rmap_unmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_lib.rmap_pagesize.restype = ctypes.c_size_t
_lib.rmap_version.restype = ctypes.c_char_p
_HAS_READ = hasattr(_lib, "rmap_read")
if _HAS_READ:
    _lib.rmap_read.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]
    _lib.rmap_copied.restype = ctypes.c_size_t


def _error(call: str) -> OSError:
    code = ctypes.get_errno()
    return OSError(code, f"{call}: {os.strerror(code)}")


def pagesize() -> int:
    """The system page size in bytes."""
    return _lib.rmap_pagesize()


def version() -> str:
    """The version of the loaded librmap."""
    return _lib.rmap_version().decode()


class Mapping:
    """A memory mapping. Supports len(), indexing and slicing (to bytes),
    slice assignment, the buffer protocol (memoryview(m), zero-copy),
    find(), read(), sync() and close(); a context manager.

    Instances are made by rmap.map(), never directly.
    """

    _addr: int
    _length: int
    _writable: bool
    _closed: bool

    def __len__(self) -> int:
        self._check_open()
        return self._length

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{self._length} bytes at {self._addr:#x}"
        return f"<rmap.Mapping {state}>"

    def __enter__(self) -> "Mapping":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __getitem__(self, key: Union[int, slice]) -> Union[int, bytes]:
        self._check_open()
        if isinstance(key, slice):
            start, stop, step = key.indices(self._length)
            if step != 1:
                return bytes(self.view()[key])
            return ctypes.string_at(self._addr + start, max(0, stop - start))
        index = key + self._length if key < 0 else key
        if not 0 <= index < self._length:
            raise IndexError("mapping index out of range")
        return ctypes.c_ubyte.from_address(self._addr + index).value

    def __setitem__(self, key: Union[int, slice], value) -> None:
        self._check_open()
        if not self._writable:
            raise TypeError("mapping is read-only (access=READ)")
        if isinstance(key, slice):
            self.view()[key] = value
        else:
            index = key + self._length if key < 0 else key
            if not 0 <= index < self._length:
                raise IndexError("mapping index out of range")
            ctypes.c_ubyte.from_address(self._addr + index).value = value

    def view(self) -> memoryview:
        """A zero-copy memoryview of unsigned bytes, read-only for access=READ."""
        self._check_open()
        view = memoryview(self).cast("B")
        return view if self._writable else view.toreadonly()

    def find(self, sub: bytes, start: int = 0, end: Optional[int] = None) -> int:
        """The lowest index of sub in [start, end), or -1."""
        start, end, _ = slice(start, end).indices(len(self))
        found = self[start:end].find(sub)
        return found + start if found >= 0 else -1

    def read(self, offset: int = 0, n: Optional[int] = None) -> bytes:
        """n bytes from offset. Raises OSError(EIO) when the file was truncated
        under the mapping (and EFAULT for an inaccessible page) instead of
        crashing the process: the copy goes through rmap_read."""
        self._check_open()
        n = self._length - offset if n is None else n
        if offset < 0 or n < 0 or offset + n > self._length:
            raise ValueError("range outside the mapping")
        if not _HAS_READ:
            return ctypes.string_at(self._addr + offset, n)
        buf = ctypes.create_string_buffer(n)
        if _lib.rmap_read(buf, self._addr + offset, n) != 0:
            code = ctypes.get_errno()
            raise OSError(code, f"rmap_read: {os.strerror(code)} at offset {offset + _lib.rmap_copied()}")
        return buf.raw

    def sync(self, offset: int = 0, length: Optional[int] = None, *, asynchronous: bool = False) -> None:
        """Writes [offset, offset + length) back to the file (rounded out to pages)."""
        self._check_open()
        length = self._length - offset if length is None else length
        start = offset - offset % pagesize()
        flags = _MS_ASYNC if asynchronous else _MS_SYNC
        if _lib.rmap_sync(self._addr + start, length + offset - start, flags) != 0:
            raise _error("rmap_sync")

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Releases the mapping. Idempotent. Raises BufferError while views
        (memoryviews) of it are alive."""
        if self._closed:
            return
        if any(type(r).__name__ == "managedbuffer" for r in gc.get_referrers(self)):
            raise BufferError("cannot close a mapping while memoryviews of it exist: release them first")
        # Replace the file's pages with inaccessible-but-harmless anonymous
        # memory: a memoryview made after close() must not crash. The address
        # range itself goes back to the system when the object is collected.
        flags = _MAP_PRIVATE | _MAP_ANONYMOUS | _MAP_FIXED | _MAP_NORESERVE
        if _lib.rmap_map(self._addr, self._length, _PROT_READ | _PROT_WRITE, flags, -1, 0) in (None, _FAILED):
            raise _error("rmap_map")
        self._closed = True

    def __del__(self) -> None:
        addr = getattr(self, "_addr", None)
        if addr:
            _lib.rmap_unmap(addr, self._length)
            self._addr = 0

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError("mapping is closed")


@functools.lru_cache(maxsize=None)
def _mapping_class(length: int) -> type:
    # Python before 3.12 cannot give a class the buffer protocol, but a
    # ctypes array has it: each length gets a Mapping subclass of one.
    return type("Mapping", (Mapping, ctypes.c_ubyte * length), {"__module__": __name__})


def map(
    file_or_fd: Union[None, int, BinaryIO] = None,
    length: int = 0,
    offset: int = 0,
    *,
    access: int = WRITE,
    shared: bool = True,
) -> Mapping:
    """Maps a file (an object with fileno(), or a descriptor) or, with
    file_or_fd=None, anonymous memory of `length` bytes.

    length=0 maps the file from offset to its end. access is READ, WRITE or
    COPY; shared=False makes a WRITE mapping private (the same as COPY).
    Failures raise OSError with the errno of rmap_map(3).
    """
    if access not in (READ, WRITE, COPY):
        raise ValueError("access must be rmap.READ, rmap.WRITE or rmap.COPY")
    prot = _PROT_READ if access == READ else _PROT_READ | _PROT_WRITE
    flags = _MAP_SHARED if shared and access != COPY else _MAP_PRIVATE
    if file_or_fd is None:
        fd = -1
        flags |= _MAP_ANONYMOUS
    else:
        fd = file_or_fd if isinstance(file_or_fd, int) else file_or_fd.fileno()
        if length == 0:
            try:
                length = max(0, os.fstat(fd).st_size - offset)
            except OSError as err:
                raise OSError(err.errno, f"rmap_map: {os.strerror(err.errno)}") from None
    addr = _lib.rmap_map(None, length, prot, flags, fd, offset)
    if addr in (None, _FAILED):
        raise _error("rmap_map")
    mapping = _mapping_class(length).from_address(addr)
    mapping._addr, mapping._length = addr, length
    mapping._writable, mapping._closed = access != READ, False
    return mapping
