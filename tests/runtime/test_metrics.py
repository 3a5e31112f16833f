"""Metrics: one registry per object, hot-path methods, bounded label values."""

from __future__ import annotations

from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from sipswitch.runtime.metrics import Metrics, Sampled


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(metrics: Metrics, name: str, **labels: str) -> float:
    return samples(metrics).get((name, tuple(sorted(labels.items()))), 0.0)


def test_each_metrics_object_has_its_own_registry() -> None:
    a, b = Metrics(), Metrics()  # no "duplicated timeseries" error: nothing global
    a.call_started()
    assert value(a, "sipswitch_calls_started_total") == 1
    assert value(b, "sipswitch_calls_started_total") == 0
    assert "sipswitch_calls_started_total" not in {
        s.name for f in REGISTRY.collect() for s in f.samples
    }


def test_messages_by_direction_transport_method_and_status_class() -> None:
    m = Metrics()
    m.message_in("udp", "INVITE")
    m.message_in("UDP", "invite")
    m.message_out("udp", "INVITE", 100)
    m.message_out("udp", "INVITE", 180)
    m.message_out("tls", "REGISTER", 401)
    m.message_in("ws", "BYE", 200)
    req = "sipswitch_sip_requests_total"
    resp = "sipswitch_sip_responses_total"
    assert value(m, req, direction="in", transport="udp", method="INVITE") == 2
    assert (
        value(m, resp, direction="out", transport="udp", method="INVITE", status_class="1xx") == 2
    )
    assert (
        value(m, resp, direction="out", transport="tls", method="REGISTER", status_class="4xx") == 1
    )
    assert value(m, resp, direction="in", transport="ws", method="BYE", status_class="2xx") == 1


def test_wire_values_cannot_grow_the_label_space() -> None:
    m = Metrics()
    for i in range(50):
        m.message_in(f"x{i}", f"FOO{i}")
        m.message_in("udp", "INVITE", 900 + i)
        m.parse_error(f"t{i}")
    series = {k for k in samples(m) if k[0].startswith("sipswitch_sip_")}
    assert (
        "sipswitch_sip_requests_total",
        (("direction", "in"), ("method", "OTHER"), ("transport", "other")),
    ) in series
    assert value(m, "sipswitch_sip_parse_errors_total", transport="other") == 50
    assert len(series) < 20


def test_transactions_registrations_calls_errors() -> None:
    m = Metrics()
    assert value(m, "sipswitch_registrations_total", result="fail") == 0  # present before use
    m.transaction_created("client")
    m.transaction_created("server")
    m.transaction_ended("client", timed_out=True)
    m.registration(success=True)
    m.registration(success=False)
    m.registration(success=False)
    m.call_started()
    m.call_started()
    m.call_answered()
    m.call_failed()
    m.error("registrar")
    assert value(m, "sipswitch_sip_transactions_created_total", role="client") == 1
    assert value(m, "sipswitch_sip_transactions_timed_out_total", role="client") == 1
    assert value(m, "sipswitch_sip_transactions_active") == 1
    assert value(m, "sipswitch_registrations_total", result="success") == 1
    assert value(m, "sipswitch_registrations_total", result="fail") == 2
    assert value(m, "sipswitch_calls_started_total") == 2
    assert value(m, "sipswitch_calls_answered_total") == 1
    assert value(m, "sipswitch_calls_failed_total") == 1
    assert value(m, "sipswitch_calls_active") == 1
    m.call_ended()
    assert value(m, "sipswitch_calls_active") == 0
    assert value(m, "sipswitch_errors_total", component="registrar") == 1


def test_gauges_set_and_sampled() -> None:
    m = Metrics()
    m.set_bindings(12)
    m.set_active_calls(3)
    m.set_active_transactions(7)
    m.connection_opened("tcp")
    m.connection_opened("tcp")
    m.connection_closed("tcp")
    m.set_database_up(True)
    assert value(m, "sipswitch_bindings") == 12
    assert value(m, "sipswitch_calls_active") == 3
    assert value(m, "sipswitch_sip_transactions_active") == 7
    assert value(m, "sipswitch_connections_open", transport="tcp") == 1
    assert value(m, "sipswitch_database_up") == 1
    table = [1, 2, 3, 4]
    m.sample(Sampled.BINDINGS, lambda: len(table))
    assert value(m, "sipswitch_bindings") == 4
    table.append(5)
    assert value(m, "sipswitch_bindings") == 5
    m.set_database_up(False)
    assert value(m, "sipswitch_database_up") == 0
