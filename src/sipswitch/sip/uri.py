"""SIP, SIPS and tel URIs (RFC 3261 §19.1, RFC 3966) with RFC 3261 §19.1.4 comparison."""

from __future__ import annotations

import functools
import string
from dataclasses import dataclass, replace

from sipswitch.sip.errors import SipParseError
from sipswitch.sip.grammar import (
    escape,
    format_params,
    get_param,
    set_param,
    unescape,
)

Params = tuple[tuple[str, str | None], ...]

_ALNUM = string.ascii_letters + string.digits
_UNRESERVED = frozenset(_ALNUM + "-_.!~*'()")
#: user = 1*( unreserved / escaped / user-unreserved )
USER_SAFE = _UNRESERVED | frozenset("&=+$,;?/")
#: password = *( unreserved / escaped / "&" / "=" / "+" / "$" / "," )
PASSWORD_SAFE = _UNRESERVED | frozenset("&=+$,")
_PARAM_CHARS = _UNRESERVED | frozenset("[]/:&+$%")
_HEADER_CHARS = _UNRESERVED | frozenset("[]/?:+$%=")
_HOST_CHARS = frozenset(_ALNUM + "-.")
_SCHEME_CHARS = frozenset(_ALNUM + "+-.")
_IPV6_CHARS = frozenset(string.hexdigits + ":.")
_TEL_CHARS = frozenset("0123456789-.()*#ABCDabcdpwPW")
_BAD_URI_CHARS = frozenset(' \t\r\n<>"')
#: parameters whose presence in only one of two URIs makes them differ (§19.1.4)
_SIGNIFICANT = ("user", "ttl", "method", "maddr", "transport")


@dataclass(frozen=True, slots=True, eq=False)
class SipUri:
    """A ``sip:`` or ``sips:`` URI.

    ``user`` and ``password`` are held unescaped; parameter and header values are held as
    written (escaped), and compared unescaped.
    """

    host: str
    user: str | None = None
    password: str | None = None
    port: int | None = None
    scheme: str = "sip"
    params: Params = ()
    headers: tuple[tuple[str, str], ...] = ()

    def param(self, name: str) -> str | None:
        """Unescaped value of a URI parameter (names compared unescaped, case-insensitively);
        ``""`` for a flag; None when absent."""
        lname = name.lower()
        for n, v in self.params:
            if unescape(n).lower() == lname:
                return "" if v is None else unescape(v)
        return None

    def has_param(self, name: str) -> bool:
        return self.param(name) is not None

    def with_param(self, name: str, value: str | None = None) -> SipUri:
        return replace(self, params=set_param(self.params, name, value))

    def without_params(self) -> SipUri:
        return replace(self, params=(), headers=())

    def header(self, name: str) -> str | None:
        """Unescaped value of an embedded header (``?Replaces=...``), or None."""
        lname = name.lower()
        for n, v in self.headers:
            if n.lower() == lname:
                return unescape(v)
        return None

    @property
    def transport(self) -> str | None:
        value = self.param("transport")
        return value.lower() if value else None

    @property
    def lr(self) -> bool:
        return self.has_param("lr")

    @property
    def host_port(self) -> str:
        host = self.host
        return host if self.port is None else f"{host}:{self.port}"

    @property
    def aor(self) -> str:
        """The address-of-record form ``scheme:user@host`` (no port, parameters or headers)."""
        user = f"{escape(self.user, USER_SAFE)}@" if self.user is not None else ""
        return f"{self.scheme}:{user}{self.host.lower()}"

    def __str__(self) -> str:
        parts = [self.scheme, ":"]
        if self.user is not None:
            parts.append(escape(self.user, USER_SAFE))
            if self.password is not None:
                parts += [":", escape(self.password, PASSWORD_SAFE)]
            parts.append("@")
        parts.append(self.host)
        if self.port is not None:
            parts += [":", str(self.port)]
        parts.append(format_params(self.params))
        if self.headers:
            parts += ["?", "&".join(f"{n}={v}" for n, v in self.headers)]
        return "".join(parts)

    def __eq__(self, other: object) -> bool:
        """URI equivalence per RFC 3261 §19.1.4."""
        if not isinstance(other, SipUri):
            return NotImplemented
        if (
            self.scheme != other.scheme
            or self.user != other.user
            or self.password != other.password
            or self.host.lower() != other.host.lower()
            or self.port != other.port
        ):
            return False
        mine = _param_map(self.params)
        theirs = _param_map(other.params)
        for name in mine.keys() & theirs.keys():
            if mine[name] != theirs[name]:
                return False
        for name in _SIGNIFICANT:
            if (name in mine) != (name in theirs):
                return False
        return _header_map(self.headers) == _header_map(other.headers)

    def __hash__(self) -> int:
        return hash((self.scheme, self.user, self.host.lower(), self.port))


@dataclass(frozen=True, slots=True, eq=False)
class TelUri:
    """A ``tel:`` URI (RFC 3966): a global (``+...``) or local number with parameters."""

    number: str
    params: Params = ()

    @property
    def user(self) -> str:
        return self.number

    def param(self, name: str) -> str | None:
        value = get_param(self.params, name)
        return None if value is None else unescape(value)

    @property
    def scheme(self) -> str:
        return "tel"

    def __str__(self) -> str:
        return f"tel:{self.number}{format_params(self.params)}"

    def _key(self) -> tuple[str, dict[str, str | None]]:
        digits = "".join(ch for ch in self.number if ch not in "-.()").lower()
        return digits, _param_map(self.params)

    def __eq__(self, other: object) -> bool:
        """RFC 3966 §4: visual separators ignored, parameters compared."""
        if not isinstance(other, TelUri):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key()[0])


