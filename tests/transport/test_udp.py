"""UDP (RFC 3261 §18): datagrams in and out, flow reporting, keep-alives, caps."""

from __future__ import annotations

import asyncio
import socket

import pytest

from sipswitch.transport import Flow, FramingFailed, SendFailed, Target, TransportLimits

from .conftest import WAIT, StartFn, ipv6_available, sip_request


async def recv(sock: socket.socket) -> tuple[bytes, tuple[str, int]]:
    loop = asyncio.get_running_loop()
    data, addr = await asyncio.wait_for(loop.sock_recvfrom(sock, 65536), WAIT)
    return data, (addr[0], addr[1])


def client(family: int = socket.AF_INET, host: str = "127.0.0.1") -> socket.socket:
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.setblocking(False)
    sock.bind((host, 0))
    return sock


async def test_round_trip_reports_the_flow(start: StartFn) -> None:
    server = await start(["udp:127.0.0.1:0"])
    port = server.port("udp")
    with client() as sock:
        sock.sendto(sip_request("one", transport="UDP"), ("127.0.0.1", port))
        data, flow = await server.got.message()
        assert data == sip_request("one", transport="UDP")
        assert flow == Flow("udp", sock.getsockname(), ("127.0.0.1", port), None)

        server.manager.send(b"SIP/2.0 200 OK\r\n\r\n", flow)
        answer, source = await recv(sock)
        assert answer == b"SIP/2.0 200 OK\r\n\r\n"
        assert source == ("127.0.0.1", port)

        server.manager.send(b"to a target", Target("udp", "127.0.0.1", sock.getsockname()[1]))
        assert (await recv(sock))[0] == b"to a target"


async def test_keepalives_and_empty_datagrams_are_ignored(start: StartFn) -> None:
    server = await start(["udp:127.0.0.1:0"])
    addr = ("127.0.0.1", server.port("udp"))
    with client() as sock:
        for junk in (b"", b"\r\n", b"\r\n\r\n", b" "):
            sock.sendto(junk, addr)
        sock.sendto(b"OPTIONS after keep-alives", addr)
        data, _ = await server.got.message()
        assert data == b"OPTIONS after keep-alives"
        assert server.got.messages.empty()
        # a keep-alive is not answered: nothing is waiting on the client socket
        with pytest.raises(BlockingIOError):
            sock.recvfrom(100)


async def test_many_datagrams_from_many_sources(start: StartFn) -> None:
    server = await start(["udp:127.0.0.1:0"])
    addr = ("127.0.0.1", server.port("udp"))
    socks = [client() for _ in range(3)]
    names = {s.getsockname() for s in socks}
    try:
        for i in range(200):
            socks[i % 3].sendto(f"MSG {i}".encode(), addr)
        received = [await server.got.message() for _ in range(200)]
    finally:
        for sock in socks:
            sock.close()
    assert sorted(int(d.split()[1]) for d, _ in received) == list(range(200))
    assert {f.remote for _, f in received} == names


async def test_oversized_datagram_is_dropped(start: StartFn) -> None:
    server = await start(["udp:127.0.0.1:0"], limits=TransportLimits(max_message_size=1000))
    addr = ("127.0.0.1", server.port("udp"))
    with client() as sock:
        sock.sendto(b"X" * 1001, addr)
        sock.sendto(b"Y" * 1000, addr)
        event = await server.got.event(FramingFailed)
        assert isinstance(event, FramingFailed)
        assert "larger" in event.reason
        data, _ = await server.got.message()
        assert data == b"Y" * 1000


async def test_a_failing_sink_does_not_stop_the_reader(start: StartFn) -> None:
    server = await start(["udp:127.0.0.1:0"])
    got = server.got
    calls = 0
    original = got.messages.put_nowait

    def flaky(item: tuple[bytes, Flow]) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("sink bug")
        original(item)

    got.messages.put_nowait = flaky  # type: ignore[method-assign]
    addr = ("127.0.0.1", server.port("udp"))
    with client() as sock:
        sock.sendto(b"first", addr)
        sock.sendto(b"second", addr)
        assert (await got.message())[0] == b"second"


async def test_send_failures_are_events_not_exceptions(start: StartFn) -> None:
    server = await start(["udp:127.0.0.1:0"])
    server.manager.send(b"x", Target("udp", "::1", 5060))  # no IPv6 listener
    event = await server.got.event(SendFailed)
    assert isinstance(event, SendFailed)
    assert "address family" in event.reason
    server.manager.send(b"x", Target("udp", "sip.example.com", 5060))
    event = await server.got.event(SendFailed)
    assert isinstance(event, SendFailed)
    assert "not an IP address" in event.reason


@pytest.mark.skipif(not ipv6_available(), reason="no IPv6 loopback")
async def test_ipv6_round_trip(start: StartFn) -> None:
    server = await start(["udp:[::1]:0", "udp:127.0.0.1:0"])
    ports = {s.host: s.port for s in server.manager.listeners()}
    with client(socket.AF_INET6, "::1") as sock:
        sock.sendto(b"OPTIONS v6", ("::1", ports["::1"]))
        data, flow = await server.got.message()
        assert data == b"OPTIONS v6"
        assert flow.remote == ("::1", sock.getsockname()[1])
        assert flow.local == ("::1", ports["::1"])
        server.manager.send(b"answer", flow)
        assert await recv(sock) == (b"answer", ("::1", ports["::1"]))
        server.manager.send(b"target", Target("udp", "[::1]", sock.getsockname()[1]))
        assert (await recv(sock))[0] == b"target"
