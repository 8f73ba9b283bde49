"""Demo data set: determinism, real divisions, realistic shapes, valid codes, clean import."""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
from collections import Counter
from pathlib import Path

import pytest

from demo.divisions import official_tree, to12
from demo.generator import HEADERS, IMPORT_ORDER, generate_demo, load_demo
from queries.domain import ASSISTANCE_KINDS, KEY_GROUPS, PLACEMENT_FORMS, VACANCY_TYPES
from queries.exchange.kinds import KIND_NAMES as KINDS

TODAY = dt.date(2026, 11, 26)
HEFEI_COUNTIES = ("瑶海区", "庐阳区", "蜀山区", "包河区", "长丰县", "肥东县", "肥西县",
                  "庐江县", "巢湖市")


def read(path: Path) -> list[dict[str, str]]:
    """All rows of a CSV exchange file as dicts."""
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine distance, computed independently of queries.geo."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (math.sin((p2 - p1) / 2) ** 2
         + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2)
    return 2 * 6371.0088 * math.asin(math.sqrt(a))


def id_ok(v: str) -> bool:
    """GB 11643-1999 check, written independently of queries.validation."""
    if len(v) != 18 or not v[:17].isdigit():
        return False
    w = [2 ** (17 - i) % 11 for i in range(17)]
    s = sum(int(c) * k for c, k in zip(v[:17], w, strict=True))
    dt.date(int(v[6:10]), int(v[10:12]), int(v[12:14]))  # a real birth date
    return "10X98765432"[s % 11] == v[17]


def credit_ok(v: str) -> bool:
    """GB 32100-2015 check, written independently of queries.validation."""
    chars = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    if len(v) != 18 or any(c not in chars for c in v):
        return False
    w = [3 ** i % 31 for i in range(17)]
    s = sum(chars.index(c) * k for c, k in zip(v[:17], w, strict=True))
    return chars[(31 - s % 31) % 31] == v[17]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, str]]]:
    """The scale-1 Hefei data set, read back from its files."""
    out = tmp_path_factory.mktemp("demo")
    files = generate_demo(out, seed=7, today=TODAY)
    assert [k for k, _ in files] == list(IMPORT_ORDER)
    return {k: read(p) for k, p in files}


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path) -> None:
    a = generate_demo(tmp_path / "a", scale=0.1, seed=1, today=TODAY)
    b = generate_demo(tmp_path / "b", scale=0.1, seed=1, today=TODAY)
    c = generate_demo(tmp_path / "c", scale=0.1, seed=2, today=TODAY)
    for (ka, pa), (kb, pb) in zip(a, b, strict=True):
        assert ka == kb and pa.read_bytes() == pb.read_bytes(), ka
    differs = [k for (k, pa), (_, pc) in zip(a, c, strict=True)
               if pa.read_bytes() != pc.read_bytes()]
    # Regions are the official tree plus code-seeded communities: stable across seeds.
    assert set(differs) == set(IMPORT_ORDER) - {"regions"}


def test_every_kind_has_its_canonical_header(tmp_path: Path) -> None:
    files = generate_demo(tmp_path, scale=0.02, today=TODAY)
    assert sorted(k for k, _ in files) == sorted(KINDS)
    for kind, path in files:
        with open(path, encoding="utf-8", newline="") as f:
            assert tuple(next(csv.reader(f))) == HEADERS[kind]
    assert HEADERS["persons"][:2] == ("person_id", "community_code")


def test_real_hefei_divisions(demo: dict) -> None:
    regions = demo["regions"]
    by_level = Counter(r["level"] for r in regions)
    assert by_level["city"] == 1 and by_level["county"] == 9
    assert by_level["township"] == 131  # MCA 2025-12-31 data for Hefei
    counties = {r["name"] for r in regions if r["level"] == "county"}
    assert counties == set(HEFEI_COUNTIES)
    codes = {r["code"]: r for r in regions}
    assert codes["340102001000"]["name"] == "明光路街道"
    assert codes["340102001000"]["parent_code"] == "340102000000"
    assert codes["340100000000"]["parent_code"] == ""
    assert all(len(c) == 12 and c.isdigit() for c in codes)
    # parents come before their children
    seen: set[str] = set()
    for r in regions:
        assert r["parent_code"] == "" or r["parent_code"] in seen, r
        seen.add(r["code"])


