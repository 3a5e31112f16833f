"""Isolation: each hostile script gets its outcome (the caller answers 500), other customers'
scripts running at the same time complete normally, and the pool keeps working afterwards."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from pathlib import Path

import pytest

from sipswitch.services.dialplan.sandbox import OutcomeKind, ScriptOutcome, ScriptRunner
from tests.dialplan_sandbox.conftest import TEST_CONFIG, TEST_LIMITS
from tests.dialplan_sandbox.fakes import FakeHandler, request_view

pytestmark = pytest.mark.asyncio(loop_scope="module")

GOOD = 'sys.log("routing")\nsys.dial(f"{req.uri.user}@local")\n'


async def assert_isolated(
    runner: ScriptRunner, source: str, expected: OutcomeKind, **limits
) -> ScriptOutcome:
    """Run `source` for mallory beside two well-behaved scripts of bob, then one more."""
    hostile = FakeHandler("mallory")
    finished: list[str] = []

    async def timed(name: str, coro):
        result = await coro
        finished.append(name)
        return result

    lim = dataclasses.replace(TEST_LIMITS, **limits)
    goods = [FakeHandler("bob") for _ in range(2)]
    bad, *good = await asyncio.gather(
        timed("bad", runner.run(source, request_view(), hostile, lim)),
        *(timed("good", runner.run(GOOD, request_view(user=f"20{i}"), h, lim))
          for i, h in enumerate(goods)),
    )  # fmt: skip
    assert bad.kind is expected, bad
    assert bad.caller_status == 500
    assert hostile.logs and hostile.logs[-1].startswith("Dialplan 'default' failed")
    for i, (outcome, handler) in enumerate(zip(good, goods, strict=True)):
        assert outcome.kind is OutcomeKind.DIALED
        assert handler.calls == [("log", ("routing",)), ("dial", (f"20{i}@local", None, None))]
    after = FakeHandler("carol")
    assert (await runner.run(GOOD, request_view(), after, lim)).kind is OutcomeKind.DIALED
    finished.append("after")
    assert isinstance(bad, ScriptOutcome)
    return bad


async def test_infinite_loop_hits_the_cpu_limit(runner: ScriptRunner) -> None:
    await assert_isolated(runner, "while True:\n    pass\n", OutcomeKind.CPU)


async def test_busy_loop_hits_the_wall_clock_limit(runner: ScriptRunner) -> None:
    bad = await assert_isolated(
        runner, "x = 0\nwhile True:\n    x += 1\n", OutcomeKind.TIMEOUT, first_dial_timeout=0.3,
        cpu_seconds=20,
    )  # fmt: skip
    assert bad.message == "wall-clock limit exceeded"


async def test_catastrophic_regex_in_c_code_hits_the_cpu_limit(runner: ScriptRunner) -> None:
    await assert_isolated(runner, "import re\nre.match('(a+)+$', 'a' * 40 + 'b')", OutcomeKind.CPU)


async def test_big_int_in_c_code_is_stopped(runner: ScriptRunner) -> None:
    bad = await assert_isolated(runner, "x = 10 ** 10 ** 9\n", OutcomeKind.CPU)
    assert bad.caller_status == 500


@pytest.mark.parametrize(
    "source",
    [
        "x = 'a' * 10**10\n",
        "x = []\nwhile True:\n    x.append('a' * 100000)\n",
        "x = [0] * 10**9\n",
        "d = {}\ni = 0\nwhile True:\n    d[i] = str(i) * 100\n    i += 1\n",
    ],
)
async def test_memory_bombs(runner: ScriptRunner, source: str) -> None:
    await assert_isolated(runner, source, OutcomeKind.MEMORY)


@pytest.mark.parametrize(
    "source",
    [
        "import os\nos.system('id')",
        "import subprocess",
        "from os import fork",
        "import importlib",
        "import builtins",
        "import multiprocessing",
        "import threading",
        "import socket",
        "import sys as s",
        "__import__('os')",
        "open('/etc/passwd').read()",
        "eval('1')",
        "exec('import os')",
        "compile('1', 'x', 'eval')",
        "globals()['__builtins__']",
        "x = ().__class__.__base__.__subclasses__()",
        "x = ().__class__",
        "def f():\n    pass\nf.__globals__",
        "x = [].__class__.__mro__",
        "def g():\n    yield 1\nx = g().gi_frame.f_globals",
        "x = (lambda: 0).__code__",
        "class A:\n    pass",
        "try:\n    x = 1\nexcept:\n    pass",
        "x = Exception.mro()",
        "x = sys._rpc",
        "x = req._uri",
        "type(1)",
        "object",
        "x = f'{(1).__class__}'",
    ],
)
async def test_forbidden_constructs_fail_at_compile_time(runner: ScriptRunner, source: str) -> None:
    bad = await runner.run(source, request_view(), FakeHandler("mallory"), TEST_LIMITS)
    assert bad.kind is OutcomeKind.ERROR, bad
    assert bad.line is not None and bad.line >= 1


@pytest.mark.parametrize(
    "source",
    [
        "x = getattr(1, '__' + 'class__')",
        "x = getattr(sys, '_' + 'rpc')",
        "x = getattr(sys.dial, '__self__')",
        "def g():\n    yield 1\nx = getattr(g(), 'gi_' + 'frame')",
        "x = getattr(ValueError, 'm' + 'ro')()",
        "x = getattr(ValueError, 'with_traceback')",
        "x = '{0.__class__}'.format(1)",
        "x = '{0.__class__.__base__}'.format(req)",
        "x = 'x'.format_map",
        "f = getattr('', 'format_' + 'map')\nx = f({})",
        "x = str.format('{0.__class__}', 1)",
        "x = '{0.uri._user}'.format(req)",
        "import json\njson.loads = None",
        "import json\nx = json.decoder",
        "import re\nx = re.sre_compile",
        "import random\nx = random.choice.__self__",
        "import time\nx = getattr(time, 'sleep')",
        "x = __builtins__",
        "sys.dial = None",
        "setattr(sys, 'dial', None)",
        "try:\n    1/0\nexcept Exception as e:\n    x = getattr(e, '__traceback__')",
        "def f(n):\n    return f(n + 1)\nf(0)",
    ],
)
async def test_runtime_escapes_are_refused(runner: ScriptRunner, source: str) -> None:
    bad = await runner.run(source, request_view(), FakeHandler("mallory"), TEST_LIMITS)
    assert bad.kind is OutcomeKind.ERROR, (source, bad)
    assert bad.line is not None


async def test_escape_attempts_do_not_disturb_other_customers(runner: ScriptRunner) -> None:
    await assert_isolated(runner, "import os\nos.fork()", OutcomeKind.ERROR)
    await assert_isolated(runner, "x = getattr(1, '__' + 'class__')", OutcomeKind.ERROR)
    await assert_isolated(runner, "def f(n):\n    return f(n + 1)\nf(0)", OutcomeKind.ERROR)


async def test_fork_bomb_through_recursion_and_comprehensions(runner: ScriptRunner) -> None:
    source = "def bomb():\n    return [bomb() for _ in range(2)]\nbomb()\n"
    await assert_isolated(runner, source, OutcomeKind.ERROR)


async def test_script_that_keeps_running_after_its_final_answer_is_killed(
    runner: ScriptRunner,
) -> None:
    source = "try:\n    sys.respond(486, 'Busy')\nfinally:\n    while True:\n        pass\n"
    handler = FakeHandler("mallory")
    lim = dataclasses.replace(TEST_LIMITS, stop_grace=0.2, cpu_seconds=20)
    outcome = await runner.run(source, request_view(), handler, lim)
    assert (outcome.kind, outcome.code) == (OutcomeKind.RESPONDED, 486)
    after = await runner.run(GOOD, request_view(), FakeHandler("bob"), TEST_LIMITS)
    assert after.kind is OutcomeKind.DIALED


async def test_huge_log_lines_are_truncated(runner: ScriptRunner) -> None:
    handler = FakeHandler()
    outcome = await runner.run("sys.log('a' * 10**6)", {}, handler, TEST_LIMITS)
    assert outcome.kind is OutcomeKind.FINISHED
    assert len(handler.logs[0]) == TEST_LIMITS.log_line_bytes


async def test_module_state_does_not_leak_between_customers(runner: ScriptRunner) -> None:
    first = (
        "import random\nrandom.seed(1) if False else None\nsys.db_write('v', str(random.random()))"
    )
    db: dict[str, dict[str, str]] = {}
    for _ in range(4):  # every worker runs it at least once
        await runner.run(first, {}, FakeHandler("alice", db=db), TEST_LIMITS)
    writer = "import json\nx = json.dumps\nsys.log('ok')"
    outcome = await runner.run(writer, {}, FakeHandler("alice"), TEST_LIMITS)
    assert outcome.kind is OutcomeKind.FINISHED


@pytest.mark.skipif(not Path("/proc/self/limits").exists(), reason="needs /proc")
async def test_workers_run_with_kernel_limits_and_no_extra_descriptors(
    runner: ScriptRunner,
) -> None:
    pool = runner._pool
    worker = await pool.acquire()
    try:
        limits = Path(f"/proc/{worker.pid}/limits").read_text()
        fds = sorted(int(fd) for fd in os.listdir(f"/proc/{worker.pid}/fd"))
        status = Path(f"/proc/{worker.pid}/status").read_text()
    finally:
        pool.release(worker, True)
    rows = {line[:26].strip(): line[26:].split() for line in limits.splitlines()[1:]}
    assert rows["Max processes"][:2] == ["0", "0"]
    assert rows["Max open files"][:2] == ["3", "3"]
    assert rows["Max address space"][0] == str(TEST_CONFIG.memory_bytes)
    assert rows["Max core file size"][0] == "0"
    assert fds == [0, 1, 2]
    if os.getuid() == 0:
        uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
        assert uid_line.split()[1:] == ["65534"] * 4
    assert "NoNewPrivs:\t1" in status
