#!/usr/bin/env python3
"""make bench: rmap.mmap against the standard mmap module, interleaved in one
process (A B, B A, ... after a warm-up), the ratio being the median of the
per-round ratios rmap/mmap. Prints rows of BENCHMARKS.md's table."""
import hashlib
import mmap
import os
import tempfile
import time

import bench_rows
import rmap

SIZE = 64 << 20
MIB = 1 << 20


def map_close_4k(module, fd, batch):
    for _ in range(batch):
        module.mmap(-1, 4096).close()


def slices_1m(module, fd, batch):
    with module.mmap(fd, SIZE, access=module.ACCESS_READ) as m:
        for i in range(batch):
            start = (i % 64) * MIB
            m[start : start + MIB]


def read_1m(module, fd, batch):
    with module.mmap(fd, SIZE, access=module.ACCESS_READ) as m:
        for i in range(batch):
            if i % 64 == 0:
                m.seek(0)
            m.read(MIB)


def index_loop(module, fd, batch):
    with module.mmap(fd, SIZE, access=module.ACCESS_READ) as m:
        for i in range(batch):
            m[i]


def sha256(module, fd, batch):
    for _ in range(batch):
        with module.mmap(fd, SIZE, access=module.ACCESS_READ) as m:
            hashlib.sha256(m).digest()


ROWS = [
    # name, body, batch, rounds, target (None: no target)
    ("Python: map + close, 4 KiB anonymous", map_close_4k, 2000, 41, 1.2),
    ("Python: slice 1 MiB pieces of a 64 MiB file", slices_1m, 64, 41, 1.1),
    ("Python: read(1 MiB) of a 64 MiB file", read_1m, 64, 41, 1.1),
    ("Python: m[i] over a 64 MiB file, 100,000 bytes", index_loop, 100_000, 41, 1.1),
    ("Python: sha256 over a 64 MiB file mapping (buffer)", sha256, 1, 15, None),
]


def timed(body, module, fd, batch):
    start = time.perf_counter_ns()
    body(module, fd, batch)
    return (time.perf_counter_ns() - start) / batch


def row(name, body, batch, rounds, target, fd):
    timed(body, mmap, fd, batch), timed(body, rmap, fd, batch)  # warm-up
    a, b = [], []
    for i in range(rounds):
        order = (mmap, rmap) if i % 2 == 0 else (rmap, mmap)
        for module in order:
            (a if module is mmap else b).append(timed(body, module, fd, batch))
    print(bench_rows.row(name, "mmap module", a, "rmap", b, target))


only = os.environ.get("BENCH_ONLY")
with tempfile.TemporaryFile() as f:
    f.write(os.urandom(SIZE))
    f.flush()
    for name, body, batch, rounds, target in ROWS:
        if not only or only in name:
            row(name, body, batch, rounds, target, f.fileno())
