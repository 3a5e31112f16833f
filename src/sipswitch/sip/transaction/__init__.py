"""The SIP transaction layer (RFC 3261 §17, RFC 6026), sans-IO: see :mod:`.layer`."""

from sipswitch.sip.transaction.client import build_ack, build_cancel
from sipswitch.sip.transaction.events import (
    CancelReceived,
    Event,
    Outbound,
    RequestReceived,
    ResponseReceived,
    StrayAck,
    StrayResponse,
    TransactionTerminated,
    TransactionTimeout,
    TransportError,
    TxKey,
)
from sipswitch.sip.transaction.keys import ClientKey, Peer, ServerKey
from sipswitch.sip.transaction.layer import TransactionLayer
from sipswitch.sip.transaction.tables import (
    INVITE_CLIENT,
    INVITE_SERVER,
    MACHINES,
    NON_INVITE_CLIENT,
    NON_INVITE_SERVER,
    Action,
    Input,
    Machine,
    State,
    Transition,
    format_table,
)
from sipswitch.sip.transaction.timers import Timer, TimerConfig, format_timer_table, is_reliable

__all__ = [
    "INVITE_CLIENT",
    "INVITE_SERVER",
    "MACHINES",
    "NON_INVITE_CLIENT",
    "NON_INVITE_SERVER",
    "Action",
    "CancelReceived",
    "ClientKey",
    "Event",
    "Input",
    "Machine",
    "Outbound",
    "Peer",
    "RequestReceived",
    "ResponseReceived",
    "ServerKey",
    "State",
    "StrayAck",
    "StrayResponse",
    "Timer",
    "TimerConfig",
    "TransactionLayer",
    "TransactionTerminated",
    "TransactionTimeout",
    "Transition",
    "TransportError",
    "TxKey",
    "build_ack",
    "build_cancel",
    "format_table",
    "format_timer_table",
    "is_reliable",
]
