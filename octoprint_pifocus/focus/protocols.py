"""The two small interfaces the search drives: a lens and a camera.

Anything with these attributes works: the lens drivers, the printer-Z driver, the simulated
lens, or a user's own object in a script. They are ``typing.Protocol`` classes, so nothing has to
inherit from them.
"""
from __future__ import annotations

from typing import Any, Tuple, Union

try:  # Python >= 3.8
    from typing import Protocol, runtime_checkable
except ImportError:  # pragma: no cover
    from typing_extensions import Protocol, runtime_checkable  # type: ignore

Number = Union[int, float]
Frame = Any  # JPEG (or PNG) bytes, or a numpy image (grey or BGR)


@runtime_checkable
class Lens(Protocol):
    """Something that moves focus: a VCM, a V4L2 control, dioptres, or Z in mm."""

    #: ``(low, high)``: the range the search may use, inclusive.
    limits: Tuple[Number, Number]
    #: The smallest step that matters: 1 for VCM codes, 0.01 for Z in mm.
    resolution: Number

    @property
    def position(self) -> Number:
        """The last commanded position."""

    def move_to(self, position: Number) -> None:
        """Move and return when the move is done."""


@runtime_checkable
class Camera(Protocol):
    """Something that returns a frame exposed after the last completed lens move."""

    def capture(self) -> Frame: ...
