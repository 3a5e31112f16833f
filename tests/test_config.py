"""Settings: defaults, TOML, environment overrides, and errors that name the key at fault."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipswitch.config import (
    ConfigError,
    HostPort,
    Listener,
    LogFormat,
    LogLevel,
    Settings,
    Transport,
    describe,
    load_settings,
    redacted_database_url,
)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sipswitch.toml"
    path.write_text(text)
    return path


def test_defaults_need_no_file() -> None:
    s = load_settings(environ={})
    assert s == Settings()
    assert s.source is None
    assert [str(x) for x in s.sip.listeners] == ["udp:0.0.0.0:5060", "tcp:0.0.0.0:5060"]
    assert s.http.listen == HostPort("127.0.0.1", 8080)
    assert s.service.domain == "sipswitch.local"
    assert s.database.url == "sqlite+aiosqlite:///./var/sipswitch.db"
    assert (s.log.format, s.log.level) == (LogFormat.CONSOLE, LogLevel.INFO)
    reg = s.registrar
    assert (reg.min_expiry, reg.max_expiry, reg.default_expiry, reg.max_bindings) == (
        120,
        3600,
        3600,
        10,
    )
    assert s.nat.keepalive_interval == 15
    assert s.tls.cert is None and s.tls.key is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.database = s.database  # type: ignore[misc]


def test_file_then_environment(tmp_path: Path) -> None:
    cert = tmp_path / "cert.pem"
    key = tmp_path / "key.pem"
    cert.write_text("x")
    key.write_text("x")
    path = _write(
        tmp_path,
        f"""
