"""The one entry point: ``sipswitch <command>``."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

from sipswitch.cli.accounts import (
    account_add,
    account_bindings,
    account_list,
    account_passwd,
    account_set,
    customer_add,
    customer_list,
)
from sipswitch.cli.calls import call_list, call_refer
from sipswitch.cli.common import CommandError, Handler
from sipswitch.cli.dialplans import (
    dialplan_add,
    dialplan_delete,
    dialplan_history,
    dialplan_list,
    dialplan_rollback,
    dialplan_show,
    dialplan_update,
    dialplan_validate,
)
from sipswitch.cli.parser import build_parser
from sipswitch.cli.providers import provider_add, provider_list
from sipswitch.cli.security import security_bans, security_unban
from sipswitch.cli.setup import db_current, db_upgrade, init, serve
from sipswitch.config import ConfigError, describe, load_settings
from sipswitch.storage import StorageError


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"sipswitch: configuration error: {exc}", file=sys.stderr)
        return 2
    if args.command == "serve":
        return serve(settings)
    if args.command == "check-config":
        print(describe(settings))
        print("sipswitch: configuration OK", file=sys.stderr)
        return 0
    handler = _HANDLERS[(args.command, getattr(args, "action", None))]
    try:
        return asyncio.run(handler(args, settings))
    except (CommandError, StorageError, ValueError) as exc:
        print(f"sipswitch: {exc}", file=sys.stderr)
        return 1


_HANDLERS: dict[tuple[str, str | None], Handler] = {
    ("init", None): init,
    ("db", "upgrade"): db_upgrade,
    ("db", "current"): db_current,
    ("customer", "add"): customer_add,
    ("customer", "list"): customer_list,
    ("account", "add"): account_add,
    ("account", "list"): account_list,
    ("account", "passwd"): account_passwd,
    ("account", "bindings"): account_bindings,
    ("security", "bans"): security_bans,
    ("security", "unban"): security_unban,
    ("provider", "add"): provider_add,
    ("provider", "list"): provider_list,
    ("account", "set"): account_set,
    ("dialplan", "add"): dialplan_add,
    ("dialplan", "update"): dialplan_update,
    ("dialplan", "show"): dialplan_show,
    ("dialplan", "list"): dialplan_list,
    ("dialplan", "validate"): dialplan_validate,
    ("dialplan", "history"): dialplan_history,
    ("dialplan", "rollback"): dialplan_rollback,
    ("dialplan", "delete"): dialplan_delete,
    ("call", "list"): call_list,
    ("call", "refer"): call_refer,
}
