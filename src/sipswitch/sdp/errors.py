"""Errors of the SDP core.

A peer's malformed description raises :class:`SdpParseError` (naming the line and the fault);
an answer that breaks the offer/answer rules of RFC 3264 raises :class:`OfferAnswerError`.
Our own misuse of the builders raises plain ``ValueError``.
"""

from __future__ import annotations


class SdpParseError(ValueError):
    """A session description that cannot be understood.

    ``line`` is the 1-based line number of the fault (``None`` when it concerns the whole
    description, e.g. a missing mandatory line); ``reason`` names the fault without the line.
    """

    def __init__(self, reason: str, line: int | None = None) -> None:
        super().__init__(reason if line is None else f"line {line}: {reason}")
        self.reason = reason
        self.line = line


class OfferAnswerError(ValueError):
    """An answer that is not a valid answer to our offer (RFC 3264 §6, §7)."""
