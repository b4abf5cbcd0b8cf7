"""The simulated camera the demo shows: the engine's scene, defocused by whichever lens PiFocus drives.

One :class:`Simulation` lives in the plugin while ``simulation.enabled`` is on. It owns the
simulated VCM (a :class:`~octoprint_pifocus.sim.SimulatedLens` the lens driver can move) and
renders JPEG frames through :class:`~octoprint_pifocus.sim.SimulatedCamera` at the *physical*
position of the lens in use:

- ``lens: "vcm"``: the simulated VCM's physical position (hysteresis shows), in codes;
- ``lens: "printer_z"``: the printer's Z in mm (the microscope-on-gantry case), read through a
  callable the plugin passes in (:func:`printer_z_source`), blurred at ``z_blur_rate`` px/mm.

With ``focus_field`` on, the scene's sharp position follows the printer's toolhead (read
through a callable the plugin passes in: the paced virtual printer's head, where it really is,
when OctoPrint is connected to it (:mod:`.sim_printer`), else PiFocus's own estimate from its
:class:`~.toolhead.Toolhead`), as follow focus needs to be shown and tested:

- ``"bed"``: a camera fixed to the frame over a moving bed (a VCM device): the sharp VCM code
  depends on Y and Z (:func:`~octoprint_pifocus.sim.bed_camera_field`);
- ``"tilt"``: a microscope on the gantry over a tilted board (a printer-Z device): the sharp
  Z depends on X and Y (:func:`~octoprint_pifocus.sim.microscope_field`);
- ``"both"``: each device its own (the demo has one of each); ``"none"``: fixed focus.

Frames are rendered at a modest size and cached per position: a 10 fps stream, OctoPrint's
snapshot and an autofocus can all ask at once without rendering the same frame three times on
a 2-core Pi. Nothing here imports OctoPrint, so it is tested in plain Python.
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, fields
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

import cv2

from ..sim import SimulatedCamera, SimulatedLens, bed_camera_field, draw_scene, microscope_field

LENS_MODES = ("vcm", "printer_z")
#: What the sharp position follows: nothing, the bed (VCM devices), the tilted board (printer-Z
#: devices), or each its own.
FOCUS_FIELDS = ("none", "bed", "tilt", "both")

PositionSource = Callable[[], Optional[float]]
#: The toolhead's position in mm per axis (None for an unknown axis, or nothing known at all).
ToolheadSource = Callable[[], Optional[Mapping[str, Optional[float]]]]


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
    #: Whether a device reads its simulated webcam through that stream, as it reads a real
    #: webcam's (measured delay, stale frames checked, the stream kept open); off: single
    #: snapshots rendered in-process, with the fixed wait after each move (the tests' default).
    stream: bool = False
    jpeg_quality: int = 80
    #: Whether the sharp position follows the toolhead (see FOCUS_FIELDS).
    focus_field: str = "none"

    @classmethod
    def from_dict(cls, data: Optional[Dict[str, Any]]) -> "SimulationSettings":
        """Settings from a dict (unknown keys ignored); a bad value raises
        :class:`SimulationSettingError` naming the field."""
        data = dict(data or {})
        values: Dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in data or data[f.name] is None:
                continue
            raw = data[f.name]
            if f.type in ("bool", bool):
                values[f.name] = raw if isinstance(raw, bool) else str(raw).lower() in ("true", "1", "yes", "on")
            elif f.type in ("int", int, "float", float):
                values[f.name] = _number(f.name, raw, integer=f.type in ("int", int))
            else:
                values[f.name] = str(raw)
        settings = cls(**values)
        settings.check()
        return settings

    def check(self) -> None:
        if self.lens not in LENS_MODES:
            raise SimulationSettingError("lens", f"simulation.lens must be one of {', '.join(LENS_MODES)}, "
                                                 f"not {self.lens!r:.40}")
        if self.focus_field not in FOCUS_FIELDS:
            raise SimulationSettingError("focus_field", f"simulation.focus_field must be one of "
                                         f"{', '.join(FOCUS_FIELDS)}, not {self.focus_field!r:.40}")
        for name, (low, high) in RANGES.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise SimulationSettingError(name, f"simulation.{name} must be a finite number, not {value!r:.40}")
            if not low <= value <= high or (name == "fps" and value <= 0):
                within = f"(0, {high}]" if name == "fps" else f"{low}..{high}"
                raise SimulationSettingError(name, f"simulation.{name} must be within {within}, not {value:g}")


class SimulationSettingError(ValueError):
    """A simulation setting that cannot be used; ``field`` names it ("noise")."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


#: The range of every number, inclusive (``fps`` must also be above 0). Wide enough for any
#: demo; beyond them a value is a typo or an attack (a NaN noise renders a black camera).
RANGES: Dict[str, Tuple[float, float]] = {
    "focus": (0, 1023), "start": (0, 1023), "blur_rate": (0, 10), "hysteresis": (0, 1023),
    "z_focus": (-1000, 10000), "z_blur_rate": (0, 1000), "noise": (0, 255),
    "width": (160, 3840), "height": (90, 2160), "fps": (0, 30), "jpeg_quality": (10, 100),
}


