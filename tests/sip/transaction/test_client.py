"""Client transactions: retransmission schedules, timeouts, ACK generation, RFC 6026 Accepted."""

from __future__ import annotations

import pytest

from sipswitch.sip.message import Request
from sipswitch.sip.transaction import (
    ClientKey,
    ResponseReceived,
    State,
    StrayResponse,
    TimerConfig,
    TransactionLayer,
    TransactionTerminated,
    TransactionTimeout,
    TransportError,
)

from .helpers import UAS, drain, request, response, run_until, send_times, wire


def start(method: str = "INVITE", transport: str = "UDP", **kw: object):
    layer = TransactionLayer()
    req = request(method, transport=transport)
    key = layer.send_request(req, UAS, transport, 0.0, **kw)
    (first,) = layer.pop_outbound()
    assert first.data == req.to_bytes()
    assert first.destination == UAS
    assert first.tx == key
    return layer, req, key


def test_timer_a_doubles_without_cap_until_b() -> None:
    layer, _req, key = start()
    times = []
    while (deadline := layer.next_deadline()) is not None:
        layer.handle_timer(deadline)
        if layer.pop_outbound():
            times.append(deadline)
        if layer.state(key) is None:
            break
    assert times == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert deadline == 32.0
    assert layer.pop_events() == [TransactionTimeout(key), TransactionTerminated(key)]
    assert layer.next_deadline() is None


def test_timer_e_doubles_to_t2_then_f() -> None:
    layer, _req, key = start("OPTIONS")
    times = send_times(layer, 100.0)
    assert times == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert layer.pop_events() == [TransactionTimeout(key), TransactionTerminated(key)]


def test_timer_e_is_t2_in_proceeding() -> None:
    layer, req, key = start("REGISTER")
    layer.receive(wire(response(req, 100, None)), UAS, "UDP", 0.2)
    assert layer.state(key) is State.PROCEEDING
    times = send_times(layer, 20.0)
    assert times == [0.5, 4.5, 8.5, 12.5, 16.5]


def test_custom_timer_values() -> None:
    layer = TransactionLayer(TimerConfig(t1=0.1, t2=0.3))
    layer.send_request(request("OPTIONS"), UAS, "UDP", 0.0)
    times = run_until(layer, 100.0)
    assert times[:5] == pytest.approx([0.1, 0.3, 0.6, 0.9, 1.2])
    assert times[-1] == pytest.approx(6.4)  # F = 64*T1


@pytest.mark.parametrize("transport", ["TCP", "TLS", "WS", "WSS", "SCTP"])
def test_reliable_transports_do_not_retransmit(transport: str) -> None:
    layer, _req, key = start("INVITE", transport)
    assert layer.next_deadline() == 32.0  # only B
    run_until(layer, 40.0)
    assert layer.pop_outbound() == []
    assert layer.pop_events() == [TransactionTimeout(key), TransactionTerminated(key)]


@pytest.mark.parametrize("status", [300, 302, 401, 404, 486, 500, 503, 600, 603])
def test_non_2xx_final_is_acked_by_the_transaction(status: int) -> None:
    layer, req, key = start()
    layer.receive(wire(response(req, 180)), UAS, "UDP", 0.1)
    final = wire(response(req, status, "remote-tag"))
    layer.receive(final, UAS, "UDP", 0.2)
    (ack_out,) = layer.pop_outbound()
    ack = ack_out.message
    assert isinstance(ack, Request)
    assert ack.method == "ACK"
    assert ack.uri_text == req.uri_text
    assert ack.get_all("Via") == [str(req.top_via)]
    assert ack.top_via.branch == req.top_via.branch
    assert ack.to.tag == "remote-tag"
    assert ack.from_.tag == req.from_.tag
    assert ack.call_id == req.call_id
    assert (ack.cseq.seq, ack.cseq.method) == (req.cseq.seq, "ACK")
    assert ack.get_all("Route") == req.get_all("Route")
    assert ack.get("Contact") is None
    assert ack.body == b""
    events = layer.pop_events()
    assert [type(e) for e in events] == [ResponseReceived, ResponseReceived]
    assert layer.state(key) is State.COMPLETED
    # a retransmitted final is absorbed and ACKed again with the same bytes
    layer.receive(wire(final), UAS, "UDP", 1.0)
    (again,) = layer.pop_outbound()
    assert again.data == ack_out.data
    assert layer.pop_events() == []
    # Timer D (32 s over UDP) ends it
    assert layer.next_deadline() == pytest.approx(32.2)
    run_until(layer, 40.0)
    assert layer.pop_events() == [TransactionTerminated(key)]


def test_timer_d_is_zero_over_tcp() -> None:
    layer, req, _key = start("INVITE", "TCP")
    layer.receive(wire(response(req, 486)), UAS, "TCP", 0.2)
    out, events = drain(layer)
    assert len(out) == 1
    assert [type(e) for e in events] == [ResponseReceived, TransactionTerminated]
    assert len(layer) == 0


