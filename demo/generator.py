"""Realistic synthetic demo data (SPEC section 1 `demo-data`), written as exchange files.

The official tree under the root (real names and MCA codes) comes from `demo.divisions`;
communities, people, households, employers, vacancies, placements, assistance and yearly
targets are generated with fixed densities per community, so `--root 340000000000` gives the
whole province at the same density and `scale` multiplies every volume except regions.

Output is deterministic: the same (root, scale, seed, today) gives byte-identical files.
Files are written row by row; only compact per-entity arrays are kept in memory.
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import itertools
import json
import math
import random
import tempfile
from array import array
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from demo.divisions import (
    Community,
    Region,
    communities_of,
    official_tree,
    offset_point,
    to12,
)
from queries.domain import KEY_GROUPS
from queries.importer import COLUMNS
from queries.safe_cells import safe_cell
from queries.validation import make_credit_code, make_id_number

# Import order (references point to earlier files).
IMPORT_ORDER: tuple[str, ...] = (
    "regions",
    "households",
    "persons",
    "employers",
    "vacancies",
    "placements",
    "assistance",
    "job_fairs",
    "trainings",
    "interviews",
    "loans",
    "surveys",
    "targets",
)
# The canonical exchange columns, exactly as the importer reads them.
HEADERS: dict[str, tuple[str, ...]] = COLUMNS
TARGET_METRICS: tuple[str, ...] = (
    "placements.year",
    "key_groups.difficulty.placed.year",
    "key_groups.graduate.placed.year",
    "assistance.year",
    "circle.coverage",
)

# ------------------------------------------------------------------ densities (scale 1)
# Calibrated on Hefei (1,362 generated communities, ~7.3 M residents) to give ~50,000
# registered persons; every other volume is per registered person.
PERSONS_PER_RESIDENT = 0.0068
EMPLOYERS_PER_PERSON = 0.05
VACANCIES_PER_PERSON = 0.16
PLACEMENTS_PER_PERSON = 0.60
ASSISTANCE_PER_PERSON = 1.20
ZERO_HOUSEHOLD_SHARE = 0.025
NO_HOUSEHOLD_SHARE = 0.10
HOUSEHOLD_SIZES = ((1, 5), (2, 13), (3, 24), (4, 28), (5, 18), (6, 12))
DAYS = 730

# SPEC 6.1 services (per registered person over the two years, unless noted).
TRAININGS_PER_PERSON = 0.12
INTERVIEWS_PER_PERSON = 0.25
LOANS_PER_PERSON = 0.004
SURVEYS_PER_PERSON = 0.20
# Job fairs per region per month, by the level of the organiser; never fewer than a fifth
# of these however small the scale (a county holds its fairs whatever the sample size).
FAIRS_PER_MONTH = {"province": 1.0, "city": 1.5, "county": 3.0, "township": 0.4,
                   "community": 0.02}
FAIR_SIZE = {"province": (300, 900), "city": (150, 600), "county": (40, 250),
             "township": (10, 60), "community": (3, 20)}
FAIR_AHEAD_DAYS = 45  # fairs already announced: the upcoming list (SPEC 6.3)
# 春风行动 (Feb–Mar), graduates' season (May–Jul), 金秋招聘月 (Sep).
FAIR_MONTH_WEIGHT = (0.7, 2.2, 2.4, 1.1, 1.1, 1.2, 1.0, 0.8, 1.2, 0.8, 0.9, 0.6)
TRAINING_KIND_WEIGHTS = (("skills", 60), ("entrepreneurship", 15), ("platform", 15),
                         ("other", 10))
TRAINING_DAYS = {"skills": (10, 60), "entrepreneurship": (5, 15), "platform": (3, 10),
                 "other": (2, 20)}
SURVEY_SERVICE_WEIGHTS = (("registration", 20), ("referral", 25), ("guidance", 20),
                          ("training", 15), ("job_fair", 15), ("other", 5))
SURVEY_CHANNEL_WEIGHTS = (("onsite", 50), ("phone", 30), ("online", 20))
SCORE_WEIGHTS = {"good": ((5, 60), (4, 28), (3, 8), (2, 2), (1, 2)),
                 "fair": ((5, 35), (4, 35), (3, 18), (2, 7), (1, 5))}
LOAN_AMOUNTS = (50000, 80000, 100000, 100000, 150000, 150000, 200000, 200000, 300000)
# Share of communities that are made to miss each 充分就业社区 criterion (the rest are
# generated to meet it; overdue zero households come from the household data itself).
FAIL_EMPLOYMENT = 0.15
FAIL_LONG_TERM = 0.12
FAIL_ASSISTANCE = 0.08
# 三公里充分就业社区 share targets of Anhui (40 % in 2023, 70 % by 2025).
FULL_EMPLOYMENT_TARGET = {2023: 0.4, 2024: 0.55}
SERVICE_TARGET_METRICS = ("job_fairs.year", "trainings.year", "loans.year")

# Spring Festival dates (placements and services dip around them).
SPRING_FESTIVAL: dict[int, dt.date] = {
    2019: dt.date(2019, 2, 5), 2020: dt.date(2020, 1, 25), 2021: dt.date(2021, 2, 12),
    2022: dt.date(2022, 2, 1), 2023: dt.date(2023, 1, 22), 2024: dt.date(2024, 2, 10),
    2025: dt.date(2025, 1, 29), 2026: dt.date(2026, 2, 17), 2027: dt.date(2027, 2, 6),
    2028: dt.date(2028, 1, 26), 2029: dt.date(2029, 2, 13), 2030: dt.date(2030, 2, 3),
    2031: dt.date(2031, 1, 23), 2032: dt.date(2032, 2, 11), 2033: dt.date(2033, 1, 31),
    2034: dt.date(2034, 2, 19), 2035: dt.date(2035, 2, 8),
}
# Placements per month relative to an average month: Spring-Festival lull, 春风行动 peak in
# March-April, graduates in July.
PLACEMENT_MONTH_WEIGHT = (0.85, 0.7, 1.35, 1.3, 1.05, 1.0, 1.25, 1.0, 1.05, 0.85, 0.95, 0.9)
SERVICE_MONTH_WEIGHT = (0.9, 0.75, 1.3, 1.2, 1.0, 1.0, 1.1, 1.0, 1.05, 0.85, 1.0, 0.95)
VACANCY_MONTH_WEIGHT = (0.9, 1.1, 1.4, 1.2, 1.0, 0.95, 1.0, 0.95, 1.05, 0.85, 0.9, 0.8)

STATUS_WEIGHTS = (("employed", 55), ("flexible", 15), ("unemployed", 15), ("inactive", 15))
SEEKING_SHARE = {"employed": 0.08, "flexible": 0.25, "unemployed": 0.85, "inactive": 0.03}
EDUCATION = (("初中及以下", 30), ("高中", 18), ("中专", 12), ("大专", 20), ("本科", 17),
             ("硕士及以上", 3))

VACANCY_TYPE_WEIGHTS = (("full_time", 55), ("flexible", 18), ("public_welfare", 10),
                        ("shared", 7), ("internship", 5), ("traineeship", 5))
TYPE_FORM = {"full_time": "employer", "shared": "employer", "flexible": "flexible",
             "public_welfare": "public_welfare", "internship": "traineeship",
             "traineeship": "traineeship"}
ASSISTANCE_WEIGHTS = (("guidance", 35), ("referral", 22), ("training", 12),
                      ("public_welfare_post", 5), ("subsidy", 10), ("visit", 16))

# industry -> (weight, employer name words, [(title, salary low, salary high)])
INDUSTRIES: dict[str, tuple[int, tuple[str, ...], tuple[tuple[str, int, int], ...]]] = {
    "制造业": (24, ("机械制造", "电子科技", "新材料", "汽车零部件", "家电", "塑胶制品"), (
        ("普工", 4000, 6500), ("电工", 5000, 8000), ("焊工", 5500, 9000),
        ("数控车床操作工", 5500, 9000), ("质检员", 4200, 6500), ("仓库管理员", 4000, 6000),
        ("机修工", 5000, 8500), ("包装工", 3800, 5500))),
    "批发和零售业": (14, ("商贸", "超市", "百货", "贸易"), (
        ("收银员", 3000, 4500), ("理货员", 3200, 4800), ("导购员", 3500, 6500),
        ("门店店长", 5500, 9000), ("销售代表", 4000, 9000))),
    "住宿和餐饮业": (12, ("餐饮管理", "酒店管理", "食品"), (
        ("厨师", 5000, 9000), ("服务员", 3200, 4800), ("前台接待", 3500, 5000),
        ("面点师", 4500, 7000), ("配菜员", 3500, 5000))),
    "居民服务业": (9, ("物业服务", "保洁服务", "便民服务"), (
        ("保洁员", 2500, 3500), ("保安员", 3000, 4500), ("物业管理员", 3800, 5500),
        ("家电维修工", 4500, 7500))),
    "建筑业": (8, ("建筑工程", "建设工程", "装饰工程"), (
        ("钢筋工", 6000, 10000), ("木工", 6000, 10000), ("施工员", 5000, 8000),
        ("安全员", 4500, 7000), ("水电工", 5500, 9000))),
    "信息技术": (8, ("信息技术", "网络科技", "软件"), (
        ("软件测试", 6000, 12000), ("前端开发工程师", 8000, 15000),
        ("运维工程师", 7000, 13000), ("客服专员", 3800, 5500), ("数据标注员", 3500, 5000))),
    "物流运输": (10, ("物流", "供应链管理", "运输"), (
        ("外卖骑手", 5000, 9000), ("快递员", 5000, 8500), ("货车司机", 6000, 10000),
        ("分拣员", 3800, 5500), ("仓库管理员", 4000, 6000))),
    "教育培训": (5, ("教育咨询", "培训学校"), (
        ("课程顾问", 4000, 8000), ("托管老师", 3500, 5500), ("助教", 3200, 4800))),
    "医疗卫生": (5, ("医药连锁", "门诊部", "健康管理"), (
        ("护士", 4500, 7500), ("护工", 3800, 5500), ("药店店员", 3500, 5000),
        ("康复理疗师", 5000, 8500))),
    "家政服务": (5, ("家政服务", "养老服务"), (
        ("育婴师", 5000, 9000), ("家政服务员", 4000, 7000), ("养老护理员", 4000, 6500),
        ("月嫂", 7000, 13000))),
}
INDUSTRY_NAMES = tuple(INDUSTRIES)
PUBLIC_WELFARE_INDUSTRY = "公共管理和社会组织"
PUBLIC_WELFARE_TITLES = ("社区保洁员", "护林员", "社区协管员", "治安巡逻员", "就业服务专员",
                         "养老助残服务员")
BRAND = "恒瑞鑫华泰盛宏达嘉和信诚隆丰源博安康德晟力创锦联通迅汇中天新金银明科亿昌兴"


NAME_TRIES = 50  # draws of an employer name before it gets a branch number


def today_local(tz: str = "Asia/Shanghai") -> dt.date:
    """The current local date in the service time zone."""
    return dt.datetime.now(ZoneInfo(tz)).date()


def _rng(seed: int, root: str, scale: float, part: str) -> random.Random:
    """An independent, reproducible random stream per generation phase."""
    return random.Random(f"demo:{seed}:{root}:{scale!r}:{part}")


def _stoch_round(rng: random.Random, x: float) -> int:
    """Round x up or down at random so that the expectation is x."""
    base = math.floor(x)
    return base + (1 if rng.random() < x - base else 0)


def _cum(weights: Sequence[tuple[Any, float]]) -> tuple[list[Any], list[float]]:
    vals = [v for v, _ in weights]
    return vals, list(itertools.accumulate(w for _, w in weights))


def _day_weights(
    start: dt.date, n_days: int, month_weight: Sequence[float], weekend: float
) -> list[float]:
    """Cumulative weights per day: month seasonality, Spring Festival lull, weekends."""
    out: list[float] = []
    total = 0.0
    for i in range(n_days):
        d = start + dt.timedelta(days=i)
        w = month_weight[d.month - 1]
        sf = SPRING_FESTIVAL.get(d.year)
        sf_next = SPRING_FESTIVAL.get(d.year + 1)
        near = [abs((d - s).days) for s in (sf, sf_next) if s is not None]
        if near and min(near) <= 10:
            w *= 0.3
        if d.weekday() >= 5:
            w *= weekend
        total += w
        out.append(total)
    return out


_CSV_CELL: dict[type, Callable[[Any], Any]] = {
    type(None): lambda v: "",
    bool: lambda v: "true" if v else "false",
    dt.date: dt.date.isoformat,
    str: safe_cell,  # no formula-like text reaches a spreadsheet (CSV injection)
}


def _pick(rng: random.Random, vals: list[Any], cum: list[float]) -> Any:
    """A weighted choice given cumulative weights (faster than random.choices)."""
    return vals[bisect.bisect_right(cum, rng.random() * cum[-1])]


class _Writer:
    """Row-by-row writer of one exchange file (CSV or JSON Lines)."""

    def __init__(self, stream: TextIO, kind: str, fmt: str) -> None:
        self.stream = stream
        self.fmt = fmt
        self.header = HEADERS[kind]
        self.rows = 0
        if fmt == "csv":
            self.csv = csv.writer(stream, lineterminator="\n")
            self.csv.writerow(self.header)

    def row(self, values: Sequence[Any]) -> None:
        """Write one record (values in header order; None = empty)."""
        self.rows += 1
        if self.fmt == "csv":
            conv = _CSV_CELL
            self.csv.writerow([
                c(v) if (c := conv.get(v.__class__)) is not None else v for v in values
            ])
        else:
            rec = {
                k: (v.isoformat() if isinstance(v, dt.date) else v)
                for k, v in zip(self.header, values, strict=True)
            }
            self.stream.write(json.dumps(rec, ensure_ascii=False) + "\n")


class _Tree:
    """Regions under the root with their generated communities, indexed for generation."""

    def __init__(self, root: str) -> None:
        self.official: list[Region] = official_tree(root)
        self.by_code = {r.code: r for r in self.official}
        self.townships = [r for r in self.official if r.level == "township"]
        if not self.townships:
            raise ValueError(f"root {root} has no townships under it")
        self.communities: list[Community] = []
        self.comm_township: list[int] = []
        for ti, t in enumerate(self.townships):
            for c in communities_of(t):
                self.communities.append(c)
                self.comm_township.append(ti)
        # county (or the nearest ancestor above township) of each township
        self.town_county: list[str] = [t.parent_code or t.code for t in self.townships]
        self.ancestors: dict[str, list[str]] = {}
        for r in self.official:
            chain = [r.code]
            p = r.parent_code
            while p is not None:
                chain.append(p)
                p = self.by_code[p].parent_code
            self.ancestors[r.code] = chain
        # city short name for employer names
        self.town_city: list[str] = []
        for t in self.townships:
            chain = [self.by_code[c] for c in self.ancestors[t.code]]
            city = next((r for r in chain if r.level == "city"), chain[-1])
            self.town_city.append(city.name.removesuffix("市").removesuffix("省"))
        self.comm_by_town: dict[int, list[int]] = defaultdict(list)
        for ci, ti in enumerate(self.comm_township):
            self.comm_by_town[ti].append(ci)

    def region_rows(self) -> Iterator[list[Any]]:
        """Regions file rows: root first, then every level, then communities."""
        pop: Counter[str] = Counter()
        for c, ti in zip(self.communities, self.comm_township, strict=True):
            for code in self.ancestors[self.townships[ti].code]:
                pop[code] += c.population
        for r in self.official:
            yield [r.code, r.name, r.level, r.parent_code, r.lat, r.lon, pop[r.code]]
        for c in self.communities:
            yield [c.code, c.name, "community", c.township_code, c.lat, c.lon, c.population]


def _person_id(i: int) -> str:
    return f"P{i:09d}"


def generate_demo(
    out_dir: str | Path,
    *,
    root: str = "340100000000",
    scale: float = 1.0,
    seed: int = 0,
    today: dt.date | None = None,
    fmt: str = "csv",
) -> list[tuple[str, Path]]:
    """Write one exchange file per KIND into out_dir; returns (kind, path) in import order."""
    if fmt not in ("csv", "jsonl"):
        raise ValueError("fmt must be 'csv' or 'jsonl'")
    if scale <= 0:
        raise ValueError("scale must be positive")
    today = today or today_local()
    root = to12(root)
    scale = float(scale)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tree = _Tree(root)
    paths = {k: out / f"{k}.{fmt}" for k in IMPORT_ORDER}
    gen = _Generator(tree, scale=scale, seed=seed, root=root, today=today)
    with ExitStack() as stack:

        def writer(kind: str) -> _Writer:
            f = stack.enter_context(open(paths[kind], "w", encoding="utf-8", newline=""))
            return _Writer(f, kind, fmt)

        w = writer("regions")
        for row in tree.region_rows():
            w.row(row)
        gen.people(writer("households"), stack.enter_context(tempfile.TemporaryFile(
            "w+", encoding="utf-8")))
        gen.employers(writer("employers"))
        gen.vacancies(writer("vacancies"))
        gen.placements(writer("placements"))
        gen.assistance(writer("assistance"))
        gen.persons(writer("persons"))
        gen.job_fairs(writer("job_fairs"))
        gen.trainings(writer("trainings"))
        gen.interviews(writer("interviews"))
        gen.loans(writer("loans"))
        gen.surveys(writer("surveys"))
        tw = writer("targets")
        gen.targets(tw)
        gen.service_targets(tw)
    return [(k, paths[k]) for k in IMPORT_ORDER]


class _Generator:
    """Generation state: compact arrays of persons, employers and vacancies."""

    def __init__(self, tree: _Tree, *, scale: float, seed: int, root: str, today: dt.date):
        self.tree = tree
        self.scale = scale
        self.seed = seed
        self.root = root
        self.today = today
        self.start = today - dt.timedelta(days=DAYS - 1)
        # persons
        self.p_comm = array("i")
        self.p_status = array("b")
        self.p_groups = array("B")
        self.pool_working = array("i")
        self.pool_unemployed = array("i")
        self.pool_seeking = array("i")
        self.pool_key = array("i")
        self.pool_graduate = array("i")
        self.clear_events: list[tuple[dt.date, int]] = []  # (cleared_on, person)
        self.zero_visits: list[tuple[dt.date, int]] = []  # (identified_on, person)
        # employers
        self.e_comm: list[int] = []
        self.e_lat: list[float] = []
        self.e_lon: list[float] = []
        self.e_industry: list[str] = []
        # vacancies
        self.v_comm = array("i")
        self.v_lat = array("d")
        self.v_lon = array("d")
        self.v_posted = array("i")
        self.v_closed = array("i")  # ordinal, 0 = still open
        self.v_type: list[str] = []
        self.v_by_town_month: dict[tuple[int, int], list[int]] = defaultdict(list)
        self.v_by_county_month: dict[tuple[str, int], list[int]] = defaultdict(list)
        # statistics for targets: (township index, year) -> n
        self.placed_counts: Counter[tuple[int, int]] = Counter()
        self.placed_groups: dict[str, set[tuple[int, int]]] = {
            "difficulty": set(), "graduate": set()
        }
        self.assist_counts: Counter[tuple[int, int]] = Counter()

    def rng(self, part: str) -> random.Random:
        """The random stream of one phase."""
        return _rng(self.seed, self.root, self.scale, part)

    # -------------------------------------------------------------- households, persons
    def people(self, hw: _Writer, pw: TextIO) -> None:
        """Households and their members, community by community.

        Person rows go to a scratch file (JSON lines, with whether the person is in an
        outstanding zero household and its identification date): `persons` writes the
        file once the year's assistance is known (labour status and unemployed_since).
        """
        rng = self.rng("people")
        tree = self.tree
        statuses, status_cum = _cum(STATUS_WEIGHTS)
        edus, edu_cum = _cum(EDUCATION)
        sizes, size_cum = _cum(HOUSEHOLD_SIZES)
        status_code = {s: i for i, s in enumerate(statuses)}
        group_bit = {g: 1 << i for i, g in enumerate(KEY_GROUPS)}
        seen_ids: set[str] = set()
        pid = 0
        hid = 0
        year = self.today.year
        reg_span = (self.today - dt.date(year - 6, 1, 1)).days
        for ci, comm in enumerate(tree.communities):
            county6 = comm.code[:6]
            n = _stoch_round(rng, comm.population * PERSONS_PER_RESIDENT * self.scale)
            remaining = n
            while remaining > 0:
                if rng.random() < NO_HOUSEHOLD_SHARE:
                    size, household = 1, None
                else:
                    size = min(remaining, _pick(rng, sizes, size_cum))
                    hid += 1
                    household = f"H{hid:09d}"
                remaining -= size
                zero: tuple[dt.date, dt.date | None] | None = None
                if household is not None and rng.random() < ZERO_HOUSEHOLD_SHARE:
                    zero = self._zero_dates(rng)
                    hw.row([household, comm.code, zero[0], zero[1]])
                elif household is not None:
                    hw.row([household, comm.code, None, None])
                for m in range(size):
                    status = _pick(rng, statuses, status_cum)
                    if zero is not None:
                        # Nobody works in a zero household; once cleared, one member does.
                        if m == 0 and zero[1] is not None:
                            status = "employed" if rng.random() < 0.7 else "flexible"
                            self.clear_events.append((zero[1], pid))
                        else:
                            status = "unemployed" if rng.random() < 0.6 else "inactive"
                        if m == 0:
                            self.zero_visits.append((zero[0], pid))
                    seeking = rng.random() < SEEKING_SHARE[status]
                    if zero is not None and m == 0 and zero[1] is None:
                        seeking = True
                    birth = year - rng.randint(18, 59)
                    if rng.random() < 0.15:
                        birth = year - rng.randint(21, 25)  # young adults: graduates
                    groups = self._groups(rng, status, birth, comm.village, zero is not None)
                    gender = "M" if rng.random() < 0.52 else "F"
                    if birth >= year - 24 and rng.random() < 0.5:
                        education = "本科" if rng.random() < 0.6 else "大专"
                    else:
                        education = _pick(rng, edus, edu_cum)
                    idn = None
                    if rng.random() < 0.5:
                        bdate = dt.date(birth, 1, 1) + dt.timedelta(days=rng.randrange(365))
                        while True:
                            seq = rng.randrange(500) * 2 + (1 if gender == "M" else 0)
                            idn = make_id_number(county6, bdate, seq)
                            if idn not in seen_ids:
                                seen_ids.add(idn)
                                break
                    registered = dt.date(year - 6, 1, 1) + dt.timedelta(
                        days=rng.randrange(reg_span + 1)
                    )
                    outstanding = zero is not None and zero[1] is None
                    pw.write(json.dumps([
                        _person_id(pid), comm.code, idn, gender, birth, education, status,
                        seeking, ";".join(g for g in KEY_GROUPS if g in groups) or None,
                        registered.isoformat(), household,
                        zero[0].isoformat() if outstanding and zero else None,
                        "difficulty" in groups, pid,
                    ], ensure_ascii=False) + "\n")
                    self.p_comm.append(ci)
                    self.p_status.append(status_code[status])
                    mask = 0
                    for g in groups:
                        mask |= group_bit[g]
                    self.p_groups.append(mask)
                    if status in ("employed", "flexible"):
                        self.pool_working.append(pid)
                    elif status == "unemployed":
                        self.pool_unemployed.append(pid)
                    if seeking:
                        self.pool_seeking.append(pid)
                    if groups - {"graduate"}:
                        self.pool_key.append(pid)
                    if "graduate" in groups:
                        self.pool_graduate.append(pid)
                    pid += 1
        self.n_persons = pid
        self.person_scratch = pw

    def _zero_dates(self, rng: random.Random) -> tuple[dt.date, dt.date | None]:
        """Identification and clearing dates of a zero-employment household."""
        identified = self.start + dt.timedelta(days=rng.randrange(DAYS))
        r = rng.random()
        if r < 0.88:
            delay = rng.randint(3, 30)
        elif r < 0.95:
            delay = rng.randint(31, 75)
        else:
            return identified, None  # never cleared so far: overdue once 30 days pass
        cleared = identified + dt.timedelta(days=delay)
        return identified, (cleared if cleared <= self.today else None)

    def _groups(
        self, rng: random.Random, status: str, birth: int, village: bool, zero: bool
    ) -> set[str]:
        """Key groups of one person, in plausible proportions and correlations."""
        year_now = self.today.year
        g: set[str] = set()
        unemployed = status == "unemployed"
        if rng.random() < (0.40 if unemployed else 0.025):
            g.add("registered_unemployed")
        if rng.random() < (0.10 if unemployed else 0.017) or (zero and rng.random() < 0.5):
            g.add("difficulty")
        if year_now - birth <= 25 and rng.random() < 0.2:
            g.add("graduate")
        if rng.random() < (0.07 if village else 0.014):
            g.add("poverty_alleviated")
        if rng.random() < 0.02:
            g.add("veteran")
        if rng.random() < 0.02:
            g.add("disabled")
        if rng.random() < (0.10 if village else 0.03):
            g.add("returnee")
        return g

    # -------------------------------------------------------------- employers
    def employers(self, ew: _Writer) -> None:
        """Employers with valid credit codes, mostly in urban communities."""
        rng = self.rng("employers")
        tree = self.tree
        weights = [
            c.population * (0.4 if c.village else 1.6) for c in tree.communities
        ]
        cum = list(itertools.accumulate(weights))
        n = max(1, round(self.n_persons * EMPLOYERS_PER_PERSON))
        inds, ind_cum = _cum([(k, v[0]) for k, v in INDUSTRIES.items()])
        names: set[str] = set()
        # Its own stream: the joining dates leave every other employer field as it was.
        joined_rng = self.rng("employers_joined")
        for i in range(n):
            ci = bisect.bisect_right(cum, rng.random() * cum[-1])
            ci = min(ci, len(cum) - 1)
            comm = tree.communities[ci]
            industry = _pick(rng, inds, ind_cum)
            city = tree.town_city[tree.comm_township[ci]]
            for _ in range(NAME_TRIES):
                brand = rng.choice(BRAND) + rng.choice(BRAND)
                suffix = "股份有限公司" if rng.random() < 0.05 else "有限公司"
                name = f"{city}{brand}{rng.choice(INDUSTRIES[industry][1])}{suffix}"
                if name not in names:
                    break
            else:
                # A large scale runs out of city × brand × trade names (the loop never
                # ended at scale 40): a numbered branch is unique, as no drawn name has one.
                name = f"{name[:-len(suffix)]}第{len(names) + 1}分公司"
            names.add(name)
            org = "".join(str(rng.randrange(10)) for _ in range(8))
            org += _org_check(org)
            credit = make_credit_code("91" + comm.code[:6] + org)
            lat, lon = _point_near(rng, comm, 0.2, 1.2)
            self.e_comm.append(ci)
            self.e_lat.append(lat)
            self.e_lon.append(lon)
            self.e_industry.append(industry)
            if joined_rng.random() < 0.15:  # 企业入驻: some joined within the last year
                back = joined_rng.randrange(365)
            else:
                back = joined_rng.randrange(365, 8 * 365)
            joined = self.today - dt.timedelta(days=back)
            ew.row([f"E{i:08d}", credit, name, industry, comm.code, joined])

    # -------------------------------------------------------------- vacancies
    def vacancies(self, vw: _Writer) -> None:
        """Postings over two years; about a third still open today."""
        rng = self.rng("vacancies")
        tree = self.tree
        types, type_cum = _cum(VACANCY_TYPE_WEIGHTS)
        day_cum = _day_weights(self.start, DAYS - 10, VACANCY_MONTH_WEIGHT, 0.5)
        n = max(1, round(self.n_persons * VACANCIES_PER_PERSON))
        today_ord = self.today.toordinal()
        for i in range(n):
            vtype = _pick(rng, types, type_cum)
            if vtype == "public_welfare" or rng.random() < 0.03:
                employer = None
                ci = rng.randrange(len(tree.communities))
                comm = tree.communities[ci]
                lat, lon = _point_near(rng, comm, 0.05, 0.6)
                industry = PUBLIC_WELFARE_INDUSTRY if vtype == "public_welfare" else None
            else:
                employer = rng.randrange(len(self.e_comm))
                ci = self.e_comm[employer]
                lat, lon = self.e_lat[employer], self.e_lon[employer]
                if rng.random() < 0.2:  # a branch elsewhere in the same township
                    town = tree.comm_by_town[tree.comm_township[ci]]
                    ci = rng.choice(town)
                    comm = tree.communities[ci]
                    lat, lon = _point_near(rng, comm, 0.1, 1.0)
                industry = self.e_industry[employer]
            comm = tree.communities[ci]
            if vtype == "public_welfare":
                title = rng.choice(PUBLIC_WELFARE_TITLES)
                lo, hi = 2500, 3300
            else:
                ind = industry or rng.choice(INDUSTRY_NAMES)
                title, lo, hi = rng.choice(INDUSTRIES[ind][2])
                if vtype in ("internship", "traineeship"):
                    title = title + ("实习生" if vtype == "internship" else "见习岗")
                    lo, hi = 2500, 4500
            if rng.random() < 0.05:
                smin = smax = None  # 面议
            else:
                smin = round(rng.uniform(lo, (lo + hi) / 2), -2)
                smax = round(rng.uniform(smin + 300, max(hi, smin + 300)), -2)
                smin, smax = int(max(2500, smin)), int(min(15000, max(smin, smax)))
            headcount = {
                "full_time": rng.choice((1, 1, 2, 2, 3, 3, 5, 5, 8, 10, 15, 20, 30)),
                "flexible": rng.randint(1, 10),
                "public_welfare": rng.randint(1, 3),
                "shared": rng.randint(2, 10),
                "internship": rng.randint(1, 5),
                "traineeship": rng.randint(1, 5),
            }[vtype]
            r = rng.random()
            if r < 0.27:  # open now, posted in the last three months
                posted = today_ord - int(rng.triangular(0, 90, 5))
                closed = 0
            elif r < 0.275:  # closing today
                posted = today_ord - rng.randint(7, 90)
                closed = today_ord
            else:
                day = bisect.bisect_right(day_cum, rng.random() * day_cum[-1])
                posted = self.start.toordinal() + min(day, DAYS - 11)
                closed = posted + rng.randint(10, 120)
                if closed >= today_ord:
                    closed = 0
            vid = len(self.v_type)
            self.v_comm.append(ci)
            self.v_lat.append(lat)
            self.v_lon.append(lon)
            self.v_posted.append(posted)
            self.v_closed.append(closed)
            self.v_type.append(vtype)
            ti = tree.comm_township[ci]
            county = tree.town_county[ti]
            m0 = _month_key(dt.date.fromordinal(posted))
            m1 = _month_key(dt.date.fromordinal(closed or today_ord))
            for mk in range(m0, m1 + 1):
                self.v_by_town_month[(ti, mk)].append(vid)
                self.v_by_county_month[(county, mk)].append(vid)
            vw.row([
                f"V{i:09d}", None if employer is None else f"E{employer:08d}", comm.code,
                lat, lon, title, vtype, headcount, smin, smax, industry,
                dt.date.fromordinal(posted), dt.date.fromordinal(closed) if closed else None,
            ])

    def _find_vacancy(self, rng: random.Random, ci: int, day: dt.date) -> int | None:
        """A vacancy active on `day`, usually in the person's township, else the county."""
        tree = self.tree
        ti = tree.comm_township[ci]
        mk = _month_key(day)
        o = day.toordinal()
        r = rng.random()
        if r < 0.75:
            cands = self.v_by_town_month.get((ti, mk), [])
        else:
            cands = self.v_by_county_month.get((tree.town_county[ti], mk), [])
        for _ in range(8 if cands else 0):
            v = rng.choice(cands)
            if self.v_posted[v] <= o and (self.v_closed[v] == 0 or self.v_closed[v] >= o):
                return v
        return None

    # -------------------------------------------------------------- placements
    def placements(self, plw: _Writer) -> None:
        """Placements over two years with seasonality; zero households cleared by one."""
        rng = self.rng("placements")
        tree = self.tree
        n_total = max(1, round(self.n_persons * PLACEMENTS_PER_PERSON))
        n = max(0, n_total - len(self.clear_events))
        day_cum = _day_weights(self.start, DAYS, PLACEMENT_MONTH_WEIGHT, 0.45)
        days = sorted(
            bisect.bisect_right(day_cum, rng.random() * day_cum[-1]) for _ in range(n)
        )
        events: list[tuple[int, int]] = [(min(d, DAYS - 1), -1) for d in days]
        for cleared, person in self.clear_events:
            events.append(((cleared - self.start).days, person))
        events.sort()
        grad_bit = 1 << KEY_GROUPS.index("graduate")
        diff_bit = 1 << KEY_GROUPS.index("difficulty")
        no_vac_forms, no_vac_cum = _cum((("flexible", 45), ("entrepreneurship", 40),
                                         ("employer", 15)))
        for i, (day_idx, person) in enumerate(events):
            day = self.start + dt.timedelta(days=day_idx)
            if person < 0:
                person = self._pick_placed(rng, day)
            ci = self.p_comm[person]
            vac = self._find_vacancy(rng, ci, day) if rng.random() < 0.82 else None
            if vac is None:
                form = _pick(rng, no_vac_forms, no_vac_cum)
            else:
                form = TYPE_FORM[self.v_type[vac]]
            if day == self.today:
                minutes = rng.randint(8 * 60 + 30, 11 * 60 + 59)
            else:
                minutes = rng.randint(8 * 60, 18 * 60)
            at = dt.datetime.combine(day, dt.time(minutes // 60, minutes % 60, rng.randrange(60)))
            plw.row([
                f"J{i:09d}", _person_id(person), None if vac is None else f"V{vac:09d}",
                tree.communities[ci].code, at.isoformat(), form,
            ])
            ti = tree.comm_township[ci]
            self.placed_counts[(ti, day.year)] += 1
            g = self.p_groups[person]
            if g & diff_bit:
                self.placed_groups["difficulty"].add((day.year, person))
            if g & grad_bit:
                self.placed_groups["graduate"].add((day.year, person))

    def _pick_placed(self, rng: random.Random, day: dt.date) -> int:
        """Who is placed: mostly people now working, graduates in summer, key groups."""
        r = rng.random()
        if day.month in (6, 7, 8) and r < 0.25 and self.pool_graduate:
            return rng.choice(self.pool_graduate)
        r = rng.random()
        if r < 0.15 and self.pool_key:
            return rng.choice(self.pool_key)
        if r < 0.27 and self.pool_unemployed:
            return rng.choice(self.pool_unemployed)
        if self.pool_working:
            return rng.choice(self.pool_working)
        return rng.randrange(self.n_persons)

    # -------------------------------------------------------------- assistance
    def assistance(self, aw: _Writer) -> None:
        """Assistance records of every kind, aimed at key groups and job seekers."""
        rng = self.rng("assistance")
        tree = self.tree
        kinds, kind_cum = _cum(ASSISTANCE_WEIGHTS)
        n = max(1, round(self.n_persons * ASSISTANCE_PER_PERSON))
        day_cum = _day_weights(self.start, DAYS, SERVICE_MONTH_WEIGHT, 0.25)
        events: list[tuple[int, int, str | None]] = []
        for identified, person in self.zero_visits:
            d0 = (identified - self.start).days
            for k, delay in (("visit", 0), ("referral", rng.randint(1, 10))):
                if d0 + delay < DAYS:
                    events.append((d0 + delay, person, k))
        for _ in range(max(0, n - len(events))):
            day = min(bisect.bisect_right(day_cum, rng.random() * day_cum[-1]), DAYS - 1)
            r = rng.random()
            if r < 0.35 and self.pool_key:
                person = rng.choice(self.pool_key)
            elif r < 0.65 and self.pool_seeking:
                person = rng.choice(self.pool_seeking)
            else:
                person = rng.randrange(self.n_persons)
            events.append((day, person, None))
        events.sort(key=lambda e: (e[0], e[1], e[2] or ""))
        year0 = (dt.date(self.today.year, 1, 1) - self.start).days
        self.assisted_year = {person for day_idx, person, _ in events if day_idx >= year0}
        for i, (day_idx, person, kind) in enumerate(events):
            day = self.start + dt.timedelta(days=day_idx)
            kind = kind or _pick(rng, kinds, kind_cum)
            ci = self.p_comm[person]
            aw.row([f"A{i:09d}", _person_id(person), tree.communities[ci].code, kind, day])
            self.assist_counts[(tree.comm_township[ci], day.year)] += 1

    # -------------------------------------------------------------- persons (labour status)
    def persons(self, pw: _Writer) -> None:
        """The persons file: labour status and unemployed_since set community by community.

        Statuses were drawn for the whole two years; here the ones still unemployed at
        today are decided (the others have found work), so that most communities meet the
        充分就业社区 criteria and a few miss each one. Only the written status changes:
        every draw above (key groups, seeking a job, who is placed or assisted) is as
        before, and no SPEC section 3 metric reads the status.
        """
        rng = self.rng("labour")
        scratch = self.person_scratch
        scratch.seek(0)
        comm: list[list[Any]] = []
        for line in scratch:
            row = json.loads(line)
            if comm and comm[0][1] != row[1]:
                self._community_labour(rng, comm, pw)
                comm = []
            comm.append(row)
        if comm:
            self._community_labour(rng, comm, pw)

    def _community_labour(self, rng: random.Random, rows: list[list[Any]], pw: _Writer) -> None:
        """Decide who is still unemployed in one community and write its persons."""
        fail_emp = rng.random() < FAIL_EMPLOYMENT
        fail_lt = rng.random() < FAIL_LONG_TERM
        fail_as = rng.random() < FAIL_ASSISTANCE
        working = [i for i, r in enumerate(rows) if r[6] in ("employed", "flexible")]
        active = len(working) + sum(r[6] == "unemployed" for r in rows)
        # A community meant to miss a criterion gets the unemployed that takes (in a small
        # community there may be none yet): a worker lost the job, or, for `assistance`,
        # an unassisted difficulty person outside the labour force now seeks work.
        need = (active // 20 + 1) if fail_emp else (1 if fail_lt else 0)
        n_unemp = active - len(working)
        for i in rng.sample(working, max(0, min(need - n_unemp, len(working)))):
            rows[i][6] = "unemployed"
        if fail_as:
            idle = [i for i, r in enumerate(rows) if r[6] != "unemployed" and r[12]
                    and r[13] not in self.assisted_year]
            if idle:
                i = rng.choice(idle)
                active += rows[i][6] == "inactive"
                rows[i][6] = "unemployed"
        unemp = [i for i, r in enumerate(rows) if r[6] == "unemployed"]
        # Members of a zero household not yet cleared stay unemployed whatever happens.
        must = [i for i in unemp if rows[i][11] is not None]
        unassisted = {i for i in unemp if rows[i][12] and rows[i][13] not in self.assisted_year}
        if fail_as and unassisted - set(must):
            must.append(rng.choice(sorted(unassisted - set(must))))
        allow = active // 20  # 19 of 20 employed meets the 0.95 of the employment criterion
        k = max(allow + 1, round(len(unemp) * rng.uniform(0.35, 0.75))) if fail_emp else allow
        k = min(len(unemp), max(k, len(must), int(fail_lt)))
        cands = [i for i in unemp if i not in must and (fail_as or i not in unassisted)]
        rng.shuffle(cands)
        keep = must + cands[: max(0, k - len(must))]
        long_term = rng.choice(keep) if fail_lt and keep else None
        kept = set(keep)
        today = self.today
        for i, r in enumerate(rows):
            status, since = r[6], None
            if status == "unemployed" and i not in kept:
                status = "employed" if rng.random() < 0.75 else "flexible"
            elif status == "unemployed":
                if r[11] is not None:  # since the household became a zero household
                    since = min(dt.date.fromisoformat(r[11]) - dt.timedelta(
                        days=rng.randint(0, 90)), today - dt.timedelta(days=1))
                elif i == long_term:
                    since = today - dt.timedelta(days=rng.randint(181, 540))
                elif rng.random() < 0.92:  # a few records lack the date
                    since = today - dt.timedelta(days=rng.randint(7, 175))
            pw.row([*r[:6], status, *r[7:11], since])

    # -------------------------------------------------------------- job fairs
    def job_fairs(self, fw: _Writer) -> None:
        """Fairs of every organising level, 春风行动 peak, some livestreams; some announced."""
        rng = self.rng("job_fairs")
        tree = self.tree
        n_days = DAYS + FAIR_AHEAD_DAYS
        day_cum = _day_weights(self.start, n_days, FAIR_MONTH_WEIGHT, 0.6)
        organisers: list[tuple[str, str, str, float]] = [
            (r.code, r.name, r.level, r.lat) for r in tree.official if r.level != "province"
        ] + [(c.code, c.name, "community", c.lat) for c in tree.communities]
        factor = max(self.scale, 0.2) * n_days / 30.4
        events: list[tuple[int, str, str, str]] = []
        for code, name, level, _ in organisers:
            for _ in range(_stoch_round(rng, FAIRS_PER_MONTH[level] * factor)):
                day = min(bisect.bisect_right(day_cum, rng.random() * day_cum[-1]), n_days - 1)
                events.append((day, code, name, level))
        events.sort()
        self.fair_counts: Counter[tuple[str, int]] = Counter()
        ancestors = self._fair_ancestors()
        for i, (day_idx, code, name, level) in enumerate(events):
            day = self.start + dt.timedelta(days=day_idx)
            r = rng.random()
            big = level in ("province", "city", "county")
            mode = ("livestream" if r < (0.15 if big else 0.04)
                    else "online" if r < 0.35 else "onsite")
            lo, hi = FAIR_SIZE[level]
            employers = rng.randint(lo, hi)
            posts = employers * rng.randint(4, 25)
            visitors = intentions = views = None
            if day <= self.today:
                if mode == "livestream":
                    # Heavy tail: most streams draw tens of thousands, a few over a million.
                    views = int(min(3_000_000, rng.lognormvariate(math.log(60000), 1.0)))
                    intentions = int(views * rng.uniform(0.001, 0.004))
                else:
                    per = rng.uniform(10, 40) if mode == "onsite" else rng.uniform(15, 60)
                    visitors = int(employers * per)
                    intentions = int(visitors * rng.uniform(0.08, 0.3))
                for a in ancestors[code]:
                    self.fair_counts[(a, day.year)] += 1
            fw.row([f"F{i:08d}", code, day, _fair_title(rng, name, level, mode, day), mode,
                    employers, posts, visitors, intentions, views])

    def _fair_ancestors(self) -> dict[str, list[str]]:
        """Every region code of the tree with its ancestors (itself first)."""
        tree = self.tree
        out = dict(tree.ancestors)
        for c, ti in zip(tree.communities, tree.comm_township, strict=True):
            out[c.code] = [c.code, *tree.ancestors[tree.townships[ti].code]]
        return out

    # -------------------------------------------------------------- trainings
    def trainings(self, tw: _Writer) -> None:
        """Trainings started over two years; completions and certificates lag the starts."""
        rng = self.rng("trainings")
        tree = self.tree
        kinds, kind_cum = _cum(TRAINING_KIND_WEIGHTS)
        day_cum = _day_weights(self.start, DAYS, SERVICE_MONTH_WEIGHT, 0.3)
        n = round(self.n_persons * TRAININGS_PER_PERSON)
        events = self._service_events(rng, n, day_cum)
        self.training_counts: Counter[tuple[int, int]] = Counter()
        for i, (day_idx, person) in enumerate(events):
            started = self.start + dt.timedelta(days=day_idx)
            kind = _pick(rng, kinds, kind_cum)
            remote = rng.random() < (0.6 if kind == "platform" else 0.2)
            lo, hi = TRAINING_DAYS[kind]
            completed: dt.date | None = started + dt.timedelta(days=rng.randint(lo, hi))
            if rng.random() < 0.08 or completed > self.today:  # dropped out, or still going
                completed = None
            certified = None
            if completed is not None:
                share = {"skills": 0.65, "entrepreneurship": 0.8}.get(kind, 0.3)
                certified = rng.random() < share
            subsidised = rng.random() < (0.8 if certified else 0.45)
            ci = self.p_comm[person]
            tw.row([f"T{i:08d}", _person_id(person), tree.communities[ci].code, kind,
                    "remote" if remote else "onsite", started, completed, certified,
                    subsidised])
            self.training_counts[(tree.comm_township[ci], started.year)] += 1

    def _service_events(
        self, rng: random.Random, n: int, day_cum: list[float]
    ) -> list[tuple[int, int]]:
        """n (day index, person) pairs of a service, in date order."""
        return sorted(
            (min(bisect.bisect_right(day_cum, rng.random() * day_cum[-1]), DAYS - 1),
             self._service_person(rng))
            for _ in range(n)
        )

    def _service_person(self, rng: random.Random) -> int:
        """Who uses a service: mostly the unemployed, key groups and job seekers."""
        r = rng.random()
        if r < 0.35 and self.pool_unemployed:
            return rng.choice(self.pool_unemployed)
        if r < 0.6 and self.pool_key:
            return rng.choice(self.pool_key)
        if r < 0.85 and self.pool_seeking:
            return rng.choice(self.pool_seeking)
        return rng.randrange(self.n_persons)

    # -------------------------------------------------------------- interviews
    def interviews(self, iw: _Writer) -> None:
        """Interviews for open vacancies, a third of them remote (more in recent months)."""
        rng = self.rng("interviews")
        tree = self.tree
        day_cum = _day_weights(self.start, DAYS, PLACEMENT_MONTH_WEIGHT, 0.2)
        n = round(self.n_persons * INTERVIEWS_PER_PERSON)
        events = self._service_events(rng, n, day_cum)
        for i, (day_idx, person) in enumerate(events):
            day = self.start + dt.timedelta(days=day_idx)
            ci = self.p_comm[person]
            vac = self._find_vacancy(rng, ci, day) if rng.random() < 0.85 else None
            remote = rng.random() < 0.22 + 0.15 * day_idx / DAYS
            minutes = rng.randint(9 * 60, (11 if day == self.today else 17) * 60)
            at = dt.datetime.combine(day, dt.time(minutes // 60, minutes % 60))
            r = rng.random()
            if (self.today - day).days < 7:
                outcome = "pending" if r < 0.6 else ("offer" if r < 0.75 else "no_offer")
            else:
                outcome = "offer" if r < 0.35 else ("no_offer" if r < 0.9 else None)
            iw.row([f"I{i:09d}", _person_id(person), None if vac is None else f"V{vac:09d}",
                    tree.communities[ci].code, at.isoformat(),
                    "remote" if remote else "onsite", outcome])

    # -------------------------------------------------------------- loans
    def loans(self, lw: _Writer) -> None:
        """创业担保贷款: individuals 50k–300k yuan, small businesses up to 500k."""
        rng = self.rng("loans")
        tree = self.tree
        day_cum = _day_weights(self.start, DAYS, SERVICE_MONTH_WEIGHT, 0.1)
        n = max(1, round(self.n_persons * LOANS_PER_PERSON))
        events = self._service_events(rng, n, day_cum)
        self.loan_counts: Counter[tuple[int, int]] = Counter()
        for i, (day_idx, person) in enumerate(events):
            day = self.start + dt.timedelta(days=day_idx)
            if rng.random() < 0.85:
                amount: float = rng.choice(LOAN_AMOUNTS)
                jobs = rng.randint(1, 4)
            else:  # a small business (小微企业)
                amount = rng.randint(30, 50) * 10000
                jobs = rng.randint(4, 15)
            ci = self.p_comm[person]
            lw.row([f"L{i:08d}", _person_id(person), tree.communities[ci].code, day,
                    amount, jobs])
            self.loan_counts[(tree.comm_township[ci], day.year)] += 1

    # -------------------------------------------------------------- surveys
    def surveys(self, sw: _Writer) -> None:
        """Satisfaction answers, mostly 4–5; a few communities are served less well."""
        rng = self.rng("surveys")
        tree = self.tree
        services, service_cum = _cum(SURVEY_SERVICE_WEIGHTS)
        channels, channel_cum = _cum(SURVEY_CHANNEL_WEIGHTS)
        scores = {k: _cum(v) for k, v in SCORE_WEIGHTS.items()}
        fair = {ci for ci in range(len(tree.communities)) if rng.random() < 0.15}
        day_cum = _day_weights(self.start, DAYS, SERVICE_MONTH_WEIGHT, 0.3)
        n = round(self.n_persons * SURVEYS_PER_PERSON)
        events = sorted(
            (min(bisect.bisect_right(day_cum, rng.random() * day_cum[-1]), DAYS - 1),
             self.p_comm[rng.randrange(self.n_persons)])
            for _ in range(n)
        )
        for i, (day_idx, ci) in enumerate(events):
            vals, cum = scores["fair" if ci in fair else "good"]
            sw.row([f"Y{i:09d}", tree.communities[ci].code,
                    self.start + dt.timedelta(days=day_idx), _pick(rng, vals, cum),
                    _pick(rng, services, service_cum), _pick(rng, channels, channel_cum)])

    def service_targets(self, tw: _Writer) -> None:
        """Section 6 targets (this year and last) from the root to townships."""
        rng = self.rng("service_targets")
        tree = self.tree
        year = self.today.year
        values: dict[tuple[str, str, int], float] = defaultdict(float)
        for counts, metric in ((self.training_counts, "trainings.year"),
                               (self.loan_counts, "loans.year")):
            for (ti, y), v in counts.items():
                for code in tree.ancestors[tree.townships[ti].code]:
                    values[(code, metric, y)] += v
        for (code, y), v in self.fair_counts.items():
            values[(code, "job_fairs.year", y)] += v
        for r in tree.official:
            if r.level == "community":
                continue
            for y in (year - 1, year):
                tw.row([r.code, "full_employment.rate", y,
                        FULL_EMPLOYMENT_TARGET.get(y, 0.7 if y > 2024 else 0.4)])
                for metric in SERVICE_TARGET_METRICS:
                    v = values.get((r.code, metric, y), 0.0)
                    lo, hi = (0.6, 1.1) if y == year else (0.9, 1.15)
                    tw.row([r.code, metric, y, max(_nice(v / rng.uniform(lo, hi)), 1)])

    # -------------------------------------------------------------- targets
    def targets(self, tw: _Writer) -> None:
        """Yearly targets (this year and last) at every level from the root to townships."""
        rng = self.rng("targets")
        tree = self.tree
        year = self.today.year
        values: dict[tuple[str, str, int], float] = defaultdict(float)

        def add(ti: int, metric: str, y: int, v: float) -> None:
            for code in tree.ancestors[tree.townships[ti].code]:
                values[(code, metric, y)] += v

        for (ti, y), v in self.placed_counts.items():
            add(ti, "placements.year", y, v)
        for (ti, y), v in self.assist_counts.items():
            add(ti, "assistance.year", y, v)
        for g in ("difficulty", "graduate"):
            for y, person in self.placed_groups[g]:
                add(tree.comm_township[self.p_comm[person]], f"key_groups.{g}.placed.year", y, 1)
        covered = {
            y: self._coverage(min(self.today, dt.date(y, 12, 31))) for y in (year - 1, year)
        }
        for r in tree.official:
            if r.level == "community":
                continue
            for y in (year - 1, year):
                for metric in TARGET_METRICS:
                    if metric == "circle.coverage":
                        n_comm, n_cov = covered[y].get(r.code, (0, 0))
                        if n_comm == 0:
                            continue
                        cov = n_cov / n_comm
                        target = min(1.0, round(cov / rng.uniform(0.85, 1.05), 2))
                        tw.row([r.code, metric, y, max(target, 0.6)])
                        continue
                    v = values.get((r.code, metric, y), 0.0)
                    lo, hi = (0.6, 1.1) if y == year else (0.9, 1.15)
                    target = _nice(v / rng.uniform(lo, hi))
                    tw.row([r.code, metric, y, max(target, 1)])

    def _coverage(self, day: dt.date) -> dict[str, tuple[int, int]]:
        """(communities, communities with an open vacancy within 3 km) per region at day."""
        from queries.geo import haversine_km, within_circle

        o = day.toordinal()
        tree = self.tree
        cell = 0.05  # degrees; 3 km is < 0.03 degrees of latitude at these latitudes
        grid: dict[tuple[int, int], list[int]] = defaultdict(list)
        for v in range(len(self.v_type)):
            if self.v_posted[v] <= o and (self.v_closed[v] == 0 or self.v_closed[v] > o):
                grid[(int(self.v_lat[v] // cell), int(self.v_lon[v] // cell))].append(v)
        out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for ci, c in enumerate(tree.communities):
            gy, gx = int(c.lat // cell), int(c.lon // cell)
            cand = [
                v
                for dy in (-1, 0, 1)
                for dx in (-1, 0, 1)
                for v in grid.get((gy + dy, gx + dx), ())
            ]
            hit = False
            if cand:
                d = haversine_km(c.lat, c.lon, [self.v_lat[v] for v in cand],
                                 [self.v_lon[v] for v in cand])
                hit = bool(within_circle(d).any())
            for code in tree.ancestors[tree.townships[tree.comm_township[ci]].code]:
                out[code][0] += 1
                out[code][1] += int(hit)
        return {k: (a, b) for k, (a, b) in out.items()}


def _point_near(
    rng: random.Random, comm: Community, km_min: float, km_max: float
) -> tuple[float, float]:
    """A point at a random distance between km_min and km_max from a community centre."""
    lat, lon = offset_point(
        comm.lat, comm.lon, rng.uniform(km_min, km_max), rng.uniform(0, 2 * math.pi)
    )
    return round(lat, 6), round(lon, 6)


def _fair_title(rng: random.Random, name: str, level: str, mode: str, day: dt.date) -> str:
    """A fair's title as organisers word them, by season, level and mode."""
    if mode == "livestream":
        return f"{name}“直播带岗”{rng.choice(('专场', '招聘会', '进社区'))}"
    if mode == "online":
        return f"{name}{day.month}月网络招聘会"
    if level in ("township", "community"):
        return f"{name}{rng.choice(('家门口招聘会', '就业服务站招聘会', '就业帮扶专场'))}"
    if day.month in (2, 3):
        return f"{name}{day.year}年春风行动专场招聘会"
    if day.month in (5, 6, 7):
        return f"{name}高校毕业生就业专场招聘会"
    if day.month == 9:
        return f"{name}金秋招聘月专场招聘会"
    return f"{name}{day.month}月综合招聘会"


def _month_key(d: dt.date) -> int:
    return d.year * 12 + d.month - 1


def _nice(x: float) -> int:
    """Round a target to a number a planner would write (2-3 significant digits)."""
    if x >= 1000:
        return int(round(x, -2))
    if x >= 100:
        return int(round(x, -1))
    return int(round(x))


def _org_check(body8: str) -> str:
    """GB 11714 check character of an 8-digit organisation code body."""
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    c = 11 - sum(int(ch) * w for ch, w in zip(body8, weights, strict=True)) % 11
    return {10: "X", 11: "0"}.get(c, str(c))


def load_demo(
    engine: Any,
    *,
    root: str = "340100000000",
    scale: float = 1.0,
    seed: int = 0,
    today: dt.date | None = None,
    tz: str = "Asia/Shanghai",
    work_dir: str | Path | None = None,
    progress: Any = None,
    log: Callable[[str], None] | None = None,
) -> list[Any]:
    """Generate the demo files and import each through the importer; raise on any reject."""
    from queries.importer import import_file

    today = today or today_local(tz)
    with ExitStack() as stack:
        if work_dir is None:
            work_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="demo-data-"))
        files = generate_demo(work_dir, root=root, scale=scale, seed=seed, today=today)
        results = []
        for kind, path in files:
            res = import_file(engine, kind, path, tz=tz, progress=progress)
            results.append(res)
            if log is not None:
                log(f"{kind}: {res.imported} imported, {res.rejected} rejected")
            if res.error or res.rejected:
                detail = res.error or _first_rejects(res.rejects_path)
                raise RuntimeError(
                    f"demo {kind}: {res.rejected} of {res.read} rows rejected: {detail}"
                )
        return results


def _first_rejects(path: str | None, n: int = 3) -> str:
    """The first few reasons of a rejects file, for an error message."""
    if not path or not Path(path).is_file():
        return ""
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = list(itertools.islice(csv.DictReader(f), n))
    return " | ".join(f"line {r.get('line')}: {r.get('reason')}" for r in rows)
