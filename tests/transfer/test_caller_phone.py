"""REFER from the caller's own phone: account 101's phone (a Python UDP client) calls out
through 101's out dialplan to a far end (SIPp), then REFERs that far end to a third party.

With ``allow_refer`` the REFER is digest-challenged (407) and carried out by the switch: the
third party is dialled, the far end is re-INVITEd to its media, the phone gets the NOTIFYs and
a BYE, and the far end and the third party are bridged. Without it the REFER follows the
leg's ``tr`` (not given: 403)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest

from sipswitch.sip.address import parse_address
from sipswitch.sip.builders import new_branch, new_call_id
from sipswitch.sip.digest import DigestClient
from sipswitch.sip.message import Request, Response
from tests.registrar.support import DOMAIN, PASSWORD

from .conftest import TARGET_IP, Sipp, scenario, start_sipp
from .phone import ScriptedPhone
from .test_own_phone import ADMIN, Owned, owned  # noqa: F401 - fixture re-export

pytestmark = pytest.mark.peers

SDP = (
    "v=0\r\no=phone101 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)


@dataclass
class CallerPhone(ScriptedPhone):
    """Account 101's phone: places a call (answering the 401), then REFERs in that dialog."""

    user: str = "101"
    call_id: str = field(default_factory=new_call_id)
    remote: str = ""  # the switch's Contact
    to: str = ""  # the To with the switch's tag

    def send(self, method: str, uri: str, *extra: str, body: str = "", branch: str = "") -> str:
        if method != "ACK":
            self.cseq += 1
        branch = branch or new_branch()
        lines = [
            f"{method} {uri} SIP/2.0",
            f"Via: SIP/2.0/UDP 127.0.0.1:{self.client.port};branch={branch};rport",
            "Max-Forwards: 70",
            f"From: <sip:{self.user}@{DOMAIN}>;tag={self.tag}",
            f"To: {self.to or f'<{uri}>'}",
            f"Call-ID: {self.call_id}",
            f"CSeq: {self.cseq} {method}",
            f"Contact: <sip:{self.user}@127.0.0.1:{self.client.port}>",
            *extra,
        ]
        if body:
            lines.append("Content-Type: application/sdp")
        lines += [f"Content-Length: {len(body.encode())}", "", body]
        self.client.send("\r\n".join(lines).encode())
        return branch

    async def final(self, method: str, timeout: float = 5.0) -> Response:
        """The final response to our latest ``method``; requests meanwhile are answered 200."""
        async with asyncio.timeout(timeout):
            while True:
                message = await self.next(timeout)
                if isinstance(message, Request):
                    self.keep(message)
                elif (message.cseq.method, message.cseq.seq) == (method, self.cseq) and (
                    message.status >= 200
                ):
                    return message

    async def call(self, dst: str) -> Response:
        """INVITE ``dst``; answer the 401 with digest credentials; ACK the 200."""
        uri = f"sip:{dst}@{DOMAIN}"
        branch = self.send("INVITE", uri, body=SDP)
        first = await self.final("INVITE")
        assert first.status == 401, first.to_bytes()
        self.to = first.get("To") or ""
        self.send("ACK", uri, branch=branch)  # the non-2xx ACK (§17.1.1.3)
        self.to = ""
        credentials = DigestClient(self.user, PASSWORD).authorize(
            first.www_authenticate, method="INVITE", uri=uri
        )
        assert credentials is not None
        self.send("INVITE", uri, f"Authorization: {credentials}", body=SDP)
        answer = await self.final("INVITE", timeout=10)
        assert answer.status == 200, answer.to_bytes()
        self.to = answer.get("To") or ""
        self.remote = str(answer.contacts[0].uri)
        self.send("ACK", self.remote)
        return answer

    async def refer(self, refer_to: str, *, password: str | None = PASSWORD) -> Response:
        """REFER; with ``password``, answer a 407 with digest credentials; the final answer."""
        self.send("REFER", self.remote, f"Refer-To: <{refer_to}>")
        first = await self.final("REFER")
        if first.status != 407 or password is None:
            return first
        credentials = DigestClient(self.user, password).authorize(
            first.proxy_authenticate, method="REFER", uri=self.remote
        )
        assert credentials is not None
        self.send("REFER", self.remote, f"Refer-To: <{refer_to}>",
                  f"Proxy-Authorization: {credentials}")  # fmt: skip
        return await self.final("REFER")

    async def notifies_until_terminated(self, timeout: float = 10.0) -> list[Request]:
        notifies: list[Request] = []
        async with asyncio.timeout(timeout):
            while True:
                notify = await self.request("NOTIFY", timeout)
                self.answer(notify, 200)
                notifies.append(notify)
                if (notify.get("Subscription-State") or "").startswith("terminated"):
                    return notifies


async def _out_dialplan(owned: Owned, far: Sipp) -> None:  # noqa: F811
    """101 calls out through its own dialplan: numbers go to the far end."""
    await _out_rules(
        owned,
        '[{"direction": "out", "pattern_type": "regex", "pattern": "^[0-9]+$", "command": '
        f'{{"type": "dial", "dial_string": "${{dst}}@{TARGET_IP}:{far.port}"}}}}]',
    )


async def _out_rules(owned: Owned, rules: str) -> None:  # noqa: F811
    """Rules as 101's out dialplan."""
    store = owned.switch.app.store
    await store.dialplans.create(ADMIN, owned.owner, "out101", "rules", rules)
    for record in await store.accounts.list(ADMIN):
        if record.username == "101":
            await store.accounts.update(ADMIN, record.id, out_dialplan="out101")
    await owned.switch.app.registration.accounts.reload()


