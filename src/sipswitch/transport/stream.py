"""SIP over TCP and TLS (RFC 3261 §18.3), with RFC 5626 §3.5.1 CRLF keep-alives.

Framing is :class:`~sipswitch.sip.framing.StreamFramer`'s: whole messages go up to the sink, a
double-CRLF ping is answered with a single-CRLF pong, and a framing error closes the
connection (the stream cannot be resynchronised).
"""

from __future__ import annotations

from sipswitch.sip.framing import FramingError, KeepAlive, StreamFramer
from sipswitch.transport.base import FramingFailed
from sipswitch.transport.connection import Connection, ConnectionHub, RemoteKey

PONG = b"\r\n"


class StreamConnection(Connection):
    """A TCP or TLS connection carrying Content-Length framed SIP messages."""

    def __init__(
        self, hub: ConnectionHub, transport_name: str, key: RemoteKey, inbound: bool
    ) -> None:
        super().__init__(hub, transport_name, key, inbound)
        limits = hub.limits
        self._framer = StreamFramer(limits.max_message_size, limits.max_header_size)

    def on_data(self, data: bytes) -> bool:
        framer = self._framer
        try:
            items = framer.feed(data)
        except FramingError as exc:
            self.hub.report(FramingFailed(self.flow, exc.reason))
            self.close(f"framing error: {exc.reason}")
            return False
        if items:
            self.progress = True
        hub = self.hub
        flow = self.flow
        for item in items:
            if item is KeepAlive.PING:
                self.write(PONG)
            elif item is not KeepAlive.PONG:
                assert isinstance(item, bytes)
                hub.deliver(item, flow)
                if self.closing:
                    break
        return framer.buffered > 0
