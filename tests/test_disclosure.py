"""Secondary suppression: no `<N` value on a public view can be recovered from the same view.

The oracle here is exhaustive, not the code's interval propagation: for every candidate
total it asks which integer values each hidden cell can take while every additive relation
the view shows still holds, and requires at least two for every `<N` cell.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from dashboard.present import present
from queries.domain import ASSISTANCE_KINDS, PLACEMENT_FORMS
from queries.metrics import METRIC_KEYS

N = 3  # DASHBOARD_SMALL_CELL
MONTHS_BEFORE = [f"2025-{m:02d}" for m in range(4, 13)]
MONTHS_IN_YEAR = ["2026-01", "2026-02", "2026-03"]  # T is in March 2026


def _domain(cell: dict[str, Any], cap: int) -> range:
    """Values a reader may assume for a displayed cell."""
    if not cell.get("suppressed"):
        v = int(cell["v"] or 0)
        return range(v, v + 1)
    if cell["s"] == f"<{N}":
        return range(1, N)
    return range(0, cap + 1)  # "*": hidden to protect another cell, any value


def _feasible(total: int, parts: list[range]) -> bool:
    """Whether integers from the ranges can add up to `total` (ranges are contiguous)."""
    return sum(r.start for r in parts) <= total <= sum(r.stop - 1 for r in parts)


def _possible(total_dom: range, parts: list[range], i: int,
              total_ok: Any = lambda t: True) -> set[int]:
    """Values part i can take under total = Σ parts, for some admissible total."""
    out = set()
    for x in parts[i]:
        rest = parts[:i] + parts[i + 1:]
        if any(total_ok(t) and _feasible(t - x, rest) for t in total_dom):
            out.add(x)
    return out


def _partition(draw: Any, total: int, k: int) -> list[int]:
    cuts = sorted(draw(st.lists(st.integers(0, total), min_size=k - 1, max_size=k - 1)))
    edges = [0, *cuts, total]
    return [edges[i + 1] - edges[i] for i in range(k)]


@st.composite
def community(draw: Any) -> dict[str, Any]:
    """A community whose year placements split by form and by month, plus assistance."""
    year = draw(st.integers(0, 14))
    forms = _partition(draw, year, len(PLACEMENT_FORMS))
    months = _partition(draw, year, len(MONTHS_IN_YEAR))
    before = draw(st.lists(st.integers(0, 6), min_size=9, max_size=9))
    aid = draw(st.integers(0, 12))
    kinds = _partition(draw, aid, len(ASSISTANCE_KINDS))
    metrics = {k: 0 for k in METRIC_KEYS}
    metrics.update({"placements.year": year, "placements.month": months[-1],
                    "placements.today": min(months[-1], draw(st.integers(0, 2))),
                    "assistance.year": aid})
    metrics.update({f"placements.by_form.{f}": v for f, v in zip(PLACEMENT_FORMS, forms,
                                                                  strict=True)})
    metrics.update({f"assistance.by_kind.{k}": v for k, v in zip(ASSISTANCE_KINDS, kinds,
                                                                  strict=True)})
    series = dict(zip(MONTHS_BEFORE + MONTHS_IN_YEAR, before + months, strict=True))
    return {"code": "340104001001", "name": "测试社区", "level": "community",
            "metrics": metrics, "series": {"placements.monthly": series}}


@settings(max_examples=400, deadline=None)
@given(community())
def test_no_small_value_on_a_community_wall_can_be_recovered(region: dict[str, Any]) -> None:
    p = present(region, [], lang="zh", public=True, small_cell=N)
    m = p["m"]
    cap = 60
    year = _domain(m["placements.year"], cap)
    month_kpi = _domain(m["placements.month"], cap)
    forms = [_domain(f, cap) for f in p["forms"]]
    points = {s["key"]: s for s in p["series"]}
    in_year = [_domain(points[k], cap) for k in MONTHS_IN_YEAR]
    # The last month point and the month KPI are the same number.
    last = range(max(in_year[-1].start, month_kpi.start),
                  min(in_year[-1].stop, month_kpi.stop))
    in_year[-1] = last

    def months_ok(t: int) -> bool:
        return _feasible(t, in_year)

    def forms_ok(t: int) -> bool:
        return _feasible(t, forms)

    truth = region["metrics"]
    for i, f in enumerate(p["forms"]):
        if f.get("suppressed") and f["s"] == f"<{N}":
            values = _possible(year, forms, i, months_ok)
            assert truth[f"placements.by_form.{f['key']}"] in values
            assert len(values) >= 2, (f["key"], values, p["forms"], m["placements.year"])
    for i, key in enumerate(MONTHS_IN_YEAR):
        if points[key].get("suppressed") and points[key]["s"] == f"<{N}":
            values = _possible(year, in_year, i, forms_ok)
            assert region["series"]["placements.monthly"][key] in values
            assert len(values) >= 2, (key, values)
    if m["placements.year"].get("suppressed") and m["placements.year"]["s"] == f"<{N}":
        values = {t for t in year if forms_ok(t) and months_ok(t)}
        assert len(values) >= 2
    kinds = [_domain(k, cap) for k in p["kinds"]]
    aid = _domain(m["assistance.year"], cap)
    for i, k in enumerate(p["kinds"]):
        if k.get("suppressed") and k["s"] == f"<{N}":
            values = _possible(aid, kinds, i)
            assert truth[f"assistance.by_kind.{k['key']}"] in values
            assert len(values) >= 2, (k["key"], values)


def test_the_reported_case_hides_a_second_form() -> None:
    """Year 19, forms 11, 3, 2, 0, 3: the 2 was recoverable as 19 − 11 − 3 − 0 − 3."""
    metrics = {k: 0 for k in METRIC_KEYS}
    forms = dict(zip(PLACEMENT_FORMS, [11, 3, 2, 0, 3], strict=True))
    metrics.update({"placements.year": 19, "placements.month": 19,
                    **{f"placements.by_form.{f}": v for f, v in forms.items()}})
    region = {"code": "340104001001", "name": "社区", "level": "community", "metrics": metrics,
              "series": {"placements.monthly": {"2026-01": 19}}}
    p = present(region, [], public=True, small_cell=N)
    shown = {f["key"]: f["s"] for f in p["forms"]}
    assert shown["public_welfare"] == "<3"
    hidden = [k for k, f in zip(PLACEMENT_FORMS, p["forms"], strict=True) if f.get("suppressed")]
    assert len(hidden) >= 2 or p["m"]["placements.year"].get("suppressed")
    assert shown["flexible"] == "*" or shown["traineeship"] == "*"  # a 3 hides with the 2
    # The leader's view is untouched.
    exact = present(region, [], public=False, small_cell=N)
    assert [f["s"] for f in exact["forms"]] == ["11", "3", "2", "0", "3"]


@st.composite
def township(draw: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A township and its communities, with one person count that rolls up."""
    values = draw(st.lists(st.integers(0, 9), min_size=1, max_size=7))
    kids = []
    for i, v in enumerate(values):
        metrics = {"jobseekers.active": v}
        kids.append({"code": f"340104001{i + 1:03d}", "name": f"社区{i}", "level": "community",
                     "metrics": metrics})
    region = {"code": "340104001000", "name": "街道", "level": "township",
              "metrics": {"jobseekers.active": sum(values)}}
    return region, kids


@settings(max_examples=300, deadline=None)
@given(township())
def test_no_small_child_value_can_be_recovered_from_the_total(
        case: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    region, children = case
    p = present(region, children, public=True, small_cell=N)
    key = "jobseekers.active"
    total = _domain(p["m"][key], 80)
    parts = [_domain(k["m"][key], 80) for k in p["children"]]
    for i, kid in enumerate(p["children"]):
        cell = kid["m"][key]
        if cell.get("suppressed") and cell["s"] == f"<{N}":
            values = _possible(total, parts, i)
            assert children[i]["metrics"][key] in values
            assert len(values) >= 2, (i, values, [k["m"][key]["s"] for k in p["children"]])
    if p["m"][key].get("suppressed") and p["m"][key]["s"] == f"<{N}":
        assert len({t for t in total if _feasible(t, parts)}) >= 2
