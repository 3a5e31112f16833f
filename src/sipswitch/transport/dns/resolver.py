"""Locating SIP servers (RFC 3263 §4): SIP/SIPS URI → ordered transport/IP/port targets.

Contract for callers: ``targets = await resolver.resolve(uri)`` returns a non-empty list in the
order to try. Send to ``targets[0]``; on a 503, a transaction timeout or a transport error move
to the next entry (RFC 3263 §4.3); the list is the whole failover plan, so no "next after
failure" call exists. Failure raises :class:`ResolutionError` (and nothing else) with a
:class:`ResolutionReason`. A resolution never takes longer than ``timeout`` seconds.

WebSocket (RFC 7118) is not discovered through DNS: RFC 7118 names NAPTR services
``SIP+D2W``/``SIPS+D2W`` but no SRV labels, and a WebSocket connection needs a ws(s) URI (host
and resource path) DNS does not give, so those NAPTR records are skipped. An explicit
``transport=ws``/``wss`` resolves A/AAAA only, default ports 80/443 (RFC 6455 §3).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import random
import time
from collections.abc import Callable, Iterable, Sequence

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

from sipswitch.sip.uri import SipUri
from sipswitch.transport.dns.targets import (
    DEFAULT_PORTS,
    KNOWN_TRANSPORTS,
    NAPTR_SERVICES,
    SRV_PREFIXES,
    AddressOrder,
    Lookup,
    ResolutionError,
    ResolutionReason,
    ResolutionRun,
    ResolvedTarget,
    SrvRecord,
    TargetSource,
    TtlCache,
    order_srv,
)

log = logging.getLogger(__name__)


class SipResolver:
    """Async RFC 3263 resolver with its own TTL cache (dnspython does the wire work).

    ``nameservers`` (``(ip, port)`` pairs or bare IPs) or a prepared ``resolver``; neither
    means the system configuration. ``transports`` lists the transports we can use, in the
    order to try them when SRV (not NAPTR) decides. ``rng`` drives SRV weight selection and
    ``now`` the cache clock; both are injectable for tests.
    """

    def __init__(
        self,
        *,
        nameservers: Sequence[tuple[str, int] | str] | None = None,
        resolver: dns.asyncresolver.Resolver | None = None,
        timeout: float = 5.0,
        transports: Sequence[str] = ("udp", "tcp", "tls"),
        address_order: AddressOrder = AddressOrder.IPV4_FIRST,
        now: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        cache_size: int = 1024,
        max_ttl: float = 86400.0,
        max_negative_ttl: float = 900.0,
    ) -> None:
        unknown = [t for t in transports if t not in KNOWN_TRANSPORTS]
        if unknown or not transports:
            raise ValueError(f"transports must be some of {sorted(KNOWN_TRANSPORTS)}: {unknown}")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        if resolver is None:
            resolver = dns.asyncresolver.Resolver(configure=nameservers is None)
            if nameservers is not None:
                resolver.nameservers = [
                    dns.nameserver.Do53Nameserver(*ns) if isinstance(ns, tuple) else ns
                    for ns in nameservers
                ]
        resolver.cache = None  # ours honours the injected clock and negative answers
        self._resolver = resolver
        self._timeout = timeout
        self._transports = tuple(dict.fromkeys(transports))
        self._address_order = address_order
        self._now = now
        self._rng = rng if rng is not None else random.Random()
        self._cache = TtlCache(cache_size)
        self._max_ttl = max_ttl
        self._max_negative_ttl = max_negative_ttl

    @property
    def cache_entries(self) -> int:
        return len(self._cache)

    def clear_cache(self) -> None:
        self._cache.clear()

    async def resolve(self, uri: SipUri) -> list[ResolvedTarget]:
        """RFC 3263 §4: the ordered failover list for ``uri`` (maddr, if present, is TARGET)."""
        secure = uri.scheme == "sips"
        target = uri.param("maddr") or uri.host
        transport = self._explicit_transport(uri, secure, target)
        ip = _ip_literal(target)
        if ip is not None:
            chosen = transport or ("tls" if secure else "udp")
            self._require(chosen, target)
            port = DEFAULT_PORTS[chosen] if uri.port is None else uri.port
            return [ResolvedTarget(chosen, ip, port, TargetSource.NUMERIC)]
        domain = target.rstrip(".").lower()
        if not domain:
            raise ResolutionError(target, ResolutionReason.BAD_NAME)
        server_name = None if _ip_literal(uri.host) is not None else uri.host.rstrip(".").lower()
        run = ResolutionRun(asyncio.get_running_loop().time() + self._timeout, secure, server_name)
        targets = await self._resolve_name(run, domain, uri.port, transport)
        if not targets:
            raise run.error(domain)
        return _dedupe(targets)

    # ---- RFC 3263 §4.1/§4.2 steps -------------------------------------------------------

    async def _resolve_name(
        self, run: ResolutionRun, domain: str, port: int | None, transport: str | None
    ) -> list[ResolvedTarget]:
        if port is not None or transport in ("ws", "wss"):
            # explicit port (or WebSocket): A/AAAA only, no SRV (§4.2)
            chosen = transport or ("tls" if run.secure else "udp")
            self._require(chosen, domain)
            port = DEFAULT_PORTS[chosen] if port is None else port
            return await self._addresses(run, domain, chosen, port)
        if transport is not None:
            # explicit transport: SRV for it, else A/AAAA on its default port (§4.2)
            self._require(transport, domain)
            found, targets = await self._srv(run, [_srv_spec(domain, transport)])
            if found:
                return targets
            return await self._addresses(run, domain, transport, DEFAULT_PORTS[transport])
        targets = await self._naptr(run, domain)
        if targets:
            return targets
        # §4.1: no (usable) NAPTR → SRV for each transport we support ("_sips" for TLS)
        candidates = [
            t for t in self._transports if t in SRV_PREFIXES and (t == "tls" or not run.secure)
        ]
        found, targets = await self._srv(run, [_srv_spec(domain, t) for t in candidates])
        if found:
            return targets
        # §4.1: no SRV → A/AAAA; UDP for sip (TCP if UDP is off), TLS over TCP for sips
        fallback = (
            "tls"
            if run.secure
            else next((t for t in self._transports if t in ("udp", "tcp")), "udp")
        )
        self._require(fallback, domain)
        return await self._addresses(run, domain, fallback, DEFAULT_PORTS[fallback])

    async def _naptr(self, run: ResolutionRun, domain: str) -> list[ResolvedTarget]:
        """§4.1 NAPTR: supported ``s``-flag services by order then preference, each → SRV.

        Every usable record is followed (not only the most preferred), so the failover list
        reaches the server's other transports too."""
        lookup = await self._query(run, domain, dns.rdatatype.NAPTR, note_missing=False)
        if lookup.failure is ResolutionReason.NXDOMAIN:
            run.note(domain, dns.rdatatype.NAPTR, ResolutionReason.NXDOMAIN)
            raise run.error(domain)  # nothing exists at or below the domain (RFC 8020)
        usable: list[tuple[int, int, str, str]] = []
        for record in lookup.records:
            if not isinstance(record, dns.rdtypes.IN.NAPTR.NAPTR):
                continue
            service = record.service.decode("ascii", "replace").upper()
            transport = NAPTR_SERVICES.get(service)
            if (
                transport is None
                or transport not in self._transports
                or (run.secure and transport != "tls")  # a SIPS URI needs TLS (§4.1)
                or record.flags.lower() != b"s"
                or record.regexp
                or record.replacement == dns.name.root
            ):
                continue
            usable.append((record.order, record.preference, transport, _text(record.replacement)))
        usable.sort()  # order, then preference (ties broken canonically: answers are shuffled)
        _, targets = await self._srv(run, [(name, t, (o, p)) for o, p, t, name in usable])
        return targets

    async def _srv(
        self, run: ResolutionRun, specs: Sequence[_SrvSpec]
    ) -> tuple[bool, list[ResolvedTarget]]:
        """SRV lookups (together), then A/AAAA of their targets (together): whether any SRV
        records exist, and the targets in spec order, each spec's records in RFC 2782 order.

        Weighted ordering runs after all lookups, in spec order, so a seeded rng gives the
        same answer whatever order the queries complete in."""
        lookups = await asyncio.gather(
            *(
                self._query(run, owner, dns.rdatatype.SRV, note_missing=False)
                for owner, _, _ in specs
            )
        )
        found = False
        plans: list[tuple[_SrvSpec, list[SrvRecord]]] = []
        for spec, lookup in zip(specs, lookups, strict=True):
            records = [
                SrvRecord(r.priority, r.weight, r.port, _text(r.target))
                for r in lookup.records
                if isinstance(r, dns.rdtypes.IN.SRV.SRV)
            ]
            if not records:
                continue
            found = True
            ordered = [r for r in order_srv(records, self._rng) if r.target]  # "." = no service
            if not ordered:
                run.note(spec[0], dns.rdatatype.SRV, ResolutionReason.NO_RECORDS)
            plans.append((spec, ordered))
        names = list(dict.fromkeys(r.target for _, ordered in plans for r in ordered))
        found_ips = await asyncio.gather(*(self._lookup_addresses(run, n) for n in names))
        addresses = dict(zip(names, found_ips, strict=True))
        targets = [
            ResolvedTarget(
                transport,
                ip,
                record.port,
                TargetSource.NAPTR if naptr else TargetSource.SRV,
                hostname=record.target,
                server_name=run.server_name if transport == "tls" else None,
                priority=record.priority,
                weight=record.weight,
                naptr_order=naptr[0] if naptr else None,
                naptr_preference=naptr[1] if naptr else None,
            )
            for (_, transport, naptr), ordered in plans
            for record in ordered
            for ip in addresses[record.target]
        ]
        return found, targets

    async def _addresses(
        self, run: ResolutionRun, domain: str, transport: str, port: int
    ) -> list[ResolvedTarget]:
        server_name = run.server_name if transport in ("tls", "wss") else None
        return [
            ResolvedTarget(transport, ip, port, TargetSource.ADDRESS, domain, server_name)
            for ip in await self._lookup_addresses(run, domain)
        ]

    async def _lookup_addresses(self, run: ResolutionRun, name: str) -> list[str]:
        """A and/or AAAA of ``name``, queried together, ordered by the address policy."""
        order = self._address_order
        rdtypes = {
            AddressOrder.IPV4_FIRST: (dns.rdatatype.A, dns.rdatatype.AAAA),
            AddressOrder.IPV6_FIRST: (dns.rdatatype.AAAA, dns.rdatatype.A),
            AddressOrder.IPV4_ONLY: (dns.rdatatype.A,),
            AddressOrder.IPV6_ONLY: (dns.rdatatype.AAAA,),
        }[order]
        lookups = await asyncio.gather(*(self._query(run, name, t) for t in rdtypes))
        return [
            r.address
            for lookup in lookups
            for r in lookup.records
            if isinstance(r, dns.rdtypes.IN.A.A | dns.rdtypes.IN.AAAA.AAAA)
        ]

    # ---- DNS queries and cache ----------------------------------------------------------

    async def _query(
        self,
        run: ResolutionRun,
        name: str,
        rdtype: dns.rdatatype.RdataType,
        *,
        note_missing: bool = True,
    ) -> Lookup:
        """One cached query; never raises (failures are noted on ``run``)."""
        key = (name, int(rdtype))
        lookup = self._cache.get(key, self._now())
        if lookup is None:
            lookup = await self._ask(name, rdtype, run.deadline)
        failure = lookup.failure
        if failure is not None and (note_missing or failure not in _MISSING):
            run.note(name, rdtype, failure)
        return lookup

    async def _ask(self, name: str, rdtype: dns.rdatatype.RdataType, deadline: float) -> Lookup:
        key = (name, int(rdtype))
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            return Lookup((), ResolutionReason.TIMEOUT)
        try:
            qname = dns.name.from_text(name)
        except dns.exception.DNSException:
            return Lookup((), ResolutionReason.BAD_NAME)
        try:
            async with asyncio.timeout(remaining):
                answer = await self._resolver.resolve(
                    qname, rdtype, raise_on_no_answer=False, lifetime=remaining, search=False
                )
        except dns.resolver.NXDOMAIN as exc:
            lookup = Lookup((), ResolutionReason.NXDOMAIN)
            self._store(key, lookup, _nxdomain_ttl(exc, qname), self._max_negative_ttl)
            return lookup
        except (TimeoutError, dns.exception.Timeout):
            return Lookup((), ResolutionReason.TIMEOUT)
        except (dns.exception.DNSException, OSError) as failed:
            log.debug("DNS %s %s failed: %s", dns.rdatatype.to_text(rdtype), name, failed)
            return Lookup((), ResolutionReason.SERVFAIL)
        except Exception:  # never let a resolver bug escape as anything but a failed lookup
            log.exception(
                "DNS %s %s: unexpected resolver error", dns.rdatatype.to_text(rdtype), name
            )
            return Lookup((), ResolutionReason.SERVFAIL)
        ttl = float(answer.chaining_result.minimum_ttl)
        if answer.rrset is None:
            lookup = Lookup((), ResolutionReason.NO_RECORDS)
            self._store(key, lookup, ttl, self._max_negative_ttl)
        else:
            lookup = Lookup(tuple(answer.rrset))
            self._store(key, lookup, ttl, self._max_ttl)
        return lookup

    def _store(self, key: tuple[str, int], lookup: Lookup, ttl: float, cap: float) -> None:
        self._cache.put(key, lookup, min(ttl, cap), self._now())

    # ---- helpers ------------------------------------------------------------------------

    def _explicit_transport(self, uri: SipUri, secure: bool, target: str) -> str | None:
        """The ``transport=`` parameter as one of ours; in a SIPS URI ``tcp`` means TLS."""
        value = uri.transport
        if value is None:
            return None
        if secure:
            mapped = {"tcp": "tls", "tls": "tls", "ws": "wss", "wss": "wss"}.get(value)
        else:
            mapped = value if value in KNOWN_TRANSPORTS else None
        if mapped is None:
            raise ResolutionError(target, ResolutionReason.UNSUPPORTED, f"transport={value}")
        return mapped

    def _require(self, transport: str, target: str) -> None:
        if transport not in self._transports:
            raise ResolutionError(target, ResolutionReason.UNSUPPORTED, transport)


