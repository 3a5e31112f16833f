"""Message factories and a fake network for the transaction layer tests."""

from __future__ import annotations

from typing import TypeVar

from sipswitch.sip.builders import make_response
from sipswitch.sip.message import Request, Response
from sipswitch.sip.parser import parse_message
from sipswitch.sip.transaction import TransactionLayer
from sipswitch.sip.transaction.events import Event, Outbound

UAC = ("192.0.2.1", 5060)
UAS = ("198.51.100.2", 5060)


def request(
    method: str = "INVITE",
    *,
    branch: str | None = "z9hG4bKclient1",
    transport: str = "UDP",
    host: str = "192.0.2.1",
    port: int | None = 5060,
    to_tag: str | None = None,
    from_tag: str = "ftag",
    call_id: str = "call-1",
    cseq: int = 1,
    uri: str = "sip:bob@example.com",
) -> Request:
    sent_by = host if port is None else f"{host}:{port}"
    via = f"SIP/2.0/{transport} {sent_by}" + (f";branch={branch}" if branch is not None else "")
    to = "<sip:bob@example.com>" + (f";tag={to_tag}" if to_tag else "")
    return Request(
        method,
        uri,
        [
            ("Via", via),
            ("Max-Forwards", "70"),
            ("Route", "<sip:proxy.example.com;lr>"),
            ("From", f"<sip:alice@example.com>;tag={from_tag}"),
            ("To", to),
            ("Call-ID", call_id),
            ("CSeq", f"{cseq} {method}"),
            ("Contact", "<sip:alice@192.0.2.1>"),
        ],
    )


M = TypeVar("M", Request, Response)


def wire(message: M) -> M:
    """A fresh copy, as the peer would see it after the network."""
    parsed = parse_message(message.to_bytes())
    assert type(parsed) is type(message)
    return parsed


def response(req: Request, status: int, to_tag: str | None = "ttag") -> Response:
    return make_response(req, status, to_tag=to_tag)


def drain(layer: TransactionLayer) -> tuple[list[Outbound], list[Event]]:
    return layer.pop_outbound(), layer.pop_events()


def run_until(layer: TransactionLayer, until: float) -> list[float]:
    """Fire every deadline up to ``until`` with a fake clock; returns the firing times."""
    times = []
    while (deadline := layer.next_deadline()) is not None and deadline <= until:
        times.append(deadline)
        layer.handle_timer(deadline)
    return times


def send_times(layer: TransactionLayer, until: float) -> list[float]:
    """Fire deadlines up to ``until``; returns the times at which something was transmitted."""
    times = []
    while (deadline := layer.next_deadline()) is not None and deadline <= until:
        layer.handle_timer(deadline)
        if layer.pop_outbound():
            times.append(deadline)
    return times
