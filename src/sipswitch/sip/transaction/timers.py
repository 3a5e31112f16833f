"""Transaction timers: RFC 3261 §17 and Appendix A (Table 4), RFC 6026 §8 (Timers L and M).

Every duration is derived from T1, T2 and T4. Over a reliable transport (TCP, TLS, SCTP,
WebSocket) the retransmission timers A, E and G are not started at all, and the wait timers
D, I, J and K are zero (§17.1.1.2, §17.1.2.2, §17.2.1, §17.2.2): the transaction moves on at once.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

#: transports that deliver reliably (§18, RFC 4168, RFC 7118); anything else is treated as UDP
RELIABLE_TRANSPORTS = frozenset({"TCP", "TLS", "SCTP", "TLS-SCTP", "WS", "WSS"})


def is_reliable(transport: str) -> bool:
    """Whether ``transport`` (a Via transport token, any case) is reliable."""
    return transport.upper() in RELIABLE_TRANSPORTS


class Timer(enum.StrEnum):
    """The transaction timers, named as the RFCs name them (TRYING: the §17.2.1 200 ms 100)."""

    A = "A"
    B = "B"
    D = "D"
    E = "E"
    F = "F"
    G = "G"
    H = "H"
    I = "I"  # noqa: E741 - the RFC's name
    J = "J"
    K = "K"
    L = "L"
    M = "M"
    TRYING = "Trying"


#: the retransmission timers: not run over reliable transports, and backed off when they fire
RETRANSMIT_TIMERS = frozenset({Timer.A, Timer.E, Timer.G})
#: the wait timers that are zero over reliable transports
ZERO_WHEN_RELIABLE = frozenset({Timer.D, Timer.I, Timer.J, Timer.K})


@dataclass(frozen=True, slots=True)
class TimerConfig:
    """The base values (seconds) of the transaction timers.

    ``t1`` is the RTT estimate, ``t2`` the cap on non-INVITE and response retransmission
    intervals, ``t4`` the time a message may stay in the network (§17.1.1.1). ``d`` is Timer D
    over unreliable transports (at least 32 s). ``trying`` is how long an INVITE server
    transaction waits for the TU's first response before sending ``100 Trying`` itself
    (§17.2.1 asks for one within 200 ms); ``0`` sends it at once, ``None`` leaves it to the TU.
    """

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0
    d: float = 32.0
    trying: float | None = 0.2

    def __post_init__(self) -> None:
        if not 0 < self.t1 <= self.t2:
            raise ValueError("need 0 < T1 <= T2")
        if self.t4 <= 0 or self.d < 0:
            raise ValueError("T4 must be positive and D non-negative")
        if self.trying is not None and self.trying < 0:
            raise ValueError("the 100 Trying delay must be non-negative")

    def duration(self, timer: Timer, reliable: bool) -> float | None:
        """The initial duration of ``timer``; None when it is not run on this transport."""
        if reliable:
            if timer in RETRANSMIT_TIMERS:
                return None
            if timer in ZERO_WHEN_RELIABLE:
                return 0.0
        if timer in RETRANSMIT_TIMERS:
            return self.t1
        if timer is Timer.D:
            return self.d
        if timer is Timer.I or timer is Timer.K:
            return self.t4
        if timer is Timer.TRYING:
            return self.trying
        return 64 * self.t1  # B, F, H, J, L, M

    def backoff(self, timer: Timer, interval: float, proceeding: bool) -> float:
        """The next interval of a retransmission timer that fired after ``interval``.

        A doubles without a cap (§17.1.1.2); E doubles up to T2, and is T2 once the
        transaction is Proceeding (§17.1.2.2); G doubles up to T2 (§17.2.1).
        """
        if timer is Timer.A:
            return 2 * interval
        if timer is Timer.E and proceeding:
            return self.t2
        return min(2 * interval, self.t2)


_MEANINGS = {
    Timer.A: ("T1", "INVITE request retransmit interval, for UDP only", "17.1.1.2"),
    Timer.B: ("64*T1", "INVITE transaction timeout timer", "17.1.1.2"),
    Timer.D: (">32s for UDP, 0s for TCP/SCTP", "Wait time for response retransmits", "17.1.1.2"),
    Timer.E: ("T1", "non-INVITE request retransmit interval, UDP only", "17.1.2.2"),
    Timer.F: ("64*T1", "non-INVITE transaction timeout timer", "17.1.2.2"),
    Timer.G: ("T1", "INVITE response retransmit interval", "17.2.1"),
    Timer.H: ("64*T1", "Wait time for ACK receipt", "17.2.1"),
    Timer.I: ("T4 for UDP, 0s for TCP/SCTP", "Wait time for ACK retransmits", "17.2.1"),
    Timer.J: ("64*T1 for UDP, 0s for TCP/SCTP", "Wait time for non-INVITE request retransmits",
              "17.2.2"),
    Timer.K: ("T4 for UDP, 0s for TCP/SCTP", "Wait time for response retransmits", "17.1.2.2"),
    Timer.L: ("64*T1", "Wait time for accepted INVITE request retransmits", "RFC 6026 8.5"),
    Timer.M: ("64*T1", "Wait time for retransmission of 2xx to INVITE", "RFC 6026 8.4"),
    Timer.TRYING: ("200ms", "Send 100 Trying if the TU has not answered", "17.2.1"),
}  # fmt: skip


def format_timer_table(config: TimerConfig | None = None) -> str:
    """RFC 3261 Table 4 (plus L, M and the 100 Trying delay) with this configuration's values."""
    config = config or TimerConfig()
    rows = [("Timer", "Value", "Section", "UDP", "TCP", "Meaning")]
    for timer, (value, meaning, section) in _MEANINGS.items():
        udp = config.duration(timer, reliable=False)
        tcp = config.duration(timer, reliable=True)
        rows.append((timer.value, value, section, _secs(udp), _secs(tcp), meaning))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row[:5], widths, strict=True)) + "  " + row[5]
        for row in rows
    )


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:g}s"
