"""The SPEC 6.1 KINDs and columns through the import path: every format, Chinese headers and
values, idempotent upsert, a reject with its reason for every rule, the exchange endpoint."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from queries.importer import COLUMNS, ID_COLUMNS, import_file
from queries.models import Employer, Interview, JobFair, Loan, Person, Survey, Training
from tests.test_exchange_scope import CITY, IN_COMM, OUT_COMM, SCOPE, post, reasons, site
from tests.test_import import dataset, load_all, write_file
from tests.test_import_bad_input import count, read_rejects

__all__ = ["site"]  # the served app with an exchange token for 蜀山区 (a fixture)

COMM1, COMM2 = "340102001001", "340102001002"
TOWN, COUNTY, CITY_CODE = "340102001000", "340102000000", "340100000000"
KINDS = ("job_fairs", "trainings", "interviews", "loans", "surveys")
TABLES = {"job_fairs": JobFair, "trainings": Training, "interviews": Interview,
          "loans": Loan, "surveys": Survey}


def services() -> dict[str, list[dict[str, Any]]]:
    """Records of the new KINDs on top of tests.test_import.dataset() (values as text)."""
    return {
        "job_fairs": [
            {"fair_id": "f1", "region_code": COUNTY, "held_on": "2024-02-20",
             "title": "瑶海区春风行动专场", "mode": "onsite", "employers": "120",
             "posts": "3500", "visitors": "6000", "intentions": "900"},
            {"fair_id": "f2", "region_code": COMM1, "held_on": "2024-03-01",
             "title": "直播带岗", "mode": "livestream", "views": "250000"},
            {"fair_id": "f3", "region_code": CITY_CODE, "held_on": "2024-03-02",
             "title": "网络招聘会", "mode": "online", "employers": "0"},
        ],
        "trainings": [
            {"training_id": "t1", "person_id": "p1", "community_code": COMM1,
             "kind": "skills", "mode": "onsite", "started_on": "2024-01-10",
             "completed_on": "2024-01-10", "certified": "true", "subsidised": "false"},
            {"training_id": "t2", "person_id": "p2", "community_code": COMM2,
             "kind": "platform", "mode": "remote", "started_on": "2024-02-01"},
        ],
        "interviews": [
            {"interview_id": "i1", "person_id": "p2", "vacancy_id": "v1",
             "community_code": COMM2, "held_at": "2024-03-01T20:00:00+00:00",
             "mode": "remote", "outcome": "offer"},
            {"interview_id": "i2", "person_id": "p3", "community_code": COMM2,
             "held_at": "2024-03-05", "mode": "onsite"},
        ],
        "loans": [
            {"loan_id": "l1", "person_id": "p1", "community_code": COMM1,
             "granted_on": "2024-02-02", "amount": "150000.5", "jobs_created": "4"},
        ],
        "surveys": [
            {"response_id": "s1", "community_code": COMM1, "answered_on": "2024-02-03",
             "score": "5", "service": "job_fair", "channel": "phone"},
            {"response_id": "s2", "community_code": COMM2, "answered_on": "2024-02-04",
             "score": "1"},
        ],
    }


def load_services(engine: Engine, tmp_path: Path, fmt: str) -> dict[str, Any]:
    data = services()
    out = {}
    for kind in KINDS:
        p = write_file(tmp_path / f"{kind}.{fmt}", data[kind], COLUMNS[kind])
        out[kind] = import_file(engine, kind, p, progress=False)
    return out


def rows(engine: Engine, kind: str) -> dict[str, Any]:
    model = TABLES[kind]
    key = ID_COLUMNS[kind][0]
    with engine.connect() as conn:
        return {getattr(r, key): r for r in conn.execute(select(model)).all()}


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "jsonl"])
def test_every_new_kind_imports_and_reimport_changes_nothing(
        engine: Engine, tmp_path: Path, fmt: str) -> None:
    load_all(engine, tmp_path, "csv")
    results = load_services(engine, tmp_path, fmt)
    data = services()
    for kind, r in results.items():
        assert (r.error, r.rejected, r.exit_code) == (None, 0, 0), (kind, r)
        assert r.read == r.imported == len(data[kind]), kind
    fairs, tr, iv = rows(engine, "job_fairs"), rows(engine, "trainings"), rows(engine, "interviews")
    loans, sv = rows(engine, "loans"), rows(engine, "surveys")
    assert (fairs["f1"].region_code, fairs["f1"].held_on, fairs["f1"].mode) == (
        COUNTY, dt.date(2024, 2, 20), "onsite")
    assert (fairs["f1"].employers, fairs["f1"].posts, fairs["f1"].visitors,
            fairs["f1"].intentions, fairs["f1"].views) == (120, 3500, 6000, 900, None)
    assert (fairs["f2"].views, fairs["f3"].employers) == (250000, 0)
    assert (tr["t1"].certified, tr["t1"].subsidised, tr["t1"].completed_on) == (
        True, False, dt.date(2024, 1, 10))
    assert (tr["t2"].certified, tr["t2"].completed_on, tr["t2"].mode) == (None, None, "remote")
    # 20:00 UTC on 1 March is 04:00 on 2 March in Asia/Shanghai.
    assert (iv["i1"].held_at, iv["i1"].held_on) == (dt.datetime(2024, 3, 2, 4),
                                                    dt.date(2024, 3, 2))
    assert (iv["i2"].held_at, iv["i2"].vacancy_id, iv["i2"].outcome) == (
        dt.datetime(2024, 3, 5), None, None)
    assert (loans["l1"].amount, loans["l1"].jobs_created) == (150000.5, 4)
    assert (sv["s1"].score, sv["s1"].service, sv["s1"].channel) == (5, "job_fair", "phone")
    before = {k: {i: tuple(r) for i, r in rows(engine, k).items()} for k in KINDS}
    again = load_services(engine, tmp_path, fmt)
    assert all(r.exit_code == 0 for r in again.values())
    assert {k: {i: tuple(r) for i, r in rows(engine, k).items()} for k in KINDS} == before


def test_new_optional_columns_and_old_files(engine: Engine, tmp_path: Path) -> None:
    load_all(engine, tmp_path, "csv")  # files without the new columns still import
    pp = tmp_path / "persons_since.csv"
    pp.write_text("人员编号,社区代码,就业状态,求职意愿,失业日期\n"
                  f"u1,{COMM1},失业,是,2024-01-15\nu2,{COMM1},employed,否,\n",
                  encoding="utf-8")
    assert import_file(engine, "persons", pp).exit_code == 0
    ep = tmp_path / "employers_joined.csv"
    ep.write_text("单位编号,统一社会信用代码,单位名称,社区代码,入驻日期\n"
                  f"e7,91350100M000100Y43,某公司,{COMM2},2024-03-08\n", encoding="utf-8")
    assert import_file(engine, "employers", ep).exit_code == 0
    with engine.connect() as conn:
        since = dict(conn.execute(select(Person.person_id, Person.unemployed_since)).all())
        joined = dict(conn.execute(select(Employer.employer_id, Employer.registered_on)).all())
    assert since["u1"] == dt.date(2024, 1, 15) and since["u2"] is None
    assert since["p1"] is None
    assert joined["e7"] == dt.date(2024, 3, 8) and joined["e1"] is None


def test_chinese_headers_and_values(engine: Engine, tmp_path: Path) -> None:
    load_all(engine, tmp_path, "csv")
    files = {
        "job_fairs": "招聘会编号,举办地区划代码,举办日期,招聘会名称,举办形式,参会企业数,提供岗位数,"
                     "进场求职人数,达成意向人数,直播观看人次\n"
                     f"zf1,{TOWN},2024-02-26,街道招聘会,线下,30,400,800,90,\n"
                     f"zf2,{COUNTY},2024-02-27,直播带岗,直播,,,,,180000\n"
                     f"zf3,{COUNTY},2024-02-28,网络招聘会,线上,10,,,,\n",
        "trainings": "培训记录编号,人员编号,社区代码,培训类型,培训方式,开班日期,结业日期,"
                     "取得证书,享受补贴\n"
                     f"zt1,p1,{COMM1},创业培训,线上,2024-03-01,2024-03-20,是,是\n"
                     f"zt2,p2,{COMM2},职业技能培训,线下,2024-03-02,,否,否\n",
        "interviews": "面试编号,人员编号,岗位编号,社区代码,面试时间,面试方式,面试结果\n"
                      f"zi1,p2,v1,{COMM2},2024-03-03 09:30,视频,录用\n"
                      f"zi2,p3,,{COMM2},2024-03-04,现场,未录用\n",
        "loans": "贷款编号,人员编号,社区代码,发放日期,贷款金额,带动就业人数\n"
                 f"zl1,p1,{COMM1},2024-03-05,300000,6\n",
        "surveys": "评价编号,社区代码,评价日期,评分,服务事项,评价渠道\n"
                   f"zs1,{COMM1},2024-03-06,4,职业指导,电话\n"
                   f"zs2,{COMM2},2024-03-06,3,求职登记,现场\n",
    }
    for kind, text in files.items():
        p = tmp_path / f"{kind}_zh.csv"
        p.write_text(text, encoding="utf-8-sig")
        r = import_file(engine, kind, p)
        assert r.exit_code == 0, (kind, r)
    fairs = rows(engine, "job_fairs")
    assert [fairs[k].mode for k in ("zf1", "zf2", "zf3")] == ["onsite", "livestream", "online"]
    assert (fairs["zf1"].visitors, fairs["zf2"].views) == (800, 180000)
    tr = rows(engine, "trainings")
    assert (tr["zt1"].kind, tr["zt1"].mode, tr["zt1"].certified) == (
        "entrepreneurship", "remote", True)
    assert (tr["zt2"].kind, tr["zt2"].mode, tr["zt2"].subsidised) == ("skills", "onsite", False)
    iv = rows(engine, "interviews")
    assert (iv["zi1"].mode, iv["zi1"].outcome, iv["zi1"].held_at) == (
        "remote", "offer", dt.datetime(2024, 3, 3, 9, 30))
    assert (iv["zi2"].mode, iv["zi2"].outcome) == ("onsite", "no_offer")
    assert rows(engine, "loans")["zl1"].amount == 300000
    sv = rows(engine, "surveys")
    assert (sv["zs1"].service, sv["zs1"].channel) == ("guidance", "phone")
    assert (sv["zs2"].service, sv["zs2"].channel) == ("registration", "onsite")


def _base(kind: str, i: int = 0) -> dict[str, Any]:
    return dict(services()[kind][i])


# (kind, the bad row, a word the reason must start with or contain)
BAD_ROWS: list[tuple[str, dict[str, Any], str]] = [
    ("job_fairs", {**_base("job_fairs"), "fair_id": "b1", "visitors": "-3"}, "visitors"),
    ("job_fairs", {**_base("job_fairs"), "fair_id": "b1", "posts": "12.5"}, "posts"),
    ("job_fairs", {**_base("job_fairs"), "fair_id": "b1", "views": "many"}, "views"),
    ("job_fairs", {**_base("job_fairs"), "fair_id": "b1", "mode": "hybrid"}, "mode"),
    ("job_fairs", {**_base("job_fairs"), "fair_id": "b1", "held_on": "2024-02-30"}, "held_on"),
    ("job_fairs", {**_base("job_fairs"), "fair_id": "b1", "region_code": "349999000000"},
     "region_code"),
    ("job_fairs", {**_base("job_fairs"), "fair_id": "b1", "title": ""}, "title"),
    ("trainings", {**_base("trainings"), "training_id": "b1", "started_on": "2024-03-01",
                   "completed_on": "2024-02-28"}, "completed_on"),
    ("trainings", {**_base("trainings"), "training_id": "b1", "kind": "cooking"}, "kind"),
    ("trainings", {**_base("trainings"), "training_id": "b1", "mode": "hybrid"}, "mode"),
    ("trainings", {**_base("trainings"), "training_id": "b1", "certified": "maybe"},
     "certified"),
    ("trainings", {**_base("trainings"), "training_id": "b1", "person_id": "ghost"},
     "person_id"),
    ("trainings", {**_base("trainings"), "training_id": "b1", "community_code": TOWN},
     "community_code"),  # a township, not a community
    ("interviews", {**_base("interviews"), "interview_id": "b1", "vacancy_id": "ghost"},
     "vacancy_id"),
    ("interviews", {**_base("interviews"), "interview_id": "b1", "person_id": "ghost"},
     "person_id"),
    ("interviews", {**_base("interviews"), "interview_id": "b1", "held_at": "2024-03-01T25:00"},
     "held_at"),
    ("interviews", {**_base("interviews"), "interview_id": "b1", "outcome": "maybe"},
     "outcome"),
    ("loans", {**_base("loans"), "loan_id": "b1", "amount": "0"}, "amount"),
    ("loans", {**_base("loans"), "loan_id": "b1", "amount": "-5000"}, "amount"),
    ("loans", {**_base("loans"), "loan_id": "b1", "amount": "lots"}, "amount"),
    ("loans", {**_base("loans"), "loan_id": "b1", "jobs_created": "-1"}, "jobs_created"),
    ("loans", {**_base("loans"), "loan_id": "b1", "person_id": "ghost"}, "person_id"),
    ("surveys", {**_base("surveys"), "response_id": "b1", "score": "0"}, "score"),
    ("surveys", {**_base("surveys"), "response_id": "b1", "score": "6"}, "score"),
    ("surveys", {**_base("surveys"), "response_id": "b1", "score": "3.5"}, "score"),
    ("surveys", {**_base("surveys"), "response_id": "b1", "channel": "pigeon"}, "channel"),
    ("surveys", {**_base("surveys"), "response_id": "b1", "service": "lunch"}, "service"),
    ("surveys", {**_base("surveys"), "response_id": "b1", "answered_on": ""}, "answered_on"),
    ("persons", {**dataset()["persons"][0], "person_id": "b1", "id_number": "",
                 "status": "employed", "unemployed_since": "2024-01-01"}, "unemployed_since"),
    ("persons", {**dataset()["persons"][1], "person_id": "b1",
                 "unemployed_since": "2024-13-01"}, "unemployed_since"),
    ("employers", {**dataset()["employers"][0], "employer_id": "b1",
                   "registered_on": "2024/03/01"}, "registered_on"),
]


@pytest.mark.parametrize(("kind", "bad", "word"), BAD_ROWS,
                         ids=[f"{k}-{w}-{i}" for i, (k, _, w) in enumerate(BAD_ROWS)])
def test_bad_row_is_rejected_with_reason(
    engine: Engine, tmp_path: Path, kind: str, bad: dict[str, Any], word: str
) -> None:
    load_all(engine, tmp_path, "csv")
    load_services(engine, tmp_path, "csv")
    source = services() if kind in KINDS else dataset()
    good = {**source[kind][0], ID_COLUMNS[kind][0]: "g1"}
    if kind == "persons":
        good["id_number"] = ""  # the same identity number twice is fine, but keep it simple
    n_before = count(engine, kind)
    p = write_file(tmp_path / f"bad_{kind}.csv", [good, bad], COLUMNS[kind])
    r = import_file(engine, kind, p)
    assert (r.read, r.imported, r.rejected, r.exit_code, r.error) == (2, 1, 1, 3, None), r
    rej = read_rejects(r.rejects_path)
    assert len(rej) == 1 and rej[0]["line"] == "3"
    assert rej[0]["reason"].startswith(word) or word in rej[0]["reason"], rej[0]["reason"]
    assert "Traceback" not in rej[0]["reason"]
    assert count(engine, kind) == n_before + 1


def test_exchange_endpoint_takes_the_new_kinds_in_scope(site: dict) -> None:
    """A county's own fair is inside its token's scope; the city's is not."""
    body = post(site, "job_fairs", [
        {"fair_id": "XF-1", "region_code": SCOPE, "held_on": "2026-03-10",
         "title": "蜀山区春风行动", "mode": "onsite", "employers": 50},
        {"fair_id": "XF-2", "region_code": CITY, "held_on": "2026-03-10",
         "title": "合肥市招聘会", "mode": "onsite"},
        {"招聘会编号": "XF-3", "区划代码": IN_COMM, "举办日期": "2026-03-11",
         "招聘会名称": "社区直播", "举办形式": "直播", "直播观看人次": 12000},
        {"fair_id": "XF-4", "region_code": SCOPE, "held_on": "2026-03-12",
         "title": "x", "mode": "onsite", "visitors": -1},
    ])
    why = reasons(body)
    assert body["imported"] == 2 and sorted(why) == [1, 3], body
    assert "scope" in why[1] and why[3].startswith("visitors")
    body = post(site, "surveys", [
        {"response_id": "XS-1", "community_code": IN_COMM, "answered_on": "2026-03-10",
         "score": 6},
        {"response_id": "XS-2", "community_code": OUT_COMM, "answered_on": "2026-03-10",
         "score": 5},
        {"response_id": "XS-3", "community_code": IN_COMM, "answered_on": "2026-03-10",
         "score": 4},
    ])
    assert body["imported"] == 1 and sorted(reasons(body)) == [0, 1], body
