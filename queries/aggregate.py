"""SPEC section 3 metrics for every region: one pass per source table, rolled up in pandas.

Each source table is aggregated once in SQL, grouped by community code (plus the few
dimensions a metric needs). The per-community "parts" (counts, numerators and
denominators) are then summed over each region's subtree through a membership frame
(community -> every ancestor, itself included), and ratios are recomputed from the summed
parts, so every level is exact.

Per region, compute_snapshot returns {code, name, level, parent_code, path, metrics,
series, targets, lists}; `path` is [{"code","name","level"}] from the topmost loaded
ancestor down to the region. `lists` (no personal data):
- latest_placements: ≤ 20 newest placements with placed_on ≤ date(T):
  [{"placed_at" (local ISO 8601 with offset), "community_code", "community_name", "form"}]
- newest_vacancies: ≤ 20 open vacancies by posted_on desc (then vacancy_id desc):
  [{"vacancy_id","title","employer","headcount","salary_min","salary_max","type",
  "industry","posted_on","community_code","community_name"}]
- nearby_vacancies (communities only): ≤ 30 open vacancies anywhere within 3 km of the
  centre, nearest first: the same fields plus "distance_km" (2 decimals)
- by_industry: open headcount by industry, top 10 by headcount then "其他" (the rest);
  null industry is "未标明": [{"industry", "headcount"}]
- salary_bands: open headcount by salary_min band, always all five in this order:
  [{"band": "<3000" | "3000–4999" | "5000–7999" | "≥8000" | "未标明", "headcount"}]

As stored (compute_batch), metrics are by position and list items by id, each item's
text once per batch (queries.packing); compute_snapshot gives the unpacked form.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import logging
import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy import (
    Date,
    DateTime,
    Engine,
    String,
    and_,
    bindparam,
    case,
    exists,
    func,
    or_,
    select,
    text,
    true,
)

from queries.domain import (
    ASSISTANCE_KINDS,
    CIRCLE_KM,
    EARTH_RADIUS_KM,
    FAIR_COUNTS,
    FE_CRITERIA,
    FE_EMPLOYMENT_MIN,
    KEY_GROUPS,
    LEVELS,
    LONG_TERM_DAYS,
    OVERDUE_DAYS,
    PLACEMENT_FORMS,
    TRAINING_KINDS,
    VACANCY_TYPES,
)
from queries.geo import haversine_km, within_circle
from queries.metrics import DECIMALS, METRIC_KEYS, SCALES, VALUE_RULES
from queries.models import (
    Assistance,
    Employer,
    Household,
    Interview,
    JobFair,
    Loan,
    Person,
    Placement,
    Region,
    Survey,
    Target,
    Training,
    Vacancy,
)
from queries.packing import (
    EPOCH_DAY,
    LAYOUT_ITEM,
    Table,
    layout_text,
    pack_metrics,
    pack_nearby,
    read_layout,
    unpack_row,
)

log = logging.getLogger(__name__)

LATEST_PLACEMENTS = 20
NEWEST_VACANCIES = 20
NEARBY_VACANCIES = 30
TOP_INDUSTRIES = 10
OTHER_INDUSTRY = "其他"
UNSPECIFIED = "未标明"
SALARY_BANDS: tuple[str, ...] = ("<3000", "3000–4999", "5000–7999", "≥8000", UNSPECIFIED)
CIRCLE_BLOCK = 500_000  # distances computed at once in the 3-km grid join (≈ 4 MB each)
STREAM_ROWS = 50_000  # rows per chunk of a pass whose result grows with the data
GRID_DEG = 0.05  # spatial grid cell for the 3-km joins (≈ 5.5 km north-south)
SERIES_MONTHS = 12
UPCOMING_FAIRS = 10  # SPEC 6.3: the next fairs, held_on in date(T)..date(T)+30
UPCOMING_DAYS = 30
FE_ACTIONS = 20  # communities to act on, worst first
# SPEC section 6.2 parts (the passes under "SPEC 6.2 passes" below).
SERVICE_PARTS: list[str] = (
    ["js_reg_month", "js_reg_year", "emp_total", "emp_reg_year", "emp_hiring",
     "lab_employed", "unemp_reg", "unemp_long", "lab_reg_force", "lab_active", "dif_unassisted",
     "fair_year"]
    + [f"fair_{c}" for c in FAIR_COUNTS]
    + ["tr_year", "tr_completed", "tr_certified", "tr_subsidised", "tr_remote"]
    + [f"tr_kind_{k}" for k in TRAINING_KINDS]
    + ["iv_year", "iv_remote", "iv_offer", "iv_decided", "loan_year", "loan_fen", "loan_jobs",
       "sat_n", "sat_score", "sat_satisfied", "fe_communities", "fe_compliant"]
    + [f"fe_fail_{c}" for c in FE_CRITERIA]
)


# ---------------------------------------------------------------- windows
class Windows:
    """The local-date windows of SPEC section 3 for one as-of instant."""

    def __init__(self, as_of: dt.datetime, tz: str) -> None:
        zone = ZoneInfo(tz)
        local = as_of.replace(tzinfo=zone) if as_of.tzinfo is None else as_of.astimezone(zone)
        self.tz = tz
        self.local = local
        self.today: dt.date = local.date()
        self.month_start = self.today.replace(day=1)
        self.year_start = self.today.replace(month=1, day=1)
        # The 12 calendar months ending with T's month, oldest first: (label, first, next first).
        months: list[tuple[str, dt.date, dt.date]] = []
        y, m = self.today.year, self.today.month
        for back in range(SERIES_MONTHS - 1, -1, -1):
            yy, mm = divmod((y * 12 + m - 1) - back, 12)
            first = dt.date(yy, mm + 1, 1)
            ny, nm = divmod(yy * 12 + mm + 1, 12)
            months.append((f"{yy:04d}-{mm + 1:02d}", first, dt.date(ny, nm + 1, 1)))
        self.months = months
        self.series_start = months[0][1]


def _csum(cond: Any, value: Any = 1) -> Any:
    """SUM(CASE WHEN cond THEN value ELSE 0 END): a conditional count on every dialect."""
    return func.sum(case((cond, value), else_=0))


def _only(col: Any, only: list[str] | None) -> list[Any]:
    """The WHERE condition restricting a pass to some region codes (none: every code)."""
    return [] if only is None else [col.in_(only)]


def _frame(conn: Any, stmt: Any) -> pd.DataFrame:
    result = conn.execute(stmt)
    # Plain tuples: pandas probing Row objects for array protocols is very slow; all()
    # fetches in one call rather than a fetchone per row.
    return pd.DataFrame([tuple(r) for r in result.all()], columns=list(result.keys()))


# ---------------------------------------------------------------- region tree
def _region_tree(regions: pd.DataFrame) -> tuple[dict[str, list[str]], pd.DataFrame]:
    """Ancestors of each region (itself first, then upwards) and the membership frame."""
    parent = dict(zip(regions["code"], regions["parent_code"], strict=True))
    known = set(parent)
    chains: dict[str, list[str]] = {}
    for code in regions["code"]:
        chain = [code]
        seen = {code}
        p = parent.get(code)
        # Stop at the topmost loaded ancestor; a cycle in bad data must not loop forever.
        while p is not None and p in known and p not in seen:
            chain.append(p)
            seen.add(p)
            p = parent.get(p)
        chains[code] = chain
    members = [(c, a) for c, chain in chains.items() for a in chain]
    membership = pd.DataFrame(members, columns=["member", "region"])
    return chains, membership


def _rollup(parts: pd.DataFrame, membership: pd.DataFrame) -> pd.DataFrame:
    """Sum per-member integer parts over every region's subtree."""
    vals = parts.reindex(membership["member"].to_numpy()).fillna(0).to_numpy()
    frame = pd.DataFrame(vals, columns=parts.columns)
    frame["_region"] = membership["region"].to_numpy()
    return frame.groupby("_region", sort=False).sum().astype("int64")


