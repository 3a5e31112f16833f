"""Shared helpers of the SIPp benchmarks: servers as subprocesses, SIPp runs, figures.

Everything runs on 127.0.0.1. Every wait is bounded: processes get a deadline and are killed
when they overrun it. Nothing here asserts a speed; the scripts print what they measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
KAMAILIO_CONFIGS = BENCH / "kamailio"
REGISTER_ONCE = ROOT / "tests" / "registrar" / "scenarios" / "register_once.xml"
DOMAIN = "sipswitch.local"
LOOPBACK = "127.0.0.1"
CORES_NOTE = (
    "note: this machine has {cores} core(s); SIPp, the server under test and (in its turn) "
    "Kamailio share them, so every figure is a lower bound of what the server alone could do"
)


def password_of(user: str) -> str:
    """Every benchmark account's password; bench/kamailio/registrar.cfg computes the same."""
    return f"{user}-secret"


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    """A loopback port free for both UDP and TCP right now."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, kind) as sock:
            sock.bind((LOOPBACK, 0))
            port = int(sock.getsockname()[1])
        other = socket.SOCK_STREAM if kind == socket.SOCK_DGRAM else socket.SOCK_DGRAM
        with socket.socket(socket.AF_INET, other) as sock:
            try:
                sock.bind((LOOPBACK, port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free loopback port")


def cores_note() -> str:
    import sipswitch

    hot_path = f"sipswitch hot path: {sipswitch.NATIVE} (`make native` compiles it with mypyc)"
    return CORES_NOTE.format(cores=os.cpu_count() or 1) + "\n" + hot_path


# --------------------------------------------------------------------------- process figures


def rss_kib(pid: int) -> int:
    """VmRSS of one process in KiB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return 0
    return 0


def pss_kib(pids: Sequence[int]) -> int:
    """Summed proportional set size (shared pages split between sharers), KiB."""
    total = 0
    for pid in pids:
        try:
            text = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("Pss:"):
                total += int(line.split()[1])
                break
    return total


def children_of(pid: int) -> list[int]:
    """``pid`` and all its descendants (read from /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(parents.get(current, []))
    return found


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU time consumed so far by ``pids``."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def mib(kib: int) -> str:
    return f"{kib / 1024:.1f} MiB"


# --------------------------------------------------------------------------- servers


class Server:
    """A server under test as a subprocess: its UDP port, pid(s) and a bounded stop."""

    name = "server"

    def __init__(self, port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.port = port
        self.proc = proc
        self.log = log

    @property
    def pids(self) -> list[int]:
        return children_of(self.proc.pid)

    def rss_kib(self) -> int:
        return rss_kib(self.proc.pid)

    def memory_kib(self) -> int:
        """The figure printed as "server memory": VmRSS for one process."""
        return self.rss_kib()

    def cpu(self) -> float:
        return cpu_seconds(self.pids)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self, chars: int = 2000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM; a second one after 3 s (sipswitch drains on the first); SIGKILL at last."""
        for grace in (3.0, timeout):
            if self.proc.poll() is not None:
                return
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(grace)
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)


def _options(port: int) -> bytes:
    branch = "z9hG4bK" + os.urandom(6).hex()
    return (
        f"OPTIONS sip:{LOOPBACK}:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {LOOPBACK}:9;branch={branch};rport\r\n"
        "Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=probe\r\n"
        f"To: <sip:{LOOPBACK}:{port}>\r\nCall-ID: {branch}\r\nCSeq: 1 OPTIONS\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def wait_sip_ready(server: Server, timeout: float = 30.0) -> None:
    """Send OPTIONS until anything answers (bounded by ``timeout``)."""
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOOPBACK, 0))
        sock.settimeout(0.3)
        while time.monotonic() < deadline:
            if not server.alive():
                raise RuntimeError(f"{server.name} exited:\n{server.tail()}")
            sock.sendto(_options(server.port), (LOOPBACK, server.port))
            try:
                sock.recv(65536)
                return
            except TimeoutError:
                continue
    raise RuntimeError(f"{server.name} did not answer on UDP {server.port}:\n{server.tail()}")


