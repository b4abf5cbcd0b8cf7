"""A device's camera timing: the settle an autofocus starts from, and the measured delay.

``camera.settle_mode`` "auto" (the default) waits the chain's measured delay plus one
frame: the delay stored in the device's ``pipeline`` key (the last run's or the delay
test's), ``camera.settle`` until one was measured. Every autofocus on a stream measures it
again on its first large move and stores what it saw. "manual" always waits
``camera.settle`` (old configs keep their number; the run still detects stale frames).
Snapshot cameras fetch a new picture after the wait anyway: they keep the plain search.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, NamedTuple, Optional

from flask_babel import gettext

from ...focus import FrameScorer
from ...focus.pipeline import TRUSTED_SAMPLES, Timing, autofocus_fresh, measure_delay
from ...focus.search import AutofocusResult, run_autofocus


#: The latest delay samples a device keeps across runs. A run whose far moves all showed fast
#: must not lower the next run's settle at once (its small moves near the peak would then take
#: frames from before them): the slow samples of earlier runs roll out over a few runs.
KEEP_SAMPLES = 16


def merged(stored: Optional[Dict[str, Any]], measured: Timing) -> Timing:
    """``measured`` (one run's timing) with the stored measurement's latest samples kept."""
    if not stored or not stored.get("samples"):
        return measured
    samples = [float(s) for s in stored["samples"]] + list(measured.samples or [measured.delay])
    return Timing(delay=measured.delay, interval=measured.interval or stored.get("interval"),
                  samples=samples[-KEEP_SAMPLES:])


class RunTiming(NamedTuple):
    """How a run on a stream times its frames, from the device settings."""

    #: The wait after a move until the run measured its own delay.
    settle: float
    #: The user's settle, kept as set ("manual" mode): a guess, never trusted.
    manual: bool
    #: A settle the run never goes below: a stored measurement's (its longest delay plus a
    #: frame); its far moves' delays are a sample, and may all have been the fast ones.
    floor: float
    #: The stored measurement saw enough moves (the delay test's, or a few runs') for a run to
    #: wait its settle and no longer.
    trusted: bool
    #: The shortest delay the stored measurement saw (0: none): a chain that ever showed a
    #: move within a frame and a half gets no frame taken at its change.
    shortest: float = 0.0


def run_timing(config: Dict[str, Any]) -> RunTiming:
    """The timing of a run with the device settings ``config``."""
    camera = config["camera"]
    manual = camera.get("settle_mode") == "manual"
    stored = config.get("pipeline")
    if manual or not stored:
        return RunTiming(float(camera["settle"]), manual, 0.0, False)
    settle = float(stored["settle"])
    samples = [float(x) for x in stored.get("samples") or []]
    return RunTiming(settle, False, settle, len(samples) >= TRUSTED_SAMPLES, min(samples, default=0.0))


def follows_moves(camera) -> bool:
    """Whether ``camera`` is a stream whose frames can be timed against the moves."""
    return callable(getattr(camera, "wait_frame", None))


def autofocus(lens, camera, config: Dict[str, Any], store: Callable[[Dict[str, Any]], None],
              **options) -> AutofocusResult:
    """The device's autofocus: on a stream through :func:`autofocus_fresh` (measured settle,
    stale frames detected), the measured delay handed to ``store``; else the plain search.
    A move just before (into the lens's limits) is the lens's own ``moved_at``: the run waits
    for the picture to show it (snapshots are fetched after the search's own first move anyway)."""
    scorer = FrameScorer(config["roi"], config["measure"])
    if not follows_moves(camera):
        return run_autofocus(lens, camera, scorer, **options)
    plan = run_timing(config)
    result, timing = autofocus_fresh(lens, camera, scorer, run_autofocus, settle=plan.settle,
                                     manual=plan.manual, floor=plan.floor, trusted=plan.trusted,
                                     shortest=plan.shortest, **options)
    if timing is not None:
        store(merged(config.get("pipeline"), timing).to_dict())
    return result


def measure(lens, camera, config: Dict[str, Any]) -> Timing:
    """Measure the chain's delay now (the lens moves and comes back); ``ValueError`` if the
    camera is not a stream or no move changed the picture."""
    if not follows_moves(camera):
        raise ValueError(gettext("The delay can only be measured on an MJPEG stream, and this camera gives "
                                 "snapshots (camera mode \"snapshot\", or no stream answered): they are "
                                 "fetched after the wait anyway."))
    try:
        return measure_delay(lens, camera, FrameScorer(config["roi"], config["measure"]))
    except ValueError:
        raise ValueError(gettext("No lens move changed the picture, so the delay could not be measured: "
                                 "is the lens moving, and is the scene in the region of interest "
                                 "within the focus range?")) from None


def describe(timing: Optional[Dict[str, Any]]) -> str:
    """The measured delay for people: milliseconds, and frames where the rate is known."""
    if not timing:
        return gettext("The camera delay has not been measured yet.")
    if timing.get("frames"):
        return gettext("Camera delay %(delay)s ms; settle %(settle)s ms (%(frames)s frames).",
                       delay=f"{timing['delay'] * 1000:.0f}", settle=f"{timing['settle'] * 1000:.0f}",
                       frames=f"{timing['frames']:.1f}")
    return gettext("Camera delay %(delay)s ms; settle %(settle)s ms.",
                   delay=f"{timing['delay'] * 1000:.0f}", settle=f"{timing['settle'] * 1000:.0f}")
