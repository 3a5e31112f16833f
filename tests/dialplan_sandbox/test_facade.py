"""Facade semantics seen from a script, through real sandbox workers and a fake handler."""

from __future__ import annotations

import asyncio

import pytest

from sipswitch.services.dialplan.sandbox import (
    DialResult,
    DialStatus,
    Direction,
    OutcomeKind,
    SandboxConfig,
    ScriptRunner,
)
from tests.dialplan_sandbox.conftest import TEST_LIMITS
from tests.dialplan_sandbox.fakes import FakeHandler, request_view

pytestmark = pytest.mark.asyncio(loop_scope="module")

TRANSFER = """\
sys.log("blind transfer starting...")
if req.uri.user == "hold":
    sys.dial("")
else:
    sys.dial(f"{req.uri.user}@local")
"""


async def run(runner: ScriptRunner, source: str, handler: FacadeHandler | None = None, **req):
    handler = handler or FakeHandler()
    outcome = await runner.run(source, request_view(**req), handler, TEST_LIMITS)
    return outcome, handler


FacadeHandler = FakeHandler


async def test_transfer_example_verbatim(runner: ScriptRunner) -> None:
    outcome, handler = await run(runner, TRANSFER, user="1001")
    assert outcome.kind is OutcomeKind.DIALED
    assert outcome.dial == DialResult(DialStatus.ANSWERED)
    assert outcome.caller_status is None
    assert handler.calls == [
        ("log", ("blind transfer starting...",)),
        ("dial", ("1001@local", None, None)),
    ]
    _, handler = await run(runner, TRANSFER, user="hold")
    assert handler.calls[-1] == ("dial", ("", None, None))


async def test_dial_blocks_until_the_handler_answers(runner: ScriptRunner) -> None:
    gate = asyncio.Event()
    handler = FakeHandler(dial_gate=gate)
    task = asyncio.create_task(runner.run('sys.Dial("bob@local", 30, 3600)', {}, handler))
    await handler.dial_started.wait()
    assert not task.done()
    assert handler.calls == [("dial", ("bob@local", 30.0, 3600.0))]
    gate.set()
    outcome = await task
    assert outcome.kind is OutcomeKind.DIALED


async def test_failed_dial_continues_and_sets_last_failure(runner: ScriptRunner) -> None:
    handler = FakeHandler(
        dial_results=[
            DialResult(DialStatus.NO_ANSWER, 486, "Busy Here"),
            DialResult(DialStatus.FAILED, 503, "Down"),
        ]
    )
    source = """\
result = sys.dial("a@local")
sys.log(result)
sys.log(f"{sys.last_failure_status} {sys.LastFailureReason}")
sys.Dial("b@provider")
"""
    outcome, handler = await run(runner, source, handler)
    assert outcome.kind is OutcomeKind.FINISHED
    assert handler.logs == ["NoAnswer", "486 Busy Here"]
    assert (outcome.last_failure_status, outcome.last_failure_reason) == (503, "Down")
    assert outcome.caller_status == 503


async def test_client_cancelled_dial_ends_the_script(runner: ScriptRunner) -> None:
    handler = FakeHandler(dial_results=[DialResult(DialStatus.CLIENT_CANCELLED)])
    outcome, handler = await run(runner, 'sys.dial("a")\nsys.log("after")', handler)
    assert outcome.kind is OutcomeKind.DIALED
    assert handler.logs == []


async def test_provisional_respond_continues_final_ends(runner: ScriptRunner) -> None:
    source = """\
sys.respond(180, "Ringing")
sys.log("still here")
sys.Respond(486, "Busy Here", {"X-Why": "busy"})
sys.log("never")
"""
    outcome, handler = await run(runner, source)
    assert outcome.kind is OutcomeKind.RESPONDED
    assert (outcome.code, outcome.reason, outcome.headers) == (
        486,
        "Busy Here",
        (("X-Why", "busy"),),
    )
    assert outcome.caller_status == 486
    assert handler.logs == ["still here"]


async def test_the_stop_cannot_be_caught(runner: ScriptRunner) -> None:
    source = """\
for i in range(3):
    try:
        sys.respond(603, "Decline")
    except Exception:
        sys.log("caught")
sys.log("after")
"""
    outcome, handler = await run(runner, source)
    assert outcome.kind is OutcomeKind.RESPONDED
    assert handler.names() == ["respond"]


async def test_answered_dial_inside_try_finally_still_ends(runner: ScriptRunner) -> None:
    source = """\
try:
    sys.dial("a@local")
finally:
    sys.log("cleanup")
sys.log("after")
"""
    outcome, handler = await run(runner, source)
    assert outcome.kind is OutcomeKind.DIALED
    assert handler.names() == ["dial"]


