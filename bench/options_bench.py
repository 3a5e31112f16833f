"""OPTIONS requests per second: the floor under every other figure.

One OPTIONS to the server itself and its 200 (``bench/scenarios/options.xml``) is the least a
request costs: receive, parse, validate, a server transaction, a response, a send. A
registration is two such requests plus the registrar's work, a call about a dozen messages, so
this rate bounds what one server process can reach at all. Kamailio (``registrar.cfg``, which
answers OPTIONS statelessly) runs the same steps as the reference.

Run: ``python -m bench.options_bench`` (about a minute). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.common import (
    BENCH,
    LOOPBACK,
    Row,
    Server,
    SippClient,
    cores_note,
    ensure_kamailio,
    print_table,
    run_sipp,
    split_rate,
    start_kamailio,
    start_switch,
)
from sipswitch.storage import upgrade

SCENARIO = BENCH / "scenarios" / "options.xml"
RATES = (2000, 4000, 6000, 8000, 10000)


def _args(rate: int, seconds: float) -> tuple[str, ...]:
    total, limit, timeout = int(rate * seconds), max(1000, rate), f"{seconds + 20:g}"
    return ("-sf", str(SCENARIO), "-r", str(rate), "-m", str(total), "-l", str(limit),
            "-timeout", timeout)  # fmt: skip


def _steps(name: str, server: Server, rates: Sequence[int], seconds: float, work: Path) -> None:
    for rate in rates:
        if not server.alive():
            print(f"{name} is gone; steps stopped", flush=True)
            return
        count = int(rate * seconds)
        target = f"{LOOPBACK}:{server.port}"
        clients = [
            SippClient(target, _args(part, seconds), work / f"{name}-{rate}-{i}")
            for i, part in enumerate(split_rate(rate, 5000))
        ]
        cpu_before = server.cpu()
        run = run_sipp(clients, timeout=seconds + 30)
        cpu = 100.0 * (server.cpu() - cpu_before) / max(run.elapsed, 1e-6)
        print_table([Row(name, rate, run, count, server.memory_kib(), cpu).cells()], header=None)
        time.sleep(1.0)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rates", help="comma separated target rates (requests/s)")
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds per step")
    parser.add_argument("--no-kamailio", action="store_true", help="skip the reference")
    args = parser.parse_args(argv)
    rates = tuple(int(r) for r in args.rates.split(",")) if args.rates else RATES
    print("OPTIONS -> 200, SIPp -> server, UDP loopback (the least any request costs)")
    print(cores_note(), flush=True)
    with tempfile.TemporaryDirectory(prefix="sipswitch-optbench-") as tmp:
        work = Path(tmp)
        db_url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        asyncio.run(upgrade(db_url))
        print_table([])
        switch = start_switch(work, db_url)
        try:
            _steps("sipswitch", switch, rates, args.seconds, work)
        finally:
            switch.stop()
        binary = None if args.no_kamailio else ensure_kamailio()
        if binary is not None:
            kamailio = start_kamailio(binary, "registrar.cfg", work)
            try:
                _steps("kamailio", kamailio, rates, args.seconds, work)
            finally:
                kamailio.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
