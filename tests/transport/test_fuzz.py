"""Garbage fed to a connection never escapes as an exception: it closes that connection."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipswitch.transport import Flow, TransportEvent, TransportLimits
from sipswitch.transport.connection import Connection, ConnectionHub
from sipswitch.transport.stream import StreamConnection
from sipswitch.transport.websocket import WebSocketConnection

from .conftest import sip_request


class FakeTransport(asyncio.Transport):
    """Records writes; closing is immediate."""

    def __init__(self, protocol: Connection) -> None:
        super().__init__()
        self.protocol = protocol
        self.written = bytearray()
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("192.0.2.1", 40000), "sockname": ("192.0.2.2", 5060)}.get(
            name, default
        )

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data

    def get_write_buffer_size(self) -> int:
        return 0

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.protocol.connection_lost(None)

    def abort(self) -> None:
        self.close()


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def feed(loop: asyncio.AbstractEventLoop, kind: str, chunks: list[bytes]) -> list[bytes]:
    received: list[bytes] = []
    events: list[TransportEvent] = []

    def sink(data: bytes, flow: Flow) -> None:
        received.append(data)

    limits = TransportLimits(max_message_size=4096, max_header_size=1024)
    hub = ConnectionHub(sink, events.append, limits, loop)
    conn: Connection
    if kind == "ws":
        conn = WebSocketConnection(hub, "ws", ("ws", "", 0), inbound=True)
    else:
        conn = StreamConnection(hub, "tcp", ("tcp", "", 0), inbound=True)
    transport = FakeTransport(conn)
    conn.connection_made(transport)
    for chunk in chunks:
        if transport.closed:
            break
        conn.data_received(chunk)
    transport.close()
    assert not hub.by_id  # released, whatever happened
    return received


PIECES = st.sampled_from(
    [
        b"\r\n",
        b"\r\n\r\n",
        b"Content-Length: 5\r\n",
        b"l: 99999999\r\n",
        b"GET / HTTP/1.1\r\n",
        b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n",
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nHost: x\r\n",
        b"Sec-WebSocket-Protocol: sip\r\n",
        b"\x81\x85abcd",
        b"\x88\x80abcd",
        b"\x89\x00",
        sip_request("fuzz"),
    ]
)
CHUNKS = st.lists(st.one_of(st.binary(max_size=64), PIECES), max_size=12)


@settings(max_examples=300, deadline=None)
@given(chunks=CHUNKS)
def test_stream_connection_survives_garbage(
    loop: asyncio.AbstractEventLoop, chunks: list[bytes]
) -> None:
    for message in feed(loop, "tcp", chunks):
        assert b"\r\n\r\n" in message


@settings(max_examples=300, deadline=None)
@given(chunks=CHUNKS)
def test_websocket_connection_survives_garbage(
    loop: asyncio.AbstractEventLoop, chunks: list[bytes]
) -> None:
    feed(loop, "ws", chunks)


def test_stream_framing_through_the_fake(loop: asyncio.AbstractEventLoop) -> None:
    message = sip_request("whole", body=b"hello")
    assert feed(loop, "tcp", [message[:10], message[10:] + message]) == [message, message]
