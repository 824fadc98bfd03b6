"""The fault handler stays in charge: whatever the interpreter does to
SIGBUS after rmap's first guarded copy (faulthandler, the signal module's
handlers, SIG_DFL, SIG_IGN, a blocked mask), a guarded read of a truncated
file raises OSError(EIO): never a kill, never a hang. Each case runs in a
fresh interpreter with a time limit."""
import signal
import subprocess
import sys
import textwrap

import pytest

LIMIT = 60  # seconds; a guarded read that loops in a handler would hang

PROLOGUE = """
import faulthandler, os, signal, sys, threading
import librmap as rmap
path = sys.argv[1]
with open(path, "wb") as f:
    f.write(b"x" * 8192)
f = open(path, "r+b")
m = rmap.mmap(f.fileno(), 8192)
assert m[0:4] == b"xxxx"  # the first guarded copy: librmap's handler is in place
"""

EPILOGUE = """
os.truncate(path, 0)
results = []
def read():
    try:
        m[100:200]
        results.append("no error")
    except OSError as e:
        results.append(errno_name(e.errno))
def errno_name(n):
    import errno
    return errno.errorcode[n]
read()
t = threading.Thread(target=read)
t.start()
t.join()
print(" ".join(results))
"""


def run(tmp_path, setup):
    script = PROLOGUE + textwrap.dedent(setup) + EPILOGUE
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "data")], capture_output=True, text=True,
                          timeout=LIMIT)
    return done.returncode, done.stdout.strip(), done.stderr


CASES = {
    "faulthandler.enable()": "faulthandler.enable()",
    "a Python SIGBUS handler": "signal.signal(signal.SIGBUS, lambda *args: print('handler ran'))",
    "SIG_DFL": "signal.signal(signal.SIGBUS, signal.SIG_DFL)",
    "SIG_IGN": "signal.signal(signal.SIGBUS, signal.SIG_IGN)",
    "SIGBUS blocked": "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGBUS})",
    "faulthandler, then SIG_DFL and a blocked mask": """
        faulthandler.enable()
        signal.signal(signal.SIGBUS, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGBUS, signal.SIGSEGV})
    """,
}


@pytest.mark.parametrize("change", CASES, ids=list(CASES))
def test_guarded_read_after_the_interpreter_changed_sigbus_raises_eio(tmp_path, change):
    status, out, err = run(tmp_path, CASES[change])
    assert (status, out) == (0, "EIO EIO"), err  # main thread, then a new thread


def test_python_sigbus_handler_still_gets_a_sent_sigbus(tmp_path):
    """Faults that are not guarded copies keep the program's own action:
    a SIGBUS sent with kill() reaches the Python handler set after the
    first copy."""
    status, out, err = run(tmp_path, """
        signal.signal(signal.SIGBUS, lambda *args: print("python handler ran"))
        os.kill(os.getpid(), signal.SIGBUS)
    """)
    assert status == 0 and out.splitlines() == ["python handler ran", "EIO EIO"], err


def test_faulthandler_still_reports_a_plain_fault(tmp_path):
    """faulthandler enabled after the first copy still dumps the traceback
    of a fault that is no guarded copy, and the interpreter still dies of
    it, as without rmap."""
    script = PROLOGUE + textwrap.dedent("""
        import ctypes
        faulthandler.enable()
        os.truncate(path, 0)
        address = ctypes.addressof(ctypes.c_char.from_buffer(m))
        ctypes.string_at(address + 100, 1)
    """)
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "data")], capture_output=True, text=True,
                          timeout=LIMIT)
    assert done.returncode == -signal.SIGBUS and "Fatal Python error: Bus error" in done.stderr


def test_pytest_with_a_conftest_that_copies_at_import(tmp_path):
    """pytest enables faulthandler at start-up; a conftest.py that makes a
    guarded copy at import time comes first. Truncation tests still get
    OSError(EIO)."""
    (tmp_path / "conftest.py").write_text(textwrap.dedent("""
        import librmap as rmap
        m = rmap.mmap(-1, 4096)
        m[0:1]
    """))
    (tmp_path / "test_truncated.py").write_text(textwrap.dedent("""
        import errno, os, pytest
        import librmap as rmap
        def test_truncated(tmp_path):
            path = tmp_path / "data"
            path.write_bytes(b"x" * 8192)
            with open(path, "r+b") as f:
                m = rmap.mmap(f.fileno(), 8192)
                os.truncate(path, 0)
                with pytest.raises(OSError) as caught:
                    m[5000:5010]
                assert caught.value.errno == errno.EIO
    """))
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                          capture_output=True, text=True, timeout=LIMIT, cwd=tmp_path)
    assert done.returncode == 0 and "1 passed" in done.stdout, done.stdout + done.stderr

