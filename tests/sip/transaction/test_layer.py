"""Two layers back to back, bytes in (parse errors), fuzzing, and memory release."""

from __future__ import annotations

import gc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipswitch.sip.builders import make_response
from sipswitch.sip.message import Request, Response
from sipswitch.sip.transaction import (
    CancelReceived,
    RequestReceived,
    ResponseReceived,
    ServerKey,
    State,
    StrayAck,
    Timer,
    TimerConfig,
    TransactionLayer,
    TransactionTerminated,
    TransactionTimeout,
    TransportError,
    format_timer_table,
)
from sipswitch.sip.transaction.events import Event

from .helpers import UAC, UAS, request, response


class Net:
    """Two layers wired through their outbound queues, with a fake clock and optional loss."""

    def __init__(self, transport: str = "UDP", drop: int = 0) -> None:
        self.a, self.b = TransactionLayer(), TransactionLayer()
        self.transport = transport
        self.now = 0.0
        self.drop = drop  # drop this many datagrams first
        self.events: dict[str, list[Event]] = {"a": [], "b": []}

    def pump(self) -> None:
        moved = True
        while moved:
            moved = False
            for src, dst, addr in ((self.a, self.b, UAC), (self.b, self.a, UAS)):
                for out in src.pop_outbound():
                    moved = True
                    if self.drop:
                        self.drop -= 1
                        continue
                    dst.receive_bytes(out.data, addr, out.transport, self.now)
        self.events["a"].extend(self.a.pop_events())
        self.events["b"].extend(self.b.pop_events())

    def advance(self, until: float) -> None:
        while True:
            deadlines = [d for d in (self.a.next_deadline(), self.b.next_deadline()) if d]
            if not deadlines or min(deadlines) > until:
                break
            self.now = min(deadlines)
            self.a.handle_timer(self.now)
            self.b.handle_timer(self.now)
            self.pump()
        self.now = until

    def take(self, side: str) -> list[Event]:
        out, self.events[side] = self.events[side], []
        return out


@pytest.mark.parametrize("transport", ["UDP", "TCP"])
def test_invite_rejected_end_to_end(transport: str) -> None:
    net = Net(transport)
    invite = request("INVITE", transport=transport)
    key = net.a.send_request(invite, UAS, transport, 0.0)
    net.pump()
    (got,) = net.take("b")
    assert isinstance(got, RequestReceived)
    net.b.send_response(make_response(got.request, 180, to_tag="bt"), 0.05)
    net.b.send_response(make_response(got.request, 486, to_tag="bt"), 0.1)
    net.pump()
    a_events = net.take("a")
    assert [e.response.status for e in a_events if isinstance(e, ResponseReceived)] == [180, 486]
    net.advance(100.0)
    assert not net.a and not net.b
    assert TransactionTerminated(key) in net.take("a") + a_events
    b_events = net.take("b")
    assert not any(isinstance(e, TransactionTimeout) for e in b_events)  # the ACK arrived


def test_invite_answered_end_to_end_over_lossy_udp() -> None:
    net = Net("UDP", drop=2)  # the INVITE and its first retransmission are lost
    key = net.a.send_request(request("INVITE"), UAS, "UDP", 0.0)
    net.pump()
    net.advance(1.6)
    (got,) = [e for e in net.take("b") if isinstance(e, RequestReceived)]
    ok = make_response(got.request, 200, to_tag="bt")
    net.b.send_response(ok, net.now)
    net.pump()
    (resp,) = [e for e in net.take("a") if isinstance(e, ResponseReceived)]
    assert resp.response.status == 200 and resp.client_tx == key
    # the TU (dialog layer) acknowledges the 2xx itself, on a new branch
    ack = request("ACK", branch="z9hG4bKack-for-2xx", to_tag="bt")
    net.a.send_stateless(ack, UAS, "UDP")
    net.pump()
    assert [type(e) for e in net.take("b")] == [StrayAck]
    net.advance(100.0)
    assert not net.a and not net.b
    assert net.a.next_deadline() is None and net.b.next_deadline() is None


def test_non_invite_with_cancel_end_to_end() -> None:
    net = Net()
    invite = request("INVITE")
    key = net.a.send_request(invite, UAS, "UDP", 0.0)
    net.pump()
    (got,) = net.take("b")
    assert isinstance(got, RequestReceived)
    net.advance(0.3)  # B's 100 Trying reaches A: Proceeding
    net.a.cancel(key, net.now)
    net.pump()
    (cancel,) = net.take("b")
    assert isinstance(cancel, CancelReceived) and cancel.invite_tx == got.server_tx
    net.b.send_response(make_response(cancel.request, 200), net.now)
    net.b.send_response(make_response(got.request, 487, to_tag="bt"), net.now)
    net.pump()
    statuses = [e.response.status for e in net.take("a") if isinstance(e, ResponseReceived)]
    assert sorted(statuses) == [100, 200, 487]
    net.advance(100.0)
    assert not net.a and not net.b


