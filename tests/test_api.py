"""The JSON API, /healthz and the OpenAPI document over seeded snapshot batches."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy import Engine, insert, update

from dashboard import cache as dash_cache
from dashboard.app import create_app
from queries.db import init_db, make_engine
from queries.metrics import METRIC_KEYS
from queries.models import RefreshRun, SnapshotRegion

CITY = "340100000000"
YAOHAI = "340102000000"
SHUSHAN = "340104000000"
TOWNSHIP = "340104001000"
COMMUNITY = "340104001001"

AS_OF = dt.datetime(2024, 6, 15, 2, 0, 0)  # naive UTC = 10:00 in Asia/Shanghai
FINISHED = dt.datetime(2024, 6, 15, 2, 5, 30)


def utcnow() -> dt.datetime:
    """Now as naive UTC, the convention of refresh_runs."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def full_metrics(**values: float | None) -> dict[str, float | None]:
    """Every metric key at 0, then the given ones (keys with '.' spelled '__')."""
    out: dict[str, float | None] = dict.fromkeys(METRIC_KEYS, 0)
    for key, value in values.items():
        out[key.replace("__", ".")] = value
    return out


def region_rows(scale: int = 1) -> list[dict[str, Any]]:
    """Snapshot rows of a small tree: city → 2 counties → 1 township → 1 community."""
    city_path = [[CITY, "合肥市"]]
    shushan_path = city_path + [[SHUSHAN, "蜀山区"]]
    township_path = shushan_path + [[TOWNSHIP, "三里庵街道"]]
    rows = [
        (CITY, None, "合肥市", "city", city_path,
         full_metrics(placements__today=3 * scale, placements__year=1234 * scale,
                      vacancies__open_headcount=500, jobseekers__active=400,
                      supply_demand_ratio=1.25, circle__coverage=None),
         {"placements.monthly": {"2024-05": 100 * scale, "2024-06": 40 * scale}},
         {"placements.year": {"target": 2000, "completion": 0.617 * scale}}),
        (YAOHAI, CITY, "瑶海区", "county", city_path + [[YAOHAI, "瑶海区"]],
         full_metrics(placements__year=234 * scale), {"placements.monthly": {}}, {}),
        # A child whose stored metrics lack most keys: the API still lists every key.
        (SHUSHAN, CITY, "蜀山区", "county", shushan_path,
         {"placements.year": 1000 * scale, "supply_demand_ratio": 0.8},
         {"placements.monthly": {"2024-06": 40 * scale}}, {}),
        (TOWNSHIP, SHUSHAN, "三里庵街道", "township", township_path,
         full_metrics(placements__year=1000 * scale), {"placements.monthly": {}}, {}),
        (COMMUNITY, TOWNSHIP, "稻香村社区", "community",
         township_path + [[COMMUNITY, "稻香村社区"]],
         full_metrics(placements__year=1000 * scale, circle__coverage=1.0),
         {"placements.monthly": {}}, {}),
    ]
    return [
        {"region_code": code, "parent_code": parent, "name": name, "level": level,
         "path": json.dumps(path, ensure_ascii=False), "metrics": json.dumps(metrics),
         "series": json.dumps(series), "targets": json.dumps(targets),
         "lists": json.dumps({})}
        for code, parent, name, level, path, metrics, series, targets in rows
    ]


def seed_batch(
    engine: Engine,
    batch_id: int,
    *,
    status: str = "ok",
    as_of: dt.datetime = AS_OF,
    finished_at: dt.datetime | None = FINISHED,
    scale: int = 1,
    error: str | None = None,
) -> None:
    """Insert one refresh run and (when ok) its snapshot rows, as the aggregator would."""
    started = (finished_at or utcnow()) - dt.timedelta(seconds=20)
    with engine.begin() as conn:
        conn.execute(insert(RefreshRun).values(
            id=batch_id, as_of=as_of, started_at=started, finished_at=finished_at,
            status=status, rows=5 if status == "ok" else None, error=error, holder="test",
        ))
        if status == "ok":
            conn.execute(insert(SnapshotRegion),
                         [dict(r, batch_id=batch_id) for r in region_rows(scale)])


