"""Dialplan repository: CRUD, versions and rollback, pruning, limits, tenancy (SQLite and PG)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest

from sipswitch.storage import (
    MAX_VERSIONS,
    ConflictError,
    DialplanKind,
    InvalidValueError,
    NotFoundError,
    Scope,
    Store,
)
from tests.storage.conftest import ADMIN

SCRIPT = 'sys.dial("${dst}@local")\n'
RULES = '[{"direction": "out", "pattern": "_X.", "command": {"type": "dial", "dial_string": "x"}}]'
MISSING = 987654


@dataclass(frozen=True)
class Owners:
    a: int
    b: int

    @property
    def as_a(self) -> Scope:
        return Scope.customer(self.a)

    @property
    def as_b(self) -> Scope:
        return Scope.customer(self.b)


@pytest.fixture
async def owners(store: Store) -> Owners:
    a = (await store.customers.create(ADMIN, "alice", "alice-password")).id
    b = (await store.customers.create(ADMIN, "bob", "bob-password")).id
    return Owners(a, b)


async def test_create_get_list_delete(store: Store, owners: Owners) -> None:
    made = await store.dialplans.create(owners.as_a, None, "out", "script", SCRIPT, author="me")
    assert (made.owner_id, made.name, made.kind, made.version) == (owners.a, "out", "script", 1)
    assert made.kind is DialplanKind.SCRIPT and made.is_current and made.author == "me"
    got = await store.dialplans.get(owners.as_a, owners.a, "out")
    assert got == made
    assert await store.dialplans.get(owners.as_a, None, "out") == made
    assert await store.dialplans.get_by_id(owners.as_a, made.id) == made
    await store.dialplans.create(ADMIN, owners.a, "in", DialplanKind.RULES, RULES)
    await store.dialplans.create(ADMIN, owners.a, "transfer", "script", SCRIPT)
    await store.dialplans.create(ADMIN, owners.b, "webcallback", "script", SCRIPT)
    names = [d.name for d in await store.dialplans.list(owners.as_a)]
    assert names == ["in", "out", "transfer"]
    assert len(await store.dialplans.list(ADMIN)) == 4
    assert [d.name for d in await store.dialplans.list(ADMIN, owner_id=owners.b)] == ["webcallback"]
    await store.dialplans.delete(owners.as_a, "out")
    assert await store.dialplans.get(owners.as_a, None, "out") is None
    await store.dialplans.delete(ADMIN, made.id + 1)  # "in", by id
    assert [d.name for d in await store.dialplans.list(owners.as_a)] == ["transfer"]


async def test_names_are_unique_per_owner(store: Store, owners: Owners) -> None:
    await store.dialplans.create(owners.as_a, None, "out", "script", SCRIPT)
    with pytest.raises(ConflictError, match="'out' exists"):
        await store.dialplans.create(owners.as_a, None, "out", "rules", RULES)
    await store.dialplans.create(owners.as_b, None, "out", "script", SCRIPT)


@pytest.mark.parametrize(
    ("given", "field"),
    [
        (("bad name", "script", SCRIPT), "name"),
        (("x" * 65, "script", SCRIPT), "name"),
        (("ok", "lua", SCRIPT), "kind"),
        (("ok", "script", "a\x00b"), "source"),
        (("ok", "script", "#" * (64 * 1024 + 1)), "source"),
        (("ok", "rules", "[" + " " * (256 * 1024) + "]"), "source"),
    ],
)
async def test_refused_values(
    store: Store, owners: Owners, given: tuple[str, str, str], field: str
) -> None:
    name, kind, source = given
    with pytest.raises(InvalidValueError) as caught:
        await store.dialplans.create(owners.as_a, None, name, kind, source)
    assert caught.value.field == field
    assert await store.dialplans.list(ADMIN) == []


async def test_rules_may_be_larger_than_scripts(store: Store, owners: Owners) -> None:
    big = "[" + " " * (100 * 1024) + "]"
    made = await store.dialplans.create(owners.as_a, None, "big", "rules", big)
    assert made.source == big


async def test_unicode_source_round_trips(store: Store, owners: Owners) -> None:
    text = 'sys.log("Grüße, 你好 ☎")\n'
    await store.dialplans.create(owners.as_a, None, "u", "script", text)
    got = await store.dialplans.get(owners.as_a, None, "u")
    assert got is not None and got.source == text
    [info] = await store.dialplans.history(owners.as_a, "u")
    assert info.size == len(text.encode())


async def test_versions_history_and_rollback(store: Store, owners: Owners) -> None:
    scope = owners.as_a
    made = await store.dialplans.create(scope, None, "out", "script", "v = 1\n")
    second = await store.dialplans.update(scope, "out", "v = 2\n", author="alice")
    assert (second.version, second.current_version, second.source) == (2, 2, "v = 2\n")
    assert second.updated_at >= made.updated_at and second.created_at == made.created_at
    third = await store.dialplans.update(scope, made.id, "v = 3\n")
    assert third.version == 3
    same = await store.dialplans.update(scope, "out", "v = 3\n")
    assert same.version == 3, "saving the same text adds no version"

    old = await store.dialplans.version(scope, "out", 1)
    assert (old.source, old.version, old.current_version) == ("v = 1\n", 1, 3)
    assert not old.is_current
    history = await store.dialplans.history(scope, "out")
    assert [(h.version, h.current, h.size) for h in history] == [
        (3, True, 6),
        (2, False, 6),
        (1, False, 6),
    ]
    assert history[1].author == "alice"

    back = await store.dialplans.rollback(scope, "out", 1, author="ops")
    assert (back.version, back.source, back.author) == (4, "v = 1\n", "ops")
    current = await store.dialplans.get(scope, None, "out")
    assert current is not None and current.source == "v = 1\n" and current.version == 4
    assert [h.version for h in await store.dialplans.history(scope, "out")] == [4, 3, 2, 1]
    with pytest.raises(NotFoundError, match="no version 9"):
        await store.dialplans.rollback(scope, "out", 9)
    with pytest.raises(NotFoundError, match="no version 0"):
        await store.dialplans.version(scope, "out", 0)


async def test_update_checks_the_size_of_the_kind(store: Store, owners: Owners) -> None:
    await store.dialplans.create(owners.as_a, None, "out", "script", SCRIPT)
    with pytest.raises(InvalidValueError):
        await store.dialplans.update(owners.as_a, "out", "#" * (64 * 1024 + 1))
    current = await store.dialplans.get(owners.as_a, None, "out")
    assert current is not None and current.version == 1


async def test_oldest_versions_are_pruned(store: Store, owners: Owners) -> None:
    scope = owners.as_a
    await store.dialplans.create(scope, None, "out", "script", "n = 1\n")
    total = MAX_VERSIONS + 5
    for n in range(2, total + 1):
        await store.dialplans.update(scope, "out", f"n = {n}\n")
    history = await store.dialplans.history(scope, "out")
    assert len(history) == MAX_VERSIONS
    assert history[0].version == total and history[-1].version == total - MAX_VERSIONS + 1
    with pytest.raises(NotFoundError):
        await store.dialplans.version(scope, "out", 5)
    back = await store.dialplans.rollback(scope, "out", total - 10)
    assert back.version == total + 1 and back.source == f"n = {total - 10}\n"


async def test_concurrent_updates_each_get_a_version(store: Store, owners: Owners) -> None:
    await store.dialplans.create(owners.as_a, None, "out", "script", "n = 0\n")
    results = await asyncio.gather(
        *(store.dialplans.update(owners.as_a, "out", f"n = {i}\n") for i in range(1, 6)),
        return_exceptions=True,
    )
    saved = [r for r in results if not isinstance(r, BaseException)]
    # PostgreSQL serialises them on the row lock; SQLite may refuse some as busy.
    assert saved
    versions = sorted(r.version for r in saved)
    assert len(set(versions)) == len(versions)
    history = await store.dialplans.history(owners.as_a, "out")
    assert [h.version for h in history] == list(range(len(history), 0, -1))


async def test_deleting_the_owner_deletes_dialplans(store: Store, owners: Owners) -> None:
    await store.dialplans.create(owners.as_a, None, "out", "script", SCRIPT)
    await store.customers.delete(ADMIN, owners.a)
    assert await store.dialplans.list(ADMIN) == []


async def test_admin_must_name_the_owner_of_a_named_dialplan(store: Store, owners: Owners) -> None:
    await store.dialplans.create(ADMIN, owners.a, "out", "script", SCRIPT)
    with pytest.raises(ValueError, match="owner"):
        await store.dialplans.update(ADMIN, "out", "x = 1\n")
    changed = await store.dialplans.update(ADMIN, "out", "x = 1\n", owner_id=owners.a)
    assert changed.version == 2
    assert await store.dialplans.get(ADMIN, None, "out") is None
    acting = Scope.system(owners.a)
    assert (await store.dialplans.history(acting, "out"))[0].version == 2
    with pytest.raises(NotFoundError):
        await store.dialplans.create(ADMIN, MISSING, "x", "script", SCRIPT)


# --- tenancy: B gets the same answer for A's dialplan as for one that does not exist ---

Op = Callable[[Store, Scope, int | str, int | None], Awaitable[object]]

OPS: dict[str, Op] = {
    "update": lambda s, sc, ref, o: s.dialplans.update(sc, ref, "evil = 1\n", owner_id=o),
    "version": lambda s, sc, ref, o: s.dialplans.version(sc, ref, 1, owner_id=o),
    "history": lambda s, sc, ref, o: s.dialplans.history(sc, ref, owner_id=o),
    "rollback": lambda s, sc, ref, o: s.dialplans.rollback(sc, ref, 1, owner_id=o),
    "delete": lambda s, sc, ref, o: s.dialplans.delete(sc, ref, owner_id=o),
}


async def _outcome(call: Callable[[], Awaitable[object]]) -> tuple[str, object]:
    try:
        return ("ok", await call())
    except NotFoundError as exc:
        return (type(exc).__name__, str(exc))


@pytest.mark.parametrize("op", sorted(OPS))
async def test_someone_elses_dialplan_looks_missing(store: Store, owners: Owners, op: str) -> None:
    made = await store.dialplans.create(owners.as_a, None, "secret", "script", "pin = 1\n")
    call = OPS[op]
    for ref, owner in ((made.id, None), ("secret", owners.a), (made.id, owners.a)):
        theirs = await _outcome(lambda: call(store, owners.as_b, ref, owner))  # noqa: B023
        missing = await _outcome(lambda: call(store, owners.as_b, MISSING, owner))  # noqa: B023
        assert theirs == missing == ("NotFoundError", "dialplan not found")
    # B's own dialplan of the same name is B's, and A's is untouched
    await store.dialplans.create(owners.as_b, None, "secret", "script", "mine = 1\n")
    await call(store, owners.as_b, "secret", None)
    kept = await store.dialplans.get(owners.as_a, None, "secret")
    assert kept is not None and (kept.source, kept.version) == ("pin = 1\n", 1)


async def test_reads_and_lists_are_owner_scoped(store: Store, owners: Owners) -> None:
    made = await store.dialplans.create(owners.as_a, None, "secret", "script", "pin = 1\n")
    assert await store.dialplans.get(owners.as_b, owners.a, "secret") is None
    assert await store.dialplans.get(owners.as_b, None, "secret") is None
    assert await store.dialplans.get_by_id(owners.as_b, made.id) is None
    assert await store.dialplans.list(owners.as_b) == []
    assert await store.dialplans.list(owners.as_b, owner_id=owners.a) == []
    with pytest.raises(NotFoundError, match="customer not found"):
        await store.dialplans.create(owners.as_b, owners.a, "planted", "script", SCRIPT)
    assert [d.name for d in await store.dialplans.list(owners.as_a)] == ["secret"]
