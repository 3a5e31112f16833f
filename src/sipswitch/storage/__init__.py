"""Persistent configuration: SQLAlchemy 2 models, owner-scoped repositories, Alembic migrations.

Every read, update and delete takes a :class:`Scope`; a customer scope sees only what that
customer owns, and someone else's object looks exactly like a missing one.
"""

from sipswitch.storage._base import ForbiddenError
from sipswitch.storage.accounts import UNSET, Unset
from sipswitch.storage.bindings import BanRecord, BindingRecord
from sipswitch.storage.credentials import DigestHashes, LoginHasher, digest_ha1, generate_password
from sipswitch.storage.dialplans import (
    MAX_VERSIONS,
    DialplanKind,
    DialplanRecord,
    DialplanVersionInfo,
)
from sipswitch.storage.domains import LOCAL_ALIAS
from sipswitch.storage.engine import create_engine, session_factory
from sipswitch.storage.errors import (
    ConflictError,
    InvalidValueError,
    NotFoundError,
    StorageError,
)
from sipswitch.storage.migrate import current_revision, head_revision, upgrade
from sipswitch.storage.records import (
    CustomerRecord,
    DomainRecord,
    ProviderRecord,
    RegistrationStatus,
    Scope,
    SipAccountRecord,
)
from sipswitch.storage.store import Store

__all__ = [
    "LOCAL_ALIAS",
    "MAX_VERSIONS",
    "UNSET",
    "BanRecord",
    "BindingRecord",
    "ConflictError",
    "CustomerRecord",
    "DialplanKind",
    "DialplanRecord",
    "DialplanVersionInfo",
    "DigestHashes",
    "DomainRecord",
    "ForbiddenError",
    "InvalidValueError",
    "LoginHasher",
    "NotFoundError",
    "ProviderRecord",
    "RegistrationStatus",
    "Scope",
    "SipAccountRecord",
    "StorageError",
    "Store",
    "Unset",
    "create_engine",
    "current_revision",
    "digest_ha1",
    "generate_password",
    "head_revision",
    "session_factory",
    "upgrade",
]
