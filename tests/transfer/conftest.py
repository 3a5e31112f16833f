"""Transfers through a real switch: SIPp as caller, referrer (the answering far end) and new
party; the answering leg's ``tr`` option and the owner's ``transfer`` dialplan chosen per test."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sipswitch.services.calls.call import Call
from sipswitch.services.calls.client_leg import Destination
from sipswitch.services.calls.model import PlannedLeg
from sipswitch.services.calls.plumbing import Plumbing
from sipswitch.services.calls.service import CallService, Reject, Route
from sipswitch.services.calls.setup import leg_setup
from sipswitch.services.dispatch import IncomingRequest
from sipswitch.services.transfer.service import TransferService
from sipswitch.sip.uri import SipUri, parse_sip_uri
from sipswitch.storage import Scope
from sipswitch.storage.cdrs import CallDetailRecord
from tests.registrar.support import DOMAIN, provision
from tests.server.conftest import RunningSwitch, switch  # noqa: F401 - fixture re-export
from tests.support.peers import sipp
from tests.support.sipclient import free_port

SCENARIOS = Path(__file__).parent / "scenarios"
CALL_SCENARIOS = Path(__file__).parent.parent / "calls" / "scenarios"
#: the new party listens here: 127.0.0.1 is one of the switch's own addresses
TARGET_IP = "127.0.0.2"


@dataclass
class TransferLab:
    switch: RunningSwitch
    service: CallService
    transfers: TransferService
    owner: int
    cdrs: list[CallDetailRecord] = field(default_factory=list)
    #: Request-URI user → the SIPp UAS that answers it
    targets: dict[str, int] = field(default_factory=dict)
    mode: str | None = None  # the answering leg's tr option (None: not given)

    @property
    def port(self) -> int:
        return self.switch.port

    async def route(self, incoming: IncomingRequest) -> Route | Reject | None:
        uri = incoming.request.uri
        user = uri.user if isinstance(uri, SipUri) else None
        port = self.targets.get(user or "")
        if port is None:
            return Reject(404)

        async def expand(_index: int) -> Sequence[PlannedLeg]:
            target = parse_sip_uri(f"sip:{user}@127.0.0.1:{port}")
            setup = leg_setup(incoming.request, target)
            destination = Destination(target, ("udp", "127.0.0.1", port))
            if self.mode is None:
                return [PlannedLeg(destination, setup)]
            return [PlannedLeg(destination, setup, transfer_mode=self.mode)]

        return Route(1, expand, owner=self.owner, ring_timeout=10.0, domain=DOMAIN)

    async def transfer_dialplan(self, target_port: int, ring_seconds: int | None = None) -> None:
        """The owner's ``transfer`` rules: numbers starting with 3 or + go to the new party."""
        command: dict[str, object] = {
            "type": "dial",
            "dial_string": f"${{dst}}@{TARGET_IP}:{target_port}",
        }
        if ring_seconds is not None:
            command["ring_seconds"] = ring_seconds
        rules = [
            {"direction": "out", "pattern_type": "regex", "pattern": r"^\+?[0-9]+$",
             "command": command},
        ]  # fmt: skip
        await self.switch.app.store.dialplans.create(
            Scope.system(), self.owner, "transfer", "rules", json.dumps(rules)
        )

    def answered_calls(self) -> list[Call]:
        return [c for c in self.service.calls if c.b is not None]

    async def settle(self, count: int, timeout: float = 5.0) -> list[CallDetailRecord]:
        """Wait until ``count`` CDRs are written."""
        async with asyncio.timeout(timeout):
            while len(self.cdrs) < count:
                await asyncio.sleep(0.02)
        return self.cdrs


@pytest.fixture
async def xlab(switch: RunningSwitch) -> AsyncIterator[TransferLab]:  # noqa: F811
    app = switch.app
    owner = await provision(app, [])
    plumbing = Plumbing(app.endpoint, app.clock, app.uac.local_contact_host)
    holder: list[TransferLab] = []

    async def route(incoming: IncomingRequest) -> Route | Reject | None:
        return await holder[0].route(incoming)

    service = CallService(plumbing, app.dispatcher, route)
    transfers = TransferService(service, app.dialplans, app.events)
    service.transfers = transfers.on_refer
    lab = TransferLab(switch, service, transfers, owner)
    service.cdr_sink = lab.cdrs.append
    holder.append(lab)
    yield lab
    await service.close()


@dataclass
class Sipp:
    proc: asyncio.subprocess.Process
    port: int
    name: str
    directory: Path

    async def wait(self, timeout: float = 15.0) -> str:
        """Wait for the scenario to end; it must pass."""
        out, _ = await asyncio.wait_for(self.proc.communicate(), timeout)
        text = out.decode(errors="replace")
        assert self.proc.returncode == 0, f"{self.name}: {text[-2000:]}\n{self.errors()[-3000:]}"
        return text

    def errors(self) -> str:
        path = self.directory / f"{self.name}.err"
        return path.read_text(errors="replace") if path.exists() else ""

    def messages(self) -> str:
        path = self.directory / f"{self.name}.msg"
        return path.read_text(errors="replace") if path.exists() else ""


async def start_sipp(
    tmp_path: Path, name: str, *args: str, ip: str = "127.0.0.1", seconds: int = 12
) -> Sipp:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sipp(), *args, "-i", ip, "-p", str(port), "-nostdin", "-m", "1",
        "-trace_err", "-error_file", str(tmp_path / f"{name}.err"),
        "-trace_msg", "-message_file", str(tmp_path / f"{name}.msg"),
        "-timeout", f"{seconds}s", "-timeout_error",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    return Sipp(proc, port, name, tmp_path)


def scenario(name: str) -> str:
    path = SCENARIOS / name
    return str(path if path.exists() else CALL_SCENARIOS / name)
