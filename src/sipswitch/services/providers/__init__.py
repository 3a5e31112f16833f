"""Upstream SIP providers: our registrations to them and the attribution of calls they send."""

from sipswitch.services.providers.agent import ProviderRegistrationAgent
from sipswitch.services.providers.contact import contact_token
from sipswitch.services.providers.core import (
    Phase,
    RegistrationCore,
    RegistrationPolicy,
    Snapshot,
)
from sipswitch.services.providers.directory import MatchRule, ProviderDirectory, ProviderMatch

__all__ = [
    "MatchRule",
    "Phase",
    "ProviderDirectory",
    "ProviderMatch",
    "ProviderRegistrationAgent",
    "RegistrationCore",
    "RegistrationPolicy",
    "Snapshot",
    "contact_token",
]
