"""The seed scenarios, the errno contract and the Python conveniences."""
import errno
import hashlib
import mmap
import os

import pytest

import rmap

PAGE = rmap.pagesize()


@pytest.fixture
def data(tmp_path):
    path = tmp_path / "data"
    path.write_bytes(bytes(97 + i % 26 for i in range(3 * PAGE)))
    return path


def test_pagesize_and_version():
    assert PAGE == mmap.PAGESIZE
    assert rmap.version().count(".") == 2


def test_shared_write_reaches_the_file_after_sync(data):
    with open(data, "r+b") as f, rmap.map(f) as m:
        m[20] = ord("9")
        m.sync()
    assert data.read_bytes()[20:21] == b"9"


def test_private_write_never_reaches_the_file(data):
    with open(data, "r+b") as f, rmap.map(f, access=rmap.COPY) as m:
        m[20:21] = b"9"
        m.sync()
        assert m[20] == ord("9")
    assert data.read_bytes()[20:21] == b"u"


def test_anonymous_shared_memory_is_seen_by_a_forked_child():
    with rmap.map(None, PAGE) as m:
        pid = os.fork()
        if pid == 0:
            m[0:5] = b"child"
            os._exit(0)
        os.waitpid(pid, 0)
        assert m[0:5] == b"child"


def test_length_zero_maps_the_whole_file(data):
    with open(data, "rb") as f, rmap.map(f, access=rmap.READ) as m:
        assert len(m) == 3 * PAGE
        assert m[-1] == 97 + (3 * PAGE - 1) % 26


def test_indexing_slicing_find(data):
    with open(data, "rb") as f, rmap.map(f, access=rmap.READ) as m:
        assert m[0] == ord("a") and m[-1] == m[len(m) - 1]
        assert m[0:3] == b"abc" and m[0:6:2] == b"ace"
        assert m.find(b"xyz") == 23 and m.find(b"xyz", 24) == 49 and m.find(b"nope") == -1
        with pytest.raises(IndexError):
            m[len(m)]
        with pytest.raises(TypeError):
            m[0] = 1


def test_buffer_protocol_is_zero_copy(data):
    with open(data, "r+b") as f, rmap.map(f) as m:
        view = m.view()
        view[0:5] = b"HELLO"
        assert m[0:5] == b"HELLO"
        assert memoryview(m).nbytes == len(m)
        assert hashlib.sha256(m).hexdigest() == hashlib.sha256(data.read_bytes()).hexdigest()
        view.release()


def test_read_only_view_is_read_only(data):
    with open(data, "rb") as f, rmap.map(f, access=rmap.READ) as m:
        view = m.view()
        assert view.readonly
        with pytest.raises(TypeError):
            view[0] = 1
        view.release()


def test_close_refuses_while_views_are_alive_and_is_idempotent():
    m = rmap.map(None, PAGE)
    view = memoryview(m)
    with pytest.raises(BufferError, match="memoryviews"):
        m.close()
    view.release()
    m.close()
    m.close()
    assert m.closed
    with pytest.raises(ValueError):
        m[0]


def test_read_raises_eio_when_the_file_was_truncated(data):
    with open(data, "r+b") as f, rmap.map(f, access=rmap.READ) as m:
        assert m.read(PAGE, 3) == m[PAGE:PAGE + 3]
        pid = os.fork()
        if pid == 0:
            os.truncate(data, PAGE)
            os._exit(0)
        os.waitpid(pid, 0)
        assert m.read(0, 10) == b"abcdefghij"
        with pytest.raises(OSError) as caught:
            m.read(0, 2 * PAGE)
        assert caught.value.errno == errno.EIO
        assert f"offset {PAGE}" in str(caught.value)


@pytest.mark.parametrize(
    "call, code",
    [
        (lambda f: rmap.map(None, 0), errno.EINVAL),
        (lambda f: rmap.map(f, PAGE, offset=1), errno.EINVAL),
        (lambda f: rmap.map(f, PAGE, offset=-PAGE), errno.EOVERFLOW),
        (lambda f: rmap.map(987654, PAGE), errno.EBADF),
        (lambda f: rmap.map(os.pipe()[0], PAGE, access=rmap.READ), errno.ENODEV),
    ],
    ids=["length_zero", "offset_misaligned", "offset_overflow", "bad_fd", "pipe"],
)
def test_errors_carry_the_errno_and_name_the_call(data, call, code):
    with open(data, "r+b") as f:
        with pytest.raises(OSError) as caught:
            call(f)
    assert caught.value.errno == code
    assert str(caught.value).startswith(f"[Errno {code}] rmap_map:")


def test_write_access_on_a_read_only_file_is_eacces(data):
    with open(data, "rb") as f:
        with pytest.raises(OSError) as caught:
            rmap.map(f, access=rmap.WRITE)
    assert caught.value.errno == errno.EACCES
