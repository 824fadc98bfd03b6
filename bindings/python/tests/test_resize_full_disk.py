"""resize() of a file mapping secures the new blocks first (rmap_secure): on
a full disk it raises OSError(ENOSPC) and leaves the mapping and the file
as they were, where the standard module's resize() succeeds with a hole
and a later write into it kills the interpreter with SIGBUS.

Each case runs a child interpreter in a private mount namespace with a
1 MiB tmpfs of its own (root only: elsewhere the cases are skipped, and
say why)."""
import os
import shutil
import signal
import subprocess
import sys
import textwrap

import pytest

import librmap as rmap

needs_a_small_disk = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None,
    reason="mounting a 1 MiB tmpfs of the test's own needs root and unshare(1)")


def on_a_small_disk(tmp_path, code):
    """Runs `code` in a child interpreter with DIR, a 1 MiB tmpfs of its own."""
    folder = tmp_path / "small"
    folder.mkdir()
    script = tmp_path / "case.py"
    script.write_text(textwrap.dedent(code))
    return subprocess.run(
        ["unshare", "--mount", "sh", "-c", 'mount -t tmpfs -o size=1m none "$1" && shift && exec "$@"', "sh",
         str(folder), sys.executable, str(script), str(folder)],
        capture_output=True, text=True, timeout=120)


@needs_a_small_disk
def test_resize_until_the_disk_is_full_raises_enospc(tmp_path):
    done = on_a_small_disk(tmp_path, """
        import errno, os, sys
        import librmap as rmap
        page = rmap.PAGESIZE
        told = 0
        for run in range(100):
            path = os.path.join(sys.argv[1], "grows")
            with open(path, "w+b") as f:
                f.write(b"x" * page)
                f.flush()
                m = rmap.mmap(f.fileno(), page)
                step = page * (1 + run % 7)
                try:
                    while True:
                        m.resize(len(m) + step)
                        m[len(m) - step:] = b"y" * step     # every byte resize() gave: never a SIGBUS
                except OSError as e:
                    assert e.errno == errno.ENOSPC, e
                    size = len(m)
                    assert os.fstat(f.fileno()).st_size == size, "the file as the mapping says"
                    assert m[size - 1:] == (b"y" if size > page else b"x"), "the mapping intact"
                    told += 1
                m.close()
            os.unlink(path)
        print(f"{told} of 100 runs: resize() raised ENOSPC on the full disk")
        """)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "100 of 100 runs: resize() raised ENOSPC" in done.stdout


@needs_a_small_disk
def test_the_standard_module_dies_of_sigbus_there(tmp_path):
    """What resize() prevents: the standard module's resize() on the full
    disk succeeds (a hole), and the write into it kills the interpreter."""
    done = on_a_small_disk(tmp_path, """
        import mmap, os, sys
        page = mmap.PAGESIZE
        filler = os.open(os.path.join(sys.argv[1], "filler"), os.O_WRONLY | os.O_CREAT)
        try:
            while True:
                os.write(filler, b"f" * page)
        except OSError:
            pass
        with open(os.path.join(sys.argv[1], "grows"), "w+b") as f:
            f.truncate(page)
            m = mmap.mmap(f.fileno(), page)
            m.resize(64 * page)
            print("resize() succeeded", flush=True)
            m[:] = b"y" * len(m)
        print("not reached")
        """)
    assert "resize() succeeded" in done.stdout
    assert done.returncode == -signal.SIGBUS, (done.returncode, done.stdout, done.stderr)


def test_resize_grows_the_file_as_the_standard_module_does(tmp_path):
    """Off a full disk, resize() grows (and shrinks) file and mapping as the
    standard module does, a file longer than the mapping included."""
    page = rmap.PAGESIZE
    for grow_to, file_size in [(3 * page, page), (3 * page + 17, page), (2 * page, 5 * page)]:
        sizes = []
        for module in (rmap, __import__("mmap")):
            path = tmp_path / f"f-{module.__name__}"
            path.write_bytes(b"a" * file_size)
            with open(path, "r+b") as f:
                m = module.mmap(f.fileno(), page)
                m.resize(grow_to)
                m[grow_to - 1:] = b"z"
                sizes.append((len(m), os.fstat(f.fileno()).st_size, bytes(m[:page])))
                m.resize(page)
                sizes.append((len(m), os.fstat(f.fileno()).st_size))
                m.close()
        assert sizes[:2] == sizes[2:], (grow_to, file_size, sizes)