def test_communities_follow_the_statistical_convention(demo: dict) -> None:
    regions = demo["regions"]
    towns = {r["code"]: r for r in regions if r["level"] == "township"}
    comms = [r for r in regions if r["level"] == "community"]
    assert 1000 < len(comms) < 2000
    per_town = Counter(c["parent_code"] for c in comms)
    assert set(per_town) == set(towns)
    assert all(6 <= n <= 15 for n in per_town.values())
    for c in comms:
        town = towns[c["parent_code"]]
        assert c["code"][:9] == town["code"][:9]
        suffix = int(c["code"][9:])
        if c["name"].endswith("社区"):
            assert 1 <= suffix <= 199, c
        else:
            assert c["name"].endswith("村") and 200 <= suffix <= 399, c
        d = km(float(c["lat"]), float(c["lon"]), float(town["lat"]), float(town["lon"]))
        assert d <= 5.0, c
        assert int(c["population"]) > 0
    streets = [t for t in towns.values() if t["name"].endswith("街道")]
    st_comms = [c for c in comms if towns[c["parent_code"]]["name"].endswith("街道")]
    assert streets and sum(c["name"].endswith("社区") for c in st_comms) > 0.8 * len(st_comms)
    town_comms = [c for c in comms if towns[c["parent_code"]]["name"].endswith(("镇", "乡"))]
    assert sum(c["name"].endswith("村") for c in town_comms) > 0.7 * len(town_comms)
    # the city's population is the sum of its communities
    city = next(r for r in regions if r["level"] == "city")
    assert int(city["population"]) == sum(int(c["population"]) for c in comms)


def test_volumes_at_scale_one(demo: dict) -> None:
    n = {k: len(v) for k, v in demo.items()}
    assert 45_000 <= n["persons"] <= 55_000
    assert 10_000 <= n["households"] <= 15_000
    assert 2_000 <= n["employers"] <= 3_000
    assert 7_000 <= n["vacancies"] <= 9_000
    assert 27_000 <= n["placements"] <= 33_000
    assert 54_000 <= n["assistance"] <= 66_000


def test_nothing_after_today(demo: dict) -> None:
    iso = TODAY.isoformat()
    checks = {
        "persons": ("registered_on",),
        "households": ("zero_identified_on", "zero_cleared_on"),
        "vacancies": ("posted_on", "closed_on"),
        "placements": ("placed_at",),
        "assistance": ("served_on",),
        "employers": ("registered_on",),
        "trainings": ("started_on", "completed_on"),
        "interviews": ("held_at",),
        "loans": ("granted_on",),
        "surveys": ("answered_on",),
    }
    for kind, cols in checks.items():
        for row in demo[kind]:
            for col in cols:
                assert row.get(col, "")[:10] <= iso, (kind, row)
    first = min(r["placed_at"] for r in demo["placements"])
    assert first[:10] >= (TODAY - dt.timedelta(days=730)).isoformat()
    assert max(r["placed_at"] for r in demo["placements"])[:10] == iso
    assert {int(r["year"]) for r in demo["targets"]} == {TODAY.year - 1, TODAY.year}


def test_placements_are_seasonal(demo: dict) -> None:
    months = Counter(r["placed_at"][:7] for r in demo["placements"])
    for year in (2025, 2026):
        feb, apr = months[f"{year}-02"], months[f"{year}-04"]
        assert feb < 0.7 * apr, (year, feb, apr)
        assert months[f"{year}-07"] > months[f"{year}-06"]  # graduates
    assert all("T" in r["placed_at"] for r in demo["placements"])


