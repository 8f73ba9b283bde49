"""An independent, deliberately naive reading of SPEC section 3 in plain pandas.

For each region, filter the raw source tables (read back with pandas.read_sql) to the
region's subtree and count. Nothing from queries.aggregate is used: tests compare the
product against this.
"""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd

from queries.domain import ASSISTANCE_KINDS, KEY_GROUPS, PLACEMENT_FORMS, VACANCY_TYPES


def hav(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Textbook haversine on a sphere of radius 6371.0088 km."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (math.sin((p2 - p1) / 2) ** 2
         + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2)
    return 2 * 6371.0088 * math.asin(math.sqrt(min(a, 1.0)))


def ratio(num: int, den: int, digits: int) -> float | None:
    return None if den == 0 else round(num / den, digits)


def as_date(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s).dt.date


def expected(engine, today: dt.date) -> dict[str, dict]:  # noqa: ANN001
    """SPEC §3 per region at local date `today`, by filtering raw tables to each subtree."""
    TODAY = today  # noqa: N806
    MONTH0 = today.replace(day=1)  # noqa: N806
    YEAR0 = today.replace(month=1, day=1)  # noqa: N806
    t = {name: pd.read_sql(f"SELECT * FROM {name}", engine) for name in (
        "regions", "persons", "households", "vacancies", "placements", "assistance")}
    reg = t["regions"]
    pl, va, pe, asr, hh = (t["placements"], t["vacancies"], t["persons"], t["assistance"],
                           t["households"])
    pl["placed_on"] = as_date(pl["placed_on"])
    pl["placed_at"] = pd.to_datetime(pl["placed_at"])
    for c in ("posted_on", "closed_on"):
        va[c] = as_date(va[c])
    pe["registered_on"] = as_date(pe["registered_on"])
    asr["served_on"] = as_date(asr["served_on"])
    for c in ("zero_identified_on", "zero_cleared_on"):
        hh[c] = as_date(hh[c])
    for g in KEY_GROUPS:
        pe[f"kg_{g}"] = pe[f"kg_{g}"].astype(bool)
    pe["seeking_job"] = pe["seeking_job"].astype(bool)

    children: dict[str, list[str]] = {}
    for code, parent in zip(reg["code"], reg["parent_code"], strict=True):
        if isinstance(parent, str):
            children.setdefault(parent, []).append(code)

    def subtree(code: str) -> set[str]:
        out, todo = {code}, [code]
        while todo:
            for ch in children.get(todo.pop(), []):
                out.add(ch)
                todo.append(ch)
        return out

    centre = {r.code: (r.lat, r.lon) for r in reg.itertuples() if r.level == "community"}
    is_open = va["posted_on"].le(TODAY) & (va["closed_on"].isna() | va["closed_on"].gt(TODAY))
    open_va = va[is_open]
    covered = {c: any(hav(lat, lon, v.lat, v.lon) <= 3.0 + 1e-9 for v in open_va.itertuples())
               for c, (lat, lon) in centre.items()}
    vac_pos = {v.vacancy_id: (v.lat, v.lon) for v in va.itertuples()}
    # Per placement, once: is its vacancy worksite within 3 km of its community centre?
    pl["near"] = [
        r.vacancy_id in vac_pos and r.community_code in centre
        and hav(*centre[r.community_code], *vac_pos[r.vacancy_id]) <= 3.0 + 1e-9
        for r in pl.itertuples()
    ]
    pl["ym"] = [d.strftime("%Y-%m") for d in pl["placed_on"]]
    ok_person = pe[pe["registered_on"].isna() | pe["registered_on"].le(TODAY)]
    year_pl = pl[pl["placed_on"].ge(YEAR0) & pl["placed_on"].le(TODAY)]
    year_as = asr[asr["served_on"].ge(YEAR0) & asr["served_on"].le(TODAY)]
    placed_people = set(year_pl["person_id"])
    assisted_people = set(year_as["person_id"])

    out = {}
    for code in reg["code"]:
        s = subtree(code)
        m: dict[str, int | float | None] = {}
        p = pl[pl["community_code"].isin(s)]
        py = p[p["placed_on"].ge(YEAR0) & p["placed_on"].le(TODAY)]
        m["placements.today"] = int(p["placed_on"].eq(TODAY).sum())
        m["placements.month"] = int((p["placed_on"].ge(MONTH0) & p["placed_on"].le(TODAY)).sum())
        m["placements.year"] = len(py)
        for f in PLACEMENT_FORMS:
            m[f"placements.by_form.{f}"] = int(py["form"].eq(f).sum())
        known = py[py["vacancy_id"].isin(list(vac_pos))]
        near = int(known["near"].sum())
        m["placements.within_3km_share"] = ratio(near, len(known), 4)
        ov = open_va[open_va["community_code"].isin(s)]
        m["vacancies.open"] = len(ov)
        m["vacancies.open_headcount"] = int(ov["headcount"].sum())
        for ty in VACANCY_TYPES:
            m[f"vacancies.by_type.{ty}"] = int(ov.loc[ov["type"].eq(ty), "headcount"].sum())
        v = va[va["community_code"].isin(s)]
        m["vacancies.new.month"] = int((v["posted_on"].ge(MONTH0) & v["posted_on"].le(TODAY)).sum())
        people = ok_person[ok_person["community_code"].isin(s)]
        seekers = int(people["seeking_job"].sum())
        m["jobseekers.active"] = seekers
        m["supply_demand_ratio"] = ratio(m["vacancies.open_headcount"], seekers, 2)
        for g in KEY_GROUPS:
            ids = set(people.loc[people[f"kg_{g}"], "person_id"])
            m[f"key_groups.{g}.registered"] = len(ids)
            m[f"key_groups.{g}.assisted.year"] = len(ids & assisted_people)
            m[f"key_groups.{g}.placed.year"] = len(ids & placed_people)
            m[f"key_groups.{g}.placement_rate"] = ratio(len(ids & placed_people), len(ids), 4)
        a = year_as[year_as["community_code"].isin(s)]
        m["assistance.year"] = len(a)
        for k in ASSISTANCE_KINDS:
            m[f"assistance.by_kind.{k}"] = int(a["kind"].eq(k).sum())
        h = hh[hh["community_code"].isin(s) & hh["zero_identified_on"].notna()]
        ident, clr = h["zero_identified_on"], h["zero_cleared_on"]
        outstanding = ident.le(TODAY) & (clr.isna() | clr.gt(TODAY))
        overdue = outstanding & ident.lt(TODAY - dt.timedelta(days=30))
        cleared_y = clr.notna() & clr.ge(YEAR0) & clr.le(TODAY)
        m["zero_households.outstanding"] = int(outstanding.sum())
        m["zero_households.overdue"] = int(overdue.sum())
        m["zero_households.identified.year"] = int((ident.ge(YEAR0) & ident.le(TODAY)).sum())
        m["zero_households.cleared.year"] = int(cleared_y.sum())
        days = sum((c - i).days for i, c in zip(ident[cleared_y], clr[cleared_y], strict=True))
        m["zero_households.avg_days_to_clear.year"] = ratio(days, int(cleared_y.sum()), 1)
        comms = [c for c in s if c in centre]
        m["circle.communities"] = len(comms)
        m["circle.covered"] = sum(covered[c] for c in comms)
        m["circle.coverage"] = ratio(m["circle.covered"], len(comms), 4)

        series = {}
        for back in range(11, -1, -1):
            y, mo = divmod(TODAY.year * 12 + TODAY.month - 1 - back, 12)
            key = f"{y:04d}-{mo + 1:02d}"
            series[key] = int((p["ym"].eq(key) & p["placed_on"].le(TODAY)).sum())
        newest = ov.sort_values(["posted_on", "vacancy_id"], ascending=False)
        latest = p[p["placed_on"].le(TODAY)].sort_values(
            ["placed_at", "placement_id"], ascending=False)
        out[code] = {
            "metrics": m, "series": series,
            "newest": list(newest["vacancy_id"][:20]),
            "latest": [x.strftime("%Y-%m-%dT%H:%M") for x in latest["placed_at"][:20]],
            "open_headcount_by_industry": int(ov["headcount"].sum()),
        }
    return out


