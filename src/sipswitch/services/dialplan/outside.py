"""Script dialplans' outward facilities: ``sys.web_get`` (HTTP GET) and ``sys.email`` (SMTP).

Both run in the server process on behalf of untrusted scripts, so both are bounded:

- :class:`WebFetcher` fetches http/https only, within a hard time cap and byte cap, follows at
  most three redirects, and refuses (SSRF guard) any host that resolves to a loopback, private,
  link-local (the cloud metadata address 169.254.169.254 included), multicast, unspecified,
  reserved or otherwise non-global address, unless the operator allow-lists its network. Each
  hop is resolved once, checked, and then connected to by the checked address (so a DNS answer
  cannot change between check and connect); TLS still verifies the certificate against the
  host name (SNI).
- :class:`Mailer` sends one short plain-text message to one recipient through the configured
  relay, refusing CR/LF in header values (header injection) and oversized subjects or bodies.

Failures raise :class:`FetchError` / :class:`MailError` with a reason for the owner's console.
"""

from __future__ import annotations

import asyncio
import codecs
import ipaddress
import re
import socket
import unicodedata
from collections.abc import Awaitable, Callable, Iterable
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formatdate, getaddresses, make_msgid

import aiosmtplib
import httpx

from sipswitch.config import DialplanSettings, SmtpSettings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
#: ``resolve(host, port)`` → the host's addresses as text
Resolver = Callable[[str, int], Awaitable[list[str]]]

MAX_REDIRECTS = 3
#: no caller gets more than this, whatever it asks for
HARD_MAX_BYTES = 1 << 20
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_USER_AGENT = "sipswitch-dialplan/1"
_METADATA = ipaddress.IPv4Address("169.254.169.254")

MAX_SUBJECT_CHARS = 200
MAX_BODY_BYTES = 64 * 1024
MAX_NAME_CHARS = 200
#: a deliberately plain ``local@domain`` (no quoting, comments or source routes)
_ADDRESS = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)+"
)


class FetchError(Exception):
    """``web_get`` failed; ``reason`` says why (the script gets ``""``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MailError(Exception):
    """``email`` was refused or failed; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def refusal(address: IPAddress, allow: Iterable[IPNetwork] = ()) -> str | None:
    """Why ``address`` may not be fetched from (``None``: it may); allow-listed networks win."""
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    candidates = (address,) if mapped is None else (address, mapped)
    if any(a in net for net in allow for a in candidates):
        return None
    address = mapped or address
    if address == _METADATA:
        return "the cloud metadata address"
    checks = (
        ("loopback", address.is_loopback),
        ("unspecified", address.is_unspecified),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("not globally routable", not address.is_global),
    )
    return next((f"a {name} address" for name, hit in checks if hit), None)


async def _system_resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return [str(info[4][0]) for info in infos]


