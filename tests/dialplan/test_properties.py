"""Property tests: the parsers only ever raise their own errors; canonical strings round-trip."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from sipswitch.services.dialplan import (
    CallContext,
    DialOptions,
    DialPlan,
    DialStringError,
    FlowTarget,
    Group,
    LegSpec,
    LocalTarget,
    PatternError,
    ProviderTarget,
    RedirectMode,
    RuleError,
    Target,
    TimeWindow,
    TransferMode,
    UriTarget,
    compile_pattern,
    expand_dial_string,
    parse_dial_string,
    validate_rules,
)
from sipswitch.sip.uri import SipUri

PROVIDERS = ("Provider1", "voip")
SYNTAX = [*list("ab19@&|[]=,.:;?%$ {}_-+"), "sip:", "local", "flow", "provider1", "${dst}", "dt"]


def served(host: str) -> bool:
    return host == "example.com"


def parse(text: str) -> DialPlan:
    return parse_dial_string(text, providers=PROVIDERS, is_local_domain=served, dst="555")


@settings(max_examples=400)
@given(st.one_of(st.text(), st.lists(st.sampled_from(SYNTAX)).map("".join)))
def test_random_strings_parse_or_raise_dial_string_error(text: str) -> None:
    try:
        plan = parse(text)
    except DialStringError:
        return
    assert isinstance(plan, DialPlan)
    assert len(plan.legs) <= 20
    assert parse(str(plan)) == plan


safe_text = st.text(st.characters(exclude_categories=("Cc", "Cs")), min_size=1, max_size=20)
token = st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=8)
hostname = (
    st.lists(st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=6), min_size=2, max_size=3)
    .map(".".join)
    .filter(lambda h: h != "example.com")
)


@st.composite
def uri_targets(draw: st.DrawFn) -> UriTarget:
    params = draw(st.lists(st.tuples(token, st.one_of(st.none(), token)), max_size=2))
    headers = draw(st.lists(st.tuples(token, token), max_size=1))
    return UriTarget(
        SipUri(
            host=draw(hostname),
            user=draw(st.one_of(st.none(), safe_text)),
            port=draw(st.one_of(st.none(), st.integers(1, 65535))),
            scheme=draw(st.sampled_from(["sip", "sips"])),
            params=tuple(params),
            headers=tuple(headers),
        )
    )


targets: st.SearchStrategy[Target] = st.one_of(
    st.builds(LocalTarget, safe_text, st.sampled_from(["local", "example.com"])),
    st.builds(ProviderTarget, safe_text, st.sampled_from(PROVIDERS)),
    st.builds(FlowTarget, safe_text),
    uri_targets(),
)
free_text = st.text(
    st.characters(exclude_categories=("Cc", "Cs"), exclude_characters='"\\'),
    min_size=1,
    max_size=30,
).filter(lambda s: s.strip() == s)
options = st.builds(
    DialOptions,
    delay=st.integers(0, 120),
    duration_limit=st.one_of(st.none(), st.integers(1, 86400)),
    redirect=st.sampled_from(RedirectMode),
    from_display=st.one_of(st.none(), free_text),
    from_user=st.one_of(st.none(), free_text),
    from_host=st.one_of(st.none(), hostname),
    transfer=st.sampled_from(TransferMode),
    no_183_relay=st.booleans(),
    mangle_sdp=st.booleans(),
    reinvite_delay=st.one_of(st.none(), st.integers(1, 60)),
)
legs = st.builds(LegSpec, targets, options)
plans = st.lists(
    st.lists(legs, min_size=1, max_size=4).map(lambda ls: Group(tuple(ls))), max_size=4
).map(lambda gs: DialPlan(tuple(gs)))


def dedupe(plan: DialPlan) -> DialPlan:
    seen: set[Target] = set()
    groups = []
    for group in plan.groups:
        kept = []
        for leg in group.legs:
            if leg.target not in seen:
                seen.add(leg.target)
                kept.append(leg)
        if kept:
            groups.append(Group(tuple(kept)))
    return DialPlan(tuple(groups))


@settings(max_examples=300)
@given(plans)
def test_generated_plans_round_trip(plan: DialPlan) -> None:
    assert parse(str(plan)) == dedupe(plan)


@settings(max_examples=300)
@given(safe_text, safe_text, safe_text)
def test_caller_values_never_become_syntax(name: str, user: str, dst: str) -> None:
    ctx = CallContext(dst=dst, from_name=name, from_uri_user=user, from_aor=name)
    template = "${fromuriuser}@local[fd=${fromname}]|${dst}@voip&sip:${fromaor}@host.example"
    try:
        plan = expand_dial_string(template, ctx, providers=PROVIDERS)
    except DialStringError as exc:
        # only the option's own value checks may refuse a value (length, quote, backslash)
        assert exc.option == "fd"
        return
    assert [leg.target for leg in plan.groups[0].legs] == [LocalTarget(user)]
    assert plan.groups[0].legs[0].options == DialOptions(from_display=name)
    rest = [leg.target for leg in plan.legs[1:]]
    assert rest[0] == ProviderTarget(dst, "voip")
    assert isinstance(rest[-1], UriTarget)
    assert rest[-1].uri.host == "host.example"
    assert rest[-1].uri.user == name


@settings(max_examples=300)
@given(st.sampled_from(["exact", "prefix", "regex"]), st.text(max_size=40), st.text(max_size=20))
def test_patterns_compile_or_raise_pattern_error(kind: str, text: str, subject: str) -> None:
    try:
        pattern = compile_pattern(kind, text)
    except PatternError:
        return
    assert pattern.matches(subject) in (True, False)


@settings(max_examples=300)
@given(st.text(max_size=30))
def test_time_windows_parse_or_raise(text: str) -> None:
    try:
        window = TimeWindow.parse(text)
    except PatternError:
        return
    assert TimeWindow.parse(str(window)) == window


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10, 1000), st.text(max_size=10)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
rule_keys = st.sampled_from(
    ["direction", "priority", "pattern", "pattern_type", "time", "command", "account"]
)
rule_like = st.dictionaries(rule_keys, json_values, max_size=6)


@settings(max_examples=300)
@given(st.one_of(st.text(max_size=50), st.lists(st.one_of(rule_like, json_values), max_size=3)))
def test_rule_documents_validate_or_raise_rule_error(document: object) -> None:
    try:
        rs = validate_rules(document)  # type: ignore[arg-type]
    except RuleError:
        return
    assert validate_rules(rs.to_json()) == rs
    assert isinstance(json.loads(rs.to_json()), list)
