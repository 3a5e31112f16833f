"""SIPp uac → sipswitch → SIPp uas: answered, busy, cancelled, no answer, forking, sequential,
delayed, duration limit, 3xx; over UDP and TCP; CDRs checked field by field."""

from __future__ import annotations

from pathlib import Path

import pytest

from sipswitch.storage.cdrs import CallDetailRecord

from .conftest import EXECUTION, SCENARIOS, CallLab, start_sipp, uas_args

pytestmark = pytest.mark.peers


async def _call(lab: CallLab, tmp_path: Path, *args: str, transport: str = "u1") -> int:
    """Run the SIPp caller; returns its port (the In legs' remote end)."""
    uac = await start_sipp(
        tmp_path, "uac", f"127.0.0.1:{lab.port}", "-s", "service", "-t", transport, *args
    )
    code, out = await uac.wait(40)
    errors = uac.log.read_text(errors="replace") if uac.log.exists() else ""
    assert code == 0, out[-3000:] + errors[-3000:]
    return uac.port


def _progress(cdr: CallDetailRecord) -> tuple[int | None, str | None]:
    return cdr.progress_status, cdr.progress_reason


def _by_direction(cdrs: list[CallDetailRecord], direction: str) -> list[CallDetailRecord]:
    return [c for c in cdrs if c.direction == direction]


def _check_fields(cdr: CallDetailRecord, *, answered: bool, port: int | None = None) -> None:
    """What every leg's record must carry, answered or not (``port``: the switch's)."""
    assert cdr.leg_id and cdr.call_id and cdr.owner == 1
    assert cdr.direction in ("in", "out")
    assert cdr.execution_id == EXECUTION  # the legs of one dialplan execution are linked
    assert cdr.from_user == "sipp" and cdr.from_name == "sipp"
    assert "<sip:sipp@127.0.0.1" in cdr.from_header and ";tag=" in cdr.from_header
    assert cdr.dst_user == "service" and cdr.dst_host == "127.0.0.1"
    assert cdr.dst_uri.startswith("sip:service@127.0.0.1")
    assert cdr.local_socket.startswith("127.0.0.1:")
    if port is not None:
        assert cdr.local_socket == f"127.0.0.1:{port}"
    assert cdr.remote_socket.startswith(("udp:127.0.0.1:", "tcp:127.0.0.1:"))
    assert cdr.created > 1_000_000_000
    assert cdr.answered_time is not None and cdr.answered_time >= cdr.created
    assert cdr.answered_status is not None and cdr.answered_reason
    if cdr.progress_time is not None:
        assert cdr.created <= cdr.progress_time <= cdr.answered_time
        assert cdr.progress_status is not None and 100 < cdr.progress_status < 200
        assert cdr.progress_reason
    else:
        assert cdr.progress_status is None and cdr.progress_reason is None
    assert cdr.hungup_time is not None and cdr.hungup_time >= cdr.answered_time
    assert cdr.hungup_reason
    assert cdr.ring_duration is not None and cdr.ring_duration >= 0
    assert cdr.ring_duration == round(cdr.answered_time - cdr.created, 3)
    assert cdr.referred_by is None
    if answered:
        assert cdr.answered_status == 200 and cdr.bridge_id
        assert cdr.duration is not None and cdr.duration >= 0
        assert cdr.duration == pytest.approx(cdr.hungup_time - cdr.answered_time, abs=0.01)
    else:
        assert cdr.answered_status >= 300 and cdr.duration is None


