"""Alembic environment: runs on the connection ``storage.migrate`` hands over, or, from the
``alembic`` command line, on an async engine built from ``sqlalchemy.url``."""

from __future__ import annotations

import asyncio
from typing import Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy.engine import Connection

from sipswitch.storage.engine import create_engine
from sipswitch.storage.models import Base, UtcDateTime

target_metadata = Base.metadata


def _render_item(kind: str, obj: object, autogen_context: AutogenContext) -> str | Literal[False]:
    """Write model-only types as plain SQLAlchemy types, so revisions never import models."""
    if kind == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _migrate(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER much
        compare_type=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _migrate_url(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_migrate)
    finally:
        await engine.dispose()


def _run() -> None:
    config = context.config
    connection = config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    if not url:
        raise RuntimeError("set sqlalchemy.url or run through sipswitch.storage.migrate")
    asyncio.run(_migrate_url(url))


_run()