@pytest.fixture(autouse=True)
def _fresh_batch_memo(monkeypatch: pytest.MonkeyPatch) -> None:
    """No per-worker batch memo in tests (one test below checks the real memo)."""
    monkeypatch.setattr(dash_cache, "BATCH_TTL_SECONDS", 0.0)
    dash_cache._batch_memo.clear()


@pytest.fixture
def app(db_url: str, engine: Engine):  # noqa: ANN201
    """The Dash app over a migrated, empty database (both backends)."""
    return create_app({"database_url": db_url, "refresh_seconds": 300})


@pytest.fixture
def client(app):  # noqa: ANN001, ANN201
    """A Flask test client of the app's server."""
    return app.server.test_client()


def assert_json_error(resp, status: int) -> dict[str, Any]:  # noqa: ANN001
    """The response is a JSON error with that status, no HTML, no traceback."""
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/json"
    text = resp.get_data(as_text=True)
    assert "<html" not in text.lower() and "traceback" not in text.lower()
    body = json.loads(text)
    assert isinstance(body["error"], str) and body["error"]
    return body


# ------------------------------------------------------------------ shapes
def test_region_shape_with_children(client, engine: Engine) -> None:  # noqa: ANN001
    seed_batch(engine, 1)
    resp = client.get(f"/api/v1/regions/{CITY}")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
    assert resp.get_json() == {
        "code": CITY, "name": "合肥市", "level": "city", "parent_code": None,
        "children": [
            {"code": YAOHAI, "name": "瑶海区", "level": "county"},
            {"code": SHUSHAN, "name": "蜀山区", "level": "county"},
        ],
    }
    # Chinese is sent as UTF-8, not \u escapes.
    raw = resp.get_data()
    assert "合肥市".encode() in raw and b"\\u" not in raw

    leaf = client.get(f"/api/v1/regions/{COMMUNITY}").get_json()
    assert leaf == {"code": COMMUNITY, "name": "稻香村社区", "level": "community",
                    "parent_code": TOWNSHIP, "children": []}


def test_metrics_shape_values_and_times(client, engine: Engine) -> None:  # noqa: ANN001
    seed_batch(engine, 1)
    resp = client.get(f"/api/v1/regions/{CITY}/metrics")
    assert resp.status_code == 200
    body = resp.get_json()
    assert list(body) == ["region", "as_of", "computed_at", "metrics", "series", "targets",
                          "children"]
    assert body["region"] == {
        "code": CITY, "name": "合肥市", "level": "city", "parent_code": None,
        "path": [{"code": CITY, "name": "合肥市"}],
    }
    assert body["as_of"] == "2024-06-15T10:00:00+08:00"
    assert body["computed_at"] == "2024-06-15T10:05:30+08:00"
    assert list(body["metrics"]) == list(METRIC_KEYS)
    assert body["metrics"]["placements.today"] == 3
    assert body["metrics"]["placements.year"] == 1234
    assert body["metrics"]["supply_demand_ratio"] == 1.25
    assert body["metrics"]["circle.coverage"] is None
    assert body["metrics"]["key_groups.veteran.placement_rate"] == 0
    assert body["series"] == {"placements.monthly": {"2024-05": 100, "2024-06": 40}}
    # A snapshot written before targets had `expected` gives it as null.
    assert body["targets"] == {"placements.year": {"target": 2000, "completion": 0.617,
                                                   "expected": None}}

    children = body["children"]
    assert [(c["code"], c["name"], c["level"]) for c in children] == [
        (YAOHAI, "瑶海区", "county"), (SHUSHAN, "蜀山区", "county")]
    for child in children:
        assert list(child) == ["code", "name", "level", "metrics"]
        assert list(child["metrics"]) == list(METRIC_KEYS)
    assert children[0]["metrics"]["placements.year"] == 234
    # Keys missing from a stored snapshot are present as null, stored ones kept.
    assert children[1]["metrics"]["placements.year"] == 1000
    assert children[1]["metrics"]["supply_demand_ratio"] == 0.8
    assert children[1]["metrics"]["placements.today"] is None


