"""A new placement changes its person's status (SPEC 7) and writes the event with it.

The expected outcome of every step is decided here by hand from the rule documented in
docs/exchange.md (form → status, dated from the person's last status up to today), and
checked against the stored person and the outbox. A small independent model of the rule
drives a hypothesis test over random sequences of records and placements.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from dashboard.app import create_app
from dashboard.tokens import issue
from queries.aggregate import compute_snapshot
from queries.db import init_db, make_engine
from queries.exchange.pipeline import _run, import_records
from queries.exchange.readers import _map_record
from queries.models import OutboxEvent, Person
from tests.test_import import dataset

TZ = "Asia/Shanghai"
SECRET = "test-secret-placement"
COMM = "340102001002"


def today() -> dt.date:
    """The import's local date (the rule's 'today')."""
    return dt.datetime.now(ZoneInfo(TZ)).date()


def events(engine: Engine) -> list[dict[str, Any]]:
    """Every outbox payload, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(select(OutboxEvent.payload).order_by(OutboxEvent.id)).scalars()
        return [json.loads(p) for p in rows]


def person(engine: Engine, pid: str) -> tuple[str, bool, dt.date | None]:
    """(status, seeking_job, unemployed_since) as stored."""
    with engine.connect() as conn:
        r = conn.execute(select(Person.status, Person.seeking_job, Person.unemployed_since)
                         .where(Person.person_id == pid)).one()
    return r.status, bool(r.seeking_job), r.unemployed_since


def placement(pid: str, plid: str, on: dt.date, form: str = "employer") -> dict[str, str]:
    """A placement record of the section 2 format."""
    return {"placement_id": plid, "person_id": pid, "community_code": COMM,
            "placed_at": on.isoformat(), "form": form}


def base(engine: Engine) -> None:
    """Regions, households and persons of the import tests' data set (p2: unemployed,
    seeking, unemployed since 2024-02-01)."""
    data = dataset()
    data["persons"][1]["unemployed_since"] = "2024-02-01"
    for kind in ("regions", "households", "persons"):
        _, rejected = import_records(engine, kind, data[kind])
        assert not rejected, rejected


def test_new_placement_sets_status_and_writes_its_event(engine: Engine) -> None:
    """Today's employer placement of an unemployed job seeker: employed, not seeking,
    no unemployed_since, one event naming the placement; the same placement again and the
    person's unchanged record again change nothing."""
    base(engine)
    n0 = len(events(engine))
    rec = placement("p2", "new1", today())
    assert import_records(engine, "placements", [rec]) == (1, [])
    assert person(engine, "p2") == ("employed", False, None)
    new = events(engine)[n0:]
    assert [(e["person_id"], e["status"], e["seeking_job"], e["cause"],
             e["community_code"]) for e in new] == [
        ("p2", "employed", False, "placement:new1", COMM)]
    assert "id_number" not in json.dumps(new)

    import_records(engine, "placements", [rec])  # re-import: not a new placement
    _, rej = import_records(engine, "persons", [dict(dataset()["persons"][1],
                                                     unemployed_since="2024-02-01")])
    assert not rej  # the person's last record again: the placement stands
    assert person(engine, "p2") == ("employed", False, None)
    assert len(events(engine)) == n0 + 1

    # A record that says something new wins, with its own event.
    import_records(engine, "persons", [dict(dataset()["persons"][1], status="inactive",
                                            seeking_job="false")])
    assert person(engine, "p2") == ("inactive", False, None)
    assert [(e["status"], e["cause"]) for e in events(engine)[n0 + 1:]] == [
        ("inactive", "exchange")]


@pytest.mark.parametrize(("form", "status"), [
    ("employer", "employed"), ("public_welfare", "employed"),
    ("entrepreneurship", "employed"), ("flexible", "flexible"), ("traineeship", None)])
def test_each_form(engine: Engine, form: str, status: str | None) -> None:
    """Each form's status; a traineeship (就业见习) is not employment: nothing changes."""
    base(engine)
    n0 = len(events(engine))
    import_records(engine, "placements", [placement("p2", "f1", today(), form)])
    if status is None:
        assert person(engine, "p2") == ("unemployed", True, dt.date(2024, 2, 1))
        assert len(events(engine)) == n0
    else:
        assert person(engine, "p2") == (status, False, None)
        assert [e["status"] for e in events(engine)[n0:]] == [status]


def test_backfill_future_and_unchanged_write_nothing(engine: Engine) -> None:
    """A placement dated before the person's status was set (a history backfill after
    today's persons file), one dated after today, and one that would give the status the
    person already has: no change, no event."""
    base(engine)
    n0 = len(events(engine))
    yesterday, tomorrow = today() - dt.timedelta(days=1), today() + dt.timedelta(days=1)
    assert import_records(engine, "placements", [
        placement("p2", "old", yesterday), placement("p2", "future", tomorrow),
        placement("p1", "same", today()),  # p1 is employed and not seeking already
    ]) == (3, [])
    assert person(engine, "p2") == ("unemployed", True, dt.date(2024, 2, 1))
    assert person(engine, "p1")[:2] == ("employed", False)
    assert len(events(engine)) == n0


