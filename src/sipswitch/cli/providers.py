"""``provider`` commands: upstream SIP providers and their registration status."""

from __future__ import annotations

import argparse
import datetime as dt

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
    Store,
)
from sipswitch.storage.validation import parse_header_line


async def provider_add(args: argparse.Namespace, settings: Settings) -> int:
    password = None if args.password is None else read_secret(args.password)[0]
    headers = [parse_header_line(line) for line in args.header]
    async with await open_store(settings) as store:
        created = await store.providers.create(
            ADMIN,
            args.name,
            args.server,
            owner_id=await owner_id_of(store, args.owner),
            username=args.username,
            auth_username=args.auth_username,
            password=password,
            outbound_proxy=args.outbound_proxy,
            from_header=args.from_header,
            headers=headers,
            register=args.register,
            register_contact=args.register_contact,
            register_expiry=args.register_expiry,
            register_server=args.register_server,
            incoming_account=await _incoming_account(store, args),
        )
    print(f"provider {created.name} added (id {created.id}, owner {args.owner})")
    return 0


async def _incoming_account(store: Store, args: argparse.Namespace) -> str | None:
    """``--incoming-account`` must name one of the provider owner's SIP accounts."""
    if args.incoming_account is None:
        return None
    user, domain = split_aor(args.incoming_account)
    found = await store.accounts.find(ADMIN, user, domain)
    if found is None or found.owner_id != await owner_id_of(store, args.owner):
        raise CommandError(f"--incoming-account: {args.owner} has no SIP account {user}@{domain}")
    return found.aor


async def provider_list(args: argparse.Namespace, settings: Settings) -> int:
    async with await open_store(settings) as store:
        owner = None if args.owner is None else await owner_id_of(store, args.owner)
        names = {c.id: c.username for c in await store.customers.list(ADMIN)}
        rows = await store.providers.list(ADMIN, owner_id=owner)
    print_table(
        [
            "id",
            "name",
            "owner",
            "server",
            "username",
            "incoming",
            "register",
            "status",
            "next attempt",
            "last error",
        ],
        [
            [
                p.id,
                p.name,
                names.get(p.owner_id),
                p.server,
                p.username,
                p.incoming_account,
                p.register,
                p.registration_status,
                _next_attempt(p.next_attempt_at),
                p.last_error,
            ]
            for p in rows
        ],
    )
    return 0


def _next_attempt(at: dt.datetime | None) -> str | None:
    """When the server next registers (or refreshes): UTC time and how far off."""
    if at is None:
        return None
    now = dt.datetime.now(dt.UTC)
    return f"{at:%Y-%m-%d %H:%M:%S}Z ({ago(at.timestamp(), now.timestamp())})"
