"""Locating SIP servers (RFC 3263 §4); see :mod:`sipswitch.transport.dns.resolver`."""

from __future__ import annotations

from sipswitch.transport.dns.resolver import SipResolver
from sipswitch.transport.dns.targets import (
    DEFAULT_PORTS,
    AddressOrder,
    ResolutionError,
    ResolutionReason,
    ResolvedTarget,
    SrvRecord,
    TargetSource,
    order_srv,
)

__all__ = [
    "DEFAULT_PORTS",
    "AddressOrder",
    "ResolutionError",
    "ResolutionReason",
    "ResolvedTarget",
    "SipResolver",
    "SrvRecord",
    "TargetSource",
    "order_srv",
]
