"""Two worker processes behind one address (``sip.workers = 2``), driven by SIPp.

A real ``sipswitch serve`` on loopback with a SQLite file: registrations and calls whose
Call-IDs hash to either worker, so every REGISTER, INVITE, ACK, BYE and response crosses the
mesh about half the time; a TCP caller whose connection the first worker holds; a worker killed
and restarted by the first one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sipswitch.storage import LOCAL_ALIAS, Scope, Store, upgrade
from sipswitch.transport.steering import call_id_owner
from tests.support.peers import sipp as sipp_binary
from tests.support.sipclient import free_port

pytestmark = pytest.mark.peers

DOMAIN = "sipswitch.local"
PASSWORD = "worker-test-pw"
REGISTER_ONCE = Path(__file__).parents[1] / "registrar" / "scenarios" / "register_once.xml"
USERS = [f"u{n}" for n in range(30)]


@dataclass
class Served:
    proc: asyncio.subprocess.Process
    port: int
    http_port: int
    log: Path

    def health(self) -> dict[str, object]:
        url = f"http://127.0.0.1:{self.http_port}/healthz"
        with urllib.request.urlopen(url, timeout=2) as reply:
            found: dict[str, object] = json.loads(reply.read())
            return found

    def workers(self) -> list[int]:
        """Pids of the worker processes the first one started."""
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                if int(stat.rpartition(")")[2].split()[1]) == self.proc.pid:
                    found.append(int(entry.name))
        return found


async def _provision(db_url: str) -> None:
    await upgrade(db_url)
    admin = Scope.system()
    async with Store.open(db_url) as store:
        await store.domains.create(admin, DOMAIN, [LOCAL_ALIAS], service_wide=True)
        owner = await store.customers.create(admin, "alice", "alice-login-pw")
        for user in [*USERS, "bob"]:
            await store.accounts.create(admin, user, DOMAIN, PASSWORD, owner_id=owner.id)


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'switch.db'}"
    await _provision(db_url)
    port, http_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIPSWITCH_")}
    env.update(
        SIPSWITCH_DATABASE_URL=db_url,
        SIPSWITCH_SIP_LISTENERS=f"udp:127.0.0.1:{port},tcp:127.0.0.1:{port}",
        SIPSWITCH_HTTP_LISTEN=f"127.0.0.1:{http_port}",
        SIPSWITCH_SIP_WORKERS="2",
        SIPSWITCH_SECURITY_EXEMPT="127.0.0.1",
        SIPSWITCH_REGISTRAR_DIGEST_ALGORITHMS="MD5,SHA-256",  # SIPp answers MD5 only
    )
    log = tmp_path / "switch.log"
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "sipswitch", "serve", env=env, stdout=out, stderr=out,
            stdin=asyncio.subprocess.DEVNULL, cwd=tmp_path,
        )  # fmt: skip
    switch = Served(proc, port, http_port, log)
    try:
        async with asyncio.timeout(60):
            while True:
                assert proc.returncode is None, log.read_text()
                try:
                    if switch.health().get("workers") == 2:
                        break
                except OSError:
                    pass
                await asyncio.sleep(0.2)
        yield switch
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()
    code = await proc.wait()
    assert code == 0, log.read_text()[-3000:]
    assert not switch.workers(), "no worker outlives the switch"
    assert "Traceback" not in log.read_text()


async def sipp(tmp_path: Path, name: str, *args: str, timeout: float = 40) -> str:
    """Run SIPp to completion; its exit status must be 0 (every call succeeded)."""
    errors = tmp_path / f"{name}.err"
    proc = await asyncio.create_subprocess_exec(
        sipp_binary(), *args, "-i", "127.0.0.1", "-nostdin", "-timeout", f"{int(timeout)}s",
        "-timeout_error", "-trace_err", "-error_file", str(errors),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=tmp_path,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), timeout + 10)
    text = errors.read_text(errors="replace") if errors.exists() else ""
    assert proc.returncode == 0, f"{name}: {out.decode(errors='replace')[-1500:]}\n{text[:1500]}"
    return text


def users_file(tmp_path: Path, users: list[str]) -> Path:
    path = tmp_path / f"users-{users[0]}.csv"
    auth = "[authentication username={} password={}]"
    lines = ["SEQUENTIAL", *(f"{u};{auth.format(u, PASSWORD)};{DOMAIN}" for u in users)]
    path.write_text("\n".join(lines) + "\n")
    return path


async def register(
    served: Served, tmp_path: Path, users: list[str], port: int = 0, transport: str = "u1"
) -> None:
    await sipp(
        tmp_path, f"register-{users[0]}", f"127.0.0.1:{served.port}", "-sf", str(REGISTER_ONCE),
        "-inf", str(users_file(tmp_path, users)), "-m", str(len(users)), "-r", "50",
        "-p", str(port), "-t", transport,
    )  # fmt: skip


async def calls(
    served: Served, tmp_path: Path, name: str, count: int, transport: str = "u1"
) -> None:
    """``count`` calls to bob (uac -> switch -> the uas registered as bob)."""
    await sipp(
        tmp_path, name, f"127.0.0.1:{served.port}", "-sn", "uac", "-s", "bob",
        "-m", str(count), "-r", "20", "-d", "100", "-t", transport, "-p", "0",
    )  # fmt: skip


@pytest.fixture
async def bob(tmp_path: Path, served: Served) -> AsyncIterator[int]:
    """A SIPp uas answering as bob: registered from its port, then listening there."""
    async with answering(tmp_path, served, "u1") as port:
        yield port


@contextlib.asynccontextmanager
async def answering(tmp_path: Path, served: Served, transport: str) -> AsyncIterator[int]:
    port = free_port()
    await register(served, tmp_path, ["bob"], port, transport)
    proc = await asyncio.create_subprocess_exec(
        sipp_binary(), "-sn", "uas", "-i", "127.0.0.1", "-p", str(port), "-t", transport,
        "-nostdin",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL, cwd=tmp_path,
    )  # fmt: skip
    try:
        await asyncio.sleep(0.3)
        yield port
    finally:
        proc.kill()
        await proc.wait()


async def test_registrations_and_calls_cross_the_workers(
    served: Served, bob: int, tmp_path: Path
) -> None:
    await register(served, tmp_path, USERS)  # 30 Call-IDs: both workers register some
    await calls(served, tmp_path, "udp-calls", 30)
    await calls(served, tmp_path, "tcp-calls", 20, transport="t1")
    health = served.health()
    assert health["workers"] == 2 and health["status"] == "ok"


async def test_a_callee_on_tcp_is_reached_through_the_first_workers_connections(
    served: Served, tmp_path: Path
) -> None:
    """The second worker's INVITEs to a TCP binding, and its ACKs and BYEs, go out on the
    connection the first worker opens; the callee's answers come back to their owner."""
    async with answering(tmp_path, served, "t1"):
        await calls(served, tmp_path, "to-tcp", 20)


