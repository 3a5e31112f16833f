"""The decision core of one provider registration: when to send REGISTER, what an answer means.

Pure and clock-injected: every call takes ``now`` (monotonic seconds), randomness comes from an
injected ``random() -> [0, 1)``. The agent feeds it outcomes and performs the actions it asks.

The rules (RFC 3261 §10.2, and what a careful operator wants from a client):

============== ======================== ===========================================================
phase          input                    result
============== ======================== ===========================================================
WAITING        poll, now ≥ due          REGISTERING; action REGISTER(expiry)
REGISTERED     poll, now ≥ due          REGISTERING; action REGISTER(expiry) (the refresh)
REGISTERING    Registered(granted)      REGISTERED; due = now + max(granted, floor) − margin
REGISTERING    Rejected 403/404/604     DISABLED, with the reason (until the provider changes)
REGISTERING    Rejected 423             expiry raised to Min-Expires; WAITING, back-off
REGISTERING    Rejected other, NoAnswer WAITING, back-off (backoff + jitter, ≥ Retry-After)
REGISTERING    DnsFailure               WAITING, back-off; the Nth in a row → DISABLED
any live phase stop                     UNREGISTERING; action REGISTER(0) when a binding may
                                        exist (registered, or a REGISTER in flight)
UNREGISTERING  any outcome              STOPPED
============== ======================== ===========================================================

Whatever the schedule says, two REGISTERs (not counting the final un-REGISTER) are never less
than ``min_interval`` apart, so a provider answering errors at once is not flooded.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from sipswitch.storage.records import RegistrationStatus

#: final answers that stop the registration for good (until the provider is changed)
DISABLING_STATUSES = frozenset({403, 404, 604})
#: longest expiry we ever ask for, and the longest Retry-After we honour (seconds)
MAX_EXPIRY = 7 * 86400
MAX_RETRY_AFTER = 3600


@dataclass(frozen=True, slots=True)
class RegistrationPolicy:
    """The numbers (seconds) the core decides with; ``ProvidersSettings`` supplies them."""

    min_interval: float = 50.0
    refresh_margin: float = 5.0
    min_expiry: int = 60
    backoff: float = 300.0
    jitter: float = 60.0
    dns_failures_to_disable: int = 5


class Phase(enum.StrEnum):
    WAITING = "waiting"  # not registered; the next attempt is due at ``due``
    REGISTERING = "registering"  # a REGISTER is in flight
    REGISTERED = "registered"  # bound; the refresh is due at ``due``
    UNREGISTERING = "unregistering"  # the final REGISTER with Expires: 0 is in flight
    DISABLED = "disabled"  # stopped for good, ``last_error`` says why
    STOPPED = "stopped"


# -- outcomes of one attempt --------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Registered:
    """A 2xx; ``granted`` is the expiry the registrar gave our contact (seconds)."""

    granted: int


@dataclass(frozen=True, slots=True)
class Rejected:
    """A final non-2xx answer (after the one digest round the client does)."""

    status: int
    reason: str
    min_expires: int | None = None
    retry_after: int | None = None


@dataclass(frozen=True, slots=True)
class NoAnswer:
    """Every target timed out or failed at the transport."""

    reason: str


@dataclass(frozen=True, slots=True)
class DnsFailure:
    """The registrar's name did not resolve (RFC 3263)."""

    reason: str


Outcome = Registered | Rejected | NoAnswer | DnsFailure


