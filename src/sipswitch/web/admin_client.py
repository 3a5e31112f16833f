"""The CLI's side of the admin API: finds the running switch from the same settings (its HTTP
address and the token file next to the database) and calls it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from sipswitch.config import Settings
from sipswitch.web.admin import MAX_REFER_TIMEOUT, token_path


class AdminError(Exception):
    """The switch could not be asked, or said no; the message is for the user."""


@dataclass(frozen=True, slots=True)
class AdminClient:
    base_url: str
    token: str

    @classmethod
    def from_settings(cls, settings: Settings) -> AdminClient:
        listen = settings.http.listen
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(listen.host, listen.host)
        shown = f"[{host}]" if ":" in host else host
        path = token_path(settings.database.url)
        try:
            token = path.read_text().strip()
        except OSError as exc:
            raise AdminError(
                f"cannot read the admin token {str(path)!r} ({exc.strerror}): is the switch "
                "running with this configuration, as this user?"
            ) from None
        return cls(f"http://{shown}:{listen.port}", token)

    async def calls(self) -> list[dict[str, Any]]:
        result = await self._ask("GET", "/admin/calls", timeout=10.0)
        if not isinstance(result, list):
            raise AdminError("unexpected answer from the switch")
        return result

    async def refer(self, call_id: str, target: str, timeout: float = 30.0) -> dict[str, Any]:
        result = await self._ask(
            "POST",
            f"/admin/calls/{quote(call_id, safe='')}/refer",
            json={"target": target, "timeout": timeout},
            timeout=min(timeout, MAX_REFER_TIMEOUT) + 10.0,
        )
        if not isinstance(result, dict):
            raise AdminError("unexpected answer from the switch")
        return result

    async def _ask(self, method: str, path: str, *, timeout: float, **kwargs: Any) -> object:
        headers = {"Authorization": f"Bearer {self.token}"}
        try:
            async with httpx.AsyncClient(base_url=self.base_url, timeout=timeout) as client:
                response = await client.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise AdminError(f"cannot reach the switch at {self.base_url}: {exc}") from None
        if response.status_code == 401:
            raise AdminError("the switch refused the admin token (restarted with another?)")
        try:
            body: object = response.json()
        except ValueError:
            body = None
        if response.status_code != 200:
            message = body.get("error") if isinstance(body, dict) else None
            raise AdminError(message or f"the switch answered {response.status_code}")
        return body
