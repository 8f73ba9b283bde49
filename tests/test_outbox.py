"""Outbound exchange, writing side (SPEC 7): events with their change, the vacancy feed.

Expected events and feed pages are the changes this test makes by hand (which persons'
status it changed, which vacancies it edited), compared with what the code wrote.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from dashboard.app import create_app
from dashboard.tokens import issue
from queries import outbox
from queries.exchange.pipeline import _run, import_file, import_records
from queries.exchange.readers import _map_record
from queries.models import OutboxEvent, Person, VacancyChange
from tests.test_import import ID1, dataset

SECRET = "test-secret-outbox"
TZ = "Asia/Shanghai"


def load(engine: Engine, kinds: tuple[str, ...] = ("regions", "households", "persons",
                                                      "employers", "vacancies")) -> None:
    """The import tests' small data set."""
    data = dataset()
    for kind in kinds:
        _, rejected = import_records(engine, kind, data[kind])
        assert not rejected, (kind, rejected)


def events(engine: Engine) -> list[dict[str, Any]]:
    """Every outbox payload, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(select(OutboxEvent.payload).order_by(OutboxEvent.id)).scalars()
        return [json.loads(p) for p in rows]


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    cols = list(dict.fromkeys(k for r in rows for k in r))
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, cols)
        w.writeheader()
        w.writerows(rows)
    return path


# ---------------------------------------------------------------- person events
def test_person_events_new_changed_unchanged(engine: Engine, tmp_path: Path) -> None:
    """New persons and each status / seeking_job change write one event in the import's
    transaction; re-importing the unchanged file writes none; no identity number leaves."""
    load(engine, ("regions", "households"))
    people = dataset()["persons"]
    f = write_csv(tmp_path / "persons.csv", people)
    assert import_file(engine, "persons", f, tz=TZ).exit_code == 0
    first = events(engine)
    assert [(e["person_id"], e["status"], e["seeking_job"]) for e in first] == [
        ("p1", "employed", False), ("p2", "unemployed", True), ("p3", "flexible", True)]
    assert {e["cause"] for e in first} == {"import:persons.csv"}
    assert set(first[0]) == {"event_id", "type", "person_id", "community_code", "status",
                             "seeking_job", "changed_at", "cause"}
    assert first[0]["community_code"] == "340102001001"
    assert import_file(engine, "persons", f, tz=TZ).exit_code == 0
    assert len(events(engine)) == 3  # unchanged rows: nothing

    people[0]["status"] = "unemployed"  # status changes
    people[1]["seeking_job"] = "false"  # seeking_job changes
    people[2]["education"] = "本科"  # neither: no event
    import_file(engine, "persons", write_csv(tmp_path / "persons.csv", people), tz=TZ)
    later = events(engine)[3:]
    assert [(e["person_id"], e["status"], e["seeking_job"]) for e in later] == [
        ("p1", "unemployed", False), ("p2", "unemployed", False)]
    text = json.dumps(events(engine))
    assert ID1 not in text and "id_hash" not in text and "id_number" not in text


def test_rolled_back_import_leaves_no_event(engine: Engine) -> None:
    """A failure after a chunk was written rolls the chunk and its events back together."""
    load(engine, ("regions", "households", "persons"))
    before = len(events(engine))
    changed = [dict(p, status="inactive") for p in dataset()["persons"]]

    def raws() -> Iterator[Any]:
        for i, rec in enumerate(changed):
            canon, reason = _map_record("persons", rec)
            yield i, {}, canon, reason
        raise RuntimeError("the file broke off after its first chunk")

    counts = {"read": 0, "imported": 0, "rejected": 0}
    with pytest.raises(RuntimeError):
        _run(engine, "persons", raws(), TZ, lambda *_: None, None, 2, counts)
    assert counts["imported"] == 2  # the first chunk had been written...
    assert len(events(engine)) == before  # ...and is gone with its events
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).where(Person.status == "inactive")).scalar() == 0


def test_rejected_rows_write_no_event(engine: Engine) -> None:
    """Only rows that were written count: a rejected row's change is not an event."""
    load(engine, ("regions", "households", "persons"))
    before = len(events(engine))
    rows = [dict(dataset()["persons"][0], status="inactive"),
            dict(dataset()["persons"][1], status="retired")]  # not a status: rejected
    n, rejected = import_records(engine, "persons", rows)
    assert n == 1 and [r["index"] for r in rejected] == [1]
    assert [(e["person_id"], e["status"]) for e in events(engine)[before:]] == [
        ("p1", "inactive")]


# ---------------------------------------------------------------- HTTP: exchange, feed
@pytest.fixture
def site(engine: Engine) -> dict[str, Any]:
    """The app with auth on, the data set loaded and tokens for two scopes."""
    load(engine)
    url = engine.url.render_as_string(hide_password=False)
    app = create_app({"database_url": url, "auth": True, "secret_key": SECRET})
    return {
        "client": app.server.test_client(),
        "county": issue(engine, SECRET, "340102000000", "exchange", None, 1)[1],
        "other": issue(engine, SECRET, "340103000000", "exchange", None, 1)[1],
        "leader": issue(engine, SECRET, "340100000000", "leader", None, 1)[1],
    }


def _get(site: dict[str, Any], query: str, token: str = "county") -> Any:
    return site["client"].get(f"/api/v1/exchange/vacancies{query}",
                              headers={"Authorization": f"Bearer {site[token]}"})


