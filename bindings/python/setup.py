"""Bundles librmap into the package at build time.

Building from the librmap source tree (pip install bindings/python) builds the
library with cargo and copies it into the package; the package then needs no
installed librmap. Elsewhere, nothing is bundled and rmap finds the library
through $RMAP_LIBRARY or the system.
"""
import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parents[2]


class BuildWithLibrary(build_py):
    def run(self):
        super().run()
        if not (ROOT / "Cargo.toml").exists() or shutil.which("cargo") is None:
            return
        subprocess.run(["cargo", "build", "--release", "--lib"], cwd=ROOT, check=True)
        shutil.copy2(ROOT / "target/release/librmap.so", Path(self.build_lib) / "rmap" / "librmap.so.0")


setup(cmdclass={"build_py": BuildWithLibrary})
