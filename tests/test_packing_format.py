"""Batch storage format 2 (queries/packing.py): what it encodes comes back unchanged, and
batches written in format 1 (before it) stay readable."""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import insert
from sqlalchemy.orm import Session

from queries.models import Placement, RefreshRun, Region, SnapshotItem, SnapshotRegion
from queries.packing import EPOCH, local_seconds, pack_metrics, pack_nearby, unpack_metrics
from queries.refresh import refresh
from queries.snapshots import latest_batch, region_with_children

metric_value = st.one_of(
    st.just(0), st.just(0.0), st.none(), st.integers(min_value=0, max_value=10**9),
    st.floats(min_value=0, max_value=1e6, allow_nan=False).map(lambda x: round(x, 4)),
)


@given(st.lists(st.one_of(st.integers(), st.floats(), st.none(), st.booleans(),
                          st.text(max_size=3)), max_size=40))
def test_packed_metrics_are_json_of_each_value(values: list) -> None:  # noqa: ANN001
    """pack_metrics writes ints, floats and nulls without json.dumps: the same text."""
    out, run = [], 0
    for v in values:
        if v == 0 and type(v) is int:
            run += 1
            continue
        out += ([f'"{run}"'] if run > 2 else ["0"] * run) + [
            json.dumps(v, ensure_ascii=False, separators=(",", ":"))]
        run = 0
    out += [f'"{run}"'] if run > 2 else ["0"] * run
    assert pack_metrics(values) == "[" + ",".join(out) + "]"


@given(st.lists(metric_value, max_size=60))
def test_metric_values_come_back_with_their_types(values: list) -> None:  # noqa: ANN001
    keys = [f"k{i}" for i in range(len(values))]
    back = unpack_metrics(json.loads(pack_metrics(values)), keys)
    assert list(back.values()) == values
    # 0 and 0.0 (a count and a ratio) stay apart, as JSON wrote them before.
    assert [type(v) for v in back.values()] == [type(v) for v in values]


def test_runs_of_zeros_are_written_once() -> None:
    assert pack_metrics([1, 0, 0, 0, 0, 0.0, 0, 0, None, 0, 0, 0]) == \
        '[1,"4",0.0,0,0,null,"3"]'


@given(st.lists(st.floats(min_value=0, max_value=3.0, allow_nan=False), max_size=30))
def test_nearby_distances_come_back_as_rounded(raw: list[float]) -> None:
    dists = sorted(round(d, 2) for d in raw)
    ids = [str(i + 7) for i in range(len(dists))]
    ids_back, stored = json.loads(pack_nearby(ids, dists))
    assert [str(i) for i in ids_back] == ids
    total, back = 0, []
    for n in stored:
        total += n
        back.append(total / 100)
    assert back == dists
    assert all(type(n) is int for n in stored)


@given(st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2100, 1, 1)))
def test_placement_times_keep_their_second(naive: dt.datetime) -> None:
    # What a placement list shows: the local wall time to the second, sub-seconds dropped.
    back = EPOCH + dt.timedelta(seconds=local_seconds(naive))
    assert back == naive.replace(microsecond=0)


BERLIN = "Europe/Berlin"
CITY, COMM, OTHER = "110100000000", "110101001001", "110101001002"


def test_placement_times_across_summer_time(engine) -> None:  # noqa: ANN001
    """Offsets of a zone with summer time: each time's own, as the unpacked form gave."""
    times = [
        dt.datetime(2025, 3, 30, 2, 30),  # does not exist in Berlin (clocks jump 2 -> 3)
        dt.datetime(2025, 10, 26, 2, 30),  # happens twice (fold 0: summer time)
        dt.datetime(2025, 7, 1, 12, 0, 59),
        dt.datetime(2025, 1, 2, 8, 15),
        dt.datetime(1969, 12, 31, 23, 59, 58),  # before 1970: negative seconds
    ]
    with Session(engine) as s:
        s.add_all([
            Region(code=CITY, name="城", level="city", parent_code=None),
            Region(code=COMM, name="甲社区", level="community", parent_code=CITY,
                   lat=52.5, lon=13.4),
            Region(code=OTHER, name="乙社区", level="community", parent_code=CITY,
                   lat=52.6, lon=13.4),
        ])
        for i, at in enumerate(times):
            s.add(Placement(placement_id=f"P{i}", person_id=f"X{i}", vacancy_id=None,
                            community_code=COMM if i % 2 == 0 else OTHER, placed_at=at,
                            placed_on=at.date(), form="flexible" if i else "employer"))
        s.commit()
    zone = ZoneInfo(BERLIN)
    out = refresh(engine, as_of=dt.datetime(2025, 11, 1, 12, tzinfo=zone), tz=BERLIN)
    assert out.status == "ok"
    expected = {
        # PEP 495: a time in the gap takes the offset from before the jump.
        dt.datetime(2025, 3, 30, 2, 30): "2025-03-30T02:30:00+01:00",
        dt.datetime(2025, 10, 26, 2, 30): "2025-10-26T02:30:00+02:00",
        dt.datetime(2025, 7, 1, 12, 0, 59): "2025-07-01T12:00:59+02:00",
        dt.datetime(2025, 1, 2, 8, 15): "2025-01-02T08:15:00+01:00",
        dt.datetime(1969, 12, 31, 23, 59, 58): "1969-12-31T23:59:58+01:00",
    }
    city, children = region_with_children(engine, out.batch_id, CITY)
    assert city is not None
    newest_first = sorted(times, reverse=True)
    assert city["lists"]["latest_placements"] == [
        {"placed_at": expected[at], "community_code": COMM if times.index(at) % 2 == 0
         else OTHER, "community_name": "甲社区" if times.index(at) % 2 == 0 else "乙社区",
         "form": "flexible" if times.index(at) else "employer"}
        for at in newest_first
    ]
    own = {c["code"]: [p["placed_at"] for p in c["lists"]["latest_placements"]]
           for c in children}
    assert own == {COMM: [expected[times[i]] for i in (2, 0, 4)],
                   OTHER: [expected[times[i]] for i in (1, 3)]}


