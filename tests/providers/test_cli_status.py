"""`sipswitch provider list` shows the registration status, next attempt and last error."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest

from sipswitch.cli import main
from sipswitch.storage import Scope, Store, upgrade
from sipswitch.storage.records import RegistrationStatus

ADMIN = Scope.system()


def test_provider_list_shows_registration_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'switch.db'}"
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=300)

    async def prepare() -> None:
        await upgrade(url)
        async with Store.open(url) as store:
            carol = await store.customers.create(ADMIN, "carol", "carol-login-pw")
            for name in ("voip1", "voip2"):
                await store.providers.create(
                    ADMIN, name, "sip.voip.example", owner_id=carol.id, username="4930",
                    password="provider-secret", register=True,
                )  # fmt: skip
            first, second = await store.providers.list(ADMIN)
            await store.providers.set_registration(
                ADMIN, first.id, RegistrationStatus.FAILED,
                last_error="503 Service Unavailable", next_attempt_at=soon,
            )  # fmt: skip
            await store.providers.set_registration(
                ADMIN, second.id, RegistrationStatus.DISABLED,
                last_error="403 Forbidden: the provider refused the registration",
            )  # fmt: skip

    asyncio.run(prepare())
    monkeypatch.setenv("SIPSWITCH_DATABASE_URL", url)
    monkeypatch.delenv("SIPSWITCH_CONFIG", raising=False)
    assert main(["provider", "list"]) == 0
    out = capsys.readouterr().out
    header, first, second = out.splitlines()
    assert "status" in header and "next attempt" in header and "last error" in header
    assert "failed" in first and "503 Service Unavailable" in first
    assert f"{soon:%Y-%m-%d %H:%M}" in first and "(in 29" in first
    assert "disabled" in second and "403 Forbidden" in second
    assert "provider-secret" not in out
