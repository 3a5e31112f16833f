"""The mypyc build: what the tests run is what the stamp says, and a stale build is not used."""

from __future__ import annotations

import os
from pathlib import Path

import sipswitch
import sipswitch.sip
import sipswitch.sip.parser
from sipswitch import native


def test_the_suite_runs_the_build_it_reports() -> None:
    parser = sipswitch.sip.parser
    compiled = Path(parser.__file__ or "").suffix == ".so"
    if native.extensions() and os.environ.get("SIPSWITCH_NATIVE", "1") != "0":
        assert sipswitch.NATIVE == "compiled", "the native build is stale: run `make native`"
    assert compiled == (sipswitch.NATIVE == "compiled")


def test_sources_leave_out_the_sandbox_and_cover_the_core() -> None:
    names = {p.relative_to(native.PACKAGE).as_posix() for p in native.sources()}
    assert {"sip/parser.py", "services/calls/call.py", "transport/udp.py"} <= names
    assert not any(n.startswith("services/dialplan/") for n in names)
    assert not {"runtime/logging.py", "runtime/events.py"} & names


def test_digest_follows_every_byte(tmp_path: Path) -> None:
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text("x = 1\n")
    b.write_text("y = 2\n")
    first = native.digest([a, b], tmp_path)
    b.write_text("y = 3\n")
    assert native.digest([a, b], tmp_path) != first
    assert native.digest([b, a], tmp_path) != native.digest([a, b], tmp_path)


def test_a_stale_build_imports_the_sources() -> None:
    spec = native._SourcesFirst().find_spec("sipswitch.sip.parser", list(sipswitch.sip.__path__))
    assert spec is not None and spec.origin is not None and spec.origin.endswith("parser.py")
    assert native._SourcesFirst().find_spec("json", None) is None
