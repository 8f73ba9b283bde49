"""Reads behind the map panel: community centres with their metrics, open vacancy worksites.

One read per snapshot batch (the caller caches it by batch id): every community of the
batch with its centre (the `regions` table holds the coordinates, the snapshot the metric
values and the tree) and every vacancy open at the batch's as-of date with its worksite and
headcount. The vacancy read is the one place a page touches a source table: it is keyed to
the batch's as-of date (same "open at T" rule as SPEC 3), runs once per batch and worker,
and reads four narrow columns, so it costs tens of milliseconds at province scale. Rows
imported after the batch whose posted_on is not after T may show up before the next
refresh counts them; the points are a picture of the worksites, the counts stay the
snapshot's.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import Engine, and_, or_, select

from queries import mapgeo
from queries.boundaries import Boundaries
from queries.geo import haversine_km
from queries.metrics import COUNT_KEYS, PERSON_KEYS
from queries.models import Region, SnapshotItem, SnapshotRegion, Vacancy
from queries.packing import LAYOUT_ITEM, metric_keys, unpack_metrics

DEFAULT_METRIC = "circle.coverage"
# Shares a hexagon recomputes from summed parts (numerator, denominator).
SHARE_PARTS: dict[str, tuple[str, str]] = {
    "circle.coverage": ("circle.covered", "circle.communities"),
}
# Families that are about places of work, the map's subject.
MAP_FAMILIES = ("vacancies.", "employers.")
# What `?metric=` may name: the coverage share and the registry's counts of those families
# that are not person- or household-level (so no small-count suppression is ever needed on
# the map). Anything else a client sends falls back to the default.
MAP_METRICS: tuple[str, ...] = (DEFAULT_METRIC,) + tuple(
    k for k in COUNT_KEYS if k not in PERSON_KEYS and k.startswith(MAP_FAMILIES))
STORED_KEYS: tuple[str, ...] = tuple(dict.fromkeys(
    [*MAP_METRICS, *(p for parts in SHARE_PARTS.values() for p in parts)]))


def map_metric(value: object) -> str:
    """The metric a client asked for when it is on the allow-list, else the default."""
    return value if isinstance(value, str) and value in MAP_METRICS else DEFAULT_METRIC


@dataclass
class MapBase:
    """Every community of one batch (centre, name, metric values) and every open worksite."""

    codes: list[str]
    names: list[str]
    lat: np.ndarray
    lon: np.ndarray
    values: dict[str, np.ndarray]
    # The tree: `chain[i]` lists community i's ancestors from the top, then i itself, as
    # indices into `tree_codes` (-1 pads shorter chains). Compact to cache and pickle.
    tree_codes: list[str] = field(default_factory=list)
    chain: np.ndarray = field(default_factory=lambda: np.zeros((0, 1), dtype=np.int32))
    vac_lat: np.ndarray = field(default_factory=lambda: np.zeros(0))
    vac_lon: np.ndarray = field(default_factory=lambda: np.zeros(0))
    vac_head: np.ndarray = field(default_factory=lambda: np.zeros(0))
    vac_community: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))
    # Index into `codes` of each worksite's community (-1: not a community of the batch).
    vac_comm: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def vac_in(self, code: str) -> np.ndarray:
        """Which worksites have their community in the subtree of `code`."""
        inside = np.zeros(len(self.codes) + 1, dtype=bool)  # the extra slot is index -1
        inside[self.subtree(code)[0]] = True
        inside[-1] = False
        return inside[self.vac_comm]

    def subtree(self, code: str) -> tuple[np.ndarray, list[str]]:
        """Indices of the communities under `code` and, for each, the child of `code` above it
        (the community itself when `code` is its parent, itself alone for a community)."""
        try:
            rid = self.tree_codes.index(code)
        except ValueError:
            return np.zeros(0, dtype=np.int64), []
        hit = self.chain == rid
        rows = np.flatnonzero(hit.any(axis=1))
        if rows.size == 0:
            return rows, []
        pos = hit[rows].argmax(axis=1)
        below = np.minimum(pos + 1, self.chain.shape[1] - 1)
        child = self.chain[rows, below]
        child = np.where(child < 0, self.chain[rows, pos], child)
        return rows, [self.tree_codes[c] for c in child]


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return float("nan")
    return float(value)


def load_map_base(engine: Engine, batch_id: int, day: dt.date) -> MapBase:
    """Communities of batch `batch_id` and vacancies open on local date `day`."""
    tree = select(SnapshotRegion.region_code, SnapshotRegion.parent_code).where(
        SnapshotRegion.batch_id == batch_id)
    comm = (
        select(SnapshotRegion.region_code, SnapshotRegion.name, SnapshotRegion.metrics,
               Region.lat, Region.lon)
        .join(Region, Region.code == SnapshotRegion.region_code)
        .where(SnapshotRegion.batch_id == batch_id, SnapshotRegion.level == "community",
               Region.lat.is_not(None), Region.lon.is_not(None))
        .order_by(SnapshotRegion.region_code)
    )
    vac = select(Vacancy.lat, Vacancy.lon, Vacancy.headcount, Vacancy.community_code).where(
        and_(Vacancy.posted_on <= day,
             or_(Vacancy.closed_on.is_(None), Vacancy.closed_on > day)))
    with engine.connect() as conn:
        parent = {r.region_code: r.parent_code for r in conn.execute(tree)}
        rows = conn.execute(comm).all()
        vrows = conn.execute(vac).all()
        # Metrics are stored by position in the order of the batch's layout item.
        keys = metric_keys(conn.execute(select(SnapshotItem.body).where(
            SnapshotItem.batch_id == batch_id, SnapshotItem.item_id == LAYOUT_ITEM)).scalar())

    codes = [r.region_code for r in rows]
    values = {k: np.full(len(rows), np.nan) for k in STORED_KEYS}
    for i, r in enumerate(rows):
        m = unpack_metrics(json.loads(r.metrics), keys)
        for k in STORED_KEYS:
            values[k][i] = _number(m.get(k))
    tree_codes: list[str] = []
    rid: dict[str, int] = {}
    chains: list[list[int]] = []
    for code in codes:
        path = [code]
        up = parent.get(code)
        while up and len(path) < 10:  # five levels; a cycle must not hang a page
            path.append(up)
            up = parent.get(up)
        for c in path:
            if c not in rid:
                rid[c] = len(tree_codes)
                tree_codes.append(c)
        chains.append([rid[c] for c in reversed(path)])
    pos = {c: i for i, c in enumerate(codes)}
    width = max((len(c) for c in chains), default=1)
    chain = np.full((len(chains), width), -1, dtype=np.int32)
    for i, c in enumerate(chains):
        chain[i, :len(c)] = c
    return MapBase(
        codes=codes,
        names=[r.name for r in rows],
        lat=np.array([r.lat for r in rows], dtype=float),
        lon=np.array([r.lon for r in rows], dtype=float),
        values=values,
        tree_codes=tree_codes,
        chain=chain,
        vac_lat=np.array([r.lat for r in vrows], dtype=float),
        vac_lon=np.array([r.lon for r in vrows], dtype=float),
        vac_head=np.array([r.headcount or 0 for r in vrows], dtype=float),
        vac_community=np.array([r.community_code for r in vrows], dtype=object),
        vac_comm=np.array([pos.get(r.community_code, -1) for r in vrows], dtype=np.int64),
    )


# ---------------------------------------------------------------- one region's map
HEX_LEVELS = ("province", "city")
# Above this many communities a view is drawn as hexagons whatever its level.
HEX_ABOVE = 1500
NEAR_BOX_KM = 4.5  # half-width of a community's map: its ring and a margin
MARGIN_KM = 3.5  # around the communities of a region: their rings and a little air


@dataclass
class MapView:
    """What the map of one region draws, in figure coordinates (km of `proj`)."""

    mode: str  # "hex", "points" or "community"
    metric: str
    proj: mapgeo.LocalProjection
    x_range: tuple[float, float]
    y_range: tuple[float, float]
    # communities (points and community modes)
    com_x: np.ndarray = field(default_factory=lambda: np.zeros(0))
    com_y: np.ndarray = field(default_factory=lambda: np.zeros(0))
    com_value: np.ndarray = field(default_factory=lambda: np.zeros(0))
    com_name: list[str] = field(default_factory=list)
    com_child: list[str] = field(default_factory=list)
    rings: tuple[list, list] = ([], [])
    # hexagons (hex mode): centre, communities, metric value, vacancy headcount, drill child
    hex_size: float = 0.0
    hex_x: np.ndarray = field(default_factory=lambda: np.zeros(0))
    hex_y: np.ndarray = field(default_factory=lambda: np.zeros(0))
    hex_n: np.ndarray = field(default_factory=lambda: np.zeros(0))
    hex_value: np.ndarray = field(default_factory=lambda: np.zeros(0))
    hex_head: np.ndarray = field(default_factory=lambda: np.zeros(0))
    hex_child: list[str] = field(default_factory=list)
    # open worksites (points and community modes); distance only in community mode
    vac_x: np.ndarray = field(default_factory=lambda: np.zeros(0))
    vac_y: np.ndarray = field(default_factory=lambda: np.zeros(0))
    vac_head: np.ndarray = field(default_factory=lambda: np.zeros(0))
    vac_km: np.ndarray = field(default_factory=lambda: np.zeros(0))
    # child regions: code, centroid of their communities
    kid_code: list[str] = field(default_factory=list)
    kid_x: list[float] = field(default_factory=list)
    kid_y: list[float] = field(default_factory=list)
    # operator outlines, projected, one polyline with None between parts
    outline: tuple[list, list] = ([], [])


def _vac_mask(base: MapBase, scope: str | None) -> np.ndarray:
    """Worksites a scoped viewer may see as points: those inside the scope's subtree."""
    if scope is None:
        return np.ones(base.vac_lat.size, dtype=bool)
    return base.vac_in(scope)


