"""Real softphones against a real switch: a headless baresip harness.

Each phone is one ``baresip`` process with its own config directory under ``tmp_path``:
SIP on a free loopback port (UDP and TCP), the ``account`` app for its one account (outbound
proxy = the switch, ``answermode=auto``), ``aufile`` as audio source playing a tone WAV
generated here (no sound card), ``g711`` as the codec, ``sndfile`` dumping the audio it
decodes to ``dump-*-dec.wav`` (what the phone really received), ``menu`` for the commands, and
``ctrl_tcp`` to drive it: netstring-framed JSON commands in, responses and events out (events
carry ``CALL_ESTABLISHED``, ``CALL_CLOSED`` and ``CALL_RTCP`` with the RTP packet counts).

Learned from baresip 1.0.0 (Debian): ``net_interface lo`` fails ("could not get network
address") but ``net_interface 127.0.0.1`` works and keeps the media on loopback; the ``stdio``
module cannot run with stdin on /dev/null (epoll refuses it) and is not needed; ``ausine`` only
produces 48 kHz and fails for an 8 kHz codec, hence the WAV; there is no ``aufile`` player in
this version, so nothing plays and ``sndfile`` records. Registration starts right after the
``account`` app loads (no ``menu`` needed for that).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import shutil
import struct
import wave
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.registrar.conftest import start_switch
from tests.registrar.support import PASSWORD, provision
from tests.server.conftest import RunningSwitch
from tests.support.sipclient import free_port

MODULES = Path("/usr/lib/baresip/modules")
DOMAIN = "sipswitch.local"
RATE = 8000
#: the switch's defaults: baresip 1.0 (libre 1.x) fails a 401 carrying any non-MD5 challenge,
#: so the registrar offers MD5 alone to its User-Agent (registrar.md5_only_user_agents)
EXTRA = {"SIPSWITCH_SECURITY_FLOOD_REQUESTS": "100000"}

Event = dict[str, Any]


def baresip() -> str:
    path = shutil.which("baresip")
    if path is None or not (MODULES / "ctrl_tcp.so").exists():
        pytest.skip("baresip is not installed (Debian package baresip)")
    return path


def write_tone(path: Path, hz: float, seconds: float) -> None:
    """A mono 16-bit 8 kHz sine WAV (the phone's microphone)."""
    frames = b"".join(
        struct.pack("<h", int(9000 * math.sin(2 * math.pi * hz * i / RATE)))
        for i in range(int(RATE * seconds))
    )
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(frames)


def read_samples(path: Path) -> list[int]:
    """The 16-bit samples of a WAV baresip's ``sndfile`` wrote (sized by the file when the
    header was not finalised)."""
    data = path.read_bytes()
    start = data.find(b"data")
    if start < 0:
        return []
    body = data[start + 8 :]
    body = body[: len(body) - len(body) % 2]
    return list(struct.unpack(f"<{len(body) // 2}h", body))


def tone_power(samples: list[int], hz: float) -> float:
    """Goertzel: the relative power of ``hz`` in ``samples`` (8 kHz), normalised by energy."""
    if not samples:
        return 0.0
    coeff = 2 * math.cos(2 * math.pi * hz / RATE)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + coeff * s1 - s2, s1
    power = s1 * s1 + s2 * s2 - coeff * s1 * s2
    energy = sum(x * x for x in samples)
    return power / (energy * len(samples) / 2) if energy else 0.0


@dataclass
class Phone:
    """One running baresip, driven over ``ctrl_tcp``."""

    name: str
    directory: Path
    sip_port: int
    proc: asyncio.subprocess.Process
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    events: list[Event] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _responses: asyncio.Queue[Event] = field(default_factory=asyncio.Queue)
    _pump: asyncio.Task[None] | None = None

    @property
    def log(self) -> str:
        path = self.directory / "log"
        return path.read_text(errors="replace") if path.exists() else ""

    async def connect(self, port: int, timeout: float = 5.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                self.reader, self.writer = await asyncio.open_connection("127.0.0.1", port)
                break
            except OSError as error:
                if loop.time() > deadline or self.proc.returncode is not None:
                    message = f"{self.name}: ctrl_tcp never came up\n{self.log}"
                    raise AssertionError(message) from error
                await asyncio.sleep(0.05)
        self._pump = asyncio.create_task(self._read_all())

    async def _read_all(self) -> None:
        assert self.reader is not None
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError, ValueError):
            while True:
                length = await self.reader.readuntil(b":")
                body = await self.reader.readexactly(int(length[:-1]))
                await self.reader.readexactly(1)  # the netstring's ","
                message = json.loads(body)
                if message.get("response"):
                    self._responses.put_nowait(message)
                else:
                    self.events.append(message)
                    self._changed.set()

    async def command(self, command: str, params: str = "", timeout: float = 5.0) -> Event:
        """Run a menu command; its response (``ok``, ``data``)."""
        assert self.writer is not None
        body = json.dumps({"command": command, "params": params, "token": command}).encode()
        self.writer.write(b"%d:%s," % (len(body), body))
        await self.writer.drain()
        return await asyncio.wait_for(self._responses.get(), timeout)

    async def wait_event(
        self, kind: str, check: Callable[[Event], bool] = lambda _: True, timeout: float = 10.0
    ) -> Event:
        """The first event of ``kind`` passing ``check`` (already seen or still to come)."""

        async def find() -> Event:
            while True:
                for event in self.events:
                    if event.get("type") == kind and check(event):
                        return event
                self._changed.clear()
                await self._changed.wait()

        try:
            return await asyncio.wait_for(find(), timeout)
        except TimeoutError:
            seen = [e.get("type") for e in self.events]
            message = f"{self.name}: no {kind} (events {seen})\n{self.log[-3000:]}"
            raise AssertionError(message) from None

    def received_audio(self) -> list[int]:
        """Every sample this phone decoded from RTP (the ``sndfile`` decode dump)."""
        dumps = sorted(self.directory.glob("dump-*-dec.wav"))
        assert dumps, f"{self.name}: no decode dump\n{self.log[-2000:]}"
        return [s for dump in dumps for s in read_samples(dump)]

    async def stop(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
        if self.writer is not None:
            self.writer.close()
        if self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 3)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


StartPhone = Callable[..., Awaitable[Phone]]


def account_line(user: str, switch_port: int, transport: str) -> str:
    """The account: registered through the switch as outbound proxy, answering by itself."""
    proxy = f"sip:127.0.0.1:{switch_port};transport={transport}"
    return (
        f"<sip:{user}@{DOMAIN};transport={transport}>;auth_pass={PASSWORD};"
        f'outbound="{proxy}";regint=600;answermode=auto'
    )


@pytest.fixture
async def phones(tmp_path: Path) -> AsyncIterator[StartPhone]:
    """Start baresip phones; every one is stopped at teardown, whatever the outcome."""
    binary = baresip()
    started: list[Phone] = []

    async def start(name: str, account: str, tone_hz: float = 440.0) -> Phone:
        directory = tmp_path / name
        directory.mkdir()
        sip_port, ctrl_port = free_port(), free_port()
        tone = directory / "tone.wav"
        write_tone(tone, tone_hz, 20.0)
        (directory / "config").write_text(
            "\n".join(
                [
                    "poll_method epoll",
                    f"sip_listen 127.0.0.1:{sip_port}",
                    "net_interface 127.0.0.1",
                    f"module_path {MODULES}",
                    "module g711.so",
                    "module aufile.so",
                    "module sndfile.so",
                    f"snd_path {directory}",
                    f"audio_source aufile,{tone}",
                    "audio_alert aufile,/dev/null",
                    "module_app account.so",
                    "module_app menu.so",
                    "module_app ctrl_tcp.so",
                    f"ctrl_tcp_listen 127.0.0.1:{ctrl_port}",
                    "",
                ]
            )
        )
        (directory / "accounts").write_text(account + "\n")
        (directory / "contacts").write_text("")
        with (directory / "log").open("wb") as log:
            proc = await asyncio.create_subprocess_exec(
                binary, "-f", str(directory), "-v", "-s", "-t", "60",
                stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
        phone = Phone(name, directory, sip_port, proc)
        started.append(phone)
        await phone.connect(ctrl_port)
        return phone

    try:
        yield start
    finally:
        for phone in started:
            await phone.stop()


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[RunningSwitch]:
    """A switch with accounts 101 and 102 of ``sipswitch.local`` (password ``secret-101``)."""
    running = await start_switch(tmp_path, EXTRA)
    try:
        await provision(running.app, ["101", "102"])
        yield running
    finally:
        for client in running.clients:
            client.close()
        await running.app.close()


async def registered(switch: RunningSwitch, phone: Phone, user: str, timeout: float = 5.0) -> None:
    """Wait until the switch holds ``phone``'s binding for ``user``."""
    aor = f"{user}@{DOMAIN}"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    contact = f"@127.0.0.1:{phone.sip_port}"  # a TCP phone's source port is ephemeral
    while not any(contact in b.uri for b in switch.app.registration.location.lookup(aor)):
        if loop.time() > deadline:
            raise AssertionError(f"{phone.name} did not register as {aor}\n{phone.log[-4000:]}")
        await asyncio.sleep(0.05)
