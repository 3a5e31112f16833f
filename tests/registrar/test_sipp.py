"""SIPp against the registrar: digest, refresh, unregister, wrong password, Contact *, 423;
1,000 bindings surviving a restart."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from sipswitch.storage import Scope
from tests.server.conftest import RunningSwitch
from tests.support.peers import sipp

from .conftest import start_switch
from .support import PASSWORD, provision

pytestmark = pytest.mark.peers

#: SIPp answers only the first challenge and only MD5
MD5_FIRST = {"SIPSWITCH_REGISTRAR_DIGEST_ALGORITHMS": "MD5,SHA-256"}


@pytest.fixture
def switch_extra() -> dict[str, str]:
    return {"SIPSWITCH_SECURITY_FLOOD_REQUESTS": "100000", **MD5_FIRST}


SCENARIOS = Path(__file__).parent / "scenarios"


def _users(tmp_path: Path, rows: list[tuple[str, str]]) -> Path:
    path = tmp_path / "users.csv"
    auth = "[authentication username={} password={}]"
    lines = ["SEQUENTIAL", *(f"{u};{auth.format(u, p)};sipswitch.local" for u, p in rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


async def run_sipp(
    port: int, scenario: str, users: Path, tmp_path: Path, *, calls: int, transport: str = "u1",
    rate: int = 100, timeout: float = 60.0,
) -> tuple[int, str]:  # fmt: skip
    errors = tmp_path / f"{scenario}.err"
    proc = await asyncio.create_subprocess_exec(
        sipp(), f"127.0.0.1:{port}", "-sf", str(SCENARIOS / f"{scenario}.xml"),
        "-inf", str(users), "-t", transport, "-i", "127.0.0.1", "-p", "0",
        "-m", str(calls), "-r", str(rate), "-l", "200", "-timeout", f"{int(timeout)}s",
        "-timeout_error", "-nostdin", "-trace_err", "-error_file", str(errors),
        "-trace_msg", "-message_file", str(tmp_path / f"{scenario}.msg"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), timeout + 10)
    text = out.decode(errors="replace")
    if errors.exists():
        text += errors.read_text(errors="replace")
    return proc.returncode or 0, text


@pytest.mark.parametrize(
    ("scenario", "transport"),
    [
        ("register_digest", "u1"),
        ("register_digest", "t1"),
        ("register_star", "u1"),
        ("register_423", "u1"),
    ],
)
async def test_sipp_scenarios(
    switch: RunningSwitch, tmp_path: Path, scenario: str, transport: str
) -> None:
    await provision(switch.app, ["201", "202", "203"])
    users = _users(tmp_path, [("201", PASSWORD), ("202", PASSWORD), ("203", PASSWORD)])
    code, out = await run_sipp(switch.port, scenario, users, tmp_path, calls=3, transport=transport)
    assert code == 0, out
    location = switch.app.registration.location
    if scenario == "register_digest":
        assert len(location) == 0  # registered, refreshed, then removed again


async def test_sipp_wrong_password(switch: RunningSwitch, tmp_path: Path) -> None:
    await provision(switch.app, ["201"])
    users = _users(tmp_path, [("201", "wrong-one")])
    code, out = await run_sipp(switch.port, "register_wrong_password", users, tmp_path, calls=1)
    assert code == 0, out
    assert len(switch.app.registration.location) == 0


async def test_thousand_bindings_survive_a_restart(tmp_path: Path) -> None:
    extra = {"SIPSWITCH_SECURITY_EXEMPT": "127.0.0.1", **MD5_FIRST}
    first = await start_switch(tmp_path, extra)
    names = [f"u{i:04d}" for i in range(1000)]
    try:
        alice = await provision(first.app, [])
        store = first.app.store
        for name in names:  # the repository hashes each password: run them concurrently
            await store.accounts.create(
                Scope.system(), name, "sipswitch.local", PASSWORD, owner_id=alice
            )
        await first.app.registration.accounts.reload()
        users = _users(tmp_path, [(n, PASSWORD) for n in names])
        code, out = await run_sipp(
            first.port, "register_once", users, tmp_path, calls=1000, rate=1000, timeout=60
        )
        assert code == 0, out[-3000:]
        assert len(first.app.registration.location) == 1000
    finally:
        await first.app.close()
    second = await start_switch(tmp_path, extra)
    try:
        location = second.app.registration.location
        assert len(location) == 1000
        for name in names:
            found = location.lookup(f"{name}@sipswitch.local")
            assert len(found) == 1 and found[0].target.transport == "udp"
    finally:
        await second.app.close()
