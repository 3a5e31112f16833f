"""The front door: checks every new request must pass, then hands it to the service owning
its method. Answers OPTIONS itself (RFC 3261 §11.2).

Order of checks follows RFC 3261 §8.2: method (501/405), Request-URI and domain (416/404),
Require (420), body type (415), loop and hop count (482/483), then the service.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import structlog

from sipswitch.runtime.endpoint import SipEndpoint
from sipswitch.runtime.load import LoadMonitor
from sipswitch.sip.builders import make_response, new_tag
from sipswitch.sip.errors import SipParseError
from sipswitch.sip.message import Request
from sipswitch.sip.transaction.events import (
    CancelReceived,
    Event,
    RequestReceived,
    ResponseReceived,
    StrayAck,
    StrayResponse,
    TransactionTerminated,
    TransactionTimeout,
    TransportError,
)
from sipswitch.sip.transaction.keys import Peer, ServerKey
from sipswitch.sip.uri import SipUri, TelUri

log = structlog.get_logger("sipswitch.dispatch")

#: extensions we implement (Supported / checked against Require, RFC 3261 §8.2.2.3)
SUPPORTED = ("replaces", "norefersub", "path")
#: body types the front door lets through; services narrow further
ACCEPTED_BODIES = frozenset(
    {
        "application/sdp",
        "message/sipfrag",
        "application/dtmf-relay",
        "application/dtmf",
        "text/plain",
        "multipart/mixed",
        "multipart/alternative",
    }
)
#: methods whose requests never leave the switch, so Max-Forwards 0 is not an error (§8.2.2?)
LOCAL_METHODS = frozenset({"OPTIONS", "REGISTER"})


@dataclass(slots=True)
class IncomingRequest:
    """A new request and the means to answer it through its server transaction."""

    request: Request
    tx: ServerKey
    source: Peer
    transport: str
    endpoint: SipEndpoint
    to_tag: str = field(default_factory=new_tag)
    answered: bool = False

    def respond(
        self,
        status: int,
        reason: str | None = None,
        *,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        copy_record_route: bool = False,
    ) -> None:
        response = make_response(
            self.request,
            status,
            reason,
            to_tag=self.to_tag,
            headers=tuple(headers),
            body=body,
            copy_record_route=copy_record_route,
        )
        if status >= 200:
            self.answered = True
        self.endpoint.send_response(response, self.tx)


RequestService = Callable[[IncomingRequest], None]
EventService = Callable[[Event], None]


#: seconds a peer refused for overload waits before trying again (RFC 3261 §21.5.4)
OVERLOAD_RETRY_AFTER = "2"


def _new_work(request: Request) -> bool:
    """What an overloaded switch refuses: new calls and subscriptions, and the first REGISTER
    of a registration (before the challenge is spent on it). Requests inside dialogs, ACK,
    CANCEL, BYE and authenticated REGISTERs go on: they finish work already accepted."""
    method = request.method
    if method == "REGISTER":
        return request.get("Authorization") is None
    return method in ("INVITE", "SUBSCRIBE") and request.to.tag is None


class Dispatcher:
    """Routes transaction events to services; owns the request checks common to all."""

    def __init__(
        self,
        endpoint: SipEndpoint,
        *,
        is_local_domain: Callable[[str], bool],
        user_agent: str = "sipswitch",
        loop_marker: str = "",
        load: LoadMonitor | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.load = load
        self.is_local_domain = is_local_domain
        self.user_agent = user_agent
        self.loop_marker = loop_marker
        self.draining = False
        self.retry_after = 60
        self._services: dict[str, RequestService] = {}
        self._allow: str | None = None
        self._cancel_handler: Callable[[CancelReceived], bool] | None = None
        self._listeners: list[EventService] = []
        #: requests inside a dialog (To tag present): returns True when a dialog owned it
        self.in_dialog: Callable[[IncomingRequest], bool] | None = None
        #: security hook: returns True when it answered (or dropped) the request itself
        self.screen: Callable[[IncomingRequest], bool] | None = None
        endpoint.set_handler(self.on_event)

    # -- registration of services -------------------------------------------------------------
    def register(self, method: str, service: RequestService) -> None:
        self._services[method.upper()] = service
        self._allow = None

    def on_cancel(self, handler: Callable[[CancelReceived], bool]) -> None:
        """``handler`` returns True when it owns the INVITE the CANCEL targets."""
        self._cancel_handler = handler

    def subscribe(self, listener: EventService) -> None:
        """Receive responses, timeouts, stray 2xx/ACK and terminations (the call layer)."""
        self._listeners.append(listener)

    @property
    def allow(self) -> str:
        """The Allow header value (kept until another service registers)."""
        if self._allow is None:
            methods = set(self._services) - {"OPTIONS"}
            if "INVITE" in methods:
                methods |= {"ACK", "CANCEL"}
            self._allow = ", ".join(["OPTIONS", *sorted(methods)])
        return self._allow

    # -- events ---------------------------------------------------------------------------------
    def on_event(self, event: Event) -> None:
        if isinstance(event, RequestReceived):
            self._on_request(
                IncomingRequest(
                    event.request, event.server_tx, event.source, event.transport, self.endpoint
                )
            )
        elif isinstance(event, CancelReceived):
            self._on_cancel(event)
        elif isinstance(
            event,
            ResponseReceived
            | StrayResponse
            | StrayAck
            | TransactionTimeout
            | TransportError
            | TransactionTerminated,
        ):
            for listener in self._listeners:
                listener(event)

    def _on_cancel(self, event: CancelReceived) -> None:
        request = event.request
        owned = event.invite_tx is not None and (
            self._cancel_handler is not None and self._cancel_handler(event)
        )
        status = 200 if owned else 481
        self.endpoint.send_response(
            make_response(request, status, to_tag=new_tag()), event.server_tx
        )

    def _on_request(self, incoming: IncomingRequest) -> None:
        if self.screen is not None and self.screen(incoming):
            return
        request = incoming.request
        method = request.method
        service = self._services.get(method)
        if method == "OPTIONS" and "OPTIONS" not in self._services:
            service = self._options
        if service is None and self.in_dialog is not None and request.to.tag is not None:
            service = self._no_service  # in-dialog methods (BYE, INFO...) belong to dialogs
        if service is None:
            incoming.respond(501, headers=[("Allow", self.allow)])
            return
        if self.draining and method in ("INVITE", "REGISTER", "SUBSCRIBE"):
            incoming.respond(503, "Shutting down", headers=[("Retry-After", str(self.retry_after))])
            return
        load = self.load
        if load is not None and load.overloaded and _new_work(request):
            load.shed += 1
            incoming.respond(503, "Overloaded", headers=[("Retry-After", OVERLOAD_RETRY_AFTER)])
            return
        verdict = self._check(incoming)
        if verdict is not None:
            status, reason, headers = verdict
            incoming.respond(status, reason, headers=headers)
            return
        if self.in_dialog is not None and method != "REGISTER" and request.to.tag is not None:
            if not self.in_dialog(incoming):  # §12.2.2: no such dialog
                incoming.respond(481)
            return
        service(incoming)

    def _check(self, incoming: IncomingRequest) -> tuple[int, str, list[tuple[str, str]]] | None:
        request = incoming.request
        uri = request.uri
        if isinstance(uri, SipUri):
            host = uri.host
        elif isinstance(uri, TelUri):
            host = ""
        else:
            return 416, "Unsupported URI Scheme", []
        in_dialog = request.to.tag is not None
        if not in_dialog and host and not self.is_local_domain(host):
            return 404, "Domain not serviced", []
        try:
            required = request.require
        except SipParseError:
            return 400, "Malformed Require header", []
        unknown = [ext for ext in required if ext.lower() not in SUPPORTED]
        if unknown and request.method != "CANCEL":
            return 420, "Bad Extension", [("Unsupported", ", ".join(unknown))]
        content_type = request.content_type
        if request.body and content_type not in ACCEPTED_BODIES:
            return 415, "Unsupported Media Type", [("Accept", "application/sdp")]
        if self.loop_marker and not in_dialog:
            for via in request.vias[1:]:
                if self.loop_marker in (via.branch or ""):
                    return 482, "Loop Detected", []
        hops = request.max_forwards
        if hops == 0 and request.method not in LOCAL_METHODS:
            return 483, "Too Many Hops", []
        return None

    def _no_service(self, incoming: IncomingRequest) -> None:
        incoming.respond(481)

    def _options(self, incoming: IncomingRequest) -> None:
        """OPTIONS (§11.2): what we allow, accept and support."""
        incoming.respond(
            200,
            headers=[
                ("Allow", self.allow),
                ("Accept", "application/sdp"),
                ("Accept-Encoding", "identity"),
                ("Accept-Language", "en"),
                ("Supported", ", ".join(SUPPORTED)),
                ("Server", self.user_agent),
            ],
        )
