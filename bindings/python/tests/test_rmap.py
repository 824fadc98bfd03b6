"""rmap against the standard mmap module: the same answers and the same
exceptions for the same calls, OSError(EIO) where the standard module would
kill the interpreter, and librmap's extras."""
import copy
import ctypes
import errno
import mmap
import os
import pickle
import random
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy
import pytest

import librmap as rmap

PAGE = mmap.PAGESIZE


@pytest.fixture
def data(tmp_path):
    path = tmp_path / "data"
    path.write_bytes(bytes(97 + i % 26 for i in range(3 * PAGE)) + b"\nlast line")
    return path


def outcome(call):
    """What a call did: ("ok", its value) or (exception type name, message).
    The class is librmap.mmap rather than mmap.mmap, the one difference in
    the messages that name it."""
    try:
        return ("ok", call())
    except Exception as error:  # noqa: BLE001 - comparing whatever is raised
        return (type(error).__name__, str(error).replace("'librmap.mmap'", "'mmap.mmap'"))


def both(data, body):
    """body(module, file) for the standard module and rmap, in turn, each
    with its own fresh copy of the file."""
    results = []
    original = data.read_bytes()
    for module in (mmap, rmap):
        data.write_bytes(original)
        with open(data, "r+b") as f:
            results.append(outcome(lambda: body(module, f)))
    return results


def mapped(module, f, **kwargs):
    return module.mmap(f.fileno(), kwargs.pop("length", 0), **kwargs)


def with_export(module, f, action):
    m = mapped(module, f)
    view = memoryview(m)
    try:
        return action(m)
    finally:
        view.release()


def closed(module, f):
    m = mapped(module, f)
    m.close()
    return m


def index_closing(m):
    class Closing:
        def __index__(self):
            m.close()
            return 10

    return Closing()


def sequence_get(m, i):
    """PySequence_GetItem: the C API's sq_item, which Python code reaches only by iterating."""
    get = ctypes.pythonapi.PySequence_GetItem
    get.argtypes, get.restype = [ctypes.py_object, ctypes.c_ssize_t], ctypes.py_object
    return get(m, i)


def sequence_set(m, i, value):
    """PySequence_SetItem (sq_ass_item), as C extensions call it."""
    put = ctypes.pythonapi.PySequence_SetItem
    put.argtypes, put.restype = [ctypes.py_object, ctypes.c_ssize_t, ctypes.py_object], ctypes.c_int
    return put(m, i, value)


