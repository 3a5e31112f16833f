"""The worker mesh over real Unix sockets: frames, steering, stream relay, a restarted peer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from sipswitch.runtime.mesh import (
    BINDINGS,
    CALL_COUNT,
    SharedCounts,
    Steering,
    StreamRelay,
    WorkerMesh,
    WorkerRole,
    decode_destination,
    encode_destination,
)
from sipswitch.transport.base import Flow, Target
from sipswitch.transport.steering import call_id_owner

WAIT = 5.0


async def until(check: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT):
        while not check():
            await asyncio.sleep(0.01)


@pytest.fixture
async def meshes(tmp_path: Path) -> AsyncIterator[list[WorkerMesh]]:
    found = [WorkerMesh(WorkerRole(k, 2, str(tmp_path), b"s" * 32)) for k in range(2)]
    for mesh in found:
        mesh.open()
    yield found
    for mesh in found:
        mesh.close()


async def test_frames_go_both_ways_without_loss(meshes: list[WorkerMesh]) -> None:
    got: list[list[bytes]] = [[], []]
    for k, mesh in enumerate(meshes):
        mesh.on(BINDINGS, got[k].append)
    # far more than net.unix.max_dgram_qlen (10) queued before the receiver reads
    for n in range(500):
        assert meshes[0].send(1, BINDINGS, b"%d" % n + b"x" * 200)
    meshes[1].broadcast(BINDINGS, b"back")
    await until(lambda: len(got[1]) == 500 and got[0] == [b"back"])
    assert got[1][0].startswith(b"0x") and got[1][-1].startswith(b"499x")
    assert meshes[0].dropped == 0


async def test_a_restarted_peer_is_reached_again(meshes: list[WorkerMesh]) -> None:
    got: list[bytes] = []
    meshes[1].on(BINDINGS, got.append)
    assert meshes[0].send(1, BINDINGS, b"one")
    await until(lambda: got == [b"one"])
    meshes[1].close()
    assert not meshes[0].send(1, BINDINGS, b"lost")  # nobody listens: dropped, counted
    assert meshes[0].dropped == 1
    reborn = WorkerMesh(meshes[1].role)
    reborn.on(BINDINGS, got.append)
    reborn.open()
    meshes[1] = reborn
    assert meshes[0].send(1, BINDINGS, b"two")
    await until(lambda: got == [b"one", b"two"])


def _collect(into: list[tuple[bytes, Flow]]) -> Callable[[bytes, Flow], None]:
    return lambda data, flow: into.append((data, flow))


def _invite(call_id: str) -> bytes:
    return (
        "INVITE sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK1\r\n"
        f"Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\n\r\n"
    ).encode()


async def test_steering_hands_each_message_to_its_owner(meshes: list[WorkerMesh]) -> None:
    delivered: list[list[tuple[bytes, Flow]]] = [[], []]
    steering = [Steering(mesh, _collect(delivered[k])) for k, mesh in enumerate(meshes)]
    flow = Flow("tcp", ("127.0.0.1", 40000), ("127.0.0.1", 5060), 7)
    ids = [f"call-{n}" for n in range(40)]
    for call_id in ids:
        steering[0].receive(_invite(call_id), flow)
    await until(lambda: len(delivered[0]) + len(delivered[1]) == len(ids))
    for k in range(2):
        for data, got in delivered[k]:
            call_id = data.split(b"Call-ID: ")[1].split(b"\r\n")[0].decode()
            assert call_id_owner(call_id, 2) == k
            assert got == flow  # the flow travels with the message, connection id included
    assert delivered[1], "some calls belong to the second worker"


async def test_stream_sends_are_relayed_to_the_first_worker(meshes: list[WorkerMesh]) -> None:
    sent: list[tuple[bytes, Flow | Target]] = []
    StreamRelay(meshes[0]).serve(lambda data, to: sent.append((data, to)))
    relay = StreamRelay(meshes[1])
    flow = Flow("tls", ("::1", 5061), ("::1", 5061), 12)
    target = Target("wss", "127.0.0.1", 443, "example.com")
    relay.relay(b"SIP/2.0 200 OK\r\n\r\n", flow)
    relay.relay(b"BYE sip:x SIP/2.0\r\n\r\n", target)
    await until(lambda: len(sent) == 2)
    assert sent == [(b"SIP/2.0 200 OK\r\n\r\n", flow), (b"BYE sip:x SIP/2.0\r\n\r\n", target)]


def test_destinations_round_trip() -> None:
    for to in (
        Flow("udp", ("10.0.0.1", 1), ("127.0.0.1", 2), None),
        Target("tcp", "127.0.0.1", 5060, None),
        Target("tls", "::1", 5061, "sip.example.com"),
    ):
        assert decode_destination(encode_destination(to)) == to


async def test_shared_counts_sum_every_worker_and_forget_a_restarted_one(
    meshes: list[WorkerMesh],
) -> None:
    counts = [SharedCounts(), SharedCounts()]
    for mesh, each in zip(meshes, counts, strict=True):
        each.join(mesh, CALL_COUNT)
    counts[0].add(7, 1)
    counts[1].add(7, 1)
    counts[1].add(7, 1)
    counts[1].add(8, 1)
    await until(lambda: counts[0][7] == 3 and counts[1][7] == 3 and counts[0][8] == 1)
    counts[1].add(8, -1)
    await until(lambda: counts[0][8] == 0)
    reborn = SharedCounts()  # worker 1 restarted: what it had counted is gone
    reborn.join(meshes[1], CALL_COUNT)
    await until(lambda: counts[0][7] == 1 and reborn[7] == 1)  # and it hears worker 0's


async def test_a_replacing_dialog_follows_the_call_it_joins(meshes: list[WorkerMesh]) -> None:
    """RFC 3891: the INVITE with Replaces, and later its dialog's BYE, reach the worker that
    holds the replaced dialog, whichever worker the kernel gave them to."""
    delivered: list[list[tuple[bytes, Flow]]] = [[], []]
    steering = [Steering(mesh, _collect(delivered[k])) for k, mesh in enumerate(meshes)]
    held = next(f"held-{n}" for n in range(100) if call_id_owner(f"held-{n}", 2) == 1)
    new = next(f"new-{n}" for n in range(100) if call_id_owner(f"new-{n}", 2) == 0)
    flow = Flow("udp", ("127.0.0.1", 40000), ("127.0.0.1", 5060), None)
    invite = _invite(new).replace(
        b"CSeq:", f"Replaces: {held};to-tag=a;from-tag=b\r\nCSeq:".encode()
    )
    steering[0].receive(invite, flow)
    await until(lambda: len(delivered[1]) == 1 and new.encode() in steering[1].moved)
    bye = _invite(new).replace(b"INVITE sip:", b"BYE sip:")
    steering[0].receive(bye, flow)
    steering[1].receive(bye, flow)
    await until(lambda: len(delivered[1]) == 3)
    assert delivered[0] == []


async def test_posted_frames_arrive_bundled_in_order(meshes: list[WorkerMesh]) -> None:
    got: list[bytes] = []
    meshes[1].on(BINDINGS, got.append)
    big = b"x" * 60_000  # several bundles' worth
    for n in range(12):
        meshes[0].post(1, BINDINGS, b"%02d" % n + big)
    meshes[0].post_all(BINDINGS, b"last")
    await until(lambda: len(got) == 13)
    assert [frame[:2] for frame in got[:12]] == [b"%02d" % n for n in range(12)]
    assert got[-1] == b"last" and all(len(f) == 60_002 for f in got[:12])
    assert meshes[0].dropped == 0
