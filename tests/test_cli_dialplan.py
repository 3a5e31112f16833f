"""``sipswitch dialplan ...`` and ``sipswitch account set`` end to end on a SQLite file."""

from __future__ import annotations

import asyncio
import io
import json
import os
import sys
from pathlib import Path

import pytest

from sipswitch.cli import main
from sipswitch.storage import Scope, SipAccountRecord, Store

TRANSFER = """\
sys.log("blind transfer starting...")
if req.uri.user == "hold":
    sys.dial("")
else:
    sys.dial(f"{req.uri.user}@local")
"""
RULES = [{"direction": "out", "pattern": "_0X.", "command": {"type": "dial", "dial_string": "v1"}}]


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Path:
    """An initialised database in tmp_path; customer ``carol`` with 201@local, provider v1."""
    for name in list(os.environ):
        if name.startswith("SIPSWITCH_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    assert main(["init", "--demo-password", "demo-secret"]) == 0
    assert main(["customer", "add", "carol", "--password", "carol-login"]) == 0
    for aor in ("201@local", "202@local"):
        assert main(["account", "add", aor, "--owner", "carol", "--password", "sip-pw"]) == 0
    assert main(["provider", "add", "v1", "--owner", "carol", "--server", "sip.example"]) == 0
    capsys.readouterr()
    return tmp_path / "var" / "sipswitch.db"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _file(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def _accounts(db: Path) -> dict[str, SipAccountRecord]:
    async def read() -> dict[str, SipAccountRecord]:
        async with Store.open(f"sqlite+aiosqlite:///{db}") as store:
            return {a.aor: a for a in await store.accounts.list(Scope.system())}

    return asyncio.run(read())


def test_add_show_list_and_account_use(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _file(tmp_path, "transfer.py", TRANSFER)
    code, out, err = _run(
        capsys, "dialplan", "add", "transfer", path, "--owner", "carol",
        "--out-account", "201@local", "--in-account", "202@local",
    )  # fmt: skip
    assert code == 0, err
    assert "dialplan transfer (script) added for carol: version 1" in out
    assert "out dialplan of 201@sipswitch.local" in out
    accounts = _accounts(db)
    assert accounts["201@sipswitch.local"].out_dialplan == "transfer"
    assert accounts["202@sipswitch.local"].in_dialplan == "transfer"

    code, out, err = _run(capsys, "dialplan", "show", "transfer", "--owner", "carol")
    assert code == 0 and out == TRANSFER
    assert "version 1 (current)" in err and "by cli" in err

    code, out, _ = _run(capsys, "dialplan", "list")
    assert code == 0
    header, row = out.splitlines()
    assert header.split()[:6] == ["id", "name", "owner", "kind", "version", "bytes"]
    assert row.split()[1:6] == ["transfer", "carol", "script", "1", str(len(TRANSFER))]
    assert "in:202@sipswitch.local" in row and "out:201@sipswitch.local" in row
    code, out, _ = _run(capsys, "dialplan", "list", "--owner", "demo")
    assert code == 0 and len(out.splitlines()) == 1


def test_add_from_stdin_and_rules_kind(
    db: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text = json.dumps(RULES, indent=2)
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))
    code, out, err = _run(
        capsys, "dialplan", "add", "out", "-", "--owner", "carol", "--kind", "rules"
    )
    assert code == 0, err
    code, out, _ = _run(capsys, "dialplan", "show", "out", "--owner", "carol")
    assert out == text + "\n"


def test_invalid_sources_are_refused_with_line_and_reason(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = _file(tmp_path, "bad.py", 'sys.log("x")\nimport os\n')
    code, out, err = _run(capsys, "dialplan", "add", "out", bad, "--owner", "carol")
    assert code == 1 and out == ""
    assert f"{bad}:2: import of " in err and '"os"' in err

    rules = json.loads(json.dumps(RULES))
    rules[0]["command"]["dial_string"] = "nowhere"  # not one of carol's providers
    path = _file(tmp_path, "rules.json", json.dumps(rules, indent=2))
    code, _, err = _run(
        capsys, "dialplan", "add", "out", path, "--owner", "carol", "--kind", "rules"
    )
    assert code == 1 and f"{path}:7: rule 0, field 'command.dial_string'" in err
    code, out, _ = _run(capsys, "dialplan", "list")
    assert len(out.splitlines()) == 1, "nothing was saved"

    code, _, err = _run(
        capsys, "dialplan", "add", "x", str(tmp_path / "nope.py"), "--owner", "carol"
    )
    assert code == 1 and "cannot read" in err
    good = _file(tmp_path, "good.py", TRANSFER)
    code, _, err = _run(
        capsys, "dialplan", "add", "x", good, "--owner", "carol", "--in-account", "101@local"
    )  # fmt: skip
    assert code == 1 and "no SIP account 101@local of this owner" in err
    code, out, _ = _run(capsys, "dialplan", "list")
    assert len(out.splitlines()) == 1, "an account refusal saves nothing"
    code, _, err = _run(capsys, "dialplan", "add", "bad name", good, "--owner", "carol")
    assert code == 1 and "name" in err


def test_update_history_rollback(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    v1 = _file(tmp_path, "v1.py", 'sys.dial("1@local")\n')
    v2 = _file(tmp_path, "v2.py", 'sys.dial("2@local")\n')
    broken = _file(tmp_path, "broken.py", 'sys.dial("3@local"\n')
    assert _run(capsys, "dialplan", "add", "out", v1, "--owner", "carol")[0] == 0
    code, out, _ = _run(capsys, "dialplan", "update", "out", v2, "--owner", "carol")
    assert code == 0 and "version 2 saved" in out
    code, out, _ = _run(capsys, "dialplan", "update", "out", v2, "--owner", "carol")
    assert code == 0 and "unchanged (version 2)" in out
    code, _, err = _run(capsys, "dialplan", "update", "out", broken, "--owner", "carol")
    assert code == 1 and f"{broken}:1:" in err
    code, _, err = _run(capsys, "dialplan", "update", "nope", v2, "--owner", "carol")
    assert code == 1 and "no dialplan 'nope' of carol" in err

    code, out, _ = _run(capsys, "dialplan", "history", "out", "--owner", "carol")
    rows = [line.split() for line in out.splitlines()[1:]]
    assert [r[0] for r in rows] == ["2", "1"]
    assert rows[0][-1] == "current" and rows[0][3] == "20" and rows[0][4] == "cli"

    code, out, err = _run(capsys, "dialplan", "rollback", "out", "--to", "1", "--owner", "carol")
    assert code == 0 and "version 1 is current again, as version 3" in out
    code, out, err = _run(capsys, "dialplan", "show", "out", "--owner", "carol")
    assert out == 'sys.dial("1@local")\n' and "version 3 (current)" in err
    code, out, err = _run(capsys, "dialplan", "show", "out", "--owner", "carol", "--version", "2")
    assert out == 'sys.dial("2@local")\n' and "current is 3" in err
    code, _, err = _run(capsys, "dialplan", "rollback", "out", "--to", "7", "--owner", "carol")
    assert code == 1 and "no version 7" in err
    code, _, err = _run(capsys, "dialplan", "show", "out", "--owner", "demo")
    assert code == 1 and "no dialplan 'out' of demo" in err


def test_validate_without_saving(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = _file(tmp_path, "t.py", TRANSFER)
    code, out, _ = _run(capsys, "dialplan", "validate", good)
    assert code == 0 and "a valid script dialplan" in out
    rules = _file(tmp_path, "r.json", json.dumps(RULES))
    assert _run(capsys, "dialplan", "validate", rules, "--kind", "rules")[0] == 0
    assert (
        _run(capsys, "dialplan", "validate", rules, "--kind", "rules", "--owner", "carol")[0] == 0
    )
    code, _, err = _run(capsys, "dialplan", "validate", rules, "--kind", "rules", "--owner", "demo")
    assert code == 1 and "command.dial_string" in err  # demo has no provider v1
    code, _, err = _run(capsys, "dialplan", "validate", good, "--kind", "rules")
    assert code == 1 and "not a valid rules dialplan" in err and f"{good}:1: not JSON" in err
    code, out, _ = _run(capsys, "dialplan", "list")
    assert len(out.splitlines()) == 1


def test_account_set_and_delete(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _file(tmp_path, "t.py", TRANSFER)
    assert _run(capsys, "dialplan", "add", "calls", path, "--owner", "carol")[0] == 0
    code, out, err = _run(
        capsys, "account", "set", "201@local", "--in-dialplan", "calls", "--out-dialplan", "calls"
    )
    assert code == 0, err
    assert (
        out.strip()
        == "201@sipswitch.local: in dialplan calls, out dialplan calls, phone REFER refused"
    )
    code, _, err = _run(capsys, "account", "set", "101@local", "--in-dialplan", "calls")
    assert code == 1 and "has no dialplan 'calls'" in err  # 101 is demo's
    code, _, err = _run(capsys, "account", "set", "201@local")
    assert code == 1 and "nothing to change" in err

    code, _, err = _run(capsys, "dialplan", "delete", "calls", "--owner", "carol")
    assert code == 1 and "used by 201@sipswitch.local" in err
    code, out, _ = _run(capsys, "account", "set", "201@local", "--no-in-dialplan")
    assert (
        out.strip() == "201@sipswitch.local: in dialplan -, out dialplan calls, phone REFER refused"
    )
    assert _run(capsys, "account", "set", "201@local", "--no-out-dialplan")[0] == 0
    account = _accounts(db)["201@sipswitch.local"]
    assert (account.in_dialplan, account.out_dialplan) == (None, None)
    code, out, _ = _run(capsys, "dialplan", "delete", "calls", "--owner", "carol")
    assert code == 0 and "deleted" in out
    code, out, _ = _run(capsys, "dialplan", "list")
    assert len(out.splitlines()) == 1
