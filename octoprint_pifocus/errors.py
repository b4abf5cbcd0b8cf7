"""Exceptions for failures a user can act on.

Anything derived from :class:`PiFocusError` is an *expected* failure (wrong bus, camera down,
move refused for safety). Its message is written for the person who has to fix it; the command
line prints it as one line and the plugin shows it in the UI. Programming errors and bad API
arguments stay ordinary exceptions (``ValueError``, ``TypeError``).

A message has a code from :data:`~octoprint_pifocus.messages.CATALOGUE` and parameters, so
the plugin and the browser can show it in the user's language: ``LensError("i2c.no_buses",
dir="/dev")``, or ``LensError(Message(...))``. ``str(exc)`` is the English text (the logs and
the command line show it); ``exc.msg`` the :class:`~octoprint_pifocus.messages.Message`,
``exc.code`` and ``exc.params`` its parts. The plain form ``PiFocusError("English text")``
stays valid: such an error has code None, unless the text is that of a message made
recently (then it is that message again).

The message is redacted when the exception is made (:func:`~octoprint_pifocus.redact.redact`,
on every parameter and on plain text): it goes to every browser, so a camera URL quoted in it
never carries its password.
"""
from typing import Any, Dict, Optional

from .messages import CATALOGUE, Message, known, remember
from .redact import redact


class PiFocusError(Exception):
    """An expected failure with a message that says what happened and what to do."""

    def __init__(self, *args: Any, **params: Any) -> None:
        message: Optional[Message] = None
        if args and isinstance(args[0], Message) and not params:
            message = args[0]
        elif len(args) == 1 and isinstance(args[0], str) and args[0] in CATALOGUE:
            message = Message(args[0], **params)
        elif params:
            raise TypeError(f"parameters need a message code; {args[0]!r} is none" if args else
                            "parameters need a message code")
        elif len(args) == 1 and isinstance(args[0], str):
            message = known(redact(args[0]))
        self.msg: Optional[Message] = message
        if message is not None:
            super().__init__(remember(message))
        else:
            super().__init__(*(redact(arg) if isinstance(arg, str) else arg for arg in args))

    @property
    def code(self) -> Optional[str]:
        """The message's code, None for a plain English text."""
        return self.msg.code if self.msg is not None else None

    @property
    def params(self) -> Dict[str, Any]:
        return dict(self.msg.params) if self.msg is not None else {}


class LensError(PiFocusError):
    """The focus hardware (I2C chip, V4L2 control, camera-streamer, printer) failed."""


class MoveRefused(LensError):
    """A move was refused before anything was sent, for safety (limits, a running print)."""


class CameraError(PiFocusError):
    """No usable frame could be had from the camera (down, timeout, not a JPEG...)."""