def test_every_enum_value_is_present(demo: dict) -> None:
    assert {r["type"] for r in demo["vacancies"]} == set(VACANCY_TYPES)
    types = Counter(r["type"] for r in demo["vacancies"])
    assert types.most_common(1)[0][0] == "full_time"
    assert {r["form"] for r in demo["placements"]} == set(PLACEMENT_FORMS)
    assert {r["kind"] for r in demo["assistance"]} == set(ASSISTANCE_KINDS)
    persons = demo["persons"]
    groups = Counter(g for p in persons for g in p["key_groups"].split(";") if g)
    assert set(groups) == set(KEY_GROUPS)
    n = len(persons)
    assert 0.06 < groups["registered_unemployed"] / n < 0.10
    assert 0.03 < groups["difficulty"] / n < 0.06
    assert 0.04 < groups["graduate"] / n < 0.08
    assert any(";" in p["key_groups"] for p in persons)  # several groups at once
    statuses = Counter(p["status"] for p in persons)
    assert set(statuses) == {"employed", "flexible", "unemployed", "inactive"}
    unemployed = [p for p in persons if p["status"] == "unemployed"]
    assert sum(p["seeking_job"] == "true" for p in unemployed) > 0.7 * len(unemployed)
    assert any(p["seeking_job"] == "true" for p in persons if p["status"] == "employed")


def test_vacancies_are_plausible(demo: dict) -> None:
    vac = demo["vacancies"]
    iso = TODAY.isoformat()
    open_now = [v for v in vac if v["closed_on"] == "" or v["closed_on"] > iso]
    assert 0.25 < len(open_now) / len(vac) < 0.45
    assert any(v["closed_on"] == iso for v in vac)
    for v in vac:
        assert int(v["headcount"]) >= 1
        assert v["closed_on"] == "" or v["closed_on"] >= v["posted_on"]
        if v["salary_min"]:
            assert 2500 <= int(v["salary_min"]) <= int(v["salary_max"]) <= 15000
    industries = {v["industry"] for v in vac}
    assert {"制造业", "批发和零售业", "住宿和餐饮业", "家政服务"} <= industries
    titles = {v["title"] for v in vac}
    assert {"普工", "收银员", "外卖骑手", "软件测试"} <= titles


def test_placements_mostly_near_home(demo: dict) -> None:
    comms = {r["code"]: r for r in demo["regions"] if r["level"] == "community"}
    vac = {v["vacancy_id"]: v for v in demo["vacancies"]}
    persons = {p["person_id"]: p["community_code"] for p in demo["persons"]}
    near = known = 0
    for p in demo["placements"]:
        assert persons[p["person_id"]] == p["community_code"]
        if not p["vacancy_id"]:
            continue
        v = vac[p["vacancy_id"]]
        assert v["posted_on"] <= p["placed_at"][:10]
        c = comms[p["community_code"]]
        known += 1
        near += km(float(c["lat"]), float(c["lon"]), float(v["lat"]), float(v["lon"])) <= 3.0
    assert known > 0.7 * len(demo["placements"])
    assert 0.4 < near / known < 0.9


def test_zero_households_mostly_cleared_within_30_days(demo: dict) -> None:
    zero = [h for h in demo["households"] if h["zero_identified_on"]]
    assert 150 <= len(zero) <= 600
    days = [
        (dt.date.fromisoformat(h["zero_cleared_on"]) - dt.date.fromisoformat(
            h["zero_identified_on"])).days
        for h in zero if h["zero_cleared_on"]
    ]
    assert all(d >= 0 for d in days)
    assert sum(d <= 30 for d in days) > 0.8 * len(zero)
    overdue = [
        h for h in zero
        if not h["zero_cleared_on"]
        and (TODAY - dt.date.fromisoformat(h["zero_identified_on"])).days > 30
    ]
    assert 1 <= len(overdue) <= 0.1 * len(zero)


def test_codes_pass_their_checksums(demo: dict) -> None:
    ids = [p["id_number"] for p in demo["persons"] if p["id_number"]]
    assert 0.4 < len(ids) / len(demo["persons"]) < 0.6
    assert all(id_ok(v) for v in ids)
    assert len(set(ids)) == len(ids)
    codes = [e["credit_code"] for e in demo["employers"]]
    assert codes and all(credit_ok(v) for v in codes)
    names = [e["name"] for e in demo["employers"]]
    assert len(set(names)) == len(names)
    # the checks themselves reject a corrupted value
    assert not id_ok(ids[0][:17] + ("0" if ids[0][17] != "0" else "1"))
    assert not credit_ok(codes[0][:17] + ("0" if codes[0][17] != "0" else "1"))