def _number(name: str, raw: Any, integer: bool) -> float:
    """``raw`` (a number or numeric string) as a finite number; whole for ``integer`` fields."""
    kind = "whole number" if integer else "number"
    if isinstance(raw, bool):
        raise SimulationSettingError(name, f"simulation.{name} must be a {kind}, not {raw!r}")
    if integer and isinstance(raw, int):
        number: Any = raw
    else:
        try:
            number = float(raw)
        except OverflowError:
            number = math.inf
        except (TypeError, ValueError):
            raise SimulationSettingError(name, f"simulation.{name} must be a {kind}, not {raw!r:.40}") from None
        if not math.isfinite(number):
            raise SimulationSettingError(name, f"simulation.{name} must be a finite number, not {raw!r:.40}")
        if integer:
            if not number.is_integer():
                raise SimulationSettingError(name, f"simulation.{name} must be a whole number, not {raw!r:.40}")
            number = int(number)
    if isinstance(number, int) and abs(number) > 10 ** 9:
        low, high = RANGES[name]
        raise SimulationSettingError(name, f"simulation.{name} must be within {low}..{high}; "
                                           f"a number with {len(str(abs(number)))} digits is far outside")
    return number


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
                 seed: Optional[int] = None, lens_position: Optional[float] = None, scene_seed: int = 7,
                 toolhead: Optional[ToolheadSource] = None) -> None:
        settings.check()
        if settings.lens == "printer_z" and position_source is None:
            raise ValueError("simulation.lens 'printer_z' needs a position source (the printer's Z)")
        self.settings = settings
        # Another seed, another scene: each focus device's simulated camera shows its own.
        self.scene = draw_scene(settings.width, settings.height, seed=scene_seed)
        start = settings.start if lens_position is None else lens_position
        self.lens = SimulatedLens(limits=(0, 1023), resolution=1, hysteresis=settings.hysteresis,
                                  start=int(round(start)), name="PiFocus simulated VCM")
        if settings.lens == "printer_z":
            focus, rate = settings.z_focus, settings.z_blur_rate
        else:
            focus, rate = settings.focus, settings.blur_rate
        field = _focus_field(settings) if toolhead is not None else None
        self.camera = SimulatedCamera(self.scene, self.lens, focus, blur_rate=rate,
                                      noise=settings.noise, jpeg_quality=settings.jpeg_quality,
                                      seed=seed, focus_field=field)
        self._toolhead = toolhead if field is not None else None
        #: The toolhead position the sharp position was last worked out for (None: not followed).
        self.head: Optional[Dict[str, Any]] = None
        self._position_source = position_source
        self._last_known = 0.0 if settings.lens == "printer_z" else float(self.lens.actual_position)
        self._render_lock = threading.Lock()
        self._cached: Optional[Tuple[Tuple[float, float], float, bytes]] = None  # ((lens, sharp), time, jpeg)
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

    def sharp_position(self) -> float:
        """Where the scene is sharp now: fixed, or following the toolhead (``focus_field``)."""
        if self._toolhead is not None:
            self.head = dict(self._toolhead() or {})
            self.camera.set_toolhead(self.head)
        return float(self.camera.focus_position)

    def blur_radius(self, position: Optional[float] = None) -> float:
        self.sharp_position()
        return self.camera.blur_radius(self.position() if position is None else position)

    def move(self, position: float) -> None:
        """Move the simulated VCM (``MoveRefused`` outside 0..1023)."""
        self.lens.move_to(position)

    def frame(self) -> bytes:
        """A JPEG of the scene at the lens's current position.

        One render at a time (the lock, as classicwebcam serialises its captures); callers that
        waited get the frame just rendered. A frame is reused only for the *same* position with
        no move of the simulated VCM since (a move away and back would otherwise get the frame
        from before it, the same picture to the noise: a stale frame to the autofocus), and for
        at most :attr:`refresh` seconds, so a frame asked for after a move is always rendered
        after that move.
        """
        with self._render_lock:
            position = self.position()
            sharp = self.sharp_position()
            now = time.monotonic()
            key = (position, sharp, self.lens.moved_at)
            cached = self._cached
            if cached is not None and cached[0] == key and now - cached[1] < self.refresh:
                return cached[2]
            image = self.camera.render(position)
            ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(self.settings.jpeg_quality)])
            if not ok:  # pragma: no cover - OpenCV always encodes a uint8 BGR image
                raise RuntimeError("OpenCV could not encode the simulated frame as JPEG")
            jpeg = data.tobytes()
            self._cached = (key, now, jpeg)
            self.renders += 1
            return jpeg

    @property
    def refresh(self) -> float:
        """How long a frame of an unchanged position is served again. Read as a stream
        (``stream``), a new exposure every frame, with its own noise, as a real sensor's: a
        frame repeated for a second and then re-rolled would change with no move, and the
        autofocus would take that change for its move's; two equal frames in a row would look
        like no noise at all. Half a frame: a stream's next tick always gets a new one, two
        streams ticking together share it."""
        return 0.5 / self.settings.fps if self.settings.stream else self.REFRESH

    def status(self) -> Dict[str, Any]:
        position = self.position()
        return {"lens": self.mode, "position": position, "units": self.units,
                "blur_radius": round(self.blur_radius(position), 3),
                "focus": self.camera.focus_position, "focus_field": self.field_kind,
                "toolhead": self.head}

    @property
    def field_kind(self) -> str:
        """Which field this simulation follows: ``"bed"``, ``"tilt"`` or ``"none"``."""
        if self._toolhead is None:
            return "none"
        return "tilt" if self.mode == "printer_z" else "bed"


def _focus_field(settings: SimulationSettings):
    """The focus field for this simulation's lens, or None when its setting leaves it fixed."""
    wanted = settings.focus_field
    if settings.lens == "printer_z" and wanted in ("tilt", "both"):
        return microscope_field(settings.z_focus)
    if settings.lens == "vcm" and wanted in ("bed", "both"):
        return bed_camera_field(settings.focus)
    return None
