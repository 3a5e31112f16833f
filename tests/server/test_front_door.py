"""What every new request meets at the door of a running switch, over real UDP sockets."""

from __future__ import annotations

import asyncio

import pytest

from sipswitch.services.dispatch import IncomingRequest
from sipswitch.sip.values import parse_via
from sipswitch.storage import Scope
from tests.sip.torture import load, manifest
from tests.support.sipclient import request_text

from .conftest import RunningSwitch


def _hold_invites(switch: RunningSwitch) -> list[IncomingRequest]:
    """A stand-in INVITE service that never answers (the calls issue brings the real one)."""
    held: list[IncomingRequest] = []
    switch.app.dispatcher.register("INVITE", held.append)
    return held


async def test_options_lists_allow_and_accept(switch: RunningSwitch) -> None:
    client = await switch.udp()
    client.send(request_text("OPTIONS", "sip:demo@127.0.0.1", via_port=client.port))
    response = await client.final()
    assert response.status == 200
    assert "OPTIONS" in (response.get("Allow") or "")
    assert response.get("Accept") == "application/sdp"
    assert response.to.tag
    client.close()


async def test_unknown_method_gets_501_with_allow(switch: RunningSwitch) -> None:
    client = await switch.udp()
    client.send(request_text("FROBNICATE", "sip:demo@127.0.0.1", via_port=client.port))
    response = await client.final()
    assert response.status == 501 and response.get("Allow")
    client.close()


async def test_foreign_domain_gets_404(switch: RunningSwitch) -> None:
    client = await switch.udp()
    client.send(request_text("OPTIONS", "sip:bob@elsewhere.example", via_port=client.port))
    response = await client.final()
    assert (response.status, response.reason) == (404, "Domain not serviced")
    client.close()


async def test_service_domain_is_served(switch: RunningSwitch) -> None:
    client = await switch.udp()
    domain = switch.app.settings.service.domain
    client.send(request_text("OPTIONS", f"sip:demo@{domain}", via_port=client.port))
    assert (await client.final()).status == 200
    client.close()


async def test_unsupported_require_gets_420(switch: RunningSwitch) -> None:
    client = await switch.udp()
    client.send(
        request_text(
            "OPTIONS", "sip:demo@127.0.0.1", via_port=client.port, headers=("Require: foo, bar",)
        )
    )
    response = await client.final()
    assert response.status == 420 and response.get("Unsupported") == "foo, bar"
    client.close()


async def test_hops_and_loops(switch: RunningSwitch) -> None:
    held = _hold_invites(switch)
    client = await switch.udp()
    exhausted = request_text("INVITE", "sip:demo@127.0.0.1", via_port=client.port)
    client.send(exhausted.replace(b"Max-Forwards: 70", b"Max-Forwards: 0"))
    assert (await client.final()).status == 483
    marker = switch.app.dispatcher.loop_marker
    looped = request_text(
        "INVITE",
        "sip:demo@127.0.0.1",
        via_port=client.port,
        headers=(f"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK{marker}1",),
    )
    # our own Via below the client's: the request went round and came back
    top, _, rest = looped.partition(b"Max-Forwards")
    client.send(top + b"Max-Forwards" + rest)
    assert (await client.final()).status == 482
    assert held == []
    client.close()


async def test_draining_refuses_new_sessions_but_answers_options(switch: RunningSwitch) -> None:
    held = _hold_invites(switch)
    client = await switch.udp()
    client.send(request_text("INVITE", "sip:demo@127.0.0.1", via_port=client.port))
    for _ in range(50):
        if held:
            break
        await asyncio.sleep(0.01)
    assert held, "the INVITE reached its service"
    app = switch.app
    drain = asyncio.create_task(app.drain(app.clock.now() + 1.0))
    await asyncio.sleep(0.05)
    assert app.health().draining
    client.send(request_text("INVITE", "sip:demo@127.0.0.1", via_port=client.port))
    refused = await client.final()
    assert refused.status == 503 and refused.get("Retry-After")
    client.send(request_text("REGISTER", "sip:127.0.0.1", via_port=client.port))
    assert (await client.final()).status in (501, 503)
    client.send(request_text("OPTIONS", "sip:demo@127.0.0.1", via_port=client.port))
    assert (await client.final()).status == 200
    held[0].respond(486)
    await asyncio.wait_for(drain, 3)
    client.close()