def test_targets_give_plausible_completion(demo: dict) -> None:
    targets = {(t["region_code"], t["metric"], int(t["year"])): float(t["target"])
               for t in demo["targets"]}
    levels = {r["code"]: r["level"] for r in demo["regions"]}
    assert {levels[k[0]] for k in targets} == {"city", "county", "township"}
    year_placements = sum(
        1 for p in demo["placements"] if p["placed_at"][:4] == str(TODAY.year)
    )
    completion = year_placements / targets[("340100000000", "placements.year", TODAY.year)]
    assert 0.55 <= completion <= 1.15
    assert {k[1] for k in targets} == {
        "placements.year", "key_groups.difficulty.placed.year",
        "key_groups.graduate.placed.year", "assistance.year", "circle.coverage",
        "full_employment.rate", "job_fairs.year", "trainings.year", "loans.year",
    }
    assert all(0 < v <= 1 for k, v in targets.items() if k[1] == "circle.coverage")
    # Anhui's 三公里充分就业社区 target: 70 % of communities by 2025.
    assert targets[("340100000000", "full_employment.rate", TODAY.year)] == 0.7
    fairs = sum(1 for f in demo["job_fairs"]
                if f["held_on"][:4] == str(TODAY.year) and f["held_on"] <= TODAY.isoformat())
    assert 0.55 <= fairs / targets[("340100000000", "job_fairs.year", TODAY.year)] <= 1.15


def test_jsonl_format(tmp_path: Path) -> None:
    files = generate_demo(tmp_path, scale=0.02, today=TODAY, fmt="jsonl")
    kind, path = files[2]
    assert kind == "persons" and path.suffix == ".jsonl"
    rec = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
    assert list(rec) == list(HEADERS["persons"])
    assert isinstance(rec["seeking_job"], bool)


def test_province_tree() -> None:
    tree = official_tree("340000000000")
    levels = Counter(r.level for r in tree)
    assert levels == {"province": 1, "city": 16, "county": 104, "township": 1522}
    assert tree[0].parent_code is None and to12("3401") == "340100000000"
    for r in tree:
        assert 29.0 < r.lat < 34.7 and 114.8 < r.lon < 119.7, r


def test_province_scale_down(tmp_path: Path) -> None:
    files = dict(generate_demo(tmp_path, root="340000000000", scale=0.01, today=TODAY))
    persons = read(files["persons"])
    cities = {p["community_code"][:4] for p in persons}
    assert len(cities) == 16


def test_load_demo_imports_with_zero_rejects(engine, tmp_path: Path) -> None:  # noqa: ANN001
    pytest.importorskip("queries.importer", reason="queries.importer not there yet")
    from sqlalchemy import func, select

    from queries.models import Person, Placement, Region

    results = load_demo(engine, scale=0.05, seed=3, today=TODAY, work_dir=tmp_path)
    assert [r.kind for r in results] == list(IMPORT_ORDER)
    assert all(r.rejected == 0 and r.error is None and r.imported == r.read for r in results)
    by_kind = {r.kind: r.imported for r in results}
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Region)) == by_kind["regions"]
        assert conn.scalar(select(func.count()).select_from(Person)) == by_kind["persons"]
        assert conn.scalar(select(func.count()).select_from(Placement)) == by_kind["placements"]
        assert conn.scalar(select(func.count()).where(Person.id_hash.is_not(None))) > 0


