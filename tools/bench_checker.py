#!/usr/bin/env python3
"""make bench: programs run plain (A) and under rmap-check (B), alternating
(A B, B A, ... after a warm-up); each run prints its own mean ns/op, so the
ratio leaves out process start-up. Prints rows of BENCHMARKS.md's table.

usage: bench_checker.py RMAP_CHECK WORKLOAD"""
import os
import subprocess
import sys
import tempfile

import bench_rows

checker, workload = sys.argv[1], sys.argv[2]


def ns_per_op(command):
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return float(out.split()[0])


def row(name, args, rounds, target):
    plain = [workload, *args]
    checked = [checker, "--summary=no", "--leaks=no", *plain]
    ns_per_op(plain), ns_per_op(checked)  # warm-up
    a, b = [], []
    for i in range(rounds):
        for side in ("plain", "checked") if i % 2 == 0 else ("checked", "plain"):
            (a if side == "plain" else b).append(ns_per_op(plain if side == "plain" else checked))
    print(bench_rows.row(name, "plain", a, "rmap-check", b, target))


with tempfile.TemporaryDirectory() as files:
    for i in range(64):
        with open(os.path.join(files, f"file{i}"), "wb") as f:
            f.write(os.urandom(64 << 10))
    row("rmap-check: mmap-based file reader (open, fstat, mmap, scan, munmap, close; 64 files of 64 KiB)",
        ["files", files, "20"], 41, 1.10)
row("rmap-check: anonymous mmap, touch, munmap of one page", ["pages", "20000"], 41, 1.10)
