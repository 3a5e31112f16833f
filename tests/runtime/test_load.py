"""Overload by event-loop lag (the front door's 503 is tested in tests/server)."""

from __future__ import annotations

import asyncio

from sipswitch.runtime.load import LoadMonitor


def test_overloaded_after_consecutive_late_samples_and_back_at_the_first_prompt_one() -> None:
    monitor = LoadMonitor(0.25, lambda: 0.0, samples=4)
    states = []
    for lag in (0.4, 0.4, 0.4, 0.4, 0.3, 0.01, 0.4):
        monitor.sample(lag)
        states.append(monitor.overloaded)
    # one slow moment is not an overload; the fourth late sample is; a prompt one ends it and
    # the count starts again
    assert states == [False, False, False, True, True, False, False]
    assert monitor.lag == 0.4


def test_a_zero_threshold_never_sheds() -> None:
    monitor = LoadMonitor(0.0, lambda: 0.0)
    for _ in range(10):
        monitor.sample(5.0)
    assert not monitor.overloaded


async def test_an_idle_loop_is_not_overloaded() -> None:
    clock = asyncio.get_running_loop().time
    monitor = LoadMonitor(0.25, clock, interval=0.01)
    task = asyncio.create_task(monitor.run())
    await asyncio.sleep(0.1)
    task.cancel()
    assert not monitor.overloaded and monitor.lag < 0.25
