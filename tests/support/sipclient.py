"""A minimal SIP client over real loopback sockets, for server tests."""

from __future__ import annotations

import asyncio
import socket

from sipswitch.sip.builders import new_branch, new_call_id, new_tag
from sipswitch.sip.message import Response
from sipswitch.sip.parser import parse_message


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = int(udp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port")


def request_text(
    method: str,
    ruri: str,
    *,
    via_port: int,
    transport: str = "UDP",
    headers: tuple[str, ...] = (),
    body: str = "",
    cseq: int = 1,
) -> bytes:
    """A well-formed request from a loopback client (Via with rport, as a real phone sends)."""
    lines = [
        f"{method} {ruri} SIP/2.0",
        f"Via: SIP/2.0/{transport} 127.0.0.1:{via_port};branch={new_branch()};rport",
        "Max-Forwards: 70",
        f"From: <sip:tester@127.0.0.1>;tag={new_tag()}",
        f"To: <{ruri}>",
        f"Call-ID: {new_call_id()}",
        f"CSeq: {cseq} {method}",
        *headers,
        f"Content-Length: {len(body.encode())}",
        "",
        body,
    ]
    return "\r\n".join(lines).encode()


class _Collector(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.queue.put_nowait(data)


class UdpClient:
    """Send datagrams to the switch and read what comes back."""

    def __init__(self, transport: asyncio.DatagramTransport, collector: _Collector) -> None:
        self._transport = transport
        self._collector = collector

    @classmethod
    async def open(cls, server_port: int) -> UdpClient:
        loop = asyncio.get_running_loop()
        transport, collector = await loop.create_datagram_endpoint(
            _Collector, local_addr=("127.0.0.1", 0), remote_addr=("127.0.0.1", server_port)
        )
        return cls(transport, collector)

    @property
    def port(self) -> int:
        return int(self._transport.get_extra_info("sockname")[1])

    def send(self, data: bytes) -> None:
        self._transport.sendto(data)

    async def receive(self, timeout: float = 2.0) -> bytes:
        return await asyncio.wait_for(self._collector.queue.get(), timeout)

    async def final(self, timeout: float = 3.0) -> Response:
        """The next final response (provisional ones skipped)."""
        while True:
            message = parse_message(await self.receive(timeout))
            assert isinstance(message, Response)
            if message.status >= 200:
                return message

    async def nothing(self, wait: float = 0.3) -> bool:
        """True when nothing arrives within ``wait`` seconds."""
        try:
            await self.receive(wait)
        except TimeoutError:
            return True
        return False

    def close(self) -> None:
        self._transport.close()