# ---------------------------------------------------------------- source passes
def _placement_parts(conn: Any, w: Windows, only: list[str] | None = None) -> pd.DataFrame:
    """Placement counts per community: windows, forms, monthly series (one grouped pass).

    Grouped by community only (forms are conditional sums), so SQLite reads
    ix_placements_community_at in its order, without a sort and without the table rows.
    """
    P = Placement
    year = P.placed_on >= w.year_start
    cols = [
        P.community_code.label("code"),
        _csum(P.placed_on == w.today).label("pl_today"),
        _csum(P.placed_on >= w.month_start).label("pl_month"),
        _csum(year).label("pl_year"),
    ]
    cols += [
        _csum(and_(P.placed_on >= a, P.placed_on < b)).label(f"pl_m{i}")
        for i, (_, a, b) in enumerate(w.months)
    ]
    cols += [_csum(and_(year, P.form == f)).label(f"pl_form_{f}") for f in PLACEMENT_FORMS]
    lo = min(w.series_start, w.year_start)
    stmt = (
        select(*cols)
        .where(P.placed_on >= lo, P.placed_on <= w.today, *_only(P.community_code, only))
        .group_by(P.community_code)
    )
    df = _frame(conn, stmt)
    if df.empty:
        return pd.DataFrame(index=pd.Index([], name="code"))
    return df.set_index("code").astype("int64")


def _within_parts(
    conn: Any, w: Windows, centres: pd.DataFrame, only: list[str] | None = None
) -> pd.DataFrame:
    """Year placements with a known vacancy, and those within 3 km, per community."""
    P, V = Placement, Vacancy
    stmt = (
        select(
            P.community_code.label("code"),
            V.lat.label("vlat"),
            V.lon.label("vlon"),
            func.count().label("n"),
        )
        .join(V, V.vacancy_id == P.vacancy_id)
        .where(P.placed_on >= w.year_start, P.placed_on <= w.today,
               *_only(P.community_code, only))
        .group_by(P.community_code, V.vacancy_id, V.lat, V.lon)
    )
    # One row per (community, vacancy) of the year's placements: as many as the data has,
    # so they are streamed and reduced per community a chunk at a time (memory flat in
    # the data's size; at 2 M persons the whole result cost 185 MiB).
    result = conn.execution_options(stream_results=True, max_row_buffer=STREAM_ROWS) \
        .execute(stmt)
    sums: list[pd.DataFrame] = []
    for chunk in result.partitions(STREAM_ROWS):
        df = pd.DataFrame([tuple(r) for r in chunk], columns=["code", "vlat", "vlon", "n"])
        df = df.join(centres[["lat", "lon"]], on="code")
        dist = haversine_km(
            df["lat"].to_numpy(float), df["lon"].to_numpy(float),
            df["vlat"].to_numpy(float), df["vlon"].to_numpy(float),
        )
        # A community without a centre has no distance: its placements stay in the
        # denominator (the vacancy is known) but are not counted as within 3 km.
        df["n"] = df["n"].astype("int64")
        df["within"] = np.where(within_circle(np.nan_to_num(dist, nan=np.inf)), df["n"], 0)
        sums.append(df.groupby("code")[["n", "within"]].sum())
    if not sums:
        return pd.DataFrame(index=pd.Index([], name="code"))
    out = pd.concat(sums).groupby(level=0).sum()
    out.index.name = "code"
    out.columns = ["pl_known", "pl_within"]
    return out


def _latest_placements(conn: Any, w: Windows, only: list[str] | None = None) -> pd.DataFrame:
    """The newest placements of each region code (enough to build any region's top list).

    One short range of ix_placements_community_at per region code (newest first, LIMIT),
    instead of ranking every placement ever made: a LATERAL join where the database has
    one, a correlated IN on SQLite. Placements of codes that are not regions are shown in
    no list, so they are not read.
    """
    P, R = Placement, Region
    if conn.dialect.name == "sqlite":
        # "+placed_on": the date filter must not pull the planner onto the placed_on index.
        where = "" if only is None else " WHERE r.code IN :codes"
        stmt = text(
            "SELECT p.community_code AS code, p.placed_at, p.form, p.placement_id "
            "FROM regions r JOIN placements p ON p.rowid IN ("
            " SELECT q.rowid FROM placements q"
            " WHERE q.community_code = r.code AND +q.placed_on <= :today"
            " ORDER BY q.placed_at DESC, q.placement_id DESC LIMIT :n)" + where
        ).bindparams(
            bindparam("today", w.today, type_=Date), bindparam("n", LATEST_PLACEMENTS)
        ).columns(code=String, placed_at=DateTime, form=String, placement_id=String)
        if only is not None:
            stmt = stmt.bindparams(bindparam("codes", only, expanding=True))
        return _frame(conn, stmt)
    if conn.dialect.name in ("mysql", "mariadb"):
        # MariaDB has no LATERAL: rank each code's placements with a window function.
        rank = func.row_number().over(
            partition_by=P.community_code,
            order_by=(P.placed_at.desc(), P.placement_id.desc()),
        )
        ranked = (
            select(P.community_code.label("code"), P.placed_at, P.form, P.placement_id,
                   rank.label("rn"))
            .where(P.placed_on <= w.today,
                   P.community_code.in_(select(R.code) if only is None else only))
            .subquery()
        )
        return _frame(conn, select(ranked.c.code, ranked.c.placed_at, ranked.c.form,
                                   ranked.c.placement_id)
                      .where(ranked.c.rn <= LATEST_PLACEMENTS))
    newest = (
        select(P.placed_at, P.form, P.placement_id)
        .where(P.community_code == R.code, P.placed_on <= w.today)
        .order_by(P.placed_at.desc(), P.placement_id.desc())
        .limit(LATEST_PLACEMENTS)
        .lateral()
    )
    stmt = select(
        R.code.label("code"), newest.c.placed_at, newest.c.form, newest.c.placement_id
    ).select_from(R).join(newest, true()).where(*_only(R.code, only))
    return _frame(conn, stmt)


def _year_exists(w: Windows) -> tuple[Any, Any]:
    """EXISTS a placement / an assistance record of the person in the year window."""
    P, A, Pe = Placement, Assistance, Person
    return (
        exists().where(P.person_id == Pe.person_id, P.placed_on >= w.year_start,
                       P.placed_on <= w.today),
        exists().where(A.person_id == Pe.person_id, A.served_on >= w.year_start,
                       A.served_on <= w.today),
    )


def _person_parts(conn: Any, w: Windows, only: list[str] | None = None) -> pd.DataFrame:
    """Jobseekers and key-group registered/placed/assisted per community, one pass."""
    if conn.dialect.name != "sqlite":
        return _person_parts_grouped(conn, w, only)
    # SQLite flattens the subquery below: each key group's SUM gets its own copy of the
    # EXISTS, evaluated (an index probe) only for persons in that group.
    Pe = Person
    placed, assisted = _year_exists(w)
    kg_cols = [getattr(Pe, f"kg_{g}").label(f"kg_{g}") for g in KEY_GROUPS]
    inner = (
        select(
            Pe.community_code.label("code"),
            Pe.seeking_job.label("seeking"),
            *kg_cols,
            case((placed, 1), else_=0).label("placed"),
            case((assisted, 1), else_=0).label("assisted"),
        )
        # A person registered after date(T) is dated after T: not counted (SPEC §3).
        .where(or_(Pe.registered_on.is_(None), Pe.registered_on <= w.today),
               *_only(Pe.community_code, only))
        .subquery()
    )
    c = inner.c
    cols = [c.code, _csum(c.seeking == true()).label("seeking")]
    for g in KEY_GROUPS:
        flag = c[f"kg_{g}"] == true()
        cols += [
            _csum(flag).label(f"kg_{g}_reg"),
            _csum(and_(flag, c.placed == 1)).label(f"kg_{g}_placed"),
            _csum(and_(flag, c.assisted == 1)).label(f"kg_{g}_assisted"),
        ]
    df = _frame(conn, select(*cols).group_by(c.code))
    if df.empty:
        return pd.DataFrame(index=pd.Index([], name="code"))
    return df.set_index("code").astype("int64")


