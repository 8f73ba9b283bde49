"""Incremental refresh = full refresh, always (issue 13 goal 3).

A hypothesis state machine imports random batches of every KIND (through the importer,
as files and the exchange endpoint do), re-imports rows with changed values (moving a
person, a placement or a vacancy to another community, a vacancy across the 3-km line,
renaming an employer), replaces rows, moves a community's centre, sets targets and moves
the as-of instant by hours or days. After each step it refreshes (incrementally whenever
the refresh can) and compares every region of the stored batch, fully unpacked (metrics,
series, targets, path and every list), with compute_snapshot: a from-scratch computation
on the same database. The expected side is the full computation, which the hand-made
tests (test_metrics_handmade, test_services_metrics, test_rollup) check independently.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from sqlalchemy import Engine, delete, func, select

from queries import aggregate
from queries import incremental as inc
from queries.aggregate import compute_batch, compute_snapshot
from queries.db import init_db, make_engine
from queries.domain import (
    ASSISTANCE_KINDS,
    FAIR_MODES,
    INTERVIEW_OUTCOMES,
    KEY_GROUPS,
    PERSON_STATUSES,
    PLACEMENT_FORMS,
    SERVICE_MODES,
    TRAINING_KINDS,
    VACANCY_TYPES,
)
from queries.importer import import_records
from queries.maplayer import decode_map_base, map_items
from queries.models import (
    Base,
    RefreshMark,
    RefreshRun,
    SnapshotItem,
    SnapshotRegion,
)
from queries.packing import read_layout, unpack_row
from queries.refresh import refresh
from queries.versions import visible

TZ = "Asia/Shanghai"
CITY = "340100000000"
COUNTIES = ["340102000000", "340103000000"]
TOWNS = ["340102001000", "340102002000", "340103001000", "340103002000"]
COMMS = [t[:9] + f"{k:03d}" for t in TOWNS for k in (1, 2)]
# Community centres about 2 km apart, so 3-km circles overlap and vacancies move across.
# Two clusters 11 km apart (one per county): what happens near one is far from the other.
CENTRES = {c: (31.80 + 0.018 * (i % 4 // 2), 117.20 + 0.12 * (i // 4) + 0.021 * (i % 2))
           for i, c in enumerate(COMMS)}
START = dt.datetime(2025, 4, 20, 15, 30)
PERSONS = [f"P{i}" for i in range(14)]
EMPLOYERS = [f"E{i}" for i in range(4)]
VACANCIES = [f"V{i}" for i in range(10)]
METRICS = ["placements.year", "placements.month", "vacancies.open_headcount",
           "jobseekers.active", "circle.coverage"]

ids = st.sampled_from
comm = ids(COMMS)
# Dates around the as-of date: the year, month, series and "today" windows, and the future.
offset = st.one_of(st.integers(-40, 2), st.integers(-420, 40))


def regions_records(moved: dict[str, tuple[float, float]] | None = None,
                    names: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The region tree (communities at CENTRES unless moved)."""
    moved, names = moved or {}, names or {}
    recs: list[dict[str, Any]] = [{"code": CITY, "name": "合肥市", "level": "city",
                                   "parent_code": None}]
    recs += [{"code": c, "name": f"区{i}", "level": "county", "parent_code": CITY}
             for i, c in enumerate(COUNTIES)]
    recs += [{"code": t, "name": f"街道{i}", "level": "township",
              "parent_code": COUNTIES[0] if t.startswith("340102") else COUNTIES[1]}
             for i, t in enumerate(TOWNS)]
    for i, c in enumerate(COMMS):
        lat, lon = moved.get(c, CENTRES[c])
        recs.append({"code": c, "name": names.get(c, f"社区{i}"), "level": "community",
                     "parent_code": c[:9] + "000", "lat": lat, "lon": lon})
    return recs


def _day(base: dt.date, days: int) -> str:
    return (base + dt.timedelta(days=days)).isoformat()


