"""Server transactions: absorption, G/H/I/J/L, 100 Trying, RFC 6026 Accepted, matching."""

from __future__ import annotations

import pytest

from sipswitch.sip.message import Request, Response
from sipswitch.sip.transaction import (
    CancelReceived,
    RequestReceived,
    ServerKey,
    State,
    StrayAck,
    TimerConfig,
    TransactionLayer,
    TransactionTerminated,
    TransactionTimeout,
    build_ack,
)

from .helpers import UAC, drain, request, response, run_until, send_times, wire


def receive(
    layer: TransactionLayer, req: Request, now: float = 0.0, transport: str = "UDP"
) -> None:
    layer.receive(wire(req), UAC, transport, now)


def new(method: str = "INVITE", transport: str = "UDP", config: TimerConfig | None = None, **kw):
    layer = TransactionLayer(config)
    req = request(method, transport=transport, **kw)
    receive(layer, req, 0.0, transport)
    (event,) = layer.pop_events()
    assert isinstance(event, RequestReceived)
    assert event.source == UAC and event.transport == transport
    return layer, event.request, event.server_tx


def sent(layer: TransactionLayer) -> list[Request | Response]:
    return [o.message for o in layer.pop_outbound()]


def statuses(layer: TransactionLayer) -> list[int]:
    return [m.status for m in sent(layer) if isinstance(m, Response)]


def test_non_invite_absorbs_and_replays() -> None:
    layer, req, key = new("OPTIONS")
    receive(layer, req, 0.1)  # Trying: discarded
    assert drain(layer) == ([], [])
    layer.send_response(response(req, 183), 0.2)
    receive(layer, req, 0.3)  # Proceeding: the last provisional again
    assert statuses(layer) == [183, 183]
    assert layer.send_response(response(req, 200), 0.4) == key
    receive(layer, req, 0.5)  # Completed: the final again
    assert statuses(layer) == [200, 200]
    layer.send_response(response(req, 500), 0.6)  # §17.2.2: later finals are discarded
    assert sent(layer) == []
    assert layer.pop_events() == []
    assert layer.next_deadline() == pytest.approx(32.4)  # Timer J = 64*T1
    run_until(layer, 33.0)
    assert layer.pop_events() == [TransactionTerminated(key)]
    assert len(layer) == 0


def test_timer_j_is_zero_over_tcp() -> None:
    layer, req, key = new("REGISTER", "TCP")
    layer.send_response(response(req, 200), 0.1)
    assert statuses(layer) == [200]
    assert layer.pop_events() == [TransactionTerminated(key)]
    # a retransmission now is a new request (as the RFC accepts for reliable transports)
    receive(layer, req, 0.2, "TCP")
    assert [type(e) for e in layer.pop_events()] == [RequestReceived]


def test_invite_final_retransmitted_with_g_capped_at_t2_until_h() -> None:
    layer, req, key = new()
    layer.send_response(response(req, 486), 0.0)
    assert statuses(layer) == [486]
    times = send_times(layer, 100.0)
    assert times == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert layer.pop_events() == [TransactionTimeout(key), TransactionTerminated(key)]


def test_ack_confirms_then_timer_i() -> None:
    layer, req, key = new()
    final = response(req, 404)
    layer.send_response(final, 0.0)
    receive(layer, req, 0.1)  # retransmitted INVITE: the final again
    assert statuses(layer) == [404, 404]
    ack = build_ack(req, final)
    receive(layer, ack, 0.2)
    assert layer.state(key) is State.CONFIRMED
    assert layer.pop_events() == []  # the ACK of a non-2xx is absorbed
    receive(layer, ack, 0.3)
    receive(layer, req, 0.3)
    assert drain(layer) == ([], [])
    assert layer.next_deadline() == pytest.approx(5.2)  # Timer I = T4, G and H cancelled
    run_until(layer, 6.0)
    assert sent(layer) == []
    assert layer.pop_events() == [TransactionTerminated(key)]


def test_ack_over_tcp_terminates_at_once() -> None:
    layer, req, key = new("INVITE", "TCP")
    final = response(req, 603)
    layer.send_response(final, 0.0)
    assert layer.next_deadline() == 32.0  # H only, no G
    receive(layer, build_ack(req, final), 0.1, "TCP")
    assert layer.pop_events() == [TransactionTerminated(key)]
    assert layer.next_deadline() is None


