"""Reads behind the map panel: community centres with their metrics, open vacancy worksites.

The refresh computes the map's data once per batch (map_items) and stores it with the
batch as snapshot items: every community of the batch with its centre (the `regions`
table) and the metric values the map can colour by, the tree above them, and every vacancy
open at the batch's as-of date (same "open at T" rule as SPEC 3) with its worksite and
headcount. Serving a map reads those few rows (load_map_base, cached per batch by the
caller), never a source table, so the dots are the batch's worksites, as the counts are.
A batch written before map items existed is read the old way (its rows, and the vacancies
open at its date) until the next refresh replaces it.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import math
import zipfile
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import Connection, Engine, and_, or_, select

from queries import mapgeo
from queries.boundaries import Boundaries
from queries.geo import haversine_km
from queries.metrics import COUNT_KEYS, PERSON_KEYS
from queries.models import Region, SnapshotItem, SnapshotRegion, Vacancy
from queries.packing import LAYOUT_ITEM, metric_keys, unpack_metrics
from queries.versions import visible

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


# ---------------------------------------------------------------- stored with the batch
# The map's data is computed by the refresh and stored with its batch as snapshot items
# with negative ids (list items count up from 0): a compressed .npz of the arrays below,
# base64 in chunks small enough for MariaDB's TEXT (64 KB). Serving a map then reads
# these few rows, never the source tables, and shows the batch's worksites exactly.
MAP_ITEM_CHUNK = 48_000  # base64 characters per item
MICRO = 1_000_000  # positions stored in millionths of a degree (0.11 m)


def _community_metrics(text: str, keys: list[str] | None) -> list[float]:
    """STORED_KEYS values of one region's stored metrics (by position or a dict)."""
    value = json.loads(text)
    if (isinstance(value, list) and keys is not None and len(keys) == len(value)
            and not any(type(v) is str for v in value)):  # str: a run of zeros (format 2)
        at = {k: i for i, k in enumerate(keys)}
        return [_number(value[at[k]]) if k in at else float("nan") for k in STORED_KEYS]
    m = unpack_metrics(value, keys)
    return [_number(m.get(k)) for k in STORED_KEYS]


def build_map_base(
    regions: list[tuple[str, str | None, str, str, str]], keys: list[str] | None,
    centres: dict[str, tuple[float, float]], worksites: list[tuple[float, float, int, str]],
) -> MapBase:
    """The map's arrays from a batch's rows (code, parent, name, level, metrics text), its
    metric key order, community centres and open worksites (lat, lon, headcount, code)."""
    parent = {r[0]: r[1] for r in regions}
    comm = sorted((r for r in regions if r[3] == "community" and r[0] in centres),
                  key=lambda r: r[0])
    codes = [r[0] for r in comm]
    matrix = np.array([_community_metrics(r[4], keys) for r in comm],
                      dtype=float).reshape(len(comm), len(STORED_KEYS))
    values = {k: matrix[:, j].copy() for j, k in enumerate(STORED_KEYS)}
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
        names=[r[2] for r in comm],
        lat=np.array([centres[c][0] for c in codes], dtype=float),
        lon=np.array([centres[c][1] for c in codes], dtype=float),
        values=values,
        tree_codes=tree_codes,
        chain=chain,
        vac_lat=np.array([w[0] for w in worksites], dtype=float),
        vac_lon=np.array([w[1] for w in worksites], dtype=float),
        vac_head=np.array([w[2] or 0 for w in worksites], dtype=float),
        vac_comm=np.array([pos.get(w[3], -1) for w in worksites], dtype=np.int64),
    )


def _micro(v: np.ndarray) -> np.ndarray:
    return np.round(v * MICRO).astype(np.int32)


