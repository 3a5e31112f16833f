"""The registrar, location and security services built and run together (one line in app.py)."""

from __future__ import annotations

import asyncio
import contextlib
import pickle
from collections.abc import Callable, Coroutine
from typing import Any

import structlog

from sipswitch.config import Settings
from sipswitch.runtime.clock import Clock
from sipswitch.runtime.collector import tune_collector
from sipswitch.runtime.events import EventBus
from sipswitch.runtime.mesh import AUTH_FAILED, BINDINGS, WorkerMesh
from sipswitch.runtime.metrics import Metrics
from sipswitch.services.dispatch import Dispatcher
from sipswitch.services.location import Binding, LocationService
from sipswitch.services.registrar.accounts import RELOAD_INTERVAL, AccountDirectory
from sipswitch.services.registrar.service import Registrar
from sipswitch.services.security import SecurityGuard, SecurityService
from sipswitch.storage import Store
from sipswitch.transport.manager import TransportManager

log = structlog.get_logger("sipswitch.registrar")

Spawn = Callable[[Coroutine[Any, Any, None], str], None]


class RegistrationServices:
    """Owns :attr:`accounts`, :attr:`location`, :attr:`security` and :attr:`registrar`."""

    def __init__(
        self,
        settings: Settings,
        *,
        store: Store,
        clock: Clock,
        events: EventBus,
        metrics: Metrics,
        dispatcher: Dispatcher,
        transports: TransportManager,
        secret: bytes | None = None,
        mesh: WorkerMesh | None = None,
    ) -> None:
        self.transports = transports
        self.accounts = AccountDirectory(store, settings.service.domain)
        self.location = LocationService(
            store.bindings,
            clock,
            events=events,
            metrics=metrics,
            send=transports.send,
            keepalive_interval=settings.nat.keepalive_interval,
            primary=mesh is None or mesh.role.primary,
        )
        self.security = SecurityService(SecurityGuard(settings.security), store.bans, clock, events)
        if mesh is not None:
            self._mirror(mesh)
        self.registrar = Registrar(
            accounts=self.accounts,
            location=self.location,
            security=self.security,
            settings=settings.registrar,
            clock=clock,
            events=events,
            metrics=metrics,
            spawn=self._spawn_request,
            local_for=self._local_for,
            nonce_lifetime=settings.security.nonce_lifetime,
            secret=secret,
        )
        dispatcher.register("REGISTER", self.registrar)
        dispatcher.screen = self.security.screen
        self._requests: set[asyncio.Task[None]] = set()

    def _mirror(self, mesh: WorkerMesh) -> None:
        """Every worker holds every binding and counts every failed digest attempt: commits
        and failures are broadcast, and applied when heard."""
        location = self.location

        def replicate(aor: str, changed: list[Binding], removed: list[str]) -> None:
            mesh.post_all(BINDINGS, pickle.dumps((aor, changed, removed), protocol=5))

        def apply(body: bytes) -> None:
            aor, changed, removed = pickle.loads(body)
            location.apply_remote(aor, changed, removed)

        location.replicate = replicate
        mesh.on(BINDINGS, apply)

        security = self.security

        def share(ip: str, aor: str | None, now: float) -> None:
            mesh.broadcast(AUTH_FAILED, pickle.dumps((ip, aor, now)))

        def count(body: bytes) -> None:
            ip, aor, now = pickle.loads(body)
            security.auth_failed(ip, aor, now, remote=True)

        security.share = share
        mesh.on(AUTH_FAILED, count)

    def _local_for(self, transport: str) -> str:
        for spec in self.transports.listeners():
            if spec.transport == transport:
                return f"{spec.transport}:{spec.host}:{spec.port}"
        return transport

    def _spawn_request(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._requests.add(task)
        task.add_done_callback(self._requests.discard)

    async def start(self, spawn: Spawn) -> None:
        """Load accounts, bindings and bans (before the listeners open); start the tasks."""
        await self.accounts.reload()
        kept = await self.location.load()
        await self.security.load()
        log.info("bindings restored", bindings=kept, accounts=len(self.accounts))
        tune_collector()  # the registrar's load is what the default thresholds serve worst
        spawn(self.location.run_writer(), "bindings-writer")
        spawn(self.location.run_sweeper(), "bindings-sweeper")
        spawn(self.location.run_keepalives(), "nat-keepalives")
        spawn(self.security.run(), "security-sync")
        spawn(self._reload_loop(), "accounts-reload")

    async def _reload_loop(self) -> None:
        while True:
            await asyncio.sleep(RELOAD_INTERVAL)
            try:
                await self.accounts.reload()
            except Exception as exc:  # keep the last good copy while the database is away
                log.warning("cannot reload accounts", error=str(exc))

    async def close(self) -> None:
        """After the tasks are cancelled: write what is pending (bindings and bans)."""
        for task in list(self._requests):
            task.cancel()
        await self.location.close()
        with contextlib.suppress(Exception):
            await self.security.sync()
