"""One frozen, typed settings object, loaded once and passed down.

Sources, later ones winning: built-in defaults, a TOML file (``--config PATH`` or the
``SIPSWITCH_CONFIG`` environment variable; none by default), then environment overrides named
``SIPSWITCH_<SECTION>_<KEY>`` (``SIPSWITCH_DATABASE_URL``, ``SIPSWITCH_REGISTRAR_MIN_EXPIRY``).
List values in the environment are comma separated (``udp:0.0.0.0:5060,tcp:0.0.0.0:5060``).

The defaults make ``sipswitch serve`` work with no file at all. The default service domain is
``sipswitch.local``: a name for the SIP domain and digest realm only; phones reach the switch by
its IP address (registrar / outbound proxy), and a real deployment sets ``service.domain`` to a
DNS name it owns. ``local`` is always an alias of the service domain in dial strings.

Every fault is a :class:`ConfigError` whose message starts with the key path at fault, e.g.
``sip.listeners[1]: unknown transport 'udpx'``.
"""

from __future__ import annotations

import dataclasses
import enum
import ipaddress
import os
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV_PREFIX = "SIPSWITCH_"
CONFIG_ENV = "SIPSWITCH_CONFIG"


class ConfigError(ValueError):
    """A configuration fault; ``key`` is the dotted path at fault (``""`` for the whole file)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key
        self.reason = message


class Transport(enum.StrEnum):
    UDP = "udp"
    TCP = "tcp"
    TLS = "tls"
    WS = "ws"
    WSS = "wss"

    @property
    def secure(self) -> bool:
        return self in (Transport.TLS, Transport.WSS)


class LogFormat(enum.StrEnum):
    CONSOLE = "console"
    JSON = "json"


class ScannerAction(enum.StrEnum):
    """What a request from a known scanner gets: nothing, or one 403 per source per ban period."""

    DROP = "drop"
    REJECT = "reject"


class LogLevel(enum.StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


def _parse_host_port(text: str) -> tuple[str, int]:
    """``host:port`` or ``[v6]:port`` → (host, port); raises ValueError with a reason."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or text[end + 1 : end + 2] != ":":
            raise ValueError(f"expected '[address]:port', got {text!r}")
        host, port_text = text[1:end], text[end + 2 :]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"not an IPv6 address: {host!r}") from None
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep or not host:
            raise ValueError(f"expected 'host:port', got {text!r}")
        if ":" in host:
            raise ValueError(f"write IPv6 addresses in brackets: {text!r}")
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"bad port {port_text!r}")
    return host, int(port_text)


def _format_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


@dataclass(frozen=True, slots=True)
class Listener:
    """A SIP listening socket written ``transport:host:port`` (``udp:[::]:5060`` for IPv6)."""

    transport: Transport
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> Listener:
        transport, sep, rest = text.partition(":")
        if not sep:
            raise ValueError(f"expected 'transport:host:port', got {text!r}")
        try:
            kind = Transport(transport.lower())
        except ValueError:
            raise ValueError(f"unknown transport {transport!r}") from None
        host, port = _parse_host_port(rest)
        return cls(kind, host, port)

    def __str__(self) -> str:
        return f"{self.transport}:{_format_host(self.host)}:{self.port}"


@dataclass(frozen=True, slots=True)
class HostPort:
    """An address written ``host:port`` (``[::1]:8080`` for IPv6)."""

    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> HostPort:
        return cls(*_parse_host_port(text))

    def __str__(self) -> str:
        return f"{_format_host(self.host)}:{self.port}"


def _meta(minimum: int | None = None, maximum: int | None = None) -> dict[str, Any]:
    return {"min": minimum, "max": maximum}


@dataclass(frozen=True, slots=True)
class ServiceSettings:
    domain: str = "sipswitch.local"


@dataclass(frozen=True, slots=True)
class SipSettings:
    """Listeners; ``overload_lag_ms``: new INVITEs and REGISTERs get 503 + Retry-After while
    the event loop lags more than this (0: never), so an overload cannot collapse throughput.

    ``workers``: processes sharing the SIP traffic (one per core is the most that helps). Each
    message goes to the worker its Call-ID hashes to; the first worker also holds the stream
    connections, provider registrations and the web server. Bindings, failed-login counts and
    the per-customer call and dialplan caps are shared; ``calls.max_calls`` and the REGISTER
    flood limit count per worker."""

    listeners: tuple[Listener, ...] = (
        Listener(Transport.UDP, "0.0.0.0", 5060),
        Listener(Transport.TCP, "0.0.0.0", 5060),
    )
    overload_lag_ms: int = field(default=250, metadata=_meta(0, 60_000))
    workers: int = field(default=1, metadata=_meta(1, 64))


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """Certificate chain and key for ``tls``/``wss`` listeners (PEM files)."""

    cert: Path | None = None
    key: Path | None = None


