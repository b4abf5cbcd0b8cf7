"""The refusals of a focus device that are nobody's mistake: HTTP 409, try again later.

They live apart from the device's parts because every part raises them (the lens slot when no
lens is usable, the job slot while another job or device holds the lens or Z) and the API
turns all of them into a 409 with the message as it stands.
"""
from __future__ import annotations

from ...errors import PiFocusError


class Conflict(PiFocusError):
    """The request is fine but cannot be done now (HTTP 409)."""


class Busy(Conflict):
    """Another lens operation (an autofocus, a held print's action) is running."""


class Unavailable(Conflict):
    """No usable lens: none configured, the simulation off, the hardware not found..."""


class ZBlocked(Conflict):
    """Printer-Z moves are not allowed now (printing, not homed, not connected)."""
