"""SIPp caller → sipswitch → SIPp far end that answers and REFERs; per ``tr`` mode, with the
new party a SIPp UAS reached through the owner's ``transfer`` dialplan. NOTIFYs, re-INVITE,
BYE and CDRs are checked."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import quote

import pytest

from sipswitch.runtime.events import ConsoleFilter, EventKind
from sipswitch.storage.cdrs import CallDetailRecord

from .conftest import TARGET_IP, Sipp, TransferLab, scenario, start_sipp

pytestmark = pytest.mark.peers


async def _referrer(tmp_path: Path, name: str, refer_to: str, extra: str = "X-Test: 1") -> Sipp:
    return await start_sipp(
        tmp_path, "referrer", "-sf", scenario(name), "-key", "referto", refer_to,
        "-key", "extra", extra,
    )  # fmt: skip


async def _caller(
    lab: TransferLab,
    tmp_path: Path,
    name: str,
    hold_ms: int,
    *,
    user: str = "service",
    label: str = "caller",
) -> Sipp:
    return await start_sipp(
        tmp_path, label, f"127.0.0.1:{lab.port}", "-sf", scenario(name), "-s", user,
        "-d", str(hold_ms),
    )  # fmt: skip


def _legs(cdrs: list[CallDetailRecord]) -> tuple[CallDetailRecord, list[CallDetailRecord]]:
    (inbound,) = [c for c in cdrs if c.direction == "in"]
    return inbound, [c for c in cdrs if c.direction == "out"]


@pytest.mark.parametrize("mode", [None, "n"])
async def test_refused_by_default_nothing_dialled(
    xlab: TransferLab, tmp_path: Path, mode: str | None
) -> None:
    """The dark side of blind transfers: a far end REFERs to a premium-rate number."""
    await xlab.transfer_dialplan(9)  # a dialplan that would dial it: the mode still forbids
    events = xlab.switch.app.events.subscribe(ConsoleFilter.parse("event *"), owner=xlab.owner)
    premium = f"sip:+19005551234@{TARGET_IP}:9"
    referrer = await _referrer(tmp_path, "referrer_403.xml", premium)
    xlab.targets, xlab.mode = {"service": referrer.port}, mode
    caller = await _caller(xlab, tmp_path, "caller_hangs_up.xml", 800)
    await caller.wait()
    await referrer.wait()
    assert "403 Transfers are not allowed on this call" in referrer.messages()
    _inbound, outbound = _legs(await xlab.settle(2))
    await asyncio.sleep(0.1)
    assert len(xlab.cdrs) == 2  # the caller and the referrer: no third leg was placed
    assert outbound[0].hungup_reason == "remote end hung up" and outbound[0].referred_by is None
    warnings = [e.message for e in events.drain() if e.kind is EventKind.WARN]
    events.close()
    assert any("REFER blocked" in m and "+19005551234" in m for m in warnings), warnings


async def test_carried_out_without_transfer_dialplan_is_refused(
    xlab: TransferLab, tmp_path: Path
) -> None:
    referrer = await _referrer(tmp_path, "referrer_403.xml", f"sip:3000@{TARGET_IP}:9")
    xlab.targets, xlab.mode = {"service": referrer.port}, "c"
    caller = await _caller(xlab, tmp_path, "caller_hangs_up.xml", 800)
    await caller.wait()
    await referrer.wait()
    assert "403 No transfer dialplan" in referrer.messages()  # never a 202 then silence


async def test_blind_transfer_carried_out(xlab: TransferLab, tmp_path: Path) -> None:
    target = await start_sipp(tmp_path, "target", "-sf", scenario("target_answer.xml"),
                              ip=TARGET_IP)  # fmt: skip
    await xlab.transfer_dialplan(target.port)
    referrer = await _referrer(tmp_path, "referrer_notify2.xml", f"sip:3000@{TARGET_IP}:9")
    xlab.targets, xlab.mode = {"service": referrer.port}, "c"
    caller = await _caller(xlab, tmp_path, "caller_reinvited.xml", 500)
    for sipp in (caller, referrer, target):
        await sipp.wait()
    notifies = referrer.messages()
    assert "SIP/2.0 202" in notifies
    for text in ("Event: refer", "Content-Type: message/sipfrag;version=2.0",
                 "Subscription-State: active;expires=60", "SIP/2.0 100 Trying",
                 "Subscription-State: terminated;reason=noresource"):  # fmt: skip
        assert text in notifies, text
    assert notifies.index("100 Trying") < notifies.index("terminated") < notifies.index("BYE ")
    reinvite = caller.messages().split("INVITE sip:sipp@", 1)[1]
    assert "m=audio 40002" in reinvite and "o=referrer 1 2 " in reinvite  # RFC 3264 §8
    assert "Referred-By:" in target.messages()  # RFC 3892 on the new INVITE
    assert "INVITE sip:3000@" in target.messages()  # the Refer-To user, as the dialplan said
    inbound, outbound = _legs(await xlab.settle(3))
    referring, new = sorted(outbound, key=lambda c: c.created)
    assert referring.hungup_reason == "transferred"
    assert new.referred_by and new.answered_status == 200
    assert new.bridge_id == inbound.bridge_id == referring.bridge_id
    assert inbound.hungup_reason == new.hungup_reason == "remote end hung up"
    assert new.dst_user == "3000"
    assert inbound.duration is not None and inbound.duration > 0.5  # one CDR, the whole call


async def test_refer_sub_false_no_notify(xlab: TransferLab, tmp_path: Path) -> None:
    target = await start_sipp(tmp_path, "target", "-sf", scenario("target_answer.xml"),
                              ip=TARGET_IP)  # fmt: skip
    await xlab.transfer_dialplan(target.port)
    referrer = await _referrer(
        tmp_path, "referrer_nosub.xml", f"sip:3000@{TARGET_IP}:9", "Refer-Sub: false"
    )
    xlab.targets, xlab.mode = {"service": referrer.port}, "c"
    caller = await _caller(xlab, tmp_path, "caller_reinvited.xml", 500)
    for sipp in (caller, referrer, target):
        await sipp.wait()
    messages = referrer.messages()
    assert "Refer-Sub: false" in messages.split("SIP/2.0 202")[1]
    assert "NOTIFY sip:" not in messages


async def test_new_party_busy_keeps_the_call(xlab: TransferLab, tmp_path: Path) -> None:
    target = await start_sipp(tmp_path, "target", "-sf", scenario("uas_busy.xml"), ip=TARGET_IP)
    await xlab.transfer_dialplan(target.port)
    referrer = await _referrer(tmp_path, "referrer_notify2.xml", f"sip:3000@{TARGET_IP}:9")
    xlab.targets, xlab.mode = {"service": referrer.port}, "c"
    caller = await _caller(xlab, tmp_path, "caller_hangs_up.xml", 1500)  # sees no re-INVITE
    for sipp in (caller, referrer, target):
        await sipp.wait()
    messages = referrer.messages()
    final = messages.rindex("Subscription-State: terminated;reason=noresource")
    assert "SIP/2.0 486 Busy Here" in messages[final:]
    inbound, outbound = _legs(await xlab.settle(3))
    referring, new = sorted(outbound, key=lambda c: c.created)
    assert new.answered_status == 486 and new.referred_by
    assert referring.hungup_reason == inbound.hungup_reason == "remote end hung up"
    assert referring.duration is not None and referring.duration > 1.0  # the call stayed up


async def test_new_party_never_answers(xlab: TransferLab, tmp_path: Path) -> None:
    target = await start_sipp(tmp_path, "target", "-sf", scenario("uas_ring.xml"), ip=TARGET_IP)
    await xlab.transfer_dialplan(target.port, ring_seconds=1)
    referrer = await _referrer(tmp_path, "referrer_notify3.xml", f"sip:3000@{TARGET_IP}:9")
    xlab.targets, xlab.mode = {"service": referrer.port}, "c"
    caller = await _caller(xlab, tmp_path, "caller_hangs_up.xml", 2500)
    for sipp in (caller, referrer, target):
        await sipp.wait()
    messages = referrer.messages()
    assert "SIP/2.0 180" in messages
    final = messages.rindex("Subscription-State: terminated;reason=noresource")
    assert "SIP/2.0 480 No Answer" in messages[final:]
    inbound, outbound = _legs(await xlab.settle(3))
    assert inbound.hungup_reason == "remote end hung up"
    assert sorted(c.hungup_reason or "" for c in outbound) == ["cancelled", "remote end hung up"]


async def test_transferee_hangs_up_while_new_party_rings(xlab: TransferLab, tmp_path: Path) -> None:
    target = await start_sipp(tmp_path, "target", "-sf", scenario("uas_ring.xml"), ip=TARGET_IP)
    await xlab.transfer_dialplan(target.port)
    referrer = await _referrer(tmp_path, "referrer_notify2.xml", f"sip:3000@{TARGET_IP}:9")
    xlab.targets, xlab.mode = {"service": referrer.port}, "c"
    caller = await _caller(xlab, tmp_path, "caller_hangs_up.xml", 1000)
    for sipp in (caller, referrer, target):
        await sipp.wait()  # the target's scenario needs the CANCEL
    _inbound, outbound = _legs(await xlab.settle(3))
    new = max(outbound, key=lambda c: c.created)
    assert new.hungup_reason == "cancelled" and new.answered_status == 487


async def test_pass_through(xlab: TransferLab, tmp_path: Path) -> None:
    refer_to = "sip:4000@example.com"
    referrer = await _referrer(tmp_path, "referrer_notify1.xml", refer_to)
    xlab.targets, xlab.mode = {"service": referrer.port}, "p"
    caller = await _caller(xlab, tmp_path, "caller_referred.xml", 300)
    for sipp in (caller, referrer):
        await sipp.wait()
    phone = caller.messages()
    assert f"Refer-To: <{refer_to}>" in phone and "Referred-By:" in phone
    assert "message/sipfrag" in referrer.messages().split("NOTIFY", 1)[1]
    assert len(await xlab.settle(2)) == 2  # nothing dialled by the switch


async def test_attended_transfer_joins_the_far_ends(xlab: TransferLab, tmp_path: Path) -> None:
    """Call 2 (consultation): caller2 → switch → C. Call 1: caller1 → switch → referrer, which
    REFERs with Replaces naming call 2's dialog: caller1 and C are joined."""
    far = await start_sipp(tmp_path, "far", "-sf", scenario("target_reinvited.xml"))
    xlab.targets, xlab.mode = {"consult": far.port}, "c"
    caller2 = await _caller(xlab, tmp_path, "uac_hold.xml", 0, user="consult", label="caller2")
    async with asyncio.timeout(5):
        while not xlab.answered_calls():
            await asyncio.sleep(0.02)
    (consult,) = xlab.answered_calls()
    assert consult.a.dialog is not None
    replaces = quote(
        f"{consult.a.call_id};to-tag={consult.a.local_tag};from-tag={consult.a.dialog.remote_tag}",
        safe="",
    )
    refer_to = f"sip:consult@127.0.0.1:{xlab.port}?Replaces={replaces}"
    referrer = await _referrer(tmp_path, "referrer_notify2.xml", refer_to)
    xlab.targets["service"] = referrer.port
    caller1 = await _caller(xlab, tmp_path, "caller_reinvited.xml", 500)
    for sipp in (caller1, referrer, caller2, far):
        await sipp.wait()
    messages = referrer.messages()
    final = messages.rindex("Subscription-State: terminated;reason=noresource")
    assert "SIP/2.0 200 OK" in messages[final:]
    cdrs = await xlab.settle(4)
    by_call = {c.call_id: c for c in cdrs}
    assert by_call[consult.a.call_id].hungup_reason == "transferred"
    reasons = sorted(c.hungup_reason or "" for c in cdrs)
    assert reasons == ["remote end hung up"] * 2 + ["transferred"] * 2
