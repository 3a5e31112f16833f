"""Length-prefixed JSON frames between the server and a worker over the worker's stdin/stdout.

JSON, not pickle: a worker runs untrusted code, and unpickling anything it sends would hand it
the server. Each frame is a 4-byte big-endian length and a UTF-8 JSON object. Frames from a
worker are capped (`MAX_FRAME`); an oversized or malformed frame marks the worker as broken.

Messages (field `t`):
- server → worker: `run` {src, req, ctx, cpu}; `ret` {v}; `err` {e}; `stop` {}.
- worker → server: `ready` {}; `call` {m, a}; `done` {k, line?, msg?, cpu}.
"""

from __future__ import annotations

import json
import os
import struct
from typing import Any

MAX_FRAME = 256 * 1024
_HEADER = struct.Struct(">I")


class ProtocolError(ValueError):
    """A frame that is too large, truncated or not a JSON object."""


def encode(message: dict[str, Any]) -> bytes:
    """One frame for `message`."""
    body = json.dumps(message, separators=(",", ":")).encode()
    return _HEADER.pack(len(body)) + body


def decode(body: bytes) -> dict[str, Any]:
    """The JSON object in a frame body."""
    try:
        value = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(f"bad frame: {exc}") from None
    if not isinstance(value, dict):
        raise ProtocolError("frame is not an object")
    return value


def frame_length(header: bytes) -> int:
    """The body length announced by a 4-byte header, refusing oversized frames."""
    (length,) = _HEADER.unpack(header)
    if length > MAX_FRAME:
        raise ProtocolError(f"frame of {length} bytes exceeds {MAX_FRAME}")
    return int(length)


def read_exact(fd: int, count: int) -> bytes:
    """Blocking read of exactly `count` bytes from `fd` (worker side); EOFError on close."""
    chunks: list[bytes] = []
    while count:
        chunk = os.read(fd, min(count, 65536))
        if not chunk:
            raise EOFError("pipe closed")
        chunks.append(chunk)
        count -= len(chunk)
    return b"".join(chunks)


def recv_blocking(fd: int) -> dict[str, Any]:
    """Read one frame from `fd` (worker side)."""
    return decode(read_exact(fd, frame_length(read_exact(fd, _HEADER.size))))


def send_blocking(fd: int, message: dict[str, Any]) -> None:
    """Write one frame to `fd` (worker side)."""
    data = memoryview(encode(message))
    while data:
        written = os.write(fd, data)
        data = data[written:]
