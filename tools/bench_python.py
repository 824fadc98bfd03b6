#!/usr/bin/env python3
"""make bench: rmap.mmap against the standard mmap module, interleaved in one
process (A B, B A, ... after a warm-up), the ratio being the median of the
per-round ratios rmap/mmap. Prints rows of BENCHMARKS.md's table."""
import hashlib
import mmap
import os
import statistics
import tempfile
import time

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


def sha256(module, fd, batch):
    for _ in range(batch):
        with module.mmap(fd, SIZE, access=module.ACCESS_READ) as m:
            hashlib.sha256(m).digest()


ROWS = [
    # name, body, batch, rounds, target (None: no target)
    ("Python: map + close, 4 KiB anonymous", map_close_4k, 2000, 41, 1.2),
    ("Python: slice 1 MiB pieces of a 64 MiB file", slices_1m, 64, 41, 1.1),
    ("Python: read(1 MiB) of a 64 MiB file", read_1m, 64, 41, 1.1),
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
    ratios = sorted(y / x for x, y in zip(a, b))
    median, p25, p75 = statistics.median(ratios), ratios[len(ratios) // 4], ratios[-1 - len(ratios) // 4]
    if target is None:
        verdict = ""
    else:
        # "within noise": the median misses, but the middle half of the rounds reaches the target.
        state = "holds" if median <= target else "within noise" if p25 <= target else "**missed**"
        verdict = f"ratio <= {target:.2f}: {state}"
    print(f"| {name} | mmap module {statistics.median(a):.0f} | rmap {statistics.median(b):.0f} | {median:.3f} "
          f"| {p25:.3f} / {p75:.3f} | {ratios[0]:.3f} / {ratios[-1]:.3f} | {verdict} |")


only = os.environ.get("BENCH_ONLY")
with tempfile.TemporaryFile() as f:
    f.write(os.urandom(SIZE))
    f.flush()
    for name, body, batch, rounds, target in ROWS:
        if not only or only in name:
            row(name, body, batch, rounds, target, f.fileno())
