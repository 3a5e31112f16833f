"""Authenticated registrations per second: SIPp REGISTER with digest against sipswitch, then the
same load against Kamailio (usrloc in memory) as the reference; then 100,000 bindings held and
the memory they take.

Run: ``python -m bench.register_bench`` (about 5 minutes; ``--quick`` about 1 minute).

Each step registers fresh users (401 challenge, MD5 digest, 200) at a target rate for a few
seconds with ``tests/registrar/scenarios/register_once.xml``; several SIPp clients run in
parallel above ``--per-client`` registrations/s. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.common import (
    REGISTER_ONCE,
    Row,
    Server,
    SippClient,
    SippRun,
    Switch,
    cores_note,
    ensure_kamailio,
    first_failure,
    mib,
    print_table,
    provision,
    run_sipp,
    split_rate,
    start_kamailio,
    start_switch,
    write_users,
)

RATES = (1000, 2000, 3000, 4000, 4500, 5000, 5500, 6000)
QUICK_RATES = (1000, 3000, 6000)


@dataclass
class Plan:
    rates: tuple[int, ...]
    seconds: float
    hold: int
    per_client: int
    workdir: Path

    def users(self) -> list[str]:
        needed = max(self.hold, sum(int(r * self.seconds) for r in self.rates))
        return [f"u{i:06d}" for i in range(needed)]


def _scenario(workdir: Path) -> Path:
    """register_once.xml measuring the time from the first REGISTER to the 200 (SIPp rtd)."""
    text = REGISTER_ONCE.read_text()
    timed = text.replace('<recv response="200"/>', '<recv response="200" rtd="true"/>')
    path = workdir / "register_once_rtd.xml"
    path.write_text(timed)
    return path


class Registrations:
    """Feeds SIPp clients with users nobody registered yet on this server."""

    def __init__(self, server: Server, plan: Plan, users: Sequence[str], label: str) -> None:
        self.server = server
        self.plan = plan
        self.users = users
        self.label = label
        self.cursor = 0
        self.scenario = _scenario(plan.workdir)
        self.runs = 0

    def run(self, rate: int, count: int) -> tuple[SippRun, int]:
        """Register ``count`` fresh users at ``rate``/s; returns the run and how many tried."""
        count = min(count, len(self.users) - self.cursor)
        rates = split_rate(rate, self.plan.per_client)
        clients = []
        done = 0
        for i, client_rate in enumerate(rates):
            share = count // len(rates) + (1 if i < count % len(rates) else 0)
            chunk = self.users[self.cursor + done : self.cursor + done + share]
            done += share
            self.runs += 1
            workdir = self.plan.workdir / f"{self.label}-{self.runs:03d}"
            workdir.mkdir(parents=True)
            users = write_users(workdir / "users.csv", chunk)
            timeout = f"{int(count / rate) + 15}s"
            options = (
                "-sf", str(self.scenario), "-inf", str(users), "-m", str(len(chunk)),
                "-r", str(client_rate), "-rp", "1000", "-l", str(max(200, client_rate)),
                "-recv_timeout", "5000", "-timeout", timeout,
            )  # fmt: skip
            clients.append(SippClient(f"127.0.0.1:{self.server.port}", options, workdir))
        self.cursor += count
        return run_sipp(clients, timeout=count / rate + 25), count


def _steps(name: str, feed: Registrations, plan: Plan) -> list[Row]:
    rows: list[Row] = []
    for rate in plan.rates:
        if not feed.server.alive():
            print(f"{name} is gone; steps stopped", flush=True)
            break
        cpu_before = feed.server.cpu()
        run, tried = feed.run(rate, int(rate * plan.seconds))
        cpu = 100.0 * (feed.server.cpu() - cpu_before) / max(run.elapsed, 1e-6)
        row = Row(name, rate, run, tried, feed.server.memory_kib(), cpu)
        rows.append(row)
        print_table([row.cells()], header=None)
        reason = first_failure(run.errors) if run.successful < tried else ""
        if reason:
            print(f"  first SIPp failure: {reason}", flush=True)
        time.sleep(1.0)  # let retransmission timers and write-behind settle between steps
    return rows


def clean_rate(rows: Sequence[Row], fallback: int = 500) -> int:
    """The highest target rate reached (95%) with no failure: the rate to fill up at."""
    clean = [
        row.target
        for row in rows
        if row.run.successful == row.attempted and row.run.rate >= 0.95 * row.target
    ]
    return max(clean, default=fallback)


def _hold(name: str, feed: Registrations, plan: Plan, before_kib: int, rate: int) -> str:
    """Register users until ``plan.hold`` bindings exist; print and return the memory line."""
    missing = plan.hold - feed.cursor
    if missing > 0:
        run, tried = feed.run(rate, missing)
        print(
            f"{name}: registered {run.successful}/{tried} more users at {run.rate:.0f}/s "
            f"({run.failed} failed)",
            flush=True,
        )
    time.sleep(2.0)
    after = feed.server.memory_kib()
    bindings: float | None = None
    if isinstance(feed.server, Switch):
        bindings = feed.server.metric("sipswitch_bindings")
    held = (
        f"{int(bindings)} bindings" if bindings is not None else f"{feed.cursor} users registered"
    )
    per = (after - before_kib) * 1024 / max(1, int(bindings or feed.cursor))
    line = (
        f"{name}: {held}: memory {mib(before_kib)} before -> {mib(after)} after "
        f"({per:.0f} bytes per binding)"
    )
    print(line, flush=True)
    return line


def _restarted(workdir: Path, db_url: str, before_kib: int, workers: int) -> str:
    """sipswitch restarted on the same database: the bindings reloaded, no overload debris."""
    started = time.perf_counter()
    switch = start_switch(workdir, db_url, workers=workers)
    try:
        took = time.perf_counter() - started
        time.sleep(1.0)
        bindings = switch.metric("sipswitch_bindings") or 0.0
        after = switch.memory_kib()
    finally:
        switch.stop()
    per = (after - before_kib) * 1024 / max(1.0, bindings)
    line = (
        f"sipswitch restarted (up in {took:.1f} s): {int(bindings)} bindings reloaded: "
        f"memory {mib(after)} ({per:.0f} bytes per binding over the empty server's "
        f"{mib(before_kib)})"
    )
    print(line, flush=True)
    return line


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="short steps, 20,000 bindings")
    parser.add_argument("--rates", help="comma separated target rates (registrations/s)")
    parser.add_argument("--seconds", type=float, help="seconds per step (default 5, quick 2)")
    parser.add_argument("--hold", type=int, help="bindings to hold for the memory figure")
    parser.add_argument("--per-client", type=int, default=2000, help="rate per SIPp client")
    parser.add_argument("--no-kamailio", action="store_true", help="skip the reference")
    parser.add_argument("--no-restart", action="store_true", help="skip the reload figure")
    parser.add_argument("--profile", type=Path, help="cProfile output file for sipswitch")
    parser.add_argument("--workers", type=int, default=1, help="sipswitch worker processes")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    rates = tuple(int(r) for r in args.rates.split(",")) if args.rates else None
    with tempfile.TemporaryDirectory(prefix="sipswitch-regbench-") as tmp:
        plan = Plan(
            rates=rates or (QUICK_RATES if args.quick else RATES),
            seconds=args.seconds or (2.0 if args.quick else 5.0),
            hold=args.hold if args.hold is not None else (20_000 if args.quick else 100_000),
            per_client=args.per_client,
            workdir=Path(tmp),
        )
        users = plan.users()
        print("REGISTER with digest (401 + MD5 credentials + 200), SIPp -> server, UDP loopback")
        print(cores_note())
        print(
            f"steps: {', '.join(map(str, plan.rates))}/s for {plan.seconds:g} s each, fresh "
            f"users every step; then {plan.hold} bindings held. p50/p99: first REGISTER -> 200.",
            flush=True,
        )
        db_url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        took = provision(db_url, users)
        print(f"provisioned {len(users)} accounts in {took:.1f} s (bulk insert)", flush=True)

        memory: list[str] = []
        rows: list[Row] = []
        started = time.perf_counter()
        switch = start_switch(plan.workdir, db_url, profile=args.profile, workers=args.workers)
        print(f"sipswitch up in {time.perf_counter() - started:.1f} s (pid {switch.proc.pid})")
        try:
            before = switch.memory_kib()
            print_table([])
            feed = Registrations(switch, plan, users, "switch")
            steps = _steps("sipswitch", feed, plan)
            rows += steps
            if switch.alive():
                rate = clean_rate(steps)
                memory.append(_hold("sipswitch", feed, plan, before, rate))
        finally:
            switch.stop()
        if plan.hold and not args.no_restart:
            memory.append(_restarted(plan.workdir, db_url, before, args.workers))

        binary = None if args.no_kamailio else ensure_kamailio()
        if binary is not None:
            kamailio = start_kamailio(binary, "registrar.cfg", plan.workdir)
            try:
                before = kamailio.memory_kib()
                feed = Registrations(kamailio, plan, users, "kamailio")
                steps = _steps("kamailio", feed, plan)
                rows += steps
                memory.append(_hold("kamailio", feed, plan, before, clean_rate(steps)))
            finally:
                kamailio.stop()

        print("\nsummary (srv MiB: sipswitch VmRSS; kamailio summed PSS of its processes)")
        print_table([row.cells() for row in rows])
        for line in memory:
            print(line)
        print(cores_note())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
