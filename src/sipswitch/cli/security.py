"""``security bans|unban``: the brute-force and flood bans."""

from __future__ import annotations

import argparse
import time

from sipswitch.cli.common import CommandError, ago, open_store, print_table
from sipswitch.config import Settings


def _ban_key(subject: str) -> str:
    if subject.startswith(("source:", "account:")):
        return subject
    return f"account:{subject}" if "@" in subject else f"source:{subject}"


async def security_bans(args: argparse.Namespace, settings: Settings) -> int:
    """Bans as the server last wrote them (it syncs every couple of seconds)."""
    async with await open_store(settings) as store:
        rows = await store.bans.list()
    now = time.time()
    print_table(
        ["key", "reason", "count", "since", "until"],
        [
            [b.key, b.reason, b.failures, ago(b.created_at, now), ago(b.until, now)]
            for b in rows
            if b.until > now
        ],
    )
    return 0


async def security_unban(args: argparse.Namespace, settings: Settings) -> int:
    """Delete the ban; a running server lifts it at its next sync (within seconds)."""
    key = _ban_key(args.subject)
    async with await open_store(settings) as store:
        removed = await store.bans.delete([key])
    if not removed:
        raise CommandError(f"no ban for {key}")
    print(f"ban on {key} lifted")
    return 0
