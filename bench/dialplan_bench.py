"""Dialplan script executions per second through the sandbox pool.

A trivial `sys.dial("${dst}@local")` script, an instant in-process handler, N concurrent
callers; prints executions/s and the per-execution latency (the setup time a script adds to a
call compared with no dialplan) for 1 and for `--concurrency` callers.

    python -m bench.dialplan_bench [--workers 2] [--seconds 3] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import statistics
import time

from sipswitch.services.dialplan.sandbox import (
    DialResult,
    DialStatus,
    Direction,
    SandboxConfig,
    ScriptContext,
    ScriptRunner,
)

SCRIPT = 'sys.dial("${dst}@local")\n'
ANSWERED = DialResult(DialStatus.ANSWERED)


class InstantHandler:
    """Answers every facade call at once."""

    def __init__(self, owner: str) -> None:
        self.context = ScriptContext(owner, owner, "out", Direction.OUT)

    async def dial(self, dial_string, ring_timeout, answered_call_limit):
        return ANSWERED

    async def log(self, message):
        return None

    def __getattr__(self, name):
        async def nothing(*args):
            return datetime.datetime.now(datetime.UTC) if name == "get_time" else None

        return nothing


async def measure(
    runner: ScriptRunner, concurrency: int, seconds: float
) -> tuple[float, list[float]]:
    latencies: list[float] = []
    stop = time.perf_counter() + seconds

    async def caller(index: int) -> None:
        handler = InstantHandler(f"owner{index}")
        while time.perf_counter() < stop:
            start = time.perf_counter()
            await runner.run(SCRIPT, {"uri": {"user": "1000", "host": "x"}}, handler)
            latencies.append(time.perf_counter() - start)

    began = time.perf_counter()
    await asyncio.gather(*(caller(i) for i in range(concurrency)))
    return len(latencies) / (time.perf_counter() - began), latencies


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    async with ScriptRunner(SandboxConfig(workers=args.workers)) as runner:
        await measure(runner, 1, 0.3)  # warm the code caches
        for concurrency in (1, args.concurrency):
            rate, lat = await measure(runner, concurrency, args.seconds)
            lat.sort()
            print(
                f"dialplan script executions/s: {rate:,.0f} "
                f"(workers={args.workers}, concurrent callers={concurrency}); "
                f"added setup latency per call: p50 {statistics.median(lat) * 1e3:.2f} ms, "
                f"p99 {lat[int(len(lat) * 0.99)] * 1e3:.2f} ms"
            )


if __name__ == "__main__":
    asyncio.run(main())
