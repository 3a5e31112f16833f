"""Migrations run from an empty database to head (and back) on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from sipswitch.storage import create_engine, current_revision, head_revision, upgrade
from sipswitch.storage.migrate import downgrade
from sipswitch.storage.models import Base

TABLES = {"customers", "domains", "domain_aliases", "sip_accounts", "providers", "kv"}


def _diff(conn: Connection) -> list[object]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


def _tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())


async def _schema(url: str) -> tuple[set[str], list[object]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_tables), await conn.run_sync(_diff)
    finally:
        await engine.dispose()


async def test_empty_to_head_matches_models(db_url: str) -> None:
    assert await current_revision(db_url) is None
    await upgrade(db_url)
    assert await current_revision(db_url) == head_revision()
    tables, diff = await _schema(db_url)
    assert tables >= TABLES | {"alembic_version"}
    assert diff == [], "the models and the migrations disagree"


async def test_upgrade_is_idempotent_and_reversible(db_url: str) -> None:
    await upgrade(db_url)
    await upgrade(db_url)
    await downgrade(db_url, "base")
    assert await current_revision(db_url) is None
    tables, _ = await _schema(db_url)
    assert not tables & TABLES
    await upgrade(db_url)
    assert await current_revision(db_url) == head_revision()


async def test_sqlite_file_and_directory_are_created(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "var" / "sipswitch.db"
    await upgrade(f"sqlite+aiosqlite:///{path}")
    assert path.is_file()
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        async with engine.connect() as conn:
            mode = (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar()
            fks = (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar()
            busy = (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar()
    finally:
        await engine.dispose()
    assert (mode, fks) == ("wal", 1)
    assert busy == 5000


def test_migration_scripts_ship_inside_the_package() -> None:
    from sipswitch.storage.migrate import MIGRATIONS

    assert (MIGRATIONS / "env.py").is_file()
    assert (MIGRATIONS / "script.py.mako").is_file()
    assert any((MIGRATIONS / "versions").glob("0001_*.py"))
