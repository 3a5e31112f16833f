"""Dead calls never leak: a 200 OK never ACKed (RFC 3261 §13.3.1.4, RFC 6026) ends the call,
and the per-call keep-alive (an in-dialog OPTIONS every ``calls.keepalive_seconds``) ends a
call whose far end answers 481 or is gone; the other side gets BYE, the CDRs say why."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from sipswitch.config import ConfigError, load_settings
from sipswitch.sip.builders import make_response, new_branch, new_tag
from sipswitch.sip.message import Response
from sipswitch.sip.parser import parse_message
from tests.support.sipclient import request_text

from .conftest import SCENARIOS, CallLab, start_sipp, uas_args

pytestmark = pytest.mark.peers

SDP = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 4000 RTP/AVP 0\r\n"
)


@dataclass
class FarEnd(asyncio.DatagramProtocol):
    """A UDP phone that answers every INVITE, and answers in-dialog OPTIONS with ``options``
    statuses in turn (the last one repeated)."""

    options: list[int]
    received: list[str] = field(default_factory=list)
    transport: asyncio.DatagramTransport | None = None
    tag: str = field(default_factory=new_tag)
    responses: asyncio.Queue[Response] = field(default_factory=asyncio.Queue)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a datagram endpoint's

    @property
    def port(self) -> int:
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])

    async def final(self, timeout: float = 5.0) -> Response:
        while True:
            response = await asyncio.wait_for(self.responses.get(), timeout)
            if response.status >= 200:
                return response

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        message = parse_message(data)
        if isinstance(message, Response):
            self.responses.put_nowait(message)
            return
        if message.method == "ACK":
            return
        self.received.append(message.method)
        headers: tuple[tuple[str, str], ...] = ()
        body = b""
        status = 200
        if message.method == "INVITE":
            headers = (
                ("Contact", f"<sip:far@127.0.0.1:{self.port}>"),
                ("Content-Type", "application/sdp"),
            )
            body = SDP.encode()
        elif message.method == "OPTIONS":
            status = self.options.pop(0) if len(self.options) > 1 else self.options[0]
        response = make_response(message, status, to_tag=self.tag, headers=headers, body=body)
        assert self.transport is not None
        self.transport.sendto(response.to_bytes(), addr)


@pytest.fixture
async def far_end() -> AsyncIterator[FarEnd]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: FarEnd([200, 481]), local_addr=("127.0.0.1", 0)
    )
    yield protocol
    transport.close()


async def _ended(lab: CallLab, legs: int = 2) -> None:
    for _ in range(200):
        if not lab.service.calls and len(lab.cdrs) >= legs:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the call did not end: {len(lab.service.calls)} up, {lab.cdrs}")


async def test_a_200_never_acked_over_udp_ends_the_call(lab: CallLab, tmp_path: Path) -> None:
    lab.service.plumbing.t1 = 0.05  # the ACK is awaited 64*T1 = 3.2 s
    uas = await start_sipp(tmp_path, "uas", *uas_args())
    lab.plan = [[(uas.port, {})]]
    client = await lab.switch.udp()
    client.send(
        request_text(
            "INVITE", "sip:service@127.0.0.1", via_port=client.port, body=SDP,
            headers=(f"Contact: <sip:tester@127.0.0.1:{client.port}>",
                     "Content-Type: application/sdp"),
        )
    )  # fmt: skip
    assert (await client.final(10)).status == 200  # and never ACKed
    code, out = await uas.wait(20)  # the far end got its BYE
    assert code == 0, out[-2000:]
    await _ended(lab)
    assert {c.hungup_reason for c in lab.cdrs} == {"no ACK"}


async def test_a_200_never_acked_over_tcp_ends_the_call(lab: CallLab, tmp_path: Path) -> None:
    """Over TCP the 200 is sent once, but the ACK is still awaited (RFC 6026 Timer L)."""
    lab.service.plumbing.t1 = 0.05
    uas = await start_sipp(tmp_path, "uas", *uas_args())
    lab.plan = [[(uas.port, {})]]
    caller = await start_sipp(
        tmp_path, "caller", f"127.0.0.1:{lab.port}", "-sf", str(SCENARIOS / "uac_no_ack.xml"),
        "-s", "service", "-t", "t1", "-m", "1",
    )  # fmt: skip
    code, out = await caller.wait(20)  # it got the BYE
    assert code == 0, out[-3000:]
    code, out = await uas.wait(20)
    assert code == 0, out[-2000:]
    await _ended(lab)
    assert {c.hungup_reason for c in lab.cdrs} == {"no ACK"}


async def test_keepalive_481_ends_the_call(lab: CallLab, tmp_path: Path, far_end: FarEnd) -> None:
    """The far end answers the first keep-alive and then forgets the dialog (481): its leg is
    dropped without BYE, the caller gets BYE, both CDRs say why."""
    lab.service.plumbing.keepalive = 0.3
    lab.plan = [[(far_end.port, {})]]
    caller = await start_sipp(
        tmp_path, "caller", f"127.0.0.1:{lab.port}", "-sf",
        str(SCENARIOS / "uac_keepalive.xml"), "-s", "service", "-m", "1",
    )  # fmt: skip
    code, out = await caller.wait(20)  # two OPTIONS answered, then the BYE
    assert code == 0, out[-3000:]
    await _ended(lab)
    assert far_end.received == ["INVITE", "OPTIONS", "OPTIONS"]  # no BYE to a dead dialog
    assert {c.hungup_reason for c in lab.cdrs} == {"keepalive failed (481)"}
    for cdr in lab.cdrs:
        assert cdr.answered_status == 200 and cdr.duration is not None and cdr.duration >= 0.5


async def test_keepalive_to_a_silent_peer_ends_the_call(lab: CallLab, far_end: FarEnd) -> None:
    """The far end's socket closes after answering: the keep-alive gets no answer (Timer F,
    shortened here), the far end's leg is dropped and the caller (a Python phone that answers
    every OPTIONS) gets BYE."""
    app = lab.switch.app
    app.layer._config = replace(app.layer.config, t1=0.05, t2=0.4)  # Timer F: 3.2 s
    lab.service.plumbing.keepalive = 0.3
    lab.plan = [[(far_end.port, {})]]
    loop = asyncio.get_running_loop()
    transport, caller = await loop.create_datagram_endpoint(
        lambda: FarEnd([200]), local_addr=("127.0.0.1", 0)
    )
    try:
        invite = request_text(
            "INVITE", "sip:service@127.0.0.1", via_port=caller.port, body=SDP,
            headers=(f"Contact: <sip:tester@127.0.0.1:{caller.port}>",
                     "Content-Type: application/sdp"),
        )  # fmt: skip
        transport.sendto(invite, ("127.0.0.1", lab.port))
        ok = await caller.final()
        assert ok.status == 200
        sent = parse_message(invite)
        (contact,) = ok.contacts
        transport.sendto(
            "\r\n".join([
                f"ACK {contact.uri} SIP/2.0",
                f"Via: SIP/2.0/UDP 127.0.0.1:{caller.port};branch={new_branch()};rport",
                "Max-Forwards: 70", f"From: {sent.get('From')}", f"To: {ok.get('To')}",
                f"Call-ID: {sent.call_id}", "CSeq: 1 ACK", "Content-Length: 0", "", "",
            ]).encode(),
            ("127.0.0.1", lab.port),
        )  # fmt: skip
        for _ in range(100):  # the far end answers the first keep-alive, then goes silent
            if "OPTIONS" in far_end.received:
                break
            await asyncio.sleep(0.02)
        assert far_end.transport is not None
        far_end.transport.close()
        await _ended(lab)
        assert "BYE" in caller.received and "BYE" not in far_end.received
        assert {c.hungup_reason for c in lab.cdrs} == {"keepalive failed (no answer)"}
    finally:
        transport.close()


def test_keepalive_setting() -> None:
    assert load_settings(environ={}).calls.keepalive_seconds == 300
    env = {"SIPSWITCH_CALLS_KEEPALIVE_SECONDS": "0"}
    assert load_settings(environ=env).calls.keepalive_seconds == 0
    with pytest.raises(ConfigError, match=r"calls\.keepalive_seconds"):
        load_settings(environ={"SIPSWITCH_CALLS_KEEPALIVE_SECONDS": "-1"})
