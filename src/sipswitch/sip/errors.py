"""Errors of the SIP core.

Two kinds, as the architecture asks: the peer sent garbage (:class:`SipParseError`, carrying the
status code and reason phrase to answer with), and our own misuse (ordinary ``ValueError`` /
``TypeError`` raised by builders).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sipswitch.sip.message import Message


class SipParseError(ValueError):
    """Malformed input from a peer.

    ``status`` is the response code a server should answer a request with (400 unless the RFC
    names another, e.g. 505 for a version it does not speak, 416 for an unsupported URI scheme);
    ``reason`` is a short phrase naming the fault, safe to use as the reason phrase.
    ``message`` is the best-effort partial message, when enough of it could be read to answer.
    ``headers`` are extra header fields the answer must carry (e.g. ``Unsupported``).
    """

    def __init__(
        self,
        reason: str,
        status: int = 400,
        *,
        message: Message | None = None,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        super().__init__(reason)
        self.reason = _phrase(reason)
        self.status = status
        self.message = message
        self.headers = headers


def _phrase(text: str) -> str:
    """Make ``text`` safe as a reason phrase: one line of printable characters, bounded length."""
    cleaned = "".join(ch if ch.isprintable() else "?" for ch in text)
    return cleaned[:120]
