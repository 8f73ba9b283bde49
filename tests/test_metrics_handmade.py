"""Every SPEC §3 metric on a small hand-made data set, expected values worked out by hand.

T = 2025-04-15 07:00 Asia/Shanghai (= 2025-04-14 23:00 UTC, so T's UTC date differs from
its local date). date(T) = 2025-04-15, month window 2025-04-01..15, year window
2025-01-01..2025-04-15, series months 2024-05..2025-04.

Tree: city C ─ county A ─ township A1 ─ communities A1a, A1b
              └ county B ─ township B1 ─ community B1a
                         └ township B2 (no community, no data at all)
"""

from __future__ import annotations

import datetime as dt
import math

from sqlalchemy.orm import Session

from queries.aggregate import compute_snapshot
from queries.metrics import DERIVED_KEYS, METRIC_KEYS
from queries.models import (
    Assistance,
    Employer,
    Household,
    Person,
    Placement,
    Region,
    Target,
    Vacancy,
)

TZ = "Asia/Shanghai"
AS_OF = dt.datetime(2025, 4, 14, 23, 0, tzinfo=dt.UTC)
R_KM = 6371.0088

C, A, B = "340100000000", "340102000000", "340103000000"
A1, B1, B2 = "340102001000", "340103001000", "340103002000"
A1a, A1b, B1a = "340102001001", "340102001002", "340103001001"


def north(lat: float, km: float) -> float:
    """Latitude reached moving `km` north along a meridian."""
    return lat + math.degrees(km / R_KM)


V1_LAT, V1_LON = 31.80, 117.30
A1a_LAT = north(V1_LAT, 3.0)  # exactly 3.0 km north of V1's worksite: within
A1b_LAT = north(V1_LAT, 3.01)  # 3.01 km: outside
B1a_LAT, B1a_LON = 31.70, 117.60  # ~30 km away from the A1 communities


def d(s: str) -> dt.date:
    return dt.date.fromisoformat(s)


