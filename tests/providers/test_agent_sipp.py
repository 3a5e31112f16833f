"""The registration agent against SIPp playing a provider's registrar over UDP."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import pytest

from sipswitch.runtime.events import EventKind
from sipswitch.storage.records import RegistrationStatus
from tests.support.sipclient import free_port

from .conftest import ADMIN, SCENARIOS, Home, eventually, need

pytestmark = pytest.mark.peers


class Sipp:
    """A SIPp UAS on a loopback port running one call of ``scenario``."""

    def __init__(self, scenario: str, tmp_path: Path) -> None:
        self.scenario = SCENARIOS / scenario
        self.port = free_port()
        self.errors = tmp_path / f"{scenario}.err"
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            need("sipp"), "-sf", str(self.scenario), "-t", "u1", "-i", "127.0.0.1",
            "-p", str(self.port), "-m", "1", "-timeout", "20s", "-timeout_error",
            "-nostdin", "-trace_err", "-error_file", str(self.errors),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip

    async def finish(self, timeout: float = 15.0) -> None:
        assert self.proc is not None
        out, _ = await asyncio.wait_for(self.proc.communicate(), timeout)
        errors = self.errors.read_text(errors="replace") if self.errors.exists() else ""
        assert self.proc.returncode == 0, out.decode(errors="replace") + errors

    def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()


@pytest.fixture
async def sipp_uas(tmp_path: Path) -> AsyncIterator[Callable[[str], Awaitable[Sipp]]]:
    started: list[Sipp] = []

    async def make(scenario: str) -> Sipp:
        uas = Sipp(scenario, tmp_path)
        await uas.start()
        started.append(uas)
        return uas

    yield make
    for uas in started:
        uas.kill()
        if uas.proc is not None:
            await uas.proc.wait()


SippFactory = Callable[[str], Awaitable[Sipp]]


async def test_digest_register_refresh_and_unregister(home: Home, sipp_uas: SippFactory) -> None:
    """401 → digest → 200 (2 s), the refresh 1 s later (401 → 200, 60 s), then on shutdown
    REGISTER with Expires: 0 (401 → 200). SIPp checks the digest and the Expires values."""
    uas = await sipp_uas("registrar_digest.xml")
    record = await home.add_provider(f"127.0.0.1:{uas.port}")
    events = home.app.events.subscribe(owner=record.owner_id)
    agent = home.app.providers
    await agent.reload()

    async def refreshed() -> bool:
        core = agent.core(record.id)
        return core is not None and core.granted == 60

    await eventually(refreshed, what="the refresh")

    async def saved() -> bool:
        stored = await home.provider(record.id)
        at = stored.next_attempt_at
        return at is not None and (at - dt.datetime.now(dt.UTC)).total_seconds() > 50

    await eventually(saved, what="the refresh's status")  # granted 60 − margin 1
    stored = await home.provider(record.id)
    assert stored.registration_status == RegistrationStatus.REGISTERED
    assert stored.last_error is None
    kinds = [e.kind for e in events.drain()]
    assert kinds.count(EventKind.CONTACT_REGISTERED) == 2, kinds
    token = home.app.provider_directory.token_of(record.id)
    assert token is not None and token.startswith("pr")
    await home.app.close()  # sends the un-REGISTER
    await uas.finish()
    stored = await home.provider_after_close(record.id)
    assert stored.registration_status == RegistrationStatus.PENDING


async def test_403_disables_with_the_reason(home: Home, sipp_uas: SippFactory) -> None:
    uas = await sipp_uas("registrar_403.xml")
    record = await home.add_provider(f"127.0.0.1:{uas.port}")
    events = home.app.events.subscribe(owner=record.owner_id)
    await home.app.providers.reload()

    async def disabled() -> bool:
        stored = await home.provider(record.id)
        return stored.registration_status == RegistrationStatus.DISABLED

    await eventually(disabled, what="the 403")
    await uas.finish()
    stored = await home.provider(record.id)
    assert stored.last_error is not None and stored.last_error.startswith("403 Forbidden")
    assert stored.next_attempt_at is None
    failed = [e for e in events.drain() if e.kind == EventKind.CONTACT_FAILED]
    assert failed and "403 Forbidden" in failed[0].message
    # a reload keeps it disabled (no new attempt until the owner changes the provider)
    await home.app.providers.reload()
    snap = home.app.providers.snapshot(record.id)
    assert snap is not None and snap.status == RegistrationStatus.DISABLED
    # the owner edits it: the repository makes it pending and the agent starts afresh
    await home.app.store.providers.update(ADMIN, record.id, register_expiry=120)
    await home.app.providers.reload()
    snap = home.app.providers.snapshot(record.id)
    assert snap is not None and snap.status != RegistrationStatus.DISABLED


async def test_503_backs_off(home: Home, sipp_uas: SippFactory) -> None:
    uas = await sipp_uas("registrar_503.xml")
    record = await home.add_provider(f"127.0.0.1:{uas.port}")
    await home.app.providers.reload()

    async def failed() -> bool:
        stored = await home.provider(record.id)
        return stored.registration_status == RegistrationStatus.FAILED

    await eventually(failed, what="the 503")
    await uas.finish()
    stored = await home.provider(record.id)
    assert stored.last_error == "503 Service Unavailable"
    assert stored.next_attempt_at is not None
    wait = (stored.next_attempt_at - dt.datetime.now(dt.UTC)).total_seconds()
    assert 290 < wait <= 360  # 300 s + up to 60 s of jitter


async def test_423_raises_the_expiry(home: Home, sipp_uas: SippFactory) -> None:
    """423 with Min-Expires: 7200; after the (shortened) back-off, REGISTER asks for 7200."""
    home.app.providers.policy = replace(home.app.providers.policy, backoff=1.0, jitter=0.0)
    uas = await sipp_uas("registrar_423.xml")
    record = await home.add_provider(f"127.0.0.1:{uas.port}")
    await home.app.providers.reload()

    async def registered() -> bool:
        stored = await home.provider(record.id)
        return stored.registration_status == RegistrationStatus.REGISTERED

    await eventually(registered, what="the second REGISTER")
    core = home.app.providers.core(record.id)
    assert core is not None and core.expiry == 7200 and core.granted == 7200
    await home.app.close()  # the un-REGISTER
    await uas.finish()
