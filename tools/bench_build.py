#!/usr/bin/env python3
"""make bench: the clean debug build of a fresh project that depends on rmap
(the Rust crate, rmap/) against the same project on memmap2 0.9.12,
interleaved over rounds (each a `cargo build` after removing the target
folder; the crates are already downloaded). The issue's target: within twice
memmap2's time. Prints one row of BENCHMARKS.md's table (milliseconds)."""
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bench_rows

ROOT = Path(__file__).resolve().parent.parent
USERS = ROOT / "target" / "rust-users"
MAIN = """fn main() -> std::io::Result<()> {
    let mut map = %s::MmapOptions::new().len(4096).map_anon()?;
    map[..6].copy_from_slice(b"mapped");
    println!("{}", String::from_utf8_lossy(&map[..6]));
    Ok(())
}
"""


def project(name, crate, dependency):
    """A `cargo new` project (made outside the workspace, moved in)."""
    folder = USERS / name
    manifest = folder / "Cargo.toml"
    if not manifest.exists() or dependency not in manifest.read_text():
        shutil.rmtree(folder, ignore_errors=True)
        with tempfile.TemporaryDirectory(prefix="rmap-bench-build.") as scratch:
            subprocess.run(["cargo", "new", "-q", "--vcs", "none", name], cwd=scratch, check=True)
            with open(Path(scratch) / name / "Cargo.toml", "a") as f:
                f.write(dependency + "\n")
            USERS.mkdir(parents=True, exist_ok=True)
            shutil.move(str(Path(scratch) / name), folder)
    (folder / "src" / "main.rs").write_text(MAIN % crate)
    return folder


def clean_build_ms(folder):
    shutil.rmtree(folder / "target", ignore_errors=True)
    start = time.perf_counter()
    subprocess.run(["cargo", "build", "-q"], cwd=folder, check=True)
    return (time.perf_counter() - start) * 1000


def main():
    ours = project("bench-uses-rmap", "librmap", f'librmap = {{ path = "{ROOT / "rmap"}" }}')
    theirs = project("bench-uses-memmap2", "memmap2", 'memmap2 = "=0.9.12"')
    clean_build_ms(ours), clean_build_ms(theirs)  # warm-up: downloads, the OS's caches
    a, b = [], []
    rounds = int(os.environ.get("BUILD_ROUNDS", "7"))
    for i in range(rounds):
        for which in ((theirs, ours) if i % 2 == 0 else (ours, theirs)):
            (a if which == theirs else b).append(clean_build_ms(which))
    print(bench_rows.row("Rust: clean debug build of a fresh project using the crate (ms)",
                         "memmap2 0.9.12", a, "rmap", b, 2.0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
