"""What legs share: the endpoint, the clock, our addresses, and routing of transaction results."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from sipswitch.runtime.clock import Clock
from sipswitch.runtime.endpoint import SipEndpoint
from sipswitch.sip.address import Address
from sipswitch.sip.builders import new_call_id
from sipswitch.sip.dialog import SentBy
from sipswitch.sip.message import Request, Response
from sipswitch.sip.transaction.keys import ClientKey
from sipswitch.sip.uri import SipUri

#: (transport, ip, port) of the peer a leg talks to: requests in the dialog go there too, so
#: phones behind NAT are reached on the address they really use
Peer = tuple[str, str, int]
ResponseCallback = Callable[[Response | None], None]
_VIA = {"udp": "UDP", "tcp": "TCP", "tls": "TLS", "ws": "WS", "wss": "WSS"}


@dataclass
class Plumbing:
    """Shared by every leg of every call; built once by the call service."""

    endpoint: SipEndpoint
    clock: Clock
    local_address: Callable[[str, str], tuple[str, int]]
    user_agent: str = "sipswitch"
    t1: float = 0.5
    t2: float = 4.0
    #: seconds between in-dialog OPTIONS to each answered leg of a call (0: none)
    keepalive: float = 0.0
    #: makes the Call-IDs of our own dialogs (with several workers: ones that hash to us)
    call_ids: Callable[[], str] = new_call_id
    _by_tx: dict[ClientKey, ResponseCallback] = field(default_factory=dict)

    # -- our addresses --------------------------------------------------------------------------
    def sent_by(self, peer: Peer) -> SentBy:
        host, port = self.local_address(peer[0], peer[1])
        return SentBy(_bracket(host), port, _VIA.get(peer[0], peer[0].upper()), rport=True)

    def contact(self, peer: Peer, user: str = "sipswitch") -> Address:
        host, port = self.local_address(peer[0], peer[1])
        params: tuple[tuple[str, str | None], ...] = ()
        if peer[0] != "udp":
            params = (("transport", peer[0]),)
        return Address(SipUri(_bracket(host), user, port=port, params=params))

    # -- client transactions --------------------------------------------------------------------
    def send(self, request: Request, peer: Peer, callback: ResponseCallback) -> ClientKey:
        """Send a request (the caller built it) and route its responses to ``callback``."""
        key = self.endpoint.send_request(request, (peer[1], peer[2]), peer[0])
        self._by_tx[key] = callback
        return key

    def deliver(self, key: ClientKey, response: Response | None) -> bool:
        """A transaction result: provisional responses stay subscribed, finals unsubscribe."""
        callback = self._by_tx.get(key)
        if callback is None:
            return False
        if response is None or response.status >= 200:
            del self._by_tx[key]
        callback(response)
        return True

    def forget(self, key: ClientKey) -> None:
        self._by_tx.pop(key, None)

    def later(self, delay: float, action: Callable[[], None]) -> asyncio.TimerHandle:
        return asyncio.get_running_loop().call_later(max(delay, 0.0), action)


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
