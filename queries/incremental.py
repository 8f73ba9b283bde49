"""Incremental refresh (issue 13): recompute only the regions whose data changed.

Every importer write (files and the exchange endpoint) marks, in its own transaction, the
region codes whose parts it may change (`Marker`, table refresh_marks). A refresh then
recomputes the marked codes' own parts with the same grouped SQL passes as a full
refresh, restricted to those codes and their ancestors (`WHERE code IN …`), and rebuilds
each of those regions from its own parts plus its children's stored state (refresh_state:
rolled-up integer parts, list keys with their item ids, headcounts by industry and band).
Every list is a top-k under a total order, so a region's list is the top-k of its own
candidates and its children's lists. The batch writes only the changed regions' rows and
their new items, as versions of the base's chain (queries.versions): readers see the base's
other rows through it, in the format a full refresh writes; nothing is copied.

A full refresh runs instead (and stores the state) when there is no usable base: the
local date differs from the base's (midnight moves every window), the time zone, the
code (VERSION) or the region table changed, a "*" mark (regions imported) or too many
marks, the base batch is not the newest, or the items appended since the last full
refresh outnumber its items and MIN_GARBAGE_ITEMS (unused items kept in the chain would
grow without bound).
"""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import json
import logging
import math
import os
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy import (
    Connection,
    Engine,
    and_,
    delete,
    func,
    insert,
    or_,
    select,
    text,
)

from queries import aggregate as agg
from queries.domain import CIRCLE_KM, EARTH_RADIUS_KM
from queries.geo import haversine_km
from queries.models import (
    Employer,
    Person,
    RefreshBase,
    RefreshMark,
    RefreshRun,
    RefreshState,
    SnapshotItem,
    SnapshotRegion,
    Target,
    Vacancy,
)
from queries.packing import FORMAT as PACK_FORMAT
from queries.packing import LAYOUT_ITEM
from queries.versions import chain_of, close, visible

log = logging.getLogger(__name__)

FULL_MARK = "*"
# Prefix of a community whose nearby vacancies (and 3-km coverage) may have changed, but
# none of its own records: only that part of it is recomputed.
NEAR_MARK = "c"
# Prefix of a community some of whose vacancies were restated at the same place and days:
# their items are written again (same ids, new versions) wherever a list holds them.
VAC_MARK = "v"
# Some vacancy was written: the map's worksites are read again (else the base's are kept).
WORKSITE_MARK = "w"
# Above this share of regions changed, a full refresh is cheaper than an increment.
MAX_CHANGED_SHARE = 0.3
# Codes per IN list (SQLite allows 32,766 parameters; MariaDB/PostgreSQL far more).
IN_CHUNK = 5000
# Marks an import may write before it asks for a full refresh instead.
MAX_MARKS = 20000
# The neighbourhood marked around a vacancy: 3 km plus 50 m for rounding (the same
# haversine as the 3-km test, on the same stored coordinates); extra marks only cost.
NEAR_KM = CIRCLE_KM + 0.05
ENV_SWITCH = "DASHBOARD_INCREMENTAL"
# Items appended since the last full batch (copied along, partly unused) that never
# trigger a full refresh by themselves: copying them costs next to nothing.
MIN_GARBAGE_ITEMS = 20000




def _same(a: Any, b: Any) -> bool:
    """Whether a new and a stored value are the same (a date may be text on one side)."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        try:
            return float(a) == float(b)
        except (TypeError, ValueError):
            return False
    return str(a)[:10] == str(b)[:10] if hasattr(a, "isoformat") or hasattr(
        b, "isoformat") else a == b


def _js_inner(value: str) -> str:
    """A string as it stands between the quotes in an item's JSON text."""
    return json.dumps(value, ensure_ascii=False)[1:-1]


def _vacancy_item_id(body: str, inner: dict[str, str]) -> str | None:
    """The vacancy id of an item text if it is one of `inner`'s vacancies' items.

    A vacancy item is `["<id>",title,employer,headcount,...]` with ten values
    (queries.aggregate.vacancy_text); other items are objects, or arrays led by a number or
    a region code, and are told apart by the decoded shape when the prefix matches.
    """
    if not body.startswith('["'):
        return None
    end = body.find('",', 2)
    if end < 0:
        return None
    key = body[2:end]
    if key.endswith("\\"):
        # The quote may be escaped: decode the text instead of trusting the cut.
        try:
            value = json.loads(body)
        except ValueError:
            return None
        ok = isinstance(value, list) and len(value) == 10 and value[0] in inner.values()
        return value[0] if ok else None
    vid = inner.get(key)
    if vid is None:
        return None
    value = json.loads(body)
    return vid if isinstance(value, list) and len(value) == 10 and value[0] == vid else None


def enabled_by_default() -> bool:
    """Whether refreshes are incremental unless asked otherwise (DASHBOARD_INCREMENTAL)."""
    return os.environ.get(ENV_SWITCH, "on").strip().lower() not in ("0", "off", "false", "no")


def _version() -> str:
    """Changes whenever the code that shapes a batch or the state changes."""
    h = hashlib.sha1()
    here = Path(__file__).parent
    for name in ("aggregate.py", "packing.py", "incremental.py", "metrics.py", "domain.py",
                 "maplayer.py"):
        h.update((here / name).read_bytes())
    return h.hexdigest()


VERSION = _version()


def _chunks(values: list[Any], size: int = IN_CHUNK) -> Iterable[list[Any]]:
    for i in range(0, len(values), size):
        yield values[i:i + size]


