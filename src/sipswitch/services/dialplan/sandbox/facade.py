"""What a script sees (worker side): the `sys` facade and the read-only `req` view.

Python names first, SIPSorcery names as aliases, so an old dialplan translates line by line.
Every facade call is a blocking RPC to the server (`Rpc`); once the server has said the script
is over (a final `respond`, an answered `dial`), every later call raises `ScriptStop`, which is
a `BaseException` a script cannot name or catch (bare `except:` is refused at compile time).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from typing import Any, TypedDict

from sipswitch.services.dialplan.sandbox import rules
from sipswitch.services.dialplan.sandbox.types import ScriptLimits


class ScriptStop(BaseException):
    """The server ended the execution; unwinds the script."""


Rpc = Callable[[str, list[Any]], Any]


class UriView(TypedDict, total=False):
    """Wire form of a SIP URI in a request view."""

    scheme: str
    user: str
    host: str
    port: int | None
    params: dict[str, str]
    text: str


class NameAddrView(TypedDict, total=False):
    """Wire form of a From/To header."""

    name: str
    uri: UriView
    tag: str


class RequestView(TypedDict, total=False):
    """Wire form of the request a script sees as `req` (built by the caller of the runner)."""

    method: str
    uri: UriView
    from_: NameAddrView
    to: NameAddrView
    call_id: str
    cseq: str
    headers: list[tuple[str, str]]
    body: str


def _s(value: object) -> str:
    return value if isinstance(value, str) else ""


class Uri:
    """`req.uri`: user, host, port, scheme, params (read-only)."""

    __slots__ = ("_host", "_params", "_port", "_scheme", "_text", "_user")

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._scheme = _s(data.get("scheme")) or "sip"
        self._user = _s(data.get("user"))
        self._host = _s(data.get("host"))
        port = data.get("port")
        self._port = port if isinstance(port, int) and not isinstance(port, bool) else None
        params = data.get("params")
        self._params = (
            {str(k): str(v) for k, v in params.items()} if isinstance(params, dict) else {}
        )
        self._text = _s(data.get("text")) or self._default_text()

    def _default_text(self) -> str:
        user = f"{self._user}@" if self._user else ""
        port = f":{self._port}" if self._port else ""
        return f"{self._scheme}:{user}{self._host}{port}"

    @property
    def user(self) -> str:
        return self._user

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int | None:
        return self._port

    @property
    def scheme(self) -> str:
        return self._scheme

    def param(self, name: str) -> str | None:
        """A URI parameter's value, or None."""
        return self._params.get(str(name).lower())

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return f"Uri({self._text!r})"

    User = user
    Host = host
    Port = port
    Scheme = scheme
    Param = param


class NameAddr:
    """`req.header.from_` / `req.header.to`: display name, URI, tag."""

    __slots__ = ("_name", "_tag", "_uri")

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._name = _s(data.get("name"))
        uri = data.get("uri")
        self._uri = Uri(uri if isinstance(uri, dict) else {})
        self._tag = _s(data.get("tag"))

    @property
    def name(self) -> str:
        return self._name

    @property
    def uri(self) -> Uri:
        return self._uri

    @property
    def tag(self) -> str:
        return self._tag

    def __str__(self) -> str:
        name = f'"{self._name}" ' if self._name else ""
        return f"{name}<{self._uri}>"

    Name = FromName = ToName = name
    URI = FromURI = ToURI = uri
    Tag = FromTag = ToTag = tag


