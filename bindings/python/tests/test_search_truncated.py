"""find, rfind and readline over every small range of a map whose file
shrank to its first page: each answer is what the bytes still readable
decide (as a search that reads only what it must would say), OSError(EIO)
where lost bytes decide, and the interpreter never dies (issue 38:
rfind(b'b', 80) of a truncated 100-byte file killed it)."""
import errno
import mmap as std
import os
import random
import subprocess
import sys
import tempfile

import librmap as rmap

PAGE = std.PAGESIZE


def truncated_map(size, keep):
    """A map of `size` bytes of a file another process shrank to `keep`
    bytes, and a copy of what was kept (b, c and newlines in a seeded
    order)."""
    rng = random.Random(11)
    data = bytes(rng.choice(b"aaabcc\n") for _ in range(size))
    fd, path = tempfile.mkstemp(dir="/tmp")
    os.write(fd, data)
    m = rmap.mmap(fd, size, access=rmap.ACCESS_READ)
    subprocess.run([sys.executable, "-c", "import os; os.truncate(%r, %d)" % (path, keep)], check=True)
    os.close(fd)
    os.unlink(path)
    return m, data[:keep] + bytes(PAGE - keep) if keep < PAGE else data[:keep]


def decided(copy, readable, start, end, needle, last):
    """The answer the readable bytes decide: an index, -1, or "EIO"."""
    positions = range(start, end - len(needle) + 1)
    for i in reversed(positions) if last else positions:
        readable_part = copy[i:min(i + len(needle), readable)]
        if readable_part != needle[: len(readable_part)]:
            continue  # a readable byte differs
        return i if i + len(needle) <= readable else "EIO"
    return -1


def answer(call):
    try:
        return call()
    except OSError as error:
        assert error.errno == errno.EIO, error
        return "EIO"


def test_find_and_rfind_over_every_small_range():
    m, copy = truncated_map(3 * PAGE, PAGE)
    readable = PAGE
    starts = [7, PAGE - 300, PAGE - 129, PAGE - 33, PAGE - 32, PAGE - 31, PAGE - 17, PAGE - 16, PAGE - 3,
              PAGE - 1, PAGE, PAGE + 1, 2 * PAGE - 1]
    wrong = []
    searches = 0
    for start in starts:
        for length in range(1, 301):
            end = start + length
            for needle in (b"b", b"cb", b"bca", b"\n"):
                for last in (False, True):
                    call = m.rfind if last else m.find
                    got = answer(lambda: call(needle, start, end))
                    want = decided(copy, readable, start, end, needle, last)
                    searches += 1
                    if got != want:
                        wrong.append((start, length, needle, last, got, want))
    print("%d searches, %d not what the readable bytes decide" % (searches, len(wrong)))
    assert not wrong, wrong[:5]


def test_readline_from_every_position_near_the_end_of_what_is_kept():
    m, copy = truncated_map(2 * PAGE, PAGE)
    for position in range(PAGE - 300, 2 * PAGE):
        m.seek(position)
        got = answer(m.readline)
        newline = copy.find(b"\n", position, PAGE)
        want = copy[position:newline + 1] if newline >= 0 else "EIO"
        assert got == want, (position, got, want)
        if got == "EIO":
            assert m.tell() == position  # nothing read: the position stays


def test_the_issue_38_cases_raise_instead_of_killing():
    m, _ = truncated_map(100, 0)
    for call in (lambda: m.rfind(b"b", 80), lambda: m.find(b"b", 80), lambda: m.rfind(b"bb", 2)):
        assert answer(call) == "EIO"
