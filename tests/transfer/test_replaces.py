"""An INVITE with Replaces (RFC 3891) for a dialog the switch holds: SIPp as the caller being
replaced, the new caller and the far end."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from sipswitch.services.calls.call import Call
from sipswitch.services.calls.server_leg import ServerLeg
from sipswitch.sip.message import Response
from sipswitch.sip.parser import parse_message
from tests.support.sipclient import request_text

from .conftest import Sipp, TransferLab, scenario, start_sipp

pytestmark = pytest.mark.peers


async def _call(lab: TransferLab, tmp_path: Path, caller: str, far: str) -> tuple[Call, list[Sipp]]:
    far_end = await start_sipp(tmp_path, "far", "-sf", scenario(far))
    lab.targets = {"service": far_end.port}
    first = await start_sipp(
        tmp_path, "caller", f"127.0.0.1:{lab.port}", "-sf", scenario(caller), "-s", "service"
    )
    async with asyncio.timeout(5):
        while not lab.answered_calls():
            await asyncio.sleep(0.02)
    return lab.answered_calls()[0], [first, far_end]


def _replaces(call: Call, *, from_tag: str | None = None, extra: str = "") -> str:
    tag = call.a.invite.from_.tag if from_tag is None else from_tag
    return f"{call.a.call_id};to-tag={call.a.local_tag};from-tag={tag}{extra}"


async def test_new_caller_replaces_the_caller(xlab: TransferLab, tmp_path: Path) -> None:
    call, (old, far) = await _call(xlab, tmp_path, "caller_replaced.xml", "far_replaced.xml")
    old_leg = call.a
    new = await start_sipp(
        tmp_path, "new", f"127.0.0.1:{xlab.port}", "-sf", scenario("caller_replaces.xml"),
        "-s", "service", "-key", "replaces", _replaces(call), "-d", "300",
    )  # fmt: skip
    for sipp in (new, old, far):
        await sipp.wait()
    assert call.a is not old_leg  # the new caller took its place, in the same call
    cdrs = await xlab.settle(3)
    reasons = sorted(c.hungup_reason or "" for c in cdrs)
    assert reasons.count("replaced") == 1
    replaced = next(c for c in cdrs if c.hungup_reason == "replaced")
    assert replaced.call_id == old_leg.call_id
    bridged = [c for c in cdrs if c.hungup_reason != "replaced"]
    assert {c.bridge_id for c in bridged} == {call.bridge_id}


class _Inbox(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.queue.put_nowait(data)

    async def final(self) -> Response:
        while True:
            message = parse_message(await asyncio.wait_for(self.queue.get(), 3))
            assert isinstance(message, Response)
            if message.status >= 200:
                return message


async def test_replaces_that_cannot_be_honoured(xlab: TransferLab, tmp_path: Path) -> None:
    call, peers = await _call(xlab, tmp_path, "uac_hold.xml", "target_answer.xml")
    client = await xlab.switch.udp()
    sdp = "v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    sdp += "m=audio 40008 RTP/AVP 0\r\n"
    cases = [
        ("nosuchcall;to-tag=a;from-tag=b", 481),  # no such dialog
        (_replaces(call, from_tag="wrong"), 481),  # the tags must both match
        (_replaces(call, extra=";early-only"), 486),  # confirmed, but early-only
    ]
    for value, status in cases:
        headers = (
            f"Replaces: {value}",
            "Contact: <sip:x@127.0.0.1>",
            "Content-Type: application/sdp",
        )
        text = request_text(
            "INVITE", f"sip:service@127.0.0.1:{xlab.port}", via_port=client.port,
            headers=headers, body=sdp,
        )  # fmt: skip
        client.send(text)
        assert (await client.final()).status == status, value
    # right identifiers, but from an address none of the call's parties uses (RFC 3891 §7)
    loop = asyncio.get_running_loop()
    stranger, inbox = await loop.create_datagram_endpoint(
        _Inbox, local_addr=("127.0.0.2", 0), remote_addr=("127.0.0.1", xlab.port)
    )
    try:
        port = stranger.get_extra_info("sockname")[1]
        forged = request_text(
            "INVITE", f"sip:service@127.0.0.1:{xlab.port}", via_port=port,
            headers=(f"Replaces: {_replaces(call)}", "Contact: <sip:x@127.0.0.2>",
                     "Content-Type: application/sdp"),
            body=sdp,
        ).replace(b"Via: SIP/2.0/UDP 127.0.0.1:", b"Via: SIP/2.0/UDP 127.0.0.2:")  # fmt: skip
        stranger.sendto(forged)
        answer = await inbox.final()
        assert (answer.status, answer.reason) == (403, "Replaces not authorized")
    finally:
        stranger.close()
    assert not call.a.ended and call.b is not None and not call.b.ended
    for sipp in peers:
        sipp.proc.kill()
        await sipp.proc.wait()


async def test_replaces_naming_an_early_dialog_we_did_not_initiate(
    xlab: TransferLab, tmp_path: Path
) -> None:
    """RFC 3891 §3: the caller's dialog while it still rings (early, and the caller began it)
    cannot be replaced: 481, and the ringing call goes on to its CANCEL."""
    far = await start_sipp(tmp_path, "far", "-sf", scenario("uas_ring.xml"))
    xlab.targets = {"service": far.port}
    caller = await start_sipp(
        tmp_path, "caller", f"127.0.0.1:{xlab.port}", "-sf", scenario("caller_cancels_late.xml"),
        "-s", "service",
    )  # fmt: skip
    async with asyncio.timeout(5):
        while not xlab.service.calls or not next(iter(xlab.service.calls)).a.local_tag:
            await asyncio.sleep(0.02)
    (call,) = xlab.service.calls
    assert call.a.final_status is None  # still ringing
    client = await xlab.switch.udp()
    text = request_text(
        "INVITE", f"sip:service@127.0.0.1:{xlab.port}", via_port=client.port,
        headers=(f"Replaces: {_replaces(call)}", "Contact: <sip:x@127.0.0.1>"),
    )  # fmt: skip
    client.send(text)
    answer = parse_message(await client.receive(3))
    while isinstance(answer, Response) and answer.status < 200:
        answer = parse_message(await client.receive(3))
    assert isinstance(answer, Response) and answer.status == 481
    for sipp in (caller, far):
        await sipp.wait()  # the caller's CANCEL still ends the call as usual
    assert xlab.cdrs and all(c.hungup_reason == "cancelled" for c in await xlab.settle(2))


def _far_replaces(call: Call) -> str:
    far = call.b
    assert far is not None and far.dialog is not None
    return f"{far.call_id};to-tag={far.local_tag};from-tag={far.dialog.remote_tag}"


@pytest.mark.parametrize("hangs_up", ["new caller", "caller"])
async def test_new_caller_replaces_the_far_end(
    xlab: TransferLab, tmp_path: Path, hangs_up: str
) -> None:
    """RFC 3891 for the answering side's dialog: the new caller takes the far end's place; the
    caller is re-INVITEd to its media; BYE from either side then ends the new bridge."""
    caller_scenario = "caller_rejoined_waits.xml" if hangs_up == "new caller" else (
        "caller_rejoined_hangs_up.xml"
    )  # fmt: skip
    call, (caller, far) = await _call(xlab, tmp_path, caller_scenario, "far_end_replaced.xml")
    old_far = call.b
    new_scenario = "replaces_far_hangs_up.xml" if hangs_up == "new caller" else (
        "replaces_far_waits.xml"
    )  # fmt: skip
    new = await start_sipp(
        tmp_path, "new", f"127.0.0.1:{xlab.port}", "-sf", scenario(new_scenario),
        "-s", "service", "-key", "replaces", _far_replaces(call), "-d", "300",
    )  # fmt: skip
    for sipp in (new, caller, far):
        await sipp.wait()
    assert isinstance(call.b, ServerLeg) and call.b is not old_far
    assert old_far is not None and old_far.ended
    cdrs = await xlab.settle(3)
    replaced = [c for c in cdrs if c.hungup_reason == "replaced"]
    assert [c.call_id for c in replaced] == [old_far.call_id]
    assert replaced[0].direction == "out"
    bridged = [c for c in cdrs if c.hungup_reason != "replaced"]
    assert sorted(c.direction for c in bridged) == ["in", "in"]
    assert {c.bridge_id for c in bridged} == {call.bridge_id}
    assert {c.call_id for c in bridged} == {call.a.call_id, call.b.call_id}
    assert all(c.answered_status == 200 for c in bridged)
    await asyncio.sleep(0.1)
    assert len(xlab.cdrs) == 3 and not xlab.service.calls