class Switch(Server):
    """``python -m sipswitch serve`` configured by environment variables only."""

    name = "sipswitch"

    def __init__(
        self, port: int, http_port: int, proc: subprocess.Popen[bytes], log: Path, workers: int = 1
    ) -> None:
        super().__init__(port, proc, log)
        self.http_port = http_port
        self.workers = workers

    def memory_kib(self) -> int:
        """VmRSS of the process; with several workers, their summed PSS."""
        return self.rss_kib() if self.workers == 1 else pss_kib(self.pids)

    def metric(self, name: str) -> float | None:
        """One value from ``GET /metrics`` (first sample whose name matches), or None."""
        url = f"http://{LOOPBACK}:{self.http_port}/metrics"
        try:
            with urllib.request.urlopen(url, timeout=3) as reply:
                text = reply.read().decode()
        except OSError:
            return None
        for line in text.splitlines():
            if line.startswith(name) and line[len(name) : len(name) + 1] in (" ", "{"):
                with contextlib.suppress(ValueError):
                    return float(line.rsplit(" ", 1)[1])
        return None


def switch_env(db_url: str, port: int, http_port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIPSWITCH_")}
    env.update(
        SIPSWITCH_DATABASE_URL=db_url,
        SIPSWITCH_SIP_LISTENERS=f"udp:{LOOPBACK}:{port}",
        SIPSWITCH_HTTP_LISTEN=f"{LOOPBACK}:{http_port}",
        SIPSWITCH_SECURITY_EXEMPT=LOOPBACK,  # flood and brute-force limits off for SIPp
        SIPSWITCH_REGISTRAR_DIGEST_ALGORITHMS="MD5,SHA-256",  # SIPp answers MD5 only
        SIPSWITCH_LOG_LEVEL="warning",
        # every bench account belongs to one customer: lift the per-customer call cap
        SIPSWITCH_CALLS_MAX_CALLS_PER_CUSTOMER="1000000",
        SIPSWITCH_CALLS_MAX_CALLS="1000000",
    )
    env.update(extra)
    return env


def start_switch(
    workdir: Path, db_url: str, *, profile: Path | None = None, workers: int = 1
) -> Switch:
    """Start sipswitch on free loopback ports and wait until it answers SIP and HTTP."""
    port, http_port = free_port(), free_port(socket.SOCK_STREAM)
    log = workdir / "sipswitch.log"
    command = [sys.executable]
    if profile is not None:
        command += ["-m", "cProfile", "-o", str(profile)]
    command += ["-m", "sipswitch", "serve"]
    with log.open("ab") as out:
        proc = subprocess.Popen(
            command,
            env=switch_env(db_url, port, http_port, SIPSWITCH_SIP_WORKERS=str(workers)),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=workdir,
            start_new_session=True,
        )
    switch = Switch(port, http_port, proc, log, workers)
    try:
        deadline = time.monotonic() + 120
        url = f"http://{LOOPBACK}:{http_port}/healthz"
        while time.monotonic() < deadline:
            if not switch.alive():
                raise RuntimeError(f"sipswitch exited:\n{switch.tail()}")
            try:
                with urllib.request.urlopen(url, timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                time.sleep(0.2)
        wait_sip_ready(switch, max(1.0, deadline - time.monotonic()))
    except BaseException:
        switch.stop()
        raise
    return switch


class Kamailio(Server):
    name = "kamailio"

    def memory_kib(self) -> int:
        """Kamailio forks workers sharing memory: their summed PSS, not one RSS."""
        return pss_kib(self.pids)


def ensure_kamailio() -> str | None:
    """The kamailio binary, installed with apt-get when missing; None when that fails."""
    found = shutil.which("kamailio") or (
        "/usr/sbin/kamailio" if Path("/usr/sbin/kamailio").exists() else None
    )
    if found:
        return found
    print("kamailio is missing: apt-get install -y kamailio ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        subprocess.run(
            ["apt-get", "install", "-y", "kamailio"],
            env=env,
            check=True,
            timeout=600,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        print(f"cannot install kamailio ({exc}); the reference runs are skipped", flush=True)
        return None
    return shutil.which("kamailio") or "/usr/sbin/kamailio"


def start_kamailio(
    binary: str, config: str, workdir: Path, *, children: int = 4, shm_mib: int = 512
) -> Kamailio:
    """Kamailio in the foreground (``-DD``) listening on one free loopback UDP port."""
    port = free_port()
    log = workdir / f"kamailio-{Path(config).stem}.log"
    with log.open("ab") as out:
        command = [
            binary, "-f", str(KAMAILIO_CONFIGS / config), "-DD", "-E",
            "-l", f"udp:{LOOPBACK}:{port}", "-n", str(children), "-m", str(shm_mib), "-M", "16",
            "-Y", str(workdir), "-P", str(workdir / f"kamailio-{port}.pid"),
        ]  # fmt: skip
        proc = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=workdir,
            start_new_session=True,
        )
    server = Kamailio(port, proc, log)
    try:
        wait_sip_ready(server, 20)
    except BaseException:
        server.stop()
        raise
    return server


# --------------------------------------------------------------------------- SIPp


@dataclass
class SippRun:
    """What one or several parallel SIPp clients report."""

    successful: int = 0
    failed: int = 0
    retransmissions: int = 0
    elapsed: float = 0.0
    rtts_ms: list[float] = field(default_factory=list)
    exit_codes: list[int] = field(default_factory=list)
    errors: str = ""

    @property
    def rate(self) -> float:
        return self.successful / self.elapsed if self.elapsed > 0 else 0.0

    def percentile(self, q: float) -> float | None:
        if not self.rtts_ms:
            return None
        ordered = sorted(self.rtts_ms)
        index = min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))
        return ordered[index]