# ================================================================ marking (importer)
class Marker:
    """Marks the regions an importer's upserts may change, in the importer's transaction.

    before(rows) reads what the stored rows with the same ids say (the old communities);
    after(rows, old) resolves both to region codes and inserts the new marks.
    """

    # Per KIND: columns of the old row to read (besides the id), how to resolve.
    OLD_COLUMNS: dict[str, tuple[str, ...]] = {
        "persons": ("community_code",),
        "households": ("community_code",),
        "trainings": ("community_code",),
        "interviews": ("community_code",),
        "loans": ("community_code",),
        "surveys": ("community_code",),
        "job_fairs": ("region_code",),
        "placements": ("community_code", "person_id"),
        "assistance": ("community_code", "person_id"),
        "employers": ("community_code",),
        "vacancies": ("community_code", "lat", "lon", "employer_id", "posted_on",
                      "closed_on"),
    }
    # A vacancy whose new record keeps these is open on the same days at the same place:
    # no community's 3-km coverage or nearby ranking changes, only the lists holding it.
    PLACE_COLUMNS: tuple[str, ...] = ("lat", "lon", "posted_on", "closed_on")

    def __init__(self, conn: Connection, kind: str, table: Any, id_cols: tuple[str, ...]) -> None:
        self.conn, self.kind, self.table, self.id_cols = conn, kind, table, id_cols
        # Codes marked by savepoints that completed, and by the one under way: a chunk the
        # database refuses is rolled back with its marks and retried row by row.
        self.marked: set[str] = set()
        self._pending: set[str] = set()
        self.full = False
        self._centres: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    # ---------------------------------------------------------------- hooks
    def before(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The stored rows the upsert will replace (only the columns marking needs)."""
        cols = self.OLD_COLUMNS.get(self.kind)
        if not cols or self.full or len(self.id_cols) != 1:
            return []
        t = self.table
        idc = t.c[self.id_cols[0]]
        ids = list({r[self.id_cols[0]] for r in rows})
        out: list[dict[str, Any]] = []
        for part in _chunks(ids):
            out += [dict(m) for m in self.conn.execute(
                select(idc, *[t.c[c] for c in cols]).where(idc.in_(part))).mappings()]
        return out

    def after(self, rows: list[dict[str, Any]], old: list[dict[str, Any]]) -> None:
        """Insert marks for the regions the new and the replaced rows touch."""
        if self.full or FULL_MARK in self._pending:
            return
        if self.kind == "vacancies":
            codes = self._vacancy_change_codes(rows, old) | {WORKSITE_MARK}
        else:
            codes = self._codes(rows + old)
        self._mark(codes)

    # ---------------------------------------------------------------- resolution
    def _codes(self, rows: list[dict[str, Any]]) -> set[str]:
        k = self.kind
        if k == "regions":
            return {FULL_MARK}
        if k == "targets":
            return {r["region_code"] for r in rows}
        if k == "job_fairs":
            return {r["region_code"] for r in rows}
        codes = {r["community_code"] for r in rows if r.get("community_code")}
        if k in ("placements", "assistance"):
            # Key-group "placed"/"assisted" and unassisted counts sit with the person.
            codes |= self._person_codes({r["person_id"] for r in rows})
        elif k == "employers":
            # The employer's name is in its vacancies' items; emp_hiring at its community.
            vac = self._rows(Vacancy, Vacancy.employer_id,
                             {r["employer_id"] for r in rows if r.get("employer_id")})
            codes |= self._vacancy_codes(vac)
        elif k == "vacancies":
            codes |= self._vacancy_codes(rows)
        return codes

    def _rows(self, model: Any, col: Any, keys: set[Any]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        cols = [model.vacancy_id, model.community_code, model.lat, model.lon, model.employer_id]
        for part in _chunks(sorted(keys)):
            out += [dict(m) for m in self.conn.execute(select(*cols).where(col.in_(part)))
                    .mappings()]
        return out

    def _person_codes(self, ids: set[str]) -> set[str]:
        out: set[str] = set()
        for part in _chunks(sorted(i for i in ids if i)):
            out |= set(self.conn.execute(select(Person.community_code).distinct()
                                         .where(Person.person_id.in_(part))).scalars())
        return out

    def _vacancy_codes(self, rows: list[dict[str, Any]]) -> set[str]:
        """Worksite, communities within NEAR_KM of it, the employer's community."""
        codes = {r["community_code"] for r in rows if r.get("community_code")}
        emp = sorted({r["employer_id"] for r in rows if r.get("employer_id")})
        for part in _chunks(emp):
            codes |= {c for c in self.conn.execute(
                select(Employer.community_code).distinct()
                .where(Employer.employer_id.in_(part))).scalars() if c}
        # A placement's pl_within counts its vacancy's position, but only a move across
        # the 3-km line of its community changes it, and then the old or the new point is
        # within NEAR_KM of that community's centre: marked below.
        points = [(r["lat"], r["lon"]) for r in rows
                  if r.get("lat") is not None and r.get("lon") is not None]
        if points:
            # Their nearby lists and 3-km coverage only: "c" + code (NEAR_MARK).
            codes |= {NEAR_MARK + c for c in self._near(points)}
        return codes

    def _vacancy_change_codes(self, rows: list[dict[str, Any]], old: list[dict[str, Any]]
                              ) -> set[str]:
        """Vacancies: a record that moved, opened or closed marks every community within
        NEAR_KM (_vacancy_codes); one that kept its place and days changes no ranking and
        no coverage, only the text of its item in the lists holding it: its community is
        marked to have its vacancies' items restated (VAC_MARK), the neighbours are not."""
        was = {o["vacancy_id"]: o for o in old}
        moved: list[dict[str, Any]] = []
        stayed: list[dict[str, Any]] = []
        for r in rows:
            o = was.get(r["vacancy_id"])
            if o is None or not all(_same(r.get(c), o.get(c)) for c in self.PLACE_COLUMNS):
                moved.append(r)
                if o is not None:
                    moved.append(o)
                continue
            # Its own community (its counts); its employer's only if the employer changed:
            # an employer is hiring by its vacancies' days, which are the same (its name
            # in the item is restated with the item).
            same_employer = _same(r.get("employer_id"), o.get("employer_id"))
            stayed += [{**x, "lat": None, "lon": None,
                        "employer_id": None if same_employer else x.get("employer_id")}
                       for x in (r, o)]
        codes = self._vacancy_codes(moved) | self._vacancy_codes(stayed)
        return codes | {VAC_MARK + r["community_code"] for r in stayed
                        if r.get("community_code")}

    def _near(self, points: list[tuple[float, float]]) -> set[str]:
        if self._centres is None:
            rows = self.conn.execute(
                text("SELECT code, lat, lon FROM regions WHERE level = 'community' "
                     "AND lat IS NOT NULL AND lon IS NOT NULL")).all()
            self._centres = (np.array([r[0] for r in rows], dtype=object),
                             np.array([r[1] for r in rows], dtype=float),
                             np.array([r[2] for r in rows], dtype=float))
        codes, lat, lon = self._centres
        out: set[str] = set()
        if not len(codes):
            return out
        pts = np.array(points, dtype=float)
        for i in range(0, len(pts), 200):
            p = pts[i:i + 200]
            # A cheap box first (1° of latitude ≈ 111 km), then the distance.
            d_lat = NEAR_KM / 111.0 + 0.01
            box = (np.abs(lat[None, :] - p[:, :1]) <= d_lat)
            idx = np.flatnonzero(box.any(axis=0))
            if not len(idx):
                continue
            dist = haversine_km(p[:, :1], p[:, 1:2], lat[idx][None, :], lon[idx][None, :])
            out |= set(codes[idx[(dist <= NEAR_KM).any(axis=0)]].tolist())
        return out

    def commit(self) -> None:
        """The savepoint holding the latest marks completed: they are written."""
        self.marked |= self._pending
        self._pending = set()
        if FULL_MARK in self.marked:
            self.full = True

    def rollback(self) -> None:
        """The savepoint holding the latest marks was rolled back: forget them."""
        self._pending = set()

    def _mark(self, codes: set[str]) -> None:
        new = sorted(c for c in codes - self.marked - self._pending if c)
        if not new:
            return
        if FULL_MARK in new or len(self.marked) + len(self._pending) + len(new) > MAX_MARKS:
            new = [FULL_MARK]
        self.conn.execute(insert(RefreshMark), [{"code": c} for c in new])
        self._pending |= set(new)


# ================================================================ the refresh
@dataclass
class Plan:
    """What a refresh writes: a full batch, or an increment over the base batch."""

    full: bool
    reason: str
    rows: dict[str, dict]
    items: list[str]  # full: every item; incremental: the appended ones (ids from first_item)
    state: dict[str, Any] | None
    marks: list[int]
    day: dt.date
    tz: str
    regions_hash: str = ""
    base: Any = None
    first_item: int = 0
    total_rows: int = 0
    changed: list[str] = field(default_factory=list)
    # (negative id, text) of the map's items (queries.maplayer); None: copy the base's.
    map_items: list[tuple[int, str]] | None = None
    # The layout item again when the increment added industries; None: the base's.
    layout: str | None = None
    # (item id, text): items of the base's chain written again with the same id (VAC_MARK).
    restated: list[tuple[int, str]] = field(default_factory=list)
    # An increment's chain: the full batch its base descends from (queries.versions).
    chain: int = 0
    # Whether a vacancy was written since the base (the map's worksites are read again).
    worksites: bool = True


def _regions_hash(regions: pd.DataFrame) -> str:
    """A digest of the region table (any change of any column of any row changes it)."""
    ordered = regions.sort_values("code").reset_index(drop=True)
    # Vectorised (a row-by-row repr took 0.5 s of a 2 s increment at province scale);
    # the column names and row count go in too, so a reordering or a dropped row tells.
    h = hashlib.sha1(repr((list(ordered.columns), len(ordered))).encode())
    h.update(pd.util.hash_pandas_object(ordered, index=False).to_numpy().tobytes())
    return h.hexdigest()


def _read_marks(conn: Connection) -> tuple[list[int], set[str]]:
    rows = conn.execute(select(RefreshMark.id, RefreshMark.code)).all()
    return [r[0] for r in rows], {r[1] for r in rows}


def plan(
    engine: Engine, as_of: dt.datetime, tz: str, *, incremental: bool, full: bool = False,
    compute: Any = None,
) -> Plan:
    """Compute the next batch: an increment over the base when possible, else full.

    incremental=False: a full batch and no state kept (the incremental path is off);
    full=True: a full batch whose state the next refreshes build on.
    """
    # Many small objects: pause the cyclic GC, as compute_batch does.
    gc_was_on = gc.isenabled()
    gc.disable()
    try:
        return _plan(engine, as_of, tz, incremental, full, compute)
    finally:
        if gc_was_on:
            gc.enable()


def _plan(
    engine: Engine, as_of: dt.datetime, tz: str, incremental: bool, full: bool, compute: Any,
) -> Plan:
    w = agg.Windows(as_of, tz)
    with engine.connect() as conn:
        mark_ids, codes = _read_marks(conn)
        tb = RefreshBase.__table__
        base = conn.execute(select(tb).where(tb.c.id == 1)).first()
        newest = conn.execute(select(func.max(RefreshRun.id))
                              .where(RefreshRun.status == "ok")).scalar()
        regions = agg._read_regions(conn)
    reason = _full_reason(incremental and not full, base, newest, w, tz, codes)
    rhash = _regions_hash(regions)
    if reason is None and base is not None and base.regions_hash != rhash:
        reason = "the region table changed"
    if reason is None:
        assert base is not None
        p = _increment(engine, w, tz, base, regions, codes)
        if isinstance(p, str):
            reason = p
        else:
            p.marks, p.regions_hash = mark_ids, rhash
            p.worksites = WORKSITE_MARK in codes
            return p
    state: dict[str, Any] | None = {} if incremental else None
    rows, items = (compute or agg.compute_batch)(engine, as_of, tz, state)
    return Plan(True, reason, rows, items, state, mark_ids, w.today, tz, rhash,
                total_rows=len(rows))


def _full_reason(
    incremental: bool, base: Any, newest: int | None, w: agg.Windows, tz: str,
    codes: set[str],
) -> str | None:
    if not incremental:
        return "full refresh asked for (or the incremental path is off)"
    if base is None:
        return "no base batch"
    if base.batch_id != newest:
        return "the base batch is not the newest"
    if base.day != w.today:
        return "the date changed"
    if base.tz != tz:
        return "the time zone changed"
    if base.version != VERSION:
        return "the code changed"
    if FULL_MARK in codes:
        return "the region tree changed"
    if base.items_added > max(base.items_full, MIN_GARBAGE_ITEMS):
        return "items appended since the last full refresh outnumber its items"
    return None


class _Chains:
    """Each region, then its loaded ancestors upwards (as queries.aggregate._region_tree),
    computed when first asked for: an increment needs the chains of a few hundred codes,
    not of every region."""

    def __init__(self, parents: dict[str, str | None]) -> None:
        self.parents = parents
        self.known: dict[str, list[str]] = {}

    def __getitem__(self, code: str) -> list[str]:
        found = self.known.get(code)
        if found is None:
            chain, seen, p = [code], {code}, self.parents.get(code)
            while p is not None and p in self.parents and p not in seen:
                chain.append(p)
                seen.add(p)
                p = self.parents.get(p)
            # Each ancestor's chain is the rest of this one.
            for i, a in enumerate(chain):
                self.known.setdefault(a, chain[i:])
            found = chain
        return found

    def get(self, code: str, default: Any = None) -> Any:
        """The chain of a region code, or default if it is no region."""
        return self[code] if code in self.parents else default

    def in_cycle(self, code: str) -> bool:
        """Whether the chain upwards from code runs into a cycle (its top has a parent)."""
        return self.parents.get(self[code][-1]) in self.parents


BOX_DEG = 0.02  # cells of the rectangles that cover the communities' 3-km boxes


def _near_boxes(comms: pd.DataFrame) -> list[Any]:
    """Conditions selecting every vacancy within 3 km of the communities.

    Each community's lat/lon box (3 km and a margin each way) is covered by grid cells;
    runs of cells along a row become one rectangle, so the query has a few conditions
    rather than one per community (vacancies outside 3 km are dropped by _circle).
    """
    V = Vacancy
    cells: set[tuple[int, int]] = set()
    d_lat = math.degrees(NEAR_KM / EARTH_RADIUS_KM)
    for lat, lon in zip(comms["lat"].tolist(), comms["lon"].tolist(), strict=True):
        if lat is None or lon is None or math.isnan(lat) or math.isnan(lon):
            continue
        d_lon = d_lat / max(math.cos(math.radians(min(abs(lat) + d_lat, 89.9))), 1e-6)
        rows = range(math.floor((lat - d_lat) / BOX_DEG), math.floor((lat + d_lat) / BOX_DEG) + 1)
        for i in rows:
            for j in range(math.floor((lon - d_lon) / BOX_DEG),
                           math.floor((lon + d_lon) / BOX_DEG) + 1):
                cells.add((i, j))
    conds = []
    for i in sorted({i for i, _ in cells}):
        js = sorted(j for ii, j in cells if ii == i)
        start = prev = js[0]
        for j in [*js[1:], None]:
            if j is not None and j == prev + 1:
                prev = j
                continue
            conds.append(and_(V.lat >= i * BOX_DEG, V.lat <= (i + 1) * BOX_DEG,
                              V.lon >= start * BOX_DEG, V.lon <= (prev + 1) * BOX_DEG))
            if j is not None:
                start = prev = j
    return conds


def _empty_vacancies() -> pd.DataFrame:
    """An _open_vacancies frame without rows."""
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in (
        "vacancy_id", "code", "lat", "lon", "type", "headcount", "industry", "salary_min",
        "posted_on", "open", "new_month", "rec")})