def test_receive_bytes_answers_bad_requests_statelessly() -> None:
    layer = TransactionLayer()
    good = request("OPTIONS")
    good.set("Max-Forwards", "lots")
    layer.receive_bytes(good.to_bytes(), UAC, "UDP", 0.0)
    (out,) = layer.pop_outbound()
    assert isinstance(out.message, Response) and out.message.status == 400
    assert "Max-Forwards" in out.message.reason
    assert out.destination == UAC and out.tx is None
    assert layer.pop_events() == [] and len(layer) == 0
    v3 = request("OPTIONS").to_bytes().replace(b"SIP/2.0\r\n", b"SIP/3.0\r\n", 1)
    layer.receive_bytes(v3, UAC, "UDP", 0.0)
    (out,) = layer.pop_outbound()
    assert out.message.status == 505  # type: ignore[union-attr]
    no_cseq = request("OPTIONS")
    no_cseq.remove("CSeq")
    layer.receive_bytes(no_cseq.to_bytes(), UAC, "UDP", 0.0)  # cannot be answered
    bad_ack = request("ACK")
    bad_ack.set("Max-Forwards", "x")
    layer.receive_bytes(bad_ack.to_bytes(), UAC, "UDP", 0.0)  # never answered
    bad_resp = response(request("OPTIONS"), 200)
    bad_resp.remove("CSeq")
    layer.receive_bytes(bad_resp.to_bytes(), UAS, "UDP", 0.0)
    layer.receive_bytes(b"\x00garbage", UAS, "UDP", 0.0)
    assert layer.pop_outbound() == [] and layer.pop_events() == []


def test_next_event_and_outbound_alias() -> None:
    layer = TransactionLayer()
    layer.receive(request("OPTIONS"), UAC, "UDP", 0.0)
    assert isinstance(layer.next_event(), RequestReceived)
    assert layer.next_event() is None
    assert layer.pop_outbound() == []


def test_memory_is_released() -> None:
    layer = TransactionLayer(TimerConfig(trying=None))
    keys = []
    for n in range(300):
        req = request("INVITE", branch=f"z9hG4bKc{n}", call_id=f"c{n}")
        keys.append(layer.send_request(req, UAS, "UDP", 0.0))
        layer.receive(response(req, 200), UAS, "UDP", 0.01)
        layer.receive(request("MESSAGE", branch=f"z9hG4bKs{n}", call_id=f"s{n}"), UAC, "UDP", 0.0)
    for event in layer.pop_events():
        if isinstance(event, RequestReceived):
            layer.send_response(make_response(event.request, 200), 0.02)
    # A and B were cancelled by the 2xx: stale heap entries get compacted
    assert layer.timer_entries < 3 * 600
    layer.handle_timer(1000.0)
    assert len(layer) == 0
    assert layer.next_deadline() is None and layer.timer_entries == 0
    assert not layer._merged


def test_timer_table_and_config() -> None:
    text = format_timer_table()
    for letter in "ABDEFGHIJKLM":
        assert f"\n{letter} " in text
    config = TimerConfig()
    assert config.duration(Timer.D, reliable=True) == 0.0
    assert config.duration(Timer.A, reliable=True) is None
    assert config.duration(Timer.I, reliable=False) == 5.0
    with pytest.raises(ValueError):
        TimerConfig(t1=5, t2=4)
    with pytest.raises(ValueError):
        TimerConfig(trying=-1)
    with pytest.raises(ValueError):
        TimerConfig(t4=0)


def _messages() -> list[bytes]:
    req = request("INVITE")
    return [
        req.to_bytes(),
        request("ACK", to_tag="t").to_bytes(),
        request("CANCEL").to_bytes(),
        request("OPTIONS", branch=None).to_bytes(),
        response(req, 180).to_bytes(),
        response(req, 200).to_bytes(),
        response(req, 486).to_bytes(),
    ]


