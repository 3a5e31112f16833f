"""The SIP endpoint: the asyncio loop that drives the sans-IO transaction layer.

Every input follows the same path: feed the layer → drain its events to the transaction user →
transmit what it queued → re-arm the one timer at its next deadline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog

from sipswitch.runtime.clock import Clock
from sipswitch.runtime.events import Direction, EventBus, SIPTraceEvent
from sipswitch.runtime.metrics import Metrics
from sipswitch.sip.errors import SipParseError
from sipswitch.sip.message import Request, Response
from sipswitch.sip.parser import parse_message
from sipswitch.sip.transaction import TransactionLayer
from sipswitch.sip.transaction.events import Event, Outbound
from sipswitch.sip.transaction.keys import ClientKey, Peer, ServerKey
from sipswitch.transport.base import (
    ConnectionClosed,
    ConnectionOpened,
    Flow,
    SendFailed,
    Target,
    TransportEvent,
)
from sipswitch.transport.manager import TransportManager

log = structlog.get_logger("sipswitch.endpoint")

EventHandler = Callable[[Event], None]


class SipEndpoint:
    """Owns the transaction layer and the transports; hands transaction events to ``handler``.

    The handler runs synchronously inside :meth:`pump`; it may call :meth:`send_response`,
    :meth:`send_request` or :meth:`send_stateless` (re-entrant calls are queued and drained by
    the running pump). Work that needs I/O is the handler's to schedule as tasks.
    """

    def __init__(
        self,
        layer: TransactionLayer,
        clock: Clock,
        *,
        metrics: Metrics | None = None,
        events: EventBus | None = None,
    ) -> None:
        self.layer = layer
        self.clock = clock
        self.metrics = metrics
        self.events = events
        self.transports: TransportManager | None = None
        self._handler: EventHandler = lambda _event: None
        self._pumping = False
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._pending_stream_tx: dict[tuple[str, str, int], ClientKey | ServerKey] = {}
        #: whose traffic a message is (a customer id), so traces reach that owner's console
        self.owner_of: Callable[[Request | Response], int | None] = lambda _message: None

    def set_handler(self, handler: EventHandler) -> None:
        self._handler = handler

    def attach(self, transports: TransportManager) -> None:
        self.transports = transports

    # -- input from the transports ------------------------------------------------------------
    def datagram(self, data: bytes, flow: Flow) -> None:
        """The transports' sink: one complete message from ``flow``."""
        now = self.clock.now()
        source: Peer = flow.remote
        try:
            message = parse_message(data)
        except SipParseError:
            if self.metrics is not None:
                self.metrics.parse_error(flow.transport)
            self.layer.receive_bytes(data, source, flow.transport, now)  # answers if it can
            self.pump()
            return
        if self.metrics is not None:
            self._count(message, flow.transport, inbound=True)
        if self.events is not None and self.events.tracing:
            self._trace(data, flow.transport, source, Direction.IN, message)
        self.layer.receive(message, source, flow.transport, now)
        self.pump()

    def transport_event(self, event: TransportEvent) -> None:
        """Transport failures become transaction transport errors (§17.1.4, §17.2.4)."""
        if isinstance(event, SendFailed) and isinstance(event.to, Target):
            to = event.to
            tx = self._pending_stream_tx.pop((to.transport, to.host, to.port), None)
            if tx is not None:
                self.layer.transport_error(tx, self.clock.now())
                self.pump()
        if self.metrics is not None:
            if isinstance(event, ConnectionOpened):
                self.metrics.connection_opened(event.flow.transport)
            elif isinstance(event, ConnectionClosed):
                self.metrics.connection_closed(event.flow.transport)

    # -- input from the transaction user ------------------------------------------------------
    def send_response(self, response: Response, tx: ServerKey | None = None) -> None:
        self.layer.send_response(response, self.clock.now(), tx=tx)
        self.pump()

    def send_request(self, request: Request, destination: Peer, transport: str) -> ClientKey:
        key = self.layer.send_request(request, destination, transport, self.clock.now())
        self.pump()
        return key

    def send_stateless(
        self, message: Request | Response, destination: Peer, transport: str
    ) -> None:
        self.layer.send_stateless(message, destination, transport)
        self.pump()

    def cancel(self, invite_tx: ClientKey) -> ClientKey | None:
        key = self.layer.cancel(invite_tx, self.clock.now())
        self.pump()
        return key

    # -- the loop -----------------------------------------------------------------------------
    def pump(self) -> None:
        """Drain events to the handler and outbound messages to the transports; re-arm."""
        if self._pumping:
            return
        self._pumping = True
        try:
            layer = self.layer
            while True:
                event = layer.next_event()
                if event is not None:
                    try:
                        self._handler(event)
                    except Exception:  # a service bug must not stop the switch
                        log.exception("transaction user failed", event=type(event).__name__)
                        if self.metrics is not None:
                            self.metrics.error("tu")
                    continue
                outbound = layer.pop_outbound()
                if not outbound:
                    break
                for item in outbound:
                    self._transmit(item)
        finally:
            self._pumping = False
        self._rearm()

    def _transmit(self, item: Outbound) -> None:
        transports = self.transports
        if transports is None:
            return
        host, port = item.destination
        transport = item.transport
        if item.tx is not None and transport != "udp":
            self._pending_stream_tx[(transport, host, port)] = item.tx
            if len(self._pending_stream_tx) > 4096:
                self._pending_stream_tx.clear()
        transports.send(item.data, Target(transport, host, port))
        if self.metrics is not None:
            self._count(item.message, transport, inbound=False)
        if self.events is not None and self.events.tracing:
            self._trace(item.data, transport, item.destination, Direction.OUT, item.message)

    def _rearm(self) -> None:
        deadline = self.layer.next_deadline()
        if deadline == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = deadline
        if deadline is not None:
            delay = max(deadline - self.clock.now(), 0.0)
            self._timer = asyncio.get_running_loop().call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        self.layer.handle_timer(self.clock.now())
        self.pump()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
            self._timer_at = None

    # -- observability ------------------------------------------------------------------------
    def _count(self, message: Request | Response, transport: str, *, inbound: bool) -> None:
        assert self.metrics is not None
        if isinstance(message, Request):
            method, status = message.method, None
        else:
            try:
                method = message.cseq.method
            except SipParseError:
                method = "?"
            status = message.status
        if inbound:
            self.metrics.message_in(transport, method, status)
        else:
            self.metrics.message_out(transport, method, status)

    def _trace(
        self,
        data: bytes,
        transport: str,
        peer: Peer,
        direction: Direction,
        message: Request | Response,
    ) -> None:
        assert self.events is not None
        try:
            call_id = message.call_id
            method = message.method if isinstance(message, Request) else message.cseq.method
            owner = self.owner_of(message)
        except SipParseError:
            call_id, method, owner = None, None, None
        if not self.events.wants_trace(owner):
            return
        self.events.publish(
            SIPTraceEvent(
                owner=owner,
                time=self.clock.wall(),
                message=f"{direction} {transport} {peer[0]}:{peer[1]}",
                call_id=call_id,
                remote=f"{peer[0]}:{peer[1]}",
                transport=transport,
                direction=direction,
                sip_method=method,
                raw=data.decode("utf-8", "replace"),
            )
        )
