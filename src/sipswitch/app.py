"""The composition root: settings → storage → runtime → services → web, and the lifecycle.

Start is ordered and all-or-nothing; stop is graceful: on the first SIGTERM/SIGINT new INVITE,
REGISTER and SUBSCRIBE requests get 503 with Retry-After while live work drains until a
deadline, then everything closes; a second signal forces the exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import hashlib
import hmac
import os
import pickle
import secrets
import signal
import ssl
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import structlog

from sipswitch import NATIVE, __version__
from sipswitch.config import Listener, Settings, Transport
from sipswitch.runtime.clock import Clock, SystemClock
from sipswitch.runtime.collector import freeze_startup
from sipswitch.runtime.endpoint import SipEndpoint
from sipswitch.runtime.events import ConsoleEvent, EventBus
from sipswitch.runtime.load import LoadMonitor
from sipswitch.runtime.logging import configure_logging, get_logger
from sipswitch.runtime.mesh import (
    CALL_COUNT,
    DIALPLAN_COUNT,
    EVENT,
    GO,
    INTEREST,
    READY,
    MeshCalls,
    Steering,
    StreamRelay,
    WorkerMesh,
    WorkerRole,
    make_mesh_directory,
    remove_mesh_directory,
)
from sipswitch.runtime.metrics import Metrics, Sampled
from sipswitch.runtime.uac import UacClient
from sipswitch.runtime.workers import WorkerProcesses, die_with_parent
from sipswitch.services.calls.cdr_writer import CdrWriter
from sipswitch.services.calls.dialplans import DialplanExecutor
from sipswitch.services.calls.planner import LegPlanner
from sipswitch.services.calls.plumbing import Plumbing
from sipswitch.services.calls.router import CallRouter
from sipswitch.services.calls.service import CallService
from sipswitch.services.dialplan.outside import Mailer, WebFetcher
from sipswitch.services.dialplan.sandbox import SandboxConfig, ScriptRunner
from sipswitch.services.dispatch import Dispatcher
from sipswitch.services.domains import DomainDirectory
from sipswitch.services.providers import ProviderDirectory, ProviderRegistrationAgent
from sipswitch.services.registrar import RegistrationServices
from sipswitch.services.registrar.accounts import AccountAuth
from sipswitch.services.transfer.service import TransferService
from sipswitch.sip.builders import new_call_id
from sipswitch.sip.message import Request, Response
from sipswitch.sip.transaction import TimerConfig, TransactionLayer
from sipswitch.sip.uri import SipUri
from sipswitch.storage import Store, upgrade
from sipswitch.storage.engine import is_sqlite, sqlite_path
from sipswitch.transport.base import ListenerSpec, TransportLimits
from sipswitch.transport.dns import SipResolver
from sipswitch.transport.manager import TransportManager
from sipswitch.transport.steering import owned_call_id
from sipswitch.web.admin import AdminApi, remove_token, token_path, write_token
from sipswitch.web.health import HealthReport, RunningServer, create_health_app, start_server

log = get_logger("sipswitch.app")

#: how often the in-memory copies (served domains) are refreshed from storage
REFRESH_INTERVAL = 30.0
#: seconds the first worker waits for the others to bind their listeners
WORKERS_START_TIMEOUT = 60.0
#: seconds the first worker gives the others to drain and exit, after its own drain
WORKERS_STOP_GRACE = 15.0
#: what a worker process runs (its settings and role come pickled on standard input)
WORKER_COMMAND = "from sipswitch.app import worker_main; worker_main()"


@dataclass
class Lifecycle:
    """Signals and state of the running process."""

    stop: asyncio.Event = field(default_factory=asyncio.Event)
    force: asyncio.Event = field(default_factory=asyncio.Event)
    database_up: bool = True
    draining: bool = False


class Application:
    """Everything the switch is made of, wired once. Nothing here is global."""

    def __init__(
        self, settings: Settings, *, clock: Clock | None = None, role: WorkerRole | None = None
    ) -> None:
        if role is None:  # the first (or only) worker
            count = _worker_count(settings)
            role = WorkerRole(
                0, count, make_mesh_directory() if count > 1 else "", secrets.token_bytes(32)
            )
        self.role = role
        self.settings = settings
        self.clock = clock or SystemClock()
        self.mesh = WorkerMesh(role) if role.steered else None
        self.peers = None if self.mesh is None else MeshCalls(self.mesh)
        self.workers: WorkerProcesses | None = None
        self._ready: set[int] = set()
        self._all_ready = asyncio.Event()
        self._go = asyncio.Event()
        self.lifecycle = Lifecycle()
        self.metrics = Metrics()
        self.events = EventBus()
        self.store = Store.open(settings.database.url)
        self.layer = TransactionLayer(TimerConfig())
        self.endpoint = SipEndpoint(
            self.layer, self.clock, metrics=self.metrics, events=self.events
        )
        self.domains = DomainDirectory(
            settings.service.domain, [listener.host for listener in settings.sip.listeners]
        )
        self.load = LoadMonitor(settings.sip.overload_lag_ms / 1000, self.clock.now)
        self.dispatcher = Dispatcher(
            self.endpoint,
            is_local_domain=self.domains.is_local,
            user_agent=f"sipswitch/{__version__}",
            loop_marker=f"-sw{_derive(role.secret, 'loop-marker').hex()[:6]}-",
            load=self.load,
        )
        sink = self.endpoint.datagram
        relay: StreamRelay | None = None
        if self.mesh is not None:
            sink = Steering(self.mesh, self.endpoint.datagram).receive
            relay = StreamRelay(self.mesh)
        self.transports = TransportManager(
            sink,
            tls_context=_server_tls_context(settings),
            limits=TransportLimits(max_message_size=settings.security.max_message_size),
            on_event=self.endpoint.transport_event,
            reuse_port=role.steered,
            stream_relay=None if relay is None or role.primary else relay.relay,
        )
        if relay is not None and role.primary:
            relay.serve(self.transports.send)
        call_ids: Callable[[], str] = new_call_id
        if role.steered:
            call_ids = functools.partial(owned_call_id, new_call_id, role.index, role.count)
        self.endpoint.attach(self.transports)
        self.registration = RegistrationServices(
            settings,
            store=self.store,
            clock=self.clock,
            events=self.events,
            metrics=self.metrics,
            dispatcher=self.dispatcher,
            transports=self.transports,
            secret=_derive(role.secret, "nonce"),
            mesh=self.mesh,
        )
        self.resolver = SipResolver()
        self.uac = UacClient(
            self.endpoint, self.dispatcher, self.resolver, self.transports, self.clock
        )
        self.provider_directory = ProviderDirectory(
            None if (secret := settings.providers.contact_secret) is None else secret.encode()
        )
        self.providers = ProviderRegistrationAgent(
            store=self.store,
            uac=self.uac,
            resolver=self.resolver,
            events=self.events,
            clock=self.clock,
            settings=settings.providers,
            directory=self.provider_directory,
            user_agent=f"sipswitch/{__version__}",
            call_ids=call_ids,
            passive=not role.primary,
        )
        self.plumbing = Plumbing(
            self.endpoint,
            self.clock,
            self.uac.local_contact_host,
            user_agent=f"sipswitch/{__version__}",
            keepalive=float(settings.calls.keepalive_seconds),
            call_ids=call_ids,
        )
        self.cdrs = CdrWriter(self.store.cdrs)
        planner = LegPlanner(
            self.registration.accounts,
            self.registration.location,
            self.resolver,
            self.store,
            loopback=self.uac.local_contact_host,
            loop_secret=_derive(role.secret, "loop"),
        )
        self.dialplans = DialplanExecutor(
            store=self.store,
            planner=planner,
            domains=self.domains,
            events=self.events,
            clock=self.clock,
            runner=ScriptRunner(SandboxConfig()),
            fetcher=WebFetcher.from_settings(settings.dialplan),
            mailer=Mailer(settings.smtp),
            max_per_owner=settings.calls.max_dialplans_per_customer,
        )
        self.calls = CallService(
            self.plumbing,
            self.dispatcher,
            CallRouter(
                accounts=self.registration.accounts,
                planner=planner,
                registrar=self.registration.registrar,
                providers=self.provider_directory,
                domains=self.domains,
                clock=self.clock,
                dialplans=self.dialplans,
            ),
            cdr_sink=self.cdrs,
            max_calls=settings.calls.max_calls,
            max_calls_per_owner=settings.calls.max_calls_per_customer,
        )
        self.transfers = TransferService(self.calls, self.dialplans, self.events)
        self.calls.transfers = self.transfers.on_refer
        self.admin: AdminApi | None = None  # made at start (its token is written then)
        self.endpoint.owner_of = self._owner_of
        self.metrics.sample(Sampled.ACTIVE_CALLS, lambda: len(self.calls.calls))
        self.metrics.sample(Sampled.LOOP_LAG, lambda: self.load.lag)
        self.metrics.sample(Sampled.OVERLOAD_SHED, lambda: self.load.shed)
        self.metrics.sample(Sampled.ACTIVE_TRANSACTIONS, lambda: len(self.layer))
        self.http: RunningServer | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def _owner_of(self, message: Request | Response) -> int | None:
        """The customer whose traffic a message is (their account in To or From), for traces."""
        accounts = self.registration.accounts
        for address in (message.to, message.from_):
            uri = address.uri
            if isinstance(uri, SipUri) and uri.user and self.domains.is_local(uri.host):
                found = accounts.get(uri.user, uri.host, self.clock.wall())
                if isinstance(found, AccountAuth):
                    return found.owner_id
        return None

    # -- health -------------------------------------------------------------------------------
    def health(self) -> HealthReport:
        return HealthReport(
            database_up=self.lifecycle.database_up,
            draining=self.lifecycle.draining,
            details={
                "version": __version__,
                "native": NATIVE,
                "transactions": len(self.layer),
                "connections": self.transports.connection_count,
                "workers": self._workers_serving(),
                "restarts": 0 if self.workers is None else self.workers.restarts,
            },
        )

    def _workers_serving(self) -> int:
        """Workers reading their sockets, as the first worker sees them (1 until the others
        have joined)."""
        if self.workers is None or not self._go.is_set():
            return 1
        return 1 + self.workers.alive

    # -- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        """Start everything in order; on any failure, stop what was started and re-raise."""
        role = self.role
        try:
            if role.primary:
                await upgrade(self.store.engine)
            await self.refresh()
            if self.mesh is not None:
                self.mesh.open()
                self.calls.per_owner.join(self.mesh, CALL_COUNT)
                self.dialplans.running.join(self.mesh, DIALPLAN_COUNT)
                self._share_events(self.mesh)
            await self.registration.start(self._spawn)
            specs = [
                ListenerSpec(str(x.transport), x.host, x.port) for x in self.settings.sip.listeners
            ]
            if role.primary:
                await self.transports.start(specs, reading=not role.steered)
            else:  # datagrams here; the first worker holds the stream listeners
                await self.transports.start(
                    [x for x in specs if x.transport == "udp"],
                    reading=False,
                    relayed=[x for x in specs if x.transport != "udp"],
                )
            if not role.primary:  # the first worker's admin API asks us about our calls
                self.admin = AdminApi(self.calls, self.transfers, "", self.peers)
                self.admin.serve_peers()
            else:
                http = self.settings.http.listen
                token = write_token(token_path(self.settings.database.url))
                self.admin = AdminApi(self.calls, self.transfers, token, self.peers)
                self.http = await start_server(
                    create_health_app(self.metrics, self.health, self.admin.routes()),
                    http.host,
                    http.port,
                )
            self._spawn(self._refresh_loop(), "refresh")
            self._spawn(self.cdrs.run(), "cdr-writer")
            self._spawn(self.load.run(), "load-monitor")
            self.providers.start()
            if role.steered:
                await (self._start_workers() if role.primary else self._join_workers())
        except BaseException:
            await self.close()
            raise
        if role.primary:
            for spec in self.transports.listeners():
                log.info("listening", sip=str(spec))
        if self.http is not None:
            log.info("listening", http=f"{self.http.host}:{self.http.port}")
        log.info(
            "started", version=__version__, native=NATIVE, worker=role.index, workers=role.count
        )

    # -- worker processes -----------------------------------------------------------------------
    def _share_events(self, mesh: WorkerMesh) -> None:
        """Console subscribers live on the first worker: the others forward what they want."""
        events = self.events
        if self.role.primary:
            events.changed = lambda: mesh.broadcast(INTEREST, pickle.dumps(events.interest()))
            mesh.on(EVENT, lambda body: events.publish(pickle.loads(body)))
        else:

            def forward(event: ConsoleEvent) -> None:
                mesh.send(0, EVENT, pickle.dumps(event))

            events.forward = forward
            mesh.on(INTEREST, lambda body: events.set_remote_interest(pickle.loads(body)))

    async def _start_workers(self) -> None:
        """On the first worker: start the others on the ports bound here, wait until each has
        bound its listeners, then let every worker read."""
        assert self.mesh is not None
        self.mesh.on(READY, self._on_ready)
        bound = tuple(
            Listener(Transport(x.transport), x.host, x.port) for x in self.transports.listeners()
        )
        settings = dataclasses.replace(
            self.settings, sip=dataclasses.replace(self.settings.sip, listeners=bound)
        )

        def payload(index: int) -> bytes:
            mine = self.role  # as a tuple: mypyc's frozen dataclasses do not unpickle
            role = (index, mine.count, mine.mesh, mine.secret)
            return pickle.dumps((os.getpid(), settings, role))

        self.workers = WorkerProcesses(WORKER_COMMAND, self.role.count, payload)
        self.workers.start()
        try:
            await asyncio.wait_for(self._all_ready.wait(), WORKERS_START_TIMEOUT)
        except TimeoutError:
            missing = sorted(set(range(1, self.role.count)) - self._ready)
            raise RuntimeError(f"workers {missing} did not start") from None
        self._go.set()
        self.mesh.broadcast(GO, b"")
        self.transports.resume()

    def _on_ready(self, body: bytes) -> None:
        assert self.mesh is not None
        index = int(body)
        self._ready.add(index)
        self.mesh.send(index, INTEREST, pickle.dumps(self.events.interest()))
        if self._go.is_set():  # a restarted worker
            self.mesh.send(index, GO, b"")
        elif len(self._ready) >= self.role.count - 1:
            self._all_ready.set()

    async def _join_workers(self) -> None:
        """On another worker: say we are ready, read once the first worker says go."""
        assert self.mesh is not None
        self.mesh.on(GO, lambda _: self._go.set())
        self.mesh.send(0, READY, str(self.role.index).encode())
        try:
            await asyncio.wait_for(self._go.wait(), WORKERS_START_TIMEOUT)
        except TimeoutError:
            raise RuntimeError("the first worker never said go") from None
        self.transports.resume()

    async def drain(self, deadline: float) -> None:
        """Refuse new sessions; give live work until ``deadline`` (monotonic) to finish."""
        self.lifecycle.draining = True
        self.dispatcher.draining = True
        if self.workers is not None:
            self.workers.terminate()  # each drains its own calls
        log.info(
            "draining", seconds=round(deadline - self.clock.now(), 1), calls=len(self.calls.calls)
        )
        while self.clock.now() < deadline and (self.calls.calls or len(self.layer) > 0):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.lifecycle.force.wait(), 0.1)
            if self.lifecycle.force.is_set():
                return

    async def close(self) -> None:
        """Stop everything that runs, in reverse order; idempotent."""
        if self.workers is not None:  # they relay through us while they drain
            await self.workers.stop(WORKERS_STOP_GRACE)
        await self.calls.close()  # BYE to what is still up
        await self.dialplans.close()
        await self.providers.close()  # un-REGISTERs while the transports are still up
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.registration.close()
        with contextlib.suppress(Exception):
            await self.cdrs.flush()
        if self.http is not None:
            await self.http.stop(force=self.lifecycle.force.is_set())
            self.http = None
        if self.admin is not None:
            if self.role.primary:
                remove_token(token_path(self.settings.database.url), self.admin.token)
            self.admin = None
        await self.transports.stop()
        if self.mesh is not None:
            self.mesh.close()
            if self.role.primary:
                remove_mesh_directory(self.role.mesh)
        self.endpoint.close()
        await self.store.close()

    async def run(self, *, drain_seconds: float = 10.0) -> int:
        """Serve until a signal; returns the process exit code."""
        await self.start()
        freeze_startup()  # what start() loaded lives as long as the process
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal)
        try:
            await self.lifecycle.stop.wait()
            await self.drain(self.clock.now() + drain_seconds)
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
            await self.close()
        log.info("stopped")
        return 0

    def _on_signal(self) -> None:
        if self.lifecycle.stop.is_set():
            log.warning("second signal: exiting now")
            self.lifecycle.force.set()
        else:
            log.info("signal: draining, send it again to exit at once")
            self.lifecycle.stop.set()

    # -- background work ------------------------------------------------------------------------
    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def refresh(self) -> None:
        """Reload the in-memory copies from storage, recording a database outage."""
        try:
            await self.domains.refresh(self.store)
        except Exception as exc:  # the database is away: keep the last good copy
            if self.lifecycle.database_up:
                log.error("database unavailable; serving from memory", error=str(exc))
            self.lifecycle.database_up = False
        else:
            if not self.lifecycle.database_up:
                log.info("database back")
            self.lifecycle.database_up = True
        self.metrics.set_database_up(self.lifecycle.database_up)

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_INTERVAL if self.lifecycle.database_up else 2.0)
            await self.refresh()


def _worker_count(settings: Settings) -> int:
    """``sip.workers``, or 1 where several processes cannot share the work."""
    wanted = settings.sip.workers
    if wanted <= 1:
        return 1
    url = settings.database.url
    if not any(x.transport == Transport.UDP for x in settings.sip.listeners):
        log.warning("sip.workers ignored: workers share UDP listeners and none is configured")
        return 1
    if is_sqlite(url) and sqlite_path(url) is None:
        log.warning("sip.workers ignored: an in-memory database cannot be shared")
        return 1
    return wanted


def _derive(secret: bytes, label: str) -> bytes:
    """A key for one purpose from the workers' shared secret."""
    return hmac.digest(secret, label.encode(), hashlib.sha256)


def worker_main() -> None:
    """A worker process (``sip.workers`` > 1): settings and role are pickled on stdin."""
    parent, settings, (index, count, mesh, secret) = pickle.loads(sys.stdin.buffer.read())
    die_with_parent(parent)
    role = WorkerRole(index, count, mesh, secret)
    configure_logging(str(settings.log.format), str(settings.log.level))
    structlog.contextvars.bind_contextvars(worker=index)  # on every line this worker logs

    async def run() -> int:
        return await Application(settings, role=role).run()

    sys.exit(asyncio.run(run()))


def _server_tls_context(settings: Settings) -> ssl.SSLContext | None:
    wants_tls = any(x.transport in (Transport.TLS, Transport.WSS) for x in settings.sip.listeners)
    if not wants_tls or settings.tls.cert is None or settings.tls.key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(settings.tls.cert, settings.tls.key)
    return context


async def serve(settings: Settings) -> int:
    """``sipswitch serve``."""
    configure_logging(str(settings.log.format), str(settings.log.level))
    app = Application(settings)
    return await app.run()
