"""sipswitch: a SIP switch service (registrar, B2BUA, dialplans, transfers, call flows, CDRs)."""

from sipswitch import native

__version__ = "0.1.0"
#: how the hot path runs: "compiled" (mypyc), "interpreted", or "stale" (sources newer: interpreted)
NATIVE = native.activate()
