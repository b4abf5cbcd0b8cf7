"""Drift watch: notice that a focused camera went out of focus, from one frame at a time.

No OctoPrint here (the plugin's :mod:`..plugin.drift_watch` feeds it): :mod:`.signature` is a
cheap, blur-blind picture of what the region of interest shows, :mod:`.sampler` turns a frame
into a :class:`~.detector.DriftSample`, and :mod:`.detector` decides. Not to be confused with
the webcam watchdog (``automation.WebcamWatchdog``), which restores the lens after a camera
restart.
"""
from .detector import DriftDetector, DriftRules, DriftSample, DriftVerdict
from .sampler import DriftSampler
from .signature import Signature, signature_of

__all__ = ["DriftDetector", "DriftRules", "DriftSample", "DriftVerdict", "DriftSampler", "Signature",
           "signature_of"]
