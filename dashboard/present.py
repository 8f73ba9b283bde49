"""Number formatting and the one function that turns snapshot dicts into what panels display.

Every number a page shows goes through `present()` (server side, inside the panel
callbacks). Small-count suppression for public views happens here, in `_metrics` and
`_cell`, so a suppressed value never reaches the browser (it is not even in the callback
response: the raw value is replaced before the figure or text is built).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from typing import Any

from dashboard.disclosure import SECONDARY_TEXT, Cell, Group, protect
from layouts.i18n import enum, norm_lang, t
from queries.domain import (
    ASSISTANCE_KINDS,
    FE_CRITERIA,
    KEY_GROUPS,
    PLACEMENT_FORMS,
    VACANCY_TYPES,
)
from queries.metrics import (
    COUNT_KEYS,
    DERIVED_FROM,
    FAMILY_OF,
    MEAN_KEYS,
    METRIC_KEYS,
    PERCENT_KEYS,
    PERSON_KEYS,
    RATIO_KEYS,
)

DASH = "—"
# Lists on screen are bounded whatever the snapshot holds (memory stays flat on the wall).
MAX_LIST = 30
MAX_CHILDREN = 60

# Formats by the kind of number each metric is (queries.metrics).
DAYS_KEYS = MEAN_KEYS


def _is_num(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def fmt_count(value: Any, lang: str = "zh") -> str:
    """A count: Chinese uses 万/亿 from 10万 up, English k/M from 100k up; separators below."""
    if not _is_num(value):
        return DASH
    v = float(value)
    a = abs(v)
    if norm_lang(lang) == "en":
        if a >= 1e6:
            return f"{v / 1e6:.2f}M".replace(".00M", "M")
        if a >= 1e5:
            return f"{v / 1e3:.0f}k"
        return f"{round(v):,}"
    if a >= 1e8:
        return f"{v / 1e8:.2f}亿"
    if a >= 1e5:
        return f"{v / 1e4:.1f}万"
    return f"{round(v):,}"


def fmt_pct(value: Any, digits: int = 1) -> str:
    """A ratio 0..1 as a percentage ("95.3%")."""
    if not _is_num(value):
        return DASH
    return f"{value * 100:.{digits}f}%"


def fmt_ratio(value: Any) -> str:
    """A plain ratio with two decimals (求人倍率)."""
    return f"{value:.2f}" if _is_num(value) else DASH


def fmt_days(value: Any, lang: str = "zh") -> str:
    """Average days with one decimal."""
    return f"{value:.1f}" if _is_num(value) else DASH


def fmt_value(key: str, value: Any, lang: str = "zh") -> str:
    """Format a metric value according to its kind (percent, ratio, days or count)."""
    if key in PERCENT_KEYS:
        return fmt_pct(value)
    if key in RATIO_KEYS:
        return fmt_ratio(value)
    if key in DAYS_KEYS:
        return fmt_days(value, lang)
    return fmt_count(value, lang)


def fmt_salary(lo: Any, hi: Any, lang: str = "zh") -> str:
    """A monthly salary range in yuan ("5,000–8,000元/月" / "CNY 5,000–8,000/mo")."""
    if not _is_num(lo) and not _is_num(hi):
        return "面议" if norm_lang(lang) == "zh" else "Negotiable"
    parts = [f"{round(x):,}" for x in (lo, hi) if _is_num(x)]
    rng = "–".join(dict.fromkeys(parts))
    return f"{rng}元/月" if norm_lang(lang) == "zh" else f"CNY {rng}/mo"


def parse_instant(value: Any) -> dt.datetime | None:
    """Parse an ISO 8601 date or datetime (string or object); None when impossible."""
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    if not isinstance(value, str) or not value:
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def fmt_datetime(value: Any, lang: str = "zh") -> str:
    """An instant as local wall-clock text ("2025年6月1日 14:30" / "2025-06-01 14:30")."""
    d = parse_instant(value)
    if d is None:
        return DASH
    if norm_lang(lang) == "en":
        return d.strftime("%Y-%m-%d %H:%M")
    return f"{d.year}年{d.month}月{d.day}日 {d:%H:%M}"


def fmt_short_time(value: Any, lang: str = "zh") -> str:
    """A list timestamp: "06-01 14:30" (or just the date when there is no time)."""
    d = parse_instant(value)
    if d is None:
        return DASH
    if isinstance(value, str) and len(value) <= 10:
        return d.strftime("%m-%d")
    return d.strftime("%m-%d %H:%M")


def fmt_month(key: str, lang: str = "zh", first: bool = False) -> str:
    """A series key "YYYY-MM" as an axis label ("6月"; the year under January and the first)."""
    try:
        y, m = (int(x) for x in key.split("-")[:2])
    except ValueError:
        return key
    if norm_lang(lang) == "en":
        name = dt.date(y, m, 1).strftime("%b")
        return f"{name}<br>{y}" if m == 1 or first else name
    return f"{m}月<br>{y}年" if m == 1 or first else f"{m}月"


def fmt_day(value: Any, lang: str = "zh") -> str:
    """A date as a short day ("12月5日" / "Dec 5")."""
    d = parse_instant(value)
    if d is None:
        return DASH
    return d.strftime("%b %-d") if norm_lang(lang) == "en" else f"{d.month}月{d.day}日"


def expected_share(given: Any, as_of: Any) -> float | None:
    """时序进度 (SPEC 6.2): the snapshot's `expected`, else day of year ÷ days in the year of
    the as-of date, 4 decimals; None without either."""
    if _is_num(given):
        return float(given)
    d = parse_instant(as_of)
    if d is None:
        return None
    days = 366 if d.year % 4 == 0 and (d.year % 100 != 0 or d.year % 400 == 0) else 365
    return round(d.timetuple().tm_yday / days, 4)


# The four 充分就业社区 criteria (SPEC 6.2), in display order.
CRITERIA: tuple[str, ...] = FE_CRITERIA


def upcoming_fairs(items: Any, lang: str,
                   visible: Callable[[str], bool] | None = None) -> list[dict[str, Any]]:
    """The next job fairs (SPEC 6.3: the only future dates on screen), at most 10."""
    out = []
    for f in _bounded(items, 10):
        code = str(f.get("region_code") or "")
        where = f.get("region_name") or ""
        if visible is not None and code and not visible(code):
            where = ""
        out.append({
            "date": fmt_day(f.get("held_on"), lang),
            "title": f.get("title") or DASH,
            "mode": enum("mode", str(f.get("mode")), lang) if f.get("mode") else "",
            "where": where,
        })
    return out


def act_on(items: Any, lang: str) -> list[dict[str, Any]]:
    """Communities failing at least one criterion, worst first, with the criteria failed."""
    out = []
    for c in _bounded(items):
        failing = [k for k in (c.get("failing") or []) if k in CRITERIA]
        out.append({
            "code": c.get("code"),
            "name": c.get("name") or c.get("code") or DASH,
            "failing": failing,
            "labels": [t(f"crit.{k}", lang) for k in failing],
        })
    return out


# What each criterion's figure is, for formatting and small-count suppression.
CRITERION_KEYS = {"long_term": "unemployed.long_term", "zero_households": "zero_households.overdue",
                  "assistance": "unemployed.long_term"}  # unassisted: a person count too


def criteria(m: dict[str, dict[str, Any]], values: Any, lang: str, public: bool = False,
             level: str = "", small_cell: int = 3,
             metrics_raw: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """One community's four criteria (snapshot list `fe_criteria`): met or not, and the
    figure behind each (employment share; long-term unemployed, overdue households and
    unassisted hard-to-employ persons, suppressed like any person count on public views)."""
    values = values if isinstance(values, dict) else {}
    metrics_raw = metrics_raw or {}
    out = []
    for c in CRITERIA:
        item = values.get(c) if isinstance(values.get(c), dict) else {}
        raw = item.get("value", item.get("share"))
        if raw is None and c in ("long_term", "zero_households"):
            raw = metrics_raw.get(CRITERION_KEYS[c])
        if c == "employment":
            hidden = (m.get("labour.employed") or {}).get("suppressed")
            value = SECONDARY_TEXT if hidden and _is_num(raw) else fmt_pct(raw)
        else:
            value = _cell(CRITERION_KEYS[c], raw, lang, public, level, small_cell)["s"]
        ok = item.get("ok")
        if not isinstance(ok, bool):
            fail = (m.get(f"full_employment.failing.{c}") or {}).get("v")
            ok = None if fail is None else fail == 0
        out.append({"key": c, "label": t(f"crit.{c}", lang), "met": ok, "value": value})
    return out


SUPPRESS_LEVELS = frozenset(["township", "community"])


def is_person_count(key: str) -> bool:
    """Person- and household-level counts (subject to small-count suppression).

    A key the registry does not know is treated as one: hiding too much is the safe side.
    """
    return key in PERSON_KEYS or key not in FAMILY_OF


def suppressed(value: Any, small_cell: int) -> bool:
    """True for a count between 1 and small_cell − 1 (shown as "<N" on public views)."""
    return _is_num(value) and 1 <= value < small_cell


def _hidden(small_cell: int, lang: str) -> dict[str, Any]:
    return {"v": None, "s": f"<{small_cell}", "suppressed": True}


def _cell(key: str, value: Any, lang: str, public: bool, level: str,
          small_cell: int = 3) -> dict[str, Any]:
    """One displayed number: raw value for charts and bars, text for labels."""
    if (public and level in SUPPRESS_LEVELS and is_person_count(key)
            and suppressed(value, small_cell)):
        return _hidden(small_cell, lang)
    v = value if _is_num(value) else None
    return {"v": v, "s": fmt_value(key, v, lang)}


def _metrics(
    metrics: dict[str, Any], lang: str, public: bool, level: str, small_cell: int = 3
) -> dict[str, dict[str, Any]]:
    keys = list(METRIC_KEYS) + [k for k in metrics if k not in METRIC_KEYS]
    out = {k: _cell(k, metrics.get(k), lang, public, level, small_cell) for k in keys}
    if public and level in SUPPRESS_LEVELS:
        _hide_derived(out)
    return out


def _hide_derived(out: dict[str, dict[str, Any]]) -> None:
    """Hide every ratio one of whose parts is hidden (it would give the part back)."""
    for key, parts in DERIVED_FROM.items():
        if key in out and any(out.get(p, {}).get("suppressed") for p in parts):
            # "*", not "<3": a hidden rate is not a small one ("<3" would read as under 3 %).
            out[key] = {"v": None, "s": SECONDARY_TEXT, "suppressed": True, "secondary": True}


def _secondary(region: dict[str, Any], m: dict[str, dict[str, Any]], series: list[dict],
               monthly: dict[str, Any], children: list[dict[str, Any]],
               kids: list[dict[str, Any]], small_cell: int) -> None:
    """Secondary suppression over every additive relation a view shows (see disclosure)."""
    metrics = region.get("metrics") or {}
    cells: dict[tuple[Any, ...], Cell] = {}

    def cell(scope: Any, key: str, shown: dict[str, Any], raw: Any) -> Cell:
        ident = (scope, key)
        if ident not in cells:
            cells[ident] = Cell(shown, float(raw) if _is_num(raw) else None)
        return cells[ident]

    def own(scope: Any, out: dict, raw: dict) -> list[Group]:
        """Partitions inside one region: the year by form, assistance by kind."""
        def c(k: str) -> Cell:
            return cell(scope, k, out[k], raw.get(k))
        return [
            Group(c("placements.year"), [c(f"placements.by_form.{f}") for f in PLACEMENT_FORMS]),
            Group(c("assistance.year"), [c(f"assistance.by_kind.{k}") for k in ASSISTANCE_KINDS]),
        ]

    groups = own("region", m, metrics)
    if series:
        # The months of T's year add up to the year; the last month is the month.
        last = series[-1]["key"]
        year = last[:4]
        in_year = [p for p in series if p["key"].startswith(year)]
        points = [cell(("series", p["key"]), "placements.month", p, monthly.get(p["key"]))
                  for p in in_year]
        month_no = int(last[5:7]) if last[5:7].isdigit() else 0
        groups.append(Group(cell("region", "placements.year", m["placements.year"],
                                 metrics.get("placements.year")), points,
                            complete=len(in_year) == month_no))
        groups.append(Group(cell("region", "placements.month", m["placements.month"],
                                 metrics.get("placements.month")), points[-1:]))
    for kid, child in zip(kids, children, strict=False):
        groups += own(kid["code"], kid["m"], child.get("metrics") or {})
    if kids:
        complete = len(kids) == len(children)
        for key in COUNT_KEYS:
            if not is_person_count(key) or key not in m:
                continue
            parts = [cell(kid["code"], key, kid["m"][key], (child.get("metrics") or {}).get(key))
                     for kid, child in zip(kids, children, strict=False) if key in kid["m"]]
            groups.append(Group(cell("region", key, m[key], metrics.get(key)), parts,
                                complete=complete))
    if protect(groups, small_cell):
        _hide_derived(m)
        for kid in kids:
            _hide_derived(kid["m"])


def path_steps(path: Any) -> list[dict[str, Any]]:
    """Normalise a region path ([{code,name,level}] or [[code,name]]) to dicts."""
    out = []
    for item in path or []:
        if isinstance(item, dict):
            out.append({"code": item.get("code"), "name": item.get("name"),
                        "level": item.get("level")})
        elif isinstance(item, list | tuple) and len(item) >= 2:
            out.append({"code": item[0], "name": item[1],
                        "level": item[2] if len(item) > 2 else None})
    return out


def _bounded(items: Any, limit: int = MAX_LIST) -> list[dict[str, Any]]:
    return [x for x in (items or []) if isinstance(x, dict)][:limit]


BAND_EN = {"未标明": "Not stated"}


def _pairs(data: Any, label_key: str) -> list[tuple[str, Any]]:
    """(label, headcount) pairs from {label: n} or [{label_key: label, "headcount": n}]."""
    if isinstance(data, dict):
        return [(str(k), v) for k, v in data.items()]
    out = []
    for item in data or []:
        if isinstance(item, dict):
            out.append((str(item.get(label_key) or item.get("label") or DASH),
                        item.get("headcount", item.get("value"))))
    return out


def _named_counts(
    data: Any, lang: str, public: bool, level: str, label_key: str, *, sort: bool
) -> list[dict[str, Any]]:
    """Labelled headcounts → [{label, v, s}], by count descending when `sort`."""
    rows = []
    for label, value in _pairs(data, label_key):
        if lang == "en":
            label = BAND_EN.get(label, label)
        rows.append({"label": label, **_cell("vacancies.open_headcount", value, lang, public,
                                             level)})
    if sort:
        rows.sort(key=lambda r: -(r["v"] or 0))
    return rows


def present(
    region: dict[str, Any] | None,
    children: list[dict[str, Any]] | None,
    *,
    as_of: str | None = None,
    lang: str = "zh",
    public: bool = False,
    small_cell: int = 3,
    visible: Callable[[str], bool] | None = None,
) -> dict[str, Any] | None:
    """Display-ready values of one region and its children; None when there is no region.

    `visible` (a scoped viewer's test of a region code) leaves out the names of places
    outside the viewer's scope, such as the worksite of a job just across a county line.
    """
    if not region:
        return None
    lang = norm_lang(lang)
    level = region.get("level") or ""
    metrics = region.get("metrics") or {}
    m = _metrics(metrics, lang, public, level, small_cell)

    monthly = (region.get("series") or {}).get("placements.monthly") or {}
    series = [
        {"key": k, "label": fmt_month(k, lang, first=i == 0),
         **_cell("placements.month", monthly[k], lang, public, level, small_cell)}
        for i, k in enumerate(sorted(monthly)[-12:])
    ]

    kids = []
    for child in (children or [])[:MAX_CHILDREN]:
        kids.append({
            "code": child.get("code"),
            "name": child.get("name") or child.get("code"),
            "level": child.get("level"),
            "m": _metrics(child.get("metrics") or {}, lang, public, child.get("level") or "",
                          small_cell),
        })
    if public:
        _secondary(region, m, series, monthly, children or [], kids, small_cell)

    targets = {}
    for key, tgt in (region.get("targets") or {}).items():
        if not isinstance(tgt, dict):
            continue
        target = tgt.get("target")
        completion = tgt.get("completion")
        if not _is_num(completion) and _is_num(target) and target and _is_num(metrics.get(key)):
            completion = metrics[key] / target
        if m.get(key, {}).get("suppressed"):
            completion = None  # a completion rate would reveal the hidden count
        expected = expected_share(tgt.get("expected"), as_of)
        pct = completion if _is_num(completion) else None
        targets[key] = {
            "target": fmt_value(key, target, lang),
            "done": m.get(key, {}).get("s", DASH),
            "completion": fmt_pct(completion),
            "pct": pct,
            # 时序进度: the share of the year gone; completion at or above it is ahead.
            "expected": fmt_pct(expected),
            "expected_v": expected,
            "pace": None if pct is None or expected is None
            else ("ahead" if pct >= expected else "behind"),
        }

    lists = region.get("lists") or {}
    latest = [
        {
            "when": fmt_short_time(p.get("placed_at"), lang),
            "where": p.get("community_name") or p.get("community_code") or DASH,
            "form": enum("form", str(p.get("form")), lang),
        }
        for p in _bounded(lists.get("latest_placements"))
    ]

    def _vacancy(v: dict[str, Any]) -> dict[str, Any]:
        head = _cell("vacancies.open_headcount", v.get("headcount"), lang, public, level)
        dist = v.get("distance_km")
        where = v.get("community_name") or ""
        if visible is not None and not visible(str(v.get("community_code") or "")):
            where = ""
        return {
            "id": v.get("vacancy_id"),
            "title": v.get("title") or DASH,
            "employer": v.get("employer") or "",
            "headcount": head["s"],
            "salary": fmt_salary(v.get("salary_min"), v.get("salary_max"), lang),
            "type": enum("type", str(v.get("type")), lang) if v.get("type") else "",
            "industry": v.get("industry") or "",
            "posted": fmt_short_time(v.get("posted_on"), lang),
            "where": where,
            "distance": t("km", lang, d=f"{dist:.1f}") if _is_num(dist) else "",
        }

    return {
        "code": region.get("code"),
        "name": region.get("name") or region.get("code"),
        "level": level,
        "path": path_steps(region.get("path")),
        "as_of": fmt_datetime(as_of, lang) if as_of else DASH,
        "lang": lang,
        "m": m,
        "targets": targets,
        "series": series,
        "children": kids,
        "child_level": kids[0]["level"] if kids else None,
        "forms": [{"key": f, "label": enum("form", f, lang),
                   **m[f"placements.by_form.{f}"]} for f in PLACEMENT_FORMS],
        "types": [{"key": ty, "label": enum("type", ty, lang),
                   **m[f"vacancies.by_type.{ty}"]} for ty in VACANCY_TYPES],
        "groups": [
            {
                "key": g,
                "label": enum("group", g, lang),
                "registered": m[f"key_groups.{g}.registered"],
                "assisted": m[f"key_groups.{g}.assisted.year"],
                "placed": m[f"key_groups.{g}.placed.year"],
                "rate": m[f"key_groups.{g}.placement_rate"],
            }
            for g in KEY_GROUPS
        ],
        "kinds": [{"key": k, "label": enum("kind", k, lang),
                   **m[f"assistance.by_kind.{k}"]} for k in ASSISTANCE_KINDS],
        "industries": _named_counts(lists.get("by_industry"), lang, public, level, "industry",
                                    sort=True)[:12],
        "salary_bands": _named_counts(lists.get("salary_bands"), lang, public, level, "band",
                                      sort=False)[:12],
        "latest": latest,
        "newest": [_vacancy(v) for v in _bounded(lists.get("newest_vacancies"))],
        "nearby": [_vacancy(v) for v in _bounded(lists.get("nearby_vacancies"))],
        "fairs": upcoming_fairs(lists.get("upcoming_fairs"), lang, visible),
        "act_on": act_on(lists.get("fe_actions"), lang),
        "criteria": criteria(m, lists.get("fe_criteria"), lang, public, level, small_cell,
                             metrics),
    }
