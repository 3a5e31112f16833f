"""Structured logging: output shapes, stdlib integration, per-task context, redaction."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipswitch.runtime.logging import (
    REDACTED,
    bind_call,
    configure_logging,
    get_logger,
    redact_text,
    reset_logging,
)

SIP_REGISTER = (
    "REGISTER sip:example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776\r\n"
    'Authorization: Digest username="alice", realm="example.com",\r\n'
    '  nonce="abc", response="6629fae49393a05397450978507c4ef1"\r\n'
    'proxy-authorization: Digest username="alice", response="deadbeefcafe"\r\n'
    'WWW-Authenticate: Digest realm="example.com", nonce="keepme"\r\n'
    "Content-Length: 0\r\n\r\n"
)


@pytest.fixture
def out() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    yield stream
    reset_logging()


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_output_shape(out: io.StringIO) -> None:
    configure_logging("json", "info", stream=out)
    get_logger("sipswitch.test").info("registered", aor="sip:alice@example.com", expires=3600)
    (line,) = lines(out)
    assert line["event"] == "registered"
    assert line["level"] == "info"
    assert line["logger"] == "sipswitch.test"
    assert line["aor"] == "sip:alice@example.com" and line["expires"] == 3600
    assert line["timestamp"].endswith("Z")


def test_level_filters(out: io.StringIO) -> None:
    configure_logging("json", "warning", stream=out)
    log = get_logger("sipswitch.test")
    log.info("hidden")
    log.warning("shown")
    logging.getLogger("somelib").info("hidden too")
    assert [line["event"] for line in lines(out)] == ["shown"]


def test_stdlib_loggers_come_through_the_same_pipeline(out: io.StringIO) -> None:
    configure_logging("json", "debug", stream=out)
    with bind_call(call_id="c-1"):
        logging.getLogger("uvicorn.error").info("listening on %s", "127.0.0.1:8080")
    (line,) = lines(out)
    assert line == {
        "event": "listening on 127.0.0.1:8080",
        "level": "info",
        "logger": "uvicorn.error",
        "timestamp": line["timestamp"],
        "call_id": "c-1",
    }


def test_console_format(out: io.StringIO) -> None:
    configure_logging("console", "info", stream=out)
    get_logger("sipswitch.test").info("hello", call_id="abc")
    text = out.getvalue()
    assert "hello" in text and "call_id=abc" in text and "sipswitch.test" in text
    assert "\x1b[" not in text  # no colours into a non-terminal


def test_configure_is_idempotent_and_reset_restores(out: io.StringIO) -> None:
    root = logging.getLogger()
    before_level, before_handlers = root.level, list(root.handlers)
    configure_logging("json", "debug", stream=io.StringIO())
    configure_logging("json", "error", stream=out)  # replaces, does not add
    assert len(root.handlers) == len(before_handlers) + 1
    get_logger("x").error("once")
    assert len(lines(out)) == 1
    reset_logging()
    assert root.level == before_level and root.handlers == before_handlers


def test_bad_format_or_level() -> None:
    with pytest.raises(ValueError, match="format"):
        configure_logging("xml")
    with pytest.raises(ValueError, match="level"):
        configure_logging("json", "chatty")


async def test_bind_call_is_per_task(out: io.StringIO) -> None:
    configure_logging("json", "info", stream=out)
    log = get_logger("sipswitch.calls")
    first_logged = asyncio.Event()

    async def leg(call_id: str, leg_name: str, wait: asyncio.Event | None) -> None:
        bind_call(call_id=call_id, leg=leg_name, account="101")
        if wait is not None:
            await wait.wait()  # interleave with the other task
        log.info("leg event")
        first_logged.set()

    await asyncio.gather(leg("call-a", "a", first_logged), leg("call-b", "b", None))
    log.info("outside")
    got = lines(out)
    assert [(g.get("call_id"), g.get("leg")) for g in got] == [
        ("call-b", "b"),
        ("call-a", "a"),
        (None, None),
    ]
    assert got[0]["account"] == "101"


def test_bind_call_as_a_block(out: io.StringIO) -> None:
    configure_logging("json", "info", stream=out)
    log = get_logger("x")
    with bind_call(call_id="outer"):
        with bind_call(call_id="inner", leg=None):
            log.info("inner")
        log.info("outer")
    log.info("none")
    assert [line.get("call_id") for line in lines(out)] == ["inner", "outer", None]
    assert "leg" not in lines(out)[0]


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "passwd",
        "secret",
        "ha1",
        "authorization",
        "proxy_authorization",
        "Proxy-Authorization",
        "nonce_secret",
        "sip_password",
    ],
)
def test_secret_keys_are_redacted(out: io.StringIO, key: str) -> None:
    configure_logging("json", "info", stream=out)
    get_logger("x").info("login", **{key: "hunter2"}, user="alice")
    (line,) = lines(out)
    assert line[key] == REDACTED and line["user"] == "alice"
    assert "hunter2" not in out.getvalue()


def test_nested_values_are_redacted(out: io.StringIO) -> None:
    configure_logging("json", "info", stream=out)
    get_logger("x").info("account", account={"name": "101", "secret": "s3", "hops": [SIP_REGISTER]})
    (line,) = lines(out)
    assert line["account"]["secret"] == REDACTED and line["account"]["name"] == "101"
    assert "6629fae4" not in out.getvalue()


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_authorization_headers_in_sip_text_are_redacted(out: io.StringIO, fmt: str) -> None:
    configure_logging(fmt, "info", stream=out)
    get_logger("x").info("received", sip=SIP_REGISTER)
    logging.getLogger("lib").warning("raw %s", SIP_REGISTER.encode())
    get_logger("x").info(SIP_REGISTER)
    text = out.getvalue()
    for secret in ("6629fae4", "deadbeefcafe", 'username="alice"'):
        assert secret not in text
    assert "keepme" in text and "branch=z9hG4bK776" in text  # everything else survives


def test_redact_text_keeps_lines_and_header_names() -> None:
    redacted = redact_text(SIP_REGISTER)
    assert f"Authorization: {REDACTED}\r\nproxy-authorization: {REDACTED}\r\n" in redacted
    assert redacted.count("\r\n") == SIP_REGISTER.count("\r\n") - 1  # the folded line is gone
    assert redact_text("no headers here") == "no headers here"
    assert redact_text("X-Authorization-Hint: keep") == "X-Authorization-Hint: keep"


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_exceptions_are_redacted(out: io.StringIO, fmt: str) -> None:
    configure_logging(fmt, "info", stream=out)
    try:
        raise ValueError('bad request: Authorization: Digest response="0badf00d"')
    except ValueError:
        get_logger("x").exception("failed")
    assert "0badf00d" not in out.getvalue()
    assert "ValueError" in out.getvalue()


_VALUE = st.text(
    st.characters(exclude_characters="\r\n\\", exclude_categories=["Cs"]), min_size=8
).filter(lambda v: v.strip() != "")


@settings(max_examples=300, deadline=None)
@given(
    value=_VALUE,
    name=st.sampled_from(["Authorization", "AUTHORIZATION", "Proxy-Authorization"]),
    sep=st.sampled_from([":", " :", ":\t"]),
    crlf=st.sampled_from(["\r\n", "\n"]),
)
def test_redact_text_property(value: str, name: str, sep: str, crlf: str) -> None:
    marker = "\u2603" + value  # cannot occur elsewhere in the message
    text = f"INVITE sip:b@x SIP/2.0{crlf}{name}{sep} {marker}{crlf}Max-Forwards: 70{crlf}{crlf}"
    redacted = redact_text(text)
    assert marker not in redacted
    assert f"Max-Forwards: 70{crlf}" in redacted
