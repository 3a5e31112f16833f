"""A scripted SIP phone over a real UDP socket: reads what the switch sends, answers it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from sipswitch.sip.builders import new_tag
from sipswitch.sip.message import Request, Response
from sipswitch.sip.parser import parse_message
from tests.support.sipclient import UdpClient


@dataclass
class ScriptedPhone:
    """One account's phone; requests it was not waiting for are kept in ``seen`` (and, but
    for ACK, answered 200)."""

    client: UdpClient
    user: str
    tag: str = field(default_factory=new_tag)
    cseq: int = 0
    seen: list[Request] = field(default_factory=list)

    async def next(self, timeout: float = 5.0) -> Request | Response:
        while True:
            data = await self.client.receive(timeout)
            if data.strip():
                return parse_message(data)

    def keep(self, request: Request) -> None:
        self.seen.append(request)
        if request.method != "ACK":
            self.answer(request, 200)

    async def request(self, method: str, timeout: float = 5.0) -> Request:
        """The next request of ``method`` (others are kept)."""
        async with asyncio.timeout(timeout):
            while True:
                message = await self.next(timeout)
                if isinstance(message, Request):
                    if message.method == method:
                        return message
                    self.keep(message)

    def answer(self, request: Request, status: int, body: str = "") -> None:
        lines = [f"SIP/2.0 {status} {'OK' if status == 200 else 'Whatever'}"]
        lines += [f"Via: {v}" for v in request.get_all("Via")]
        lines += [f"Record-Route: {r}" for r in request.get_all("Record-Route")]
        to = request.get("To") or ""
        if request.method == "INVITE" and ";tag=" not in to:
            to += f";tag={self.tag}"
        lines += [
            f"From: {request.get('From')}",
            f"To: {to}",
            f"Call-ID: {request.call_id}",
            f"CSeq: {request.get('CSeq')}",
            f"Contact: <sip:{self.user}@127.0.0.1:{self.client.port}>",
        ]
        if body:
            lines.append("Content-Type: application/sdp")
        lines += [f"Content-Length: {len(body.encode())}", "", body]
        self.client.send("\r\n".join(lines).encode())
