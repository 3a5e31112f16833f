"""RFC 3263 resolution results and their ordering: targets, SRV weighting, the TTL cache."""

from __future__ import annotations

import enum
import random
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import dns.asyncresolver
import dns.exception
import dns.name
import dns.nameserver
import dns.rdata
import dns.rdatatype
import dns.rdtypes.IN.A
import dns.rdtypes.IN.AAAA
import dns.rdtypes.IN.NAPTR
import dns.rdtypes.IN.SRV
import dns.resolver

from sipswitch.transport.base import Target

#: RFC 3261 §19.1.2 / RFC 6455 §3 default ports
DEFAULT_PORTS = {"udp": 5060, "tcp": 5060, "tls": 5061, "ws": 80, "wss": 443}
#: RFC 3263 §4.1 NAPTR services we follow (SCTP and WebSocket ones are skipped)
NAPTR_SERVICES = {"SIP+D2U": "udp", "SIP+D2T": "tcp", "SIPS+D2T": "tls"}
#: RFC 3263 §4.2 SRV owner-name prefixes; TLS always uses ``_sips``
SRV_PREFIXES = {"udp": "_sip._udp", "tcp": "_sip._tcp", "tls": "_sips._tcp"}
KNOWN_TRANSPORTS = frozenset(DEFAULT_PORTS)


class ResolutionReason(enum.StrEnum):
    NXDOMAIN = "nxdomain"
    NO_RECORDS = "no records"
    TIMEOUT = "timeout"
    SERVFAIL = "servfail"
    BAD_NAME = "bad name"
    UNSUPPORTED = "unsupported transport"


#: which failure to report when several lookups failed differently (most telling first)
SEVERITY = (
    ResolutionReason.TIMEOUT,
    ResolutionReason.SERVFAIL,
    ResolutionReason.BAD_NAME,
    ResolutionReason.NXDOMAIN,
    ResolutionReason.NO_RECORDS,
)


class ResolutionError(Exception):
    """No target could be found for ``target``; ``reason`` says why."""

    def __init__(self, target: str, reason: ResolutionReason, detail: str = "") -> None:
        super().__init__(f"{target}: {reason}" + (f" ({detail})" if detail else ""))
        self.target = target
        self.reason = reason
        self.detail = detail


class AddressOrder(enum.StrEnum):
    """Which address families to use, and which first, for each host name."""

    IPV4_FIRST = "ipv4-first"
    IPV6_FIRST = "ipv6-first"
    IPV4_ONLY = "ipv4-only"
    IPV6_ONLY = "ipv6-only"


class TargetSource(enum.StrEnum):
    """Which RFC 3263 step produced a target."""

    NUMERIC = "numeric"  # IP literal in the URI, no DNS
    ADDRESS = "address"  # A/AAAA of the URI host
    SRV = "srv"  # SRV without NAPTR
    NAPTR = "naptr"  # NAPTR → SRV


@dataclass(frozen=True, slots=True)
class ResolvedTarget:
    """One place to send a request. ``hostname`` is the name whose A/AAAA gave ``host_ip``
    (None for an IP literal); ``server_name`` is the name a TLS/WSS certificate must match
    (RFC 5922 §4: the URI's domain, never the SRV target), None for plain transports or
    IP literals. ``priority``/``weight`` come from SRV, ``naptr_*`` from NAPTR (else 0/None).
    """

    transport: str
    host_ip: str
    port: int
    source: TargetSource
    hostname: str | None = None
    server_name: str | None = None
    priority: int = 0
    weight: int = 0
    naptr_order: int | None = None
    naptr_preference: int | None = None

    @property
    def address(self) -> tuple[str, int]:
        return (self.host_ip, self.port)

    def as_target(self) -> Target:
        """The transport layer's send target for this entry."""
        return Target(self.transport, self.host_ip, self.port, self.server_name)


@dataclass(frozen=True, slots=True)
class SrvRecord:
    priority: int
    weight: int
    port: int
    target: str  # lower case, no final dot; "" for the root ("service not available")


def order_srv(records: Iterable[SrvRecord], rng: random.Random) -> list[SrvRecord]:
    """RFC 2782 ordering: ascending priority, weighted random selection within a priority."""
    groups: dict[int, list[SrvRecord]] = {}
    for record in records:
        groups.setdefault(record.priority, []).append(record)
    ordered: list[SrvRecord] = []
    for priority in sorted(groups):
        # "any order, zero weights first": a canonical one, so a seeded rng reproduces the
        # result whatever order the DNS answer came in (servers shuffle rdata)
        pool = sorted(groups[priority], key=lambda r: (r.weight != 0, r.target, r.port, r.weight))
        while pool:
            ordered.append(pool.pop(_weighted_pick(pool, rng)))
    return ordered


def _weighted_pick(pool: Sequence[SrvRecord], rng: random.Random) -> int:
    draw = rng.randint(0, sum(r.weight for r in pool))
    running = 0
    for index, record in enumerate(pool):
        running += record.weight
        if running >= draw:
            return index
    return len(pool) - 1  # unreachable: the last running sum equals the total


@dataclass(frozen=True, slots=True)
class Lookup:
    records: tuple[dns.rdata.Rdata, ...]
    failure: ResolutionReason | None = None


class TtlCache:
    """(name, rdtype) → lookup, expiring by DNS TTL on the injected clock, LRU-bounded."""

    def __init__(self, max_entries: int) -> None:
        self._max = max_entries
        self._entries: OrderedDict[tuple[str, int], tuple[float, Lookup]] = OrderedDict()

    def get(self, key: tuple[str, int], now: float) -> Lookup | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= now:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry[1]

    def put(self, key: tuple[str, int], lookup: Lookup, ttl: float, now: float) -> None:
        if ttl <= 0 or self._max <= 0:
            return
        self._entries[key] = (now + ttl, lookup)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


class ResolutionRun:
    """One resolution: its deadline and the failures met on the way."""

    __slots__ = ("deadline", "details", "failures", "secure", "server_name")

    def __init__(self, deadline: float, secure: bool, server_name: str | None) -> None:
        self.deadline = deadline
        self.secure = secure
        self.server_name = server_name
        self.failures: set[ResolutionReason] = set()
        self.details: list[str] = []

    def note(self, name: str, rdtype: dns.rdatatype.RdataType, reason: ResolutionReason) -> None:
        self.failures.add(reason)
        self.details.append(f"{dns.rdatatype.to_text(rdtype)} {name}: {reason}")

    def error(self, target: str) -> ResolutionError:
        reason = next((r for r in SEVERITY if r in self.failures), ResolutionReason.NO_RECORDS)
        return ResolutionError(target, reason, "; ".join(self.details[-4:]))
