"""TransportManager lifecycle: binding all or nothing, listeners(), stop, send routing errors."""

from __future__ import annotations

import asyncio
import socket

import pytest

from sipswitch.transport import (
    Flow,
    ListenerError,
    ListenerSpec,
    SendFailed,
    Target,
    TransportError,
    TransportManager,
)

from .conftest import Collector, StartFn


def port_is_free(kind: int, port: int) -> bool:
    with socket.socket(socket.AF_INET, kind) as sock:
        if kind == socket.SOCK_STREAM:  # a closed connection may linger in TIME_WAIT
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


async def test_listeners_report_the_real_ports(start: StartFn) -> None:
    running = await start(["udp:127.0.0.1:0", "tcp:127.0.0.1:0", "ws:127.0.0.1:0"])
    bound = running.manager.listeners()
    assert [(s.transport, s.host) for s in bound] == [
        ("udp", "127.0.0.1"),
        ("tcp", "127.0.0.1"),
        ("ws", "127.0.0.1"),
    ]
    assert all(s.port > 0 for s in bound)


async def test_start_failure_rolls_back(start: StartFn) -> None:
    taken = await start(["tcp:127.0.0.1:0"])
    busy = ListenerSpec("tcp", "127.0.0.1", taken.port("tcp"))
    got = Collector()
    manager = TransportManager(got.sink, on_event=got.on_event)
    # reserve free ports for the listeners that do bind, to see them released again
    udp = ListenerSpec.parse("udp:127.0.0.1:0")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        udp = ListenerSpec("udp", "127.0.0.1", probe.getsockname()[1])
    with pytest.raises(ListenerError) as caught:
        await manager.start([udp, busy])
    assert caught.value.spec == busy
    assert str(busy) in str(caught.value)
    assert manager.listeners() == []
    assert port_is_free(socket.SOCK_DGRAM, udp.port)
    await manager.stop()


async def test_tls_listener_needs_a_context() -> None:
    manager = TransportManager(Collector().sink)
    with pytest.raises(ListenerError, match="no TLS context"):
        await manager.start([ListenerSpec.parse("tls:127.0.0.1:0")])
    await manager.stop()


async def test_start_twice_is_refused(start: StartFn) -> None:
    running = await start(["udp:127.0.0.1:0"])
    with pytest.raises(TransportError, match="already started"):
        await running.manager.start([ListenerSpec.parse("udp:127.0.0.1:0")])


async def test_stop_is_idempotent_and_closes_everything(start: StartFn) -> None:
    running = await start(["udp:127.0.0.1:0", "tcp:127.0.0.1:0"])
    udp_port, tcp_port = running.port("udp"), running.port("tcp")
    _, writer = await asyncio.open_connection("127.0.0.1", tcp_port)
    writer.write(b"OPTIONS sip:x SIP/2.0\r\nContent-Length: 0\r\n\r\n")
    await running.got.message()
    await running.manager.stop()
    await running.manager.stop()
    assert running.manager.connection_count == 0
    assert port_is_free(socket.SOCK_DGRAM, udp_port)
    assert port_is_free(socket.SOCK_STREAM, tcp_port)
    target = Target("tcp", "127.0.0.1", tcp_port)
    running.manager.send(b"x", target)
    running.manager.send(b"x", Target("udp", "127.0.0.1", udp_port))
    failures = [e for e in running.got.events if isinstance(e, SendFailed)]
    assert [f.to.transport for f in failures] == ["tcp", "udp"]
    writer.close()


async def test_send_before_start_is_reported() -> None:
    got = Collector()
    manager = TransportManager(got.sink, on_event=got.on_event)
    target = Target("tcp", "127.0.0.1", 5060)
    manager.send(b"x", target)
    assert got.events == [SendFailed(target, "transport not running")]


async def test_send_never_raises_on_odd_destinations(start: StartFn) -> None:
    running = await start(["udp:127.0.0.1:0"])
    odd: list[Flow | Target] = [
        Target("sctp", "127.0.0.1", 5060),
        Target("tcp", "not-an-ip", 5060),
        Target("udp", "127.0.0.1", 70000),
        Flow("ws", ("127.0.0.1", 1), ("127.0.0.1", 2), connection_id=None),
    ]
    for to in odd:
        running.manager.send(b"x", to)
    failed = [e.to for e in running.got.events if isinstance(e, SendFailed)]
    assert failed == odd
