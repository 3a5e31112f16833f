"""The one entry point: ``sipswitch <command>``."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from sipswitch import __version__
from sipswitch.config import ConfigError, Settings, Transport, describe, load_settings
from sipswitch.config import redacted_database_url as _redact
from sipswitch.storage import (
    LOCAL_ALIAS,
    UNSET,
    DialplanRecord,
    NotFoundError,
    Scope,
    StorageError,
    Store,
    current_revision,
    generate_password,
    head_revision,
    upgrade,
)
from sipswitch.storage.validation import parse_header_line

ADMIN = Scope.system()
DEMO_ACCOUNTS = ("101", "102")
Handler = Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]]


class CommandError(Exception):
    """A command cannot go on; the message is shown as is, exit status 1."""


def _build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="TOML config file (default: $SIPSWITCH_CONFIG, else built-in defaults)",
    )
    parser = argparse.ArgumentParser(prog="sipswitch", description=__doc__)
    parser.add_argument("--config", metavar="PATH", help="TOML config file")
    parser.add_argument("--version", action="version", version=f"sipswitch {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the SIP switch", parents=[common])

    init = sub.add_parser(
        "init", parents=[common], help="create the database, an admin and a demo customer"
    )
    init.add_argument("--admin-user", default="admin", help="admin login name (default: admin)")
    init.add_argument("--demo-password", help="fixed password for the demo logins and accounts")
    sub.add_parser("check-config", parents=[common], help="validate and print the configuration")

    db = sub.add_parser("db", help="database schema").add_subparsers(dest="action", required=True)
    db.add_parser("upgrade", parents=[common], help="migrate the schema to the newest revision")
    db.add_parser("current", parents=[common], help="show the schema revision")

    customer = sub.add_parser("customer", help="service logins")
    customer_sub = customer.add_subparsers(dest="action", required=True)
    add = customer_sub.add_parser("add", parents=[common], help="add a customer")
    add.add_argument("username")
    add.add_argument("--admin", action="store_true", help="an administrator (sees everything)")
    add.add_argument("--email")
    _password_option(add)
    customer_sub.add_parser("list", parents=[common], help="list customers")

    account = sub.add_parser("account", help="SIP accounts")
    account_sub = account.add_subparsers(dest="action", required=True)
    add = account_sub.add_parser("add", parents=[common], help="add a SIP account")
    add.add_argument("aor", metavar="USER@DOMAIN", help="e.g. 103@local")
    add.add_argument("--owner", required=True, help="owning customer's login name")
    add.add_argument("--in-dialplan")
    add.add_argument("--out-dialplan")
    add.add_argument("--incoming-only", action="store_true")
    add.add_argument("--no-nat-keepalive", action="store_true")
    add.add_argument("--acl", action="append", default=[], metavar="NETWORK")
    _password_option(add)
    listing = account_sub.add_parser("list", parents=[common], help="list SIP accounts")
    listing.add_argument("--owner")
    passwd = account_sub.add_parser("passwd", parents=[common], help="set a SIP password")
    passwd.add_argument("aor", metavar="USER@DOMAIN")
    _password_option(passwd)

    bindings = account_sub.add_parser(
        "bindings", parents=[common], help="show the registered contacts of a SIP account"
    )
    bindings.add_argument("aor", metavar="USER@DOMAIN")
    setting = account_sub.add_parser(
        "set", parents=[common], help="choose the in/out dialplans of a SIP account"
    )
    setting.add_argument("aor", metavar="USER@DOMAIN")
    for way in ("in", "out"):
        choice = setting.add_mutually_exclusive_group()
        choice.add_argument(f"--{way}-dialplan", metavar="NAME", help="one of the owner's")
        choice.add_argument(f"--no-{way}-dialplan", action="store_true", help="use none")
    refer_choice = setting.add_mutually_exclusive_group()
    refer_choice.add_argument(
        "--allow-refer",
        action="store_const",
        const=True,
        dest="allow_refer",
        help="carry out REFERs sent by this account's own (authenticated) phone",
    )
    refer_choice.add_argument(
        "--no-allow-refer", action="store_const", const=False, dest="allow_refer"
    )
    security = sub.add_parser("security", help="brute-force and flood bans")
    security_sub = security.add_subparsers(dest="action", required=True)
    security_sub.add_parser("bans", parents=[common], help="list active bans")
    unban = security_sub.add_parser("unban", parents=[common], help="lift a ban")
    unban.add_argument("subject", help="an IP address, USER@DOMAIN, or a key from `bans`")

    provider = sub.add_parser("provider", help="upstream SIP providers")
    provider_sub = provider.add_subparsers(dest="action", required=True)
    add = provider_sub.add_parser("add", parents=[common], help="add a provider")
    add.add_argument("name", help="the name dial strings use: 555@NAME")
    add.add_argument("--owner", required=True)
    add.add_argument("--server", required=True, help="host[:port] or SIP URI")
    add.add_argument("--username")
    add.add_argument("--auth-username")
    add.add_argument("--password", help="'-' reads it from standard input")
    add.add_argument("--outbound-proxy")
    add.add_argument("--from", dest="from_header", metavar="FROM")
    add.add_argument("--header", action="append", default=[], metavar="'NAME: VALUE'")
    add.add_argument("--register", action="store_true", help="register to the provider")
    add.add_argument("--register-contact")
    add.add_argument("--register-expiry", type=int, default=3600)
    add.add_argument("--register-server")
    add.add_argument(
        "--incoming-account",
        metavar="USER@DOMAIN",
        help="the owner's SIP account that calls arriving through this provider go to",
    )
    listing = provider_sub.add_parser("list", parents=[common], help="list providers")
    listing.add_argument("--owner")
    _dialplan_parser(sub, common)

    call = sub.add_parser("call", help="live calls (asks the running switch)")
    call_sub = call.add_subparsers(dest="action", required=True)
    call_sub.add_parser("list", parents=[common], help="list active calls")
    refer = call_sub.add_parser(
        "refer", parents=[common], help="send a REFER to the leg with this Call-ID"
    )
    refer.add_argument("call_id", metavar="CALL-ID", help="either leg's Call-ID (see `call list`)")
    refer.add_argument("target", metavar="TARGET", help="the URI to transfer to (sip:...)")
    refer.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for NOTIFYs")
    return parser


def _dialplan_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    dialplan = sub.add_parser("dialplan", help="customers' dialplans (scripts and rule lists)")
    dialplan_sub = dialplan.add_subparsers(dest="action", required=True)

    def named(action: str, help_text: str) -> argparse.ArgumentParser:
        command = dialplan_sub.add_parser(action, parents=[common], help=help_text)
        command.add_argument("name", help="the dialplan's name (e.g. transfer, webcallback)")
        command.add_argument("--owner", required=True, help="owning customer's login name")
        return command

    def source(command: argparse.ArgumentParser) -> None:
        command.add_argument("source", metavar="FILE", help="the text; '-' reads standard input")

    def users(command: argparse.ArgumentParser) -> None:
        for way in ("in", "out"):
            command.add_argument(
                f"--{way}-account",
                action="append",
                default=[],
                metavar="USER@DOMAIN",
                help=f"make it this account's {way} dialplan (repeatable)",
            )

    kinds = ("script", "rules")
    add = named("add", "add a dialplan (validated first)")
    source(add)
    add.add_argument("--kind", choices=kinds, default="script", help="default: script")
    users(add)
    update = named("update", "save a new version (validated first)")
    source(update)
    users(update)
    show = named("show", "print the current (or a given) version")
    show.add_argument("--version", type=int, metavar="N")
    listing = dialplan_sub.add_parser("list", parents=[common], help="list dialplans")
    listing.add_argument("--owner")
    check = dialplan_sub.add_parser("validate", parents=[common], help="check without saving")
    source(check)
    check.add_argument("--kind", choices=kinds, default="script", help="default: script")
    check.add_argument("--owner", help="check against this customer's time zone and providers")
    named("history", "list the kept versions")
    rollback = named("rollback", "make an earlier version current (saved as a new version)")
    rollback.add_argument("--to", type=int, required=True, metavar="VERSION")
    named("delete", "remove a dialplan and its history")


def _password_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--password", help="the password; '-' reads it from standard input; default: generate one"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"sipswitch: configuration error: {exc}", file=sys.stderr)
        return 2
    if args.command == "serve":
        return _serve(settings)
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


def _secret(given: str | None) -> tuple[str, bool]:
    """The password to use and whether it was generated (so it must be shown once)."""
    if given == "-":
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise CommandError("no password on standard input")
        return line, False
    if given is not None:
        return given, False
    return generate_password(), True


async def _open(settings: Settings) -> Store:
    url = settings.database.url
    if await current_revision(url) != head_revision():
        raise CommandError(
            f"database {_redact(url)} is not initialised or not up to date: "
            "run `sipswitch init` or `sipswitch db upgrade`"
        )
    return Store.open(url)


async def _owner_id(store: Store, username: str) -> int:
    found = await store.customers.get_by_username(ADMIN, username)
    if found is None:
        raise CommandError(f"no customer {username!r}")
    return found.id


def _split_aor(aor: str) -> tuple[str, str]:
    user, sep, domain = aor.rpartition("@")
    if not sep or not user or not domain:
        raise CommandError(f"expected USER@DOMAIN, got {aor!r}")
    return user, domain


def _table(headings: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [list(headings), *([("-" if v is None else str(v)) for v in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headings))]
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def _phone_target(settings: Settings) -> tuple[str, str]:
    """(address a phone on this machine uses, transport) from the first UDP/TCP listener."""
    plain = [x for x in settings.sip.listeners if x.transport in (Transport.UDP, Transport.TCP)]
    listener = (plain or list(settings.sip.listeners))[0]
    host = listener.host
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1" if host == "0.0.0.0" else "::1"
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{listener.port}", str(listener.transport)


async def _init(args: argparse.Namespace, settings: Settings) -> int:
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
    _table(
        ["login", "password", "role"],
        [[args.admin_user, admin_pw, "admin"], ["demo", demo_pw, "customer"]],
    )
    print("\nDemo SIP accounts (owner: demo):")
    _table(["account", "password"], [[f"{u}@{domain}", s] for u, s in accounts])
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


async def _db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    await upgrade(settings.database.url)
    print(f"database {_redact(settings.database.url)} is at revision {head_revision()}")
    return 0


async def _db_current(args: argparse.Namespace, settings: Settings) -> int:
    revision = await current_revision(settings.database.url)
    head = head_revision()
    state = "up to date" if revision == head else f"head is {head}"
    print(f"{revision or '(empty)'} ({state})")
    return 0 if revision == head else 1


async def _customer_add(args: argparse.Namespace, settings: Settings) -> int:
    password, generated = _secret(args.password)
    async with await _open(settings) as store:
        created = await store.customers.create(
            ADMIN, args.username, password, is_admin=args.admin, email=args.email
        )
    print(f"customer {created.username} added (id {created.id})")
    if generated:
        print(f"password: {password}")
    return 0


async def _customer_list(args: argparse.Namespace, settings: Settings) -> int:
    async with await _open(settings) as store:
        rows = await store.customers.list(ADMIN)
    _table(
        ["id", "login", "role", "disabled", "email"],
        [
            [c.id, c.username, "admin" if c.is_admin else "customer", c.disabled, c.email]
            for c in rows
        ],
    )
    return 0


async def _account_add(args: argparse.Namespace, settings: Settings) -> int:
    user, domain = _split_aor(args.aor)
    password, generated = _secret(args.password)
    async with await _open(settings) as store:
        created = await store.accounts.create(
            ADMIN,
            user,
            domain,
            password,
            owner_id=await _owner_id(store, args.owner),
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


async def _account_list(args: argparse.Namespace, settings: Settings) -> int:
    async with await _open(settings) as store:
        owner = None if args.owner is None else await _owner_id(store, args.owner)
        names = {c.id: c.username for c in await store.customers.list(ADMIN)}
        rows = await store.accounts.list(ADMIN, owner_id=owner)
    _table(
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


async def _account_passwd(args: argparse.Namespace, settings: Settings) -> int:
    user, domain = _split_aor(args.aor)
    password, generated = _secret(args.password)
    async with await _open(settings) as store:
        found = await store.accounts.find(ADMIN, user, domain)
        if found is None:
            raise NotFoundError(f"no SIP account {args.aor}")
        await store.accounts.set_password(ADMIN, found.id, password)
    print(f"password of {found.aor} changed")
    if generated:
        print(f"password: {password}")
    return 0


async def _provider_add(args: argparse.Namespace, settings: Settings) -> int:
    password = None if args.password is None else _secret(args.password)[0]
    headers = [parse_header_line(line) for line in args.header]
    async with await _open(settings) as store:
        created = await store.providers.create(
            ADMIN,
            args.name,
            args.server,
            owner_id=await _owner_id(store, args.owner),
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
    user, domain = _split_aor(args.incoming_account)
    found = await store.accounts.find(ADMIN, user, domain)
    if found is None or found.owner_id != await _owner_id(store, args.owner):
        raise CommandError(f"--incoming-account: {args.owner} has no SIP account {user}@{domain}")
    return found.aor


async def _provider_list(args: argparse.Namespace, settings: Settings) -> int:
    async with await _open(settings) as store:
        owner = None if args.owner is None else await _owner_id(store, args.owner)
        names = {c.id: c.username for c in await store.customers.list(ADMIN)}
        rows = await store.providers.list(ADMIN, owner_id=owner)
    _table(
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
    return f"{at:%Y-%m-%d %H:%M:%S}Z ({_ago(at.timestamp(), now.timestamp())})"


def _ago(epoch: float, now: float) -> str:
    seconds = int(epoch - now)
    return f"in {seconds}s" if seconds >= 0 else f"{-seconds}s ago"


async def _account_bindings(args: argparse.Namespace, settings: Settings) -> int:
    """Bindings as last written by the server (it writes them behind within a moment)."""
    user, domain = _split_aor(args.aor)
    async with await _open(settings) as store:
        found = await store.accounts.find(ADMIN, user, domain)
        if found is None:
            raise NotFoundError(f"no SIP account {args.aor}")
        rows = await store.bindings.for_aor(found.aor)
    now = time.time()
    live = [b for b in rows if b.expires_at > now]
    _table(
        ["contact", "source", "expires", "q", "user agent"],
        [[b.uri, b.source, _ago(b.expires_at, now), b.q, b.user_agent] for b in live],
    )
    print(f"{len(live)} binding(s) of {found.aor}")
    return 0


def _ban_key(subject: str) -> str:
    if subject.startswith(("source:", "account:")):
        return subject
    return f"account:{subject}" if "@" in subject else f"source:{subject}"


async def _security_bans(args: argparse.Namespace, settings: Settings) -> int:
    """Bans as the server last wrote them (it syncs every couple of seconds)."""
    async with await _open(settings) as store:
        rows = await store.bans.list()
    now = time.time()
    _table(
        ["key", "reason", "count", "since", "until"],
        [
            [b.key, b.reason, b.failures, _ago(b.created_at, now), _ago(b.until, now)]
            for b in rows
            if b.until > now
        ],
    )
    return 0


async def _security_unban(args: argparse.Namespace, settings: Settings) -> int:
    """Delete the ban; a running server lifts it at its next sync (within seconds)."""
    key = _ban_key(args.subject)
    async with await _open(settings) as store:
        removed = await store.bans.delete([key])
    if not removed:
        raise CommandError(f"no ban for {key}")
    print(f"ban on {key} lifted")
    return 0


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
        found = await store.accounts.find(ADMIN, *_split_aor(aor))
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


async def _dialplan_add(args: argparse.Namespace, settings: Settings) -> int:
    text, label = _read_source(args.source)
    async with await _open(settings) as store:
        owner = await _owner_id(store, args.owner)
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
    owner = await _owner_id(store, args.owner)
    found = await store.dialplans.get(ADMIN, owner, args.name)
    if found is None:
        raise CommandError(f"no dialplan {args.name!r} of {args.owner}")
    return owner, found


async def _dialplan_update(args: argparse.Namespace, settings: Settings) -> int:
    text, label = _read_source(args.source)
    async with await _open(settings) as store:
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


async def _dialplan_show(args: argparse.Namespace, settings: Settings) -> int:
    """The text on standard output (as saved, for editing), a summary on standard error."""
    async with await _open(settings) as store:
        owner, found = await _stored_dialplan(store, args)
        if args.version is not None:
            found = await store.dialplans.version(ADMIN, found.id, args.version, owner_id=owner)
    state = "current" if found.is_current else f"current is {found.current_version}"
    print(
        f"# dialplan {found.name} ({found.kind}) of {args.owner}, version {found.version} "
        f"({state}), saved {_when(found.updated_at)} by {found.author or '-'}",
        file=sys.stderr,
    )
    sys.stdout.write(
        found.source if found.source.endswith("\n") or not found.source else found.source + "\n"
    )
    return 0


def _when(at: dt.datetime) -> str:
    return f"{at.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S}Z"


async def _dialplan_list(args: argparse.Namespace, settings: Settings) -> int:
    async with await _open(settings) as store:
        owner = None if args.owner is None else await _owner_id(store, args.owner)
        names = {c.id: c.username for c in await store.customers.list(ADMIN)}
        rows = await store.dialplans.list(ADMIN, owner_id=owner)
        accounts = await store.accounts.list(ADMIN, owner_id=owner)
    used: dict[tuple[int, str], list[str]] = {}
    for a in accounts:
        for way, name in (("in", a.in_dialplan), ("out", a.out_dialplan)):
            if name is not None:
                used.setdefault((a.owner_id, name), []).append(f"{way}:{a.aor}")
    _table(
        ["id", "name", "owner", "kind", "version", "bytes", "saved", "used by"],
        [
            [
                d.id,
                d.name,
                names.get(d.owner_id),
                d.kind,
                d.version,
                len(d.source.encode()),
                _when(d.updated_at),
                " ".join(used.get((d.owner_id, d.name), [])) or None,
            ]
            for d in rows
        ],
    )
    return 0


async def _dialplan_validate(args: argparse.Namespace, settings: Settings) -> int:
    text, label = _read_source(args.source)
    if args.owner is None:
        await _check_source(None, None, args.kind, text, label)
    else:
        async with await _open(settings) as store:
            owner = await _owner_id(store, args.owner)
            await _check_source(store, owner, args.kind, text, label)
    print(f"{label}: a valid {args.kind} dialplan")
    return 0


async def _dialplan_history(args: argparse.Namespace, settings: Settings) -> int:
    async with await _open(settings) as store:
        owner, found = await _stored_dialplan(store, args)
        versions = await store.dialplans.history(ADMIN, found.id, owner_id=owner)
    _table(
        ["version", "saved", "bytes", "author", ""],
        [
            [v.version, _when(v.created_at), v.size, v.author, "current" if v.current else ""]
            for v in versions
        ],
    )
    return 0


async def _dialplan_rollback(args: argparse.Namespace, settings: Settings) -> int:
    async with await _open(settings) as store:
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


async def _dialplan_delete(args: argparse.Namespace, settings: Settings) -> int:
    async with await _open(settings) as store:
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


async def _account_set(args: argparse.Namespace, settings: Settings) -> int:
    """Choose a SIP account's dialplans; a named one must be an existing dialplan of the owner."""
    user, domain = _split_aor(args.aor)
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
    async with await _open(settings) as store:
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
        f"REFER from its phone {'allowed' if changed.allow_refer else 'refused'}"
    )
    return 0


