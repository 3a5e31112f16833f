"""Which hosts the switch answers for: the service domain, customer domains and aliases, and its
own addresses. Kept in memory and refreshed from storage, so SIP keeps flowing when the database
is away (the last good copy is used)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from sipswitch.storage import Scope, Store


class DomainDirectory:
    """An in-memory index of served domains; :meth:`refresh` reloads it from storage."""

    def __init__(self, service_domain: str, listen_hosts: Iterable[str] = ()) -> None:
        self.service_domain = service_domain.lower()
        self._names: frozenset[str] = frozenset({self.service_domain, "localhost"})
        hosts = {h.strip("[]") for h in listen_hosts}
        self._any_ip = bool(hosts & {"0.0.0.0", "::"})
        self._ips = frozenset(hosts)
        self._ip_seen: dict[str, bool] = {}  # host text -> is an IP literal (bounded)

    def is_local(self, host: str) -> bool:
        """Whether a Request-URI host is ours (a served name, or one of our addresses)."""
        lhost = host.lower()
        if lhost in self._names:
            return True
        bare = lhost.strip("[]")
        is_ip = self._ip_seen.get(bare)
        if is_ip is None:
            try:
                ipaddress.ip_address(bare)
            except ValueError:
                is_ip = False
            else:
                is_ip = True
            if len(self._ip_seen) >= 4096:
                self._ip_seen.clear()
            self._ip_seen[bare] = is_ip
        return is_ip and (self._any_ip or bare in self._ips)

    def canonical(self, host: str) -> str | None:
        """The served domain a host name stands for, or None (aliases resolve in storage)."""
        lhost = host.lower()
        return lhost if lhost in self._names else None

    async def refresh(self, store: Store) -> None:
        """Reload from storage; raises the storage error (the caller records the outage)."""
        names = {self.service_domain, "localhost"}
        for domain in await store.domains.list(Scope.system()):
            names.add(domain.name.lower())
            names.update(alias.lower() for alias in domain.aliases)
        self._names = frozenset(names)

    @property
    def names(self) -> frozenset[str]:
        return self._names
