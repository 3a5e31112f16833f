"""`ScriptRunner`: run a customer's dialplan script in the sandbox pool (server side)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from types import TracebackType
from typing import Any

import structlog

from sipswitch.services.dialplan.sandbox.pool import SandboxConfig, WorkerGone, WorkerPool
from sipswitch.services.dialplan.sandbox.session import Execution
from sipswitch.services.dialplan.sandbox.types import (
    FacadeHandler,
    OutcomeKind,
    ScriptLimits,
    ScriptOutcome,
)

log = structlog.get_logger("sipswitch.dialplan.sandbox")


class ScriptRunner:
    """Runs scripts on a pool of sandbox workers, at most N at a time per owner.

    Use as `async with ScriptRunner(config) as runner: await runner.run(...)`. Cancelling a
    `run` (the caller hung up) kills the worker that was running the script.
    """

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        self._pool = WorkerPool(self.config)
        self._active: Counter[str] = Counter()

    async def start(self) -> None:
        """Start the workers."""
        await self._pool.start()

    async def close(self) -> None:
        """Stop the workers."""
        await self._pool.close()

    async def __aenter__(self) -> ScriptRunner:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def workers(self) -> int:
        """Live worker processes (a killed one is being replaced when below the configured size)."""
        return self._pool.size

    def active(self, owner: str) -> int:
        """Executions in progress (or waiting for a worker) for `owner`."""
        return self._active[owner]

    async def run(
        self,
        source: str,
        request_view: dict[str, Any],
        handler: FacadeHandler,
        limits: ScriptLimits | None = None,
    ) -> ScriptOutcome:
        """Run `source` with `req` built from `request_view` and `sys` served by `handler`."""
        limits = limits or ScriptLimits()
        owner = handler.context.owner
        if self._active[owner] >= self.config.per_owner_concurrency:
            return ScriptOutcome(OutcomeKind.REJECTED_BUSY, message="too many concurrent scripts")
        self._active[owner] += 1
        try:
            outcome = await self._run(source, request_view, handler, limits)
        finally:
            self._active[owner] -= 1
            if not self._active[owner]:
                del self._active[owner]
        if outcome.failed:
            await self._report(handler, outcome)
        return outcome

    async def _run(
        self,
        source: str,
        request_view: dict[str, Any],
        handler: FacadeHandler,
        limits: ScriptLimits,
    ) -> ScriptOutcome:
        loop = asyncio.get_running_loop()
        absolute_deadline = loop.time() + limits.absolute_timeout
        try:
            worker = await asyncio.wait_for(self._pool.acquire(), limits.absolute_timeout)
        except TimeoutError:
            return ScriptOutcome(OutcomeKind.TIMEOUT, message="no sandbox worker became free")
        execution = Execution(worker, handler, limits, absolute_deadline)
        try:
            return await execution.run(source, request_view)
        except WorkerGone as exc:
            return ScriptOutcome(OutcomeKind.ERROR, message=f"sandbox failure: {exc}")
        finally:
            self._pool.release(worker, execution.healthy)

    async def _report(self, handler: FacadeHandler, outcome: ScriptOutcome) -> None:
        """Tell the owner's console why the script failed (best effort)."""
        where = f" on line {outcome.line}" if outcome.line else ""
        text = f"Dialplan {handler.context.dialplan_name!r} failed{where}: "
        text += outcome.message or str(outcome.kind)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(handler.log(text), 5.0)
