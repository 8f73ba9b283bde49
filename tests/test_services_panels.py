"""Panels `services` and `full_employment` (SPEC 6.3) and targets against 时序进度 (SPEC 6.2),
from hand-made snapshot dicts with answers worked out by hand."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dashboard.present import present
from layouts import BY_ID, PANEL_IDS, full_employment, services
from queries.metrics import METRIC_KEYS

AS_OF = "2026-04-30T20:00:00+08:00"  # day 120 of 365: 时序进度 32.9 %
CITY, COUNTY, COMMUNITY = "340100000000", "340104000000", "340104001001"


def text(component: Any) -> str:
    """Every string in a rendered component tree (for 'is it on screen' checks)."""
    return json.dumps(component.to_plotly_json() if hasattr(component, "to_plotly_json")
                      else component, ensure_ascii=False, default=lambda o: o.to_plotly_json())


def metrics(**values: Any) -> dict[str, Any]:
    base = {k: 0 for k in METRIC_KEYS}
    base.update({k.replace("__", "."): v for k, v in values.items()})
    return base


def region(level: str = "city", code: str = CITY, **extra: Any) -> dict[str, Any]:
    m = metrics()
    m.update({
        "placements.year": 50, "full_employment.communities": 40,
        "full_employment.compliant": 26, "full_employment.rate": 0.65,
        "full_employment.failing.employment": 5, "full_employment.failing.long_term": 9,
        "full_employment.failing.zero_households": 2, "full_employment.failing.assistance": 3,
        "job_fairs.year": 12, "job_fairs.posts.year": 3456, "trainings.year": 88,
        "satisfaction.score.year": 4.617, "loans.amount.year": 1234567.5,
    })
    return {"code": code, "name": "合肥市", "level": level, "metrics": m,
            "targets": {}, "lists": {}, **extra}


def test_targets_get_expected_and_pace() -> None:
    r = region(targets={"placements.year": {"target": 100, "completion": 0.5},
                        "full_employment.rate": {"target": 0.7, "completion": 0.2},
                        "trainings.year": {"target": 200, "completion": 0.44,
                                           "expected": 0.5}})
    p = present(r, [], as_of=AS_OF)
    ahead, behind, given = (p["targets"][k] for k in
                            ("placements.year", "full_employment.rate", "trainings.year"))
    assert ahead["expected"] == "32.9%" and ahead["expected_v"] == round(120 / 365, 4)
    assert ahead["pace"] == "ahead" and behind["pace"] == "behind"
    assert given["expected_v"] == 0.5 and given["pace"] == "behind"  # the snapshot's wins
    # Leap year: 29 February 2028 is day 60 of 366.
    p = present(r, [], as_of="2028-02-29T09:00:00+08:00")
    assert p["targets"]["placements.year"]["expected_v"] == round(60 / 366, 4)


def test_upcoming_fairs_formatted_bounded_and_scoped() -> None:
    fairs = [{"held_on": f"2026-05-{d:02d}", "title": f"招聘会{d}", "mode": "livestream",
              "region_code": COUNTY if d % 2 else "340102000000",
              "region_name": "蜀山区" if d % 2 else "瑶海区"} for d in range(1, 13)]
    r = region(lists={"upcoming_fairs": fairs})
    zh = present(r, [], as_of=AS_OF)["fairs"]
    assert len(zh) == 10
    assert zh[0] == {"date": "5月1日", "title": "招聘会1", "mode": "直播", "where": "蜀山区"}
    en = present(r, [], as_of=AS_OF, lang="en")["fairs"]
    assert en[2]["date"] == "May 3" and en[2]["mode"] == "Livestream"
    # A viewer scoped to 蜀山区 does not get the name of a place outside it.
    scoped = present(r, [], as_of=AS_OF, visible=lambda c: c.startswith("340104"))["fairs"]
    assert [f["where"] for f in scoped[:2]] == ["蜀山区", ""]


def test_act_on_and_criteria_with_suppression() -> None:
    acts = [{"code": COMMUNITY, "name": "甲社区", "failing": ["employment", "assistance"]},
            {"code": "x", "name": "乙社区", "failing": ["long_term", "bogus"]}]
    p = present(region(lists={"fe_actions": acts}), [], as_of=AS_OF)
    assert [a["labels"] for a in p["act_on"]] == [
        ["就业率≥95%", "困难人员援助全覆盖"], ["无长期失业"]]

    leaf = region("community", COMMUNITY, lists={"fe_criteria": {
        "employment": {"value": 0.9, "ok": False}, "long_term": {"value": 1, "ok": False},
        "zero_households": {"value": 0, "ok": True}, "assistance": {"value": 2, "ok": False}}})
    leaf["metrics"]["labour.employed"] = 18
    exact = {c["key"]: c for c in present(leaf, [], as_of=AS_OF)["criteria"]}
    assert exact["employment"]["value"] == "90.0%" and exact["employment"]["met"] is False
    assert exact["long_term"]["value"] == "1" and exact["zero_households"]["met"] is True
    public = {c["key"]: c for c in present(leaf, [], as_of=AS_OF, public=True)["criteria"]}
    assert public["long_term"]["value"] == "<3" and public["assistance"]["value"] == "<3"
    assert public["zero_households"]["value"] == "0"
    leaf["metrics"]["labour.employed"] = 2  # hidden on public views: its share is too
    public = {c["key"]: c for c in present(leaf, [], as_of=AS_OF, public=True)["criteria"]}
    assert public["employment"]["value"] == "*"


def test_registry_order_ends_with_the_new_panels() -> None:
    ids = list(PANEL_IDS)
    assert ids.index("circle") < ids.index("services") < ids.index("full_employment")
    assert BY_ID["services"] is services and BY_ID["full_employment"] is full_employment


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("mode", ["wall", "region", "embed"])
@pytest.mark.parametrize("leaf", [False, True])
def test_panels_render_every_level(lang: str, mode: str, leaf: bool) -> None:
    targets = {"full_employment.rate": {"target": 0.7, "completion": 0.65 / 0.7}}
    if leaf:
        r = region("community", COMMUNITY, targets=targets, lists={"fe_criteria": {
            "employment": {"value": 0.97, "ok": True}, "long_term": {"value": 4, "ok": False},
            "zero_households": {"value": 0, "ok": True},
            "assistance": {"value": 0, "ok": True}}})
        kids: list[dict[str, Any]] = []
    else:
        r = region(targets=targets, lists={
            "upcoming_fairs": [{"held_on": "2026-05-06", "title": "春风行动专场",
                                "mode": "onsite", "region_code": COUNTY,
                                "region_name": "蜀山区"}],
            "fe_actions": [{"code": COMMUNITY, "name": "甲社区", "failing": ["long_term"]}]})
        kids = [{"code": COUNTY, "name": "蜀山区", "level": "county", "metrics": metrics(**{
            "full_employment__rate": 0.5, "trainings__year": 30})}]
    p = present(r, kids, as_of=AS_OF, lang=lang)
    ctx = {"mode": mode, "lang": lang, "theme": "dark", "region": r["code"], "qs": "",
           "panel": None}
    for module in (services, full_employment):
        skeleton = text(module.skeleton(ctx))
        assert f'"data-panel": "{module.PANEL_ID}"' in skeleton and "as-of" in skeleton
        cells, figures = module.render(p, ctx)
        assert list(cells) == list(module.CELLS) and list(figures) == list(module.GRAPHS)
    svc = text(services.render(p, ctx)[0])
    fe_cells, fe_figs = full_employment.render(p, ctx)
    fe = text(fe_cells)
    assert "3,456" in svc  # posts offered at fairs
    assert "4.62" in svc  # the mean score with two decimals
    assert "123.5万" in svc or "1.23M" in svc  # 1,234,567.5 yuan
    # The rate's target line sits at 70 % on the gauge; completion 92.9 % is ahead of 32.9 %.
    assert fe_figs["gauge"]["data"][0]["gauge"]["threshold"]["value"] == pytest.approx(70)
    assert "92.9%" in fe and ("超进度" in fe if lang == "zh" else "ahead" in fe)
    if leaf:
        assert ("未达标" in fe if lang == "zh" else "Not met" in fe)
        assert ("本社区未达标：1项" in fe if lang == "zh" else "1 criteria" in fe)
    else:
        assert "春风行动专场" in svc and ("5月6日" in svc or "May 6" in svc)
        assert "甲社区" in fe and "蜀山区" in fe
        assert ("长期失业" in fe if lang == "zh" else "Long-term" in fe)
