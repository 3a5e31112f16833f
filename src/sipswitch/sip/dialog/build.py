"""Building requests within a dialog (RFC 3261 §12.2.1.1) and the ACK for a 2xx (§13.2.2.4)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from sipswitch.sip.address import Address
from sipswitch.sip.builders import new_branch
from sipswitch.sip.grammar import is_token
from sipswitch.sip.message import Request, header_key
from sipswitch.sip.uri import SipUri, Uri
from sipswitch.sip.values import Via

if TYPE_CHECKING:
    from sipswitch.sip.dialog.model import Dialog

#: fields the dialog writes itself; callers set them through parameters, not ``headers``
_RESERVED = frozenset(
    {"via", "max-forwards", "route", "from", "to", "call-id", "cseq", "contact", "content-length"}
)
#: requests that carry our Contact (RFC 3261 Table 2, RFC 3515 §2.4.1, RFC 6665 §4)
_WITH_CONTACT = frozenset(
    {"INVITE", "ACK", "OPTIONS", "UPDATE", "SUBSCRIBE", "NOTIFY", "REFER", "PRACK"}
)


@dataclass(frozen=True, slots=True)
class SentBy:
    """Our address for the top Via (§18.1.1): where responses come back to.

    ``rport`` asks the next hop to answer to the source port (RFC 3581).
    """

    host: str
    port: int | None = None
    transport: str = "UDP"
    rport: bool = True

    def via(self, branch: str) -> Via:
        params: tuple[tuple[str, str | None], ...] = (("branch", branch),)
        if self.rport:
            params += (("rport", None),)
        return Via(self.transport.upper(), self.host, self.port, params)


#: a fixed sent-by, or a function of the next-hop URI (§8.1.2: first route, else remote target)
ViaSource = SentBy | Callable[[Uri], SentBy]


def route_request(remote_target: Uri, route_set: tuple[Address, ...]) -> tuple[Uri, list[Address]]:
    """The Request-URI and the Route values of an in-dialog request (§12.2.1.1).

    Loose routing (empty route set, or ``lr`` on the first route): the Request-URI is the
    remote target and Route is the route set. Strict routing (first route without ``lr``):
    the Request-URI is the first route, and Route is the rest followed by the remote target.
    URIs placed in the Request-URI or Route lose what §19.1.1 Table 1 forbids there (URI
    headers; and ``method`` in a Request-URI).
    """
    target = _for_request_uri(remote_target)
    if not route_set:
        return target, []
    first = route_set[0].uri
    if isinstance(first, SipUri) and first.lr:
        return target, list(route_set)
    return _for_request_uri(first), [*route_set[1:], Address(_for_route(remote_target))]


def _for_request_uri(uri: Uri) -> Uri:
    if isinstance(uri, SipUri) and (uri.headers or uri.has_param("method")):
        params = tuple((n, v) for n, v in uri.params if n.lower() != "method")
        return replace(uri, params=params, headers=())
    return uri


def _for_route(uri: Uri) -> Uri:
    if isinstance(uri, SipUri) and uri.headers:
        return replace(uri, headers=())
    return uri


def _sent_by(via: ViaSource, next_hop: Uri) -> SentBy:
    return via if isinstance(via, SentBy) else via(next_hop)


def _check_headers(headers: list[tuple[str, str]], body: bytes) -> None:
    for name, value in headers:
        if not is_token(name) or any(ch in value for ch in "\r\n\x00"):
            raise ValueError(f"bad header field {name!r}")
    keys = {header_key(name) for name, _ in headers}
    reserved = keys & _RESERVED
    if reserved:
        raise ValueError(f"header(s) set by the dialog: {', '.join(sorted(reserved))}")
    if body and "content-type" not in keys:
        raise ValueError("a body needs a Content-Type header")


def _build(
    dialog: Dialog,
    method: str,
    cseq: str,
    *,
    via: ViaSource,
    body: bytes,
    headers: Iterable[tuple[str, str]],
    contact: Address | None,
    branch: str | None,
    max_forwards: int,
) -> Request:
    extra = list(headers)
    _check_headers(extra, body)
    if not 0 <= max_forwards <= 255:
        raise ValueError("Max-Forwards out of range")
    request_uri, routes = route_request(dialog.remote_target, dialog.route_set)
    sent_by = _sent_by(via, dialog.next_hop)
    top_via = sent_by.via(branch or new_branch())
    out: list[tuple[str, str]] = [("Via", str(top_via)), ("Max-Forwards", str(max_forwards))]
    out.extend(("Route", str(route)) for route in routes)
    local = dialog.local_uri.with_tag(dialog.local_tag)
    remote = dialog.remote_uri
    if dialog.remote_tag:  # a null tag (RFC 2543 peer) is left out
        remote = remote.with_tag(dialog.remote_tag)
    out += [
        ("From", str(local)),
        ("To", str(remote)),
        ("Call-ID", dialog.call_id),
        ("CSeq", cseq),
    ]
    if method in _WITH_CONTACT:
        out.append(("Contact", str(contact or dialog.local_contact)))
    out.extend(extra)
    return Request(method, request_uri, out, body)


def build_request(
    dialog: Dialog,
    method: str,
    seq: int,
    *,
    via: ViaSource,
    body: bytes,
    headers: Iterable[tuple[str, str]],
    contact: Address | None,
    branch: str | None,
    max_forwards: int,
) -> Request:
    """An in-dialog request with CSeq ``seq`` (the dialog picks and records the number)."""
    return _build(
        dialog,
        method,
        f"{seq} {method}",
        via=via,
        body=body,
        headers=headers,
        contact=contact,
        branch=branch,
        max_forwards=max_forwards,
    )


def build_ack(
    dialog: Dialog,
    seq: int,
    *,
    via: ViaSource,
    body: bytes,
    headers: Iterable[tuple[str, str]],
    branch: str | None,
    max_forwards: int,
) -> Request:
    """The ACK for a 2xx: CSeq number of the INVITE, method ACK (§13.2.2.4)."""
    return _build(
        dialog,
        "ACK",
        f"{seq} ACK",
        via=via,
        body=body,
        headers=headers,
        contact=None,
        branch=branch,
        max_forwards=max_forwards,
    )
