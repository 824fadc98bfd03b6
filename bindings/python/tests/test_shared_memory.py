"""librmap.SharedMemory against multiprocessing.shared_memory.SharedMemory:
the same names, sizes, buffers, pickling and cleanup; on a /dev/shm too
small, creation raises OSError (ENOSPC or ENOMEM) and leaves no name, where
the standard class's creation succeeds and the first write past what fits
kills the interpreter with SIGBUS.

The small-/dev/shm cases run a child interpreter in a private mount
namespace with a 64 KiB tmpfs over /dev/shm (root only: elsewhere they are
skipped, and say why)."""
import os
import re
import pickle
import shutil
import signal
import subprocess
import sys
import textwrap
from multiprocessing import shared_memory

import pytest

import librmap


def test_create_attach_close_unlink_as_the_standard_class():
    for cls in (librmap.SharedMemory, shared_memory.SharedMemory):
        created = cls(create=True, size=10000)
        try:
            assert created.size >= 10000 and len(created.buf) == created.size
            assert not created.name.startswith("/") and repr(created).startswith(cls.__name__)
            created.buf[:5] = b"hello"
            attached = cls(created.name)
            assert bytes(attached.buf[:5]) == b"hello" and attached.size == created.size
            again = pickle.loads(pickle.dumps(created))
            assert again.name == created.name and bytes(again.buf[:5]) == b"hello"
            again.close()
            attached.close()
            with pytest.raises(FileExistsError):
                cls(created.name, create=True, size=100)
            with pytest.raises(ValueError):
                cls(create=True, size=0)
            with pytest.raises(ValueError):
                cls(None)
        finally:
            created.close()
            created.unlink()
        with pytest.raises(FileNotFoundError):
            cls(created.name)


def test_its_memory_is_guarded():
    memory = librmap.SharedMemory(create=True, size=4096)
    try:
        assert memory._mmap.query()["flags"] & librmap.MAP_SHARED
    finally:
        memory.close()
        memory.unlink()


needs_a_small_dev_shm = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None,
    reason="mounting a 64 KiB tmpfs over /dev/shm needs root and unshare(1)")


def with_a_small_dev_shm(tmp_path, code):
    script = tmp_path / "case.py"
    script.write_text(textwrap.dedent(code))
    return subprocess.run(
        ["unshare", "--mount", "sh", "-c",
         "mount --make-rprivate / && mount -t tmpfs -o size=64k none /dev/shm && exec \"$@\"", "sh",
         sys.executable, str(script)],
        capture_output=True, text=True, timeout=120)


@needs_a_small_dev_shm
def test_creation_on_a_full_dev_shm_raises(tmp_path):
    done = with_a_small_dev_shm(tmp_path, """
        import errno, os
        import librmap
        told = 0
        for _ in range(100):
            try:
                librmap.SharedMemory(create=True, size=1 << 20)
            except OSError as e:
                told += e.errno in (errno.ENOSPC, errno.ENOMEM)
        print(f"{told} of 100 creations raised ENOSPC or ENOMEM; names left: {len(os.listdir('/dev/shm'))}")
        """)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "100 of 100 creations raised ENOSPC or ENOMEM; names left: 0" in done.stdout


@needs_a_small_dev_shm
def test_the_standard_class_dies_of_sigbus_there(tmp_path):
    done = with_a_small_dev_shm(tmp_path, """
        from multiprocessing import shared_memory
        memory = shared_memory.SharedMemory(create=True, size=1 << 20)
        print("created", flush=True)
        memory.buf[:] = b"x" * memory.size
        print("not reached")
        """)
    assert "created" in done.stdout
    assert done.returncode == -signal.SIGBUS, (done.returncode, done.stdout, done.stderr)


def test_cpython_own_shared_memory_tests(tmp_path):
    """The interpreter's own tests of SharedMemory (and ShareableList and
    SharedMemoryManager, which build on it) pass with librmap's class in
    place of the standard one, as many as with the standard one."""
    suite = os.path.join(os.path.dirname(__file__), "shared_memory_suite.py")
    counts, outputs = {}, {}
    for mode in ("--librmap", "--standard"):
        done = subprocess.run([sys.executable, suite, mode], capture_output=True, text=True, timeout=300,
                              cwd=tmp_path)
        outputs[mode] = done.stdout[-3000:] + done.stderr[-3000:]
        line = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
        found = re.match(r"shared memory suite: (\d+) run, (\d+) skipped, (\d+) failures, (\d+) errors; "
                         r"librmap.SharedMemory made (\d+) times", line)
        assert found, outputs[mode]
        counts[mode] = tuple(map(int, found.groups()))
    ours, standard = counts["--librmap"], counts["--standard"]
    print(f"CPython's SharedMemory tests against librmap.SharedMemory: {ours[0]} run, {ours[1]} skipped, "
          f"{ours[2]} failures, {ours[3]} errors (the standard class: {standard[0]} run, {standard[1]} skipped, "
          f"{standard[2]} failures, {standard[3]} errors)")
    assert ours[2:4] == (0, 0), outputs["--librmap"]
    assert standard[2:4] == (0, 0), outputs["--standard"]
    assert ours[:2] == standard[:2] and ours[4] > 0 and standard[4] == 0

