"""A running sipswitch with fast provider-registration knobs, and helpers to wait on it."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from sipswitch.app import Application
from sipswitch.config import load_settings
from sipswitch.storage import Scope, Store
from sipswitch.storage.records import ProviderRecord
from tests.server.conftest import switch_environ
from tests.support.certs import make_certificate

SCENARIOS = Path(__file__).parent / "scenarios"
ADMIN = Scope.system()

#: seconds, so a whole register → refresh → back-off cycle runs in a few seconds
FAST = {
    "SIPSWITCH_PROVIDERS_MIN_INTERVAL": "1",
    "SIPSWITCH_PROVIDERS_REFRESH_MARGIN": "1",
    "SIPSWITCH_PROVIDERS_MIN_EXPIRY": "2",
    "SIPSWITCH_PROVIDERS_REQUEST_TIMEOUT": "5",
    "SIPSWITCH_PROVIDERS_CONTACT_SECRET": "test-secret",
}


@dataclass
class Home:
    """The switch whose agent registers to a provider."""

    app: Application
    tmp_path: Path

    async def add_provider(self, server: str, **kw: object) -> ProviderRecord:
        store = self.app.store
        owner = await store.customers.get_by_username(ADMIN, "alice")
        if owner is None:
            owner = await store.customers.create(ADMIN, "alice", "alice-login-pw")
        options: dict[str, object] = {
            "owner_id": owner.id,
            "username": "alice",
            "password": "secret",
            "register": True,
            "register_expiry": 60,
        }
        options.update(kw)
        return await store.providers.create(ADMIN, "prov", server, **options)  # type: ignore[arg-type]

    async def provider_after_close(self, provider_id: int) -> ProviderRecord:
        """The record as stored, read with a fresh store (the app's own is closed)."""
        async with Store.open(self.app.settings.database.url) as store:
            found = await store.providers.get(ADMIN, provider_id)
        assert found is not None
        return found

    async def provider(self, provider_id: int) -> ProviderRecord:
        found = await self.app.store.providers.get(ADMIN, provider_id)
        assert found is not None
        return found


async def eventually(
    check: Callable[[], Awaitable[bool]], timeout: float = 10.0, what: str = "condition"
) -> None:
    """Poll ``check`` until it holds (loopback peers answer in milliseconds)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed (make test installs it)")
    return path


def settings_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    certificate = make_certificate(tmp_path)
    return switch_environ(tmp_path, certificate, **{**FAST, **extra})


@pytest.fixture
async def home(tmp_path: Path) -> AsyncIterator[Home]:
    env = settings_env(tmp_path)
    app = Application(load_settings(environ=env))
    await app.start()
    try:
        yield Home(app, tmp_path)
    finally:
        await app.close()
