"""Sending requests of our own (non-INVITE): RFC 3263 targets with failover, Via filled in,
one digest round for 401/407 (RFC 3261 §22.2), awaited as a coroutine.

Used by the provider registration agent and, later, for NOTIFY/OPTIONS of our own.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable
from typing import Protocol

from sipswitch.runtime.clock import Clock
from sipswitch.runtime.endpoint import SipEndpoint
from sipswitch.sip.builders import new_branch
from sipswitch.sip.digest import DigestClient
from sipswitch.sip.message import Request, Response
from sipswitch.sip.transaction.events import (
    Event,
    ResponseReceived,
    TransactionTimeout,
    TransportError,
)
from sipswitch.sip.transaction.keys import ClientKey
from sipswitch.sip.uri import SipUri
from sipswitch.transport.dns import ResolutionError, ResolvedTarget, SipResolver
from sipswitch.transport.manager import TransportManager

#: statuses after which the next target is tried (RFC 3263 §4.3)
_FAILOVER = frozenset({503})
_VIA_TRANSPORT = {"udp": "UDP", "tcp": "TCP", "tls": "TLS", "ws": "WS", "wss": "WSS"}
_WILDCARD = ("0.0.0.0", "::")


class EventSource(Protocol):
    """Where transaction events can be subscribed to (the dispatcher)."""

    def subscribe(self, listener: Callable[[Event], None]) -> None: ...


class UacError(Exception):
    """No final response could be had: resolution failed, or every target timed out."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UacClient:
    """Non-INVITE client requests as awaitables on top of the endpoint."""

    def __init__(
        self,
        endpoint: SipEndpoint,
        dispatcher: EventSource,
        resolver: SipResolver,
        transports: TransportManager,
        clock: Clock,
    ) -> None:
        self.endpoint = endpoint
        self.resolver = resolver
        self.transports = transports
        self.clock = clock
        self._pending: dict[ClientKey, asyncio.Future[Response | None]] = {}
        self._contact_hosts: dict[tuple[str, str], tuple[str, int]] = {}
        dispatcher.subscribe(self._on_event)

    # -- the transaction events -----------------------------------------------------------------
    def _on_event(self, event: Event) -> None:
        if isinstance(event, ResponseReceived):
            if event.response.status < 200:
                return
            future = self._pending.pop(event.client_tx, None)
            if future is not None and not future.done():
                future.set_result(event.response)
        elif isinstance(event, TransactionTimeout | TransportError) and isinstance(
            event.tx, ClientKey
        ):
            future = self._pending.pop(event.tx, None)
            if future is not None and not future.done():
                future.set_result(None)

    # -- addresses ------------------------------------------------------------------------------
    def local_contact_host(self, transport: str, toward_ip: str) -> tuple[str, int]:
        """The address and port a peer at ``toward_ip`` reaches us on over ``transport``
        (remembered per peer address: every leg of a call asks)."""
        known = self._contact_hosts.get((transport, toward_ip))
        if known is not None:
            return known
        if len(self._contact_hosts) >= 4096:
            self._contact_hosts.clear()
        listeners = self.transports.listeners()
        family_v6 = ":" in toward_ip
        same = [x for x in listeners if x.transport == transport] or [
            x for x in listeners if x.transport == "udp"
        ]
        fitting = [x for x in same if (":" in x.host) == family_v6] or same
        if not fitting:
            raise UacError(f"no listener for {transport}")
        listener = fitting[0]
        host = listener.host
        if host in _WILDCARD:
            host = _route_source(toward_ip)
        found = self._contact_hosts[(transport, toward_ip)] = (host, listener.port)
        return found

    # -- sending --------------------------------------------------------------------------------
    async def request(
        self,
        request: Request,
        *,
        uri: SipUri | None = None,
        credentials: tuple[str, str] | DigestClient | None = None,
        timeout: float = 32.0,
    ) -> Response:
        """Send ``request`` and return its final response (see the module docstring)."""
        if request.method in ("INVITE", "ACK", "CANCEL"):
            raise ValueError(f"UacClient does not send {request.method}")
        target_uri = uri or _next_hop(request)
        try:
            targets = await self.resolver.resolve(target_uri)
        except ResolutionError as exc:
            raise UacError(f"cannot resolve {target_uri.host}: {exc}") from None
        client = DigestClient(*credentials) if isinstance(credentials, tuple) else credentials
        last: Response | None = None
        for target in targets:
            response = await self._attempt(request, target, client, timeout)
            if response is None:
                continue
            last = response
            if response.status not in _FAILOVER:
                return response
        if last is not None:
            return last
        raise UacError("no answer from any target")

    async def _attempt(
        self,
        request: Request,
        target: ResolvedTarget,
        client: DigestClient | None,
        timeout: float,
    ) -> Response | None:
        response = await self._send(request, target, timeout)
        challenged = False
        while (
            response is not None
            and response.status in (401, 407)
            and client is not None
            and not challenged
        ):
            challenges = (
                response.www_authenticate if response.status == 401 else response.proxy_authenticate
            )
            credentials = client.authorize(
                challenges, method=request.method, uri=request.uri_text, body=request.body or None
            )
            if credentials is None:
                return response
            header = "Authorization" if response.status == 401 else "Proxy-Authorization"
            request.set(header, str(credentials))
            request.set("CSeq", f"{request.cseq.seq + 1} {request.method}")
            response = await self._send(request, target, timeout)
            # a stale nonce earns one more round (RFC 7616 §3.3)
            challenged = not _is_stale(response)
        return response

    async def _send(
        self, request: Request, target: ResolvedTarget, timeout: float
    ) -> Response | None:
        host, port = self.local_contact_host(target.transport, target.host_ip)
        sent_by = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        request.remove("Via")
        request.add(
            "Via",
            f"SIP/2.0/{_VIA_TRANSPORT.get(target.transport, target.transport.upper())} "
            f"{sent_by};branch={new_branch()};rport",
            first=True,
        )
        future: asyncio.Future[Response | None] = asyncio.get_running_loop().create_future()
        key = self.endpoint.send_request(request, (target.host_ip, target.port), target.transport)
        if future.done():  # answered synchronously (cannot happen on real sockets)
            return future.result()
        self._pending[key] = future
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            return None
        finally:
            self._pending.pop(key, None)


def _is_stale(response: Response | None) -> bool:
    if response is None or response.status not in (401, 407):
        return False
    challenges = (
        response.www_authenticate if response.status == 401 else response.proxy_authenticate
    )
    return any(c.stale for c in challenges)


def _next_hop(request: Request) -> SipUri:
    """The first Route if there is one (loose routing), else the Request-URI."""
    routes = request.routes
    uri = routes[0].uri if routes else request.uri
    if not isinstance(uri, SipUri):
        raise ValueError("can only send to SIP or SIPS URIs")
    return uri


def _route_source(toward_ip: str) -> str:
    """Our source address toward ``toward_ip`` (a connected UDP socket sends nothing)."""
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(toward_ip).version == 6 else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect((toward_ip, 9))
            return str(probe.getsockname()[0])
    except (OSError, ValueError):
        return "127.0.0.1"