class WebFetcher:
    """Bounded, SSRF-guarded HTTP GET for ``sys.web_get``."""

    def __init__(
        self,
        *,
        allow: Iterable[str | IPNetwork] = (),
        max_seconds: float = 10.0,
        resolver: Resolver | None = None,
    ) -> None:
        self.allow = tuple(ipaddress.ip_network(net, strict=False) for net in allow)
        self.max_seconds = max_seconds
        self._resolve = resolver or _system_resolve

    @classmethod
    def from_settings(cls, settings: DialplanSettings) -> WebFetcher:
        return cls(allow=settings.web_get_allow, max_seconds=settings.web_get_max_seconds)

    async def get(self, url: str, timeout: float, max_bytes: int) -> str:
        """The first ``max_bytes`` of the body at ``url`` as text (UTF-8, bad bytes replaced).

        The whole fetch — resolution, connection, redirects, body — ends within
        ``min(timeout, max_seconds)``. Raises :class:`FetchError`: bad or non-http URL,
        refused address, connection failure, timeout, non-2xx status, too many redirects.
        """
        limit = min(timeout, self.max_seconds)
        if not limit > 0:
            raise FetchError("no time to fetch")
        cap = max(0, min(max_bytes, HARD_MAX_BYTES))
        try:
            async with asyncio.timeout(limit):
                data, complete = await self._follow(url, limit, cap)
        except (TimeoutError, httpx.TimeoutException):
            raise FetchError(f"timed out after {limit:g} s") from None
        except httpx.HTTPError as exc:
            raise FetchError(f"{type(exc).__name__}: {exc}".rstrip(": ")) from None
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        # a multi-byte character cut by the cap is dropped, not replaced
        return decoder.decode(data, final=complete)

    async def _follow(self, url: str, limit: float, cap: int) -> tuple[bytes, bool]:
        target = _parse_url(url)
        for _ in range(MAX_REDIRECTS + 1):
            location, data, complete = await self._hop(target, limit, cap)
            if location is None:
                return data, complete
            try:
                target = _checked(target.join(location))
            except (httpx.InvalidURL, FetchError) as exc:
                raise FetchError(f"redirect to {location[:100]!r} refused: {exc}") from None
        raise FetchError(f"more than {MAX_REDIRECTS} redirects")

    async def _hop(
        self, target: httpx.URL, limit: float, cap: int
    ) -> tuple[str | None, bytes, bool]:
        """One request: (redirect location or None, body, whether the body is complete)."""
        addresses = await self._vet(target)
        host = target.raw_host.decode("ascii")
        headers = {
            "Host": target.netloc.decode("ascii"),
            "User-Agent": _USER_AGENT,
            "Accept-Encoding": "identity",
        }
        extensions: dict[str, str] = {}
        if target.scheme == "https" and not _is_ip(host):
            extensions["sni_hostname"] = host  # certificate checked against the name
        failure = "no address"
        # one client per hop: a connection is never reused for another name
        async with httpx.AsyncClient(
            trust_env=False, follow_redirects=False, timeout=limit
        ) as client:
            for address in addresses:
                request = client.build_request(
                    "GET",
                    target.copy_with(host=address),
                    headers=headers,
                    extensions=extensions,
                )
                try:
                    response = await client.send(request, stream=True)
                except httpx.ConnectError as exc:
                    failure = f"cannot connect to {host} ({address}): {exc}"
                    continue
                try:
                    return await _read(response, cap)
                finally:
                    await response.aclose()
        raise FetchError(failure)

    async def _vet(self, target: httpx.URL) -> list[str]:
        host = target.raw_host.decode("ascii")
        port = target.port or (443 if target.scheme == "https" else 80)
        try:
            found = await self._resolve(host, port)
        except OSError as exc:
            raise FetchError(f"cannot resolve {host}: {exc.strerror or exc}") from None
        addresses = list(dict.fromkeys(found))
        if not addresses:
            raise FetchError(f"cannot resolve {host}")
        for text in addresses:
            try:
                address = ipaddress.ip_address(text)
            except ValueError:
                raise FetchError(f"{host} resolves to {text!r}, not an address") from None
            why = refusal(address, self.allow)
            if why is not None:
                raise FetchError(f"{host} refused: {address} is {why}")
        return addresses


def _parse_url(url: str) -> httpx.URL:
    try:
        return _checked(httpx.URL(url))
    except (httpx.InvalidURL, TypeError):
        raise FetchError("not a valid URL") from None


def _checked(target: httpx.URL) -> httpx.URL:
    if target.scheme not in ("http", "https"):
        raise FetchError(f"only http and https URLs ({target.scheme or 'no scheme'} given)")
    if not target.raw_host:
        raise FetchError("the URL has no host")
    return target


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def _read(response: httpx.Response, cap: int) -> tuple[str | None, bytes, bool]:
    status = response.status_code
    if status in _REDIRECT_STATUSES:
        location = response.headers.get("location")
        if not location:
            raise FetchError(f"HTTP {status} without a Location")
        return location, b"", True
    if not 200 <= status < 300:
        raise FetchError(f"HTTP {status} {response.reason_phrase}".rstrip())
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise FetchError(f"compressed response refused ({encoding})")
    data = bytearray()
    complete = True
    async for chunk in response.aiter_raw():
        data += chunk[: cap - len(data)]
        if len(data) >= cap:
            complete = False
            break
    return None, bytes(data), complete


