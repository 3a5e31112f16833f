"""The worker mesh: Unix socket connections between the switch's worker processes.

With ``sip.workers = N`` every worker listens on the same UDP addresses (SO_REUSEPORT) and the
kernel spreads datagrams by source address; each message is then handed to the worker that owns
its Call-ID (:mod:`sipswitch.transport.steering`) through this mesh. The first worker alone
holds the stream (TCP/TLS/WS) connections: what the others send on them is relayed to it.
Binding changes are broadcast, so every worker can route to every phone.

A frame is one message on a Unix SOCK_SEQPACKET connection: a kind byte, then the kind's body.
Frames to a worker that is gone or too busy are dropped and counted; SIP's retransmissions cover
a lost message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
import shutil
import socket
import struct
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sipswitch.transport.base import Flow, Target, TransportSink
from sipswitch.transport.steering import steer

log = logging.getLogger(__name__)

PACKET = 0x50  # a received SIP message and the flow it came on, for its owner
RELAY = 0x53  # a message for the first worker to send on a stream connection
READY = 0x52  # a worker has bound its listeners (body: its index)
GO = 0x47  # start reading: every worker is ready
BINDINGS = 0x42  # a change of an AOR's bindings (pickled)
AUTH_FAILED = 0x46  # a failed digest attempt: (source ip, aor, time), pickled
CALL_COUNT = 0x43  # a customer's live calls in the sender: (sender, owner, count)
DIALPLAN_COUNT = 0x44  # a customer's running dialplans in the sender: (sender, owner, count)
EVENT = 0x45  # a console event for the first worker's subscribers, pickled
INTEREST = 0x49  # who subscribes on the first worker (EventBus.interest()), pickled
MOVED = 0x4D  # a Call-ID held by another worker than its hash says: (worker byte, call-id)
BUNDLE = 0x2A  # frames posted in one loop iteration: (kind, length: 4 bytes, body) each
ASK = 0x41  # a question for another worker (MeshCalls): (id, asker, name, args), pickled
ANSWER = 0x61  # one chunk of its answer: (id, chunk index, chunks, ok, bytes), pickled

#: send and receive buffers of each mesh connection (capped by net.core.wmem_max/rmem_max)
_BUFFER = 4 * 1024 * 1024
#: frames read per readiness callback
_BATCH = 64
#: the most bytes of posted frames bundled into one
_BUNDLE_BYTES = 200_000
_PART = struct.Struct("!BI")
_MAX_FRAME = 262_144
_NO_ID = "-"
#: Call-IDs remembered as moved to another worker (each an attended transfer)
MOVED_KEPT = 100_000

Handler = Callable[[bytes], None]


@dataclass(frozen=True, slots=True)
class WorkerRole:
    """Which worker this process is, of how many; where the mesh lives; the shared secret
    (nonces, loop detection) so that any worker accepts what another made."""

    index: int = 0
    count: int = 1
    mesh: str = ""
    secret: bytes = b""

    @property
    def primary(self) -> bool:
        """The first worker: stream connections, provider registrations, HTTP, expiry events."""
        return self.index == 0

    @property
    def steered(self) -> bool:
        return self.count > 1


def make_mesh_directory() -> str:
    """A private (0700) directory for the mesh sockets."""
    return tempfile.mkdtemp(prefix="sipswitch-mesh-")


def remove_mesh_directory(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)


class WorkerMesh:
    """This worker's mesh sockets: frames out to any worker, frames in to the kind's handler.

    Each worker listens on ``<mesh>/<index>.sock`` (SOCK_SEQPACKET: message boundaries kept) and
    connects to the others when it first sends to them. Connected sockets are limited by their
    buffers only; unconnected Unix datagrams would be capped at ``net.unix.max_dgram_qlen``
    queued frames (10 on Debian), far too few for a busy switch.
    """

    def __init__(self, role: WorkerRole) -> None:
        self.role = role
        self.dropped = 0
        self._handlers: dict[int, Handler] = {}
        self._listener: socket.socket | None = None
        self._inbound: dict[int, socket.socket] = {}
        self._outbound: dict[int, socket.socket] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._paths = [os.path.join(role.mesh, f"{k}.sock") for k in range(role.count)]
        #: one read buffer, reused (a frame is copied out of it once)
        self._buffer = bytearray(_MAX_FRAME)
        self._view = memoryview(self._buffer)
        self._posted: dict[int, list[bytes]] = {}
        self._posted_bytes: dict[int, int] = {}
        self._flush_due = False
        self.on(BUNDLE, self._on_bundle)

    def on(self, kind: int, handler: Handler) -> None:
        """Call ``handler(body)`` for each frame of ``kind`` received."""
        self._handlers[kind] = handler

    def open(self) -> None:
        """Listen (replacing the socket file a dead predecessor left) and start accepting."""
        path = self._paths[self.role.index]
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            sock.setblocking(False)
            sock.bind(path)
            sock.listen(64)
        except BaseException:
            sock.close()
            raise
        self._listener = sock
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(sock.fileno(), self._on_accept)

    def close(self) -> None:
        listener, self._listener = self._listener, None
        if listener is None:
            return
        loop = self._loop
        for sock in (listener, *self._inbound.values()):
            if loop is not None:
                loop.remove_reader(sock.fileno())
            sock.close()
        for sock in self._outbound.values():
            sock.close()
        self._inbound.clear()
        self._outbound.clear()
        with contextlib.suppress(OSError):
            os.unlink(self._paths[self.role.index])

    # -- sending ----------------------------------------------------------------------------
    def send(self, worker: int, kind: int, body: bytes) -> bool:
        """Send one frame; False (counted in :attr:`dropped`) when it could not be."""
        frame = bytes((kind,)) + body
        for _ in range(2):  # a connection to a restarted worker is broken once: reconnect
            sock = self._outbound.get(worker) or self._connect(worker)
            if sock is None:
                break
            try:
                sock.send(frame)
            except BlockingIOError:  # its buffer is full: the worker is overloaded
                break
            except OSError as exc:
                log.debug("mesh: connection to worker %d: %s", worker, exc)
                self._outbound.pop(worker, None)
                sock.close()
                continue
            return True
        self.dropped += 1
        return False

    def _connect(self, worker: int) -> socket.socket | None:
        if self._listener is None:
            return None
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _BUFFER)
            sock.setblocking(False)
            sock.connect(self._paths[worker])
        except OSError as exc:  # not started yet, or gone
            log.debug("mesh: cannot reach worker %d: %s", worker, exc)
            sock.close()
            return None
        self._outbound[worker] = sock
        return sock

    def broadcast(self, kind: int, body: bytes) -> None:
        """Send to every other worker."""
        for worker in range(self.role.count):
            if worker != self.role.index:
                self.send(worker, kind, body)

    def post(self, worker: int, kind: int, body: bytes) -> None:
        """Send later in this loop iteration, bundled with the other frames posted to
        ``worker`` meanwhile: one system call each way for a burst, not one per frame."""
        if self._loop is None:  # not open: dropped and counted
            self.send(worker, kind, body)
            return
        posted = self._posted.get(worker)
        if posted is None:
            posted = self._posted[worker] = []
            self._posted_bytes[worker] = 0
        frame = _PART.pack(kind, len(body)) + body
        if self._posted_bytes[worker] + len(frame) > _BUNDLE_BYTES:
            self._flush_worker(worker)  # (empties ``posted``)
        posted.append(frame)
        self._posted_bytes[worker] += len(frame)
        if not self._flush_due:
            self._flush_due = True
            self._loop.call_soon(self._flush)

    def post_all(self, kind: int, body: bytes) -> None:
        """:meth:`post` to every other worker."""
        for worker in range(self.role.count):
            if worker != self.role.index:
                self.post(worker, kind, body)

    def _flush(self) -> None:
        self._flush_due = False
        for worker in list(self._posted):
            self._flush_worker(worker)
        self._posted.clear()
        self._posted_bytes.clear()

    def _flush_worker(self, worker: int) -> None:
        frames = self._posted.get(worker)
        self._posted_bytes[worker] = 0
        if not frames:
            return
        if len(frames) == 1:  # alone: as an ordinary frame
            self.send(worker, frames[0][0], frames[0][_PART.size :])
        else:
            self.send(worker, BUNDLE, b"".join(frames))
        frames.clear()

    def _on_bundle(self, body: bytes) -> None:
        handlers = self._handlers
        at, end = 0, len(body)
        while at + _PART.size <= end:
            kind, size = _PART.unpack_from(body, at)
            at += _PART.size
            handler = handlers.get(kind)
            if handler is not None:
                try:
                    handler(body[at : at + size])
                except Exception:
                    log.exception("mesh: frame kind %r failed", chr(kind))
            at += size

    # -- receiving --------------------------------------------------------------------------
    def _on_accept(self) -> None:
        listener, loop = self._listener, self._loop
        if listener is None or loop is None:
            return
        while True:
            try:
                sock, _ = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.debug("mesh: accept: %s", exc)
                return
            sock.setblocking(False)
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _BUFFER)
            fd = sock.fileno()
            self._inbound[fd] = sock
            loop.add_reader(fd, self._on_readable, fd)

    def _on_readable(self, fd: int) -> None:
        sock = self._inbound.get(fd)
        if sock is None:
            return
        handlers = self._handlers
        buffer, view = self._buffer, self._view
        for _ in range(_BATCH):
            try:
                size = sock.recv_into(buffer)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.debug("mesh: recv: %s", exc)
                size = 0
            if size == 0:  # the sender is gone
                self._drop_inbound(fd)
                return
            handler = handlers.get(buffer[0])
            if handler is None:
                continue
            try:
                handler(bytes(view[1:size]))
            except Exception:
                log.exception("mesh: frame kind %r failed", chr(buffer[0]))

    def _drop_inbound(self, fd: int) -> None:
        sock = self._inbound.pop(fd, None)
        if sock is not None:
            if self._loop is not None:
                self._loop.remove_reader(fd)
            sock.close()


# -- flows and targets on the wire ----------------------------------------------------------


def encode_flow(flow: Flow) -> bytes:
    cid = _NO_ID if flow.connection_id is None else str(flow.connection_id)
    return (
        f"{flow.transport} {flow.remote[0]} {flow.remote[1]} "
        f"{flow.local[0]} {flow.local[1]} {cid}\n"
    ).encode()


def decode_flow(line: bytes) -> Flow:
    transport, rhost, rport, lhost, lport, cid = line.decode().rstrip("\n").split(" ")
    return Flow(
        transport,
        (rhost, int(rport)),
        (lhost, int(lport)),
        None if cid == _NO_ID else int(cid),
    )


def encode_destination(to: Flow | Target) -> bytes:
    if isinstance(to, Flow):
        return b"F" + encode_flow(to)
    name = to.server_name or _NO_ID
    return f"T{to.transport} {to.host} {to.port} {name}\n".encode()


def decode_destination(line: bytes) -> Flow | Target:
    if line[:1] == b"F":
        return decode_flow(line[1:])
    transport, host, port, name = line[1:].decode().rstrip("\n").split(" ")
    return Target(transport, host, int(port), None if name == _NO_ID else name)


def _split(body: bytes) -> tuple[bytes, bytes]:
    head, _, data = body.partition(b"\n")
    return head, data


class Steering:
    """The transports' sink when steered: a message owned here is delivered, one owned by
    another worker is handed to it with its flow.

    A message belongs to the worker its Call-ID hashes to, except a dialog that joined a call
    held elsewhere: an INVITE with Replaces goes to the worker of the replaced dialog, and its
    Call-ID is recorded as moved there, in every worker (the table keeps the latest
    :data:`MOVED_KEPT`).
    """

    def __init__(self, mesh: WorkerMesh, deliver: TransportSink) -> None:
        self.mesh = mesh
        self.deliver = deliver
        self.index = mesh.role.index
        self.count = mesh.role.count
        self.moved: dict[bytes, int] = {}
        mesh.on(PACKET, self._from_mesh)
        mesh.on(MOVED, self._on_moved)

    def receive(self, data: bytes, flow: Flow) -> None:
        target, moved = steer(data, self.count, self.moved)
        if moved is not None:
            self._remember(moved, target)
            self.mesh.broadcast(MOVED, bytes((target,)) + moved)
        if target == self.index:
            self.deliver(data, flow)
        else:
            self.mesh.post(target, PACKET, encode_flow(flow) + data)

    def _from_mesh(self, body: bytes) -> None:
        head, data = _split(body)
        self.deliver(data, decode_flow(head))

    def _on_moved(self, body: bytes) -> None:
        self._remember(body[1:], body[0])

    def _remember(self, call_id: bytes, worker: int) -> None:
        moved = self.moved
        moved.pop(call_id, None)
        moved[call_id] = worker
        if len(moved) > MOVED_KEPT:
            del moved[next(iter(moved))]


class StreamRelay:
    """Stream sends of a worker that holds no connections go to the first worker, which
    sends them (:meth:`serve` there)."""

    def __init__(self, mesh: WorkerMesh) -> None:
        self.mesh = mesh

    def relay(self, data: bytes, to: Flow | Target) -> None:
        self.mesh.post(0, RELAY, encode_destination(to) + data)

    def serve(self, send: Callable[[bytes, Flow | Target], None]) -> None:
        """On the first worker: send what the others relay."""

        def on_relay(body: bytes) -> None:
            head, data = _split(body)
            send(data, decode_destination(head))

        self.mesh.on(RELAY, on_relay)


#: answer bytes per frame (a frame must fit the receiver's read size)
_CHUNK = 200_000


class MeshCalls:
    """Questions to another worker and its answers (the first worker's admin API asks the
    others for their calls). Arguments and results are pickled; a long answer is chunked."""

    def __init__(self, mesh: WorkerMesh) -> None:
        self.mesh = mesh
        self._next = 0
        self._waiting: dict[int, tuple[asyncio.Future[object], list[bytes]]] = {}
        self._handlers: dict[str, Callable[..., Awaitable[object]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        mesh.on(ASK, self._on_ask)
        mesh.on(ANSWER, self._on_answer)

    def serve(self, name: str, handler: Callable[..., Awaitable[object]]) -> None:
        self._handlers[name] = handler

    async def ask(self, worker: int, name: str, *args: object, timeout: float) -> object:
        """``name(*args)`` run by ``worker``. ConnectionError when it cannot be reached,
        TimeoutError without an answer in time, RuntimeError when it failed there."""
        self._next += 1
        key = self._next
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self._waiting[key] = (future, [])
        try:
            body = pickle.dumps((key, self.mesh.role.index, name, args))
            if not self.mesh.send(worker, ASK, body):
                raise ConnectionError(f"worker {worker} cannot be reached")
            return await asyncio.wait_for(future, timeout)
        finally:
            self._waiting.pop(key, None)

    def _on_ask(self, body: bytes) -> None:
        key, asker, name, args = pickle.loads(body)
        task = asyncio.get_running_loop().create_task(self._answer(key, asker, name, args))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, key: int, asker: int, name: str, args: tuple[object, ...]) -> None:
        handler = self._handlers.get(name)
        ok: bool = False
        result: object = f"no {name!r} here"
        if handler is not None:
            try:
                ok, result = True, await handler(*args)
            except Exception as exc:
                ok, result = False, f"{type(exc).__name__}: {exc}"
        data = pickle.dumps(result)
        chunks = [data[i : i + _CHUNK] for i in range(0, len(data), _CHUNK)] or [b""]
        for n, chunk in enumerate(chunks):
            self.mesh.send(asker, ANSWER, pickle.dumps((key, n, len(chunks), ok, chunk)))

    def _on_answer(self, body: bytes) -> None:
        key, n, total, ok, chunk = pickle.loads(body)
        waiting = self._waiting.get(key)
        if waiting is None:
            return  # given up on
        future, parts = waiting
        if n != len(parts):  # a chunk was lost: the asker times out
            return
        parts.append(chunk)
        if len(parts) < total or future.done():
            return
        result = pickle.loads(b"".join(parts))
        if ok:
            future.set_result(result)
        else:
            future.set_exception(RuntimeError(str(result)))


_COUNT = struct.Struct("!Hqq")
_CLEARED = -1


class SharedCounts:
    """Counts per key (a customer id) summed over the workers, for per-customer caps: this
    worker's exactly, the others' as they last told (a frame per change). A worker that
    (re)starts tells the others to forget what its predecessor had counted."""

    def __init__(self) -> None:
        self._mine: dict[int, int] = {}
        self._theirs: dict[int, dict[int, int]] = {}
        self._mesh: WorkerMesh | None = None
        self._kind = 0

    def __getitem__(self, key: int) -> int:
        total = self._mine.get(key, 0)
        for counts in self._theirs.values():
            total += counts.get(key, 0)
        return total

    def add(self, key: int, delta: int) -> None:
        value = self._mine.get(key, 0) + delta
        if value > 0:
            self._mine[key] = value
        else:
            self._mine.pop(key, None)
            value = 0
        if self._mesh is not None:
            self._mesh.broadcast(self._kind, _COUNT.pack(self._mesh.role.index, key, value))

    def join(self, mesh: WorkerMesh, kind: int) -> None:
        """Share through ``mesh`` as frames of ``kind``; clear our predecessor's counts."""
        self._mesh, self._kind = mesh, kind
        mesh.on(kind, self._heard)
        mesh.broadcast(kind, _COUNT.pack(mesh.role.index, 0, _CLEARED))

    def _heard(self, body: bytes) -> None:
        worker, key, value = _COUNT.unpack(body)
        if value == _CLEARED:  # a worker (re)started: it knows nothing of ours yet
            self._theirs.pop(worker, None)
            mesh = self._mesh
            if mesh is not None:
                for mine, count in self._mine.items():
                    mesh.send(worker, self._kind, _COUNT.pack(mesh.role.index, mine, count))
            return
        counts = self._theirs.setdefault(worker, {})
        if value > 0:
            counts[key] = value
        else:
            counts.pop(key, None)