@st.composite
def person(draw: Any, day: dt.date) -> dict[str, Any]:
    status = draw(ids(PERSON_STATUSES))
    rec = {"person_id": draw(ids(PERSONS)), "community_code": draw(comm), "status": status,
           "seeking_job": draw(st.booleans()),
           "key_groups": ";".join(draw(st.lists(ids(KEY_GROUPS[:3]), max_size=3, unique=True))),
           "registered_on": _day(day, draw(offset))}
    if status == "unemployed" and draw(st.booleans()):
        rec["unemployed_since"] = _day(day, draw(st.integers(-400, 0)))
    return rec


@st.composite
def household(draw: Any, day: dt.date) -> dict[str, Any]:
    ident = draw(st.integers(-420, 5))
    rec = {"household_id": f"H{draw(st.integers(0, 5))}", "community_code": draw(comm),
           "zero_identified_on": _day(day, ident)}
    if draw(st.booleans()):
        rec["zero_cleared_on"] = _day(day, ident + draw(st.integers(0, 100)))
    return rec


@st.composite
def employer(draw: Any, day: dt.date) -> dict[str, Any]:
    return {"employer_id": draw(ids(EMPLOYERS)), "credit_code": "91350100M000100Y43",
            "name": draw(ids(["甲公司", "乙公司", "丙公司"])),
            "community_code": draw(comm), "registered_on": _day(day, draw(offset))}


@st.composite
def vacancy(draw: Any, day: dt.date) -> dict[str, Any]:
    c = draw(comm)
    lat, lon = CENTRES[c]
    posted = draw(st.integers(-100, 3))
    rec = {"vacancy_id": draw(ids(VACANCIES)), "community_code": c,
           "lat": round(lat + draw(st.floats(-0.04, 0.04)), 5),
           "lon": round(lon + draw(st.floats(-0.04, 0.04)), 5),
           "title": draw(ids(["普工", "文员", "司机"])), "type": draw(ids(VACANCY_TYPES)),
           "headcount": draw(st.integers(1, 9)),
           "salary_min": draw(st.sampled_from([None, 2500, 4000, 6000, 9000])),
           "industry": draw(st.sampled_from([None, "制造业", "服务业", "建筑业"])),
           "posted_on": _day(day, posted)}
    if draw(st.booleans()):
        rec["employer_id"] = draw(ids(EMPLOYERS))
    if draw(st.booleans()):
        rec["closed_on"] = _day(day, posted + draw(st.integers(0, 60)))
    return rec


@st.composite
def placement(draw: Any, day: dt.date) -> dict[str, Any]:
    at = dt.datetime.combine(day, dt.time()) + dt.timedelta(
        days=draw(offset), seconds=draw(st.sampled_from([0, 3600, 36000, 36000])))
    rec = {"placement_id": f"L{draw(st.integers(0, 25))}", "person_id": draw(ids(PERSONS)),
           "community_code": draw(comm), "placed_at": at.isoformat(),
           "form": draw(ids(PLACEMENT_FORMS))}
    if draw(st.booleans()):
        rec["vacancy_id"] = draw(ids(VACANCIES))
    return rec


@st.composite
def assistance(draw: Any, day: dt.date) -> dict[str, Any]:
    return {"record_id": f"A{draw(st.integers(0, 12))}", "person_id": draw(ids(PERSONS)),
            "community_code": draw(comm), "kind": draw(ids(ASSISTANCE_KINDS)),
            "served_on": _day(day, draw(offset))}


@st.composite
def fair(draw: Any, day: dt.date) -> dict[str, Any]:
    return {"fair_id": f"F{draw(st.integers(0, 6))}",
            "region_code": draw(ids(COMMS + TOWNS + COUNTIES + [CITY])),
            "held_on": _day(day, draw(st.integers(-60, 40))), "title": "招聘会",
            "mode": draw(ids(FAIR_MODES)), "posts": draw(st.integers(0, 50))}


