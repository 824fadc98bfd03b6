#!/usr/bin/env python3
"""Docs and tests cannot drift: every ERRORS entry of include/rmap.h has a case
of its name (an `E(name, ERRNO),` row) in the C test programs expecting its
errno, every errno case names an entry the header documents, and the man
pages list the same entries (errno and text; the man pages leave the test
tags out).

Usage: check_errors.py HEADER MAN_DIR C_FILE...
"""
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from gen_man import ERROR_ENTRY, blocks, functions, inline, sections  # noqa: E402

CASE = re.compile(r"^\s*E\((?P<name>\w+), (?P<errno>E[A-Z0-9]+)\),", re.M)
MAN_ENTRY = re.compile(r"^\.TP\n\\fB(?P<errno>E[A-Z0-9]+)\\fR\n(?P<text>.*)$", re.M)


def header_entries(text):
    """{(function, errno, tag, text as roff)} from the ERRORS sections."""
    entries = set()
    for name, _ret, _args, doc in functions(text):
        for heading, lines in sections(doc):
            if heading != "ERRORS":
                continue
            for kind, body in blocks(lines):
                if kind == "item":
                    entry = ERROR_ENTRY.match(" ".join(body))
                    if not entry:
                        raise SystemExit(f"FAIL docs: malformed ERRORS entry in {name}: {body[0]}")
                    entries.add((name, entry["errno"], entry["tag"], inline(entry["text"])))
    return entries


def main():
    header, man_dir = Path(sys.argv[1]), Path(sys.argv[2])
    documented = header_entries(header.read_text())
    cases = {m["name"]: m["errno"] for c_file in sys.argv[3:] for m in CASE.finditer(Path(c_file).read_text())}
    problems = []

    for function, errno, tag, _text in sorted(documented):
        if not tag.startswith(function.removeprefix("rmap_") + "_" + errno.lower() + "_"):
            problems.append(f"{function}: tag [{tag}] should start with its function and errno")
        if tag not in cases:
            problems.append(f"{function}: {errno} [{tag}] has no case of that name")
        elif cases[tag] != errno:
            problems.append(f"{function}: case {tag} expects {cases[tag]}, the header says {errno}")

    by_tag = {tag: (function, errno) for function, errno, tag, _text in documented}
    for name, errno in sorted(cases.items()):
        base = name.split("__")[0]
        if base not in by_tag:
            problems.append(f"case {name} ({errno}) names no ERRORS entry of the header")
        elif by_tag[base][1] != errno:
            problems.append(f"case {name} expects {errno}, but {by_tag[base][0]} documents {by_tag[base][1]}")

    for function in sorted({f for f, _, _, _ in documented}):
        page = man_dir / f"{function}.3"
        if not page.exists():
            problems.append(f"{page} is missing")
            continue
        in_man = {(m["errno"], m["text"]) for m in MAN_ENTRY.finditer(page.read_text())}
        in_header = {(errno, text) for f, errno, _tag, text in documented if f == function}
        for errno, text in sorted(in_header - in_man):
            problems.append(f"{page}: lacks {errno}: {text[:60]}")
        for errno, text in sorted(in_man - in_header):
            problems.append(f"{page}: has {errno}: {text[:60]}, the header does not")
        if "[" + function.removeprefix("rmap_") + "_" in page.read_text():
            problems.append(f"{page}: shows a test tag to users")

    for problem in problems:
        print(f"FAIL docs: {problem}")
    if problems:
        return 1
    functions_count = len({f for f, _, _, _ in documented})
    print(f"ok   docs: {len(documented)} ERRORS entries of {functions_count} functions, each with its case; "
          f"{len(cases)} errno cases, each documented; man pages agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
