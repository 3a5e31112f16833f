"""Small lexical helpers from RFC 3261 §25.1: tokens, quoted strings, escaping, list splitting."""

from __future__ import annotations

import string

from sipswitch.sip.errors import SipParseError

#: token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")
TOKEN_CHARS = frozenset(string.ascii_letters + string.digits + "-.!%*_+`'~")
WS = " \t"
_BAD_PARAM_VALUE = frozenset(' \t"<>,')


def is_uint(text: str) -> bool:
    """Whether ``text`` is ASCII decimal digits (``str.isdigit`` also accepts "²" and "٣")."""
    return text.isascii() and text.isdigit()


def is_token(text: str) -> bool:
    """Whether ``text`` is a non-empty RFC 3261 token."""
    return bool(text) and TOKEN_CHARS.issuperset(text)


def quote(text: str) -> str:
    """Return ``text`` as a quoted-string, escaping ``"`` and ``\\`` (RFC 3261 §25.1)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def unquote(text: str) -> str:
    """Inverse of :func:`quote`; a value that is not quoted is returned as it is."""
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        inner = text[1:-1]
        if "\\" not in inner:
            return inner
        out: list[str] = []
        it = iter(inner)
        for ch in it:
            out.append(next(it, "") if ch == "\\" else ch)
        return "".join(out)
    return text


def quoted_end(text: str, start: int) -> int:
    """Index just past the quoted-string that opens at ``text[start]``; raise if unterminated.

    A quote ends the string unless an odd run of backslashes escapes it (quoted-pair, §25.1).
    """
    i = start + 1
    while True:
        j = text.find('"', i)
        if j < 0:
            raise SipParseError("Unterminated quoted string")
        k = j
        while k > i and text[k - 1] == "\\":
            k -= 1
        if (j - k) % 2 == 0:
            return j + 1
        i = j + 1


def split_top(text: str, sep: str) -> list[str]:
    """Split ``text`` on ``sep`` outside quoted strings and ``<...>`` (e.g. header lists)."""
    if '"' not in text and "<" not in text:
        return text.split(sep)
    parts: list[str] = []
    depth = 0
    last = 0
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            i = quoted_end(text, i)
            continue
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth = max(depth - 1, 0)
        elif ch == sep and depth == 0:
            parts.append(text[last:i])
            last = i + 1
        i += 1
    parts.append(text[last:])
    return parts


def split_list(value: str) -> list[str]:
    """Split a comma-separated header value into its elements, dropping empty ones (§7.3.1)."""
    if "," not in value:  # one element (the common case): nothing to split
        single = value.strip()
        return [single] if single else []
    return [part.strip() for part in split_top(value, ",") if part.strip()]


_HEX = "0123456789abcdefABCDEF"


def unescape(text: str) -> str:
    """Decode ``%HH`` escapes (RFC 3261 §19.1.2) as UTF-8, keeping invalid sequences verbatim."""
    if "%" not in text:
        return text
    raw = bytearray()
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "%" and i + 2 < n and text[i + 1] in _HEX and text[i + 2] in _HEX:
            raw.append(int(text[i + 1 : i + 3], 16))
            i += 3
        else:
            raw.extend(ch.encode("utf-8", "surrogateescape"))
            i += 1
    return raw.decode("utf-8", "surrogateescape")


def escape(text: str, safe: frozenset[str]) -> str:
    """Percent-encode every character of ``text`` not in ``safe`` (UTF-8 octets)."""
    if safe.issuperset(text):
        return text
    out: list[str] = []
    for ch in text:
        if ch in safe:
            out.append(ch)
        else:
            out.extend(f"%{b:02X}" for b in ch.encode("utf-8", "surrogateescape"))
    return "".join(out)


def parse_params(text: str, what: str) -> tuple[tuple[str, str | None], ...]:
    """Parse ``;name[=value]`` generic parameters (the text after the first ``;``).

    Names must be tokens; values are tokens, hosts or quoted strings and are kept as written
    (quotes included) so that serialization is faithful.
    """
    if not text:
        return ()
    out: list[tuple[str, str | None]] = []
    for item in split_top(text, ";"):
        item = item.strip(WS)
        if not item:
            raise SipParseError(f"Empty parameter in {what}")
        name, eq, value = item.partition("=")
        name = name.rstrip(WS)
        if not is_token(name):
            raise SipParseError(f"Bad parameter name in {what}")
        if eq:
            value = value.lstrip(WS)
            if value.startswith('"'):
                if quoted_end(value, 0) != len(value):
                    raise SipParseError(f"Bad quoted parameter value in {what}")
            elif not value or not _BAD_PARAM_VALUE.isdisjoint(value):
                raise SipParseError(f"Bad parameter value in {what}")
            out.append((name, value))
        else:
            out.append((name, None))
    return tuple(out)


def format_params(params: tuple[tuple[str, str | None], ...]) -> str:
    """Serialize parameters as ``;name=value;flag``."""
    if not params:
        return ""
    return "".join([f";{n}" if v is None else f";{n}={v}" for n, v in params])


def get_param(params: tuple[tuple[str, str | None], ...], name: str) -> str | None:
    """Unquoted value of ``name`` (case-insensitive); ``""`` for a flag; None if absent."""
    lname = name.lower()
    for n, v in params:
        if n.lower() == lname:
            return "" if v is None else unquote(v)
    return None


def has_param(params: tuple[tuple[str, str | None], ...], name: str) -> bool:
    """Whether parameter ``name`` is present (case-insensitive)."""
    lname = name.lower()
    for n, _ in params:  # noqa: SIM110 - a loop: any() over a generator is slower here
        if n.lower() == lname:
            return True
    return False


def set_param(
    params: tuple[tuple[str, str | None], ...], name: str, value: str | None
) -> tuple[tuple[str, str | None], ...]:
    """Return ``params`` with ``name`` set to ``value`` (replacing in place, else appended)."""
    lname = name.lower()
    for i, (n, _) in enumerate(params):
        if n.lower() == lname:
            return (
                *params[:i],
                (name, value),
                *((n2, v2) if n2.lower() != lname else (name, value) for n2, v2 in params[i + 1 :]),
            )
    return (*params, (name, value))


def del_param(
    params: tuple[tuple[str, str | None], ...], name: str
) -> tuple[tuple[str, str | None], ...]:
    """Return ``params`` without ``name``."""
    lname = name.lower()
    return tuple((n, v) for n, v in params if n.lower() != lname)
