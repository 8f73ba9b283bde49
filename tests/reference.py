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
        "regions", "persons", "households", "vacancies", "placements", "assistance",
        "employers", "job_fairs", "trainings", "interviews", "loans", "surveys")}
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

    services = _services(t, TODAY, MONTH0, YEAR0, ok_person, is_open, assisted_people)

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
        m.update(services(s, comms))

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




def _flag(col: pd.Series) -> pd.Series:
    """A nullable boolean column (0/1 on SQLite, bool on PostgreSQL) as plain bool."""
    return col.fillna(0).astype(bool)


def _services(t: dict, TODAY: dt.date, MONTH0: dt.date, YEAR0: dt.date,  # noqa: N803
              ok_person: pd.DataFrame, is_open: pd.Series, assisted: set):  # noqa: ANN202
    """SPEC 6.2 per subtree, read as plainly as section 3 above: a function of (subtree,
    communities of the subtree) -> {key: value}."""
    pe = ok_person.copy()
    pe["unemployed_since"] = as_date(pe["unemployed_since"])
    em, fa, tr, iv, lo, sv = (t[k].copy() for k in (
        "employers", "job_fairs", "trainings", "interviews", "loans", "surveys"))
    em["registered_on"] = as_date(em["registered_on"])
    fa["held_on"] = as_date(fa["held_on"])
    for c in ("started_on", "completed_on"):
        tr[c] = as_date(tr[c])
    iv["held_on"] = as_date(iv["held_on"])
    lo["granted_on"] = as_date(lo["granted_on"])
    sv["answered_on"] = as_date(sv["answered_on"])

    def year(df: pd.DataFrame, col: str) -> pd.DataFrame:
        return df[df[col].ge(YEAR0) & df[col].le(TODAY)]

    em = em[em["registered_on"].isna() | em["registered_on"].le(TODAY)]
    hiring = set(t["vacancies"].loc[is_open, "employer_id"].dropna())
    fa, tr, iv, lo, sv = (year(fa, "held_on"), year(tr, "started_on"), year(iv, "held_on"),
                          year(lo, "granted_on"), year(sv, "answered_on"))
    working = pe["status"].isin(["employed", "flexible"])
    unemployed = pe["status"].eq("unemployed")
    reg_unemp = unemployed & pe["kg_registered_unemployed"]
    long_term = unemployed & pe["unemployed_since"].notna() & pe["unemployed_since"].map(
        lambda d: d is not None and not pd.isna(d) and (TODAY - d).days > 180)

    # The four criteria of each community, once.
    hh = t["households"]
    ident, clr = as_date(hh["zero_identified_on"]), as_date(hh["zero_cleared_on"])
    overdue = (ident.notna() & ident.le(TODAY) & (clr.isna() | clr.gt(TODAY))
               & ident.lt(TODAY - dt.timedelta(days=30)))
    overdue_comms = set(hh.loc[overdue, "community_code"])
    fails: dict[str, list[str]] = {}
    for comm, g in pe.groupby("community_code"):
        w, u = int(working[g.index].sum()), int(unemployed[g.index].sum())
        bad = []
        if w + u and w / (w + u) < 0.95:
            bad.append("employment")
        if long_term[g.index].any():
            bad.append("long_term")
        if comm in overdue_comms:
            bad.append("zero_households")
        needy = g[unemployed[g.index] & g["kg_difficulty"]]
        if not set(needy["person_id"]) <= assisted:
            bad.append("assistance")
        fails[comm] = bad
    for comm in overdue_comms:
        fails.setdefault(comm, ["zero_households"])

    def metrics(s: set, comms: list) -> dict:
        m: dict = {}
        p = pe[pe["community_code"].isin(s)]
        reg = p["registered_on"]
        m["jobseekers.registered.month"] = int((reg.notna() & reg.ge(MONTH0)).sum())
        m["jobseekers.registered.year"] = int((reg.notna() & reg.ge(YEAR0)).sum())
        e = em[em["community_code"].isin(s)]
        m["employers.total"] = len(e)
        m["employers.registered.year"] = int(
            (e["registered_on"].notna() & e["registered_on"].ge(YEAR0)).sum())
        m["employers.hiring"] = int(e["employer_id"].isin(hiring).sum())
        m["labour.employed"] = int(working[p.index].sum())
        m["unemployed.registered"] = int(reg_unemp[p.index].sum())
        m["unemployed.long_term"] = int(long_term[p.index].sum())
        m["unemployment.registered_rate"] = ratio(
            m["unemployed.registered"], m["labour.employed"] + m["unemployed.registered"], 4)
        f = fa[fa["region_code"].isin(s)]  # any level: the region itself and below
        m["job_fairs.year"] = len(f)
        for c in ("employers", "posts", "visitors", "intentions", "views"):
            m[f"job_fairs.{c}.year"] = int(f[c].fillna(0).sum())
        x = tr[tr["community_code"].isin(s)]
        done = x["completed_on"].notna() & x["completed_on"].map(
            lambda d: d is not None and not pd.isna(d) and d <= TODAY)
        future = x["completed_on"].notna() & ~done
        m["trainings.year"] = len(x)
        m["trainings.completed.year"] = int(done.sum())
        m["trainings.certified.year"] = int((_flag(x["certified"]) & ~future).sum())
        m["trainings.subsidised.year"] = int(_flag(x["subsidised"]).sum())
        m["trainings.remote.year"] = int(x["mode"].eq("remote").sum())
        for k in ("skills", "entrepreneurship", "platform", "other"):
            m[f"trainings.by_kind.{k}"] = int(x["kind"].eq(k).sum())
        i = iv[iv["community_code"].isin(s)]
        m["interviews.year"] = len(i)
        m["interviews.remote.year"] = int(i["mode"].eq("remote").sum())
        offers = int(i["outcome"].eq("offer").sum())
        m["interviews.offer_rate.year"] = ratio(
            offers, offers + int(i["outcome"].eq("no_offer").sum()), 4)
        ln = lo[lo["community_code"].isin(s)]
        m["loans.year"] = len(ln)
        m["loans.amount.year"] = round(float(ln["amount"].sum()), 2)
        m["loans.jobs_created.year"] = int(ln["jobs_created"].fillna(0).sum())
        y = sv[sv["community_code"].isin(s)]
        m["satisfaction.responses.year"] = len(y)
        m["satisfaction.score.year"] = ratio(int(y["score"].sum()), len(y), 2)
        m["satisfaction.satisfied_share.year"] = ratio(int(y["score"].ge(4).sum()), len(y), 4)
        bad = [fails.get(c, []) for c in comms]
        m["full_employment.communities"] = len(comms)
        m["full_employment.compliant"] = sum(not b for b in bad)
        m["full_employment.rate"] = ratio(m["full_employment.compliant"], len(comms), 4)
        for c in ("employment", "long_term", "zero_households", "assistance"):
            m[f"full_employment.failing.{c}"] = sum(c in b for b in bad)
        return m

    return metrics
