"""The SIP message model (RFC 3261 §7): requests, responses, header fields and body.

Header fields are kept as written — (canonical key, name, value) triples in arrival order — so
unknown headers pass through byte-faithfully. Typed views (Via, CSeq, From...) are parsed on
first access and cached until the message is changed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar, cast

from sipswitch.sip.address import Address, parse_address, parse_address_list
from sipswitch.sip.auth import (
    AuthParseError,
    Challenge,
    Credentials,
    parse_challenge,
    parse_credentials,
)
from sipswitch.sip.errors import SipParseError
from sipswitch.sip.grammar import split_list
from sipswitch.sip.uri import Uri, parse_uri
from sipswitch.sip.values import (
    CSeq,
    ParamValue,
    Reason,
    Replaces,
    SubscriptionState,
    Via,
    parse_bool_header,
    parse_cseq,
    parse_param_value,
    parse_reasons,
    parse_replaces,
    parse_subscription_state,
    parse_tokens,
    parse_uint,
    parse_via_list,
)

T = TypeVar("T")

SIP_VERSION = "SIP/2.0"

#: compact forms (RFC 3261 §7.3.3 and the IANA registry) → canonical lower-case long names
COMPACT = {
    "i": "call-id",
    "m": "contact",
    "e": "content-encoding",
    "l": "content-length",
    "c": "content-type",
    "f": "from",
    "s": "subject",
    "k": "supported",
    "t": "to",
    "v": "via",
    "o": "event",
    "r": "refer-to",
    "b": "referred-by",
    "u": "allow-events",
    "x": "session-expires",
    "a": "accept-contact",
    "j": "reject-contact",
    "d": "request-disposition",
    "y": "identity",
    "n": "identity-info",
}


def header_key(name: str) -> str:
    """Canonical lookup key of a header name: lower case, compact forms expanded."""
    key = name.lower()
    return COMPACT.get(key, key)


#: precomputed keys of the names the core asks for on every message
_KEYS = {
    n: header_key(n)
    for n in ("Via", "From", "To", "Call-ID", "CSeq", "Contact", "Max-Forwards", "Expires",
              "Route", "Record-Route", "Content-Type", "Content-Length")
}  # fmt: skip

Header = tuple[str, str, str]  # (key, name as written, value)

_MISSING = object()
_Index = tuple[int, list[Header], dict[str, tuple[str, ...]]]  # (size, the list, key -> values)


class Message:
    """Common part of requests and responses."""

    __slots__ = ("_cache", "body", "headers")

    def __init__(self, headers: Iterable[tuple[str, str]] = (), body: bytes = b"") -> None:
        self.headers: list[Header] = [(header_key(n), n, v) for n, v in headers]
        self.body = body
        self._cache: dict[str, object] = {}

    # -- raw access -------------------------------------------------------------------------
    def _index(self) -> dict[str, tuple[str, ...]]:
        """Field values by key, built once per message state (rebuilt when the cache is cleared
        or fields were appended to :attr:`headers` directly). Tuples of strings, so the cycle
        collector soon stops tracking them."""
        headers = self.headers
        found = cast("_Index | None", self._cache.get("\0index"))
        if found is not None:
            size, source, index = found
            if source is headers and size == len(headers):
                return index
        index = {}
        for k, _, v in headers:
            values = index.get(k)
            index[k] = (v,) if values is None else (*values, v)
        self._cache["\0index"] = (len(headers), headers, index)
        return index

    def get(self, name: str) -> str | None:
        """The first field value of ``name`` (any form, case-insensitive), or None."""
        values = self._index().get(_KEYS.get(name) or header_key(name))
        return None if values is None else values[0]

    def get_all(self, name: str) -> list[str]:
        """Every field value of ``name``, in order (each may itself be a comma list)."""
        values = self._index().get(_KEYS.get(name) or header_key(name))
        return [] if values is None else list(values)

    def drop_views(self) -> None:
        """Forget the parsed views (they are parsed again if asked for): a message kept only
        for retransmission matching holds fewer objects."""
        self._cache = {}

    def get_list(self, name: str) -> list[str]:
        """The elements of a list header, whether repeated or comma-joined (§7.3.1)."""
        out: list[str] = []
        for value in self.get_all(name):
            out.extend(split_list(value))
        return out

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def add(self, name: str, value: str, *, first: bool = False) -> None:
        """Add a header field, at the end or before all others of the same name."""
        entry = (header_key(name), name, value)
        self._cache.clear()
        if first:
            for i, (k, _, _) in enumerate(self.headers):
                if k == entry[0]:
                    self.headers.insert(i, entry)
                    return
        self.headers.append(entry)

    def set(self, name: str, value: str) -> None:
        """Replace every field of ``name`` by one, kept where the first one stood."""
        key = header_key(name)
        self._cache.clear()
        for i, (k, _, _) in enumerate(self.headers):
            if k == key:
                self.headers[i] = (key, name, value)
                self.headers[i + 1 :] = [h for h in self.headers[i + 1 :] if h[0] != key]
                return
        self.headers.append((key, name, value))

    def remove(self, name: str) -> None:
        key = header_key(name)
        self._cache.clear()
        self.headers = [h for h in self.headers if h[0] != key]

    def remove_first(self, name: str) -> None:
        """Remove the first element of a list header (e.g. the top Via or Route)."""
        key = header_key(name)
        self._cache.clear()
        for i, (k, n, v) in enumerate(self.headers):
            if k == key:
                rest = split_list(v)[1:]
                if rest:
                    self.headers[i] = (k, n, ", ".join(rest))
                else:
                    del self.headers[i]
                return

    def header_items(self) -> Iterator[tuple[str, str]]:
        """(name as written, value) pairs, in order."""
        return ((n, v) for _, n, v in self.headers)

    def _typed(self, key: str, parse: Callable[[], T]) -> T:
        cache = self._cache
        if key in cache:
            return cache[key]  # type: ignore[return-value]
        value = parse()
        cache[key] = value
        return value

    def _required(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise SipParseError(f"Missing {name} header")
        return value

    # -- typed views --------------------------------------------------------------------------
    # The views asked for on every message read the cache inline (no closure on a hit).
    @property
    def call_id(self) -> str:
        value = self._cache.get("call-id", _MISSING)
        if value is _MISSING:
            value = self._cache["call-id"] = self._required("Call-ID").strip()
        return value  # type: ignore[return-value]

    @property
    def cseq(self) -> CSeq:
        value = self._cache.get("cseq", _MISSING)
        if value is _MISSING:
            value = self._cache["cseq"] = parse_cseq(self._required("CSeq"))
        return value  # type: ignore[return-value]

    @property
    def from_(self) -> Address:
        value = self._cache.get("from", _MISSING)
        if value is _MISSING:
            value = self._cache["from"] = parse_address(self._required("From"))
        return value  # type: ignore[return-value]

    @property
    def to(self) -> Address:
        value = self._cache.get("to", _MISSING)
        if value is _MISSING:
            value = self._cache["to"] = parse_address(self._required("To"))
        return value  # type: ignore[return-value]

    @property
    def vias(self) -> list[Via]:
        value = self._cache.get("via", _MISSING)
        if value is _MISSING:
            value = self._cache["via"] = [v for f in self.get_all("Via") for v in parse_via_list(f)]
        return value  # type: ignore[return-value]

    @property
    def top_via(self) -> Via:
        vias = self.vias
        if not vias:
            raise SipParseError("Missing Via header")
        return vias[0]

    def replace_top_via(self, via: Via) -> None:
        """Rewrite the first Via element as ``via``; the other typed views stay cached."""
        vias = self.vias
        if not vias:
            raise SipParseError("Missing Via header")
        cache = dict(self._cache)
        cache.pop("\0index", None)  # the fields change in place: the index goes stale
        headers = self.headers
        for i, (key, name, value) in enumerate(headers):
            if key == "via":
                rest = split_list(value)[1:] if "," in value else []
                headers[i] = (key, name, ", ".join([str(via), *rest]))
                break
        cache["via"] = [via, *vias[1:]]
        self._cache = cache

    @property
    def contacts(self) -> list[Address]:
        """Contact addresses; empty for ``Contact: *`` (see :attr:`contact_is_star`)."""

        def parse() -> list[Address]:
            if self.contact_is_star:
                return []
            return [a for f in self.get_all("Contact") for a in parse_address_list(f)]

        return self._typed("contact", parse)

    @property
    def contact_is_star(self) -> bool:
        values = self.get_all("Contact")
        star = any(v.strip() == "*" for v in values)
        if star and len(values) != 1:
            raise SipParseError("Contact: * mixed with other contacts")
        return star

    @property
    def routes(self) -> list[Address]:
        return self._typed(
            "route", lambda: [a for f in self.get_all("Route") for a in parse_address_list(f)]
        )

    @property
    def record_routes(self) -> list[Address]:
        return self._typed(
            "record-route",
            lambda: [a for f in self.get_all("Record-Route") for a in parse_address_list(f)],
        )

    def _opt_uint(self, name: str) -> int | None:
        value = self.get(name)
        return None if value is None else parse_uint(value, name)

    @property
    def max_forwards(self) -> int | None:
        return self._typed("max-forwards", lambda: self._opt_uint("Max-Forwards"))

    @property
    def expires(self) -> int | None:
        return self._typed("expires", lambda: self._opt_uint("Expires"))

    @property
    def min_expires(self) -> int | None:
        return self._typed("min-expires", lambda: self._opt_uint("Min-Expires"))

    @property
    def content_type(self) -> str | None:
        """The media type, lower case, without parameters."""
        value = self.get("Content-Type")
        return None if value is None else value.partition(";")[0].strip().lower()

    def _tokens(self, name: str) -> list[str]:
        return self._typed(
            name.lower(), lambda: [t for f in self.get_all(name) for t in parse_tokens(f, name)]
        )

    @property
    def allow(self) -> list[str]:
        return self._tokens("Allow")

    @property
    def supported(self) -> list[str]:
        return self._tokens("Supported")

    @property
    def require(self) -> list[str]:
        return self._tokens("Require")

    @property
    def proxy_require(self) -> list[str]:
        return self._tokens("Proxy-Require")

    @property
    def unsupported(self) -> list[str]:
        return self._tokens("Unsupported")

    @property
    def event(self) -> ParamValue | None:
        value = self.get("Event")
        return None if value is None else parse_param_value(value, "Event")

    @property
    def subscription_state(self) -> SubscriptionState | None:
        value = self.get("Subscription-State")
        return None if value is None else parse_subscription_state(value)

    @property
    def refer_to(self) -> Address | None:
        """Refer-To (RFC 3515 §2.1); an embedded ``?Replaces=`` is in ``uri.header('Replaces')``."""
        value = self.get("Refer-To")
        return None if value is None else parse_address(value)

    @property
    def referred_by(self) -> Address | None:
        value = self.get("Referred-By")
        return None if value is None else parse_address(value)

    @property
    def replaces(self) -> Replaces | None:
        value = self.get("Replaces")
        return None if value is None else parse_replaces(value)

    @property
    def refer_sub(self) -> bool | None:
        value = self.get("Refer-Sub")
        return None if value is None else parse_bool_header(value, "Refer-Sub")

    @property
    def authorization(self) -> Credentials | None:
        """Authorization credentials (RFC 3261 §20.7), parsed by :mod:`sipswitch.sip.auth`."""
        return self._credentials("Authorization")

    @property
    def proxy_authorization(self) -> Credentials | None:
        return self._credentials("Proxy-Authorization")

    @property
    def www_authenticate(self) -> list[Challenge]:
        """Every WWW-Authenticate challenge (one per header field, RFC 8760 §2.4)."""
        return self._challenges("WWW-Authenticate")

    @property
    def proxy_authenticate(self) -> list[Challenge]:
        return self._challenges("Proxy-Authenticate")

    def _credentials(self, name: str) -> Credentials | None:
        value = self.get(name)
        if value is None:
            return None
        try:
            return parse_credentials(value)
        except AuthParseError as exc:
            raise SipParseError(f"Malformed {name}: {exc}") from None

    def _challenges(self, name: str) -> list[Challenge]:
        try:
            return [parse_challenge(v) for v in self.get_all(name)]
        except AuthParseError as exc:
            raise SipParseError(f"Malformed {name}: {exc}") from None

    @property
    def reasons(self) -> list[Reason]:
        return [r for f in self.get_all("Reason") for r in parse_reasons(f)]

    # -- serialization ------------------------------------------------------------------------
    def start_line(self) -> str:
        raise NotImplementedError

    def to_bytes(self) -> bytes:
        """Serialize; Content-Length is always written and always matches the body."""
        lines = [self.start_line()]
        lines.extend(f"{n}: {v}" for k, n, v in self.headers if k != "content-length")
        lines.append(f"Content-Length: {len(self.body)}")
        lines.append("\r\n")
        return "\r\n".join(lines).encode("utf-8", "surrogateescape") + self.body

    def __bytes__(self) -> bytes:
        return self.to_bytes()


class Request(Message):
    """A SIP request. ``uri`` is parsed on first access from the text on the start line."""

    __slots__ = ("_uri", "method", "uri_text", "version")

    def __init__(
        self,
        method: str,
        uri: Uri | str,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        version: str = SIP_VERSION,
    ) -> None:
        super().__init__(headers, body)
        self.method = method
        self.version = version
        if isinstance(uri, str):
            self.uri_text = uri
            self._uri: Uri | None = None
        else:
            self.uri_text = str(uri)
            self._uri = uri

    @property
    def uri(self) -> Uri:
        uri = self._uri
        if uri is None:
            uri = self._uri = parse_uri(self.uri_text)
        return uri

    @uri.setter
    def uri(self, value: Uri) -> None:
        self._uri = value
        self.uri_text = str(value)

    def start_line(self) -> str:
        return f"{self.method} {self.uri_text} {self.version}"

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.uri_text}>"


class Response(Message):
    """A SIP response."""

    __slots__ = ("reason", "status", "version")

    def __init__(
        self,
        status: int,
        reason: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        version: str = SIP_VERSION,
    ) -> None:
        super().__init__(headers, body)
        self.status = status
        self.reason = default_reason(status) if reason is None else reason
        self.version = version

    def start_line(self) -> str:
        return f"{self.version} {self.status} {self.reason}"

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.reason}>"


REASONS = {
    100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 182: "Queued",
    183: "Session Progress", 199: "Early Dialog Terminated",
    200: "OK", 202: "Accepted", 204: "No Notification",
    300: "Multiple Choices", 301: "Moved Permanently", 302: "Moved Temporarily",
    305: "Use Proxy", 380: "Alternative Service",
    400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden",
    404: "Not Found", 405: "Method Not Allowed", 406: "Not Acceptable",
    407: "Proxy Authentication Required", 408: "Request Timeout", 410: "Gone",
    413: "Request Entity Too Large", 414: "Request-URI Too Long", 415: "Unsupported Media Type",
    416: "Unsupported URI Scheme", 420: "Bad Extension", 421: "Extension Required",
    423: "Interval Too Brief", 429: "Provide Referrer Identity",
    480: "Temporarily Unavailable", 481: "Call/Transaction Does Not Exist",
    482: "Loop Detected", 483: "Too Many Hops", 484: "Address Incomplete", 485: "Ambiguous",
    486: "Busy Here", 487: "Request Terminated", 488: "Not Acceptable Here",
    489: "Bad Event", 491: "Request Pending", 493: "Undecipherable",
    500: "Server Internal Error", 501: "Not Implemented", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Server Time-out", 505: "Version Not Supported",
    513: "Message Too Large",
    600: "Busy Everywhere", 603: "Decline", 604: "Does Not Exist Anywhere",
    606: "Not Acceptable",
}  # fmt: skip


def default_reason(status: int) -> str:
    """The RFC reason phrase of ``status``, or a generic one for its class."""
    return REASONS.get(status) or REASONS.get(status // 100 * 100, "Unknown")
