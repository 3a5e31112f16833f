"""REFER from an account's own phone (``allow_refer``): a SIPp caller calls account 102, whose
phone (a Python UDP client registered as 102) answers and REFERs the caller elsewhere.

Off by default (403, nothing dialled); with ``allow_refer`` the REFER is digest-challenged
(407) against 102 and, authenticated, carried out by the switch with 102's rights."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sipswitch.sip.builders import new_branch
from sipswitch.sip.digest import DigestClient
from sipswitch.sip.message import Request, Response
from sipswitch.storage import Scope
from sipswitch.storage.cdrs import CallDetailRecord
from tests.registrar.conftest import start_switch
from tests.registrar.support import DOMAIN, PASSWORD, Phone, provision
from tests.server.conftest import RunningSwitch

from .conftest import TARGET_IP, Sipp, scenario, start_sipp
from .phone import ScriptedPhone

pytestmark = pytest.mark.peers

ADMIN = Scope.system()
EXTRA = {"SIPSWITCH_SECURITY_FLOOD_REQUESTS": "100000"}
PREMIUM = "+19005551234"


@dataclass
class Owned:
    switch: RunningSwitch
    owner: int

    async def allow_refer(self, user: str) -> None:
        for record in await self.switch.app.store.accounts.list(ADMIN):
            if record.username == user:
                await self.switch.app.store.accounts.update(ADMIN, record.id, allow_refer=True)
        await self.switch.app.registration.accounts.reload()

    async def transfer_dialplan(self, target_port: int) -> None:
        rules = (
            '[{"direction": "out", "pattern_type": "regex", "pattern": "^[0-9]+$", "command": '
            f'{{"type": "dial", "dial_string": "${{dst}}@{TARGET_IP}:{target_port}"}}}}]'
        )
        await self.switch.app.store.dialplans.create(ADMIN, self.owner, "transfer", "rules", rules)

    async def cdrs(self, count: int) -> list[CallDetailRecord]:
        async with asyncio.timeout(5):
            while True:
                rows = await self.switch.app.store.cdrs.list(ADMIN)
                if len(rows) >= count:
                    return list(rows)
                await asyncio.sleep(0.05)


@pytest.fixture
async def owned(tmp_path: Path) -> AsyncIterator[Owned]:
    running = await start_switch(tmp_path, EXTRA)
    try:
        owner = await provision(running.app, ["101", "102"])
        yield Owned(running, owner)
    finally:
        for client in running.clients:
            client.close()
        await running.app.close()


@dataclass
class AccountPhone(ScriptedPhone):
    """Account 102's phone: registers, answers the switch's INVITE, REFERs in that dialog."""

    user: str = "102"
    invite: Request | None = None

    async def answer_call(self) -> None:
        self.invite = await self.request("INVITE")
        sdp = (
            "v=0\r\no=phone102 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            "m=audio 40001 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
        )
        self.answer(self.invite, 200, sdp)
        await self.request("ACK")

    def refer(self, refer_to: str, authorization: str | None = None) -> str:
        """Send a REFER in the answered dialog; its Request-URI."""
        invite = self.invite
        assert invite is not None
        contact = invite.contacts[0].uri
        self.cseq += 1
        lines = [
            f"REFER {contact} SIP/2.0",
            f"Via: SIP/2.0/UDP 127.0.0.1:{self.client.port};branch={new_branch()};rport",
            "Max-Forwards: 70",
            f"From: {invite.get('To')};tag={self.tag}",
            f"To: {invite.get('From')}",
            f"Call-ID: {invite.call_id}",
            f"CSeq: {self.cseq} REFER",
            f"Contact: <sip:{self.user}@127.0.0.1:{self.client.port}>",
            f"Refer-To: <{refer_to}>",
            *([] if authorization is None else [f"Proxy-Authorization: {authorization}"]),
            "Content-Length: 0",
            "",
            "",
        ]
        self.client.send("\r\n".join(lines).encode())
        return str(contact)

    async def response(self, timeout: float = 5.0) -> Response:
        async with asyncio.timeout(timeout):
            while True:
                message = await self.next(timeout)
                if isinstance(message, Response) and message.cseq.method == "REFER":
                    if message.status >= 200:
                        return message
                elif isinstance(message, Request):
                    self.keep(message)

    async def authenticated_refer(self, refer_to: str, password: str = PASSWORD) -> Response:
        """REFER; answer the 407 with ``password``; the final answer to the second REFER."""
        uri = self.refer(refer_to)
        first = await self.response()
        assert first.status == 407, first.to_bytes()
        assert first.proxy_authenticate
        credentials = DigestClient(self.user, password).authorize(
            first.proxy_authenticate, method="REFER", uri=uri
        )
        assert credentials is not None
        self.refer(refer_to, str(credentials))
        return await self.response()

    async def notifies_until_terminated(self, timeout: float = 10.0) -> list[Request]:
        notifies: list[Request] = []
        async with asyncio.timeout(timeout):
            while True:
                notify = await self.request("NOTIFY", timeout)
                self.answer(notify, 200)
                notifies.append(notify)
                if (notify.get("Subscription-State") or "").startswith("terminated"):
                    return notifies


async def _phone(owned: Owned) -> AccountPhone:
    client = await owned.switch.udp()
    registration = await Phone(client, "102").register()
    assert registration.status == 200, registration.to_bytes()
    assert owned.switch.app.registration.location.lookup(f"102@{DOMAIN}")
    return AccountPhone(client)


async def _caller(owned: Owned, tmp_path: Path, name: str, hold_ms: int) -> Sipp:
    return await start_sipp(
        tmp_path, "caller", f"127.0.0.1:{owned.switch.port}", "-sf", scenario(name),
        "-s", "102", "-d", str(hold_ms),
    )  # fmt: skip


async def test_refused_by_default(owned: Owned, tmp_path: Path) -> None:
    phone = await _phone(owned)
    caller = await _caller(owned, tmp_path, "caller_hangs_up.xml", 1000)
    await phone.answer_call()
    phone.refer(f"sip:{PREMIUM}@{DOMAIN}")
    refused = await phone.response()
    assert refused.status == 403 and refused.reason == "Transfers are not allowed on this call"
    bye = await phone.request("BYE", timeout=10)
    phone.answer(bye, 200)
    await caller.wait()
    rows = await owned.cdrs(2)
    await asyncio.sleep(0.1)
    assert len(await owned.switch.app.store.cdrs.list(ADMIN)) == 2  # nothing was dialled
    assert all(r.referred_by is None for r in rows)


async def test_allowed_phone_is_challenged_then_transferred(owned: Owned, tmp_path: Path) -> None:
    await owned.allow_refer("102")
    target = await start_sipp(tmp_path, "target", "-sf", scenario("target_answer.xml"),
                              ip=TARGET_IP)  # fmt: skip
    await owned.transfer_dialplan(target.port)
    phone = await _phone(owned)
    caller = await _caller(owned, tmp_path, "caller_reinvited.xml", 500)
    await phone.answer_call()
    accepted = await phone.authenticated_refer(f"sip:3000@{DOMAIN}")
    assert accepted.status == 202
    notifies = await phone.notifies_until_terminated()
    assert notifies[0].body.startswith(b"SIP/2.0 100")
    assert notifies[-1].body.startswith(b"SIP/2.0 200")
    bye = await phone.request("BYE")  # the referrer's leg ends
    phone.answer(bye, 200)
    for sipp in (caller, target):
        await sipp.wait()
    assert "Referred-By:" in target.messages() and "INVITE sip:3000@" in target.messages()
    rows = await owned.cdrs(3)
    (inbound,) = [r for r in rows if r.direction == "in"]
    referring, new = sorted((r for r in rows if r.direction == "out"), key=lambda r: r.created)
    assert referring.hungup_reason == "transferred"
    assert new.referred_by and new.answered_status == 200
    assert inbound.bridge_id == new.bridge_id == referring.bridge_id


async def test_wrong_password_is_refused(owned: Owned, tmp_path: Path) -> None:
    await owned.allow_refer("102")
    await owned.transfer_dialplan(9)
    phone = await _phone(owned)
    caller = await _caller(owned, tmp_path, "caller_hangs_up.xml", 1000)
    await phone.answer_call()
    refused = await phone.authenticated_refer(f"sip:3000@{DOMAIN}", password="guessed")
    assert refused.status == 407  # challenged again, never accepted (RFC 3261 §22.3)
    bye = await phone.request("BYE", timeout=10)
    phone.answer(bye, 200)
    await caller.wait()
    await owned.cdrs(2)
    await asyncio.sleep(0.1)
    assert len(await owned.switch.app.store.cdrs.list(ADMIN)) == 2  # nothing was dialled
    assert not [r for r in phone.seen if r.method == "NOTIFY"]


async def test_without_dialplans_only_own_accounts_can_be_dialled(
    owned: Owned, tmp_path: Path
) -> None:
    """No ``transfer`` and no out dialplan: the phone's rights are ``${dst}@local``, so a
    premium-rate number reaches nothing (the final NOTIFY says so) and the call goes on."""
    await owned.allow_refer("102")
    phone = await _phone(owned)
    caller = await _caller(owned, tmp_path, "caller_hangs_up.xml", 1500)
    await phone.answer_call()
    accepted = await phone.authenticated_refer(f"sip:{PREMIUM}@{DOMAIN}")
    assert accepted.status == 202
    notifies = await phone.notifies_until_terminated()
    assert notifies[-1].body.startswith(b"SIP/2.0 480")
    bye = await phone.request("BYE", timeout=10)  # the caller hangs up: the call stayed up
    phone.answer(bye, 200)
    await caller.wait()
    rows = await owned.cdrs(2)
    await asyncio.sleep(0.1)
    assert len(await owned.switch.app.store.cdrs.list(ADMIN)) == 2
    assert {r.hungup_reason for r in rows} == {"remote end hung up"}
