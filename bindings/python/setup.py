"""Builds the extension rmap._rmap and bundles librmap.so.0 into the package.

From the librmap source tree (pip install bindings/python, pip wheel
bindings/python) cargo builds the library; elsewhere an installed librmap that
pkg-config finds is bundled. Without either the build fails, saying so: never
the import. The extension finds the bundled copy through its $ORIGIN rpath, so
the wheel needs no environment variable.
"""
import shutil
import subprocess
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parents[2]


def librmap():
    """The directory holding rmap.h, and the librmap shared library to bundle."""
    if (ROOT / "Cargo.toml").exists() and (ROOT / "include" / "rmap.h").exists():
        if shutil.which("cargo") is None:
            raise SystemExit("rmap: building from the librmap source tree needs cargo on PATH (https://rustup.rs)")
        subprocess.run(["cargo", "build", "--release", "--lib"], cwd=ROOT, check=True)
        return ROOT / "include", ROOT / "target" / "release" / "librmap.so"
    try:
        include, libdir = (
            subprocess.run(["pkg-config", f"--variable={var}", "rmap"], capture_output=True, text=True, check=True)
            .stdout.strip()
            for var in ("includedir", "libdir")
        )
    except (OSError, subprocess.CalledProcessError):
        raise SystemExit(
            "rmap: no librmap to build against: build from the librmap source tree "
            "(pip install path/to/librmap/bindings/python), or install librmap first (make install) "
            "so that pkg-config finds rmap.pc"
        ) from None
    return Path(include), Path(libdir) / "librmap.so.0"


class BuildWithLibrary(build_ext):
    def run(self):
        include, library = librmap()
        package_dir = Path(self.build_lib) / "rmap"
        package_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy2(library, package_dir / "librmap.so.0")
        for ext in self.extensions:
            ext.include_dirs.append(str(include))
            ext.library_dirs.append(str(package_dir))
        super().run()
        if self.inplace:
            shutil.copy2(library, Path(__file__).parent / "rmap" / "librmap.so.0")


setup(
    ext_modules=[
        Extension(
            "rmap._rmap",
            sources=["rmap/_rmap.c"],
            libraries=[":librmap.so.0"],
            extra_compile_args=["-std=c11", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-fno-plt"],
            extra_link_args=["-Wl,-rpath,$ORIGIN"],
        )
    ],
    cmdclass={"build_ext": BuildWithLibrary},
)
