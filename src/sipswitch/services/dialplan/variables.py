"""Dial-string variables (``${dst}``, ``${dst:N}``, ``${fromname}`` ...) and data escaping.

Substitution happens on the template before parsing. Every substituted value is **data, never
syntax**: it is percent-encoded (everything outside RFC 3986 unreserved characters and ``+``), so
a caller who puts ``&``, ``|``, ``[``, ``@``, ``;`` or ``:`` in their From display name or user
cannot add legs, options, URI parameters or change a leg's host (a toll-fraud vector). The
parser percent-decodes users and the ``fd``/``fu`` option values, so the value arrives intact
where it is meant to go; elsewhere (a host, a provider name) the escaped text simply fails to
match, which is the safe outcome. Error columns refer to the expanded string.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: characters kept verbatim when a value is written back (RFC 3986 unreserved, plus ``+``)
DATA_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.!~*'()+")
VARIABLES = ("dst", "exten", "fromname", "fromuriuser", "fromaor")
_HEX = frozenset("0123456789abcdefABCDEF")
_VAR = re.compile(r"\$\{([^}]*)\}")
_NAME = re.compile(r"(?P<name>[A-Za-z]+)(?::(?P<skip>[0-9]{1,3}))?")


class DialStringError(ValueError):
    """A dial string that cannot be dialled; ``column`` is 1-based, ``option`` the option name."""

    def __init__(self, message: str, column: int | None = None, option: str | None = None):
        text = message if column is None else f"{message} (column {column})"
        super().__init__(text)
        self.column = column
        self.option = option


def escape_data(value: str) -> str:
    """Percent-encode every character outside :data:`DATA_SAFE` (UTF-8 octets)."""
    if DATA_SAFE.issuperset(value):
        return value
    return "".join(
        ch if ch in DATA_SAFE else "".join(f"%{b:02X}" for b in ch.encode("utf-8")) for ch in value
    )


def decode_escapes(text: str, column: int | None = None, option: str | None = None) -> str:
    """Strictly decode ``%HH`` escapes as UTF-8; bad escapes and control characters raise."""
    if "%" in text:
        raw = bytearray()
        i = 0
        while i < len(text):
            if text[i] == "%":
                if not _HEX.issuperset(text[i + 1 : i + 3]) or i + 3 > len(text):
                    where = None if column is None else column + i
                    raise DialStringError("bad %-escape", where, option)
                raw.append(int(text[i + 1 : i + 3], 16))
                i += 3
            else:
                raw.extend(text[i].encode("utf-8", "surrogatepass"))
                i += 1
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise DialStringError("%-escapes are not UTF-8", column, option) from None
    check_text(text, column, option)
    return text


def check_text(text: str, column: int | None = None, option: str | None = None) -> None:
    """Refuse control characters and lone surrogates (header injection, unencodable text)."""
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F or 0xD800 <= ord(ch) < 0xE000 for ch in text):
        raise DialStringError("control character", column, option)


@dataclass(frozen=True, slots=True)
class CallContext:
    """What a dial string may refer to: the dialled user and the caller's From header."""

    dst: str
    from_name: str = ""
    from_uri_user: str = ""
    from_aor: str = ""

    def value(self, name: str) -> str:
        """The raw (unescaped) value of a known variable name."""
        if name in ("dst", "exten"):
            return self.dst
        if name == "fromname":
            return self.from_name
        if name == "fromuriuser":
            return self.from_uri_user
        return self.from_aor


def _scan(template: str) -> list[tuple[int, int, str, int]]:
    """Each ``${...}`` as (start, end, name, chars to skip); unknown or malformed ones raise."""
    out: list[tuple[int, int, str, int]] = []
    pos = template.find("${")
    while pos >= 0:
        match = _VAR.match(template, pos)
        if match is None:
            raise DialStringError("unterminated '${'", pos + 1)
        body = match.group(1)
        spec = _NAME.fullmatch(body)
        name = spec.group("name").lower() if spec else ""
        if spec is None or name not in VARIABLES:
            raise DialStringError(f"unknown variable '${{{body}}}'", pos + 1)
        skip = spec.group("skip")
        if skip is not None and name not in ("dst", "exten"):
            raise DialStringError(f"'${{{body}}}': only dst/exten take ':N'", pos + 1)
        out.append((pos, match.end(), name, int(skip or 0)))
        pos = template.find("${", match.end())
    return out


def template_variables(template: str) -> tuple[str, ...]:
    """The variable names a template uses (checks them without a call)."""
    return tuple(name for _, _, name, _ in _scan(template))


def substitute(template: str, context: CallContext) -> str:
    """Replace every variable by its percent-encoded value (``${dst:N}``: first N chars removed)."""
    parts: list[str] = []
    last = 0
    for start, end, name, skip in _scan(template):
        parts.append(template[last:start])
        parts.append(escape_data(context.value(name)[skip:]))
        last = end
    parts.append(template[last:])
    return "".join(parts)
