"""A sandbox worker process: `python -I -m sipswitch.services.dialplan.sandbox.worker`.

Started by the pool with stdin/stdout as its only pipes. Before it accepts work it imports all
it will ever need, closes every other descriptor, points fd 2 at /dev/null, drops root (to
`nobody`) if it has it, and sets kernel limits: address space, no new files (RLIMIT_NOFILE),
no new processes (RLIMIT_NPROC), no core dumps, and a CPU budget. Each execution lowers the
soft CPU limit to "used so far + the script's allowance": overrunning it makes the kernel send
SIGXCPU, whose default action kills the worker, even in the middle of a long C call (a
catastrophic regex, a huge multiplication). The server sees the signal and reports CPU.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import math
import os
import resource
import signal
import sys
import traceback
from collections import OrderedDict
from types import CodeType, TracebackType
from typing import Any

from sipswitch.services.dialplan.sandbox import protocol
from sipswitch.services.dialplan.sandbox.facade import Facade, Request, ScriptStop
from sipswitch.services.dialplan.sandbox.guards import make_globals
from sipswitch.services.dialplan.sandbox.policy import SCRIPT_FILENAME, compile_script
from sipswitch.services.dialplan.sandbox.rules import FacadeError
from sipswitch.services.dialplan.sandbox.types import ScriptLimits

IN_FD, OUT_FD = 0, 1
CPU_HARD_SECONDS = 3600
NOBODY = 65534
_PR_SET_PDEATHSIG = 1
_PR_SET_NO_NEW_PRIVS = 38
_CODE_CACHE_SIZE = 64


def _harden(memory_bytes: int) -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.closerange(3, 65536)
    sys.stdout = sys.stderr  # stray prints never reach the protocol pipe
    if os.getuid() == 0:
        with contextlib.suppress(OSError):
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
    with contextlib.suppress(OSError, AttributeError):
        # After the uid change, which clears the parent-death signal.
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # die with the server
        libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_HARD_SECONDS, CPU_HARD_SECONDS))
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_NOFILE, (3, 3))
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))


def _cpu_used() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _limits(raw: object) -> ScriptLimits:
    if not isinstance(raw, dict):
        return ScriptLimits()
    known = {f.name for f in dataclasses.fields(ScriptLimits)}
    return ScriptLimits(**{k: v for k, v in raw.items() if k in known})


def _script_line(tb: TracebackType | None) -> int | None:
    line = None
    for frame, lineno in traceback.walk_tb(tb):
        if frame.f_code.co_filename == SCRIPT_FILENAME:
            line = lineno
    return line


class Worker:
    """The worker's loop: one script at a time, facade calls as blocking RPCs."""

    def __init__(self) -> None:
        self.codes: OrderedDict[str, CodeType | list[dict[str, Any]]] = OrderedDict()
        self.reserve: bytearray | None = bytearray(1 << 20)  # freed to report a MemoryError

    def rpc(self, name: str, args: list[Any]) -> Any:
        protocol.send_blocking(OUT_FD, {"t": "call", "m": name, "a": args})
        reply = protocol.recv_blocking(IN_FD)
        kind = reply.get("t")
        if kind == "ret":
            return reply.get("v")
        if kind == "stop":
            raise ScriptStop
        raise FacadeError(str(reply.get("e", "facade call refused")))

    def compiled(self, source: str) -> CodeType | list[dict[str, Any]]:
        cached = self.codes.get(source)
        if cached is None:
            result = compile_script(source)
            cached = result.code or [{"line": p.line, "msg": p.message} for p in result.problems]
            self.codes[source] = cached
            if len(self.codes) > _CODE_CACHE_SIZE:
                self.codes.popitem(last=False)
        else:
            self.codes.move_to_end(source)
        return cached

    def execute(self, message: dict[str, Any]) -> dict[str, Any]:
        cpu = int(message.get("cpu", 5))
        soft = min(math.ceil(_cpu_used()) + max(cpu, 1), CPU_HARD_SECONDS)
        resource.setrlimit(resource.RLIMIT_CPU, (soft, CPU_HARD_SECONDS))
        code = self.compiled(str(message.get("src", "")))
        if isinstance(code, list):
            first = code[0]
            return {"k": "error", "line": first["line"], "msg": first["msg"]}
        facade = Facade(self.rpc, message.get("ctx") or {}, _limits(message.get("lim")))
        request = Request(message.get("req") or {})
        env = make_globals(facade, request, facade.log)
        try:
            exec(code, env)
        except ScriptStop:
            return {"k": "stopped"}
        except MemoryError:
            self.reserve = None
            env.clear()
            return {"k": "memory"}
        except RecursionError as exc:
            return {
                "k": "error",
                "line": _script_line(exc.__traceback__),
                "msg": "RecursionError: maximum recursion depth exceeded",
            }
        except Exception as exc:
            text = f"{type(exc).__name__}: {exc}"[:500]
            return {"k": "error", "line": _script_line(exc.__traceback__), "msg": text}
        finally:
            env.clear()
        return {"k": "finished"}

    def serve(self) -> None:
        protocol.send_blocking(OUT_FD, {"t": "ready"})
        while True:
            try:
                message = protocol.recv_blocking(IN_FD)
            except EOFError:
                return
            if message.get("t") != "run":
                continue
            result = self.execute(message)
            result["t"] = "done"
            protocol.send_blocking(OUT_FD, result)
            if self.reserve is None:
                return  # memory may be fragmented: let the pool start a fresh worker


def main() -> None:
    """Entry point: `python -m sipswitch.services.dialplan.sandbox.worker MEMORY_BYTES`."""
    memory = int(sys.argv[1]) if len(sys.argv) > 1 else 256 * 1024 * 1024
    _harden(memory)
    Worker().serve()


if __name__ == "__main__":
    main()
