"""Values shared by the SIP transports: flows, targets, listener specs, limits and events.

A :class:`Flow` names the path a message arrived on (RFC 3261 §18.2.1: the source address and
the connection are what a response goes back on, §18.2.2); a :class:`Target` names where to send
a request (already resolved to an IP address by RFC 3263 above this layer).
"""

from __future__ import annotations

import enum
import functools
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias


class TransportName(enum.StrEnum):
    UDP = "udp"
    TCP = "tcp"
    TLS = "tls"
    WS = "ws"
    WSS = "wss"


TRANSPORTS = frozenset(t.value for t in TransportName)
#: transports carried on a connection (the rest is UDP)
STREAM_TRANSPORTS = frozenset({"tcp", "tls", "ws", "wss"})
#: transports wrapped in TLS
SECURE_TRANSPORTS = frozenset({"tls", "wss"})
#: RFC 3261 §19.1.2 default ports, used when a listener spec leaves the port out
DEFAULT_PORTS = {"udp": 5060, "tcp": 5060, "tls": 5061}


class TransportError(Exception):
    """A transport could not be set up as asked (our own configuration, not a peer's fault)."""


class ListenerError(TransportError):
    """A listener could not be bound; ``spec`` names it."""

    def __init__(self, spec: ListenerSpec, reason: str) -> None:
        super().__init__(f"cannot listen on {spec}: {reason}")
        self.spec = spec
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Flow:
    """Where a message came from, and how to answer on the same path."""

    transport: str
    remote: tuple[str, int]
    local: tuple[str, int]
    connection_id: int | None = None


@dataclass(frozen=True, slots=True)
class Target:
    """Where to send when not answering on a flow: an IP address, never a name.

    ``server_name`` is the TLS SNI / certificate name to check for ``tls`` and ``wss``
    (RFC 5922 §7: the domain the target was resolved from); ``None`` checks the IP address.
    """

    transport: str
    host: str
    port: int
    server_name: str | None = None


def format_hostport(host: str, port: int) -> str:
    """``host:port``, bracketing IPv6 literals (RFC 3261 §25.1 ``hostport``)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@functools.lru_cache(maxsize=4096)
def normalize_ip(text: str) -> str:
    """The canonical text of an IP literal (brackets allowed); ValueError if it is not one.

    Cached: the same few peers are normalized on every message sent."""
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    return ipaddress.ip_address(text).compressed


@dataclass(frozen=True, slots=True)
class ListenerSpec:
    """One listener, e.g. ``udp:0.0.0.0:5060``, ``tls:[::]:5061``, ``ws:127.0.0.1:8088``."""

    transport: str
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> ListenerSpec:
        """Parse ``transport:host[:port]``; IPv6 hosts in brackets. ValueError names the fault."""
        if not isinstance(text, str):
            raise ValueError(f"listener must be a string, not {type(text).__name__}")
        transport, colon, rest = text.strip().partition(":")
        transport = transport.lower()
        if not colon:
            raise ValueError(f"listener {text!r}: expected transport:host:port")
        if transport not in TRANSPORTS:
            known = ", ".join(sorted(TRANSPORTS))
            raise ValueError(f"listener {text!r}: unknown transport {transport!r} ({known})")
        if rest.startswith("["):
            close = rest.find("]")
            if close < 0:
                raise ValueError(f"listener {text!r}: unclosed '[' in IPv6 address")
            host, after = rest[1:close], rest[close + 1 :]
            if after and not after.startswith(":"):
                raise ValueError(f"listener {text!r}: expected ':port' after ']'")
            port_text = after[1:] if after else None
            if ":" not in host:
                raise ValueError(f"listener {text!r}: brackets are for IPv6 addresses only")
        else:
            host, colon, port_text_ = rest.rpartition(":")
            if not colon:
                host, port_text = rest, None
            else:
                port_text = port_text_
            if ":" in host:
                raise ValueError(f"listener {text!r}: IPv6 addresses must be in brackets")
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            raise ValueError(f"listener {text!r}: host {host!r} is not an IP address") from None
        if port_text is None:
            if transport not in DEFAULT_PORTS:
                raise ValueError(f"listener {text!r}: a port is required for {transport}")
            port = DEFAULT_PORTS[transport]
        else:
            if not port_text.isdigit() or not port_text.isascii() or len(port_text) > 5:
                raise ValueError(f"listener {text!r}: port {port_text!r} is not a number")
            port = int(port_text)
            if port > 65535:
                raise ValueError(f"listener {text!r}: port {port} is out of range")
        return cls(transport, address.compressed, port)

    @property
    def family_v6(self) -> bool:
        return ":" in self.host

    def __str__(self) -> str:
        return f"{self.transport}:{format_hostport(self.host, self.port)}"


@dataclass(frozen=True, slots=True)
class TransportLimits:
    """Bounds on what peers may make us hold. Times are seconds."""

    max_message_size: int = 65535
    max_header_size: int = 16384
    idle_timeout: float = 600.0
    #: a connection holding an incomplete message (or a fresh one that sent nothing whole yet)
    #: is closed when no complete message or keep-alive has arrived for this long
    partial_timeout: float = 30.0
    connect_timeout: float = 10.0
    tls_handshake_timeout: float = 10.0
    max_connections: int = 1000
    max_connections_per_ip: int = 50
    max_outbound_buffer: int = 1 << 20
    udp_receive_buffer: int = 1 << 21
    #: how long a closing connection may take to flush its output before it is aborted
    close_grace: float = 2.0


# ---- events -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConnectionOpened:
    flow: Flow
    reason: str


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    flow: Flow
    reason: str


@dataclass(frozen=True, slots=True)
class SendFailed:
    to: Flow | Target
    reason: str


@dataclass(frozen=True, slots=True)
class FramingFailed:
    flow: Flow
    reason: str


@dataclass(frozen=True, slots=True)
class Rejected:
    flow: Flow
    reason: str


TransportEvent: TypeAlias = (
    ConnectionOpened | ConnectionClosed | SendFailed | FramingFailed | Rejected
)
#: the receiver of complete message bytes
TransportSink: TypeAlias = Callable[[bytes, Flow], None]
EventSink: TypeAlias = Callable[[TransportEvent], None]
