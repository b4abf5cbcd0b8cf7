"""The simulated camera the demo shows: the engine's scene, defocused by whichever lens PiFocus drives.

One :class:`Simulation` lives in the plugin while ``simulation.enabled`` is on. It owns the
simulated VCM (a :class:`~octoprint_pifocus.sim.SimulatedLens` the lens driver can move) and
renders JPEG frames through :class:`~octoprint_pifocus.sim.SimulatedCamera` at the *physical*
position of the lens in use:

- ``lens: "vcm"``: the simulated VCM's physical position (hysteresis shows), in codes;
- ``lens: "printer_z"``: the printer's Z in mm (the microscope-on-gantry case), read through a
  callable the plugin passes in (:func:`printer_z_source`), blurred at ``z_blur_rate`` px/mm.

Frames are rendered at a modest size and cached per position: a 10 fps stream, OctoPrint's
snapshot and an autofocus can all ask at once without rendering the same frame three times on
a 2-core Pi. Nothing here imports OctoPrint, so it is tested in plain Python.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, fields
from typing import Any, Callable, Dict, Optional, Tuple

import cv2

from ..sim import SimulatedCamera, SimulatedLens, draw_scene

LENS_MODES = ("vcm", "printer_z")

PositionSource = Callable[[], Optional[float]]


@dataclass(frozen=True)
class SimulationSettings:
    """The ``simulation`` settings section, checked. Field names are the settings keys."""

    enabled: bool = False
    #: Which lens defocuses the picture: the simulated VCM or the printer's Z.
    lens: str = "vcm"
    #: VCM code at which the scene is sharp, and where the VCM starts (blurred, for the demo).
    focus: float = 340.0
    start: float = 700.0
    #: Blur radius growth in px per VCM code.
    blur_rate: float = 0.05
    #: VCM backlash band in codes (0: none).
    hysteresis: float = 0.0
    #: Z in mm at which the scene is sharp, and blur growth in px per mm of Z.
    z_focus: float = 5.0
    z_blur_rate: float = 8.0
    #: Sensor noise (grey levels, standard deviation).
    noise: float = 2.0
    width: int = 960
    height: int = 540
    #: Frames per second of the MJPEG stream.
    fps: float = 10.0
    jpeg_quality: int = 80

    @classmethod
    def from_dict(cls, data: Optional[Dict[str, Any]]) -> "SimulationSettings":
        """Settings from a dict (unknown keys ignored); a bad value raises ``ValueError``."""
        data = dict(data or {})
        values: Dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in data or data[f.name] is None:
                continue
            raw = data[f.name]
            try:
                if f.type in ("bool", bool):
                    value: Any = raw if isinstance(raw, bool) else str(raw).lower() in ("true", "1", "yes", "on")
                elif f.type in ("int", int):
                    value = int(raw)
                elif f.type in ("float", float):
                    value = float(raw)
                else:
                    value = str(raw)
            except (TypeError, ValueError):
                raise ValueError(f"simulation.{f.name} must be a {f.type}, not {raw!r}") from None
            values[f.name] = value
        settings = cls(**values)
        settings.check()
        return settings

    def check(self) -> None:
        if self.lens not in LENS_MODES:
            raise ValueError(f"simulation.lens must be one of {', '.join(LENS_MODES)}, not {self.lens!r}")
        if not (160 <= self.width <= 3840 and 90 <= self.height <= 2160):
            raise ValueError(f"simulation frame size {self.width}x{self.height} is outside 160x90..3840x2160")
        if not (0 < self.fps <= 30):
            raise ValueError(f"simulation.fps must be in (0, 30], not {self.fps}")
        if self.blur_rate < 0 or self.z_blur_rate < 0 or self.noise < 0 or self.hysteresis < 0:
            raise ValueError("simulation blur rates, noise and hysteresis must not be negative")
        if not (0 <= self.focus <= 1023 and 0 <= self.start <= 1023):
            raise ValueError("simulation.focus and simulation.start are VCM codes in 0..1023")
        if not (10 <= self.jpeg_quality <= 100):
            raise ValueError(f"simulation.jpeg_quality must be in 10..100, not {self.jpeg_quality}")


def printer_z_source(printer) -> PositionSource:
    """A position source reading Z (mm) from OctoPrint's printer, ``None`` while unknown.

    ``currentZ`` is the Z of the last move OctoPrint *sent*; a printer-Z lens driver waits for
    the move to finish (M400) before it captures, so the frame then matches the real Z.
    """

    def z() -> Optional[float]:
        try:
            value = printer.get_current_data().get("currentZ")
        except Exception:
            return None
        return None if value is None else float(value)

    return z


class Simulation:
    """A simulated lens and camera, rendering JPEG frames at the lens's current position.

    ``position_source`` overrides where the position comes from (default: the simulated
    VCM's physical position in ``vcm`` mode; it is required in ``printer_z`` mode). While it
    returns ``None`` (Z unknown before the first move) the last known position is used,
    ``0`` mm at first.
    """

    #: A frame for an unchanged position is re-rendered (new noise) at most this often.
    REFRESH = 1.0

    def __init__(self, settings: SimulationSettings, position_source: Optional[PositionSource] = None,
                 seed: Optional[int] = None, lens_position: Optional[float] = None) -> None:
        settings.check()
        if settings.lens == "printer_z" and position_source is None:
            raise ValueError("simulation.lens 'printer_z' needs a position source (the printer's Z)")
        self.settings = settings
        self.scene = draw_scene(settings.width, settings.height)
        start = settings.start if lens_position is None else lens_position
        self.lens = SimulatedLens(limits=(0, 1023), resolution=1, hysteresis=settings.hysteresis,
                                  start=int(round(start)), name="PiFocus simulated VCM")
        if settings.lens == "printer_z":
            focus, rate = settings.z_focus, settings.z_blur_rate
        else:
            focus, rate = settings.focus, settings.blur_rate
        self.camera = SimulatedCamera(self.scene, self.lens, focus, blur_rate=rate,
                                      noise=settings.noise, jpeg_quality=settings.jpeg_quality,
                                      seed=seed)
        self._position_source = position_source
        self._last_known = 0.0 if settings.lens == "printer_z" else float(self.lens.actual_position)
        self._render_lock = threading.Lock()
        self._cached: Optional[Tuple[float, float, bytes]] = None  # (position, time, jpeg)
        self.renders = 0

    @property
    def mode(self) -> str:
        return self.settings.lens

    @property
    def units(self) -> str:
        return "mm" if self.mode == "printer_z" else "code"

    def position(self) -> float:
        """Where the lens that defocuses the picture physically is now."""
        if self._position_source is not None:
            value = self._position_source()
        else:
            value = self.lens.actual_position
        if value is not None:
            self._last_known = float(value)
        return self._last_known

    def blur_radius(self, position: Optional[float] = None) -> float:
        return self.camera.blur_radius(self.position() if position is None else position)

    def move(self, position: float) -> None:
        """Move the simulated VCM (``MoveRefused`` outside 0..1023)."""
        self.lens.move_to(position)

    def frame(self) -> bytes:
        """A JPEG of the scene at the lens's current position.

        One render at a time (the lock, as classicwebcam serialises its captures); callers that
        waited get the frame just rendered. A frame is reused only for the *same* position and
        for at most :attr:`REFRESH` seconds, so a frame asked for after a move is always
        rendered after that move.
        """
        with self._render_lock:
            position = self.position()
            now = time.monotonic()
            cached = self._cached
            if cached is not None and cached[0] == position and now - cached[1] < self.REFRESH:
                return cached[2]
            image = self.camera.render(position)
            ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(self.settings.jpeg_quality)])
            if not ok:  # pragma: no cover - OpenCV always encodes a uint8 BGR image
                raise RuntimeError("OpenCV could not encode the simulated frame as JPEG")
            jpeg = data.tobytes()
            self._cached = (position, now, jpeg)
            self.renders += 1
            return jpeg

    def status(self) -> Dict[str, Any]:
        position = self.position()
        return {"lens": self.mode, "position": position, "units": self.units,
                "blur_radius": round(self.blur_radius(position), 3),
                "focus": self.camera.focus_position}
