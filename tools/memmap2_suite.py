#!/usr/bin/env python3
"""make check: memmap2's own tests against librmap.

Takes memmap2 0.9.12 from its crates.io package (cargo downloads it; the code
is read where cargo keeps it, never committed here), and builds a crate in
target/memmap2-suite that holds, changed only in crate paths:
- tests/map.rs: memmap2's test/map.rs (`super::`, `crate::` -> `librmap::`),
  and tests/advice.rs: the unit tests of its src/advice.rs, the same way;
- src/lib.rs: every example of memmap2's documentation (src/*.rs), each the
  doc comment of an item of its own (`memmap2::` -> `librmap::`), with the
  files the examples read (LICENSE-MIT, LICENSE-APACHE, README.md) beside it.
Also checks that README.md's table of memmap2's items lists exactly
memmap2's methods, and adds tests/surface.rs, which names every method,
Linux advice variant and trait implementation of memmap2 in rmap (so it
compiles only if rmap has each). Runs `cargo test --features
stable_deref_trait` there: every test must compile and pass, none ignored.

Usage: memmap2_suite.py ROOT
"""
import json
import re
import subprocess
import sys
from pathlib import Path

VERSION = "0.9.12"


def memmap2_source(work):
    """The folder of memmap2's crates.io package, downloaded if need be."""
    probe = work / "locate"
    probe.mkdir(parents=True, exist_ok=True)
    (probe / "src").mkdir(exist_ok=True)
    (probe / "src" / "lib.rs").write_text("")
    (probe / "Cargo.toml").write_text(
        f'[package]\nname = "locate-memmap2"\nversion = "0.0.0"\nedition = "2021"\npublish = false\n\n'
        f'[dependencies]\nmemmap2 = "={VERSION}"\n\n[workspace]\n')
    meta = json.loads(subprocess.run(["cargo", "metadata", "--format-version", "1"], cwd=probe, check=True,
                                     capture_output=True, text=True).stdout)
    package = next(p for p in meta["packages"] if p["name"] == "memmap2")
    return Path(package["manifest_path"]).parent


def renamed(code):
    code = code.replace("crate::advice::", "librmap::").replace("super::", "librmap::")
    return re.sub(r"\bcrate::", "librmap::", code)


def doc_examples(source):
    """(file:line, fence info, code) of each example in memmap2's docs."""
    examples = []
    for path in sorted((source / "src").glob("*.rs")):
        lines, block, start, info = path.read_text().splitlines(), None, 0, ""
        for number, line in enumerate(lines, 1):
            stripped = line.strip()
            if not stripped.startswith(("///", "//!")):
                continue
            text = stripped[3:]
            text = text[1:] if text.startswith(" ") else text
            if text.startswith("```"):
                if block is None:
                    block, start, info = [], number, text[3:].strip()
                else:
                    examples.append((f"{path.name}:{start}", info, "\n".join(block)))
                    block = None
            elif block is not None:
                block.append(text)
    return examples


def public_methods(source):
    """{type: [method, ...]} of memmap2's inherent impls, and (type, method)
    pairs whose method is generic over the descriptor."""
    text = (source / "src" / "lib.rs").read_text() + "\n" + (source / "src" / "advice.rs").read_text()
    methods, generic = {}, set()
    for block in re.finditer(r"^impl(?:<[^>]*>)? (\w+) \{(.*?)^\}", text, re.S | re.M):
        for name, type_params in re.findall(r"^    pub (?:unsafe )?fn (\w+)(<[^>]*>)?", block[2], re.M):
            methods.setdefault(block[1], []).append(name)
            if type_params:
                generic.add((block[1], name))
    return methods, generic


def linux_variants(source):
    """{enum: [variant, ...]} of Advice and UncheckedAdvice on Linux."""
    text = (source / "src" / "advice.rs").read_text()
    variants = {}
    for enum in re.finditer(r"^pub enum (\w+) \{(.*?)^\}", text, re.S | re.M):
        for cfg, name in re.findall(r"(#\[cfg\([^\n]*\)\]\s*)?(\w+) = libc::", enum[2]):
            if not cfg or "linux" in cfg:
                variants.setdefault(enum[1], []).append(name)
    return variants