def test_a_batch_in_format_1_stays_readable(engine) -> None:  # noqa: ANN001
    """Rows and items as format 1 wrote them (before format 2) read back in full."""
    layout = {"metrics": ["a.count", "b.rate"], "months": ["2025-03", "2025-04"],
              "bands": ["<3000", "未标明"]}
    step_city = {"code": CITY, "name": "城", "level": "city"}
    step_comm = {"code": COMM, "name": "甲社区", "level": "community"}
    placement = ["2025-04-01T09:00:00+08:00", COMM, "甲社区", "employer"]
    vacancy = ["V9", "焊工", "某公司", 2, 5000, None, "full_time", "制造业", "2025-03-02",
               COMM, "甲社区"]
    fair = {"held_on": "2025-04-20", "title": "春风行动", "mode": "onsite",
            "region_code": CITY, "region_name": "城"}
    action = {"code": COMM, "name": "甲社区", "failing": ["long_term"]}
    items = [json.dumps(x, ensure_ascii=False) for x in
             (layout, step_city, step_comm, placement, vacancy, fair, action)]
    comm_lists = {"latest_placements": [3], "newest_vacancies": [4],
                  "by_industry": [["制造业", 2]], "salary_bands": [0, 2],
                  "upcoming_fairs": [], "fe_actions": [6],
                  "fe_criteria": {"employment": {"ok": True, "share": 1.0},
                                  "long_term": {"ok": False}},
                  "nearby_vacancies": [[4, 0.25]]}
    city_lists = {**{k: v for k, v in comm_lists.items()
                     if k not in ("fe_criteria", "nearby_vacancies")}, "upcoming_fairs": [5]}
    with engine.begin() as conn:
        run = conn.execute(insert(RefreshRun).values(
            as_of=dt.datetime(2025, 4, 15), started_at=dt.datetime(2025, 4, 15),
            finished_at=dt.datetime(2025, 4, 15), status="ok", rows=2,
        )).inserted_primary_key[0]
        conn.execute(insert(SnapshotItem), [
            {"batch_id": run, "item_id": i, "body": b} for i, b in enumerate(items)])
        conn.execute(insert(SnapshotRegion), [
            {"batch_id": run, "region_code": code, "parent_code": parent, "name": name,
             "level": level, "path": json.dumps(path), "metrics": json.dumps(metrics),
             "series": "[4,5]", "targets": json.dumps(targets),
             "lists": json.dumps(lists, ensure_ascii=False)}
            for code, parent, name, level, path, metrics, targets, lists in (
                (CITY, None, "城", "city", [1], [7, 0.5],
                 {"a.count": {"target": 10.0, "completion": 0.7, "expected": 0.29}},
                 city_lists),
                (COMM, CITY, "甲社区", "community", [1, 2], [0, None], {}, comm_lists),
            )
        ])
    assert latest_batch(engine).id == run
    city, children = region_with_children(engine, run, CITY)
    vac = {"vacancy_id": "V9", "title": "焊工", "employer": "某公司", "headcount": 2,
           "salary_min": 5000, "salary_max": None, "type": "full_time", "industry": "制造业",
           "posted_on": "2025-03-02", "community_code": COMM, "community_name": "甲社区"}
    lists = {
        "latest_placements": [{"placed_at": "2025-04-01T09:00:00+08:00",
                               "community_code": COMM, "community_name": "甲社区",
                               "form": "employer"}],
        "newest_vacancies": [vac],
        "by_industry": [{"industry": "制造业", "headcount": 2}],
        "salary_bands": [{"band": "<3000", "headcount": 0}, {"band": "未标明", "headcount": 2}],
        "upcoming_fairs": [],
        "fe_actions": [action],
    }
    assert city == {
        "code": CITY, "name": "城", "level": "city", "parent_code": None,
        "path": [step_city], "metrics": {"a.count": 7, "b.rate": 0.5},
        "series": {"placements.monthly": {"2025-03": 4, "2025-04": 5}},
        "targets": {"a.count": {"target": 10.0, "completion": 0.7, "expected": 0.29}},
        "lists": {**lists, "upcoming_fairs": [fair]},
    }
    assert children == [{
        "code": COMM, "name": "甲社区", "level": "community", "parent_code": CITY,
        "path": [step_city, step_comm], "metrics": {"a.count": 0, "b.rate": None},
        "series": {"placements.monthly": {"2025-03": 4, "2025-04": 5}}, "targets": {},
        "lists": {**lists, "fe_criteria": comm_lists["fe_criteria"],
                  "nearby_vacancies": [{**vac, "distance_km": 0.25}]},
    }]