async def _call_list(_args: argparse.Namespace, settings: Settings) -> int:
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
            None if c.get("answered") is None else _ago(float(c["answered"]), now),
            c.get("bridge_id"),
        )
        for c in calls
    ]
    _table(["CALL-ID", "FAR CALL-ID", "OWNER", "FROM", "TO", "STATE", "ANSWERED", "BRIDGE"], rows)
    return 0


async def _call_refer(args: argparse.Namespace, settings: Settings) -> int:
    from sipswitch.web.admin_client import AdminClient, AdminError

    try:
        result = await AdminClient.from_settings(settings).refer(
            args.call_id, args.target, args.timeout
        )
    except AdminError as exc:
        raise CommandError(str(exc)) from None
    print(f"REFER {result.get('result')}: {result.get('status')} {result.get('reason')}")
    return 0 if result.get("succeeded") else 1


_HANDLERS: dict[tuple[str, str | None], Handler] = {
    ("init", None): _init,
    ("db", "upgrade"): _db_upgrade,
    ("db", "current"): _db_current,
    ("customer", "add"): _customer_add,
    ("customer", "list"): _customer_list,
    ("account", "add"): _account_add,
    ("account", "list"): _account_list,
    ("account", "passwd"): _account_passwd,
    ("account", "bindings"): _account_bindings,
    ("security", "bans"): _security_bans,
    ("security", "unban"): _security_unban,
    ("provider", "add"): _provider_add,
    ("provider", "list"): _provider_list,
    ("account", "set"): _account_set,
    ("dialplan", "add"): _dialplan_add,
    ("dialplan", "update"): _dialplan_update,
    ("dialplan", "show"): _dialplan_show,
    ("dialplan", "list"): _dialplan_list,
    ("dialplan", "validate"): _dialplan_validate,
    ("dialplan", "history"): _dialplan_history,
    ("dialplan", "rollback"): _dialplan_rollback,
    ("dialplan", "delete"): _dialplan_delete,
    ("call", "list"): _call_list,
    ("call", "refer"): _call_refer,
}


def _serve(settings: Settings) -> int:
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
