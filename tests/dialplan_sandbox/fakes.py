"""A fake `FacadeHandler` recording every call; dial results come from a script of answers."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Callable
from typing import Any

from sipswitch.services.dialplan.sandbox import (
    DialResult,
    DialStatus,
    Direction,
    ScriptContext,
)


class FakeHandler:
    """Records calls; `dial_results` are consumed in order (default: Answered at once)."""

    def __init__(
        self,
        owner: str = "alice",
        *,
        dial_results: list[DialResult] | None = None,
        db: dict[str, dict[str, str]] | None = None,
        dial_gate: asyncio.Event | None = None,
        direction: Direction = Direction.OUT,
    ) -> None:
        self._context = ScriptContext(owner, f"{owner}-acct", "default", direction)
        self.dial_results = list(dial_results or [])
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.logs: list[str] = []
        self.db = db if db is not None else {}
        self.dial_gate = dial_gate
        self.dial_started = asyncio.Event()
        self.on_log: Callable[[str], None] | None = None

    @property
    def context(self) -> ScriptContext:
        return self._context

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    async def dial(self, dial_string, ring_timeout, answered_call_limit):
        self.calls.append(("dial", (dial_string, ring_timeout, answered_call_limit)))
        self.dial_started.set()
        if self.dial_gate is not None:
            await self.dial_gate.wait()
        if self.dial_results:
            return self.dial_results.pop(0)
        return DialResult(DialStatus.ANSWERED)

    async def respond(self, code, reason, headers):
        self.calls.append(("respond", (code, reason, headers)))

    async def log(self, message):
        self.calls.append(("log", (message,)))
        self.logs.append(message)
        if self.on_log is not None:
            self.on_log(message)

    async def set_from_header(self, name, user, host):
        self.calls.append(("set_from_header", (name, user, host)))

    async def set_custom_header(self, name, value):
        self.calls.append(("set_custom_header", (name, value)))

    async def remove_custom_header(self, name):
        self.calls.append(("remove_custom_header", (name,)))

    async def clear_custom_headers(self):
        self.calls.append(("clear_custom_headers", ()))

    async def is_available(self, user, domain):
        self.calls.append(("is_available", (user, domain)))
        return user == "bob"

    async def get_bindings(self, user, domain):
        self.calls.append(("get_bindings", (user, domain)))
        return [f"sip:{user}@192.0.2.1:5060"]

    def _store(self) -> dict[str, str]:
        return self.db.setdefault(self._context.owner, {})

    async def db_write(self, key, value):
        self.calls.append(("db_write", (key, value)))
        self._store()[key] = value

    async def db_read(self, key):
        self.calls.append(("db_read", (key,)))
        return self._store().get(key)

    async def db_delete(self, key):
        self.calls.append(("db_delete", (key,)))
        self._store().pop(key, None)

    async def db_keys(self):
        self.calls.append(("db_keys", ()))
        return sorted(self._store())

    async def web_get(self, url, timeout, max_bytes):
        self.calls.append(("web_get", (url, timeout, max_bytes)))
        return "x" * 20000

    async def email(self, to, subject, body):
        self.calls.append(("email", (to, subject, body)))

    async def callback(self, dest1, dest2, delay):
        self.calls.append(("callback", (dest1, dest2, delay)))

    async def enum_lookup(self, number):
        self.calls.append(("enum_lookup", (number,)))

    async def get_time(self):
        self.calls.append(("get_time", ()))
        return datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=datetime.UTC)

    async def get_timezone(self):
        self.calls.append(("get_timezone", ()))
        return "UTC"


def request_view(user: str = "1234", host: str = "sip.example.com") -> dict[str, Any]:
    """A typical INVITE as the B2BUA would describe it."""
    return {
        "method": "INVITE",
        "uri": {"scheme": "sip", "user": user, "host": host, "port": None},
        "from_": {
            "name": "Alice",
            "uri": {"scheme": "sip", "user": "alice", "host": "example.org"},
            "tag": "abc",
        },
        "to": {"name": "", "uri": {"scheme": "sip", "user": user, "host": host}},
        "call_id": "call-1@example.org",
        "cseq": "1 INVITE",
        "headers": [["X-Account", "42"], ["User-Agent", "softphone/1"]],
        "body": "v=0\r\n",
    }
