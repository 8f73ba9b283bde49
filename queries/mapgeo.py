"""Geometry of the map panel: a local equal-aspect projection, 3-km rings and hexagon bins.

The map needs no geo trace and no topojson: points are projected to kilometres on a plane
tangent at the view's centre (x = Δlon·cos(lat0)·k, y = Δlat·k, k = km per degree on the
SPEC's sphere of radius 6371.0088 km), and drawn as plain scatter traces on axes where 1 km
is the same length both ways. The projection is linear in (lon, lat), so whether a point
lies inside a polygon is the same before and after projecting: a ring computed on the
sphere (a geodesic circle of 3 km) contains exactly the worksites whose haversine distance
is under 3 km (up to the polygon's chords, under 0.1 % with 72 vertices).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from queries.domain import CIRCLE_KM, EARTH_RADIUS_KM

KM_PER_DEG = math.pi / 180.0 * EARTH_RADIUS_KM  # 111.195 km: one degree on the sphere
RING_VERTICES = 72
SQRT3 = math.sqrt(3.0)


@dataclass(frozen=True)
class LocalProjection:
    """Equirectangular projection about (lat0, lon0) in km; 1 km is 1 unit on both axes."""

    lat0: float
    lon0: float

    @property
    def kx(self) -> float:
        """Kilometres per degree of longitude at lat0."""
        return KM_PER_DEG * math.cos(math.radians(self.lat0))

    def xy(self, lat, lon):  # noqa: ANN001, ANN201 - scalars or arrays
        """(x, y) in km of points given in degrees."""
        lat = np.asarray(lat, dtype=float)
        lon = np.asarray(lon, dtype=float)
        return (lon - self.lon0) * self.kx, (lat - self.lat0) * KM_PER_DEG

    def lonlat(self, x, y):  # noqa: ANN001, ANN201
        """(lon, lat) in degrees of points given in km (the inverse of `xy`)."""
        return (np.asarray(x, dtype=float) / self.kx + self.lon0,
                np.asarray(y, dtype=float) / KM_PER_DEG + self.lat0)

    @classmethod
    def around(cls, lat, lon) -> "LocalProjection":  # noqa: ANN001
        """The projection centred on the middle of the points' bounding box."""
        lat = np.asarray(lat, dtype=float)
        lon = np.asarray(lon, dtype=float)
        if lat.size == 0:
            return cls(31.86, 117.28)  # Hefei: only for an empty view
        return cls(float((lat.min() + lat.max()) / 2), float((lon.min() + lon.max()) / 2))


def ring_lonlat(lat: float, lon: float, radius_km: float = CIRCLE_KM,
                vertices: int = RING_VERTICES) -> tuple[np.ndarray, np.ndarray]:
    """The geodesic circle of `radius_km` around a point on the sphere, closed (lon, lat)."""
    d = radius_km / EARTH_RADIUS_KM
    p1, l1 = math.radians(lat), math.radians(lon)
    theta = np.linspace(0.0, 2 * math.pi, vertices + 1)
    p2 = np.arcsin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * np.cos(theta))
    l2 = l1 + np.arctan2(np.sin(theta) * math.sin(d) * math.cos(p1),
                         math.cos(d) - math.sin(p1) * np.sin(p2))
    return np.degrees(l2), np.degrees(p2)


def rings_xy(proj: LocalProjection, lat, lon, radius_km: float = CIRCLE_KM,  # noqa: ANN001
             vertices: int = RING_VERTICES) -> tuple[list[float | None], list[float | None]]:
    """Every point's ring in figure coordinates, as one polyline with None between rings."""
    xs: list[float | None] = []
    ys: list[float | None] = []
    for la, lo in zip(np.asarray(lat, dtype=float), np.asarray(lon, dtype=float), strict=True):
        rl, rp = ring_lonlat(float(la), float(lo), radius_km, vertices)
        x, y = proj.xy(rp, rl)
        xs += [round(float(v), 4) for v in x] + [None]
        ys += [round(float(v), 4) for v in y] + [None]
    return xs, ys


