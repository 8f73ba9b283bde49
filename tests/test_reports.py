"""进展情况表 (SPEC 8) over real HTTP: the XLSX and CSV numbers equal the JSON API's, every
child row and the total; access by role and scope; the printable /report page.

Expected values come from the API (`/api/v1/regions/<code>/metrics` of the region and of each
child) and 时序进度 from the calendar (day of year ÷ days in the year), never from the code
under test.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest
import requests

from dashboard import cache as dash_cache
from dashboard.app import create_app
from dashboard.tokens import issue
from demo.generator import load_demo
from queries.db import init_db, make_engine
from queries.metrics import label
from queries.refresh import refresh
from tests.httpserver import Served

TZ = "Asia/Shanghai"
SECRET = "test-secret-key-for-reports"
CITY = "340100000000"
SHUSHAN = "340104000000"  # 蜀山区
YAOHAI = "340102000000"  # 瑶海区
TODAY = dt.date(2026, 4, 30)
# 时序进度 on 30 April 2026: 31 + 28 + 31 + 30 = 120 days of 365.
EXPECTED = round(120 / 365, 4)
PARTS = {"目标": "target", "完成": "done", "完成率": "completion", "时序进度": "expected",
         "Target": "target", "Done": "done", "Completion": "completion",
         "Time elapsed": "expected"}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A small demo database with one snapshot, served with DASHBOARD_AUTH=on."""
    url = f"sqlite:///{tmp_path_factory.mktemp('reports') / 'r.db'}"
    engine = make_engine(url)
    init_db(engine)
    load_demo(engine, scale=0.03, seed=5, today=TODAY, tz=TZ)
    assert refresh(engine, as_of=dt.datetime(2026, 4, 30, 20, tzinfo=ZoneInfo(TZ)),
                   tz=TZ).status == "ok"
    app = create_app({"database_url": url, "auth": True, "secret_key": SECRET})
    served = Served(app.server)
    site = {"engine": engine, "base": served.base}
    site["leader"] = issue(engine, SECRET, CITY, "leader", None, 30)[1]
    yield site
    served.stop()
    engine.dispose()


@pytest.fixture(autouse=True)
def _fresh_memo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dash_cache, "BATCH_TTL_SECONDS", 0.0)