[service]
domain = "Switch.Example.COM."
[sip]
listeners = ["udp:[::]:5060", "tls:0.0.0.0:5061", "ws:127.0.0.1:8088"]
[tls]
cert = "{cert}"
key = "{key}"
[database]
url = "postgresql://sip:pw@db.example/sipswitch"
[log]
format = "json"
level = "DEBUG"
[registrar]
min_expiry = 60
""",
    )
    s = load_settings(path, environ={"SIPSWITCH_REGISTRAR_MAX_BINDINGS": "3"})
    assert s.source == path
    assert s.service.domain == "switch.example.com"
    assert s.sip.listeners == (
        Listener(Transport.UDP, "::", 5060),
        Listener(Transport.TLS, "0.0.0.0", 5061),
        Listener(Transport.WS, "127.0.0.1", 8088),
    )
    assert str(s.sip.listeners[0]) == "udp:[::]:5060"
    assert s.database.url == "postgresql+asyncpg://sip:pw@db.example/sipswitch"
    assert (s.log.format, s.log.level) == (LogFormat.JSON, LogLevel.DEBUG)
    assert (s.registrar.min_expiry, s.registrar.max_bindings) == (60, 3)
    text = describe(s)
    assert "pw@" not in text and "sip:***@db.example" in text


def test_config_path_from_environment(tmp_path: Path) -> None:
    path = _write(tmp_path, '[http]\nlisten = "[::1]:9090"\n')
    s = load_settings(
        environ={"SIPSWITCH_CONFIG": str(path), "SIPSWITCH_NAT_KEEPALIVE_INTERVAL": "20"}
    )
    assert s.http.listen == HostPort("::1", 9090)
    assert s.nat.keepalive_interval == 20


def test_environment_lists_and_optional_paths() -> None:
    s = load_settings(
        environ={
            "SIPSWITCH_SIP_LISTENERS": "udp:127.0.0.1:5070, tcp:127.0.0.1:5070",
            "SIPSWITCH_SECURITY_EXEMPT": "10.0.0.0/8,::1",
            "SIPSWITCH_TLS_CERT": "",
            "SIPSWITCH_TEST_PG_URL": "ignored: not a section",
        }
    )
    assert [str(x) for x in s.sip.listeners] == ["udp:127.0.0.1:5070", "tcp:127.0.0.1:5070"]
    assert s.security.exempt == ("10.0.0.0/8", "::1")
    assert s.tls.cert is None


@pytest.mark.parametrize(
    ("toml", "env", "message"),
    [
        (
            '[sip]\nlisteners = ["udp:0.0.0.0:5060", "udpx:0.0.0.0:5060"]',
            {},
            "sip.listeners[1]: unknown transport 'udpx'",
        ),
        ('[sip]\nlisteners = ["udp:0.0.0.0"]', {}, "sip.listeners[0]: expected 'host:port'"),
        ('[sip]\nlisteners = ["udp:::1:5060"]', {}, "sip.listeners[0]: write IPv6 addresses"),
        ('[sip]\nlisteners = ["udp:1.2.3.4:70000"]', {}, "sip.listeners[0]: bad port '70000'"),
        ('[sip]\nlisteners = "udp:1.2.3.4:5060"', {}, "sip.listeners: expected an array"),
        ("[sip]\nlisteners = []", {}, "sip.listeners: at least one listener"),
        (
            '[sip]\nlisteners = ["tls:0.0.0.0:5061"]',
            {},
            "sip.listeners[0]: tls listener needs tls.cert and tls.key",
        ),
        (
            '[sip]\nlisteners = ["udp:0.0.0.0:5060", "UDP:0.0.0.0:5060"]',
            {},
            "sip.listeners[1]: duplicate listener",
        ),
        ("[registrar]\nmin_expiry = 0", {}, "registrar.min_expiry: must be at least 1"),
        ('[registrar]\nmin_expiry = "120"', {}, "registrar.min_expiry: expected an integer"),
        ("[registrar]\nmin_expiry = true", {}, "registrar.min_expiry: expected an integer"),
        ("[registrar]\nmin_expiry = 4000", {}, "registrar.min_expiry: must not exceed"),
        ("[registrar]\ndefault_expiry = 60", {}, "registrar.default_expiry: must lie between"),
        ("[registrar]\nmax_binding = 3", {}, "registrar.max_binding: unknown key"),
        ("[registar]\nmax_bindings = 3", {}, "registar: unknown section"),
        ("registrar = 3", {}, "registrar: expected a table"),
        ('[log]\nformat = "xml"', {}, "log.format: expected one of console|json, got 'xml'"),
        ('[database]\nurl = "mysql://x/y"', {}, "database.url: unsupported database 'mysql'"),
        ('[database]\nurl = "nothing"', {}, "database.url: expected a URL"),
        ('[service]\ndomain = "bad domain"', {}, "service.domain: not a domain name"),
        ('[tls]\ncert = "/nonexistent/cert.pem"', {}, "tls.cert: no such file"),
        ('[security]\nexempt = ["10.0.0.300"]', {}, "security.exempt[0]: not an address"),
        ('[http]\nlisten = "localhost"', {}, "http.listen: expected 'host:port'"),
        (
            "",
            {"SIPSWITCH_REGISTRAR_MIN_EXPIRY": "two"},
            "registrar.min_expiry: expected an integer",
        ),
        ("", {"SIPSWITCH_DATABASE_URLL": "x"}, "database.urll: unknown key"),
        (
            "",
            {"SIPSWITCH_SIP_LISTENERS": "udp:1.2.3.4:5060,udpx:1.2.3.4:5060"},
            "sip.listeners[1]: unknown transport 'udpx'",
        ),
        ("[sip\n", {}, "invalid TOML"),
    ],
)
def test_errors_name_the_key(tmp_path: Path, toml: str, env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(_write(tmp_path, toml), environ=env)
    text = str(caught.value)
    if ": " in message:
        assert text.startswith(message)
        assert caught.value.key == message.split(": ", maxsplit=1)[0]
    else:
        assert message in text
        assert caught.value.key == ""
    if env:
        assert next(iter(env)) in text


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(tmp_path / "absent.toml", environ={})


def test_redaction() -> None:
    assert redacted_database_url("postgresql+asyncpg://u:p%40ss@h:5432/db") == (
        "postgresql+asyncpg://u:***@h:5432/db"
    )
    assert (
        redacted_database_url("sqlite+aiosqlite:///./var/x.db") == "sqlite+aiosqlite:///./var/x.db"
    )


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_listener_parse_raises_only_value_error(text: str) -> None:
    try:
        listener = Listener.parse(text)
    except ValueError:
        return
    assert Listener.parse(str(listener)) == listener
    assert 0 < listener.port < 65536


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(list(Transport)),
    st.one_of(st.ip_addresses().map(str), st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True)),
    st.integers(1, 65535),
)
def test_listener_round_trip(transport: Transport, host: str, port: int) -> None:
    listener = Listener(transport, host, port)
    assert Listener.parse(str(listener)) == listener


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "SIPSWITCH_SIP_LISTENERS",
                "SIPSWITCH_HTTP_LISTEN",
                "SIPSWITCH_REGISTRAR_MIN_EXPIRY",
                "SIPSWITCH_LOG_LEVEL",
                "SIPSWITCH_DATABASE_URL",
                "SIPSWITCH_SERVICE_DOMAIN",
                "SIPSWITCH_SECURITY_EXEMPT",
                "SIPSWITCH_NAT_X",
            ]
        ),
        st.text(max_size=30),
    )
)
def test_environment_raises_only_config_error(env: dict[str, str]) -> None:
    try:
        load_settings(environ=env)
    except ConfigError as exc:
        assert exc.key


def test_providers_section(tmp_path: Path) -> None:
    path = _write(tmp_path, '[providers]\ncontact_secret = "s3cret"\nmin_interval = 2\n')
    s = load_settings(path, environ={"SIPSWITCH_PROVIDERS_MIN_EXPIRY": "5"})
    assert (s.providers.min_interval, s.providers.min_expiry) == (2, 5)
    assert s.providers.retry_backoff == 300 and s.providers.refresh_margin == 5
    assert "s3cret" not in describe(s) and 'contact_secret = "***"' in describe(s)
    with pytest.raises(ConfigError, match=r"providers\.min_interval: must be at least 1"):
        load_settings(environ={"SIPSWITCH_PROVIDERS_MIN_INTERVAL": "0"})


def test_smtp_and_dialplan_sections(tmp_path: Path) -> None:
    s = load_settings(environ={})
    assert s.smtp.host is None and s.smtp.port == 25 and not s.smtp.starttls
    assert s.smtp.timeout == 30
    assert s.dialplan.web_get_allow == () and s.dialplan.web_get_max_seconds == 10
    path = _write(
        tmp_path,
        """
