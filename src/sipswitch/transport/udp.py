"""SIP over UDP (RFC 3261 §18): one datagram is one message.

The receive path is the hot path of the switch, so it avoids ``DatagramProtocol``: a
non-blocking socket is watched with ``loop.add_reader`` and each wake-up drains up to
:data:`DRAIN_BATCH` datagrams. Sends go straight to ``sendto``; only when the kernel buffer is
full are they queued and flushed from a writer callback.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import socket

from sipswitch.transport.base import (
    EventSink,
    Flow,
    FramingFailed,
    ListenerSpec,
    SendFailed,
    Target,
    TransportLimits,
    TransportSink,
)

log = logging.getLogger(__name__)

#: datagrams read per readiness callback before yielding to the loop
DRAIN_BATCH = 64
#: source flows remembered, so a busy peer does not allocate a Flow per datagram
_FLOW_CACHE_SIZE = 4096
#: keep-alives and padding a peer may send on its own (RFC 5626 §3.5.1 CRLF, stray blank lines)
_BLANK = b"\r\n \t"


class UdpEndpoint:
    """A bound UDP socket: receives datagrams into ``sink`` and sends datagrams."""

    __slots__ = (
        "_family",
        "_flows",
        "_limits",
        "_loop",
        "_on_event",
        "_queue",
        "_queued_bytes",
        "_recv_size",
        "_sink",
        "_sock",
        "closed",
        "local",
        "reading",
        "spec",
        "v6",
    )

    def __init__(  # noqa: PLR0917
        self,
        sock: socket.socket,
        spec: ListenerSpec,
        sink: TransportSink,
        on_event: EventSink,
        limits: TransportLimits,
        loop: asyncio.AbstractEventLoop,
        *,
        reading: bool = True,
    ) -> None:
        self._sock = sock
        self._sink = sink
        self._on_event = on_event
        self._limits = limits
        self._loop = loop
        bound = sock.getsockname()
        self.local: tuple[str, int] = (bound[0], bound[1])
        self.spec = ListenerSpec(spec.transport, spec.host, self.local[1])
        self._family = int(sock.family)
        self.v6 = self._family == socket.AF_INET6
        self._flows: dict[object, Flow] = {}
        self._queue: collections.deque[tuple[bytes, tuple[str, int], Flow | Target]] = (
            collections.deque()
        )
        self._queued_bytes = 0
        # one more than the cap, so an oversized datagram is seen rather than truncated
        self._recv_size = min(limits.max_message_size, 65535) + 1
        self.closed = False
        self.reading = False
        if reading:
            self.resume()

    @classmethod
    def bind(
        cls,
        spec: ListenerSpec,
        sink: TransportSink,
        on_event: EventSink,
        limits: TransportLimits,
        loop: asyncio.AbstractEventLoop,
        *,
        reuse_port: bool = False,
        reading: bool = True,
    ) -> UdpEndpoint:
        """Bind ``spec``; OSError on failure. IPv6 sockets are IPv6-only (no mapped addresses).
        ``reuse_port``: several worker processes share the address (SO_REUSEPORT); with
        ``reading`` false, datagrams wait in the socket until :meth:`resume`."""
        family = socket.AF_INET6 if spec.family_v6 else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            with contextlib.suppress(OSError):  # a platform refusing the size keeps its default
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, limits.udp_receive_buffer)
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.setblocking(False)
            sock.bind((spec.host, spec.port))
            return cls(sock, spec, sink, on_event, limits, loop, reading=reading)
        except BaseException:
            sock.close()
            raise

    @property
    def family(self) -> int:
        """AF_INET or AF_INET6 (kept: ``socket.family`` builds an enum on every read)."""
        return self._family

    # ---- receiving --------------------------------------------------------------------------

    def resume(self) -> None:
        """Start reading datagrams (idempotent)."""
        if not self.reading and not self.closed:
            self.reading = True
            self._loop.add_reader(self._sock.fileno(), self._on_readable)

    def _on_readable(self) -> None:
        recvfrom = self._sock.recvfrom
        size = self._recv_size
        flows = self._flows
        sink = self._sink
        for _ in range(DRAIN_BATCH):
            try:
                data, addr = recvfrom(size)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                # ICMP errors surface here on some platforms; the socket itself is still fine
                log.debug("udp %s: recvfrom: %s", self.spec, exc)
                continue
            flow = flows.get(addr)
            if flow is None:
                flow = self._new_flow(addr)
            if len(data) < 5:
                if not data.strip(_BLANK):
                    continue  # empty datagram or a CRLF keep-alive: nothing to answer
            elif len(data) >= size:
                self._report(FramingFailed(flow, "datagram larger than the message size cap"))
                continue
            try:
                sink(data, flow)
            except Exception:
                log.exception("udp %s: message sink failed", self.spec)

    def _new_flow(self, addr: tuple[str, int] | tuple[str, int, int, int]) -> Flow:
        flows = self._flows
        if len(flows) >= _FLOW_CACHE_SIZE:
            flows.clear()
        flow = Flow("udp", (addr[0], addr[1]), self.local, None)
        flows[addr] = flow
        return flow

    # ---- sending ----------------------------------------------------------------------------

    def send(self, data: bytes, addr: tuple[str, int], to: Flow | Target) -> None:
        """Send one datagram now, or queue it if the socket buffer is full. Never raises."""
        if self.closed:
            self._report(SendFailed(to, "UDP listener closed"))
            return
        if self._queue:
            self._enqueue(data, addr, to)
            return
        try:
            self._sock.sendto(data, addr)
        except (BlockingIOError, InterruptedError):
            self._enqueue(data, addr, to)
            self._loop.add_writer(self._sock.fileno(), self._on_writable)
        except OSError as exc:
            self._report(SendFailed(to, f"sendto: {exc.strerror or exc}"))

    def _enqueue(self, data: bytes, addr: tuple[str, int], to: Flow | Target) -> None:
        if self._queued_bytes + len(data) > self._limits.max_outbound_buffer:
            self._report(SendFailed(to, "UDP send queue full"))
            return
        self._queue.append((data, addr, to))
        self._queued_bytes += len(data)

    def _on_writable(self) -> None:
        queue = self._queue
        sendto = self._sock.sendto
        while queue:
            data, addr, to = queue[0]
            try:
                sendto(data, addr)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self._report(SendFailed(to, f"sendto: {exc.strerror or exc}"))
            queue.popleft()
            self._queued_bytes -= len(data)
        self._loop.remove_writer(self._sock.fileno())

    # ---- lifecycle --------------------------------------------------------------------------

    def _report(self, event: SendFailed | FramingFailed) -> None:
        try:
            self._on_event(event)
        except Exception:
            log.exception("transport event handler failed")

    def close(self) -> None:
        """Stop receiving and close the socket; queued datagrams are dropped. Idempotent."""
        if self.closed:
            return
        self.closed = True
        fd = self._sock.fileno()
        if fd >= 0:
            self._loop.remove_reader(fd)
            self._loop.remove_writer(fd)
        for _, _, to in self._queue:
            self._report(SendFailed(to, "UDP listener closed"))
        self._queue.clear()
        self._queued_bytes = 0
        self._sock.close()
