"""Console filter words: parsing, matching, errors that name the bad word, fuzz."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipswitch.runtime.events import (
    INVITE_FAMILY,
    ConsoleEvent,
    ConsoleFilter,
    Direction,
    EventKind,
    FilterError,
    SIPTraceEvent,
)


def ev(kind: EventKind = EventKind.DIAL_PLAN, **kw: object) -> ConsoleEvent:
    values: dict[str, object] = {"owner": 1, "time": 0.0, "message": "hello"}
    values.update(kw)
    return ConsoleEvent(kind=kind, **values)  # type: ignore[arg-type]


def trace(method: str = "INVITE", **kw: object) -> SIPTraceEvent:
    values: dict[str, object] = {
        "owner": 1,
        "time": 0.0,
        "message": f"{method} in",
        "direction": Direction.IN,
        "raw": f"{method} sip:bob@example.com SIP/2.0\r\nCall-ID: abc\r\n\r\n",
        "sip_method": method,
        "remote": "192.0.2.7:5060",
        "local": "198.51.100.1:5060",
    }
    values.update(kw)
    return SIPTraceEvent(**values)  # type: ignore[arg-type]


def test_default_is_every_kind_but_the_full_trace() -> None:
    f = ConsoleFilter.parse("")
    assert f == ConsoleFilter() == ConsoleFilter.parse("event *")
    assert not f.wants_trace
    assert f.matches(ev(EventKind.REGISTER_FAIL))
    assert not f.matches(trace())


def test_event_full_includes_the_trace() -> None:
    f = ConsoleFilter.parse("event full")
    assert f.wants_trace
    assert f.matches(trace()) and f.matches(ev(EventKind.ERROR))
    assert f == ConsoleFilter.everything()


@pytest.mark.parametrize("kind", list(EventKind))
def test_event_names_each_kind_case_insensitively(kind: EventKind) -> None:
    f = ConsoleFilter.parse(f"event {kind.value.lower()}")
    assert f.kinds == {kind}
    assert ConsoleFilter.parse(f"EVENT {kind.value}").kinds == {kind}
    other = EventKind.WARN if kind is not EventKind.WARN else EventKind.ERROR
    assert f.matches(ev(kind)) and not f.matches(ev(other))


def test_event_list() -> None:
    f = ConsoleFilter.parse("event dialplan,error")
    assert f.kinds == {EventKind.DIAL_PLAN, EventKind.ERROR}


def test_request_invite_means_the_invite_dialog_methods() -> None:
    f = ConsoleFilter.parse("event full request invite")
    assert f.methods == INVITE_FAMILY
    for method in ("INVITE", "ACK", "BYE", "CANCEL", "REFER"):
        assert f.matches(trace(method))
    assert not f.matches(trace("REGISTER"))
    assert not f.matches(trace("OPTIONS"))
    # events without a SIP method are not narrowed by `request`
    assert f.matches(ev(EventKind.DIAL_PLAN))


def test_request_register_and_star() -> None:
    f = ConsoleFilter.parse("event full and request register")
    assert f.matches(trace("REGISTER")) and not f.matches(trace("INVITE"))
    assert f.matches(trace("register"))  # method compared case-insensitively
    star = ConsoleFilter.parse("event full request *")
    assert star.methods is None and star.matches(trace("OPTIONS"))
    assert ConsoleFilter.parse("event full request options").matches(trace("OPTIONS"))


def test_ipaddr_matches_remote_or_local_host() -> None:
    f = ConsoleFilter.parse("event full ipaddr 192.0.2.7")
    assert f.matches(trace())
    assert f.matches(trace(remote="203.0.113.5:5060", local="192.0.2.7:5080"))
    assert not f.matches(trace(remote="192.0.2.70:5060"))
    assert not f.matches(ev(EventKind.DIAL_PLAN))  # no address, no match
    with_port = ConsoleFilter.parse("event full ipaddr 192.0.2.7:5060")
    assert with_port.matches(trace())
    assert not with_port.matches(trace(remote="192.0.2.7:5062"))


def test_ipaddr_ipv6_is_normalised() -> None:
    f = ConsoleFilter.parse("event full ipaddr 2001:db8::0:1")
    assert f.matches(trace(remote="[2001:db8::1]:5060"))
    g = ConsoleFilter.parse("event full ipaddr [2001:db8::1]:5060")
    assert g.matches(trace(remote="[2001:DB8:0::1]:5060"))
    assert not g.matches(trace(remote="[2001:db8::1]:5061"))


def test_regex_searches_message_and_raw() -> None:
    f = ConsoleFilter.parse("event full regex bob@")
    assert f.matches(trace())  # in raw
    assert not f.matches(ev(EventKind.DIAL_PLAN))
    assert ConsoleFilter.parse("regex ^hel").matches(ev(EventKind.DIAL_PLAN))


def test_regex_may_be_quoted_to_hold_spaces() -> None:
    f = ConsoleFilter.parse("event full and regex 'SIP/2.0\\r\\nCall-ID: abc' and request invite")
    assert f.matches(trace())
    assert not f.matches(trace("BYE", raw="BYE sip:x SIP/2.0\r\nCall-ID: zzz\r\n"))
    assert f.text == "event full regex SIP/2.0\\r\\nCall-ID: abc request invite"


def test_all_words_combine_with_and() -> None:
    f = ConsoleFilter.parse("event full and request invite and ipaddr 192.0.2.7 and regex bob")
    assert f.matches(trace())
    assert not f.matches(trace("REGISTER"))
    assert not f.matches(trace(remote="192.0.2.8:5060"))
    assert not f.matches(trace(raw="INVITE sip:alice@x SIP/2.0\r\n", message="x"))


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("bogus", "bogus"),
        ("event", "event"),
        ("event and request invite", "event"),
        ("event nosuch", "event"),
        ("event dialplan,nosuch", "event"),
        ("request fetch", "request"),
        ("request", "request"),
        ("ipaddr 300.1.1.1", "ipaddr"),
        ("ipaddr 192.0.2.1:99999", "ipaddr"),
        ("ipaddr [::1", "ipaddr"),
        ("regex (unclosed", "regex"),
        ("regex 'unterminated", "'unterminated"),
        ("event full event *", "event"),
        ("event full or request invite", "or"),
    ],
)
def test_bad_filters_name_the_bad_word(text: str, word: str) -> None:
    with pytest.raises(FilterError) as info:
        ConsoleFilter.parse(text)
    assert info.value.word == word
    assert str(info.value).startswith(f"{word}: ")


def test_overlong_regex_and_filter_are_refused() -> None:
    with pytest.raises(FilterError, match="regex"):
        ConsoleFilter.parse("regex " + "a" * 201)
    with pytest.raises(FilterError):
        ConsoleFilter.parse("event * " * 200)


_WORDS = st.sampled_from(
    ["event", "request", "ipaddr", "regex", "and", "full", "*", "invite", "register", "'", '"']
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(_WORDS, st.text(max_size=12)), max_size=8))
def test_fuzz_parse_raises_only_filter_error(words: list[str]) -> None:
    text = " ".join(words)
    try:
        f = ConsoleFilter.parse(text)
    except FilterError:
        return
    # whatever parsed must be usable on any event without raising
    f.matches(trace())
    f.matches(ev(EventKind.ERROR, remote="not an address"))