_MISSING = frozenset({ResolutionReason.NXDOMAIN, ResolutionReason.NO_RECORDS})
#: an SRV owner name, its transport, and the (order, preference) of the NAPTR that named it
_SrvSpec = tuple[str, str, tuple[int, int] | None]


def _srv_spec(domain: str, transport: str) -> _SrvSpec:
    return (f"{SRV_PREFIXES[transport]}.{domain}", transport, None)


def _text(name: dns.name.Name) -> str:
    return "" if name == dns.name.root else name.to_text(omit_final_dot=True).lower()


def _ip_literal(host: str) -> str | None:
    """The canonical text of an IPv4 address or bracketed IPv6 reference, else None."""
    text = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return ipaddress.ip_address(text).compressed
    except ValueError:
        return None


def _nxdomain_ttl(exc: dns.resolver.NXDOMAIN, qname: dns.name.Name) -> float:
    """RFC 2308 §5 negative TTL from the SOA in the NXDOMAIN response."""
    try:
        response = exc.kwargs["responses"][qname]
        return float(response.resolve_chaining().minimum_ttl)
    except Exception:
        return 0.0


def _dedupe(targets: Iterable[ResolvedTarget]) -> list[ResolvedTarget]:
    seen: set[tuple[str, str, int]] = set()
    out: list[ResolvedTarget] = []
    for target in targets:
        key = (target.transport, target.host_ip, target.port)
        if key not in seen:
            seen.add(key)
            out.append(target)
    return out
