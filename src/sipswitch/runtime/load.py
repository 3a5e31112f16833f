"""Overload detection by event-loop lag, for shedding new work with 503 (RFC 3261 §21.5.4).

One process serves every message on one event loop. When requests arrive faster than it can
answer, they wait in the socket buffer, answers come late, UDP peers retransmit (Timer A/E
starts at 500 ms) and the retransmissions add work: throughput collapses to a fraction of
capacity. Refusing *new* calls and registrations while the loop is behind keeps the switch
serving at capacity what it has already accepted.

The loop's lag is how late a timer that should fire every ``interval`` seconds really fires.
The switch counts as overloaded after ``samples`` late wake-ups in a row (so one slow
start-up step is not an overload) and stops counting as overloaded at the first prompt one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

#: how often the loop is sampled
INTERVAL = 0.05
#: consecutive late samples before shedding starts
SAMPLES = 4


class LoadMonitor:
    """``overloaded`` is True while the event loop lags more than ``threshold`` seconds."""

    def __init__(
        self,
        threshold: float,
        now: Callable[[], float],
        *,
        interval: float = INTERVAL,
        samples: int = SAMPLES,
    ) -> None:
        self.threshold = threshold
        self.interval = interval
        self.samples = samples
        self._now = now
        self._late = 0
        self.lag = 0.0
        self.overloaded = False
        self.shed = 0  # requests refused while overloaded (the dispatcher counts them)

    def sample(self, lag: float) -> None:
        """One wake-up that came ``lag`` seconds late."""
        self.lag = lag
        if self.threshold <= 0:
            return
        if lag > self.threshold:
            self._late += 1
            self.overloaded = self._late >= self.samples
        else:
            self._late = 0
            self.overloaded = False

    async def run(self) -> None:
        """Sample the loop until cancelled."""
        if self.threshold <= 0:
            return
        while True:
            due = self._now() + self.interval
            await asyncio.sleep(self.interval)
            self.sample(max(0.0, self._now() - due))
