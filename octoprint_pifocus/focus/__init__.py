"""The focus engine: sharpness of a frame, and a search for the sharpest lens position.

Plain Python over numpy and OpenCV, with no OctoPrint imports, so it works from scripts,
the command line and tests::

    from octoprint_pifocus.focus import autofocus, measure_sharpness

    score = measure_sharpness(jpeg_bytes)                  # central half, default measure
    result = autofocus(lens, camera, roi=(0.3, 0.3, 0.4, 0.4))
    print(result.found, result.position, result.captures)
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence

from .decode import DEFAULT_ROI, validate_roi
from .measures import DEFAULT_MEASURE, DESCRIPTIONS, MEASURES, get_measure
from .protocols import Camera, Lens
from .scoring import FrameScorer, measure_sharpness
from .search import AutofocusResult, ProgressFn, Sample, run_autofocus

__all__ = [
    "autofocus", "measure_sharpness", "AutofocusResult", "Sample", "Lens", "Camera",
    "MEASURES", "DEFAULT_MEASURE", "DESCRIPTIONS", "DEFAULT_ROI", "FrameScorer",
]


def autofocus(lens, camera, roi: Optional[Sequence[float]] = None, measure: Optional[str] = None,
              progress: Optional[ProgressFn] = None,
              should_cancel: Optional[Callable[[], bool]] = None,
              refine: bool = False, window: Optional[float] = None) -> AutofocusResult:
    """Find the sharpest lens position, move there, and say how it went.

    ``lens`` has ``limits``, ``resolution``, ``position`` and ``move_to()``; ``camera`` has
    ``capture()``. ``roi`` is ``(x, y, w, h)`` in fractions of the frame (``None``: central
    half); ``measure`` a name from :data:`MEASURES` (``None``: the default).
    ``progress(fraction, sample)`` is called after each frame; ``should_cancel()`` is polled,
    and a cancelled run puts the lens back where it started. ``refine=True`` searches only a
    window around the current position (half-width ``window`` in lens units; default 8% of
    the range), for re-focusing before a print.

    Bad arguments raise ``ValueError``. Hardware and camera failures during the run do not
    raise: they end it with ``found=False``, the lens back at its start, and the reason in
    ``result.message``.
    """
    scorer = FrameScorer(roi, measure)
    for name in ("limits", "position", "move_to"):
        if not hasattr(lens, name):
            raise ValueError(f"lens must have 'limits', 'position' and 'move_to'; it has no {name!r}")
    if not callable(getattr(camera, "capture", None)):
        raise ValueError("camera must have a capture() method")
    return run_autofocus(lens, camera, scorer, progress, should_cancel, refine=refine, window=window)
