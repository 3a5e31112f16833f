"""`number@provider` legs: the owner's provider, its digest credentials and custom headers,
dialled from an account's out dialplan; the provider is a SIPp that challenges."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.registrar.conftest import start_switch
from tests.registrar.support import PASSWORD, provision
from tests.support.sipclient import free_port

from .conftest import SCENARIOS, start_sipp
from .test_dialplans import ADMIN
from .test_routing import EXTRA

pytestmark = pytest.mark.peers

OUT_RULES = """[
  {"direction": "out", "pattern_type": "prefix", "pattern": "_X.",
   "command": {"type": "dial", "dial_string": "${dst}@prov1[fd=Alice]"}}
]"""


async def test_out_call_through_a_provider_answers_its_challenge(tmp_path: Path) -> None:
    switch = await start_switch(tmp_path, EXTRA)
    try:
        owner = await provision(switch.app, ["101"])
        provider_port = free_port()
        store = switch.app.store
        await store.providers.create(
            ADMIN, "prov1", f"127.0.0.1:{provider_port}", owner_id=owner, username="acct1",
            password="s3cret", headers=[("X-Account", "alice-7")],
        )  # fmt: skip
        await store.dialplans.create(ADMIN, owner, "outbound", "rules", OUT_RULES)
        (account,) = await store.accounts.list(ADMIN)
        await store.accounts.update(ADMIN, account.id, out_dialplan="outbound")
        await switch.app.registration.accounts.reload()
        provider = await start_sipp(
            tmp_path, "provider", "-sf", str(SCENARIOS / "uas_auth.xml"), "-m", "1",
            port=provider_port,
        )  # fmt: skip
        caller = await start_sipp(
            tmp_path, "caller", f"127.0.0.1:{switch.port}", "-sf",
            str(SCENARIOS / "uac_auth.xml"), "-s", "5551234", "-au", "101", "-ap", PASSWORD,
            "-m", "1", "-auth_uri", f"5551234@127.0.0.1:{switch.port}",
        )  # fmt: skip
        code, out = await caller.wait(30)
        assert code == 0, out[-3000:]
        code, out = await provider.wait(30)
        assert code == 0, out[-3000:]
        trace = (tmp_path / "provider.msg").read_text(errors="replace")
        invites = [m for m in trace.split("-----") if "INVITE sip:5551234@127.0.0.1" in m]
        assert invites, trace[-2000:]
        assert "X-Account: alice-7" in invites[0]
        assert (
            'From: "Alice" <sip:acct1@127.0.0.1' in invites[0]
            or "From: Alice <sip:acct1@" in invites[0]
        )
    finally:
        for client in switch.clients:
            client.close()
        await switch.app.close()
