"""Fixtures for the transport tests: a collecting sink, managers on loopback, a TLS certificate."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import pytest

from sipswitch.transport import (
    Flow,
    ListenerSpec,
    TransportEvent,
    TransportLimits,
    TransportManager,
)
from tests.support.certs import Certificate, make_certificate

WAIT = 5.0  # an upper bound for things that happen within milliseconds; never slept


def sip_request(call_id: str = "abc", body: bytes = b"", transport: str = "TCP") -> bytes:
    head = (
        "OPTIONS sip:alice@example.com SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport} 127.0.0.1:5999;branch=z9hG4bK{call_id}\r\n"
        "From: <sip:bob@example.com>;tag=1\r\n"
        "To: <sip:alice@example.com>\r\n"
        f"Call-ID: {call_id}\r\n"
        "CSeq: 1 OPTIONS\r\n"
        "Max-Forwards: 70\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


@dataclass
class Collector:
    """The sink and event handler of a manager under test."""

    messages: asyncio.Queue[tuple[bytes, Flow]] = field(default_factory=asyncio.Queue)
    event_queue: asyncio.Queue[TransportEvent] = field(default_factory=asyncio.Queue)
    events: list[TransportEvent] = field(default_factory=list)

    def sink(self, data: bytes, flow: Flow) -> None:
        self.messages.put_nowait((data, flow))

    def on_event(self, event: TransportEvent) -> None:
        self.events.append(event)
        self.event_queue.put_nowait(event)

    async def message(self) -> tuple[bytes, Flow]:
        return await asyncio.wait_for(self.messages.get(), WAIT)

    async def event(self, kind: type[TransportEvent]) -> TransportEvent:
        """The next event of ``kind`` (others are skipped, still kept in ``events``)."""
        while True:
            event = await asyncio.wait_for(self.event_queue.get(), WAIT)
            if isinstance(event, kind):
                return event


@dataclass
class Running:
    manager: TransportManager
    got: Collector

    def port(self, transport: str) -> int:
        return next(s.port for s in self.manager.listeners() if s.transport == transport)


StartFn = Callable[..., Awaitable[Running]]


@pytest.fixture
async def start() -> AsyncIterator[StartFn]:
    """Start managers on the given listener strings; all are stopped at teardown."""
    started: list[TransportManager] = []

    async def _start(
        listeners: Sequence[str],
        limits: TransportLimits | None = None,
        tls_context: ssl.SSLContext | None = None,
        tls_client_context: ssl.SSLContext | None = None,
    ) -> Running:
        got = Collector()
        manager = TransportManager(
            got.sink,
            tls_context=tls_context,
            tls_client_context=tls_client_context,
            limits=limits or TransportLimits(),
            on_event=got.on_event,
        )
        await manager.start([ListenerSpec.parse(text) for text in listeners])
        started.append(manager)
        return Running(manager, got)

    yield _start
    for manager in started:
        await manager.stop()


def ipv6_available() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for ``localhost`` and 127.0.0.1, made with the openssl CLI."""
    return make_certificate(tmp_path_factory.mktemp("tls"))