def test_metrics_path_of_a_deep_region(client, engine: Engine) -> None:  # noqa: ANN001
    seed_batch(engine, 1)
    body = client.get(f"/api/v1/regions/{COMMUNITY}/metrics").get_json()
    assert body["region"]["path"] == [
        {"code": CITY, "name": "合肥市"}, {"code": SHUSHAN, "name": "蜀山区"},
        {"code": TOWNSHIP, "name": "三里庵街道"}, {"code": COMMUNITY, "name": "稻香村社区"},
    ]
    assert body["metrics"]["circle.coverage"] == 1.0
    assert body["children"] == []
    assert body["series"] == {"placements.monthly": {}}
    assert body["targets"] == {}


def test_search_by_name_code_level_and_parent(client, engine: Engine) -> None:  # noqa: ANN001
    seed_batch(engine, 1)
    body = client.get("/api/v1/regions", query_string={"q": "蜀山"}).get_json()
    assert body == {"results": [{"code": SHUSHAN, "name": "蜀山区", "level": "county",
                                 "parent_code": CITY}], "total": 1, "truncated": False}
    by_code = client.get("/api/v1/regions?q=340104").get_json()
    assert [r["code"] for r in by_code["results"]] == [SHUSHAN, TOWNSHIP, COMMUNITY]
    counties = client.get("/api/v1/regions?level=county&limit=1").get_json()
    assert counties["results"][0]["code"] == YAOHAI
    assert (counties["total"], counties["truncated"]) == (2, True)
    kids = client.get(f"/api/v1/regions?parent={SHUSHAN}").get_json()
    assert [r["code"] for r in kids["results"]] == [TOWNSHIP]
    for bad in ("level=planet", "limit=0", "limit=201", "limit=abc", "parent=12", "q=" + "x" * 51):
        assert_json_error(client.get(f"/api/v1/regions?{bad}"), 400)


# ------------------------------------------------------------------ errors
def test_unknown_and_malformed_regions(client, engine: Engine) -> None:  # noqa: ANN001
    seed_batch(engine, 1)
    for path in (f"/api/v1/regions/{'3' * 12}", f"/api/v1/regions/{'3' * 12}/metrics"):
        body = assert_json_error(client.get(path), 404)
        assert body == {"error": f"unknown region: {'3' * 12}"}
    for code in ("abc", "34010000000", "3401000000000", "34010000000x", "%E5%90%88"):
        for suffix in ("", "/metrics"):
            body = assert_json_error(client.get(f"/api/v1/regions/{code}{suffix}"), 400)
            assert body == {"error": "region code must be 12 digits"}


def test_no_html_in_any_error(client, engine: Engine) -> None:  # noqa: ANN001
    seed_batch(engine, 1)
    assert_json_error(client.get("/api/v1/nope"), 404)
    assert_json_error(client.get("/api/v2/regions/340100000000"), 404)
    assert_json_error(client.get(f"/api/v1/regions/{CITY}/metrics/extra"), 404)
    assert_json_error(client.get("/api"), 404)
    assert_json_error(client.get("/api/"), 404)
    resp = client.post(f"/api/v1/regions/{CITY}/metrics")
    assert_json_error(resp, 405)
    assert "GET" in resp.headers["Allow"]
    assert_json_error(client.delete(f"/api/v1/regions/{CITY}"), 405)
    assert_json_error(client.put("/healthz"), 405)
    # Outside the API, Dash keeps serving its pages.
    page = client.get("/wall/340100000000")
    assert page.mimetype == "text/html"
    assert client.get("/no/such/page").mimetype == "text/html"


