"""baresip, a real softphone, against sipswitch: registration over UDP and TCP (seen through the
CLI), and a call between two baresips through the switch with real RTP audio both ways."""

from __future__ import annotations

import asyncio
import re

import pytest

from sipswitch.storage import Scope
from sipswitch.storage.cdrs import CallDetailRecord
from tests.registrar.support import cli
from tests.server.conftest import RunningSwitch

from .conftest import DOMAIN, RATE, StartPhone, account_line, registered, tone_power

pytestmark = pytest.mark.peers


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_baresip_registers_and_the_cli_shows_the_binding(
    served: RunningSwitch, phones: StartPhone, transport: str
) -> None:
    phone = await phones("p101", account_line("101", served.port, transport))
    await registered(served, phone, "101")
    info = (await phone.command("reginfo"))["data"]  # the phone's own view
    assert re.search(rf"sip:101@{DOMAIN} .*OK .*Expires 600s", info), info
    (binding,) = served.app.registration.location.lookup(f"101@{DOMAIN}")
    assert binding.transport == transport
    assert binding.user_agent.startswith("baresip")
    await served.app.registration.location.flush()
    code, out = await cli(served.app, "account", "bindings", f"101@{DOMAIN}")
    assert code == 0, out
    assert f"127.0.0.1:{phone.sip_port}" in out
    assert "1 binding(s)" in out
    assert f"{transport}:127.0.0.1:{binding.source_port}" in out  # where it really came from
    assert "baresip v" in out


@pytest.mark.parametrize(
    ("caller_transport", "callee_transport"), [("udp", "udp"), ("tcp", "udp"), ("udp", "tcp")]
)
async def test_two_baresips_talk_through_the_switch(
    served: RunningSwitch, phones: StartPhone, caller_transport: str, callee_transport: str
) -> None:
    callee = await phones("p102", account_line("102", served.port, callee_transport), 1000.0)
    caller = await phones("p101", account_line("101", served.port, caller_transport), 440.0)
    await registered(served, callee, "102")
    await registered(served, caller, "101")

    response = await caller.command("dial", f"sip:102@{DOMAIN}")
    assert response["ok"], response
    await caller.wait_event("CALL_ESTABLISHED")
    await callee.wait_event("CALL_ESTABLISHED")

    # RTCP reports (about every 5 s) carry each side's count of RTP packets received
    def carried(event: dict[str, object]) -> bool:
        stats = event.get("rtcp_stats")
        return isinstance(stats, dict) and stats["rx"]["sent"] >= 50

    for phone in (caller, callee):
        event = await phone.wait_event("CALL_RTCP", carried, timeout=20.0)
        rx = event["rtcp_stats"]["rx"]
        # media flows phone to phone (the switch only relays SDP): on a busy 2-core machine a
        # late packet may count as lost, so allow a trace of loss rather than none
        assert rx["lost"] <= max(2, rx["sent"] // 50), event

    assert (await caller.command("hangup"))["ok"]
    await caller.wait_event("CALL_CLOSED")
    await callee.wait_event("CALL_CLOSED")  # the BYE went through the switch
    for phone in (caller, callee):
        await phone.stop()

    # the switch bridged two legs of its own (B2BUA) and recorded both as answered
    rows = await _cdrs(served, 2)
    assert {r.direction for r in rows} == {"in", "out"}
    assert all(r.answered_status == 200 and r.hungup_time is not None for r in rows)
    assert len({r.bridge_id for r in rows}) == 1 and rows[0].bridge_id is not None
    assert len({r.call_id for r in rows}) == 2

    # what each phone decoded is the other's tone (the SDP relay joined the right ends)
    heard_by_caller, heard_by_callee = caller.received_audio(), callee.received_audio()
    assert len(heard_by_caller) >= RATE, "caller received under a second of audio"
    assert len(heard_by_callee) >= RATE, "callee received under a second of audio"
    assert tone_power(heard_by_caller, 1000.0) > 10 * tone_power(heard_by_caller, 440.0)
    assert tone_power(heard_by_callee, 440.0) > 10 * tone_power(heard_by_callee, 1000.0)


async def _cdrs(switch: RunningSwitch, count: int) -> list[CallDetailRecord]:
    """The switch's CDRs once ``count`` are written (they are written behind)."""
    for _ in range(100):
        rows = await switch.app.store.cdrs.list(Scope.system())
        if len(rows) >= count:
            return list(rows)
        await asyncio.sleep(0.05)
    raise AssertionError("CDRs were not written")
