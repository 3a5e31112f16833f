"""REGISTER over real UDP sockets: challenge, bindings, refresh, query, removal, policy."""

from __future__ import annotations

from sipswitch.runtime.events import ConsoleFilter, Direction, EventKind
from sipswitch.sip.message import Response
from tests.server.conftest import RunningSwitch

from .support import Phone, cli, provision


def _contacts(response: Response) -> list[str]:
    return [str(a.uri) for a in response.contacts]


async def test_register_with_digest_then_lookup(switch: RunningSwitch) -> None:
    await provision(switch.app, ["101"])
    client = await switch.udp()
    phone = Phone(client, "101")
    response = await phone.register(expires=600)
    assert response.status == 200, response.to_bytes()
    assert _contacts(response) == [f"sip:101@127.0.0.1:{client.port}"]
    assert 590 <= (response.contacts[0].expires or 0) <= 600
    bindings = switch.app.registration.location.lookup("101@sipswitch.local")
    assert len(bindings) == 1
    target = bindings[0].target
    assert (target.transport, target.host, target.port) == ("udp", "127.0.0.1", client.port)


async def test_refresh_query_remove_and_star(switch: RunningSwitch) -> None:
    await provision(switch.app, ["101"])
    client = await switch.udp()
    phone = Phone(client, "101")
    first = f"<sip:101@127.0.0.1:{client.port}>"
    second = "<sip:101@192.0.2.7:5070;transport=tcp>;q=0.5"
    assert (await phone.register(contacts=(first,), expires=300)).status == 200
    both = await phone.register(contacts=(first, second), expires=900)
    assert both.status == 200
    assert sorted(_contacts(both)) == sorted(
        [f"sip:101@127.0.0.1:{client.port}", "sip:101@192.0.2.7:5070;transport=tcp"]
    )
    location = switch.app.registration.location
    assert [b.q for b in location.lookup("101@local".replace("local", "sipswitch.local"))] == [
        None,
        0.5,
    ]
    query = await phone.register(contacts=())
    assert query.status == 200 and len(query.contacts) == 2
    removed = await phone.register(contacts=(second,), expires=0)
    assert removed.status == 200 and len(removed.contacts) == 1
    star = await phone.register(contacts=("*",), expires=0)
    assert star.status == 200 and star.contacts == []
    assert location.lookup("101@sipswitch.local") == []


async def test_star_rules_and_interval_too_brief(switch: RunningSwitch) -> None:
    await provision(switch.app, ["101"])
    phone = Phone(await switch.udp(), "101")
    assert (await phone.register(contacts=("*",), expires=60)).status == 400
    mixed = await phone.register(contacts=("*", "<sip:101@192.0.2.1>"), expires=0)
    assert mixed.status == 400
    brief = await phone.register(expires=30)
    assert brief.status == 423 and brief.min_expires == 120
    per_contact = await phone.register(contacts=("<sip:101@192.0.2.1>;expires=10",))
    assert per_contact.status == 423


async def test_capped_expiry_and_binding_cap(switch: RunningSwitch) -> None:
    await provision(switch.app, ["101"])
    phone = Phone(await switch.udp(), "101")
    long = await phone.register(expires=999_999)
    assert long.status == 200 and long.contacts[0].expires == 3600
    for i in range(12):
        ok = await phone.register(contacts=(f"<sip:101@192.0.2.{i + 1}>",), expires=300)
        assert ok.status == 200
    bindings = switch.app.registration.location.lookup("101@sipswitch.local")
    assert len(bindings) == 10
    hosts = {b.uri for b in bindings}
    assert "sip:101@192.0.2.12" in hosts and "sip:101@192.0.2.1" not in hosts


async def test_unknown_account_looks_like_wrong_password(switch: RunningSwitch) -> None:
    await provision(switch.app, ["101"])
    client = await switch.udp()
    unknown = Phone(client, "999")
    wrong = Phone(client, "101", password="not-the-password")
    a = await unknown.register()
    b = await wrong.register()
    assert a.status == b.status == 401
    assert [c.algorithm for c in a.www_authenticate] == ["SHA-256", "MD5"]
    assert [c.realm for c in a.www_authenticate] == [c.realm for c in b.www_authenticate]
    assert a.reason == b.reason and {h[0] for h in a.headers} == {h[0] for h in b.headers}


async def test_no_hijacking_of_another_aor(switch: RunningSwitch) -> None:
    await provision(switch.app, ["101", "102"])
    phone = Phone(await switch.udp(), "102")  # 102's password is the same in this test
    response = await phone.register(to_user="101")
    assert response.status in (401, 403)
    assert switch.app.registration.location.lookup("101@sipswitch.local") == []


async def test_out_of_order_cseq_is_refused(switch: RunningSwitch) -> None:
    await provision(switch.app, ["101"])
    phone = Phone(await switch.udp(), "101", cseq=10)
    assert (await phone.register(expires=300)).status == 200  # the binding has CSeq 12
    phone.cseq = 5  # §10.3 step 7: same Call-ID, lower CSeq
    assert (await phone.register(expires=300)).status == 500


async def test_to_must_be_sip(switch: RunningSwitch) -> None:
    client = await switch.udp()
    phone = Phone(client, "101")
    data = phone.request().replace(b"To: <sip:101@sipswitch.local>", b"To: <tel:+15551234>")
    client.send(data)
    assert (await phone.final()).status == 400


async def test_binding_visible_through_cli(switch: RunningSwitch) -> None:
    await provision(switch.app, ["101"])
    client = await switch.udp()
    assert (await Phone(client, "101").register(expires=300)).status == 200
    await switch.app.registration.location.flush()
    code, out = await cli(switch.app, "account", "bindings", "101@local")
    assert code == 0, out
    assert f"sip:101@127.0.0.1:{client.port}" in out and f"udp:127.0.0.1:{client.port}" in out


async def test_sip_trace_reaches_the_owners_console(switch: RunningSwitch) -> None:
    """A customer watching `event full` sees their phone's REGISTER and our answers; another
    customer sees none of it."""
    owner = await provision(switch.app, ["301"])
    mine = switch.app.events.subscribe(ConsoleFilter.parse("event full"), owner=owner)
    other = switch.app.events.subscribe(ConsoleFilter.parse("event full"), owner=owner + 999)
    phone = Phone(await switch.udp(), "301")
    phone.client.send(phone.request(expires=300))
    assert (await phone.final()).status == 401
    traces = [e for e in mine.drain() if e.kind is EventKind.FULL_SIP_TRACE]
    assert {e.direction for e in traces} == {Direction.IN, Direction.OUT}
    assert all(e.raw and "REGISTER" in e.raw for e in traces)
    assert other.drain() == []
    mine.close()
    other.close()


async def test_md5_alone_for_clients_that_refuse_other_challenges(switch: RunningSwitch) -> None:
    """RFC 8760 §2.4 offers SHA-256 and MD5; User-Agents listed in
    registrar.md5_only_user_agents (baresip by default) are offered MD5 alone."""
    await provision(switch.app, ["401"])
    modern = Phone(await switch.udp(), "401", user_agent="Linphone/5.2")
    modern.client.send(modern.request(expires=300))
    algorithms = [c.algorithm for c in (await modern.final()).www_authenticate]
    assert algorithms == ["SHA-256", "MD5"]
    old = Phone(await switch.udp(), "401", user_agent="baresip v1.0.0 (x86_64/linux)")
    old.client.send(old.request(expires=300))
    assert [c.algorithm for c in (await old.final()).www_authenticate] == ["MD5"]
