"""Call setup rate: SIPp uac -> sipswitch (B2BUA) -> SIPp uas, at stepped rates, beside the same
load through Kamailio as a stateful proxy (tm + rr + sl); memory per active call first.

Run: ``python -m bench.call_bench`` (about 3 minutes; ``--quick`` about 1 minute).

sipswitch routes each call as an **In** call to a registered account: account ``benchN`` is
registered (SIPp, register_once.xml with digest) from the port where SIPp uas ``N`` then
answers, and uac ``N`` calls ``sip:benchN@127.0.0.1:<switch port>``. Kamailio forwards a call
for ``sip:<port>@...`` to the uas on that port. Above ``--per-pair`` calls/s several uac/uas
pairs run in parallel. Calls are SIPp's default scenarios (INVITE, 180, 200, ACK, BYE, 200)
with ``-d 0``. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.common import (
    REGISTER_ONCE,
    Background,
    Row,
    Server,
    SippClient,
    SippRun,
    Switch,
    cores_note,
    current_calls,
    ensure_kamailio,
    first_failure,
    free_port,
    mib,
    print_table,
    provision,
    run_sipp,
    split_rate,
    start_kamailio,
    start_switch,
    write_users,
)

RATES = (100, 250, 500, 750, 1000)
QUICK_RATES = (250, 750)
HELD_CALLS = 1000


@dataclass
class Plan:
    rates: tuple[int, ...]
    seconds: float
    per_pair: int
    held: int
    workdir: Path

    @property
    def pairs(self) -> int:
        return max(len(split_rate(rate, self.per_pair)) for rate in self.rates)


class Calls:
    """Drives uac clients at one server; ``callee(n)`` is what uac ``n`` dials."""

    def __init__(self, server: Server, plan: Plan, callees: Sequence[str], label: str) -> None:
        self.server = server
        self.plan = plan
        self.callees = callees
        self.label = label
        self.runs = 0

    def clients(self, rate: int, count: int, duration_ms: int, limit: int) -> list[SippClient]:
        rates = split_rate(rate, self.plan.per_pair)
        clients = []
        for n, client_rate in enumerate(rates):
            calls = count // len(rates) + (1 if n < count % len(rates) else 0)
            self.runs += 1
            workdir = self.plan.workdir / f"{self.label}-uac-{self.runs:03d}"
            timeout = f"{int(count / rate + duration_ms / 1000) + 15}s"
            options = (
                "-sn", "uac", "-s", self.callees[n], "-m", str(calls), "-r", str(client_rate),
                "-rp", "1000", "-l", str(limit or max(100, 2 * client_rate)),
                "-d", str(duration_ms), "-recv_timeout", "5000", "-timeout", timeout,
            )  # fmt: skip
            clients.append(SippClient(f"127.0.0.1:{self.server.port}", options, workdir))
        return clients

    def run(self, rate: int, count: int, duration_ms: int = 0, limit: int = 0) -> SippRun:
        clients = self.clients(rate, count, duration_ms, limit)
        return run_sipp(clients, timeout=count / rate + duration_ms / 1000 + 25)


def _steps(name: str, calls: Calls, plan: Plan) -> list[Row]:
    rows: list[Row] = []
    for rate in plan.rates:
        if not calls.server.alive():
            print(f"{name} is gone; steps stopped", flush=True)
            break
        count = int(rate * plan.seconds)
        cpu_before = calls.server.cpu()
        run = calls.run(rate, count)
        cpu = 100.0 * (calls.server.cpu() - cpu_before) / max(run.elapsed, 1e-6)
        row = Row(name, rate, run, count, calls.server.memory_kib(), cpu)
        rows.append(row)
        print_table([row.cells()], header=None)
        reason = first_failure(run.errors) if run.successful < count else ""
        if reason:
            print(f"  first SIPp failure: {reason}", flush=True)
        time.sleep(1.0)
    return rows


def _held_calls(switch: Switch, calls: Calls, plan: Plan) -> str:
    """Hold ``plan.held`` calls up at once (250 calls/s, each up until all are); RSS delta."""
    rate = 250
    duration_ms = int(plan.held / rate * 1000) + 8000
    before = switch.memory_kib()
    result: list[SippRun] = []
    clients = calls.clients(rate, plan.held, duration_ms, plan.held + 10)
    timeout = plan.held / rate + duration_ms / 1000 + 25
    runner = threading.Thread(target=lambda: result.append(run_sipp(clients, timeout=timeout)))
    runner.start()
    peak_active, peak_rss = 0, before
    deadline = time.monotonic() + plan.held / rate + 5
    while time.monotonic() < deadline:
        time.sleep(0.5)
        # sipswitch_calls_active is never set by the server yet: count what the uacs hold
        active = sum(current_calls(c.workdir / "stat.csv") for c in clients)
        if active >= peak_active:
            peak_active, peak_rss = active, switch.memory_kib()
        if active >= plan.held:
            break
    runner.join(plan.held / rate + duration_ms / 1000 + 30)
    run = result[0] if result else SippRun()
    per = (peak_rss - before) * 1024 / max(1, peak_active)
    line = (
        f"sipswitch: {int(peak_active)} calls up at once: memory {mib(before)} -> {mib(peak_rss)} "
        f"({per / 1024:.1f} KiB per active call); held calls ok {run.successful}, "
        f"failed {run.failed}"
    )
    print(line, flush=True)
    return line


def _phones(switch: Switch, plan: Plan, ports: Sequence[int]) -> None:
    """Register ``benchN`` from each uas port (one SIPp run each, then the port is free)."""
    for n, port in enumerate(ports):
        workdir = plan.workdir / f"register-bench{n}"
        workdir.mkdir(parents=True)
        users = write_users(workdir / "users.csv", [f"bench{n}"])
        options = ("-sf", str(REGISTER_ONCE), "-inf", str(users), "-m", "1", "-timeout", "15s")
        run = run_sipp([SippClient(f"127.0.0.1:{switch.port}", options, workdir, port)], 20)
        if run.successful != 1:
            raise SystemExit(f"bench{n} did not register: {run.errors}\n{switch.tail()}")


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="two short steps")
    parser.add_argument("--rates", help="comma separated target rates (calls/s)")
    parser.add_argument("--seconds", type=float, help="seconds per step (default 5, quick 3)")
    parser.add_argument("--per-pair", type=int, default=500, help="calls/s per uac/uas pair")
    parser.add_argument("--held", type=int, default=HELD_CALLS, help="calls held for memory")
    parser.add_argument("--no-kamailio", action="store_true", help="skip the reference")
    parser.add_argument("--profile", type=Path, help="cProfile output file for sipswitch")
    parser.add_argument("--workers", type=int, default=1, help="sipswitch worker processes")
    parser.add_argument(
        "--dialplan",
        choices=("script", "rules"),
        help="route every call through a trivial in dialplan of this kind (compare the p50/p99 "
        "with a run without it: the added setup latency)",
    )
    return parser.parse_args(argv)


SCRIPT = 'sys.dial(f"{req.uri.user}@local")\n'
RULES = (
    '[{"direction": "in", "pattern_type": "regex", "pattern": ".*",'
    ' "command": {"type": "dial", "dial_string": "${dst}@local"}}]'
)


async def _attach_dialplan(db_url: str, names: Sequence[str], kind: str) -> None:
    """Give every bench account an in dialplan that just dials the account's bindings."""
    from sipswitch.storage import Scope, Store

    admin = Scope.system()
    async with Store.open(db_url) as store:
        owner = await store.customers.get_by_username(admin, "bench")
        assert owner is not None
        source = SCRIPT if kind == "script" else RULES
        await store.dialplans.create(admin, owner.id, "bench-in", kind, source)
        for account in await store.accounts.list(admin):
            if account.username in names:
                await store.accounts.update(admin, account.id, in_dialplan="bench-in")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    rates = tuple(int(r) for r in args.rates.split(",")) if args.rates else None
    with tempfile.TemporaryDirectory(prefix="sipswitch-callbench-") as tmp:
        plan = Plan(
            rates=rates or (QUICK_RATES if args.quick else RATES),
            seconds=args.seconds or (3.0 if args.quick else 5.0),
            per_pair=args.per_pair,
            held=args.held,
            workdir=Path(tmp),
        )
        print("call setup: SIPp uac -> server -> SIPp uas, UDP loopback, default scenarios, -d 0")
        print(cores_note())
        print(
            f"steps: {', '.join(map(str, plan.rates))} calls/s for {plan.seconds:g} s each, "
            f"up to {plan.pairs} uac/uas pair(s) ({plan.per_pair}/s each). "
            "p50/p99: INVITE -> 200 at the uac.",
            flush=True,
        )
        names = [f"bench{n}" for n in range(plan.pairs)]
        db_url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        provision(db_url, names)
        if args.dialplan:
            asyncio.run(_attach_dialplan(db_url, names, args.dialplan))
            print(f"every call runs a trivial {args.dialplan} in dialplan", flush=True)
        ports = [free_port() for _ in names]
        phones = Background()
        rows: list[Row] = []
        memory = ""
        try:
            switch = start_switch(plan.workdir, db_url, profile=args.profile, workers=args.workers)
            try:
                _phones(switch, plan, ports)
                for n, port in enumerate(ports):
                    uas = ("-sn", "uas")
                    phones.start(SippClient("", uas, plan.workdir / f"uas{n}", port))
                time.sleep(0.5)
                calls = Calls(switch, plan, names, "switch")
                if plan.held > 0:  # first, on an idle server: RSS grows during overload
                    memory = _held_calls(switch, calls, plan)
                    time.sleep(1.0)
                print_table([])
                rows += _steps("sipswitch", calls, plan)
            finally:
                switch.stop()

            binary = None if args.no_kamailio else ensure_kamailio()
            if binary is not None:
                kamailio = start_kamailio(binary, "proxy.cfg", plan.workdir)
                try:
                    callees = [str(port) for port in ports]
                    rows += _steps("kamailio", Calls(kamailio, plan, callees, "kam"), plan)
                finally:
                    kamailio.stop()
        finally:
            phones.stop()
        print("\nsummary (srv MiB: sipswitch VmRSS; kamailio summed PSS of its processes)")
        print_table([row.cells() for row in rows])
        if memory:
            print(memory)
        print(cores_note())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