@dataclass(frozen=True, slots=True)
class HttpSettings:
    listen: HostPort = HostPort("127.0.0.1", 8080)


@dataclass(frozen=True, slots=True)
class DatabaseSettings:
    url: str = "sqlite+aiosqlite:///./var/sipswitch.db"


@dataclass(frozen=True, slots=True)
class LogSettings:
    format: LogFormat = LogFormat.CONSOLE
    level: LogLevel = LogLevel.INFO


@dataclass(frozen=True, slots=True)
class RegistrarSettings:
    """Expiry bounds in seconds (RFC 3261 §10.3: 423 + Min-Expires below the minimum)."""

    min_expiry: int = field(default=120, metadata=_meta(1, 86400))
    max_expiry: int = field(default=3600, metadata=_meta(1, 86400 * 7))
    default_expiry: int = field(default=3600, metadata=_meta(1, 86400 * 7))
    max_bindings: int = field(default=10, metadata=_meta(1, 1000))
    #: per-User-Agent maximum expiry, first match wins: ``"REGEX=SECONDS"``, or
    #: ``"REGEX=SECONDS/own"`` to list only the request's own contacts in the 200 OK
    user_agent_expiry: tuple[str, ...] = ()
    #: digest algorithms offered, most preferred first (RFC 8760 §2.4); clients that read only
    #: the first challenge (SIPp, old phones) need MD5 first
    digest_algorithms: tuple[str, ...] = ("SHA-256", "MD5")
    #: User-Agents (regexes) offered MD5 alone: some clients give up on a 401 that carries any
    #: challenge they cannot answer (baresip 1.x / libre refuses the whole 401 over SHA-256)
    md5_only_user_agents: tuple[str, ...] = ("baresip",)


@dataclass(frozen=True, slots=True)
class NatSettings:
    keepalive_interval: int = field(default=15, metadata=_meta(1, 3600))


@dataclass(frozen=True, slots=True)
class SecuritySettings:
    """Abuse limits (defaults after Kamailio's pike/sanity practice)."""

    max_message_size: int = field(default=16384, metadata=_meta(1024, 1 << 20))
    max_request_uri_length: int = field(default=512, metadata=_meta(64, 8192))
    flood_requests: int = field(default=16, metadata=_meta(1))
    flood_window: int = field(default=2, metadata=_meta(1))
    flood_ban: int = field(default=300, metadata=_meta(0))
    auth_failures: int = field(default=3, metadata=_meta(1))
    auth_failure_window: int = field(default=900, metadata=_meta(1))
    auth_ban: int = field(default=1800, metadata=_meta(0))
    nonce_lifetime: int = field(default=300, metadata=_meta(30, 3600))
    scanner_user_agents: tuple[str, ...] = (
        "friendly-scanner",
        "sipvicious",
        "sipcli",
        "sip-scan",
        "VaxSIPUserAgent",
    )
    scanner_action: ScannerAction = ScannerAction.DROP
    exempt: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ProvidersSettings:
    """Our registrations to upstream providers (seconds; the defaults are the operator's rules:
    refresh 5 s before the granted expiry, floor 60 s, attempts at least 50 s apart, failures
    back off 300 s plus up to 60 s of jitter, five DNS failures in a row disable).

    ``contact_secret`` keys the HMAC that makes each provider's Contact user (an opaque token);
    unset, the token is keyed by the provider's own password and creation time.
    """

    contact_secret: str | None = None
    min_interval: int = field(default=50, metadata=_meta(1, 3600))
    refresh_margin: int = field(default=5, metadata=_meta(0, 600))
    min_expiry: int = field(default=60, metadata=_meta(1, 86400))
    retry_backoff: int = field(default=300, metadata=_meta(1, 86400))
    retry_jitter: int = field(default=60, metadata=_meta(0, 3600))
    dns_failures_to_disable: int = field(default=5, metadata=_meta(1, 1000))
    reload_interval: int = field(default=30, metadata=_meta(1, 3600))
    request_timeout: int = field(default=32, metadata=_meta(1, 300))


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """The relay for dialplans' ``sys.email``; unset ``host`` means e-mail is not configured.

    ``starttls`` requires the upgrade (RFC 3207); credentials are refused in clear text to a
    host other than loopback.
    """

    host: str | None = None
    port: int = field(default=25, metadata=_meta(1, 65535))
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    from_address: str | None = None
    timeout: int = field(default=30, metadata=_meta(1, 300))


