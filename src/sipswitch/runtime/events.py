"""The live-console event stream: typed events, console filters and an in-process bus.

The kinds are those of the SIPSorcery monitoring console. Every event has an ``owner`` (the
customer id it belongs to) or ``None`` for a system event. Tenancy is enforced here, not by the
caller: a customer subscription only ever receives events whose owner equals its own; an admin
subscription receives everything, and only admins receive system events.

``EventBus.publish`` runs on the hot path: synchronous, never blocking, never raising. Each
subscription has a bounded queue; a slow consumer loses its oldest events, which are counted.
Publish and consume on the event loop's thread (the bus is not thread-safe).
"""

from __future__ import annotations

import asyncio
import enum
import ipaddress
import re
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self, TypeAlias

Owner: TypeAlias = int | str
"""A customer id (or login name); publishers and subscribers must use the same form."""


class EventKind(enum.StrEnum):
    NEW_CALL = "NewCall"
    REGISTRAR = "Registrar"
    REGISTER_SUCCESS = "RegisterSuccess"
    REGISTER_FAIL = "RegisterFail"
    BINDING_EXPIRED = "BindingExpired"
    BINDING_REMOVED = "BindingRemoved"
    NAT_KEEP_ALIVE = "NATKeepAlive"
    DIAL_PLAN = "DialPlan"
    FULL_SIP_TRACE = "FullSIPTrace"
    CONTACT_REGISTERED = "ContactRegistered"
    CONTACT_FAILED = "ContactFailed"
    DNS = "DNS"
    ERROR = "Error"
    WARN = "Warn"


class Direction(enum.StrEnum):
    IN = "in"
    OUT = "out"


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsoleEvent:
    """One console line. ``time`` is wall-clock seconds since the epoch; addresses are "ip:port".

    ``sip_method`` is the request method, or for a response the CSeq method.
    """

    kind: EventKind
    owner: Owner | None
    time: float
    message: str
    call_id: str | None = None
    remote: str | None = None
    local: str | None = None
    transport: str | None = None
    direction: Direction | None = None
    sip_method: str | None = None
    raw: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for the web console (``None`` fields left out)."""
        out: dict[str, Any] = {"kind": str(self.kind), "time": self.time, "message": self.message}
        for name in ("owner", "call_id", "remote", "local", "transport", "sip_method", "raw"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.direction is not None:
            out["direction"] = str(self.direction)
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class SIPTraceEvent(ConsoleEvent):
    """A whole SIP message as sent or received (``FullSIPTrace``)."""

    kind: EventKind = EventKind.FULL_SIP_TRACE
    direction: Direction | None
    raw: str | None


# --------------------------------------------------------------------------- filters


class FilterError(ValueError):
    """A console filter that does not parse; ``word`` is the word at fault."""

    def __init__(self, word: str, reason: str) -> None:
        super().__init__(f"{word}: {reason}")
        self.word = word
        self.reason = reason


_ALL_KINDS = frozenset(EventKind)
_DEFAULT_KINDS = _ALL_KINDS - {EventKind.FULL_SIP_TRACE}
_KINDS_BY_NAME = {kind.value.lower(): kind for kind in EventKind}
INVITE_FAMILY = frozenset({"INVITE", "ACK", "CANCEL", "BYE", "PRACK", "UPDATE", "INFO", "REFER"})
_OTHER_METHODS = {"REGISTER", "OPTIONS", "SUBSCRIBE", "NOTIFY", "MESSAGE", "PUBLISH"}
_KNOWN_METHODS = INVITE_FAMILY | _OTHER_METHODS
MAX_REGEX_LENGTH = 200
MAX_FILTER_LENGTH = 1000
_REGEX_SCAN_LIMIT = 16384  # characters of message/raw text a regex filter looks at


def _parse_address(text: str) -> tuple[str, int | None]:
    """``ip``, ``ip:port``, ``v6`` or ``[v6]:port`` → (normalised ip, port or None)."""
    host, port_text = text, ""
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError("expected [address]:port")
        port_text = rest[1:]
        if rest and not port_text:
            raise ValueError("missing port")
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    ip = ipaddress.ip_address(host)  # ValueError names nothing we need to add
    port: int | None = None
    if port_text:
        if not port_text.isascii() or not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"bad port {port_text!r}")
        port = int(port_text)
    return str(ip), port


def _tokens(text: str) -> Iterator[str]:
    """Split on whitespace; a token may be quoted with ' or " (no escapes, for regexes)."""
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        if text[i] in "'\"":
            end = text.find(text[i], i + 1)
            if end < 0:
                raise FilterError(text[i:], "unterminated quote")
            yield text[i + 1 : end]
            i = end + 1
        else:
            start = i
            while i < n and not text[i].isspace():
                i += 1
            yield text[start:i]


