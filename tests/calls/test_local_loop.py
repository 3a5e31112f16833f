"""``user@local`` legs to an account with an in dialplan loop back through the switch: the
looped INVITE is routed In to that account (its in dialplan runs), not Out from the caller."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sipswitch.services.calls.client_leg import LOOP_HEADER
from sipswitch.storage import Scope
from sipswitch.storage.cdrs import CallDetailRecord
from tests.registrar.conftest import start_switch
from tests.registrar.support import PASSWORD, provision
from tests.server.conftest import RunningSwitch
from tests.support.sipclient import request_text

from .conftest import SCENARIOS, start_sipp, uas_args
from .test_routing import EXTRA

pytestmark = pytest.mark.peers

ADMIN = Scope.system()

OUT_RULES = """[
  {"direction": "out", "pattern_type": "prefix", "pattern": "_X.",
   "command": {"type": "dial", "dial_string": "102@local"}}
]"""


def _in_rules(dial_string: str) -> str:
    return f"""[
  {{"direction": "in", "pattern_type": "prefix", "pattern": "_X.",
   "command": {{"type": "dial", "dial_string": "{dial_string}", "ring_seconds": 20}}}}
]"""


@pytest.fixture
async def looped(tmp_path: Path) -> AsyncIterator[RunningSwitch]:
    running = await start_switch(tmp_path, EXTRA)
    try:
        yield running
    finally:
        for client in running.clients:
            client.close()
        await running.app.close()


async def _plans(switch: RunningSwitch, plans: dict[str, tuple[str | None, str | None]]) -> None:
    """Accounts and their (out, in) rule dialplans."""
    owner = await provision(switch.app, list(plans))
    store = switch.app.store
    by_name = {r.username: r for r in await store.accounts.list(ADMIN)}
    for user, (out_rules, in_rules) in plans.items():
        changes: dict[str, str] = {}
        if out_rules is not None:
            await store.dialplans.create(ADMIN, owner, f"out{user}", "rules", out_rules)
            changes["out_dialplan"] = f"out{user}"
        if in_rules is not None:
            await store.dialplans.create(ADMIN, owner, f"in{user}", "rules", in_rules)
            changes["in_dialplan"] = f"in{user}"
        if changes:
            await store.accounts.update(ADMIN, by_name[user].id, **changes)  # type: ignore[arg-type]
    await switch.app.registration.accounts.reload()


async def _cdrs(switch: RunningSwitch, count: int) -> list[CallDetailRecord]:
    for _ in range(200):
        rows = list(await switch.app.store.cdrs.list(ADMIN))
        if len(rows) >= count:
            return rows
        await asyncio.sleep(0.05)
    raise AssertionError("CDRs were not written")


async def test_local_leg_runs_the_accounts_in_dialplan(
    looped: RunningSwitch, tmp_path: Path
) -> None:
    uas = await start_sipp(tmp_path, "uas", *uas_args())
    await _plans(
        looped,
        {
            "101": (OUT_RULES, None),
            "102": (None, _in_rules(f"sip:service@127.0.0.1:{uas.port}")),
        },
    )
    caller = await start_sipp(
        tmp_path, "caller", f"127.0.0.1:{looped.port}", "-sf", str(SCENARIOS / "uac_auth.xml"),
        "-s", "5551234", "-au", "101", "-ap", PASSWORD, "-m", "1",
        "-auth_uri", f"5551234@127.0.0.1:{looped.port}",
    )  # fmt: skip
    code, out = await caller.wait(30)
    errors = caller.log.read_text(errors="replace") if caller.log.exists() else ""
    assert code == 0, out[-3000:] + errors[-2000:]
    code, out = await uas.wait(30)
    assert code == 0, out[-3000:]
    trace = (tmp_path / "uas.msg").read_text(errors="replace")
    assert LOOP_HEADER.lower() not in trace.lower()  # the mark never leaves the switch

    rows = await _cdrs(looped, 4)
    assert len(rows) == 4
    me = f"udp:127.0.0.1:{looped.port}"
    # the caller's call: 101 → the looped leg to 102
    (caller_in,) = [r for r in rows if r.direction == "in" and r.dst_user == "5551234"]
    (loop_out,) = [r for r in rows if r.direction == "out" and r.remote_socket == me]
    # the looped call: In to 102, its in dialplan's leg to the UAS
    (loop_in,) = [r for r in rows if r.direction == "in" and r.dst_user == "102"]
    (uas_out,) = [r for r in rows if r.direction == "out" and r.dst_user == "service"]
    assert loop_out.dst_user == "102" and loop_out.dst_host == "sipswitch.local"
    assert loop_in.remote_socket == me and loop_in.call_id == loop_out.call_id
    assert uas_out.remote_socket == f"udp:127.0.0.1:{uas.port}"
    assert caller_in.bridge_id == loop_out.bridge_id is not None
    assert loop_in.bridge_id == uas_out.bridge_id is not None
    assert caller_in.bridge_id != loop_in.bridge_id
    assert caller_in.execution_id and loop_in.execution_id
    assert caller_in.execution_id != loop_in.execution_id
    owners = {r.owner for r in rows}
    assert len(owners) == 1 and None not in owners
    for row in rows:
        assert row.from_user == "101"
        assert (row.answered_status, row.answered_reason) == (200, "OK")
        assert row.hungup_reason == "remote end hung up"
        assert row.duration is not None and row.duration >= 0
    assert not looped.app.calls.calls


async def test_dialplans_dialling_each_other_end_with_483(looped: RunningSwitch) -> None:
    await _plans(
        looped, {"102": (None, _in_rules("103@local")), "103": (None, _in_rules("102@local"))}
    )
    client = await looped.udp()
    invite = request_text("INVITE", "sip:102@sipswitch.local", via_port=client.port)
    client.send(invite.replace(b"Max-Forwards: 70", b"Max-Forwards: 4"))
    response = await client.final()
    assert (response.status, response.reason) == (483, "Too Many Hops")
    for _ in range(100):
        if not looped.app.calls.calls:
            break
        await asyncio.sleep(0.05)
    assert not looped.app.calls.calls


async def test_a_loop_with_many_hops_left_meets_the_dialplan_cap(looped: RunningSwitch) -> None:
    """Max-Forwards 70 would allow 70 passes; the per-customer cap of 5 running dialplans
    (calls.max_dialplans_per_customer) ends the loop first."""
    await _plans(
        looped, {"102": (None, _in_rules("103@local")), "103": (None, _in_rules("102@local"))}
    )
    client = await looped.udp()
    client.send(request_text("INVITE", "sip:102@sipswitch.local", via_port=client.port))
    response = await client.final()
    assert (response.status, response.reason) == (480, "Too many dialplan executions")
    for _ in range(100):
        if not looped.app.calls.calls:
            break
        await asyncio.sleep(0.05)
    assert not looped.app.calls.calls


async def test_a_forged_mark_is_ignored(looped: RunningSwitch) -> None:
    """From one of our accounts with a made-up mark: still Out, so challenged (401)."""
    await _plans(looped, {"101": (None, None), "102": (None, _in_rules("102@local"))})
    client = await looped.udp()
    invite = request_text(
        "INVITE", "sip:102@sipswitch.local", via_port=client.port,
        headers=(f"{LOOP_HEADER}: 0123456789abcdef0123456789abcdef",),
    )  # fmt: skip
    client.send(invite.replace(b"<sip:tester@127.0.0.1>", b"<sip:101@sipswitch.local>"))
    assert (await client.final()).status == 401
