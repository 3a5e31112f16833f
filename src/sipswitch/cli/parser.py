"""The argument parser of ``sipswitch``: every command and its options."""

from __future__ import annotations

import argparse

from sipswitch import __version__


def build_parser() -> argparse.ArgumentParser:
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