@pytest.mark.parametrize("transport", ["u1", "t1"])
async def test_answered_calls(lab: CallLab, tmp_path: Path, transport: str) -> None:
    uas = await start_sipp(tmp_path, "uas", *uas_args(calls=3))
    lab.plan = [[(uas.port, {})]]
    caller = await _call(lab, tmp_path, "-sn", "uac", "-m", "3", "-r", "10", "-d", "200",
                         transport=transport)  # fmt: skip
    code, out = await uas.wait()
    assert code == 0, out[-2000:]
    inbound = _by_direction(lab.cdrs, "in")
    outbound = _by_direction(lab.cdrs, "out")
    assert len(inbound) == 3 and len(outbound) == 3
    for cdr in lab.cdrs:
        _check_fields(cdr, answered=True, port=lab.port)
        assert cdr.answered_status == 200 and cdr.answered_reason == "OK"
        assert cdr.hungup_reason == "remote end hung up"
        assert cdr.duration is not None and cdr.duration >= 0.1
        assert cdr.ring_duration is not None and cdr.ring_duration >= 0
        assert cdr.owner == 1 and cdr.bridge_id
        assert _progress(cdr) == (180, "Ringing")  # the UAS rang; the caller heard it
    for a, b in zip(sorted(inbound, key=lambda c: c.bridge_id or ""),
                    sorted(outbound, key=lambda c: c.bridge_id or ""), strict=True):  # fmt: skip
        assert a.bridge_id == b.bridge_id
        assert a.call_id != b.call_id  # a B2BUA: each leg its own dialog
        assert a.dst_user == "service" and b.dst_user == "service"
        assert a.from_user == "sipp" and b.from_user == "sipp"
        assert b.remote_socket == f"udp:127.0.0.1:{uas.port}"
        assert a.remote_socket == f"{'tcp' if transport == 't1' else 'udp'}:127.0.0.1:{caller}"
        assert a.dst_uri.startswith(f"sip:service@127.0.0.1:{lab.port}")
        assert b.dst_uri == f"sip:service@127.0.0.1:{uas.port}"


async def test_busy(lab: CallLab, tmp_path: Path) -> None:
    uas = await start_sipp(tmp_path, "uas", *uas_args("uas_busy.xml"))
    lab.plan = [[(uas.port, {})]]
    caller = await _call(lab, tmp_path, "-sf", str(SCENARIOS / "uac_expect.xml"), "-m", "1")
    await uas.wait()
    (a,) = _by_direction(lab.cdrs, "in")
    (b,) = _by_direction(lab.cdrs, "out")
    assert a.remote_socket == f"udp:127.0.0.1:{caller}"
    assert b.remote_socket == f"udp:127.0.0.1:{uas.port}"
    assert _progress(a) == _progress(b) == (None, None)  # it never rang
    assert b.hungup_reason == "Busy Here"
    assert (b.answered_status, b.answered_reason) == (486, "Busy Here")
    assert (a.answered_status, a.answered_reason) == (486, "Busy Here")  # what the caller got
    for cdr in (a, b):
        _check_fields(cdr, answered=False, port=lab.port)
        assert cdr.bridge_id is None
    assert a.hungup_reason == "Busy Here"


async def test_caller_cancels(lab: CallLab, tmp_path: Path) -> None:
    uas = await start_sipp(tmp_path, "uas", *uas_args("uas_ring.xml"))
    lab.plan = [[(uas.port, {})]]
    await _call(lab, tmp_path, "-sf", str(SCENARIOS / "uac_cancel.xml"), "-m", "1")
    code, out = await uas.wait()
    assert code == 0, out[-2000:]
    (a,) = _by_direction(lab.cdrs, "in")
    (b,) = _by_direction(lab.cdrs, "out")
    assert a.hungup_reason == "cancelled" and b.hungup_reason == "cancelled"
    assert b.progress_status == 180 and b.answered_status == 487
    assert a.answered_status == 487
    for cdr in (a, b):
        _check_fields(cdr, answered=False, port=lab.port)
    assert b.progress_time is not None and b.progress_reason == "Ringing"
    assert _progress(a) == (180, "Ringing")  # what the caller heard before cancelling
    assert a.bridge_id is None and b.bridge_id is None
    assert a.answered_reason == b.answered_reason == "Request Terminated"
    assert b.remote_socket == f"udp:127.0.0.1:{uas.port}"


async def test_no_answer_times_out(lab: CallLab, tmp_path: Path) -> None:
    uas = await start_sipp(tmp_path, "uas", *uas_args("uas_ring.xml"))
    lab.plan = [[(uas.port, {})]]
    lab.ring_timeout = 1.0
    await _call(lab, tmp_path, "-sf", str(SCENARIOS / "uac_expect.xml"), "-m", "1")
    code, out = await uas.wait()
    assert code == 0, out[-2000:]
    (a,) = _by_direction(lab.cdrs, "in")
    assert a.hungup_reason == "No Answer"


