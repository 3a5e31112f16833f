"""A tiny authoritative DNS server for tests, answering from a zone file (dnspython)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import cast

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rrset
import dns.zone


class ZoneServer(asyncio.DatagramProtocol):
    """Answers from a zone like an authoritative server: CNAMEs chased inside the zone,
    NXDOMAIN/NODATA with the SOA for negative caching (RFC 2308)."""

    def __init__(self, zone: dns.zone.Zone) -> None:
        self.zone = zone
        self.queries: Counter[tuple[str, str]] = Counter()
        self.drop: set[str] = set()
        self.servfail: set[str] = set()
        self.transport: asyncio.DatagramTransport | None = None
        self.port = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)
        self.port = transport.get_extra_info("sockname")[1]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        query = dns.message.from_wire(data)
        question = query.question[0]
        qname = question.name.to_text(omit_final_dot=True).lower()
        self.queries[(qname, dns.rdatatype.to_text(question.rdtype))] += 1
        if qname in self.drop:
            return
        response = dns.message.make_response(query)
        if qname in self.servfail:
            response.set_rcode(dns.rcode.SERVFAIL)
        else:
            self._answer(response, question.name, question.rdtype)
        assert self.transport is not None
        self.transport.sendto(response.to_wire(), addr)

    def _answer(
        self, response: dns.message.Message, name: dns.name.Name, rdtype: dns.rdatatype.RdataType
    ) -> None:
        response.flags |= dns.flags.AA
        origin = self.zone.origin
        assert origin is not None
        if not name.is_subdomain(origin):
            response.set_rcode(dns.rcode.REFUSED)
            return
        for _ in range(8):
            node = self.zone.get_node(name)
            if node is None:
                if not self._has_descendants(name):
                    response.set_rcode(dns.rcode.NXDOMAIN)
                self._add_soa(response)
                return
            rdataset = node.get_rdataset(dns.rdataclass.IN, rdtype)
            if rdataset is not None:
                response.answer.append(_rrset(name, rdataset))
                return
            cname = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.CNAME)
            if cname is None:
                self._add_soa(response)
                return
            response.answer.append(_rrset(name, cname))
            name = cname[0].target

    def _has_descendants(self, name: dns.name.Name) -> bool:  # empty non-terminals: NODATA
        origin = self.zone.origin
        assert origin is not None
        return any(n.is_subdomain(name) for n in self.zone.nodes)

    def _add_soa(self, response: dns.message.Message) -> None:
        origin = self.zone.origin
        assert origin is not None
        soa = self.zone.find_rdataset(origin, dns.rdatatype.SOA)
        response.authority.append(_rrset(origin, soa))


def _rrset(name: dns.name.Name, rdataset: dns.rdataset.Rdataset) -> dns.rrset.RRset:
    rrset = dns.rrset.RRset(name, rdataset.rdclass, rdataset.rdtype)
    rrset.update(rdataset)  # type: ignore[no-untyped-call]
    return rrset


@asynccontextmanager
async def serve_zone(text: str, origin: str) -> AsyncIterator[ZoneServer]:
    """Serve ``text`` (a zone file) on 127.0.0.1 at a free UDP port while the block runs."""
    zone = dns.zone.from_text(text, origin=origin, relativize=False)
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(
        lambda: ZoneServer(zone), local_addr=("127.0.0.1", 0)
    )
    try:
        yield proto
    finally:
        transport.close()