def load(engine) -> None:  # noqa: ANN001
    """Insert the hand-made data set."""
    regions = [
        Region(code=C, name="合肥市", level="city", parent_code=None),
        Region(code=A, name="瑶海区", level="county", parent_code=C),
        Region(code=B, name="庐阳区", level="county", parent_code=C),
        Region(code=A1, name="明光路街道", level="township", parent_code=A),
        Region(code=B1, name="逍遥津街道", level="township", parent_code=B),
        Region(code=B2, name="杏林街道", level="township", parent_code=B),
        Region(code=A1a, name="甲社区", level="community", parent_code=A1,
               lat=A1a_LAT, lon=V1_LON),
        Region(code=A1b, name="乙社区", level="community", parent_code=A1,
               lat=A1b_LAT, lon=V1_LON),
        Region(code=B1a, name="丙社区", level="community", parent_code=B1,
               lat=B1a_LAT, lon=B1a_LON),
    ]
    employers = [Employer(employer_id="E1", credit_code="91340100MA2XXXXX1X",
                          name="合肥某制造有限公司")]
    vac = dict(title="岗位", salary_max=None, employer_id=None, industry=None, closed_on=None)
    vacancies = [
        # Worksite in A1b's area, 3.0 km from A1a's centre and 3.01 km from A1b's.
        Vacancy(**{**vac, "vacancy_id": "V1", "community_code": A1b, "lat": V1_LAT,
                   "lon": V1_LON, "type": "full_time", "headcount": 5, "salary_min": 4000,
                   "salary_max": 6000, "industry": "制造业", "employer_id": "E1",
                   "posted_on": d("2025-03-10")}),
        # Closes on date(T): not open (would cover A1b if it were).
        Vacancy(**{**vac, "vacancy_id": "V2", "community_code": A1b, "lat": A1b_LAT,
                   "lon": V1_LON, "type": "flexible", "headcount": 3, "salary_min": None,
                   "posted_on": d("2025-04-01"), "closed_on": d("2025-04-15")}),
        # Posted after date(T): counts nowhere.
        Vacancy(**{**vac, "vacancy_id": "V3", "community_code": A1b, "lat": A1b_LAT,
                   "lon": V1_LON, "type": "public_welfare", "headcount": 2,
                   "salary_min": 1000, "posted_on": d("2025-04-16")}),
        # Posted on date(T): open, new this month; no employer.
        Vacancy(**{**vac, "vacancy_id": "V4", "community_code": B1a, "lat": B1a_LAT,
                   "lon": B1a_LON, "type": "flexible", "headcount": 4, "salary_min": 2500,
                   "salary_max": 3500, "industry": "服务业", "posted_on": d("2025-04-15")}),
        # Closes the day after date(T): open; 1.0 km north of B1a's centre.
        Vacancy(**{**vac, "vacancy_id": "V5", "community_code": B1a,
                   "lat": north(B1a_LAT, 1.0), "lon": B1a_LON, "type": "full_time",
                   "headcount": 1, "salary_min": 8000, "salary_max": 10000,
                   "industry": "信息技术", "employer_id": "E1", "posted_on": d("2024-12-01"),
                   "closed_on": d("2025-04-16")}),
        # Closed last year.
        Vacancy(**{**vac, "vacancy_id": "V6", "community_code": A1a, "lat": A1a_LAT,
                   "lon": V1_LON, "type": "internship", "headcount": 2, "salary_min": None,
                   "posted_on": d("2024-06-01"), "closed_on": d("2024-09-01")}),
    ]

    def person(pid: str, code: str, seeking: bool, groups: tuple[str, ...],
               registered: str | None = "2024-01-01") -> Person:
        flags = {f"kg_{g}": g in groups for g in (
            "difficulty", "registered_unemployed", "graduate", "poverty_alleviated",
            "veteran", "disabled", "returnee")}
        return Person(person_id=pid, community_code=code, status="unemployed",
                      seeking_job=seeking, registered_on=d(registered) if registered else None,
                      **flags)

    persons = [
        person("P1", A1a, True, ("difficulty", "graduate")),  # in two key groups
        person("P2", A1a, False, ("veteran",), None),
        person("P3", A1b, True, ("difficulty",)),
        person("P7", A1b, False, ("difficulty",)),
        person("P4", B1a, True, ("returnee",)),
        person("P5", B1a, False, ("graduate", "disabled")),
        # Registered after date(T): dated after T, so counted nowhere.
        person("P6", B1a, True, ("difficulty",), "2025-04-20"),
    ]

    def placement(pid: str, person_id: str, vid: str | None, code: str, at: str,
                  form: str) -> Placement:
        t = dt.datetime.fromisoformat(at)
        return Placement(placement_id=pid, person_id=person_id, vacancy_id=vid,
                         community_code=code, placed_at=t, placed_on=t.date(), form=form)

    placements = [
        placement("L1", "P1", "V1", A1a, "2025-04-15T06:00", "employer"),
        placement("L2", "P3", "V1", A1b, "2025-03-31T23:30", "employer"),  # last day of March
        placement("L3", "P3", None, A1b, "2025-04-01T00:30", "flexible"),  # first of April
        placement("L4", "P4", "V4", B1a, "2025-04-10T09:00", "flexible"),
        placement("L5", "P4", "VX", B1a, "2025-02-14T10:00", "entrepreneurship"),  # VX unknown
        placement("L6", "P2", "V6", A1a, "2024-12-20T10:00", "public_welfare"),  # last year
        placement("L8", "P4", None, B1a, "2024-04-30T10:00", "flexible"),  # before series
        placement("L9", "P6", "V4", B1a, "2025-04-16T08:00", "flexible"),  # after T
        placement("L10", "P2", "V1", A1a, "2025-01-01T00:00", "traineeship"),  # year start
    ]
    assistance = [
        Assistance(record_id="S1", person_id="P1", community_code=A1a, kind="guidance",
                   served_on=d("2025-03-01")),
        Assistance(record_id="S2", person_id="P1", community_code=A1a, kind="training",
                   served_on=d("2025-04-15")),
        Assistance(record_id="S3", person_id="P5", community_code=B1a, kind="visit",
                   served_on=d("2025-01-01")),
        Assistance(record_id="S4", person_id="P3", community_code=A1b, kind="referral",
                   served_on=d("2024-12-31")),  # last year
        Assistance(record_id="S5", person_id="P2", community_code=A1a, kind="subsidy",
                   served_on=d("2025-04-16")),  # after T
        Assistance(record_id="S6", person_id="P4", community_code=B1a, kind="visit",
                   served_on=d("2025-02-02")),
    ]

    def hh(hid: str, code: str, ident: str | None, cleared: str | None = None) -> Household:
        return Household(household_id=hid, community_code=code,
                         zero_identified_on=d(ident) if ident else None,
                         zero_cleared_on=d(cleared) if cleared else None)

    households = [
        hh("H1", A1a, "2025-03-16"),  # exactly 30 days before date(T): not overdue
        hh("H2", A1a, "2025-03-15"),  # 31 days: overdue
        hh("H3", A1b, "2025-01-10", "2025-04-15"),  # cleared on date(T): 95 days
        hh("H4", B1a, "2024-11-20", "2025-02-01"),  # cleared this year: 73 days
        hh("H5", B1a, "2024-10-01"),  # outstanding, overdue
        hh("H6", B1a, "2025-04-16"),  # identified after T
        hh("H7", A1b, None),  # not a zero-employment household
        hh("H8", A1b, "2024-12-01", "2025-04-16"),  # cleared after T: still outstanding
    ]
    targets = [
        Target(region_code=C, metric="placements.year", year=2025, target=12),
        Target(region_code=C, metric="placements.year", year=2024, target=100),
        Target(region_code=A1a, metric="circle.coverage", year=2025, target=1.0),
        Target(region_code=B2, metric="placements.year", year=2025, target=10),
        Target(region_code=B2, metric="supply_demand_ratio", year=2025, target=2),
    ]
    with Session(engine) as s:
        s.add_all(regions + employers)
        s.flush()
        s.add_all(vacancies + persons)
        s.flush()
        s.add_all(placements + assistance + households + targets)
        s.commit()


