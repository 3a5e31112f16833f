"""A pool of long-lived sandbox worker processes (server side).

Workers are separate interpreters started with `asyncio.create_subprocess_exec`, not
`multiprocessing`: the server's event loop talks to them natively over pipes, nothing is
inherited from the server (no sockets, no database connections, fds closed), the environment
is emptied, and JSON is the only thing that crosses — `multiprocessing` would unpickle what an
untrusted process sends. A worker that misbehaves is SIGKILLed and replaced in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from dataclasses import dataclass, field
from typing import Any

import structlog

from sipswitch.services.dialplan.sandbox import protocol

log = structlog.get_logger("sipswitch.dialplan.sandbox")

WORKER_MODULE = "sipswitch.services.dialplan.sandbox.worker"


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    """Pool settings: process count and per-worker kernel limits."""

    workers: int = 2
    memory_bytes: int = 256 * 1024 * 1024
    max_runs_per_worker: int = 1000
    per_owner_concurrency: int = 5
    start_timeout: float = 15.0
    python: str = field(default_factory=lambda: sys.executable)


class WorkerGone(Exception):
    """The worker's pipe closed or it sent something that is not a valid frame."""


class WorkerProcess:
    """One worker: its process and framed pipe I/O."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.runs = 0

    @property
    def pid(self) -> int:
        return self.process.pid

    async def send(self, message: dict[str, Any]) -> None:
        stdin = self.process.stdin
        assert stdin is not None
        try:
            stdin.write(protocol.encode(message))
            await stdin.drain()
        except (ConnectionError, RuntimeError) as exc:
            raise WorkerGone(str(exc)) from None

    async def recv(self) -> dict[str, Any]:
        stdout = self.process.stdout
        assert stdout is not None
        try:
            length = protocol.frame_length(await stdout.readexactly(4))
            return protocol.decode(await stdout.readexactly(length))
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            raise WorkerGone("pipe closed") from exc
        except protocol.ProtocolError as exc:
            raise WorkerGone(str(exc)) from exc

    async def kill(self) -> None:
        """SIGKILL and reap."""
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def exit_signal(self, wait: float = 2.0) -> int | None:
        """The signal that ended the worker (None if it exited or is still running)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.process.wait(), wait)
        code = self.process.returncode
        return -code if code is not None and code < 0 else None


class WorkerPool:
    """Idle workers in a queue; broken ones are killed and replaced."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self._idle: asyncio.Queue[WorkerProcess] = asyncio.Queue()
        self._all: set[WorkerProcess] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    async def start(self) -> None:
        """Start the configured number of workers and wait until they are ready."""
        workers = await asyncio.gather(*(self._spawn() for _ in range(self.config.workers)))
        for worker in workers:
            self._idle.put_nowait(worker)

    async def acquire(self) -> WorkerProcess:
        """An idle worker (waits while all are busy)."""
        if self._closed:
            raise RuntimeError("sandbox pool is closed")
        return await self._idle.get()

    def release(self, worker: WorkerProcess, healthy: bool) -> None:
        """Give a worker back; an unhealthy or worn one is killed and replaced."""
        worker.runs += 1
        if self._closed:
            self._background(self._discard(worker))
        elif healthy and worker.runs < self.config.max_runs_per_worker:
            self._idle.put_nowait(worker)
        else:
            self._background(self._replace(worker))

    async def close(self) -> None:
        """Kill every worker."""
        self._closed = True
        if self._tasks:
            # Let replacements finish spawning (cancelling mid-spawn could orphan a process).
            await asyncio.wait(list(self._tasks), timeout=self.config.start_timeout)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(*(w.kill() for w in list(self._all)), return_exceptions=True)
        self._all.clear()

    @property
    def size(self) -> int:
        return len(self._all)

    def _background(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _discard(self, worker: WorkerProcess) -> None:
        self._all.discard(worker)
        await worker.kill()

    async def _replace(self, worker: WorkerProcess) -> None:
        await self._discard(worker)
        delay = 0.1
        while not self._closed:
            try:
                fresh = await self._spawn()
            except (OSError, WorkerGone, TimeoutError) as exc:
                log.warning("sandbox worker failed to start", error=str(exc))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            self._idle.put_nowait(fresh)
            return

    async def _spawn(self) -> WorkerProcess:
        process = await asyncio.create_subprocess_exec(
            self.config.python,
            "-I",
            "-m",
            WORKER_MODULE,
            str(self.config.memory_bytes),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            close_fds=True,
            start_new_session=True,
            cwd="/",
            env={"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"},
        )
        worker = WorkerProcess(process)
        self._all.add(worker)
        try:
            hello = await asyncio.wait_for(worker.recv(), self.config.start_timeout)
        except BaseException:
            await self._discard(worker)
            raise
        if hello.get("t") != "ready":
            await self._discard(worker)
            raise WorkerGone("worker did not report ready")
        return worker
