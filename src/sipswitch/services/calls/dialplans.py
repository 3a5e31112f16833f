"""Running a customer's dialplan on a call: rule dialplans decide with one rule, script
dialplans run in the sandbox with the `sys` facade served here."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog

from sipswitch.runtime.clock import Clock
from sipswitch.runtime.events import ConsoleEvent, EventBus, EventKind
from sipswitch.runtime.mesh import SharedCounts
from sipswitch.services.calls.model import DialOutcome, Expand
from sipswitch.services.calls.planner import LegPlanner, Overrides
from sipswitch.services.dialplan import (
    CallContext,
    DialCommand,
    DialStringError,
    FlowCommand,
    RejectCommand,
    RuleError,
    RuleSet,
    ScriptCommand,
    expand_dial_string,
    validate_rules,
)
from sipswitch.services.dialplan.outside import FetchError, Mailer, MailError, WebFetcher
from sipswitch.services.dialplan.sandbox import (
    DialResult,
    DialStatus,
    Direction,
    ScriptContext,
    ScriptRunner,
)
from sipswitch.services.domains import DomainDirectory
from sipswitch.sip.message import Request
from sipswitch.sip.uri import SipUri
from sipswitch.storage import Scope, Store

log = structlog.get_logger("sipswitch.dialplans")

#: seconds a loaded dialplan is reused before it is read again
LOAD_TTL = 5.0
#: entries kept in each of the executor's caches (cleared when full)
CACHE_SIZE = 1024


class DialTarget(Protocol):
    """What a dialplan drives: a call (:class:`~sipswitch.services.calls.call.Call`), or a
    transfer's new leg (its ``invite`` then built from the Refer-To)."""

    @property
    def invite(self) -> Request: ...

    @property
    def answered(self) -> bool: ...

    @property
    def failures(self) -> list[tuple[int, str]]: ...

    async def dial(
        self,
        group_count: int,
        expand: Expand,
        *,
        ring_timeout: float | None = None,
        duration_limit: float | None = None,
    ) -> DialOutcome: ...

    def respond(
        self, status: int, reason: str | None = None, headers: Sequence[tuple[str, str]] = ()
    ) -> None: ...


class DialplanSource(Protocol):
    """What the executor needs of a stored dialplan."""

    @property
    def kind(self) -> str: ...

    @property
    def source(self) -> str: ...

    @property
    def name(self) -> str: ...


@dataclass
class Execution:
    """Who a dialplan runs for, on which call."""

    owner: int
    username: str
    domain: str
    direction: Direction
    dialplan: str
    dst: str
    timezone: str = "UTC"
    #: the provider an In call arrived through (In rules may match on it)
    provider: str | None = None

    @property
    def home(self) -> str | None:
        """The account whose in dialplan this is: its ``user@local`` rings its bindings."""
        return f"{self.username}@{self.domain}" if self.direction is Direction.IN else None


