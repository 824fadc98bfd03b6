"""rmap.mmap(..., tolerant=True): buffer consumers of a mapping whose file
another process truncated read zeros instead of killing the interpreter,
and flush() raises OSError(EIO) afterwards. Without it, the standard
module's behaviour: a raw buffer read of a lost page dies of SIGBUS."""
import errno
import hashlib
import os
import re
import signal
import subprocess
import sys
import textwrap

import numpy
import pytest

import librmap as rmap

PAGE = rmap.PAGESIZE
SIZE = 8 * PAGE


@pytest.fixture
def truncated(tmp_path):
    """A tolerant mapping of an 8-page file, which is then cut to 1 page."""
    path = tmp_path / "data"
    path.write_bytes(b"abc" * (SIZE // 3) + b"a" * (SIZE % 3))
    with open(path, "r+b") as f:
        m = rmap.mmap(f.fileno(), SIZE, tolerant=True)
    os.truncate(path, PAGE)
    yield m
    m.close()


def test_regular_expressions_survive(truncated):
    assert len(re.findall(rb"abc", truncated)) == PAGE // 3
    assert [match.start() for match in re.finditer(rb"abc", truncated)][-1] < PAGE


def test_numpy_bytes_memoryview_and_hashlib_survive(truncated):
    array = numpy.frombuffer(truncated, dtype=numpy.uint8)
    assert int(array[PAGE:].sum()) == 0 and int(array[:3].sum()) == sum(b"abc")
    whole = bytes(truncated)
    assert whole[:3] == b"abc" and whole[PAGE:] == bytes(SIZE - PAGE)
    view = memoryview(truncated)
    assert view[5 * PAGE] == 0
    view.release()
    assert hashlib.sha256(truncated).digest() == hashlib.sha256(whole).digest()


def test_flush_raises_eio_after_a_loss(truncated):
    truncated.flush()  # nothing lost yet: the pages were never touched
    bytes(truncated)
    for _ in range(2):  # every time, not once
        with pytest.raises(OSError) as caught:
            truncated.flush()
        assert caught.value.errno == errno.EIO


def test_losses_and_query_tell_what_was_lost(truncated):
    assert truncated.losses() == [] and truncated.query()["tolerant"] and not truncated.query()["damaged"]
    truncated[3 * PAGE]
    truncated[6 * PAGE + 7]
    assert truncated.losses() == [3 * PAGE, 6 * PAGE]
    assert truncated.query()["damaged"]


def test_writes_to_a_lost_page_stay_in_memory_and_the_rest_is_shared(truncated, tmp_path):
    truncated[PAGE + 5] = 7
    assert truncated[PAGE + 5] == 7 and truncated[PAGE] == 0
    truncated[0] = ord("Z")
    assert (tmp_path / "data").read_bytes()[:1] == b"Z"
    assert (tmp_path / "data").stat().st_size == PAGE


def test_a_resized_tolerant_mapping_stays_tolerant(tmp_path):
    path = tmp_path / "data"
    path.write_bytes(b"x" * SIZE)
    with open(path, "r+b") as f:
        m = rmap.mmap(f.fileno(), 2 * PAGE, tolerant=True)
        m.resize(SIZE)  # grows the file and the mapping
    os.truncate(path, 0)
    assert m[SIZE - 1] == 0 and m[0] == 0 and m.losses() == [0, 7 * PAGE]


def test_not_tolerant_by_default(tmp_path):
    path = tmp_path / "data"
    path.write_bytes(b"x" * SIZE)
    with open(path, "r+b") as f:
        m = rmap.mmap(f.fileno(), SIZE)
    assert not m.query()["tolerant"]
    m.close()


def test_an_untolerated_buffer_read_still_dies(tmp_path):
    """Without tolerant=True a raw buffer read of a lost page dies of SIGBUS,
    as with the standard module (guarded accesses raise instead)."""
    script = textwrap.dedent("""
        import hashlib, os, sys
        import librmap as rmap
        path = sys.argv[1]
        with open(path, "wb") as f:
            f.write(b"x" * 32768)
        with open(path, "r+b") as f:
            m = rmap.mmap(f.fileno(), 32768)
        os.truncate(path, 0)
        try:
            m[100]
        except OSError as e:
            print("guarded:", e.errno, flush=True)
        hashlib.sha256(m).digest()
    """)
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "data")], capture_output=True, text=True,
                          timeout=60)
    assert done.stdout == f"guarded: {errno.EIO}\n" and done.returncode == -signal.SIGBUS, done.stderr