# Each misuse the standard module answers with an exception (or a value):
# rmap must answer the same, down to the message.
MISUSE = {
    "length_past_eof": lambda mod, f: mapped(mod, f, length=4 * PAGE),
    "offset_past_eof": lambda mod, f: mapped(mod, f, offset=4 * PAGE),
    "negative_length": lambda mod, f: mod.mmap(f.fileno(), -1),
    "negative_offset": lambda mod, f: mapped(mod, f, offset=-PAGE),
    "misaligned_offset": lambda mod, f: mapped(mod, f, offset=1),
    "access_and_prot": lambda mod, f: mapped(mod, f, access=mod.ACCESS_READ, prot=mod.PROT_READ),
    "invalid_access": lambda mod, f: mapped(mod, f, access=4),
    "bad_fd": lambda mod, f: mod.mmap(-2, PAGE),
    "anonymous_length_zero": lambda mod, f: mod.mmap(-1, 0),
    "item_300": lambda mod, f: mapped(mod, f).__setitem__(0, 300),
    "item_minus_1": lambda mod, f: mapped(mod, f).__setitem__(1, -1),
    "item_str": lambda mod, f: mapped(mod, f).__setitem__(1, "a"),
    "item_bytes": lambda mod, f: mapped(mod, f).__setitem__(1, b"a"),
    "index_past_end": lambda mod, f: mapped(mod, f)[3 * PAGE + 10],
    "index_str": lambda mod, f: mapped(mod, f)["a"],
    "set_index_past_end": lambda mod, f: mapped(mod, f).__setitem__(-4 * PAGE, 1),
    "item_deletion": lambda mod, f: mapped(mod, f).__delitem__(0),
    "slice_deletion": lambda mod, f: mapped(mod, f).__delitem__(slice(0, 2)),
    "slice_wrong_size": lambda mod, f: mapped(mod, f).__setitem__(slice(0, 2), b"abc"),
    "slice_not_bytes": lambda mod, f: mapped(mod, f).__setitem__(slice(0, 2), "ab"),
    "write_read_only": lambda mod, f: mapped(mod, f, access=mod.ACCESS_READ).write(b"x"),
    "write_byte_read_only": lambda mod, f: mapped(mod, f, access=mod.ACCESS_READ).write_byte(1),
    "item_read_only": lambda mod, f: mapped(mod, f, access=mod.ACCESS_READ).__setitem__(0, 1),
    "slice_read_only": lambda mod, f: mapped(mod, f, access=mod.ACCESS_READ).__setitem__(slice(0, 1), b"x"),
    "move_read_only": lambda mod, f: mapped(mod, f, access=mod.ACCESS_READ).move(0, 1, 1),
    "write_prot_read": lambda mod, f: mapped(mod, f, prot=mod.PROT_READ).write(b"x"),
    "resize_read_only": lambda mod, f: mapped(mod, f, access=mod.ACCESS_READ).resize(PAGE),
    "resize_copy": lambda mod, f: mapped(mod, f, access=mod.ACCESS_COPY).resize(PAGE),
    "resize_negative": lambda mod, f: mapped(mod, f).resize(-1),
    "seek_negative": lambda mod, f: mapped(mod, f).seek(-1),
    "seek_past_end": lambda mod, f: mapped(mod, f).seek(1, 2),
    "seek_whence": lambda mod, f: mapped(mod, f).seek(0, 3),
    "read_byte_at_end": lambda mod, f: (lambda m: (m.seek(0, 2), m.read_byte()))(mapped(mod, f)),
    "write_byte_at_end": lambda mod, f: (lambda m: (m.seek(0, 2), m.write_byte(1)))(mapped(mod, f)),
    "write_byte_300": lambda mod, f: mapped(mod, f).write_byte(300),
    "write_past_end": lambda mod, f: (lambda m: (m.seek(-2, 2), m.write(b"abc")))(mapped(mod, f)),
    "read_str": lambda mod, f: mapped(mod, f).read("foo"),
    "read_float": lambda mod, f: mapped(mod, f).read(5.5),
    "find_str": lambda mod, f: mapped(mod, f).find("a"),
    "move_out_of_range": lambda mod, f: mapped(mod, f).move(0, 1, 3 * PAGE + 10),
    "move_negative": lambda mod, f: mapped(mod, f).move(-1, 0, 1),
    "flush_out_of_range": lambda mod, f: mapped(mod, f).flush(0, 4 * PAGE),
    "flush_misaligned": lambda mod, f: mapped(mod, f).flush(1, 6),
    "madvise_start": lambda mod, f: mapped(mod, f).madvise(mod.MADV_NORMAL, 4 * PAGE),
    "madvise_length": lambda mod, f: mapped(mod, f).madvise(mod.MADV_NORMAL, 0, -1),
    "madvise_too_large": lambda mod, f: mapped(mod, f).madvise(mod.MADV_NORMAL, PAGE, sys.maxsize),
    "madvise_misaligned": lambda mod, f: mapped(mod, f).madvise(mod.MADV_NORMAL, 1),
    # Issue 38: argument errors the fuzzer found, each by name.
    "madvise_none_length": lambda mod, f: mapped(mod, f).madvise(mod.MADV_NORMAL, 0, None),
    "madvise_no_option": lambda mod, f: mapped(mod, f).madvise(),
    "madvise_too_many": lambda mod, f: mapped(mod, f).madvise(mod.MADV_NORMAL, 0, PAGE, 1),
    "flush_keyword_offset": lambda mod, f: mapped(mod, f).flush(offset=0),
    "flush_keyword_size": lambda mod, f: mapped(mod, f).flush(size=PAGE),
    "flush_too_many": lambda mod, f: mapped(mod, f).flush(0, PAGE, 1),
    "flush_closed_keyword": lambda mod, f: closed(mod, f).flush(offset=0),
    "flush_none": lambda mod, f: mapped(mod, f).flush(None),
    "constructor_too_many": lambda mod, f: mod.mmap(f.fileno(), 0, mod.MAP_SHARED, mod.PROT_READ, 0, 0, 0, 0),
    "constructor_unknown_keyword": lambda mod, f: mod.mmap(f.fileno(), 0, colour=1),
    "constructor_no_length": lambda mod, f: mod.mmap(f.fileno()),
    "constructor_offset_too_large": lambda mod, f: mod.mmap(f.fileno(), 0, offset=2**63),
    "constructor_offset_negative": lambda mod, f: mod.mmap(f.fileno(), 0, offset=-PAGE),
    "closed_len": lambda mod, f: len(closed(mod, f)),
    "closed_index": lambda mod, f: closed(mod, f)[0],
    "closed_read": lambda mod, f: closed(mod, f).read(1),
    "closed_write": lambda mod, f: closed(mod, f).write(b"x"),
    "closed_buffer": lambda mod, f: memoryview(closed(mod, f)),
    "closed_enter": lambda mod, f: closed(mod, f).__enter__(),
    "closed_by_index_read": lambda mod, f: (lambda m: m.read(index_closing(m)))(mapped(mod, f)),
    "closed_by_index_slice": lambda mod, f: (lambda m: m[index_closing(m) : 20])(mapped(mod, f)),
    "closed_by_index_assign": lambda mod, f: (lambda m: m.__setitem__(slice(index_closing(m), 20), b"1" * 10))(
        mapped(mod, f)
    ),
    "closed_by_index_move": lambda mod, f: (lambda m: m.move(1, 2, index_closing(m)))(mapped(mod, f)),
    "close_with_export": lambda mod, f: with_export(mod, f, lambda m: m.close()),
    "resize_with_export": lambda mod, f: with_export(mod, f, lambda m: m.resize(PAGE)),
    "copy": lambda mod, f: copy.copy(mapped(mod, f)),
    "deepcopy": lambda mod, f: copy.deepcopy(mapped(mod, f)),
    "pickle": lambda mod, f: pickle.dumps(mapped(mod, f)),
    "concat": lambda mod, f: mapped(mod, f) + mapped(mod, f),
    "repeat": lambda mod, f: mapped(mod, f) * 2,
    "read_only_buffer_write": lambda mod, f: memoryview(mapped(mod, f, access=mod.ACCESS_READ)).__setitem__(0, 1),
    "read_only_buffer_writable": lambda mod, f: memoryview(mapped(mod, f, access=mod.ACCESS_READ)).readonly,
    "numpy_read_only": lambda mod, f: numpy.frombuffer(mapped(mod, f, access=mod.ACCESS_READ), numpy.uint8)
    .__setitem__(0, 1),
    "sequence_set_int": lambda mod, f: sequence_set(mapped(mod, f), 0, 1),
    "sequence_set_two_bytes": lambda mod, f: sequence_set(mapped(mod, f), 0, b"ab"),
    "sequence_set_past_end": lambda mod, f: sequence_set(mapped(mod, f), 4 * PAGE, b"a"),
    "sequence_set_read_only": lambda mod, f: sequence_set(mapped(mod, f, access=mod.ACCESS_READ), 0, b"a"),
    "sequence_get_past_end": lambda mod, f: sequence_get(mapped(mod, f), 4 * PAGE),
    "numpy_writable": lambda mod, f: numpy.frombuffer(mapped(mod, f), numpy.uint8).flags.writeable,
}