@settings(max_examples=400, deadline=None)
@given(
    seed=st.sampled_from(_messages()),
    cuts=st.lists(st.tuples(st.integers(0, 400), st.binary(max_size=8)), max_size=4),
    transport=st.sampled_from(["UDP", "TCP"]),
)
def test_mutated_messages_never_raise(
    seed: bytes, cuts: list[tuple[int, bytes]], transport: str
) -> None:
    layer = TransactionLayer()
    req = request("INVITE")
    layer.send_request(req, UAS, transport, 0.0)
    layer.receive(request("INVITE", branch="z9hG4bKclient1"), UAC, transport, 0.0)
    data = seed
    for pos, junk in cuts:
        data = data[:pos] + junk + data[pos + len(junk) :]
    layer.receive_bytes(data, UAC, transport, 0.1)
    layer.receive_bytes(data, UAC, transport, 0.2)
    layer.handle_timer(100.0)
    for out in layer.pop_outbound():
        assert isinstance(out.message, Request | Response)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_never_raise(data: bytes) -> None:
    layer = TransactionLayer()
    layer.receive_bytes(data, UAC, "UDP", 0.0)
    layer.receive_bytes(b"INVITE sip:a@b SIP/2.0\r\n" + data, UAC, "UDP", 0.0)


def _completed_register(layer: TransactionLayer, branch: str, now: float = 0.0) -> ServerKey:
    register = request("REGISTER", branch=branch, call_id=branch)
    register.add("Authorization", 'Digest username="a", response="0"')
    layer.receive(register, UAC, "UDP", now)
    (got,) = layer.pop_events()
    assert isinstance(got, RequestReceived)
    layer.send_response(make_response(got.request, 200, to_tag="t"), now, tx=got.server_tx)
    return got.server_tx


def test_a_completed_non_invite_over_udp_is_a_tombstone_until_timer_j() -> None:
    """After its final response only the response's bytes are kept: a retransmission gets them
    again, later responses are discarded, and Timer J ends it as before (§17.2.2)."""
    layer = TransactionLayer(TimerConfig(trying=None))
    key = _completed_register(layer, "z9hG4bKslim")
    (first,) = layer.pop_outbound()
    assert layer.transaction(key) is None and layer.state(key) is State.COMPLETED
    assert len(layer) == 1
    layer.receive(request("REGISTER", branch="z9hG4bKslim", call_id="slim"), UAC, "UDP", 1.0)
    assert not layer.pop_events()
    (again,) = layer.pop_outbound()
    assert again.data == first.data and again.tx == key
    assert isinstance(again.message, Response) and again.message.status == 200
    assert layer.send_response(response(request("REGISTER", branch="z9hG4bKslim"), 500), 2.0) == key
    assert not layer.pop_outbound()
    assert layer.next_deadline() == pytest.approx(32.0)
    layer.handle_timer(31.9)
    assert not layer.pop_events()
    layer.handle_timer(32.0)
    assert layer.pop_events() == [TransactionTerminated(key)]
    assert len(layer) == 0 and layer.state(key) is None and layer.timer_entries == 0
    layer.receive(request("REGISTER", branch="z9hG4bKslim", call_id="slim"), UAC, "UDP", 33.0)
    assert [type(e) for e in layer.pop_events()] == [RequestReceived]  # a new transaction


def test_a_tombstone_whose_response_cannot_be_sent_ends_with_a_transport_error() -> None:
    layer = TransactionLayer(TimerConfig(trying=None))
    key = _completed_register(layer, "z9hG4bKgone")
    layer.transport_error(key, 0.1)  # §17.2.4
    assert layer.pop_events() == [TransportError(key), TransactionTerminated(key)]
    assert layer.state(key) is None
    layer.handle_timer(40.0)  # its queue entry is stale now
    assert not layer.pop_events() and layer.timer_entries == 0


def test_tombstones_and_live_timers_fire_in_time_order() -> None:
    layer = TransactionLayer(TimerConfig(trying=None))
    early = _completed_register(layer, "z9hG4bKearly", 0.0)
    invite = request("INVITE", branch="z9hG4bKinv")
    layer.receive(invite, UAC, "UDP", 1.0)
    (got,) = layer.pop_events()
    assert isinstance(got, RequestReceived)
    layer.send_response(response(invite, 486), 1.0)  # Timer H at 33
    late = _completed_register(layer, "z9hG4bKlate", 2.0)
    layer.handle_timer(100.0)
    assert layer.pop_events() == [
        TransactionTerminated(early),
        TransactionTimeout(got.server_tx),
        TransactionTerminated(got.server_tx),
        TransactionTerminated(late),
    ]


def test_tombstones_cost_the_cycle_collector_nothing() -> None:
    """Thousands of transactions waiting out Timer J add no objects for a full collection to
    traverse: that is what kept a busy registrar's full collections at half a second."""
    layer = TransactionLayer(TimerConfig(trying=None))
    _completed_register(layer, "z9hG4bKwarm")
    layer.pop_outbound()
    gc.collect()
    before = len(gc.get_objects())
    for n in range(2_000):
        _completed_register(layer, f"z9hG4bK{n}")
        layer.pop_outbound()
    gc.collect()
    gc.collect()  # a tuple is untracked once what it holds is
    assert len(layer) == 2_001
    assert len(gc.get_objects()) - before < 100
