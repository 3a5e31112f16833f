"""Registrar tests run against a real switch on loopback (as tests/server/conftest.py builds it).

The flood limit is raised here (every test phone is 127.0.0.1); tests of the limits themselves
override the ``switch_extra`` fixture.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sipswitch.app import Application
from sipswitch.config import load_settings
from tests.server.conftest import RunningSwitch, switch_environ
from tests.support.certs import make_certificate


@pytest.fixture
def switch_extra() -> dict[str, str]:
    return {"SIPSWITCH_SECURITY_FLOOD_REQUESTS": "100000"}


async def start_switch(tmp_path: Path, extra: dict[str, str]) -> RunningSwitch:
    certificate = make_certificate(tmp_path)
    env = switch_environ(tmp_path, certificate, **extra)
    settings = load_settings(environ=env)
    app = Application(settings)
    await app.start()
    udp = next(x for x in settings.sip.listeners if x.transport == "udp")
    tls = next(x for x in settings.sip.listeners if x.transport == "tls")
    ws = next(x for x in settings.sip.listeners if x.transport == "ws")
    return RunningSwitch(
        app, udp.port, tls.port, ws.port, settings.http.listen.port, certificate,
        tmp_path / "switch.db",
    )  # fmt: skip


@pytest.fixture
async def switch(tmp_path: Path, switch_extra: dict[str, str]) -> AsyncIterator[RunningSwitch]:
    running = await start_switch(tmp_path, switch_extra)
    try:
        yield running
    finally:
        for client in running.clients:
            client.close()
        await running.app.close()