async def test_a_killed_worker_is_restarted_and_serves_again(
    served: Served, bob: int, tmp_path: Path
) -> None:
    (worker,) = served.workers()
    os.kill(worker, signal.SIGKILL)
    async with asyncio.timeout(30):
        while served.health().get("restarts") != 1 or len(served.workers()) != 1:
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.5)  # it reloads the bindings and joins
    assert served.workers() != [worker]
    await calls(served, tmp_path, "after-restart", 20)


def admin(served: Served, path: str, body: bytes | None = None) -> tuple[int, object]:
    token = (served.log.parent / "admin.token").read_text().strip()
    request = urllib.request.Request(
        f"http://127.0.0.1:{served.http_port}{path}",
        data=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


async def test_the_admin_api_answers_for_every_worker(
    served: Served, bob: int, tmp_path: Path
) -> None:
    target = f"127.0.0.1:{served.port}"
    options = ("-sn", "uac", "-s", "bob", "-m", "16", "-r", "16", "-d", "4000", "-p", "0")
    held = asyncio.create_task(sipp(tmp_path, "held", target, *options))
    await asyncio.sleep(2.5)
    status, listed = await asyncio.to_thread(admin, served, "/admin/calls")
    assert status == 200 and isinstance(listed, list)
    assert len(listed) == 16
    owners = {call_id_owner(str(call["call_id"]), 2) for call in listed}
    assert owners == {0, 1}, "both workers' calls are listed"
    elsewhere = next(f"x{n}" for n in range(100) if call_id_owner(f"x{n}", 2) == 1)
    status, answer = await asyncio.to_thread(
        admin, served, f"/admin/calls/{elsewhere}/refer", b'{"target": "sip:x@127.0.0.1"}'
    )
    assert (status, answer) == (404, {"error": "no such call"})  # asked worker 1, not found
    await held