@st.composite
def training(draw: Any, day: dt.date) -> dict[str, Any]:
    start = draw(offset)
    rec = {"training_id": f"T{draw(st.integers(0, 6))}", "person_id": draw(ids(PERSONS)),
           "community_code": draw(comm), "kind": draw(ids(TRAINING_KINDS)),
           "mode": draw(ids(SERVICE_MODES)), "started_on": _day(day, start),
           "certified": draw(st.booleans())}
    if draw(st.booleans()):
        rec["completed_on"] = _day(day, start + draw(st.integers(0, 30)))
    return rec


@st.composite
def interview(draw: Any, day: dt.date) -> dict[str, Any]:
    return {"interview_id": f"I{draw(st.integers(0, 6))}", "person_id": draw(ids(PERSONS)),
            "community_code": draw(comm),
            "held_at": _day(day, draw(offset)) + "T10:00:00",
            "mode": draw(ids(SERVICE_MODES)), "outcome": draw(ids(INTERVIEW_OUTCOMES))}


@st.composite
def loan(draw: Any, day: dt.date) -> dict[str, Any]:
    return {"loan_id": f"N{draw(st.integers(0, 4))}", "person_id": draw(ids(PERSONS)),
            "community_code": draw(comm), "granted_on": _day(day, draw(offset)),
            "amount": draw(st.sampled_from([10000, 123456.78, 50000.5]))}


@st.composite
def survey(draw: Any, day: dt.date) -> dict[str, Any]:
    return {"response_id": f"S{draw(st.integers(0, 6))}", "community_code": draw(comm),
            "answered_on": _day(day, draw(offset)), "score": draw(st.integers(1, 5))}


@st.composite
def target(draw: Any, day: dt.date) -> dict[str, Any]:
    return {"region_code": draw(ids(COMMS + TOWNS + [CITY])), "metric": draw(ids(METRICS)),
            "year": day.year, "target": draw(st.sampled_from([0, 5, 100]))}


KINDS: dict[str, Any] = {
    "persons": person, "households": household, "employers": employer,
    "vacancies": vacancy, "placements": placement, "assistance": assistance,
    "job_fairs": fair, "trainings": training, "interviews": interview, "loans": loan,
    "surveys": survey, "targets": target,
}
# Importing in this order keeps references valid (a placement names a stored person).
ORDER = ["persons", "households", "employers", "vacancies", "placements", "assistance",
         "job_fairs", "trainings", "interviews", "loans", "surveys", "targets"]


def stored_snapshot(engine: Engine, batch_id: int) -> dict[str, dict]:
    """Every region of a stored batch, unpacked the way readers unpack it."""
    with engine.connect() as conn:
        items = dict(conn.execute(select(SnapshotItem.item_id, SnapshotItem.body)
                                  .where(visible(SnapshotItem, batch_id))).tuples().all())
        t = SnapshotRegion.__table__
        rows = conn.execute(select(t).where(visible(t, batch_id))).all()
    # Versioned rows (queries.versions): a batch sees each region and item once.
    assert len({r.region_code for r in rows}) == len(rows), batch_id
    layout = read_layout(items)
    out = {}
    for r in rows:
        row = {"code": r.region_code, "name": r.name, "level": r.level,
               "parent_code": r.parent_code}
        for k in ("path", "metrics", "series", "targets", "lists"):
            row[k] = json.loads(getattr(r, k))
        out[r.region_code] = unpack_row(row, items, layout)
    return out



def stored_map_items(engine: Engine, batch_id: int) -> list[str]:
    """The map item texts of a stored batch, in their order (-1, -2, …)."""
    with engine.connect() as conn:
        return list(conn.execute(select(SnapshotItem.body).where(
            SnapshotItem.item_id < 0, visible(SnapshotItem, batch_id))
            .order_by(SnapshotItem.item_id.desc())).scalars())


def stored_keys(engine: Engine) -> tuple[set[tuple[int, str]], set[tuple[int, int]]]:
    """Every stored row's (batch_id, region_code) and item's (batch_id, item_id)."""
    with engine.connect() as conn:
        rows = set(conn.execute(select(SnapshotRegion.batch_id, SnapshotRegion.region_code))
                   .tuples())
        items = set(conn.execute(select(SnapshotItem.batch_id, SnapshotItem.item_id))
                    .tuples())
    return rows, items


