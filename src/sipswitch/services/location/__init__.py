"""Where an address-of-record is reachable now: in-memory bindings backed by storage.

The calls layer uses :meth:`LocationService.lookup` (``"user@domain"`` → live bindings, best
first); each binding's ``.uri`` is the Request-URI and ``.target`` the transport, address and
port to send to (``TransportManager.send`` / ``SipEndpoint.send_request``).
"""

from sipswitch.services.location.service import Binding, LocationService

__all__ = ["Binding", "LocationService"]
