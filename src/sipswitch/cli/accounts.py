"""``customer`` and ``account`` commands: logins and SIP accounts."""

from __future__ import annotations

import argparse
import time

from sipswitch.cli.common import (
    ADMIN,
    CommandError,
    ago,
    open_store,
    owner_id_of,
    print_table,
    read_secret,
    split_aor,
)
from sipswitch.config import Settings
from sipswitch.storage import (
    UNSET,
    NotFoundError,
)


async def customer_add(args: argparse.Namespace, settings: Settings) -> int:
    password, generated = read_secret(args.password)
    async with await open_store(settings) as store:
        created = await store.customers.create(
            ADMIN, args.username, password, is_admin=args.admin, email=args.email
        )
    print(f"customer {created.username} added (id {created.id})")
    if generated:
        print(f"password: {password}")
    return 0


async def customer_list(args: argparse.Namespace, settings: Settings) -> int:
    async with await open_store(settings) as store:
        rows = await store.customers.list(ADMIN)
    print_table(
        ["id", "login", "role", "disabled", "email"],
        [
            [c.id, c.username, "admin" if c.is_admin else "customer", c.disabled, c.email]
            for c in rows
        ],
    )
    return 0


async def account_add(args: argparse.Namespace, settings: Settings) -> int:
    user, domain = split_aor(args.aor)
    password, generated = read_secret(args.password)
    async with await open_store(settings) as store:
        created = await store.accounts.create(
            ADMIN,
            user,
            domain,
            password,
            owner_id=await owner_id_of(store, args.owner),
            in_dialplan=args.in_dialplan,
            out_dialplan=args.out_dialplan,
            incoming_only=args.incoming_only,
            nat_keepalive=not args.no_nat_keepalive,
            ip_acl_networks=args.acl,
        )
    print(f"SIP account {created.aor} added (id {created.id}, owner {args.owner})")
    if generated:
        print(f"password: {password}")
    return 0


async def account_list(args: argparse.Namespace, settings: Settings) -> int:
    async with await open_store(settings) as store:
        owner = None if args.owner is None else await owner_id_of(store, args.owner)
        names = {c.id: c.username for c in await store.customers.list(ADMIN)}
        rows = await store.accounts.list(ADMIN, owner_id=owner)
    print_table(
        ["id", "account", "owner", "in", "out", "flags", "acl"],
        [
            [
                a.id,
                a.aor,
                names.get(a.owner_id),
                a.in_dialplan,
                a.out_dialplan,
                _flags(a.incoming_only, a.disabled, a.admin_disabled, a.nat_keepalive)
                + (",allow-refer" if a.allow_refer else ""),
                " ".join(a.ip_acl) or None,
            ]
            for a in rows
        ],
    )
    return 0


def _flags(incoming_only: bool, disabled: bool, admin_disabled: bool, keepalive: bool) -> str:
    marks = [
        name
        for name, on in (
            ("incoming-only", incoming_only),
            ("disabled", disabled),
            ("admin-disabled", admin_disabled),
            ("keepalive", keepalive),
        )
        if on
    ]
    return ",".join(marks) or "-"


async def account_passwd(args: argparse.Namespace, settings: Settings) -> int:
    user, domain = split_aor(args.aor)
    password, generated = read_secret(args.password)
    async with await open_store(settings) as store:
        found = await store.accounts.find(ADMIN, user, domain)
        if found is None:
            raise NotFoundError(f"no SIP account {args.aor}")
        await store.accounts.set_password(ADMIN, found.id, password)
    print(f"password of {found.aor} changed")
    if generated:
        print(f"password: {password}")
    return 0


async def account_bindings(args: argparse.Namespace, settings: Settings) -> int:
    """Bindings as last written by the server (it writes them behind within a moment)."""
    user, domain = split_aor(args.aor)
    async with await open_store(settings) as store:
        found = await store.accounts.find(ADMIN, user, domain)
        if found is None:
            raise NotFoundError(f"no SIP account {args.aor}")
        rows = await store.bindings.for_aor(found.aor)
    now = time.time()
    live = [b for b in rows if b.expires_at > now]
    print_table(
        ["contact", "source", "expires", "q", "user agent"],
        [[b.uri, b.source, ago(b.expires_at, now), b.q, b.user_agent] for b in live],
    )
    print(f"{len(live)} binding(s) of {found.aor}")
    return 0


async def account_set(args: argparse.Namespace, settings: Settings) -> int:
    """Choose a SIP account's dialplans; a named one must be an existing dialplan of the owner."""
    user, domain = split_aor(args.aor)
    changes: dict[str, str | None] = {}
    allow_refer = UNSET if args.allow_refer is None else bool(args.allow_refer)
    for way in ("in", "out"):
        if getattr(args, f"no_{way}_dialplan"):
            changes[f"{way}_dialplan"] = None
        elif getattr(args, f"{way}_dialplan") is not None:
            changes[f"{way}_dialplan"] = getattr(args, f"{way}_dialplan")
    if not changes and allow_refer is UNSET:
        raise CommandError(
            "nothing to change: give --in-dialplan/--out-dialplan, --no-..., or --[no-]allow-refer"
        )
    async with await open_store(settings) as store:
        found = await store.accounts.find(ADMIN, user, domain)
        if found is None:
            raise NotFoundError(f"no SIP account {args.aor}")
        for name in changes.values():
            if name is not None and await store.dialplans.get(ADMIN, found.owner_id, name) is None:
                raise CommandError(f"the owner of {found.aor} has no dialplan {name!r}")
        changed = await store.accounts.update(
            ADMIN,
            found.id,
            in_dialplan=changes.get("in_dialplan", UNSET),
            out_dialplan=changes.get("out_dialplan", UNSET),
            allow_refer=allow_refer,
        )
    print(
        f"{changed.aor}: in dialplan {changed.in_dialplan or '-'}, "
        f"out dialplan {changed.out_dialplan or '-'}, "
        f"phone REFER {'allowed' if changed.allow_refer else 'refused'}"
    )
    return 0
