"""Every SPEC §6.2 metric on a hand-made data set, expected values worked out by hand.

T = 2025-04-15 07:00 Asia/Shanghai (= 2025-04-14 23:00 UTC). date(T) = 2025-04-15, month
window 2025-04-01..15, year window 2025-01-01..2025-04-15; 2025-04-15 is day 105 of 365,
so the 时序进度 of a target is 105 / 365 = 0.2877. date(T) − 180 days = 2024-10-17 and
date(T) − 181 days = 2024-10-16 (April 15 is 104 days after January 1; 76 more days
back from January 1 is October 17).

Tree: city C ─ county A ─ township A1 ─ communities A1a, A1b
              └ county B ─ township B1 ─ communities B1a, B1b (B1b: nobody lives there)
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from queries.aggregate import compute_snapshot
from queries.metrics import DERIVED_KEYS, METRIC_KEYS
from queries.models import (
    Assistance,
    Employer,
    Household,
    Interview,
    JobFair,
    Loan,
    Person,
    Region,
    Survey,
    Target,
    Training,
    Vacancy,
)

TZ = "Asia/Shanghai"
AS_OF = dt.datetime(2025, 4, 14, 23, 0, tzinfo=dt.UTC)
C, A, B = "340100000000", "340102000000", "340103000000"
A1, B1 = "340102001000", "340103001000"
A1a, A1b, B1a, B1b = "340102001001", "340102001002", "340103001001", "340103001002"
ALL = (C, A, B, A1, B1, A1a, A1b, B1a, B1b)
# The section 6.2 keys: the old ones are checked by test_metrics_handmade.py.
NEW_KEYS = METRIC_KEYS[METRIC_KEYS.index("jobseekers.registered.month"):]
EXPECTED = 0.2877


def d(s: str) -> dt.date:
    return dt.date.fromisoformat(s)


def person(pid: str, code: str, status: str, *, groups: tuple[str, ...] = (),
           registered: str = "2024-06-01", since: str | None = None) -> Person:
    flags = {f"kg_{g}": g in groups for g in (
        "difficulty", "registered_unemployed", "graduate", "poverty_alleviated",
        "veteran", "disabled", "returnee")}
    return Person(person_id=pid, community_code=code, status=status, seeking_job=False,
                  registered_on=d(registered), unemployed_since=d(since) if since else None,
                  **flags)


def load(engine) -> None:  # noqa: ANN001
    """Insert the hand-made data set."""
    regions = [
        Region(code=C, name="合肥市", level="city", parent_code=None),
        Region(code=A, name="瑶海区", level="county", parent_code=C),
        Region(code=B, name="庐阳区", level="county", parent_code=C),
        Region(code=A1, name="明光路街道", level="township", parent_code=A),
        Region(code=B1, name="逍遥津街道", level="township", parent_code=B),
        Region(code=A1a, name="甲社区", level="community", parent_code=A1, lat=31.80,
               lon=117.30),
        Region(code=A1b, name="乙社区", level="community", parent_code=A1, lat=31.85,
               lon=117.30),
        Region(code=B1a, name="丙社区", level="community", parent_code=B1, lat=31.70,
               lon=117.60),
        Region(code=B1b, name="丁社区", level="community", parent_code=B1, lat=31.72,
               lon=117.60),
    ]
    persons = [
        # A1a: 2 employed (P1, P2), 2 registered unemployed (P3, P4): rate 2 / 4, share 0.5.
        person("P1", A1a, "employed", registered="2025-04-02"),  # month and year
        person("P2", A1a, "flexible", registered="2025-01-01"),  # year
        # unemployed exactly 180 days: not long-term
        person("P3", A1a, "unemployed", groups=("registered_unemployed",), since="2024-10-17"),
        # 181 days: long-term; difficulty, assisted on 31 December last year only
        person("P4", A1a, "unemployed", groups=("registered_unemployed", "difficulty"),
               since="2024-10-16"),
        person("P5", A1a, "employed", registered="2025-04-20"),  # registered after T: nowhere
        person("P6", A1a, "inactive", registered="2025-03-01"),  # year registration only
        # A1b: 19 employed of 20 = 0.95 exactly (meets); the unemployed one is a difficulty
        # person assisted this year.
        *[person(f"Q{i}", A1b, "employed") for i in range(1, 20)],
        person("Q20", A1b, "unemployed", groups=("difficulty",)),
        # B1a: both employed; R2 is a difficulty person but employed (needs no assistance).
        person("R1", B1a, "employed"),
        person("R2", B1a, "employed", groups=("difficulty",)),
    ]
    assistance = [
        Assistance(record_id="S1", person_id="P4", community_code=A1a, kind="visit",
                   served_on=d("2024-12-31")),
        Assistance(record_id="S2", person_id="Q20", community_code=A1b, kind="guidance",
                   served_on=d("2025-02-01")),
    ]
    households = [
        Household(household_id="H1", community_code=A1b,
                  zero_identified_on=d("2025-04-01")),  # 14 days: not overdue
        Household(household_id="H2", community_code=B1a,
                  zero_identified_on=d("2025-03-01")),  # 45 days: overdue
    ]
    employers = [
        Employer(employer_id="E1", credit_code="91340100MA2XXXXX1X", name="甲公司",
                 community_code=A1a, registered_on=d("2025-02-01")),  # joined this year, hiring
        Employer(employer_id="E2", credit_code="91340100MA2XXXXX2X", name="乙公司",
                 community_code=A1a, registered_on=d("2024-05-01")),  # its vacancy closes on T
        Employer(employer_id="E3", credit_code="91340100MA2XXXXX3X", name="丙公司",
                 community_code=B1a, registered_on=d("2025-04-16")),  # joins after T: nowhere
        Employer(employer_id="E4", credit_code="91340100MA2XXXXX4X", name="丁公司",
                 community_code=None, registered_on=d("2025-01-05")),  # in no region
        Employer(employer_id="E5", credit_code="91340100MA2XXXXX5X", name="戊公司",
                 community_code=B1b),  # hiring at a worksite in A1a
    ]
    vac = dict(title="岗位", type="full_time", headcount=1, lat=31.80, lon=117.30,
               community_code=A1a, posted_on=d("2025-01-01"))
    vacancies = [
        Vacancy(vacancy_id="V1", employer_id="E1", **vac),
        Vacancy(vacancy_id="V2", employer_id="E2", closed_on=d("2025-04-15"), **vac),
        Vacancy(vacancy_id="V3", employer_id="E5", **vac),
    ]
    fair = dict(title="招聘会", mode="onsite", employers=None, posts=None, visitors=None,
                intentions=None, views=None)
    fairs = [
        JobFair(**{**fair, "fair_id": "F1", "region_code": C, "held_on": d("2025-02-20"),
                   "employers": 100, "posts": 2000, "visitors": 5000, "intentions": 600}),
        # A county's livestream fair: the county and the city, no township or community.
        JobFair(**{**fair, "fair_id": "F2", "region_code": A, "held_on": d("2025-03-05"),
                   "mode": "livestream", "employers": 20, "posts": 300, "visitors": 0,
                   "intentions": 50, "views": 120000}),
        JobFair(**{**fair, "fair_id": "F3", "region_code": A1a, "held_on": d("2025-04-15"),
                   "mode": "online", "employers": 5, "posts": 40, "visitors": 60,
                   "intentions": 8, "title": "甲社区周三招聘"}),
        JobFair(**{**fair, "fair_id": "F4", "region_code": B1, "held_on": d("2024-12-31"),
                   "employers": 9}),  # last year
        JobFair(**{**fair, "fair_id": "F5", "region_code": B1a, "held_on": d("2025-04-16"),
                   "employers": 7, "title": "丙社区春风行动"}),  # after T: upcoming only
        JobFair(**{**fair, "fair_id": "F6", "region_code": A, "held_on": d("2025-05-15"),
                   "title": "瑶海区夏季招聘会"}),  # date(T) + 30: upcoming
        JobFair(**{**fair, "fair_id": "F7", "region_code": A, "held_on": d("2025-05-16")}),
    ]
    trainings = [
        Training(training_id="T1", person_id="P1", community_code=A1a, kind="skills",
                 mode="onsite", started_on=d("2025-01-10"), completed_on=d("2025-03-10"),
                 certified=True, subsidised=True),
        # Completed after date(T): started this year, not completed, certificate not yet.
        Training(training_id="T2", person_id="P3", community_code=A1a,
                 kind="entrepreneurship", mode="remote", started_on=d("2025-03-01"),
                 completed_on=d("2025-04-20"), certified=True, subsidised=False),
        Training(training_id="T3", person_id="P4", community_code=A1a, kind="platform",
                 mode="remote", started_on=d("2024-12-01"), completed_on=d("2025-01-15"),
                 certified=True, subsidised=True),  # started last year
        Training(training_id="T4", person_id="R1", community_code=B1a, kind="other",
                 mode="onsite", started_on=d("2025-04-15"), subsidised=True),
        Training(training_id="T5", person_id="R2", community_code=B1a, kind="skills",
                 mode="onsite", started_on=d("2025-04-16")),  # after T
    ]

    def iv(iid: str, pid: str, code: str, at: str, mode: str, outcome: str | None) -> Interview:
        t = dt.datetime.fromisoformat(at)
        return Interview(interview_id=iid, person_id=pid, community_code=code, held_at=t,
                         held_on=t.date(), mode=mode, outcome=outcome)

    interviews = [
        iv("I1", "P3", A1a, "2025-04-14T15:00", "remote", "offer"),
        iv("I2", "P4", A1a, "2025-02-01T09:00", "onsite", "no_offer"),
        iv("I3", "P4", A1a, "2025-03-01T09:00", "onsite", "pending"),
        iv("I4", "R1", B1a, "2024-12-31T23:30", "onsite", "offer"),  # last year
        iv("I5", "R2", B1a, "2025-04-15T23:59", "remote", None),  # later on date(T): counts
    ]
    loans = [
        Loan(loan_id="L1", person_id="P1", community_code=A1a, granted_on=d("2025-03-03"),
             amount=150000.5, jobs_created=3),
        Loan(loan_id="L2", person_id="P2", community_code=A1a, granted_on=d("2025-01-01"),
             amount=50000, jobs_created=0),
        Loan(loan_id="L3", person_id="R1", community_code=B1a, granted_on=d("2024-12-31"),
             amount=300000, jobs_created=5),  # last year
        Loan(loan_id="L4", person_id="R2", community_code=B1a, granted_on=d("2025-04-01"),
             amount=99999.99, jobs_created=None),
    ]

    def sv(rid: str, code: str, on: str, score: int) -> Survey:
        return Survey(response_id=rid, community_code=code, answered_on=d(on), score=score)

    surveys = [
        sv("Y1", A1a, "2025-04-01", 3), sv("Y2", A1a, "2025-04-02", 4),
        sv("Y3", A1a, "2025-03-01", 5), sv("Y4", B1a, "2025-02-02", 5),
        sv("Y5", B1a, "2024-12-31", 1),  # last year
        sv("Y6", B1b, "2025-04-16", 1),  # after T
    ]
    targets = [
        Target(region_code=C, metric="full_employment.rate", year=2025, target=0.7),
        Target(region_code=A, metric="job_fairs.year", year=2025, target=8),
    ]
    with Session(engine) as s:
        s.add_all(regions + employers)
        s.flush()
        s.add_all(vacancies + persons)
        s.flush()
        s.add_all(assistance + households + fairs + trainings + interviews + loans + surveys
                  + targets)
        s.commit()


def base() -> dict:
    """Every new key: 0 for counts, None for ratios (overridden below)."""
    return {k: (None if k in DERIVED_KEYS else 0) for k in NEW_KEYS}


def fairs(n: int, employers: int, posts: int, visitors: int, intentions: int,
          views: int) -> dict:
    return {"job_fairs.year": n, "job_fairs.employers.year": employers,
            "job_fairs.posts.year": posts, "job_fairs.visitors.year": visitors,
            "job_fairs.intentions.year": intentions, "job_fairs.views.year": views}


def fe(communities: int, compliant: int, employment: int = 0, long_term: int = 0,
       zero_households: int = 0, assistance: int = 0) -> dict:
    return {"full_employment.communities": communities,
            "full_employment.compliant": compliant,
            "full_employment.rate": round(compliant / communities, 4),
            "full_employment.failing.employment": employment,
            "full_employment.failing.long_term": long_term,
            "full_employment.failing.zero_households": zero_households,
            "full_employment.failing.assistance": assistance}


def expected() -> dict[str, dict]:
    """The hand-worked values of every region."""
    e = {code: base() for code in ALL}
    a1a = {
        "jobseekers.registered.month": 1,  # P1 (P5 registered after T)
        "jobseekers.registered.year": 3,  # P1, P2, P6
        "employers.total": 2, "employers.registered.year": 1, "employers.hiring": 1,  # E1
        "labour.employed": 2,  # P1, P2
        "unemployed.registered": 2,  # P3, P4
        "unemployed.long_term": 1,  # P4 (181 days); P3 (180) is not
        "unemployment.registered_rate": 0.5,  # 2 / (2 + 2)
        **fairs(1, 5, 40, 60, 8, 0),  # F3
        "trainings.year": 2, "trainings.completed.year": 1, "trainings.certified.year": 1,
        "trainings.subsidised.year": 1, "trainings.remote.year": 1,
        "trainings.by_kind.skills": 1, "trainings.by_kind.entrepreneurship": 1,
        "interviews.year": 3, "interviews.remote.year": 1,
        "interviews.offer_rate.year": 0.5,  # 1 offer / (1 offer + 1 no_offer)
        "loans.year": 2, "loans.amount.year": 200000.5, "loans.jobs_created.year": 3,
        "satisfaction.responses.year": 3,
        "satisfaction.score.year": 4.0,  # (3 + 4 + 5) / 3
        "satisfaction.satisfied_share.year": 0.6667,  # scores 4 and 5 of 3
        # employment 2/4 < 0.95, long-term P4, P4 not assisted this year
        **fe(1, 0, employment=1, long_term=1, assistance=1),
    }
    a1b = {
        "labour.employed": 19, "unemployed.registered": 0,
        "unemployment.registered_rate": 0.0,  # 0 / (19 + 0)
        **fe(1, 1),  # 19 / 20 = 0.95 meets; Q20 assisted; H1 only 14 days
    }
    b1a = {
        "labour.employed": 2, "unemployment.registered_rate": 0.0,
        "trainings.year": 1, "trainings.subsidised.year": 1, "trainings.by_kind.other": 1,
        "interviews.year": 1, "interviews.remote.year": 1,  # I5; no decided outcome
        "loans.year": 1, "loans.amount.year": 99999.99,
        "satisfaction.responses.year": 1, "satisfaction.score.year": 5.0,
        "satisfaction.satisfied_share.year": 1.0,
        **fe(1, 0, zero_households=1),  # H2 overdue
    }
    b1b = {"employers.total": 1, "employers.hiring": 1,  # E5 (worksite in A1a)
           **fe(1, 1)}  # nobody lives there: meets every criterion
    e[A1a].update(a1a)
    e[A1b].update(a1b)
    e[B1a].update(b1a)
    e[B1b].update(b1b)
    a1 = {**a1a, "labour.employed": 21, "unemployment.registered_rate": 0.087,  # 2 / 23
          **fe(2, 1, employment=1, long_term=1, assistance=1)}
    e[A1].update(a1)
    # County A also has F2 (its own fair): 2 fairs, which is more than its township's 1.
    e[A].update({**a1, **fairs(2, 25, 340, 60, 58, 120000)})
    b1 = {**b1a, "employers.total": 1, "employers.hiring": 1,
          **fe(2, 1, zero_households=1)}
    e[B1].update(b1)
    e[B].update(b1)
    e[C].update({
        "jobseekers.registered.month": 1, "jobseekers.registered.year": 3,
        "employers.total": 3, "employers.registered.year": 1, "employers.hiring": 2,
        "labour.employed": 23, "unemployed.registered": 2, "unemployed.long_term": 1,
        "unemployment.registered_rate": 0.08,  # 2 / 25
        **fairs(3, 125, 2340, 5060, 658, 120000),  # F1 + F2 + F3
        "trainings.year": 3, "trainings.completed.year": 1, "trainings.certified.year": 1,
        "trainings.subsidised.year": 2, "trainings.remote.year": 1,
        "trainings.by_kind.skills": 1, "trainings.by_kind.entrepreneurship": 1,
        "trainings.by_kind.other": 1,
        "interviews.year": 4, "interviews.remote.year": 2, "interviews.offer_rate.year": 0.5,
        "loans.year": 3, "loans.amount.year": 300000.49, "loans.jobs_created.year": 3,
        "satisfaction.responses.year": 4,
        "satisfaction.score.year": 4.25,  # (3 + 4 + 5 + 5) / 4
        "satisfaction.satisfied_share.year": 0.75,
        **fe(4, 2, employment=1, long_term=1, zero_households=1, assistance=1),
    })
    return e


def test_every_services_metric_of_every_region(engine) -> None:  # noqa: ANN001
    load(engine)
    snap = compute_snapshot(engine, AS_OF, TZ)
    exp = expected()
    assert set(snap) == set(exp)
    for code, metrics in exp.items():
        got = snap[code]["metrics"]
        assert list(got) == list(METRIC_KEYS), code
        for key in NEW_KEYS:
            assert got[key] == metrics[key], (code, key, got[key], metrics[key])


def test_fair_metrics_count_fairs_of_the_region_and_below(engine) -> None:  # noqa: ANN001
    load(engine)
    m = {c: r["metrics"] for c, r in compute_snapshot(engine, AS_OF, TZ).items()}
    # The county fair F2 is the county's and the city's, in no township or community.
    assert m[A]["job_fairs.year"] == 2 and m[A1]["job_fairs.year"] == 1
    assert m[C]["job_fairs.year"] > m[A]["job_fairs.year"] + m[B]["job_fairs.year"]
    # Every other count rolls up exactly.
    assert m[C]["trainings.year"] == m[A]["trainings.year"] + m[B]["trainings.year"]


def test_targets_carry_expected(engine) -> None:  # noqa: ANN001
    load(engine)
    snap = compute_snapshot(engine, AS_OF, TZ)
    assert snap[C]["targets"] == {"full_employment.rate": {
        "target": 0.7, "completion": 0.7143, "expected": EXPECTED}}  # 0.5 / 0.7
    assert snap[A]["targets"] == {"job_fairs.year": {
        "target": 8.0, "completion": 0.25, "expected": EXPECTED}}


def test_expected_in_a_leap_year_and_on_the_last_day(engine) -> None:  # noqa: ANN001
    load(engine)
    with Session(engine) as s:
        s.add_all([Target(region_code=C, metric="job_fairs.year", year=y, target=1)
                   for y in (2024, 2026)])
        s.commit()
    # 2024-12-31 is day 366 of 366; 2024-02-29 12:00 local is day 60 of 366 (0.1639).
    last = compute_snapshot(engine, dt.datetime(2024, 12, 31, 4, tzinfo=dt.UTC), TZ)
    assert last[C]["targets"]["job_fairs.year"]["expected"] == 1.0
    leap = compute_snapshot(engine, dt.datetime(2024, 2, 29, 4, tzinfo=dt.UTC), TZ)
    assert leap[C]["targets"]["job_fairs.year"]["expected"] == 0.1639
    # 2026-01-01 is day 1 of 365 (0.0027).
    first = compute_snapshot(engine, dt.datetime(2026, 1, 1, 4, tzinfo=dt.UTC), TZ)
    assert first[C]["targets"]["job_fairs.year"]["expected"] == 0.0027


def test_upcoming_fairs_and_communities_to_act_on(engine) -> None:  # noqa: ANN001
    load(engine)
    snap = compute_snapshot(engine, AS_OF, TZ)
    up = snap[C]["lists"]["upcoming_fairs"]
    # held_on in 2025-04-15..2025-05-15: F3 (today), F5 (tomorrow), F6 (day 30); not F7.
    assert up == [
        {"held_on": "2025-04-15", "title": "甲社区周三招聘", "mode": "online",
         "region_code": A1a, "region_name": "甲社区"},
        {"held_on": "2025-04-16", "title": "丙社区春风行动", "mode": "onsite",
         "region_code": B1a, "region_name": "丙社区"},
        {"held_on": "2025-05-15", "title": "瑶海区夏季招聘会", "mode": "onsite",
         "region_code": A, "region_name": "瑶海区"},
    ]
    assert [f["region_code"] for f in snap[A]["lists"]["upcoming_fairs"]] == [A1a, A]
    assert [f["region_code"] for f in snap[B1a]["lists"]["upcoming_fairs"]] == [B1a]
    assert snap[A1b]["lists"]["upcoming_fairs"] == []
    # Worst first: A1a fails three criteria, B1a one; compliant communities are not listed.
    assert snap[C]["lists"]["fe_actions"] == [
        {"code": A1a, "name": "甲社区", "failing": ["employment", "long_term", "assistance"]},
        {"code": B1a, "name": "丙社区", "failing": ["zero_households"]},
    ]
    assert snap[B]["lists"]["fe_actions"] == [
        {"code": B1a, "name": "丙社区", "failing": ["zero_households"]}]
    assert snap[A1b]["lists"]["fe_actions"] == []
    assert snap[A1a]["lists"]["fe_criteria"] == {
        "employment": {"ok": False, "share": 0.5}, "long_term": {"ok": False},
        "zero_households": {"ok": True}, "assistance": {"ok": False}}
    assert snap[A1b]["lists"]["fe_criteria"]["employment"] == {"ok": True, "share": 0.95}
    assert snap[B1b]["lists"]["fe_criteria"] == {
        "employment": {"ok": True, "share": None}, "long_term": {"ok": True},
        "zero_households": {"ok": True}, "assistance": {"ok": True}}
    assert "fe_criteria" not in snap[A1]["lists"]
