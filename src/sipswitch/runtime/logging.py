"""Structured logging: structlog over the standard library, per-task call context, redaction.

``configure_logging`` routes structlog *and* standard-library loggers (uvicorn, SQLAlchemy,
asyncio ...) through one handler on the root logger, rendered as console text or one JSON object
per line. Context bound with :func:`bind_call` lives in contextvars, so it follows the current
asyncio task (each task starts with a copy of its creator's context) and no further.

Secrets never reach the output: values under secret-looking keys, and the values of
``Authorization:`` / ``Proxy-Authorization:`` header lines inside logged strings (SIP messages,
exception text and tracebacks), become ``[redacted]``.

structlog's configuration and the root logger are process-global by nature. ``configure_logging``
may be called again (it replaces its own handler, never adds a second one); ``reset_logging``
undoes it (structlog defaults, our handler removed, the root level restored) for tests.
"""

from __future__ import annotations

import io
import logging
import re
import sys
from collections.abc import Mapping
from contextvars import Token
from types import TracebackType
from typing import Any, Self, TextIO

import structlog
from structlog.typing import EventDict, ExcInfo, FilteringBoundLogger, Processor, WrappedLogger

REDACTED = "[redacted]"
SECRET_KEYS = frozenset(
    {"password", "passwd", "secret", "ha1", "authorization", "proxy-authorization", "nonce-secret"}
)
_SECRET_SUFFIXES = ("-password", "-passwd", "-secret", "-ha1")
_FORMATS = ("console", "json")

# A header line in real text ("\r\n" or "\n" ends it, folded continuation lines belong to it) or
# in repr()/JSON-escaped text (a literal backslash-r or backslash-n ends it).
_AUTH_HEADER = (
    r"(?i)(?:(?<![\w-])|(?<=\\[rn]))((?:proxy-)?authorization[ \t]*:)"
    r"(?:(?!\\[rn])[^\r\n])*"
    r"(?:(?:\r?\n|\\r\\n|\\n)[ \t]+(?:(?!\\[rn])[^\r\n])*)*"
)
_AUTH_RE = re.compile(_AUTH_HEADER)
_AUTH_RE_BYTES = re.compile(_AUTH_HEADER.encode())
_MAX_DEPTH = 6


def redact_text(text: str) -> str:
    """Replace the value of every Authorization / Proxy-Authorization header line."""
    if "authorization" not in text.lower():
        return text
    return _AUTH_RE.sub(_keep_name, text)


def _keep_name(match: re.Match[str]) -> str:
    return f"{match.group(1)} {REDACTED}"


def _keep_name_bytes(match: re.Match[bytes]) -> bytes:
    return match.group(1) + b" " + REDACTED.encode()


def is_secret_key(key: str) -> bool:
    name = key.lower().replace("_", "-")
    return name in SECRET_KEYS or name.endswith(_SECRET_SUFFIXES)


def _redact_value(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, bytes | bytearray):
        return _AUTH_RE_BYTES.sub(_keep_name_bytes, bytes(value))
    if depth >= _MAX_DEPTH:
        return value
    if isinstance(value, Mapping):
        return {
            k: REDACTED if isinstance(k, str) and is_secret_key(k) else _redact_value(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(_redact_value(v, depth + 1) for v in value)
    return value


def redact_secrets(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: blank secret keys and Authorization header values, recursively."""
    for key, value in event_dict.items():
        if key.startswith("_"):
            continue  # structlog internals (_record, _from_structlog)
        if is_secret_key(key):
            event_dict[key] = REDACTED
        elif isinstance(value, str | bytes | bytearray | Mapping | list | tuple):
            event_dict[key] = _redact_value(value, 0)
    return event_dict


def _redacted_traceback(sio: TextIO, exc_info: ExcInfo) -> None:
    """Console exception formatter: a plain traceback with header values redacted."""
    buffer = io.StringIO()
    structlog.dev.plain_traceback(buffer, exc_info)
    sio.write(redact_text(buffer.getvalue()))


class _Handler(logging.StreamHandler[TextIO]):
    """The root handler this module owns; remembers the root level from before we came."""

    def __init__(self, stream: TextIO, saved_root_level: int) -> None:
        super().__init__(stream)
        self.saved_root_level = saved_root_level


def _level_number(level: str | int) -> int:
    if isinstance(level, int):
        return level
    number = logging.getLevelNamesMapping().get(str(level).upper())
    if number is None:
        raise ValueError(f"unknown log level {level!r}")
    return number


def configure_logging(
    format: str = "console", level: str | int = "info", *, stream: TextIO | None = None
) -> None:
    """Route structlog and stdlib logging to ``stream`` (default stderr); idempotent."""
    if format not in _FORMATS:
        raise ValueError(f"unknown log format {format!r} (expected 'console' or 'json')")
    number = _level_number(level)
    out = stream if stream is not None else sys.stderr
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_secrets,
    ]
    renderer: list[Processor]
    if format == "json":
        renderer = [
            structlog.processors.format_exc_info,
            redact_secrets,  # again, for the traceback text just made
            structlog.processors.JSONRenderer(),
        ]
    else:
        colors = bool(getattr(out, "isatty", lambda: False)())
        renderer = [
            structlog.dev.ConsoleRenderer(colors=colors, exception_formatter=_redacted_traceback)
        ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(number),
        context_class=dict,
        cache_logger_on_first_use=False,  # so a later configure_logging reaches every logger
    )
    root = logging.getLogger()
    previous = _remove_handlers(root)
    handler = _Handler(out, root.level if previous is None else previous)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderer],
        )
    )
    root.addHandler(handler)
    root.setLevel(number)


def _remove_handlers(root: logging.Logger) -> int | None:
    """Remove our handlers; the root level saved by the first of them, if any."""
    saved = None
    for old in [h for h in root.handlers if isinstance(h, _Handler)]:
        if saved is None:
            saved = old.saved_root_level
        root.removeHandler(old)
        old.close()
    return saved


def reset_logging() -> None:
    """Undo :func:`configure_logging`: structlog defaults, our handler gone, root level back."""
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    root = logging.getLogger()
    saved = _remove_handlers(root)
    if saved is not None:
        root.setLevel(saved)


def get_logger(name: str | None = None, **initial: Any) -> FilteringBoundLogger:
    """A structlog logger named like a stdlib one (``get_logger(__name__)``)."""
    logger: FilteringBoundLogger = structlog.get_logger(name, **initial)
    return logger


class CallBinding:
    """Values bound by :func:`bind_call`; as a context manager, restores the previous ones."""

    def __init__(self, tokens: Mapping[str, Token[Any]]) -> None:
        self._tokens = dict(tokens)

    def reset(self) -> None:
        if self._tokens:
            structlog.contextvars.reset_contextvars(**self._tokens)
            self._tokens = {}

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.reset()


def bind_call(
    *, call_id: str | None = None, leg: str | None = None, account: str | None = None, **extra: Any
) -> CallBinding:
    """Bind call context to every log line of the current task (``None`` values are skipped).

    Call it at the top of a task to bind for the task's life, or use ``with bind_call(...):``
    to bind for a block only.
    """
    values = {"call_id": call_id, "leg": leg, "account": account, **extra}
    return CallBinding(
        structlog.contextvars.bind_contextvars(**{k: v for k, v in values.items() if v is not None})
    )
