"""name-addr / addr-spec header values: From, To, Contact, Route, Refer-To... (RFC 3261 §20)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from sipswitch.sip.errors import SipParseError
from sipswitch.sip.grammar import (
    TOKEN_CHARS,
    WS,
    format_params,
    get_param,
    is_uint,
    parse_params,
    quote,
    quoted_end,
    set_param,
    split_list,
    unquote,
)
from sipswitch.sip.uri import Params, SipUri, Uri, parse_uri

_DISPLAY_TOKEN_CHARS = TOKEN_CHARS | frozenset(WS)
_ADDR_SPEC_FORBIDDEN = frozenset("?, \t")


@dataclass(frozen=True, slots=True)
class Address:
    """A URI with an optional display name and header parameters (``tag``, ``expires``, ``q``...).

    Serialization always uses the name-addr form (``<uri>``), which is valid for every header
    that takes an address and avoids the §20 ambiguity of URI vs header parameters.
    """

    uri: Uri
    display_name: str | None = None
    params: Params = ()

    @property
    def tag(self) -> str | None:
        return get_param(self.params, "tag")

    def param(self, name: str) -> str | None:
        return get_param(self.params, name)

    def with_param(self, name: str, value: str | None = None) -> Address:
        return Address(self.uri, self.display_name, set_param(self.params, name, value))

    def with_tag(self, tag: str) -> Address:
        return self.with_param("tag", tag)

    @property
    def expires(self) -> int | None:
        """The Contact ``expires`` parameter (None when absent or not a number)."""
        value = self.param("expires")
        return int(value) if value and is_uint(value) else None

    @property
    def q(self) -> float:
        """The Contact ``q`` value (RFC 3261 §20.10), 1.0 when absent or malformed."""
        value = self.param("q")
        try:
            return min(max(float(value), 0.0), 1.0) if value else 1.0
        except ValueError:
            return 1.0

    def __str__(self) -> str:
        name = ""
        if self.display_name:
            dn = self.display_name
            name = (dn if TOKEN_CHARS.issuperset(dn) else quote(dn)) + " "
        return f"{name}<{self.uri}>{format_params(self.params)}"


@functools.lru_cache(maxsize=8192)
def parse_address(text: str) -> Address:
    """Parse one name-addr or addr-spec with header parameters (memoized: values are
    immutable, and To, Contact and a dialog's From recur on every message)."""
    text = text.strip(WS)
    if not text:
        raise SipParseError("Empty address")
    display: str | None = None
    lt = _find_laquot(text)
    if lt >= 0:
        head = text[:lt].strip(WS)
        if head:
            if head[0] == '"':
                if quoted_end(head, 0) != len(head):
                    raise SipParseError("Malformed display name")
                display = unquote(head)
            elif _DISPLAY_TOKEN_CHARS.issuperset(head):
                display = " ".join(head.split())
            else:
                raise SipParseError("Malformed display name (quote it)")
        gt = text.find(">", lt)
        if gt < 0:
            raise SipParseError("Unterminated <URI>")
        inner = text[lt + 1 : gt]
        if inner != inner.strip(WS):
            raise SipParseError("Whitespace inside <URI>")
        uri = parse_uri(inner)
        rest = text[gt + 1 :].lstrip(WS)
    else:
        # addr-spec: the URI ends at the first ';' (what follows are header params, §20),
        # and it may not carry '?' headers or ',' (they would be ambiguous).
        uri_text, semi, param_text = text.partition(";")
        uri_text = uri_text.rstrip(WS)
        if not _ADDR_SPEC_FORBIDDEN.isdisjoint(uri_text):
            raise SipParseError("URI with headers or spaces must be in <>")
        uri = parse_uri(uri_text)
        rest = ";" + param_text if semi else ""
    if rest and rest[0] != ";":
        raise SipParseError("Junk after address")
    params = parse_params(rest[1:], "address") if rest else ()
    return Address(uri, display, params)


def _find_laquot(text: str) -> int:
    """Index of the ``<`` that opens a name-addr, skipping a quoted display name."""
    i = 0
    if text.startswith('"'):
        i = quoted_end(text, 0)
    return text.find("<", i)


def parse_address_list(value: str) -> list[Address]:
    """Parse a comma-separated list of addresses (Contact, Route, Record-Route)."""
    return [parse_address(item) for item in split_list(value)]


def sip_uri_of(address: Address) -> SipUri:
    """The SIP URI of an address, or a 416-style parse error for other schemes."""
    if not isinstance(address.uri, SipUri):
        raise SipParseError("Unsupported URI Scheme", 416)
    return address.uri