def _person_parts_grouped(
    conn: Any, w: Windows, only: list[str] | None = None
) -> pd.DataFrame:
    """_person_parts for PostgreSQL and others: grouped by (community, placed, assisted).

    "Placed" / "assisted" come from LEFT JOINs to the distinct person ids of the year's
    placements / assistance (hash joins, which spill to disk when large; an IN subplan
    stops being hashed once it exceeds work_mem and then rescans per person). Grouping by
    the two flags reads the persons table once; the flags only ever count inside a key
    group's sums.
    """
    P, A, Pe = Placement, Assistance, Person
    if only is None:
        placed_ids = (
            select(P.person_id.label("pid"))
            .where(P.placed_on >= w.year_start, P.placed_on <= w.today)
            .distinct()
            .subquery()
        )
        assisted_ids = (
            select(A.person_id.label("pid"))
            .where(A.served_on >= w.year_start, A.served_on <= w.today)
            .distinct()
            .subquery()
        )
        placed = case((placed_ids.c.pid.is_not(None), 1), else_=0)
        assisted = case((assisted_ids.c.pid.is_not(None), 1), else_=0)
        source: Any = (Pe.__table__
                       .outerjoin(placed_ids, placed_ids.c.pid == Pe.person_id)
                       .outerjoin(assisted_ids, assisted_ids.c.pid == Pe.person_id))
    else:
        # Some communities (an increment): two index probes per person of theirs, each a
        # grouping key computed once per row, instead of reading the year's placements
        # and assistance whole to join them.
        placed_in, assisted_in = _year_exists(w)
        placed = case((placed_in, 1), else_=0)
        assisted = case((assisted_in, 1), else_=0)
        source = Pe.__table__
    cols = [
        Pe.community_code.label("code"),
        placed.label("placed"),
        assisted.label("assisted"),
        _csum(Pe.seeking_job == true()).label("seeking"),
    ]
    cols += [_csum(getattr(Pe, f"kg_{g}") == true()).label(f"kg_{g}") for g in KEY_GROUPS]
    stmt = (
        select(*cols)
        .select_from(source)
        # A person registered after date(T) is dated after T: not counted (SPEC §3).
        .where(or_(Pe.registered_on.is_(None), Pe.registered_on <= w.today),
               *_only(Pe.community_code, only))
        .group_by(Pe.community_code, placed, assisted)
    )
    df = _frame(conn, stmt)
    if df.empty:
        return pd.DataFrame(index=pd.Index([], name="code"))
    num = [c for c in df.columns if c != "code"]
    df[num] = df[num].astype("int64")
    by_code = df.groupby("code")
    out = pd.DataFrame({"seeking": by_code["seeking"].sum()})
    for g in KEY_GROUPS:
        reg = df[f"kg_{g}"]
        out[f"kg_{g}_reg"] = by_code[f"kg_{g}"].sum()
        out[f"kg_{g}_placed"] = reg.where(df["placed"] == 1, 0).groupby(df["code"]).sum()
        out[f"kg_{g}_assisted"] = reg.where(df["assisted"] == 1, 0).groupby(df["code"]).sum()
    return out.astype("int64")


def _assistance_parts(conn: Any, w: Windows, only: list[str] | None = None) -> pd.DataFrame:
    """Assistance records served in the year window per community and kind."""
    A = Assistance
    stmt = (
        select(A.community_code.label("code"), A.kind, func.count().label("n"))
        .where(A.served_on >= w.year_start, A.served_on <= w.today,
               *_only(A.community_code, only))
        .group_by(A.community_code, A.kind)
    )
    df = _frame(conn, stmt)
    out = pd.DataFrame(index=pd.Index([], name="code"))
    if df.empty:
        return out
    df["n"] = df["n"].astype("int64")
    out = df.groupby("code")[["n"]].sum().rename(columns={"n": "as_year"})
    by_kind = df.pivot_table(index="code", columns="kind", values="n", aggfunc="sum")
    for k in ASSISTANCE_KINDS:
        out[f"as_kind_{k}"] = by_kind[k] if k in by_kind.columns else 0
    return out


def _household_parts(conn: Any, w: Windows, only: list[str] | None = None) -> pd.DataFrame:
    """Zero-employment household parts per community from one grouped pass."""
    H = Household
    stmt = (
        select(
            H.community_code.label("code"),
            H.zero_identified_on.label("ident"),
            H.zero_cleared_on.label("cleared"),
            func.count().label("n"),
        )
        # Only households that can count anywhere: identified by T and not cleared
        # before this year (outstanding, identified or cleared in the year window).
        .where(
            H.zero_identified_on.is_not(None),
            H.zero_identified_on <= w.today,
            or_(H.zero_cleared_on.is_(None), H.zero_cleared_on >= w.year_start),
            *_only(H.community_code, only),
        )
        .group_by(H.community_code, H.zero_identified_on, H.zero_cleared_on)
    )
    df = _frame(conn, stmt)
    if df.empty:
        return pd.DataFrame(index=pd.Index([], name="code"))
    today = pd.Timestamp(w.today)
    ident = pd.to_datetime(df["ident"])
    cleared = pd.to_datetime(df["cleared"])
    n = df["n"].astype("int64")
    outstanding = cleared.isna() | (cleared > today)
    overdue = outstanding & ((today - ident).dt.days > OVERDUE_DAYS)
    ident_y = ident >= pd.Timestamp(w.year_start)
    cleared_y = cleared.notna() & (cleared >= pd.Timestamp(w.year_start)) & (cleared <= today)
    days = (cleared - ident).dt.days.fillna(0).astype("int64")
    parts = pd.DataFrame({
        "code": df["code"],
        "hh_outstanding": n.where(outstanding, 0),
        "hh_overdue": n.where(overdue, 0),
        "hh_identified": n.where(ident_y, 0),
        "hh_cleared": n.where(cleared_y, 0),
        "hh_cleared_days": (n * days).where(cleared_y, 0),
    })
    return parts.groupby("code").sum().astype("int64")


def _open_vacancies(
    conn: Any, w: Windows, where: list[Any] | None = None
) -> tuple[pd.DataFrame, list[Any]]:
    """Vacancies open at T or posted this month (one pass): a frame, and the rows.

    `where`: further conditions (an incremental refresh reads some communities' only).
    """
    V, E = Vacancy, Employer
    stmt = (
        select(
            V.vacancy_id, V.community_code.label("code"), V.lat, V.lon, V.title, V.type,
            V.headcount, V.salary_min, V.salary_max, V.industry, V.posted_on, V.closed_on,
            E.name.label("employer"),
        )
        .outerjoin(E, E.employer_id == V.employer_id)
        .where(
            V.posted_on <= w.today,
            or_(V.closed_on.is_(None), V.closed_on > w.today, V.posted_on >= w.month_start),
            *(where or ()),
        )
    )
    rows = conn.execute(stmt).all()
    today, month_start = w.today, w.month_start
    # Unpacked by position (the select's order; vacancy_text relies on it too).
    flat = [
        (vid, code, lat, lon, vtype, int(hc), industry, smin, posted,
         closed is None or closed > today, posted >= month_start, i)
        for i, (vid, code, lat, lon, _title, vtype, hc, smin, _smax, industry, posted, closed,
                _employer) in enumerate(rows)
    ]
    df = pd.DataFrame(flat, columns=[
        "vacancy_id", "code", "lat", "lon", "type", "headcount", "industry", "salary_min",
        "posted_on", "open", "new_month", "rec",
    ])
    return df, rows