def _value(base: MapBase, metric: str, idx: np.ndarray) -> np.ndarray:
    return base.values[metric][idx] if metric in base.values else np.full(idx.size, np.nan)


def _outline(view: MapView, boundaries: Boundaries | None) -> None:
    if boundaries is None:
        return
    lon0, lat0 = view.proj.lonlat(np.array(view.x_range), np.array(view.y_range))
    xs: list[float | None] = []
    ys: list[float | None] = []
    for o in boundaries.within(float(lon0[0]), float(lon0[1]), float(lat0[0]),
                               float(lat0[1])):
        x, y = view.proj.xy(o.lat, o.lon)
        xs += [None if math.isnan(v) else round(float(v), 3) for v in x]
        ys += [None if math.isnan(v) else round(float(v), 3) for v in y]
    view.outline = (xs, ys)


def map_view(base: MapBase, code: str, level: str, metric: str, *,
             scope: str | None = None, boundaries: Boundaries | None = None) -> MapView:
    """Select, project and (at province and city level) bin the map of region `code`."""
    metric = map_metric(metric)
    idx, child = base.subtree(code)
    lat, lon = base.lat[idx], base.lon[idx]
    vmask = _vac_mask(base, scope)
    if level == "community" or (idx.size == 1 and child == [code]):
        return _community_view(base, idx, metric, vmask, boundaries)
    proj = mapgeo.LocalProjection.around(lat, lon)
    x, y = proj.xy(lat, lon)
    x_range, y_range = _extent(x, y, MARGIN_KM)
    view = MapView("points", metric, proj, x_range, y_range)
    kid_codes = list(dict.fromkeys(child))
    pos = {c: i for i, c in enumerate(kid_codes)}
    kid_of = np.array([pos[c] for c in child], dtype=np.int64)
    for k, c in enumerate(kid_codes):
        sel = kid_of == k
        view.kid_code.append(c)
        view.kid_x.append(round(float(x[sel].mean()), 3))
        view.kid_y.append(round(float(y[sel].mean()), 3))
    vx, vy = proj.xy(base.vac_lat[vmask], base.vac_lon[vmask])
    vhead = base.vac_head[vmask]
    inside = ((vx >= x_range[0]) & (vx <= x_range[1]) & (vy >= y_range[0]) & (vy <= y_range[1]))
    if level in HEX_LEVELS or idx.size > HEX_ABOVE:
        view.mode = "hex"
        # The worksites of R (SPEC: vacancies with worksite in R), wherever they lie.
        own = base.vac_in(code)[vmask]
        ax, ay = np.concatenate([x, vx[own]]), np.concatenate([y, vy[own]])
        size = mapgeo.hex_size_for(max(float(np.ptp(ax)), float(np.ptp(ay))) + 2 * MARGIN_KM)
        view.hex_size = size
        # Widened by a cell so border hexagons are drawn whole.
        view.x_range, view.y_range = _extent(ax, ay, size * 1.2)
        _hexes(view, base, idx, kid_of, kid_codes, x, y, vx[own], vy[own], vhead[own])
    else:
        view.com_x, view.com_y = np.round(x, 3), np.round(y, 3)
        view.com_value = _value(base, metric, idx)
        view.com_name = [base.names[i] for i in idx]
        view.com_child = child
        view.rings = mapgeo.rings_xy(proj, lat, lon)
        view.vac_x, view.vac_y = np.round(vx[inside], 3), np.round(vy[inside], 3)
        view.vac_head = vhead[inside]
    _outline(view, boundaries)
    return view