# Before 3.11 the standard module crashes (a use after free) when an index's
# __index__ closes the mapping in these calls; rmap answers as 3.11's does.
CRASH_THE_STANDARD_MODULE_BEFORE_3_11 = {
    "closed_by_index_read": ("ValueError", "mmap closed or invalid"),
    "closed_by_index_slice": ("ValueError", "mmap closed or invalid"),
    "closed_by_index_assign": ("ValueError", "mmap closed or invalid"),
    "closed_by_index_move": ("ValueError", "mmap closed or invalid"),
}


@pytest.mark.parametrize("name", sorted(MISUSE))
def test_misuse_is_answered_as_the_standard_module_does(data, name):
    if sys.version_info < (3, 11) and name in CRASH_THE_STANDARD_MODULE_BEFORE_3_11:
        with open(data, "r+b") as f:
            assert outcome(lambda: MISUSE[name](rmap, f)) == CRASH_THE_STANDARD_MODULE_BEFORE_3_11[name]
        return
    standard, ours = both(data, MISUSE[name])
    assert ours == standard


# Ordinary use: the same values, positions and file contents.
USE = {
    "read_n_from_position": lambda mod, f: (lambda m: (m.seek(3), m.read(5), m.tell()))(mapped(mod, f)),
    "read_all_and_negative": lambda mod, f: (lambda m: (m.seek(5), len(m.read()), m.seek(7), len(m.read(-2))))(
        mapped(mod, f)
    ),
    "readline": lambda mod, f: (lambda m: (m.seek(3 * PAGE - 2), m.readline(), m.readline(), m.readline()))(
        mapped(mod, f)
    ),
    "find_from_position": lambda mod, f: (lambda m: (m.find(b"xyz"), m.seek(30), m.find(b"xyz"), m.find(b"xyz", 0)))(
        mapped(mod, f)
    ),
    "find_ranges": lambda mod, f: [
        mapped(mod, f).find(b"ab", i, j) for i in (-5, 0, 1, PAGE, 3 * PAGE) for j in (-1, 2, PAGE + 3, 10**9)
    ],
    "rfind_ranges": lambda mod, f: [
        mapped(mod, f).rfind(b"ab", i, j) for i in (-5, 0, 1, PAGE) for j in (-1, 2, PAGE + 3, 10**9)
    ],
    "find_across_chunks": lambda mod, f: (lambda m: (m.find(b"\nlast"), m.rfind(b"abc"), m.find(b"")))(
        mapped(mod, f)
    ),
    "slices": lambda mod, f: (lambda m: (m[0], m[-1], m[0:3], m[-4:], m[::PAGE], m[10:0:-3], m[5:5]))(
        mapped(mod, f)
    ),
    "write_and_flush": lambda mod, f: (lambda m: (m.write(b"XYZ"), m.tell(), m.flush(), m.flush(0, PAGE)))(
        mapped(mod, f)
    ),
    "assign_and_move": lambda mod, f: (
        lambda m: (m.__setitem__(slice(0, 4), b"ABCD"), m.__setitem__(slice(10, 20, 3), b"wxyz"), m.move(2, 0, 8), m[:24])
    )(mapped(mod, f)),
    "move_overlapping_large": lambda mod, f: (lambda m: (m.move(1, 0, 2 * PAGE), m.move(0, 7, 2 * PAGE), m[:100]))(
        mapped(mod, f)
    ),
    "copy_access_leaves_file": lambda mod, f: (lambda m: (m.write(b"zz"), m.flush(), m[:2], os.pread(f.fileno(), 2, 0)))(
        mapped(mod, f, access=mod.ACCESS_COPY)
    ),
    "resize_truncates_the_file": lambda mod, f: (lambda m: (m.resize(PAGE + 7), len(m), m.size(), m[-3:]))(
        mapped(mod, f)
    ),
    "resize_anonymous": lambda mod, f: (lambda m: (m.write(b"abc"), m.resize(3 * PAGE), m[:4], len(m)))(
        mod.mmap(-1, PAGE)
    ),
    "size_and_len": lambda mod, f: (lambda m: (len(m), m.size()))(mapped(mod, f, length=PAGE)),
    "repr": lambda mod, f: (lambda m: (m.seek(7), repr(m), m.close(), repr(m)))(mapped(mod, f, offset=PAGE)),
    "closed_flag_and_double_close": lambda mod, f: (lambda m: (m.closed, m.close(), m.close(), m.closed))(
        mapped(mod, f)
    ),
    "context_manager": lambda mod, f: (lambda m: (m.__enter__() is m, m.__exit__(None, None, None), m.closed))(
        mapped(mod, f)
    ),
    "madvise_ok": lambda mod, f: mapped(mod, f).madvise(mod.MADV_NORMAL, PAGE, 2),
    "buffer": lambda mod, f: (lambda m: (memoryview(m).format, memoryview(m)[3], bytes(memoryview(m)[:3])))(
        mapped(mod, f)
    ),
    # The sequence protocol gives 1-byte bytes where m[i] gives an int.
    "iteration": lambda mod, f: (lambda m: (list(m)[:3], list(reversed(m))[:3]))(mapped(mod, f)),
    "membership": lambda mod, f: (lambda m: (b"a" in m, b"\n" in m, 97 in m, b"ab" in m))(mapped(mod, f)),
    "sequence_item": lambda mod, f: (lambda m: (sequence_set(m, 0, b"Z"), m[0], sequence_get(m, 1)))(mapped(mod, f)),
    "readline_past_the_end_after_resize": lambda mod, f: (
        lambda m: (m.seek(0, 2), m.resize(PAGE), m.readline(), m.read(), m.tell())
    )(mapped(mod, f)),
}