def dots_xy(x, y, radius, vertices: int = 6  # noqa: ANN001
            ) -> tuple[list[float | None], list[float | None]]:
    """Small polygons of `radius` km (one per point or one for all) around each point, as
    one polyline with None between them: drawn as one filled path, where markers cost the
    browser a DOM element each. Hexagons: a few pixels across, they read as round, and
    Plotly's work grows with the vertices, so none is repeated (a filled path closes each
    polygon itself)."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    r = np.broadcast_to(np.asarray(radius, dtype=float), x.shape)
    angle = np.linspace(0.0, 2 * math.pi, vertices, endpoint=False)
    # 10 m: well under a pixel at any zoom a map is drawn at (a county's ≈ 12 px/km).
    px = np.round(x[:, None] + r[:, None] * np.cos(angle)[None, :], 2)
    py = np.round(y[:, None] + r[:, None] * np.sin(angle)[None, :], 2)
    gap = np.full((x.size, 1), np.nan)
    xs = np.hstack([px, gap]).ravel().tolist()
    ys = np.hstack([py, gap]).ravel().tolist()
    return ([None if v != v else v for v in xs], [None if v != v else v for v in ys])


def merge_points(x, y, weight, size: float  # noqa: ANN001
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points merged per pointy-top hexagon of circumradius `size` km: each occupied cell's
    weighted centre (where its weight is, inside the cell: within 2·size of each of its
    points) and its summed weight, in cell order."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    w = np.clip(np.asarray(weight, dtype=float), 0.0, None)
    if x.size == 0:
        return x, y, w
    q, r = hex_cells(x, y, size)
    off, width = 1 << 20, 1 << 21
    _, inv = np.unique((q + off) * width + (r + off), return_inverse=True)
    inv = inv.reshape(-1)
    total = np.bincount(inv, weights=w)
    n = np.bincount(inv).astype(float)
    # Cells whose points all weigh 0: their plain centre.
    wx = np.bincount(inv, weights=x * w)
    wy = np.bincount(inv, weights=y * w)
    mx = np.where(total > 0, wx / np.where(total > 0, total, 1), np.bincount(inv, weights=x) / n)
    my = np.where(total > 0, wy / np.where(total > 0, total, 1), np.bincount(inv, weights=y) / n)
    return mx, my, total


# ---------------------------------------------------------------- hexagon bins
def hex_cells(x, y, size: float) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001
    """Axial (q, r) of the pointy-top hexagon of circumradius `size` holding each point."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    qf = (SQRT3 / 3 * x - y / 3) / size
    rf = (2 / 3 * y) / size
    sf = -qf - rf
    q, r, s = np.round(qf), np.round(rf), np.round(sf)
    dq, dr, ds = np.abs(q - qf), np.abs(r - rf), np.abs(s - sf)
    fix_q = (dq > dr) & (dq > ds)
    fix_r = ~fix_q & (dr > ds)
    q = np.where(fix_q, -r - s, q)
    r = np.where(fix_r, -q - s, r)
    return q.astype(np.int64), r.astype(np.int64)


def hex_center(q, r, size: float) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001
    """Centre (x, y) of axial hexagons."""
    q = np.asarray(q, dtype=float)
    r = np.asarray(r, dtype=float)
    return size * SQRT3 * (q + r / 2), size * 1.5 * r


def hex_outline(cx: float, cy: float, size: float) -> tuple[list[float], list[float]]:
    """The closed outline of one pointy-top hexagon (7 vertices)."""
    angles = [math.radians(60 * i - 30) for i in range(7)]
    return ([round(cx + size * math.cos(a), 3) for a in angles],
            [round(cy + size * math.sin(a), 3) for a in angles])


def nice_length(span_km: float, fraction: float = 0.18) -> float:
    """A round scale-bar length near `fraction` of the span (1, 2, 3, 5, 10, 20, 50 … km)."""
    target = max(span_km * fraction, 0.1)
    steps = [0.5, 1, 2, 3, 5, 10, 20, 30, 50, 100, 200, 300, 500]
    return max([s for s in steps if s <= target] or [steps[0]])


def hex_size_for(span_km: float, across: int = 36) -> float:
    """Hexagon circumradius giving about `across` cells over the view's larger span."""
    raw = max(span_km, 1.0) / (across * SQRT3)
    for step in (1, 1.5, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20):
        if step >= raw:
            return float(step)
    return float(math.ceil(raw))
