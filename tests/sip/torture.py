"""The RFC 4475 torture messages, shipped byte-exact in tests/data/rfc4475."""

from __future__ import annotations

import csv
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data" / "rfc4475"


def manifest() -> dict[str, dict[str, str]]:
    with (DATA / "MANIFEST.tsv").open(newline="") as f:
        return {row["name"]: row for row in csv.DictReader(f, delimiter="\t")}


def load(name: str) -> bytes:
    return (DATA / f"{name}.dat").read_bytes()


def names() -> list[str]:
    return sorted(manifest())