def _extent(x: np.ndarray, y: np.ndarray, margin: float) -> tuple[tuple[float, float],
                                                               tuple[float, float]]:
    if x.size == 0:
        return (-margin, margin), (-margin, margin)
    return ((float(x.min()) - margin, float(x.max()) + margin),
            (float(y.min()) - margin, float(y.max()) + margin))


def _hexes(view: MapView, base: MapBase, idx: np.ndarray, kid_of: np.ndarray,
           kid_codes: list[str], x: np.ndarray, y: np.ndarray, vx: np.ndarray, vy: np.ndarray,
           vhead: np.ndarray) -> None:
    """Bin communities (metric) and worksites (headcount) into the same hexagons."""
    size = view.hex_size
    q, r = mapgeo.hex_cells(x, y, size)
    hq, hr = mapgeo.hex_cells(vx, vy, size)
    # Cells of communities and of worksites alike: a worksite's headcount is never dropped
    # because no community centre shares its cell.
    # One int64 key per (q, r): a 1-D unique is ~100× faster than unique(axis=0).
    off, width = 1 << 20, 1 << 21
    keys = np.concatenate([(q + off) * width + (r + off), (hq + off) * width + (hr + off)])
    ukeys, inv_all = np.unique(keys, return_inverse=True)
    cells = np.stack([ukeys // width - off, ukeys % width - off], axis=1)
    inv_all = inv_all.reshape(-1)
    inv, vinv = inv_all[:q.size], inv_all[q.size:]
    n = np.bincount(inv, minlength=len(cells)).astype(float)
    metric = view.metric
    if metric in SHARE_PARTS:
        num_key, den_key = SHARE_PARTS[metric]
        num = np.bincount(inv, weights=np.nan_to_num(base.values[num_key][idx]),
                          minlength=len(cells))
        den = np.bincount(inv, weights=np.nan_to_num(base.values[den_key][idx]),
                          minlength=len(cells))
        with np.errstate(invalid="ignore", divide="ignore"):
            value = np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)
    else:
        value = np.bincount(inv, weights=np.nan_to_num(_value(base, metric, idx)),
                            minlength=len(cells))
        value = np.where(n > 0, value, np.nan)
    head = np.bincount(vinv, weights=vhead, minlength=len(cells)) if vinv.size else np.zeros(
        len(cells))
    # The child drawn for a hexagon (its click drills there): the one with most communities.
    counts = np.zeros((len(cells), max(len(kid_codes), 1)), dtype=np.int64)
    np.add.at(counts, (inv, kid_of), 1)
    cx, cy = mapgeo.hex_center(cells[:, 0], cells[:, 1], size)
    view.hex_x, view.hex_y = np.round(cx, 3), np.round(cy, 3)
    view.hex_n, view.hex_value, view.hex_head = n, value, head
    view.hex_child = [kid_codes[j] if n[i] else "" for i, j in enumerate(counts.argmax(axis=1))]


def _community_view(base: MapBase, idx: np.ndarray, metric: str, vmask: np.ndarray,
                    boundaries: Boundaries | None) -> MapView:
    """One community: its centre and ring, every open worksite nearby with its distance."""
    if idx.size == 0:
        proj = mapgeo.LocalProjection.around([], [])
        return MapView("community", metric, proj, (-NEAR_BOX_KM, NEAR_BOX_KM),
                       (-NEAR_BOX_KM, NEAR_BOX_KM))
    i = int(idx[0])
    lat, lon = float(base.lat[i]), float(base.lon[i])
    proj = mapgeo.LocalProjection(lat, lon)
    box = (-NEAR_BOX_KM, NEAR_BOX_KM)
    view = MapView("community", metric, proj, box, box)
    view.com_x, view.com_y = np.zeros(1), np.zeros(1)
    view.com_value = base.values[metric][[i]] if metric in base.values else np.full(1, np.nan)
    view.com_name = [base.names[i]]
    view.com_child = [base.codes[i]]
    view.rings = mapgeo.rings_xy(proj, [lat], [lon])
    vx, vy = proj.xy(base.vac_lat[vmask], base.vac_lon[vmask])
    near = (np.abs(vx) <= NEAR_BOX_KM) & (np.abs(vy) <= NEAR_BOX_KM)
    view.vac_x, view.vac_y = np.round(vx[near], 4), np.round(vy[near], 4)
    view.vac_head = base.vac_head[vmask][near]
    view.vac_km = haversine_km(lat, lon, base.vac_lat[vmask][near], base.vac_lon[vmask][near])
    _outline(view, boundaries)
    return view
