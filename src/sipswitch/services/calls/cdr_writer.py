"""Writes finished legs' CDRs to storage as they come, in small batches; flushed at shutdown.

A leg's record is queued the moment the leg ends and written within milliseconds, so a crash
loses no finished call beyond the batch in flight; a database outage keeps the records queued
(bounded) and retries.
"""

from __future__ import annotations

import asyncio
from collections import deque

import structlog

from sipswitch.storage.cdrs import CallDetailRecord, CdrRepository

log = structlog.get_logger("sipswitch.cdr")

MAX_QUEUED = 100_000
BATCH = 500


class CdrWriter:
    def __init__(self, repository: CdrRepository) -> None:
        self.repository = repository
        self._queue: deque[CallDetailRecord] = deque(maxlen=MAX_QUEUED)
        self._wake = asyncio.Event()

    def __call__(self, record: CallDetailRecord) -> None:
        """The call service's sink: never blocks, never raises."""
        self._queue.append(record)
        self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._queue)

    async def flush(self) -> None:
        while self._queue:
            batch = [self._queue.popleft() for _ in range(min(BATCH, len(self._queue)))]
            try:
                await self.repository.add_all(batch)
            except Exception:
                self._queue.extendleft(reversed(batch))
                raise

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.flush()
            except Exception as exc:  # database away: keep them, retry shortly
                log.warning("cannot write CDRs yet", pending=len(self._queue), error=str(exc))
                await asyncio.sleep(1.0)
                self._wake.set()
