"""The ``sipswitch`` command end to end against a SQLite file in a temporary directory."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sipswitch.cli import main
from sipswitch.storage import Scope, Store, head_revision

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in tmp_path with the database at tmp_path/var/sipswitch.db (the default URL)."""
    for name in list(os.environ):
        if name.startswith("SIPSWITCH_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path / "var" / "sipswitch.db"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _accounts(db: Path) -> dict[str, tuple[str, int]]:
    async def read() -> dict[str, tuple[str, int]]:
        async with Store.open(f"sqlite+aiosqlite:///{db}") as store:
            return {
                a.aor: (a.ha1_md5, a.owner_id) for a in await store.accounts.list(Scope.system())
            }

    return asyncio.run(read())


def test_init_is_idempotent_and_explains_registration(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, "init", "--demo-password", "demo-secret")
    assert code == 0
    assert db.is_file()
    assert "101@sipswitch.local" in out and "102@sipswitch.local" in out
    assert "demo-secret" in out and "sipsak -U" in out and "102@local" in out
    expected = hashlib.md5(b"101:sipswitch.local:demo-secret").hexdigest()
    assert _accounts(db)["101@sipswitch.local"][0] == expected

    code, out, _ = _run(capsys, "init")
    assert code == 0
    assert "already initialised" in out
    assert len(_accounts(db)) == 2


def test_init_generates_passwords_once(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "init")
    assert code == 0
    lines = [line.split() for line in out.splitlines()]
    demo = next(words for words in lines if words[:1] == ["101@sipswitch.local"])
    secret = demo[1]
    assert len(secret) == 16
    expected = hashlib.md5(f"101:sipswitch.local:{secret}".encode()).hexdigest()
    assert _accounts(db)["101@sipswitch.local"][0] == expected


def test_management_commands(
    db: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _run(capsys, "init", "--demo-password", "demo-secret")[0] == 0
    code, out, _ = _run(capsys, "customer", "add", "carol", "--email", "carol@example.test")
    assert code == 0 and "password: " in out
    code, out, _ = _run(capsys, "customer", "list")
    assert [line.split()[1] for line in out.splitlines()[1:]] == ["admin", "demo", "carol"]

    code, out, _ = _run(
        capsys,
        "account", "add", "201@local", "--owner", "carol", "--password", "carol-sip",
        "--out-dialplan", "default", "--acl", "192.0.2.0/24", "--incoming-only",
    )  # fmt: skip
    assert (code, out.strip()) == (0, "SIP account 201@sipswitch.local added (id 3, owner carol)")
    code, out, _ = _run(capsys, "account", "list", "--owner", "carol")
    assert code == 0
    row = out.splitlines()[1].split()
    assert row[1:] == [
        "201@sipswitch.local",
        "carol",
        "-",
        "default",
        "incoming-only,keepalive",
        "192.0.2.0/24",
    ]

    monkeypatch.setattr(sys, "stdin", io.StringIO("new-sip-pass\n"))
    assert _run(capsys, "account", "passwd", "201@sipswitch.local", "--password", "-")[0] == 0
    expected = hashlib.md5(b"201:sipswitch.local:new-sip-pass").hexdigest()
    assert _accounts(db)["201@sipswitch.local"][0] == expected

    monkeypatch.setattr(sys, "stdin", io.StringIO("provider-secret\n"))
    code, out, _ = _run(
        capsys,
        "provider", "add", "voip1", "--owner", "carol", "--server", "sip.voip1.example",
        "--username", "4930", "--password", "-", "--header", "X-Account: 42", "--register",
    )  # fmt: skip
    assert code == 0
    code, out, _ = _run(capsys, "provider", "list")
    assert code == 0
    assert "voip1" in out and "pending" in out and "provider-secret" not in out

    code, _, err = _run(capsys, "account", "add", "202@local", "--owner", "nobody")
    assert code == 1 and "no customer 'nobody'" in err
    code, _, err = _run(capsys, "account", "add", "201@local", "--owner", "carol")
    assert code == 1 and "exists" in err
    code, _, err = _run(capsys, "account", "passwd", "999@local", "--password", "whatever")
    assert code == 1 and "no SIP account" in err
    code, _, err = _run(
        capsys,
        "provider",
        "add",
        "voip2",
        "--owner",
        "carol",
        "--server",
        "x",
        "--header",
        "Via: evil",
    )
    assert code == 1 and "custom_headers" in err
    code, _, err = _run(capsys, "customer", "add", "carol", "--password", "long-enough")
    assert code == 1 and "exists" in err

    code, out, _ = _run(capsys, "db", "current")
    assert (code, out.strip()) == (0, f"{head_revision()} (up to date)")


def test_commands_need_an_initialised_database(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(capsys, "account", "list")
    assert code == 1 and "sipswitch init" in err
    assert _run(capsys, "db", "upgrade")[0] == 0
    code, out, _ = _run(capsys, "account", "list")
    assert code == 0 and out.split() == ["id", "account", "owner", "in", "out", "flags", "acl"]


def test_config_file_and_errors(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "sipswitch.toml"
    config.write_text(
        '[service]\ndomain = "pbx.example.test"\n[database]\nurl = "sqlite:///./other.db"\n'
    )
    code, out, err = _run(capsys, "check-config", "--config", str(config))
    assert code == 0 and 'domain = "pbx.example.test"' in out and "OK" in err
    assert _run(capsys, "--config", str(config), "init")[0] == 0
    assert (tmp_path / "other.db").is_file()
    code, out, _ = _run(capsys, "account", "list", "--config", str(config))
    assert "101@pbx.example.test" in out

    config.write_text('[sip]\nlisteners = ["udp:0.0.0.0:5060", "udpx:0.0.0.0:5060"]\n')
    code, _, err = _run(capsys, "check-config", "--config", str(config))
    assert code == 2
    assert "sip.listeners[1]: unknown transport 'udpx'" in err
    code, _, err = _run(capsys, "init", "--config", str(tmp_path / "missing.toml"))
    assert code == 2 and "cannot read config file" in err


def test_installed_command_runs(db: Path, tmp_path: Path) -> None:
    exe = ROOT / ".venv" / "bin" / "sipswitch"
    if not exe.exists():
        pytest.skip("no .venv/bin/sipswitch")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIPSWITCH_")}
    env["SIPSWITCH_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path}/sub.db"
    first = subprocess.run(
        [str(exe), "init", "--demo-password", "demo-secret"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert "101@sipswitch.local" in first.stdout
    listed = subprocess.run(
        [str(exe), "account", "list"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    assert "102@sipswitch.local" in listed.stdout
    bad = subprocess.run(
        [str(exe), "check-config"],
        cwd=tmp_path, env={**env, "SIPSWITCH_REGISTRAR_MIN_EXPIRY": "x"},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert bad.returncode == 2 and "registrar.min_expiry" in bad.stderr


def test_allow_refer_and_provider_incoming_account(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(capsys, "init", "--demo-password", "demo-secret")[0] == 0
    code, out, _ = _run(capsys, "account", "set", "101@local", "--allow-refer")
    assert code == 0 and "phone REFER allowed" in out
    code, out, _ = _run(capsys, "account", "list")
    assert "allow-refer" in out
    code, out, _ = _run(capsys, "account", "set", "101@local", "--no-allow-refer")
    assert code == 0 and "phone REFER refused" in out

    base = ["provider", "add", "trunk", "--owner", "demo", "--server", "127.0.0.1:5099"]
    code, _, err = _run(capsys, *base, "--incoming-account", "999@local")
    assert code == 1 and "--incoming-account" in err and "999@" in err
    code, _, err = _run(capsys, *base, "--incoming-account", "102@local")
    assert code == 0, err
    code, out, _ = _run(capsys, "provider", "list")
    assert "102@sipswitch.local" in out
