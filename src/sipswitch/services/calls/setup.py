"""Building the outgoing side of a call from the caller's INVITE and a leg's options."""

from __future__ import annotations

from sipswitch.services.calls.client_leg import LegSetup
from sipswitch.sip.address import Address
from sipswitch.sip.message import Request
from sipswitch.sip.uri import SipUri


def leg_setup(
    invite: Request,
    to: SipUri,
    *,
    from_display: str | None = None,
    from_user: str | None = None,
    from_host: str | None = None,
) -> LegSetup:
    """The new leg keeps the caller's identity (unless the dial string overrides parts of it),
    carries the caller's SDP, and one hop less of Max-Forwards (loop protection, §16.6)."""
    caller = invite.from_
    uri = caller.uri
    if isinstance(uri, SipUri):
        uri = SipUri(
            from_host or uri.host,
            from_user if from_user is not None else uri.user,
            port=None if from_host else uri.port,
            scheme=uri.scheme,
        )
    display = from_display if from_display is not None else caller.display_name
    hops = invite.max_forwards
    return LegSetup(
        from_address=Address(uri, display),
        to_address=Address(to.without_params()),
        sdp=invite.body or None,
        max_forwards=69 if hops is None else max(hops - 1, 0),
    )
