"""ListenerSpec.parse: the config strings naming listeners."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipswitch.transport import ListenerSpec


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("udp:0.0.0.0:5060", ListenerSpec("udp", "0.0.0.0", 5060)),
        ("tls:[::]:5061", ListenerSpec("tls", "::", 5061)),
        ("ws:127.0.0.1:8088", ListenerSpec("ws", "127.0.0.1", 8088)),
        ("WSS:[::1]:443", ListenerSpec("wss", "::1", 443)),
        ("tcp:10.0.0.1:0", ListenerSpec("tcp", "10.0.0.1", 0)),
        ("udp:192.0.2.1", ListenerSpec("udp", "192.0.2.1", 5060)),
        ("tls:[2001:db8:0::1]", ListenerSpec("tls", "2001:db8::1", 5061)),
        ("  tcp:127.0.0.1:65535 ", ListenerSpec("tcp", "127.0.0.1", 65535)),
    ],
)
def test_parse_valid(text: str, expected: ListenerSpec) -> None:
    assert ListenerSpec.parse(text) == expected


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        ("", "expected transport"),
        ("udp", "expected transport"),
        ("sctp:0.0.0.0:5060", "unknown transport"),
        ("udp:example.com:5060", "not an IP address"),
        ("udp:::1:5060", "must be in brackets"),
        ("udp:[::1:5060", "unclosed"),
        ("udp:[::1]5060", "expected ':port'"),
        ("udp:[127.0.0.1]:5060", "IPv6 addresses only"),
        ("udp:0.0.0.0:65536", "out of range"),
        ("udp:0.0.0.0:-1", "not a number"),
        ("udp:0.0.0.0:", "not a number"),
        ("udp:0.0.0.0:５０６０", "not a number"),
        ("ws:127.0.0.1", "port is required"),
        ("udp:300.1.1.1:5060", "not an IP address"),
    ],
)
def test_parse_invalid_names_the_fault(text: str, fault: str) -> None:
    with pytest.raises(ValueError, match=fault):
        ListenerSpec.parse(text)


def test_str_round_trips() -> None:
    for text in ("udp:0.0.0.0:5060", "tls:[::]:5061", "ws:[::1]:8088"):
        assert str(ListenerSpec.parse(text)) == text


@settings(max_examples=300)
@given(st.text(max_size=40))
def test_parse_raises_only_value_error(text: str) -> None:
    try:
        spec = ListenerSpec.parse(text)
    except ValueError:
        return
    assert ListenerSpec.parse(str(spec)) == spec


@settings(max_examples=200)
@given(
    st.sampled_from(["udp", "tcp", "tls", "ws", "wss"]),
    st.ip_addresses(),
    st.integers(0, 65535),
)
def test_parse_accepts_every_address(transport: str, address: object, port: int) -> None:
    host = f"[{address}]" if ":" in str(address) else str(address)
    spec = ListenerSpec.parse(f"{transport}:{host}:{port}")
    assert (spec.transport, spec.host, spec.port) == (transport, str(address), port)