@dataclass(frozen=True, slots=True)
class ConsoleFilter:
    """What a console subscription wants, parsed from the console's filter words.

    ``event *`` (the default) is every kind except the full SIP trace; ``event full`` is every
    kind including it; ``event <kind>[,<kind>...]`` is those kinds only. ``request invite`` (the
    INVITE dialog's methods), ``request register`` or ``request <method>`` narrows events that
    carry a SIP method and leaves the others alone. ``ipaddr`` keeps events whose remote or local
    address is that IP (and port, if given). ``regex`` searches the message and raw text. All
    words must match (``and`` between words is optional).
    """

    kinds: frozenset[EventKind] = _DEFAULT_KINDS
    methods: frozenset[str] | None = None
    address: tuple[str, int | None] | None = None
    regex: re.Pattern[str] | None = None
    text: str = field(default="event *", compare=False)

    @property
    def wants_trace(self) -> bool:
        return EventKind.FULL_SIP_TRACE in self.kinds

    @classmethod
    def everything(cls) -> ConsoleFilter:
        return cls(kinds=_ALL_KINDS, text="event full")

    @classmethod
    def parse(cls, text: str) -> ConsoleFilter:
        """Parse filter words; raises :class:`FilterError` naming the bad word."""
        if len(text) > MAX_FILTER_LENGTH:
            raise FilterError(text[:20] + "...", f"filter longer than {MAX_FILTER_LENGTH}")
        values: dict[str, str] = {}
        tokens = _tokens(text)
        for token in tokens:
            word = token.lower()
            if word == "and":
                continue
            if word not in ("event", "request", "ipaddr", "regex"):
                raise FilterError(token, "unknown filter word")
            if word in values:
                raise FilterError(token, "given twice")
            value = next(tokens, None)
            if value is None or value.lower() == "and":
                raise FilterError(token, "missing value")
            values[word] = value
        kinds, methods, address, regex = _DEFAULT_KINDS, None, None, None
        if "event" in values:
            kinds = _parse_kinds(values["event"])
        if "request" in values:
            methods = _parse_methods(values["request"])
        if "ipaddr" in values:
            try:
                address = _parse_address(values["ipaddr"])
            except ValueError as exc:
                raise FilterError("ipaddr", f"{values['ipaddr']!r}: {exc}") from None
        if "regex" in values:
            regex = _compile_regex(values["regex"])
        normal = " ".join(f"{key} {value}" for key, value in values.items()) or "event *"
        return cls(kinds, methods, address, regex, normal)

    def matches(self, event: ConsoleEvent) -> bool:
        """True if the event passes every word of this filter (tenancy is checked elsewhere)."""
        if event.kind not in self.kinds:
            return False
        method = event.sip_method
        if self.methods is not None and method is not None and method.upper() not in self.methods:
            return False
        if self.address is not None and not self._address_matches(event):
            return False
        return self.regex is None or self._regex_matches(self.regex, event)

    @staticmethod
    def _regex_matches(regex: re.Pattern[str], event: ConsoleEvent) -> bool:
        if regex.search(event.message[:_REGEX_SCAN_LIMIT]) is not None:
            return True
        return event.raw is not None and regex.search(event.raw[:_REGEX_SCAN_LIMIT]) is not None

    def _address_matches(self, event: ConsoleEvent) -> bool:
        assert self.address is not None
        for endpoint in (event.remote, event.local):
            if endpoint is None:
                continue
            try:
                ip, port = _parse_address(endpoint)
            except ValueError:
                continue
            if ip == self.address[0] and self.address[1] in (None, port):
                return True
        return False


