"""``dialplan`` commands: add, update, show, list, validate, history, rollback, delete."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from sipswitch.cli.common import (
    ADMIN,
    CommandError,
    open_store,
    owner_id_of,
    print_table,
    split_aor,
    when,
)
from sipswitch.config import Settings
from sipswitch.storage import (
    DialplanRecord,
    Store,
)

CLI_AUTHOR = "cli"


def _read_source(given: str) -> tuple[str, str]:
    """(text, label for messages) from a file path or ``-`` (standard input)."""
    if given == "-":
        return sys.stdin.read(), "<stdin>"
    try:
        with open(given, encoding="utf-8", newline="") as handle:
            return handle.read(), given
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"cannot read {given}: {exc}") from None


async def _check_source(
    store: Store | None, owner_id: int | None, kind: str, text: str, label: str
) -> None:
    """Raise CommandError listing every problem (``label:line: reason``), if there is one."""
    from sipswitch.services.dialplan.manage import validate_dialplan

    timezone, providers = "UTC", None
    if store is not None and owner_id is not None:
        customer = await store.customers.get(ADMIN, owner_id)
        assert customer is not None
        timezone = customer.timezone
        providers = [p.name for p in await store.providers.list(ADMIN, owner_id=owner_id)]
    problems = validate_dialplan(kind, text, timezone=timezone, providers=providers)
    if problems:
        lines = [
            f"{label}:{p.line}: {p.message}" if p.line else f"{label}: {p.message}"
            for p in problems
        ]
        raise CommandError(f"{label}: not a valid {kind} dialplan\n" + "\n".join(lines))


async def _owned_accounts(store: Store, owner_id: int, aors: Sequence[str]) -> list[int]:
    """The ids of these SIP accounts, each of which must be the owner's."""
    ids: list[int] = []
    for aor in aors:
        found = await store.accounts.find(ADMIN, *split_aor(aor))
        if found is None or found.owner_id != owner_id:
            raise CommandError(f"no SIP account {aor} of this owner")
        ids.append(found.id)
    return ids


async def _use_dialplan(
    store: Store, owner_id: int, name: str, ins: Sequence[str], outs: Sequence[str]
) -> list[str]:
    """Make ``name`` the in/out dialplan of the given accounts; what was done, for printing."""
    done: list[str] = []
    for way, aors in (("in", ins), ("out", outs)):
        for account_id in await _owned_accounts(store, owner_id, aors):
            if way == "in":
                changed = await store.accounts.update(ADMIN, account_id, in_dialplan=name)
            else:
                changed = await store.accounts.update(ADMIN, account_id, out_dialplan=name)
            done.append(f"{way} dialplan of {changed.aor}")
    return done


async def dialplan_add(args: argparse.Namespace, settings: Settings) -> int:
    text, label = _read_source(args.source)
    async with await open_store(settings) as store:
        owner = await owner_id_of(store, args.owner)
        await _owned_accounts(store, owner, [*args.in_account, *args.out_account])
        await _check_source(store, owner, args.kind, text, label)
        made = await store.dialplans.create(
            ADMIN, owner, args.name, args.kind, text, author=CLI_AUTHOR
        )
        uses = await _use_dialplan(store, owner, made.name, args.in_account, args.out_account)
    print(f"dialplan {made.name} ({made.kind}) added for {args.owner}: version 1")
    for use in uses:
        print(f"  now the {use}")
    return 0


async def _stored_dialplan(store: Store, args: argparse.Namespace) -> tuple[int, DialplanRecord]:
    owner = await owner_id_of(store, args.owner)
    found = await store.dialplans.get(ADMIN, owner, args.name)
    if found is None:
        raise CommandError(f"no dialplan {args.name!r} of {args.owner}")
    return owner, found


async def dialplan_update(args: argparse.Namespace, settings: Settings) -> int:
    text, label = _read_source(args.source)
    async with await open_store(settings) as store:
        owner, current = await _stored_dialplan(store, args)
        await _owned_accounts(store, owner, [*args.in_account, *args.out_account])
        await _check_source(store, owner, current.kind, text, label)
        saved = await store.dialplans.update(
            ADMIN, current.id, text, owner_id=owner, author=CLI_AUTHOR
        )
        uses = await _use_dialplan(store, owner, saved.name, args.in_account, args.out_account)
    if saved.version == current.version:
        print(f"dialplan {saved.name} unchanged (version {saved.version})")
    else:
        print(f"dialplan {saved.name} of {args.owner}: version {saved.version} saved")
    for use in uses:
        print(f"  now the {use}")
    return 0


