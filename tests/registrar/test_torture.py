"""RFC 4475 registrar cases over real UDP, each behind a loopback Via with rport."""

from __future__ import annotations

import re

import pytest

from sipswitch.sip.builders import new_branch
from sipswitch.sip.digest import DigestClient
from sipswitch.sip.message import Response
from sipswitch.storage import Scope
from tests.server.conftest import RunningSwitch
from tests.sip import torture
from tests.support.sipclient import UdpClient

from .support import Phone

PASSWORD = "torture-pw"


async def _example_com(switch: RunningSwitch, users: list[str]) -> None:
    store = switch.app.store
    admin = Scope.system()
    await store.domains.create(admin, "example.com", service_wide=True)
    owner = await store.customers.create(admin, "bob", "bob-login-pw")
    for user in users:
        await store.accounts.create(admin, user, "example.com", PASSWORD, owner_id=owner.id)
    await switch.app.refresh()
    await switch.app.registration.accounts.reload()


def _prepare(name: str, port: int, *, bump: int = 0, authorization: str | None = None) -> bytes:
    data = torture.load(name)
    line, _, rest = data.partition(b"\r\n")
    via = f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch={new_branch()};rport\r\n".encode()
    extra = b"" if authorization is None else f"Authorization: {authorization}\r\n".encode()
    if bump:
        rest = re.sub(rb"CSeq: (\d+)", lambda m: b"CSeq: %d" % (int(m[1]) + bump), rest)
        rest = re.sub(rb"Authorization: NoOneKnowsThisScheme[^\r]*\r\n", b"", rest)
    return line + b"\r\n" + via + extra + rest


async def _final(client: UdpClient) -> Response:
    return await Phone(client, "x").final()


async def _register(switch: RunningSwitch, name: str, user: str) -> Response:
    client = await switch.udp()
    client.send(_prepare(name, client.port))
    challenge = await _final(client)
    assert challenge.status == 401
    assert {c.realm for c in challenge.www_authenticate} == {"example.com"}
    credentials = DigestClient(user, PASSWORD).authorize(
        challenge.www_authenticate, method="REGISTER", uri="sip:example.com"
    )
    assert credentials is not None
    client.send(_prepare(name, client.port, bump=1, authorization=str(credentials)))
    return await _final(client)


@pytest.mark.parametrize(
    ("name", "user", "contact"),
    [
        ("cparam01", "watson", "sip:+19725552222@gw1.example.net"),
        ("cparam02", "watson", "sip:+19725552222@gw1.example.net;unknownparam"),
        ("regescrt", "user", "sip:user@example.com?Route=%3Csip:sip.example.com%3E"),
        ("regaut01", "j.user", None),
    ],
)
async def test_registrar_torture(
    switch: RunningSwitch, name: str, user: str, contact: str | None
) -> None:
    await _example_com(switch, [user])
    response = await _register(switch, name, user)
    assert response.status == 200
    if contact is None:  # regaut01 has no Contact: a query
        assert response.contacts == []
        return
    (binding,) = switch.app.registration.location.lookup(f"{user}@example.com")
    assert binding.uri == contact
    assert [str(a.uri) for a in response.contacts] == [contact]
    if name == "cparam01":
        assert response.contacts[0].param("unknownparam") is not None or "unknownparam" in (
            binding.contact
        )


async def test_unksm2_is_400(switch: RunningSwitch) -> None:
    await _example_com(switch, [])
    client = await switch.udp()
    client.send(_prepare("unksm2", client.port))
    assert (await _final(client)).status == 400


async def test_escnull_is_challenged_for_the_whole_user(switch: RunningSwitch) -> None:
    """The %00 user is looked up whole (no truncation at the NUL): same 401 as any user."""
    await _example_com(switch, [])
    client = await switch.udp()
    client.send(_prepare("escnull", client.port))
    response = await _final(client)
    assert response.status == 401
    assert {c.realm for c in response.www_authenticate} == {"example.com"}
