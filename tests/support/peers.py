"""The real SIP peers the tests drive, found on PATH (``make test`` installs them)."""

from __future__ import annotations

import shutil

import pytest


def sipp() -> str:
    """The SIPp binary; the test is skipped without it."""
    path = shutil.which("sipp")
    if path is None:
        pytest.skip("sipp is not installed (make test installs it)")
    return path