async def test_db_is_scoped_by_the_handlers_owner(runner: ScriptRunner) -> None:
    db: dict[str, dict[str, str]] = {}
    writer = """\
sys.db_write("k", "v1")
sys.DBWrite("other", "v2")
sys.db_delete("other")
sys.log(sys.DBRead("k"))
sys.log(",".join(sys.DBGetKeys()))
"""
    _, alice = await run(runner, writer, FakeHandler("alice", db=db))
    assert alice.logs == ["v1", "k"]
    _, bob = await run(
        runner,
        'sys.log(str(sys.db_read("k")))\nsys.log(str(sys.db_keys()))',
        FakeHandler("bob", db=db),
    )
    assert bob.logs == ["None", "[]"]
    assert db == {"alice": {"k": "v1"}, "bob": {}}


async def test_db_value_size_is_capped(runner: ScriptRunner) -> None:
    outcome, handler = await run(runner, 'sys.db_write("k", "x" * 9000)')
    assert outcome.kind is OutcomeKind.ERROR
    assert outcome.line == 1
    assert "longer than 8192" in outcome.message
    assert "db_write" not in handler.names()


async def test_email_and_callback_counters(runner: ScriptRunner) -> None:
    source = """\
for i in range(5):
    try:
        sys.email("a@example.org", "s", "b")
    except ValueError as e:
        sys.log(str(e))
    try:
        sys.Callback("a@local", "b@local")
    except ValueError as e:
        sys.log(str(e))
"""
    outcome, handler = await run(runner, source)
    assert outcome.kind is OutcomeKind.FINISHED
    assert handler.names().count("email") == 3
    assert handler.names().count("callback") == 3
    assert handler.logs.count("at most 3 e-mails per execution") == 2
    assert handler.logs.count("at most 3 callbacks per execution") == 2


async def test_web_get_returns_the_first_8_kb(runner: ScriptRunner) -> None:
    outcome, handler = await run(runner, 'sys.log(len(sys.WebGet("http://example.org/", 2)))')
    assert outcome.kind is OutcomeKind.FINISHED
    assert handler.logs == ["8192"]
    assert handler.calls[0] == ("web_get", ("http://example.org/", 2.0, 8192))
    outcome, _ = await run(runner, 'sys.web_get("file:///etc/passwd")')
    assert outcome.kind is OutcomeKind.ERROR


async def test_custom_headers_refuse_core_headers(runner: ScriptRunner) -> None:
    source = """\
sys.set_custom_header("X-Customer", "42")
sys.SetCustomSIPHeader("X-Other", "1")
sys.remove_custom_header("X-Other")
sys.clear_custom_headers()
core = ["Via", "call-id", "CSeq", "Contact", "Max-Forwards", "Route", "Record-Route"]
for name in core + ["From", "To", "Content-Length"]:
    try:
        sys.set_custom_header(name, "x")
    except ValueError:
        sys.log("refused " + name)
"""
    outcome, handler = await run(runner, source)
    assert outcome.kind is OutcomeKind.FINISHED
    assert handler.names() == [
        "set_custom_header", "set_custom_header", "remove_custom_header",
        "clear_custom_headers",
    ] + ["log"] * 10  # fmt: skip
    assert handler.logs[0] == "refused Via"


async def test_aliases_and_properties(runner: ScriptRunner) -> None:
    source = """\
sys.Log(sys.Username + " " + sys.username)
sys.log(sys.DialPlanName + " " + sys.dialplan_name)
sys.log(f"{sys.In} {sys.in_} {sys.Out} {sys.out}")
sys.log(f"{sys.IsAvailable('bob')} {sys.is_available('carol', 'example.org')}")
sys.log(sys.GetBindings()[0])
sys.SetFromHeader("Alice", "alice", "example.org")
t = sys.get_time()
sys.log(f"{t.year} {t.tzinfo} {sys.GetTimezone()}")
sys.log(str(sys.ENUMLookup("+14155550100")))
"""
    outcome, handler = await run(runner, source, FakeHandler("alice", direction=Direction.IN))
    assert outcome.kind is OutcomeKind.FINISHED
    assert handler.logs == [
        "alice-acct alice-acct",
        "default default",
        "True True False False",
        "True False",
        "sip:alice-acct@192.0.2.1:5060",
        "2024 UTC UTC",
        "None",
    ]
    assert ("set_from_header", ("Alice", "alice", "example.org")) in handler.calls
    assert ("is_available", ("carol", "example.org")) in handler.calls