def readme_rows(root):
    """{type: set of method names} from README.md's table of memmap2's items."""
    rows = {}
    for line in (root / "README.md").read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`"):
            for kind in re.findall(r"`(\w+)`", cells[0]):
                rows[kind] = set(re.findall(r"`(\w+)`", cells[1]))
    return rows


def surface_test(methods, generic, variants):
    """A test that names every memmap2 item in rmap: it compiles only if each exists."""
    lines = ["// Every public item of memmap2 on Linux, named in rmap.", "#[test]", "fn every_memmap2_item_exists_in_rmap() {"]
    for kind, names in methods.items():
        for name in names:
            turbofish = "::<std::os::fd::RawFd>" if (kind, name) in generic else ""
            lines.append(f"    let _ = librmap::{kind}::{name}{turbofish};")
    for kind, names in variants.items():
        for name in names:
            lines.append(f"    let _ = librmap::{kind}::{name};")
    bounds = [("std::ops::Deref<Target = [u8]>", "Mmap"), ("std::ops::Deref<Target = [u8]>", "MmapMut"),
              ("std::ops::DerefMut", "MmapMut"), ("AsRef<[u8]>", "Mmap"), ("AsRef<[u8]>", "MmapMut"),
              ("AsMut<[u8]>", "MmapMut"), ("std::fmt::Debug", "Mmap"), ("std::fmt::Debug", "MmapMut"),
              ("std::fmt::Debug", "MmapRaw"), ("std::fmt::Debug", "MapIfSafeError"),
              ("std::fmt::Display", "MapIfSafeError"), ("std::error::Error", "MapIfSafeError"),
              ("From<librmap::Mmap>", "MmapRaw"), ("From<librmap::MmapMut>", "MmapRaw"),
              ("stable_deref_trait::StableDeref", "Mmap"), ("stable_deref_trait::StableDeref", "MmapMut"),
              ("Send + Sync", "Mmap"), ("Send + Sync", "MmapMut"), ("Send + Sync", "MmapRaw"),
              ("Clone + std::fmt::Debug + Default", "MmapOptions"),
              ("Copy + Clone + std::fmt::Debug + Default", "RemapOptions"),
              ("Copy + Clone + std::fmt::Debug + Eq + std::hash::Hash", "Advice"),
              ("Copy + Clone + std::fmt::Debug + Eq + std::hash::Hash", "UncheckedAdvice")]
    for index, (bound, kind) in enumerate(bounds):
        lines.append(f"    fn implements{index}<T: ?Sized + {bound}>() {{}}")
        lines.append(f"    implements{index}::<librmap::{kind}>();")
    lines.append("    fn converts<T: Into<std::io::Error>>() {}")
    lines.append("    converts::<librmap::MapIfSafeError>();")
    lines.append("    fn describes<T: librmap::MmapAsRawDesc>() {}")
    lines.append("    describes::<std::os::fd::RawFd>();")
    lines.append("    describes::<&std::fs::File>();")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main():
    root = Path(sys.argv[1]).resolve()
    work = root / "target" / "memmap2-suite"
    source = memmap2_source(work)
    suite = work / "crate"
    # Files are rewritten only when they change, so that a second make check
    # finds cargo's build fresh (rewriting them all cost 6 s of a warm run).
    written = set()

    def write(path, text):
        written.add(path)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)

    (suite / "src").mkdir(parents=True, exist_ok=True)
    (suite / "tests").mkdir(exist_ok=True)
    write(suite / "Cargo.toml", 
        '[package]\nname = "memmap2-suite"\nversion = "0.0.0"\nedition = "2021"\npublish = false\n\n'
        f'[dependencies]\nlibrmap = {{ path = "{root / "rmap"}", features = ["stable_deref_trait"] }}\n\n'
        '[dev-dependencies]\ntempfile = "3"\nowning_ref = "0.4.1"\nlibc = "0.2"\nstable_deref_trait = "1"\n\n'
        '[features]\nstable_deref_trait = []\n\n[workspace]\n')
    for name in ("LICENSE-MIT", "LICENSE-APACHE", "README.md"):
        write(suite / name, (source / name).read_text())
    write(suite / "tests" / "map.rs", renamed((source / "test" / "map.rs").read_text()))
    # The unit tests of src/advice.rs (its `mod tests`), as a test file.
    advice = (source / "src" / "advice.rs").read_text()
    write(suite / "tests" / "advice.rs", renamed(advice[advice.index("#[cfg(test)]"):]))
    methods, generic = public_methods(source)
    variants = linux_variants(source)
    table = readme_rows(root)
    wrong = [kind for kind in methods if table.get(kind) != set(methods[kind])]
    if wrong:
        for kind in wrong:
            print(f"FAIL README.md's table of memmap2's items: {kind} lists {sorted(table.get(kind, []))}, "
                  f"memmap2 {VERSION} has {sorted(methods[kind])}")
        return 1
    write(suite / "tests" / "surface.rs", surface_test(methods, generic, variants))
    examples = doc_examples(source)
    items = []
    for index, (where, info, code) in enumerate(examples):
        code = code.replace("memmap2::", "librmap::").replace("use memmap2", "use librmap")
        doc = "\n".join("/// " + line if line else "///" for line in code.splitlines())
        items.append(f"/// memmap2 {VERSION} src/{where}\n///\n/// ```{info}\n{doc}\n/// ```\npub struct Example{index};\n")
    write(suite / "src" / "lib.rs", "//! memmap2's documentation examples, run against rmap.\n\n" + "\n".join(items))
    # Nothing else stays in the crate's sources (a file an older make check wrote).
    for path in [*(suite / "src").iterdir(), *(suite / "tests").iterdir()]:
        if path not in written:
            path.unlink()
    done = subprocess.run(["cargo", "test", "--features", "stable_deref_trait"], cwd=suite, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    output = done.stdout
    (work / "cargo-test.log").write_text(output)
    results = re.findall(r"test result: (\w+)\. (\d+) passed; (\d+) failed; (\d+) ignored", output)
    passed = sum(int(r[1]) for r in results)
    failed = sum(int(r[2]) for r in results)
    ignored = sum(int(r[3]) for r in results)
    map_rs = re.search(r"Running tests/map\.rs.*?test result: \w+\. (\d+) passed", output, re.S)
    advice_rs = re.search(r"Running tests/advice\.rs.*?test result: \w+\. (\d+) passed", output, re.S)
    surface = re.search(r"Running tests/surface\.rs.*?test result: \w+\. 1 passed", output, re.S)
    doc = re.search(r"Doc-tests memmap2_suite.*?test result: \w+\. (\d+) passed", output, re.S)
    if done.returncode != 0 or failed or ignored or not map_rs or not advice_rs or not surface or not doc:
        print(output[-6000:])
        print(f"FAIL memmap2 {VERSION}'s own tests against librmap: {passed} passed, {failed} failed, {ignored} ignored "
              f"(log: target/memmap2-suite/cargo-test.log)")
        return 1
    print(f"ok   memmap2 {VERSION}'s own tests against librmap (crate paths renamed): test/map.rs {map_rs[1]} passed, "
          f"src/advice.rs's tests {advice_rs[1]} passed, {doc[1]} of its {len(examples)} documentation examples "
          f"passed, 0 failed, 0 ignored; every item of memmap2 ({sum(map(len, methods.values()))} methods, "
          f"{sum(map(len, variants.values()))} Linux advice variants, its traits) exists in rmap and in README.md's table")
    return 0


if __name__ == "__main__":
    sys.exit(main())
