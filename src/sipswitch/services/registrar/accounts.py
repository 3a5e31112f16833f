"""The registrar's in-memory copy of SIP account auth data, so no REGISTER waits on storage.

Everything is loaded at start and reloaded every :data:`RELOAD_INTERVAL` (passwords changed with
the CLI take effect then); an account not in the copy is looked up once in storage and
remembered, also when missing (for :data:`NEGATIVE_TTL`, so guessing names costs no queries).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from sipswitch.sip.digest import Algorithm
from sipswitch.storage import Scope, SipAccountRecord, Store

RELOAD_INTERVAL = 30.0
NEGATIVE_TTL = 10.0
MAX_NEGATIVE = 50_000


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
        self._aliases: dict[str, str] = {}
        self._missing: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._refer: dict[int, AccountAuth] = {}  # id → accounts with allow_refer

    def __len__(self) -> int:
        return len(self._accounts)

    async def reload(self) -> None:
        aliases: dict[str, str] = {"local": self.service_domain}
        for domain in await self.store.domains.list(Scope.system()):
            aliases[domain.name.lower()] = domain.name.lower()
            for alias in domain.aliases:
                aliases[alias.lower()] = domain.name.lower()
        accounts = {}
        refer = {}
        for record in await self.store.accounts.list(Scope.system()):
            entry = AccountAuth.of(record)
            accounts[(entry.username, entry.domain)] = entry
            if entry.allow_refer:
                refer[entry.id] = entry
        self._aliases, self._accounts, self._refer = aliases, accounts, refer
        self._missing.clear()

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
        self._accounts[key] = entry
        self._accounts[(entry.username, entry.domain)] = entry
        if entry.allow_refer:
            self._refer[entry.id] = entry
        else:
            self._refer.pop(entry.id, None)
        return entry

    def allowing_refer(self) -> list[AccountAuth]:
        """The accounts whose own phones may transfer their calls (``allow_refer``)."""
        return list(self._refer.values())