def _parse_kinds(value: str) -> frozenset[EventKind]:
    if value == "*":
        return _DEFAULT_KINDS
    if value.lower() == "full":
        return _ALL_KINDS
    kinds = set()
    for name in value.split(","):
        kind = _KINDS_BY_NAME.get(name.strip().lower())
        if kind is None:
            raise FilterError("event", f"unknown event type {name!r}")
        kinds.add(kind)
    return frozenset(kinds)


def _parse_methods(value: str) -> frozenset[str] | None:
    method = value.upper()
    if method == "*":
        return None
    if method == "INVITE":
        return INVITE_FAMILY
    if method in _KNOWN_METHODS:
        return frozenset({method})
    raise FilterError("request", f"unknown request type {value!r}")


def _compile_regex(pattern: str) -> re.Pattern[str]:
    if len(pattern) > MAX_REGEX_LENGTH:
        raise FilterError("regex", f"pattern longer than {MAX_REGEX_LENGTH} characters")
    try:
        return re.compile(pattern)
    except (re.error, RecursionError, OverflowError) as exc:
        raise FilterError("regex", f"{pattern!r}: {exc}") from None


# --------------------------------------------------------------------------- bus


class Subscription:
    """A bounded stream of matching events; iterate with ``async for``, stop with ``close()``.

    One consumer task per subscription (a second concurrent ``async for`` is not supported).
    """

    def __init__(
        self,
        bus: EventBus,
        filter: ConsoleFilter,
        owner: Owner | None,
        is_admin: bool,
        maxsize: int,
    ) -> None:
        self.filter = filter
        self.owner = owner
        self.is_admin = is_admin
        self.dropped = 0
        self._bus = bus
        self._queue: deque[ConsoleEvent] = deque(maxlen=maxsize)
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def pending(self) -> int:
        """Events queued and not yet taken."""
        return len(self._queue)

    def _accepts(self, event: ConsoleEvent) -> bool:
        if not self.is_admin and (event.owner is None or event.owner != self.owner):
            return False  # belt and braces: the bus already routes by owner
        return self.filter.matches(event)

    def _put(self, event: ConsoleEvent) -> None:
        if len(self._queue) == self._queue.maxlen:
            self.dropped += 1  # deque(maxlen) discards the oldest on append
        self._queue.append(event)
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def drain(self) -> list[ConsoleEvent]:
        """Take every queued event without waiting (for batching senders)."""
        events = list(self._queue)
        self._queue.clear()
        return events

    def close(self) -> None:
        """Stop receiving; a pending ``async for`` ends. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._queue.clear()
        self._bus._remove(self)
        self._wake()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> ConsoleEvent:
        while not self._queue:
            if self._closed:
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._queue.popleft()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


#: who listens on another process's bus: (admins, admins tracing, owners, owners tracing)
Interest = tuple[bool, bool, frozenset[Owner], frozenset[Owner]]


class EventBus:
    """Fan-out of console events to subscriptions, routed by owner (admins get everything).

    With several worker processes the subscriptions live on the first worker's bus; the others
    :attr:`forward` the events it is interested in (told by :meth:`set_remote_interest`, and
    to it by :attr:`changed`).
    """

    def __init__(self, *, default_maxsize: int = 1000) -> None:
        if default_maxsize < 1:
            raise ValueError("default_maxsize must be at least 1")
        self.default_maxsize = default_maxsize
        self.published = 0
        self.delivery_errors = 0
        self._admins: list[Subscription] = []
        self._by_owner: dict[Owner, list[Subscription]] = {}
        self._trace_admins = 0
        self._trace_owners: dict[Owner, int] = {}
        #: called when the subscriptions change (the first worker tells the others)
        self.changed: Callable[[], None] | None = None
        #: sends an event to the bus where the subscriptions are (on the other workers)
        self.forward: Callable[[ConsoleEvent], None] | None = None
        self._remote_admins = False
        self._remote_owners: frozenset[Owner] = frozenset()
        self._remote_trace_admins = False
        self._remote_trace_owners: frozenset[Owner] = frozenset()

    def subscribe(
        self,
        filter: ConsoleFilter | str = "",
        *,
        owner: Owner | None,
        is_admin: bool = False,
        maxsize: int | None = None,
    ) -> Subscription:
        """A new subscription; a string filter is parsed (raising :class:`FilterError`)."""
        if not is_admin and owner is None:
            raise ValueError("a customer subscription needs an owner")
        size = self.default_maxsize if maxsize is None else maxsize
        if size < 1:
            raise ValueError("maxsize must be at least 1")
        parsed = ConsoleFilter.parse(filter) if isinstance(filter, str) else filter
        sub = Subscription(self, parsed, owner, is_admin, size)
        if is_admin:
            self._admins.append(sub)
            self._trace_admins += parsed.wants_trace
        else:
            assert owner is not None
            self._by_owner.setdefault(owner, []).append(sub)
            if parsed.wants_trace:
                self._trace_owners[owner] = self._trace_owners.get(owner, 0) + 1
        self._changed()
        return sub

    def publish(self, event: ConsoleEvent) -> None:
        """Deliver to every matching subscription; never blocks, never raises."""
        self.published += 1
        owned = self._by_owner.get(event.owner) if event.owner is not None else None
        for group in (self._admins, owned):
            if not group:
                continue
            for sub in group:
                try:
                    if sub._accepts(event):
                        sub._put(event)
                except Exception:  # a filter must never break the publisher
                    self.delivery_errors += 1
        if self.forward is not None and self._remote_listening(event.owner):
            self.forward(event)

    def listening(self, owner: Owner | None) -> bool:
        """Could an event of ``owner`` reach anyone? O(1): the hot path skips building events
        nobody would see (``published`` still counts them)."""
        if self._admins:
            return True
        if owner is not None and bool(self._by_owner.get(owner)):
            return True
        return self._remote_listening(owner)

    def _remote_listening(self, owner: Owner | None) -> bool:
        return self._remote_admins or (owner is not None and owner in self._remote_owners)

    def wants_trace(self, owner: Owner | None) -> bool:
        """Is anyone who may see ``owner``'s events listening for the full SIP trace? O(1)."""
        if self._trace_admins:
            return True
        if owner is not None and owner in self._trace_owners:
            return True
        return self._remote_trace_admins or (
            owner is not None and owner in self._remote_trace_owners
        )

    @property
    def tracing(self) -> bool:
        """Is anyone at all listening for the full SIP trace? O(1), for the hot path."""
        return bool(
            self._trace_admins
            or self._trace_owners
            or self._remote_trace_admins
            or self._remote_trace_owners
        )

    # -- across worker processes ----------------------------------------------------------
    def interest(self) -> Interest:
        """Who listens here, for the other workers."""
        return (
            bool(self._admins),
            bool(self._trace_admins),
            frozenset(self._by_owner),
            frozenset(self._trace_owners),
        )

    def set_remote_interest(self, interest: Interest) -> None:
        """Who listens on the first worker's bus (events for them are forwarded)."""
        (
            self._remote_admins,
            self._remote_trace_admins,
            self._remote_owners,
            self._remote_trace_owners,
        ) = interest

    def _changed(self) -> None:
        if self.changed is not None:
            try:
                self.changed()
            except Exception:
                self.delivery_errors += 1

    @property
    def subscriber_count(self) -> int:
        return len(self._admins) + sum(len(subs) for subs in self._by_owner.values())

    def close(self) -> None:
        """Close every subscription (shutdown)."""
        for sub in [*self._admins, *(s for subs in self._by_owner.values() for s in subs)]:
            sub.close()

    def _remove(self, sub: Subscription) -> None:
        wants_trace = sub.filter.wants_trace
        if sub.is_admin:
            self._admins = [s for s in self._admins if s is not sub]
            self._trace_admins -= wants_trace
            self._changed()
            return
        assert sub.owner is not None
        remaining = [s for s in self._by_owner.get(sub.owner, ()) if s is not sub]
        if remaining:
            self._by_owner[sub.owner] = remaining
        else:
            self._by_owner.pop(sub.owner, None)
        if wants_trace:
            count = self._trace_owners.get(sub.owner, 0) - 1
            if count > 0:
                self._trace_owners[sub.owner] = count
            else:
                self._trace_owners.pop(sub.owner, None)
        self._changed()