def _increment(
    engine: Engine, w: agg.Windows, tz: str, base: Any, regions: pd.DataFrame,
    marked: set[str],
) -> Plan | str:
    """The changed regions' rows, new items and state; a reason text if not worth it."""
    clock = agg._Clock()
    names, levels, parents = agg._tree_maps(regions)
    chains = _Chains(parents)
    children: dict[str, list[str]] = defaultdict(list)
    for c, p in parents.items():
        if p is not None and p in names:
            children[p].append(c)
    dirty = {c for c in marked if c in names}
    # Communities whose own records did not change, only vacancies near them: their own
    # parts are the stored ones (a community without children stores its own), with the
    # 3-km coverage and nearby list recomputed.
    near_only: set[str] = set()
    for m in marked:
        c = m[len(NEAR_MARK):]
        if m.startswith(NEAR_MARK) and c in names and c not in dirty:
            if levels[c] == "community" and not children.get(c):
                near_only.add(c)
            else:
                dirty.add(c)
    changed: set[str] = set()
    for c in dirty | near_only:
        # A cycle only shows in the chains that run into it: every changed region is on
        # the chain of a marked one, and its children's chains go through it.
        if chains.in_cycle(c):
            return "the region tree has a cycle"
        changed.update(chains[c])
    if len(changed) > MAX_CHANGED_SHARE * len(names):
        return f"{len(changed)} of {len(names)} regions changed"
    only = sorted(changed)
    # The codes whose own parts are recomputed in SQL.
    own_sql = sorted(changed - near_only)
    centres = regions.set_index("code")
    comm_codes = [c for c in only if levels[c] == "community"]
    # Coverage and nearby lists change only where a vacancy moved, opened or closed
    # within 3 km (NEAR_MARK): the other changed communities keep the base's list (its
    # items stay valid in the chain), and covered = a non-empty list (agg._circle).
    near_marked = {m[len(NEAR_MARK):] for m in marked if m.startswith(NEAR_MARK)}
    circle_codes = [c for c in comm_codes
                    if c in near_marked or children.get(c) or agg.NEARBY_VACANCIES < 1]
    keep_near = sorted(set(comm_codes) - set(circle_codes))
    comms = centres.loc[circle_codes, ["lat", "lon"]].reset_index().rename(
        columns={"index": "code"}) if circle_codes else pd.DataFrame(
        {"code": [], "lat": [], "lon": []})
    # The children whose stored state the changed regions are summed from.
    need = sorted({k for c in only for k in children.get(c, ()) if k not in changed}
                  | near_only)
    with engine.connect() as conn:
        frames: list[pd.DataFrame] = []
        latest_parts: list[pd.DataFrame] = []
        vac_frames: list[pd.DataFrame] = []
        vac_records: list[Any] = []
        for part in _chunks(own_sql):
            frames.append(pd.concat(agg._passes(conn, w, centres, part), axis=1))
            latest_parts.append(agg._latest_placements(conn, w, part))
            vf, vr = agg._open_vacancies(conn, w, [Vacancy.community_code.in_(part)])
            if not vf.empty:
                vf["rec"] = vf["rec"] + len(vac_records)
                vac_frames.append(vf)
            vac_records += vr
        clock.lap(f"increment own passes ({len(own_sql)} codes)")
        near_frames: list[pd.DataFrame] = []
        near_records: list[Any] = []
        boxes = _near_boxes(comms)
        for i in range(0, len(boxes), 200):
            nf, nr = agg._open_vacancies(conn, w, [or_(*boxes[i:i + 200])])
            if not nf.empty:
                nf["rec"] = nf["rec"] + len(near_records)
                near_frames.append(nf)
            near_records += nr
        clock.lap(f"increment nearby vacancies ({len(boxes)} boxes)")
        upcoming = agg._upcoming_fairs(conn, w)
        targets = []
        for part in _chunks(only):
            targets.append(agg._frame(conn, select(
                Target.region_code, Target.metric, Target.target
            ).where(Target.year == w.today.year, Target.region_code.in_(part))))
        stored: dict[str, Any] = {}
        for part in _chunks(need):
            for code, body in conn.execute(select(RefreshState.region_code, RefreshState.body)
                                           .where(RefreshState.region_code.in_(part))):
                stored[code] = json.loads(body)
        clock.lap(f"increment stored state ({len(need)})")
        chain = chain_of(conn, base.batch_id)
        # The layout, and the first and last path steps (items 1..N, format 2) of the
        # base batch: the steps are the regions in code order (agg._read_regions), and the
        # region table is unchanged since the base (its hash), so they are not read back;
        # the two ends check that the base was numbered that way.
        layout = conn.execute(select(SnapshotItem.body).where(
            SnapshotItem.item_id == LAYOUT_ITEM,
            visible(SnapshotItem, base.batch_id, chain))).scalar()
        ends = {i: json.loads(body)[0] for i, body in conn.execute(
            select(SnapshotItem.item_id, SnapshotItem.body).where(
                SnapshotItem.item_id.in_([1, len(names)]),
                visible(SnapshotItem, base.batch_id, chain)))}
        # The base's nearby lists of the communities that keep theirs: the last list.
        kept_near: dict[str, str] = {}
        for part in _chunks(keep_near):
            for code, lists in conn.execute(
                    select(SnapshotRegion.region_code, SnapshotRegion.lists).where(
                        SnapshotRegion.region_code.in_(part),
                        visible(SnapshotRegion, base.batch_id, chain))):
                kept_near[code] = agg._js(json.loads(lists)[-1])
        # Item ids are unique within a chain: new ones go after every id it holds.
        first_item = (conn.execute(select(func.max(SnapshotItem.item_id)).where(
            SnapshotItem.batch_id >= chain, SnapshotItem.batch_id <= base.batch_id)).scalar()
            or 0) + 1
        # Vacancies restated at the same place and days: their current records, and every
        # item of the chain that shows one of them (any list may hold it).
        restate = sorted({m[len(VAC_MARK):] for m in marked if m.startswith(VAC_MARK)}
                         & set(names))
        clock.lap("increment layout")
        restate_rows: list[Any] = []
        for part in _chunks(restate):
            restate_rows += agg._open_vacancies(conn, w, [Vacancy.community_code.in_(part)])[1]
        chain_vac_items: list[tuple[int, str, str]] = []
        if restate_rows:
            inner = {_js_inner(r.vacancy_id): r.vacancy_id for r in restate_rows}
            for item_id, body in conn.execute(
                    select(SnapshotItem.item_id, SnapshotItem.body).where(
                        SnapshotItem.item_id > len(names),
                        visible(SnapshotItem, base.batch_id, chain))):
                vid = _vacancy_item_id(body, inner)
                if vid is not None:
                    chain_vac_items.append((item_id, body, vid))
    clock.lap(f"increment restated ({len(restate)} communities, {len(chain_vac_items)} items)")
    missing = [c for c in need if c not in stored] + [c for c in keep_near
                                                       if c not in kept_near]
    if missing:
        return f"no stored state for {len(missing)} regions (e.g. {missing[0]})"
    step_of = agg.step_numbers(names)
    order = list(names)
    if not order or any(ends.get(step_of[c]) != c for c in (order[0], order[-1])):
        return "the base batch numbers its path steps differently"

    vac = pd.concat(vac_frames, ignore_index=True) if vac_frames else _empty_vacancies()
    near = pd.concat(near_frames, ignore_index=True) if near_frames else _empty_vacancies()
    near_open = near[near["open"]] if not near.empty else near
    covered, nearby = agg._circle(comms, near_open)
    for c, packed in kept_near.items():
        covered[c] = not packed.startswith("[[]")
    part_frame = pd.concat([f for f in frames if not f.empty]) if any(
        not f.empty for f in frames) else pd.DataFrame(index=pd.Index([], name="code"))
    sql_comms = [c for c in comm_codes if c not in near_only]
    own, _ = agg._own_parts([part_frame], vac, pd.Index(sql_comms), covered, names)
    if near_only:
        kept = pd.DataFrame([stored[c]["p"] for c in sorted(near_only)],
                            index=pd.Index(sorted(near_only), name="code"),
                            columns=list(agg.PART_COLUMNS))
        kept["circle_covered"] = [int(covered[c]) for c in kept.index]
        own = pd.concat([own.reindex(columns=list(agg.PART_COLUMNS)).fillna(0), kept])
    fail = agg._full_employment(own, pd.Index(comm_codes, name="code"))
    clock.lap("increment parts")
    _, action_items, criteria, action_keys = agg._fe_lists(
        fail, own, pd.DataFrame({"member": pd.Series([], dtype=object),
                                 "region": pd.Series([], dtype=object)}))

    # The base batch's format-2 tables: new industries are appended (the layout item is
    # then written again), the others are fixed lists.
    layout_body = json.loads(layout) if layout else {}
    if layout_body.get("v") != PACK_FORMAT:
        return "the base batch is not in the current snapshot format"
    forms_t, types_t = agg.Table(layout_body["forms"]), agg.Table(layout_body["types"])
    industries_t = agg.Table(layout_body["industries"])
    n_industries = len(industries_t.values)

    latest = pd.concat([f for f in latest_parts if not f.empty]) if any(
        not f.empty for f in latest_parts) else pd.DataFrame(
        columns=["code", "placed_at", "form", "placement_id"])
    if not latest.empty:
        latest = latest.sort_values(["placed_at", "placement_id"], ascending=False,
                                    kind="stable").reset_index(drop=True)
    codes, group_pos, rank, group_of = agg.placement_groups(latest, forms_t)
    open_vac = vac[vac["open"]].copy() if not vac.empty else vac
    if not open_vac.empty:
        open_vac["industry_k"] = open_vac["industry"].fillna(agg.UNSPECIFIED)
        open_vac["band"] = [agg._salary_band(s) for s in open_vac["salary_min"].tolist()]

    items: list[str] = []
    ids: dict[tuple[str, Any], int] = {}

    def ref(kind: str, key: Any, text_of: Any) -> int:
        i = ids.get((kind, key))
        if i is None:
            i = ids[(kind, key)] = first_item + len(items)
            items.append(text_of())
        return i

    def group_id(c: str) -> int:
        return ref("g", c, lambda: group_of(c, step_of.get(c, c)))

    # Own candidates of each changed code; a code's own group: (item, size).
    own_lp: dict[str, list[list[Any]]] = defaultdict(list)
    own_group: dict[str, tuple[int, int]] = {}
    if codes:
        keys = [agg.ts_key(t) for t in latest["placed_at"].tolist()]
        pids = latest["placement_id"].tolist()
        for c, ps in group_pos.items():
            g = group_id(c)
            own_group[c] = (g, len(ps))
            own_lp[c] = [[keys[i], pids[i], g, rank[i]] for i in ps]
    own_nv: dict[str, list[list[Any]]] = defaultdict(list)
    own_ind: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    own_band: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    if not open_vac.empty:
        for code, posted, vid, rec, ind, band, hc in zip(
            open_vac["code"].tolist(), open_vac["posted_on"].tolist(),
            open_vac["vacancy_id"].tolist(), open_vac["rec"].tolist(),
            open_vac["industry_k"].tolist(), open_vac["band"].tolist(),
            open_vac["headcount"].tolist(), strict=True,
        ):
            own_nv[code].append([posted.isoformat(), vid, ("v", rec)])
            own_ind[code][ind] += int(hc)
            own_band[code][band] += int(hc)
    for c in near_only:
        # A community's stored lists are its own (it has no children): its list is its
        # own placement group, whole.
        own_lp[c] = stored[c]["lp"]
        if own_lp[c]:
            own_group[c] = (own_lp[c][0][2], len(own_lp[c]))
        own_nv[c] = stored[c]["nv"]
        own_ind[c] = stored[c]["ind"]
        own_band[c] = stored[c]["band"]
    own_fe: dict[str, list[list[Any]]] = defaultdict(list)
    for i, key in enumerate(action_keys):
        own_fe[key[2]].append([*key, ("a", i)])

    def vac_text(rec: int, records: list[Any]) -> Any:
        return lambda: agg.vacancy_text(records[rec], step_of, types_t, industries_t)

    def resolve(entry: list[Any]) -> list[Any]:
        """An own candidate's item made (or found) in this batch: its id."""
        tag = entry[-1]
        if not isinstance(tag, tuple):
            return entry
        kind, i = tag
        if kind == "v":
            item = ref("v", vac_records[i].vacancy_id, vac_text(i, vac_records))
        else:
            c, mask = action_items[i]
            item = ref("a", c, lambda: agg._js([step_of.get(c, c), mask]))
        return [*entry[:-1], item]

    # Fairs: the whole upcoming list is small; each changed region takes its first ten.
    fair_items = agg.fair_texts(upcoming, names)
    fair_lists: dict[str, list[int]] = defaultdict(list)
    changed_set = set(only)
    for i, code in enumerate(upcoming["code"].tolist() if not upcoming.empty else []):
        for a in chains.get(code, ()):
            if a in changed_set and len(fair_lists[a]) < agg.UPCOMING_FAIRS:
                fair_lists[a].append(i)

    targets_by_region = agg._targets_by_region(pd.concat(targets) if targets else
                                               pd.DataFrame())
    part_cols = list(agg.PART_COLUMNS)
    own_rows = own.reindex(columns=part_cols).fillna(0).astype("int64")
    own_map = dict(zip(own_rows.index.tolist(), own_rows.to_numpy().tolist(), strict=True))
    zero = [0] * len(part_cols)
    new_state: dict[str, Any] = {}
    rows: dict[str, dict] = {}
    n_months = len(w.months)
    # Deepest first, so every child's new state exists before its parent's.
    for code in sorted(only, key=lambda c: -len(chains[c])):
        kids = [new_state[k] if k in new_state else stored[k] for k in children.get(code, ())]
        tot = list(own_map.get(code, zero))
        for k in kids:
            tot = [a + b for a, b in zip(tot, k["p"], strict=True)]
        lp = sorted(own_lp.get(code, []) + [e for k in kids for e in k["lp"]],
                    key=lambda e: (e[0], e[1]), reverse=True)[:agg.LATEST_PLACEMENTS]
        nv = sorted([resolve(e) for e in own_nv.get(code, ())] + [e for k in kids for e in k["nv"]],
                    key=lambda e: (e[0], e[1]), reverse=True)[:agg.NEWEST_VACANCIES]
        fe = sorted([resolve(e) for e in own_fe.get(code, ())] + [e for k in kids for e in k["fe"]],
                    key=lambda e: (-e[0], e[1] is None, e[1] or 0.0, e[2]))[:agg.FE_ACTIONS]
        ind: dict[str, int] = defaultdict(int, own_ind.get(code, {}))
        band: dict[str, int] = defaultdict(int, own_band.get(code, {}))
        for k in kids:
            for key, n in k["ind"].items():
                ind[key] += n
            for key, n in k["band"].items():
                band[key] += n
        ind = {k: v for k, v in ind.items() if v}
        band = {k: v for k, v in band.items() if v}
        new_state[code] = {"p": tot, "lp": lp, "nv": nv, "ind": ind, "band": band, "fe": fe}
        mine = own_group.get(code)
        if lp and mine is not None and len(lp) == mine[1] and all(e[2] == mine[0] for e in lp):
            latest_list: Any = mine[0]  # the region's own group, whole
        else:
            latest_list = [[e[2], e[3]] for e in lp]
        community = levels[code] == "community"
        near = [(ref("v", near_records[rec].vacancy_id, vac_text(rec, near_records)), d)
                for rec, d in nearby.get(code, ())] if community else []
        near_text = kept_near.get(code)
        fair_ids = [ref("f", upcoming["fair_id"].iat[i], (lambda i=i: fair_items[i]))
                    for i in fair_lists.get(code, ())]
        _, metrics_text, series_text, targets_text, lists_text = agg.region_columns(
            dict(zip(part_cols, tot, strict=True)), n_months, targets_by_region.get(code, {}),
            latest_list, [e[-1] for e in nv], ind, band, fair_ids, [e[-1] for e in fe],
            criteria.get(code), community, near, industries_t, near_text=near_text)
        rows[code] = {
            "code": code, "name": names[code], "level": levels[code],
            "parent_code": parents[code], "path": agg.path_text(chains[code], step_of),
            "metrics": metrics_text,
            "series": series_text, "targets": targets_text, "lists": lists_text,
        }
    # The restated vacancies' items, same ids, where the text changed.
    texts = {r.vacancy_id: agg.vacancy_text(r, step_of, types_t, industries_t)
             for r in restate_rows}
    restated = [(i, texts[vid]) for i, body, vid in chain_vac_items if texts[vid] != body]
    new_layout = None
    if len(industries_t.values) != n_industries:
        new_layout = agg._js({**layout_body, "industries": industries_t.values})
    clock.lap("increment rows")
    return Plan(False, "", rows, items, new_state, [], w.today, tz, base=base,
                first_item=first_item, total_rows=len(names), changed=only,
                layout=new_layout, restated=restated, chain=chain)