def test_latest_of_several_new_placements_wins(engine: Engine) -> None:
    """Two new placements of one person in one import: one event, from the later one."""
    base(engine)
    n0 = len(events(engine))
    recs = [dict(placement("p2", "a", today(), "flexible"), placed_at=f"{today()}T15:00:00"),
            dict(placement("p2", "b", today(), "employer"), placed_at=f"{today()}T09:00:00")]
    import_records(engine, "placements", recs)
    assert person(engine, "p2") == ("flexible", False, None)
    assert [(e["status"], e["cause"]) for e in events(engine)[n0:]] == [
        ("flexible", "placement:a")]


def test_rolled_back_placement_import_changes_no_person(engine: Engine) -> None:
    """A placement import that fails after its first chunk leaves the person and the
    outbox as they were."""
    base(engine)
    n0 = len(events(engine))

    def raws() -> Iterator[Any]:
        for i, rec in enumerate([placement("p2", "r1", today()),
                                 placement("p3", "r2", today())]):
            canon, reason = _map_record("placements", rec)
            yield i, {}, canon, reason
        raise RuntimeError("the file broke off")

    counts = {"read": 0, "imported": 0, "rejected": 0}
    with pytest.raises(RuntimeError):
        _run(engine, "placements", raws(), TZ, lambda *_: None, None, 1, counts)
    assert person(engine, "p2") == ("unemployed", True, dt.date(2024, 2, 1))
    assert len(events(engine)) == n0


def test_placement_posted_to_the_exchange_endpoint(engine: Engine) -> None:
    """The exchange endpoint is the same path: the event is written, and the next snapshot
    counts the person as employed and no longer seeking (labour.employed +1,
    jobseekers.active −1 for the community, counted here from the records)."""
    base(engine)
    as_of = dt.datetime.combine(today(), dt.time(23, 0))
    before = compute_snapshot(engine, as_of, TZ)
    url = engine.url.render_as_string(hide_password=False)
    app = create_app({"database_url": url, "auth": True, "secret_key": SECRET})
    token = issue(engine, SECRET, "340102000000", "exchange", None, 1)[1]
    r = app.server.test_client().post("/api/v1/exchange/placements",
                                      json=[placement("p3", "x1", today())],
                                      headers={"Authorization": f"Bearer {token}"})
    assert r.get_json() == {"imported": 1, "rejected": []}
    assert person(engine, "p3")[:2] == ("employed", False)
    assert events(engine)[-1]["cause"] == "placement:x1"
    after = compute_snapshot(engine, as_of, TZ)

    def m(snap: Any, key: str) -> Any:
        return snap[COMM]["metrics"][key]

    # p3 was flexible and seeking: employed-or-flexible stays, seeking drops by one.
    assert m(after, "jobseekers.active") == m(before, "jobseekers.active") - 1


# ---------------------------------------------------------------- the rule, at random
FORMS = ("employer", "public_welfare", "entrepreneurship", "flexible", "traineeship")
MODEL_FORM = {"employer": "employed", "public_welfare": "employed",
              "entrepreneurship": "employed", "flexible": "flexible"}
STATUSES = ("employed", "flexible", "unemployed", "inactive")

step = st.one_of(
    st.tuples(st.just("record"), st.sampled_from(STATUSES), st.booleans()),
    st.tuples(st.just("placement"), st.sampled_from(FORMS), st.integers(-2, 1)),
)


def _model(steps: list[tuple[Any, ...]], t: dt.date) -> tuple[list[tuple[str, bool]],
                                                                  tuple[str, bool]]:
    """An independent model of the rule: the events (status, seeking) and the final
    state. All records are imported 'today' (t)."""
    ev: list[tuple[str, bool]] = []
    state: tuple[str, bool] | None = None
    status_on: dt.date | None = None
    said: tuple[str, bool] | None = None  # the last record, while a placement stands
    for s in steps:
        if s[0] == "record":
            rec = (s[1], s[2])
            if said is not None and rec == said:
                continue
            said = None
            if rec != state:
                ev.append(rec)
                state, status_on = rec, t
        else:
            on = t + dt.timedelta(days=s[2])
            if s[1] not in MODEL_FORM or on > t or (status_on and on < status_on):
                continue
            new = (MODEL_FORM[s[1]], False)
            if new == state:
                continue
            if said is None:
                said = state
            ev.append(new)
            state, status_on = new, on
    assert state is not None
    return ev, state


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, min_size=1, max_size=8))
def test_records_and_placements_at_random(steps: list[tuple[Any, ...]]) -> None:
    """Any sequence of persons records and new placements gives the model's events and
    final status (SQLite; the SQL is the same on every backend)."""
    tmp = tempfile.TemporaryDirectory()
    eng = make_engine(f"sqlite:///{tmp.name}/t.db")
    init_db(eng)
    data = dataset()
    for kind in ("regions", "households"):
        import_records(eng, kind, data[kind])
    t = today()
    steps = [("record", "unemployed", True), *steps]
    for i, s in enumerate(steps):
        if s[0] == "record":
            rec = {"person_id": "q", "community_code": COMM, "status": s[1],
                   "seeking_job": str(s[2]).lower()}
            assert import_records(eng, "persons", [rec])[1] == []
        else:
            rec = placement("q", f"pl{i}", t + dt.timedelta(days=s[2]), s[1])
            assert import_records(eng, "placements", [rec])[1] == []
    want_events, want_state = _model(steps, t)
    got = [(e["status"], e["seeking_job"]) for e in events(eng)]
    assert got == want_events
    assert person(eng, "q")[:2] == want_state
    eng.dispose()
    tmp.cleanup()
