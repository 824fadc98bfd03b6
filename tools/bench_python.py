#!/usr/bin/env python3
"""make bench: rmap.mmap against the standard mmap module, interleaved in one
process (A B, B A, ... after a warm-up), the ratio being the median of the
per-round ratios rmap/mmap. Prints rows of BENCHMARKS.md's table."""
import hashlib
import mmap
import os
import random
import tempfile
import time

import bench_rows
import librmap as rmap

SIZE = 64 << 20
MIB = 1 << 20
LARGE = 8 << 30  # a sparse file past 4 GiB: offsets that need 64 bits


def map_close_4k(module, files, batch):
    for _ in range(batch):
        module.mmap(-1, 4096).close()


def map_close_file(module, files, batch):
    for _ in range(batch):
        module.mmap(files["data"], SIZE, access=module.ACCESS_READ).close()


def index_loop(module, files, batch):
    with module.mmap(files["data"], SIZE, access=module.ACCESS_READ) as m:
        for i in range(batch):
            m[i]


def assign_loop(module, files, batch):
    with module.mmap(-1, SIZE) as m:
        for i in range(batch):
            m[i] = 7


def slices_1m(module, files, batch):
    with module.mmap(files["data"], SIZE, access=module.ACCESS_READ) as m:
        for i in range(batch):
            start = (i % 64) * MIB
            m[start : start + MIB]


def small_slices(module, files, batch):
    with module.mmap(files["data"], SIZE, access=module.ACCESS_READ) as m:
        for i in range(batch):
            m[i : i + 16]


def read_1m(module, files, batch):
    with module.mmap(files["data"], SIZE, access=module.ACCESS_READ) as m:
        for i in range(batch):
            if i % 64 == 0:
                m.seek(0)
            m.read(MIB)


def read_byte_loop(module, files, batch):
    with module.mmap(files["data"], SIZE, access=module.ACCESS_READ) as m:
        for _ in range(batch):
            m.read_byte()


def readline_loop(module, files, batch):
    with module.mmap(files["lines"], SIZE, access=module.ACCESS_READ) as m:
        for _ in range(batch):
            m.readline()


def readline_whole_file(module, files, batch):
    for _ in range(batch):
        with module.mmap(files["lines"], SIZE, access=module.ACCESS_READ) as m:
            readline = m.readline
            while readline():
                pass


def readline_varied(module, files, batch):
    with module.mmap(files["varied"], SIZE, access=module.ACCESS_READ) as m:
        for _ in range(batch):
            m.readline()


def iterate_1m(module, files, batch):
    with module.mmap(files["data"], SIZE, access=module.ACCESS_READ) as m:
        for _ in range(batch):
            for _ in m[:MIB]:
                pass


def iterate_mapping(module, files, batch):
    with module.mmap(files["data"], MIB, access=module.ACCESS_READ) as m:
        for _ in range(batch):
            for _ in m:
                pass


def find_missing(module, files, batch):
    with module.mmap(files["lines"], SIZE, access=module.ACCESS_READ) as m:
        for _ in range(batch):
            assert m.find(b"#") == -1


def rfind_missing(module, files, batch):
    with module.mmap(files["lines"], SIZE, access=module.ACCESS_READ) as m:
        for _ in range(batch):
            assert m.rfind(b"#") == -1


def find_near(module, files, batch):
    with module.mmap(files["lines"], SIZE, access=module.ACCESS_READ) as m:
        for i in range(batch):
            m.find(b"\n", i)


def write_4k(module, files, batch):
    chunk = b"x" * 4096
    with module.mmap(-1, SIZE) as m:
        for i in range(batch):
            if i % 16384 == 0:
                m.seek(0)
            m.write(chunk)


def write_byte_loop(module, files, batch):
    with module.mmap(-1, SIZE) as m:
        for _ in range(batch):
            m.write_byte(7)


def seek_tell(module, files, batch):
    with module.mmap(files["data"], SIZE, access=module.ACCESS_READ) as m:
        for i in range(batch):
            m.seek(i)
            m.tell()


