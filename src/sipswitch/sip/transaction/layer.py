"""The transaction layer: RFC 3261 §17 (with RFC 6026) behind a sans-IO interface.

Feed it parsed messages (:meth:`~TransactionLayer.receive`) or datagrams
(:meth:`~TransactionLayer.receive_bytes`), requests and responses from the transaction user
(:meth:`~TransactionLayer.send_request`, :meth:`~TransactionLayer.send_response`) and the time
(:meth:`~TransactionLayer.handle_timer`); then drain :meth:`~TransactionLayer.pop_events`, send
:meth:`~TransactionLayer.pop_outbound`, and re-arm one timer at
:meth:`~TransactionLayer.next_deadline`. Peer garbage never raises; misuse by the TU does.

The layer also plays the server transport's part of §18.2.1: it stamps ``received``/``rport``
into the top Via of new requests, and works out where responses go (§18.2.2, RFC 3581).
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from typing import Any

from sipswitch.sip.builders import make_response, new_branch, new_tag
from sipswitch.sip.errors import SipParseError
from sipswitch.sip.message import Request, Response
from sipswitch.sip.parser import parse_message, validate_request, validate_response
from sipswitch.sip.transaction.base import Transaction
from sipswitch.sip.transaction.client import ClientTransaction, build_cancel
from sipswitch.sip.transaction.events import (
    CancelReceived,
    Event,
    Outbound,
    RequestReceived,
    StrayAck,
    StrayResponse,
    TransactionTerminated,
    TransportError,
    TxKey,
)
from sipswitch.sip.transaction.keys import (
    ClientKey,
    MergeKey,
    Peer,
    ServerKey,
    cancelled_key,
    merge_key,
    response_destination,
    server_key,
    stamp_via,
)
from sipswitch.sip.transaction.server import ServerTransaction
from sipswitch.sip.transaction.tables import Input, State
from sipswitch.sip.transaction.timers import Timer, TimerConfig, is_reliable

_COMPACT_MIN = 64
#: a completed non-INVITE server transaction over UDP, kept only to answer retransmissions
#: until Timer J fires (§17.2.2): when it ends, the response's bytes, where they go, over
#: what, whether the TU is told of its end, and its merged-request key. Plain tuples of atomic
#: values, which the cycle collector stops tracking, so tens of thousands of them waiting out
#: Timer J cost a full collection next to nothing.
_Done = tuple[float, bytes, Peer, str, bool, MergeKey | None]
#: enough to route an answer back (RFC 4475 §3.3.1: even a request missing Call-ID, From and To
#: should get its 400)
_ANSWERABLE = ("via", "cseq")


class TransactionLayer:
    """All client and server transactions of one endpoint, and their one timer heap."""

    def __init__(self, config: TimerConfig | None = None) -> None:
        self._config = config or TimerConfig()
        self._clients: dict[ClientKey, ClientTransaction] = {}
        self._servers: dict[ServerKey, ServerTransaction] = {}
        #: a tombstone's entry holds its key as a plain tuple (equal to the ServerKey)
        self._merged: dict[MergeKey, ServerKey | tuple[Any, ...]] = {}
        #: keyed by the ServerKey's plain tuple (equal to it, and untracked like the value)
        self._done: dict[tuple[Any, ...], _Done] = {}
        #: (when, key) in expiry order: Timer J has one duration, so a FIFO is a timer queue
        self._done_queue: deque[tuple[float, tuple[Any, ...]]] = deque()
        self._heap: list[tuple[float, int, Transaction[Any], Timer]] = []
        self._tokens = itertools.count(1)
        self._armed = 0
        self._outbound: list[Outbound] = []
        self._events: deque[Event] = deque()

    # -- what transactions call (the Context protocol) ---------------------------------------
    @property
    def config(self) -> TimerConfig:
        return self._config

    def transmit(self, tx: Transaction[Any], data: bytes, message: Request | Response) -> None:
        self._outbound.append(Outbound(data, tx.destination, tx.transport, message, tx.key))

    def emit(self, event: Event) -> None:
        self._events.append(event)

    def arm(self, tx: Transaction[Any], timer: Timer, when: float) -> int:
        token = next(self._tokens)
        heapq.heappush(self._heap, (when, token, tx, timer))
        self._armed += 1
        return token

    def disarm(self) -> None:
        """A timer was cancelled; its heap entry goes stale. Rebuild once most are stale."""
        self._armed -= 1
        heap = self._heap
        if len(heap) > _COMPACT_MIN and len(heap) > 2 * self._armed:
            self._heap = [e for e in heap if e[2].timers.get(e[3]) == e[1]]
            heapq.heapify(self._heap)

    def retire(self, tx: ServerTransaction, data: bytes, now: float) -> None:
        """Keep a completed non-INVITE server transaction as a tombstone until Timer J."""
        key = tx.key
        if self._servers.get(key) is tx:
            del self._servers[key]
        when = now + (self._config.duration(Timer.J, tx.reliable) or 0.0)
        plain = tuple(key)
        merge = tx.merge
        self._done[plain] = (when, data, tx.destination, tx.transport, tx.silent, merge)
        if merge is not None and self._merged.get(merge) == key:
            self._merged[merge] = plain
        self._done_queue.append((when, plain))

    def _forget(self, key: ServerKey, done: _Done, *, error: bool = False) -> None:
        """A tombstone's Timer J fired, or its response could not be sent (§17.2.4)."""
        del self._done[key]
        merge = done[5]
        if merge is not None and self._merged.get(merge) == key:
            del self._merged[merge]
        if not done[4]:
            if error:
                self._events.append(TransportError(key))
            self._events.append(TransactionTerminated(key))

    def terminated(self, tx: Transaction[Any]) -> None:
        if isinstance(tx, ClientTransaction):
            if self._clients.get(tx.key) is tx:
                del self._clients[tx.key]
        elif isinstance(tx, ServerTransaction):
            if self._servers.get(tx.key) is tx:
                del self._servers[tx.key]
            if tx.merge is not None and self._merged.get(tx.merge) == tx.key:
                del self._merged[tx.merge]
        if not tx.silent:
            self._events.append(TransactionTerminated(tx.key))

    # -- input from the network --------------------------------------------------------------
    def receive_bytes(self, data: bytes, source: Peer, transport: str, now: float) -> None:
        """Parse a datagram or framed message and :meth:`receive` it.

        A request too broken to parse is answered statelessly with the parse error's status
        when it carries enough to answer (§8.2, §21.4.1); a broken response is dropped.
        """
        try:
            message = parse_message(data)
        except SipParseError as exc:
            if isinstance(exc.message, Request):
                self._reject(exc.message, exc, source, transport)
            return
        self.receive(message, source, transport, now)

    def receive(
        self, message: Request | Response, source: Peer, transport: str, now: float
    ) -> None:
        """Match a message from the peer to its transaction (§17.1.3, §17.2.3). Never raises."""
        try:
            if isinstance(message, Response):
                self._on_response(message, source, transport, now)
            else:
                self._on_request(message, source, transport, now)
        except SipParseError as exc:
            if isinstance(message, Request):
                self._reject(message, exc, source, transport)

    def _on_response(self, response: Response, source: Peer, transport: str, now: float) -> None:
        validate_response(response)
        via = response.top_via
        key = ClientKey(via.branch or "", response.cseq.method)
        tx = self._clients.get(key)
        if tx is None:
            if 200 <= response.status < 300 and key.method == "INVITE":
                self._events.append(StrayResponse(response, source, transport))
            return
        if tx.sent_by != via.sent_by.lower():  # §18.1.2: not ours
            return
        tx.on_response(response, now)
        if tx.cancel_pending:
            tx.cancel_pending = False
            if response.status < 200:
                self._send_cancel(tx, now)

    def _on_request(self, request: Request, source: Peer, transport: str, now: float) -> None:
        via = request.top_via
        method = request.method
        tx: ServerTransaction | None
        legacy = not via.is_rfc3261_branch
        if not legacy:
            key = ServerKey(
                via.branch or "", via.sent_by.lower(), "INVITE" if method == "ACK" else method
            )
            tx = self._servers.get(key)
            if tx is None and method != "ACK":
                done = self._done.get(key)
                if done is not None:  # a retransmission: the final response again
                    data = done[1]
                    response = parse_message(data)
                    self._outbound.append(Outbound(data, done[2], done[3], response, key))
                    return
        else:  # RFC 2543 peer (§17.2.3)
            validate_request(request)
            key = server_key(request)
            tx = self._servers.get(key)
            if tx is not None and not tx.matches_legacy(request):
                tx = None
        if tx is not None and method != "ACK":
            tx.on_request(request, now)  # a retransmission: absorbed or answered by the table
            return
        if not legacy:
            validate_request(request)
        if tx is not None:
            tx.on_request(request, now)
        elif method == "ACK":
            self._events.append(StrayAck(request, source, transport))
        else:
            self._new_server(request, key, source, transport, now)

    def _new_server(
        self, request: Request, key: ServerKey, source: Peer, transport: str, now: float
    ) -> None:
        mkey = merge_key(request)
        merged = mkey is not None and self._merged.get(mkey, key) != key
        via = stamp_via(request, source)
        destination = response_destination(via, source, is_reliable(transport))
        tx = ServerTransaction(
            self, key, request, source=source, transport=transport, destination=destination
        )
        self._servers[key] = tx
        if merged:  # §8.2.2.2: the same request reached us by another path
            tx.silent = True
            tx.respond(make_response(request, 482, to_tag=new_tag()), now)
            return
        if mkey is not None:
            tx.merge = mkey
            self._merged[mkey] = key
        if request.method == "CANCEL":
            invite = self._servers.get(cancelled_key(key))
            if invite is not None and key.legacy and not invite.matches_legacy(request):
                invite = None
            invite_key = None if invite is None else invite.key
            self._events.append(CancelReceived(request, key, invite_key, source, transport))
        else:
            self._events.append(RequestReceived(request, key, source, transport))
        tx.begin(now)

    def _reject(self, request: Request, exc: SipParseError, source: Peer, transport: str) -> None:
        """Answer a malformed request statelessly, if it is not an ACK and can be answered."""
        if request.method == "ACK" or any(name not in request for name in _ANSWERABLE):
            return
        response = make_response(
            request, exc.status, exc.reason, to_tag=new_tag(), headers=exc.headers
        )
        self.send_stateless(response, source, transport)

    # -- input from the transaction user -----------------------------------------------------
    def send_request(
        self, request: Request, destination: Peer, transport: str, now: float
    ) -> ClientKey:
        """Start a client transaction for ``request`` and send it; returns its key.

        The request must carry its top Via; a branch is added when it has none (§8.1.1.7).
        Raises ValueError on misuse: an ACK (not a transaction: :meth:`send_stateless`), a
        non-RFC 3261 branch, a CSeq method other than the request's, or a duplicate branch.
        """
        if request.method == "ACK":
            raise ValueError("ACK is not a transaction: use send_stateless()")
        vias = request.vias
        if not vias:
            raise ValueError("a request needs a top Via (with our sent-by)")
        via = vias[0]
        if via.branch is None:
            via = via.with_param("branch", new_branch())
            request.remove_first("Via")
            request.add("Via", str(via), first=True)
        elif not via.is_rfc3261_branch:
            raise ValueError(f"not an RFC 3261 branch: {via.branch!r}")
        if request.cseq.method != request.method:
            raise ValueError("CSeq method differs from the request method")
        key = ClientKey(via.branch or "", request.method)
        if key in self._clients:
            raise ValueError(f"a client transaction {key} already exists")
        tx = ClientTransaction(self, key, request, destination, transport)
        self._clients[key] = tx
        tx.begin(now)
        return key

    def send_response(
        self, response: Response, now: float, *, tx: ServerKey | None = None
    ) -> ServerKey | None:
        """Send the TU's response through its server transaction; returns its key, or None
        when that transaction no longer exists (the response is dropped).

        The transaction is found from the response's Via and CSeq; pass ``tx`` (the key from
        :class:`RequestReceived`) to skip that, as RFC 2543 transactions require.
        """
        if tx is None:
            via = response.top_via
            tx = ServerKey(via.branch or "", via.sent_by.lower(), response.cseq.method)
        server = self._servers.get(tx)
        if server is None:  # a completed one discards later responses (§17.2.2)
            return tx if tx in self._done else None
        server.respond(response, now)
        return tx

    def send_stateless(
        self, message: Request | Response, destination: Peer, transport: str
    ) -> None:
        """Queue a message outside any transaction (the ACK of a 2xx, 2xx retransmissions)."""
        self._outbound.append(Outbound(message.to_bytes(), destination, transport, message))

    def cancel(self, invite_tx: ClientKey, now: float) -> ClientKey | None:
        """CANCEL a pending INVITE (§9.1); returns the CANCEL's client transaction key.

        In Calling the CANCEL waits for the first provisional response (it is dropped if a final
        response comes first); once a final response arrived, there is nothing to cancel (None).
        """
        tx = self._clients.get(invite_tx)
        if tx is None or invite_tx.method != "INVITE":
            return None
        if tx.state is State.CALLING:
            tx.cancel_pending = True
            return ClientKey(invite_tx.branch, "CANCEL")
        if tx.state is State.PROCEEDING:
            return self._send_cancel(tx, now)
        return None

    def _send_cancel(self, tx: ClientTransaction, now: float) -> ClientKey:
        key = ClientKey(tx.key.branch, "CANCEL")
        if key not in self._clients:
            self.send_request(build_cancel(tx.request), tx.destination, tx.transport, now)
        return key

    def transport_error(self, tx: TxKey, now: float) -> None:
        """The transport failed to send for ``tx`` (§17.1.4, §17.2.4)."""
        found = self._clients.get(tx) if isinstance(tx, ClientKey) else self._servers.get(tx)
        if found is not None:
            found.fire(Input.TRANSPORT_ERROR, now)
        elif isinstance(tx, ServerKey):
            done = self._done.get(tx)
            if done is not None:
                self._forget(tx, done, error=True)

    def handle_timer(self, now: float) -> None:
        """Fire every timer due at ``now``, tombstones' Timer J included, in time order."""
        queue = self._done_queue
        while True:
            heap = self._heap  # a cancelled timer may compact it into a new list
            if queue and queue[0][0] <= now and (not heap or queue[0][0] <= heap[0][0]):
                when, plain = queue.popleft()
                done = self._done.get(plain)
                if done is not None and done[0] == when:  # else already gone, or a newer one
                    self._forget(ServerKey(*plain), done)
                continue
            if not heap or heap[0][0] > now:
                return
            _, token, tx, timer = heapq.heappop(heap)
            if tx.timers.get(timer) != token:
                continue  # cancelled
            del tx.timers[timer]
            self._armed -= 1
            tx.timer_fired(timer, now)

    # -- output ------------------------------------------------------------------------------
    def pop_outbound(self) -> list[Outbound]:
        """Everything to transmit, in order; the queue is emptied."""
        out, self._outbound = self._outbound, []
        return out

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def pop_events(self) -> list[Event]:
        events = list(self._events)
        self._events.clear()
        return events

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timer` must next be called, or None when no timer runs."""
        heap = self._heap
        while heap and heap[0][2].timers.get(heap[0][3]) != heap[0][1]:
            heapq.heappop(heap)
        queue = self._done_queue
        if queue and (not heap or queue[0][0] < heap[0][0]):
            return queue[0][0]
        return heap[0][0] if heap else None

    # -- introspection -----------------------------------------------------------------------
    def transaction(self, key: TxKey) -> Transaction[Any] | None:
        """The live transaction; None for one kept only as a tombstone (see :meth:`state`)."""
        if isinstance(key, ClientKey):
            return self._clients.get(key)
        return self._servers.get(key)

    def state(self, key: TxKey) -> State | None:
        tx = self.transaction(key)
        if tx is None:
            return State.COMPLETED if isinstance(key, ServerKey) and key in self._done else None
        return tx.state

    def __len__(self) -> int:
        """Transactions, those waiting out Timer J as tombstones included."""
        return len(self._clients) + len(self._servers) + len(self._done)

    @property
    def timer_entries(self) -> int:
        """Heap and tombstone queue entries, stale ones included (to check that memory is
        released)."""
        return len(self._heap) + len(self._done_queue)
