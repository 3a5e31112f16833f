"""Compile the hot path with mypyc, in place (`make native`; `make run` and `make test` call it).

The SIP, SDP, transport, service and runtime modules are ordinary typed Python; mypyc turns them
into C extensions placed beside their sources, which Python then imports first. The dialplan
sandbox, storage, CLI and web stay interpreted. ``SIPSWITCH_NATIVE=0`` removes the extensions
and skips the build, so the switch runs as plain Python.

A stamp records the sources compiled; :mod:`sipswitch.native` compares it with the tree, so a
source edited after the build is noticed instead of silently shadowed by a stale extension.
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from sipswitch.native import SRC, STAMP, digest, extensions, sources  # noqa: E402


def remove_extensions() -> int:
    found = extensions()
    for path in found:
        path.unlink()
    STAMP.unlink(missing_ok=True)
    return len(found)


def _parallel_compile(  # noqa: PLR0917 - distutils signature
    self: Any,
    sources: list[str],
    output_dir: str | None = None,
    macros: Any = None,
    include_dirs: Any = None,
    debug: int = 0,
    extra_preargs: Any = None,
    extra_postargs: Any = None,
    depends: Any = None,
) -> list[str]:
    """distutils' CCompiler.compile with the objects built on every core (one C file each)."""
    macros, objects, extra_postargs, pp_opts, build = self._setup_compile(
        output_dir, macros, include_dirs, sources, depends, extra_postargs
    )
    cc_args = self._get_cc_args(pp_opts, debug, extra_preargs)

    def one(obj: str) -> None:
        src, ext = build[obj]
        self._compile(obj, src, ext, cc_args, extra_postargs, pp_opts)

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        list(pool.map(one, objects))
    return list(objects)


def build(paths: list[Path]) -> None:
    """mypycify ``paths`` (one C file per module) and build them in place."""
    from mypyc.build import mypycify
    from setuptools import setup
    from setuptools.command.build_ext import build_ext

    class ParallelBuildExt(build_ext):
        def build_extensions(self) -> None:
            self.compiler.compile = _parallel_compile.__get__(self.compiler)
            super().build_extensions()

    os.chdir(SRC)
    modules = [p.relative_to(SRC).as_posix() for p in paths]
    setup(
        name="sipswitch-native",
        ext_modules=mypycify(
            modules, opt_level="3", multi_file=True, target_dir=str(ROOT / "build" / "native")
        ),
        cmdclass={"build_ext": ParallelBuildExt},
        script_args=[
            "--quiet",
            "build_ext",
            "--inplace",
            "--build-temp",
            str(ROOT / "build" / "native" / "temp"),
        ],
    )


def main() -> int:
    paths = sources()
    if os.environ.get("SIPSWITCH_NATIVE", "1") == "0":
        removed = remove_extensions()
        print(f"native: SIPSWITCH_NATIVE=0, running as plain Python ({removed} extensions removed)")
        return 0
    want = digest(paths)
    if STAMP.exists() and STAMP.read_text().strip() == want:
        print("native: up to date")
        return 0
    remove_extensions()
    print(f"native: compiling {len(paths)} modules with mypyc (a few minutes, once)...", flush=True)
    build(paths)
    STAMP.write_text(want + "\n")
    print("native: done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