def get(site: dict, path: str, token: str | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(site["base"] + path, headers=headers, timeout=60, allow_redirects=False)


def api(site: dict, code: str) -> dict[str, Any]:
    r = get(site, f"/api/v1/regions/{code}/metrics", site["leader"])
    assert r.status_code == 200
    return r.json()


def key_of(text: str, lang: str) -> str:
    """The metric key a column heading names (the registry's labels)."""
    from queries.metrics import METRIC_KEYS

    hits = [k for k in METRIC_KEYS if label(k, lang) == text]
    if not hits:
        from layouts.common import metric_label

        hits = [k for k in METRIC_KEYS if metric_label(k, lang) == text]
    assert len(hits) == 1, (text, hits)
    return hits[0]


def expected_rows(site: dict, code: str) -> dict[str, dict[str, Any]]:
    """code → {"metrics": …, "targets": …} from the JSON API: each child, then the region."""
    parent = api(site, code)
    out = {}
    for child in parent["children"]:
        own = api(site, child["code"])
        assert own["metrics"] == child["metrics"]
        out[child["code"]] = {"metrics": child["metrics"], "targets": own["targets"]}
    out[code] = {"metrics": parent["metrics"], "targets": parent["targets"]}
    return out


def check_row(want: dict[str, Any], cells: dict[tuple[str, str | None], Any]) -> int:
    """Compare one row's cells ((key, part) → value) with the API's figures; count checks."""
    n = 0
    for (key, part), value in cells.items():
        if part is None:
            exp = want["metrics"][key]
        elif part == "expected":
            exp = EXPECTED if key in want["targets"] else None
        elif part == "done":
            exp = want["metrics"][key] if key in want["targets"] else None
        else:
            exp = want["targets"].get(key, {}).get(part)
        if exp is None:
            assert value in (None, ""), (key, part, value)
        else:
            assert float(value) == pytest.approx(exp, rel=1e-12, abs=1e-12), (key, part, value)
        n += 1
    return n


def read_xlsx(body: bytes, lang: str) -> dict[str, dict[tuple[str, str | None], Any]]:
    """code → {(key, part): value} from the sheet (two header rows: 3 groups, 4 parts)."""
    ws = openpyxl.load_workbook(io.BytesIO(body)).active
    rows = list(ws.iter_rows(values_only=True))
    groups, parts = rows[2], rows[3]
    columns: list[tuple[str, str | None] | None] = []
    current = None
    for i, (g, p) in enumerate(zip(groups, parts, strict=True)):
        if i < 2:
            columns.append(None)
            continue
        if g is not None:
            current = key_of(g, lang)
        columns.append((current, PARTS[p]) if p is not None else (current, None))
    out = {}
    for row in rows[4:]:
        out[str(row[1])] = {col: v for col, v in zip(columns, row, strict=True) if col}
    return out


@pytest.mark.parametrize(("code", "lang"), [(CITY, "zh"), (SHUSHAN, "en")])
def test_xlsx_numbers_equal_the_api(site: dict, code: str, lang: str) -> None:
    r = get(site, f"/api/v1/regions/{code}/report.xlsx?lang={lang}", site["leader"])
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == XLSX
    assert "attachment" in r.headers["Content-Disposition"]
    table = read_xlsx(r.content, lang)
    want = expected_rows(site, code)
    assert list(table) == list(want)  # children in code order, then the total row
    checked = sum(check_row(want[c], table[c]) for c in want)
    assert checked >= len(want) * 10
    # Targets are there (the demo sets some) with their four parts.
    assert any(part == "expected" for cells in table.values() for _, part in cells)


def test_csv_numbers_equal_the_api(site: dict) -> None:
    r = get(site, f"/api/v1/regions/{CITY}/report.xlsx?format=csv", site["leader"])
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/csv")
    assert r.content.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs to read UTF-8
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    header = rows[0]
    columns: list[tuple[str, str | None] | None] = [None, None]
    for text in header[2:]:
        if "·" in text:
            name, part = text.rsplit("·", 1)
            columns.append((key_of(name, "zh"), PARTS[part]))
        else:
            columns.append((key_of(text, "zh"), None))
    want = expected_rows(site, CITY)
    table = {row[1]: {c: v for c, v in zip(columns, row, strict=True) if c} for row in rows[1:]}
    assert list(table) == list(want)
    for code, cells in table.items():
        check_row(want[code], cells)
    assert rows[-1][0].startswith("合计")


def test_report_cells_are_spreadsheet_safe() -> None:
    """A name a spreadsheet would run as a formula is written as text, in CSV and XLSX."""
    from dashboard import reports

    evil = '=HYPERLINK("http://evil.example","x")'
    region = {"code": "340100000000", "name": "合肥市", "metrics": {"placements.year": 5},
              "targets": {}}
    kids = [{"code": "340104000000", "name": evil, "metrics": {"placements.year": -3},
             "targets": {}}]
    report = reports.build(region, kids, "2026-04-30T20:00:00+08:00", "zh")
    text = reports.to_csv(report).decode("utf-8-sig")
    assert "'=HYPERLINK" in text and "\n=HYPERLINK" not in text
    ws = openpyxl.load_workbook(io.BytesIO(reports.to_xlsx(report))).active
    names = [row[0] for row in ws.iter_rows(min_row=5, values_only=True)]
    assert names[0] == "'" + evil
    values = [row[2] for row in ws.iter_rows(min_row=5, values_only=True)]
    assert values == [-3, 5]  # numbers stay numbers


@pytest.mark.parametrize(("role", "status"), [
    ("leader", 200), ("exchange", 200), ("wall", 403), ("embed", 403)])
@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_report_download_roles(site: dict, role: str, status: int, fmt: str) -> None:
    token = issue(site["engine"], SECRET, CITY, role, None, 30)[1]
    r = get(site, f"/api/v1/regions/{CITY}/report.xlsx?format={fmt}", token)
    assert r.status_code == status
    if status != 200:
        assert "error" in r.json()


def test_report_download_scope_and_errors(site: dict) -> None:
    shushan = issue(site["engine"], SECRET, SHUSHAN, "leader", None, 30)[1]
    assert get(site, f"/api/v1/regions/{SHUSHAN}/report.xlsx", shushan).status_code == 200
    assert get(site, f"/api/v1/regions/{YAOHAI}/report.xlsx", shushan).status_code == 403
    assert get(site, f"/api/v1/regions/{CITY}/report.xlsx", shushan).status_code == 403
    assert get(site, f"/api/v1/regions/{CITY}/report.xlsx").status_code == 401
    r = get(site, f"/api/v1/regions/{CITY}/report.xlsx?format=pdf", site["leader"])
    assert r.status_code == 400 and "format" in r.json()["error"]
    assert get(site, "/api/v1/regions/340199999999/report.xlsx",
               site["leader"]).status_code == 404


@pytest.mark.parametrize(("role", "status"), [
    ("leader", 200), ("wall", 403), ("embed", 403), ("exchange", 403)])
def test_report_page_roles(site: dict, role: str, status: int) -> None:
    token = issue(site["engine"], SECRET, CITY, role, None, 30)[1]
    assert get(site, f"/report/{CITY}", token).status_code == status


def test_report_page_shows_the_table(site: dict) -> None:
    r = get(site, f"/report/{CITY}", site["leader"])
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    page = r.text
    want = api(site, CITY)
    assert "合肥市就业工作进展情况表" in page
    for child in want["children"]:
        assert child["name"] in page
    assert "合计(合肥市)" in page and 'href="/assets/report.css"' in page
    assert "32.9%" in page  # 时序进度 120/365
    # The scope rules of pages: another county's leader may not print this one.
    shushan = issue(site["engine"], SECRET, SHUSHAN, "leader", None, 30)[1]
    assert get(site, f"/report/{CITY}", shushan).status_code == 403
    en = get(site, f"/report/{CITY}?lang=en", site["leader"]).text
    assert "progress report" in en and "Time elapsed" in en
    missing = get(site, "/report/340199999999", site["leader"])
    assert missing.status_code == 404 and "Traceback" not in missing.text


def test_openapi_documents_the_report(site: dict) -> None:
    doc = get(site, "/api/v1/openapi.json").json()
    op = doc["paths"]["/api/v1/regions/{code}/report.xlsx"]["get"]
    assert {p["name"] for p in op["parameters"]} >= {"code", "format", "lang"}
    assert "text/csv" in op["responses"]["200"]["content"]