async def test_overloaded_switch_refuses_new_work_and_finishes_the_rest(
    switch: RunningSwitch,
) -> None:
    load = switch.app.load
    load.threshold = 0.0  # the sampler leaves the flag alone: the test sets it
    load.overloaded = True
    held: list[object] = []
    switch.app.dispatcher.register("INVITE", held.append)
    client = await switch.udp()

    client.send(request_text("INVITE", "sip:demo@127.0.0.1", via_port=client.port))
    refused = await client.final()
    assert (refused.status, refused.reason) == (503, "Overloaded")
    assert refused.get("Retry-After") == "2"
    client.send(request_text("REGISTER", "sip:127.0.0.1", via_port=client.port))
    assert (await client.final()).status == 503
    assert load.shed == 2 and not held

    # an authenticated REGISTER (its challenge already spent) and OPTIONS go on
    credentials = (
        'Authorization: Digest username="x", realm="r", nonce="n", uri="sip:r", response="0"'
    )
    client.send(
        request_text("REGISTER", "sip:127.0.0.1", via_port=client.port, headers=(credentials,))
    )
    assert (await client.final()).status != 503
    client.send(request_text("OPTIONS", "sip:demo@127.0.0.1", via_port=client.port))
    assert (await client.final()).status == 200

    load.overloaded = False
    client.send(request_text("INVITE", "sip:demo@127.0.0.1", via_port=client.port))
    for _ in range(50):
        if held:
            break
        await asyncio.sleep(0.01)
    assert held, "with the load gone, the INVITE reaches its service"
    client.close()


# RFC 4475 over a real socket: what the switch sends back (None: nothing at all)
EXPECTED = {
    "intmeth": 501, "esc02": 501, "lwsdisp": 200, "semiuri": 200, "transports": 200,
    "zeromf": 200, "bext01": 420, "badinv01": 400, "clerr": 400, "ncl": 400, "scalar02": 400,
    "quotbal": 400, "ltgtruri": 400, "lwsruri": 400, "lwsstart": 400, "trws": 400,
    "escruri": 400, "badaspec": 400, "baddn": 400, "badvers": 505, "mismatch01": 400,
    "mismatch02": 400, "insuf": 400, "unkscm": 416, "novelsc": 416, "multi01": 400,
    "mcl01": 400, "badbranch": 200, "invut": 415,
    "scalarlg": None, "bigcode": None, "unreason": None, "noreason": None, "bcast": None,
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_torture_over_udp(switch: RunningSwitch, name: str) -> None:
    """Each message gets a loopback Via with rport on top, as a real client's would be, so no
    answer is ever sent to the hosts the RFC's messages name."""
    assert name in manifest()
    store = switch.app.store
    for domain in ("example.com", "example.net", "example.org", "chair-dnrc.example.com"):
        await store.domains.create(Scope.system(), domain, service_wide=True)
    await switch.app.refresh()
    _hold_invites(switch)
    client = await switch.udp()
    data = load(name)
    start, _, rest = data.partition(b"\r\n")
    via = f"Via: SIP/2.0/UDP 127.0.0.1:{client.port};branch=z9hG4bK-t-{name};rport\r\n"
    client.send(start + b"\r\n" + via.encode() + rest)
    expected = EXPECTED[name]
    if expected is None:
        assert await client.nothing()
    else:
        response = await client.final()
        assert response.status == expected, response.reason
        assert parse_via(response.get_all("Via")[0]).branch == f"z9hG4bK-t-{name}"
    client.close()