def base() -> dict:
    """Every key: 0 for counts, None for ratios (overridden below where data exists)."""
    return {k: (None if k in DERIVED_KEYS else 0) for k in METRIC_KEYS}


def expected() -> dict[str, dict]:
    """The hand-worked metrics of every region."""
    e = {code: base() for code in (C, A, B, A1, B1, B2, A1a, A1b, B1a)}
    e[A1a].update({
        "placements.today": 1,  # L1 (06:00 on date(T))
        "placements.month": 1,  # L1
        "placements.year": 2,  # L1, L10 (L6 was last year)
        "placements.by_form.employer": 1,
        "placements.by_form.traineeship": 1,
        "placements.within_3km_share": 1.0,  # L1, L10 via V1 at exactly 3.0 km: 2/2
        "jobseekers.active": 1,  # P1
        "supply_demand_ratio": 0.0,  # 0 open headcount / 1 seeker
        "key_groups.difficulty.registered": 1, "key_groups.difficulty.placed.year": 1,
        "key_groups.difficulty.assisted.year": 1, "key_groups.difficulty.placement_rate": 1.0,
        "key_groups.graduate.registered": 1, "key_groups.graduate.placed.year": 1,
        "key_groups.graduate.assisted.year": 1, "key_groups.graduate.placement_rate": 1.0,
        # P2: placed by L10, only assistance S5 is after T.
        "key_groups.veteran.registered": 1, "key_groups.veteran.placed.year": 1,
        "key_groups.veteran.assisted.year": 0, "key_groups.veteran.placement_rate": 1.0,
        "assistance.year": 2, "assistance.by_kind.guidance": 1,
        "assistance.by_kind.training": 1,
        "zero_households.outstanding": 2,  # H1, H2
        "zero_households.overdue": 1,  # H2
        "zero_households.identified.year": 2,
        "circle.communities": 1, "circle.covered": 1, "circle.coverage": 1.0,
    })
    e[A1b].update({
        "placements.month": 1,  # L3 at 00:30 on April 1st
        "placements.year": 2,  # L2, L3
        "placements.by_form.employer": 1, "placements.by_form.flexible": 1,
        "placements.within_3km_share": 0.0,  # only L2 is known (V1 at 3.01 km): 0/1
        "vacancies.open": 1, "vacancies.open_headcount": 5,  # V1
        "vacancies.by_type.full_time": 5,
        "vacancies.new.month": 1,  # V2 (posted April 1st, closed on date(T))
        "jobseekers.active": 1,  # P3
        "supply_demand_ratio": 5.0,
        "key_groups.difficulty.registered": 2,  # P3, P7
        "key_groups.difficulty.placed.year": 1,  # P3 (two placements, one person)
        "key_groups.difficulty.assisted.year": 0,  # S4 was last year
        "key_groups.difficulty.placement_rate": 0.5,
        "zero_households.outstanding": 1,  # H8 (cleared after T)
        "zero_households.overdue": 1,
        "zero_households.identified.year": 1,  # H3
        "zero_households.cleared.year": 1,  # H3
        "zero_households.avg_days_to_clear.year": 95.0,  # Jan 10 -> Apr 15
        "circle.communities": 1, "circle.covered": 0, "circle.coverage": 0.0,
    })
    e[B1a].update({
        "placements.month": 1,  # L4
        "placements.year": 2,  # L4, L5 (L8 last year, L9 after T)
        "placements.by_form.flexible": 1, "placements.by_form.entrepreneurship": 1,
        "placements.within_3km_share": 1.0,  # L4 known and at 0 km; L5's VX unknown
        "vacancies.open": 2, "vacancies.open_headcount": 5,  # V4 (4), V5 (1)
        "vacancies.by_type.flexible": 4, "vacancies.by_type.full_time": 1,
        "vacancies.new.month": 1,  # V4
        "jobseekers.active": 1,  # P4 (P6 registered after T)
        "supply_demand_ratio": 5.0,
        "key_groups.returnee.registered": 1, "key_groups.returnee.placed.year": 1,
        "key_groups.returnee.assisted.year": 1, "key_groups.returnee.placement_rate": 1.0,
        "key_groups.graduate.registered": 1, "key_groups.graduate.placed.year": 0,
        "key_groups.graduate.assisted.year": 1, "key_groups.graduate.placement_rate": 0.0,
        "key_groups.disabled.registered": 1, "key_groups.disabled.placed.year": 0,
        "key_groups.disabled.assisted.year": 1, "key_groups.disabled.placement_rate": 0.0,
        "assistance.year": 2, "assistance.by_kind.visit": 2,  # S3, S6
        "zero_households.outstanding": 1,  # H5
        "zero_households.overdue": 1,
        "zero_households.cleared.year": 1,  # H4
        "zero_households.avg_days_to_clear.year": 73.0,  # Nov 20 -> Feb 1
        "circle.communities": 1, "circle.covered": 1, "circle.coverage": 1.0,
    })
    a1 = {
        "placements.today": 1, "placements.month": 2, "placements.year": 4,
        "placements.by_form.employer": 2, "placements.by_form.flexible": 1,
        "placements.by_form.traineeship": 1,
        "placements.within_3km_share": 0.6667,  # 2 within / 3 known
        "vacancies.open": 1, "vacancies.open_headcount": 5, "vacancies.by_type.full_time": 5,
        "vacancies.new.month": 1, "jobseekers.active": 2,
        "supply_demand_ratio": 2.5,  # 5 / 2
        "key_groups.difficulty.registered": 3, "key_groups.difficulty.placed.year": 2,
        "key_groups.difficulty.assisted.year": 1,
        "key_groups.difficulty.placement_rate": 0.6667,  # 2 / 3
        "key_groups.graduate.registered": 1, "key_groups.graduate.placed.year": 1,
        "key_groups.graduate.assisted.year": 1, "key_groups.graduate.placement_rate": 1.0,
        "key_groups.veteran.registered": 1, "key_groups.veteran.placed.year": 1,
        "key_groups.veteran.assisted.year": 0, "key_groups.veteran.placement_rate": 1.0,
        "assistance.year": 2, "assistance.by_kind.guidance": 1,
        "assistance.by_kind.training": 1,
        "zero_households.outstanding": 3, "zero_households.overdue": 2,
        "zero_households.identified.year": 3, "zero_households.cleared.year": 1,
        "zero_households.avg_days_to_clear.year": 95.0,
        "circle.communities": 2, "circle.covered": 1, "circle.coverage": 0.5,
    }
    e[A1].update(a1)
    e[A].update(a1)
    b1 = {k: v for k, v in e[B1a].items()}
    e[B1].update(b1)
    e[B].update(b1)
    e[C].update({
        "placements.today": 1, "placements.month": 3, "placements.year": 6,
        "placements.by_form.employer": 2, "placements.by_form.flexible": 2,
        "placements.by_form.traineeship": 1, "placements.by_form.entrepreneurship": 1,
        "placements.within_3km_share": 0.75,  # 3 within / 4 known
        "vacancies.open": 3, "vacancies.open_headcount": 10,
        "vacancies.by_type.full_time": 6, "vacancies.by_type.flexible": 4,
        "vacancies.new.month": 2, "jobseekers.active": 3,
        "supply_demand_ratio": 3.33,  # 10 / 3
        "key_groups.difficulty.registered": 3, "key_groups.difficulty.placed.year": 2,
        "key_groups.difficulty.assisted.year": 1, "key_groups.difficulty.placement_rate": 0.6667,
        "key_groups.graduate.registered": 2, "key_groups.graduate.placed.year": 1,
        "key_groups.graduate.assisted.year": 2, "key_groups.graduate.placement_rate": 0.5,
        "key_groups.veteran.registered": 1, "key_groups.veteran.placed.year": 1,
        "key_groups.veteran.assisted.year": 0, "key_groups.veteran.placement_rate": 1.0,
        "key_groups.returnee.registered": 1, "key_groups.returnee.placed.year": 1,
        "key_groups.returnee.assisted.year": 1, "key_groups.returnee.placement_rate": 1.0,
        "key_groups.disabled.registered": 1, "key_groups.disabled.placed.year": 0,
        "key_groups.disabled.assisted.year": 1, "key_groups.disabled.placement_rate": 0.0,
        "assistance.year": 4, "assistance.by_kind.guidance": 1,
        "assistance.by_kind.training": 1, "assistance.by_kind.visit": 2,
        "zero_households.outstanding": 4, "zero_households.overdue": 3,
        "zero_households.identified.year": 3, "zero_households.cleared.year": 2,
        "zero_households.avg_days_to_clear.year": 84.0,  # (95 + 73) / 2
        "circle.communities": 3, "circle.covered": 2, "circle.coverage": 0.6667,
    })
    # SPEC 6.2 on this data (the services metrics have their own data set in
    # test_services_metrics.py): everybody is unemployed, so every community fails
    # `employment` (0 of 2 employed); A1a has H2, A1b H8, B1a H5 overdue; A1b's difficulty
    # persons P3 (assisted last year only) and P7 have no assistance this year; nobody is
    # registered_unemployed, so the registered unemployment rate is 0 ÷ 0 (null).
    fails = {A1a: ("employment", "zero_households"),
             A1b: ("employment", "zero_households", "assistance"),
             B1a: ("employment", "zero_households")}
    for code, members in {A1a: [A1a], A1b: [A1b], B1a: [B1a], A1: [A1a, A1b],
                          A: [A1a, A1b], B1: [B1a], B: [B1a], C: [A1a, A1b, B1a]}.items():
        e[code]["full_employment.communities"] = len(members)
        e[code]["full_employment.rate"] = 0.0
        for c in ("employment", "zero_households", "assistance"):
            e[code][f"full_employment.failing.{c}"] = sum(c in fails[m] for m in members)
    return e


