"""RFC 3263 resolution against a tiny authoritative server built from a zone file (dnspython)."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.resolver
import dns.zone
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sipswitch.sip.uri import parse_sip_uri
from sipswitch.transport.base import Target
from sipswitch.transport.dns import (
    AddressOrder,
    ResolutionError,
    ResolutionReason,
    ResolvedTarget,
    SipResolver,
    SrvRecord,
    TargetSource,
    order_srv,
)
from tests.support.dnszone import ZoneServer, serve_zone

ZONE = """
$ORIGIN example.com.
$TTL 300
@           IN SOA   ns1 hostmaster 2024010101 3600 600 86400 60
@           IN NS    ns1
ns1         IN A     192.0.2.53

; full NAPTR chain (RFC 3263 §4.1 example shape); WS, ENUM-style and "a"-flag records ignored
@           IN NAPTR 10 50 "s" "SIPS+D2T" "" _sips._tcp
@           IN NAPTR 20 50 "s" "SIP+D2T" "" _sip._tcp
@           IN NAPTR 30 50 "s" "SIP+D2U" "" _sip._udp
@           IN NAPTR 5 50 "s" "SIP+D2W" "" _sip._ws
@           IN NAPTR 5 50 "s" "SIP+D2S" "" _sip._sctp
@           IN NAPTR 5 50 "a" "SIP+D2U" "" proxy1
@           IN NAPTR 5 50 "u" "E2U+sip" "!^.*$!sip:info@example.com!" .
_sips._tcp  IN SRV   0 0 5061 proxy1
_sip._tcp   IN SRV   0 0 5060 proxy1
_sip._udp   IN SRV   10 60 5060 proxy1
_sip._udp   IN SRV   10 40 5060 proxy2
_sip._udp   IN SRV   20 0 5070 backup
_sip._ws    IN SRV   0 0 80 proxy1
proxy1      IN A     192.0.2.10
proxy1      IN AAAA  2001:db8::10
proxy2      IN A     192.0.2.20
backup      IN CNAME proxy3
proxy3      IN A     192.0.2.30

; no NAPTR: SRV only
_sip._udp.srvonly  IN SRV 0 0 5080 proxy2
_sip._tcp.srvonly  IN SRV 0 0 5081 proxy2
srvonly            IN TXT "no naptr here"

; no NAPTR, no SRV: A/AAAA only
plain       IN A     192.0.2.40
plain       IN AAAA  2001:db8::40
alias       IN CNAME plain
v6only      IN AAAA  2001:db8::66
short   30  IN A     192.0.2.41

; weighted SRV group
_sip._udp.weighted  IN SRV 1 10 5060 w1
_sip._udp.weighted  IN SRV 1 30 5060 w2
_sip._udp.weighted  IN SRV 1 60 5060 w3
_sip._udp.weighted  IN SRV 2 0 5060 w4
w1          IN A     192.0.2.101
w2          IN A     192.0.2.102
w3          IN A     192.0.2.103
w4          IN A     192.0.2.104

; a domain offering UDP and TLS: a SIPS URI must only get TLS
secure      IN NAPTR 10 10 "s" "SIP+D2U" "" _sip._udp.secure
secure      IN NAPTR 20 10 "s" "SIPS+D2T" "" _sips._tcp.secure
_sip._udp.secure   IN SRV 0 0 5060 proxy2
_sips._tcp.secure  IN SRV 0 0 5061 tls1
tls1        IN A     192.0.2.61

; "." target: service decidedly not available (RFC 2782)
_sip._tcp.closed   IN SRV 0 0 0 .
closed      IN A     192.0.2.70

