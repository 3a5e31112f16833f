"""REFER from the switch itself (back to the upstream), and REFERs outside any dialog."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from sipswitch.services.calls.call import Call
from sipswitch.sip.builders import new_tag
from tests.support.sipclient import request_text

from .conftest import Sipp, TransferLab, scenario, start_sipp

pytestmark = pytest.mark.peers


async def _answered_call(
    lab: TransferLab, tmp_path: Path, upstream: str
) -> tuple[Call, list[Sipp]]:
    far = await start_sipp(tmp_path, "far", "-sf", scenario("target_answer.xml"))
    lab.targets = {"service": far.port}
    caller = await start_sipp(
        tmp_path, "upstream", f"127.0.0.1:{lab.port}", "-sf", scenario(upstream),
        "-s", "service", "-d", "500",
    )  # fmt: skip
    async with asyncio.timeout(5):
        while not lab.answered_calls():
            await asyncio.sleep(0.02)
    return lab.answered_calls()[0], [caller, far]


async def test_refer_back_upstream_succeeds(xlab: TransferLab, tmp_path: Path) -> None:
    call, peers = await _answered_call(xlab, tmp_path, "upstream_accepts.xml")
    outcome = await xlab.transfers.refer(call, "sip:5000@example.com", timeout=5)
    assert outcome.succeeded and outcome.status == 200
    for sipp in peers:
        await sipp.wait()
    assert "Refer-To: <sip:5000@example.com>" in peers[0].messages()
    cdrs = await xlab.settle(2)
    assert {c.hungup_reason for c in cdrs} == {"transferred"}


async def test_refer_back_declined_leaves_the_call_up(xlab: TransferLab, tmp_path: Path) -> None:
    call, peers = await _answered_call(xlab, tmp_path, "upstream_declines.xml")
    outcome = await xlab.transfers.refer(call, "sip:5000@example.com", timeout=5)
    assert not outcome.succeeded and outcome.status == 603
    assert not call.a.ended
    for sipp in peers:
        await sipp.wait()  # the upstream hangs up itself later
    cdrs = await xlab.settle(2)
    assert {c.hungup_reason for c in cdrs} == {"remote end hung up"}


async def test_refer_outside_a_dialog_gets_481(xlab: TransferLab) -> None:
    client = await xlab.switch.udp()
    refer_to = ("Refer-To: <sip:3000@example.com>",)
    client.send(request_text("REFER", "sip:x@127.0.0.1", via_port=client.port, headers=refer_to))
    assert (await client.final()).status == 481
    text = request_text("REFER", "sip:x@127.0.0.1", via_port=client.port, headers=refer_to)
    text = text.replace(b"To: <sip:x@127.0.0.1>", f"To: <sip:x@127.0.0.1>;tag={new_tag()}".encode())
    client.send(text)
    assert (await client.final()).status == 481


async def test_refer_back_without_notify_times_out(xlab: TransferLab, tmp_path: Path) -> None:
    call, peers = await _answered_call(xlab, tmp_path, "upstream_silent.xml")
    outcome = await xlab.transfers.refer(call, "sip:5000@example.com", timeout=0.3)
    assert not outcome.succeeded and outcome.status == 408
    assert not call.a.ended  # never wait forever, never hang up on a failed REFER
    for sipp in peers:
        await sipp.wait()


async def test_the_app_hands_refers_to_the_transfer_service(xlab: TransferLab) -> None:
    assert xlab.switch.app.calls.transfers is not None  # wired over the router's dialplans
