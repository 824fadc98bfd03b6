#!/usr/bin/env python3
"""A differential fuzzer: rmap.mmap against the standard mmap module.

Seeded random programs of mmap operations (constructors with every
argument, valid and not, reads, writes, searches, seeks, slices, resize,
move, flush, madvise, iteration, close, and another process truncating or
extending the file) run line by line in two worker processes of this
interpreter: one with the standard module, one with rmap, each on its own
copy of the same file. After every step the fuzzer compares what the two
saw: the result (or the exception's type, errno and message), the map's
length and position, the bytes mapped (while nothing truncated the file:
reading them would kill the standard module's worker) and the file's
contents. A program where the standard module's worker dies (a SIGBUS rmap
turns into OSError) stops there and counts as such, not as a difference.

Each difference is minimized (lines dropped while it persists) to a short
script, printed. The differences rmap makes on purpose are the ones
docs/python.md lists; they are recognized here (DELIBERATE) and counted.

Usage:
  mmap_fuzz.py [--seed S] [--steps N] [--quiet]
      runs programs until N steps were compared; prints what it compared and
      ends with "mmap_fuzz: N passed, N failed" (passed: steps alike)
  mmap_fuzz.py --worker std|rmap DIR      (the fuzzer starts these)
"""
import argparse
import hashlib
import json
import os
import random
import select
import signal
import sys
import tempfile
import time

PAGE = os.sysconf("SC_PAGE_SIZE")
VERSION = sys.version_info[:2]

# ---- the workers ----