def seen_keys(engine: Engine, batches: list[int]) -> tuple[set[tuple[int, str]],
                                                           set[tuple[int, int]]]:
    """The (batch_id, key) of the rows and items some of `batches` sees."""
    rows: set[tuple[int, str]] = set()
    items: set[tuple[int, int]] = set()
    with engine.connect() as conn:
        for b in batches:
            rows |= set(conn.execute(select(SnapshotRegion.batch_id, SnapshotRegion.region_code)
                                     .where(visible(SnapshotRegion, b))).tuples())
            items |= set(conn.execute(select(SnapshotItem.batch_id, SnapshotItem.item_id)
                                      .where(visible(SnapshotItem, b))).tuples())
    return rows, items


def map_of(texts: list[str]) -> dict[str, Any]:
    """A map's data as plain values (worksites sorted: their order is the database's)."""
    base = decode_map_base(texts)
    return {
        "codes": base.codes, "names": base.names, "lat": base.lat.tolist(),
        "lon": base.lon.tolist(), "tree": base.tree_codes, "chain": base.chain.tolist(),
        "values": {k: v.tolist() for k, v in base.values.items()},
        "worksites": sorted(zip(base.vac_lat.tolist(), base.vac_lon.tolist(),
                                base.vac_head.tolist(), base.vac_comm.tolist(), strict=True)),
    }


