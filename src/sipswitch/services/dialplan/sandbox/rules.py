"""Argument rules for facade calls, checked in the worker (for a clear error) and again in the
server (authoritative: the worker is untrusted)."""

from __future__ import annotations

import re
from typing import Any

from sipswitch.services.dialplan.sandbox.types import ScriptLimits


class FacadeError(ValueError):
    """A facade call with arguments the facade refuses; the script sees it as a ValueError."""


# Headers a script may not set or remove: they belong to the SIP transaction/dialogue layer
# (RFC 3261 §8.1.1, §16.6, §20) or to the server's own routing and security.
CORE_HEADERS = frozenset(
    name.lower()
    for name in (
        "Via", "v", "From", "f", "To", "t", "Call-ID", "i", "CSeq", "Contact", "m",
        "Content-Length", "l", "Content-Type", "c", "Max-Forwards", "Route", "Record-Route",
        "Authorization", "Proxy-Authorization", "WWW-Authenticate", "Proxy-Authenticate",
        "Expires", "Require", "Proxy-Require", "Supported", "k", "Allow", "Event", "o",
        "Refer-To", "r", "Referred-By", "b", "Replaces", "Subscription-State", "RAck", "RSeq",
        "Session-Expires", "x", "Min-SE",
    )
)  # fmt: skip

_TOKEN = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]{1,64}\Z")
_SAFE_VALUE = re.compile(r"[^\x00-\x08\x0a-\x1f\x7f]*\Z")

# name -> number of positional arguments the wire form carries.
RPC_ARITY: dict[str, int] = {
    "dial": 3,
    "respond": 3,
    "log": 1,
    "set_from_header": 3,
    "set_custom_header": 2,
    "remove_custom_header": 1,
    "clear_custom_headers": 0,
    "is_available": 2,
    "get_bindings": 2,
    "db_write": 2,
    "db_read": 1,
    "db_delete": 1,
    "db_keys": 0,
    "web_get": 2,
    "email": 3,
    "callback": 3,
    "enum_lookup": 1,
    "get_time": 0,
    "get_timezone": 0,
}


def check_header_name(name: object) -> str:
    """A custom header name: a token that is not one of the core headers."""
    if not isinstance(name, str) or not _TOKEN.match(name):
        raise FacadeError("header name must be a SIP token")
    if name.lower() in CORE_HEADERS:
        raise FacadeError(f"{name} is a core SIP header and cannot be changed by a dialplan")
    return name


def check_text(value: object, what: str, limit: int, *, optional: bool = False) -> str | None:
    """A single-line string of at most `limit` UTF-8 bytes."""
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise FacadeError(f"{what} must be a string")
    if len(value.encode()) > limit:
        raise FacadeError(f"{what} is longer than {limit} bytes")
    if not _SAFE_VALUE.match(value):
        raise FacadeError(f"{what} contains control characters")
    return value


def check_number(value: object, what: str, low: float, high: float) -> float | None:
    """An optional number within [low, high]."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FacadeError(f"{what} must be a number")
    if not low <= value <= high:
        raise FacadeError(f"{what} must be between {low:g} and {high:g}")
    return float(value)


def check_code(code: object) -> int:
    """A SIP response status 100-699."""
    if isinstance(code, bool) or not isinstance(code, int) or not 100 <= code <= 699:
        raise FacadeError("response code must be an integer from 100 to 699")
    return code


def check_args(name: str, args: list[Any], limits: ScriptLimits) -> list[Any]:
    """Validate (and normalise) the positional wire arguments of facade call `name`."""
    if name not in RPC_ARITY or len(args) != RPC_ARITY[name]:
        raise FacadeError(f"unknown facade call {name!r}")
    small = 256
    if name == "dial":
        return [
            check_text(args[0], "dial string", limits.dial_string_bytes),
            check_number(args[1], "ring timeout", 0, limits.absolute_timeout),
            check_number(args[2], "answered call limit", 0, 86400),
        ]
    if name == "respond":
        headers = args[2] or {}
        if not isinstance(headers, dict) or len(headers) > 16:
            raise FacadeError("headers must be a dict of at most 16 entries")
        checked = {
            check_header_name(k): check_text(v, "header value", 1024) for k, v in headers.items()
        }
        return [check_code(args[0]), check_text(args[1] or "", "reason", small), checked]
    if name == "log":
        text = args[0] if isinstance(args[0], str) else str(args[0])
        return [text.encode()[: limits.log_line_bytes].decode(errors="ignore")]
    if name == "set_from_header":
        return [check_text(a, "From part", small, optional=True) for a in args]
    if name == "set_custom_header":
        return [check_header_name(args[0]), check_text(args[1], "header value", 1024)]
    if name == "remove_custom_header":
        return [check_header_name(args[0])]
    if name in ("is_available", "get_bindings"):
        return [check_text(args[0], "user", small), check_text(args[1], "domain", small)]
    if name == "db_write":
        return [
            check_text(args[0], "key", limits.db_key_bytes),
            check_text(args[1], "value", limits.db_value_bytes),
        ]
    if name in ("db_read", "db_delete"):
        return [check_text(args[0], "key", limits.db_key_bytes)]
    if name == "web_get":
        url = check_text(args[0], "url", 2048)
        assert url is not None
        if not url.lower().startswith(("http://", "https://")):
            raise FacadeError("web_get needs an http:// or https:// URL")
        timeout = check_number(args[1], "timeout", 0.1, limits.web_get_timeout)
        return [url, timeout if timeout is not None else limits.web_get_timeout]
    if name == "email":
        return [
            check_text(args[0], "recipient", small),
            check_text(args[1], "subject", small),
            _check_body(args[2], limits.email_bytes),
        ]
    if name == "callback":
        delay = check_number(args[2], "delay", 0, 60)
        return [
            check_text(args[0], "first destination", limits.dial_string_bytes),
            check_text(args[1], "second destination", limits.dial_string_bytes),
            delay or 0.0,
        ]
    if name == "enum_lookup":
        return [check_text(args[0], "number", 64)]
    return []


def _check_body(value: object, limit: int) -> str:
    if not isinstance(value, str):
        raise FacadeError("body must be a string")
    if len(value.encode()) > limit:
        raise FacadeError(f"body is longer than {limit} bytes")
    return value
