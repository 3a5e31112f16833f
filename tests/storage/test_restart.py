"""Restarting loses no configuration: close the engine, open a new one, read everything back."""

from __future__ import annotations

from sipswitch.storage import RegistrationStatus, Scope, Store, upgrade
from tests.storage.conftest import ADMIN, fast_hasher


async def test_configuration_survives_reopen(db_url: str) -> None:
    await upgrade(db_url)
    async with Store.open(db_url, fast_hasher()) as first:
        await first.domains.create(ADMIN, "example.test", ["local"], service_wide=True)
        alice = await first.customers.create(ADMIN, "alice", "alice-password")
        scope = Scope.customer(alice.id)
        account = await first.accounts.create(scope, "101", "local", "secret", in_dialplan="in")
        provider = await first.providers.create(
            scope, "voip1", "sip.example", password="pw", headers=[("X-A", "1")], register=True
        )
        await first.providers.set_registration(ADMIN, provider.id, RegistrationStatus.REGISTERED)
        await first.kv.put(scope, "k", "v")
        before = (
            await first.customers.list(ADMIN),
            await first.domains.list(ADMIN),
            await first.accounts.list(ADMIN),
            await first.providers.list(ADMIN),
            await first.kv.keys(scope),
        )

    await upgrade(db_url)  # a restart runs the migrations again: a no-op at head
    async with Store.open(db_url, fast_hasher()) as second:
        after = (
            await second.customers.list(ADMIN),
            await second.domains.list(ADMIN),
            await second.accounts.list(ADMIN),
            await second.providers.list(ADMIN),
            await second.kv.keys(scope),
        )
        assert after == before
        assert await second.accounts.get(scope, account.id) == account
        reread = await second.providers.get(scope, provider.id)
        assert reread is not None
        assert (reread.password, reread.registration_status) == (
            "pw",
            RegistrationStatus.REGISTERED,
        )
        assert await second.kv.get(scope, "k") == "v"
        assert await second.customers.authenticate("alice", "alice-password") == alice