def test_100_trying_after_200ms_unless_answered() -> None:
    layer, req, _key = new()
    assert layer.next_deadline() == pytest.approx(0.2)
    run_until(layer, 0.2)
    (trying,) = sent(layer)
    assert isinstance(trying, Response) and trying.status == 100
    assert trying.to.tag is None and trying.top_via.branch == req.top_via.branch
    layer2, req2, _ = new()
    layer2.send_response(response(req2, 180), 0.1)
    run_until(layer2, 1.0)
    assert statuses(layer2) == [180]


def test_100_trying_configurable() -> None:
    layer, req, _ = new(config=TimerConfig(trying=0))
    assert statuses(layer) == [100]
    layer, req, _ = new(config=TimerConfig(trying=None))
    assert layer.next_deadline() is None
    receive(layer, req, 0.1)
    assert sent(layer) == []  # the TU answers, even retransmissions


def test_retransmitted_invite_before_any_answer_gets_100_at_once() -> None:
    layer, req, _key = new()
    receive(layer, req, 0.1)
    assert statuses(layer) == [100]
    run_until(layer, 1.0)  # the Trying timer finds a response already sent
    assert sent(layer) == []
    layer.send_response(response(req, 180), 1.0)
    receive(layer, req, 1.1)
    assert statuses(layer) == [180, 180]


def test_rfc6026_accepted_state() -> None:
    layer, req, key = new()
    ok = response(req, 200)
    layer.send_response(ok, 0.0)
    assert layer.state(key) is State.ACCEPTED
    assert statuses(layer) == [200]
    assert send_times(layer, 10.0) == []  # the transaction does not retransmit 2xx
    receive(layer, req, 10.0)  # retransmitted INVITE: absorbed, no 2xx from us
    assert drain(layer) == ([], [])
    layer.send_response(ok, 10.5)  # the TU's 2xx retransmission goes out
    layer.send_response(response(req, 180), 10.6)  # discarded
    layer.send_response(response(req, 486), 10.6)  # discarded
    assert statuses(layer) == [200]
    ack_same_branch = build_ack(req, ok)
    receive(layer, ack_same_branch, 11.0)
    (event,) = layer.pop_events()
    assert isinstance(event, RequestReceived) and event.request.method == "ACK"
    ack_2xx = request("ACK", branch="z9hG4bKnewbranch", to_tag="ttag")
    receive(layer, ack_2xx, 11.0)
    (stray,) = layer.pop_events()
    assert isinstance(stray, StrayAck)
    run_until(layer, 40.0)  # Timer L = 64*T1 from the 2xx
    assert layer.pop_events() == [TransactionTerminated(key)]


def test_cancel_matches_its_invite() -> None:
    layer, invite, invite_key = new()
    cancel = request("CANCEL")
    receive(layer, cancel, 0.1)
    (event,) = layer.pop_events()
    assert isinstance(event, CancelReceived)
    assert event.invite_tx == invite_key
    assert event.server_tx == ServerKey(invite_key.branch, invite_key.sent_by, "CANCEL")
    receive(layer, cancel, 0.2)  # retransmission: absorbed by its own transaction
    assert layer.pop_events() == []
    layer.send_response(response(event.request, 200), 0.3)
    layer.send_response(response(invite, 487), 0.3)
    assert statuses(layer) == [200, 487]
    unknown = request("CANCEL", branch="z9hG4bKother", call_id="call-2")
    receive(layer, unknown, 0.4)
    (event,) = layer.pop_events()
    assert isinstance(event, CancelReceived) and event.invite_tx is None


