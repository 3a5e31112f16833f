"""The implicit subscription a REFER creates (RFC 3515 §2.4.4-2.4.5; RFC 4488 Refer-Sub).

NOTIFYs carry ``Event: refer`` and a ``message/sipfrag`` Status-Line of the referred call;
the first is ``100 Trying`` (active), the last the final status (terminated). With
``Refer-Sub: false`` no NOTIFY is sent at all.
"""

from __future__ import annotations

from dataclasses import dataclass

from sipswitch.services.calls.client_leg import ClientLeg
from sipswitch.services.calls.server_leg import ServerLeg
from sipswitch.sip.sipfrag import SIPFRAG_CONTENT_TYPE, build_sipfrag

#: how long the implicit subscription lasts unless a final NOTIFY ends it first
SUBSCRIPTION_SECONDS = 60


@dataclass
class ReferNotifier:
    """Sends the progress of a referred call to the referrer, inside the REFER's dialog."""

    leg: ServerLeg | ClientLeg
    enabled: bool = True
    event: str = "refer"
    last: int | None = None
    done: bool = False

    def progress(self, status: int, reason: str | None = None) -> None:
        """A provisional status (100, 180, 183): each sent once, while the subscription lasts."""
        if status == self.last or status >= 200:
            return
        self._send(status, reason, f"active;expires={SUBSCRIPTION_SECONDS}")

    def final(self, status: int, reason: str | None = None) -> None:
        """The referred call's final status; ends the subscription (RFC 3515 §2.4.7)."""
        self._send(status, reason, "terminated;reason=noresource")
        self.done = True

    def _send(self, status: int, reason: str | None, state: str) -> None:
        if not self.enabled or self.done or self.leg.ended or self.leg.dialog is None:
            return
        self.last = status
        self.leg.request(
            "NOTIFY",
            body=build_sipfrag(status, reason),
            headers=[
                ("Event", self.event),
                ("Subscription-State", state),
                ("Content-Type", SIPFRAG_CONTENT_TYPE),
            ],
        )
