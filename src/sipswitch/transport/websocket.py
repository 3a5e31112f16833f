"""SIP over WebSocket (RFC 7118), on ``wsproto``.

The HTTP upgrade must offer the ``sip`` subprotocol (RFC 7118 §4.1), which the answer echoes;
an upgrade without it is refused with 400. Each text or binary message carries exactly one SIP
message (§5.2), so no Content-Length framing happens here; messages are capped in size, pings
are answered and the close handshake is honoured. Anything wsproto cannot make sense of (bytes
that are not HTTP, bad frames) closes only the connection that sent it.
"""

from __future__ import annotations

import logging

from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)
from wsproto.frame_protocol import CloseReason
from wsproto.utilities import RemoteProtocolError

from sipswitch.transport.base import FramingFailed, Rejected, format_hostport
from sipswitch.transport.connection import Connection, ConnectionHub, RemoteKey

log = logging.getLogger(__name__)

SUBPROTOCOL = "sip"


class WebSocketConnection(Connection):
    """A ``ws``/``wss`` connection: server side when accepted, client side when opened."""

    def __init__(
        self,
        hub: ConnectionHub,
        transport_name: str,
        key: RemoteKey,
        inbound: bool,
        host_header: str | None = None,
    ) -> None:
        super().__init__(hub, transport_name, key, inbound)
        self._ws = WSConnection(ConnectionType.SERVER if inbound else ConnectionType.CLIENT)
        self._open = False
        self._parts: list[bytes] = []
        self._size = 0
        self._host_header = host_header or format_hostport(key[1], key[2])

    def ready(self) -> bool:
        return self._open and self.connected

    def on_open(self) -> None:
        if not self.inbound:
            request = Request(host=self._host_header, target="/", subprotocols=[SUBPROTOCOL])
            self.write(self._ws.send(request))

    def encode(self, data: bytes) -> bytes | None:
        """One SIP message per frame: text when it is UTF-8 (it nearly always is), else binary."""
        if self._ws.state is not ConnectionState.OPEN:
            return None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return self._ws.send(BytesMessage(data=data))
        return self._ws.send(TextMessage(data=text))

    def on_data(self, data: bytes) -> bool:
        ws = self._ws
        try:
            ws.receive_data(data)
            for event in ws.events():
                self._handle(event)
                if self.closing:
                    break
        except RemoteProtocolError as exc:
            self._refuse(exc.event_hint, f"bad WebSocket handshake: {exc}")
        except Exception as other:  # wsproto/h11 may raise more than they declare on garbage
            self.hub.report(FramingFailed(self.flow, f"WebSocket error: {other!r}"))
            self.abort("WebSocket protocol error")
        return not self._open or bool(self._parts)

    def _handle(self, event: Event) -> None:
        if isinstance(event, TextMessage | BytesMessage):
            chunk = event.data.encode("utf-8") if isinstance(event.data, str) else bytes(event.data)
            self._size += len(chunk)
            if self._size > self.hub.limits.max_message_size:
                self.hub.report(FramingFailed(self.flow, "WebSocket message too large"))
                self._close_ws(CloseReason.MESSAGE_TOO_BIG, "message too large")
                return
            self._parts.append(chunk)
            if event.message_finished:
                message = b"".join(self._parts)
                self._parts.clear()
                self._size = 0
                self.progress = True
                if message.strip(b"\r\n \t"):
                    self.hub.deliver(message, self.flow)
        elif isinstance(event, Ping):
            if self._ws.state is ConnectionState.OPEN:
                self.write(self._ws.send(event.response()))
        elif isinstance(event, CloseConnection):
            self._on_close(event)
        elif isinstance(event, Request):
            offered = [p for p in event.subprotocols if p.lower() == SUBPROTOCOL]
            if not offered:
                self._refuse(
                    RejectConnection(status_code=400),
                    "WebSocket upgrade without the 'sip' subprotocol",
                )
                return
            self.write(self._ws.send(AcceptConnection(subprotocol=offered[0])))
            self._opened()
        elif isinstance(event, AcceptConnection):
            if event.subprotocol != SUBPROTOCOL:
                self._close_ws(CloseReason.PROTOCOL_ERROR, "server did not accept 'sip'")
                return
            self._opened()
        elif isinstance(event, RejectConnection):
            self.close(f"WebSocket upgrade refused with {event.status_code}")
        # Pong, RejectData: nothing to do

    def _opened(self) -> None:
        self._open = True
        self._partial_since = None
        self.ready_now()

    def _on_close(self, event: CloseConnection) -> None:
        state = self._ws.state
        if state is ConnectionState.REMOTE_CLOSING:
            self.write(self._ws.send(event.response()))
            self.close(f"closed by peer ({event.code})")
        elif state is ConnectionState.OPEN:  # a frame wsproto could not parse
            self.hub.report(FramingFailed(self.flow, f"bad WebSocket frame: {event.reason}"))
            self._close_ws(event.code, "bad frame")
        else:
            self.close("closed")

    def _close_ws(self, code: int, reason: str) -> None:
        if self._ws.state is ConnectionState.OPEN:
            self.write(self._ws.send(CloseConnection(code=code, reason=reason)))
        self.close(reason)

    def _refuse(self, answer: Event | None, reason: str) -> None:
        self.hub.report(Rejected(self.flow, reason))
        if self.inbound and isinstance(answer, RejectConnection):
            try:
                self.write(self._ws.send(answer))
            except Exception:  # the handshake is too broken to answer: just close
                log.debug("cannot answer a broken WebSocket handshake", exc_info=True)
        self.close(reason)
