"""A script dialplan on a live call fetches a page (sys.web_get) and sends an e-mail (sys.email)
through a real HTTP server and a real SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sipswitch.runtime.events import ConsoleFilter, EventKind
from sipswitch.storage import Scope
from tests.dialplan.test_outside import _Relay, _Site, relay, site  # noqa: F401 - fixtures
from tests.registrar.conftest import start_switch
from tests.registrar.support import provision
from tests.support.sipclient import request_text

from .test_routing import EXTRA

ADMIN = Scope.system()

SCRIPT = """
page = sys.web_get("{base}/hello", 5)
sys.log("web said " + page)
sys.email("boss@example.com", "call for " + req.uri.user, "the page said " + page)
sys.respond(480, "Gone fishing")
"""


async def test_web_get_and_email_from_a_call(
    tmp_path: Path,
    site: _Site,  # noqa: F811
    relay: _Relay,  # noqa: F811
) -> None:
    env = {
        **EXTRA,
        "SIPSWITCH_DIALPLAN_WEB_GET_ALLOW": "127.0.0.1",
        "SIPSWITCH_SMTP_HOST": "127.0.0.1",
        "SIPSWITCH_SMTP_PORT": str(relay.port),
        "SIPSWITCH_SMTP_FROM_ADDRESS": "switch@example.com",
    }
    switch = await start_switch(tmp_path, env)
    try:
        owner = await provision(switch.app, ["102"])
        store = switch.app.store
        await store.dialplans.create(ADMIN, owner, "in", "script", SCRIPT.format(base=site.base))
        (account,) = await store.accounts.list(ADMIN)
        await store.accounts.update(ADMIN, account.id, in_dialplan="in")
        await switch.app.registration.accounts.reload()
        console = switch.app.events.subscribe(ConsoleFilter.parse("event *"), owner=owner)
        client = await switch.udp()
        client.send(request_text("INVITE", "sip:102@sipswitch.local", via_port=client.port))
        response = await client.final(timeout=10)
        assert (response.status, response.reason) == (480, "Gone fishing")
        for _ in range(50):
            if relay.inbox.envelopes:
                break
            await asyncio.sleep(0.05)
        (envelope,) = relay.inbox.envelopes
        assert envelope.rcpt_tos == ["boss@example.com"]
        content = envelope.content
        text = content.decode() if isinstance(content, bytes) else str(content)
        assert "Subject: call for 102" in text
        lines = [e.message for e in console.drain() if e.kind is EventKind.DIAL_PLAN]
        console.close()
        assert any("web said héllo wörld ✓" in line for line in lines), lines
    finally:
        for client in switch.clients:
            client.close()
        await switch.app.close()
