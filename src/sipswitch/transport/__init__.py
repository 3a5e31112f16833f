"""SIP transports (RFC 3261 §18, RFC 7118): thin asyncio adapters that move framed message bytes.

No SIP parsing happens here beyond framing: complete messages go to the sink with the
:class:`Flow` they arrived on, and :meth:`TransportManager.send` takes bytes to a flow or target.
"""

from sipswitch.transport.base import (
    ConnectionClosed,
    ConnectionOpened,
    Flow,
    FramingFailed,
    ListenerError,
    ListenerSpec,
    Rejected,
    SendFailed,
    Target,
    TransportError,
    TransportEvent,
    TransportLimits,
    TransportSink,
)
from sipswitch.transport.manager import TransportManager

__all__ = [
    "ConnectionClosed",
    "ConnectionOpened",
    "Flow",
    "FramingFailed",
    "ListenerError",
    "ListenerSpec",
    "Rejected",
    "SendFailed",
    "Target",
    "TransportError",
    "TransportEvent",
    "TransportLimits",
    "TransportManager",
    "TransportSink",
]
