"""Helpers for registrar tests: a switch with accounts, and a digest-answering REGISTER client."""

from __future__ import annotations

from dataclasses import dataclass, field

from sipswitch.app import Application
from sipswitch.sip.builders import new_branch, new_call_id, new_tag
from sipswitch.sip.digest import DigestClient
from sipswitch.sip.message import Response
from sipswitch.sip.parser import parse_message
from sipswitch.storage import LOCAL_ALIAS, Scope
from tests.support.sipclient import UdpClient

ADMIN = Scope.system()
DOMAIN = "sipswitch.local"
PASSWORD = "secret-101"


async def provision(app: Application, users: list[str], password: str = PASSWORD) -> int:
    """The service domain, a customer ``alice`` owning ``users``; the registrar's copy reloaded.
    Returns alice's id."""
    store = app.store
    if await store.domains.resolve(ADMIN, DOMAIN) is None:
        await store.domains.create(ADMIN, DOMAIN, [LOCAL_ALIAS], service_wide=True)
    found = await store.customers.get_by_username(ADMIN, "alice")
    alice = found or await store.customers.create(ADMIN, "alice", "alice-login-pw")
    for user in users:
        await store.accounts.create(ADMIN, user, DOMAIN, password, owner_id=alice.id)
    await app.registration.accounts.reload()
    return alice.id


@dataclass
class Phone:
    """A UDP phone: builds REGISTERs, answers the 401 once, keeps Call-ID and CSeq."""

    client: UdpClient
    user: str
    password: str = PASSWORD
    domain: str = DOMAIN
    call_id: str = field(default_factory=new_call_id)
    cseq: int = 0
    user_agent: str = "pytest-phone/1.0"
    tag: str = field(default_factory=new_tag)

    def request(
        self,
        *,
        contacts: tuple[str, ...] | None = None,
        expires: int | None = None,
        authorization: str | None = None,
        to_user: str | None = None,
        extra: tuple[str, ...] = (),
    ) -> bytes:
        self.cseq += 1
        port = self.client.port
        if contacts is None:
            contacts = (f"<sip:{self.user}@127.0.0.1:{port}>",)
        lines = [
            f"REGISTER sip:{self.domain} SIP/2.0",
            f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch={new_branch()};rport",
            "Max-Forwards: 70",
            f"From: <sip:{self.user}@{self.domain}>;tag={self.tag}",
            f"To: <sip:{to_user or self.user}@{self.domain}>",
            f"Call-ID: {self.call_id}",
            f"CSeq: {self.cseq} REGISTER",
            f"User-Agent: {self.user_agent}",
            *(f"Contact: {c}" for c in contacts),
            *([] if expires is None else [f"Expires: {expires}"]),
            *([] if authorization is None else [f"Authorization: {authorization}"]),
            *extra,
            "Content-Length: 0",
            "",
            "",
        ]
        return "\r\n".join(lines).encode()

    async def final(self, timeout: float = 3.0) -> Response:
        """The next final response, skipping NAT keep-alives and provisional responses."""
        while True:
            data = await self.client.receive(timeout)
            if not data.strip():
                continue
            message = parse_message(data)
            assert isinstance(message, Response)
            if message.status >= 200:
                return message

    async def register(self, **kwargs: object) -> Response:
        """Send, answer a 401 with digest credentials, return the final answer."""
        self.client.send(self.request(**kwargs))  # type: ignore[arg-type]
        first = await self.final()
        if first.status != 401:
            return first
        username = str(kwargs.get("auth_user", self.user)) if "auth_user" in kwargs else self.user
        credentials = DigestClient(username, self.password).authorize(
            first.www_authenticate, method="REGISTER", uri=f"sip:{self.domain}"
        )
        assert credentials is not None
        args = {k: v for k, v in kwargs.items() if k != "auth_user"}
        self.client.send(self.request(authorization=str(credentials), **args))  # type: ignore[arg-type]
        return await self.final()


async def cli(app: Application, *argv: str, timeout: float = 30.0) -> tuple[int, str]:
    """Run ``sipswitch ARGV`` in another process against the switch's database."""
    import asyncio
    import os
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("SIPSWITCH_")}
    env["SIPSWITCH_DATABASE_URL"] = app.settings.database.url
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sipswitch", *argv,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode or 0, out.decode(errors="replace")