def months(**nonzero: int) -> dict[str, int]:
    """The 12 series keys 2024-05..2025-04 with the given non-zero counts."""
    keys = [f"2024-{m:02d}" for m in range(5, 13)] + [f"2025-{m:02d}" for m in range(1, 5)]
    out = {k: 0 for k in keys}
    for k, v in nonzero.items():
        out[k.replace("_", "-").lstrip("m")] = v
    return out


def test_every_metric_of_every_region(engine) -> None:  # noqa: ANN001
    load(engine)
    snap = compute_snapshot(engine, AS_OF, TZ)
    exp = expected()
    assert set(snap) == set(exp)
    for code, metrics in exp.items():
        got = snap[code]["metrics"]
        assert list(got) == list(METRIC_KEYS), code  # every key, in order
        for key in METRIC_KEYS:
            assert got[key] == metrics[key], (code, key, got[key], metrics[key])
    # B2 has no data at all: every count 0, every ratio null.
    assert all(v is None for k, v in snap[B2]["metrics"].items() if k in DERIVED_KEYS)


def test_tree_fields_series_and_targets(engine) -> None:  # noqa: ANN001
    load(engine)
    snap = compute_snapshot(engine, AS_OF, TZ)
    r = snap[A1a]
    assert (r["code"], r["name"], r["level"], r["parent_code"]) == (A1a, "甲社区", "community", A1)
    assert r["path"] == [
        {"code": C, "name": "合肥市", "level": "city"},
        {"code": A, "name": "瑶海区", "level": "county"},
        {"code": A1, "name": "明光路街道", "level": "township"},
        {"code": A1a, "name": "甲社区", "level": "community"},
    ]
    assert snap[C]["parent_code"] is None
    assert snap[C]["path"] == [{"code": C, "name": "合肥市", "level": "city"}]

    series = {code: snap[code]["series"]["placements.monthly"] for code in snap}
    # L2 23:30 on March 31st stays in March; L3 00:30 on April 1st is April.
    assert series[A1b] == months(m2025_03=1, m2025_04=1)
    assert series[A1a] == months(m2024_12=1, m2025_01=1, m2025_04=1)
    # L8 (2024-04-30) is before the 12-month window, L9 after T.
    assert series[B1a] == months(m2025_02=1, m2025_04=1)
    assert series[C] == months(m2024_12=1, m2025_01=1, m2025_02=1, m2025_03=1, m2025_04=3)
    assert list(series[C]) == sorted(series[C])  # oldest first
    assert series[B2] == months()

    # expected (时序进度): 15 April is day 31 + 28 + 31 + 15 = 105 of 365 -> 0.2877.
    x = 0.2877
    assert snap[C]["targets"] == {
        "placements.year": {"target": 12.0, "completion": 0.5, "expected": x}}
    assert snap[A1a]["targets"] == {
        "circle.coverage": {"target": 1.0, "completion": 1.0, "expected": x}}
    # Value 0 -> completion 0; a null ratio -> null completion.
    assert snap[B2]["targets"] == {
        "placements.year": {"target": 10.0, "completion": 0.0, "expected": x},
        "supply_demand_ratio": {"target": 2.0, "completion": None, "expected": x},
    }
    assert snap[A]["targets"] == {}


