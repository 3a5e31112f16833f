"""Transaction identity: matching keys (RFC 3261 §17.1.3, §17.2.3), merged-request detection
(§8.2.2.2), and the server transport's Via handling (§18.2.1, §18.2.2, RFC 3581).

A key is a small named tuple, so a message is matched with one dict lookup.
"""

from __future__ import annotations

from typing import NamedTuple

from sipswitch.sip.message import Message, Request
from sipswitch.sip.values import Via

#: a transport-level address, as (host, port); passed through opaquely where the RFC allows
Peer = tuple[str, int]

DEFAULT_PORT = 5060
DEFAULT_TLS_PORT = 5061


class ClientKey(NamedTuple):
    """A client transaction: the branch it put in its top Via and the CSeq method (§17.1.3)."""

    branch: str
    method: str


class ServerKey(NamedTuple):
    """A server transaction (§17.2.3).

    RFC 3261 requests: top Via branch, sent-by and method (ACK counts as INVITE), and
    ``legacy`` is empty. RFC 2543 requests (no ``z9hG4bK`` branch): ``branch`` is whatever the
    Via carries, ``sent_by`` is the whole top Via, and ``legacy`` holds the Request-URI, From
    tag, Call-ID and CSeq number. The To tag is checked on match, not hashed, because the ACK of
    a non-2xx carries the tag of the response rather than that of the INVITE.
    """

    branch: str
    sent_by: str
    method: str
    legacy: tuple[str, str, str, int] | tuple[()] = ()


MergeKey = tuple[str, str, int, str]


def client_key(message: Message) -> ClientKey:
    """The client transaction a response (or our own request) belongs to."""
    return ClientKey(message.top_via.branch or "", message.cseq.method)


def server_key(request: Request) -> ServerKey:
    """The server transaction a request belongs to; raises SipParseError on bad headers."""
    via = request.top_via
    method = "INVITE" if request.method == "ACK" else request.method
    if via.is_rfc3261_branch:
        return ServerKey(via.branch or "", via.sent_by.lower(), method)
    legacy = (str(request.uri), request.from_.tag or "", request.call_id, request.cseq.seq)
    return ServerKey(via.branch or "", str(via), method, legacy)


def cancelled_key(cancel: ServerKey) -> ServerKey:
    """The INVITE server transaction a CANCEL's transaction targets (§9.2)."""
    return cancel._replace(method="INVITE")


def merge_key(request: Request) -> MergeKey | None:
    """From tag, Call-ID and CSeq of an out-of-dialog request (§8.2.2.2), else None."""
    if request.to.tag is not None:
        return None
    cseq = request.cseq
    return (request.from_.tag or "", request.call_id, cseq.seq, cseq.method)


def _bare(host: str) -> str:
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def stamp_via(request: Request, source: Peer) -> Via:
    """Add ``received`` (§18.2.1) and fill ``rport`` (RFC 3581 §4) in the top Via.

    Rewrites the request's first Via only when something changes; returns the top Via.
    """
    via = request.top_via
    host, port = source
    rport = via.rport_requested
    if not rport and _bare(via.host).lower() == _bare(host).lower():
        return via
    # one pass over the parameters: received replaced or appended, rport filled in
    received = _bare(host)
    params: list[tuple[str, str | None]] = []
    seen_received = False
    for name, value in via.params:
        lname = name.lower()
        if lname == "received":
            seen_received = True
            params.append((name, received))
        elif lname == "rport" and rport:
            params.append((name, str(port)))
        else:
            params.append((name, value))
    if not seen_received:
        params.append(("received", received))
    new = Via(via.transport, via.host, via.port, tuple(params), via.protocol)
    request.replace_top_via(new)
    return new


def response_destination(via: Via, source: Peer, reliable: bool) -> Peer:
    """Where to send responses of a request that arrived from ``source`` (§18.2.2, RFC 3581).

    Over a reliable transport, back over the same connection (its peer address); otherwise to
    ``received`` (or the sent-by host) at the ``rport`` (or sent-by port, or the default).
    """
    if reliable:
        return source
    port = via.rport
    if port is None:
        port = via.port or (DEFAULT_TLS_PORT if via.transport == "TLS" else DEFAULT_PORT)
    return (via.received or _bare(via.host), port)
