"""Whether the mypyc-compiled hot path is in use, and a guard against a stale one.

``scripts/build_native.py`` compiles the modules listed by :func:`sources` into C extensions
placed beside their sources and writes ``native.stamp`` (a digest of those sources). Python
imports an extension before its ``.py``, so an edit made after the build would be shadowed by
old code. :func:`activate` (run when :mod:`sipswitch` is imported) compares the digest: when
the tree changed it installs a finder that imports the sources instead, and says so once.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType

PACKAGE = Path(__file__).resolve().parent
SRC = PACKAGE.parent
#: compiled subpackages
COMPILED = ("sip", "sdp", "transport", "services", "runtime")
#: kept interpreted: dialplans (the sandbox runs user code under RestrictedPython, and rule and
#: dial-string validation takes documents whose shape the types cannot promise: compiled code
#: would raise TypeError where these raise the error naming the problem); the event bus, whose
#: filters may be subclassed; the logging set-up, whose ``logging.StreamHandler`` subclass crashed
#: the collector when compiled. None of them is on the per-message path.
EXCLUDED = ("services/dialplan", "runtime/events.py", "runtime/logging.py")
STAMP = PACKAGE / "native.stamp"


def sources() -> list[Path]:
    """The modules that the native build compiles, in a stable order."""
    found: list[Path] = []
    for sub in COMPILED:
        for path in sorted((PACKAGE / sub).rglob("*.py")):
            if not path.relative_to(PACKAGE).as_posix().startswith(EXCLUDED):
                found.append(path)
    return found


def digest(paths: Sequence[Path], root: Path = SRC) -> str:
    """SHA-256 over the names (relative to ``root``) and bytes of ``paths``."""
    h = hashlib.sha256()
    for path in paths:
        h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def extensions() -> list[Path]:
    return [*PACKAGE.rglob("*.so"), *SRC.glob("*__mypyc*.so")]


class _SourcesFirst:
    """A meta-path finder importing ``sipswitch`` modules from their ``.py`` files only."""

    def __init__(self) -> None:
        self._finders: dict[str, importlib.machinery.FileFinder] = {}

    def find_spec(
        self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if not name.startswith("sipswitch.") or path is None:
            return None
        for entry in path:
            finder = self._finders.get(entry)
            if finder is None:
                loader = (importlib.machinery.SourceFileLoader, importlib.machinery.SOURCE_SUFFIXES)
                finder = self._finders[entry] = importlib.machinery.FileFinder(entry, loader)
            spec = finder.find_spec(name, target)
            if spec is not None:
                return spec
        return None


def activate() -> str:
    """``compiled``, ``interpreted`` (no build) or ``stale`` (build older than the sources)."""
    if not extensions():
        return "interpreted"
    if STAMP.exists() and STAMP.read_text().strip() == digest(sources()):
        return "compiled"
    sys.meta_path.insert(0, _SourcesFirst())
    print(
        "sipswitch: the native build is older than the sources; running them interpreted "
        "(`make native` rebuilds it)",
        file=sys.stderr,
    )
    return "stale"
