"""Exceptions for failures a user can act on.

Anything derived from :class:`PiFocusError` is an *expected* failure (wrong bus, camera down,
move refused for safety). Its message is written for the person who has to fix it; the command
line prints it as one line and the plugin shows it in the UI. Programming errors and bad API
arguments stay ordinary exceptions (``ValueError``, ``TypeError``).

The message is redacted when the exception is made (:func:`~octoprint_pifocus.redact.redact`):
it goes to every browser, so a camera URL quoted in it never carries its password.
"""
from .redact import redact


class PiFocusError(Exception):
    """An expected failure with a message that says what happened and what to do."""

    def __init__(self, *args) -> None:
        super().__init__(*(redact(arg) if isinstance(arg, str) else arg for arg in args))


class LensError(PiFocusError):
    """The focus hardware (I2C chip, V4L2 control, camera-streamer, printer) failed."""


class MoveRefused(LensError):
    """A move was refused before anything was sent, for safety (limits, a running print)."""


class CameraError(PiFocusError):
    """No usable frame could be had from the camera (down, timeout, not a JPEG...)."""
