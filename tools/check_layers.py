#!/usr/bin/env python3
"""The layer rules of docs/architecture.md, checked against the sources.

The table in docs/architecture.md (columns: file, role, may use) is the
rule: each source file may name, through `crate::` (or, from the C library
package, through `rmap_rust::`, its name for the Rust crate), only the
modules its "may use" cell lists in backticks, and only files whose cell
lists `libc` may name the libc crate. Also: every module under src/ (the C
library) and rmap/src/ (the Rust crate) has a row, every row names a file
that exists, and C entry points (`no_mangle`) live only in src/ffi.rs. So
the map a newcomer reads cannot drift from the code.

Usage: check_layers.py [ROOT]      check the tree at ROOT (default: here)
       check_layers.py --self-test  prove that each rule fails when broken
"""
import re
import sys
import tempfile
from pathlib import Path

ROW = re.compile(r"^\|\s*`(?P<file>(?:rmap/)?src/[^`]+)`\s*\|(?P<role>[^|]*)\|(?P<uses>[^|]*)\|\s*$", re.M)
NAME = re.compile(r"`([A-Za-z_][\w]*)`")
CRATE_PATH = re.compile(r"\b(?:crate|rmap_rust)::(\{|\w+)")
CRATE_ROOTS = ("src/lib.rs", "rmap/src/lib.rs")
SOURCE_DIRS = ("src", "rmap/src")
EXPORTS_ONLY_IN = "src/ffi.rs"


def strip_comments(text):
    """Source without // comments (doc comments mention modules freely)."""
    return "\n".join(line.split("//", 1)[0] for line in text.splitlines())


def brace_group(text, start):
    """The top-level names of the `{...}` group that opens at `start`."""
    depth, names, current = 0, [], ""
    for ch in text[start:]:
        if ch == "{":
            depth += 1
            if depth == 1:
                continue
        elif ch == "}":
            depth -= 1
            if depth == 0:
                break
        if depth == 1 and ch == ",":
            names.append(current)
            current = ""
        elif depth >= 1:
            current += ch
    names.append(current)
    return [re.match(r"\s*(\w+)", n)[1] for n in names if re.match(r"\s*(\w+)", n)]


def crate_modules(text, at_root):
    """Every module named through `crate::` in `text`; in the crate root
    (src/lib.rs) also bare paths such as `sys::X`, which need no prefix there."""
    found = set()
    for match in CRATE_PATH.finditer(text):
        if match[1] == "{":
            found.update(brace_group(text, match.start(1)))
        else:
            found.add(match[1])
    if at_root:
        found.update(re.findall(r"(?<![\w:])(\w+)::", text))
    return found - {"self"}


def table(doc_text):
    """{file: set of modules it may use} from the architecture table."""
    return {m["file"]: set(NAME.findall(m["uses"])) for m in ROW.finditer(doc_text)}


def check(root):
    root = Path(root)
    rules = table((root / "docs/architecture.md").read_text())
    problems = []
    if not rules:
        return ["docs/architecture.md has no layer table"]
    sources = sorted(p.relative_to(root).as_posix() for folder in SOURCE_DIRS for p in (root / folder).rglob("*.rs"))
    modules = {Path(s).stem if Path(s).name != "mod.rs" else Path(s).parent.name for s in sources}
    for missing in sorted(set(sources) - set(rules)):
        problems.append(f"{missing} has no row in docs/architecture.md's layer table")
    for stale in sorted(set(rules) - set(sources)):
        problems.append(f"docs/architecture.md lists {stale}, which does not exist")
    for source in sources:
        if source not in rules:
            continue
        text = strip_comments((root / source).read_text())
        allowed = rules[source]
        for used in sorted(crate_modules(text, source in CRATE_ROOTS) & modules):
            if used not in allowed:
                problems.append(f"{source} uses {used}, which its row does not allow ({', '.join(sorted(allowed)) or 'nothing'})")
        if re.search(r"\blibc::", text) and "libc" not in allowed:
            problems.append(f"{source} uses libc::, which its row does not allow")
        if "no_mangle" in text and source != EXPORTS_ONLY_IN:
            problems.append(f"{source} exports a C symbol (no_mangle); only {EXPORTS_ONLY_IN} may")
    return problems


def self_test():
    """Each rule, broken on purpose in a scratch tree, must be reported."""
    doc = ("| file | role | may use |\n| --- | --- | --- |\n"
           "| `src/lib.rs` | crate | `ops` |\n| `src/ffi.rs` | C | `ops`, `libc` |\n"
           "| `src/ops.rs` | ops | `sys` |\n| `src/sys/mod.rs` | OS | `libc` |\n")
    clean = {"src/lib.rs": "mod ops; mod ffi; mod sys; use crate::ops;",
             "src/ffi.rs": "use crate::{ops::{self, a}};\n#[unsafe(no_mangle)] fn f() { libc::EINVAL; }",
             "src/ops.rs": "use crate::sys; // crate::ffi in a comment is fine",
             "src/sys/mod.rs": "fn f() { libc::mmap; }"}
    breakages = {
        "a use of a layer not in the row": ("src/ffi.rs", "use crate::{ops, sys::MAP_SHARED};"),
        "a use of the Rust crate's layer not in the row": ("src/ffi.rs", "use rmap_rust::sys;"),
        "a path to a layer not in the row": ("src/ops.rs", "fn f() { crate::ffi::f(); }"),
        "a bare path from the crate root": ("src/lib.rs", "fn f() { sys::page_size(); }"),
        "libc outside its rows": ("src/ops.rs", "fn f() { libc::EINVAL; }"),
        "an export outside ffi.rs": ("src/ops.rs", "#[unsafe(no_mangle)] fn g() {}"),
        "a module without a row": ("src/extra.rs", "fn f() {}"),
    }
    failures = 0
    with tempfile.TemporaryDirectory() as scratch:
        def build(extra=None):
            for path in Path(scratch).rglob("*.rs"):
                path.unlink()
            (Path(scratch) / "docs").mkdir(exist_ok=True)
            (Path(scratch) / "docs/architecture.md").write_text(doc)
            files = dict(clean)
            if extra:
                files[extra[0]] = files.get(extra[0], "") + "\n" + extra[1]
            for name, text in files.items():
                (Path(scratch) / name).parent.mkdir(parents=True, exist_ok=True)
                (Path(scratch) / name).write_text(text)
        build()
        if check(scratch):
            print(f"FAIL layers self-test: the clean tree is reported: {check(scratch)}")
            failures += 1
        for what, breakage in breakages.items():
            build(breakage)
            if not check(scratch):
                print(f"FAIL layers self-test: {what} is not reported")
                failures += 1
        build()
        (Path(scratch) / "docs/architecture.md").write_text(doc + "| `src/gone.rs` | gone | |\n")
        if not check(scratch):
            print("FAIL layers self-test: a row for a missing file is not reported")
            failures += 1
    if not failures:
        print(f"ok   layers self-test: each of {len(breakages) + 1} broken rules is reported, the clean tree is not")
    return failures


def main():
    if sys.argv[1:] == ["--self-test"]:
        return 1 if self_test() else 0
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    problems = check(root)
    for problem in problems:
        print(f"FAIL layers: {problem}")
    if problems:
        return 1
    count = len(table((Path(root) / "docs/architecture.md").read_text()))
    print(f"ok   layers: the {count} source files use only what docs/architecture.md allows them")
    return 0


if __name__ == "__main__":
    sys.exit(main())
