"""Calls arriving through a provider registration: In for the provider's incoming account.

A second sipswitch plays the provider; the first registers to it as its account 101. A call
placed at the provider to 101 goes to the registered contact, and rings the phone (a SIPp UAS)
registered on the first switch as the incoming account 201, through 201's in rules, which
match on the provider's name."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from sipswitch.runtime.events import ConsoleFilter, EventKind
from sipswitch.storage import Scope
from sipswitch.storage.cdrs import CallDetailRecord
from tests.calls.conftest import start_sipp
from tests.calls.test_routing import EXTRA, _phone
from tests.registrar.conftest import start_switch
from tests.registrar.support import PASSWORD, provision
from tests.server.conftest import RunningSwitch
from tests.support.sipclient import free_port, request_text

from .conftest import FAST, eventually

pytestmark = pytest.mark.peers

ADMIN = Scope.system()
HOME = {**EXTRA, **FAST}

IN_RULES = """[
  {"direction": "in", "provider": "prov", "pattern_type": "prefix", "pattern": "_X.",
   "command": {"type": "dial", "dial_string": "201@local", "ring_seconds": 20}},
  {"direction": "in", "pattern_type": "prefix", "pattern": "_X.",
   "command": {"type": "reject", "code": 403, "reason": "Not through the provider"}}
]"""


async def _close(*switches: RunningSwitch) -> None:
    for running in switches:
        for client in running.clients:
            client.close()
        await running.app.close()


async def _bound(provider: RunningSwitch, token: str) -> bool:
    location = provider.app.registration.location
    return any(token in b.contact for aor in location.aors() for b in location.lookup(aor))


async def test_a_call_through_the_provider_rings_the_incoming_account(tmp_path: Path) -> None:
    (tmp_path / "provider").mkdir()
    (tmp_path / "home").mkdir()
    provider = await start_switch(tmp_path / "provider", EXTRA)
    home = await start_switch(tmp_path / "home", HOME)
    try:
        await provision(provider.app, ["101"])
        owner = await provision(home.app, ["201"])
        store = home.app.store
        await store.dialplans.create(ADMIN, owner, "inbound", "rules", IN_RULES)
        (account,) = await store.accounts.list(ADMIN)
        await store.accounts.update(ADMIN, account.id, in_dialplan="inbound")
        await home.app.registration.accounts.reload()
        record = await store.providers.create(
            ADMIN, "prov", f"127.0.0.1:{provider.port}", owner_id=owner, username="101",
            password=PASSWORD, register=True, register_expiry=600,
            incoming_account="201@sipswitch.local",
        )  # fmt: skip
        await home.app.providers.reload()
        token = home.app.provider_directory.token_of(record.id)
        assert token is not None
        await eventually(lambda: _bound(provider, token), 15, "the provider registration")

        events = home.app.events.subscribe(ConsoleFilter.parse("event *"), owner=owner)
        phone = await _phone(home, tmp_path, "201")
        caller = await start_sipp(
            tmp_path, "caller", f"127.0.0.1:{provider.port}", "-sn", "uac", "-s", "101",
            "-m", "1", "-d", "200",
        )  # fmt: skip
        code, out = await caller.wait(30)
        assert code == 0, out[-3000:]
        code, out = await phone
        assert code == 0, out[-3000:]
        messages = [e.message for e in events.drain() if e.kind is EventKind.DIAL_PLAN]
        events.close()
        assert any(m.startswith("inbound: in call to 201") for m in messages), messages

        rows: list[CallDetailRecord] = []

        async def written() -> bool:
            rows[:] = list(await store.cdrs.list(ADMIN))
            return len(rows) >= 2

        await eventually(written, 10, "the home switch's CDRs")
        by_direction = {r.direction: r for r in rows}
        inbound, outbound = by_direction["in"], by_direction["out"]
        assert inbound.owner == owner and outbound.owner == owner
        assert inbound.dst_user == token  # the call came to our registered contact
        assert outbound.dst_user == "201"
        assert inbound.answered_status == outbound.answered_status == 200
        assert inbound.bridge_id == outbound.bridge_id is not None
        assert inbound.hungup_reason == "remote end hung up"
    finally:
        await _close(home, provider)


async def test_provider_calls_without_a_usable_incoming_account(tmp_path: Path) -> None:
    home = await start_switch(tmp_path, HOME)
    try:
        owner = await provision(home.app, ["201"])
        store = home.app.store
        # the registrar is nowhere: the registration fails, the attribution still works
        record = await store.providers.create(
            ADMIN, "prov", f"127.0.0.1:{free_port()}", owner_id=owner, username="101",
            password=PASSWORD, register=True, register_expiry=600,
        )  # fmt: skip
        await home.app.providers.reload()
        token = home.app.provider_directory.token_of(record.id)
        client = await home.udp()

        async def call() -> tuple[int, str]:
            client.send(request_text("INVITE", f"sip:{token}@127.0.0.1", via_port=client.port))
            response = await client.final()
            return response.status, response.reason

        assert await call() == (480, "No incoming route for provider prov")

        await store.providers.update(ADMIN, record.id, incoming_account="201@sipswitch.local")
        await home.app.providers.reload()
        assert await call() == (480, "All forwards failed")  # no phone registered as 201

        (account,) = await store.accounts.list(ADMIN)
        await store.accounts.update(ADMIN, account.id, disabled=True)
        await home.app.registration.accounts.reload()
        assert await call() == (403, "Account disabled")
    finally:
        await _close(home)
        await asyncio.sleep(0)