def test_unexpected_exception_is_json_500(client, engine: Engine,  # noqa: ANN001
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    seed_batch(engine, 1)

    def boom(code: str) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(dash_cache, "region_view", boom)
    body = assert_json_error(client.get(f"/api/v1/regions/{CITY}/metrics"), 500)
    assert body == {"error": "internal server error"}


def test_no_snapshot_gives_503_everywhere(client) -> None:  # noqa: ANN001
    for path in (f"/api/v1/regions/{CITY}", f"/api/v1/regions/{CITY}/metrics",
                 "/api/v1/regions?q=合", f"/api/v1/regions/{CITY}/report.xlsx"):
        body = assert_json_error(client.get(path), 503)
        assert body["error"].startswith("no snapshot yet")
    resp = client.get("/healthz")
    assert resp.status_code == 503
    body = resp.get_json()
    # The outbound events' depth (SPEC 7) is reported with or without a snapshot.
    outbox = body.pop("outbox")
    assert outbox["dead"] == 0 and outbox["pending"] == 0
    assert body == {"status": "no_snapshot", "last_refresh": None, "as_of": None,
                    "stale": True, "last_error": None}


def test_database_unreachable_is_503_json() -> None:
    app = create_app({"database_url": "postgresql+psycopg://postgres@127.0.0.1:1/none"})
    client = app.server.test_client()
    resp = client.get("/healthz")
    assert resp.status_code == 503
    assert resp.get_json() == {"status": "unavailable", "last_refresh": None, "stale": True,
                               "error": "database unavailable"}
    for path in (f"/api/v1/regions/{CITY}", f"/api/v1/regions/{CITY}/metrics",
                 "/api/v1/regions"):
        assert assert_json_error(client.get(path), 503) == {"error": "database unavailable"}


# ------------------------------------------------------------------ /healthz
def test_healthz_fresh_then_stale(db_url: str, engine: Engine) -> None:
    client = create_app({"database_url": db_url, "refresh_seconds": 60}).server.test_client()
    fresh = utcnow() - dt.timedelta(seconds=90)  # 90 s ≤ 2 × 60 s
    seed_batch(engine, 1, as_of=fresh, finished_at=fresh)
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.headers["Cache-Control"] == "no-store"
    body = resp.get_json()
    assert (body["status"], body["stale"], body["last_error"]) == ("ok", False, None)
    assert body["last_refresh"].endswith("+08:00")

    old = utcnow() - dt.timedelta(seconds=125)  # 125 s > 2 × 60 s
    with engine.begin() as conn:
        conn.execute(update(RefreshRun).where(RefreshRun.id == 1).values(finished_at=old))
    body = client.get("/healthz").get_json()
    assert (body["status"], body["stale"]) == ("degraded", True)


def test_failed_run_shows_in_healthz_while_ok_batch_is_served(
    client, engine: Engine  # noqa: ANN001
) -> None:
    recent = utcnow() - dt.timedelta(seconds=30)
    seed_batch(engine, 1, finished_at=recent)
    seed_batch(engine, 2, status="failed", finished_at=recent + dt.timedelta(seconds=10),
               error="OperationalError: disk full", scale=2)
    resp = client.get("/healthz")
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["status"] == "degraded"
    assert body["stale"] is False
    assert body["last_error"]["error"] == "OperationalError: disk full"
    assert body["last_error"]["at"].endswith("+08:00")

    data = client.get(f"/api/v1/regions/{CITY}/metrics")
    assert data.headers["X-Snapshot-Batch"] == "1"
    assert data.get_json()["metrics"]["placements.year"] == 1234


# ------------------------------------------------------------------ batches and caching
def test_newer_batch_is_served_immediately(client, engine: Engine) -> None:  # noqa: ANN001
    seed_batch(engine, 1)
    first = client.get(f"/api/v1/regions/{CITY}/metrics")
    assert first.get_json()["metrics"]["placements.year"] == 1234
    assert first.headers["X-Snapshot-Batch"] == "1"
    # A batch still running is invisible.
    seed_batch(engine, 2, status="running", finished_at=None)
    assert client.get(f"/api/v1/regions/{CITY}/metrics").headers["X-Snapshot-Batch"] == "1"
    seed_batch(engine, 3, scale=2, as_of=AS_OF + dt.timedelta(minutes=5))
    second = client.get(f"/api/v1/regions/{CITY}/metrics")
    assert second.headers["X-Snapshot-Batch"] == "3"
    body = second.get_json()
    assert body["metrics"]["placements.year"] == 2468
    assert body["as_of"] == "2024-06-15T10:05:00+08:00"
    assert body["children"][0]["metrics"]["placements.year"] == 468


def test_cached_reads_are_per_batch(client, engine: Engine) -> None:  # noqa: ANN001
    seed_batch(engine, 1)
    assert client.get(f"/api/v1/regions/{CITY}/metrics").get_json()["metrics"][
        "placements.year"] == 1234
    # Rewriting a finished batch in place is not something the service does; the cache
    # serves batch 1 as it first read it, proving reads come from the cache.
    with engine.begin() as conn:
        conn.execute(update(SnapshotRegion).where(SnapshotRegion.batch_id == 1,
                                                  SnapshotRegion.region_code == CITY)
                     .values(metrics=json.dumps(full_metrics(placements__year=1))))
    assert client.get(f"/api/v1/regions/{CITY}/metrics").get_json()["metrics"][
        "placements.year"] == 1234


def test_real_batch_memo_sees_new_batch_within_its_ttl(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dash_cache, "BATCH_TTL_SECONDS", 2.0)
    engine = make_engine(sqlite_url)
    init_db(engine)
    client = create_app({"database_url": sqlite_url}).server.test_client()
    seed_batch(engine, 1)
    assert client.get(f"/api/v1/regions/{CITY}").headers["X-Snapshot-Batch"] == "1"
    seed_batch(engine, 2, scale=2)
    time.sleep(2.1)
    assert client.get(f"/api/v1/regions/{CITY}").headers["X-Snapshot-Batch"] == "2"
    engine.dispose()


def test_etag_and_conditional_get(client, engine: Engine) -> None:  # noqa: ANN001
    seed_batch(engine, 1)
    url = f"/api/v1/regions/{CITY}/metrics"
    first = client.get(url)
    etag = first.headers["ETag"]
    assert etag.startswith('W/"b1-340100000000-m-')
    assert first.headers["Cache-Control"] == "no-cache"
    assert first.headers["X-Snapshot-Batch"] == "1"
    # Another resource of the same batch has another tag.
    other = client.get(f"/api/v1/regions/{CITY}").headers["ETag"]
    assert other.startswith('W/"b1-340100000000-r-') and other != etag

    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.get_data() == b""
    assert again.headers["ETag"] == etag
    assert again.headers["X-Snapshot-Batch"] == "1"
    # A client that only kept the opaque part, or gets gzip, still gets 304.
    assert client.get(url, headers={"If-None-Match": etag[2:]}).status_code == 304
    zipped = client.get(url, headers={"Accept-Encoding": "gzip"})
    assert zipped.headers.get("Content-Encoding") == "gzip"
    assert json.loads(gzip.decompress(zipped.get_data()))["metrics"]["placements.year"] == 1234
    assert client.get(url, headers={"If-None-Match": zipped.headers["ETag"],
                                    "Accept-Encoding": "gzip"}).status_code == 304

    seed_batch(engine, 2, scale=2)
    changed = client.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["ETag"].startswith('W/"b2-340100000000-m-')
    assert changed.get_json()["metrics"]["placements.year"] == 2468


def test_openapi_document_is_valid_and_lists_every_metric(client) -> None:  # noqa: ANN001
    from openapi_spec_validator import validate

    resp = client.get("/api/v1/openapi.json")
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    doc = resp.get_json()
    validate(doc)
    assert doc["openapi"] == "3.0.3"
    assert set(doc["paths"]) == {"/api/v1/regions", "/api/v1/regions/{code}",
                                 "/api/v1/regions/{code}/metrics", "/api/v1/openapi.json",
                                 "/api/v1/regions/{code}/report.xlsx",
                                 "/api/v1/exchange/{kind}", "/api/v1/exchange/vacancies",
                                 "/healthz"}
    metrics = doc["components"]["schemas"]["Metrics"]
    assert metrics["required"] == list(METRIC_KEYS)
    assert len(METRIC_KEYS) == 103
    assert set(doc["paths"]["/api/v1/regions/{code}/metrics"]["get"]["responses"]) == {
        "200", "304", "400", "401", "403", "404", "503"}


def test_responses_match_the_openapi_schemas(client, engine: Engine) -> None:  # noqa: ANN001
    """Real responses validate against the document's own schemas (jsonschema)."""
    from openapi_schema_validator import OAS30Validator

    seed_batch(engine, 1)
    doc = client.get("/api/v1/openapi.json").get_json()

    def check(name: str, instance: Any) -> None:
        schema = {"$ref": f"#/components/schemas/{name}", "components": doc["components"]}
        OAS30Validator(schema).validate(instance)

    check("RegionMetrics", client.get(f"/api/v1/regions/{CITY}/metrics").get_json())
    check("Region", client.get(f"/api/v1/regions/{CITY}").get_json())
    check("SearchResults", client.get("/api/v1/regions?q=合").get_json())
    check("Health", client.get("/healthz").get_json())
    check("Error", client.get("/api/v1/regions/1/metrics").get_json())
    with pytest.raises(Exception, match="required property"):
        check("RegionMetrics", {"region": {}})


# ------------------------------------------------------------------ schemathesis
@pytest.fixture
def api_schema(sqlite_url: str):  # noqa: ANN201
    """The served OpenAPI document, loaded by schemathesis against the WSGI app."""
    import schemathesis

    engine = make_engine(sqlite_url)
    init_db(engine)
    seed_batch(engine, 1, finished_at=utcnow())
    engine.dispose()
    app = create_app({"database_url": sqlite_url})
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app.server)


