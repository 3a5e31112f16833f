"""What a leg tells its call: call-control events, not SIP messages.

A media endpoint (an IVR leg) raises the same events, so a call bridges either kind.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Trying:
    """The far end has the request (a 100, or any provisional without a dialog)."""


@dataclass(frozen=True, slots=True)
class Ringing:
    """180/181/182 (``sdp`` when early media came with it), or 183 Session Progress."""

    status: int
    reason: str
    sdp: bytes | None = None


@dataclass(frozen=True, slots=True)
class Answered:
    """A 2xx: the leg is up; ``sdp`` is the far end's answer."""

    sdp: bytes | None


@dataclass(frozen=True, slots=True)
class Failed:
    """A final failure before answer (status ≥ 300, a timeout as 408, a transport error 503)."""

    status: int
    reason: str


@dataclass(frozen=True, slots=True)
class Ended:
    """An established leg ended: a BYE from the far end, or ours."""

    reason: str


LegEvent = Trying | Ringing | Answered | Failed | Ended
