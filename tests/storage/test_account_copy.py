"""The registrar's copy of the accounts stays current by reading only what changed."""

from __future__ import annotations

import datetime as dt

from sipswitch.services.registrar.accounts import FULL_EVERY, PAGE, AccountAuth, AccountDirectory
from sipswitch.storage import Scope, Store

ADMIN = Scope.system()
DOMAIN = "copy.example"


async def _setup(store: Store, users: int) -> tuple[int, list[int]]:
    await store.domains.create(ADMIN, DOMAIN, ["copy-alias.example"], service_wide=True)
    owner = await store.customers.create(ADMIN, "copyowner", "copy-owner-pw")
    ids = []
    for n in range(users):
        record = await store.accounts.create(
            ADMIN, f"u{n}", DOMAIN, "password-1", owner_id=owner.id
        )
        ids.append(record.id)
    return owner.id, ids


def _found(directory: AccountDirectory, user: str, host: str = DOMAIN) -> AccountAuth | None:
    found = directory.get(user, host, 0.0)
    return found if isinstance(found, AccountAuth) else None


async def test_an_unchanged_copy_reads_no_account(store: Store) -> None:
    await _setup(store, 3)
    directory = AccountDirectory(store, "service.example")
    assert await directory.reload() == 3
    assert len(directory) == 3
    assert await directory.reload() == 0
    found = _found(directory, "u1", "copy-alias.example")
    assert found is not None and found.domain == DOMAIN


async def test_changed_and_added_accounts_are_read_alone(store: Store) -> None:
    owner, ids = await _setup(store, 5)
    directory = AccountDirectory(store, "service.example")
    directory.overlap = dt.timedelta(0)  # else everything made within the last minute is read
    await directory.reload()
    before = _found(directory, "u2")
    assert before is not None and before.usable and not before.allow_refer
    await store.accounts.set_password(ADMIN, ids[2], "password-2")
    await store.accounts.set_admin_disabled(ADMIN, ids[3], True)
    await store.accounts.update(ADMIN, ids[4], allow_refer=True)
    await store.accounts.create(ADMIN, "new", DOMAIN, "password-1", owner_id=owner)
    read = await directory.reload()
    assert read == 4  # the three changed and the new one, not all six
    after = _found(directory, "u2")
    assert after is not None and after.ha1_md5 != before.ha1_md5
    disabled = _found(directory, "u3")
    assert disabled is not None and not disabled.usable
    assert [a.id for a in directory.allowing_refer()] == [ids[4]]
    assert _found(directory, "new") is not None and len(directory) == 6


async def test_a_removed_account_leaves_the_copy(store: Store) -> None:
    owner, ids = await _setup(store, 3)
    directory = AccountDirectory(store, "service.example")
    await directory.reload()
    await store.accounts.delete(ADMIN, ids[0])
    await store.accounts.create(ADMIN, "later", DOMAIN, "password-1", owner_id=owner)
    await directory.reload()  # as many accounts as before, yet one is gone
    assert _found(directory, "u0") is None
    assert _found(directory, "later") is not None and len(directory) == 3


async def test_the_whole_copy_is_read_in_pages(store: Store) -> None:
    await _setup(store, 0)
    owner = await store.customers.get_by_username(ADMIN, "copyowner")
    assert owner is not None
    pages: list[int] = []
    real = store.accounts.page

    async def counted(*args: object, **kwargs: object) -> object:
        found = await real(*args, **kwargs)  # type: ignore[arg-type]
        pages.append(len(found))
        return found

    for n in range(PAGE + 5):
        await store.accounts.create(ADMIN, f"p{n}", DOMAIN, "password-1", owner_id=owner.id)
    store.accounts.page = counted  # type: ignore[method-assign,assignment]
    directory = AccountDirectory(store, "service.example")
    assert await directory.reload() == PAGE + 5
    assert pages == [PAGE, 5, 0]
    assert _found(directory, f"p{PAGE + 4}") is not None


async def test_the_copy_is_read_whole_now_and_then_anyway(store: Store) -> None:
    await _setup(store, 2)
    directory = AccountDirectory(store, "service.example")
    reads = [await directory.reload() for _ in range(FULL_EVERY)]
    assert reads == [2] + [0] * (FULL_EVERY - 2) + [2]
