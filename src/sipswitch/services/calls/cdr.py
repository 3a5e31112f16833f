"""Call detail records: one per leg, built while the leg lives, written when it ends."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from sipswitch.storage.cdrs import CallDetailRecord


class CdrBuilder:
    """The mutable record of a live leg; frozen into a :class:`CallDetailRecord` when asked
    for (changes are kept as fields: a leg changes five or six of them, copying the whole
    record for each cost more than the rest of the CDR work)."""

    __slots__ = ("_base", "_changes", "_record", "finished")

    def __init__(self, record: CallDetailRecord) -> None:
        self._base = record
        self._changes: dict[str, object] = {}
        self._record: CallDetailRecord | None = record
        self.finished = False

    @property
    def record(self) -> CallDetailRecord:
        if self._record is None:
            self._record = replace(self._base, **self._changes)  # type: ignore[arg-type]
        return self._record

    def _set(self, **changes: object) -> None:
        self._changes.update(changes)
        self._record = None

    def progress(self, when: float, status: int, reason: str) -> None:
        self._set(progress_time=when, progress_status=status, progress_reason=reason)

    def answered(self, when: float, status: int, reason: str) -> None:
        """The final response (2xx, or a failure: SIPSorcery keeps the answer fields for both)."""
        if "answered_time" not in self._changes and self._base.answered_time is None:
            self._set(answered_time=when, answered_status=status, answered_reason=reason)

    def bridged(self, bridge_id: str) -> None:
        self._set(bridge_id=bridge_id)

    def referred(self, by: str) -> None:
        self._set(referred_by=by)

    def hungup(self, when: float, reason: str) -> CallDetailRecord | None:
        """Close the record once; returns it the first time."""
        if self.finished:
            return None
        self.finished = True
        self._set(hungup_time=when, hungup_reason=reason)
        return self.record


CdrSink = Callable[[CallDetailRecord], None]