async def test_request_view_and_aliases(runner: ScriptRunner) -> None:
    source = """\
sys.log(req.uri.user + "@" + req.uri.host + " " + req.URI.User + "@" + req.URI.Host)
sys.log(req.header.from_.name + " " + req.Header.From.FromName + " " + str(req.header.from_.uri))
sys.log(req.header.from_.uri.user + " " + req.Header.From.FromURI.User)
sys.log(req.header.call_id + " " + req.Header.CallId + " " + req.header.to.uri.user)
sys.log(req.header.get("x-account") + " " + str(req.header.get("Missing")))
sys.log(req.body + req.Body)
"""
    outcome, handler = await run(runner, source, user="555")
    assert outcome.kind is OutcomeKind.FINISHED, outcome
    assert handler.logs == [
        "555@sip.example.com 555@sip.example.com",
        "Alice Alice sip:alice@example.org",
        "alice alice",
        "call-1@example.org call-1@example.org 555",
        "42 None",
        "v=0\r\nv=0\r\n",
    ]


async def test_request_view_is_read_only(runner: ScriptRunner) -> None:
    outcome, _ = await run(runner, 'req.uri.user = "x"')
    assert outcome.kind is OutcomeKind.ERROR
    outcome, _ = await run(runner, "req.header.get = 1")
    assert outcome.kind is OutcomeKind.ERROR


async def test_print_goes_to_the_log_and_allowed_modules_work(runner: ScriptRunner) -> None:
    source = """\
import re, json, math, datetime
from time import time
print("hello", 1)
m = re.match(r"^(\\d{3})", req.uri.user)
sys.log(json.dumps({"p": m.group(1), "sqrt": math.sqrt(16)}, sort_keys=True))
sys.log(str(datetime.timedelta(seconds=60)))
sys.log("{} and {name}".format(1, name="two"))
total = 0
for i, n in enumerate([1, 2, 3]):
    total += i * n
sys.log(total)
"""
    outcome, handler = await run(runner, source, user="5551234")
    assert outcome.kind is OutcomeKind.FINISHED, outcome
    assert handler.logs == ["hello 1", '{"p": "555", "sqrt": 4.0}', "0:01:00", "1 and two", "8"]


async def test_script_error_reports_the_line(runner: ScriptRunner) -> None:
    outcome, handler = await run(runner, 'sys.log("a")\n\nx = 1 / 0\n')
    assert outcome.kind is OutcomeKind.ERROR
    assert outcome.line == 3
    assert outcome.caller_status == 500
    assert "ZeroDivisionError" in outcome.message
    assert handler.logs[-1].startswith("Dialplan 'default' failed on line 3: ZeroDivisionError")


async def test_syntax_error_reports_the_line(runner: ScriptRunner) -> None:
    outcome, _ = await run(runner, 'sys.log("a")\nif x\n')
    assert outcome.kind is OutcomeKind.ERROR
    assert outcome.line == 2


async def test_finished_without_dial(runner: ScriptRunner) -> None:
    outcome, _ = await run(runner, "x = 1")
    assert outcome.kind is OutcomeKind.FINISHED
    assert outcome.caller_status == 480


async def test_per_owner_concurrency_cap() -> None:
    assert SandboxConfig().per_owner_concurrency == 5
    config = SandboxConfig(workers=3, per_owner_concurrency=2, memory_bytes=96 << 20)
    async with ScriptRunner(config) as small:
        gate = asyncio.Event()
        gated = [FakeHandler("alice", dial_gate=gate) for _ in range(2)]
        tasks = [asyncio.create_task(small.run('sys.dial("x")', {}, h)) for h in gated]
        for h in gated:
            await h.dial_started.wait()
        busy = await small.run('sys.dial("x")', {}, FakeHandler("alice"))
        assert busy.kind is OutcomeKind.REJECTED_BUSY
        assert busy.caller_status == 480
        other = await small.run('sys.dial("y")', {}, FakeHandler("bob"))
        assert other.kind is OutcomeKind.DIALED
        gate.set()
        assert [t.kind for t in await asyncio.gather(*tasks)] == [OutcomeKind.DIALED] * 2
        assert small.active("alice") == 0


async def test_cancelled_run_kills_its_worker_and_the_pool_recovers(runner: ScriptRunner) -> None:
    handler = FakeHandler(dial_gate=asyncio.Event())
    task = asyncio.create_task(runner.run('sys.dial("x")', {}, handler))
    await handler.dial_started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    outcome, _ = await run(runner, TRANSFER)
    assert outcome.kind is OutcomeKind.DIALED
