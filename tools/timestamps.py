#!/usr/bin/env python3
"""Runs a command, prefixing each line of its output with the seconds since
it started, then says how long it took and its longest silence (the README's
make check times are measured so: `tools/timestamps.py make check`).

Usage: timestamps.py COMMAND [ARGS...]   (exit status: the command's)
"""
import subprocess
import sys
import time


def main():
    if len(sys.argv) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    start = last = time.monotonic()
    longest, after = 0.0, "(the start)"
    with subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as child:
        for raw in child.stdout:
            now = time.monotonic()
            if now - last > longest:
                longest, after = now - last, previous if last > start else "(the start)"
            line = raw.decode(errors="replace").rstrip("\n")
            print(f"{now - start:7.1f}  {line}", flush=True)
            previous, last = line, now
    end = time.monotonic()
    if end - last > longest:
        longest, after = end - last, "the last line"
    print(f"timestamps: {end - start:.1f} s in all, exit {child.returncode}; "
          f"longest silence {longest:.1f} s, after: {after[:120]}")
    return child.returncode


if __name__ == "__main__":
    sys.exit(main())
