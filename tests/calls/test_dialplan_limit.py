"""The per-customer cap on concurrent dialplan executions (SIPSorcery's limit; default 5)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sipswitch.runtime.events import EventKind, Subscription
from sipswitch.services.calls.dialplans import Execution
from sipswitch.services.calls.model import DialOutcome, Expand
from sipswitch.services.dialplan.sandbox import Direction
from sipswitch.sip.message import Request
from sipswitch.sip.parser import parse_request
from sipswitch.storage import Scope
from tests.registrar.conftest import start_switch
from tests.registrar.support import provision
from tests.support.sipclient import request_text

from .test_routing import EXTRA

RULES = """[{"direction": "out", "pattern_type": "prefix", "pattern": "_X.",
  "command": {"type": "dial", "dial_string": "sip:${dst}@127.0.0.1:9", "ring_seconds": 30}}]"""


@dataclass
class HeldCall:
    """A dial target whose dial waits until the test lets it go."""

    invite: Request
    gate: asyncio.Event
    dialled: asyncio.Event = field(default_factory=asyncio.Event)
    responses: list[tuple[int, str | None]] = field(default_factory=list)
    answered: bool = False
    failures: list[tuple[int, str]] = field(default_factory=list)

    async def dial(
        self,
        group_count: int,
        expand: Expand,
        *,
        ring_timeout: float | None = None,
        duration_limit: float | None = None,
    ) -> DialOutcome:
        self.dialled.set()
        await self.gate.wait()
        return DialOutcome.NO_ANSWER

    def respond(
        self, status: int, reason: str | None = None, headers: Sequence[tuple[str, str]] = ()
    ) -> None:
        self.responses.append((status, reason))


async def test_one_more_than_the_cap_gets_480_and_a_warning(tmp_path: Path) -> None:
    running = await start_switch(tmp_path, EXTRA)
    try:
        app = running.app
        assert app.dialplans is not None
        executor = app.dialplans
        assert executor.max_per_owner == 5  # the default (calls.max_dialplans_per_customer)
        executor.max_per_owner = 2
        owner = await provision(app, ["101"])
        await app.store.dialplans.create(Scope.system(), owner, "out", "rules", RULES)
        source = await executor.load(owner, "out")
        assert source is not None
        events = app.events.subscribe(owner=owner)
        gate = asyncio.Event()

        def call(n: int) -> HeldCall:
            text = request_text("INVITE", f"sip:55{n}@sipswitch.local", via_port=5999)
            return HeldCall(parse_request(text), gate)

        def execution() -> Execution:
            return Execution(owner, "101", "sipswitch.local", Direction.OUT, "out", "555")

        held = [call(1), call(2)]
        tasks = [asyncio.create_task(executor.execute(c, execution(), source)) for c in held]
        await asyncio.wait_for(asyncio.gather(*(c.dialled.wait() for c in held)), 10)

        refused = call(3)
        await asyncio.wait_for(executor.execute(refused, execution(), source), 10)
        assert refused.responses == [(480, "Too many dialplan executions")]
        assert not refused.dialled.is_set()
        warning = await asyncio.wait_for(_next_kind(events, EventKind.WARN), 5)
        assert "limit 2" in warning

        gate.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 10)
        again = call(4)
        again.gate.set()
        await asyncio.wait_for(executor.execute(again, execution(), source), 10)
        assert again.dialled.is_set()  # the slots came back
    finally:
        await running.app.close()


async def _next_kind(events: Subscription, kind: EventKind) -> str:
    async for event in events:
        if event.kind is kind:
            return str(event.message)
    raise AssertionError("event stream ended")
