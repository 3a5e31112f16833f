"""Calls through customers' dialplans: a script (the seed's style) and rules, with SIPp."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sipswitch.runtime.events import ConsoleFilter, EventKind
from sipswitch.storage import Scope
from tests.registrar.conftest import start_switch
from tests.registrar.support import PASSWORD, provision
from tests.server.conftest import RunningSwitch
from tests.support.sipclient import request_text

from .conftest import SCENARIOS, start_sipp
from .test_routing import EXTRA, _phone

pytestmark = pytest.mark.peers

ADMIN = Scope.system()

OUT_SCRIPT = """
sys.log("out call to " + req.uri.user)
if req.uri.user == "666":
    sys.respond(403, "Not on my bill")
result = sys.dial(f"{req.uri.user}@local")
sys.log("dial said " + str(result))
"""

IN_RULES = """[
  {"direction": "in", "pattern_type": "exact", "pattern": "102",
   "command": {"type": "dial", "dial_string": "102@local", "ring_seconds": 20}},
  {"direction": "in", "pattern_type": "prefix", "pattern": "_X.",
   "command": {"type": "reject", "code": 486, "reason": "Busy by rule"}}
]"""


@pytest.fixture
async def planned(tmp_path: Path) -> AsyncIterator[tuple[RunningSwitch, int]]:
    running = await start_switch(tmp_path, EXTRA)
    try:
        owner = await provision(running.app, ["101", "102"])
        store = running.app.store
        await store.dialplans.create(ADMIN, owner, "outbound", "script", OUT_SCRIPT)
        await store.dialplans.create(ADMIN, owner, "inbound", "rules", IN_RULES)
        for record in await store.accounts.list(ADMIN):
            if record.username == "101":
                await store.accounts.update(ADMIN, record.id, out_dialplan="outbound")
            if record.username == "102":
                await store.accounts.update(ADMIN, record.id, in_dialplan="inbound")
        await running.app.registration.accounts.reload()
        yield running, owner
    finally:
        for client in running.clients:
            client.close()
        await running.app.close()


async def test_script_out(planned: tuple[RunningSwitch, int], tmp_path: Path) -> None:
    switch, owner = planned
    subscription = switch.app.events.subscribe(ConsoleFilter.parse("event *"), owner=owner)
    phone = await _phone(switch, tmp_path, "102")
    caller = await start_sipp(
        tmp_path, "caller", f"127.0.0.1:{switch.port}", "-sf", str(SCENARIOS / "uac_auth.xml"),
        "-s", "102", "-au", "101", "-ap", PASSWORD, "-m", "1",
        "-auth_uri", f"102@127.0.0.1:{switch.port}",
    )  # fmt: skip
    code, out = await caller.wait(30)
    assert code == 0, out[-3000:]
    code, out = await phone
    assert code == 0, out[-3000:]
    messages = [e.message for e in subscription.drain() if e.kind is EventKind.DIAL_PLAN]
    subscription.close()
    assert any("out call to 102" in m for m in messages)  # the script's sys.log


async def test_rules_in(planned: tuple[RunningSwitch, int], tmp_path: Path) -> None:
    switch, owner = planned
    subscription = switch.app.events.subscribe(ConsoleFilter.parse("event *"), owner=owner)
    phone = await _phone(switch, tmp_path, "102")
    caller = await start_sipp(
        tmp_path, "caller", f"127.0.0.1:{switch.port}", "-sn", "uac", "-s", "102", "-m", "1",
        "-d", "100",
    )  # fmt: skip
    code, out = await caller.wait(30)
    assert code == 0, out[-3000:]
    code, out = await phone
    assert code == 0, out[-3000:]
    messages = [e.message for e in subscription.drain() if e.kind is EventKind.DIAL_PLAN]
    subscription.close()
    assert any(m.startswith("inbound: in call to 102") for m in messages), messages


async def test_unknown_account_and_rule_dial_with_no_phone(
    planned: tuple[RunningSwitch, int],
) -> None:
    switch, _ = planned
    client = await switch.udp()
    client.send(request_text("INVITE", "sip:555@sipswitch.local", via_port=client.port))
    response = await client.final()
    assert (response.status, response.reason) == (404, "Not Found")  # no account 555
    # 102's in-rules: the first matches; with no phone registered the dial finds nothing
    client.send(request_text("INVITE", "sip:102@sipswitch.local", via_port=client.port))
    assert (await client.final()).status == 480


async def test_script_error_gives_500_and_the_line(
    planned: tuple[RunningSwitch, int], tmp_path: Path
) -> None:
    switch, owner = planned
    await switch.app.store.dialplans.update(
        ADMIN, "outbound", "x = 1\ny = undefined_name\n", owner_id=owner
    )
    subscription = switch.app.events.subscribe(ConsoleFilter.parse("event *"), owner=owner)
    caller = await start_sipp(
        tmp_path, "caller", f"127.0.0.1:{switch.port}", "-sf",
        str(SCENARIOS / "uac_auth_fail.xml"), "-s", "102", "-au", "101", "-ap", PASSWORD,
        "-m", "1", "-auth_uri", f"102@127.0.0.1:{switch.port}",
    )  # fmt: skip
    code, out = await caller.wait(30)
    assert code == 0, out[-3000:]
    await asyncio.sleep(0.1)
    errors = [e.message for e in subscription.drain() if e.kind is EventKind.ERROR]
    subscription.close()
    assert any("line 2" in m for m in errors), errors
