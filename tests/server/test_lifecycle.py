"""The `sipswitch` command as a person runs it: init, serve, stop with signals; restarts keep
configuration; a database outage does not stop SIP."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import tempfile
from pathlib import Path

import pytest

from sipswitch.app import Application
from sipswitch.config import load_settings
from tests.support.certs import make_certificate
from tests.support.sipclient import UdpClient, free_port, request_text

from .conftest import switch_environ

SIPSWITCH = [sys.executable, "-m", "sipswitch"]


async def _http_get(port: int, path: str) -> tuple[int, dict[str, object]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    raw = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    return status, json.loads(body) if path == "/healthz" else {}


def _env(tmp_path: Path) -> dict[str, str]:
    port, http_port = free_port(), free_port()
    return {
        **os.environ,
        "SIPSWITCH_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'switch.db'}",
        "SIPSWITCH_SIP_LISTENERS": f"udp:127.0.0.1:{port},tcp:127.0.0.1:{port}",
        "SIPSWITCH_HTTP_LISTEN": f"127.0.0.1:{http_port}",
        "SIPSWITCH_LOG_FORMAT": "json",
    }


async def _wait_listening(client: UdpClient) -> None:
    for _ in range(100):
        client.send(request_text("OPTIONS", "sip:demo@127.0.0.1", via_port=client.port))
        try:
            await client.final(timeout=0.2)
            return
        except TimeoutError:
            continue
    pytest.fail("the server did not come up")


async def test_init_serve_and_graceful_stop(tmp_path: Path) -> None:
    env = _env(tmp_path)
    init = await asyncio.create_subprocess_exec(
        *SIPSWITCH, "init", env=env, cwd=tmp_path, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(init.communicate(), 60)
    assert init.returncode == 0
    assert b"101" in out and b"102" in out  # the demo accounts are announced

    port = int(env["SIPSWITCH_SIP_LISTENERS"].rsplit(":", 1)[1])
    http_port = int(env["SIPSWITCH_HTTP_LISTEN"].rsplit(":", 1)[1])
    server = await asyncio.create_subprocess_exec(
        *SIPSWITCH, "serve", env=env, cwd=tmp_path, stderr=asyncio.subprocess.PIPE
    )
    client = await UdpClient.open(port)
    try:
        await _wait_listening(client)
        status, health = await _http_get(http_port, "/healthz")
        assert (status, health["status"], health["database"]) == (200, "ok", "up")
        metrics_status, _ = await _http_get(http_port, "/metrics")
        assert metrics_status == 200
        server.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(server.wait(), 15) == 0
    finally:
        client.close()
        if server.returncode is None:
            server.kill()
            await server.wait()
    assert server.stderr is not None
    log = (await server.stderr.read()).decode()
    assert "draining" in log and "stopped" in log


async def test_second_signal_exits_at_once(tmp_path: Path) -> None:
    env = _env(tmp_path)
    port = int(env["SIPSWITCH_SIP_LISTENERS"].rsplit(":", 1)[1])
    server = await asyncio.create_subprocess_exec(
        *SIPSWITCH, "serve", env=env, cwd=tmp_path, stderr=asyncio.subprocess.DEVNULL
    )
    client = await UdpClient.open(port)
    try:
        await _wait_listening(client)
        # a transaction that stays open keeps the drain waiting
        client.send(request_text("INVITE", "sip:demo@127.0.0.1", via_port=client.port))
        await asyncio.sleep(0.1)
        server.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.3)
        server.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(server.wait(), 5) == 0
    finally:
        client.close()
        if server.returncode is None:
            server.kill()
            await server.wait()


async def test_bad_config_names_the_key_and_starts_nothing(tmp_path: Path) -> None:
    env = {**_env(tmp_path), "SIPSWITCH_SIP_LISTENERS": "udpx:127.0.0.1:5060"}
    proc = await asyncio.create_subprocess_exec(
        *SIPSWITCH, "serve", env=env, cwd=tmp_path, stderr=asyncio.subprocess.PIPE
    )
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    assert b"sip.listeners" in err and b"udpx" in err
    assert not (tmp_path / "switch.db").exists()


async def test_busy_port_fails_cleanly(tmp_path: Path) -> None:
    env = _env(tmp_path)
    port = int(env["SIPSWITCH_SIP_LISTENERS"].rsplit(":", 1)[1])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", port))
        proc = await asyncio.create_subprocess_exec(
            *SIPSWITCH, "serve", env=env, cwd=tmp_path, stderr=asyncio.subprocess.PIPE
        )
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 1
    assert str(port).encode() in err


@pytest.mark.postgres
async def test_database_outage_keeps_sip_answering(tmp_path: Path) -> None:
    """PostgreSQL stops under a running switch: SIP still answered, health says so; it comes
    back by itself."""
    url = os.environ.get("SIPSWITCH_TEST_PG_URL")
    if not url:
        pytest.skip("SIPSWITCH_TEST_PG_URL not set")
    pg = await _own_postgres()
    certificate = make_certificate(tmp_path)
    settings = load_settings(
        environ=switch_environ(tmp_path, certificate, SIPSWITCH_DATABASE_URL=pg.url)
    )
    app = Application(settings)
    await app.start()
    port = next(x.port for x in settings.sip.listeners if x.transport == "udp")
    client = await UdpClient.open(port)
    try:
        await pg.stop()
        await app.refresh()
        assert not app.health().database_up
        status, health = await _http_get(settings.http.listen.port, "/healthz")
        assert status == 503 and health["database"] == "down"
        client.send(request_text("OPTIONS", "sip:demo@127.0.0.1", via_port=client.port))
        assert (await client.final()).status == 200
        await pg.start()
        for _ in range(50):
            await app.refresh()
            if app.health().database_up:
                break
            await asyncio.sleep(0.1)
        assert app.health().database_up
    finally:
        client.close()
        await app.close()
        await pg.remove()


class _Postgres:
    def __init__(self, folder: Path, url: str, script: Path) -> None:
        self.folder = folder
        self.url = url
        self.script = script

    async def _pg_ctl(self, action: str) -> None:
        proc = await asyncio.create_subprocess_exec(
            "bash", str(self.script), action, str(self.folder),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        await asyncio.wait_for(proc.wait(), 60)

    async def stop(self) -> None:
        await self._pg_ctl("pause")

    async def start(self) -> None:
        await self._pg_ctl("resume")

    async def remove(self) -> None:
        await self._pg_ctl("stop")


async def _own_postgres() -> _Postgres:
    script = Path(__file__).resolve().parents[2] / "scripts" / "pg-test-server.sh"
    # outside pytest's root-only tmp tree: the server runs as the postgres user
    folder = Path(tempfile.mkdtemp(prefix="sipswitch-pg."))
    proc = await asyncio.create_subprocess_exec(
        "bash", str(script), "start", str(folder), stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0
    return _Postgres(folder, out.decode().strip().splitlines()[-1], script)
