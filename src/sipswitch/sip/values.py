"""Typed values of the structured SIP header fields other than addresses (RFC 3261 §20 et al.)."""

from __future__ import annotations

import string
from dataclasses import dataclass

from sipswitch.sip.errors import SipParseError
from sipswitch.sip.grammar import (
    WS,
    format_params,
    get_param,
    is_token,
    is_uint,
    parse_params,
    set_param,
    split_list,
    unquote,
)
from sipswitch.sip.uri import Params

MAX_CSEQ = 2**32 - 1
BRANCH_COOKIE = "z9hG4bK"
_SENT_BY_HOST_CHARS = frozenset(string.ascii_letters + string.digits + "-._")


@dataclass(frozen=True, slots=True)
class Via:
    """One Via entry (RFC 3261 §20.42, RFC 3581 rport)."""

    transport: str
    host: str
    port: int | None = None
    params: Params = ()
    protocol: str = "SIP/2.0"

    @property
    def branch(self) -> str | None:
        return get_param(self.params, "branch")

    @property
    def received(self) -> str | None:
        return get_param(self.params, "received")

    @property
    def rport(self) -> int | None:
        """The port filled into ``rport`` (RFC 3581 §4), or None (absent or still empty)."""
        value = get_param(self.params, "rport")
        return int(value) if value and is_uint(value) else None

    @property
    def rport_requested(self) -> bool:
        """Whether ``rport`` is present without a value: the client asks for it (RFC 3581 §3)."""
        value = get_param(self.params, "rport")
        return value is not None and not is_uint(value)

    @property
    def sent_by(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    @property
    def is_rfc3261_branch(self) -> bool:
        """Whether the branch has the magic cookie and something after it (§8.1.1.7)."""
        branch = self.branch or ""
        return branch.startswith(BRANCH_COOKIE) and len(branch) > len(BRANCH_COOKIE)

    def with_param(self, name: str, value: str | None = None) -> Via:
        return Via(
            self.transport, self.host, self.port, set_param(self.params, name, value), self.protocol
        )

    def __str__(self) -> str:
        return f"{self.protocol}/{self.transport} {self.sent_by}{format_params(self.params)}"


def parse_via(value: str) -> Via:
    """Parse one via-parm: ``SIP / 2.0 / UDP host[:port] *(;param)``."""
    proto, semi, param_text = value.partition(";")
    pieces = proto.split("/")
    if len(pieces) != 3:
        raise SipParseError("Malformed Via: sent-protocol")
    name, version = pieces[0].strip(WS), pieces[1].strip(WS)
    transport_and_host = pieces[2].strip(WS).split(None, 1)
    if len(transport_and_host) != 2:
        raise SipParseError("Malformed Via: no sent-by")
    transport, sent_by = transport_and_host
    if not (is_token(name) and is_token(version) and is_token(transport)):
        raise SipParseError("Malformed Via: sent-protocol")
    sent_by = sent_by.strip(WS)
    host, port = _parse_sent_by(sent_by)
    params = parse_params(param_text, "Via") if semi else ()
    return Via(transport.upper(), host, port, params, f"{name.upper()}/{version}")


def _parse_sent_by(text: str) -> tuple[str, int | None]:
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise SipParseError("Malformed Via: sent-by")
        host, tail = text[: end + 1], text[end + 1 :].strip(WS)
        port_text = tail[1:].strip(WS) if tail.startswith(":") else None
        if tail and port_text is None:
            raise SipParseError("Malformed Via: sent-by")
    else:
        host, colon, port_ = text.partition(":")
        host = host.strip(WS)
        port_text = port_.strip(WS) if colon else None
        if not host or not _SENT_BY_HOST_CHARS.issuperset(host):
            raise SipParseError("Malformed Via: sent-by host")
    if port_text is None:
        return host, None
    if not is_uint(port_text) or len(port_text) > 5 or int(port_text) > 65535:
        raise SipParseError("Malformed Via: port")
    return host, int(port_text)


def parse_via_list(value: str) -> list[Via]:
    return [parse_via(item) for item in split_list(value)]


@dataclass(frozen=True, slots=True)
class CSeq:
    """CSeq (RFC 3261 §20.16): a 32-bit sequence number and the method."""

    seq: int
    method: str

    def __str__(self) -> str:
        return f"{self.seq} {self.method}"


def parse_cseq(value: str) -> CSeq:
    parts = value.split()
    if len(parts) != 2:
        raise SipParseError("Malformed CSeq")
    number, method = parts
    if not number.isdigit() or not number.isascii() or len(number) > 10:
        raise SipParseError("Malformed CSeq: bad number")
    seq = int(number)
    if seq > MAX_CSEQ:
        raise SipParseError("Malformed CSeq: number out of range")
    if not is_token(method):
        raise SipParseError("Malformed CSeq: bad method")
    return CSeq(seq, method)


def parse_uint(value: str, name: str, limit: int = MAX_CSEQ) -> int:
    """Parse a non-negative decimal header (Max-Forwards, Expires, Content-Length...)."""
    text = value.strip(WS)
    if not text.isdigit() or not text.isascii() or len(text) > 10 or int(text) > limit:
        raise SipParseError(f"Malformed {name}")
    return int(text)


def parse_tokens(value: str, name: str) -> list[str]:
    """Parse a comma-separated token list (Allow, Supported, Require, Unsupported...)."""
    items = split_list(value)
    for item in items:
        if not is_token(item):
            raise SipParseError(f"Malformed {name}")
    return items


@dataclass(frozen=True, slots=True)
class ParamValue:
    """A token with parameters: Event (RFC 6665 §8.2.1), Subscription-State, Content-Disposition."""

    value: str
    params: Params = ()

    def param(self, name: str) -> str | None:
        return get_param(self.params, name)

    def __str__(self) -> str:
        return f"{self.value}{format_params(self.params)}"


def parse_param_value(value: str, name: str) -> ParamValue:
    head, semi, rest = value.partition(";")
    head = head.strip(WS)
    if not head or " " in head or "\t" in head:
        raise SipParseError(f"Malformed {name}")
    return ParamValue(head, parse_params(rest, name) if semi else ())


@dataclass(frozen=True, slots=True)
class SubscriptionState:
    """Subscription-State (RFC 6665 §8.2.3): active/pending/terminated with expires/reason."""

    state: str
    expires: int | None = None
    reason: str | None = None
    retry_after: int | None = None

    def __str__(self) -> str:
        out = self.state
        if self.reason is not None:
            out += f";reason={self.reason}"
        if self.expires is not None:
            out += f";expires={self.expires}"
        if self.retry_after is not None:
            out += f";retry-after={self.retry_after}"
        return out


def parse_subscription_state(value: str) -> SubscriptionState:
    pv = parse_param_value(value, "Subscription-State")
    expires = pv.param("expires")
    retry = pv.param("retry-after")
    return SubscriptionState(
        pv.value.lower(),
        int(expires) if expires and is_uint(expires) else None,
        pv.param("reason"),
        int(retry) if retry and is_uint(retry) else None,
    )


@dataclass(frozen=True, slots=True)
class Replaces:
    """Replaces (RFC 3891 §6.1): the dialog to replace, named from the recipient's side."""

    call_id: str
    to_tag: str
    from_tag: str
    early_only: bool = False

    def __str__(self) -> str:
        out = f"{self.call_id};to-tag={self.to_tag};from-tag={self.from_tag}"
        return out + (";early-only" if self.early_only else "")


def parse_replaces(value: str) -> Replaces:
    head, semi, rest = value.partition(";")
    call_id = head.strip(WS)
    if not call_id or not semi:
        raise SipParseError("Malformed Replaces")
    params = parse_params(rest, "Replaces")
    to_tag = get_param(params, "to-tag")
    from_tag = get_param(params, "from-tag")
    if to_tag is None or from_tag is None:
        raise SipParseError("Malformed Replaces: to-tag and from-tag required")
    return Replaces(call_id, to_tag, from_tag, get_param(params, "early-only") is not None)


@dataclass(frozen=True, slots=True)
class Reason:
    """Reason (RFC 3326): ``SIP;cause=200;text="Call completed elsewhere"``."""

    protocol: str
    cause: int | None = None
    text: str | None = None

    def __str__(self) -> str:
        out = self.protocol
        if self.cause is not None:
            out += f";cause={self.cause}"
        if self.text is not None:
            out += ';text="' + self.text.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return out


def parse_reasons(value: str) -> list[Reason]:
    out: list[Reason] = []
    for item in split_list(value):
        pv = parse_param_value(item, "Reason")
        cause = pv.param("cause")
        text = pv.param("text")
        out.append(Reason(pv.value, int(cause) if cause and is_uint(cause) else None, text))
    return out


def parse_bool_header(value: str, name: str) -> bool:
    """Refer-Sub (RFC 4488 §2.1): ``true`` or ``false`` with optional params."""
    head = value.partition(";")[0].strip(WS).lower()
    if head not in ("true", "false"):
        raise SipParseError(f"Malformed {name}")
    return head == "true"


def unquote_value(value: str) -> str:
    return unquote(value.strip(WS))
