"""The switch itself: services that speak call control on top of the SIP endpoint."""
