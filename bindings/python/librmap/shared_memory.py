"""librmap.SharedMemory: a drop-in for multiprocessing.shared_memory.SharedMemory
whose creation allocates the memory's storage first.

The standard class creates the object with shm_open and ftruncate, which
allocate nothing: when /dev/shm (a container's 64 MiB one, say) cannot hold
it, the first write past what fits kills the interpreter with SIGBUS
(CPython gh-114390). Here creation goes through rmap_shm_create, so it
raises OSError (ENOSPC or ENOMEM) and leaves no name behind; the memory is
then mapped with librmap.mmap, whose guarded accesses raise OSError(EIO)
where the standard module's would die. Names, sizes, pickling, close(),
unlink() and the resource tracker behave as the standard class's.
"""

import os

import _posixshmem
from multiprocessing import resource_tracker
from multiprocessing import shared_memory as _standard

from librmap import _rmap

__all__ = ["SharedMemory"]


class SharedMemory:
    """Creates a new shared memory block (create=True) or attaches to an
    existing one (by name), as multiprocessing.shared_memory.SharedMemory."""

    _name = None
    _fd = -1
    _mmap = None
    _buf = None
    _flags = os.O_RDWR
    _mode = 0o600
    _prepend_leading_slash = True

    def __init__(self, name=None, create=False, size=0, *, track=True):
        if not size >= 0:
            raise ValueError("'size' must be a positive integer")
        if create:
            if size == 0:
                raise ValueError("'size' must be a positive number different from zero")
        if name is None and not create:
            raise ValueError("'name' can only be None if create=True")
        self._track = track
        if create:
            while True:
                # Named as the standard class names them (its function,
                # looked up at each call, as its own tests expect).
                candidate = _standard._make_filename() if name is None else name
                if self._prepend_leading_slash and not candidate.startswith("/"):
                    candidate = "/" + candidate
                try:
                    self._fd = _rmap.shm_create(candidate, size, 0, _rmap.SHM_NAMED)
                except FileExistsError:
                    if name is not None:
                        raise
                    continue
                self._name = candidate
                break
        else:
            self._name = "/" + name if self._prepend_leading_slash and not name.startswith("/") else name
            self._fd = _posixshmem.shm_open(self._name, self._flags, mode=self._mode)
        try:
            size = os.fstat(self._fd).st_size
            self._mmap = _rmap.mmap(self._fd, size)
        except OSError:
            if create:
                _posixshmem.shm_unlink(self._name)
            self.close()
            raise
        # As the standard class: every instance that tracks registers its name.
        if track:
            resource_tracker.register(self._name, "shared_memory")
        self._size = size
        self._buf = memoryview(self._mmap)

    def __del__(self):
        try:
            self.close()
        except OSError:
            pass

    def __reduce__(self):
        return (self.__class__, (self.name, False, self.size))

    def __repr__(self):
        return f"{self.__class__.__name__}({self.name!r}, size={self.size})"

    @property
    def buf(self):
        "A memoryview of contents of the shared memory block."
        return self._buf

    @property
    def name(self):
        "Unique name that identifies the shared memory block."
        reported_name = self._name
        if self._prepend_leading_slash and self._name.startswith("/"):
            reported_name = self._name[1:]
        return reported_name

    @property
    def size(self):
        "Size in bytes."
        return self._size

    def close(self):
        """Closes access to the shared memory from this instance but does
        not destroy the shared memory block."""
        if self._buf is not None:
            self._buf.release()
            self._buf = None
        if self._mmap is not None:
            self._mmap.close()
            self._mmap = None
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def unlink(self):
        """Requests that the underlying shared memory block be destroyed."""
        if self._name:
            _posixshmem.shm_unlink(self._name)
            if self._track:
                resource_tracker.unregister(self._name, "shared_memory")

