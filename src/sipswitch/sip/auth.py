"""Authentication header values: challenges and credentials (RFC 3261 §25.1, RFC 7616 §3.3–3.4).

``WWW-Authenticate``/``Proxy-Authenticate`` carry a :class:`Challenge`, ``Authorization``/
``Proxy-Authorization`` carry :class:`Credentials`. Both are ``scheme`` followed by comma-separated
``name=value`` auth-params whose value is a token or a quoted-string. SIP repeats the header field
to offer several challenges, so one value holds exactly one challenge (or one set of credentials).

Parsing is liberal (any case for names, extra whitespace and empty list elements, quoted or bare
values where peers differ, quoted-pairs) and strict on garbage: every fault raises
:class:`AuthParseError`. Serialization quotes exactly the parameters the RFCs quote.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import unquote_to_bytes

__all__ = [
    "AuthParseError",
    "Challenge",
    "Credentials",
    "parse_challenge",
    "parse_credentials",
]

_T = TypeVar("_T")
_TOKEN = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
_HEX = re.compile(r"[0-9A-Fa-f]{1,8}")
# A bare value: RFC token characters plus the few that peers leave unquoted in practice
# (base64 nonces, URIs). Never a comma, quote, backslash, whitespace or control character.
_BARE = re.compile(r"[!#-+\--\[\]-~]+")
_WS = " \t"
# Characters that cannot appear in a quoted-string at all, even escaped (RFC 3261 §25.1 excludes
# CR and LF from quoted-pair; other controls are never legitimate in these values).
_FORBIDDEN = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# One well-formed auth-param and its separator: the fast path of :func:`_split` (anything else,
# escapes included, takes the careful character-by-character path with its precise errors)
_FAST_PARAM = re.compile(
    r"[ \t]*([A-Za-z0-9\-.!%*_+`'~]+)[ \t]*=[ \t]*"
    r"(\"[^\"\\\x00-\x08\x0a-\x1f\x7f]*\"|[!#-+\--\[\]-~]+)[ \t]*(?:,|\Z)"
)


class AuthParseError(ValueError):
    """A malformed authentication header value; the message names the fault."""


def _is_token(value: str) -> bool:
    return _TOKEN.fullmatch(value) is not None


def _check_text(name: str, value: str) -> None:
    if _FORBIDDEN.search(value):
        raise ValueError(f"{name} contains a control character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{name} is not encodable as UTF-8") from None


def _quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _token_or_quoted(value: str) -> str:
    return value if _is_token(value) else _quote(value)


def _validate_common(scheme: str, extras: tuple[tuple[str, str], ...]) -> None:
    if not _is_token(scheme):
        raise ValueError(f"invalid auth scheme {scheme!r}")
    seen: set[str] = set()
    for name, value in extras:
        if not _is_token(name) or name != name.lower():
            raise ValueError(f"invalid auth-param name {name!r} (must be a lowercase token)")
        if name in seen:
            raise ValueError(f"duplicate auth-param {name!r}")
        seen.add(name)
        _check_text(name, value)


def _render(scheme: str, parts: list[str]) -> str:
    return f"{scheme} {', '.join(parts)}" if parts else scheme


@dataclass(frozen=True, slots=True)
class Challenge:
    """One ``WWW-Authenticate`` / ``Proxy-Authenticate`` value (RFC 7616 §3.3).

    ``qop`` holds the offered options; ``extras`` the unknown params (lowercase name, value) in
    order. ``str()`` gives the header value.
    """

    scheme: str = "Digest"
    realm: str | None = None
    domain: str | None = None
    nonce: str | None = None
    opaque: str | None = None
    stale: bool = False
    algorithm: str | None = None
    qop: tuple[str, ...] = ()
    userhash: bool = False
    extras: tuple[tuple[str, str], ...] = field(default=())

    def __post_init__(self) -> None:
        _validate_common(self.scheme, self.extras)
        for name in ("realm", "domain", "nonce", "opaque", "algorithm"):
            value = getattr(self, name)
            if value is not None:
                _check_text(name, value)
        for option in self.qop:
            if not _is_token(option):
                raise ValueError(f"invalid qop option {option!r}")
        if any(name in _CHALLENGE_KNOWN for name, _ in self.extras):
            raise ValueError("a known parameter was given in extras")

    @property
    def is_digest(self) -> bool:
        return self.scheme.lower() == "digest"

    def param(self, name: str) -> str | None:
        """The value of an unknown (extra) parameter, by case-insensitive name."""
        return _lookup(self.extras, name)

    def __str__(self) -> str:
        parts: list[str] = []
        if self.realm is not None:
            parts.append(f"realm={_quote(self.realm)}")
        if self.domain is not None:
            parts.append(f"domain={_quote(self.domain)}")
        if self.nonce is not None:
            parts.append(f"nonce={_quote(self.nonce)}")
        if self.opaque is not None:
            parts.append(f"opaque={_quote(self.opaque)}")
        if self.stale:
            parts.append("stale=true")
        if self.algorithm is not None:
            parts.append(f"algorithm={_token_or_quoted(self.algorithm)}")
        if self.qop:
            parts.append(f"qop={_quote(','.join(self.qop))}")
        if self.userhash:
            parts.append("userhash=true")
        parts.extend(f"{name}={_token_or_quoted(value)}" for name, value in self.extras)
        return _render(self.scheme, parts)


@dataclass(frozen=True, slots=True)
class Credentials:
    """One ``Authorization`` / ``Proxy-Authorization`` value (RFC 7616 §3.4).

    ``nc`` is kept as sent (hex digits) because the digest covers its exact spelling;
    :attr:`nc_value` gives the number. ``username`` holds the decoded ``username*`` when the peer
    used that form (RFC 7616 §3.4.4).
    """

    scheme: str = "Digest"
    username: str | None = None
    realm: str | None = None
    nonce: str | None = None
    uri: str | None = None
    response: str | None = None
    algorithm: str | None = None
    cnonce: str | None = None
    opaque: str | None = None
    qop: str | None = None
    nc: str | None = None
    userhash: bool = False
    extras: tuple[tuple[str, str], ...] = field(default=())

    def __post_init__(self) -> None:
        _validate_common(self.scheme, self.extras)
        for name in ("username", "realm", "nonce", "uri", "response", "cnonce", "opaque"):
            value = getattr(self, name)
            if value is not None:
                _check_text(name, value)
        for name in ("algorithm", "qop"):
            value = getattr(self, name)
            if value is not None and not _is_token(value):
                raise ValueError(f"{name} must be a token, got {value!r}")
        if self.nc is not None and not _HEX.fullmatch(self.nc):
            raise ValueError(f"nc must be 1 to 8 hex digits, got {self.nc!r}")
        if any(name in _CREDENTIALS_KNOWN for name, _ in self.extras):
            raise ValueError("a known parameter was given in extras")

    @property
    def is_digest(self) -> bool:
        return self.scheme.lower() == "digest"

    @property
    def nc_value(self) -> int | None:
        return None if self.nc is None else int(self.nc, 16)

    def param(self, name: str) -> str | None:
        """The value of an unknown (extra) parameter, by case-insensitive name."""
        return _lookup(self.extras, name)

    def __str__(self) -> str:
        parts: list[str] = []
        for name in ("username", "realm", "nonce", "uri", "response"):
            value = getattr(self, name)
            if value is not None:
                parts.append(f"{name}={_quote(value)}")
        if self.algorithm is not None:
            parts.append(f"algorithm={self.algorithm}")
        if self.cnonce is not None:
            parts.append(f"cnonce={_quote(self.cnonce)}")
        if self.opaque is not None:
            parts.append(f"opaque={_quote(self.opaque)}")
        if self.qop is not None:
            parts.append(f"qop={self.qop}")
        if self.nc is not None:
            parts.append(f"nc={self.nc}")
        if self.userhash:
            parts.append("userhash=true")
        parts.extend(f"{name}={_token_or_quoted(value)}" for name, value in self.extras)
        return _render(self.scheme, parts)


_CHALLENGE_KNOWN = frozenset(
    {"realm", "domain", "nonce", "opaque", "stale", "algorithm", "qop", "userhash"}
)
_CREDENTIALS_KNOWN = frozenset(
    {
        "username",
        "username*",
        "realm",
        "nonce",
        "uri",
        "response",
        "algorithm",
        "cnonce",
        "opaque",
        "qop",
        "nc",
        "userhash",
    }
)


def _lookup(extras: tuple[tuple[str, str], ...], name: str) -> str | None:
    wanted = name.lower()
    for key, value in extras:
        if key == wanted:
            return value
    return None


# --- parsing -----------------------------------------------------------------------------------


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _WS:
        pos += 1
    return pos


def _read_quoted(text: str, pos: int, name: str) -> tuple[str, int]:
    """Read a quoted-string starting at the opening quote; return (unescaped value, end)."""
    start = pos + 1
    end = text.find('"', start)
    backslash = text.find("\\", start)
    if end >= 0 and (backslash < 0 or backslash > end):  # the common case: no escapes
        inner = text[start:end]
        if _FORBIDDEN.search(inner):
            raise AuthParseError(f"control character in quoted value of {name!r}")
        return inner, end + 1
    out: list[str] = []
    pos = start
    while pos < len(text):
        char = text[pos]
        if char == '"':
            return "".join(out), pos + 1
        if char == "\\":
            pos += 1
            if pos >= len(text):
                break
            char = text[pos]
        if _FORBIDDEN.match(char):
            raise AuthParseError(f"control character in quoted value of {name!r}")
        out.append(char)
        pos += 1
    raise AuthParseError(f"unterminated quoted string in {name!r}")


def _fast_params(text: str, pos: int) -> list[tuple[str, str]] | None:
    """The params of a plain value (no escapes, no empty elements, no duplicates), else None."""
    params: list[tuple[str, str]] = []
    names: set[str] = set()
    end = len(text)
    while pos < end:
        match = _FAST_PARAM.match(text, pos)
        if match is None:
            return None
        name, raw = match.group(1).lower(), match.group(2)
        if name in names:
            return None
        names.add(name)
        params.append((name, raw[1:-1] if raw[0] == '"' else raw))
        pos = match.end()
    return params or None


def _split(value: str) -> tuple[str, list[tuple[str, str]]]:
    """Split a header value into (scheme, [(lowercase name, value)])."""
    text = value.strip(_WS)
    match = _TOKEN.match(text)
    if match is None:
        raise AuthParseError("missing auth scheme")
    scheme = match.group()
    pos = match.end()
    if pos < len(text) and text[pos] not in _WS:
        raise AuthParseError(f"invalid character {text[pos]!r} after auth scheme")
    fast = _fast_params(text, pos)
    if fast is not None:
        return scheme, fast
    return scheme, _careful_params(text, pos, scheme)


def _careful_params(text: str, pos: int, scheme: str) -> list[tuple[str, str]]:
    """The auth-params from ``pos`` on, character by character, with a precise error."""
    params: list[tuple[str, str]] = []
    seen: set[str] = set()
    while True:
        pos = _skip_ws(text, pos)
        if pos >= len(text):
            break
        if text[pos] == ",":  # empty list element, tolerated (RFC 7230 §7)
            pos += 1
            continue
        name_match = _TOKEN.match(text, pos)
        if name_match is None:
            raise AuthParseError(f"expected an auth-param name at offset {pos}")
        name = name_match.group().lower()
        pos = _skip_ws(text, name_match.end())
        if pos >= len(text) or text[pos] != "=":
            raise AuthParseError(
                f"expected '=' after {name!r} (a second challenge must be its own header field)"
            )
        pos = _skip_ws(text, pos + 1)
        if pos >= len(text):
            raise AuthParseError(f"missing value for {name!r}")
        if text[pos] == '"':
            param_value, pos = _read_quoted(text, pos, name)
        else:
            bare = _BARE.match(text, pos)
            if bare is None:
                raise AuthParseError(f"missing or invalid value for {name!r}")
            param_value, pos = bare.group(), bare.end()
        if name in seen:
            raise AuthParseError(f"duplicate parameter {name!r}")
        seen.add(name)
        params.append((name, param_value))
        pos = _skip_ws(text, pos)
        if pos < len(text) and text[pos] != ",":
            raise AuthParseError(f"expected ',' after the value of {name!r}")
    if not params:
        raise AuthParseError(f"{scheme} without parameters")
    return params


def _flag(name: str, value: str) -> bool:
    lowered = value.lower()
    if lowered not in ("true", "false"):
        raise AuthParseError(f"{name} must be true or false, got {value!r}")
    return lowered == "true"


def _token_value(name: str, value: str) -> str:
    stripped = value.strip(_WS)
    if not _is_token(stripped):
        raise AuthParseError(f"{name} must be a token, got {value!r}")
    return stripped


def _build(cls: type[_T], **kwargs: object) -> _T:
    try:
        return cls(**kwargs)
    except ValueError as exc:
        raise AuthParseError(str(exc)) from None


def parse_challenge(value: str) -> Challenge:
    """Parse one ``WWW-Authenticate`` / ``Proxy-Authenticate`` header value."""
    scheme, params = _split(value)
    known: dict[str, object] = {}
    extras: list[tuple[str, str]] = []
    for name, param_value in params:
        if name == "stale":
            known["stale"] = _flag(name, param_value)
        elif name == "userhash":
            known["userhash"] = _flag(name, param_value)
        elif name == "algorithm":
            known["algorithm"] = _token_value(name, param_value)
        elif name == "qop":
            options = [opt.strip(_WS) for opt in param_value.split(",")]
            options = [opt for opt in options if opt]
            if not options:
                raise AuthParseError("empty qop")
            known["qop"] = tuple(_token_value("qop option", opt) for opt in options)
        elif name in _CHALLENGE_KNOWN:
            known[name] = param_value
        else:
            extras.append((name, param_value))
    return _build(Challenge, scheme=scheme, extras=tuple(extras), **known)


_EXT_VALUE = re.compile(r"([A-Za-z0-9!#$%&+\-^_`{}~]+)'[A-Za-z0-9\-]*'([A-Za-z0-9!#$&+\-.^_`|~%]*)")


def _decode_ext_value(value: str) -> str:
    """Decode an RFC 8187 ext-value such as ``UTF-8''J%C3%A4s%C3%B8n`` (RFC 7616 §3.4.4)."""
    match = _EXT_VALUE.fullmatch(value)
    if match is None:
        raise AuthParseError("malformed username*")
    charset, encoded = match.groups()
    if charset.lower() not in ("utf-8", "iso-8859-1"):
        raise AuthParseError(f"unsupported username* charset {charset!r}")
    if re.search(r"%(?![0-9A-Fa-f]{2})", encoded):
        raise AuthParseError("malformed percent-encoding in username*")
    try:
        return unquote_to_bytes(encoded).decode(charset.lower())
    except UnicodeDecodeError:
        raise AuthParseError("username* is not valid in its charset") from None


def parse_credentials(value: str) -> Credentials:
    """Parse one ``Authorization`` / ``Proxy-Authorization`` header value."""
    scheme, params = _split(value)
    known: dict[str, object] = {}
    extras: list[tuple[str, str]] = []
    for name, param_value in params:
        if name == "userhash":
            known["userhash"] = _flag(name, param_value)
        elif name in ("algorithm", "qop"):
            known[name] = _token_value(name, param_value)
        elif name == "nc":
            stripped = param_value.strip(_WS)
            if not _HEX.fullmatch(stripped):
                raise AuthParseError(f"nc must be 1 to 8 hex digits, got {param_value!r}")
            known["nc"] = stripped
        elif name == "username*":
            if "username" in known:
                raise AuthParseError("both username and username* given")
            known["username"] = _decode_ext_value(param_value)
        elif name == "username" and "username" in known:
            raise AuthParseError("both username and username* given")
        elif name in _CREDENTIALS_KNOWN:
            known[name] = param_value
        else:
            extras.append((name, param_value))
    return _build(Credentials, scheme=scheme, extras=tuple(extras), **known)