; the server drops or fails these
slow        IN A     192.0.2.80
broken      IN A     192.0.2.81
"""


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
async def server() -> AsyncIterator[ZoneServer]:
    async with serve_zone(ZONE, "example.com.") as zone_server:
        yield zone_server


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make(server: ZoneServer, clock: FakeClock | None = None, **kwargs: object) -> SipResolver:
    options: dict[str, object] = {"rng": random.Random(7), "now": clock or FakeClock()}
    options.update(kwargs)
    return SipResolver(nameservers=[("127.0.0.1", server.port)], **options)  # type: ignore[arg-type]


async def resolve(resolver: SipResolver, uri: str) -> list[ResolvedTarget]:
    return await resolver.resolve(parse_sip_uri(uri))


def triples(targets: list[ResolvedTarget]) -> list[tuple[str, str, int]]:
    return [(t.transport, t.host_ip, t.port) for t in targets]


# ---- numeric hosts: no DNS at all ---------------------------------------------------------


async def test_numeric_hosts_need_no_dns(server: ZoneServer) -> None:
    resolver = make(server)
    cases = {
        "sip:alice@192.0.2.1": ("udp", "192.0.2.1", 5060),
        "sip:192.0.2.1:5070;transport=tcp": ("tcp", "192.0.2.1", 5070),
        "sips:192.0.2.1": ("tls", "192.0.2.1", 5061),
        "sips:192.0.2.1;transport=tcp": ("tls", "192.0.2.1", 5061),
        "sip:[2001:DB8:0::1]": ("udp", "2001:db8::1", 5060),
        "sip:[::1]:5099;transport=TLS": ("tls", "::1", 5099),
        "sip:example.com;maddr=192.0.2.9": ("udp", "192.0.2.9", 5060),
    }
    for uri, expected in cases.items():
        targets = await resolve(resolver, uri)
        assert triples(targets) == [expected], uri
        assert targets[0].source is TargetSource.NUMERIC
    assert not server.queries


async def test_unsupported_transport_is_a_resolution_error(server: ZoneServer) -> None:
    resolver = make(server)
    for uri in ("sip:192.0.2.1;transport=sctp", "sips:192.0.2.1;transport=udp"):
        with pytest.raises(ResolutionError) as info:
            await resolve(resolver, uri)
        assert info.value.reason is ResolutionReason.UNSUPPORTED
    udp_only = make(server, transports=("udp",))
    with pytest.raises(ResolutionError):
        await resolve(udp_only, "sips:192.0.2.1")


# ---- explicit port / explicit transport ---------------------------------------------------


async def test_explicit_port_uses_addresses_only(server: ZoneServer) -> None:
    targets = await resolve(make(server), "sip:plain.example.com:5099")
    assert triples(targets) == [("udp", "192.0.2.40", 5099), ("udp", "2001:db8::40", 5099)]
    assert all(t.source is TargetSource.ADDRESS for t in targets)
    assert not any(qtype in ("SRV", "NAPTR") for (name, qtype) in server.queries if "plain" in name)


async def test_explicit_port_on_name_without_addresses_fails(server: ZoneServer) -> None:
    with pytest.raises(ResolutionError) as info:
        await resolve(make(server), "sip:bob@example.com:5099")
    assert info.value.reason is ResolutionReason.NO_RECORDS
    assert not any(qtype in ("SRV", "NAPTR") for _, qtype in server.queries)


async def test_explicit_transport_queries_that_srv(server: ZoneServer) -> None:
    targets = await resolve(make(server), "sip:example.com;transport=tcp")
    assert triples(targets) == [("tcp", "192.0.2.10", 5060), ("tcp", "2001:db8::10", 5060)]
    assert ("example.com", "NAPTR") not in server.queries
    assert server.queries[("_sip._tcp.example.com", "SRV")] == 1
    tls = await resolve(make(server), "sip:example.com;transport=tls")
    assert triples(tls)[0] == ("tls", "192.0.2.10", 5061)
    assert tls[0].server_name == "example.com"  # RFC 5922: the URI domain, not the SRV target
    assert tls[0].hostname == "proxy1.example.com"
    assert tls[0].as_target() == Target("tls", "192.0.2.10", 5061, "example.com")


async def test_explicit_transport_without_srv_falls_back_to_default_port(
    server: ZoneServer,
) -> None:
    targets = await resolve(make(server), "sip:plain.example.com;transport=tcp")
    assert triples(targets) == [("tcp", "192.0.2.40", 5060), ("tcp", "2001:db8::40", 5060)]
    targets = await resolve(make(server), "sips:plain.example.com;transport=tcp")
    assert triples(targets)[0] == ("tls", "192.0.2.40", 5061)


async def test_websocket_is_not_dns_discovered(server: ZoneServer) -> None:
    targets = await resolve(make(server), "sip:example.com")
    assert all(t.transport in ("udp", "tcp", "tls") for t in targets)  # SIP+D2W skipped
    assert ("_sip._ws.example.com", "SRV") not in server.queries
    ws = make(server, transports=("udp", "ws", "wss"))
    targets = await resolve(ws, "sip:plain.example.com;transport=ws")
    assert triples(targets)[0] == ("ws", "192.0.2.40", 80)
    targets = await resolve(ws, "sips:plain.example.com:8443;transport=ws")
    assert triples(targets)[0] == ("wss", "192.0.2.40", 8443)
    assert targets[0].server_name == "plain.example.com"
    assert not any(qtype == "SRV" for name, qtype in server.queries if "plain" in name)


# ---- NAPTR → SRV → A/AAAA -----------------------------------------------------------------


async def test_full_naptr_chain(server: ZoneServer) -> None:
    targets = await resolve(make(server), "sip:alice@example.com")
    assert [t.transport for t in targets][:2] == ["tls", "tls"]  # order 10
    assert all(t.source is TargetSource.NAPTR for t in targets)
    transports = [t.transport for t in targets]
    assert transports == sorted(transports, key=["tls", "tcp", "udp"].index)
    udp = [t for t in targets if t.transport == "udp"]
    assert {t.host_ip for t in udp[:3]} == {"192.0.2.10", "2001:db8::10", "192.0.2.20"}
    assert triples(udp[-1:]) == [("udp", "192.0.2.30", 5070)]  # priority 20, through a CNAME
    assert udp[-1].hostname == "backup.example.com"
    assert (udp[-1].priority, udp[-1].naptr_order) == (20, 30)
    # IPv4 before IPv6 for the same host by default
    tls_ips = [t.host_ip for t in targets if t.transport == "tls"]
    assert tls_ips == ["192.0.2.10", "2001:db8::10"]
    assert ("_sip._ws.example.com", "SRV") not in server.queries
    assert ("_sip._sctp.example.com", "SRV") not in server.queries
    again = await resolve(make(server), "sip:alice@example.com")  # fresh cache, same seed
    assert again == targets


async def test_transport_preference_restricts_naptr(server: ZoneServer) -> None:
    targets = await resolve(make(server, transports=("udp",)), "sip:example.com")
    assert {t.transport for t in targets} == {"udp"}
    assert ("_sips._tcp.example.com", "SRV") not in server.queries


async def test_sips_restricts_naptr_to_tls(server: ZoneServer) -> None:
    targets = await resolve(make(server), "sips:bob@secure.example.com")
    assert triples(targets) == [("tls", "192.0.2.61", 5061)]
    assert targets[0].server_name == "secure.example.com"
    assert ("_sip._udp.secure.example.com", "SRV") not in server.queries
    sip = await resolve(make(server), "sip:bob@secure.example.com")
    assert triples(sip) == [("udp", "192.0.2.20", 5060), ("tls", "192.0.2.61", 5061)]


async def test_no_naptr_falls_back_to_srv(server: ZoneServer) -> None:
    targets = await resolve(make(server), "sip:srvonly.example.com")
    assert triples(targets) == [("udp", "192.0.2.20", 5080), ("tcp", "192.0.2.20", 5081)]
    assert all(t.source is TargetSource.SRV for t in targets)
    assert server.queries[("_sips._tcp.srvonly.example.com", "SRV")] == 1
    tcp_first = make(server, transports=("tcp", "udp"))
    targets = await resolve(tcp_first, "sip:srvonly.example.com")
    assert [t.transport for t in targets] == ["tcp", "udp"]


async def test_no_srv_falls_back_to_addresses(server: ZoneServer) -> None:
    targets = await resolve(make(server), "sip:plain.example.com")
    assert triples(targets) == [("udp", "192.0.2.40", 5060), ("udp", "2001:db8::40", 5060)]
    assert targets[0].source is TargetSource.ADDRESS
    targets = await resolve(make(server), "sips:plain.example.com")
    assert triples(targets) == [("tls", "192.0.2.40", 5061), ("tls", "2001:db8::40", 5061)]
    targets = await resolve(make(server), "sip:alias.example.com")  # CNAME → plain
    assert triples(targets)[0] == ("udp", "192.0.2.40", 5060)
    tcp_only = await resolve(make(server, transports=("tcp",)), "sip:plain.example.com")
    assert triples(tcp_only)[0] == ("tcp", "192.0.2.40", 5060)


async def test_srv_root_target_means_no_service(server: ZoneServer) -> None:
    with pytest.raises(ResolutionError) as info:
        await resolve(make(server), "sip:closed.example.com;transport=tcp")
    assert info.value.reason is ResolutionReason.NO_RECORDS
    assert ("closed.example.com", "A") not in server.queries  # no A fallback after SRV "."


async def test_aaaa_and_address_order(server: ZoneServer) -> None:
    targets = await resolve(make(server), "sip:v6only.example.com")
    assert triples(targets) == [("udp", "2001:db8::66", 5060)]
    v6 = await resolve(make(server, address_order=AddressOrder.IPV6_FIRST), "sip:plain.example.com")
    assert [t.host_ip for t in v6] == ["2001:db8::40", "192.0.2.40"]
    v4 = await resolve(make(server, address_order=AddressOrder.IPV4_ONLY), "sip:plain.example.com")
    assert [t.host_ip for t in v4] == ["192.0.2.40"]
    with pytest.raises(ResolutionError) as info:
        await resolve(make(server, address_order=AddressOrder.IPV4_ONLY), "sip:v6only.example.com")
    assert info.value.reason is ResolutionReason.NO_RECORDS


# ---- SRV weights --------------------------------------------------------------------------


async def test_weighted_srv_order_is_reproducible_and_weighted(server: ZoneServer) -> None:
    first = [t.host_ip for t in await resolve(make(server), "sip:weighted.example.com")]
    again = [t.host_ip for t in await resolve(make(server), "sip:weighted.example.com")]
    assert first == again  # same seed, same order
    assert first[-1] == "192.0.2.104"  # priority 2 always last
    assert set(first[:3]) == {"192.0.2.101", "192.0.2.102", "192.0.2.103"}
    resolver = make(server, rng=random.Random(1))
    leaders: Counter[str] = Counter()
    for _ in range(300):
        leaders[(await resolve(resolver, "sip:weighted.example.com"))[0].host_ip] += 1
    # weights 10/30/60: the heaviest record leads most often, the lightest least
    assert leaders["192.0.2.103"] > leaders["192.0.2.102"] > leaders["192.0.2.101"] > 0
    assert server.queries[("_sip._udp.weighted.example.com", "SRV")] == 3  # cached after that


def test_order_srv_rfc2782_zero_weight_first_on_zero_draw() -> None:
    class ZeroDraw(random.Random):
        def randint(self, a: int, b: int) -> int:
            return a

    records = [SrvRecord(0, 5, 1, "a"), SrvRecord(0, 0, 2, "b"), SrvRecord(0, 0, 3, "c")]
    assert [r.target for r in order_srv(records, ZeroDraw())] == ["b", "c", "a"]


srv_records = st.lists(
    st.builds(
        SrvRecord,
        priority=st.integers(0, 5),
        weight=st.integers(0, 100) | st.just(0),
        port=st.integers(1, 65535),
        target=st.sampled_from(["a", "b", "c", "d"]),
    ),
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(records=srv_records, seed=st.integers(0, 2**32 - 1))
def test_order_srv_respects_priority(records: list[SrvRecord], seed: int) -> None:
    ordered = order_srv(records, random.Random(seed))
    assert sorted(map(repr, ordered)) == sorted(map(repr, records))  # a permutation
    priorities = [r.priority for r in ordered]
    assert priorities == sorted(priorities)
    # the answer order (servers shuffle) does not change the outcome for a given seed
    assert order_srv(reversed(records), random.Random(seed)) == ordered


# ---- errors -------------------------------------------------------------------------------


async def test_nxdomain(server: ZoneServer) -> None:
    resolver = make(server)
    with pytest.raises(ResolutionError) as info:
        await resolve(resolver, "sip:nope.example.com")
    assert info.value.reason is ResolutionReason.NXDOMAIN
    assert not any("_sip" in name for name, _ in server.queries)  # NXDOMAIN stops at NAPTR
    with pytest.raises(ResolutionError) as info:
        await resolve(resolver, "sip:nope.example.com:5060")
    assert info.value.reason is ResolutionReason.NXDOMAIN


async def test_servfail(server: ZoneServer) -> None:
    server.servfail.add("broken.example.com")
    with pytest.raises(ResolutionError) as info:
        await resolve(make(server), "sip:broken.example.com:5060")
    assert info.value.reason is ResolutionReason.SERVFAIL


async def test_timeout_when_server_is_silent(server: ZoneServer) -> None:
    server.drop.add("slow.example.com")
    resolver = make(server, timeout=0.2)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(ResolutionError) as info:
        await resolve(resolver, "sip:slow.example.com:5060")
    assert info.value.reason is ResolutionReason.TIMEOUT
    assert loop.time() - started < 2.0  # bounded by the budget, not dnspython's defaults


# ---- cache --------------------------------------------------------------------------------


async def test_cache_hit_and_ttl_expiry(server: ZoneServer, clock: FakeClock) -> None:
    resolver = make(server, clock)
    await resolve(resolver, "sip:short.example.com:5060")
    await resolve(resolver, "sip:short.example.com:5060")
    assert server.queries[("short.example.com", "A")] == 1
    clock.t += 29
    await resolve(resolver, "sip:short.example.com:5060")
    assert server.queries[("short.example.com", "A")] == 1
    clock.t += 2  # past the 30 s TTL
    await resolve(resolver, "sip:short.example.com:5060")
    assert server.queries[("short.example.com", "A")] == 2


async def test_full_chain_is_cached(server: ZoneServer, clock: FakeClock) -> None:
    resolver = make(server, clock)
    first = await resolve(resolver, "sip:example.com")
    before = sum(server.queries.values())
    second = await resolve(resolver, "sip:example.com")
    assert sum(server.queries.values()) == before
    assert {t.host_ip for t in first} == {t.host_ip for t in second}


async def test_negative_answers_are_cached_by_soa(server: ZoneServer, clock: FakeClock) -> None:
    resolver = make(server, clock)
    for _ in range(2):
        with pytest.raises(ResolutionError):
            await resolve(resolver, "sip:nope.example.com:5060")
    assert server.queries[("nope.example.com", "A")] == 1
    clock.t += 61  # SOA minimum is 60 s (RFC 2308 §5)
    with pytest.raises(ResolutionError):
        await resolve(resolver, "sip:nope.example.com:5060")
    assert server.queries[("nope.example.com", "A")] == 2


async def test_cache_is_bounded(server: ZoneServer) -> None:
    resolver = make(server, cache_size=3)
    for host in ("w1", "w2", "w3", "w4", "plain"):
        await resolve(resolver, f"sip:{host}.example.com:5060")
    assert resolver.cache_entries == 3
    resolver.clear_cache()
    assert resolver.cache_entries == 0


# ---- nothing escapes but ResolutionError ----------------------------------------------------

_FAILURES: list[type[BaseException] | None] = [
    None,
    dns.resolver.NoNameservers,
    dns.resolver.LifetimeTimeout,
    dns.exception.Timeout,
    dns.resolver.YXDOMAIN,
    dns.exception.FormError,
    OSError,
    RuntimeError,
    ValueError,
]


class ScriptedResolver(dns.asyncresolver.Resolver):
    """Fails each query with a drawn exception (None = the real answer from the zone)."""

    def __init__(self, draws: list[int], nameserver: tuple[str, int]) -> None:
        super().__init__(configure=False)
        self.nameservers = [dns.nameserver.Do53Nameserver(*nameserver)]
        self.draws = draws

    async def resolve(self, *args: Any, **kwargs: Any) -> dns.resolver.Answer:
        failure = _FAILURES[self.draws.pop() % len(_FAILURES)] if self.draws else None
        if failure is not None:
            raise failure()
        return await super().resolve(*args, **kwargs)


hosts = st.sampled_from(
    [
        "example.com",
        "secure.example.com",
        "srvonly.example.com",
        "plain.example.com",
        "nope.example.com",
        "a" * 70 + ".example.com",
        "closed.example.com",
        "weighted.example.com",
    ]
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    host=hosts,
    scheme=st.sampled_from(["sip", "sips"]),
    suffix=st.sampled_from(["", ":5070", ";transport=tcp", ";transport=udp", ";transport=ws"]),
    draws=st.lists(st.integers(0, 100), max_size=12),
)
async def test_only_resolution_errors_escape(
    server: ZoneServer, host: str, scheme: str, suffix: str, draws: list[int]
) -> None:
    resolver = SipResolver(
        resolver=ScriptedResolver(draws, ("127.0.0.1", server.port)),
        now=FakeClock(),
        rng=random.Random(0),
        cache_size=0,
    )
    try:
        targets = await resolve(resolver, f"{scheme}:{host}{suffix}")
    except ResolutionError as exc:
        assert isinstance(exc.reason, ResolutionReason)
    else:
        assert targets
        assert len(set(triples(targets))) == len(targets)
