"""The fits behind a focus map: piecewise-linear along one axis, least-squares polynomials.

Internal to :mod:`.model`, which says what the fits are for. The polynomials work in
coordinates normalised to the calibrated box (so a quadratic over 300 mm is as well
conditioned as one over 3 mm), refuse point sets that cannot pin them down (a plane through
points on one line), and give their coefficients back in millimetres.
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import numpy as np

#: Singular values below this fraction of the largest make a fit degenerate (points on a
#: line for a plane): the fit would invent a tilt the points cannot tell.
RANK_TOLERANCE = 1e-3

_Term = Tuple[str, ...]
_PLANE: Tuple[_Term, ...] = ((), ("x",), ("y",))
_QUADRATIC: Tuple[_Term, ...] = _PLANE + (("x", "x"), ("x", "y"), ("y", "y"))
_PLANE_Z: Tuple[_Term, ...] = _PLANE + (("z",),)
KINDS = {"plane": _PLANE, "quadratic": _QUADRATIC, "plane+z": _PLANE_Z}


class Piecewise:
    """Piecewise-linear through the points along one axis (points at one position averaged)."""

    def __init__(self, coords: np.ndarray, lens: np.ndarray) -> None:
        keys = np.round(coords, 6)
        unique = np.unique(keys)
        if unique.size < 2:
            raise TooFew("the points are all at one position")
        self.knots = unique.astype(float)
        self.values = np.array([lens[keys == k].mean() for k in unique], dtype=float)

    def predict(self, coords: np.ndarray, extrapolate: bool = False) -> np.ndarray:
        """Values at ``coords`` (an ``(n, 1)`` array as the surfaces take, or ``(n,)``)."""
        coords = np.asarray(coords, dtype=float)
        if coords.ndim == 2:
            coords = coords[:, 0]
        values = np.interp(coords, self.knots, self.values)
        if extrapolate:
            low = coords < self.knots[0]
            high = coords > self.knots[-1]
            lo_slope = (self.values[1] - self.values[0]) / (self.knots[1] - self.knots[0])
            hi_slope = (self.values[-1] - self.values[-2]) / (self.knots[-1] - self.knots[-2])
            values = np.where(low, self.values[0] + lo_slope * (coords - self.knots[0]), values)
            values = np.where(high, self.values[-1] + hi_slope * (coords - self.knots[-1]), values)
        return values


class LeastSquares:
    """A polynomial in normalised coordinates, fitted by least squares with a rank check."""

    def __init__(self, terms: Sequence[_Term], axes: Sequence[str], coords: np.ndarray,
                 lens: np.ndarray, centre: np.ndarray, scale: np.ndarray) -> None:
        self.terms = tuple(terms)
        self.axes = tuple(axes)
        self.centre = centre
        self.scale = scale
        if coords.shape[0] < len(self.terms):
            raise TooFew(f"{coords.shape[0]} points for {len(self.terms)} coefficients")
        design = self._design(coords)
        singular = np.linalg.svd(design, compute_uv=False)
        if singular[-1] <= RANK_TOLERANCE * singular[0]:
            raise TooFew("the points do not span the surface")
        self.coef, *_ = np.linalg.lstsq(design, lens, rcond=None)

    def _design(self, coords: np.ndarray) -> np.ndarray:
        normalised = (np.atleast_2d(coords) - self.centre) / self.scale
        columns = []
        for term in self.terms:
            column = np.ones(normalised.shape[0])
            for axis in term:
                column = column * normalised[:, self.axes.index(axis)]
            columns.append(column)
        return np.stack(columns, axis=1)

    def predict(self, coords: np.ndarray, extrapolate: bool = False) -> np.ndarray:
        return self._design(coords) @ self.coef

    def raw_coefficients(self) -> Dict[str, float]:
        """The coefficients in toolhead millimetres: ``{"1": a, "x": b, ..., "xy": e}``."""
        total: Dict[_Term, float] = {}
        for term, coef in zip(self.terms, self.coef):
            poly: Dict[_Term, float] = {(): float(coef)}
            for axis in term:
                i = self.axes.index(axis)
                linear = {(axis,): 1.0 / self.scale[i], (): -self.centre[i] / self.scale[i]}
                product: Dict[_Term, float] = {}
                for k1, v1 in poly.items():
                    for k2, v2 in linear.items():
                        key = tuple(sorted(k1 + k2))
                        product[key] = product.get(key, 0.0) + v1 * v2
                poly = product
            for key, value in poly.items():
                total[key] = total.get(key, 0.0) + value
        return {_term_name(term): float(total.get(term, 0.0)) for term in self.terms}


def _term_name(term: _Term) -> str:
    if not term:
        return "1"
    if len(term) == 2 and term[0] == term[1]:
        return term[0] + "2"
    return "".join(term)


class TooFew(Exception):
    """This set of points cannot carry this fit (the map turns it into a FocusMapError)."""


def build_fit(axes: Tuple[str, ...], surface: str, coords: np.ndarray, lens: np.ndarray,
           kind: Optional[str] = None):
    """(model, kind, note) for these points; raises TooFew when no fit fits.

    ``kind`` forces one fit (the leave-one-out refits use the map's own kind)."""
    if len(axes) == 1:
        if coords.shape[0] < 2:
            raise TooFew("one point")
        return Piecewise(coords[:, 0], lens), "piecewise", ""
    if coords.shape[0] == 0:
        raise TooFew("no points")
    low, high = coords.min(axis=0), coords.max(axis=0)
    centre = (low + high) / 2
    scale = np.where(high - low > 0, (high - low) / 2, 1.0)
    if kind is not None:
        return LeastSquares(KINDS[kind], axes, coords, lens, centre, scale), kind, ""
    if len(axes) == 3:
        note = ("Over X, Y and Z the map is a plane in X and Y plus a linear term in Z."
                if surface == "quadratic" else "")
        return LeastSquares(_PLANE_Z, axes, coords, lens, centre, scale), "plane+z", note
    if surface in ("auto", "quadratic"):
        enough = coords.shape[0] >= (len(_QUADRATIC) + 1 if surface == "auto" else len(_QUADRATIC))
        if enough:
            try:
                return LeastSquares(_QUADRATIC, axes, coords, lens, centre, scale), "quadratic", ""
            except TooFew:
                pass
        model = LeastSquares(_PLANE, axes, coords, lens, centre, scale)
        note = "" if surface == "auto" else (
            f"Too few points for a quadratic surface ({len(_QUADRATIC)} spread over X and Y are needed, "
            f"{coords.shape[0]} were usable): a plane was fitted instead.")
        return model, "plane", note
    return LeastSquares(_PLANE, axes, coords, lens, centre, scale), "plane", ""


def loo_residuals(build, coords: np.ndarray, lens: np.ndarray, used: Sequence[int],
         kind: str) -> Dict[int, Optional[float]]:
    """Leave-one-out residual of each used point (None where the others cannot carry a fit of
    the map's ``kind``)."""
    result: Dict[int, Optional[float]] = {}
    for i in used:
        others = [j for j in used if j != i]
        try:
            model, _, _ = build(others, None if kind == "piecewise" else kind)
        except TooFew:
            result[i] = None
            continue
        result[i] = float(lens[i] - model.predict(coords[i:i + 1], extrapolate=True)[0])
    return result
