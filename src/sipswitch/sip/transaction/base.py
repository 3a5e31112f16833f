"""The table-driven transaction engine shared by the client and server transactions.

A transaction owns no clock and no queue: it reports to a :class:`Context` (the layer), which
queues what it transmits and emits, and keeps the one timer heap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from sipswitch.sip.message import Request, Response
from sipswitch.sip.transaction.events import Event, TransactionTimeout, TransportError, TxKey
from sipswitch.sip.transaction.keys import Peer
from sipswitch.sip.transaction.tables import TIMER_INPUT, Action, Input, Machine, State
from sipswitch.sip.transaction.timers import RETRANSMIT_TIMERS, Timer, TimerConfig, is_reliable

if TYPE_CHECKING:
    from sipswitch.sip.transaction.server import ServerTransaction

K = TypeVar("K", bound=TxKey)


class Context(Protocol):
    """What a transaction needs from its layer."""

    @property
    def config(self) -> TimerConfig: ...

    def transmit(self, tx: Transaction[Any], data: bytes, message: Request | Response) -> None: ...

    def emit(self, event: Event) -> None: ...

    def arm(self, tx: Transaction[Any], timer: Timer, when: float) -> int: ...

    def disarm(self) -> None: ...

    def terminated(self, tx: Transaction[Any]) -> None: ...

    def retire(self, tx: ServerTransaction, data: bytes, now: float) -> None: ...


class Transaction(Generic[K]):
    """One transaction: a state, the machine's table, its armed timers and what it last sent.

    ``timers`` maps each armed timer to the token of its heap entry; an entry whose token no
    longer matches was cancelled and is skipped when it comes due.
    """

    __slots__ = (
        "_interval",
        "_last",
        "_last_msg",
        "ctx",
        "destination",
        "key",
        "machine",
        "reliable",
        "request",
        "silent",
        "state",
        "timers",
        "transport",
    )

    def __init__(
        self,
        ctx: Context,
        machine: Machine,
        key: K,
        request: Request,
        *,
        destination: Peer,
        transport: str,
    ) -> None:
        self.ctx = ctx
        self.machine = machine
        self.key = key
        self.request = request
        self.destination = destination
        self.transport = transport
        self.reliable = is_reliable(transport)
        self.state = machine.initial
        self.timers: dict[Timer, int] = {}
        self.silent = False  # True: the TU never heard of it (e.g. a 482), so tell it nothing
        self._interval = 0.0
        self._last: bytes | None = None
        self._last_msg: Request | Response | None = None

    def __repr__(self) -> str:
        return f"<{self.machine.name} transaction {self.key} {self.state}>"

    @property
    def last_message(self) -> Request | Response | None:
        """The message retransmissions replay: the request (client) or last response (server)."""
        return self._last_msg

    def fire(self, inp: Input, now: float, message: Request | Response | None = None) -> None:
        """Apply ``inp`` per the table. Never raises for peer input (tables are total)."""
        state = self.state
        if state is State.TERMINATED:
            return
        tr = self.machine.table.get((state, inp))
        if tr is None:  # not an input of this machine
            return
        self.state = tr.next
        for action in tr.actions:
            self._act(action, now, message)
        for timer in tr.cancel:
            self._cancel(timer)
        if tr.next is State.TERMINATED:
            self._terminate()
            return
        for timer in tr.start:
            self._start(timer, now)
            if self.state is State.TERMINATED:  # a zero timer fired at once
                return

    def timer_fired(self, timer: Timer, now: float) -> None:
        """The layer found ``timer`` due (its token already checked and dropped)."""
        self.fire(TIMER_INPUT[timer], now)

    # -- actions ------------------------------------------------------------------------------
    def _act(self, action: Action, now: float, message: Request | Response | None) -> None:
        if action is Action.RESEND:
            self._resend()
        elif action is Action.RETRANSMIT:
            self._resend()
            timer = self.machine.retransmit
            if timer is not None:
                proceeding = self.state is State.PROCEEDING
                self._interval = self.ctx.config.backoff(timer, self._interval, proceeding)
                self._arm(timer, now + self._interval)
        elif action is Action.TIMEOUT:
            if not self.silent:
                self.ctx.emit(TransactionTimeout(self.key))
        elif action is Action.REPORT_ERROR:
            if not self.silent:
                self.ctx.emit(TransportError(self.key))
        else:
            self._act_specific(action, now, message)

    def _act_specific(self, action: Action, now: float, message: Request | Response | None) -> None:
        raise NotImplementedError  # pragma: no cover

    def _send(self, message: Request | Response) -> None:
        """Transmit ``message`` and remember it as what retransmissions replay."""
        data = message.to_bytes()
        self._last, self._last_msg = data, message
        self.ctx.transmit(self, data, message)

    def _resend(self) -> None:
        if self._last is not None and self._last_msg is not None:
            self.ctx.transmit(self, self._last, self._last_msg)

    # -- timers -------------------------------------------------------------------------------
    def _start(self, timer: Timer, now: float) -> None:
        duration = self.ctx.config.duration(timer, self.reliable)
        if duration is None:
            return
        if timer in RETRANSMIT_TIMERS:
            self._interval = duration
        if duration <= 0:
            self.timer_fired(timer, now)
        else:
            self._arm(timer, now + duration)

    def _arm(self, timer: Timer, when: float) -> None:
        if self.timers.pop(timer, None) is not None:
            self.ctx.disarm()
        self.timers[timer] = self.ctx.arm(self, timer, when)

    def _cancel(self, timer: Timer) -> None:
        if self.timers.pop(timer, None) is not None:
            self.ctx.disarm()

    def _terminate(self) -> None:
        for _ in self.timers:
            self.ctx.disarm()
        self.timers.clear()
        self.ctx.terminated(self)
