"""Call detail records: one per leg, built while the leg lives, written when it ends."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from sipswitch.storage.cdrs import CallDetailRecord


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

    def referred(self, by: str) -> None:
        self.record = replace(self.record, referred_by=by)

    def hungup(self, when: float, reason: str) -> CallDetailRecord | None:
        """Close the record once; returns it the first time."""
        if self.finished:
            return None
        self.finished = True
        self.record = replace(self.record, hungup_time=when, hungup_reason=reason)
        return self.record


CdrSink = Callable[[CallDetailRecord], None]