# ================================================================ writing
def save(conn: Connection, batch_id: int, p: Plan, write_rows: Any) -> None:
    """Write an increment's rows and items (a full batch is written by the caller), the
    state, the base and the consumed marks, in the batch's transaction."""
    gc_was_on = gc.isenabled()
    gc.disable()
    try:
        _save(conn, batch_id, p, write_rows)
    finally:
        if gc_was_on:
            gc.enable()


def _save(conn: Connection, batch_id: int, p: Plan, write_rows: Any) -> None:
    if not p.full:
        _write_increment(conn, batch_id, p, write_rows)
    for part in _chunks(p.marks):
        conn.execute(delete(RefreshMark).where(RefreshMark.id.in_(part)))
    if p.state is None:
        conn.execute(delete(RefreshBase))
        conn.execute(delete(RefreshState))
        return
    if p.full:
        conn.execute(delete(RefreshState))
    else:
        for part in _chunks(sorted(p.state)):
            conn.execute(delete(RefreshState).where(RefreshState.region_code.in_(part)))
    state_rows = [(c, json.dumps(s, ensure_ascii=False, separators=(",", ":")))
                  for c, s in p.state.items()]
    write_rows(conn, state_rows, RefreshState, ("region_code", "body"))
    items_full = len(p.items) if p.full else p.base.items_full  # type: ignore[union-attr]
    added = 0 if p.full else p.base.items_added + len(p.items)  # type: ignore[union-attr]
    conn.execute(delete(RefreshBase))
    conn.execute(insert(RefreshBase).values(
        id=1, batch_id=batch_id, day=p.day, tz=p.tz, version=VERSION,
        regions_hash=p.regions_hash, items_full=items_full, items_added=added))