@dataclass(frozen=True, slots=True)
class DialplanSettings:
    """Script dialplans' outward facilities.

    ``web_get`` refuses loopback, private, link-local and other non-global addresses (SSRF);
    ``web_get_allow`` lists networks (CIDR) exempt from that guard.
    """

    web_get_allow: tuple[str, ...] = ()
    web_get_max_seconds: int = field(default=10, metadata=_meta(1, 60))


@dataclass(frozen=True, slots=True)
class CallsSettings:
    """Limits of the B2BUA: concurrent calls in all, and per customer (480 beyond it); every
    ``keepalive_seconds`` each answered leg gets an in-dialog OPTIONS, and 408/481/no answer
    ends the call (0: never)."""

    max_calls: int = field(default=10000, metadata=_meta(1, 1_000_000))
    max_calls_per_customer: int = field(default=100, metadata=_meta(1, 1_000_000))
    keepalive_seconds: int = field(default=300, metadata=_meta(0, 86400))
    #: dialplans one customer may have running at once (a call that would start one more: 480)
    max_dialplans_per_customer: int = field(default=5, metadata=_meta(1, 100_000))


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything configurable; ``source`` is the TOML file read, if any."""

    service: ServiceSettings = ServiceSettings()
    sip: SipSettings = SipSettings()
    tls: TlsSettings = TlsSettings()
    http: HttpSettings = HttpSettings()
    database: DatabaseSettings = DatabaseSettings()
    log: LogSettings = LogSettings()
    registrar: RegistrarSettings = RegistrarSettings()
    nat: NatSettings = NatSettings()
    security: SecuritySettings = SecuritySettings()
    providers: ProvidersSettings = ProvidersSettings()
    smtp: SmtpSettings = SmtpSettings()
    dialplan: DialplanSettings = DialplanSettings()
    calls: CallsSettings = CallsSettings()
    source: Path | None = None


SECTIONS: dict[str, type[Any]] = {
    f.name: typing.get_type_hints(Settings)[f.name]
    for f in dataclasses.fields(Settings)
    if f.name != "source"
}


def load_settings(
    path: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read defaults, then the TOML file (``path`` or ``$SIPSWITCH_CONFIG``), then ``environ``."""
    env = os.environ if environ is None else environ
    if path is None and env.get(CONFIG_ENV):
        path = env[CONFIG_ENV]
    raw: dict[str, Any] = {}
    source: Path | None = None
    if path is not None:
        source = Path(path)
        raw = _read_toml(source)
    sections: dict[str, Any] = {}
    for name, cls in SECTIONS.items():
        table = raw.pop(name, {})
        if not isinstance(table, dict):
            raise ConfigError(name, f"expected a table, got {_kind(table)}")
        sections[name] = _build_section(name, cls, table, env)
    if raw:
        raise ConfigError(sorted(raw)[0], f"unknown section (known: {', '.join(SECTIONS)})")
    _reject_unknown_env(env)
    settings = Settings(**sections, source=source)
    _cross_check(settings)
    return settings


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError("", f"cannot read config file {str(path)!r}: {exc.strerror}") from None
    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError("", f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("", f"{path}: invalid TOML: {exc}") from None


def _kind(value: object) -> str:
    return {dict: "a table", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


def _build_section(name: str, cls: type[Any], table: dict[str, Any], env: Mapping[str, str]) -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    for key in table:
        if key not in known:
            raise ConfigError(f"{name}.{key}", f"unknown key (known: {', '.join(known)})")
    values: dict[str, Any] = {}
    for key, fld in known.items():
        path = f"{name}.{key}"
        env_name = f"{ENV_PREFIX}{name.upper()}_{key.upper()}"
        from_env = env_name in env
        try:
            if from_env:
                value = _convert(path, hints[key], env[env_name], True)
            elif key in table:
                value = _convert(path, hints[key], table[key], False)
            else:
                continue
            _check_range(path, value, fld.metadata)
        except ConfigError as exc:
            if from_env:
                raise ConfigError(exc.key, f"{exc.reason} (from {env_name})") from None
            raise
        values[key] = value
    return cls(**values)


def _reject_unknown_env(env: Mapping[str, str]) -> None:
    """A typo in an override of a known section is an error, not a silent no-op."""
    for env_name in env:
        if not env_name.startswith(ENV_PREFIX):
            continue
        section, _, key = env_name[len(ENV_PREFIX) :].lower().partition("_")
        if section in SECTIONS and key:
            names = {f.name for f in dataclasses.fields(SECTIONS[section])}
            if key not in names:
                raise ConfigError(f"{section}.{key}", f"unknown key (from {env_name})")


def _check_range(path: str, value: object, meta: Mapping[str, Any]) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        return
    low, high = meta.get("min"), meta.get("max")
    if low is not None and value < low:
        raise ConfigError(path, f"must be at least {low}, got {value}")
    if high is not None and value > high:
        raise ConfigError(path, f"must be at most {high}, got {value}")


def _convert(path: str, hint: Any, value: Any, from_env: bool) -> Any:
    """Coerce one raw value (TOML or environment text) to the field's type."""
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        inner = next(a for a in typing.get_args(hint) if a is not type(None))
        if from_env and value == "":
            return None
        return _convert(path, inner, value, from_env)
    if origin is tuple:
        item_type = typing.get_args(hint)[0]
        if from_env:
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, list):
            raise ConfigError(path, f"expected an array, got {_kind(value)}")
        return tuple(
            _convert(f"{path}[{i}]", item_type, item, False) for i, item in enumerate(value)
        )
    if hint is bool:
        if from_env:
            lowered = value.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ConfigError(path, f"expected a boolean, got {value!r}")
        if not isinstance(value, bool):
            raise ConfigError(path, f"expected a boolean, got {_kind(value)}")
        return value
    if hint is int:
        if from_env:
            try:
                return int(value.strip())
            except ValueError:
                raise ConfigError(path, f"expected an integer, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(path, f"expected an integer, got {_kind(value)}")
        return value
    if not isinstance(value, str):
        raise ConfigError(path, f"expected a string, got {_kind(value)}")
    return _convert_text(path, hint, value)


def _convert_text(path: str, hint: Any, value: str) -> Any:
    if hint is str:
        return _check_special(path, value)
    if hint is Path:
        if not value:
            raise ConfigError(path, "empty path")
        return Path(value)
    try:
        if isinstance(hint, type) and issubclass(hint, enum.Enum):
            try:
                return hint(value.lower())
            except ValueError:
                choices = "|".join(str(m.value) for m in hint)
                raise ValueError(f"expected one of {choices}, got {value!r}") from None
        if hint in (Listener, HostPort):
            return hint.parse(value)
    except ValueError as exc:
        raise ConfigError(path, str(exc)) from None
    raise AssertionError(f"no converter for {hint!r}")  # pragma: no cover


def _check_special(path: str, value: str) -> str:
    if path.startswith("service.domain"):
        return _check_domain(path, value)
    if path.startswith("database.url"):
        return _check_database_url(path, value)
    if path.startswith("registrar.user_agent_expiry"):
        try:
            parse_user_agent_rule(value)
        except ValueError as exc:
            raise ConfigError(path, str(exc)) from None
    if path.startswith("registrar.md5_only_user_agents"):
        try:
            re.compile(value)
        except re.error as exc:
            raise ConfigError(path, f"not a regular expression: {exc}") from None
    if path.startswith("registrar.digest_algorithms"):
        if value.upper() not in ("MD5", "SHA-256", "SHA-512-256"):
            raise ConfigError(path, f"expected MD5, SHA-256 or SHA-512-256, got {value!r}")
        return value.upper()
    if path.startswith("security.exempt"):
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise ConfigError(path, f"not an address or network: {value!r}") from None
    if path.startswith("dialplan.web_get_allow"):
        try:
            return str(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ConfigError(path, f"not an address or network: {value!r}") from None
    if path == "smtp.host":
        host = value.strip()
        if not host or any(c.isspace() for c in host):
            raise ConfigError(path, f"not a host name or address: {value!r}")
        return host
    if path == "smtp.from_address" and not _EMAIL_ADDRESS.fullmatch(value):
        raise ConfigError(path, f"not an e-mail address: {value!r}")
    return value


#: a deliberately plain ``local@domain`` (no quoting, comments or display names)
_EMAIL_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9.-]{1,253}")


@dataclass(frozen=True, slots=True)
class UserAgentRule:
    """One row of the per-User-Agent expiry table (``registrar.user_agent_expiry``)."""

    pattern: re.Pattern[str]
    max_expiry: int
    own_contacts_only: bool = False

    def matches(self, user_agent: str) -> bool:
        return self.pattern.search(user_agent) is not None


def parse_user_agent_rule(text: str) -> UserAgentRule:
    """``REGEX=SECONDS[/own]`` → a rule; ValueError names the fault."""
    pattern, sep, rest = text.rpartition("=")
    if not sep or not pattern:
        raise ValueError(f"expected 'REGEX=SECONDS', got {text!r}")
    seconds, slash, flag = rest.partition("/")
    if not seconds.strip().isdigit() or not 1 <= int(seconds) <= 86400 * 7:
        raise ValueError(f"expected seconds 1..604800 after '=', got {seconds!r}")
    if slash and flag.strip().lower() != "own":
        raise ValueError(f"unknown flag {flag!r} (only 'own')")
    if len(pattern) > 200:
        raise ValueError("regex longer than 200 characters")
    try:
        compiled = re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise ValueError(f"bad regex {pattern!r}: {exc}") from None
    return UserAgentRule(compiled, int(seconds), bool(slash))


def _check_domain(path: str, value: str) -> str:
    domain = value.strip().lower().rstrip(".")
    labels = domain.split(".")
    if (
        not domain
        or len(domain) > 253
        or any(
            not label or len(label) > 63 or not label.replace("-", "").isalnum() or label[0] == "-"
            for label in labels
        )
    ):
        raise ConfigError(path, f"not a domain name: {value!r}")
    return domain


_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}


def _check_database_url(path: str, value: str) -> str:
    """Accept SQLite and PostgreSQL URLs; plain schemes get the async driver."""
    scheme, sep, rest = value.partition("://")
    if not sep:
        raise ConfigError(path, "expected a URL like 'sqlite+aiosqlite:///./var/sipswitch.db'")
    driver = _DRIVERS.get(scheme.lower())
    if driver is None:
        raise ConfigError(
            path, f"unsupported database {scheme!r} (use sqlite+aiosqlite or postgresql+asyncpg)"
        )
    return f"{driver}://{rest}"


def _cross_check(settings: Settings) -> None:
    reg = settings.registrar
    if not reg.digest_algorithms:
        raise ConfigError("registrar.digest_algorithms", "at least one algorithm is needed")
    if reg.min_expiry > reg.max_expiry:
        raise ConfigError("registrar.min_expiry", "must not exceed registrar.max_expiry")
    if not reg.min_expiry <= reg.default_expiry <= reg.max_expiry:
        raise ConfigError(
            "registrar.default_expiry", "must lie between registrar.min_expiry and max_expiry"
        )
    for name in ("cert", "key"):
        path = getattr(settings.tls, name)
        if path is not None and not path.is_file():
            raise ConfigError(f"tls.{name}", f"no such file: {str(path)!r}")
    listeners = settings.sip.listeners
    if not listeners:
        raise ConfigError("sip.listeners", "at least one listener is needed")
    seen: set[tuple[str, str, int]] = set()
    for i, listener in enumerate(listeners):
        path = f"sip.listeners[{i}]"
        ident = (listener.transport.value, listener.host, listener.port)
        if ident in seen:
            raise ConfigError(path, f"duplicate listener {listener}")
        seen.add(ident)
        tls = settings.tls
        if listener.transport.secure and (tls.cert is None or tls.key is None):
            raise ConfigError(path, f"{listener.transport} listener needs tls.cert and tls.key")
    _check_smtp(settings.smtp)


def _check_smtp(smtp: SmtpSettings) -> None:
    if smtp.host is None:
        return
    if smtp.from_address is None:
        raise ConfigError("smtp.from_address", "needed when smtp.host is set")
    if (smtp.username is None) != (smtp.password is None):
        raise ConfigError("smtp.username", "username and password go together")
    if smtp.username is not None and not smtp.starttls and not _is_loopback(smtp.host):
        raise ConfigError(
            "smtp.starttls", "must be true to send credentials to a host other than loopback"
        )


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def redacted_database_url(url: str) -> str:
    """The URL with any password replaced by ``***`` (for logs and ``check-config``)."""
    scheme, sep, rest = url.partition("://")
    netloc, slash, tail = rest.partition("/")
    userinfo, at, hostpart = netloc.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    user = userinfo.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{hostpart}{slash}{tail}"


def describe(settings: Settings) -> str:
    """The effective settings as TOML-like text, secrets redacted."""
    lines = [f"# source: {settings.source or 'built-in defaults'}"]
    for name in SECTIONS:
        section = getattr(settings, name)
        lines.append(f"[{name}]")
        for fld in dataclasses.fields(section):
            value = getattr(section, fld.name)
            if name == "database" and fld.name == "url":
                value = redacted_database_url(value)
            if name == "providers" and fld.name == "contact_secret" and value is not None:
                value = "***"
            if name == "smtp" and fld.name == "password" and value is not None:
                value = "***"
            if value is None:
                lines.append(f"# {fld.name} = (unset)")
            else:
                lines.append(f"{fld.name} = {_render(value)}")
        lines.append("")
    return "\n".join(lines)


def _render(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, tuple):
        return "[" + ", ".join(_render(v) for v in value) + "]"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'
