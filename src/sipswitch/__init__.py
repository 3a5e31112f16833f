"""sipswitch: a SIP switch service (registrar, B2BUA, dialplans, transfers, call flows, CDRs)."""

__version__ = "0.1.0"
