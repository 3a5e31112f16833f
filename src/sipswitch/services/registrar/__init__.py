"""The registrar (RFC 3261 §10): REGISTER with digest, expiry policy, bindings, the cap."""

from sipswitch.services.registrar.accounts import AccountAuth, AccountDirectory
from sipswitch.services.registrar.policy import ExpiryPolicy, Plan, Registration, Rejected, plan
from sipswitch.services.registrar.service import Registrar
from sipswitch.services.registrar.wiring import RegistrationServices

__all__ = [
    "AccountAuth",
    "AccountDirectory",
    "ExpiryPolicy",
    "Plan",
    "Registrar",
    "Registration",
    "RegistrationServices",
    "Rejected",
    "plan",
]
