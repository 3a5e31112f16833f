"""Requests of our own: RFC 3263 failover to the next SRV target on 503, one digest round."""

from __future__ import annotations

import asyncio
from typing import cast

import pytest

from sipswitch.runtime.uac import UacError
from sipswitch.sip.builders import make_response, new_call_id, new_tag
from sipswitch.sip.digest import AuthResult, DigestServer, compute_ha1
from sipswitch.sip.message import Request
from sipswitch.sip.parser import parse_message
from sipswitch.sip.uri import parse_sip_uri
from sipswitch.transport.dns import SipResolver
from tests.support.dnszone import serve_zone

from .conftest import RunningSwitch

ZONE = """
$TTL 300
@       IN SOA ns.provider.test. admin.provider.test. 1 3600 600 86400 60
@       IN NS  ns.provider.test.
ns      IN A   127.0.0.1
_sip._udp IN SRV 10 0 {busy} sip1.provider.test.
_sip._udp IN SRV 20 0 {good} sip2.provider.test.
sip1    IN A   127.0.0.1
sip2    IN A   127.0.0.1
"""


class Registrar(asyncio.DatagramProtocol):
    """A stand-in provider: answers 503 (busy) or challenges then accepts (good)."""

    def __init__(self, busy: bool) -> None:
        self.busy = busy
        self.seen: list[Request] = []
        self.digest = DigestServer("provider.test", b"0123456789abcdef0123")
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        request = parse_message(data)
        assert isinstance(request, Request)
        self.seen.append(request)
        if self.busy:
            response = make_response(request, 503, to_tag=new_tag())
        elif request.authorization is None:
            challenges = self.digest.challenges(0.0)
            response = make_response(
                request,
                401,
                to_tag=new_tag(),
                headers=tuple(("WWW-Authenticate", str(c)) for c in challenges),
            )
        else:
            result = self.digest.verify(
                request.authorization,
                method=request.method,
                request_uri=request.uri_text,
                now=1.0,
                lookup_ha1=lambda user, realm, alg: compute_ha1(user, realm, "s3cret", alg),
            )
            response = make_response(
                request, 200 if result is AuthResult.OK else 403, to_tag=new_tag()
            )
        # answer where the Via says (received/rport), as a real server would
        assert self.transport is not None
        self.transport.sendto(response.to_bytes(), addr)


async def _listen(busy: bool) -> tuple[asyncio.DatagramTransport, Registrar]:
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(
        lambda: Registrar(busy), local_addr=("127.0.0.1", 0)
    )
    return transport, proto


def _register(domain: str) -> Request:
    return Request(
        "REGISTER",
        parse_sip_uri(f"sip:{domain}"),
        [
            ("From", f"<sip:alice@{domain}>;tag={new_tag()}"),
            ("To", f"<sip:alice@{domain}>"),
            ("Call-ID", new_call_id()),
            ("CSeq", "1 REGISTER"),
            ("Max-Forwards", "70"),
            ("Contact", "<sip:token@127.0.0.1>"),
            ("Expires", "300"),
        ],
    )


async def test_failover_then_digest(switch: RunningSwitch) -> None:
    busy_t, busy = await _listen(True)
    good_t, good = await _listen(False)
    zone = ZONE.format(
        busy=busy_t.get_extra_info("sockname")[1], good=good_t.get_extra_info("sockname")[1]
    )
    try:
        async with serve_zone(zone, "provider.test.") as dns_server:
            uac = switch.app.uac
            uac.resolver = SipResolver(nameservers=[("127.0.0.1", dns_server.port)])
            response = await uac.request(
                _register("provider.test"), credentials=("alice", "s3cret"), timeout=3
            )
    finally:
        busy_t.close()
        good_t.close()
    assert response.status == 200
    assert len(busy.seen) == 1  # 503: on to the next SRV target
    assert len(good.seen) == 2  # challenged once, then accepted
    first, second = good.seen
    assert second.cseq.seq == first.cseq.seq + 1
    assert second.call_id == first.call_id and second.from_.tag == first.from_.tag
    assert second.top_via.branch != first.top_via.branch
    assert second.top_via.rport_requested


async def test_wrong_password_returns_the_challenge(switch: RunningSwitch) -> None:
    good_t, good = await _listen(False)
    port = good_t.get_extra_info("sockname")[1]
    try:
        response = await switch.app.uac.request(
            _register(f"127.0.0.1:{port}"), credentials=("alice", "wrong"), timeout=3
        )
    finally:
        good_t.close()
    assert response.status == 403
    assert len(good.seen) == 2


async def test_no_answer_is_an_error(switch: RunningSwitch) -> None:
    silent = await asyncio.get_running_loop().create_datagram_endpoint(
        asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
    )
    port = silent[0].get_extra_info("sockname")[1]
    try:
        with pytest.raises(UacError):
            await switch.app.uac.request(_register(f"127.0.0.1:{port}"), timeout=0.5)
    finally:
        silent[0].close()
