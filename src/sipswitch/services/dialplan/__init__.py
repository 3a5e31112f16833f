"""Dialplans: the pure decision layer (dial strings, variables, patterns, rule dialplans).

Everything here is values and functions: no I/O, no clock (time comes in as a ``datetime``).
The script sandbox lives in :mod:`.sandbox`.

- :func:`parse_dial_string` / :func:`expand_dial_string` turn SIPSorcery dial strings into a
  :class:`DialPlan` of :class:`Group` s of :class:`LegSpec` s (target + :class:`DialOptions`).
- :func:`substitute` replaces ``${dst}``-style variables from a :class:`CallContext`, as data.
- :func:`compile_pattern` and :class:`TimeWindow` are the rule matchers.
- :func:`validate_rules` turns a JSON rule document into a :class:`RuleSet` whose
  :meth:`RuleSet.evaluate` gives a :class:`Decision` (or None → 404).
"""

from sipswitch.services.dialplan.dialstring import (
    FLOW_ALIAS,
    LOCAL_ALIAS,
    MAX_LEGS,
    DialOptions,
    DialPlan,
    FlowTarget,
    Group,
    LegSpec,
    LocalTarget,
    ProviderTarget,
    RedirectMode,
    Target,
    TransferMode,
    UriTarget,
    expand_dial_string,
    parse_dial_string,
)
from sipswitch.services.dialplan.patterns import (
    Pattern,
    PatternError,
    PatternType,
    TimeWindow,
    compile_pattern,
)
from sipswitch.services.dialplan.rules import (
    Command,
    Decision,
    DialCommand,
    Direction,
    FlowCommand,
    RejectCommand,
    Rule,
    RuleError,
    RuleSet,
    ScriptCommand,
    validate_rules,
)
from sipswitch.services.dialplan.variables import (
    VARIABLES,
    CallContext,
    DialStringError,
    substitute,
    template_variables,
)

__all__ = [
    "FLOW_ALIAS",
    "LOCAL_ALIAS",
    "MAX_LEGS",
    "VARIABLES",
    "CallContext",
    "Command",
    "Decision",
    "DialCommand",
    "DialOptions",
    "DialPlan",
    "DialStringError",
    "Direction",
    "FlowCommand",
    "FlowTarget",
    "Group",
    "LegSpec",
    "LocalTarget",
    "Pattern",
    "PatternError",
    "PatternType",
    "ProviderTarget",
    "RedirectMode",
    "RejectCommand",
    "Rule",
    "RuleError",
    "RuleSet",
    "ScriptCommand",
    "Target",
    "TimeWindow",
    "TransferMode",
    "UriTarget",
    "compile_pattern",
    "expand_dial_string",
    "parse_dial_string",
    "substitute",
    "template_variables",
    "validate_rules",
]
