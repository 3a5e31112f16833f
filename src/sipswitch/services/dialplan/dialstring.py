"""SIPSorcery dial strings: ``201@local&555@provider1[tr=c]|voicemail@flow``.

Grammar (whitespace around ``&`` and ``|`` is ignored)::

    plan    = [ group *( "|" group ) ]       ; groups run one after another
    group   = leg *( "&" leg )               ; legs of a group ring in parallel
    leg     = target [ "[" option *( "," option ) "]" ]
    option  = name [ "=" value ]             ; bare name only for boolean options

Targets: ``user@local`` or ``user@<served domain>`` (a hosted account), ``number@provider`` (one
of the customer's providers, names case-insensitive), ``name@flow`` (a call flow), a bare
provider name / ``local`` / served domain (user = the dialled number), ``sip:``/``sips:`` URIs
and scheme-less ``user@host`` (anonymous SIP legs). ``local`` and ``flow`` are reserved: they win
over providers of the same name. A ``[`` right after ``@`` or ``:`` opens an IPv6 reference, not
options. Users and option values are percent-decoded (RFC 3261 §19.1.2 escapes), which is how
substituted variables travel as data (see :mod:`.variables`).

The parser is a pure function; its only exception is :class:`DialStringError`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum

from sipswitch.services.dialplan.variables import (
    CallContext,
    DialStringError,
    check_text,
    decode_escapes,
    escape_data,
    substitute,
)
from sipswitch.sip.uri import USER_SAFE, SipUri, parse_uri

MAX_LEGS = 20
MAX_LENGTH = 4096
MAX_DELAY = 120
MAX_DURATION = 86_400
MAX_REINVITE_DELAY = 60
LOCAL_ALIAS = "local"
FLOW_ALIAS = "flow"
_WS = " \t"
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_USER_RAW = (USER_SAFE - frozenset("&,;?=")) | frozenset("%")
_HOSTNAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9\-.]{0,251}[A-Za-z0-9])?")
_MAX_TEXT_VALUE = 128


class TransferMode(StrEnum):
    """``tr``: what to do with a REFER from the called party."""

    REJECT = "n"
    PASS_THROUGH = "p"
    CONSUME = "c"


class RedirectMode(StrEnum):
    """``rm``: 3xx handling; follow the Contact (default) or hand it to the dialplan."""

    FOLLOW = "f"
    MANUAL = "m"


@dataclass(frozen=True, slots=True)
class DialOptions:
    """Per-leg options; ``str()`` gives the canonical ``[..]`` suffix (defaults omitted)."""

    delay: int = 0  # dt, seconds before the leg starts, 0–120
    duration_limit: int | None = None  # cd, answered-call limit in seconds
    redirect: RedirectMode = RedirectMode.FOLLOW  # rm
    from_display: str | None = None  # fd
    from_user: str | None = None  # fu
    from_host: str | None = None  # fh
    transfer: TransferMode = TransferMode.REJECT  # tr
    no_183_relay: bool = False  # ni
    mangle_sdp: bool = True  # ma
    reinvite_delay: int | None = None  # dr, re-INVITE both legs N s after answer

    def __str__(self) -> str:
        items: list[str] = []
        for f in fields(self):
            value = getattr(self, f.name)
            if value == f.default:
                continue
            name = _FIELD_OPTION[f.name]
            if isinstance(value, bool):
                items.append(f"{name}={'true' if value else 'false'}")
            elif isinstance(value, str) and name in ("fd", "fu"):
                items.append(f"{name}={escape_data(value)}")
            else:
                items.append(f"{name}={value}")
        return f"[{','.join(items)}]" if items else ""


_OPTION_FIELD = {
    "dt": "delay",
    "cd": "duration_limit",
    "rm": "redirect",
    "fd": "from_display",
    "fu": "from_user",
    "fh": "from_host",
    "tr": "transfer",
    "ni": "no_183_relay",
    "ma": "mangle_sdp",
    "dr": "reinvite_delay",
}
_FIELD_OPTION = {v: k for k, v in _OPTION_FIELD.items()}
_BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def _escaped_user(user: str) -> str:
    return escape_data(user)


@dataclass(frozen=True, slots=True)
class LocalTarget:
    """A hosted SIP account: ``domain`` is ``local`` (the owner's domain) or a served domain."""

    user: str
    domain: str = LOCAL_ALIAS

    def __str__(self) -> str:
        return f"{_escaped_user(self.user)}@{self.domain}"


@dataclass(frozen=True, slots=True)
class ProviderTarget:
    """A number dialled through one of the customer's providers (name as the customer spells it)."""

    number: str
    provider: str

    def __str__(self) -> str:
        return f"{_escaped_user(self.number)}@{self.provider}"


@dataclass(frozen=True, slots=True)
class FlowTarget:
    """A call flow by name (``voicemail@flow``); the call-flow capability runs it."""

    name: str

    def __str__(self) -> str:
        return f"{_escaped_user(self.name)}@{FLOW_ALIAS}"


@dataclass(frozen=True, slots=True)
class UriTarget:
    """An anonymous SIP leg to any ``sip:``/``sips:`` URI."""

    uri: SipUri

    def __str__(self) -> str:
        uri = self.uri
        if uri.user is None:
            return str(uri)
        rest = str(replace(uri, user=None, password=None))[len(uri.scheme) + 1 :]
        userinfo = _escaped_user(uri.user)
        if uri.password is not None:
            userinfo += ":" + escape_data(uri.password)
        return f"{uri.scheme}:{userinfo}@{rest}"


Target = LocalTarget | ProviderTarget | FlowTarget | UriTarget


@dataclass(frozen=True, slots=True)
class LegSpec:
    """One destination and its options."""

    target: Target
    options: DialOptions = field(default_factory=DialOptions)

    def __str__(self) -> str:
        return f"{self.target}{self.options}"


@dataclass(frozen=True, slots=True)
class Group:
    """Legs started together (``&``); the group fails when all of them have failed."""

    legs: tuple[LegSpec, ...]

    def __str__(self) -> str:
        return "&".join(str(leg) for leg in self.legs)


@dataclass(frozen=True, slots=True)
class DialPlan:
    """Groups tried one after another (``|``). An empty plan dials nothing."""

    groups: tuple[Group, ...] = ()

    def __str__(self) -> str:
        return "|".join(str(group) for group in self.groups)

    @property
    def legs(self) -> tuple[LegSpec, ...]:
        return tuple(leg for group in self.groups for leg in group.legs)

    def __bool__(self) -> bool:
        return bool(self.groups)


@dataclass(slots=True)
class _Env:
    providers: dict[str, str] | None
    is_local_domain: Callable[[str], bool]
    dst: str


def _never_local(host: str) -> bool:
    return False


def parse_dial_string(
    text: str,
    *,
    providers: Iterable[str] | None = (),
    is_local_domain: Callable[[str], bool] = _never_local,
    dst: str = "",
) -> DialPlan:
    """Parse an expanded dial string (variables already substituted) into a :class:`DialPlan`.

    ``providers`` are the customer's provider names; ``None`` means "not known yet" (checking a
    stored template): any bare word or ``x@name`` host that is not otherwise local is then taken
    as a provider. ``dst`` is the dialled user, the number of bare ``provider`` legs.
    Duplicate targets are dialled once (first kept); groups left empty are dropped.
    """
    if len(text) > MAX_LENGTH:
        raise DialStringError(f"dial string longer than {MAX_LENGTH} characters", MAX_LENGTH + 1)
    names = None if providers is None else {p.casefold(): p for p in providers}
    env = _Env(names, is_local_domain, dst)
    if not text.strip(_WS):
        return DialPlan()
    groups: list[list[LegSpec]] = [[]]
    count = 0
    pos = 0
    while True:
        leg, col, pos, sep = _scan_leg(text, pos, env)
        count += 1
        if count > MAX_LEGS:
            raise DialStringError(f"more than {MAX_LEGS} legs", col)
        groups[-1].append(leg)
        if not sep:
            break
        if sep == "|":
            groups.append([])
    seen: set[Target] = set()
    out: list[Group] = []
    for legs in groups:
        kept: list[LegSpec] = []
        for leg in legs:
            if leg.target not in seen:
                seen.add(leg.target)
                kept.append(leg)
        if kept:
            out.append(Group(tuple(kept)))
    return DialPlan(tuple(out))


def _scan_leg(text: str, start: int, env: _Env) -> tuple[LegSpec, int, int, str]:
    """Scan one leg from ``start``; return it, its column, the next position and separator."""
    n = len(text)
    i = start
    options = DialOptions()
    end = -1
    while i < n:
        ch = text[i]
        if ch in "&|":
            break
        if ch == "]":
            raise DialStringError("unbalanced ']'", i + 1)
        if ch == "[":
            if i > start and text[i - 1] in "@:":  # IPv6 reference in a URI
                j = i + 1
                while j < n and text[j] not in "[]&|":
                    j += 1
                if j >= n or text[j] != "]":
                    raise DialStringError("unclosed '['", i + 1)
                i = j + 1
                continue
            j = i + 1
            while j < n and text[j] not in "[]&|":
                j += 1
            if j >= n or text[j] != "]":
                raise DialStringError("unclosed '['", i + 1)
            end = i
            options = _parse_options(text[i + 1 : j], i + 2)
            i = j + 1
            while i < n and text[i] in _WS:
                i += 1
            if i < n and text[i] not in "&|":
                raise DialStringError("unexpected text after options", i + 1)
            break
        i += 1
    raw = text[start : i if end < 0 else end]
    stripped = raw.lstrip(_WS)
    col = start + len(raw) - len(stripped) + 1
    stripped = stripped.rstrip(_WS)
    if not stripped:
        raise DialStringError("empty leg", start + 1)
    target = _parse_target(stripped, col, env)
    sep = text[i] if i < n else ""
    return LegSpec(target, options), col, i + 1, sep


def _parse_target(raw: str, col: int, env: _Env) -> Target:
    if _SCHEME.match(raw):
        return _parse_uri_target(raw, col, env)
    user_raw, at, host_raw = raw.partition("@")
    if not at:
        return _bare_target(raw, col, env)
    if not user_raw:
        raise DialStringError("empty user", col)
    host = re.split(r"[;?:]", host_raw, maxsplit=1)[0]
    kind = _classify_host(host, env)
    if kind is None:
        return _parse_uri_target("sip:" + raw, col, env)
    if host != host_raw:
        raise DialStringError(f"'{host}' legs take no port or URI parameters", col)
    if not _USER_RAW.issuperset(user_raw):
        raise DialStringError("bad character in user", col)
    user = decode_escapes(user_raw, col)
    return _make_target(kind, user, host, env)


def _classify_host(host: str, env: _Env) -> str | None:
    low = host.casefold()
    if low in (LOCAL_ALIAS, FLOW_ALIAS):
        return low
    if env.providers is None:
        if "." not in host and _HOSTNAME.fullmatch(host) and not env.is_local_domain(low):
            return "provider"
    elif low in env.providers:
        return "provider"
    if host and env.is_local_domain(low):
        return "domain"
    return None


def _make_target(kind: str, user: str, host: str, env: _Env) -> Target:
    if kind == FLOW_ALIAS:
        return FlowTarget(user)
    if kind == LOCAL_ALIAS:
        return LocalTarget(user, LOCAL_ALIAS)
    if kind == "provider":
        name = host if env.providers is None else env.providers[host.casefold()]
        return ProviderTarget(user, name)
    return LocalTarget(user, host.lower())


def _bare_target(raw: str, col: int, env: _Env) -> Target:
    kind = _classify_host(raw, env)
    if kind is None or kind == FLOW_ALIAS:
        raise DialStringError(f"unknown provider '{raw}'", col)
    if not env.dst:
        raise DialStringError(f"bare '{raw}' needs a dialled number", col)
    check_text(env.dst, col)
    return _make_target(kind, env.dst, raw, env)


def _parse_uri_target(raw: str, col: int, env: _Env) -> Target:
    try:
        uri = parse_uri(raw)
    except ValueError as exc:
        raise DialStringError(f"bad SIP URI: {exc}", col) from None
    if not isinstance(uri, SipUri):
        raise DialStringError(f"unsupported URI scheme '{uri.scheme}'", col)
    check_text(uri.user or "", col)
    check_text(uri.password or "", col)
    host = uri.host.lower()
    plain = uri.password is None and uri.port is None and not uri.params and not uri.headers
    local = host == LOCAL_ALIAS or env.is_local_domain(host)
    if uri.user is not None and plain and uri.scheme == "sip" and local:
        return LocalTarget(uri.user, host)
    if host in (LOCAL_ALIAS, FLOW_ALIAS):
        raise DialStringError(f"'{host}' legs take no port or URI parameters", col)
    return UriTarget(uri)


def _parse_options(body: str, col: int) -> DialOptions:
    values: dict[str, object] = {}
    pos = 0
    for item in body.split(","):
        item_col = col + pos
        pos += len(item) + 1
        name_raw, eq, value_raw = item.partition("=")
        name = name_raw.strip(_WS).lower()
        value = value_raw.strip(_WS)
        if not name:
            raise DialStringError("empty option", item_col)
        field_name = _OPTION_FIELD.get(name)
        if field_name is None:
            raise DialStringError(f"unknown option '{name_raw.strip(_WS)}'", item_col, name)
        if field_name in values:
            raise DialStringError(f"duplicate option '{name}'", item_col, name)
        if not eq and name not in ("ni", "ma"):
            raise DialStringError(f"option '{name}' needs a value", item_col, name)
        value_col = item_col + len(name_raw) + 1 + len(value_raw) - len(value_raw.lstrip(_WS))
        values[field_name] = _option_value(name, value if eq else "true", item_col, value_col)
    return DialOptions(**values)  # type: ignore[arg-type]


def _int_option(name: str, value: str, col: int, low: int, high: int) -> int:
    if not (value.isascii() and value.isdigit()) or len(value) > 6 or not low <= int(value) <= high:
        raise DialStringError(f"option '{name}' must be an integer {low}–{high}", col, name)
    return int(value)


def _option_value(name: str, value: str, col: int, value_col: int) -> object:
    if name == "dt":
        return _int_option(name, value, col, 0, MAX_DELAY)
    if name == "cd":
        return _int_option(name, value, col, 1, MAX_DURATION)
    if name == "dr":
        return _int_option(name, value, col, 1, MAX_REINVITE_DELAY)
    if name in ("ni", "ma"):
        flag = _BOOLEANS.get(value.lower())
        if flag is None:
            raise DialStringError(f"option '{name}' must be true or false", col, name)
        return flag
    if name == "rm":
        try:
            return RedirectMode(value.lower())
        except ValueError:
            raise DialStringError("option 'rm' must be 'f' or 'm'", col, name) from None
    if name == "tr":
        try:
            return TransferMode(value.lower())
        except ValueError:
            raise DialStringError("option 'tr' must be 'n', 'p' or 'c'", col, name) from None
    if name == "fh":
        if not _HOSTNAME.fullmatch(value) or len(value) > 253:
            raise DialStringError("option 'fh' must be a host name or IPv4 address", col, name)
        return value.lower()
    # fd / fu: free text, percent-decoded
    if not value:
        raise DialStringError(f"option '{name}' needs a value", col, name)
    text = decode_escapes(value, value_col, name)
    if len(text) > _MAX_TEXT_VALUE or '"' in text or "\\" in text:
        raise DialStringError(f"option '{name}': too long or quote/backslash", col, name)
    return text


def expand_dial_string(
    template: str,
    context: CallContext,
    *,
    providers: Iterable[str] = (),
    is_local_domain: Callable[[str], bool] = _never_local,
) -> DialPlan:
    """Substitute variables (as data) then parse: what the B2BUA calls for each execution."""
    return parse_dial_string(
        substitute(template, context),
        providers=providers,
        is_local_domain=is_local_domain,
        dst=context.dst,
    )