def _salary_band(s: float | None) -> str:
    if s is None or (isinstance(s, float) and math.isnan(s)):
        return UNSPECIFIED
    if s < 3000:
        return SALARY_BANDS[0]
    if s < 5000:
        return SALARY_BANDS[1]
    if s < 8000:
        return SALARY_BANDS[2]
    return SALARY_BANDS[3]


def _vacancy_parts(vac: pd.DataFrame) -> pd.DataFrame:
    """Open postings, open headcount (total and by type) and new this month per community."""
    if vac.empty:
        return pd.DataFrame(index=pd.Index([], name="code"))
    hc_open = vac["headcount"].where(vac["open"], 0)
    parts = pd.DataFrame({
        "code": vac["code"],
        "vac_open": vac["open"].astype("int64"),
        "vac_open_hc": hc_open,
        "vac_new_month": vac["new_month"].astype("int64"),
    })
    for t in VACANCY_TYPES:
        parts[f"vac_type_{t}"] = hc_open.where(vac["type"] == t, 0)
    return parts.groupby("code").sum().astype("int64")


# ---------------------------------------------------------------- SPEC 6.2 passes
def _labour_parts(conn: Any, w: Windows, only: list[str] | None = None) -> pd.DataFrame:
    """Registrations, labour status, registered and long-term unemployed per community."""
    Pe = Person
    unemployed = Pe.status == "unemployed"
    long_before = w.today - dt.timedelta(days=LONG_TERM_DAYS)
    stmt = (
        select(
            Pe.community_code.label("code"),
            _csum(Pe.registered_on >= w.month_start).label("js_reg_month"),
            _csum(Pe.registered_on >= w.year_start).label("js_reg_year"),
            _csum(Pe.status.in_(("employed", "flexible"))).label("lab_employed"),
            _csum(and_(unemployed, Pe.kg_registered_unemployed == true())).label("unemp_reg"),
            # date(T) − unemployed_since > 180 days, i.e. since < date(T) − 180 days.
            _csum(and_(unemployed, Pe.unemployed_since < long_before)).label("unemp_long"),
            _csum(Pe.status.in_(("employed", "flexible", "unemployed"))).label("lab_active"),
        )
        # A person registered after date(T) is dated after T: not counted (SPEC §3).
        .where(or_(Pe.registered_on.is_(None), Pe.registered_on <= w.today),
               *_only(Pe.community_code, only))
        .group_by(Pe.community_code)
    )
    df = _frame(conn, stmt)
    if df.empty:
        return pd.DataFrame(index=pd.Index([], name="code"))
    df = df.set_index("code").astype("int64")
    df["lab_reg_force"] = df["lab_employed"] + df["unemp_reg"]
    return df


def _unassisted_parts(conn: Any, w: Windows, only: list[str] | None = None) -> pd.DataFrame:
    """Unemployed `difficulty` persons with no assistance in the year window, per community."""
    Pe, A = Person, Assistance
    served = exists().where(
        A.person_id == Pe.person_id, A.served_on >= w.year_start, A.served_on <= w.today
    )
    stmt = (
        select(Pe.community_code.label("code"), func.count().label("dif_unassisted"))
        .where(
            Pe.kg_difficulty == true(), Pe.status == "unemployed", ~served,
            or_(Pe.registered_on.is_(None), Pe.registered_on <= w.today),
            *_only(Pe.community_code, only),
        )
        .group_by(Pe.community_code)
    )
    df = _frame(conn, stmt)
    if df.empty:
        return pd.DataFrame(index=pd.Index([], name="code"))
    return df.set_index("code").astype("int64")


def _employer_parts(conn: Any, w: Windows, only: list[str] | None = None) -> pd.DataFrame:
    """Employers, those joined this year and those with an open vacancy, per community."""
    E, V = Employer, Vacancy
    hiring_ids = (
        select(V.employer_id.label("eid"))
        .where(V.employer_id.is_not(None), V.posted_on <= w.today,
               or_(V.closed_on.is_(None), V.closed_on > w.today))
        .distinct()
        .subquery()
    )
    stmt = (
        select(
            E.community_code.label("code"),
            func.count().label("emp_total"),
            _csum(E.registered_on >= w.year_start).label("emp_reg_year"),
            _csum(hiring_ids.c.eid.is_not(None)).label("emp_hiring"),
        )
        .select_from(E)
        .outerjoin(hiring_ids, hiring_ids.c.eid == E.employer_id)
        # An employer that joins after date(T) is dated after T (SPEC §3).
        .where(E.community_code.is_not(None),
               or_(E.registered_on.is_(None), E.registered_on <= w.today),
               *_only(E.community_code, only))
        .group_by(E.community_code)
    )
    df = _frame(conn, stmt)
    if df.empty:
        return pd.DataFrame(index=pd.Index([], name="code"))
    return df.set_index("code").astype("int64")


def _grouped(conn: Any, code: Any, cols: list[Any], where: list[Any]) -> pd.DataFrame:
    """One grouped pass: integer parts per region code."""
    df = _frame(conn, select(code.label("code"), *cols).where(*where).group_by(code))
    if df.empty:
        return pd.DataFrame(index=pd.Index([], name="code"))
    return df.set_index("code").fillna(0).astype("int64")


def _service_parts(conn: Any, w: Windows, only: list[str] | None = None) -> pd.DataFrame:
    """Job fairs (by region at any level), trainings, interviews, loans and surveys."""
    F, Tr, Iv, L, S = JobFair, Training, Interview, Loan, Survey
    frames = [
        _grouped(conn, F.region_code, [func.count().label("fair_year")] + [
            func.coalesce(func.sum(getattr(F, c)), 0).label(f"fair_{c}") for c in FAIR_COUNTS
        ], [F.held_on >= w.year_start, F.held_on <= w.today, *_only(F.region_code, only)]),
    ]
    # A training completed after date(T) is not completed yet, nor is its certificate.
    done = and_(Tr.completed_on.is_not(None), Tr.completed_on <= w.today)
    not_future = or_(Tr.completed_on.is_(None), Tr.completed_on <= w.today)
    frames.append(_grouped(conn, Tr.community_code, [
        func.count().label("tr_year"),
        _csum(done).label("tr_completed"),
        _csum(and_(Tr.certified == true(), not_future)).label("tr_certified"),
        _csum(Tr.subsidised == true()).label("tr_subsidised"),
        _csum(Tr.mode == "remote").label("tr_remote"),
    ] + [_csum(Tr.kind == k).label(f"tr_kind_{k}") for k in TRAINING_KINDS],
        [Tr.started_on >= w.year_start, Tr.started_on <= w.today,
         *_only(Tr.community_code, only)]))
    frames.append(_grouped(conn, Iv.community_code, [
        func.count().label("iv_year"),
        _csum(Iv.mode == "remote").label("iv_remote"),
        _csum(Iv.outcome == "offer").label("iv_offer"),
        _csum(Iv.outcome.in_(("offer", "no_offer"))).label("iv_decided"),
    ], [Iv.held_on >= w.year_start, Iv.held_on <= w.today, *_only(Iv.community_code, only)]))
    frames.append(_grouped(conn, L.community_code, [
        func.count().label("loan_year"),
        # Amounts summed in fen, each rounded once, so every level sums exactly.
        func.sum(func.round(L.amount * 100)).label("loan_fen"),
        func.coalesce(func.sum(L.jobs_created), 0).label("loan_jobs"),
    ], [L.granted_on >= w.year_start, L.granted_on <= w.today, *_only(L.community_code, only)]))
    frames.append(_grouped(conn, S.community_code, [
        func.count().label("sat_n"),
        func.sum(S.score).label("sat_score"),
        _csum(S.score >= 4).label("sat_satisfied"),
    ], [S.answered_on >= w.year_start, S.answered_on <= w.today,
        *_only(S.community_code, only)]))
    return pd.concat(frames, axis=1)