class Header:
    """`req.header`: From, To, Call-ID, CSeq and any header by name."""

    __slots__ = ("_call_id", "_cseq", "_from", "_headers", "_to")

    def __init__(self, data: Mapping[str, Any]) -> None:
        from_ = data.get("from_")
        to = data.get("to")
        self._from = NameAddr(from_ if isinstance(from_, dict) else {})
        self._to = NameAddr(to if isinstance(to, dict) else {})
        self._call_id = _s(data.get("call_id"))
        self._cseq = _s(data.get("cseq"))
        headers = data.get("headers")
        self._headers: tuple[tuple[str, str], ...] = tuple(
            (str(pair[0]), str(pair[1]))
            for pair in (headers if isinstance(headers, list) else [])
            if isinstance(pair, list | tuple) and len(pair) == 2
        )

    @property
    def from_(self) -> NameAddr:
        return self._from

    @property
    def to(self) -> NameAddr:
        return self._to

    @property
    def call_id(self) -> str:
        return self._call_id

    @property
    def cseq(self) -> str:
        return self._cseq

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of header `name` (case-insensitive), or `default`."""
        wanted = str(name).lower()
        return next((v for k, v in self._headers if k.lower() == wanted), default)

    def get_all(self, name: str) -> list[str]:
        """Every value of header `name`, in order."""
        wanted = str(name).lower()
        return [v for k, v in self._headers if k.lower() == wanted]

    @property
    def unknown_headers(self) -> list[str]:
        """Headers as `Name: value` lines (SIPSorcery's UnknownHeaders)."""
        return [f"{k}: {v}" for k, v in self._headers]

    From = from_
    To = to
    CallId = call_id
    CSeq = cseq
    Get = GetHeader = get
    UnknownHeaders = unknown_headers


class Request:
    """`req`: a read-only copy of the request that started the dialplan."""

    __slots__ = ("_body", "_header", "_method", "_uri")

    def __init__(self, data: Mapping[str, Any]) -> None:
        uri = data.get("uri")
        self._uri = Uri(uri if isinstance(uri, dict) else {})
        self._header = Header(data)
        self._body = _s(data.get("body"))
        self._method = _s(data.get("method")) or "INVITE"

    @property
    def uri(self) -> Uri:
        return self._uri

    @property
    def header(self) -> Header:
        return self._header

    @property
    def body(self) -> str:
        return self._body

    @property
    def method(self) -> str:
        return self._method

    URI = uri
    Header = header
    Body = body
    Method = method


class Facade:
    """`sys`: the dialplan application interface; every call is an RPC to the server."""

    __slots__ = ("_ctx", "_failure_reason", "_failure_status", "_limits", "_rpc", "_stopped")

    def __init__(self, rpc: Rpc, ctx: Mapping[str, Any], limits: ScriptLimits) -> None:
        self._rpc = rpc
        self._ctx = dict(ctx)
        self._limits = limits
        self._stopped = False
        self._failure_status: int | None = None
        self._failure_reason = ""

    def _call(self, name: str, *args: Any) -> Any:
        if self._stopped:
            raise ScriptStop
        checked = rules.check_args(name, list(args), self._limits)
        try:
            return self._rpc(name, checked)
        except ScriptStop:
            self._stopped = True
            raise

    def dial(
        self,
        dial_string: str,
        ring_timeout: float | None = None,
        answered_call_limit: float | None = None,
    ) -> str:
        """Dial and wait; returns Answered/NoAnswer/Failed/ClientCancelled/TimedOut.

        An answered dial ends the script (the call is bridged).
        """
        result = self._call("dial", dial_string, ring_timeout, answered_call_limit)
        status = result.get("status") if isinstance(result, dict) else None
        failure = result.get("failure_status") if isinstance(result, dict) else None
        if isinstance(failure, int):
            self._failure_status = failure
            self._failure_reason = str(result.get("failure_reason") or "")
        return str(status)

    def respond(self, code: int, reason: str = "", headers: dict[str, str] | None = None) -> None:
        """Answer the caller: 1xx continues the script, a final response ends it."""
        self._call("respond", code, reason, dict(headers) if headers else None)

    def log(self, message: object) -> None:
        """A line on the owner's console."""
        self._call("log", str(message))

    def set_from_header(
        self, name: str | None = None, user: str | None = None, host: str | None = None
    ) -> None:
        """Replace parts of the From header of the calls this script places."""
        self._call("set_from_header", name, user, host)

    def set_custom_header(self, name: str, value: str) -> None:
        """Add a non-core header to the calls this script places."""
        self._call("set_custom_header", name, value)

    def remove_custom_header(self, name: str) -> None:
        """Remove a custom header set earlier."""
        self._call("remove_custom_header", name)

    def clear_custom_headers(self) -> None:
        """Remove every custom header set earlier."""
        self._call("clear_custom_headers")

    def is_available(self, user: str, domain: str = "local") -> bool:
        """Whether `user@domain` (one of the owner's accounts) has a current binding."""
        return bool(self._call("is_available", user, domain))

    def get_bindings(self, user: str | None = None, domain: str = "local") -> list[str]:
        """Contact URIs bound to one of the owner's accounts (default: this account)."""
        result = self._call("get_bindings", user or self.username, domain)
        return [str(item) for item in result] if isinstance(result, list) else []

    def db_write(self, key: str, value: str) -> None:
        """Store `value` under `key` in the owner's key/value store."""
        self._call("db_write", key, value)

    def db_read(self, key: str) -> str | None:
        """The owner's value under `key`, or None."""
        result = self._call("db_read", key)
        return result if isinstance(result, str) else None

    def db_delete(self, key: str) -> None:
        """Delete the owner's value under `key`."""
        self._call("db_delete", key)

    def db_keys(self) -> list[str]:
        """The owner's keys."""
        result = self._call("db_keys")
        return [str(item) for item in result] if isinstance(result, list) else []

    def web_get(self, url: str, timeout: float | None = None) -> str:
        """The first bytes (8 KB by default) of an HTTP(S) GET."""
        return str(self._call("web_get", url, timeout))

    def email(self, to: str, subject: str, body: str) -> None:
        """Send an e-mail (a few per execution)."""
        self._call("email", to, subject, body)

    def callback(self, dest1: str, dest2: str, delay: float = 0) -> None:
        """Call two destinations and bridge them (a few per execution)."""
        self._call("callback", dest1, dest2, delay)

    def enum_lookup(self, number: str) -> str | None:
        """The SIP URI ENUM gives for an E.164 number, or None."""
        result = self._call("enum_lookup", number)
        return result if isinstance(result, str) else None

    def get_time(self) -> datetime.datetime:
        """Now, in the owner's time zone."""
        return datetime.datetime.fromisoformat(str(self._call("get_time")))

    def get_timezone(self) -> str:
        """The owner's time zone name."""
        return str(self._call("get_timezone"))

    @property
    def last_failure_status(self) -> int | None:
        """Status of the last failed dial's final response, if any."""
        return self._failure_status

    @property
    def last_failure_reason(self) -> str:
        """Reason phrase of the last failed dial's final response."""
        return self._failure_reason

    @property
    def in_(self) -> bool:
        """True for an In dialplan (a call to the account)."""
        return self._ctx.get("direction") == "in"

    @property
    def out(self) -> bool:
        """True for an Out dialplan (a call from the account)."""
        return self._ctx.get("direction") == "out"

    @property
    def username(self) -> str:
        """The account whose dialplan this is."""
        return str(self._ctx.get("username", ""))

    @property
    def dialplan_name(self) -> str:
        """The dialplan's name."""
        return str(self._ctx.get("dialplan_name", ""))

    Dial = dial
    Respond = respond
    Log = log
    SetFromHeader = set_from_header
    SetCustomSIPHeader = set_custom_header
    RemoveCustomSIPHeader = remove_custom_header
    ClearCustomSIPHeaders = clear_custom_headers
    IsAvailable = is_available
    GetBindings = get_bindings
    DBWrite = db_write
    DBRead = db_read
    DBDelete = db_delete
    DBGetKeys = db_keys
    WebGet = web_get
    Email = email
    Callback = callback
    ENUMLookup = enum_lookup
    GetTime = get_time
    GetTimezone = get_timezone
    LastFailureStatus = last_failure_status
    LastFailureReason = last_failure_reason
    In = in_
    Out = out
    Username = username
    DialPlanName = dialplan_name
