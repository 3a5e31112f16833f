"""Repository CRUD on both backends: what goes in comes back as plain frozen records."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib

import pytest

from sipswitch.storage import (
    UNSET,
    ConflictError,
    InvalidValueError,
    NotFoundError,
    RegistrationStatus,
    Scope,
    SipAccountRecord,
    Store,
)
from tests.storage.conftest import ADMIN


async def _customer(store: Store, name: str = "alice") -> int:
    return (await store.customers.create(ADMIN, name, "correct horse")).id


async def _service_domain(store: Store) -> None:
    await store.domains.create(ADMIN, "example.test", ["local"], service_wide=True)


async def test_customer_create_authenticate_and_password_change(store: Store) -> None:
    created = await store.customers.create(ADMIN, "Alice", "correct horse", email="a@example.test")
    assert created.username == "alice"
    assert not created.is_admin
    assert created.created_at.tzinfo is not None
    assert await store.customers.authenticate("alice", "correct horse") == created
    assert await store.customers.authenticate("alice", "wrong horse") is None
    assert await store.customers.authenticate("nobody", "correct horse") is None
    await store.customers.set_password(Scope.customer(created.id), created.id, "battery staple")
    assert await store.customers.authenticate("ALICE", "battery staple") is not None
    await store.customers.set_disabled(ADMIN, created.id, True)
    assert await store.customers.authenticate("alice", "battery staple") is None
    assert await store.customers.count() == 1
    with pytest.raises(ConflictError):
        await store.customers.create(ADMIN, "alice", "another password")
    with pytest.raises(InvalidValueError):
        await store.customers.create(ADMIN, "bob", "short")


async def test_customers_cannot_create_or_list_others(store: Store) -> None:
    alice = await _customer(store)
    bob = await _customer(store, "bob")
    as_alice = Scope.customer(alice)
    with pytest.raises(NotFoundError):
        await store.customers.create(as_alice, "mallory", "long enough")
    assert [c.id for c in await store.customers.list(as_alice)] == [alice]
    assert await store.customers.get(as_alice, bob) is None
    assert await store.customers.get_by_username(as_alice, "bob") is None
    assert [c.username for c in await store.customers.list(ADMIN)] == ["alice", "bob"]


async def test_domains_and_aliases_resolve(store: Store) -> None:
    await _service_domain(store)
    alice = await _customer(store)
    own = await store.domains.create(Scope.customer(alice), "Alice.Example.Test.", ["a.test"])
    assert own.name == "alice.example.test"
    assert own.owner_id == alice
    resolved = await store.domains.resolve(ADMIN, "LOCAL")
    assert resolved is not None
    assert (resolved.name, resolved.aliases) == ("example.test", ("local",))
    with pytest.raises(ConflictError):
        await store.domains.create(ADMIN, "local", service_wide=True)
    with pytest.raises(ConflictError):
        await store.domains.add_alias(ADMIN, "example.test", "a.test")
    updated = await store.domains.add_alias(ADMIN, "example.test", "10.0.0.1")
    assert updated.aliases == ("10.0.0.1", "local")
    with pytest.raises(InvalidValueError):
        await store.domains.create(ADMIN, "bad domain!", service_wide=True)
    await store.domains.delete(Scope.customer(alice), "a.test")
    assert await store.domains.resolve(ADMIN, "alice.example.test") is None


async def test_sip_account_crud_keeps_only_ha1(store: Store) -> None:
    await _service_domain(store)
    alice = await _customer(store)
    scope = Scope.customer(alice)
    account = await store.accounts.create(
        scope, "101", "local", "s3cret!", out_dialplan="default", ip_acl_networks=["192.0.2.7"]
    )
    assert isinstance(account, SipAccountRecord)
    assert (account.aor, account.owner_id, account.ip_acl) == (
        "101@example.test",
        alice,
        ("192.0.2.7/32",),
    )
    assert account.ha1_md5 == hashlib.md5(b"101:example.test:s3cret!").hexdigest()
    assert account.ha1_sha256 == hashlib.sha256(b"101:example.test:s3cret!").hexdigest()
    assert "s3cret" not in repr(account) and account.ha1_md5 not in repr(account)
    assert account.usable and account.nat_keepalive and not account.incoming_only
    with pytest.raises(dataclasses.FrozenInstanceError):
        account.username = "x"  # type: ignore[misc]

    assert await store.accounts.find(ADMIN, "101", "EXAMPLE.test") == account
    assert await store.accounts.find(ADMIN, "101", "local") == account
    assert await store.accounts.find(ADMIN, "102", "local") is None
    assert await store.accounts.find(ADMIN, "101", "nowhere.test") is None
    assert await store.accounts.find(ADMIN, "101", "not a domain") is None

    changed = await store.accounts.update(
        scope, account.id, in_dialplan="incoming", incoming_only=True, ip_acl_networks=[]
    )
    assert (changed.in_dialplan, changed.out_dialplan) == ("incoming", "default")
    assert changed.incoming_only and changed.ip_acl == ()
    changed = await store.accounts.update(scope, account.id, out_dialplan=None, disabled=True)
    assert changed.out_dialplan is None and not changed.usable
    assert changed.updated_at >= account.updated_at

    await store.accounts.set_password(scope, account.id, "n3w-secret")
    again = await store.accounts.get(scope, account.id)
    assert again is not None
    assert again.ha1_md5 == hashlib.md5(b"101:example.test:n3w-secret").hexdigest()

    with pytest.raises(ConflictError):
        await store.accounts.create(scope, "101", "example.test", "whatever")
    with pytest.raises(InvalidValueError):
        await store.accounts.create(scope, "bad:user", "local", "whatever")
    with pytest.raises(InvalidValueError):
        await store.accounts.create(scope, "102", "local", "whatever", ip_acl_networks=["nope"])
    with pytest.raises(NotFoundError):
        await store.accounts.create(scope, "102", "unknown.test", "whatever")

    await store.accounts.delete(scope, account.id)
    assert await store.accounts.get(scope, account.id) is None
    assert await store.accounts.list(scope) == []


async def test_admin_disable_and_admin_lists(store: Store) -> None:
    await _service_domain(store)
    alice = await _customer(store)
    bob = await _customer(store, "bob")
    a = await store.accounts.create(ADMIN, "101", "local", "secret1", owner_id=alice)
    await store.accounts.create(ADMIN, "201", "local", "secret2", owner_id=bob)
    await store.accounts.set_admin_disabled(ADMIN, a.id, True)
    found = await store.accounts.get(Scope.customer(alice), a.id)
    assert found is not None and found.admin_disabled and not found.usable
    with pytest.raises(NotFoundError):
        await store.accounts.set_admin_disabled(Scope.customer(alice), a.id, False)
    assert [x.username for x in await store.accounts.list(ADMIN)] == ["101", "201"]
    assert [x.username for x in await store.accounts.list(ADMIN, owner_id=bob)] == ["201"]
    with pytest.raises(ValueError, match="name its owner"):
        await store.accounts.create(ADMIN, "301", "local", "secret3")
    with pytest.raises(NotFoundError):
        await store.accounts.create(ADMIN, "301", "local", "secret3", owner_id=9999)


async def test_provider_crud_and_registration_state(store: Store) -> None:
    alice = await _customer(store)
    scope = Scope.customer(alice)
    provider = await store.providers.create(
        scope,
        "voip1",
        "sip.voip1.example",
        username="4930123",
        password="pr0vider-pw",
        outbound_proxy="sip:proxy.voip1.example;lr",
        from_header='"Alice" <sip:4930123@voip1.example>',
        headers=[("X-Account", "42")],
        register=True,
        register_expiry=600,
    )
    assert provider.password == "pr0vider-pw"
    assert "pr0vider-pw" not in repr(provider)
    assert provider.custom_headers == (("X-Account", "42"),)
    assert provider.registration_status is RegistrationStatus.PENDING
    assert await store.providers.get_by_name(scope, "voip1") == provider
    assert await store.providers.list_to_register(ADMIN) == [provider]

    when = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    await store.providers.set_registration(
        ADMIN, provider.id, RegistrationStatus.FAILED, last_error="503", next_attempt_at=when
    )
    failed = await store.providers.get(scope, provider.id)
    assert failed is not None
    assert (failed.registration_status, failed.last_error) == (RegistrationStatus.FAILED, "503")
    assert failed.next_attempt_at == when

    changed = await store.providers.update(scope, provider.id, register=False, password=None)
    assert changed.registration_status is RegistrationStatus.IDLE
    assert changed.password is None and changed.next_attempt_at is None
    changed = await store.providers.update(scope, provider.id, headers=[], server=UNSET)
    assert changed.custom_headers == () and changed.server == "sip.voip1.example"
    assert await store.providers.list_to_register(ADMIN) == []

    with pytest.raises(ConflictError):
        await store.providers.create(scope, "voip1", "other.example")
    for bad in ({"headers": [("Via", "x")]}, {"headers": [("X-A", "1\r\nVia: evil")]}):
        with pytest.raises(InvalidValueError):
            await store.providers.create(scope, "voip2", "sip.example", **bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidValueError):
        await store.providers.create(scope, "voip2", "bad server")
    with pytest.raises(InvalidValueError):
        await store.providers.create(scope, "voip2", "sip.example", register_expiry=5)
    await store.providers.delete(scope, provider.id)
    assert await store.providers.list(scope) == []


async def test_kv_per_owner(store: Store) -> None:
    alice = await _customer(store)
    scope = Scope.customer(alice)
    assert await store.kv.get(scope, "count") is None
    await store.kv.put(scope, "count", "1")
    await store.kv.put(scope, "count", "2")
    await store.kv.put(scope, "name", "Alice")
    assert await store.kv.get(scope, "count") == "2"
    assert await store.kv.keys(scope) == ["count", "name"]
    assert await store.kv.delete(scope, "count") is True
    assert await store.kv.delete(scope, "count") is False
    assert await store.kv.keys(ADMIN, owner_id=alice) == ["name"]
    with pytest.raises(InvalidValueError):
        await store.kv.put(scope, "", "x")


async def test_deleting_a_customer_removes_what_it_owns(store: Store) -> None:
    await _service_domain(store)
    alice = await _customer(store)
    scope = Scope.customer(alice)
    account = await store.accounts.create(scope, "101", "local", "secret1")
    await store.providers.create(scope, "voip1", "sip.example")
    await store.kv.put(scope, "k", "v")
    await store.customers.delete(ADMIN, alice)
    assert await store.accounts.get(ADMIN, account.id) is None
    assert await store.providers.list(ADMIN) == []
    assert await store.customers.count() == 0
