"""Follow focus: keep the picture sharp while the machine moves, from a calibrated focus map.

The engine half, with no OctoPrint imports, so scripts, the benchmark and the tests use it
as the plugin does:

- :class:`ToolheadTracker` follows the toolhead's position from the G-code lines sent;
- :class:`MotionTimeline` times the moves sent, for the position between two lines;
- :class:`FocusMap` fits the lens position against the toolhead position from calibration
  points (piecewise-linear on one axis, a plane or quadratic surface over X and Y, a plane
  plus linear Z over X, Y and Z), with residuals, outliers and clamping;
- :func:`calibrate` visits the points (:func:`grid_points`, :func:`corners_and_centre`) and
  runs an autofocus at each;
- :class:`Follower` decides when to move the lens: only when it matters for the depth of
  field, never too often, always within the lens's limits.
"""
from .calibrate import calibrate, corners_and_centre, grid_points
from .follower import Decision, Follower
from .model import (AXIS_SETS, CalibrationPoint, Evaluation, FocusMap, FocusMapError,
                    MAX_POINTS)
from .motion import MotionTimeline
from .tracker import ToolheadTracker, parse_position_report

__all__ = [
    "ToolheadTracker", "parse_position_report", "FocusMap", "FocusMapError", "CalibrationPoint",
    "Evaluation", "AXIS_SETS", "MAX_POINTS", "Follower", "Decision", "calibrate", "grid_points",
    "corners_and_centre", "MotionTimeline",
]