async def test_caller_phone_transfers_the_far_end(
    owned: Owned,  # noqa: F811
    tmp_path: Path,
) -> None:
    await owned.allow_refer("101")
    far = await start_sipp(tmp_path, "far", "-sf", scenario("far_reinvited_hangs_up.xml"),
                           "-d", "500", ip=TARGET_IP)  # fmt: skip
    target = await start_sipp(tmp_path, "target", "-sf", scenario("target_answer.xml"),
                              ip=TARGET_IP)  # fmt: skip
    await _out_dialplan(owned, far)
    await owned.transfer_dialplan(target.port)
    phone = CallerPhone(await owned.switch.udp())
    await phone.call("2000")
    accepted = await phone.refer(f"sip:3000@{DOMAIN}")
    assert accepted.status == 202, accepted.to_bytes()
    notifies = await phone.notifies_until_terminated()
    assert notifies[0].body.startswith(b"SIP/2.0 100")
    assert notifies[-1].body.startswith(b"SIP/2.0 200")
    bye = await phone.request("BYE")  # the referring phone's leg ends
    phone.answer(bye, 200)
    assert "transferred" in (bye.get("Reason") or "")
    for sipp in (far, target):
        await sipp.wait()  # the far end saw the new party's media, then hung up on it
    assert "INVITE sip:3000@" in target.messages() and "Referred-By:" in target.messages()
    rows = await owned.cdrs(3)
    (referring,) = [r for r in rows if r.direction == "in"]
    kept, new = sorted((r for r in rows if r.direction == "out"), key=lambda r: r.created)
    assert referring.hungup_reason == "transferred"
    assert kept.hungup_reason == "remote end hung up" and kept.referred_by is None
    assert new.referred_by and new.answered_status == 200 and new.dst_user == "3000"
    assert referring.bridge_id == kept.bridge_id == new.bridge_id is not None
    await asyncio.sleep(0.1)
    assert len(await owned.switch.app.store.cdrs.list(ADMIN)) == 3


async def test_caller_phone_without_allow_refer_follows_tr(
    owned: Owned,  # noqa: F811
    tmp_path: Path,
) -> None:
    far = await start_sipp(tmp_path, "far", "-sf", scenario("target_answer.xml"), ip=TARGET_IP)
    await _out_dialplan(owned, far)
    await owned.transfer_dialplan(9)
    phone = CallerPhone(await owned.switch.udp())
    await phone.call("2000")
    refused = await phone.refer(f"sip:3000@{DOMAIN}")
    assert (refused.status, refused.reason) == (403, "Transfers are not allowed on this call")
    phone.send("BYE", phone.remote)
    assert (await phone.final("BYE")).status == 200
    await far.wait()
    rows = await owned.cdrs(2)
    await asyncio.sleep(0.1)
    assert len(await owned.switch.app.store.cdrs.list(ADMIN)) == 2  # nothing was dialled
    assert all(r.referred_by is None for r in rows)
    assert not [r for r in phone.seen if r.method == "NOTIFY"]


async def test_caller_phone_joins_its_two_calls(
    owned: Owned,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The desk phone's attended transfer: 101 calls the far end, then (another line) the
    target, then REFERs the first call with Replaces naming the second: the switch joins the
    far end and the target (RFC 5589 §7) and both of the phone's calls end "transferred"."""
    await owned.allow_refer("101")
    far = await start_sipp(tmp_path, "far", "-sf", scenario("far_reinvited_hangs_up.xml"),
                           "-d", "500", ip=TARGET_IP)  # fmt: skip
    target = await start_sipp(tmp_path, "target", "-sf", scenario("target_reinvited_far.xml"),
                              ip=TARGET_IP)  # fmt: skip
    rules = (
        '[{"direction": "out", "pattern_type": "exact", "pattern": "2000", "command": '
        f'{{"type": "dial", "dial_string": "far@{TARGET_IP}:{far.port}"}}}}, '
        '{"direction": "out", "pattern_type": "exact", "pattern": "3000", "command": '
        f'{{"type": "dial", "dial_string": "target@{TARGET_IP}:{target.port}"}}}}]'
    )
    await _out_rules(owned, rules)
    line1 = CallerPhone(await owned.switch.udp())
    await line1.call("2000")
    line2 = CallerPhone(await owned.switch.udp())
    await line2.call("3000")
    switch_tag = parse_address(line2.to).tag
    replaces = quote(f"{line2.call_id};to-tag={switch_tag};from-tag={line2.tag}", safe="")
    accepted = await line1.refer(f"sip:3000@{DOMAIN}?Replaces={replaces}")
    assert accepted.status == 202, accepted.to_bytes()
    notifies = await line1.notifies_until_terminated()
    assert notifies[-1].body.startswith(b"SIP/2.0 200")
    bye1 = await line1.request("BYE")
    line1.answer(bye1, 200)
    bye2 = await line2.request("BYE")
    line2.answer(bye2, 200)
    assert "transferred" in (bye1.get("Reason") or "")
    for sipp in (far, target):
        await sipp.wait()  # each saw the other's media; the far end hung up on the target
    rows = await owned.cdrs(4)
    ins = [r for r in rows if r.direction == "in"]
    outs = {r.dst_user: r for r in rows if r.direction == "out"}
    assert len(ins) == 2 and all(r.hungup_reason == "transferred" for r in ins)
    assert outs["far"].bridge_id == outs["target"].bridge_id is not None
    assert {r.hungup_reason for r in outs.values()} == {"remote end hung up"}
