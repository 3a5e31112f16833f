"""What every command shares: the system scope, opening the store, tables, errors."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from sipswitch.config import Settings
from sipswitch.config import redacted_database_url as _redact
from sipswitch.storage import (
    Scope,
    Store,
    current_revision,
    generate_password,
    head_revision,
)

ADMIN = Scope.system()


Handler = Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]]


class CommandError(Exception):
    """A command cannot go on; the message is shown as is, exit status 1."""


def read_secret(given: str | None) -> tuple[str, bool]:
    """The password to use and whether it was generated (so it must be shown once)."""
    if given == "-":
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise CommandError("no password on standard input")
        return line, False
    if given is not None:
        return given, False
    return generate_password(), True


async def open_store(settings: Settings) -> Store:
    url = settings.database.url
    if await current_revision(url) != head_revision():
        raise CommandError(
            f"database {_redact(url)} is not initialised or not up to date: "
            "run `sipswitch init` or `sipswitch db upgrade`"
        )
    return Store.open(url)


async def owner_id_of(store: Store, username: str) -> int:
    found = await store.customers.get_by_username(ADMIN, username)
    if found is None:
        raise CommandError(f"no customer {username!r}")
    return found.id


def split_aor(aor: str) -> tuple[str, str]:
    user, sep, domain = aor.rpartition("@")
    if not sep or not user or not domain:
        raise CommandError(f"expected USER@DOMAIN, got {aor!r}")
    return user, domain


def print_table(headings: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [list(headings), *([("-" if v is None else str(v)) for v in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headings))]
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def when(at: dt.datetime) -> str:
    return f"{at.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S}Z"


def ago(epoch: float, now: float) -> str:
    seconds = int(epoch - now)
    return f"in {seconds}s" if seconds >= 0 else f"{-seconds}s ago"