@dataclass(frozen=True, slots=True)
class AbsoluteUri:
    """Any other scheme (``http:``, ``urn:``...), kept opaque."""

    scheme: str
    rest: str

    @property
    def user(self) -> None:
        return None

    def __str__(self) -> str:
        return f"{self.scheme}:{self.rest}"


Uri = SipUri | TelUri | AbsoluteUri


def _param_map(params: Params) -> dict[str, str | None]:
    return {unescape(n).lower(): (None if v is None else unescape(v).lower()) for n, v in params}


def _header_map(headers: tuple[tuple[str, str], ...]) -> dict[str, str]:
    return {n.lower(): unescape(v) for n, v in headers}


@functools.lru_cache(maxsize=8192)
def parse_uri(text: str) -> Uri:
    """Parse any absolute URI; SIP/SIPS and tel are parsed fully, others kept opaque.

    URIs are immutable values, so parses are memoized: the same Request-URI, Contact and To
    recur on every message of a dialog and every call to a phone (failures are not cached).
    """
    scheme, colon, rest = text.partition(":")
    if not colon or not scheme or not _SCHEME_CHARS.issuperset(scheme):
        raise SipParseError("Malformed URI: no scheme")
    if not scheme[0].isalpha():
        raise SipParseError("Malformed URI: bad scheme")
    lscheme = scheme.lower()
    if not _BAD_URI_CHARS.isdisjoint(rest):
        raise SipParseError("Malformed URI: illegal character")
    if lscheme in ("sip", "sips"):
        return _parse_sip(lscheme, rest)
    if lscheme == "tel":
        return _parse_tel(rest)
    if not rest:
        raise SipParseError("Malformed URI: empty")
    return AbsoluteUri(lscheme, rest)


def parse_sip_uri(text: str) -> SipUri:
    """Parse a URI that must be ``sip:`` or ``sips:``; other schemes raise 416."""
    uri = parse_uri(text)
    if not isinstance(uri, SipUri):
        raise SipParseError("Unsupported URI Scheme", 416)
    return uri


def _parse_sip(scheme: str, rest: str) -> SipUri:
    user: str | None = None
    password: str | None = None
    at = rest.find("@")
    if at >= 0:
        userinfo = rest[:at]
        rest = rest[at + 1 :]
        raw_user, colon, raw_password = userinfo.partition(":")
        if not raw_user:
            raise SipParseError("Malformed URI: empty user")
        user = unescape(raw_user)
        password = unescape(raw_password) if colon else None
    hostport, qmark, raw_headers = rest.partition("?")
    hostport, semi, raw_params = hostport.partition(";")
    host, port = _parse_hostport(hostport)
    params = _parse_uri_params(raw_params) if semi else ()
    headers = _parse_uri_headers(raw_headers) if qmark else ()
    return SipUri(host, user, password, port, scheme, params, headers)


def _parse_hostport(text: str) -> tuple[str, int | None]:
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise SipParseError("Malformed URI: unterminated IPv6 reference")
        host = text[: end + 1]
        if not _IPV6_CHARS.issuperset(host[1:-1]) or len(host) < 4:
            raise SipParseError("Malformed URI: bad IPv6 reference")
        tail = text[end + 1 :]
        if tail and not tail.startswith(":"):
            raise SipParseError("Malformed URI: junk after IPv6 reference")
        port_text = tail[1:] if tail else None
    else:
        host, colon, port_text_ = text.partition(":")
        port_text = port_text_ if colon else None
        if not host or not _HOST_CHARS.issuperset(host):
            raise SipParseError("Malformed URI: bad host")
    port = None
    if port_text is not None:
        if not port_text.isdigit() or not port_text.isascii() or len(port_text) > 5:
            raise SipParseError("Malformed URI: bad port")
        port = int(port_text)
        if port > 65535:
            raise SipParseError("Malformed URI: port out of range")
    return host, port


def _parse_uri_params(text: str) -> Params:
    out: list[tuple[str, str | None]] = []
    for item in text.split(";"):
        name, eq, value = item.partition("=")
        if not name or not _PARAM_CHARS.issuperset(name):
            raise SipParseError("Malformed URI: bad parameter")
        if eq and not _PARAM_CHARS.issuperset(value):
            raise SipParseError("Malformed URI: bad parameter value")
        out.append((name, value if eq else None))
    return tuple(out)


def _parse_uri_headers(text: str) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    for item in text.split("&"):
        name, eq, value = item.partition("=")
        if not name or not eq or not _HEADER_CHARS.issuperset(name + value):
            raise SipParseError("Malformed URI: bad header")
        out.append((name, value))
    return tuple(out)


def _parse_tel(rest: str) -> TelUri:
    number, semi, raw_params = rest.partition(";")
    body = number[1:] if number.startswith("+") else number
    if not body or not _TEL_CHARS.issuperset(body):
        raise SipParseError("Malformed tel URI: bad number")
    params = _parse_uri_params(raw_params) if semi else ()
    return TelUri(number, params)
