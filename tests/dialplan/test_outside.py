"""sys.web_get and sys.email server side: a real HTTP server and a real SMTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import email
import email.policy
import gzip
import ipaddress
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session
from hypothesis import given, settings
from hypothesis import strategies as st

from sipswitch.config import DialplanSettings, SmtpSettings
from sipswitch.services.dialplan.outside import (
    MAX_REDIRECTS,
    FetchError,
    Mailer,
    MailError,
    WebFetcher,
    refusal,
)

# ---------------------------------------------------------------- HTTP


class _Site(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.release = threading.Event()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: _Site

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self.server.requests.append((self.path, dict(self.headers.items())))
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        path = parts.path
        if path == "/hello":
            self._send(200, "héllo wörld ✓".encode())
        elif path == "/big":
            self._send(200, b"x" * 200_000)
        elif path == "/accents":
            self._send(200, "é".encode() * 10)
        elif path == "/latin1":
            self._send(200, b"ok\xff!")
        elif path == "/stall":
            self.send_response(200)
            self.send_header("Content-Length", "10")
            self.end_headers()
            self.wfile.write(b"abc")
            self.wfile.flush()
            self.server.release.wait(10)
        elif path == "/redirect":
            self._send(int(query.get("code", "302")), headers={"Location": query["to"]})
        elif path.startswith("/chain/"):
            left = int(path.rsplit("/", 1)[1])
            self._send(302, headers={"Location": f"/chain/{left - 1}" if left else "/hello"})
        elif path == "/loop":
            self._send(301, headers={"Location": "/loop"})
        elif path == "/gzip":
            self._send(200, gzip.compress(b"zipped"), {"Content-Encoding": "gzip"})
        else:
            self._send(404, b"not here")


@pytest.fixture
def site() -> Iterator[_Site]:
    server = _Site()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


LOCAL = ("127.0.0.1/32",)


async def test_body_returned(site: _Site) -> None:
    text = await WebFetcher(allow=LOCAL).get(f"{site.base}/hello?a=1", 5, 8192)
    assert text == "héllo wörld ✓"
    path, headers = site.requests[-1]
    assert path == "/hello?a=1"
    assert headers["Host"] == site.base.removeprefix("http://")
    assert headers["User-Agent"].startswith("sipswitch")


async def test_from_settings_uses_allow_list(site: _Site) -> None:
    fetcher = WebFetcher.from_settings(DialplanSettings(web_get_allow=("127.0.0.0/8",)))
    assert fetcher.max_seconds == 10
    assert await fetcher.get(f"{site.base}/hello", 5, 100) == "héllo wörld ✓"


async def test_truncated_at_max_bytes(site: _Site) -> None:
    fetcher = WebFetcher(allow=LOCAL)
    assert await fetcher.get(f"{site.base}/big", 5, 1000) == "x" * 1000
    # a character cut by the cap is dropped; invalid bytes are replaced
    assert await fetcher.get(f"{site.base}/accents", 5, 5) == "éé"
    assert await fetcher.get(f"{site.base}/latin1", 5, 100) == "ok\ufffd!"
    assert await fetcher.get(f"{site.base}/hello", 5, 0) == ""


async def test_timeout_honoured(site: _Site) -> None:
    with pytest.raises(FetchError, match=r"timed out after 0\.2 s"):
        await WebFetcher(allow=LOCAL).get(f"{site.base}/stall", 0.2, 8192)
    # the operator's cap wins over a longer timeout from the script
    with pytest.raises(FetchError, match=r"timed out after 0\.2 s"):
        await WebFetcher(allow=LOCAL, max_seconds=0.2).get(f"{site.base}/stall", 10, 8192)
    with pytest.raises(FetchError, match="no time"):
        await WebFetcher(allow=LOCAL).get(f"{site.base}/hello", 0, 8192)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://127.0.0.1/x", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("gopher://127.0.0.1:70/_x", "only http and https"),
        ("javascript:alert(1)", "only http and https"),
        ("/relative/path", "only http and https"),
        ("http://", "no host"),
        ("http://[nope]/", "not a valid URL"),
        ("http://exa mple.com/", "cannot resolve"),
    ],
)
async def test_non_http_refused(url: str, reason: str) -> None:
    with pytest.raises(FetchError, match=reason):
        await WebFetcher(allow=("0.0.0.0/0", "::/0")).get(url, 1, 100)


async def test_loopback_refused_without_allow_list(site: _Site) -> None:
    fetcher = WebFetcher()
    for url in (
        f"{site.base}/hello",
        f"http://localhost:{site.server_address[1]}/hello",
        f"http://2130706433:{site.server_address[1]}/hello",  # 127.0.0.1 as one number
        f"http://[::ffff:127.0.0.1]:{site.server_address[1]}/hello",
    ):
        with pytest.raises(FetchError, match="refused"):
            await fetcher.get(url, 2, 100)
    assert site.requests == []


async def test_names_resolving_to_private_addresses_refused(site: _Site) -> None:
    port = site.server_address[1]
    table = {
        "intranet.example": ["10.1.2.3"],
        "metadata.example": ["169.254.169.254"],
        "mixed.example": ["93.184.216.34", "127.0.0.1"],
        "router.example": ["192.168.1.1"],
        "svc.example": ["127.0.0.1"],
    }

    async def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return table[host]

    fetcher = WebFetcher(resolver=resolve)
    for host, why in [
        ("intranet.example", "private"),
        ("metadata.example", "metadata"),
        ("mixed.example", "loopback"),
        ("router.example", "private"),
        ("svc.example", "loopback"),
    ]:
        with pytest.raises(FetchError, match=why):
            await fetcher.get(f"http://{host}:{port}/hello", 2, 100)
    with pytest.raises(FetchError, match=r"cannot resolve nowhere\.example"):
        await fetcher.get("http://nowhere.example/", 2, 100)
    assert site.requests == []
    # allow-listed: the checked address is the one connected to, the name goes in Host
    allowed = WebFetcher(resolver=resolve, allow=LOCAL)
    assert await allowed.get(f"http://svc.example:{port}/hello", 2, 100) == "héllo wörld ✓"
    assert site.requests[-1][1]["Host"] == f"svc.example:{port}"


async def test_redirects_followed_and_rechecked(site: _Site) -> None:
    fetcher = WebFetcher(allow=LOCAL)
    port = site.server_address[1]
    assert await fetcher.get(f"{site.base}/redirect?to=/hello", 5, 100) == "héllo wörld ✓"
    assert await fetcher.get(f"{site.base}/chain/{MAX_REDIRECTS - 1}", 5, 100) == ("héllo wörld ✓")
    with pytest.raises(FetchError, match="more than 3 redirects"):
        await fetcher.get(f"{site.base}/chain/{MAX_REDIRECTS}", 5, 100)
    with pytest.raises(FetchError, match="more than 3 redirects"):
        await fetcher.get(f"{site.base}/loop", 5, 100)
    site.requests.clear()
    for target, why in [
        (f"http://127.0.0.2:{port}/hello", "loopback"),  # outside the allow-list
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://[::1]/", "loopback"),
        ("http://10.0.0.1/", "private"),
        ("file:///etc/passwd", "only http and https"),
    ]:
        for code in (301, 307):
            with pytest.raises(FetchError, match=why):
                await fetcher.get(f"{site.base}/redirect?code={code}&to={target}", 5, 100)
    assert all(path.startswith("/redirect") for path, _ in site.requests)


async def test_http_errors(site: _Site) -> None:
    fetcher = WebFetcher(allow=LOCAL)
    with pytest.raises(FetchError, match="HTTP 404"):
        await fetcher.get(f"{site.base}/missing", 5, 100)
    with pytest.raises(FetchError, match="compressed response refused"):
        await fetcher.get(f"{site.base}/gzip", 5, 100)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    with pytest.raises(FetchError, match="cannot connect"):
        await fetcher.get(f"http://127.0.0.1:{closed}/", 5, 100)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.9.9.9",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.0.1",
        "169.254.169.254",
        "169.254.1.1",
        "224.0.0.1",
        "239.255.255.250",
        "0.0.0.0",
        "100.64.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fd00:ec2::254",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
    ],
)
def test_refused_addresses(address: str) -> None:
    ip = ipaddress.ip_address(address)
    assert refusal(ip) is not None
    network = ipaddress.ip_network(address)
    assert refusal(ip, [network]) is None


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_allowed(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is None


@settings(max_examples=300, deadline=None)
@given(st.ip_addresses())
def test_refusal_is_total(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    why = refusal(address)
    assert why is None or why.startswith(("a ", "the "))
    if why is None:
        assert address.is_global
    assert refusal(address, [ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0")]) in (
        None,
        why if address.version == 6 and address.ipv4_mapped is None else None,
    )


# ---------------------------------------------------------------- SMTP


@dataclass
class _Inbox:
    envelopes: list[Envelope] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


@dataclass
class _Relay:
    inbox: _Inbox
    port: int
    logins: list[tuple[bytes, bytes]]


@pytest.fixture
async def relay(request: pytest.FixtureRequest) -> AsyncIterator[_Relay]:
    inbox = _Inbox()
    logins: list[tuple[bytes, bytes]] = []
    auth = getattr(request, "param", False)

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        logins.append((data.login, data.password))
        return AuthResult(success=data.password == b"s3cret")

    def factory() -> SMTP:
        if auth:
            return SMTP(inbox, authenticator=authenticate, auth_require_tls=False)
        return SMTP(inbox)

    server = await asyncio.get_running_loop().create_server(factory, "127.0.0.1", 0)
    try:
        yield _Relay(inbox, server.sockets[0].getsockname()[1], logins)
    finally:
        server.close()
        await server.wait_closed()


def _parsed(envelope: Envelope) -> EmailMessage:
    assert isinstance(envelope.content, bytes)
    message = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def _mailer(port: int, **changes: Any) -> Mailer:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "from_address": "switch@example.net",
        "timeout": 5,
    }
    values.update(changes)
    return Mailer(SmtpSettings(**values))


async def test_message_arrives_with_headers(relay: _Relay) -> None:
    mailer = _mailer(relay.port)
    assert mailer.configured
    await mailer.send("alice", "Bob <bob@example.com>", "Missed call from 1001 ✆", "Call me.\n")
    [envelope] = relay.inbox.envelopes
    assert envelope.mail_from == "switch@example.net"
    assert envelope.rcpt_tos == ["bob@example.com"]
    message = _parsed(envelope)
    assert message["From"] == "alice <switch@example.net>"
    assert message["To"] == "Bob <bob@example.com>"
    assert message["Subject"] == "Missed call from 1001 ✆"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Message-ID"].endswith("@example.net>")
    assert message["Date"]
    assert message.get_content_type() == "text/plain"
    content = message.get_content()
    assert content.replace("\r\n", "\n") == "Call me.\n"
    # a bare address and an empty sender name
    await mailer.send("", "carol@example.org", "hi", "x" * 65536)
    message = _parsed(relay.inbox.envelopes[1])
    assert message["From"] == "switch@example.net" and message["To"] == "carol@example.org"


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("alice", "bob@example.com", "hi\r\nBcc: victim@example.com", "x"), "line break"),
        (("alice", "bob@example.com", "hi\nBcc: victim@example.com", "x"), "line break"),
        (("alice", "bob@example.com", "hi\u2028Bcc: v@example.com", "x"), "line break"),
        (("alice", "bob@example.com", "hi\x85Bcc: v@example.com", "x"), "line break"),
        (("alice", "bob@example.com\r\nBcc: victim@example.com", "hi", "x"), "line break"),
        (("alice\r\nBcc: v@example.com", "bob@example.com", "hi", "x"), "line break"),
        (("alice", "bob@example.com, eve@example.com", "hi", "x"), "exactly one"),
        (("alice", "bob@example.com; eve@example.com", "hi", "x"), "exactly one"),
        (("alice", "Bob <bob@example.com> eve@example.com", "hi", "x"), "exactly one"),
        (("alice", "<bob@example.com>>", "hi", "x"), "exactly one"),
        (("alice", "Bob <bob@example.com", "hi", "x"), "not an e-mail address"),
        (("alice", "", "hi", "x"), "exactly one"),
        (("alice", "bob", "hi", "x"), "not an e-mail address"),
        (("alice", "bob@localhost", "hi", "x"), "not an e-mail address"),
        (("alice", '"a b"@example.com', "hi", "x"), "not an e-mail address"),
        (("alice", "bob@exa mple.com", "hi", "x"), "not an e-mail address"),
        (("alice", "bob@example.com", "s" * 201, "x"), "longer than 200"),
        (("alice", "bob@example.com", "hi", "x" * 65537), "larger than 65536 bytes"),
        (("alice", "bob@example.com", "hi", "é" * 32769), "larger than 65536 bytes"),
        (("alice", "bob@example.com", "hi", "a\0b"), "NUL"),
        (("alice", "bob@example.com", 3, "x"), "must be text"),
    ],
)
async def test_injection_and_size_refused(
    relay: _Relay, args: tuple[Any, ...], reason: str
) -> None:
    with pytest.raises(MailError, match=reason):
        await _mailer(relay.port).send(*args)
    assert relay.inbox.envelopes == []


async def test_not_configured() -> None:
    mailer = Mailer(SmtpSettings())
    assert not mailer.configured
    with pytest.raises(MailError, match="e-mail is not configured"):
        await mailer.send("alice", "bob@example.com", "hi", "x")


async def test_relay_failures(relay: _Relay) -> None:
    relay.inbox.refuse.add("nobody@example.com")
    with pytest.raises(MailError, match="recipient refused: 550"):
        await _mailer(relay.port).send("alice", "nobody@example.com", "hi", "x")
    with pytest.raises(MailError, match="STARTTLS"):
        await _mailer(relay.port, starttls=True).send("alice", "bob@example.com", "hi", "x")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    with pytest.raises(MailError, match="the mail relay failed"):
        await _mailer(closed).send("alice", "bob@example.com", "hi", "x")
    assert relay.inbox.envelopes == []


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
@pytest.mark.parametrize("relay", [True], indirect=True)
async def test_credentials_used(relay: _Relay) -> None:
    await _mailer(relay.port, username="relay", password="s3cret").send(
        "alice", "bob@example.com", "hi", "x"
    )
    assert relay.logins == [(b"relay", b"s3cret")]
    assert len(relay.inbox.envelopes) == 1


_HEADER_TEXT = st.text(
    st.characters(codec="utf-8") | st.sampled_from('\r\n<>@,;":'),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(_HEADER_TEXT, _HEADER_TEXT | st.just("bob@example.com"), _HEADER_TEXT)
def test_compose_never_lets_a_header_through(sender: str, to: str, subject: str) -> None:
    mailer = Mailer(SmtpSettings(host="127.0.0.1", from_address="switch@example.net"))
    try:
        message = mailer.compose(sender, to, subject, "body")
    except MailError:
        return
    wire = message.as_bytes()
    head = wire.split(b"\r\n\r\n", 1)[0]
    names = [line.split(b":", 1)[0] for line in head.split(b"\r\n") if not line[:1].isspace()]
    assert sorted(names) == sorted(
        [
            *(b"From", b"To", b"Subject", b"Date", b"Message-ID", b"Auto-Submitted"),
            *(b"Content-Type", b"Content-Transfer-Encoding", b"MIME-Version"),
        ]
    )


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60) | st.from_regex(r"https?://[^/]{0,20}/.{0,10}", fullmatch=True))
def test_get_raises_only_fetch_error(url: str) -> None:
    async def resolve(host: str, port: int) -> list[str]:
        return ["10.0.0.1"]

    async def attempt() -> None:
        with pytest.raises(FetchError):
            await WebFetcher(resolver=resolve).get(url, 1, 100)

    asyncio.run(attempt())
