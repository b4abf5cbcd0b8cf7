"""The focus map: the sharp lens position as a function of the toolhead position.

Calibration gives points: where the toolhead was (on the axes the user chose), where the
autofocus put the lens, its score, and whether it succeeded. :meth:`FocusMap.fit` turns them
into a map, by axes:

- one axis (``z``, ``y`` or ``x``): **piecewise-linear** through the points (points at the
  same position are averaged), so any smooth curve is followed closely with enough points;
- ``x`` and ``y``: a **plane** ``a + b·x + c·y``, or a **quadratic surface** (plus ``x²``,
  ``x·y``, ``y²``) for a warped bed or board, by least squares. ``surface="auto"`` takes the
  quadratic when there are at least 7 points in general position (one more than it has
  coefficients, so its error can be estimated), a plane otherwise;
- ``x``, ``y`` and ``z``: a plane in X and Y **plus a linear term in Z**
  ``a + b·x + c·y + d·z``: a tilted bed that also drops layer by layer.

Each point gets its residual (measured minus map) and its leave-one-out residual (measured
minus a map fitted *without* it: for a piecewise-linear map, which passes through every
point, that is the only honest one). The map's expected error is the RMS of the
leave-one-out residuals, also in depth-of-field units when the depth of field is known. A
failed autofocus is left out of the fit; a point that disagrees with the map fitted on the
others far more than they disagree among themselves (median absolute deviation) is flagged
as an outlier and left out too, for the user to redo or drop.

Evaluating outside the calibrated box clamps each axis to its calibrated range and says so.
:meth:`FocusMap.to_dict` / :meth:`FocusMap.from_dict` store a map in the settings; the points
are what counts, the fitted model is stored for display and fitted again on load, and a bad
stored map raises :class:`FocusMapError` with what is wrong, never anything else.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from ..errors import PiFocusError
from .fits import KINDS, LeastSquares, Piecewise, TooFew, build_fit, loo_residuals

#: The axis choices a map can have, as the user picks them.
AXIS_SETS: Tuple[Tuple[str, ...], ...] = (("z",), ("y",), ("x",), ("x", "y"), ("x", "y", "z"))
SURFACES = ("auto", "plane", "quadratic")
#: Calibration points a map may hold (a 9x9 grid is 81).
MAX_POINTS = 100
#: Toolhead coordinates beyond this (mm) are not a printer's.
MAX_COORDINATE = 100_000.0
#: Lens positions beyond this are no driver's unit (VCM codes, dioptres, mm).
MAX_LENS = 1_000_000.0
#: A point is an outlier when its leave-one-out residual is this many robust standard
#: deviations of the others' (and at least a quarter of this many depth-of-field widths).
OUTLIER_K = 4.0
#: Conversion of a median absolute deviation into a standard deviation (normal noise).
MAD_TO_SIGMA = 1.4826
class FocusMapError(PiFocusError):
    """A focus map that cannot be fitted or loaded; the message says why and what to do."""


@dataclass(frozen=True)
class CalibrationPoint:
    """One calibration point: toolhead position (mm per axis), lens position, score, success."""

    position: Mapping[str, float]
    lens: float
    score: float = 0.0
    ok: bool = True

    @classmethod
    def from_autofocus(cls, position: Mapping[str, float], result: Any) -> "CalibrationPoint":
        """The point an autofocus run (:class:`~octoprint_pifocus.focus.AutofocusResult`) gives
        at ``position``: its lens position and score, ``ok`` when it found a peak."""
        return cls(position={axis: float(v) for axis, v in position.items() if v is not None},
                   lens=float(result.position), score=float(result.score or 0.0), ok=bool(result.found))

    def to_dict(self) -> Dict[str, Any]:
        return {"position": {axis: float(v) for axis, v in sorted(self.position.items())},
                "lens": float(self.lens), "score": float(self.score), "ok": bool(self.ok)}


class Evaluation(NamedTuple):
    """The map's lens position at a toolhead position, and whether an axis was clamped."""

    value: float
    clamped: bool
    clamped_axes: Tuple[str, ...] = ()


@dataclass(frozen=True)
class PointFit:
    """How one point sits against the map. ``flag`` is None, ``"failed"`` or ``"outlier"``."""

    residual: float
    loo_residual: Optional[float]
    flag: Optional[str] = None

    @property
    def used(self) -> bool:
        return self.flag is None