class IncrementalEqualsFull(RuleBasedStateMachine):
    """Random imports, replacements, moves and date changes; incremental = full after each."""

    engine: Engine

    def __init__(self) -> None:
        super().__init__()
        self.as_of = START
        self.moved: dict[str, tuple[float, float]] = {}
        # What each batch read when it was new: a kept batch must read the same later,
        # however many increments and prunes came after it.
        self.written: dict[int, dict[str, dict]] = {}

    @initialize()
    def load(self) -> None:
        with self.engine.begin() as conn:
            for t in reversed(Base.metadata.sorted_tables):
                if t.name not in ("alembic_version", "meta"):
                    conn.execute(delete(t))
        self._import("regions", regions_records())
        self._refresh()

    # ------------------------------------------------------------------ helpers
    def _import(self, kind: str, records: list[dict[str, Any]]) -> None:
        n, rejected = import_records(self.engine, kind, records, tz=TZ)
        assert not rejected, (kind, rejected, records)

    def _refresh(self) -> None:
        with self.engine.connect() as conn:
            before = conn.execute(select(func.count()).select_from(RefreshMark)).scalar()
        out = refresh(self.engine, as_of=self.as_of.replace(tzinfo=ZoneInfo(TZ)), tz=TZ)
        assert out.status == "ok", out.error
        self.batch = out.batch_id
        self.before = before
        self.written[out.batch_id] = stored_snapshot(self.engine, out.batch_id)

    # ------------------------------------------------------------------ rules
    @rule(data=st.data(), kind=st.sampled_from(ORDER), n=st.integers(1, 6))
    def import_rows(self, data: st.DataObject, kind: str, n: int) -> None:
        """Import (or re-import, replacing by id) a few rows of one KIND."""
        self._import_rows(data, kind, n)

    @rule(data=st.data(), kind=st.sampled_from(["persons", "vacancies", "placements",
                                                "assistance", "employers"]),
          n=st.integers(1, 4))
    def import_linked_rows(self, data: st.DataObject, kind: str, n: int) -> None:
        """The KINDs whose rows change other communities than their own, more often."""
        self._import_rows(data, kind, n)

    def _import_rows(self, data: st.DataObject, kind: str, n: int) -> None:
        day = self.as_of.date()
        recs = data.draw(st.lists(KINDS[kind](day), min_size=n, max_size=n,
                                  unique_by=lambda r: tuple(
                                      r[c] for c in ("region_code", "metric", "year")
                                  ) if kind == "targets" else next(iter(r.values()))))
        if kind in ("placements", "assistance", "trainings", "interviews", "loans"):
            missing = sorted({r["person_id"] for r in recs
                              if not self._stored_person(r["person_id"])})
            if missing:
                # Somewhere else than most of their records, in a key group.
                self._import("persons", [{"person_id": p, "community_code": COMMS[int(p[1:]) % 8],
                                          "status": "unemployed", "seeking_job": True,
                                          "key_groups": "difficulty"}
                                         for p in missing])
        if kind in ("vacancies", "placements", "interviews"):
            self._ensure_refs(recs)
        self._import(kind, recs)
        self._refresh()

    def _stored_person(self, pid: str) -> bool:
        from queries.models import Person
        with self.engine.connect() as conn:
            return conn.execute(select(Person.person_id).where(Person.person_id == pid)
                                ).first() is not None

    def _ensure_refs(self, recs: list[dict[str, Any]]) -> None:
        from queries.models import Employer, Vacancy
        with self.engine.connect() as conn:
            emps = set(conn.execute(select(Employer.employer_id)).scalars())
            vacs = set(conn.execute(select(Vacancy.vacancy_id)).scalars())
        for r in recs:
            if r.get("employer_id") and r["employer_id"] not in emps:
                self._import("employers", [{"employer_id": r["employer_id"],
                                            "credit_code": "91350100M000100Y43",
                                            "name": "新公司", "community_code": COMMS[1]}])
                emps.add(r["employer_id"])
            if r.get("vacancy_id") and r["vacancy_id"] not in vacs and "lat" not in r:
                lat, lon = CENTRES[COMMS[2]]
                self._import("vacancies", [{
                    "vacancy_id": r["vacancy_id"], "community_code": COMMS[2], "lat": lat,
                    "lon": lon, "title": "岗位", "type": "full_time", "headcount": 1,
                    "posted_on": _day(self.as_of.date(), -5)}])
                vacs.add(r["vacancy_id"])

    @rule(data=st.data(), n=st.integers(1, 3))
    def restate_vacancies(self, data: st.DataObject, n: int) -> None:
        """Re-import stored vacancies at the same place and days with other contents (and
        maybe another community or employer): only lists holding them change, and the
        employers' hiring counts if the employer changed (Marker reach)."""
        from queries.models import Vacancy
        with self.engine.connect() as conn:
            stored = [dict(r) for r in conn.execute(select(Vacancy)).mappings()]
        if not stored:
            return
        recs = []
        for v in data.draw(st.lists(st.sampled_from(stored), min_size=1, max_size=n,
                                    unique_by=lambda v: v["vacancy_id"])):
            rec = {k: v[k] for k in ("vacancy_id", "lat", "lon", "posted_on", "closed_on",
                                     "community_code", "employer_id", "title", "type",
                                     "salary_min", "industry") if v.get(k) is not None}
            rec["headcount"] = data.draw(st.integers(1, 9))
            if data.draw(st.booleans()):
                rec["title"] = data.draw(ids(["普工", "文员", "司机", "厨师"]))
                rec["industry"] = data.draw(st.sampled_from(["制造业", "服务业", "教育"]))
            if data.draw(st.integers(0, 4)) == 0:
                rec["community_code"] = data.draw(comm)
            if data.draw(st.integers(0, 3)) == 0:
                # Another employer (or none): both employers' hiring counts move.
                rec.pop("employer_id", None)
                if data.draw(st.booleans()):
                    rec["employer_id"] = data.draw(ids(EMPLOYERS))
            recs.append({k: (x.isoformat() if hasattr(x, "isoformat") else x)
                         for k, x in rec.items()})
        self._ensure_refs(recs)
        self._import("vacancies", recs)
        self._refresh()

    @rule(hours=st.sampled_from([0, 1, 3, 8, 30, 50]))
    def time_passes(self, hours: int) -> None:
        """Move the as-of instant (across midnight or not)."""
        self.as_of += dt.timedelta(hours=hours)
        self._refresh()

    @rule(c=comm, d_lat=st.floats(-0.02, 0.02), rename=st.booleans())
    def move_community(self, c: str, d_lat: float, rename: bool) -> None:
        """Change the region table: a community's centre moves (and maybe its name)."""
        lat, lon = CENTRES[c]
        self.moved[c] = (round(lat + d_lat, 5), lon)
        self._import("regions", regions_records(self.moved, {c: "新名"} if rename else None))
        self._refresh()

    @rule()
    def refresh_again(self) -> None:
        """Nothing changed: an increment of nothing."""
        self._refresh()

    # ------------------------------------------------------------------ the property
    @invariant()
    def incremental_equals_full(self) -> None:
        if not hasattr(self, "batch"):
            return
        stored = stored_snapshot(self.engine, self.batch)
        full = compute_snapshot(self.engine, self.as_of.replace(tzinfo=ZoneInfo(TZ)), TZ)
        assert sorted(stored) == sorted(full)
        for code, want in full.items():
            got = stored[code]
            for key in ("name", "level", "parent_code", "path", "metrics", "series",
                        "targets", "lists"):
                assert got[key] == want[key], (code, key, got[key], want[key])
        # The map's data stored with the batch (issue 14) is the full batch's too.
        as_of = self.as_of.replace(tzinfo=ZoneInfo(TZ))
        rows, items = compute_batch(self.engine, as_of, TZ)
        assert map_of(stored_map_items(self.engine, self.batch)) \
            == map_of([t for _, t in sorted(map_items(self.engine, rows, items, as_of, TZ),
                                            reverse=True)])

    @invariant()
    def kept_batches_read_as_written_and_nothing_else_is_stored(self) -> None:
        if not hasattr(self, "batch"):
            return
        with self.engine.connect() as conn:
            kept = conn.execute(select(RefreshRun.id).where(RefreshRun.status == "ok")
                                .order_by(RefreshRun.id.desc()).limit(3)).scalars().all()
        for b in kept:
            if b in self.written:
                assert stored_snapshot(self.engine, b) == self.written[b], b
        # Pruning leaves no row or item that no kept batch sees.
        assert stored_keys(self.engine) == seen_keys(self.engine, list(kept))


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Counts incremental and full batches (the test must exercise both).

    Increments are taken however many of the few regions changed (in production a full
    refresh is cheaper above MAX_CHANGED_SHARE).
    """
    monkeypatch.setattr(inc, "MAX_CHANGED_SHARE", 1.0)
    counts = {"incremental": 0, "full": 0}
    real = inc.plan

    def counted(*a: Any, **k: Any) -> inc.Plan:
        p = real(*a, **k)
        counts["full" if p.full else "incremental"] += 1
        return p

    monkeypatch.setattr(inc, "plan", counted)
    return counts


def test_incremental_refresh_equals_full_refresh(db_url: str, counting: dict[str, int],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # Nearby lists of 3, not 30: full lists (whose items a restated vacancy must reach
    # without its neighbours being recomputed) with the few vacancies the machine makes.
    monkeypatch.setattr(aggregate, "NEARBY_VACANCIES", 3)
    engine = make_engine(db_url)
    init_db(engine)
    IncrementalEqualsFull.engine = engine
    run = IncrementalEqualsFull.TestCase
    run.settings = settings(max_examples=10, stateful_step_count=15, deadline=None,
                            derandomize=True,
                            # No shrinking: a failing sequence is printed as it ran (shrinking
                            # state machines on a database takes many minutes).
                            phases=[Phase.explicit, Phase.reuse, Phase.generate],
                            suppress_health_check=[HealthCheck.too_slow,
                                                   HealthCheck.data_too_large,
                                                   HealthCheck.filter_too_much])
    try:
        run().runTest()
    finally:
        engine.dispose()
    print("refreshes:", counting)
    assert counting["incremental"] > counting["full"] > 0, counting


def test_marks_are_consumed_and_a_region_import_asks_for_a_full_refresh(
    engine: Engine, counting: dict[str, int], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    from dashboard.cli import main as cli

    import_records(engine, "regions", regions_records(), tz=TZ)
    as_of = START.replace(tzinfo=ZoneInfo(TZ))
    assert refresh(engine, as_of=as_of, tz=TZ).status == "ok"
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(RefreshMark)).scalar() == 0
    import_records(engine, "persons", [{"person_id": "P1", "community_code": COMMS[3],
                                        "status": "unemployed", "seeking_job": True}], tz=TZ)
    with engine.connect() as conn:
        assert set(conn.execute(select(RefreshMark.code)).scalars()) == {COMMS[3]}
    assert refresh(engine, as_of=as_of, tz=TZ).status == "ok"
    assert counting == {"full": 1, "incremental": 1}
    # Moving the person marks the old and the new community.
    import_records(engine, "persons", [{"person_id": "P1", "community_code": COMMS[5],
                                        "status": "unemployed", "seeking_job": True}], tz=TZ)
    with engine.connect() as conn:
        assert set(conn.execute(select(RefreshMark.code)).scalars()) == {COMMS[3], COMMS[5]}
    assert refresh(engine, as_of=as_of, tz=TZ).status == "ok"
    import_records(engine, "regions", regions_records({COMMS[0]: (31.9, 117.3)}), tz=TZ)
    with engine.connect() as conn:
        assert set(conn.execute(select(RefreshMark.code)).scalars()) == {inc.FULL_MARK}
    assert refresh(engine, as_of=as_of, tz=TZ).status == "ok"
    assert counting == {"full": 2, "incremental": 2}
    # `refresh --full` on demand (SPEC 1), and a refresh with the incremental path off.
    monkeypatch.setenv("DASHBOARD_DATABASE_URL", engine.url.render_as_string(False))
    monkeypatch.setenv("DASHBOARD_TIMEZONE", TZ)
    assert cli(["refresh", "--full", "--as-of", as_of.isoformat()]) == 0
    assert "refresh ok" in capsys.readouterr().out
    assert counting == {"full": 3, "incremental": 2}
    assert cli(["refresh", "--as-of", as_of.isoformat()]) == 0
    assert counting == {"full": 3, "incremental": 3}
    assert refresh(engine, as_of=as_of, tz=TZ, incremental=False).status == "ok"
    assert refresh(engine, as_of=as_of, tz=TZ).status == "ok"  # no state kept: full
    assert counting == {"full": 5, "incremental": 3}
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(RefreshRun)
                            .where(RefreshRun.status == "ok")).scalar() == 8


def test_a_failed_increment_keeps_the_batch_the_state_and_the_marks(
    engine: Engine, counting: dict[str, int]
) -> None:
    """An increment that fails while writing leaves the previous batch, its state and the
    marks as they were: the next refresh recomputes the same regions and is right."""
    import_records(engine, "regions", regions_records(), tz=TZ)
    as_of = START.replace(tzinfo=ZoneInfo(TZ))
    first = refresh(engine, as_of=as_of, tz=TZ)
    import_records(engine, "vacancies", [{
        "vacancy_id": "V1", "community_code": COMMS[1], "lat": CENTRES[COMMS[1]][0],
        "lon": CENTRES[COMMS[1]][1], "title": "普工", "type": "full_time", "headcount": 4,
        "posted_on": "2025-04-18"}], tz=TZ)

    def boom(written: int) -> None:
        raise RuntimeError("disk full (simulated)")

    out = refresh(engine, as_of=as_of, tz=TZ, _fail_after=boom)
    assert out.status == "failed" and counting == {"full": 1, "incremental": 1}
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(RefreshMark)).scalar() > 0
        assert conn.execute(select(func.count()).select_from(SnapshotRegion)
                            .where(SnapshotRegion.batch_id == out.batch_id)).scalar() == 0
        assert conn.execute(select(func.count()).select_from(SnapshotRegion)
                            .where(SnapshotRegion.valid_to == out.batch_id)).scalar() == 0
    again = refresh(engine, as_of=as_of, tz=TZ)
    assert again.status == "ok" and counting == {"full": 1, "incremental": 2}
    assert first.batch_id != again.batch_id
    stored = stored_snapshot(engine, again.batch_id)
    assert stored == compute_snapshot(engine, as_of, TZ)
    assert stored[CITY]["metrics"]["vacancies.open_headcount"] == 4


def test_marks_of_a_chunk_rolled_back_are_written_again(engine: Engine) -> None:
    """The importer retries a chunk the database refuses row by row: the marks the chunk
    wrote were rolled back with it and must be written again, not remembered as done."""
    from queries.models import Person

    import_records(engine, "regions", regions_records(), tz=TZ)
    with engine.begin() as conn:
        conn.execute(delete(RefreshMark))
    rows = [{"person_id": "X", "community_code": COMMS[2]}]
    with engine.connect() as conn, conn.begin():
        marker = inc.Marker(conn, "persons", Person.__table__, ("person_id",))
        with pytest.raises(RuntimeError):
            with conn.begin_nested():
                marker.after(rows, [])
                raise RuntimeError("the database refused the chunk")
        marker.rollback()
        with conn.begin_nested():
            marker.after(rows, [])
        marker.commit()
        with conn.begin_nested():
            marker.after(rows, [])  # already written: not again
    with engine.connect() as conn:
        assert conn.execute(select(RefreshMark.code)).scalars().all() == [COMMS[2]]


def test_a_restated_vacancy_marks_its_community_and_its_items_are_restated(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A vacancy re-imported at the same place and days marks its own community only (its
    items are restated wherever a list holds them); a moved one marks every community
    within 3 km, whose nearby lists and coverage may change."""
    monkeypatch.setattr(aggregate, "NEARBY_VACANCIES", 2)
    import_records(engine, "regions", regions_records(), tz=TZ)
    a, b = COMMS[0], COMMS[1]  # b's centre is about 2 km east of a's
    lat, lon = CENTRES[a]
    # Due north of a: 0.5, 1.0 and 2.0 km (0.009° of latitude ≈ 1 km).
    vac = [{"vacancy_id": f"N{k}", "community_code": b, "lat": round(lat + d * 0.009, 5),
            "lon": lon, "title": "普工", "type": "full_time", "headcount": 1,
            "posted_on": "2025-04-01"} for k, d in enumerate((0.5, 1.0, 2.0))]
    import_records(engine, "vacancies", vac, tz=TZ)
    as_of = START.replace(tzinfo=ZoneInfo(TZ))
    assert refresh(engine, as_of=as_of, tz=TZ).status == "ok"

    def marks_after(rec: dict[str, Any]) -> set[str]:
        """The marks this import wrote (the earlier ones stay for the last refresh)."""
        with engine.connect() as conn:
            last = conn.execute(select(func.max(RefreshMark.id))).scalar() or 0
        import_records(engine, "vacancies", [rec], tz=TZ)
        with engine.connect() as conn:
            return set(conn.execute(select(RefreshMark.code)
                                    .where(RefreshMark.id > last)).scalars())

    # a's nearby list is N0, N1: restating N0 changes a's list through N0's item alone.
    restated = marks_after({**vac[0], "headcount": 7, "title": "电工"})
    assert restated == {b, inc.VAC_MARK + b, inc.WORKSITE_MARK}, restated
    out = refresh(engine, as_of=as_of, tz=TZ)
    got = stored_snapshot(engine, out.batch_id)
    assert got == compute_snapshot(engine, as_of, TZ)
    assert [v["title"] for v in got[a]["lists"]["nearby_vacancies"]] == ["电工", "普工"]
    # Moving it (or closing it) marks the communities around it.
    moved = marks_after({**vac[2], "lat": round(lat + 0.0185, 5)})
    assert inc.NEAR_MARK + a in moved
    closed = marks_after({**vac[1], "closed_on": "2025-04-10"})
    assert inc.NEAR_MARK + a in closed
    out = refresh(engine, as_of=as_of, tz=TZ)
    assert stored_snapshot(engine, out.batch_id) == compute_snapshot(engine, as_of, TZ)