def describe(value):
    """A value as the comparison sees it (JSON-safe)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, (bytes, bytearray)):
        return {"bytes": bytes(value).hex()}
    if isinstance(value, float):
        return {"float": repr(value)}
    if isinstance(value, (list, tuple)):
        return [describe(v) for v in value]
    return {"type": type(value).__name__.replace("rmap", "mmap")}


def worker(kind, folder):
    """Runs the lines it is sent, one request per line of stdin."""
    if kind == "std":
        import mmap as module
    else:
        import librmap as module
    import operator

    path = os.path.join(folder, "data")
    names = {"mmap": module, "os": os, "operator": operator, "PATH": path}
    out = sys.stdout

    def state(contents):
        m = names.get("m")
        seen = {}
        try:
            with open(path, "rb") as f:
                seen["file"] = hashlib.sha1(f.read()).hexdigest()
        except OSError as error:
            seen["file"] = "error %d" % error.errno
        if m is None or not hasattr(m, "closed"):
            return seen
        if m.closed:
            seen["map"] = "closed"
            return seen
        seen["len"] = len(m)
        seen["pos"] = m.tell()
        if contents and len(m) <= 1 << 20:
            seen["data"] = hashlib.sha1(m[:]).hexdigest()
        return seen

    for request in sys.stdin:
        request = json.loads(request)
        if request["do"] == "reset":
            names.pop("m", None)
            names.pop("it", None)
            names.pop("f", None)
            with open(path, "wb") as f:
                f.write(bytes.fromhex(request["file"]))
            names["f"] = open(path, "r+b")
            out.write(json.dumps({"ok": True}) + "\n")
            out.flush()
            continue
        line = request["line"]
        if kind == "rmap" and INJECTED == "death" and line == "m.readline()":
            os.kill(os.getpid(), signal.SIGBUS)
        try:
            try:
                code = compile(line, "step", "eval")
            except SyntaxError:
                exec(compile(line, "step", "exec"), names)
                outcome = ["ok", None]
            else:
                outcome = ["ok", describe(eval(code, names))]
        except BaseException as error:  # every exception is an outcome
            outcome = ["raised", type(error).__name__, getattr(error, "errno", None), str(error)]
        if kind == "rmap" and INJECTED == "difference" and line == "m.tell()" and outcome[0] == "ok":
            outcome[1] += 1
        try:
            seen = state(request["contents"])
        except BaseException as error:
            seen = {"state": "%s: %s" % (type(error).__name__, error)}
        out.write(json.dumps({"outcome": outcome, "state": seen}) + "\n")
        out.flush()


# ---- the programs ----


class Program:
    """One random program: a file's bytes, then lines of Python."""

    def __init__(self, rng):
        self.rng = rng
        self.size = rng.choice([1, 7, 100, PAGE - 1, PAGE, PAGE + 1, 2 * PAGE, 3 * PAGE + 5])
        self.file = bytes(rng.choice(b"ab\nc\0") for _ in range(self.size)).hex()

    def length(self):
        return self.rng.choice([0, 1, self.size, self.size, self.size - 1, self.size + 1, PAGE, 2 * PAGE])

    def integer(self):
        r = self.rng
        return r.choice(
            [0, 1, 2, -1, -2, r.randrange(0, self.size + 2), self.size, self.size + 1, PAGE, PAGE - 1,
             2**31, 2**31 - 1, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64]
        )

    def argument(self):
        r = self.rng.random()
        if r < 0.75:
            return repr(self.integer())
        return self.rng.choice(["None", "1.5", "'x'", "b'a'", "True", "[]"])

    def needle(self):
        return repr(self.rng.choice([b"a", b"b", b"\n", b"ab", b"ba", b"a\nc", b"", b"zz", b"c\0"]))

    def data(self):
        return repr(bytes(self.rng.choice(b"xyz\n") for _ in range(self.rng.choice([0, 1, 2, 5, 100]))))

    def constructor(self):
        r = self.rng
        fileno = r.choice(["f.fileno()", "f.fileno()", "f.fileno()", "-1", "999"])
        positional = [fileno, repr(self.length())]
        keyword = []
        extras = [
            ("flags", r.choice(["mmap.MAP_SHARED", "mmap.MAP_PRIVATE", "0", "mmap.MAP_SHARED | mmap.MAP_ANONYMOUS"])),
            ("prot", r.choice(["mmap.PROT_READ", "mmap.PROT_READ | mmap.PROT_WRITE", "mmap.PROT_WRITE", "0"])),
            ("access", r.choice(["mmap.ACCESS_READ", "mmap.ACCESS_WRITE", "mmap.ACCESS_COPY", "0", "7"])),
            ("offset", r.choice(["0", str(PAGE), "1", "-1", str(2**63), str(self.size)])),
        ]
        for name, value in extras:
            pick = r.random()
            if pick < 0.3:
                positional.append(value)
            elif pick < 0.55:
                keyword.append("%s=%s" % (name, value))
        if r.random() < 0.05:  # too many arguments, or a name twice
            positional.append(r.choice(["0", "None"]))
        if r.random() < 0.05:
            keyword.append(r.choice(["offset=0", "length=1", "bogus=1"]))
        if VERSION >= (3, 13) and r.random() < 0.1:
            keyword.append("trackfd=" + r.choice(["False", "True"]))
        if r.random() < 0.05:
            keyword.append(r.choice(["fileno=f.fileno()", "length=%d" % self.size]))
        return "m = mmap.mmap(%s)" % ", ".join(positional + keyword)

    def line(self):
        r = self.rng
        a = self.argument
        choices = [
            (8, lambda: self.constructor()),
            (2, lambda: "m.close()"),
            (2, lambda: "m.closed"),
            (4, lambda: "m.read()" if r.random() < 0.3 else "m.read(%s)" % a()),
            (3, lambda: "m.read_byte()"),
            (4, lambda: "m.readline()"),
            (5, lambda: "m.%s(%s)" % (r.choice(["find", "rfind"]), ", ".join([self.needle()] + [a() for _ in range(r.randrange(3))]))),
            (3, lambda: "m.write(%s)" % (self.data() if r.random() < 0.9 else a())),
            (2, lambda: "m.write_byte(%s)" % a()),
            (4, lambda: "m.seek(%s)" % ", ".join(a() for _ in range(r.randrange(1, 4)))),
            (2, lambda: "m.tell()"),
            (2, lambda: "m.size()"),
            # Sizes that fit (a resize to 2 GiB would make every read crawl);
            # the huge ones still come as arguments elsewhere.
            (2, lambda: "m.resize(%s)" % r.choice([repr(self.length()), "0", "-1", "None", str(2**63)])),
            (2, lambda: "m.move(%s)" % ", ".join(a() for _ in range(r.randrange(2, 5)))),
            (2, lambda: "m.flush(%s)" % ", ".join([a() for _ in range(r.randrange(0, 4))] + (["offset=0"] if r.random() < 0.2 else []))),
            (2, lambda: "m.madvise(%s)" % ", ".join(["mmap.MADV_NORMAL"] + [a() for _ in range(r.randrange(0, 4))])),
            (4, lambda: "m[%s]" % a()),
            (4, lambda: "m[%s:%s%s]" % (a(), a(), ":" + a() if r.random() < 0.3 else "")),
            (2, lambda: "m[%s] = %s" % (a(), a())),
            (3, lambda: "m[%s:%s] = %s" % (a(), a(), self.data())),
            (2, lambda: "len(m)"),
            (1, lambda: "%s in m" % self.needle()),
            (1, lambda: "it = iter(m)"),
            (1, lambda: "operator.length_hint(it)"),
            (1, lambda: "next(it)"),
            (1, lambda: "bytes(m)"),
            (2, lambda: "os.truncate(PATH, %d)" % r.choice([0, 1, self.size // 2, PAGE, self.size, 2 * self.size + 1])),
        ]
        if VERSION >= (3, 13):
            choices.append((1, lambda: "m.seekable()"))
        total = sum(weight for weight, _ in choices)
        pick = r.randrange(total)
        for weight, make in choices:
            if pick < weight:
                return make()
            pick -= weight
        raise AssertionError

    def lines(self, count):
        first = "m = mmap.mmap(f.fileno(), %d)" % self.size if self.rng.random() < 0.7 else self.constructor()
        return [first] + [self.line() for _ in range(count - 1)]


# ---- running the two sides ----


class Side:
    """A worker, forked from the fuzzer (much cheaper than starting an
    interpreter: the standard module's worker dies often)."""

    def __init__(self, kind):
        self.kind = kind
        self.folder = tempfile.mkdtemp(prefix="rmap-fuzz-%s-" % kind, dir="/tmp")
        to_child, from_parent = os.pipe()
        to_parent, from_child = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(from_parent)
            os.close(to_parent)
            os.dup2(to_child, 0)
            os.dup2(from_child, 1)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)
            sys.stdin = os.fdopen(0, "r")
            sys.stdout = os.fdopen(1, "w")
            try:
                worker(kind, self.folder)
            finally:
                os._exit(0)
        os.close(to_child)
        os.close(from_child)
        self.process = Child(pid, os.fdopen(from_parent, "w"), os.fdopen(to_parent, "r"))

    def ask(self, request, timeout=20.0):
        """The worker's answer, or ("died", signal) or ("hung", None)."""
        return self.collect(self.send(request), timeout)

    def send(self, request):
        """Sends a request; False if the worker is gone."""
        try:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
            return True
        except (BrokenPipeError, OSError):
            return False

    def collect(self, sent, timeout=20.0):
        if not sent:
            return ("died", self.stop())
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not ready:
            self.stop()
            return ("hung", None)
        answer = self.process.stdout.readline()
        if not answer:
            return ("died", self.stop())
        return ("answer", json.loads(answer))

    def stop(self):
        try:
            self.process.kill()
        except OSError:
            pass
        status = self.process.wait()
        for name in os.listdir(self.folder):
            os.unlink(os.path.join(self.folder, name))
        os.rmdir(self.folder)
        return -status if status < 0 else status


class Child:
    """What the fuzzer needs of a forked worker (as subprocess.Popen has it)."""

    def __init__(self, pid, stdin, stdout):
        self.pid, self.stdin, self.stdout = pid, stdin, stdout
        self.returncode = None

    def poll(self):
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        return self.returncode

    def kill(self):
        if self.poll() is None:
            os.kill(self.pid, 9)

    def wait(self):
        if self.returncode is None:
            _, status = os.waitpid(self.pid, 0)
            self.returncode = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        for stream in (self.stdin, self.stdout):
            try:
                stream.close()
            except OSError:
                pass
        return self.returncode


# What rmap does differently on purpose (docs/python.md lists each).
def deliberate(line, std, ours):
    std_outcome, our_outcome = std["outcome"], ours["outcome"]
    # 3.9 to 3.12: size() of anonymous memory is its length in rmap, as in
    # CPython 3.13 (gh-87595), where the standard module raised EBADF.
    if line == "m.size()" and std_outcome[:3] == ["raised", "OSError", 9] and our_outcome[0] == "ok":
        return "size() of anonymous memory"
    return None


class Pair:
    """The two workers, kept across programs (started again after a death)."""

    def __init__(self):
        self.std = self.ours = None

    def sides(self):
        if self.std is None or self.std.process.poll() is not None:
            self.std = Side("std")
        if self.ours is None or self.ours.process.poll() is not None:
            self.ours = Side("rmap")
        return self.std, self.ours

    def close(self):
        for side in (self.std, self.ours):
            if side is not None and side.process.poll() is None:
                side.stop()


# The steps that read the map's memory directly (the buffer protocol), as
# the standard module does: the only ones where rmap may die as it does.
RAW_BUFFER_READS = {"bytes(m)"}


def run_program(lines, file_hex, pair=None):
    """Runs `lines` on both sides; returns (steps compared, first difference
    or None, how it ended: "done", "std died", ...)."""
    own = pair is None
    pair = pair or Pair()
    std, ours = pair.sides()
    try:
        for side in (std, ours):
            kind, answer = side.ask({"do": "reset", "file": file_hex})
            if kind != "answer":
                return 0, None, "could not start"
        truncated = False
        for step, line in enumerate(lines):
            if line.startswith("os.truncate") or line.startswith("m = mmap"):
                truncated = truncated or line.startswith("os.truncate")
            request = {"do": "line", "line": line, "contents": not truncated}
            # Both at once: each worker runs its step while the other does.
            sent = std.send(request), ours.send(request)
            s_kind, s = std.collect(sent[0])
            o_kind, o = ours.collect(sent[1])
            if s_kind != "answer" and (o_kind == "answer" or line in RAW_BUFFER_READS):
                # The standard module's worker died (rmap's went on), or both
                # did alike in a raw buffer read of a truncated file, which
                # rmap guards only for tolerant maps, as documented.
                return step, None, "std %s" % s_kind if o_kind == "answer" else "both died"
            if o_kind != "answer":
                return step, (line, s, "rmap %s (%s)" % (o_kind, ours.process.returncode)), "rmap died"
            if s != o and not deliberate(line, s, o):
                return step, (line, s, o), "differ"
        return len(lines), None, "done"
    finally:
        if own:
            pair.close()


def minimize(lines, file_hex):
    """Drops lines while the program still ends with a difference."""
    def differs(candidate):
        _, found, how = run_program(candidate, file_hex)
        return found is not None and how in ("differ", "rmap died")
    lines = list(lines)
    changed = True
    while changed:
        changed = False
        for i in range(len(lines) - 1):
            candidate = lines[:i] + lines[i + 1:]
            if differs(candidate):
                lines = candidate
                changed = True
                break
    return lines


# --self-test: rmap's worker made wrong on purpose (m.tell() one too many, or
# killed by SIGBUS in m.readline()); the fuzzer must report each.
INJECTED = None


def self_test(seed):
    global INJECTED
    caught = []
    for INJECTED, expected in (("difference", "differ"), ("death", "rmap died")):
        rng = random.Random(seed)
        pair = Pair()
        how = None
        for _ in range(200):
            program = Program(rng)
            _, found, how = run_program(program.lines(rng.randrange(5, 40)), program.file, pair)
            if found:
                break
        pair.close()
        print("     self-test: an injected %s is %s" % (INJECTED, "reported" if how == expected else "MISSED"))
        caught.append(how == expected)
    INJECTED = None
    print("mmap_fuzz self-test: %d passed, %d failed" % (sum(caught), len(caught) - sum(caught)))
    return 0 if all(caught) else 1


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--steps", type=int, default=10000)
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--self-test", action="store_true")
    parser.add_argument("--worker", nargs=2)
    args = parser.parse_args()
    if args.worker:
        return worker(*args.worker)
    if args.self_test:
        return self_test(args.seed)
    rng = random.Random(args.seed)
    compared = differences = std_deaths = both_died = programs = 0
    started = time.monotonic()
    reported = time.monotonic()
    pair = Pair()
    while compared < args.steps:
        program = Program(rng)
        lines = program.lines(rng.randrange(5, 40))
        steps, found, how = run_program(lines, program.file, pair)
        programs += 1
        compared += steps
        std_deaths += how == "std died"
        both_died += how == "both died"
        if found:
            differences += 1
            short = minimize(lines[: steps + 1], program.file)
            line, std_seen, our_seen = found
            print("FAIL difference at step %d of program %d (seed %d): %s" % (steps, programs, args.seed, line))
            print("     standard: %s" % json.dumps(std_seen)[:400])
            print("     rmap:     %s" % json.dumps(our_seen)[:400])
            print("     minimized, on a file of %d bytes:" % (len(program.file) // 2))
            for step in short:
                print("       " + step)
            if differences >= 10:
                break
        if not args.quiet and time.monotonic() - reported > 10:
            print("     %d steps compared in %d programs so far" % (compared, programs), flush=True)
            reported = time.monotonic()
    pair.close()
    seconds = time.monotonic() - started
    print("     CPython %d.%d, seed %d: %d programs, %d steps compared (results, exceptions with errno and "
          "message, length, position, bytes, the file) in %.0f s; the standard module's worker died in %d "
          "programs where rmap's went on, both died alike in %d (a raw buffer read of a truncated file)"
          % (VERSION + (args.seed, programs, compared, seconds, std_deaths, both_died)))
    print("mmap_fuzz: %d passed, %d failed" % (compared - differences, differences))
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
