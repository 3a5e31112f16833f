"""The admin API and the CLI over it: ``sipswitch call list`` / ``sipswitch call refer``
against a running switch, with SIPp at both ends of the call."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import httpx
import pytest

from sipswitch.cli import main
from sipswitch.web.admin import token_path

from .conftest import TransferLab
from .test_refer_out import _answered_call

pytestmark = pytest.mark.peers


def _use_lab(lab: TransferLab, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point the admin API at the lab's call service; the CLI's environment at the switch."""
    app = lab.switch.app
    assert app.admin is not None
    app.admin.calls = lab.service
    app.admin.transfers = lab.transfers
    for name in ("SIPSWITCH_CONFIG",):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SIPSWITCH_DATABASE_URL", app.settings.database.url)
    monkeypatch.setenv("SIPSWITCH_HTTP_LISTEN", f"127.0.0.1:{lab.switch.http_port}")
    return f"http://127.0.0.1:{lab.switch.http_port}"


async def test_cli_lists_calls_and_refers_one(
    xlab: TransferLab,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _use_lab(xlab, monkeypatch)
    call, peers = await _answered_call(xlab, tmp_path, "upstream_accepts.xml")
    assert await asyncio.to_thread(main, ["call", "list"]) == 0
    listing = capsys.readouterr().out
    assert call.a.call_id in listing and "answered" in listing
    assert call.b is not None and call.b.call_id in listing and call.bridge_id in listing

    argv = ["call", "refer", call.a.call_id, "sip:5000@example.com", "--timeout", "5"]
    assert await asyncio.to_thread(main, argv) == 0
    assert "REFER succeeded: 200" in capsys.readouterr().out
    for sipp in peers:
        await sipp.wait()
    assert "Refer-To: <sip:5000@example.com>" in peers[0].messages()
    cdrs = await xlab.settle(2)
    assert {c.hungup_reason for c in cdrs} == {"transferred"}
    assert await asyncio.to_thread(main, ["call", "list"]) == 0
    assert call.a.call_id not in capsys.readouterr().out


async def test_api_reports_a_declined_refer_and_keeps_the_call(
    xlab: TransferLab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = _use_lab(xlab, monkeypatch)
    call, peers = await _answered_call(xlab, tmp_path, "upstream_declines.xml")
    token = token_path(xlab.switch.app.settings.database.url).read_text()
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        response = await client.post(
            f"/admin/calls/{call.a.call_id}/refer",
            json={"target": "sip:5000@example.com", "timeout": 5},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert response.status_code == 200
    assert response.json() == {
        "result": "failed", "succeeded": False, "status": 603, "reason": "Decline"
    }  # fmt: skip
    assert not call.a.ended
    for sipp in peers:
        await sipp.wait()


async def test_api_refuses_requests_without_the_token(
    xlab: TransferLab, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    base = _use_lab(xlab, monkeypatch)
    path = token_path(xlab.switch.app.settings.database.url)
    assert path.parent == xlab.switch.db_path.parent
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    token = path.read_text()
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": token}):
            assert (await client.get("/admin/calls", headers=headers)).status_code == 401
            refer = await client.post(
                "/admin/calls/x/refer", json={"target": "sip:1@example.com"}, headers=headers
            )
            assert refer.status_code == 401
        good = {"Authorization": f"Bearer {token}"}
        assert (await client.get("/admin/calls", headers=good)).json() == []
        missing = await client.post(
            "/admin/calls/nope/refer", json={"target": "sip:1@example.com"}, headers=good
        )
        assert missing.status_code == 404
        bad = await client.post("/admin/calls/nope/refer", json={"target": "x"}, headers=good)
        assert bad.status_code == 400
    path.write_text("stale")
    assert await asyncio.to_thread(main, ["call", "list"]) == 1
    assert "refused the admin token" in capsys.readouterr().err


def test_token_path_follows_the_database() -> None:
    assert token_path("sqlite+aiosqlite:////srv/sw/var/switch.db") == Path(
        "/srv/sw/var/admin.token"
    )
    assert token_path("sqlite+aiosqlite:///./var/sipswitch.db") == Path("var/admin.token")
    assert token_path("postgresql+asyncpg://u:p@db/sw") == Path("var/admin.token")
