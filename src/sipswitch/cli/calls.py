"""``call list|refer``: live calls, asked of the running switch over its admin API."""

from __future__ import annotations

import argparse
import time

from sipswitch.cli.common import CommandError, ago, print_table
from sipswitch.config import Settings


async def call_list(_args: argparse.Namespace, settings: Settings) -> int:
    from sipswitch.web.admin_client import AdminClient, AdminError

    try:
        calls = await AdminClient.from_settings(settings).calls()
    except AdminError as exc:
        raise CommandError(str(exc)) from None
    now = time.time()
    rows = [
        (
            c.get("call_id"),
            c.get("far_call_id"),
            c.get("owner"),
            c.get("from"),
            c.get("far_to") or c.get("to"),
            c.get("state"),
            None if c.get("answered") is None else ago(float(c["answered"]), now),
            c.get("bridge_id"),
        )
        for c in calls
    ]
    print_table(
        ["CALL-ID", "FAR CALL-ID", "OWNER", "FROM", "TO", "STATE", "ANSWERED", "BRIDGE"], rows
    )
    return 0


async def call_refer(args: argparse.Namespace, settings: Settings) -> int:
    from sipswitch.web.admin_client import AdminClient, AdminError

    try:
        result = await AdminClient.from_settings(settings).refer(
            args.call_id, args.target, args.timeout
        )
    except AdminError as exc:
        raise CommandError(str(exc)) from None
    print(f"REFER {result.get('result')}: {result.get('status')} {result.get('reason')}")
    return 0 if result.get("succeeded") else 1