@dataclass(frozen=True)
class SippClient:
    """One SIPp client process to run: its arguments after the target, and a work dir."""

    target: str
    args: tuple[str, ...]
    workdir: Path
    port: int = 0


def sipp_binary() -> str:
    found = shutil.which("sipp")
    if found is None:
        raise SystemExit("sipp is not installed (Debian package sip-tester)")
    return found


def _stat_row(path: Path) -> dict[str, str]:
    """The last row of a ``-trace_stat`` CSV as column → value (cumulative columns end (C))."""
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line]
    except OSError:
        return {}
    if len(lines) < 2:
        return {}
    header = lines[0].rstrip(";").split(";")
    values = lines[-1].rstrip(";").split(";")
    return dict(zip(header, values, strict=False))


def _int(row: dict[str, str], key: str) -> int:
    try:
        return int(row.get(key, "0") or 0)
    except ValueError:
        return 0


def current_calls(stat_csv: Path) -> int:
    """Calls a running SIPp holds now (``CurrentCall`` of its latest ``-trace_stat`` row)."""
    return _int(_stat_row(stat_csv), "CurrentCall")


def _rtts(workdir: Path) -> list[float]:
    values: list[float] = []
    for path in workdir.glob("*_rtt.csv"):
        for line in path.read_text(errors="replace").splitlines()[1:]:
            parts = line.split(";")
            if len(parts) >= 2:
                with contextlib.suppress(ValueError):
                    values.append(float(parts[1]))
    return values


def sipp_command(client: SippClient) -> list[str]:
    return [
        sipp_binary(), client.target, *client.args, "-i", LOOPBACK, "-p", str(client.port),
        "-nostdin", "-trace_stat", "-stf", str(client.workdir / "stat.csv"), "-fd", "1",
        "-trace_rtt", "-rtt_freq", "100", "-trace_err",
        "-error_file", str(client.workdir / "errors.log"),
    ]  # fmt: skip


