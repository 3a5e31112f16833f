"""/healthz and /metrics through the ASGI app, and the uvicorn helper on a real socket."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sipswitch.runtime.metrics import Metrics
from sipswitch.web.health import (
    BindError,
    HealthReport,
    ServerStartError,
    create_health_app,
    start_server,
)


async def asgi_get(app: ASGIApp, path: str) -> tuple[int, dict[str, str], bytes]:
    """One GET through the ASGI interface (no httpx needed)."""
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"test")],
        "client": ("127.0.0.1", 40000),
        "server": ("test", 80),
    }
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], headers, body


def app_with(report: HealthReport, metrics: Metrics | None = None) -> Starlette:
    return create_health_app(metrics or Metrics(), lambda: report)


async def test_healthz_ok() -> None:
    app = app_with(HealthReport(database_up=True, details={"bindings": 3, "version": "0.1.0"}))
    status, headers, body = await asgi_get(app, "/healthz")
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert headers["cache-control"] == "no-store"
    assert json.loads(body) == {
        "status": "ok",
        "database": "up",
        "draining": False,
        "bindings": 3,
        "version": "0.1.0",
    }


async def test_healthz_503_when_database_down() -> None:
    status, _, body = await asgi_get(app_with(HealthReport(database_up=False)), "/healthz")
    assert status == 503
    assert json.loads(body) == {"status": "unavailable", "database": "down", "draining": False}


async def test_healthz_503_when_draining() -> None:
    report = HealthReport(database_up=True, draining=True)
    status, _, body = await asgi_get(app_with(report), "/healthz")
    assert status == 503
    assert json.loads(body)["status"] == "draining"


async def test_details_cannot_fake_the_status() -> None:
    report = HealthReport(database_up=False, details={"status": "ok", "database": "up"})
    status, _, body = await asgi_get(app_with(report), "/healthz")
    assert status == 503 and json.loads(body)["database"] == "down"


async def test_async_probe_and_failing_probe() -> None:
    async def probe() -> HealthReport:
        return HealthReport(database_up=True)

    status, _, _ = await asgi_get(create_health_app(Metrics(), probe), "/healthz")
    assert status == 200

    def broken() -> HealthReport:
        raise RuntimeError("db pool gone")

    status, _, body = await asgi_get(create_health_app(Metrics(), broken), "/healthz")
    assert status == 503
    assert json.loads(body) == {"status": "error", "error": "RuntimeError"}


async def test_metrics_exposes_the_counters() -> None:
    metrics = Metrics()
    metrics.message_in("udp", "INVITE")
    metrics.registration(success=False)
    metrics.set_database_up(True)
    status, headers, body = await asgi_get(app_with(HealthReport(True), metrics), "/metrics")
    assert status == 200
    assert headers["content-type"].startswith("text/plain; version=")
    text = body.decode()
    assert (
        'sipswitch_sip_requests_total{direction="in",method="INVITE",transport="udp"} 1.0' in text
    )
    assert 'sipswitch_registrations_total{result="fail"} 1.0' in text
    assert "sipswitch_database_up 1.0" in text


async def test_unknown_path_is_404() -> None:
    status, _, _ = await asgi_get(app_with(HealthReport(True)), "/nope")
    assert status == 404


async def http_get(port: int, path: str) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    response = await reader.read()
    writer.close()
    await writer.wait_closed()
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


async def test_start_server_serves_and_stops_cleanly() -> None:
    metrics = Metrics()
    metrics.call_started()
    down = HealthReport(database_up=False)
    server = await start_server(app_with(down, metrics), "127.0.0.1", 0)
    assert server.port > 0
    async with server:
        status, body = await http_get(server.port, "/metrics")
        assert status == 200 and b"sipswitch_calls_started_total 1.0" in body
        status, body = await http_get(server.port, "/healthz")
        assert status == 503 and json.loads(body)["database"] == "down"
    assert server.task.done() and server.task.exception() is None
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", server.port)


async def test_start_server_reports_a_busy_port() -> None:
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        with pytest.raises(BindError, match=f"cannot listen on 127.0.0.1:{port}"):
            await start_server(app_with(HealthReport(True)), "127.0.0.1", port)


async def test_start_server_reports_a_failed_startup() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await receive()
            await send({"type": "lifespan.startup.failed", "message": "no database"})

    with pytest.raises(ServerStartError):
        await start_server(app, "127.0.0.1", 0, lifespan="on")
