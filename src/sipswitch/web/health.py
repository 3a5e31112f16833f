"""Liveness/readiness and Prometheus endpoints, and running an ASGI app inside our own loop.

``GET /healthz`` answers 200 ``{"status": "ok", "database": "up", ...}`` while the switch can
take traffic, and 503 when the database is down, the server is draining or the health probe
itself fails (so a load balancer stops sending work). ``GET /metrics`` is the Prometheus text
format of the switch's own registry.

:func:`start_server` runs any ASGI app under uvicorn as a task of the running loop: it binds the
listening socket itself (so a busy port is an :class:`BindError` raised to the caller, not
uvicorn's ``sys.exit``), leaves signal handling to the supervisor, and stops cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import socket
from collections.abc import Awaitable, Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Literal, Self

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from sipswitch.runtime.logging import get_logger
from sipswitch.runtime.metrics import CONTENT_TYPE_LATEST, Metrics

Detail = str | int | float | bool | None
_NO_STORE = {"Cache-Control": "no-store"}


@dataclass(frozen=True, slots=True)
class HealthReport:
    """What the composition root knows about the process right now."""

    database_up: bool
    draining: bool = False
    details: Mapping[str, Detail] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        return self.database_up and not self.draining

    def as_dict(self) -> dict[str, Detail]:
        status = "draining" if self.draining else "ok" if self.database_up else "unavailable"
        return {
            **self.details,
            "status": status,
            "database": "up" if self.database_up else "down",
            "draining": self.draining,
        }


HealthProbe = Callable[[], HealthReport | Awaitable[HealthReport]]


def create_health_app(
    metrics: Metrics, health: HealthProbe, routes: Sequence[BaseRoute] = ()
) -> Starlette:
    """A Starlette app serving ``GET /healthz`` and ``GET /metrics`` (HEAD too), plus
    ``routes`` (the admin API)."""
    log = get_logger(__name__)

    async def healthz(_request: Request) -> Response:
        try:
            result = health()
            report = await result if inspect.isawaitable(result) else result
        except Exception as exc:
            log.exception("health probe failed")
            body: dict[str, Detail] = {"status": "error", "error": type(exc).__name__}
            return JSONResponse(body, status_code=503, headers=_NO_STORE)
        code = 200 if report.healthy else 503
        return JSONResponse(report.as_dict(), status_code=code, headers=_NO_STORE)

    async def metrics_text(_request: Request) -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST, headers=_NO_STORE)

    return Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics_text, methods=["GET"]),
            *routes,
        ]
    )


# --------------------------------------------------------------------------- serving


class BindError(OSError):
    """The listening socket could not be opened (address in use, no permission ...)."""


class ServerStartError(RuntimeError):
    """The server stopped during startup (e.g. the app's lifespan startup failed)."""


class _Server(uvicorn.Server):
    """uvicorn without signal capture (the supervisor owns signals) and with a ready event."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets)
        finally:
            self.ready.set()


async def _serve(server: _Server, sock: socket.socket) -> None:
    try:
        await server.serve(sockets=[sock])
    except SystemExit as exc:  # uvicorn exits the process on startup failure; we must not
        raise ServerStartError(f"HTTP server failed to start (exit status {exc.code})") from None
    finally:
        sock.close()


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, backlog=128)
    except OSError as exc:
        where = f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"
        raise BindError(exc.errno, f"cannot listen on {where}: {exc.strerror or exc}") from exc


@dataclass(eq=False)
class RunningServer:
    """An HTTP server running as a task; ``port`` is the real one when 0 was asked for."""

    host: str
    port: int
    server: uvicorn.Server
    task: asyncio.Task[None]

    async def stop(self, *, force: bool = False) -> None:
        """Stop accepting, let in-flight requests finish (unless ``force``), wait for the end."""
        self.server.should_exit = True
        self.server.force_exit = force
        await self.task

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


async def start_server(
    app: ASGIApp,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    ws: str = "wsproto",
    lifespan: Literal["auto", "on", "off"] = "off",
    graceful_timeout: int = 5,
) -> RunningServer:
    """Serve ``app`` from the running loop; returns once it accepts connections.

    Raises :class:`BindError` if the address cannot be bound, :class:`ServerStartError` if
    the server ends during startup.
    """
    sock = _bind(host, port)
    config = uvicorn.Config(
        app,
        ws=ws,
        lifespan=lifespan,
        log_config=None,  # uvicorn logs through the root logger configured by us
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=graceful_timeout,
    )
    server = _Server(config)
    task = asyncio.create_task(_serve(server, sock), name=f"http {host}:{port}")
    ready = asyncio.create_task(server.ready.wait())
    try:
        await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        server.should_exit = True  # the task winds down on its own
        raise
    finally:
        ready.cancel()
        await asyncio.wait({ready})
    if task.done() or not server.started:
        server.should_exit = True
        try:
            await task
        except ServerStartError:
            raise
        except Exception as exc:
            raise ServerStartError(f"HTTP server failed to start: {exc}") from exc
        raise ServerStartError("HTTP server stopped during startup")
    return RunningServer(host, sock.getsockname()[1], server, task)
