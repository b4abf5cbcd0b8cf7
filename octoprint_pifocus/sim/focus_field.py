"""Where the simulated camera is sharp, as a function of the toolhead position.

A camera fixed to the frame over a bed that moves sees the part at another distance after
every Y move and every layer; a microscope on the gantry sees a tilted board's surface rise
and fall as it moves over X and Y. :class:`FocusField` gives the in-focus lens position for
a toolhead position, so a :class:`~octoprint_pifocus.sim.SimulatedCamera` with a field
(:meth:`~octoprint_pifocus.sim.SimulatedCamera.set_toolhead`) goes out of focus as a real
one would. Without a field nothing changes: the camera keeps its fixed ``focus_position``.

The field is linear per axis plus an optional bowl (``warp``), about a reference position;
an axis not known (``None``) or not given counts as being at its reference.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, Mapping, Optional

AXES = ("x", "y", "z")


@dataclass(frozen=True)
class FocusField:
    """``focus + Σ slope·(p − ref) + warp·((x − ref_x)² + (y − ref_y)²)`` in lens units per mm."""

    focus: float
    slopes: Mapping[str, float] = field(default_factory=dict)
    reference: Mapping[str, float] = field(default_factory=dict)
    #: Curvature over X and Y, lens units per mm²: a warped bed or board.
    warp: float = 0.0

    def __post_init__(self) -> None:
        for name, values in (("slopes", self.slopes), ("reference", self.reference)):
            for axis, value in values.items():
                if axis not in AXES:
                    raise ValueError(f"{name} names an unknown axis {axis!r}; use x, y or z")
                if not math.isfinite(value):
                    raise ValueError(f"{name}[{axis!r}] must be finite, not {value!r}")
        if not (math.isfinite(self.focus) and math.isfinite(self.warp)):
            raise ValueError("focus and warp must be finite numbers")

    def offsets(self, position: Mapping[str, Optional[float]]) -> Dict[str, float]:
        """Each axis's distance from the reference (0 where the position is not known)."""
        result = {}
        for axis in AXES:
            value = position.get(axis)
            result[axis] = 0.0 if value is None else float(value) - float(self.reference.get(axis, 0.0))
        return result

    def __call__(self, position: Mapping[str, Optional[float]]) -> float:
        """The lens position at which the scene is sharp with the toolhead at ``position``."""
        d = self.offsets(position)
        value = self.focus + sum(float(self.slopes.get(axis, 0.0)) * d[axis] for axis in AXES)
        return value + self.warp * (d["x"] ** 2 + d["y"] ** 2)


def bed_camera_field(focus: float = 340.0) -> FocusField:
    """A camera fixed to the frame, watching a bed-slinger's bed (VCM codes).

    Sharp at ``focus`` with the bed at Y 110 mm and Z 0; the bed coming 1 mm closer in Y
    needs 1.2 codes more, each mm of Z (the part growing towards the camera's line of
    sight, the gantry rising) 2 codes less.
    """
    return FocusField(focus, slopes={"y": 1.2, "z": -2.0}, reference={"y": 110.0, "z": 0.0})


def microscope_field(z_focus: float = 5.0) -> FocusField:
    """A microscope on the gantry over a tilted board (printer Z in mm).

    Sharp at ``z_focus`` over the board's centre (X 100, Y 100); the board rises 0.6 mm per
    100 mm in X and falls 0.4 mm per 100 mm in Y.
    """
    return FocusField(z_focus, slopes={"x": 0.006, "y": -0.004}, reference={"x": 100.0, "y": 100.0})
