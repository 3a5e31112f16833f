"""Done-when: a second sipswitch plays the provider. The first registers to it with digest,
refreshes, and recovers after the provider restarts (same ports, same database)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sipswitch.app import Application
from sipswitch.config import load_settings
from sipswitch.runtime.events import EventKind
from sipswitch.storage.records import RegistrationStatus
from tests.registrar.support import PASSWORD, provision
from tests.server.conftest import switch_environ
from tests.support.certs import make_certificate

from .conftest import FAST, Home, eventually

pytestmark = pytest.mark.peers

#: the provider grants 2 s, so our refresh comes 1 s after each registration
PROVIDER = {
    "SIPSWITCH_REGISTRAR_MIN_EXPIRY": "1",
    "SIPSWITCH_REGISTRAR_MAX_EXPIRY": "2",
    "SIPSWITCH_REGISTRAR_DEFAULT_EXPIRY": "2",
    "SIPSWITCH_SECURITY_FLOOD_REQUESTS": "100000",
}
#: the home switch retries after 1 s and gives a silent provider 2 s
HOME = {
    **FAST,
    "SIPSWITCH_PROVIDERS_RETRY_BACKOFF": "1",
    "SIPSWITCH_PROVIDERS_RETRY_JITTER": "0",
    "SIPSWITCH_PROVIDERS_REQUEST_TIMEOUT": "2",
}


def _bound(provider: Application, token: str) -> bool:
    location = provider.registration.location
    return any(token in b.contact for aor in location.aors() for b in location.lookup(aor))


async def test_register_refresh_and_recover_after_provider_restart(tmp_path: Path) -> None:
    provider_dir = tmp_path / "provider"
    provider_dir.mkdir()
    provider_env = switch_environ(provider_dir, make_certificate(provider_dir), **PROVIDER)
    provider_settings = load_settings(environ=provider_env)
    provider = Application(provider_settings)
    await provider.start()
    home_dir = tmp_path / "home"
    home_dir.mkdir()
    home_app = Application(
        load_settings(environ=switch_environ(home_dir, make_certificate(home_dir), **HOME))
    )
    await home_app.start()
    try:
        await provision(provider, ["101"])
        port = next(x.port for x in provider_settings.sip.listeners if x.transport == "udp")
        home = Home(home_app, home_dir)
        record = await home.add_provider(f"127.0.0.1:{port}", username="101", password=PASSWORD)
        events = home_app.events.subscribe(owner=record.owner_id)
        registered: list[str] = []
        failed: list[str] = []

        async def count(kind: EventKind, at_least: int, into: list[str]) -> bool:
            into.extend(e.message for e in events.drain() if e.kind == kind)
            return len(into) >= at_least

        await home_app.providers.reload()
        token = home_app.provider_directory.token_of(record.id)
        assert token is not None
        # registered with digest, then refreshed twice (each refresh is challenged again)
        await eventually(lambda: count(EventKind.CONTACT_REGISTERED, 3, registered), 15)
        assert _bound(provider, token)
        core = home_app.providers.core(record.id)
        assert core is not None and core.granted == 2 and not failed

        # the provider goes away: the refresh fails (no answer), the status says so
        await provider.close()
        await eventually(
            lambda: count(EventKind.CONTACT_FAILED, 1, failed), 15, "the failed refresh"
        )
        stored = await home.provider(record.id)
        assert stored.registration_status == RegistrationStatus.FAILED
        assert stored.last_error is not None and "no answer" in stored.last_error

        # it comes back on the same ports and database: we register again by ourselves
        provider = Application(provider_settings)
        await provider.start()
        before = len(registered)
        await eventually(lambda: count(EventKind.CONTACT_REGISTERED, before + 1, registered), 15)
        assert _bound(provider, token)
        stored = await home.provider(record.id)
        assert stored.registration_status == RegistrationStatus.REGISTERED
        assert stored.last_error is None
    finally:
        await home_app.close()
        await provider.close()
