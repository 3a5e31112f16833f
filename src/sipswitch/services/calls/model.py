"""What a call is made of: the legs a dial plan places, its owner's context, how a dial ended."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sipswitch.services.calls.cdr import CdrSink
from sipswitch.services.calls.client_leg import ClientLeg, Destination, LegSetup
from sipswitch.services.calls.server_leg import ServerLeg
from sipswitch.services.dispatch import IncomingRequest

if TYPE_CHECKING:
    from sipswitch.services.calls.call import Call


class DialOutcome(enum.StrEnum):
    """How one dial ended (the script facade maps these to SIPSorcery's names)."""

    ANSWERED = "answered"
    NO_ANSWER = "no-answer"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class PlannedLeg:
    """One leg ready to dial: where, what to say, and its dial-string options."""

    destination: Destination
    setup: LegSetup
    delay: float = 0.0
    duration_limit: float | None = None
    relay_183: bool = True
    mangle_sdp: bool = True
    transfer_mode: str = "n"


Expand = Callable[[int], Awaitable[Sequence[PlannedLeg]]]
#: one side of an answered call: a leg the switch answered or one it placed
Leg = ServerLeg | ClientLeg
#: REFER handling (the transfer service): the call, the REFER, and the leg it came from
ReferHook = Callable[["Call", IncomingRequest, Leg], None]
#: the answer to a REFER when no transfer service decides (RFC 3515 §2.4.2)
TRANSFERS_REFUSED = "Transfers are not allowed on this call"


@dataclass
class CallContext:
    """Who the call belongs to, for CDRs and limits."""

    owner: int | None = None
    execution_id: str | None = None
    ring_timeout: float = 60.0
    cdr_sink: CdrSink | None = None
    registry: Callable[[ClientLeg], None] | None = None  # the service indexes placed legs
    on_finished: Callable[[Call], None] | None = None
    domain: str = ""  # the account domain the call was routed for ("local" targets)
    on_refer: ReferHook | None = None
    #: a side of the bridge changed hands (old, new): the service re-indexes the legs
    on_swap: Callable[[Leg, Leg], None] | None = None
