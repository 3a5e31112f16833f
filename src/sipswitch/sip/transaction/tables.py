"""The four transaction state machines as data (RFC 3261 §17.1.1, §17.1.2, §17.2.1, §17.2.2,
as updated by RFC 6026 §8). Each table is total: every (state, input) pair has an entry, and
pairs the RFC does not mention are "ignore" (stay, do nothing), so peer input can never raise.

Print one with ``print(format_table(INVITE_CLIENT))``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from sipswitch.sip.transaction.timers import Timer


class State(enum.StrEnum):
    CALLING = "Calling"
    TRYING = "Trying"
    PROCEEDING = "Proceeding"
    ACCEPTED = "Accepted"
    COMPLETED = "Completed"
    CONFIRMED = "Confirmed"
    TERMINATED = "Terminated"


class Input(enum.StrEnum):
    # responses from the peer (client transactions)
    R1XX = "1xx"
    R2XX = "2xx"
    R3XX_6XX = "300-699"
    # requests from the peer (server transactions): a retransmission, or the ACK
    REQUEST = "request"
    ACK = "ACK"
    # responses from the TU (server transactions)
    TU_1XX = "TU 1xx"
    TU_2XX = "TU 2xx"
    TU_3XX_6XX = "TU 300-699"
    TRANSPORT_ERROR = "transport error"
    TIMER_A = "Timer A"
    TIMER_B = "Timer B"
    TIMER_D = "Timer D"
    TIMER_E = "Timer E"
    TIMER_F = "Timer F"
    TIMER_G = "Timer G"
    TIMER_H = "Timer H"
    TIMER_I = "Timer I"
    TIMER_J = "Timer J"
    TIMER_K = "Timer K"
    TIMER_L = "Timer L"
    TIMER_M = "Timer M"
    TIMER_TRYING = "Timer Trying"


TIMER_INPUT = {timer: Input(f"Timer {timer.value}") for timer in Timer}


class Action(enum.StrEnum):
    PASS_UP = "pass up"  # client: response to the TU; server: the ACK to the TU
    SEND = "send"  # server: transmit the TU's response and remember it
    RESEND = "resend"  # transmit the last message again (nothing if none yet)
    RETRANSMIT = "retransmit"  # resend, and restart the retransmit timer backed off
    SEND_ACK = "send ACK"  # client INVITE: ACK the non-2xx final (built once, §17.1.1.3)
    SEND_TRYING = "send 100"  # INVITE server: 100 Trying if nothing was sent yet (§17.2.1)
    TIMEOUT = "timeout"  # tell the TU: TransactionTimeout
    REPORT_ERROR = "report error"  # tell the TU: TransportError


@dataclass(frozen=True, slots=True)
class Transition:
    """What an input does in a state: actions in order, then cancel, then start timers."""

    next: State
    actions: tuple[Action, ...] = ()
    start: tuple[Timer, ...] = ()
    cancel: tuple[Timer, ...] = ()

    def describe(self) -> str:
        parts = [a.value for a in self.actions]
        if self.cancel:
            parts.append("cancel " + ",".join(t.value for t in self.cancel))
        if self.start:
            parts.append("start " + ",".join(t.value for t in self.start))
        return "; ".join(parts)


@dataclass(frozen=True, slots=True)
class Machine:
    """A state machine: states, inputs, initial state, timers started at creation, the timer
    that RETRANSMIT restarts with back-off, and the total (state, input) table."""

    name: str
    states: tuple[State, ...]
    inputs: tuple[Input, ...]
    initial: State
    start: tuple[Timer, ...]
    retransmit: Timer | None
    table: Mapping[tuple[State, Input], Transition]

    def __getitem__(self, pair: tuple[State, Input]) -> Transition:
        return self.table[pair]


def _machine(
    name: str,
    states: tuple[State, ...],
    inputs: tuple[Input, ...],
    *,
    start: tuple[Timer, ...],
    retransmit: Timer | None,
    rules: dict[tuple[State, Input], Transition],
) -> Machine:
    table = {(s, i): rules.get((s, i), Transition(s)) for s in states for i in inputs}
    unknown = set(rules) - set(table)
    if unknown:  # pragma: no cover - a typo in the tables below
        raise ValueError(f"{name}: rules outside the machine: {unknown}")
    return Machine(name, states, inputs, states[0], start, retransmit, table)


S, In, A, T = State, Input, Action, Timer
_ERR = Transition(S.TERMINATED, (A.REPORT_ERROR,))

#: RFC 3261 §17.1.1 with RFC 6026 §8.4 (Figure 5): a 2xx moves to Accepted, where every
#: further 2xx is passed up until Timer M fires.
INVITE_CLIENT = _machine(
    "INVITE client",
    (S.CALLING, S.PROCEEDING, S.ACCEPTED, S.COMPLETED, S.TERMINATED),
    (
        In.R1XX,
        In.R2XX,
        In.R3XX_6XX,
        In.TIMER_A,
        In.TIMER_B,
        In.TIMER_D,
        In.TIMER_M,
        In.TRANSPORT_ERROR,
    ),
    start=(T.A, T.B),
    retransmit=T.A,
    rules={
        (S.CALLING, In.R1XX): Transition(S.PROCEEDING, (A.PASS_UP,), cancel=(T.A, T.B)),
        (S.CALLING, In.R2XX): Transition(S.ACCEPTED, (A.PASS_UP,), (T.M,), (T.A, T.B)),
        (S.CALLING, In.R3XX_6XX): Transition(
            S.COMPLETED, (A.PASS_UP, A.SEND_ACK), (T.D,), (T.A, T.B)
        ),
        (S.CALLING, In.TIMER_A): Transition(S.CALLING, (A.RETRANSMIT,)),
        (S.CALLING, In.TIMER_B): Transition(S.TERMINATED, (A.TIMEOUT,)),
        (S.CALLING, In.TRANSPORT_ERROR): _ERR,
        (S.PROCEEDING, In.R1XX): Transition(S.PROCEEDING, (A.PASS_UP,)),
        (S.PROCEEDING, In.R2XX): Transition(S.ACCEPTED, (A.PASS_UP,), (T.M,)),
        (S.PROCEEDING, In.R3XX_6XX): Transition(S.COMPLETED, (A.PASS_UP, A.SEND_ACK), (T.D,)),
        (S.PROCEEDING, In.TRANSPORT_ERROR): _ERR,
        (S.ACCEPTED, In.R2XX): Transition(S.ACCEPTED, (A.PASS_UP,)),
        (S.ACCEPTED, In.TIMER_M): Transition(S.TERMINATED),
        (S.COMPLETED, In.R3XX_6XX): Transition(S.COMPLETED, (A.SEND_ACK,)),
        (S.COMPLETED, In.TIMER_D): Transition(S.TERMINATED),
        (S.COMPLETED, In.TRANSPORT_ERROR): _ERR,
    },
)

_NI_FINAL = Transition(S.COMPLETED, (A.PASS_UP,), (T.K,), (T.E, T.F))

#: RFC 3261 §17.1.2 (Figure 6).
NON_INVITE_CLIENT = _machine(
    "non-INVITE client",
    (S.TRYING, S.PROCEEDING, S.COMPLETED, S.TERMINATED),
    (In.R1XX, In.R2XX, In.R3XX_6XX, In.TIMER_E, In.TIMER_F, In.TIMER_K, In.TRANSPORT_ERROR),
    start=(T.E, T.F),
    retransmit=T.E,
    rules={
        (S.TRYING, In.R1XX): Transition(S.PROCEEDING, (A.PASS_UP,)),
        (S.TRYING, In.R2XX): _NI_FINAL,
        (S.TRYING, In.R3XX_6XX): _NI_FINAL,
        (S.TRYING, In.TIMER_E): Transition(S.TRYING, (A.RETRANSMIT,)),
        (S.TRYING, In.TIMER_F): Transition(S.TERMINATED, (A.TIMEOUT,)),
        (S.TRYING, In.TRANSPORT_ERROR): _ERR,
        (S.PROCEEDING, In.R1XX): Transition(S.PROCEEDING, (A.PASS_UP,)),
        (S.PROCEEDING, In.R2XX): _NI_FINAL,
        (S.PROCEEDING, In.R3XX_6XX): _NI_FINAL,
        (S.PROCEEDING, In.TIMER_E): Transition(S.PROCEEDING, (A.RETRANSMIT,)),
        (S.PROCEEDING, In.TIMER_F): Transition(S.TERMINATED, (A.TIMEOUT,)),
        (S.PROCEEDING, In.TRANSPORT_ERROR): _ERR,
        (S.COMPLETED, In.TIMER_K): Transition(S.TERMINATED),
    },
)

#: RFC 3261 §17.2.1 with RFC 6026 §8.5-8.7 (Figure 7): a 2xx from the TU moves to Accepted,
#: where INVITE retransmissions are absorbed, ACKs passed up, and the TU's 2xx retransmissions
#: sent, until Timer L fires. TRYING is the 200 ms automatic 100 Trying.
INVITE_SERVER = _machine(
    "INVITE server",
    (S.PROCEEDING, S.ACCEPTED, S.COMPLETED, S.CONFIRMED, S.TERMINATED),
    (
        In.REQUEST,
        In.ACK,
        In.TU_1XX,
        In.TU_2XX,
        In.TU_3XX_6XX,
        In.TIMER_TRYING,
        In.TIMER_G,
        In.TIMER_H,
        In.TIMER_I,
        In.TIMER_L,
        In.TRANSPORT_ERROR,
    ),
    start=(T.TRYING,),
    retransmit=T.G,
    rules={
        (S.PROCEEDING, In.REQUEST): Transition(S.PROCEEDING, (A.RESEND, A.SEND_TRYING)),
        (S.PROCEEDING, In.TU_1XX): Transition(S.PROCEEDING, (A.SEND,), cancel=(T.TRYING,)),
        (S.PROCEEDING, In.TU_2XX): Transition(S.ACCEPTED, (A.SEND,), (T.L,), (T.TRYING,)),
        (S.PROCEEDING, In.TU_3XX_6XX): Transition(S.COMPLETED, (A.SEND,), (T.G, T.H), (T.TRYING,)),
        (S.PROCEEDING, In.TIMER_TRYING): Transition(S.PROCEEDING, (A.SEND_TRYING,)),
        (S.PROCEEDING, In.TRANSPORT_ERROR): _ERR,
        (S.ACCEPTED, In.ACK): Transition(S.ACCEPTED, (A.PASS_UP,)),
        (S.ACCEPTED, In.TU_2XX): Transition(S.ACCEPTED, (A.SEND,)),
        (S.ACCEPTED, In.TIMER_L): Transition(S.TERMINATED),
        (S.ACCEPTED, In.TRANSPORT_ERROR): _ERR,
        (S.COMPLETED, In.REQUEST): Transition(S.COMPLETED, (A.RESEND,)),
        (S.COMPLETED, In.ACK): Transition(S.CONFIRMED, (), (T.I,), (T.G, T.H)),
        (S.COMPLETED, In.TIMER_G): Transition(S.COMPLETED, (A.RETRANSMIT,)),
        (S.COMPLETED, In.TIMER_H): Transition(S.TERMINATED, (A.TIMEOUT,)),
        (S.COMPLETED, In.TRANSPORT_ERROR): _ERR,
        (S.CONFIRMED, In.TIMER_I): Transition(S.TERMINATED),
    },
)

_NS_FINAL = Transition(S.COMPLETED, (A.SEND,), (T.J,))

#: RFC 3261 §17.2.2 (Figure 8). Final responses from the TU in Completed are discarded.
NON_INVITE_SERVER = _machine(
    "non-INVITE server",
    (S.TRYING, S.PROCEEDING, S.COMPLETED, S.TERMINATED),
    (In.REQUEST, In.TU_1XX, In.TU_2XX, In.TU_3XX_6XX, In.TIMER_J, In.TRANSPORT_ERROR),
    start=(),
    retransmit=None,
    rules={
        (S.TRYING, In.TU_1XX): Transition(S.PROCEEDING, (A.SEND,)),
        (S.TRYING, In.TU_2XX): _NS_FINAL,
        (S.TRYING, In.TU_3XX_6XX): _NS_FINAL,
        (S.TRYING, In.TRANSPORT_ERROR): _ERR,
        (S.PROCEEDING, In.REQUEST): Transition(S.PROCEEDING, (A.RESEND,)),
        (S.PROCEEDING, In.TU_1XX): Transition(S.PROCEEDING, (A.SEND,)),
        (S.PROCEEDING, In.TU_2XX): _NS_FINAL,
        (S.PROCEEDING, In.TU_3XX_6XX): _NS_FINAL,
        (S.PROCEEDING, In.TRANSPORT_ERROR): _ERR,
        (S.COMPLETED, In.REQUEST): Transition(S.COMPLETED, (A.RESEND,)),
        (S.COMPLETED, In.TIMER_J): Transition(S.TERMINATED),
        (S.COMPLETED, In.TRANSPORT_ERROR): _ERR,
    },
)

MACHINES = (INVITE_CLIENT, NON_INVITE_CLIENT, INVITE_SERVER, NON_INVITE_SERVER)


def format_table(machine: Machine) -> str:
    """The table as text: one line per (state, input) pair."""
    width = max(len(i.value) for i in machine.inputs)
    lines = [f"{machine.name} (starts {machine.initial}, timers {_names(machine.start)})"]
    for state in machine.states:
        lines.append(f"  {state}:")
        for inp in machine.inputs:
            tr = machine.table[(state, inp)]
            arrow = f"-> {tr.next}" if tr.next is not state else "   (stay)"
            what = tr.describe() or ("ignore" if tr.next is state else "")
            lines.append(f"    {inp.value.ljust(width)}  {arrow}  {what}".rstrip())
    return "\n".join(lines)


def _names(timers: tuple[Timer, ...]) -> str:
    return ",".join(t.value for t in timers) or "none"