def _header_text(value: object, what: str, limit: int) -> str:
    if not isinstance(value, str):
        raise MailError(f"{what} must be text")
    if len(value) > limit:
        raise MailError(f"{what} longer than {limit} characters")
    # Python's str.splitlines() (and so header parsing) breaks at U+0085, U+2028 and U+2029 too
    if any(c in "\u2028\u2029" or (unicodedata.category(c) == "Cc" and c != "\t") for c in value):
        raise MailError(f"{what} contains a line break or control character")
    return value


def _recipient(to: object) -> Address:
    text = _header_text(to, "recipient", 320).strip()
    pairs = getaddresses([text])
    if len(pairs) != 1 or not pairs[0][1]:
        raise MailError("exactly one recipient address is needed")
    name, addr = pairs[0]
    # the email.utils parser is lenient (it drops spaces and junk): the address it found must
    # be exactly the text given, bare or in angle brackets
    bare = text[text.rfind("<") + 1 : -1] if text.endswith(">") else text
    if addr != bare or not _ADDRESS.fullmatch(addr) or len(addr) > 254:
        raise MailError(f"not an e-mail address: {bare[:100]!r}")
    try:
        return Address(display_name=name, addr_spec=addr)
    except (ValueError, IndexError):
        raise MailError(f"not an e-mail address: {addr[:100]!r}") from None


class Mailer:
    """``sys.email`` through the ``[smtp]`` relay: one recipient, plain text, bounded sizes."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    @property
    def configured(self) -> bool:
        return self.settings.host is not None and self.settings.from_address is not None

    def compose(self, sender: str, to: str, subject: str, body: str) -> EmailMessage:
        """The message; ``sender`` is a display name (the customer), never the address.

        Raises :class:`MailError` for a bad recipient, CR/LF or control characters in a
        header value, a subject over 200 characters or a body over 64 KB.
        """
        from_address = self.settings.from_address
        if from_address is None:
            raise MailError("e-mail is not configured")
        name = _header_text(sender, "sender name", MAX_NAME_CHARS)
        recipient = _recipient(to)
        subject = _header_text(subject, "subject", MAX_SUBJECT_CHARS)
        if not isinstance(body, str):
            raise MailError("body must be text")
        if len(body.encode("utf-8", errors="surrogatepass")) > MAX_BODY_BYTES:
            raise MailError(f"body larger than {MAX_BODY_BYTES} bytes")
        if "\0" in body:
            raise MailError("body contains a NUL character")
        message = EmailMessage(policy=SMTP_POLICY)
        message["From"] = Address(display_name=name, addr_spec=from_address)
        message["To"] = recipient
        message["Subject"] = subject
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = make_msgid(domain=from_address.rpartition("@")[2])
        message["Auto-Submitted"] = "auto-generated"  # RFC 3834 §5: no auto-replies, please
        message.set_content(body)
        return message

    async def send(self, sender: str, to: str, subject: str, body: str) -> None:
        """Compose and hand the message to the relay within ``smtp.timeout`` seconds.

        Raises :class:`MailError` when not configured, refused (see :meth:`compose`), or the
        relay fails or times out.
        """
        settings = self.settings
        if settings.host is None or settings.from_address is None:
            raise MailError("e-mail is not configured")
        message = self.compose(sender, to, subject, body)
        recipient = message["To"].addresses[0].addr_spec
        try:
            async with asyncio.timeout(settings.timeout + 1):
                await aiosmtplib.send(
                    message,
                    sender=settings.from_address,
                    recipients=[recipient],
                    hostname=settings.host,
                    port=settings.port,
                    username=settings.username,
                    password=settings.password,
                    start_tls=settings.starttls,
                    timeout=settings.timeout,
                )
        except TimeoutError:
            raise MailError(f"the mail relay did not answer within {settings.timeout} s") from None
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = ", ".join(f"{r.code} {r.message}" for r in exc.recipients)
            raise MailError(f"recipient refused: {codes}") from None
        except aiosmtplib.SMTPResponseException as exc:
            raise MailError(f"the mail relay refused: {exc.code} {exc.message}") from None
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise MailError(f"the mail relay failed: {exc}") from None
