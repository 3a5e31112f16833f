"""Brute-force lockout, per-source REGISTER rate limit and scanner recognition.

Pure bookkeeping with time passed in (wall-clock epoch seconds, so bans persisted by
:mod:`sipswitch.services.security.service` mean the same after a restart). Defaults follow
Kamailio practice: 3 failed digests in 15 min → 30 min ban; 16 requests in 2 s → 5 min ban.
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict, deque
from dataclasses import dataclass, replace
from typing import Final

from sipswitch.config import SecuritySettings

#: tracked sources/accounts at most; the least recently seen are forgotten first
MAX_TRACKED = 100_000


class BanKind:
    SOURCE: Final = "source"
    ACCOUNT: Final = "account"


@dataclass(frozen=True, slots=True)
class Ban:
    """``key`` is ``source:<ip>`` or ``account:<user@domain>``."""

    key: str
    kind: str
    reason: str
    failures: int
    created_at: float
    until: float

    @property
    def subject(self) -> str:
        return self.key.partition(":")[2]

    def active(self, now: float) -> bool:
        return now < self.until


def source_key(ip: str) -> str:
    return f"source:{ip}"


def account_key(aor: str) -> str:
    return f"account:{aor}"


class _Window:
    """Recent event times per key in a sliding window, bounded in keys and entries."""

    def __init__(self, window: float, limit: int) -> None:
        self.window = window
        self.limit = limit
        self._seen: OrderedDict[str, deque[float]] = OrderedDict()

    def hit(self, key: str, now: float) -> int:
        """Record one event; the count within the window, this one included."""
        times = self._seen.pop(key, None)
        if times is None:
            times = deque(maxlen=self.limit + 1)
        while times and now - times[0] >= self.window:
            times.popleft()
        times.append(now)
        self._seen[key] = times
        while len(self._seen) > MAX_TRACKED:
            self._seen.popitem(last=False)
        return len(times)

    def count(self, key: str, now: float) -> int:
        times = self._seen.get(key)
        return 0 if times is None else sum(1 for t in times if now - t < self.window)

    def reset(self, key: str) -> None:
        self._seen.pop(key, None)

    def prune(self, now: float) -> None:
        for key in [k for k, t in self._seen.items() if not t or now - t[-1] >= self.window]:
            del self._seen[key]

    def __len__(self) -> int:
        return len(self._seen)


class SecurityGuard:
    """Counts failures and requests, decides bans. Exempt addresses are never counted or banned."""

    def __init__(self, settings: SecuritySettings) -> None:
        self.settings = settings
        self._exempt = tuple(ipaddress.ip_network(n, strict=False) for n in settings.exempt)
        self._scanners = tuple(s.lower() for s in settings.scanner_user_agents if s)
        self._failures = _Window(settings.auth_failure_window, settings.auth_failures)
        self._requests = _Window(settings.flood_window, settings.flood_requests)
        self._bans: dict[str, Ban] = {}
        self._scanner_answered: dict[str, float] = {}
        self._exempt_seen: dict[str, bool] = {}  # source IP -> is_exempt (bounded)
        #: bans made or lifted here and not yet written (the service drains it)
        self.dirty: dict[str, Ban | None] = {}

    # -- who is who ---------------------------------------------------------------------------
    def is_exempt(self, ip: str) -> bool:
        if not self._exempt:
            return False
        known = self._exempt_seen.get(ip)
        if known is not None:
            return known
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        exempt = any(address in net for net in self._exempt)
        if len(self._exempt_seen) >= MAX_TRACKED:
            self._exempt_seen.clear()
        self._exempt_seen[ip] = exempt
        return exempt

    def is_scanner(self, user_agent: str | None) -> bool:
        if not user_agent or not self._scanners:
            return False
        lowered = user_agent.lower()
        return any(word in lowered for word in self._scanners)

    def answer_scanner(self, ip: str, now: float) -> bool:
        """Whether a scanner at ``ip`` gets an answer now (once per ban period, in ``reject``)."""
        last = self._scanner_answered.get(ip)
        if last is not None and now - last < max(self.settings.flood_ban, 1):
            return False
        if len(self._scanner_answered) >= MAX_TRACKED:
            self._scanner_answered.clear()
        self._scanner_answered[ip] = now
        return True

    # -- bans ---------------------------------------------------------------------------------
    def ban_for(self, key: str, now: float) -> Ban | None:
        ban = self._bans.get(key)
        if ban is None:
            return None
        if not ban.active(now):
            del self._bans[key]
            self.dirty[key] = None
            return None
        return ban

    def source_ban(self, ip: str, now: float) -> Ban | None:
        return None if self.is_exempt(ip) else self.ban_for(source_key(ip), now)

    def account_ban(self, aor: str, now: float) -> Ban | None:
        return self.ban_for(account_key(aor), now)

    def bans(self, now: float) -> list[Ban]:
        return [b for b in list(self._bans.values()) if self.ban_for(b.key, now) is not None]

    def lift(self, key: str) -> bool:
        """Lift a ban (and forget the failures behind it); True if there was one."""
        self._failures.reset(key)
        self._requests.reset(key)
        found = self._bans.pop(key, None)
        if found is not None:
            self.dirty[key] = None
        return found is not None

    def adopt(self, ban: Ban) -> None:
        """Take a ban read from storage (at start, or made by another node)."""
        self._bans[ban.key] = ban

    def forget(self, key: str) -> None:
        """A persisted ban was deleted elsewhere (``sipswitch security unban``)."""
        self._bans.pop(key, None)
        self._failures.reset(key)
        self._requests.reset(key)

    def _ban(
        self, key: str, kind: str, reason: str, *, count: int, seconds: int, now: float
    ) -> Ban:
        ban = Ban(key, kind, reason, count, now, now + seconds)
        self._bans[key] = ban
        self.dirty[key] = ban
        return ban

    # -- counting -----------------------------------------------------------------------------
    def auth_failed(self, ip: str, aor: str | None, now: float) -> list[Ban]:
        """One failed digest from ``ip`` for ``aor``; the bans this causes (RFC 3261 §22 advice:
        limit guessing). An account is banned after twice the per-source allowance, so one
        attacker alone locks out its own address first."""
        made: list[Ban] = []
        if self.is_exempt(ip):
            return made
        s = self.settings
        key = source_key(ip)
        count = self._failures.hit(key, now)
        if count >= s.auth_failures and s.auth_ban > 0:
            made.append(
                self._ban(
                    key, BanKind.SOURCE, "failed digest", count=count, seconds=s.auth_ban, now=now
                )
            )
            self._failures.reset(key)
        if aor is not None:
            akey = account_key(aor)
            count = self._failures.hit(akey, now)
            if count >= 2 * s.auth_failures and s.auth_ban > 0:
                made.append(
                    self._ban(
                        akey,
                        BanKind.ACCOUNT,
                        "failed digest",
                        count=count,
                        seconds=s.auth_ban,
                        now=now,
                    )
                )
                self._failures.reset(akey)
        return made

    def auth_succeeded(self, ip: str) -> None:
        self._failures.reset(source_key(ip))

    def failures(self, key: str, now: float) -> int:
        return self._failures.count(key, now)

    def request(self, ip: str, now: float) -> Ban | None:
        """Count one rate-limited request (REGISTER) from ``ip``; a new flood ban, if any."""
        if self.is_exempt(ip):
            return None
        s = self.settings
        key = source_key(ip)
        count = self._requests.hit(key, now)
        if count > s.flood_requests and s.flood_ban > 0:
            self._requests.reset(key)
            return self._ban(
                key, BanKind.SOURCE, "request flood", count=count, seconds=s.flood_ban, now=now
            )
        return None

    def prune(self, now: float) -> None:
        self._failures.prune(now)
        self._requests.prune(now)
        for ip in [
            ip for ip, t in self._scanner_answered.items() if now - t >= self.settings.flood_ban
        ]:
            del self._scanner_answered[ip]
        for ban in list(self._bans.values()):
            self.ban_for(ban.key, now)

    def extend(self, ban: Ban, until: float) -> Ban:
        longer = replace(ban, until=until)
        self._bans[ban.key] = longer
        self.dirty[ban.key] = longer
        return longer
