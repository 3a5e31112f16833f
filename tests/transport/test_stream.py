"""TCP and TLS (RFC 3261 §18.3, RFC 5626 §3.5.1): framing, keep-alives, reuse, timeouts, caps."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from sipswitch.transport import (
    ConnectionClosed,
    ConnectionOpened,
    Flow,
    FramingFailed,
    Rejected,
    SendFailed,
    Target,
    TransportLimits,
)
from tests.support.certs import Certificate

from .conftest import WAIT, StartFn, ipv6_available, sip_request

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def connect(port: int, **kwargs: object) -> Streams:
    return await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port, **kwargs), WAIT)  # type: ignore[arg-type]


async def read_exactly(reader: asyncio.StreamReader, n: int) -> bytes:
    return await asyncio.wait_for(reader.readexactly(n), WAIT)


async def closed_by_server(reader: asyncio.StreamReader) -> bool:
    """Whether the server closed (EOF or reset), draining whatever came first."""
    try:
        while await asyncio.wait_for(reader.read(65536), WAIT):
            pass
    except ConnectionResetError:
        pass
    return True


async def close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


async def test_message_split_across_segments(start: StartFn) -> None:
    server = await start(["tcp:127.0.0.1:0"])
    _reader, writer = await connect(server.port("tcp"))
    message = sip_request("split", body=b"v=0\r\n")
    for i in range(0, len(message), 7):
        writer.write(message[i : i + 7])
        await writer.drain()
        await asyncio.sleep(0)
    data, flow = await server.got.message()
    assert data == message
    assert flow.transport == "tcp"
    assert flow.remote == writer.get_extra_info("sockname")
    assert flow.local == ("127.0.0.1", server.port("tcp"))
    assert flow.connection_id is not None
    await close(writer)


async def test_several_messages_in_one_segment(start: StartFn) -> None:
    server = await start(["tcp:127.0.0.1:0"])
    _, writer = await connect(server.port("tcp"))
    messages = [sip_request(f"m{i}", body=b"x" * i) for i in range(5)]
    writer.write(b"".join(messages))
    got = [(await server.got.message()) for _ in messages]
    assert [data for data, _ in got] == messages
    assert len({flow for _, flow in got}) == 1
    await close(writer)


async def test_ping_gets_a_single_pong(start: StartFn) -> None:
    server = await start(["tcp:127.0.0.1:0"])
    reader, writer = await connect(server.port("tcp"))
    writer.write(b"\r\n\r\n")
    assert await read_exactly(reader, 2) == b"\r\n"
    writer.write(b"\r\n")  # a pong from the client is not answered
    writer.write(b"\r\n\r\n" + sip_request("after"))
    assert await read_exactly(reader, 2) == b"\r\n"
    assert (await server.got.message())[0] == sip_request("after")
    await close(writer)


async def test_answers_reuse_the_connection(start: StartFn) -> None:
    server = await start(["tcp:127.0.0.1:0"])
    reader, writer = await connect(server.port("tcp"))
    writer.write(sip_request("reuse"))
    _, flow = await server.got.message()
    answer = b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"
    server.manager.send(answer, flow)
    assert await read_exactly(reader, len(answer)) == answer
    # a request to the client's address goes on the same connection too
    host, port = writer.get_extra_info("sockname")
    server.manager.send(b"NOTIFY", Target("tcp", host, port))
    assert await read_exactly(reader, 6) == b"NOTIFY"
    assert server.manager.connection_count == 1
    await close(writer)


async def test_outbound_connection_is_opened_then_reused(start: StartFn) -> None:
    remote = await start(["tcp:127.0.0.1:0"])
    local = await start(["udp:127.0.0.1:0"])
    target = Target("tcp", "127.0.0.1", remote.port("tcp"))
    local.manager.send(sip_request("out1"), target)
    local.manager.send(sip_request("out2"), target)  # queued behind the connect
    (first, flow1), (second, flow2) = await remote.got.message(), await remote.got.message()
    assert (first, second) == (sip_request("out1"), sip_request("out2"))
    local.manager.send(sip_request("out3"), target)
    _, flow3 = await remote.got.message()
    assert flow1 == flow2 == flow3
    # the answer comes back on that connection and up the local sink
    remote.manager.send(sip_request("back"), flow1)
    data, back_flow = await local.got.message()
    assert data == sip_request("back")
    assert back_flow.remote == ("127.0.0.1", remote.port("tcp"))
    assert local.manager.connection_count == 1


async def test_flow_whose_connection_is_gone_falls_back_to_a_new_one(start: StartFn) -> None:
    remote = await start(["tcp:127.0.0.1:0"])
    local = await start(["tcp:127.0.0.1:0"])
    stale = Flow("tcp", ("127.0.0.1", remote.port("tcp")), ("127.0.0.1", 1), connection_id=999)
    local.manager.send(sip_request("fallback"), stale)
    assert (await remote.got.message())[0] == sip_request("fallback")


async def test_connect_failure_is_reported(start: StartFn) -> None:
    local = await start(["tcp:127.0.0.1:0"])
    # a port that was just free: nothing listens there
    probe = await start(["tcp:127.0.0.1:0"])
    port = probe.port("tcp")
    await probe.manager.stop()
    target = Target("tcp", "127.0.0.1", port)
    local.manager.send(b"lost", target)
    event = await local.got.event(SendFailed)
    assert event == SendFailed(target, event.reason)
    assert "connect to 127.0.0.1" in event.reason


async def test_partial_message_then_silence_is_closed(start: StartFn) -> None:
    limits = TransportLimits(partial_timeout=0.2)
    server = await start(["tcp:127.0.0.1:0"], limits=limits)
    reader, writer = await connect(server.port("tcp"))
    writer.write(sip_request("half")[:40])
    assert await closed_by_server(reader)
    closed = await server.got.event(ConnectionClosed)
    assert isinstance(closed, ConnectionClosed)
    assert "complete message" in closed.reason
    assert server.got.messages.empty()
    await close(writer)


async def test_idle_connection_is_closed(start: StartFn) -> None:
    limits = TransportLimits(idle_timeout=0.2)
    server = await start(["tcp:127.0.0.1:0"], limits=limits)
    reader, writer = await connect(server.port("tcp"))
    writer.write(sip_request("then idle"))
    await server.got.message()
    assert await closed_by_server(reader)
    closed = await server.got.event(ConnectionClosed)
    assert isinstance(closed, ConnectionClosed)
    assert closed.reason == "idle timeout"
    await close(writer)


async def test_huge_content_length_closes_only_that_connection(start: StartFn) -> None:
    server = await start(["tcp:127.0.0.1:0"])
    port = server.port("tcp")
    good_reader, good_writer = await connect(port)
    bad_reader, bad_writer = await connect(port)
    head = sip_request("huge").replace(b"Content-Length: 0", b"Content-Length: 10000000")
    bad_writer.write(head + b"x" * 1000)
    assert await closed_by_server(bad_reader)
    failed = await server.got.event(FramingFailed)
    assert isinstance(failed, FramingFailed)
    assert failed.reason == "Message Too Large"
    good_writer.write(sip_request("still served"))
    data, flow = await server.got.message()
    assert data == sip_request("still served")
    server.manager.send(b"ok", flow)
    assert await read_exactly(good_reader, 2) == b"ok"
    await close(bad_writer)
    await close(good_writer)


async def test_connections_per_source_are_capped(start: StartFn) -> None:
    limits = TransportLimits(max_connections_per_ip=2)
    server = await start(["tcp:127.0.0.1:0"], limits=limits)
    port = server.port("tcp")
    first = await connect(port)
    second = await connect(port)
    for _ in range(2):
        await server.got.event(ConnectionOpened)
    third_reader, third_writer = await connect(port)
    rejected = await server.got.event(Rejected)
    assert isinstance(rejected, Rejected)
    assert "too many connections" in rejected.reason
    assert await closed_by_server(third_reader)
    # the admitted ones still work, and a slot frees up when one closes
    second[1].write(sip_request("admitted"))
    assert (await server.got.message())[0] == sip_request("admitted")
    await close(first[1])
    await server.got.event(ConnectionClosed)
    _, fourth_writer = await connect(port)
    fourth_writer.write(sip_request("fourth"))
    assert (await server.got.message())[0] == sip_request("fourth")
    for writer in (second[1], third_writer, fourth_writer):
        await close(writer)


async def test_total_connections_are_capped(start: StartFn) -> None:
    server = await start(["tcp:127.0.0.1:0"], limits=TransportLimits(max_connections=1))
    port = server.port("tcp")
    _, first = await connect(port)
    await server.got.event(ConnectionOpened)
    second_reader, second = await connect(port)
    assert await closed_by_server(second_reader)
    rejected = await server.got.event(Rejected)
    assert isinstance(rejected, Rejected)
    await close(first)
    await close(second)


async def test_outbound_buffer_cap(start: StartFn) -> None:
    server = await start(["tcp:127.0.0.1:0"], limits=TransportLimits(max_outbound_buffer=4096))
    _reader, writer = await connect(server.port("tcp"))
    writer.write(sip_request("reader never reads"))
    _, flow = await server.got.message()
    for _ in range(2000):  # the client does not read: kernel buffers fill, then ours
        server.manager.send(b"x" * 8192, flow)
    failed = await server.got.event(SendFailed)
    assert isinstance(failed, SendFailed)
    assert failed.reason in ("outbound buffer full", "connection closed")
    closed = await server.got.event(ConnectionClosed)
    assert isinstance(closed, ConnectionClosed)
    assert closed.reason == "outbound buffer full"
    await close(writer)


async def test_tls_round_trip(start: StartFn, certificate: Certificate) -> None:
    server = await start(["tls:127.0.0.1:0"], tls_context=certificate.server_context())
    reader, writer = await connect(
        server.port("tls"), ssl=certificate.client_context(), server_hostname="localhost"
    )
    writer.write(sip_request("secure", transport="TLS"))
    data, flow = await server.got.message()
    assert data == sip_request("secure", transport="TLS")
    assert flow.transport == "tls"
    server.manager.send(b"SIP/2.0 200 OK\r\n\r\n", flow)
    assert await read_exactly(reader, 18) == b"SIP/2.0 200 OK\r\n\r\n"
    writer.write(b"\r\n\r\n")
    assert await read_exactly(reader, 2) == b"\r\n"
    await close(writer)


async def test_tls_outbound_between_managers(start: StartFn, certificate: Certificate) -> None:
    remote = await start(["tls:127.0.0.1:0"], tls_context=certificate.server_context())
    local = await start(["udp:127.0.0.1:0"], tls_client_context=certificate.client_context())
    target = Target("tls", "127.0.0.1", remote.port("tls"), server_name="localhost")
    local.manager.send(sip_request("tls out", transport="TLS"), target)
    data, flow = await remote.got.message()
    assert data == sip_request("tls out", transport="TLS")
    remote.manager.send(sip_request("tls back", transport="TLS"), flow)
    data, back = await local.got.message()
    assert data == sip_request("tls back", transport="TLS")
    assert back.transport == "tls"


async def test_tls_certificate_mismatch_fails_the_send(
    start: StartFn, certificate: Certificate
) -> None:
    remote = await start(["tls:127.0.0.1:0"], tls_context=certificate.server_context())
    local = await start(["udp:127.0.0.1:0"], tls_client_context=certificate.client_context())
    target = Target("tls", "127.0.0.1", remote.port("tls"), server_name="other.example")
    local.manager.send(b"x", target)
    failed = await local.got.event(SendFailed)
    assert isinstance(failed, SendFailed)
    assert failed.to == target


async def test_plain_bytes_to_a_tls_listener_close_that_connection(
    start: StartFn, certificate: Certificate
) -> None:
    server = await start(["tls:127.0.0.1:0"], tls_context=certificate.server_context())
    reader, writer = await connect(server.port("tls"))
    writer.write(sip_request("not tls"))
    assert await closed_by_server(reader)
    await close(writer)
    reader, writer = await connect(
        server.port("tls"), ssl=certificate.client_context(), server_hostname="localhost"
    )
    writer.write(sip_request("fine"))
    assert (await server.got.message())[0] == sip_request("fine")
    await close(writer)


@pytest.mark.skipif(not ipv6_available(), reason="no IPv6 loopback")
async def test_ipv6_tcp_round_trip(start: StartFn) -> None:
    server = await start(["tcp:[::1]:0"])
    reader, writer = await asyncio.open_connection("::1", server.port("tcp"))
    writer.write(sip_request("v6"))
    data, flow = await server.got.message()
    assert data == sip_request("v6")
    assert flow.remote == writer.get_extra_info("sockname")[:2]
    assert flow.local == ("::1", server.port("tcp"))
    server.manager.send(b"pong", Target("tcp", "::1", flow.remote[1]))
    assert await read_exactly(reader, 4) == b"pong"
    await close(writer)


async def test_busy_pipelined_stream_is_not_taken_for_a_stall(start: StartFn) -> None:
    """Every read ends mid-message for longer than the partial timeout, yet messages flow."""
    server = await start(["tcp:127.0.0.1:0"], limits=TransportLimits(partial_timeout=0.15))
    _reader, writer = await connect(server.port("tcp"))
    stream = b"".join(sip_request(f"p{i}") for i in range(12))
    step = len(stream) // 12 + 17  # never on a message boundary
    for i in range(0, len(stream), step):
        writer.write(stream[i : i + step])
        await asyncio.sleep(0.04)  # paces the peer: 12 writes span about 0.5 s
    for i in range(12):
        assert (await server.got.message())[0] == sip_request(f"p{i}")
    assert not [e for e in server.got.events if isinstance(e, ConnectionClosed)]
    await close(writer)