def run_sipp(clients: Sequence[SippClient], timeout: float) -> SippRun:
    """Run SIPp clients in parallel until they all exit (killed at ``timeout``); sum figures.

    ``elapsed`` is the wall time from starting the first to the last exit, so the achieved
    rate includes the tail of the slowest call.
    """
    result = SippRun()
    procs: list[subprocess.Popen[bytes]] = []
    start = time.monotonic()
    for client in clients:
        client.workdir.mkdir(parents=True, exist_ok=True)
        procs.append(
            subprocess.Popen(
                sipp_command(client),
                cwd=client.workdir,
                stdout=subprocess.DEVNULL,
                stderr=(client.workdir / "stderr.log").open("wb"),
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        )
    deadline = start + timeout
    for proc in procs:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    result.elapsed = time.monotonic() - start
    for client, proc in zip(clients, procs, strict=True):
        row = _stat_row(client.workdir / "stat.csv")
        result.successful += _int(row, "SuccessfulCall(C)")
        result.failed += _int(row, "FailedCall(C)")
        result.retransmissions += _int(row, "Retransmissions(C)")
        result.rtts_ms.extend(_rtts(client.workdir))
        result.exit_codes.append(proc.returncode if proc.returncode is not None else -9)
        errors = client.workdir / "errors.log"
        if errors.exists() and not result.errors:
            result.errors = errors.read_text(errors="replace")[:1500]
        stderr = client.workdir / "stderr.log"
        if stderr.exists() and not result.errors:
            result.errors = stderr.read_text(errors="replace")[:1500]
    return result


class Background:
    """Long-running SIPp servers (UAS) started together and killed together."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, client: SippClient) -> None:
        client.workdir.mkdir(parents=True, exist_ok=True)
        args = [
            sipp_binary(), *client.args, "-i", LOOPBACK, "-p", str(client.port), "-nostdin",
            "-trace_err", "-error_file", str(client.workdir / "errors.log"),
        ]  # fmt: skip
        self.procs.append(
            subprocess.Popen(
                args,
                cwd=client.workdir,
                stdout=subprocess.DEVNULL,
                stderr=(client.workdir / "stderr.log").open("wb"),
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        )

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)
        self.procs.clear()


def split_rate(rate: int, per_client: int) -> list[int]:
    """``rate`` calls/s spread over as few SIPp clients as keep each under ``per_client``."""
    count = max(1, math.ceil(rate / per_client))
    base, extra = divmod(rate, count)
    return [base + (1 if i < extra else 0) for i in range(count)]


# --------------------------------------------------------------------------- provisioning


def write_users(path: Path, users: Sequence[str]) -> Path:
    """A SIPp injection file for register_once.xml: user;[authentication ...];domain."""
    lines = ["SEQUENTIAL"]
    lines += [
        f"{u};[authentication username={u} password={password_of(u)}];{DOMAIN}" for u in users
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


async def _provision(db_url: str, users: Sequence[str]) -> None:
    from sqlalchemy import insert

    from sipswitch.storage import LOCAL_ALIAS, Scope, Store, upgrade
    from sipswitch.storage.credentials import digest_ha1
    from sipswitch.storage.models import SipAccount

    await upgrade(db_url)
    admin = Scope.system()
    async with Store.open(db_url) as store:
        domain = await store.domains.resolve(admin, DOMAIN)
        if domain is None:
            domain = await store.domains.create(admin, DOMAIN, [LOCAL_ALIAS], service_wide=True)
        owner = await store.customers.get_by_username(admin, "bench")
        if owner is None:
            owner = await store.customers.create(admin, "bench", "bench-login-password")
        rows = []
        for user in users:
            hashes = digest_ha1(user, DOMAIN, password_of(user))
            rows.append(
                {
                    "owner_id": owner.id,
                    "username": user,
                    "domain_id": domain.id,
                    "ha1_md5": hashes.md5,
                    "ha1_sha256": hashes.sha256,
                    # keep-alives would send 1 packet / 15 s per binding to SIPp's closed
                    # ports; Kamailio's reference config sends none either
                    "nat_keepalive": False,
                }
            )
        async with store.engine.begin() as conn:
            for start in range(0, len(rows), 20_000):
                await conn.execute(insert(SipAccount), rows[start : start + 20_000])


def provision(db_url: str, users: Sequence[str]) -> float:
    """Create the schema, the service domain, customer ``bench`` and ``users`` (bulk insert);
    returns the seconds it took."""
    start = time.perf_counter()
    asyncio.run(_provision(db_url, users))
    return time.perf_counter() - start


# --------------------------------------------------------------------------- printing


def fmt_ms(value: float | None) -> str:
    """SIPp reports response times in whole milliseconds."""
    if value is None:
        return "-"
    return "<1" if value < 1 else f"{value:.0f}"


def first_failure(errors: str) -> str:
    """The first SIPp error line that is not a late retransmission to a finished call."""
    for line in errors.splitlines():
        if "Dead call" not in line and ("Aborting" in line or "imeout" in line):
            return line.strip()[:300]
    return ""


@dataclass
class Row:
    server: str
    target: int
    run: SippRun
    attempted: int
    memory_kib: int
    cpu_percent: float

    def cells(self) -> list[str]:
        run = self.run
        lost = self.attempted - run.successful - run.failed
        fail_pct = 100.0 * (self.attempted - run.successful) / self.attempted
        return [
            self.server,
            str(self.target),
            f"{run.rate:.0f}",
            str(run.successful),
            str(run.failed + max(0, lost)),
            f"{fail_pct:.2f}%",
            str(run.retransmissions),
            fmt_ms(run.percentile(50)),
            fmt_ms(run.percentile(99)),
            f"{self.cpu_percent:.0f}%",
            f"{self.memory_kib / 1024:.0f}",
        ]


HEADER = [
    "server", "target/s", "achieved/s", "ok", "failed", "fail%", "retrans", "p50 ms",
    "p99 ms", "srv CPU", "srv MiB",
]  # fmt: skip


def print_table(rows: Sequence[Sequence[str]], header: Sequence[str] | None = HEADER) -> None:
    """Fixed-width columns, so rows printed one at a time line up under one header."""
    widths = [max(9, len(h)) for h in HEADER]
    if header is not None:
        print("  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)))
    for row in rows:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)), flush=True)


@contextlib.contextmanager
def stopping(*servers: Server) -> Iterator[None]:
    try:
        yield
    finally:
        for server in servers:
            server.stop()