@pytest.mark.parametrize("name", sorted(USE))
def test_use_gives_what_the_standard_module_gives(data, name):
    standard, ours = both(data, USE[name])
    assert standard[0] == "ok", standard
    assert ours == standard


# Random sequences of calls, each run on a standard mapping and on an rmap
# one of the same kind: every answer, the final contents and the file must
# agree. Calls the standard module survives only by luck are left out
# (resize of anonymous shared memory or to 0, which leave pages past the end
# of their object: it dies of SIGBUS there).
def random_call(r, kind):
    needle = r.choice([b"a", b"hello", b"", b"\n", b"zz"])
    bounds = r.choice([(), (r.randint(-50, 50),), (r.randint(-50, 50), r.randint(-50, 50))])
    calls = [
        lambda m: list(m)[:3],
        lambda m: b"a" in m,
        lambda m: m[r.randint(-3 * PAGE, 3 * PAGE)],
        lambda m: m[r.randint(-3 * PAGE, 3 * PAGE) : r.randint(-3 * PAGE, 3 * PAGE) : r.choice([None, 1, 2, -1, -3, 7])],
        lambda m: m.__setitem__(slice(r.randint(-20, 20), r.randint(-20, 20), r.choice([None, 1, 2, -1])), b"z" * r.randint(0, 12)),
        lambda m: m.__setitem__(r.randint(-3 * PAGE, 3 * PAGE), r.randint(-2, 257)),
        lambda m: m.seek(r.randint(-3 * PAGE, 3 * PAGE), r.choice([0, 1, 2])),
        lambda m: m.tell(),
        lambda m: m.read(r.choice([None, -1, 0, 1, 5, 4 * PAGE])),
        lambda m: m.read_byte(),
        lambda m: m.readline(),
        lambda m: m.write(b"hello\n" * r.randint(0, 3)),
        lambda m: m.write_byte(r.randint(-1, 256)),
        lambda m: m.find(needle, *bounds),
        lambda m: m.rfind(needle, *bounds),
        lambda m: m.move(r.randint(-2, 3 * PAGE), r.randint(-2, 3 * PAGE), r.randint(-1, 20)),
        lambda m: m.flush(*r.choice([(), (0,), (0, PAGE), (1, PAGE), (0, 10**9)])),
        lambda m: m.madvise(r.choice([mmap.MADV_NORMAL, mmap.MADV_WILLNEED, 9999]), *r.choice([(), (PAGE,), (1, 10), (0, -1)])),
        lambda m: len(m),
        lambda m: m.resize(r.choice([1, PAGE, 2 * PAGE + 5, 5 * PAGE])) if kind != "anonymous" else None,
        lambda m: m.size() if kind != "anonymous" else None,  # the standard module's fstat(-1) fails there
        lambda m: repr(m).replace("librmap.mmap", "mmap.mmap"),
        lambda m: m.close() if r.random() < 0.1 else None,
    ]
    return r.choice(calls)


