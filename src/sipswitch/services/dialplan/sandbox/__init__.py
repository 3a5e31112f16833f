"""Sandboxed execution of customers' dialplan scripts (RestrictedPython in worker processes).

Server side: `ScriptRunner.run(source, request_view, handler, limits) -> ScriptOutcome`, with
the server implementing `FacadeHandler`; `validate_script(source)` for saving a dialplan.
Worker side (`worker`, `facade`, `guards`) never runs in the server process.
"""

from sipswitch.services.dialplan.sandbox.facade import NameAddrView, RequestView, UriView
from sipswitch.services.dialplan.sandbox.policy import (
    ALLOWED_MODULES,
    ScriptProblem,
    validate_script,
)
from sipswitch.services.dialplan.sandbox.pool import SandboxConfig
from sipswitch.services.dialplan.sandbox.rules import CORE_HEADERS, FacadeError
from sipswitch.services.dialplan.sandbox.runner import ScriptRunner
from sipswitch.services.dialplan.sandbox.types import (
    DialResult,
    DialStatus,
    Direction,
    FacadeHandler,
    OutcomeKind,
    ScriptContext,
    ScriptLimits,
    ScriptOutcome,
)

__all__ = [
    "ALLOWED_MODULES",
    "CORE_HEADERS",
    "DialResult",
    "DialStatus",
    "Direction",
    "FacadeError",
    "FacadeHandler",
    "NameAddrView",
    "OutcomeKind",
    "RequestView",
    "SandboxConfig",
    "ScriptContext",
    "ScriptLimits",
    "ScriptOutcome",
    "ScriptProblem",
    "ScriptRunner",
    "UriView",
    "validate_script",
]