_EMPLOYMENT_MIN = Fraction(str(FE_EMPLOYMENT_MIN))  # 19/20: compared in integers


def _full_employment(parts: pd.DataFrame, comms: pd.Index) -> pd.DataFrame:
    """The four 充分就业社区 criteria of each community (True = failing), from its parts."""
    p = parts.reindex(comms).fillna(0).astype("int64")
    employed, active = p["lab_employed"], p["lab_active"]
    # A community with nobody in the denominator meets the criterion.
    fail = pd.DataFrame({
        "employment": (active > 0) & (employed * _EMPLOYMENT_MIN.denominator
                                      < active * _EMPLOYMENT_MIN.numerator),
        "long_term": p["unemp_long"] > 0,
        "zero_households": p["hh_overdue"] > 0,
        "assistance": p["dif_unassisted"] > 0,
    }, index=comms)
    return fail[list(FE_CRITERIA)]


def _fe_parts(fail: pd.DataFrame) -> pd.DataFrame:
    """Per community: 1 community, compliant or not, and failing each criterion."""
    out = pd.DataFrame({"fe_communities": 1, "fe_compliant": (~fail.any(axis=1)).astype("int64")},
                       index=fail.index)
    for c in FE_CRITERIA:
        out[f"fe_fail_{c}"] = fail[c].astype("int64")
    return out


def _days_in_year(year: int) -> int:
    return (dt.date(year + 1, 1, 1) - dt.date(year, 1, 1)).days


def _fe_lists(
    fail: pd.DataFrame, parts: pd.DataFrame, membership: pd.DataFrame
) -> tuple[dict[str, list[int]], list[tuple[str, int]], dict[str, tuple[int, float | None]],
           list[list[Any]]]:
    """Communities to act on (per region, worst first) and each community's criteria.

    Worst first: most criteria failed, then the lowest employment share (none last), then
    the code. Items carry no counts of persons, only which criteria fail: (code, mask)
    with bit i set when FE_CRITERIA[i] fails; criteria[code] is (mask, employment share).
    Also each item's sort key [failed, share or None, code] (queries.incremental).
    """
    if fail.empty:
        return {}, [], {}, []
    p = parts.reindex(fail.index).fillna(0)
    active = p["lab_active"].to_numpy(float)
    share = np.where(active > 0, p["lab_employed"].to_numpy(float) / np.maximum(active, 1),
                     np.nan)
    n_fail = fail.sum(axis=1).to_numpy()
    codes = fail.index.to_numpy()
    weights = 1 << np.arange(len(FE_CRITERIA))
    masks = dict(zip(codes.tolist(), (fail.to_numpy().astype(np.int64) @ weights).tolist(),
                     strict=True))
    criteria = {code: (masks[code], None if math.isnan(sh) else round(sh, 4))
                for code, sh in zip(codes.tolist(), share.tolist(), strict=True)}
    order = pd.DataFrame({"code": codes, "n": n_fail, "share": share})
    order = order[order["n"] > 0].sort_values(
        ["n", "share", "code"], ascending=[False, True, True], na_position="last",
        kind="stable",
    ).reset_index(drop=True)
    items = [(c, masks[c]) for c in order["code"].tolist()]
    keys = [[int(n), None if math.isnan(sh) else sh, c] for n, sh, c in zip(
        order["n"].tolist(), order["share"].tolist(), order["code"].tolist(), strict=True)]
    return _top_per_region(order, membership, FE_ACTIONS), items, criteria, keys


def _upcoming_fairs(conn: Any, w: Windows) -> pd.DataFrame:
    """Fairs held in date(T)..date(T)+30, in list order (the only future dates shown)."""
    F = JobFair
    stmt = (
        select(F.fair_id, F.region_code.label("code"), F.held_on, F.title, F.mode)
        .where(F.held_on >= w.today, F.held_on <= w.today + dt.timedelta(days=UPCOMING_DAYS))
        .order_by(F.held_on, F.fair_id)
    )
    return _frame(conn, stmt)