def test_rfc6026_accepted_passes_every_2xx_up() -> None:
    layer, req, key = start()
    ok1 = wire(response(req, 200, "fork-1"))
    layer.receive(ok1, UAS, "UDP", 0.1)
    assert layer.state(key) is State.ACCEPTED
    assert layer.pop_outbound() == []  # no ACK for a 2xx: the TU sends it
    layer.receive(wire(ok1), UAS, "UDP", 0.6)  # a retransmission
    ok2 = wire(response(req, 200, "fork-2"))  # another fork
    layer.receive(ok2, UAS, "UDP", 0.7)
    layer.receive(wire(response(req, 486)), UAS, "UDP", 0.8)  # absorbed
    layer.receive(wire(response(req, 183)), UAS, "UDP", 0.8)  # absorbed
    events = layer.pop_events()
    assert [type(e) for e in events] == [ResponseReceived] * 3
    assert [e.response.to.tag for e in events] == ["fork-1", "fork-1", "fork-2"]
    assert layer.pop_outbound() == []
    assert layer.next_deadline() == pytest.approx(32.1)  # Timer M = 64*T1
    run_until(layer, 33.0)
    assert layer.pop_events() == [TransactionTerminated(key)]
    late = wire(ok1)
    layer.receive(late, UAS, "UDP", 34.0)
    assert layer.pop_events() == [StrayResponse(late, UAS, "UDP")]


def test_stray_non_2xx_and_foreign_sent_by_are_dropped() -> None:
    layer, _req, key = start()
    other = request(branch="z9hG4bKnobody")
    layer.receive(wire(response(other, 486)), UAS, "UDP", 0.1)
    layer.receive(wire(response(other, 180)), UAS, "UDP", 0.1)
    forged = request(host="203.0.113.9")  # same branch, another sent-by (§18.1.2)
    layer.receive(wire(response(forged, 200)), UAS, "UDP", 0.1)
    assert drain(layer) == ([], [])
    assert layer.state(key) is State.CALLING


def test_transport_error_terminates_with_an_event() -> None:
    layer, _req, key = start("OPTIONS")
    layer.transport_error(key, 0.1)
    assert layer.pop_events() == [TransportError(key), TransactionTerminated(key)]
    assert len(layer) == 0
    layer.transport_error(key, 0.2)  # unknown now: ignored
    assert layer.pop_events() == []


def test_cancel_waits_for_a_provisional_response() -> None:
    layer, req, key = start()
    cancel_key = layer.cancel(key, 0.1)
    assert cancel_key == ClientKey(key.branch, "CANCEL")
    assert layer.pop_outbound() == []  # §9.1: not before a provisional response
    layer.receive(wire(response(req, 100, None)), UAS, "UDP", 0.2)
    (out,) = layer.pop_outbound()
    cancel = out.message
    assert isinstance(cancel, Request)
    assert cancel.method == "CANCEL"
    assert cancel.top_via.branch == req.top_via.branch
    assert cancel.cseq.seq == req.cseq.seq and cancel.cseq.method == "CANCEL"
    assert cancel.to.tag is None
    assert cancel.get_all("Route") == req.get_all("Route")
    assert layer.state(cancel_key) is State.TRYING
    assert layer.cancel(key, 0.3) == cancel_key  # idempotent
    assert layer.pop_outbound() == []


def test_cancel_in_proceeding_is_immediate_and_none_after_final() -> None:
    layer, req, key = start()
    layer.receive(wire(response(req, 180)), UAS, "UDP", 0.1)
    assert layer.cancel(key, 0.2) is not None
    assert len(layer.pop_outbound()) == 1
    layer2, req2, key2 = start()
    layer2.receive(wire(response(req2, 200)), UAS, "UDP", 0.1)
    assert layer2.cancel(key2, 0.2) is None
    assert layer2.cancel(ClientKey("z9hG4bKnope", "INVITE"), 0.2) is None


def test_pending_cancel_is_dropped_when_a_final_response_comes_first() -> None:
    layer, req, key = start()
    layer.cancel(key, 0.1)
    layer.receive(wire(response(req, 486)), UAS, "UDP", 0.2)
    (ack,) = layer.pop_outbound()
    assert ack.message.start_line().startswith("ACK")


def test_send_request_adds_a_branch_and_rejects_misuse() -> None:
    layer = TransactionLayer()
    req = request("OPTIONS", branch=None)
    key = layer.send_request(req, UAS, "UDP", 0.0)
    assert req.top_via.is_rfc3261_branch
    assert key == ClientKey(req.top_via.branch or "", "OPTIONS")
    with pytest.raises(ValueError, match="already exists"):
        layer.send_request(req, UAS, "UDP", 0.0)
    with pytest.raises(ValueError, match="ACK"):
        layer.send_request(request("ACK"), UAS, "UDP", 0.0)
    with pytest.raises(ValueError, match="RFC 3261"):
        layer.send_request(request("OPTIONS", branch="1234"), UAS, "UDP", 0.0)
    bad = request("OPTIONS", branch="z9hG4bKx2")
    bad.set("CSeq", "1 INFO")
    with pytest.raises(ValueError, match="CSeq"):
        layer.send_request(bad, UAS, "UDP", 0.0)
    novia = request("OPTIONS")
    novia.remove("Via")
    with pytest.raises(ValueError, match="Via"):
        layer.send_request(novia, UAS, "UDP", 0.0)


def test_send_stateless_queues_without_a_transaction() -> None:
    layer = TransactionLayer()
    ack = request("ACK", branch="z9hG4bKack2xx")
    layer.send_stateless(ack, UAS, "UDP")
    (out,) = layer.pop_outbound()
    assert out.tx is None and out.data == ack.to_bytes()
    assert len(layer) == 0 and layer.next_deadline() is None