def encode_map_base(base: MapBase) -> list[str]:
    """The snapshot item texts holding `base` (compressed arrays, base64, chunked)."""
    arrays = dict(
        codes=np.array(base.codes, dtype="S12"),
        names=np.array(base.names, dtype=np.str_),
        lat=_micro(base.lat), lon=_micro(base.lon),
        values=np.stack([base.values[k] for k in STORED_KEYS], axis=1).astype(np.float32)
        if base.codes else np.zeros((0, len(STORED_KEYS)), dtype=np.float32),
        keys=np.array(STORED_KEYS, dtype="S64"),
        tree=np.array(base.tree_codes, dtype="S12"), chain=base.chain.astype(np.int32),
        vlat=_micro(base.vac_lat), vlon=_micro(base.vac_lon),
        vhead=base.vac_head.astype(np.int32), vcomm=base.vac_comm.astype(np.int32),
    )
    # An .npz as np.savez_compressed writes it, at zlib level 1: a quarter of the time
    # of its level 6 (every increment writes the map again) for ≈ 20 % more bytes.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for name, arr in arrays.items():
            with zf.open(name + ".npy", "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, np.asanyarray(arr), allow_pickle=False)
    text = base64.b64encode(buf.getvalue()).decode("ascii")
    parts = [text[i:i + MAP_ITEM_CHUNK] for i in range(0, len(text), MAP_ITEM_CHUNK)]
    return [json.dumps({"map": [k, len(parts)], "b64": p}, separators=(",", ":"))
            for k, p in enumerate(parts)]


def decode_map_base(texts: list[str]) -> MapBase:
    """The MapBase of a batch's map items, in item order (ValueError if incomplete)."""
    parts = [json.loads(t) for t in texts]
    if not parts or [p["map"] for p in parts] != [[k, len(parts)] for k in range(len(parts))]:
        raise ValueError("the batch's map items are incomplete")
    raw = base64.b64decode("".join(p["b64"] for p in parts))
    with np.load(io.BytesIO(raw), allow_pickle=False) as z:
        a = {k: z[k] for k in z.files}
    stored = [k.decode() for k in a["keys"]]
    values = {k: np.full(len(a["codes"]), np.nan) for k in STORED_KEYS}
    for j, k in enumerate(stored):
        if k in values:
            values[k] = a["values"][:, j].astype(float)
    return MapBase(
        codes=[c.decode() for c in a["codes"]],
        names=[str(n) for n in a["names"]],
        lat=a["lat"] / MICRO, lon=a["lon"] / MICRO,
        values=values,
        tree_codes=[c.decode() for c in a["tree"]],
        chain=a["chain"],
        vac_lat=a["vlat"] / MICRO, vac_lon=a["vlon"] / MICRO,
        vac_head=a["vhead"].astype(float),
        vac_comm=a["vcomm"].astype(np.int64),
    )


def _centres(conn: Connection) -> dict[str, tuple[float, float]]:
    rows = conn.execute(select(Region.code, Region.lat, Region.lon).where(
        Region.level == "community", Region.lat.is_not(None), Region.lon.is_not(None)))
    return {r.code: (r.lat, r.lon) for r in rows}


def _worksites(conn: Connection, day: dt.date) -> list[tuple[float, float, int, str]]:
    """Every vacancy open on local date `day` (SPEC 3's rule): position, headcount, code."""
    vac = select(Vacancy.lat, Vacancy.lon, Vacancy.headcount, Vacancy.community_code).where(
        and_(Vacancy.posted_on <= day,
             or_(Vacancy.closed_on.is_(None), Vacancy.closed_on > day)))
    return [tuple(r) for r in conn.execute(vac)]


def map_items(engine: Engine, snapshot: dict[str, dict], items: list[str],
              as_of: dt.datetime, tz: str) -> list[tuple[int, str]]:
    """(item id, text) of the map's data for a batch being written by the refresh:
    communities of `snapshot` with their centres and values, worksites open at as_of."""
    if not snapshot:
        return []
    day = as_of.astimezone(ZoneInfo(tz)).date()
    with engine.connect() as conn:
        centres = _centres(conn)
        worksites = _worksites(conn, day)
    regions = [(c, r["parent_code"], r["name"], r["level"], r["metrics"])
               for c, r in snapshot.items()]
    keys = metric_keys(items[LAYOUT_ITEM]) if items else None
    base = build_map_base(regions, keys, centres, worksites)
    return [(-1 - k, text) for k, text in enumerate(encode_map_base(base))]


def load_map_base(engine: Engine, batch_id: int, day: dt.date) -> MapBase:
    """The map's data of batch `batch_id`: its map items, or for a batch written before
    they existed, the same arrays from its rows and the vacancies open on `day`."""
    with engine.connect() as conn:
        texts = conn.execute(
            select(SnapshotItem.body)
            .where(SnapshotItem.item_id < 0, visible(SnapshotItem, batch_id))
            .order_by(SnapshotItem.item_id.desc())).scalars().all()
        if texts:
            return decode_map_base(list(texts))
        rows = conn.execute(
            select(SnapshotRegion.region_code, SnapshotRegion.parent_code,
                   SnapshotRegion.name, SnapshotRegion.level, SnapshotRegion.metrics)
            .where(visible(SnapshotRegion, batch_id))).tuples().all()
        keys = metric_keys(conn.execute(select(SnapshotItem.body).where(
            SnapshotItem.item_id == LAYOUT_ITEM, visible(SnapshotItem, batch_id))).scalar())
        centres = _centres(conn)
        worksites = _worksites(conn, day)
    return build_map_base(list(rows), keys, centres, worksites)


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
    # child regions: code, centroid of their communities, how many communities
    kid_code: list[str] = field(default_factory=list)
    kid_x: list[float] = field(default_factory=list)
    kid_y: list[float] = field(default_factory=list)
    kid_n: list[int] = field(default_factory=list)
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
        view.kid_n.append(int(sel.sum()))
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
        # 72 sides, as a community's ring; the figure keeps every 2nd or 4th vertex where a
        # ring is drawn small enough for that to stay within half a pixel of the circle
        # (layouts.map ring_step: Plotly's work per ring grows with its vertices).
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
