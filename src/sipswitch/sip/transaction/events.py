"""What the transaction layer tells its user, and what it asks the transport to send.

All are frozen, slotted values. Transactions are named by their keys (see :mod:`.keys`), which
the user passes back to :meth:`TransactionLayer.send_response` and friends.
"""

from __future__ import annotations

from dataclasses import dataclass

from sipswitch.sip.message import Request, Response
from sipswitch.sip.transaction.keys import ClientKey, Peer, ServerKey

TxKey = ClientKey | ServerKey


@dataclass(frozen=True, slots=True)
class Outbound:
    """A message to transmit: ``data`` to ``destination`` over ``transport``.

    ``tx`` names the transaction that sent it (None for stateless sends), so the transport can
    report a failure back with :meth:`TransactionLayer.transport_error`.
    """

    data: bytes
    destination: Peer
    transport: str
    message: Request | Response
    tx: TxKey | None = None


@dataclass(frozen=True, slots=True)
class RequestReceived:
    """A new request (or, in the INVITE server's Accepted state, an ACK that matched it)."""

    request: Request
    server_tx: ServerKey
    source: Peer
    transport: str


@dataclass(frozen=True, slots=True)
class CancelReceived:
    """A CANCEL, which is its own server transaction (``server_tx``, answer it there).

    ``invite_tx`` is the INVITE server transaction it targets (§9.2), or None when there is
    none (the user should answer 481).
    """

    request: Request
    server_tx: ServerKey
    invite_tx: ServerKey | None
    source: Peer
    transport: str


@dataclass(frozen=True, slots=True)
class ResponseReceived:
    """A response for a client transaction (in INVITE Accepted: every further 2xx)."""

    response: Response
    client_tx: ClientKey


@dataclass(frozen=True, slots=True)
class StrayResponse:
    """A 2xx to INVITE that matches no transaction (a late retransmission or another fork)."""

    response: Response
    source: Peer
    transport: str


@dataclass(frozen=True, slots=True)
class StrayAck:
    """An ACK that matches no server transaction: normally the ACK of a 2xx (§17.2.3)."""

    request: Request
    source: Peer
    transport: str


@dataclass(frozen=True, slots=True)
class TransactionTimeout:
    """Timer B/F fired (the user synthesizes a 408, §8.1.3.1), or H (no ACK came, §17.2.1)."""

    tx: TxKey


@dataclass(frozen=True, slots=True)
class TransportError:
    """The transport could not send for this transaction (§17.1.4, §17.2.4)."""

    tx: TxKey


@dataclass(frozen=True, slots=True)
class TransactionTerminated:
    """The transaction reached Terminated and is forgotten."""

    tx: TxKey


Event = (
    RequestReceived
    | CancelReceived
    | ResponseReceived
    | StrayResponse
    | StrayAck
    | TransactionTimeout
    | TransportError
    | TransactionTerminated
)