@pytest.mark.parametrize("kind", ["anonymous", "default", "read", "copy", "write"])
def test_random_call_sequences_match_the_standard_module(data, kind):
    original = data.read_bytes()
    for seed in range(60):
        logs = []
        for module in (mmap, rmap):
            data.write_bytes(original)
            r = random.Random(seed)
            with open(data, "r+b") as f:
                if kind == "anonymous":
                    m = module.mmap(-1, 2 * PAGE + 7)
                else:
                    access = {"default": module.ACCESS_DEFAULT, "read": module.ACCESS_READ,
                              "copy": module.ACCESS_COPY, "write": module.ACCESS_WRITE}[kind]
                    m = module.mmap(f.fileno(), 0, access=access)
            log = [outcome(lambda: random_call(r, kind)(m)) for _ in range(30)]
            logs.append(log + [outcome(lambda: m[:]), data.read_bytes()])
        assert logs[1] == logs[0], f"seed {seed}"


def test_the_module_has_the_standard_modules_names():
    standard = {name for name in dir(mmap) if not name.startswith("_")}
    assert standard <= set(dir(rmap))
    assert {name for name in dir(mmap.mmap) if not name.startswith("_")} <= set(dir(rmap.mmap))
    assert all(getattr(rmap, name) == getattr(mmap, name) for name in standard if name.isupper())
    assert rmap.error is OSError