def map_items_increment(engine: Engine, p: Plan, as_of: dt.datetime, tz: str
                        ) -> list[tuple[int, str]] | None:
    """The map's items of an increment: the base's map with the changed communities'
    values replaced and the worksites open at as_of read again (None: the base has no
    map items, build them whole with map_snapshot)."""
    from queries import maplayer as ml

    base = p.base.batch_id  # type: ignore[union-attr]
    with engine.connect() as conn:
        texts = conn.execute(select(SnapshotItem.body).where(
            SnapshotItem.item_id < 0, visible(SnapshotItem, base))
            .order_by(SnapshotItem.item_id.desc())).scalars().all()
        layout = conn.execute(select(SnapshotItem.body).where(
            SnapshotItem.item_id == LAYOUT_ITEM, visible(SnapshotItem, base))).scalar()
        if not texts:
            return None
        worksites = ml._worksites(conn, as_of.astimezone(ZoneInfo(tz)).date()) \
            if p.worksites else None
    mb = ml.decode_map_base(list(texts))
    keys = ml.metric_keys(layout)
    pos = {c: i for i, c in enumerate(mb.codes)}
    for code, r in p.rows.items():
        i = pos.get(code)
        if i is not None:
            for k, v in zip(ml.STORED_KEYS, ml._community_metrics(r["metrics"], keys),
                            strict=True):
                mb.values[k][i] = v
    if worksites is not None:
        mb.vac_lat = np.array([w[0] for w in worksites], dtype=float)
        mb.vac_lon = np.array([w[1] for w in worksites], dtype=float)
        mb.vac_head = np.array([w[2] or 0 for w in worksites], dtype=float)
        mb.vac_comm = np.array([pos.get(w[3], -1) for w in worksites], dtype=np.int64)
    return [(-1 - k, text) for k, text in enumerate(ml.encode_map_base(mb))]


