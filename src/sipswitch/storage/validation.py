"""Checks on values before they are stored; a failure is an InvalidValueError naming the field."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

from sipswitch.storage.errors import InvalidValueError

# RFC 3261 §25.1 user part: unreserved / escaped / user-unreserved; no ':' (it separates HA1 parts).
_SIP_USER = re.compile(r"[A-Za-z0-9\-_.!~*'()&=+$,;?/]{1,64}")
_LOGIN = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_TOKEN = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")  # RFC 3261 §25.1 token (header names)
_CORE_HEADERS = frozenset(
    h.lower()
    for h in [
        "Via",
        "From",
        "To",
        "Call-ID",
        "CSeq",
        "Contact",
        "Max-Forwards",
        "Route",
        "Record-Route",
        "Content-Length",
        "Content-Type",
        "Authorization",
        "Proxy-Authorization",
        "WWW-Authenticate",
        "Proxy-Authenticate",
        "Expires",
        "Min-Expires",
        "Refer-To",
        "Replaces",
        "Event",
        "Subscription-State",
    ]
)


def sip_username(value: str, field: str = "username") -> str:
    if not _SIP_USER.fullmatch(value):
        raise InvalidValueError(field, f"not a usable SIP user name: {value!r}")
    return value


def login_name(value: str, field: str = "username") -> str:
    lowered = value.strip().lower()
    if not _LOGIN.fullmatch(lowered):
        raise InvalidValueError(field, f"use 1-64 of a-z 0-9 . _ - : {value!r}")
    return lowered


def object_name(value: str, field: str = "name") -> str:
    """Names of providers and dialplans: they appear in dial strings (``555@name``)."""
    if not _NAME.fullmatch(value):
        raise InvalidValueError(field, f"use 1-64 of A-Z a-z 0-9 . _ - : {value!r}")
    return value


def domain_name(value: str, field: str = "domain") -> str:
    """A host name or IP address, lower-cased; aliases may be single labels (``local``)."""
    name = value.strip().lower().rstrip(".")
    try:
        return str(ipaddress.ip_address(name.strip("[]")))
    except ValueError:
        pass
    labels = name.split(".")
    if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise InvalidValueError(field, f"not a domain name: {value!r}")
    return name


def ip_acl(networks: Iterable[str], field: str = "ip_acl") -> tuple[str, ...]:
    result: list[str] = []
    for item in networks:
        try:
            net = str(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError:
            raise InvalidValueError(field, f"not an address or network: {item!r}") from None
        if net not in result:
            result.append(net)
    return tuple(result)


def text_line(value: str | None, field: str, limit: int = 255) -> str | None:
    """Free text that ends up in a SIP message: one line, bounded (no header injection)."""
    if value is None:
        return None
    if any(c in value for c in "\r\n\0") or len(value) > limit:
        raise InvalidValueError(field, f"one line of at most {limit} characters")
    return value


def custom_headers(
    headers: Iterable[tuple[str, str]], field: str = "custom_headers"
) -> tuple[tuple[str, str], ...]:
    result: list[tuple[str, str]] = []
    for name, value in headers:
        if not _TOKEN.fullmatch(name):
            raise InvalidValueError(field, f"bad header name {name!r}")
        if name.lower() in _CORE_HEADERS:
            raise InvalidValueError(field, f"{name} is set by the switch, not by configuration")
        text_line(value, f"{field}.{name}", 1024)
        result.append((name, value.strip()))
    return tuple(result)


def parse_header_line(line: str) -> tuple[str, str]:
    """``"X-Account: 42"`` → ``("X-Account", "42")`` (for the CLI and forms)."""
    name, sep, value = line.partition(":")
    if not sep:
        raise InvalidValueError("custom_headers", f"expected 'Name: value', got {line!r}")
    return name.strip(), value.strip()


def kv_key(value: str) -> str:
    if not value or len(value) > 255:
        raise InvalidValueError("key", "1 to 255 characters")
    return value


KV_VALUE_LIMIT = 65536


def kv_value(value: str) -> str:
    if len(value) > KV_VALUE_LIMIT:
        raise InvalidValueError("value", f"at most {KV_VALUE_LIMIT} characters")
    return value


def expiry(value: int, field: str = "register_expiry") -> int:
    if not 60 <= value <= 86400:
        raise InvalidValueError(field, f"between 60 and 86400 seconds, got {value}")
    return value