@dataclass
class DialplanExecutor:
    store: Store
    planner: LegPlanner
    domains: DomainDirectory
    events: EventBus
    clock: Clock
    runner: ScriptRunner
    fetcher: WebFetcher | None = None
    mailer: Mailer | None = None
    #: concurrent executions per owner (SIPSorcery's per-customer limit); one more gets 480
    max_per_owner: int = 5
    #: running executions per customer, summed over the workers
    running: SharedCounts = field(default_factory=SharedCounts)
    _started: bool = field(default=False)
    _loaded: dict[tuple[int, str], tuple[float, DialplanSource | None]] = field(
        default_factory=dict
    )
    _rulesets: dict[tuple[str, str], RuleSet] = field(default_factory=dict)

    async def load(self, owner: int, name: str) -> DialplanSource | None:
        """The current version, read at most every :data:`LOAD_TTL` seconds per dialplan (a
        change made with the CLI applies within that)."""
        key = (owner, name)
        now = self.clock.now()
        cached = self._loaded.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        found: DialplanSource | None = await self.store.dialplans.get(Scope.system(), owner, name)
        if len(self._loaded) >= CACHE_SIZE:
            self._loaded.clear()
        self._loaded[key] = (now + LOAD_TTL, found)
        return found

    def _ruleset(self, source: str, timezone: str) -> RuleSet:
        """Validated rules, compiled once per text and zone."""
        key = (source, timezone)
        rules = self._rulesets.get(key)
        if rules is None:
            rules = validate_rules(source, timezone=timezone)
            if len(self._rulesets) >= CACHE_SIZE:
                self._rulesets.clear()
            self._rulesets[key] = rules
        return rules

    async def execute(
        self, call: DialTarget, execution: Execution, dialplan: DialplanSource
    ) -> None:
        owner = execution.owner
        running = self.running[owner]
        if running >= self.max_per_owner:
            self.console(
                owner,
                f"{execution.dialplan}: refused, {running} dialplans already running "
                f"(limit {self.max_per_owner})",
                EventKind.WARN,
            )
            call.respond(480, "Too many dialplan executions")
            return
        self.running.add(owner, 1)
        try:
            self.console(
                owner, f"{execution.dialplan}: {execution.direction} call to {execution.dst}"
            )
            if dialplan.kind == "rules":
                await self._rules(call, execution, dialplan)
            else:
                await self._script(call, execution, dialplan.source)
        finally:
            self.running.add(owner, -1)

    # -- rules ----------------------------------------------------------------------------------
    async def _rules(
        self, call: DialTarget, execution: Execution, dialplan: DialplanSource
    ) -> None:
        try:
            rules = self._ruleset(dialplan.source, execution.timezone)
        except RuleError as exc:
            self.console(execution.owner, f"{execution.dialplan}: {exc}", EventKind.ERROR)
            call.respond(500, "Dialplan error")
            return
        request = call.invite
        caller = request.from_.uri
        decision = rules.evaluate(
            execution.direction.value,
            execution.dst,
            caller=caller.user if isinstance(caller, SipUri) and caller.user else "",
            account=execution.username if execution.direction is Direction.IN else None,
            provider=execution.provider if execution.direction is Direction.IN else None,
            now=dt.datetime.now(_zone(execution.timezone)),
        )
        if decision is None:
            call.respond(404, "No rule matched")
            return
        command = decision.command
        if isinstance(command, RejectCommand):
            call.respond(command.code, command.reason or None)
        elif isinstance(command, DialCommand):
            facade = CallFacade(self, call, execution)
            await facade.dial(
                command.dial_string,
                float(command.ring_seconds) if command.ring_seconds else None,
                float(command.answered_limit) if command.answered_limit else None,
            )
        elif isinstance(command, ScriptCommand):
            script = await self.load(execution.owner, command.name)
            if script is None or script.kind != "script":
                call.respond(500, "Dialplan not found")
                return
            await self._script(call, execution, script.source)
        elif isinstance(command, FlowCommand):
            call.respond(480, "Call flows are not available yet")

    # -- scripts --------------------------------------------------------------------------------
    async def _script(self, call: DialTarget, execution: Execution, source: str) -> None:
        if not self._started:
            await self.runner.start()
            self._started = True
        facade = CallFacade(self, call, execution)
        outcome = await self.runner.run(source, request_view(call.invite), facade)
        status = outcome.caller_status
        if outcome.failed:
            where = f" on line {outcome.line}" if outcome.line else ""
            log.info("dialplan failed", kind=str(outcome.kind), line=outcome.line)
            self.console(
                execution.owner,
                f"{execution.dialplan} failed{where}: {outcome.message or outcome.kind}",
                EventKind.ERROR,
            )
        if status is not None and not call.answered:
            call.respond(status, outcome.reason or None)

    async def close(self) -> None:
        if self._started:
            await self.runner.close()

    def console(self, owner: int, message: str, kind: EventKind = EventKind.DIAL_PLAN) -> None:
        self.events.publish(
            ConsoleEvent(kind=kind, owner=owner, time=self.clock.wall(), message=message)
        )