def map_snapshot(engine: Engine, p: Plan) -> tuple[dict[str, dict], list[str]]:
    """The whole batch an increment makes, as queries.maplayer.map_items reads it: every
    region's parent, name, level and metrics (the base's, the changed ones replaced), and
    the items up to the layout."""
    base = p.base.batch_id  # type: ignore[union-attr]
    t = SnapshotRegion.__table__
    with engine.connect() as conn:
        rows = {code: {"parent_code": parent, "name": name, "level": level, "metrics": m}
                for code, parent, name, level, m in conn.execute(
                    select(t.c.region_code, t.c.parent_code, t.c.name, t.c.level,
                           t.c.metrics).where(visible(t, base))).tuples()}
        layout = conn.execute(select(SnapshotItem.body).where(
            SnapshotItem.item_id == LAYOUT_ITEM, visible(SnapshotItem, base))).scalar()
    rows.update(p.rows)
    return rows, [layout or ""]


def _write_increment(conn: Connection, batch_id: int, p: Plan, write_rows: Any) -> None:
    """The changed rows and the new items, written as versions of the base's chain
    (queries.versions): the rows and items they replace are closed, nothing is copied."""
    chain = p.chain
    # The map's items (negative ids) are replaced only when something changed, the
    # layout only when an industry was added.
    if p.map_items is not None:
        close(conn, SnapshotItem, batch_id, chain, SnapshotItem.item_id < 0)
        write_rows(conn, [(batch_id, i, body) for i, body in p.map_items],
                   SnapshotItem, ("batch_id", "item_id", "body"))
    if p.layout is not None:
        close(conn, SnapshotItem, batch_id, chain, SnapshotItem.item_id == LAYOUT_ITEM)
        write_rows(conn, [(batch_id, LAYOUT_ITEM, p.layout)], SnapshotItem,
                   ("batch_id", "item_id", "body"))
    for part in _chunks(p.changed):
        close(conn, SnapshotRegion, batch_id, chain, SnapshotRegion.region_code.in_(part))
    restated = sorted(p.restated)
    for part in _chunks(restated):
        close(conn, SnapshotItem, batch_id, chain,
              SnapshotItem.item_id.in_([i for i, _ in part]))
    write_rows(conn, [(batch_id, i, body) for i, body in restated], SnapshotItem,
               ("batch_id", "item_id", "body"))
    write_rows(conn, [(batch_id, p.first_item + i, body) for i, body in enumerate(p.items)],
               SnapshotItem, ("batch_id", "item_id", "body"))
    write_rows(conn, [
        (batch_id, code, r["parent_code"], r["name"], r["level"], r["path"], r["metrics"],
         r["series"], r["targets"], r["lists"]) for code, r in p.rows.items()
    ], SnapshotRegion, ("batch_id", "region_code", "parent_code", "name", "level", "path",
                        "metrics", "series", "targets", "lists"))


def chain_after(batch_id: int, p: Plan) -> int:
    """The chain of the batch a plan writes: itself when full, else its base's."""
    return batch_id if p.full else p.chain


__all__ = ["FULL_MARK", "LAYOUT_ITEM", "Marker", "Plan", "VERSION", "chain_after",
           "enabled_by_default", "plan", "save"]