@dataclass(frozen=True, slots=True)
class Send:
    """Send a REGISTER asking for ``expires`` seconds (0: remove our binding)."""

    expires: int

    @property
    def unregister(self) -> bool:
        return self.expires == 0


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What to record and show: status, last error, the next attempt (monotonic) if any."""

    status: RegistrationStatus
    last_error: str | None
    next_attempt: float | None


class RegistrationCore:
    """One provider registration's state machine (see the module table)."""

    def __init__(
        self,
        policy: RegistrationPolicy,
        *,
        expiry: int,
        now: float,
        random: Callable[[], float],
        last_attempt: float | None = None,
        not_before: float | None = None,
        disabled_reason: str | None = None,
    ) -> None:
        self.policy = policy
        self.expiry = min(max(expiry, policy.min_expiry), MAX_EXPIRY)
        self._random = random
        self.last_attempt = last_attempt
        self.last_error: str | None = None
        self.registered_until: float | None = None
        self.granted: int | None = None
        self.dns_failures = 0
        self.failures = 0
        self.phase = Phase.WAITING
        self.due: float | None = self._spaced(max(now, not_before or now))
        if disabled_reason is not None:
            self._disable(disabled_reason)

    # -- queries --------------------------------------------------------------------------------
    def _spaced(self, at: float) -> float:
        """``at``, pushed back to keep attempts ``min_interval`` apart."""
        if self.last_attempt is None:
            return at
        return max(at, self.last_attempt + self.policy.min_interval)

    def bound(self, now: float) -> bool:
        """Whether the provider may hold a binding of ours now."""
        if self.phase == Phase.REGISTERING:
            return True
        return self.registered_until is not None and self.registered_until > now

    def snapshot(self) -> Snapshot:
        if self.phase == Phase.DISABLED:
            return Snapshot(RegistrationStatus.DISABLED, self.last_error, None)
        if self.phase == Phase.REGISTERED:
            return Snapshot(RegistrationStatus.REGISTERED, None, self.due)
        if self.phase in (Phase.STOPPED, Phase.UNREGISTERING):
            return Snapshot(RegistrationStatus.PENDING, self.last_error, None)
        if self.last_error is None:
            return Snapshot(RegistrationStatus.PENDING, None, self.due)
        return Snapshot(RegistrationStatus.FAILED, self.last_error, self.due)

    # -- inputs ---------------------------------------------------------------------------------
    def poll(self, now: float) -> Send | None:
        """The action due at ``now``, if any (then a REGISTER is in flight until an outcome)."""
        if self.phase not in (Phase.WAITING, Phase.REGISTERED) or self.due is None:
            return None
        if now < self.due:
            return None
        self.phase = Phase.REGISTERING
        self.last_attempt = now
        return Send(self.expiry)

    def on_outcome(self, now: float, outcome: Outcome) -> None:
        """The answer to the REGISTER in flight."""
        if self.phase == Phase.UNREGISTERING:
            self.phase = Phase.STOPPED
            self.registered_until = None
            self.due = None
            return
        if self.phase != Phase.REGISTERING:
            return  # a late answer after stop or disable: nothing to decide
        if isinstance(outcome, DnsFailure):
            self.dns_failures += 1
            if self.dns_failures >= self.policy.dns_failures_to_disable:
                self._disable(
                    f"DNS: {outcome.reason} ({self.dns_failures} failures in a row); "
                    "registration disabled"
                )
                return
            self._back_off(now, f"DNS: {outcome.reason}")
            return
        self.dns_failures = 0
        if isinstance(outcome, Registered):
            granted = max(outcome.granted, self.policy.min_expiry)
            self.phase = Phase.REGISTERED
            self.granted = granted
            self.registered_until = now + granted
            self.last_error = None
            self.failures = 0
            self.due = self._spaced(now + granted - self.policy.refresh_margin)
        elif isinstance(outcome, NoAnswer):
            self._back_off(now, f"no answer: {outcome.reason}")
        else:
            self._rejected(now, outcome)

    def _rejected(self, now: float, outcome: Rejected) -> None:
        what = f"{outcome.status} {outcome.reason}".strip()
        if outcome.status in DISABLING_STATUSES:
            self._disable(f"{what}: the provider refused the registration; registration disabled")
            return
        if outcome.status == 423:
            wanted = outcome.min_expires
            if wanted is None or wanted <= self.expiry:
                wanted = self.expiry * 2
            self.expiry = min(wanted, MAX_EXPIRY)
            self._back_off(now, f"{what}: expiry raised to {self.expiry} s")
            return
        if outcome.status in (401, 407):
            self._back_off(now, f"{what}: authentication failed (check username and password)")
            return
        self._back_off(now, what, outcome.retry_after)

    def stop(self, now: float) -> Send | None:
        """Stop (shutdown, or registration turned off): REGISTER(0) if a binding may exist."""
        if self.phase in (Phase.STOPPED, Phase.UNREGISTERING):
            return None
        bound = self.bound(now) and self.phase != Phase.DISABLED
        self.due = None
        if not bound:
            self.phase = Phase.STOPPED
            return None
        self.phase = Phase.UNREGISTERING
        return Send(0)

    # -- transitions ----------------------------------------------------------------------------
    def _back_off(self, now: float, error: str, retry_after: int | None = None) -> None:
        delay = self.policy.backoff + self.policy.jitter * self._random()
        if retry_after is not None:
            delay = max(delay, float(min(retry_after, MAX_RETRY_AFTER)))
        self.phase = Phase.WAITING
        self.failures += 1
        self.last_error = error
        self.due = self._spaced(now + delay)

    def _disable(self, reason: str) -> None:
        self.phase = Phase.DISABLED
        self.last_error = reason
        self.due = None