def test_job_fairs_have_the_spring_peak_and_livestreams(demo: dict) -> None:
    fairs = demo["job_fairs"]
    iso = TODAY.isoformat()
    months = Counter(f["held_on"][:7] for f in fairs if f["held_on"] <= iso)
    # 春风行动: February and March well above the other months of 2026 so far.
    spring = (months["2026-02"] + months["2026-03"]) / 2
    rest = [months[f"2026-{m:02d}"] for m in range(4, 11)]
    assert spring > 1.5 * sum(rest) / len(rest), months
    # Every county organises fairs of its own; some belong to the city, township, village.
    levels = {r["code"]: r["level"] for r in demo["regions"]}
    by_level = Counter(levels[f["region_code"]] for f in fairs)
    assert set(by_level) == {"city", "county", "township", "community"}
    names = {r["code"]: r["name"] for r in demo["regions"]}
    assert {names[f["region_code"]] for f in fairs
            if levels[f["region_code"]] == "county"} == set(HEFEI_COUNTIES)
    live = [int(f["views"]) for f in fairs if f["mode"] == "livestream" and f["views"]]
    assert live and max(live) > 300_000 and sorted(live)[len(live) // 2] > 20_000
    assert all(f["views"] == "" for f in fairs if f["mode"] != "livestream")
    assert {f["mode"] for f in fairs} == {"onsite", "online", "livestream"}
    # Announced fairs (the upcoming list) have no turnout yet.
    ahead = [f for f in fairs if f["held_on"] > iso]
    assert ahead and all(f["visitors"] == f["intentions"] == f["views"] == "" for f in ahead)
    assert max(f["held_on"] for f in ahead) <= (TODAY + dt.timedelta(days=45)).isoformat()
    for f in fairs:
        assert int(f["posts"]) >= int(f["employers"]) > 0


def test_trainings_complete_and_certify_after_they_start(demo: dict) -> None:
    tr = demo["trainings"]
    assert {t["kind"] for t in tr} == {"skills", "entrepreneurship", "platform", "other"}
    for t in tr:
        assert t["completed_on"] == "" or t["completed_on"] >= t["started_on"], t
        assert t["certified"] == "" or t["completed_on"] != "", t
    recent = [t for t in tr if t["started_on"] > (TODAY - dt.timedelta(days=30)).isoformat()]
    older = [t for t in tr if t["started_on"] < (TODAY - dt.timedelta(days=90)).isoformat()]

    def done(ts: list[dict[str, str]]) -> float:
        return sum(t["completed_on"] != "" for t in ts) / len(ts)

    assert done(recent) < 0.5 < 0.8 < done(older)
    assert 0.15 < sum(t["mode"] == "remote" for t in tr) / len(tr) < 0.45


def test_interviews_loans_and_surveys_are_plausible(demo: dict) -> None:
    iv = demo["interviews"]
    assert 0.2 < sum(i["mode"] == "remote" for i in iv) / len(iv) < 0.45
    assert {i["outcome"] for i in iv} == {"offer", "no_offer", "pending", ""}
    vacancies = {v["vacancy_id"] for v in demo["vacancies"]}
    assert all(i["vacancy_id"] in vacancies for i in iv if i["vacancy_id"])
    amounts = sorted(float(x["amount"]) for x in demo["loans"])
    assert 50_000 <= amounts[0] and amounts[-1] <= 500_000
    assert 100_000 <= amounts[len(amounts) // 2] <= 200_000
    assert any(a > 300_000 for a in amounts)
    scores = Counter(int(s["score"]) for s in demo["surveys"])
    assert set(scores) == {1, 2, 3, 4, 5}
    assert (scores[4] + scores[5]) / sum(scores.values()) > 0.75


def test_unemployment_dates_and_rate(demo: dict) -> None:
    persons = demo["persons"]
    iso = TODAY.isoformat()
    since = [p["unemployed_since"] for p in persons if p["unemployed_since"]]
    assert all(p["status"] == "unemployed" for p in persons if p["unemployed_since"])
    assert all(d < iso for d in since)
    long_ago = (TODAY - dt.timedelta(days=180)).isoformat()
    assert 0 < sum(d < long_ago for d in since) < 0.5 * len(since)
    status = Counter(p["status"] for p in persons)
    rate = status["unemployed"] / (status["unemployed"] + status["employed"] + status["flexible"])
    assert 0.02 < rate < 0.10, status
    joined = [e["registered_on"] for e in demo["employers"]]
    assert all(joined) and any(d[:4] == str(TODAY.year) for d in joined)


def test_employer_names_stay_unique_past_the_name_space(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More employers than city × brand × trade names (scale 40 hung drawing them)."""
    import demo.generator as gen

    # Two brand characters: 4 brands × a few trade words × 2 suffixes per city, far fewer
    # names than the employers of a 0.1 scale Hefei (≈ 250).
    monkeypatch.setattr(gen, "BRAND", "恒瑞")
    files = dict(generate_demo(tmp_path, scale=0.1, seed=3, today=TODAY))
    with open(files["employers"], encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    names = [r["name"] for r in rows]
    assert len(rows) > 100
    assert len(set(names)) == len(names)
    assert any("分公司" in n for n in names)