class CallFacade:
    """The server's side of `sys` for one execution (arguments validated by the sandbox)."""

    def __init__(self, executor: DialplanExecutor, call: DialTarget, execution: Execution) -> None:
        self.executor = executor
        self.call = call
        self.execution = execution
        self.overrides = Overrides()
        self._context = ScriptContext(
            str(execution.owner), execution.username, execution.dialplan, execution.direction
        )

    @property
    def context(self) -> ScriptContext:
        return self._context

    async def dial(
        self, dial_string: str, ring_timeout: float | None, answered_call_limit: float | None
    ) -> DialResult:
        request = self.call.invite
        try:
            plan = expand_dial_string(
                dial_string,
                _context(request, self.execution.dst),
                providers=await self.executor.planner.provider_names(self.execution.owner),
                is_local_domain=self.executor.domains.is_local,
            )
        except DialStringError as exc:
            await self.log(f"dial string error: {exc}")
            return DialResult(DialStatus.FAILED, 400, str(exc))
        if not plan.groups:
            return DialResult(DialStatus.FAILED, 480, "Nothing to dial")
        count, expand = self.executor.planner.expander(
            request,
            plan,
            self.execution.domain,
            self.overrides,
            owner=self.execution.owner,
            home=self.execution.home,
        )
        outcome = await self.call.dial(
            count, expand, ring_timeout=ring_timeout, duration_limit=answered_call_limit
        )
        failure = self.call.failures[-1] if self.call.failures else (480, "No answer")
        if outcome is DialOutcome.ANSWERED:
            return DialResult(DialStatus.ANSWERED)
        if outcome is DialOutcome.CANCELLED:
            return DialResult(DialStatus.CLIENT_CANCELLED, *failure)
        if outcome is DialOutcome.NO_ANSWER:
            return DialResult(DialStatus.NO_ANSWER, *failure)
        return DialResult(DialStatus.FAILED, *failure)

    async def respond(self, code: int, reason: str, headers: dict[str, str]) -> None:
        self.call.respond(code, reason or None, tuple(headers.items()))

    async def log(self, message: str) -> None:
        self.executor.console(self.execution.owner, message)

    async def set_from_header(self, name: str | None, user: str | None, host: str | None) -> None:
        self.overrides.from_display = name
        self.overrides.from_user = user
        self.overrides.from_host = host

    async def set_custom_header(self, name: str, value: str) -> None:
        self.overrides.headers[name] = value

    async def remove_custom_header(self, name: str) -> None:
        self.overrides.headers.pop(name, None)

    async def clear_custom_headers(self) -> None:
        self.overrides.headers.clear()

    def _own_aor(self, user: str, domain: str) -> str | None:
        accounts = self.executor.planner.accounts
        found = accounts.get(user, domain if domain != "local" else self.execution.domain, 0.0)
        if not found or found is True or found.owner_id != self.execution.owner:
            return None
        return found.aor

    async def is_available(self, user: str, domain: str) -> bool:
        aor = self._own_aor(user, domain)
        return aor is not None and bool(self.executor.planner.location.lookup(aor))

    async def get_bindings(self, user: str, domain: str) -> list[str]:
        aor = self._own_aor(user, domain)
        if aor is None:
            return []
        return [b.uri for b in self.executor.planner.location.lookup(aor)]

    async def db_write(self, key: str, value: str) -> None:
        await self.executor.store.kv.put(self._scope(), key, value)

    async def db_read(self, key: str) -> str | None:
        return await self.executor.store.kv.get(self._scope(), key)

    async def db_delete(self, key: str) -> None:
        await self.executor.store.kv.delete(self._scope(), key)

    async def db_keys(self) -> list[str]:
        return await self.executor.store.kv.keys(self._scope())

    def _scope(self) -> Scope:
        return Scope.customer(self.execution.owner)

    async def web_get(self, url: str, timeout: float, max_bytes: int) -> str:
        """First ``max_bytes`` of a public http(s) URL; "" and a console line on any failure."""
        fetcher = self.executor.fetcher
        if fetcher is None:
            await self.log("web_get is disabled on this server")
            return ""
        try:
            return await fetcher.get(url, timeout, max_bytes)
        except FetchError as exc:
            await self.log(f"web_get {url[:200]}: {exc.reason}")
            return ""

    async def email(self, to: str, subject: str, body: str) -> None:
        """Send through the service's SMTP relay, From the service's address."""
        mailer = self.executor.mailer
        if mailer is None:
            await self.log("e-mail is not configured on this server")
            return
        try:
            await mailer.send(self.execution.username, to, subject, body)
        except MailError as exc:
            await self.log(f"email to {to[:100]}: {exc.reason}")

    async def callback(self, dest1: str, dest2: str, delay: float) -> None:
        await self.log("callbacks are not available yet")

    async def enum_lookup(self, number: str) -> str | None:
        return None

    async def get_time(self) -> dt.datetime:
        return dt.datetime.now(_zone(self.execution.timezone))

    async def get_timezone(self) -> str:
        return self.execution.timezone


def _zone(name: str) -> dt.tzinfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return dt.UTC


def _context(request: Request, dst: str) -> CallContext:
    caller = request.from_
    uri = caller.uri
    user = uri.user if isinstance(uri, SipUri) and uri.user else ""
    aor = f"{user}@{uri.host}" if isinstance(uri, SipUri) else ""
    return CallContext(
        dst=dst, from_name=caller.display_name or "", from_uri_user=user, from_aor=aor
    )


def request_view(request: Request) -> dict[str, Any]:
    """The `req` a script sees: a read-only copy of the INVITE."""

    def uri_view(uri: object) -> dict[str, Any]:
        if isinstance(uri, SipUri):
            return {
                "scheme": uri.scheme,
                "user": uri.user or "",
                "host": uri.host,
                "port": uri.port,
                "params": {n: v or "" for n, v in uri.params},
                "text": str(uri),
            }
        return {"scheme": "", "user": "", "host": "", "port": None, "params": {}, "text": str(uri)}

    def addr(address: Any) -> dict[str, Any]:
        return {
            "name": address.display_name or "",
            "uri": uri_view(address.uri),
            "tag": address.tag or "",
        }

    return {
        "method": request.method,
        "uri": uri_view(request.uri),
        "from_": addr(request.from_),
        "to": addr(request.to),
        "call_id": request.call_id,
        "cseq": str(request.cseq),
        "headers": list(request.header_items()),
        "body": request.body.decode("utf-8", "replace"),
    }