def test_merged_request_is_answered_482() -> None:
    layer, _req, key = new("INVITE")
    forked = request("INVITE", branch="z9hG4bKviaotherpath", host="203.0.113.5")
    receive(layer, forked, 0.1)
    assert layer.pop_events() == []  # the TU never sees it
    (loop,) = sent(layer)
    assert isinstance(loop, Response) and loop.status == 482 and loop.to.tag
    receive(layer, forked, 0.2)  # its retransmission gets the 482 again
    assert statuses(layer) == [482]
    assert len(layer) == 2
    # in-dialog requests (with a To tag) are never merged
    in_dialog = request("INVITE", branch="z9hG4bKreinvite", to_tag="x", host="203.0.113.5")
    receive(layer, in_dialog, 0.3)
    assert [type(e) for e in layer.pop_events()] == [RequestReceived]
    run_until(layer, 100.0)
    assert all(e.tx != key for e in layer.pop_events() if not isinstance(e, TransactionTerminated))


def test_merge_index_is_released_with_the_transaction() -> None:
    layer, req, _key = new("OPTIONS")
    layer.send_response(response(req, 200), 0.0)
    run_until(layer, 40.0)
    receive(layer, request("OPTIONS", branch="z9hG4bKlater"), 41.0)
    assert [type(e) for e in layer.pop_events()] == [TransactionTerminated, RequestReceived]


@pytest.mark.parametrize("branch", [None, "z9hG4bK", "1234abcd"])
def test_rfc2543_matching(branch: str | None) -> None:
    layer, req, key = new("INVITE", branch=branch, config=TimerConfig(trying=None))
    assert key.legacy
    receive(layer, req, 0.1)  # retransmission matches
    assert drain(layer) == ([], [])
    final = response(req, 486, "mytag")
    assert layer.send_response(final, 0.2) is None  # legacy needs the key
    assert layer.send_response(final, 0.2, tx=key) == key
    assert statuses(layer) == [486]
    wrong = build_ack(req, response(req, 486, "othertag"))
    receive(layer, wrong, 0.3)
    assert [type(e) for e in layer.pop_events()] == [StrayAck]
    receive(layer, build_ack(req, final), 0.4)
    assert layer.state(key) is State.CONFIRMED
    other_cseq = request("INVITE", branch=branch, cseq=2)
    receive(layer, other_cseq, 0.5)
    assert [type(e) for e in layer.pop_events()] == [RequestReceived]


def test_rfc2543_cancel_matching() -> None:
    layer, _req, key = new("INVITE", branch=None)
    receive(layer, request("CANCEL", branch=None), 0.1)
    (event,) = layer.pop_events()
    assert isinstance(event, CancelReceived) and event.invite_tx == key
    receive(layer, request("CANCEL", branch=None, call_id="other"), 0.1)
    (event,) = layer.pop_events()
    assert isinstance(event, CancelReceived) and event.invite_tx is None


def test_via_received_and_rport_and_response_destination() -> None:
    layer = TransactionLayer()
    req = request("OPTIONS", host="10.0.0.7", port=5070)
    req.set("Via", str(req.top_via.with_param("rport")))
    layer.receive(wire(req), ("198.51.100.77", 40000), "UDP", 0.0)
    (event,) = layer.pop_events()
    assert isinstance(event, RequestReceived)
    via = event.request.top_via
    assert via.received == "198.51.100.77" and via.rport == 40000
    layer.send_response(response(event.request, 200), 0.1)
    (out,) = layer.pop_outbound()
    assert out.destination == ("198.51.100.77", 40000)
    # no rport: received address, sent-by port
    layer = TransactionLayer()
    layer.receive(
        wire(request("OPTIONS", host="10.0.0.7", port=None)), ("198.51.100.77", 1), "UDP", 0
    )
    (event,) = layer.pop_events()
    layer.send_response(response(event.request, 200), 0.1)  # type: ignore[union-attr]
    assert layer.pop_outbound()[0].destination == ("198.51.100.77", 5060)
    # reliable: back over the connection it came on
    layer = TransactionLayer()
    layer.receive(wire(request("OPTIONS", transport="TCP")), ("192.0.2.1", 51515), "TCP", 0)
    (event,) = layer.pop_events()
    layer.send_response(response(event.request, 200), 0.1)  # type: ignore[union-attr]
    assert layer.pop_outbound()[0].destination == ("192.0.2.1", 51515)


def test_unknown_response_target_is_dropped() -> None:
    layer = TransactionLayer()
    assert layer.send_response(response(request("OPTIONS"), 200), 0.0) is None
    assert layer.pop_outbound() == []
