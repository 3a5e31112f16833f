"""The registrar's in-memory copy of SIP account auth data, so no REGISTER waits on storage.

Everything is loaded at start and brought up to date every :data:`RELOAD_INTERVAL` (passwords
changed with the CLI take effect then): a one-row stamp tells whether any account changed, and
only the changed ones are read again; a removed account makes the copy be read whole, a page at
a time, so the event loop never waits on a hundred thousand rows at once. An account not in the
copy is looked up once in storage and remembered, also when missing (for :data:`NEGATIVE_TTL`,
so guessing names costs no queries).
"""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from dataclasses import dataclass

from sipswitch.sip.digest import Algorithm
from sipswitch.storage import Scope, SipAccountRecord, Store

RELOAD_INTERVAL = 30.0
NEGATIVE_TTL = 10.0
MAX_NEGATIVE = 50_000
#: accounts read per query when the copy is read whole
PAGE = 2000
#: changes re-read before the last stamp's time: a transaction that committed late, or a clock
#: a little behind, is still seen (re-reading an unchanged account is harmless)
OVERLAP = dt.timedelta(seconds=60)
#: every this many reloads the copy is read whole anyway, bounding how long a change the stamp
#: missed (one committed late with an older time, nothing changed after it) can go unseen
FULL_EVERY = 20


@dataclass(frozen=True, slots=True)
class AccountAuth:
    """What the registrar needs of an account."""

    id: int
    owner_id: int
    username: str
    domain: str
    ha1_md5: str
    ha1_sha256: str
    usable: bool
    keepalive: bool
    in_dialplan: str | None = None
    out_dialplan: str | None = None
    #: REFER from this account's own (digest-authenticated) phone is carried out by the switch
    allow_refer: bool = False

    @property
    def aor(self) -> str:
        return f"{self.username}@{self.domain}"

    def ha1(self, algorithm: Algorithm) -> str | None:
        if algorithm.base is Algorithm.MD5:
            return self.ha1_md5
        if algorithm.base is Algorithm.SHA256:
            return self.ha1_sha256
        return None

    @classmethod
    def of(cls, record: SipAccountRecord) -> AccountAuth:
        return cls(
            record.id,
            record.owner_id,
            record.username,
            record.domain.lower(),
            record.ha1_md5,
            record.ha1_sha256,
            record.usable,
            record.nat_keepalive,
            record.in_dialplan,
            record.out_dialplan,
            record.allow_refer,
        )


class AccountDirectory:
    """``(user, domain)`` → :class:`AccountAuth`, with domain aliases resolved."""

    def __init__(self, store: Store, service_domain: str) -> None:
        self.store = store
        self.service_domain = service_domain.lower()
        self._accounts: dict[tuple[str, str], AccountAuth] = {}
        self._by_id: dict[int, AccountAuth] = {}
        self._aliases: dict[str, str] = {}
        self._missing: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._refer: dict[int, AccountAuth] = {}  # id → accounts with allow_refer
        self._stamp: tuple[int, dt.datetime | None, int] | None = None
        self._reloads = 0
        self.overlap = OVERLAP

    def __len__(self) -> int:
        return len(self._by_id)

    async def reload(self) -> int:
        """Bring the copy up to date; returns how many account rows were read."""
        aliases: dict[str, str] = {"local": self.service_domain}
        for domain in await self.store.domains.list(Scope.system()):
            aliases[domain.name.lower()] = domain.name.lower()
            for alias in domain.aliases:
                aliases[alias.lower()] = domain.name.lower()
        self._aliases = aliases
        stamp = await self.store.accounts.stamp(Scope.system())
        last, self._stamp = self._stamp, stamp
        self._reloads += 1
        if self._reloads % FULL_EVERY == 0:
            last = None
        if last == stamp:
            return 0
        self._missing.clear()
        read = 0
        if last is not None and last[1] is not None:  # what changed since, added ones included
            changed = await self._read(last[1] - self.overlap)
            for entry in changed:
                self._put(entry)
            read = len(changed)
            if len(self._by_id) == stamp[0]:
                return read
        # the first time, or some account was removed: read them all
        everything = await self._read(None)
        self._by_id = {entry.id: entry for entry in everything}
        self._accounts = {(entry.username, entry.domain): entry for entry in everything}
        self._refer = {entry.id: entry for entry in everything if entry.allow_refer}
        return read + len(everything)

    async def _read(self, changed_since: dt.datetime | None) -> list[AccountAuth]:
        """Every account (updated at or after ``changed_since``, when given), read
        :data:`PAGE` rows per query so the event loop runs between them."""
        found: list[AccountAuth] = []
        after = 0
        while page := await self.store.accounts.page(
            Scope.system(), after_id=after, changed_since=changed_since, limit=PAGE
        ):
            found.extend(AccountAuth.of(record) for record in page)
            after = page[-1].id
        return found

    def _put(self, entry: AccountAuth) -> None:
        """Add or replace one account (by id) in the copy."""
        old = self._by_id.get(entry.id)
        if old is not None and (old.username, old.domain) != (entry.username, entry.domain):
            self._accounts.pop((old.username, old.domain), None)
        self._by_id[entry.id] = entry
        self._accounts[(entry.username, entry.domain)] = entry
        if entry.allow_refer:
            self._refer[entry.id] = entry
        else:
            self._refer.pop(entry.id, None)

    def domain(self, host: str) -> str:
        """The canonical domain a To host stands for; our own addresses mean the service
        domain."""
        lhost = host.lower().strip("[]")
        found = self._aliases.get(lhost)
        if found is not None:
            return found
        if lhost == "localhost" or lhost.replace(".", "").isdigit() or ":" in lhost:
            return self.service_domain
        return lhost

    def get(self, user: str, host: str, now: float) -> AccountAuth | bool | None:
        """The account; None when known missing; False when not known either way (fetch it)."""
        key = (user, self.domain(host))
        found = self._accounts.get(key)
        if found is not None:
            return found
        since = self._missing.get(key)
        if since is not None and now - since < NEGATIVE_TTL:
            return None
        return False

    async def fetch(self, user: str, host: str, now: float) -> AccountAuth | None:
        domain = self.domain(host)
        record = await self.store.accounts.find(Scope.system(), user, domain)
        key = (user, domain)
        if record is None:
            self._missing[key] = now
            self._missing.move_to_end(key)
            while len(self._missing) > MAX_NEGATIVE:
                self._missing.popitem(last=False)
            return None
        entry = AccountAuth.of(record)
        self._put(entry)
        self._accounts[key] = entry
        return entry

    def allowing_refer(self) -> list[AccountAuth]:
        """The accounts whose own phones may transfer their calls (``allow_refer``)."""
        return list(self._refer.values())
