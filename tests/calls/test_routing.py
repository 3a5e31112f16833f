"""Calls routed the way the service routes them: to an account's registered phone (In), and
from an authenticated account (Out); CDRs land in the database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sipswitch.storage import Scope
from tests.registrar.conftest import start_switch
from tests.registrar.support import PASSWORD, provision
from tests.server.conftest import RunningSwitch
from tests.support.sipclient import free_port, request_text

from .conftest import SCENARIOS, start_sipp

REGISTRAR_SCENARIOS = Path(__file__).parents[1] / "registrar" / "scenarios"

pytestmark = pytest.mark.peers

EXTRA = {
    "SIPSWITCH_SECURITY_FLOOD_REQUESTS": "100000",
    "SIPSWITCH_REGISTRAR_DIGEST_ALGORITHMS": "MD5,SHA-256",  # SIPp answers only MD5
}


@pytest.fixture
async def routed(tmp_path: Path) -> AsyncIterator[RunningSwitch]:
    running = await start_switch(tmp_path, EXTRA)
    try:
        await provision(running.app, ["101", "102"])
        yield running
    finally:
        for client in running.clients:
            client.close()
        await running.app.close()


async def _phone(switch: RunningSwitch, tmp_path: Path, user: str) -> asyncio.Task[tuple[int, str]]:
    """A phone: SIPp registers from a port (with digest), then a SIPp UAS answers on it."""
    users = tmp_path / f"{user}.csv"
    auth = f"[authentication username={user} password={PASSWORD}]"
    users.write_text(f"SEQUENTIAL\n{user};{auth};sipswitch.local\n")
    port = free_port()
    register = await start_sipp(
        tmp_path, f"register{user}", f"127.0.0.1:{switch.port}", "-sf",
        str(REGISTRAR_SCENARIOS / "register_once.xml"), "-inf", str(users), "-m", "1",
        port=port,
    )  # fmt: skip
    code, out = await register.wait(20)
    assert code == 0, out[-2000:]
    assert switch.app.registration.location.lookup(f"{user}@sipswitch.local")
    phone = await start_sipp(tmp_path, f"phone{user}", "-sn", "uas", "-m", "1", port=port)
    return asyncio.create_task(phone.wait(30))


async def _cdrs(switch: RunningSwitch, count: int) -> list[object]:
    for _ in range(100):
        rows = await switch.app.store.cdrs.list(Scope.system())
        if len(rows) >= count:
            return list(rows)
        await asyncio.sleep(0.05)
    raise AssertionError("CDRs were not written")


async def test_call_to_a_registered_phone(routed: RunningSwitch, tmp_path: Path) -> None:
    phone = await _phone(routed, tmp_path, "102")
    caller = await start_sipp(
        tmp_path, "caller", f"127.0.0.1:{routed.port}", "-sn", "uac", "-s", "102", "-m", "1",
        "-d", "200",
    )  # fmt: skip
    code, out = await caller.wait(30)
    assert code == 0, out[-3000:]
    code, out = await phone
    assert code == 0, out[-3000:]
    rows = await _cdrs(routed, 2)
    assert {r.direction for r in rows} == {"in", "out"}  # type: ignore[attr-defined]


async def test_out_call_from_an_account_is_authenticated(
    routed: RunningSwitch, tmp_path: Path
) -> None:
    phone = await _phone(routed, tmp_path, "102")
    caller = await start_sipp(
        tmp_path, "caller", f"127.0.0.1:{routed.port}", "-sf", str(SCENARIOS / "uac_auth.xml"),
        "-s", "102", "-au", "101", "-ap", PASSWORD, "-m", "1",
        # SIPp's digest uri is the server's address unless told; ours must be the Request-URI
        "-auth_uri", f"102@127.0.0.1:{routed.port}",
    )  # fmt: skip
    code, out = await caller.wait(30)
    errors = caller.log.read_text(errors="replace") if caller.log.exists() else ""
    assert code == 0, out[-3000:] + errors[-2000:]
    code, out = await phone
    assert code == 0, out[-3000:]
    rows = await _cdrs(routed, 2)
    owners = {r.owner for r in rows}  # type: ignore[attr-defined]
    assert len(owners) == 1 and None not in owners


async def test_unknown_user_is_404_and_no_binding_is_480(
    routed: RunningSwitch, tmp_path: Path
) -> None:
    client = await routed.udp()
    client.send(request_text("INVITE", "sip:999@sipswitch.local", via_port=client.port))
    assert (await client.final()).status == 404
    client.send(request_text("INVITE", "sip:102@sipswitch.local", via_port=client.port))
    assert (await client.final()).status == 480
