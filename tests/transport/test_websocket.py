"""SIP over WebSocket (RFC 7118), driven by a wsproto client over real sockets."""

from __future__ import annotations

import asyncio
import contextlib
import ssl

from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Message,
    Ping,
    Pong,
    RejectConnection,
    Request,
    TextMessage,
)

from sipswitch.transport import (
    ConnectionClosed,
    Flow,
    FramingFailed,
    Rejected,
    SendFailed,
    Target,
    TransportLimits,
)
from tests.support.certs import Certificate

from .conftest import WAIT, StartFn, sip_request


class WsClient:
    """A minimal WebSocket client: wsproto over asyncio streams."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.pending: list[Event] = []

    @classmethod
    async def connect(
        cls, port: int, subprotocols: tuple[str, ...] = ("sip",), tls: ssl.SSLContext | None = None
    ) -> tuple[WsClient, Event]:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(
                "127.0.0.1", port, ssl=tls, server_hostname="localhost" if tls else None
            ),
            WAIT,
        )
        client = cls(reader, writer)
        client.writer.write(
            client.ws.send(Request(host="localhost", target="/", subprotocols=list(subprotocols)))
        )
        return client, await client.event()

    async def event(self) -> Event:
        while not self.pending:
            data = await asyncio.wait_for(self.reader.read(65536), WAIT)
            self.ws.receive_data(data or None)
            self.pending.extend(self.ws.events())
        return self.pending.pop(0)

    async def message(self) -> bytes:
        parts: list[bytes] = []
        while True:
            event = await self.event()
            assert isinstance(event, Message), event
            parts.append(event.data.encode() if isinstance(event.data, str) else event.data)
            if event.message_finished:
                return b"".join(parts)

    def send(self, event: Event) -> None:
        self.writer.write(self.ws.send(event))

    async def closed_by_server(self) -> bool:
        with contextlib.suppress(ConnectionResetError):
            while await asyncio.wait_for(self.reader.read(65536), WAIT):
                pass
        return True

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


async def test_handshake_and_message_exchange(start: StartFn) -> None:
    server = await start(["ws:127.0.0.1:0"])
    client, accepted = await WsClient.connect(server.port("ws"))
    assert isinstance(accepted, AcceptConnection)
    assert accepted.subprotocol == "sip"

    client.send(TextMessage(data=sip_request("ws", transport="WS").decode()))
    data, flow = await server.got.message()
    assert data == sip_request("ws", transport="WS")
    assert flow.transport == "ws"
    assert flow.remote == client.writer.get_extra_info("sockname")
    assert flow.connection_id is not None

    server.manager.send(b"SIP/2.0 200 OK\r\n\r\n", flow)
    assert await client.message() == b"SIP/2.0 200 OK\r\n\r\n"

    # binary frames and fragmented messages carry SIP too
    client.send(BytesMessage(data=b"OPTIONS sip:a SIP/2.0\r\n", message_finished=False))
    client.send(BytesMessage(data=b"\r\n"))
    assert (await server.got.message())[0] == b"OPTIONS sip:a SIP/2.0\r\n\r\n"
    await client.close()


async def test_ping_pong_and_close_handshake(start: StartFn) -> None:
    server = await start(["ws:127.0.0.1:0"])
    client, _ = await WsClient.connect(server.port("ws"))
    client.send(Ping(payload=b"hi"))
    pong = await client.event()
    assert isinstance(pong, Pong)
    assert pong.payload == b"hi"
    client.send(CloseConnection(code=1000, reason="bye"))
    answer = await client.event()
    assert isinstance(answer, CloseConnection)
    assert answer.code == 1000
    assert await client.closed_by_server()
    closed = await server.got.event(ConnectionClosed)
    assert isinstance(closed, ConnectionClosed)
    assert "closed by peer" in closed.reason
    await client.close()


async def test_non_sip_subprotocol_is_refused(start: StartFn) -> None:
    server = await start(["ws:127.0.0.1:0"])
    client, answer = await WsClient.connect(server.port("ws"), subprotocols=("chat",))
    assert isinstance(answer, RejectConnection)
    assert answer.status_code == 400
    assert await client.closed_by_server()
    rejected = await server.got.event(Rejected)
    assert isinstance(rejected, Rejected)
    assert "sip" in rejected.reason
    await client.close()


async def test_garbage_closes_only_that_connection(start: StartFn) -> None:
    server = await start(["ws:127.0.0.1:0"])
    port = server.port("ws")
    good, _ = await WsClient.connect(port)
    for garbage in (
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(256)),
        b"INVITE sip:bob@example.com SIP/2.0\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: \xff\xfe\r\n\r\n",
    ):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(garbage)
        bad = WsClient(reader, writer)
        assert await bad.closed_by_server()
        await bad.close()
    good.send(TextMessage(data="OPTIONS still fine"))
    data, flow = await server.got.message()
    assert data == b"OPTIONS still fine"
    server.manager.send(b"ok", flow)
    assert await good.message() == b"ok"
    await good.close()


async def test_bad_frame_after_handshake_closes_the_connection(start: StartFn) -> None:
    server = await start(["ws:127.0.0.1:0"])
    client, _ = await WsClient.connect(server.port("ws"))
    client.writer.write(b"\x81\x05hello")  # unmasked client frame: RFC 6455 §5.1 forbids it
    event = await client.event()
    assert isinstance(event, CloseConnection)
    assert event.code == 1002
    assert await client.closed_by_server()
    failed = await server.got.event(FramingFailed)
    assert isinstance(failed, FramingFailed)
    await client.close()


async def test_oversized_message_is_refused(start: StartFn) -> None:
    server = await start(["ws:127.0.0.1:0"], limits=TransportLimits(max_message_size=1000))
    client, _ = await WsClient.connect(server.port("ws"))
    client.send(TextMessage(data="x" * 1001))
    event = await client.event()
    assert isinstance(event, CloseConnection)
    assert event.code == 1009
    assert await client.closed_by_server()
    assert server.got.messages.empty()
    await client.close()


async def test_unfinished_handshake_times_out(start: StartFn) -> None:
    server = await start(["ws:127.0.0.1:0"], limits=TransportLimits(partial_timeout=0.2))
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port("ws"))
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")
    client = WsClient(reader, writer)
    assert await client.closed_by_server()
    closed = await server.got.event(ConnectionClosed)
    assert isinstance(closed, ConnectionClosed)
    assert "complete message" in closed.reason
    await client.close()


async def test_gone_websocket_flow_fails(start: StartFn) -> None:
    server = await start(["ws:127.0.0.1:0"])
    client, _ = await WsClient.connect(server.port("ws"))
    client.send(TextMessage(data="OPTIONS x"))
    _, flow = await server.got.message()
    await client.close()
    await server.got.event(ConnectionClosed)
    server.manager.send(b"late answer", flow)
    failed = await server.got.event(SendFailed)
    assert failed == SendFailed(flow, "WebSocket connection is gone")


async def test_wss_round_trip(start: StartFn, certificate: Certificate) -> None:
    server = await start(["wss:127.0.0.1:0"], tls_context=certificate.server_context())
    client, accepted = await WsClient.connect(server.port("wss"), tls=certificate.client_context())
    assert isinstance(accepted, AcceptConnection)
    client.send(TextMessage(data="OPTIONS secure"))
    data, flow = await server.got.message()
    assert (data, flow.transport) == (b"OPTIONS secure", "wss")
    server.manager.send(b"answer", flow)
    assert await client.message() == b"answer"
    await client.close()


async def test_outbound_websocket_between_managers(start: StartFn) -> None:
    remote = await start(["ws:127.0.0.1:0"])
    local = await start(["udp:127.0.0.1:0"])
    target = Target("ws", "127.0.0.1", remote.port("ws"))
    local.manager.send(b"OPTIONS one", target)
    local.manager.send(b"OPTIONS two", target)
    (one, flow), (two, _) = await remote.got.message(), await remote.got.message()
    assert (one, two) == (b"OPTIONS one", b"OPTIONS two")
    remote.manager.send(b"SIP/2.0 200 OK", flow)
    data, back = await local.got.message()
    assert data == b"SIP/2.0 200 OK"
    assert isinstance(back, Flow)
    assert back.transport == "ws"
    assert local.manager.connection_count == 1
