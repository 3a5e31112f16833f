"""Call detail records: one per leg, written when the leg ends (RFC-free; SIPSorcery's fields)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace


@dataclass(frozen=True, slots=True)
class CallDetailRecord:
    """One leg of a call. Times are wall-clock epoch seconds; durations in seconds."""

    leg_id: str
    owner: int | None
    direction: str  # "in" (a leg the switch answered) or "out" (a leg the switch placed)
    call_id: str
    bridge_id: str | None
    execution_id: str | None
    from_user: str | None
    from_name: str | None
    from_header: str
    dst_user: str | None
    dst_host: str
    dst_uri: str
    local_socket: str
    remote_socket: str
    created: float
    progress_time: float | None = None
    progress_status: int | None = None
    progress_reason: str | None = None
    answered_time: float | None = None
    answered_status: int | None = None
    answered_reason: str | None = None
    hungup_time: float | None = None
    hungup_reason: str | None = None

    @property
    def ring_duration(self) -> float | None:
        """From creation until the answer (or the failure)."""
        end = self.answered_time
        return None if end is None else round(end - self.created, 3)

    @property
    def duration(self) -> float | None:
        """Answered time until hang-up, for answered legs."""
        if self.answered_time is None or self.hungup_time is None:
            return None
        if self.answered_status is None or not 200 <= self.answered_status < 300:
            return None
        return round(self.hungup_time - self.answered_time, 3)


@dataclass(slots=True)
class CdrBuilder:
    """The mutable record of a live leg; frozen into a :class:`CallDetailRecord` at the end."""

    record: CallDetailRecord
    finished: bool = field(default=False)

    def progress(self, when: float, status: int, reason: str) -> None:
        self.record = replace(
            self.record, progress_time=when, progress_status=status, progress_reason=reason
        )

    def answered(self, when: float, status: int, reason: str) -> None:
        """The final response (2xx, or a failure: SIPSorcery keeps the answer fields for both)."""
        if self.record.answered_time is None:
            self.record = replace(
                self.record, answered_time=when, answered_status=status, answered_reason=reason
            )

    def bridged(self, bridge_id: str) -> None:
        self.record = replace(self.record, bridge_id=bridge_id)

    def hungup(self, when: float, reason: str) -> CallDetailRecord | None:
        """Close the record once; returns it the first time."""
        if self.finished:
            return None
        self.finished = True
        self.record = replace(self.record, hungup_time=when, hungup_reason=reason)
        return self.record


CdrSink = Callable[[CallDetailRecord], None]
