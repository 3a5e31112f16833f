"""Storage fixtures: a migrated store on a SQLite file and, when one is available, on PostgreSQL.

PostgreSQL comes from ``SIPSWITCH_TEST_PG_URL``; when that is unset but ``CI`` or
``SIPSWITCH_TEST_PG=auto`` is set, ``scripts/pg-test-server.sh`` starts a throwaway server for
the session. Each test gets a fresh database on that server.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import pytest
from argon2 import PasswordHasher
from sqlalchemy.engine import make_url

from sipswitch.storage import LoginHasher, Scope, Store, upgrade

ROOT = Path(__file__).resolve().parents[2]
PG_SCRIPT = ROOT / "scripts" / "pg-test-server.sh"


def fast_hasher() -> LoginHasher:
    """Argon2 with the cheapest parameters: the tests check logic, not hardness."""
    return LoginHasher(PasswordHasher(time_cost=1, memory_cost=64, parallelism=1))


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str | None]:
    """The test PostgreSQL server's URL, or None when there is none to use."""
    given = os.environ.get("SIPSWITCH_TEST_PG_URL")
    if given:
        yield given
        return
    if not (os.environ.get("CI") or os.environ.get("SIPSWITCH_TEST_PG") == "auto"):
        yield None
        return
    started = subprocess.run(
        [str(PG_SCRIPT), "start"], capture_output=True, text=True, check=False, timeout=120
    )
    if started.returncode != 0:
        pytest.fail(f"could not start the test PostgreSQL server:\n{started.stderr}")
    url = started.stdout.strip().splitlines()[-1]
    state_dir = _state_dir(started.stderr)
    try:
        yield url
    finally:
        subprocess.run([str(PG_SCRIPT), "stop", state_dir], check=False, timeout=120)


def _state_dir(stderr: str) -> str:
    for line in stderr.splitlines():
        if line.startswith("pg-test-server: running in "):
            return line.removeprefix("pg-test-server: running in ").split(" ", 1)[0]
    raise AssertionError(f"no state directory reported: {stderr!r}")


def _asyncpg_dsn(url: str, database: str) -> str:
    parsed = make_url(url).set(drivername="postgresql", database=database)
    return parsed.render_as_string(hide_password=False)


@pytest.fixture
async def pg_url(pg_server_url: str | None) -> AsyncIterator[str]:
    """A fresh, empty database on the test server, dropped afterwards."""
    if pg_server_url is None:
        pytest.skip("no PostgreSQL: set SIPSWITCH_TEST_PG_URL (or SIPSWITCH_TEST_PG=auto)")
    name = f"sipswitch_t_{secrets.token_hex(6)}"
    admin_db = make_url(pg_server_url).database or "postgres"
    conn = await asyncpg.connect(_asyncpg_dsn(pg_server_url, admin_db))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield make_url(pg_server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        conn = await asyncpg.connect(_asyncpg_dsn(pg_server_url, admin_db))
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/var/sipswitch.db"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each backend (a SQLite file under tmp_path, or a fresh PG database)."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/var/sipswitch.db"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Store]:
    """A store on a database migrated to head."""
    await upgrade(db_url)
    async with Store.open(db_url, fast_hasher()) as opened:
        yield opened


ADMIN = Scope.system()
