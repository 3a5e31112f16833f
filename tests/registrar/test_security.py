"""Brute-force lockout with the CLI's view and unban; scanners get nothing; REGISTER floods."""

from __future__ import annotations

import asyncio

import pytest

from tests.server.conftest import RunningSwitch

from .support import Phone, cli, provision


async def test_brute_force_ban_visible_and_lifted_by_cli(switch: RunningSwitch) -> None:
    await provision(switch.app, ["101"])
    client = await switch.udp()
    attacker = Phone(client, "101", password="guess")
    statuses = [(await attacker.register()).status for _ in range(3)]
    assert statuses == [401, 401, 403]
    good = Phone(client, "101")
    assert (await good.register()).status == 403  # the source is banned, even with the password
    await switch.app.registration.security.sync()
    code, out = await cli(switch.app, "security", "bans")
    assert code == 0 and "source:127.0.0.1" in out and "failed digest" in out, out
    code, out = await cli(switch.app, "security", "unban", "127.0.0.1")
    assert code == 0, out
    await switch.app.registration.security.sync()
    assert (await good.register()).status == 200


async def test_scanner_gets_no_answer(switch: RunningSwitch) -> None:
    client = await switch.udp()
    phone = Phone(client, "101", user_agent="friendly-scanner")
    client.send(phone.request())
    assert await client.nothing(0.3)
    assert len(switch.app.layer) == 0  # the dropped transaction is gone


@pytest.fixture
def switch_extra(request: pytest.FixtureRequest) -> dict[str, str]:
    flood = "5" if "flood" in request.node.name else "100000"
    return {"SIPSWITCH_SECURITY_FLOOD_REQUESTS": flood}


async def test_register_flood_is_dropped(switch: RunningSwitch) -> None:
    client = await switch.udp()
    phone = Phone(client, "101")
    for _ in range(5):
        client.send(phone.request())
        assert (await phone.final()).status == 401
    client.send(phone.request())
    assert await client.nothing(0.3)
    await asyncio.sleep(0)
