#!/usr/bin/env python3
"""make bench: rmap.map against the standard mmap module, reading a 64 MiB file
(page cache warm) through the buffer with hashlib, interleaved in one process.
Prints one row of BENCHMARKS.md's table."""
import hashlib
import mmap
import os
import statistics
import tempfile
import time

import rmap

SIZE, ROUNDS = 64 << 20, 15


def digest_with(which, fd):
    start = time.perf_counter_ns()
    if which == "mmap":
        with mmap.mmap(fd, SIZE, access=mmap.ACCESS_READ) as m:
            hashlib.sha256(m).digest()
    else:
        with rmap.map(fd, SIZE, access=rmap.READ) as m:
            hashlib.sha256(m).digest()
    return time.perf_counter_ns() - start


with tempfile.TemporaryFile() as f:
    f.write(os.urandom(SIZE))
    f.flush()
    fd = f.fileno()
    digest_with("mmap", fd), digest_with("rmap", fd)  # warm-up
    a, b = [], []
    for i in range(ROUNDS):
        order = ("mmap", "rmap") if i % 2 == 0 else ("rmap", "mmap")
        for which in order:
            (a if which == "mmap" else b).append(digest_with(which, fd))
    ratios = sorted(y / x for x, y in zip(a, b))
    median, p25, p75 = statistics.median(ratios), ratios[len(ratios) // 4], ratios[-1 - len(ratios) // 4]
    # "within noise": the median misses, but the middle half of the rounds reaches 1.
    verdict = "holds" if median <= 1.0 else "within noise" if p25 <= 1.0 else "**missed**"
    print(f"| Python: sha256 over a 64 MiB file mapping | mmap module {statistics.median(a):.0f} "
          f"| rmap.map {statistics.median(b):.0f} | {median:.3f} | {p25:.3f} / {p75:.3f} "
          f"| {ratios[0]:.3f} / {ratios[-1]:.3f} | ratio <= 1.00 (goal): {verdict} |")