def large_file(module, files, batch):
    with module.mmap(files["large"], LARGE, access=module.ACCESS_READ) as m:
        for i in range(batch):
            at = LARGE - (i % 1024 + 1) * 4096
            m[at : at + 4096]
            m[at]


def sha256(module, files, batch):
    for _ in range(batch):
        with module.mmap(files["data"], SIZE, access=module.ACCESS_READ) as m:
            hashlib.sha256(m).digest()


ROWS = [
    # name, body, batch, rounds, target (None: no target)
    ("Python: map + close, 4 KiB anonymous", map_close_4k, 2000, 41, 1.1),
    ("Python: map + close, a 64 MiB file", map_close_file, 2000, 41, 1.1),
    ("Python: m[i] over a 64 MiB file, 100,000 bytes", index_loop, 100_000, 41, 1.1),
    ("Python: m[i] = v, 100,000 bytes", assign_loop, 100_000, 41, 1.1),
    ("Python: slice 1 MiB pieces of a 64 MiB file", slices_1m, 64, 41, 1.1),
    ("Python: slice 16-byte pieces, 100,000", small_slices, 100_000, 41, 1.1),
    ("Python: read(1 MiB) of a 64 MiB file", read_1m, 64, 41, 1.1),
    ("Python: read_byte(), 100,000", read_byte_loop, 100_000, 41, 1.1),
    ("Python: readline() over 80-byte lines, 100,000", readline_loop, 100_000, 41, 1.1),
    ("Python: readline() over lines of 1 to 200 bytes, 100,000", readline_varied, 100_000, 41, 1.1),
    ("Python: readline() over a whole 64 MiB file of 80-byte lines", readline_whole_file, 1, 15, 1.1),
    ("Python: iterate over a 1 MiB slice (bytes)", iterate_1m, 4, 41, 1.1),
    ("Python: iterate over a 1 MiB mapping", iterate_mapping, 4, 41, 1.1),
    ("Python: find a missing byte in 64 MiB", find_missing, 4, 41, 1.1),
    ("Python: rfind a missing byte in 64 MiB", rfind_missing, 4, 41, 1.1),
    ("Python: find the next newline, 100,000", find_near, 100_000, 41, 1.1),
    ("Python: write(4 KiB), 16,384 per round", write_4k, 16384, 41, 1.1),
    ("Python: write_byte(), 100,000", write_byte_loop, 100_000, 41, 1.1),
    ("Python: seek() + tell(), 100,000", seek_tell, 100_000, 41, 1.1),
    ("Python: 4 KiB slice + m[i] near the end of an 8 GiB file", large_file, 10_000, 41, 1.1),
    ("Python: sha256 over a 64 MiB file mapping (buffer)", sha256, 1, 15, None),
]


def timed(body, module, files, batch):
    start = time.perf_counter_ns()
    body(module, files, batch)
    return (time.perf_counter_ns() - start) / batch


def row(name, body, batch, rounds, target, files):
    timed(body, mmap, files, batch), timed(body, rmap, files, batch)  # warm-up
    a, b = [], []
    for i in range(rounds):
        order = (mmap, rmap) if i % 2 == 0 else (rmap, mmap)
        for module in order:
            (a if module is mmap else b).append(timed(body, module, files, batch))
    print(bench_rows.row(name, "mmap module", a, "rmap", b, target))


only = os.environ.get("BENCH_ONLY")
with (
    tempfile.TemporaryFile() as data,
    tempfile.TemporaryFile() as lines,
    tempfile.TemporaryFile() as varied,
    tempfile.TemporaryFile() as large,
):
    data.write(os.urandom(SIZE))
    line = b"%079d\n" % 0
    lines.write(line * (SIZE // len(line)) + b"." * (SIZE % len(line)))
    random.seed(5)
    varied.write(b"".join(b"v" * random.randrange(200) + b"\n" for _ in range(SIZE // 100)).ljust(SIZE, b"."))
    large.truncate(LARGE)
    for f in (data, lines, varied, large):
        f.flush()
    files = {"data": data.fileno(), "lines": lines.fileno(), "varied": varied.fileno(), "large": large.fileno()}
    for name, body, batch, rounds, target in ROWS:
        if not only or only in name:
            row(name, body, batch, rounds, target, files)