# ---------------------------------------------------------------- spatial join
def _grid_cells(lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.floor(lat / GRID_DEG).astype(np.int64), np.floor(lon / GRID_DEG).astype(np.int64)


def _circle(
    comms: pd.DataFrame, open_vac: pd.DataFrame
) -> tuple[dict[str, bool], dict[str, list[tuple[int, float]]]]:
    """Per community: covered flag and the nearest open vacancies within 3 km (grid join)."""
    covered: dict[str, bool] = {c: False for c in comms["code"]}
    nearby: dict[str, list[tuple[int, float]]] = {c: [] for c in comms["code"]}
    vac = open_vac.dropna(subset=["lat", "lon"])
    comms = comms.dropna(subset=["lat", "lon"])
    if vac.empty or comms.empty:
        return covered, nearby
    vlat = vac["lat"].to_numpy(float)
    vlon = vac["lon"].to_numpy(float)
    vrec = vac["rec"].to_numpy()
    vid = vac["vacancy_id"].to_numpy()
    vi, vj = _grid_cells(vlat, vlon)
    cells: dict[tuple[int, int], np.ndarray] = {}
    order = np.lexsort((vj, vi))
    keys = np.stack([vi[order], vj[order]], axis=1)
    if len(keys):
        starts = np.flatnonzero(np.r_[True, np.any(keys[1:] != keys[:-1], axis=1)])
        ends = np.r_[starts[1:], len(order)]
        for s, e in zip(starts, ends, strict=True):
            cells[(int(keys[s, 0]), int(keys[s, 1]))] = order[s:e]
    clat = comms["lat"].to_numpy(float)
    clon = comms["lon"].to_numpy(float)
    ccode = comms["code"].to_numpy()
    ci, cj = _grid_cells(clat, clon)
    groups: dict[tuple[int, int], list[int]] = defaultdict(list)
    for k, (a, b) in enumerate(zip(ci.tolist(), cj.tolist(), strict=True)):
        groups[(a, b)].append(k)
    lat_km = math.pi / 180 * EARTH_RADIUS_KM * GRID_DEG
    for (a, b), idx in groups.items():
        # Enough neighbour cells east-west for 3 km at this latitude (3 at China's latitudes).
        edge = max(abs(a), abs(a + 1)) * GRID_DEG
        lon_km = lat_km * max(math.cos(math.radians(min(edge, 89.9))), 1e-6)
        span_j = max(1, math.ceil(CIRCLE_KM / lon_km))
        span_i = max(1, math.ceil(CIRCLE_KM / lat_km))
        cand = [
            cells[(a + di, b + dj)]
            for di in range(-span_i, span_i + 1)
            for dj in range(-span_j, span_j + 1)
            if (a + di, b + dj) in cells
        ]
        if not cand:
            continue
        cidx = np.concatenate(cand)
        # Distances of a block of communities to the candidates at a time: a dense town
        # has thousands of worksites around hundreds of centres, and the whole matrix
        # (with haversine's temporaries) grew with the data (230 MiB at 2 M persons).
        step = max(1, CIRCLE_BLOCK // len(cidx))
        for start in range(0, len(idx), step):
            rows = np.asarray(idx[start:start + step])
            dist = haversine_km(
                clat[rows][:, None], clon[rows][:, None],
                vlat[cidx][None, :], vlon[cidx][None, :],
            )
            inside = within_circle(dist)
            for r, row in enumerate(rows):
                hit = np.flatnonzero(inside[r])
                if hit.size == 0:
                    continue
                code = ccode[row]
                covered[code] = True
                # Nearest first; vacancy id breaks distance ties for a stable order.
                dh = dist[r, hit]
                best = hit[np.lexsort((vid[cidx[hit]], dh))][:NEARBY_VACANCIES]
                nearby[code] = list(zip(vrec[cidx[best]].tolist(), dist[r, best].tolist(),
                                        strict=True))
    return covered, nearby


# ---------------------------------------------------------------- metrics
def _ratio(num: int, den: int, digits: int) -> float | None:
    return None if den == 0 else round(num / den, digits)


def _metrics_of(p: dict[str, int]) -> dict[str, int | float | None]:
    """All SPEC §3 and §6.2 metric values of one region from its summed parts
    (queries.metrics rules)."""
    out: dict[str, int | float | None] = {
        key: p[num] if den is None else _ratio(p[num], p[den], decimals)
        for key, num, den, decimals in VALUE_RULES
    }
    for key, scale in SCALES.items():
        out[key] = round(p[VALUE_NUM[key]] / scale, DECIMALS[key])
    return out


VALUE_NUM: dict[str, str] = {key: num for key, num, _, _ in VALUE_RULES}


PART_COLUMNS: tuple[str, ...] = tuple(
    ["pl_today", "pl_month", "pl_year"]
    + [f"pl_m{i}" for i in range(SERIES_MONTHS)]
    + [f"pl_form_{f}" for f in PLACEMENT_FORMS]
    + ["pl_known", "pl_within", "vac_open", "vac_open_hc", "vac_new_month"]
    + [f"vac_type_{t}" for t in VACANCY_TYPES]
    + ["seeking"]
    + [f"kg_{g}_{s}" for g in KEY_GROUPS for s in ("reg", "placed", "assisted")]
    + ["as_year"] + [f"as_kind_{k}" for k in ASSISTANCE_KINDS]
    + ["hh_outstanding", "hh_overdue", "hh_identified", "hh_cleared", "hh_cleared_days"]
    + ["circle_communities", "circle_covered"]
    + SERVICE_PARTS
)


def _top_per_region(
    frame: pd.DataFrame, membership: pd.DataFrame, limit: int
) -> dict[str, list[int]]:
    """Row positions of `frame` (already in list order) for each region, first `limit`."""
    if frame.empty:
        return {}
    f = pd.DataFrame({"member": frame["code"].to_numpy(), "pos": np.arange(len(frame))})
    # An inner merge keeps the left frame's order, so each region's rows stay sorted.
    merged = f.merge(membership, on="member", how="inner")
    merged = merged.sort_values("pos", kind="stable")
    top = merged.groupby("region", sort=False).head(limit)
    out: dict[str, list[int]] = defaultdict(list)
    for region, pos in zip(top["region"].tolist(), top["pos"].tolist(), strict=True):
        out[region].append(pos)
    return out


def _headcount_lists(
    vac: pd.DataFrame, membership: pd.DataFrame, column: str
) -> dict[str, dict[str, int]]:
    """Open headcount per region and value of `column` (industry or salary band)."""
    if vac.empty:
        return {}
    g = vac.groupby(["code", column], dropna=False)["headcount"].sum().reset_index()
    g = g.merge(membership, left_on="code", right_on="member", how="inner")
    r = g.groupby(["region", column], dropna=False)["headcount"].sum().reset_index()
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for region, key, hc in zip(r["region"], r[column], r["headcount"], strict=True):
        out[region][key] = int(hc)
    return out


def _industry_list(counts: dict[str, int]) -> list[dict[str, Any]]:
    items = sorted(((n, k) for k, n in counts.items() if n > 0), key=lambda t: (-t[0], t[1]))
    top = [{"industry": k, "headcount": n} for n, k in items[:TOP_INDUSTRIES]]
    rest = sum(n for n, _ in items[TOP_INDUSTRIES:])
    if rest:
        top.append({"industry": OTHER_INDUSTRY, "headcount": rest})
    return top


class _Clock:
    """Stage timings, logged at debug level (how long each part of a refresh takes)."""

    def __init__(self) -> None:
        self.t = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        log.debug("compute_snapshot %s: %.2f s", stage, now - self.t)
        self.t = now


def compute_snapshot(
    engine: Engine, as_of: dt.datetime, tz: str, *, as_json: bool = False
) -> dict[str, dict]:
    """Every SPEC §3 metric, series, target and panel list of every loaded region at as_of.

    The unpacked form: metrics as a dict and every list item in full (what a reader of
    the stored batch gets). With as_json=True the "path", "metrics", "series", "targets"
    and "lists" values are those dicts' JSON texts (compact, ensure_ascii=False).
    """
    rows, items = compute_batch(engine, as_of, tz)
    layout = read_layout(items)
    for r in rows.values():
        for k in JSON_FIELDS:
            r[k] = json.loads(r[k])
        unpack_row(r, items, layout)
        if as_json:
            for k in JSON_FIELDS:
                r[k] = _js(r[k])
    return rows


def compute_batch(
    engine: Engine, as_of: dt.datetime, tz: str, state: dict[str, Any] | None = None
) -> tuple[dict[str, dict], list[str]]:
    """The batch as stored: per-region rows (JSON texts, packed) and the item texts.

    Rows are {code, name, level, parent_code, path, metrics, series, targets, lists}
    with metrics by position and list items by id (queries.packing); items[i] is the JSON
    text of item i, items[LAYOUT_ITEM] the batch's layout. Both are empty without regions.
    """
    w = Windows(as_of, tz)
    clock = _Clock()
    # Building many small objects below: pause the cyclic GC, which would otherwise rescan
    # the growing heap many times over (refcounting still frees everything).
    gc_was_on = gc.isenabled()
    gc.disable()
    try:
        return _compute(engine, w, tz, clock, state)
    finally:
        if gc_was_on:
            gc.enable()


JSON_FIELDS: tuple[str, ...] = ("path", "metrics", "series", "targets", "lists")


def _read_regions(conn: Any) -> pd.DataFrame:
    """The region table: code, name, level, parent_code, lat, lon, ordered by code.

    The order numbers the batch's path steps (items 1..N): an increment over an unchanged
    region table derives them from this read instead of reading N items back.
    """
    return _frame(conn, select(
        Region.code, Region.name, Region.level, Region.parent_code, Region.lat, Region.lon
    ).order_by(Region.code))


def _passes(
    conn: Any, w: Windows, centres: pd.DataFrame, only: list[str] | None = None
) -> list[pd.DataFrame]:
    """The grouped SQL passes giving per-code parts (every code, or those in `only`)."""
    return [
        _placement_parts(conn, w, only),
        _within_parts(conn, w, centres, only),
        _person_parts(conn, w, only),
        _assistance_parts(conn, w, only),
        _household_parts(conn, w, only),
        _labour_parts(conn, w, only),
        _unassisted_parts(conn, w, only),
        _employer_parts(conn, w, only),
        _service_parts(conn, w, only),
    ]


def _own_parts(
    frames: list[pd.DataFrame], vac: pd.DataFrame, comms: pd.Index,
    covered: dict[str, bool], names: dict[str, str],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each code's own integer parts (PART_COLUMNS) and its communities' failing criteria.

    `comms` are the communities among the codes; `covered` their 3-km flags.
    """
    circle = pd.DataFrame({
        "circle_communities": 1,
        "circle_covered": [int(covered[c]) for c in comms],
    }, index=pd.Index(comms.to_numpy(), name="code"))
    parts = pd.concat([*frames, _vacancy_parts(vac), circle], axis=1)
    parts = parts.reindex(columns=list(PART_COLUMNS)).fillna(0)
    # Rows whose community is not a loaded region are dropped here.
    parts = parts[parts.index.isin(names)]
    fail = _full_employment(parts, pd.Index(comms.to_numpy(), name="code"))
    fe = _fe_parts(fail)
    if not fe.empty:
        if not fe.index.isin(parts.index).all():
            parts = parts.reindex(parts.index.union(fe.index)).fillna(0)
        parts.loc[fe.index, list(fe.columns)] = fe.to_numpy()
    return parts, fail


def _tree_maps(
    regions: pd.DataFrame,
) -> tuple[dict[str, str], dict[str, str], dict[str, str | None]]:
    """Names, levels and parents (None at the top) of the regions by code."""
    # Lists first: iterating pandas' string columns element by element is slow.
    codes = regions["code"].tolist()
    names = dict(zip(codes, regions["name"].tolist(), strict=True))
    levels = dict(zip(codes, regions["level"].tolist(), strict=True))
    parents = {
        c: (None if p is None or (isinstance(p, float) and math.isnan(p)) else p)
        for c, p in zip(codes, regions["parent_code"].tolist(), strict=True)
    }
    return names, levels, parents


def _compute(
    engine: Engine, w: Windows, tz: str, clock: _Clock, state: dict[str, Any] | None = None
) -> tuple[dict[str, dict], list[str]]:
    with engine.connect() as conn:
        regions = _read_regions(conn)
        if regions.empty:
            return {}, []
        centres = regions.set_index("code")
        frames = _passes(conn, w, centres)
        latest = _latest_placements(conn, w)
        vac, vac_records = _open_vacancies(conn, w)
        upcoming = _upcoming_fairs(conn, w)
        targets = _frame(conn, select(Target.region_code, Target.metric, Target.target).where(
            Target.year == w.today.year
        ))
    clock.lap("sql")
    chains, membership = _region_tree(regions)
    names, levels, parents = _tree_maps(regions)

    open_vac = vac[vac["open"]].copy() if not vac.empty else vac
    comms = regions[regions["level"] == "community"]
    covered, nearby = _circle(comms, open_vac)

    clock.lap("circle")
    parts, fail = _own_parts(frames, vac, pd.Index(comms["code"].to_numpy()), covered, names)
    rolled = _rollup(parts, membership).reindex(regions["code"]).fillna(0).astype("int64")

    clock.lap("rollup")
    return _assemble(
        w, tz, clock, regions, chains, names, levels, parents, rolled, membership,
        latest, open_vac, vac_records, nearby, targets, upcoming, fail, parts, state,
    )


# One encoder for every text: json.dumps with options builds a new encoder per call.
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _js(value: object) -> str:
    """The JSON text of a snapshot column (compact, non-ASCII kept)."""
    return _ENCODE(value)


def _targets_by_region(targets: pd.DataFrame) -> dict[str, dict[str, float]]:
    """This year's targets of known metrics, by region code."""
    out: dict[str, dict[str, float]] = defaultdict(dict)
    for code, metric, target in zip(
        targets.get("region_code", []), targets.get("metric", []), targets.get("target", []),
        strict=True,
    ):
        if metric in METRIC_KEYS:
            out[code][metric] = float(target)
    return out


def _expected(w: Windows) -> float:
    """The share of the year passed by date(T) (a target's expected completion)."""
    return round(w.today.timetuple().tm_yday / _days_in_year(w.today.year), 4)


def ts_key(value: Any) -> str:
    """A placement time as a sortable text (microseconds always written)."""
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f")


def ts_keys(values: pd.Series) -> list[str]:
    """ts_key of each value of a column (vectorised for naive datetimes)."""
    if values.dtype.kind == "M" and getattr(values.dtype, "tz", None) is None \
            and values.notna().all():
        # Same text as strftime("%Y-%m-%dT%H:%M:%S.%f") for years 1000-9999.
        texts = np.datetime_as_string(values.to_numpy("datetime64[us]"), unit="us").tolist()
        if all(len(t) == 26 for t in texts):
            return texts
    return [ts_key(t) for t in values.tolist()]


def fair_texts(upcoming: pd.DataFrame, names: dict[str, str]) -> list[str]:
    """The item text of each upcoming fair, in the frame's order."""
    return [
        _js({"held_on": d.isoformat() if hasattr(d, "isoformat") else str(d)[:10],
             "title": t, "mode": m, "region_code": c, "region_name": names.get(c)})
        for d, t, m, c in zip(*(upcoming[k].tolist() if not upcoming.empty else []
                                for k in ("held_on", "title", "mode", "code")), strict=True)
    ]


def vacancy_text(r: Any, step_of: dict[str, int], types_t: Table, industries_t: Table) -> str:
    """A vacancy row's item text (format 2 of queries.packing); `r` a row of
    _open_vacancies (unpacked by position: a Row's attributes are slow to read)."""
    (vacancy_id, code, _lat, _lon, title, vtype, headcount, salary_min, salary_max,
     industry, posted_on, _closed_on, employer) = r
    return _js([vacancy_id, title, employer, int(headcount), salary_min, salary_max,
                types_t.code(vtype), industries_t.code(industry),
                (posted_on - EPOCH_DAY).days, step_of.get(code, code)])


def placement_groups(
    latest: pd.DataFrame, forms_t: Table
) -> tuple[list[str], dict[str, list[int]], list[int], Callable[[str, int | str], str]]:
    """Placement groups of a latest-placements frame (in list order): the codes of its
    rows, each code's row positions, each row's rank in its group, and a function giving
    a group's item text ([step, t, form, dt, form, ...], local wall-clock seconds)."""
    codes = latest["code"].tolist() if not latest.empty else []
    group_pos: dict[str, list[int]] = defaultdict(list)
    rank: list[int] = []
    for pos, c in enumerate(codes):
        rank.append(len(group_pos[c]))
        group_pos[c].append(pos)
    secs: list[int] = []
    forms: list[Any] = []
    if codes:
        ns = pd.to_datetime(latest["placed_at"]).to_numpy("datetime64[ns]").astype(np.int64)
        secs = (ns // 1_000_000_000).tolist()  # floor: isoformat drops sub-seconds too
        forms = [forms_t.code(f) for f in latest["form"].tolist()]

    def group_text(c: str, step: int | str) -> str:
        ps = group_pos[c]
        flat: list[Any] = [step, secs[ps[0]], forms[ps[0]]]
        for a, b in zip(ps, ps[1:], strict=False):
            flat += [secs[a] - secs[b], forms[b]]
        return _js(flat)

    return codes, group_pos, rank, group_text


def region_columns(
    p: dict[str, int], n_months: int, region_targets: dict[str, float],
    latest: Any, newest: list[int], industries: dict[str, int], bands: dict[str, int],
    fairs: list[int], actions: list[int], criteria: tuple[int, float | None] | None,
    community: bool, near: list[tuple[int, float]], industries_t: Table,
    near_text: str | None = None,
) -> tuple[list[str], str, str, str, str]:
    """A region's metric keys and its metrics, series, targets and lists column texts
    (format 2 of queries.packing) from its summed parts and its lists' item ids
    (`near_text`: a community's nearby list already packed, kept from the base)."""
    metrics = _metrics_of(p)
    keys = list(metrics)
    key_index = {k: i for i, k in enumerate(keys)}
    series = [p[f"pl_m{i}"] for i in range(n_months)]
    tg = []
    for metric, target in region_targets.items():
        value = metrics[metric]
        done = None if value is None or target == 0 else round(value / target, 4)
        tg.append([key_index[metric], target, done])
    lists: list[Any] = [
        latest,
        newest,
        [x for d in _industry_list(industries)
         for x in (industries_t.code(d["industry"]), d["headcount"])],
        [bands.get(b, 0) for b in SALARY_BANDS],
        fairs,
        actions,
    ]
    if criteria is not None or community:
        lists.append(list(criteria) if criteria is not None else None)
    text = _js(lists)
    if community:
        # Read back as {**record, "distance_km": d}, d = round(distance, 2).
        if near_text is None:
            near_text = pack_nearby([str(i) for i, _d in near],
                                    [round(d, 2) for _i, d in near])
        text = text[:-1] + "," + near_text + "]"
    # By position: the keys are written once, in the batch's layout item.
    return keys, pack_metrics(list(metrics.values())), _js(series), _js(tg), text


def step_numbers(codes: Iterable[str]) -> dict[str, int]:
    """The path-step item of each region (format 2: items 1..N, in the regions' order)."""
    return {c: i for i, c in enumerate(codes, start=1)}


def path_text(chain: list[str], step_of: dict[str, int]) -> str:
    """A region's path column: the steps from the top down to itself."""
    return _js([step_of[c] for c in reversed(chain)])


def _assemble(
    w: Windows, tz: str, clock: _Clock, regions: pd.DataFrame, chains: dict[str, list[str]],
    names: dict[str, str], levels: dict[str, str], parents: dict[str, str | None],
    rolled: pd.DataFrame, membership: pd.DataFrame, latest: pd.DataFrame,
    open_vac: pd.DataFrame, vac_records: list[Any],
    nearby: dict[str, list[tuple[int, float]]], targets: pd.DataFrame,
    upcoming: pd.DataFrame, fail: pd.DataFrame, parts: pd.DataFrame,
    state: dict[str, Any] | None = None,
) -> tuple[dict[str, dict], list[str]]:
    """The per-region snapshot rows (packed JSON texts) and the batch's item texts.

    Items shared by many regions (a placement, a vacancy, a path step) are serialised
    once and spliced into each region's list text, which is what the same dicts passed
    through json.dumps would give. With `state` (a dict), each region's rolled parts and
    list keys are put in it (queries.incremental).
    """
    # Panel lists.
    if not latest.empty:
        latest = latest.sort_values(["placed_at", "placement_id"], ascending=False, kind="stable")
        latest = latest.reset_index(drop=True)
    latest_pos = _top_per_region(latest, membership, LATEST_PLACEMENTS)
    if not open_vac.empty:
        open_vac = open_vac.sort_values(
            ["posted_on", "vacancy_id"], ascending=False, kind="stable"
        ).reset_index(drop=True)
    newest_pos = _top_per_region(open_vac, membership, NEWEST_VACANCIES)
    if not open_vac.empty:
        open_vac["industry_k"] = open_vac["industry"].fillna(UNSPECIFIED)
        open_vac["band"] = [_salary_band(s) for s in open_vac["salary_min"].tolist()]
    industries = _headcount_lists(open_vac, membership, "industry_k")
    bands = _headcount_lists(open_vac, membership, "band")

    # Only records that some list shows are serialised.
    open_rows = open_vac["rec"].tolist() if not open_vac.empty else []
    fair_pos = _top_per_region(upcoming, membership, UPCOMING_FAIRS)
    fair_items = fair_texts(upcoming, names)
    actions, action_items, criteria, action_keys = _fe_lists(fail, parts, membership)
    expected = _expected(w)

    clock.lap("lists")
    targets_by_region = _targets_by_region(targets)

    # Format 2 of queries.packing. Items 1..N are the regions' path steps; the others are
    # numbered in order of first use, each shown item's text written once per batch.
    levels_t, forms_t = Table(LEVELS), Table(PLACEMENT_FORMS)
    types_t, industries_t = Table(VACANCY_TYPES), Table()
    items: list[str] = [""]  # LAYOUT_ITEM is set once the keys are known
    step_of = step_numbers(names)
    items += [_js([c, names[c], levels_t.code(levels[c])]) for c in names]
    item_id: dict[tuple[str, Any], int] = {}

    def ref(kind: str, key: Any, text_of: Callable[[Any], str]) -> int:
        i = item_id.get((kind, key))
        if i is None:
            i = item_id[(kind, key)] = len(items)
            items.append(text_of(key))
        return i

    def vj(rec: int) -> str:
        return vacancy_text(vac_records[rec], step_of, types_t, industries_t)

    # Placement groups: one item per region code with its newest placements.
    codes, group_pos, rank, group_of = placement_groups(latest, forms_t)

    def group_text(c: str) -> str:
        return group_of(c, step_of.get(c, c))

    def latest_list(code: str) -> Any:
        ps = latest_pos.get(code, ())
        if ps and len(ps) == len(group_pos[code]) and all(codes[p] == code for p in ps):
            return ref("g", code, group_text)  # the region's own group, whole
        return [[ref("g", codes[p], group_text), rank[p]] for p in ps]

    def action_text(i: int) -> str:
        c, mask = action_items[i]
        return _js([step_of.get(c, c), mask])

    def fair_text(i: int) -> str:
        return fair_items[i]

    if state is not None:
        # Sort keys of the listed items: an incremental refresh merges children's lists.
        l_keys = [] if latest.empty else list(zip(
            ts_keys(latest["placed_at"]),
            latest["placement_id"].tolist(), strict=True))
        v_keys = [] if open_vac.empty else list(zip(
            [d.isoformat() for d in open_vac["posted_on"].tolist()],
            open_vac["vacancy_id"].tolist(), strict=True))
    keys: list[str] | None = None
    out: dict[str, dict] = {}
    part_cols = list(rolled.columns)
    part_rows = dict(zip(rolled.index.tolist(), rolled.to_numpy().tolist(), strict=True))
    n_months = len(w.months)
    for code in regions["code"]:
        p = dict(zip(part_cols, part_rows[code], strict=True))
        newest_ids = [ref("v", open_rows[i], vj) for i in newest_pos.get(code, ())]
        action_ids = [ref("a", i, action_text) for i in actions.get(code, ())]
        community = levels[code] == "community"
        near = [(ref("v", rec, vj), d) for rec, d in nearby.get(code, ())] if community else []
        keys, metrics_text, series_text, targets_text, lists_text = region_columns(
            p, n_months, targets_by_region.get(code, {}), latest_list(code), newest_ids,
            industries.get(code, {}), bands.get(code, {}),
            [ref("f", i, fair_text) for i in fair_pos.get(code, ())], action_ids,
            criteria.get(code), community, near, industries_t,
        )
        out[code] = {
            "code": code,
            "name": names[code],
            "level": levels[code],
            "parent_code": parents[code],
            "path": path_text(chains[code], step_of),
            "metrics": metrics_text,
            "series": series_text,
            "targets": targets_text,
            "lists": lists_text,
        }
        if state is not None:
            lp = latest_pos.get(code, ())
            state[code] = {
                "p": part_rows[code],
                "lp": [[*l_keys[i], ref("g", codes[i], group_text), rank[i]] for i in lp],
                "nv": [[*v_keys[i], x] for i, x in zip(newest_pos.get(code, ()),
                                                       newest_ids, strict=True)],
                "ind": {k: v for k, v in industries.get(code, {}).items() if v},
                "band": {k: v for k, v in bands.get(code, {}).items() if v},
                "fe": [[*action_keys[i], x] for i, x in zip(actions.get(code, ()),
                                                             action_ids, strict=True)],
            }

    clock.lap("regions")
    items[LAYOUT_ITEM] = layout_text(
        keys or [], [label for label, _, _ in w.months], SALARY_BANDS, tz=tz,
        levels=levels_t.values, forms=forms_t.values, types=types_t.values,
        industries=industries_t.values, criteria=list(FE_CRITERIA), expected=expected,
    )
    return out, items
