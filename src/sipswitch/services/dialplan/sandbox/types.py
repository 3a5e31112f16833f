"""Values shared by the script runner and its callers: limits, context, results, outcomes.

The `FacadeHandler` protocol is what the server implements for a script's `sys` facade; every
facade call a script makes travels from its worker process to the runner, is validated there
(the worker is untrusted) and is then awaited on the handler.
"""

from __future__ import annotations

import datetime
import enum
from dataclasses import dataclass
from typing import Protocol


class Direction(enum.StrEnum):
    """Which dialplan of an account runs: In (to the account) or Out (from it)."""

    IN = "in"
    OUT = "out"


class DialStatus(enum.StrEnum):
    """Result of `sys.dial`, as the script sees it (SIPSorcery's names)."""

    ANSWERED = "Answered"
    NO_ANSWER = "NoAnswer"
    FAILED = "Failed"
    CLIENT_CANCELLED = "ClientCancelled"
    TIMED_OUT = "TimedOut"

    @property
    def ends_script(self) -> bool:
        """An answered call is bridged; a caller who hung up leaves nothing to route."""
        return self in (DialStatus.ANSWERED, DialStatus.CLIENT_CANCELLED)


@dataclass(frozen=True, slots=True)
class DialResult:
    """What a dial did; `status`/`reason` are the last failure response, if any."""

    status: DialStatus
    failure_status: int | None = None
    failure_reason: str = ""


@dataclass(frozen=True, slots=True)
class ScriptContext:
    """Who the script runs for; the handler scopes db/bindings/e-mail to `owner`."""

    owner: str
    username: str
    dialplan_name: str
    direction: Direction


@dataclass(frozen=True, slots=True)
class ScriptLimits:
    """Per-execution limits (wall-clock ones are enforced by the server, CPU by the kernel)."""

    first_dial_timeout: float = 10.0
    absolute_timeout: float = 300.0
    cpu_seconds: int = 5
    stop_grace: float = 1.0
    max_emails: int = 3
    max_callbacks: int = 3
    max_log_lines: int = 500
    log_line_bytes: int = 2048
    db_key_bytes: int = 128
    db_value_bytes: int = 8192
    web_get_bytes: int = 8192
    web_get_timeout: float = 10.0
    email_bytes: int = 16384
    dial_string_bytes: int = 2048


class OutcomeKind(enum.StrEnum):
    """How an execution ended."""

    FINISHED = "finished"
    RESPONDED = "responded"
    DIALED = "dialed"
    ERROR = "error"
    TIMEOUT = "timeout"
    CPU = "cpu"
    MEMORY = "memory"
    REJECTED_BUSY = "rejected_busy"


_FAILURES = frozenset({OutcomeKind.ERROR, OutcomeKind.TIMEOUT, OutcomeKind.CPU, OutcomeKind.MEMORY})


@dataclass(frozen=True, slots=True)
class ScriptOutcome:
    """The end of one execution, with what the caller needs to answer the call."""

    kind: OutcomeKind
    code: int | None = None
    reason: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    dial: DialResult | None = None
    line: int | None = None
    message: str = ""
    last_failure_status: int | None = None
    last_failure_reason: str = ""

    @property
    def failed(self) -> bool:
        """The script misbehaved or broke: the caller answers 500."""
        return self.kind in _FAILURES

    @property
    def caller_status(self) -> int | None:
        """The final status to send the caller, or None when the call was bridged/left alone.

        Failures give 500, a busy owner 480, a final respond its code; a script that finished
        without a final answer gives its last dial failure (or 480 if it never dialled).
        """
        if self.failed:
            return 500
        if self.kind is OutcomeKind.REJECTED_BUSY:
            return 480
        if self.kind is OutcomeKind.RESPONDED:
            return self.code
        if self.kind is OutcomeKind.DIALED:
            return None
        return self.last_failure_status or 480


class FacadeHandler(Protocol):
    """The server's side of the `sys` facade for one execution (arguments already validated)."""

    @property
    def context(self) -> ScriptContext: ...

    async def dial(
        self, dial_string: str, ring_timeout: float | None, answered_call_limit: float | None
    ) -> DialResult: ...

    async def respond(self, code: int, reason: str, headers: dict[str, str]) -> None: ...

    async def log(self, message: str) -> None: ...

    async def set_from_header(
        self, name: str | None, user: str | None, host: str | None
    ) -> None: ...

    async def set_custom_header(self, name: str, value: str) -> None: ...

    async def remove_custom_header(self, name: str) -> None: ...

    async def clear_custom_headers(self) -> None: ...

    async def is_available(self, user: str, domain: str) -> bool: ...

    async def get_bindings(self, user: str, domain: str) -> list[str]: ...

    async def db_write(self, key: str, value: str) -> None: ...

    async def db_read(self, key: str) -> str | None: ...

    async def db_delete(self, key: str) -> None: ...

    async def db_keys(self) -> list[str]: ...

    async def web_get(self, url: str, timeout: float, max_bytes: int) -> str: ...

    async def email(self, to: str, subject: str, body: str) -> None: ...

    async def callback(self, dest1: str, dest2: str, delay: float) -> None: ...

    async def enum_lookup(self, number: str) -> str | None: ...

    async def get_time(self) -> datetime.datetime: ...

    async def get_timezone(self) -> str: ...