async def test_forking_first_answer_wins(lab: CallLab, tmp_path: Path) -> None:
    ringer = await start_sipp(tmp_path, "ringer", *uas_args("uas_ring.xml"))
    answerer = await start_sipp(tmp_path, "answerer", *uas_args())
    lab.plan = [[(ringer.port, {}), (answerer.port, {})]]
    await _call(lab, tmp_path, "-sn", "uac", "-m", "1", "-d", "100")
    for sipp in (ringer, answerer):
        code, out = await sipp.wait()
        assert code == 0, out[-2000:]
    outbound = _by_direction(lab.cdrs, "out")
    statuses = sorted(c.answered_status or 0 for c in outbound)
    assert statuses == [200, 487]
    (a,) = _by_direction(lab.cdrs, "in")
    won = next(c for c in outbound if c.answered_status == 200)
    lost = next(c for c in outbound if c.answered_status == 487)
    _check_fields(a, answered=True, port=lab.port)
    _check_fields(won, answered=True, port=lab.port)
    _check_fields(lost, answered=False, port=lab.port)
    assert won.bridge_id == a.bridge_id and lost.bridge_id is None
    assert lost.hungup_reason == "cancelled"
    assert a.hungup_reason == won.hungup_reason == "remote end hung up"
    assert _progress(a) == _progress(won) == _progress(lost) == (180, "Ringing")
    assert lost.answered_reason == "Request Terminated"
    assert won.call_id != lost.call_id != a.call_id  # each leg its own dialog
    assert won.from_header != lost.from_header  # each its own From tag
    assert {won.remote_socket, lost.remote_socket} == {
        f"udp:127.0.0.1:{answerer.port}",
        f"udp:127.0.0.1:{ringer.port}",
    }


async def test_sequential_after_busy(lab: CallLab, tmp_path: Path) -> None:
    busy = await start_sipp(tmp_path, "busy", *uas_args("uas_busy.xml"))
    answerer = await start_sipp(tmp_path, "answerer", *uas_args())
    lab.plan = [[(busy.port, {})], [(answerer.port, {})]]
    await _call(lab, tmp_path, "-sn", "uac", "-m", "1", "-d", "100")
    for sipp in (busy, answerer):
        code, out = await sipp.wait()
        assert code == 0, out[-2000:]
    assert [c.answered_status for c in _by_direction(lab.cdrs, "out")] == [486, 200]


async def test_delayed_leg_starts_when_others_fail(lab: CallLab, tmp_path: Path) -> None:
    busy = await start_sipp(tmp_path, "busy", *uas_args("uas_busy.xml"))
    answerer = await start_sipp(tmp_path, "answerer", *uas_args())
    lab.plan = [[(busy.port, {}), (answerer.port, {"dt": 20.0})]]
    await _call(lab, tmp_path, "-sn", "uac", "-m", "1", "-d", "100")
    await busy.wait()
    await answerer.wait()
    (a,) = _by_direction(lab.cdrs, "in")
    assert a.ring_duration is not None and a.ring_duration < 10  # did not wait the 20 s


async def test_duration_limit_hangs_up(lab: CallLab, tmp_path: Path) -> None:
    uas = await start_sipp(tmp_path, "uas", *uas_args())
    lab.plan = [[(uas.port, {"cd": 0.5})]]
    await _call(lab, tmp_path, "-sf", str(SCENARIOS / "uac_hold.xml"), "-m", "1")
    await uas.wait()
    for cdr in lab.cdrs:
        assert cdr.hungup_reason == "call duration limit reached"
        assert cdr.duration is not None and 0.4 <= cdr.duration < 3


async def test_redirect_is_followed(lab: CallLab, tmp_path: Path) -> None:
    answerer = await start_sipp(tmp_path, "answerer", *uas_args())
    redirector = await start_sipp(
        tmp_path, "redirector", *uas_args("uas_redirect.xml"), "-key", "target",
        str(answerer.port),
    )  # fmt: skip
    lab.plan = [[(redirector.port, {})]]
    await _call(lab, tmp_path, "-sn", "uac", "-m", "1", "-d", "100")
    for sipp in (redirector, answerer):
        code, out = await sipp.wait()
        assert code == 0, out[-2000:]
    (b,) = _by_direction(lab.cdrs, "out")
    assert b.answered_status == 200


async def test_provider_leg_answers_a_digest_challenge(lab: CallLab, tmp_path: Path) -> None:
    provider = await start_sipp(tmp_path, "provider", *uas_args("uas_auth.xml"))
    lab.plan = [[(provider.port, {"auth": True})]]
    await _call(lab, tmp_path, "-sn", "uac", "-m", "1", "-d", "100")
    code, out = await provider.wait()
    assert code == 0, out[-2000:]
    (b,) = _by_direction(lab.cdrs, "out")
    assert b.answered_status == 200
