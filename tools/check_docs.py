#!/usr/bin/env python3
"""The README is a front door and docs/ holds the manual; they stay true:

- README.md is at most 15,000 characters;
- every relative link in README.md and docs/*.md names a file that exists,
  and a #fragment names a heading of that file;
- every page of docs/ is linked from the README;
- the errno tables of docs/errno.md list, function by function, exactly the
  ERRORS entries of include/rmap.h (same errno values, as many of each);
- docs/install.md's table of system packages is tools/system_programs.sh's;
- every tracked file that names all nine calls is named in the checklist
  "Adding a call" of docs/architecture.md.

Usage: check_docs.py   (from anywhere; paths are the repository's)
"""
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from check_errors import header_entries  # noqa: E402

README_LIMIT = 15_000
LINK = re.compile(r"\]\(([^)\s]+)\)")


def anchor(heading):
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path):
    found, fenced = set(), False
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("#"):
            found.add(anchor(line.lstrip("#")))
    return found


def link_problems(page):
    problems = []
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    for target in LINK.findall(text):
        if re.match(r"^[a-z]+:", target):
            continue  # https:, mailto:
        file_part, _, fragment = target.partition("#")
        linked = (page.parent / file_part).resolve() if file_part else page
        if not linked.exists():
            problems.append(f"{page.relative_to(ROOT)}: link to {target}: no such file")
        elif fragment and linked.suffix == ".md" and fragment not in anchors(linked):
            problems.append(f"{page.relative_to(ROOT)}: link to {target}: no such heading")
    return problems


def errno_tables(text):
    """{function: Counter(errno)} from the '**rmap_x**' tables of docs/errno.md."""
    tables, current = {}, []
    for line in text.splitlines():
        names = re.findall(r"\*\*(rmap_\w+)\*\*", line)
        if names and line.startswith("**"):
            current = names
            for name in names:
                tables.setdefault(name, Counter())
        elif current and (row := re.match(r"^\| (E[A-Z0-9]+) \|", line)):
            for name in current:
                tables[name][row[1]] += 1
        elif line.startswith("#"):
            current = []
    return tables


def system_programs_table():
    """{package: [programs]} from the table in tools/system_programs.sh."""
    text = (ROOT / "tools" / "system_programs.sh").read_text()
    table = re.search(r"^TABLE='\n(.*?)^'", text, flags=re.S | re.M).group(1)
    found = {}
    for line in table.splitlines():
        package, programs, _cases = (field.strip() for field in line.split("|"))
        found[package] = programs.split()
    return found


def section(page, title):
    """The text of a page's `## title` section, up to the next `## ` heading."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", page.read_text(), flags=re.S | re.M)
    return match.group(1) if match else ""


def files_naming(calls):
    """The tracked files (git's list; every file outside target/ without git) naming every call."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
        paths = [p for p in listed.decode().split("\0") if p]
    except (OSError, subprocess.CalledProcessError):
        paths = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*")
                 if p.is_file() and p.relative_to(ROOT).parts[0] not in ("target", ".git")]
    found = []
    for path in sorted(paths):
        try:
            text = (ROOT / path).read_text(errors="replace")
        except (OSError, IsADirectoryError):
            continue
        if all(re.search(rf"\b{call}\b", text) for call in calls):
            found.append(path)
    return found


def main():
    problems = []
    readme = ROOT / "README.md"
    size = len(readme.read_text())
    if size > README_LIMIT:
        problems.append(f"README.md has {size} characters, more than {README_LIMIT}: move detail to docs/")
    pages = sorted((ROOT / "docs").glob("*.md"))
    for page in [readme, *pages]:
        problems += link_problems(page)
    linked = {(ROOT / target.partition("#")[0]).resolve() for target in LINK.findall(readme.read_text())}
    for page in pages:
        if page.resolve() not in linked:
            problems.append(f"docs/{page.name} is not linked from README.md")

    documented = Counter()
    header = header_entries((ROOT / "include" / "rmap.h").read_text())
    for function, errno, _tag, _text in header:
        documented[(function, errno)] += 1
    by_function = {}
    for (function, errno), n in documented.items():
        by_function.setdefault(function, Counter())[errno] = n
    tables = errno_tables((ROOT / "docs" / "errno.md").read_text())
    system_calls = {"rmap_map", "rmap_sync", "rmap_unmap", "rmap_protect", "rmap_advise", "rmap_lock",
                    "rmap_unlock", "rmap_remap", "rmap_resident"}
    for function in sorted(system_calls):
        want, have = by_function.get(function, Counter()), tables.get(function)
        if have is None:
            problems.append(f"docs/errno.md has no table for {function}")
        elif function in ("rmap_lock", "rmap_unlock"):
            # One table for both: each row is an entry of either.
            pass
        elif want != have:
            problems.append(f"docs/errno.md's table for {function} lists {dict(sorted(have.items()))}, "
                            f"the header {dict(sorted(want.items()))}")
    both = tables.get("rmap_lock", Counter())
    either = by_function.get("rmap_lock", Counter()) | by_function.get("rmap_unlock", Counter())
    if both != either:
        problems.append(f"docs/errno.md's table for rmap_lock and rmap_unlock lists {dict(sorted(both.items()))}, "
                        f"the header {dict(sorted(either.items()))}")

    script_table = system_programs_table()
    doc_table = {row[0]: row[1] for row in re.findall(r"^\| `([a-z0-9+-]+)` \| (.*?) \|", (ROOT / "docs" / "install.md").read_text(), flags=re.M)}
    doc_table = {package: re.findall(r"`([^`]+)`", programs) for package, programs in doc_table.items()}
    if doc_table != script_table:
        problems.append(f"docs/install.md's system packages {doc_table} are not tools/system_programs.sh's {script_table}")

    checklist = section(ROOT / "docs" / "architecture.md", "Adding a call")
    naming_all = files_naming(system_calls)
    if not checklist:
        problems.append("docs/architecture.md has no section \"Adding a call\"")
    for path in naming_all:
        if f"`{path}`" not in checklist:
            problems.append(f"{path} names all nine calls but docs/architecture.md's \"Adding a call\" "
                            f"does not name it")

    for problem in problems:
        print(f"FAIL docs: {problem}")
    if problems:
        return 1
    print(f"ok   docs: README.md {size} characters (at most {README_LIMIT}); {len(pages)} pages in docs/, "
          f"each linked from it; every link resolves; docs/errno.md lists the header's "
          f"{sum(n for (f, _), n in documented.items() if f in system_calls)} ERRORS entries of the nine calls; "
          f"the {len(naming_all)} files that name all nine are in \"Adding a call\"; "
          f"the {len(script_table)} system packages are tools/system_programs.sh's")
    return 0


if __name__ == "__main__":
    sys.exit(main())
