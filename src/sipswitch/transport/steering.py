"""Which worker process owns a message: the one its Call-ID hashes to.

Every message of a dialog and of its transactions carries the same Call-ID (RFC 3261 §8.1.1.4,
§12), so hashing it sends a call's INVITE, ACK, CANCEL, BYE and their responses to one worker,
whichever process the kernel handed the datagram to. Only the raw bytes are read: the owner is
picked before the message is parsed. Call-IDs the switch makes itself are drawn until they hash
to the worker making them, so the answers to its own requests come home too. An INVITE with
Replaces (RFC 3891) goes to the worker holding the dialog it replaces, and its own Call-ID
follows it there (:class:`sipswitch.runtime.mesh.Steering` remembers the move).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping

#: header spellings found without lower-casing the message (long and compact form, §7.3.3)
_FAST = (b"\r\nCall-ID:", b"\r\ni:", b"\r\nCall-Id:", b"\r\ncall-id:")
_NAMES = (b"call-id", b"i")
_TRIM = b" \t"
_REPLACES = (b"\r\nReplaces:", b"\r\nreplaces:", b"\r\nREPLACES:")
_NOTHING_MOVED: Mapping[bytes, int] = {}


def _head_end(data: bytes) -> int:
    end = data.find(b"\r\n\r\n")
    return len(data) if end < 0 else end


def _first_value(data: bytes, names: tuple[bytes, ...], end: int) -> bytes | None:
    """The trimmed value of the first header found under one of these exact spellings
    (each ``CRLF name:``) before ``end``; None when there is none or it is empty."""
    for name in names:
        at = data.find(name, 0, end)
        if at >= 0:
            start = at + len(name)
            stop = data.find(b"\r\n", start, end + 2)
            value = data[start : stop if stop >= 0 else end].strip(_TRIM)
            if value:
                return value
    return None


def call_id_of(data: bytes) -> bytes | None:
    """The Call-ID header value of a raw SIP message (whitespace trimmed), None without one."""
    end = _head_end(data)
    return _first_value(data, _FAST, end) or _slow_call_id(data[:end])


def _slow_call_id(head: bytes) -> bytes | None:
    """Any case and spacing (``CALL-ID :``), line by line."""
    for line in head.split(b"\r\n")[1:]:
        name, colon, value = line.partition(b":")
        if colon and name.strip(_TRIM).lower() in _NAMES:
            value = value.strip(_TRIM)
            if value:
                return value
    return None


def replaced_call_id(data: bytes) -> bytes | None:
    """The Call-ID an INVITE's Replaces header names (RFC 3891 §6.1), None without one."""
    if not data.startswith(b"INVITE "):
        return None
    value = _first_value(data, _REPLACES, _head_end(data))
    return None if value is None else value.partition(b";")[0].strip(_TRIM) or None


def hashed_owner(call_id: bytes, workers: int) -> int:
    """The worker a Call-ID hashes to."""
    return zlib.crc32(call_id) % workers if workers > 1 else 0


def steer(data: bytes, workers: int, moved: Mapping[bytes, int]) -> tuple[int, bytes | None]:
    """The worker (0..workers-1) a raw message belongs to, given the Call-IDs ``moved`` to
    another worker than their hash's; and the Call-ID to record as moved when the message is
    an INVITE with Replaces joining a call held elsewhere (else None). A message without a
    Call-ID belongs to the first worker (it answers what cannot be parsed)."""
    if workers <= 1:
        return 0, None
    call_id = call_id_of(data)
    if call_id is None:
        return 0, None
    if moved:
        found = moved.get(call_id)
        if found is not None:
            return found, None
    own = hashed_owner(call_id, workers)
    replaced = replaced_call_id(data)
    if replaced is None:
        return own, None
    target = moved.get(replaced) if moved else None
    if target is None:
        target = hashed_owner(replaced, workers)
    return target, (None if target == own else call_id)


def owner(data: bytes, workers: int) -> int:
    """The worker a raw message belongs to when no Call-ID has moved."""
    return steer(data, workers, _NOTHING_MOVED)[0]


def call_id_owner(call_id: str, workers: int) -> int:
    """The worker a Call-ID belongs to."""
    return hashed_owner(call_id.encode(), workers)


def owned_call_id(make: Callable[[], str], index: int, workers: int) -> str:
    """A fresh Call-ID from ``make`` that belongs to worker ``index`` (``workers`` draws on
    average)."""
    while True:
        value = make()
        if call_id_owner(value, workers) == index:
            return value
