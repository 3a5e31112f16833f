"""What every connection-oriented transport shares: the connection table, caps and timers.

:class:`ConnectionHub` indexes open connections by id and by remote address, so that a
response or a new request can reuse a connection in either direction (RFC 3261 §18.2.2,
§18.1.1) and enforces the caps on connections in total and per source IP.
:class:`Connection` is the ``asyncio.Protocol`` base: idle and partial-message timeouts,
bounded outbound buffering, and reporting of open/close.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging

from sipswitch.transport.base import (
    ConnectionClosed,
    ConnectionOpened,
    EventSink,
    Flow,
    Rejected,
    SendFailed,
    Target,
    TransportEvent,
    TransportLimits,
    TransportSink,
)

log = logging.getLogger(__name__)

RemoteKey = tuple[str, str, int]  # (transport, ip, port)


class ConnectionHub:
    """The table of live connections, and the limits they share."""

    def __init__(
        self,
        sink: TransportSink,
        on_event: EventSink | None,
        limits: TransportLimits,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.sink = sink
        self._on_event = on_event
        self.limits = limits
        self.loop = loop
        self.by_id: dict[int, Connection] = {}
        self.by_remote: dict[RemoteKey, Connection] = {}
        self._per_ip: collections.Counter[str] = collections.Counter()
        self._next_id = 0
        self._empty = asyncio.Event()
        self._empty.set()

    def new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def report(self, event: TransportEvent) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(event)
        except Exception:
            log.exception("transport event handler failed")

    def deliver(self, data: bytes, flow: Flow) -> None:
        try:
            self.sink(data, flow)
        except Exception:
            log.exception("message sink failed for %s", flow)

    def admit(self, conn: Connection, key: RemoteKey, inbound: bool) -> str | None:
        """Register ``conn`` under ``key``; the reason it may not be, if it may not."""
        limits = self.limits
        if len(self.by_id) >= limits.max_connections:
            return "too many connections"
        ip = key[1]
        if inbound and self._per_ip[ip] >= limits.max_connections_per_ip:
            return "too many connections from this address"
        self.by_id[conn.id] = conn
        self.by_remote[key] = conn
        if inbound:
            self._per_ip[ip] += 1
        self._empty.clear()
        return None

    def release(self, conn: Connection) -> None:
        if self.by_id.pop(conn.id, None) is None:
            return
        key = conn.key
        if self.by_remote.get(key) is conn:
            del self.by_remote[key]
        if conn.inbound:
            ip = key[1]
            left = self._per_ip[ip] - 1
            if left > 0:
                self._per_ip[ip] = left
            else:
                del self._per_ip[ip]
        if not self.by_id:
            self._empty.set()

    def find(self, transport: str, host: str, port: int) -> Connection | None:
        conn = self.by_remote.get((transport, host, port))
        if conn is None or conn.closing:
            return None
        return conn

    async def close_all(self, grace: float) -> None:
        """Close every connection, letting them flush for up to ``grace`` seconds."""
        for conn in list(self.by_id.values()):
            conn.close("transport stopping")
        if self.by_id:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._empty.wait(), grace)
        for conn in list(self.by_id.values()):
            conn.abort("transport stopping")
            self.release(conn)


class Connection(asyncio.Protocol):
    """One stream connection, inbound (accepted) or outbound (opened by :meth:`send`)."""

    #: the Flow transport name, e.g. "tcp", "wss"
    transport_name: str

    def __init__(
        self, hub: ConnectionHub, transport_name: str, key: RemoteKey, inbound: bool
    ) -> None:
        self.hub = hub
        self.transport_name = transport_name
        self.key = key
        self.inbound = inbound
        self.id = hub.new_id()
        self.flow = Flow(transport_name, (key[1], key[2]), ("", 0), self.id)
        self.closing = False
        self.connected = False
        self._transport: asyncio.Transport | None = None
        self._close_reason: str | None = None
        self._pending: list[tuple[bytes, Flow | Target]] = []
        self._pending_bytes = 0
        self._timer: asyncio.TimerHandle | None = None
        self._last = hub.loop.time()
        self._partial_since: float | None = None
        #: set by on_data when a complete message or keep-alive came in
        self.progress = False

    # ---- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        hub = self.hub
        peer = transport.get_extra_info("peername")
        local = transport.get_extra_info("sockname")
        if self.inbound:
            self.key = (self.transport_name, peer[0], peer[1])
        self.flow = Flow(
            self.transport_name, (self.key[1], self.key[2]), (local[0], local[1]), self.id
        )
        if self.inbound:
            refusal = hub.admit(self, self.key, inbound=True)
            if refusal is not None:
                self.closing = True
                hub.report(Rejected(self.flow, refusal))
                transport.abort()
                return
        self.connected = True
        now = hub.loop.time()
        self._last = now
        if self.inbound:
            self._partial_since = now  # nothing whole received yet
        self._arm()
        hub.report(ConnectionOpened(self.flow, "accepted" if self.inbound else "connected"))
        self.on_open()
        pending, self._pending = self._pending, []
        self._pending_bytes = 0
        for data, to in pending:
            self.send(data, to)

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        now = self.hub.loop.time()
        self._last = now
        self.progress = False
        partial = self.on_data(data)
        if not partial:
            self._partial_since = None
        elif self._partial_since is None or self.progress:
            # the partial-message clock runs from the last complete message, so busy pipelined
            # traffic (every read ending mid-message) is not mistaken for a stalled peer
            self._partial_since = now
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        hub = self.hub
        was_admitted = hub.by_id.get(self.id) is self
        hub.release(self)
        self.closing = True
        self.connected = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._fail_pending("connection closed")
        if not was_admitted:
            return
        reason = self._close_reason
        if reason is None:
            reason = f"error: {exc}" if exc is not None else "closed by peer"
        hub.report(ConnectionClosed(self.flow, reason))

    # ---- hooks for subclasses -----------------------------------------------------------------

    def on_open(self) -> None:
        """The connection is up and admitted."""

    def on_data(self, data: bytes) -> bool:  # pragma: no cover - abstract
        """Consume received bytes; return True while an incomplete message is held."""
        raise NotImplementedError

    def encode(self, data: bytes) -> bytes | None:
        """Wrap one message for the wire; None if it cannot be sent now."""
        return data

    def ready(self) -> bool:
        """Whether messages can be written now (a WebSocket waits for its handshake)."""
        return self.connected

    # ---- sending ----------------------------------------------------------------------------

    def send(self, data: bytes, to: Flow | Target) -> None:
        """Write one message, queueing it until the connection is ready. Never raises."""
        if self.closing:
            self.hub.report(SendFailed(to, "connection closed"))
            return
        if not self.ready():
            if self._pending_bytes + len(data) > self.hub.limits.max_outbound_buffer:
                self.hub.report(SendFailed(to, "outbound buffer full"))
                return
            self._pending.append((data, to))
            self._pending_bytes += len(data)
            return
        wire = self.encode(data)
        if wire is None:
            self.hub.report(SendFailed(to, "connection cannot send"))
            return
        self.write(wire, to)

    def write(self, wire: bytes, to: Flow | Target | None = None) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            if to is not None:
                self.hub.report(SendFailed(to, "connection closed"))
            return
        transport.write(wire)
        self._last = self.hub.loop.time()
        if transport.get_write_buffer_size() > self.hub.limits.max_outbound_buffer:
            if to is not None:
                self.hub.report(SendFailed(to, "outbound buffer full"))
            self.abort("outbound buffer full")

    def ready_now(self) -> None:
        """Flush what was queued while not ready (after a WebSocket handshake)."""
        pending, self._pending = self._pending, []
        self._pending_bytes = 0
        for data, to in pending:
            self.send(data, to)

    def _fail_pending(self, reason: str) -> None:
        pending, self._pending = self._pending, []
        self._pending_bytes = 0
        for _, to in pending:
            self.hub.report(SendFailed(to, reason))

    def connect_failed(self, reason: str) -> None:
        """An outbound connection never came up: drop it and fail what was queued."""
        self.closing = True
        self.hub.release(self)
        self._fail_pending(reason)

    # ---- closing and timers -----------------------------------------------------------------

    def close(self, reason: str) -> None:
        """Close after flushing what is written (aborting if that stalls). Idempotent."""
        if self._close_reason is None:
            self._close_reason = reason
        self.closing = True
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        transport.close()
        if transport.get_write_buffer_size():  # a peer that never reads must not pin us
            self.hub.loop.call_later(self.hub.limits.close_grace, transport.abort)

    def abort(self, reason: str) -> None:
        if self._close_reason is None:
            self._close_reason = reason
        self.closing = True
        if self._transport is not None:
            self._transport.abort()

    def _deadline(self) -> float:
        limits = self.hub.limits
        deadline = self._last + limits.idle_timeout
        if self._partial_since is not None:
            deadline = min(deadline, self._partial_since + limits.partial_timeout)
        return deadline

    def _arm(self) -> None:
        deadline = self._deadline()
        timer = self._timer
        if timer is not None:
            if timer.when() <= deadline:
                return  # fires early enough; it re-arms itself then
            timer.cancel()
        self._timer = self.hub.loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if self.closing:
            return
        limits = self.hub.limits
        now = self.hub.loop.time()
        if self._partial_since is not None and now >= self._partial_since + limits.partial_timeout:
            self.abort("timed out waiting for a complete message")
        elif now >= self._last + limits.idle_timeout:
            self.close("idle timeout")
        else:
            self._timer = self.hub.loop.call_at(self._deadline(), self._on_timer)