def test_subclass_and_weakref():
    class Anonymous(rmap.mmap):
        def __new__(cls, length):
            return rmap.mmap.__new__(cls, -1, length)

    m = Anonymous(PAGE)
    m[0] = 7
    assert m[0] == 7 and repr(m).startswith("<Anonymous closed=False")
    import weakref

    ref = weakref.ref(m)
    del m
    assert ref() is None


def test_anonymous_shared_memory_is_seen_by_a_forked_child():
    m = rmap.mmap(-1, PAGE)
    pid = os.fork()
    if pid == 0:
        m[0:5] = b"child"
        os._exit(0)
    os.waitpid(pid, 0)
    assert m[0:5] == b"child"


# ---- truncation: OSError(EIO), where the standard module dies of SIGBUS ----

TRUNCATED = {
    "index": lambda m: m[2 * PAGE + 5],
    "slice": lambda m: m[0 : 3 * PAGE],
    "extended_slice": lambda m: m[:: PAGE // 2],
    "read": lambda m: (m.seek(PAGE + 10), m.read()),
    "read_byte": lambda m: (m.seek(PAGE), m.read_byte()),
    "readline": lambda m: (m.seek(PAGE + 1), m.readline()),
    "find": lambda m: m.find(b"never there"),
    "rfind": lambda m: m.rfind(b"never there"),
    "write": lambda m: (m.seek(PAGE - 2), m.write(b"four")),
    "write_byte": lambda m: (m.seek(2 * PAGE), m.write_byte(1)),
    "slice_assignment": lambda m: m.__setitem__(slice(PAGE, PAGE + 3), b"abc"),
    "extended_slice_assignment": lambda m: m.__setitem__(slice(0, 2 * PAGE, PAGE), b"ab"),
    "move_from": lambda m: m.move(0, PAGE, 10),
    "move_to": lambda m: m.move(PAGE, 0, 10),
}


@pytest.mark.parametrize("name", sorted(TRUNCATED))
def test_truncated_file_raises_eio(data, name):
    with open(data, "r+b") as f:
        m = rmap.mmap(f.fileno(), 0)
        os.truncate(data, PAGE)
        with pytest.raises(OSError) as caught:
            TRUNCATED[name](m)
    assert caught.value.errno == errno.EIO
    assert "the mapped file no longer covers byte" in str(caught.value)
    assert m[0:3] == b"abc"  # and the interpreter goes on
    m.close()


def test_truncated_file_reports_the_first_byte_lost(data):
    with open(data, "r+b") as f, rmap.mmap(f.fileno(), 0) as m:
        os.truncate(data, PAGE + 100)
        with pytest.raises(OSError, match=f"byte {2 * PAGE} of the mapping"):
            m[:]


def test_the_standard_module_dies_where_rmap_raises(data):
    """The case above is real: the same slice kills an interpreter using mmap."""
    script = textwrap.dedent(
        f"""
        import mmap, os
        f = open({str(data)!r}, "r+b")
        m = mmap.mmap(f.fileno(), 0)
        os.truncate({str(data)!r}, {PAGE})
        m[0:{3 * PAGE}]
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert result.returncode == -signal.SIGBUS


def test_protected_range_raises_efault():
    with rmap.mmap(-1, 2 * PAGE) as m:
        m.protect(rmap.PROT_READ, PAGE)
        m[0] = 1
        with pytest.raises(OSError) as caught:
            m[PAGE] = 1
        assert caught.value.errno == errno.EFAULT
        m.protect(rmap.PROT_NONE)
        with pytest.raises(OSError) as caught:
            m[0]
        assert caught.value.errno == errno.EFAULT
        m.protect(rmap.PROT_READ | rmap.PROT_WRITE)
        assert m[0] == 1


# ---- librmap's extras ----


def test_query_stats_and_mappings(data):
    before = rmap.stats()
    with open(data, "rb") as f, rmap.mmap(f.fileno(), 0, access=rmap.ACCESS_READ, offset=PAGE) as m:
        info = m.query()
        st = os.stat(data)
        pages = -(-len(m) // PAGE)
        assert (info["length"], info["prot"], info["offset"]) == (pages * PAGE, rmap.PROT_READ, PAGE)
        assert (info["ino"], info["flags"] & rmap.MAP_SHARED) == (st.st_ino, rmap.MAP_SHARED)
        assert info in rmap.mappings()
        assert rmap.stats()["maps"] == before["maps"] + 1
        assert rmap.stats()["live_mappings"] == before["live_mappings"] + 1
    assert rmap.stats()["unmaps"] == before["unmaps"] + 1


def test_lock_unlock_resident():
    with rmap.mmap(-1, 4 * PAGE) as m:
        m[0] = 1
        m[2 * PAGE] = 1
        assert m.resident() == bytes([1, 0, 1, 0])
        assert m.resident(2 * PAGE, 1) == b"\x01"
        m.lock(0, PAGE)
        assert m.query()["flags"] & rmap.MAP_LOCKED and m.query()["length"] == PAGE
        m.unlock(0, PAGE)
        assert not m.query()["flags"] & rmap.MAP_LOCKED
        with pytest.raises(OSError) as caught:
            m.protect(rmap.PROT_READ, 1)
        assert caught.value.errno == errno.EINVAL


def test_asynchronous_flush(data):
    with open(data, "r+b") as f, rmap.mmap(f.fileno(), 0) as m:
        m[0:3] = b"XYZ"
        assert m.flush(asynchronous=True) is None
        assert m.flush(0, PAGE, asynchronous=True) is None
    assert data.read_bytes()[:3] == b"XYZ"


def test_checked_mode_reports_a_leak():
    script = (
        "import ctypes; import librmap as rmap; rmap.set_check(rmap.CHECK_REPORT); m = rmap.mmap(-1, 8192); "
        "ctypes.pythonapi.Py_IncRef(ctypes.py_object(m))"  # never freed: still mapped at exit
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0 and "rmap: leak: 8192 bytes at" in result.stderr, result.stderr
    with pytest.raises(OSError) as caught:
        rmap.set_check(7)
    assert caught.value.errno == errno.EINVAL


def test_version():
    assert rmap.version().count(".") == 2


# ---- CPython's own test of the mmap module ----

RUN_TEST_MMAP = """
import sys, unittest
if sys.argv[1] == "rmap":
    import librmap as rmap
    sys.modules["mmap"] = rmap
from test import test_mmap
assert (test_mmap.mmap.__name__ == "librmap") == (sys.argv[1] == "rmap")
result = unittest.TextTestRunner(stream=sys.stderr).run(unittest.defaultTestLoader.loadTestsFromModule(test_mmap))
print(result.testsRun, len(result.skipped), len(result.failures), len(result.errors))
"""


def run_test_mmap(which, cwd):
    done = subprocess.run([sys.executable, "-c", RUN_TEST_MMAP, which], capture_output=True, text=True, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return [int(n) for n in done.stdout.split()]


def test_cpython_test_mmap_passes_against_rmap(tmp_path):
    ran, skipped, failures, errors = run_test_mmap("rmap", tmp_path)
    standard_ran, standard_skipped, _, _ = run_test_mmap("mmap", tmp_path)
    print(f"test.test_mmap against rmap: {ran} run, {skipped} skipped, {failures} failures, {errors} errors "
          f"(against mmap: {standard_ran} run, {standard_skipped} skipped)")
    assert (failures, errors) == (0, 0)
    assert ran == standard_ran and skipped <= standard_skipped
