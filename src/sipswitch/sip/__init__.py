"""The pure SIP core (RFC 3261 and friends): no sockets, clocks or databases."""
