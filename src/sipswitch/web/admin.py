"""The local admin API the CLI talks to (``sipswitch call list``, ``sipswitch call refer``).

* ``GET /admin/calls``: the live calls of every worker, one JSON object per call (both legs'
  Call-IDs).
* ``POST /admin/calls/{call_id}/refer`` with ``{"target": "sip:..."}``: the switch REFERs the
  leg whose Call-ID is given (RFC 3515) and answers the outcome once the NOTIFYs tell it.

It is served on the configured HTTP address (loopback by default) and every request must carry
``Authorization: Bearer <token>``; the token is made at start and written, mode 0600, to
``admin.token`` next to the SQLite database (``./var/admin.token`` otherwise), where the CLI
reads it. Anything else gets 401.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sipswitch.runtime.mesh import MeshCalls
from sipswitch.services.calls.call import Call
from sipswitch.services.calls.service import CallService
from sipswitch.services.transfer.service import TransferService
from sipswitch.transport.steering import call_id_owner

TOKEN_FILE = "admin.token"
_SQLITE_PREFIX = "sqlite+aiosqlite:///"
_NO_STORE = {"Cache-Control": "no-store"}
#: the longest a REFER may be followed (the transfer service's own default is 30 s)
MAX_REFER_TIMEOUT = 60.0
#: seconds another worker has to answer the first one (beyond a REFER's own timeout)
PEER_TIMEOUT = 3.0


def token_path(database_url: str) -> Path:
    """Where the admin token lives: next to a SQLite file, else ``./var``."""
    if database_url.startswith(_SQLITE_PREFIX):
        path = database_url.removeprefix(_SQLITE_PREFIX).partition("?")[0]
        if path and path != ":memory:":
            return Path(path).parent / TOKEN_FILE
    return Path("var") / TOKEN_FILE


def write_token(path: Path) -> str:
    """A new token, written so that only this user may read it."""
    token = secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # an older file may have had wider permissions
        os.write(fd, token.encode())
    finally:
        os.close(fd)
    return token


def remove_token(path: Path, token: str) -> None:
    """Remove the token file if it is still ours (another switch may have replaced it)."""
    with contextlib.suppress(OSError):
        if path.read_text().strip() == token:
            path.unlink()


@dataclass
class AdminApi:
    """What the admin routes act on; ``calls``/``transfers`` may be swapped (tests do).

    With several workers every one holds an AdminApi (:meth:`serve_peers`); the first one
    serves HTTP and asks the others (``peers``) for their calls and REFERs.
    """

    calls: CallService
    transfers: TransferService
    token: str
    peers: MeshCalls | None = None

    def authorized(self, request: Request) -> bool:
        scheme, _, given = (request.headers.get("authorization") or "").partition(" ")
        return scheme.lower() == "bearer" and secrets.compare_digest(
            given.strip().encode(), self.token.encode()
        )

    def find(self, call_id: str) -> tuple[Call, bool] | None:
        """The call one of whose legs has ``call_id``, and whether it is the caller's leg."""
        for call in self.calls.calls:
            if call.a.call_id == call_id:
                return call, True
            if call.b is not None and call.b.call_id == call_id:
                return call, False
        return None

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/admin/calls", self._list, methods=["GET"]),
            Route("/admin/calls/{call_id:str}/refer", self._refer, methods=["POST"]),
        ]

    # -- this worker's calls --------------------------------------------------------------
    def local_calls(self) -> list[dict[str, object]]:
        return [summary(call) for call in self.calls.calls]

    async def local_refer(
        self, call_id: str, target: str, timeout: float
    ) -> dict[str, object] | None:
        """REFER a leg of one of this worker's calls; None when there is no such call."""
        found = self.find(call_id)
        if found is None or found[0].a.ended:
            return None
        call, to_caller = found
        outcome = await self.transfers.refer(
            call, target, to_caller=to_caller, timeout=float(timeout)
        )
        result = "succeeded" if outcome.succeeded else "timed out" if outcome.status == 408 else (
            "failed"
        )  # fmt: skip
        return {
            "result": result,
            "succeeded": outcome.succeeded,
            "status": outcome.status,
            "reason": outcome.reason,
        }

    def serve_peers(self) -> None:
        """On a worker other than the first: answer its questions about our calls."""
        assert self.peers is not None

        async def calls() -> list[dict[str, object]]:
            return self.local_calls()

        self.peers.serve("calls", calls)
        self.peers.serve("refer", self.local_refer)

    # -- every worker's calls ------------------------------------------------------------
    async def all_calls(self) -> list[dict[str, object]]:
        found = self.local_calls()
        peers = self.peers
        if peers is not None:
            role = peers.mesh.role
            asked = [
                peers.ask(k, "calls", timeout=PEER_TIMEOUT)
                for k in range(role.count)
                if k != role.index
            ]
            for answer in await asyncio.gather(*asked, return_exceptions=True):
                if isinstance(answer, list):
                    found.extend(answer)
                # a worker that does not answer (restarting) lists nothing
        found.sort(key=lambda c: float(str(c["created"])))
        return found

    async def refer(self, call_id: str, target: str, timeout: float) -> dict[str, object] | None:
        """The REFER on whichever worker holds the call (the one its Call-ID hashes to)."""
        peers = self.peers
        if peers is None:
            return await self.local_refer(call_id, target, timeout)
        role = peers.mesh.role
        worker = call_id_owner(call_id, role.count)
        if worker == role.index:
            return await self.local_refer(call_id, target, timeout)
        answer = await peers.ask(
            worker, "refer", call_id, target, timeout, timeout=timeout + PEER_TIMEOUT
        )
        return answer if isinstance(answer, dict) else None

    # -- HTTP ------------------------------------------------------------------------------
    async def _list(self, request: Request) -> Response:
        if not self.authorized(request):
            return _unauthorized()
        return JSONResponse(await self.all_calls(), headers=_NO_STORE)

    async def _refer(self, request: Request) -> Response:
        if not self.authorized(request):
            return _unauthorized()
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            return _error(400, "the body is not JSON")
        target = body.get("target") if isinstance(body, dict) else None
        if not isinstance(target, str) or not target.lower().startswith(("sip:", "sips:", "tel:")):
            return _error(400, "'target' must be a sip:, sips: or tel: URI")
        timeout = body.get("timeout", 30.0)
        if not isinstance(timeout, int | float) or not 0 < timeout <= MAX_REFER_TIMEOUT:
            return _error(400, f"'timeout' must be a number of seconds up to {MAX_REFER_TIMEOUT}")
        try:
            outcome = await self.refer(request.path_params["call_id"], target, float(timeout))
        except (ConnectionError, TimeoutError, RuntimeError) as exc:
            return _error(503, f"the worker holding the call did not answer: {exc}")
        if outcome is None:
            return _error(404, "no such call")
        return JSONResponse(outcome, headers=_NO_STORE)


def summary(call: Call) -> dict[str, object]:
    """One call as the admin API lists it."""
    invite = call.a.invite
    record = call.a_cdr.record
    if call.a.ended:
        state = "ended"
    elif call.transferring:
        state = "transferring"
    elif call.b is not None:
        state = "answered"
    else:
        state = "ringing"
    return {
        "call_id": call.a.call_id,
        "far_call_id": None if call.b is None else call.b.call_id,
        "owner": call.context.owner,
        "from": str(invite.from_.uri),
        "to": invite.uri_text,
        "far_to": None if call.b is None else str(call.b.destination.uri),
        "state": state,
        "answered": record.answered_time,
        "bridge_id": call.bridge_id if call.b is not None else None,
        "created": record.created,
    }


def _unauthorized() -> Response:
    return JSONResponse(
        {"error": "a valid admin token is needed"},
        status_code=401,
        headers={**_NO_STORE, "WWW-Authenticate": 'Bearer realm="sipswitch-admin"'},
    )


def _error(status: int, message: str) -> Response:
    return JSONResponse({"error": message}, status_code=status, headers=_NO_STORE)