def test_panel_lists(engine) -> None:  # noqa: ANN001
    load(engine)
    snap = compute_snapshot(engine, AS_OF, TZ)
    latest = snap[C]["lists"]["latest_placements"]
    # Newest first; L9 (after date(T)) excluded; no person fields.
    assert [x["placed_at"] for x in latest] == [
        "2025-04-15T06:00:00+08:00", "2025-04-10T09:00:00+08:00",
        "2025-04-01T00:30:00+08:00", "2025-03-31T23:30:00+08:00",
        "2025-02-14T10:00:00+08:00", "2025-01-01T00:00:00+08:00",
        "2024-12-20T10:00:00+08:00", "2024-04-30T10:00:00+08:00",
    ]
    assert latest[0] == {"placed_at": "2025-04-15T06:00:00+08:00", "community_code": A1a,
                         "community_name": "甲社区", "form": "employer"}
    assert [x["community_code"] for x in snap[A1b]["lists"]["latest_placements"]] == [A1b, A1b]

    newest = snap[C]["lists"]["newest_vacancies"]
    assert [v["vacancy_id"] for v in newest] == ["V4", "V1", "V5"]  # by posted_on desc
    assert newest[1] == {
        "vacancy_id": "V1", "title": "岗位", "employer": "合肥某制造有限公司", "headcount": 5,
        "salary_min": 4000, "salary_max": 6000, "type": "full_time", "industry": "制造业",
        "posted_on": "2025-03-10", "community_code": A1b, "community_name": "乙社区",
    }
    assert newest[0]["employer"] is None
    assert snap[B2]["lists"]["newest_vacancies"] == []

    near_a = snap[A1a]["lists"]["nearby_vacancies"]
    assert [(v["vacancy_id"], v["distance_km"]) for v in near_a] == [("V1", 3.0)]
    assert snap[A1b]["lists"]["nearby_vacancies"] == []  # V1 at 3.01, V2/V3 not open
    near_b = snap[B1a]["lists"]["nearby_vacancies"]
    assert [(v["vacancy_id"], v["distance_km"]) for v in near_b] == [("V4", 0.0), ("V5", 1.0)]
    assert "nearby_vacancies" not in snap[A1]["lists"]

    assert snap[C]["lists"]["by_industry"] == [
        {"industry": "制造业", "headcount": 5}, {"industry": "服务业", "headcount": 4},
        {"industry": "信息技术", "headcount": 1},
    ]
    assert snap[C]["lists"]["salary_bands"] == [
        {"band": "<3000", "headcount": 4}, {"band": "3000–4999", "headcount": 5},
        {"band": "5000–7999", "headcount": 0}, {"band": "≥8000", "headcount": 1},
        {"band": "未标明", "headcount": 0},
    ]


def test_rows_of_unknown_communities_are_ignored(engine) -> None:  # noqa: ANN001
    load(engine)
    with Session(engine) as s:
        s.add(Placement(placement_id="LX", person_id="PX", vacancy_id=None,
                        community_code="349999999999", placed_at=dt.datetime(2025, 4, 15, 1),
                        placed_on=dt.date(2025, 4, 15), form="employer"))
        s.commit()
    snap = compute_snapshot(engine, AS_OF, TZ)
    assert "349999999999" not in snap
    assert snap[C]["metrics"]["placements.today"] == 1
