"""Alembic migrations, run programmatically (``sipswitch db upgrade`` and ``init``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL, Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from sipswitch.storage.engine import create_engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

_Work = Callable[[Connection, Config], None]


def alembic_config(url: str | URL | None = None) -> Config:
    """An Alembic config pointing at the packaged scripts (no alembic.ini needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("path_separator", "os")
    if url is not None:
        rendered = url.render_as_string(hide_password=False) if isinstance(url, URL) else url
        cfg.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


async def upgrade(target: str | URL | AsyncEngine, revision: str = "head") -> None:
    """Bring the schema up to ``revision`` (creating a SQLite file and its directory)."""
    await _run(target, lambda conn, cfg: command.upgrade(cfg, revision))


async def downgrade(target: str | URL | AsyncEngine, revision: str) -> None:
    await _run(target, lambda conn, cfg: command.downgrade(cfg, revision))


async def current_revision(target: str | URL | AsyncEngine) -> str | None:
    """The revision the database is at (None: empty, never migrated)."""
    result: list[str | None] = []

    def read(conn: Connection, _cfg: Config) -> None:
        result.append(MigrationContext.configure(conn).get_current_revision())

    await _run(target, read)
    return result[0]


async def _run(target: str | URL | AsyncEngine, work: _Work) -> None:
    engine = target if isinstance(target, AsyncEngine) else create_engine(target)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_with_config, work)
    finally:
        if engine is not target:
            await engine.dispose()


def _with_config(conn: Connection, work: _Work) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = conn
    work(conn, cfg)
