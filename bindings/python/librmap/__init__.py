"""librmap for Python: a drop-in for the standard mmap module.

    import librmap as mmap

    with open("data", "r+b") as f, mmap.mmap(f.fileno(), 0) as m:
        m[0:5] = b"hello"
        m.flush()

librmap.mmap has the standard mmap.mmap's constructor, methods, constants and
exceptions (CPython's own test.test_mmap passes against it). What differs:

- Every access that is not a raw buffer (indexing, slicing, read, readline,
  find, rfind, write, write_byte, slice assignment, move) raises
  OSError(EIO) when the file was truncated under the mapping (and
  OSError(EFAULT) for a page it may not touch) instead of killing the
  interpreter with SIGBUS. Raw buffers (memoryview, numpy) read and write
  the memory directly: the one unguarded path, as with the standard module.
- librmap's extras: mmap.protect(), lock(), unlock(), resident(), query(),
  flush(..., asynchronous=True); librmap.stats(), librmap.mappings(),
  librmap.set_check(), librmap.version(), librmap.shm_create(), and
  librmap.SharedMemory (multiprocessing.shared_memory's, its storage
  allocated at creation: OSError(ENOSPC) instead of a later SIGBUS).

The extension calls the librmap.so.0 bundled in this package.
"""

from librmap import _rmap
from librmap._rmap import *  # noqa: F401,F403 (the module's whole API)
from librmap.shared_memory import SharedMemory

__all__ = sorted([name for name in dir(_rmap) if not name.startswith("_")] + ["SharedMemory"])
