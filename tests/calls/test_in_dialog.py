"""Inside an answered call: re-INVITE (media move, hold) and INFO relayed across the bridge
with their answers; SDP from a public source with private addresses is rewritten."""

from __future__ import annotations

from pathlib import Path

import pytest

from sipswitch.sdp.parser import parse_sdp
from sipswitch.services.calls.nat import mangle_from
from tests.support.sipclient import request_text

from .conftest import SCENARIOS, CallLab, start_sipp, uas_args

pytestmark = pytest.mark.peers


async def test_reinvite_and_info_are_relayed(lab: CallLab, tmp_path: Path) -> None:
    uas = await start_sipp(tmp_path, "uas", *uas_args("uas_reinvite.xml"))
    lab.plan = [[(uas.port, {})]]
    caller = await start_sipp(
        tmp_path, "caller", f"127.0.0.1:{lab.port}", "-sf", str(SCENARIOS / "uac_reinvite.xml"),
        "-s", "service", "-m", "1",
    )  # fmt: skip
    code, out = await caller.wait(30)
    assert code == 0, out[-3000:]
    code, out = await uas.wait(30)
    assert code == 0, out[-3000:]  # the moved media and the DTMF INFO arrived
    assert {c.hungup_reason for c in lab.cdrs} == {"remote end hung up"}


PRIVATE_OFFER = (
    b"v=0\r\no=- 1 1 IN IP4 192.168.1.20\r\ns=-\r\nc=IN IP4 192.168.1.20\r\nt=0 0\r\n"
    b"m=audio 4000 RTP/AVP 0\r\na=rtcp:4001 IN IP4 192.168.1.20\r\n"
)


def test_private_sdp_from_a_public_source_is_rewritten() -> None:
    fixed = parse_sdp(mangle_from(PRIVATE_OFFER, "203.0.113.7"))
    assert fixed.connection is not None and fixed.connection.address == "203.0.113.7"
    assert fixed.media[0].port == 4000


def test_private_sdp_from_a_private_source_is_left_alone() -> None:
    assert mangle_from(PRIVATE_OFFER, "192.168.1.20") == PRIVATE_OFFER
    assert mangle_from(b"not sdp", "203.0.113.7") == b"not sdp"


async def test_a_vanished_far_end_ends_the_call(lab: CallLab, tmp_path: Path) -> None:
    """§12.2.1.2: a 481 (or 408) to a request inside the dialog ends it; the switch then
    hangs up the other side instead of keeping a dead call."""
    uas = await start_sipp(tmp_path, "uas", *uas_args("uas_gone.xml"))
    lab.plan = [[(uas.port, {})]]
    caller = await start_sipp(
        tmp_path, "caller", f"127.0.0.1:{lab.port}", "-sf",
        str(SCENARIOS / "uac_reinvite_gone.xml"), "-s", "service", "-m", "1",
    )  # fmt: skip
    code, out = await caller.wait(30)
    assert code == 0, out[-3000:]
    code, out = await uas.wait(30)
    assert code == 0, out[-3000:]
    assert {c.hungup_reason for c in lab.cdrs} == {"remote end unreachable"}
    assert not lab.service.calls


async def test_per_customer_call_cap(lab: CallLab) -> None:
    lab.service.max_calls_per_owner = 0
    lab.plan = [[(9, {})]]
    client = await lab.switch.udp()
    client.send(request_text("INVITE", "sip:service@127.0.0.1", via_port=client.port))
    response = await client.final()
    assert (response.status, response.reason) == (480, "Too many calls for this customer")
