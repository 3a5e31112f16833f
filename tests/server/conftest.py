"""A real sipswitch on loopback: the whole composition root, real sockets, a real SQLite file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sipswitch.app import Application
from sipswitch.config import load_settings
from tests.support.certs import Certificate, make_certificate
from tests.support.sipclient import UdpClient, free_port


@dataclass
class RunningSwitch:
    app: Application
    port: int  # UDP and TCP
    tls_port: int
    ws_port: int
    http_port: int
    certificate: Certificate
    db_path: Path
    clients: list[UdpClient] = field(default_factory=list)

    async def udp(self) -> UdpClient:
        """A UDP client; closed with the switch, whatever the test's outcome."""
        client = await UdpClient.open(self.port)
        self.clients.append(client)
        return client


def switch_environ(tmp_path: Path, certificate: Certificate, **extra: str) -> dict[str, str]:
    port, tls_port, ws_port, http_port = free_port(), free_port(), free_port(), free_port()
    return {
        "SIPSWITCH_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'switch.db'}",
        "SIPSWITCH_SIP_LISTENERS": (
            f"udp:127.0.0.1:{port},tcp:127.0.0.1:{port},"
            f"tls:127.0.0.1:{tls_port},ws:127.0.0.1:{ws_port}"
        ),
        "SIPSWITCH_TLS_CERT": str(certificate.cert),
        "SIPSWITCH_TLS_KEY": str(certificate.key),
        "SIPSWITCH_HTTP_LISTEN": f"127.0.0.1:{http_port}",
        **extra,
    }


@pytest.fixture
async def switch(tmp_path: Path) -> AsyncIterator[RunningSwitch]:
    certificate = make_certificate(tmp_path)
    env = switch_environ(tmp_path, certificate)
    settings = load_settings(environ=env)
    app = Application(settings)
    await app.start()
    udp = next(x for x in settings.sip.listeners if x.transport == "udp")
    tls = next(x for x in settings.sip.listeners if x.transport == "tls")
    ws = next(x for x in settings.sip.listeners if x.transport == "ws")
    running = RunningSwitch(
        app,
        udp.port,
        tls.port,
        ws.port,
        settings.http.listen.port,
        certificate,
        tmp_path / "switch.db",
    )
    try:
        yield running
    finally:
        for client in running.clients:
            client.close()
        await app.close()
