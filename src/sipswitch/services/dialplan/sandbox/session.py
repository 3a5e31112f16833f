"""One execution on one worker (server side): deadlines, facade dispatch, the outcome.

Wall-clock limits: a script gets `first_dial_timeout` of its own time to reach a `dial`; while
a dial rings that window is suspended (the ring time extends it) and it starts afresh when the
dial returns; `absolute_timeout` bounds everything. Overrun → the worker is SIGKILLed.
Everything a worker sends is re-validated here: it runs untrusted code.
"""

from __future__ import annotations

import asyncio
import dataclasses
import signal
from typing import Any

import structlog

from sipswitch.services.dialplan.sandbox import rules
from sipswitch.services.dialplan.sandbox.pool import WorkerGone, WorkerProcess
from sipswitch.services.dialplan.sandbox.types import (
    DialResult,
    FacadeHandler,
    OutcomeKind,
    ScriptLimits,
    ScriptOutcome,
)

log = structlog.get_logger("sipswitch.dialplan.sandbox")


class _Deadline(Exception):
    """A wall-clock limit passed."""


class Execution:
    """Drives one script run; `healthy` says whether the worker can be reused."""

    def __init__(
        self,
        worker: WorkerProcess,
        handler: FacadeHandler,
        limits: ScriptLimits,
        absolute_deadline: float,
    ) -> None:
        self.worker = worker
        self.handler = handler
        self.limits = limits
        self.loop = asyncio.get_running_loop()
        self.absolute_deadline = absolute_deadline
        self.window_deadline = self.loop.time() + limits.first_dial_timeout
        self.healthy = False
        self.emails = 0
        self.callbacks = 0
        self.log_lines = 0
        self.failure_status: int | None = None
        self.failure_reason = ""

    async def run(self, source: str, request_view: dict[str, Any]) -> ScriptOutcome:
        ctx = self.handler.context
        await self.worker.send(
            {
                "t": "run",
                "src": source,
                "req": request_view,
                "ctx": {
                    "username": ctx.username,
                    "dialplan_name": ctx.dialplan_name,
                    "direction": str(ctx.direction),
                },
                "cpu": self.limits.cpu_seconds,
                "lim": dataclasses.asdict(self.limits),
            }
        )
        try:
            return await self._serve()
        except _Deadline:
            return self._outcome(OutcomeKind.TIMEOUT, message="wall-clock limit exceeded")
        except WorkerGone as exc:
            return await self._died(str(exc))

    def _remaining(self, *, dialling: bool = False) -> float:
        deadline = (
            self.absolute_deadline
            if dialling
            else min(self.window_deadline, self.absolute_deadline)
        )
        remaining = deadline - self.loop.time()
        if remaining <= 0:
            raise _Deadline
        return remaining

    async def _recv(self) -> dict[str, Any]:
        try:
            return await asyncio.wait_for(self.worker.recv(), self._remaining())
        except TimeoutError:
            raise _Deadline from None

    async def _serve(self) -> ScriptOutcome:
        while True:
            message = await self._recv()
            kind = message.get("t")
            if kind == "done":
                return self._done(message)
            if kind != "call":
                raise WorkerGone(f"unexpected message {kind!r}")
            name, args = message.get("m"), message.get("a")
            if not isinstance(name, str) or not isinstance(args, list):
                raise WorkerGone("malformed facade call")
            try:
                checked = rules.check_args(name, args, self.limits)
                value, terminal = await self._dispatch(name, checked)
            except rules.FacadeError as exc:
                await self.worker.send({"t": "err", "e": str(exc)})
                continue
            if terminal is None:
                await self.worker.send({"t": "ret", "v": value})
                continue
            await self._stop_worker()
            return terminal

    async def _stop_worker(self) -> None:
        """Tell the worker the script is over; it must report `done` within the grace time."""
        grace_end = self.loop.time() + self.limits.stop_grace
        await self.worker.send({"t": "stop"})
        while (remaining := grace_end - self.loop.time()) > 0:
            try:
                message = await asyncio.wait_for(self.worker.recv(), remaining)
            except (TimeoutError, WorkerGone):
                return
            if message.get("t") == "done":
                self.healthy = message.get("k") in ("stopped", "finished", "error")
                return
            await self.worker.send({"t": "stop"})

    async def _call(self, coro: Any, *, dialling: bool = False, cap: float | None = None) -> Any:
        timeout = self._remaining(dialling=dialling)
        if cap is not None:
            timeout = min(timeout, cap)
        try:
            return await asyncio.wait_for(coro, timeout)
        except TimeoutError:
            if cap is not None and self.loop.time() < self.window_deadline:
                raise rules.FacadeError("timed out") from None
            raise _Deadline from None
        except (rules.FacadeError, _Deadline, asyncio.CancelledError):
            raise
        except Exception as exc:
            log.warning("dialplan facade call failed", error=repr(exc))
            raise rules.FacadeError("the server could not complete this call") from None

    async def _dispatch(self, name: str, args: list[Any]) -> tuple[Any, ScriptOutcome | None]:
        h = self.handler
        if name == "dial":
            result = await self._call(h.dial(*args), dialling=True)
            if not isinstance(result, DialResult):
                raise rules.FacadeError("dial produced no result")
            self.window_deadline = self.loop.time() + self.limits.first_dial_timeout
            if result.failure_status is not None:
                self.failure_status = result.failure_status
                self.failure_reason = result.failure_reason
            if result.status.ends_script:
                return None, self._outcome(OutcomeKind.DIALED, dial=result)
            value = {
                "status": str(result.status),
                "failure_status": result.failure_status,
                "failure_reason": result.failure_reason,
            }
            return value, None
        if name == "respond":
            code, reason, headers = args
            await self._call(h.respond(code, reason, headers))
            if code >= 200:
                return None, self._outcome(
                    OutcomeKind.RESPONDED, code=code, reason=reason,
                    headers=tuple(headers.items()),
                )  # fmt: skip
            return None, None
        if name == "log":
            self.log_lines += 1
            if self.log_lines > self.limits.max_log_lines:
                return None, None
            text = args[0] if self.log_lines < self.limits.max_log_lines else "(log limit reached)"
            await self._call(h.log(text))
            return None, None
        if name == "email":
            self.emails += 1
            if self.emails > self.limits.max_emails:
                raise rules.FacadeError(f"at most {self.limits.max_emails} e-mails per execution")
        if name == "callback":
            self.callbacks += 1
            if self.callbacks > self.limits.max_callbacks:
                raise rules.FacadeError(
                    f"at most {self.limits.max_callbacks} callbacks per execution"
                )
        return await self._simple(name, args), None

    async def _simple(self, name: str, args: list[Any]) -> Any:
        h = self.handler
        if name == "web_get":
            url, timeout = args
            text = await self._call(
                h.web_get(url, timeout, self.limits.web_get_bytes), cap=timeout + 0.5
            )
            data = str(text).encode()[: self.limits.web_get_bytes]
            return data.decode(errors="ignore")
        if name == "get_time":
            return (await self._call(h.get_time())).isoformat()
        method = getattr(h, name)
        value = await self._call(method(*args))
        if name == "is_available":
            return bool(value)
        if name in ("get_bindings", "db_keys"):
            return [str(item) for item in value or []]
        if name in ("db_read", "enum_lookup", "get_timezone"):
            return None if value is None else str(value)
        return None

    def _done(self, message: dict[str, Any]) -> ScriptOutcome:
        kind = message.get("k")
        if kind == "finished":
            self.healthy = True
            return self._outcome(OutcomeKind.FINISHED)
        if kind == "memory":
            return self._outcome(OutcomeKind.MEMORY, message="memory limit exceeded")
        if kind == "error":
            self.healthy = True
            line = message.get("line")
            return self._outcome(
                OutcomeKind.ERROR,
                line=line if isinstance(line, int) and not isinstance(line, bool) else None,
                message=str(message.get("msg", "error"))[:500],
            )
        # "stopped" without the server having stopped it is a protocol violation.
        raise WorkerGone(f"unexpected completion {kind!r}")

    async def _died(self, why: str) -> ScriptOutcome:
        sig = await self.worker.exit_signal()
        if sig == signal.SIGXCPU:
            return self._outcome(OutcomeKind.CPU, message="CPU time limit exceeded")
        if sig in (signal.SIGKILL, signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS):
            return self._outcome(OutcomeKind.MEMORY, message=f"worker died (signal {sig})")
        return self._outcome(OutcomeKind.ERROR, message=f"sandbox failure: {why}")

    def _outcome(self, kind: OutcomeKind, **fields: Any) -> ScriptOutcome:
        return ScriptOutcome(
            kind=kind,
            last_failure_status=self.failure_status,
            last_failure_reason=self.failure_reason,
            **fields,
        )
