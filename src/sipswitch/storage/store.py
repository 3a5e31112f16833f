"""The one store interface: every repository over one engine."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from sipswitch.storage.accounts import SipAccountRepository
from sipswitch.storage.bindings import BanRepository, BindingRepository
from sipswitch.storage.cdrs import CdrRepository
from sipswitch.storage.credentials import LoginHasher
from sipswitch.storage.customers import CustomerRepository
from sipswitch.storage.dialplans import DialplanRepository
from sipswitch.storage.domains import DomainRepository
from sipswitch.storage.engine import create_engine, session_factory
from sipswitch.storage.kv import KvRepository
from sipswitch.storage.providers import ProviderRepository


class Store:
    """Repositories sharing one engine. ``close()`` (or ``async with``) disposes the engine."""

    def __init__(self, engine: AsyncEngine, hasher: LoginHasher | None = None) -> None:
        self.engine = engine
        sessions = session_factory(engine)
        self.customers = CustomerRepository(sessions, hasher or LoginHasher())
        self.domains = DomainRepository(sessions)
        self.accounts = SipAccountRepository(sessions)
        self.providers = ProviderRepository(sessions)
        self.kv = KvRepository(sessions)
        self.bindings = BindingRepository(sessions)
        self.bans = BanRepository(sessions)
        self.cdrs = CdrRepository(sessions)
        self.dialplans = DialplanRepository(sessions)

    @classmethod
    def open(cls, url: str | URL, hasher: LoginHasher | None = None) -> Store:
        return cls(create_engine(url), hasher)

    async def close(self) -> None:
        await self.engine.dispose()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
