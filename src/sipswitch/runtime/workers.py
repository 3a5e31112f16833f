"""Worker processes: started by the first worker, restarted when they die, stopped with it.

Each worker is ``python -c COMMAND`` with its start-up payload (pickled) on standard input. A
worker runs in its own session (a terminal's Ctrl-C reaches only the first worker, which stops
the others in order) and asks the kernel for SIGTERM when its parent dies, so no worker
outlives the switch.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import sys
from collections.abc import Callable

import structlog

log = structlog.get_logger("sipswitch.workers")

#: least seconds between two starts of the same worker (a crash loop costs little)
RESTART_INTERVAL = 2.0
_PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> None:
    """In a worker: SIGTERM when the parent process (pid ``parent``) dies (Linux); exit now
    if it already has."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:
        sys.exit(0)


class WorkerProcesses:
    """Workers 1..count-1 of this switch, each started with ``payload(index)`` on stdin."""

    def __init__(
        self, command: str, count: int, payload: Callable[[int], bytes], *, python: str = ""
    ) -> None:
        self.command = command
        self.count = count
        self.payload = payload
        self.python = python or sys.executable
        self.restarts = 0
        self._processes: dict[int, asyncio.subprocess.Process] = {}
        self._supervisors: list[asyncio.Task[None]] = []
        self._stopping = False

    @property
    def alive(self) -> int:
        return sum(1 for p in self._processes.values() if p.returncode is None)

    def stopping(self) -> bool:
        """Whether :meth:`terminate` was called (a call, so that a check after an ``await``
        reads it afresh rather than as narrowed by the one before)."""
        return self._stopping

    def start(self) -> None:
        for index in range(1, self.count):
            task = asyncio.create_task(self._supervise(index), name=f"worker-{index}")
            self._supervisors.append(task)

    async def _spawn(self, index: int) -> asyncio.subprocess.Process:
        process = await asyncio.create_subprocess_exec(
            self.python,
            "-c",
            self.command,
            stdin=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        assert process.stdin is not None
        process.stdin.write(self.payload(index))
        with contextlib.suppress(ConnectionError):
            await process.stdin.drain()
        process.stdin.close()
        return process

    async def _supervise(self, index: int) -> None:
        loop = asyncio.get_running_loop()
        while not self.stopping():
            began = loop.time()
            process = self._processes[index] = await self._spawn(index)
            if self.stopping():  # stopped while it was starting
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
                return
            log.info("worker started", worker=index, pid=process.pid)
            code = await process.wait()
            if self.stopping():
                return
            self.restarts += 1
            log.error("worker died; restarting it", worker=index, pid=process.pid, code=code)
            await asyncio.sleep(max(0.0, began + RESTART_INTERVAL - loop.time()))

    def terminate(self) -> None:
        """SIGTERM every worker once (each drains its calls); no restarts from now on."""
        if self._stopping:
            return  # a second SIGTERM would make them give up draining
        self._stopping = True
        for process in self._processes.values():
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)

    async def stop(self, grace: float) -> None:
        """Terminate, wait up to ``grace`` seconds, then kill what is left."""
        self.terminate()
        waits = [p.wait() for p in self._processes.values()]
        if waits:
            try:
                await asyncio.wait_for(asyncio.gather(*waits), grace)
            except TimeoutError:
                for process in self._processes.values():
                    if process.returncode is None:
                        with contextlib.suppress(ProcessLookupError):
                            process.kill()
                await asyncio.gather(*(p.wait() for p in self._processes.values()))
        for task in self._supervisors:
            task.cancel()
        for task in self._supervisors:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._supervisors.clear()