async def dialplan_show(args: argparse.Namespace, settings: Settings) -> int:
    """The text on standard output (as saved, for editing), a summary on standard error."""
    async with await open_store(settings) as store:
        owner, found = await _stored_dialplan(store, args)
        if args.version is not None:
            found = await store.dialplans.version(ADMIN, found.id, args.version, owner_id=owner)
    state = "current" if found.is_current else f"current is {found.current_version}"
    print(
        f"# dialplan {found.name} ({found.kind}) of {args.owner}, version {found.version} "
        f"({state}), saved {when(found.updated_at)} by {found.author or '-'}",
        file=sys.stderr,
    )
    sys.stdout.write(
        found.source if found.source.endswith("\n") or not found.source else found.source + "\n"
    )
    return 0


async def dialplan_list(args: argparse.Namespace, settings: Settings) -> int:
    async with await open_store(settings) as store:
        owner = None if args.owner is None else await owner_id_of(store, args.owner)
        names = {c.id: c.username for c in await store.customers.list(ADMIN)}
        rows = await store.dialplans.list(ADMIN, owner_id=owner)
        accounts = await store.accounts.list(ADMIN, owner_id=owner)
    used: dict[tuple[int, str], list[str]] = {}
    for a in accounts:
        for way, name in (("in", a.in_dialplan), ("out", a.out_dialplan)):
            if name is not None:
                used.setdefault((a.owner_id, name), []).append(f"{way}:{a.aor}")
    print_table(
        ["id", "name", "owner", "kind", "version", "bytes", "saved", "used by"],
        [
            [
                d.id,
                d.name,
                names.get(d.owner_id),
                d.kind,
                d.version,
                len(d.source.encode()),
                when(d.updated_at),
                " ".join(used.get((d.owner_id, d.name), [])) or None,
            ]
            for d in rows
        ],
    )
    return 0


async def dialplan_validate(args: argparse.Namespace, settings: Settings) -> int:
    text, label = _read_source(args.source)
    if args.owner is None:
        await _check_source(None, None, args.kind, text, label)
    else:
        async with await open_store(settings) as store:
            owner = await owner_id_of(store, args.owner)
            await _check_source(store, owner, args.kind, text, label)
    print(f"{label}: a valid {args.kind} dialplan")
    return 0


async def dialplan_history(args: argparse.Namespace, settings: Settings) -> int:
    async with await open_store(settings) as store:
        owner, found = await _stored_dialplan(store, args)
        versions = await store.dialplans.history(ADMIN, found.id, owner_id=owner)
    print_table(
        ["version", "saved", "bytes", "author", ""],
        [
            [v.version, when(v.created_at), v.size, v.author, "current" if v.current else ""]
            for v in versions
        ],
    )
    return 0


async def dialplan_rollback(args: argparse.Namespace, settings: Settings) -> int:
    async with await open_store(settings) as store:
        owner, found = await _stored_dialplan(store, args)
        saved = await store.dialplans.rollback(
            ADMIN, found.id, args.to, owner_id=owner, author=CLI_AUTHOR
        )
    if saved.version == found.version:
        print(f"dialplan {saved.name}: version {args.to} is already the current text")
    else:
        print(
            f"dialplan {saved.name}: version {args.to} is current again, as version {saved.version}"
        )
    return 0


async def dialplan_delete(args: argparse.Namespace, settings: Settings) -> int:
    async with await open_store(settings) as store:
        owner, found = await _stored_dialplan(store, args)
        users = [
            a.aor
            for a in await store.accounts.list(ADMIN, owner_id=owner)
            if found.name in (a.in_dialplan, a.out_dialplan)
        ]
        if users:
            raise CommandError(
                f"dialplan {found.name} is used by {', '.join(users)}: "
                "change them first (sipswitch account set)"
            )
        await store.dialplans.delete(ADMIN, found.id, owner_id=owner)
    print(f"dialplan {found.name} of {args.owner} deleted")
    return 0
