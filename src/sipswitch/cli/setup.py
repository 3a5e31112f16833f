"""``init``, ``db upgrade|current`` and ``serve``: setting the switch up and running it."""

from __future__ import annotations

import argparse
import asyncio
import sys

from sipswitch.cli.common import ADMIN, print_table
from sipswitch.config import Settings, Transport
from sipswitch.config import redacted_database_url as _redact
from sipswitch.storage import (
    LOCAL_ALIAS,
    Store,
    current_revision,
    generate_password,
    head_revision,
    upgrade,
)

DEMO_ACCOUNTS = ("101", "102")


def _phone_target(settings: Settings) -> tuple[str, str]:
    """(address a phone on this machine uses, transport) from the first UDP/TCP listener."""
    plain = [x for x in settings.sip.listeners if x.transport in (Transport.UDP, Transport.TCP)]
    listener = (plain or list(settings.sip.listeners))[0]
    host = listener.host
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1" if host == "0.0.0.0" else "::1"
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{listener.port}", str(listener.transport)


async def init(args: argparse.Namespace, settings: Settings) -> int:
    url = settings.database.url
    await upgrade(url)
    async with Store.open(url) as store:
        if await store.customers.count() > 0:
            print(f"sipswitch: already initialised ({_redact(url)}); nothing to do.")
            return 0
        domain = settings.service.domain
        if await store.domains.resolve(ADMIN, domain) is None:
            await store.domains.create(ADMIN, domain, [LOCAL_ALIAS], service_wide=True)
        fixed = args.demo_password
        admin_pw = generate_password()
        demo_pw = fixed or generate_password()
        await store.customers.create(ADMIN, args.admin_user, admin_pw, is_admin=True)
        demo = await store.customers.create(ADMIN, "demo", demo_pw)
        accounts: list[tuple[str, str]] = []
        for user in DEMO_ACCOUNTS:
            secret = fixed or generate_password()
            await store.accounts.create(ADMIN, user, domain, secret, owner_id=demo.id)
            accounts.append((user, secret))
    target, transport = _phone_target(settings)
    first_user, first_secret = accounts[0]
    print(f"sipswitch initialised: database {_redact(url)}, SIP domain {domain}")
    print("\nLogins (passwords are shown this once; keep them):")
    print_table(
        ["login", "password", "role"],
        [[args.admin_user, admin_pw, "admin"], ["demo", demo_pw, "customer"]],
    )
    print("\nDemo SIP accounts (owner: demo):")
    print_table(["account", "password"], [[f"{u}@{domain}", s] for u, s in accounts])
    print(
        f"\nRegister a phone: run `sipswitch serve`, then set the softphone to\n"
        f"  user {first_user}, domain {domain}, password {first_secret},\n"
        f"  registrar / outbound proxy {target} ({transport}; from another machine use this\n"
        f"  host's LAN address).\n"
        f"Or test from this machine with sipsak:\n"
        f"  sipsak -U -C sip:{first_user}@127.0.0.1:5070 -s sip:{first_user}@{domain} "
        f"-p {target} -a {first_secret} -x 600 -vv\n"
        f"Then call {DEMO_ACCOUNTS[1]} from {first_user} "
        f"(in dial strings: {DEMO_ACCOUNTS[1]}@{LOCAL_ALIAS})."
    )
    return 0


async def db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    await upgrade(settings.database.url)
    print(f"database {_redact(settings.database.url)} is at revision {head_revision()}")
    return 0


async def db_current(args: argparse.Namespace, settings: Settings) -> int:
    revision = await current_revision(settings.database.url)
    head = head_revision()
    state = "up to date" if revision == head else f"head is {head}"
    print(f"{revision or '(empty)'} ({state})")
    return 0 if revision == head else 1


def serve(settings: Settings) -> int:
    from sipswitch.app import serve
    from sipswitch.transport.base import ListenerError
    from sipswitch.web.health import BindError

    try:
        return asyncio.run(serve(settings))
    except (ListenerError, BindError) as exc:
        print(f"sipswitch: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
