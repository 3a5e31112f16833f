"""A transfer carried out by the switch (``tr=c``) with a real softphone as the transferee.

baresip (account 101) calls ``service``; account 101's out dialplan dials a SIPp far end with
``[tr=c]``. The far end answers, then REFERs the call to ``3000``; the owner's ``transfer``
dialplan dials a SIPp new party whose SDP names a UDP port this test listens on. The phone
must never see the REFER (its SIP trace shows a re-INVITE only), the referrer gets its NOTIFYs
and a BYE, and the phone's RTP reaches the new party (packets counted here).
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from sipswitch.storage import Scope
from sipswitch.storage.cdrs import CallDetailRecord
from tests.registrar.support import provision
from tests.server.conftest import RunningSwitch
from tests.transfer.conftest import scenario as transfer_scenario
from tests.transfer.conftest import start_sipp

from .conftest import DOMAIN, StartPhone, account_line, registered

pytestmark = pytest.mark.peers

ADMIN = Scope.system()
#: the SIPp parties listen here (127.0.0.1 counts as one of the switch's own addresses)
PEER_IP = "127.0.0.2"
ENOUGH_PACKETS = 25  # 20 ms packets: half a second of the phone's audio


class RtpCounter(asyncio.DatagramProtocol):
    """Counts RTP packets (version 2) arriving at the new party's media port."""

    def __init__(self, enough: int) -> None:
        self.packets = 0
        self.sources: set[tuple[str, int]] = set()
        self.payload_types: set[int] = set()
        self.enough = enough
        self.reached = asyncio.Event()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) < 12 or data[0] >> 6 != 2:
            return
        self.packets += 1
        self.sources.add(addr[:2])
        self.payload_types.add(data[1] & 0x7F)
        if self.packets >= self.enough:
            self.reached.set()


async def _dialplans(switch: RunningSwitch, referrer_port: int, target_port: int) -> int:
    """101's out dialplan reaches the referrer with ``tr=c``; ``transfer`` dials the target."""
    store = switch.app.store
    owner = await provision(switch.app, [])
    out = [
        {"direction": "out", "pattern_type": "exact", "pattern": "service",
         "command": {"type": "dial", "dial_string": f"service@{PEER_IP}:{referrer_port}[tr=c]"}},
    ]  # fmt: skip
    transfer = [
        {"direction": "out", "pattern_type": "regex", "pattern": r"^[0-9]+$",
         "command": {"type": "dial", "dial_string": f"${{dst}}@{PEER_IP}:{target_port}"}},
    ]  # fmt: skip
    await store.dialplans.create(ADMIN, owner, "outbound", "rules", json.dumps(out))
    await store.dialplans.create(ADMIN, owner, "transfer", "rules", json.dumps(transfer))
    for record in await store.accounts.list(ADMIN):
        if record.username == "101":
            await store.accounts.update(ADMIN, record.id, out_dialplan="outbound")
    await switch.app.registration.accounts.reload()
    return owner


def _received_requests(trace: str, port: int) -> list[str]:
    """Request lines of the SIP messages baresip's trace (``-s``) shows arriving at ``port``:
    each message follows a ``#`` line and ``UDP source -> destination``."""
    arrivals = re.finditer(
        rf"^(?:UDP|TCP) \S+ -> 127\.0\.0\.1:{port}\r?\n([^\r\n]*)", trace, re.MULTILINE
    )
    return [m[1] for m in arrivals if re.match(r"^[A-Z]+ sips?:\S+ SIP/2\.0$", m[1])]


async def test_baresip_only_sees_a_reinvite_and_its_rtp_reaches_the_new_party(
    served: RunningSwitch, phones: StartPhone, tmp_path: Path
) -> None:
    loop = asyncio.get_running_loop()
    counter = RtpCounter(ENOUGH_PACKETS)
    transport, _ = await loop.create_datagram_endpoint(lambda: counter, local_addr=(PEER_IP, 0))
    try:
        rtp_port = transport.get_extra_info("sockname")[1]
        target = await start_sipp(
            tmp_path, "target", "-sf", transfer_scenario("target_rtp.xml"),
            "-key", "rtpport", str(rtp_port), ip=PEER_IP, seconds=30,
        )  # fmt: skip
        referrer = await start_sipp(
            tmp_path, "referrer", "-sf", transfer_scenario("referrer_notify2.xml"),
            "-key", "referto", f"sip:3000@{PEER_IP}:9", "-key", "extra", "X-Test: 1",
            ip=PEER_IP, seconds=30,
        )  # fmt: skip
        await _dialplans(served, referrer.port, target.port)
        phone = await phones("p101", account_line("101", served.port, "udp"), 440.0)
        await registered(served, phone, "101")

        assert (await phone.command("dial", f"sip:service@{DOMAIN}"))["ok"]
        await phone.wait_event("CALL_ESTABLISHED")
        await referrer.wait(20)  # 202, NOTIFY 100 then 200, and the BYE: the referrer is done
        try:
            await asyncio.wait_for(counter.reached.wait(), 15)
        except TimeoutError:
            raise AssertionError(
                f"only {counter.packets} RTP packets reached the new party\n{phone.log[-4000:]}"
            ) from None
        assert counter.sources and all(ip == "127.0.0.1" for ip, _ in counter.sources)
        assert counter.payload_types == {0}  # PCMU, as negotiated

        assert (await phone.command("hangup"))["ok"]
        await phone.wait_event("CALL_CLOSED")
        await target.wait(15)  # its BYE came from the switch, for the phone
    finally:
        transport.close()

    referred = referrer.messages()
    assert "SIP/2.0 202" in referred and "BYE sip:" in referred
    final = referred.rindex("Subscription-State: terminated;reason=noresource")
    assert "SIP/2.0 200 OK" in referred[final:]

    trace = phone.log
    received = _received_requests(trace, phone.sip_port)
    assert not any(line.startswith("REFER ") for line in received), received
    reinvites = [line for line in received if line.startswith("INVITE ")]
    assert len(reinvites) == 1, received  # the switch moved the media with one re-INVITE
    assert not any(e.get("type") == "TRANSFER" for e in phone.events), phone.events
    assert f"m=audio {rtp_port}" in trace  # the re-INVITE offered the new party's media

    rows = await _cdrs(served, 3)
    by_direction = sorted(rows, key=lambda r: (r.direction, r.created))
    (inbound,) = [r for r in by_direction if r.direction == "in"]
    referring, new = [r for r in by_direction if r.direction == "out"]
    assert referring.hungup_reason == "transferred"
    assert new.referred_by and new.dst_user == "3000" and new.answered_status == 200
    assert inbound.bridge_id == new.bridge_id == referring.bridge_id


async def _cdrs(switch: RunningSwitch, count: int) -> list[CallDetailRecord]:
    """The switch's CDRs once ``count`` are written (they are written behind)."""
    async with asyncio.timeout(5):
        while True:
            rows = await switch.app.store.cdrs.list(ADMIN)
            if len(rows) >= count:
                return list(rows)
            await asyncio.sleep(0.05)
