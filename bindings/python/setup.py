"""Builds the extension librmap._rmap and bundles librmap.so.0 into the package.

Where librmap comes from, in this order:
1. the librmap source tree this directory sits in (pip install
   bindings/python, pip wheel bindings/python): cargo builds it there;
2. the Rust sources an sdist carries in rust/ (the sdist command below
   copies them in): cargo builds them, so `pip install librmap-X.tar.gz` needs
   a Rust toolchain and nothing else;
3. an installed librmap that pkg-config finds.
Without any of them the build fails, saying so: never the import. The
extension finds the bundled copy through its RUNPATH, `$ORIGIN` and nothing
else (the interpreter's own -Wl,-rpath is taken out of the link command).
"""
import os
import shutil
import subprocess
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.sdist import sdist

HERE = Path(__file__).resolve().parent
TREE = HERE.parent.parent
VENDORED = HERE / "rust"
# What cargo needs to build librmap (relative to the tree's top), with the
# workspace's third member, which cargo loads too.
RUST_SOURCES = ["Cargo.toml", "Cargo.lock", "build.rs", "src", "include/rmap.h", "rmap/Cargo.toml", "rmap/build.rs", "rmap/src",
                "bindings/rust/rmap-sys/Cargo.toml", "bindings/rust/rmap-sys/build.rs", "bindings/rust/rmap-sys/src"]


def is_librmap_tree(path):
    return (path / "Cargo.toml").is_file() and (path / "src" / "ffi.rs").is_file() and (
        path / "include" / "rmap.h"
    ).is_file()


def cargo():
    """cargo from PATH, or where rustup puts it."""
    found = shutil.which("cargo")
    if found is None:
        candidate = Path(os.environ.get("CARGO_HOME", Path.home() / ".cargo")) / "bin" / "cargo"
        found = str(candidate) if candidate.is_file() else None
    if found is None:
        raise SystemExit(
            "rmap: building librmap needs Rust's cargo, which is neither on PATH nor in ~/.cargo/bin; "
            "install Rust with rustup (https://rustup.rs), then run pip again"
        )
    return found


def build_librmap(source, locked):
    print(f"rmap: building librmap from the sources in {source}")
    command = [cargo(), "build", "--release", "--lib"] + (["--locked"] if locked else [])
    subprocess.run(command, cwd=source, check=True)
    # Where cargo puts it: CARGO_TARGET_DIR, and a folder per target when
    # CARGO_BUILD_TARGET names one (a cross build).
    target = source / os.environ.get("CARGO_TARGET_DIR", "target")
    triple = os.environ.get("CARGO_BUILD_TARGET")
    return source / "include", target / (triple or "") / "release" / "librmap.so"


def librmap():
    """The directory holding rmap.h, and the librmap shared library to bundle."""
    if is_librmap_tree(TREE):
        return build_librmap(TREE, locked=False)
    if is_librmap_tree(VENDORED):
        return build_librmap(VENDORED, locked=True)
    try:
        include, libdir = (
            subprocess.run(["pkg-config", f"--variable={var}", "rmap"], capture_output=True, text=True, check=True)
            .stdout.strip()
            for var in ("includedir", "libdir")
        )
    except (OSError, subprocess.CalledProcessError):
        raise SystemExit(
            "rmap: no librmap to build against: build from the librmap source tree "
            "(pip install path/to/librmap/bindings/python) or from its sdist, "
            "or install librmap first (make install) so that pkg-config finds rmap.pc"
        ) from None
    return Path(include), Path(libdir) / "librmap.so.0"


def without_rpaths(command):
    """A link command without the -rpath options the interpreter's own
    build put into LDSHARED (a path on the machine that built Python)."""
    kept, skip = [], False
    for word in command:
        if skip:
            skip = False
        elif word in ("-rpath", "-Wl,-rpath"):
            skip = True
        elif not word.startswith(("-Wl,-rpath,", "-Wl,-rpath=", "-Wl,-R")):
            kept.append(word)
    return kept


class BuildWithLibrary(build_ext):
    def run(self):
        include, library = librmap()
        package_dir = Path(self.build_lib) / "librmap"
        package_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy2(library, package_dir / "librmap.so.0")
        for ext in self.extensions:
            ext.include_dirs.append(str(include))
            ext.library_dirs.append(str(package_dir))
        super().run()
        if self.inplace:
            shutil.copy2(library, HERE / "librmap" / "librmap.so.0")

    def build_extensions(self):
        self.compiler.linker_so = without_rpaths(self.compiler.linker_so)
        super().build_extensions()


class SdistWithRustSources(sdist):
    """The sdist carries librmap's Rust sources in rust/, so that it
    builds where no librmap is installed."""

    def make_release_tree(self, base_dir, files):
        super().make_release_tree(base_dir, files)
        source = TREE if is_librmap_tree(TREE) else VENDORED
        if not is_librmap_tree(source):
            raise SystemExit("rmap: an sdist needs librmap's sources (make it from the librmap source tree)")
        for name in RUST_SOURCES:
            origin, copy = source / name, Path(base_dir) / "rust" / name
            copy.parent.mkdir(parents=True, exist_ok=True)
            if origin.is_dir():
                shutil.copytree(origin, copy, ignore=shutil.ignore_patterns("target", "__pycache__"))
            else:
                shutil.copy2(origin, copy)


setup(
    ext_modules=[
        Extension(
            "librmap._rmap",
            sources=["librmap/_rmap.c"],
            libraries=[":librmap.so.0"],
            extra_compile_args=["-std=c11", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-fno-plt"],
            extra_link_args=["-Wl,-rpath,$ORIGIN"],
        )
    ],
    cmdclass={"build_ext": BuildWithLibrary, "sdist": SdistWithRustSources},
)
