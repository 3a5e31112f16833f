"""Calls through a real switch: SIPp as caller and callees, a router chosen by each test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sipswitch.services.calls.client_leg import Destination
from sipswitch.services.calls.model import PlannedLeg
from sipswitch.services.calls.plumbing import Plumbing
from sipswitch.services.calls.service import CallService, Reject, Route
from sipswitch.services.calls.setup import leg_setup
from sipswitch.services.dispatch import IncomingRequest
from sipswitch.sip.digest import DigestClient
from sipswitch.sip.uri import SipUri, parse_sip_uri
from sipswitch.storage.cdrs import CallDetailRecord
from tests.server.conftest import RunningSwitch, switch  # noqa: F401 - fixture re-export
from tests.support.peers import sipp
from tests.support.sipclient import free_port

SCENARIOS = Path(__file__).parent / "scenarios"

#: the execution id every lab call carries (its CDRs are linked by it)
EXECUTION = "lab-execution"
#: a plan: groups of (uas port, options) — each entry one leg to a SIPp UAS on loopback
Plan = Sequence[Sequence[tuple[int, dict[str, float | bool]]]]


@dataclass
class CallLab:
    switch: RunningSwitch
    service: CallService
    cdrs: list[CallDetailRecord] = field(default_factory=list)
    plan: Plan = ()
    reject: Reject | None = None
    ring_timeout: float = 30.0

    @property
    def port(self) -> int:
        return self.switch.port

    async def route(self, incoming: IncomingRequest) -> Route | Reject | None:
        if self.reject is not None:
            return self.reject
        plan = self.plan

        async def expand(index: int) -> Sequence[PlannedLeg]:
            legs = []
            for uas_port, options in plan[index]:
                uri = parse_sip_uri(f"sip:service@127.0.0.1:{uas_port}")
                setup = leg_setup(incoming.request, uri)
                setup.resolve = _loopback_destination
                if options.get("auth"):
                    setup.credentials = DigestClient("acct1", "s3cret")
                legs.append(
                    PlannedLeg(
                        Destination(uri, ("udp", "127.0.0.1", uas_port)),
                        setup,
                        delay=float(options.get("dt", 0.0)),
                        duration_limit=float(options["cd"]) if "cd" in options else None,
                    )
                )
            return legs

        return Route(
            len(plan), expand, owner=1, ring_timeout=self.ring_timeout, execution_id=EXECUTION
        )


def _loopback_destination(uri: SipUri) -> Destination | None:
    """3xx targets: only loopback addresses are followed in tests."""
    if uri.host != "127.0.0.1" or uri.port is None:
        return None
    return Destination(uri, ("udp", uri.host, uri.port))


@pytest.fixture
async def lab(switch: RunningSwitch) -> AsyncIterator[CallLab]:  # noqa: F811
    app = switch.app
    plumbing = Plumbing(app.endpoint, app.clock, app.uac.local_contact_host)
    holder: list[CallLab] = []

    async def route(incoming: IncomingRequest) -> Route | Reject | None:
        return await holder[0].route(incoming)

    service = CallService(plumbing, app.dispatcher, route)
    lab = CallLab(switch, service)
    service.cdr_sink = lab.cdrs.append
    holder.append(lab)
    yield lab
    await service.close()


@dataclass
class Sipp:
    proc: asyncio.subprocess.Process
    port: int
    log: Path

    async def wait(self, timeout: float = 30.0) -> tuple[int, str]:
        out, _ = await asyncio.wait_for(self.proc.communicate(), timeout)
        return self.proc.returncode or 0, out.decode(errors="replace")


async def start_sipp(tmp_path: Path, name: str, *args: str, port: int | None = None) -> Sipp:
    port = port or free_port()
    log = tmp_path / f"{name}.err"
    proc = await asyncio.create_subprocess_exec(
        sipp(), *args, "-i", "127.0.0.1", "-p", str(port), "-nostdin",
        "-trace_err", "-error_file", str(log), "-trace_msg", "-message_file",
        str(tmp_path / f"{name}.msg"), "-timeout", "25s", "-timeout_error",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    return Sipp(proc, port, log)


def uas_args(scenario: str | None = None, calls: int = 1) -> list[str]:
    base = ["-sf", str(SCENARIOS / scenario)] if scenario else ["-sn", "uas"]
    return [*base, "-m", str(calls)]


Factory = Callable[..., Sipp]
