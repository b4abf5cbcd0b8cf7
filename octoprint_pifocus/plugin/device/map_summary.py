"""A focus map as the status shows it: its points with their residuals, its error, and what
the settings page draws (a curve for one axis, a grid of values for X and Y).

Residuals and the expected error are given in lens units and in depth-of-field widths (a
point's error below 0.5 DoF keeps the picture sharp there). The browser draws without
fitting anything: one axis gets the map's knots, X and Y a small grid evaluated here.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

from ...followfocus import FocusMap

#: Cells per side of the grid drawn for maps over X and Y.
GRID = 16


def summarize(fmap: FocusMap, units: Optional[str] = None) -> Dict[str, Any]:
    """The status's ``focus_map`` entry for ``fmap``."""
    dof = fmap.dof_width

    def in_dof(value: Optional[float]) -> Optional[float]:
        return None if value is None or not dof else round(value / dof, 4)

    points: List[Dict[str, Any]] = []
    for index, (point, fit) in enumerate(zip(fmap.points, fmap.fits)):
        points.append({
            "index": index, "position": {a: round(float(v), 3) for a, v in point.position.items()},
            "lens": float(point.lens), "score": float(point.score), "ok": bool(point.ok),
            "residual": round(fit.residual, 6), "residual_dof": in_dof(fit.residual),
            "loo_residual": None if fit.loo_residual is None else round(fit.loo_residual, 6),
            "loo_residual_dof": in_dof(fit.loo_residual), "flag": fit.flag,
        })
    body: Dict[str, Any] = {
        "axes": list(fmap.axes), "kind": fmap.kind, "surface": fmap.surface, "units": units,
        "dof_width": dof, "points": points, "expected_error": fmap.expected_error,
        "expected_error_dof": None if fmap.expected_error_dof is None else round(fmap.expected_error_dof, 4),
        "ranges": {a: [float(lo), float(hi)] for a, (lo, hi) in fmap.ranges.items()},
        "flagged": [p["index"] for p in points if p["flag"]], "note": fmap.note,
    }
    if fmap.knots:
        body["knots"] = [[float(k), float(v)] for k, v in fmap.knots]
    else:
        body["coefficients"] = {k: float(v) for k, v in fmap.coefficients.items()}
    if "x" in fmap.axes and "y" in fmap.axes:
        body["grid"] = _grid(fmap)
    return body


def _grid(fmap: FocusMap) -> Dict[str, Any]:
    """The map over its X/Y ranges (Z, if an axis, at the middle of its range)."""
    (x0, x1), (y0, y1) = fmap.ranges["x"], fmap.ranges["y"]
    xs = [x0 + (x1 - x0) * i / (GRID - 1) for i in range(GRID)]
    ys = [y0 + (y1 - y0) * j / (GRID - 1) for j in range(GRID)]
    extra = {}
    if "z" in fmap.axes:
        z0, z1 = fmap.ranges["z"]
        extra["z"] = (z0 + z1) / 2
    values = [[round(fmap.evaluate(dict(extra, x=x, y=y)).value, 4) for x in xs] for y in ys]
    return {"x": [round(v, 3) for v in xs], "y": [round(v, 3) for v in ys], "values": values, **extra}
