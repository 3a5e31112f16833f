"""Prometheus metrics for the switch, in a registry of their own (never the global one).

The hot path calls one method per fact (``metrics.message_in("udp", "INVITE")``). Label values
that come off the wire are folded onto a fixed set (unknown methods become ``OTHER``, unknown
transports ``other``), so a peer cannot grow the label space; labelled children are cached.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

__all__ = ["CONTENT_TYPE_LATEST", "Metrics", "Sampled"]

NAMESPACE = "sipswitch"
METHODS = frozenset(
    {
        "INVITE", "ACK", "BYE", "CANCEL", "REGISTER", "OPTIONS", "PRACK", "SUBSCRIBE",
        "NOTIFY", "PUBLISH", "INFO", "REFER", "MESSAGE", "UPDATE",
    }
)  # fmt: skip
TRANSPORTS = frozenset({"udp", "tcp", "tls", "ws", "wss"})
_STATUS_CLASSES = {1: "1xx", 2: "2xx", 3: "3xx", 4: "4xx", 5: "5xx", 6: "6xx"}


class Sampled(enum.StrEnum):
    """Gauges that can be read from a callable at scrape time instead of being set."""

    ACTIVE_TRANSACTIONS = "active_transactions"
    BINDINGS = "bindings"
    ACTIVE_CALLS = "active_calls"
    DATABASE_UP = "database_up"
    LOOP_LAG = "loop_lag"
    OVERLOAD_SHED = "overload_shed"


def _method(method: str) -> str:
    upper = method.upper()
    return upper if upper in METHODS else "OTHER"


def _transport(transport: str) -> str:
    lower = transport.lower()
    return lower if lower in TRANSPORTS else "other"


def _status_class(status: int) -> str:
    return _STATUS_CLASSES.get(status // 100, "other")


class Metrics:
    """Every metric of one switch process; ``render()`` gives the Prometheus text format."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r, ns = self.registry, NAMESPACE
        self._requests = Counter(
            "sip_requests", "SIP requests by direction, transport and method",
            ["direction", "transport", "method"], namespace=ns, registry=r,
        )  # fmt: skip
        self._responses = Counter(
            "sip_responses", "SIP responses by direction, transport, CSeq method and status class",
            ["direction", "transport", "method", "status_class"], namespace=ns, registry=r,
        )  # fmt: skip
        self._parse_errors = Counter(
            "sip_parse_errors", "Unparseable SIP messages received", ["transport"],
            namespace=ns, registry=r,
        )  # fmt: skip
        self._tx_created = Counter(
            "sip_transactions_created", "SIP transactions created", ["role"],
            namespace=ns, registry=r,
        )  # fmt: skip
        self._tx_timed_out = Counter(
            "sip_transactions_timed_out", "SIP transactions ended by a timeout", ["role"],
            namespace=ns, registry=r,
        )  # fmt: skip
        self._registrations = Counter(
            "registrations", "REGISTER requests handled, by result", ["result"],
            namespace=ns, registry=r,
        )  # fmt: skip
        self._calls_started = Counter("calls_started", "Calls started", namespace=ns, registry=r)
        self._calls_answered = Counter("calls_answered", "Calls answered", namespace=ns, registry=r)
        self._calls_failed = Counter("calls_failed", "Calls that failed", namespace=ns, registry=r)
        self._errors = Counter(
            "errors", "Internal errors by component", ["component"], namespace=ns, registry=r
        )
        self._active_transactions = Gauge(
            "sip_transactions_active", "SIP transactions in progress", namespace=ns, registry=r
        )
        self._bindings = Gauge("bindings", "Registrar contact bindings", namespace=ns, registry=r)
        self._active_calls = Gauge("calls_active", "Calls in progress", namespace=ns, registry=r)
        self._connections = Gauge(
            "connections_open", "Open stream connections by transport", ["transport"],
            namespace=ns, registry=r,
        )  # fmt: skip
        self._database_up = Gauge(
            "database_up", "1 if the database answers, else 0", namespace=ns, registry=r
        )
        self._loop_lag = Gauge(
            "event_loop_lag_seconds", "How late the event loop's sampling timer fired",
            namespace=ns, registry=r,
        )  # fmt: skip
        self._overload_shed = Gauge(
            "overload_shed", "New INVITE/REGISTER/SUBSCRIBE answered 503 for overload since start",
            namespace=ns, registry=r,
        )  # fmt: skip
        self._sampled = {
            Sampled.LOOP_LAG: self._loop_lag,
            Sampled.OVERLOAD_SHED: self._overload_shed,
            Sampled.ACTIVE_TRANSACTIONS: self._active_transactions,
            Sampled.BINDINGS: self._bindings,
            Sampled.ACTIVE_CALLS: self._active_calls,
            Sampled.DATABASE_UP: self._database_up,
        }
        self._children: dict[tuple[str, ...], Counter] = {}
        for role in ("client", "server"):  # zero series exist before the first event
            self._tx_created.labels(role)
            self._tx_timed_out.labels(role)
        for result in ("success", "fail"):
            self._registrations.labels(result)

    # -- SIP messages (hot path) ---------------------------------------------------------------

    def _count(self, direction: str, transport: str, method: str, status: int | None) -> None:
        key = (direction, transport, method, "" if status is None else str(status // 100))
        child = self._children.get(key)
        if child is None:
            labels = (direction, _transport(transport), _method(method))
            if status is None:
                child = self._requests.labels(*labels)
            else:
                child = self._responses.labels(*labels, _status_class(status))
            if len(self._children) < 10_000:  # raw keys are wire data: keep the cache bounded
                self._children[key] = child
        child.inc()

    def message_in(self, transport: str, method: str, status: int | None = None) -> None:
        """A SIP message received: a request (``status`` None) or a response to ``method``."""
        self._count("in", transport, method, status)

    def message_out(self, transport: str, method: str, status: int | None = None) -> None:
        """A SIP message sent: a request (``status`` None) or a response to ``method``."""
        self._count("out", transport, method, status)

    def parse_error(self, transport: str) -> None:
        self._parse_errors.labels(_transport(transport)).inc()

    # -- transactions, registrations, calls, errors --------------------------------------------

    def transaction_created(self, role: str) -> None:
        """``role`` is ``client`` or ``server``; also raises the active gauge."""
        self._tx_created.labels(role).inc()
        self._active_transactions.inc()

    def transaction_ended(self, role: str, *, timed_out: bool = False) -> None:
        self._active_transactions.dec()
        if timed_out:
            self._tx_timed_out.labels(role).inc()

    def registration(self, *, success: bool) -> None:
        self._registrations.labels("success" if success else "fail").inc()

    def call_started(self) -> None:
        self._calls_started.inc()
        self._active_calls.inc()

    def call_answered(self) -> None:
        self._calls_answered.inc()

    def call_failed(self) -> None:
        """A call that ended without being answered (also counts as ended)."""
        self._calls_failed.inc()
        self._active_calls.dec()

    def call_ended(self) -> None:
        """An answered call hung up."""
        self._active_calls.dec()

    def error(self, component: str = "other") -> None:
        self._errors.labels(component).inc()

    # -- gauges ---------------------------------------------------------------------------------

    def set_active_transactions(self, count: int) -> None:
        self._active_transactions.set(count)

    def set_bindings(self, count: int) -> None:
        self._bindings.set(count)

    def set_active_calls(self, count: int) -> None:
        self._active_calls.set(count)

    def connection_opened(self, transport: str) -> None:
        self._connections.labels(_transport(transport)).inc()

    def connection_closed(self, transport: str) -> None:
        self._connections.labels(_transport(transport)).dec()

    def set_database_up(self, up: bool) -> None:
        self._database_up.set(1 if up else 0)

    def sample(self, gauge: Sampled, read: Callable[[], float]) -> None:
        """Read ``gauge`` from ``read()`` at every scrape (e.g. ``len(table)``), no hot-path cost.

        A gauge being sampled ignores its inc/dec/set calls.
        """
        self._sampled[gauge].set_function(read)

    # -- exposition ----------------------------------------------------------------------------

    def render(self) -> bytes:
        """The registry in the Prometheus text format (:data:`CONTENT_TYPE_LATEST`)."""
        return generate_latest(self.registry)