[smtp]
host = "smtp.example.com"
port = 587
username = "relay"
password = "hunter2"
starttls = true
from_address = "switch@example.com"
[dialplan]
web_get_allow = ["127.0.0.1", "10.1.0.0/16"]
""",
    )
    s = load_settings(path, environ={"SIPSWITCH_DIALPLAN_WEB_GET_MAX_SECONDS": "5"})
    assert (s.smtp.host, s.smtp.port, s.smtp.username, s.smtp.starttls) == (
        "smtp.example.com",
        587,
        "relay",
        True,
    )
    assert s.smtp.from_address == "switch@example.com"
    assert s.dialplan.web_get_allow == ("127.0.0.1/32", "10.1.0.0/16")
    assert s.dialplan.web_get_max_seconds == 5
    text = describe(s)
    assert "hunter2" not in text and 'password = "***"' in text
    assert "[smtp]" in text and "[dialplan]" in text
    env = {"SIPSWITCH_SMTP_HOST": "127.0.0.1", "SIPSWITCH_SMTP_FROM_ADDRESS": "a@b.example"}
    s = load_settings(environ={**env, "SIPSWITCH_DIALPLAN_WEB_GET_ALLOW": "::1, 192.168.0.0/24"})
    assert s.smtp.host == "127.0.0.1" and s.dialplan.web_get_allow == ("::1/128", "192.168.0.0/24")
    # credentials in clear text are fine to a loopback relay
    s = load_settings(
        environ={**env, "SIPSWITCH_SMTP_USERNAME": "u", "SIPSWITCH_SMTP_PASSWORD": "p"}
    )
    assert s.smtp.username == "u" and not s.smtp.starttls


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[smtp]\nhost = "mail.example.com"', "smtp.from_address: needed when smtp.host is set"),
        ('[smtp]\nfrom_address = "not an address"', "smtp.from_address: not an e-mail address"),
        ('[smtp]\nhost = ""', "smtp.host: not a host name or address"),
        ("[smtp]\nport = 0", "smtp.port: must be at least 1"),
        ("[smtp]\ntimeout = 0", "smtp.timeout: must be at least 1"),
        ('[smtp]\nstarttls = "yes"', "smtp.starttls: expected a boolean"),
        (
            '[smtp]\nhost = "mail.example.com"\nfrom_address = "a@example.com"\nusername = "u"',
            "smtp.username: username and password go together",
        ),
        (
            '[smtp]\nhost = "mail.example.com"\nfrom_address = "a@example.com"\n'
            'username = "u"\npassword = "p"',
            "smtp.starttls: must be true to send credentials",
        ),
        ('[smtp]\nsender = "x"', "smtp.sender: unknown key"),
        ('[dialplan]\nweb_get_allow = ["10.0.0.0/33"]', "dialplan.web_get_allow[0]: not an"),
        ('[dialplan]\nweb_get_allow = "10.0.0.0/8"', "dialplan.web_get_allow: expected an array"),
        ("[dialplan]\nweb_get_max_seconds = 61", "dialplan.web_get_max_seconds: must be at most"),
    ],
)
def test_smtp_and_dialplan_errors(tmp_path: Path, toml: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(_write(tmp_path, toml), environ={})
    assert str(caught.value).startswith(message)
    assert caught.value.key == message.split(": ", maxsplit=1)[0]
