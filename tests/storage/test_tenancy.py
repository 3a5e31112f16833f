"""Tenancy isolation: customer B cannot read, change, delete, or learn of customer A's objects.

For every operation, A's object and an id that does not exist give B the same answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest

from sipswitch.storage import NotFoundError, RegistrationStatus, Scope, Store
from tests.storage.conftest import ADMIN

MISSING = 987654


@dataclass(frozen=True)
class World:
    a: int
    b: int
    account: int
    provider: int


@pytest.fixture
async def world(store: Store) -> World:
    await store.domains.create(ADMIN, "example.test", ["local"], service_wide=True)
    a = (await store.customers.create(ADMIN, "alice", "alice-password")).id
    b = (await store.customers.create(ADMIN, "bob", "bob-password")).id
    as_a = Scope.customer(a)
    await store.domains.create(as_a, "alice.test")
    account = await store.accounts.create(as_a, "101", "local", "secret-a")
    provider = await store.providers.create(as_a, "voip1", "sip.example", password="pw-a")
    await store.kv.put(as_a, "pin", "1234")
    return World(a, b, account.id, provider.id)


async def _outcome(call: Callable[[], Awaitable[object]]) -> tuple[str, object]:
    try:
        return ("ok", await call())
    except NotFoundError as exc:
        return (type(exc).__name__, str(exc))


Op = Callable[[Store, Scope, int], Awaitable[object]]

ACCOUNT_OPS: dict[str, Op] = {
    "get": lambda s, sc, i: s.accounts.get(sc, i),
    "update": lambda s, sc, i: s.accounts.update(sc, i, out_dialplan="evil"),
    "set_password": lambda s, sc, i: s.accounts.set_password(sc, i, "hijacked"),
    "disable": lambda s, sc, i: s.accounts.update(sc, i, disabled=True),
    "admin_disable": lambda s, sc, i: s.accounts.set_admin_disabled(sc, i, True),
    "delete": lambda s, sc, i: s.accounts.delete(sc, i),
}
PROVIDER_OPS: dict[str, Op] = {
    "get": lambda s, sc, i: s.providers.get(sc, i),
    "update": lambda s, sc, i: s.providers.update(sc, i, server="evil.example"),
    "set_registration": lambda s, sc, i: s.providers.set_registration(
        sc, i, RegistrationStatus.DISABLED
    ),
    "delete": lambda s, sc, i: s.providers.delete(sc, i),
}


@pytest.mark.parametrize("op", ACCOUNT_OPS, ids=str)
async def test_accounts_of_others_look_missing(store: Store, world: World, op: str) -> None:
    as_b = Scope.customer(world.b)
    theirs = await _outcome(lambda: ACCOUNT_OPS[op](store, as_b, world.account))
    missing = await _outcome(lambda: ACCOUNT_OPS[op](store, as_b, MISSING))
    assert theirs == missing
    assert theirs[0] != "ok" or theirs[1] is None
    untouched = await store.accounts.get(ADMIN, world.account)
    assert untouched is not None
    assert (untouched.out_dialplan, untouched.usable) == (None, True)


@pytest.mark.parametrize("op", PROVIDER_OPS, ids=str)
async def test_providers_of_others_look_missing(store: Store, world: World, op: str) -> None:
    as_b = Scope.customer(world.b)
    theirs = await _outcome(lambda: PROVIDER_OPS[op](store, as_b, world.provider))
    missing = await _outcome(lambda: PROVIDER_OPS[op](store, as_b, MISSING))
    assert theirs == missing
    assert theirs[0] != "ok" or theirs[1] is None
    untouched = await store.providers.get(ADMIN, world.provider)
    assert untouched is not None
    assert untouched.server == "sip.example"
    assert untouched.registration_status is RegistrationStatus.IDLE


async def test_lookups_and_lists_show_only_own(store: Store, world: World) -> None:
    as_b = Scope.customer(world.b)
    assert await store.accounts.list(as_b) == []
    assert await store.accounts.list(as_b, owner_id=world.a) == []
    assert await store.accounts.find(as_b, "101", "local") is None
    assert await store.providers.list(as_b) == []
    assert await store.providers.list(as_b, owner_id=world.a) == []
    assert await store.providers.get_by_name(as_b, "voip1") is None
    assert await store.providers.get_by_name(as_b, "voip1", owner_id=world.a) is None
    assert await store.providers.list_to_register(as_b) == []
    assert await store.customers.get(as_b, world.a) is None
    assert [d.name for d in await store.domains.list(as_b)] == ["example.test"]
    assert await store.domains.resolve(as_b, "alice.test") is None


async def test_kv_namespaces_are_separate(store: Store, world: World) -> None:
    as_b = Scope.customer(world.b)
    assert await store.kv.get(as_b, "pin") is None
    assert await store.kv.keys(as_b) == []
    assert await store.kv.delete(as_b, "pin") is False
    await store.kv.put(as_b, "pin", "0000")
    assert await store.kv.get(Scope.customer(world.a), "pin") == "1234"
    assert await store.kv.get(as_b, "pin") == "0000"
    for call in (
        lambda: store.kv.get(as_b, "pin", owner_id=world.a),
        lambda: store.kv.put(as_b, "pin", "x", owner_id=world.a),
        lambda: store.kv.delete(as_b, "pin", owner_id=world.a),
        lambda: store.kv.keys(as_b, owner_id=world.a),
    ):
        with pytest.raises(NotFoundError):
            await call()
    assert await store.kv.get(Scope.customer(world.a), "pin") == "1234"


async def test_cannot_create_for_others_or_in_their_domain(store: Store, world: World) -> None:
    as_b = Scope.customer(world.b)
    with pytest.raises(NotFoundError):
        await store.accounts.create(as_b, "201", "local", "secret-b", owner_id=world.a)
    with pytest.raises(NotFoundError):
        await store.providers.create(as_b, "voip9", "sip.example", owner_id=world.a)
    theirs = await _outcome(lambda: store.accounts.create(as_b, "201", "alice.test", "secret-b"))
    missing = await _outcome(lambda: store.accounts.create(as_b, "201", "none.test", "secret-b"))
    assert theirs == missing == ("NotFoundError", "domain not found")
    for call in (
        lambda: store.domains.add_alias(as_b, "alice.test", "b.test"),
        lambda: store.domains.delete(as_b, "alice.test"),
        lambda: store.domains.delete(as_b, "example.test"),
        lambda: store.customers.set_password(as_b, world.a, "hijacked!"),
        lambda: store.customers.delete(as_b, world.a),
    ):
        with pytest.raises(NotFoundError):
            await call()
    # Provider names are per owner: B may reuse A's name without learning anything.
    mine = await store.providers.create(as_b, "voip1", "sip.other.example")
    assert mine.owner_id == world.b


async def test_admin_sees_all(store: Store, world: World) -> None:
    assert len(await store.accounts.list(ADMIN)) == 1
    assert len(await store.providers.list(ADMIN)) == 1
    assert await store.kv.get(ADMIN, "pin", owner_id=world.a) == "1234"
    assert {d.name for d in await store.domains.list(ADMIN)} == {"example.test", "alice.test"}