# ~~ the map


@dataclass(frozen=True)
class FocusMap:
    """A fitted focus map; build it with :meth:`fit` or :meth:`from_dict`."""

    axes: Tuple[str, ...]
    points: Tuple[CalibrationPoint, ...]
    kind: str
    surface: str
    dof_width: Optional[float]
    ranges: Mapping[str, Tuple[float, float]]
    fits: Tuple[PointFit, ...]
    expected_error: Optional[float]
    note: str = ""
    _model: Any = field(default=None, repr=False, compare=False)

    # ~~ building

    @classmethod
    def fit(cls, points: Sequence[CalibrationPoint], axes: Sequence[str], surface: str = "auto",
            dof_width: Optional[float] = None, drop_outliers: bool = True) -> "FocusMap":
        """Fit a map through ``points`` on ``axes`` (one of :data:`AXIS_SETS`).

        ``dof_width`` is the depth of field in lens units (the whole in-focus band): it sets
        the error in depth-of-field units and the smallest error called an outlier.
        Raises :class:`FocusMapError` when the usable points cannot carry any fit.
        """
        axes = _check_axes(axes)
        if surface not in SURFACES:
            raise FocusMapError(f"The surface must be one of {', '.join(SURFACES)}, not {surface!r:.40}.")
        if dof_width is not None and not (_finite(dof_width) and 0 < dof_width <= MAX_LENS):
            raise FocusMapError(f"The depth of field must be a positive number of lens units, not {dof_width!r:.40}.")
        points = tuple(points)
        if len(points) > MAX_POINTS:
            raise FocusMapError(f"A focus map holds at most {MAX_POINTS} points, not {len(points)}: "
                                "calibrate on a coarser grid.")
        for index, point in enumerate(points):
            _check_point(point, axes, index)
        coords = np.array([[float(p.position[a]) for a in axes] for p in points], dtype=float).reshape(len(points), len(axes))
        lens = np.array([float(p.lens) for p in points], dtype=float)
        used = [i for i, p in enumerate(points) if p.ok]
        failed = len(points) - len(used)
        lens_span = float(np.ptp(lens[used])) if used else 0.0
        floor = 0.25 * float(dof_width) if dof_width else max(1e-9, 1e-6 * lens_span)

        def build(indices: Sequence[int], kind: Optional[str] = None):
            return build_fit(axes, surface, coords[list(indices)], lens[list(indices)], kind)

        try:
            model, kind, note = build(used)
        except TooFew:
            raise FocusMapError(_too_few_message(axes, len(used), failed)) from None
        minimum = 2 if len(axes) == 1 else len(KINDS["plane+z" if len(axes) == 3 else "plane"])
        outliers: Dict[int, float] = {}
        if drop_outliers:
            budget = min(len(used) - minimum, len(used) // 3)
            while len(outliers) < budget:
                loo = loo_residuals(build, coords, lens, used, kind)
                known = {i: r for i, r in loo.items() if r is not None}
                if not known:
                    break
                worst = max(known, key=lambda i: abs(known[i]))
                rest = [i for i in used if i != worst]
                rest_loo = [r for r in loo_residuals(build, coords, lens, rest, kind).values() if r is not None]
                if len(rest_loo) < 2:
                    break
                spread = np.asarray(rest_loo)
                mad = float(np.median(np.abs(spread - np.median(spread))))
                if abs(known[worst]) <= OUTLIER_K * max(MAD_TO_SIGMA * mad, floor):
                    break
                try:
                    model, kind, note = build(rest)
                except TooFew:
                    break
                outliers[worst] = known[worst]
                used = rest
        loo = loo_residuals(build, coords, lens, used, kind)
        known = [r for r in loo.values() if r is not None]
        expected = float(math.sqrt(np.mean(np.square(known)))) if len(known) == len(used) and known else None
        loo.update(outliers)
        residuals = lens - model.predict(coords)
        fits = tuple(PointFit(residual=float(residuals[i]), loo_residual=loo.get(i),
                              flag=None if i in used else ("failed" if not points[i].ok else "outlier"))
                     for i in range(len(points)))
        ranges = {axis: (float(coords[used, j].min()), float(coords[used, j].max())) for j, axis in enumerate(axes)}
        return cls(axes=axes, points=points, kind=kind, surface=surface,
                   dof_width=None if dof_width is None else float(dof_width), ranges=ranges, fits=fits,
                   expected_error=expected, note=note, _model=model)

    # ~~ using

    @property
    def expected_error_dof(self) -> Optional[float]:
        """The expected error in depth-of-field widths (below 0.5 stays inside the band)."""
        if self.expected_error is None or not self.dof_width:
            return None
        return self.expected_error / self.dof_width

    @property
    def outliers(self) -> Tuple[int, ...]:
        """Indices of the points flagged as outliers."""
        return tuple(i for i, f in enumerate(self.fits) if f.flag == "outlier")

    @property
    def coefficients(self) -> Dict[str, float]:
        """Least-squares coefficients in mm (``{"1", "x", "y", ...}``); knots for piecewise maps
        are in :attr:`knots`."""
        if isinstance(self._model, LeastSquares):
            return self._model.raw_coefficients()
        return {}

    @property
    def knots(self) -> List[Tuple[float, float]]:
        """``(position, lens)`` of a piecewise-linear map, in order; empty for surfaces."""
        if isinstance(self._model, Piecewise):
            return [(float(k), float(v)) for k, v in zip(self._model.knots, self._model.values)]
        return []

    def evaluate(self, position: Mapping[str, Optional[float]]) -> Evaluation:
        """The map's lens position at ``position`` (mm per axis; extra axes ignored).

        Each axis outside its calibrated range is clamped to it, and named in the result.
        An axis that is missing or unknown raises :class:`FocusMapError`.
        """
        coords = []
        clamped = []
        for axis in self.axes:
            value = position.get(axis) if isinstance(position, Mapping) else None
            if not _finite(value):
                raise FocusMapError(f"The toolhead's {axis.upper()} position is not known yet, so the focus "
                                    "map cannot be used: home the printer or move that axis first.")
            low, high = self.ranges[axis]
            tolerance = 1e-9 * max(1.0, high - low)
            if value < low - tolerance or value > high + tolerance:
                clamped.append(axis)
            coords.append(min(max(float(value), low), high))
        value = float(self._model.predict(np.array([coords], dtype=float))[0])
        return Evaluation(value, bool(clamped), tuple(clamped))

    # ~~ storing

    def to_dict(self) -> Dict[str, Any]:
        """A plain dict for the settings: the points and choices, and the fitted model for display."""
        model: Dict[str, Any] = {"kind": self.kind, "ranges": {a: list(r) for a, r in self.ranges.items()},
                                 "expected_error": self.expected_error,
                                 "residuals": [f.residual for f in self.fits],
                                 "flags": [f.flag for f in self.fits], "note": self.note}
        if self.knots:
            model["knots"] = [list(k) for k in self.knots]
        else:
            model["coefficients"] = self.coefficients
        return {"version": 1, "axes": list(self.axes), "surface": self.surface, "dof_width": self.dof_width,
                "points": [p.to_dict() for p in self.points], "model": model}

    @classmethod
    def from_dict(cls, data: Any) -> "FocusMap":
        """A map from :meth:`to_dict`'s dict, checked and fitted again.

        Anything wrong (not a dict, unknown version or axes, a missing or non-finite number,
        too many or too few points) raises :class:`FocusMapError` saying what.
        """
        if not isinstance(data, Mapping):
            raise FocusMapError(_stored(f"it is a {type(data).__name__}, not a mapping"))
        if data.get("version", 1) != 1:
            raise FocusMapError(_stored(f"its version {data.get('version')!r:.20} is not one this PiFocus reads"))
        axes_raw = data.get("axes")
        if not isinstance(axes_raw, (list, tuple)) or not all(isinstance(a, str) for a in axes_raw):
            raise FocusMapError(_stored("it names no axes"))
        try:
            axes = _check_axes(axes_raw)
        except FocusMapError as error:
            raise FocusMapError(_stored(str(error).rstrip("."))) from None
        surface = data.get("surface", "auto")
        if surface not in SURFACES:
            raise FocusMapError(_stored(f"its surface {surface!r:.40} is none of {', '.join(SURFACES)}"))
        dof_width = data.get("dof_width")
        if dof_width is not None and not (_finite(dof_width) and 0 < dof_width <= MAX_LENS):
            raise FocusMapError(_stored(f"its depth of field {dof_width!r:.40} is not a positive number"))
        raw_points = data.get("points")
        if not isinstance(raw_points, (list, tuple)):
            raise FocusMapError(_stored("it has no list of points"))
        if len(raw_points) > MAX_POINTS:
            raise FocusMapError(_stored(f"it has {len(raw_points)} points, more than {MAX_POINTS}"))
        points = [_point_from_dict(raw, axes, i) for i, raw in enumerate(raw_points)]
        model = data.get("model")
        if model is not None and not isinstance(model, Mapping):
            raise FocusMapError(_stored("its model is not a mapping"))
        try:
            return cls.fit(points, axes, surface=surface, dof_width=dof_width)
        except FocusMapError as error:
            raise FocusMapError(_stored(str(error).rstrip("."))) from None


# ~~ helpers


def _too_few_message(axes: Tuple[str, ...], usable: int, failed: int) -> str:
    names = " and ".join(a.upper() for a in axes)
    left_out = f" ({failed} failed autofocus left out)" if failed else ""
    if len(axes) == 1:
        need = f"at least 2 points at different {names} positions"
    elif len(axes) == 2:
        need = "at least 3 points that are not all on one line"
    else:
        need = ("at least 4 points, not all on one line in X and Y and not all at one Z")
    return (f"Not enough calibration points for a focus map over {names}: it needs {need}, "
            f"and {usable} usable point{'s' if usable != 1 else ''} were given{left_out}. "
            "Add points and calibrate again.")


def _stored(reason: str) -> str:
    return f"The stored focus map cannot be used: {reason}. Calibrate the map again."


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_axes(axes: Sequence[str]) -> Tuple[str, ...]:
    wanted = tuple(sorted(str(a).lower() for a in axes))
    for choice in AXIS_SETS:
        if tuple(sorted(choice)) == wanted:
            return choice
    allowed = "; ".join(" ".join(a.upper() for a in choice) for choice in AXIS_SETS)
    shown = ", ".join(str(a)[:10] for a in list(axes)[:4])
    raise FocusMapError(f"A focus map works on one of these axis sets: {allowed}; not {shown or 'none'}.")


def _check_point(point: Any, axes: Tuple[str, ...], index: int) -> None:
    if not isinstance(point, CalibrationPoint):
        raise FocusMapError(f"Calibration point {index + 1} is not a calibration point.")
    for axis in axes:
        value = point.position.get(axis) if isinstance(point.position, Mapping) else None
        if not _finite(value) or abs(value) > MAX_COORDINATE:
            raise FocusMapError(f"Calibration point {index + 1} has no usable {axis.upper()} position "
                                f"({value!r:.40}): a finite number of mm is needed.")
    if not _finite(point.lens) or abs(point.lens) > MAX_LENS:
        raise FocusMapError(f"Calibration point {index + 1} has no usable lens position ({point.lens!r:.40}).")
    if not _finite(point.score):
        raise FocusMapError(f"Calibration point {index + 1} has a score that is not a finite number.")


def _point_from_dict(raw: Any, axes: Tuple[str, ...], index: int) -> CalibrationPoint:
    where = f"point {index + 1}"
    if not isinstance(raw, Mapping):
        raise FocusMapError(_stored(f"{where} is not a mapping"))
    position = raw.get("position")
    if not isinstance(position, Mapping):
        raise FocusMapError(_stored(f"{where} has no position"))
    clean: Dict[str, float] = {}
    for key, value in position.items():
        if key not in ("x", "y", "z"):
            raise FocusMapError(_stored(f"{where} names an unknown axis {str(key)[:10]!r}"))
        if not _finite(value) or abs(value) > MAX_COORDINATE:
            raise FocusMapError(_stored(f"{where} has a {key.upper()} position that is not a finite number of mm"))
        clean[key] = float(value)
    for axis in axes:
        if axis not in clean:
            raise FocusMapError(_stored(f"{where} has no {axis.upper()} position"))
    lens = raw.get("lens")
    if not _finite(lens) or abs(lens) > MAX_LENS:
        raise FocusMapError(_stored(f"{where} has no usable lens position"))
    score = raw.get("score", 0.0)
    if not _finite(score):
        raise FocusMapError(_stored(f"{where} has a score that is not a finite number"))
    ok = raw.get("ok", True)
    if not isinstance(ok, bool):
        raise FocusMapError(_stored(f"{where} has an 'ok' that is not true or false"))
    return CalibrationPoint(position=clean, lens=float(lens), score=float(score), ok=ok)