def _lazy_schema():  # noqa: ANN202
    import schemathesis

    return schemathesis.pytest.from_fixture("api_schema")


fuzz_schema = _lazy_schema()


@fuzz_schema.parametrize()
@settings(max_examples=25, deadline=None,
          suppress_health_check=list(HealthCheck))
def test_openapi_fuzz_no_5xx_and_conformance(case) -> None:  # noqa: ANN001
    """Schemathesis: every generated request gets a documented, schema-valid, non-5xx answer."""
    # The WSGI transport does not undo Content-Encoding (flask-compress); ask for none.
    response = case.call(headers={"Accept-Encoding": "identity"})
    assert response.status_code < 500, response.text
    case.validate_response(response)


# ------------------------------------------------------------------ end to end
def test_end_to_end_source_rows_refresh_then_api(db_url: str, engine: Engine) -> None:
    """ORM rows → queries.refresh.refresh → GET metrics, values worked out by hand.

    T = 2025-04-15 10:00 Asia/Shanghai. Tree: city 合肥市 → county 瑶海区 → township
    明光路街道 → one community whose centre is the worksite of the one open vacancy.
    """
    from sqlalchemy.orm import Session

    from queries.models import Person, Placement, Region, Target, Vacancy
    from queries.refresh import refresh

    county, township, community = "340102000000", "340102001000", "340102001001"
    d = dt.date.fromisoformat
    with Session(engine) as s:
        s.add_all([
            Region(code=CITY, name="合肥市", level="city", parent_code=None),
            Region(code=county, name="瑶海区", level="county", parent_code=CITY),
            Region(code=township, name="明光路街道", level="township", parent_code=county),
            Region(code=community, name="胜利路社区", level="community", parent_code=township,
                   lat=31.87, lon=117.30),
            Vacancy(vacancy_id="V1", community_code=community, lat=31.87, lon=117.30,
                    title="装配工", type="full_time", headcount=5, posted_on=d("2025-04-01")),
            Person(person_id="P1", community_code=community, status="unemployed",
                   seeking_job=True, kg_graduate=True),
            Person(person_id="P2", community_code=community, status="flexible",
                   seeking_job=True),
            Person(person_id="P3", community_code=community, status="employed",
                   seeking_job=False),
            Target(region_code=CITY, metric="placements.year", year=2025, target=10),
        ])
        for pid, person, vac, at, form in [
            ("PL1", "P1", "V1", "2025-04-15T09:00", "employer"),   # today
            ("PL2", "P2", None, "2025-04-02T15:30", "flexible"),   # this month
            ("PL3", "P1", "V1", "2025-02-10T10:00", "employer"),   # this year
            ("PL4", "P3", None, "2024-12-31T23:00", "employer"),   # last year
            ("PL5", "P3", None, "2025-04-16T08:00", "flexible"),   # after T: nowhere
        ]:
            placed = dt.datetime.fromisoformat(at)
            s.add(Placement(placement_id=pid, person_id=person, vacancy_id=vac,
                            community_code=community, placed_at=placed,
                            placed_on=placed.date(), form=form))
        s.commit()

    outcome = refresh(engine, as_of=dt.datetime(2025, 4, 15, 10, 0), tz="Asia/Shanghai")
    assert outcome.status == "ok", outcome.error

    client = create_app({"database_url": db_url, "timezone": "Asia/Shanghai"}
                        ).server.test_client()
    resp = client.get(f"/api/v1/regions/{CITY}/metrics")
    assert resp.status_code == 200
    assert resp.headers["X-Snapshot-Batch"] == str(outcome.batch_id)
    body = resp.get_json()
    assert body["as_of"] == "2025-04-15T10:00:00+08:00"
    m = body["metrics"]
    assert list(m) == list(METRIC_KEYS)
    assert (m["placements.today"], m["placements.month"], m["placements.year"]) == (1, 2, 3)
    assert m["placements.by_form.employer"] == 2
    assert m["placements.by_form.flexible"] == 1
    assert m["placements.by_form.traineeship"] == 0
    assert m["placements.within_3km_share"] == 1.0
    assert (m["vacancies.open"], m["vacancies.open_headcount"]) == (1, 5)
    assert m["vacancies.by_type.full_time"] == 5
    assert m["vacancies.new.month"] == 1
    assert m["jobseekers.active"] == 2
    assert m["supply_demand_ratio"] == 2.5
    assert m["key_groups.graduate.registered"] == 1
    assert m["key_groups.graduate.placed.year"] == 1
    assert m["key_groups.graduate.placement_rate"] == 1.0
    assert m["key_groups.veteran.placement_rate"] is None
    assert (m["circle.communities"], m["circle.covered"], m["circle.coverage"]) == (1, 1, 1.0)
    monthly = body["series"]["placements.monthly"]
    assert list(monthly) == ["2024-05", "2024-06", "2024-07", "2024-08", "2024-09", "2024-10",
                             "2024-11", "2024-12", "2025-01", "2025-02", "2025-03", "2025-04"]
    assert (monthly["2024-12"], monthly["2025-02"], monthly["2025-04"]) == (1, 1, 2)
    assert sum(monthly.values()) == 4
    # expected: 15 April is day 105 of 365 (时序进度 0.2877).
    assert body["targets"] == {"placements.year": {"target": 10, "completion": 0.3,
                                                   "expected": 0.2877}}
    assert [(c["code"], c["metrics"]["placements.year"]) for c in body["children"]] == [
        (county, 3)]
    leaf = client.get(f"/api/v1/regions/{community}").get_json()
    assert leaf["parent_code"] == township and leaf["name"] == "胜利路社区"
