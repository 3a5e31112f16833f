"""The transport manager: binds the listeners and routes outbound messages to the right socket.

Answers go back on the flow they came from (RFC 3261 §18.2.2): the same UDP socket, or the same
connection while it lives; a TCP/TLS flow whose connection is gone falls back to a new connection
to the flow's source, a WebSocket flow cannot (the browser is not listening). Requests to a
:class:`Target` reuse an open connection to that address or open one (§18.1.1).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Callable, Sequence

from sipswitch.transport.base import (
    SECURE_TRANSPORTS,
    STREAM_TRANSPORTS,
    EventSink,
    Flow,
    ListenerError,
    ListenerSpec,
    SendFailed,
    Target,
    TransportError,
    TransportEvent,
    TransportLimits,
    TransportSink,
    format_hostport,
    normalize_ip,
)
from sipswitch.transport.connection import Connection, ConnectionHub, RemoteKey
from sipswitch.transport.stream import StreamConnection
from sipswitch.transport.udp import UdpEndpoint
from sipswitch.transport.websocket import WebSocketConnection

log = logging.getLogger(__name__)

_BACKLOG = 511


class TransportManager:
    """All of the switch's SIP sockets. ``sink(data, flow)`` receives every complete message."""

    def __init__(
        self,
        sink: TransportSink,
        *,
        tls_context: ssl.SSLContext | None = None,
        tls_client_context: ssl.SSLContext | None = None,
        limits: TransportLimits = TransportLimits(),  # noqa: B008 - frozen value
        on_event: EventSink | None = None,
        reuse_port: bool = False,
        stream_relay: Callable[[bytes, Flow | Target], None] | None = None,
    ) -> None:
        self._sink = sink
        self._reuse_port = reuse_port
        self._stream_relay = stream_relay
        self._relayed: list[ListenerSpec] = []
        self._tls_context = tls_context
        self._tls_client_context = tls_client_context
        self.limits = limits
        self._on_event = on_event
        self._hub: ConnectionHub | None = None
        self._udp: list[UdpEndpoint] = []
        self._udp_by_local: dict[tuple[str, int], UdpEndpoint] = {}
        self._servers: list[tuple[ListenerSpec, asyncio.Server]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._running = False
        self._started = False

    # ---- lifecycle --------------------------------------------------------------------------

    async def start(
        self,
        listeners: Sequence[ListenerSpec],
        *,
        reading: bool = True,
        relayed: Sequence[ListenerSpec] = (),
    ) -> None:
        """Bind every listener, or none: on a failure the ones bound are closed again.

        With ``reading`` false, UDP listeners hold their datagrams and stream listeners do not
        accept until :meth:`resume`.
        ``relayed``: stream listeners another worker holds (ours to advertise, its to serve).
        """
        if self._started:
            raise TransportError("transport manager already started")
        if not listeners and not relayed:
            raise TransportError("no listeners given")
        self._started = True
        self._relayed = list(relayed)
        loop = asyncio.get_running_loop()
        hub = self._hub = ConnectionHub(self._sink, self._on_event, self.limits, loop)
        try:
            for spec in listeners:
                await self._listen(spec, hub, loop, reading=reading)
        except BaseException:
            for server in self._close_listeners():
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(server.wait_closed(), self.limits.close_grace)
            self._hub = None
            raise
        self._running = True

    def resume(self) -> None:
        """Start reading on UDP listeners and accepting on stream listeners bound with
        ``reading`` false."""
        for endpoint in self._udp:
            endpoint.resume()
        for _, server in self._servers:
            if not server.is_serving():
                task = asyncio.get_running_loop().create_task(server.start_serving())
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _listen(
        self,
        spec: ListenerSpec,
        hub: ConnectionHub,
        loop: asyncio.AbstractEventLoop,
        *,
        reading: bool = True,
    ) -> None:
        ssl_context = None
        if spec.transport in SECURE_TRANSPORTS:
            ssl_context = self._tls_context
            if ssl_context is None:
                raise ListenerError(spec, "no TLS context configured")
        try:
            if spec.transport == "udp":
                endpoint = UdpEndpoint.bind(
                    spec,
                    self._sink,
                    hub.report,
                    self.limits,
                    loop,
                    reuse_port=self._reuse_port,
                    reading=reading,
                )
                self._udp.append(endpoint)
                self._udp_by_local[endpoint.local] = endpoint
                return
            name = spec.transport
            factory: Callable[[], Connection]
            if name in ("ws", "wss"):
                factory = lambda: WebSocketConnection(hub, name, (name, "", 0), inbound=True)  # noqa: E731
            else:
                factory = lambda: StreamConnection(hub, name, (name, "", 0), inbound=True)  # noqa: E731
            server = await loop.create_server(
                factory,
                spec.host,
                spec.port,
                start_serving=reading,
                family=socket.AF_INET6 if spec.family_v6 else socket.AF_INET,
                backlog=_BACKLOG,
                reuse_address=True,
                ssl=ssl_context,
                ssl_handshake_timeout=(
                    self.limits.tls_handshake_timeout if ssl_context is not None else None
                ),
            )
        except OSError as exc:
            raise ListenerError(spec, exc.strerror or str(exc)) from exc
        self._servers.append((spec, server))

    def listeners(self) -> list[ListenerSpec]:
        """What is actually bound (a port 0 in the configuration shows the port chosen)."""
        bound = [endpoint.spec for endpoint in self._udp]
        for spec, server in self._servers:
            port = server.sockets[0].getsockname()[1] if server.sockets else spec.port
            bound.append(ListenerSpec(spec.transport, spec.host, port))
        return bound + self._relayed

    @property
    def connection_count(self) -> int:
        return len(self._hub.by_id) if self._hub is not None else 0

    async def stop(self) -> None:
        """Close the listeners, then the connections (flushing for ``limits.close_grace``)."""
        self._running = False
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        servers = self._close_listeners()
        if self._hub is not None:
            await self._hub.close_all(self.limits.close_grace)
        for server in servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), self.limits.close_grace)

    def _close_listeners(self) -> list[asyncio.Server]:
        """Stop accepting and receiving; the servers closed, to wait for."""
        for endpoint in self._udp:
            endpoint.close()
        self._udp.clear()
        self._udp_by_local.clear()
        servers = [server for _, server in self._servers]
        self._servers.clear()
        for server in servers:
            server.close()
        return servers

    # ---- sending ----------------------------------------------------------------------------

    def send(self, data: bytes, to: Flow | Target) -> None:
        """Send one message; never blocks and never raises: failures come as SendFailed."""
        try:
            if to.transport == "udp":
                self._send_udp(data, to)
            else:
                self._send_stream(data, to)
        except Exception as exc:
            log.exception("send to %s failed", to)
            self._report(SendFailed(to, f"internal error: {exc!r}"))

    def _report(self, event: TransportEvent) -> None:
        if self._hub is not None:
            self._hub.report(event)
        elif self._on_event is not None:
            try:
                self._on_event(event)
            except Exception:
                log.exception("transport event handler failed")

    def _send_udp(self, data: bytes, to: Flow | Target) -> None:
        if isinstance(to, Flow):
            addr = to.remote
            endpoint = self._udp_by_local.get(to.local) or self._udp_for(addr[0])
        else:
            try:
                host = normalize_ip(to.host)
            except ValueError:
                self._report(SendFailed(to, f"not an IP address: {to.host!r}"))
                return
            addr = (host, to.port)
            endpoint = self._udp_for(host)
        if endpoint is None:
            self._report(SendFailed(to, "no UDP listener for this address family"))
            return
        endpoint.send(data, addr, to)

    def _udp_for(self, host: str) -> UdpEndpoint | None:
        """The first UDP listener of ``host``'s address family."""
        v6 = ":" in host
        for endpoint in self._udp:
            if endpoint.v6 is v6:
                return endpoint
        return None

    def _send_stream(self, data: bytes, to: Flow | Target) -> None:
        if self._stream_relay is not None:
            self._stream_relay(data, to)  # another worker holds the connections
            return
        hub = self._hub
        transport = to.transport
        if hub is None or not self._running:
            self._report(SendFailed(to, "transport not running"))
            return
        if transport not in STREAM_TRANSPORTS:
            self._report(SendFailed(to, f"unknown transport {transport!r}"))
            return
        server_name = None
        if isinstance(to, Flow):
            if to.connection_id is not None:
                conn = hub.by_id.get(to.connection_id)
                if conn is not None and not conn.closing:
                    conn.send(data, to)
                    return
            host, port = to.remote
        else:
            try:
                host = normalize_ip(to.host)
            except ValueError:
                self._report(SendFailed(to, f"not an IP address: {to.host!r}"))
                return
            port = to.port
            server_name = to.server_name
        found = hub.find(transport, host, port)
        if found is not None:
            found.send(data, to)
            return
        if isinstance(to, Flow) and transport in ("ws", "wss"):
            self._report(SendFailed(to, "WebSocket connection is gone"))
            return
        self._open(hub, data, to, (transport, host, port), server_name)

    def _open(
        self,
        hub: ConnectionHub,
        data: bytes,
        to: Flow | Target,
        key: RemoteKey,
        server_name: str | None,
    ) -> None:
        transport, host, port = key
        ssl_context = None
        if transport in SECURE_TRANSPORTS:
            if self._tls_client_context is None:
                self._tls_client_context = ssl.create_default_context()
            ssl_context = self._tls_client_context
        conn: Connection
        if transport in ("ws", "wss"):
            host_header = format_hostport(server_name, port) if server_name else None
            conn = WebSocketConnection(hub, transport, key, inbound=False, host_header=host_header)
        else:
            conn = StreamConnection(hub, transport, key, inbound=False)
        refusal = hub.admit(conn, key, inbound=False)
        if refusal is not None:
            self._report(SendFailed(to, refusal))
            return
        conn.send(data, to)  # queued until connected
        task = hub.loop.create_task(self._connect(conn, host, port, ssl_context, server_name))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connect(
        self,
        conn: Connection,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext | None,
        server_name: str | None,
    ) -> None:
        loop = asyncio.get_running_loop()
        limits = self.limits
        try:
            connect = loop.create_connection(
                lambda: conn,
                host,
                port,
                ssl=ssl_context,
                server_hostname=(server_name or host) if ssl_context is not None else None,
                ssl_handshake_timeout=(
                    limits.tls_handshake_timeout if ssl_context is not None else None
                ),
            )
            await asyncio.wait_for(connect, limits.connect_timeout)
        except asyncio.CancelledError:
            conn.connect_failed("transport stopping")
            raise
        except TimeoutError:
            conn.connect_failed(f"connect to {format_hostport(host, port)} timed out")
        except Exception as exc:
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            conn.connect_failed(f"connect to {format_hostport(host, port)}: {reason}")