def page_all(site: dict[str, Any], limit: int, token: str = "county",
             since: str = "") -> tuple[list[dict[str, Any]], str]:
    """Follow `next` until a page is empty."""
    got: list[dict[str, Any]] = []
    while True:
        r = _get(site, f"?since={since}&limit={limit}", token)
        assert r.status_code == 200, r.get_data(as_text=True)
        body = r.get_json()
        if not body["records"]:
            return got, body["next"]
        got += body["records"]
        since = body["next"]


def test_exchange_post_writes_events_and_feed(engine: Engine, site: dict[str, Any]) -> None:
    """A status change posted to the exchange endpoint is an event (cause `exchange`); a
    vacancy change posted there is a feed entry, in the section 2 format."""
    before = len(events(engine))
    r = site["client"].post("/api/v1/exchange/persons", json=[
        {"person_id": "p2", "community_code": "340102001002", "status": "employed",
         "seeking_job": False}], headers={"Authorization": f"Bearer {site['county']}"})
    assert r.get_json() == {"imported": 1, "rejected": []}
    new = events(engine)[before:]
    assert [(e["person_id"], e["status"], e["cause"]) for e in new] == [
        ("p2", "employed", "exchange")]

    feed, cursor = page_all(site, 1)
    assert [v["vacancy_id"] for v in feed] == ["v1", "v2"]
    v1 = dict(dataset()["vacancies"][0])
    assert feed[0]["title"] == v1["title"] and feed[0]["posted_on"] == v1["posted_on"]
    assert feed[0]["closed_on"] is None and feed[0]["headcount"] == int(v1["headcount"])

    v1["closed_on"] = "2024-03-01"  # closing is a change
    r = site["client"].post("/api/v1/exchange/vacancies", json=[v1],
                            headers={"Authorization": f"Bearer {site['county']}"})
    assert r.get_json()["imported"] == 1
    more, cursor2 = page_all(site, 10, since=cursor)
    assert [(v["vacancy_id"], v["closed_on"]) for v in more] == [("v1", "2024-03-01")]
    # The same record again changes nothing: no entry, the cursor stays.
    site["client"].post("/api/v1/exchange/vacancies", json=[v1],
                        headers={"Authorization": f"Bearer {site['county']}"})
    assert page_all(site, 10, since=cursor2) == ([], cursor2)


def test_feed_scope_cursor_and_errors(engine: Engine, site: dict[str, Any]) -> None:
    """A token sees only its subtree's vacancies; bad cursors and limits are a clear 400;
    other roles are refused."""
    assert page_all(site, 1, token="other")[0] == []
    assert len(page_all(site, 1000)[0]) == 2
    for bad in ("abc", "djE6LTE", "!!", "djI6MTA", "x" * 200):
        r = _get(site, f"?since={bad}")
        assert r.status_code == 400, bad
        assert "invalid cursor" in r.get_json()["error"]
    for bad in ("0", "1001", "-1", "ten"):
        r = _get(site, f"?limit={bad}")
        assert r.status_code == 400 and "limit" in r.get_json()["error"]
    assert _get(site, "", token="leader").status_code == 403
    r = site["client"].get("/api/v1/exchange/vacancies")
    assert r.status_code == 401
    # Without access control there is no exchange token: the feed is closed, as the import is.
    open_app = create_app({"database_url": engine.url.render_as_string(hide_password=False)})
    r = open_app.server.test_client().get("/api/v1/exchange/vacancies")
    assert r.status_code == 401 and "DASHBOARD_AUTH=on" in r.get_json()["error"]


def test_vacancy_events_only_with_a_receiver(engine: Engine,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """With DASHBOARD_PROVINCE_URL set, a vacancy change is also an event whose cause
    names the record; without it, only the feed records it."""
    load(engine, ("regions", "employers"))
    vacancies = dataset()["vacancies"]
    import_records(engine, "vacancies", vacancies[:1])
    assert [e for e in events(engine) if e["type"] == "vacancy"] == []
    monkeypatch.setenv("DASHBOARD_PROVINCE_URL", "http://127.0.0.1:9/events")
    import_records(engine, "vacancies", vacancies)
    vac = [e for e in events(engine) if e["type"] == "vacancy"]
    assert [e["vacancy_id"] for e in vac] == ["v2"]  # v1 unchanged
    assert vac[0]["cause"] == "vacancy v2 (exchange)"
    assert vac[0]["vacancy"]["title"] == vacancies[1]["title"]
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(VacancyChange)).scalar() == 2


def test_retry_by_id_and_backoff_numbers(engine: Engine) -> None:
    """`retry ID` queues one event again; the backoff doubles and stops at its cap."""
    load(engine, ("regions", "households", "persons"))
    assert outbox.retry(engine, ["1"]) == 1
    assert outbox.retry(engine, ["no-such-event"]) == 0
    assert [outbox.backoff_seconds(n, 5, 60) for n in (1, 2, 3, 4, 5, 100)] == [
        5, 10, 20, 40, 60, 60]


def test_prune_keeps_undelivered(engine: Engine) -> None:
    """Delivered events older than the retention go; pending and dead ones stay."""
    import datetime as dt

    from sqlalchemy import update

    load(engine, ("regions", "households", "persons"))  # three events p1, p2, p3
    old = outbox.utcnow() - dt.timedelta(days=outbox.KEEP_DELIVERED_DAYS + 1)
    with engine.begin() as conn:
        conn.execute(update(OutboxEvent).where(OutboxEvent.id == 1)
                     .values(state="delivered", delivered_at=old))
        conn.execute(update(OutboxEvent).where(OutboxEvent.id == 2)
                     .values(state="dead", created_at=old))
    assert outbox.prune(engine) == 1
    assert outbox.counts(engine) == {"pending": 1, "delivered": 0, "dead": 1}
