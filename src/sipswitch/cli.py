"""The one entry point: ``sipswitch <command>``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from sipswitch import __version__


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sipswitch", description=__doc__)
    parser.add_argument("--version", action="version", version=f"sipswitch {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the SIP switch")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    if args.command == "serve":
        print("sipswitch: the server arrives with the transports issue", file=sys.stderr)
        return 0
    return 2
