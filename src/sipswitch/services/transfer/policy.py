"""What a REFER may do on a call: the leg's ``tr`` option, and the checks before anything runs.

Safe by default: without ``tr=p`` or ``tr=c`` a REFER is refused, so a far end that answers
cannot send the caller (at the owner's cost) wherever it likes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sipswitch.sip.address import Address
from sipswitch.sip.errors import SipParseError
from sipswitch.sip.message import Request
from sipswitch.sip.uri import SipUri
from sipswitch.sip.values import Replaces, parse_replaces

REFUSED_REASON = "Transfers are not allowed on this call"


class TransferMode(enum.StrEnum):
    """The dial-string option ``tr``."""

    REFUSE = "n"
    PASS_THROUGH = "p"
    CARRY_OUT = "c"

    @classmethod
    def of(cls, value: str | None) -> TransferMode:
        try:
            return cls(value or "n")
        except ValueError:
            return cls.REFUSE


class ReferError(ValueError):
    """A REFER we answer with ``status`` before doing anything."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ReferTarget:
    """A checked REFER: where to (``uri`` is the Refer-To URI exactly as sent, never rewritten),
    its embedded headers, the dialog it replaces (attended transfer), and the subscription."""

    address: Address
    uri_text: str
    headers: tuple[tuple[str, str], ...]
    replaces: Replaces | None
    referred_by: str | None
    subscribe: bool

    @property
    def display(self) -> str:
        return self.uri_text


def check_refer(request: Request) -> ReferTarget:
    """Exactly one Refer-To (RFC 3515 §2.4.1: else 400); a parsable Replaces; Refer-Sub."""
    values = request.get_all("Refer-To")
    if len(values) != 1:
        raise ReferError(400, "Missing Refer-To" if not values else "Multiple Refer-To")
    try:
        address = request.refer_to
        referred_by = request.referred_by
        refer_sub = request.refer_sub
    except (SipParseError, ValueError) as exc:
        raise ReferError(400, "Bad Refer-To") from exc
    if address is None:
        raise ReferError(400, "Missing Refer-To")
    uri = address.uri
    headers: tuple[tuple[str, str], ...] = ()
    replaces = None
    if isinstance(uri, SipUri):
        headers = tuple((n, uri.header(n) or "") for n, _ in uri.headers)
        text = uri.header("Replaces")
        if text is not None:
            try:
                replaces = parse_replaces(text)
            except SipParseError as exc:
                raise ReferError(400, "Bad Replaces in Refer-To") from exc
    return ReferTarget(
        address=address,
        uri_text=str(uri),
        headers=headers,
        replaces=replaces,
        referred_by=None if referred_by is None else str(referred_by),
        subscribe=refer_sub is not False,
    )
