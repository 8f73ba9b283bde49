"""The metric registry: one entry per metric family of SPEC section 3.

Each family declares its key pattern, the SPEC definition, what kind of number it is
(count, share, ratio, mean), its decimals, whether it counts persons or households (and so
is suppressed on public views), what it is derived from (a ratio is hidden when a part is),
labels in Chinese and English, and how it rolls up the region tree. The key list of the
API, presentation (formats), suppression, labels, the OpenAPI document and the tests'
key lists all read it; the computation of each family is in queries/aggregate.py under the
family's `compute` name (`_metrics_of` there turns per-community parts into these keys).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

from queries.domain import (
    ASSISTANCE_KINDS,
    FAIR_COUNTS,
    FE_CRITERIA,
    KEY_GROUPS,
    PLACEMENT_FORMS,
    TRAINING_KINDS,
    VACANCY_TYPES,
)

# What kind of number a metric is: decides formatting, roll-up and suppression.
COUNT, SHARE, RATIO, MEAN = "count", "share", "ratio", "mean"
DIMENSIONS: dict[str, tuple[str, ...]] = {
    "form": PLACEMENT_FORMS,
    "type": VACANCY_TYPES,
    "group": KEY_GROUPS,
    "kind": ASSISTANCE_KINDS,
    "fair_count": FAIR_COUNTS,
    "training_kind": TRAINING_KINDS,
    "criterion": FE_CRITERIA,
}


@dataclass(frozen=True)
class Family:
    """One metric family: a key pattern over zero or more dimensions."""

    pattern: str  # "placements.by_form.{form}"
    definition: str
    kind: str = COUNT
    decimals: int = 0
    person_level: bool = False
    derived_from: tuple[str, ...] = ()  # patterns over the same dimensions
    label: tuple[str, str] | None = None  # (zh, en); None: built from the dimension labels
    rollup: str = "sum"  # sum of communities, or "recompute" from the parts
    # The per-community part columns (queries/aggregate.py) the value comes from: one for a
    # count (summed up the tree), (numerator, denominator) for a share, ratio or mean.
    parts: tuple[str, ...] = ()
    # A count kept in smaller units so that it sums exactly (loan amounts in fen): the
    # value is the summed part ÷ scale, with `decimals` decimals.
    scale: int = 1

    @property
    def dims(self) -> tuple[str, ...]:
        """The dimensions in the pattern, in order."""
        return tuple(d for d in DIMENSIONS if "{" + d + "}" in self.pattern)

    def expand(self) -> list[tuple[str, dict[str, str]]]:
        """(key, dimension values) of every key of the family, in display order."""
        dims = self.dims
        return [(self.pattern.format(**dict(zip(dims, vals, strict=True))),
                 dict(zip(dims, vals, strict=True)))
                for vals in product(*(DIMENSIONS[d] for d in dims))]


def _count(pattern: str, part: str, definition: str, person: bool,
           label: tuple[str, str] | None = None) -> Family:
    return Family(pattern, definition, COUNT, 0, person, (), label, "sum", (part,))


# Families in display (and API) order. Key groups interleave four families per group, so
# they are listed as one block below.
_PLACEMENTS = [
    _count("placements.today", "pl_today",
           "placements with community in R and placed_at's local date "
           "today", True, ("今日就业", "Placements today")),
    _count("placements.month", "pl_month",
           "placements with community in R and placed_at's local date "
           "in the month window", True, ("本月就业", "Placements this month")),
    _count("placements.year", "pl_year",
           "placements with community in R and placed_at's local date in "
           "the year window", True, ("城镇新增就业", "Placements")),
    _count("placements.by_form.{form}", "pl_form_{form}", "year placements of that form", True),
    Family("placements.within_3km_share", "among year placements in R whose vacancy is known, "
           "the share whose vacancy worksite is within 3 km of the person's community centre",
           SHARE, 4, False, ("placements.year",), ("三公里内就业占比", "Placed within 3 km"),
           "recompute", ("pl_within", "pl_known")),
]
_VACANCIES = [
    _count("vacancies.open", "vac_open", "open postings with worksite in R", False,
           ("在招岗位", "Open postings")),
    _count("vacancies.open_headcount", "vac_open_hc",
           "the sum of the headcount of open postings in R", False,
           ("岗位招聘人数", "Open headcount")),
    _count("vacancies.by_type.{type}", "vac_type_{type}", "open headcount of that type", False),
    _count("vacancies.new.month", "vac_new_month",
           "postings in R with posted_on in the month window", False,
           ("本月新增岗位", "New postings this month")),
    _count("jobseekers.active", "seeking", "persons in R with seeking_job = true", True,
           ("求职人数", "Active jobseekers")),
    Family("supply_demand_ratio", "求人倍率 = vacancies.open_headcount ÷ jobseekers.active",
           RATIO, 2, False, ("jobseekers.active",), ("求人倍率", "Jobs per jobseeker"),
           "recompute", ("vac_open_hc", "seeking")),
]
_KEY_GROUP_BLOCK = [
    _count("key_groups.{group}.registered", "kg_{group}_reg", "persons in R in key group g", True),
    _count("key_groups.{group}.assisted.year", "kg_{group}_assisted",
           "distinct persons in R in group g with ≥ 1 "
           "assistance record served in the year window", True),
    _count("key_groups.{group}.placed.year", "kg_{group}_placed",
           "distinct persons in R in group g with ≥ 1 year "
           "placement", True),
    Family("key_groups.{group}.placement_rate", "placed.year ÷ registered", SHARE, 4, False,
           ("key_groups.{group}.registered", "key_groups.{group}.placed.year"), None,
           "recompute", ("kg_{group}_placed", "kg_{group}_reg")),
]
_REST = [
    _count("assistance.year", "as_year",
           "assistance records in R served in the year window (服务人次)", True,
           ("帮扶服务人次", "Assistance services")),
    _count("assistance.by_kind.{kind}", "as_kind_{kind}",
           "assistance records of that kind in the year window",
           True),
    _count("zero_households.outstanding", "hh_outstanding",
           "households in R outstanding at T", True,
           ("零就业家庭(待清零)", "Zero-employment households")),
    _count("zero_households.overdue", "hh_overdue", "outstanding households with date(T) − "
           "zero_identified_on > 30 days", True, ("超期未清零", "Overdue households")),
    _count("zero_households.identified.year", "hh_identified",
           "households whose zero_identified_on is in the "
           "year window", True, ("本年认定", "Identified this year")),
    _count("zero_households.cleared.year", "hh_cleared",
           "households whose zero_cleared_on is in the year "
           "window", True, ("零就业家庭清零", "Households cleared")),
    Family("zero_households.avg_days_to_clear.year", "mean of (cleared − identified) days "
           "over households cleared in the year window", MEAN, 1, False,
           ("zero_households.cleared.year",), ("平均清零天数", "Average days to clear"),
           "recompute", ("hh_cleared_days", "hh_cleared")),
    _count("circle.communities", "circle_communities",
           "communities in R", False, ("社区总数", "Communities")),
    _count("circle.covered", "circle_covered",
           "communities in R with ≥ 1 open vacancy (anywhere) within 3 km "
           "of the community centre", False, ("覆盖社区", "Covered communities")),
    Family("circle.coverage", "covered ÷ communities", SHARE, 4, False, (),
           ("三公里就业圈覆盖率", "3-km circle coverage"), "recompute",
           ("circle_covered", "circle_communities")),
]

# SPEC section 6.2. Job-fair families count fairs whose region_code is R or below (a fair
# may belong to any level), so their parts sit on any region, not only communities.
_SERVICES = [
    _count("jobseekers.registered.month", "js_reg_month",
           "persons in R with registered_on in the month window (自助求职登记)", True,
           ("本月求职登记", "Registered this month")),
    _count("jobseekers.registered.year", "js_reg_year",
           "persons in R with registered_on in the year window (自助求职登记)", True,
           ("本年求职登记", "Registered this year")),
    _count("employers.total", "emp_total", "employers with community in R", False,
           ("入驻企业", "Employers")),
    _count("employers.registered.year", "emp_reg_year",
           "employers with community in R and registered_on in the year window", False,
           ("本年新入驻企业", "Employers joined this year")),
    _count("employers.hiring", "emp_hiring",
           "employers with community in R that have ≥ 1 open vacancy", False,
           ("在招企业", "Employers hiring")),
    _count("labour.employed", "lab_employed",
           "persons in R with status employed or flexible", True,
           ("就业人数", "Employed")),
    _count("unemployed.registered", "unemp_reg", "persons in R with status unemployed and "
           "key group registered_unemployed", True, ("登记失业人数", "Registered unemployed")),
    _count("unemployed.long_term", "unemp_long", "persons in R with status unemployed and "
           "date(T) − unemployed_since > 180 days", True,
           ("长期失业人数", "Long-term unemployed")),
    Family("unemployment.registered_rate", "登记失业率 = unemployed.registered ÷ "
           "(labour.employed + unemployed.registered)", SHARE, 4, False,
           ("unemployed.registered", "labour.employed"),
           ("登记失业率", "Registered unemployment rate"), "recompute",
           ("unemp_reg", "lab_reg_force")),
    _count("job_fairs.year", "fair_year",
           "job fairs with region_code R or below held in the year window", False,
           ("招聘会场次", "Job fairs")),
    _count("job_fairs.{fair_count}.year", "fair_{fair_count}",
           "the sum of that column over the year's job fairs of R or below", False),
    _count("trainings.year", "tr_year", "trainings in R started in the year window", True,
           ("培训人次", "Trainings")),
    _count("trainings.completed.year", "tr_completed", "of the year's trainings, those "
           "completed on or before date(T)", True, ("结业人次", "Trainings completed")),
    _count("trainings.certified.year", "tr_certified", "of the year's trainings, those "
           "certified (and not completed after date(T))", True,
           ("取证人次", "Certificates")),
    _count("trainings.subsidised.year", "tr_subsidised", "of the year's trainings, those "
           "subsidised", True, ("补贴培训人次", "Subsidised trainings")),
    _count("trainings.remote.year", "tr_remote", "of the year's trainings, those remote",
           True, ("线上培训人次", "Remote trainings")),
    _count("trainings.by_kind.{training_kind}", "tr_kind_{training_kind}",
           "trainings of that kind started in the year window", True),
    _count("interviews.year", "iv_year", "interviews in R held in the year window", True,
           ("面试人次", "Interviews")),
    _count("interviews.remote.year", "iv_remote", "of the year's interviews, those remote",
           True, ("远程面试人次", "Remote interviews")),
    Family("interviews.offer_rate.year", "offers ÷ (offer + no_offer) among the year's "
           "interviews", SHARE, 4, False, ("interviews.year",),
           ("面试录用率", "Offer rate"), "recompute", ("iv_offer", "iv_decided")),
    _count("loans.year", "loan_year", "loans in R granted in the year window", True,
           ("创业担保贷款笔数", "Start-up loans")),
    Family("loans.amount.year", "the sum of amount (yuan) of the year's loans", COUNT, 2,
           False, (), ("贷款金额(元)", "Loan amount (CNY)"), "sum", ("loan_fen",),
           scale=100),
    _count("loans.jobs_created.year", "loan_jobs", "the sum of jobs_created of the year's "
           "loans", False, ("带动就业人数", "Jobs created")),
    _count("satisfaction.responses.year", "sat_n",
           "satisfaction answers in R in the year window", False,
           ("评价人次", "Survey answers")),
    Family("satisfaction.score.year", "the mean score of the year's answers", MEAN, 2, False,
           (), ("满意度平均分", "Mean satisfaction score"), "recompute",
           ("sat_score", "sat_n")),
    Family("satisfaction.satisfied_share.year", "the share of the year's answers with score "
           "≥ 4", SHARE, 4, False, (), ("满意率", "Satisfied share"), "recompute",
           ("sat_satisfied", "sat_n")),
    _count("full_employment.communities", "fe_communities", "communities in R", False,
           ("社区总数", "Communities")),
    _count("full_employment.compliant", "fe_compliant",
           "communities in R meeting all four criteria", False,
           ("充分就业社区", "Full-employment communities")),
    Family("full_employment.rate", "compliant ÷ communities", SHARE, 4, False, (),
           ("充分就业社区达标率", "Full-employment compliance"), "recompute",
           ("fe_compliant", "fe_communities")),
    _count("full_employment.failing.{criterion}", "fe_fail_{criterion}",
           "communities in R failing criterion c", False),
]

FAMILIES: tuple[Family, ...] = tuple(
    _PLACEMENTS + _VACANCIES + _KEY_GROUP_BLOCK + _REST + _SERVICES
)


def _expand_all() -> list[tuple[str, Family, dict[str, str]]]:
    out: list[tuple[str, Family, dict[str, str]]] = []
    for fam in _PLACEMENTS + _VACANCIES:
        out += [(k, fam, d) for k, d in fam.expand()]
    for g in KEY_GROUPS:  # per group: registered, assisted, placed, rate
        for fam in _KEY_GROUP_BLOCK:
            out.append((fam.pattern.format(group=g), fam, {"group": g}))
    for fam in _REST + _SERVICES:
        out += [(k, fam, d) for k, d in fam.expand()]
    return out


_ALL = _expand_all()
FAMILY_OF: dict[str, Family] = {k: fam for k, fam, _ in _ALL}
DIMS_OF: dict[str, dict[str, str]] = {k: d for k, _, d in _ALL}

# Every scalar key, in the order the API gives them.
METRIC_KEYS: tuple[str, ...] = tuple(k for k, _, _ in _ALL)
# Ratios and averages: not summable over children; recomputed from their parts.
DERIVED_KEYS: frozenset[str] = frozenset(k for k, f, _ in _ALL if f.rollup != "sum")
COUNT_KEYS: tuple[str, ...] = tuple(k for k in METRIC_KEYS if k not in DERIVED_KEYS)
# Person- and household-level counts, subject to small-count suppression on public views.
PERSON_KEYS: frozenset[str] = frozenset(k for k, f, _ in _ALL if f.person_level)
PERCENT_KEYS: frozenset[str] = frozenset(k for k, f, _ in _ALL if f.kind == SHARE)
RATIO_KEYS: frozenset[str] = frozenset(k for k, f, _ in _ALL if f.kind == RATIO)
MEAN_KEYS: frozenset[str] = frozenset(k for k, f, _ in _ALL if f.kind == MEAN)
# A ratio is hidden when one of its parts is (it would give the part back).
DERIVED_FROM: dict[str, tuple[str, ...]] = {
    k: tuple(p.format(**d) for p in f.derived_from) for k, f, d in _ALL if f.derived_from
}
DECIMALS: dict[str, int] = {k: f.decimals for k, f, _ in _ALL}
# How each key's value comes from a region's summed parts: (key, numerator part,
# denominator part or None for a plain count, decimals).
VALUE_RULES: tuple[tuple[str, str, str | None, int], ...] = tuple(
    (k, f.parts[0].format(**d), f.parts[1].format(**d) if len(f.parts) > 1 else None,
     f.decimals)
    for k, f, d in _ALL
)

# Keys whose summed part is in smaller units (value = part ÷ scale).
SCALES: dict[str, int] = {k: f.scale for k, f, _ in _ALL if f.scale != 1}
# Families whose parts belong to any region (job fairs), not only to communities: the
# roll-up test allows a parent above the sum of its children for these.
ANY_LEVEL_KEYS: frozenset[str] = frozenset(k for k in METRIC_KEYS if k.startswith("job_fairs."))


def label(key: str, lang: str = "zh") -> str | None:
    """The declared display label of a key (None when its family has none)."""
    fam = FAMILY_OF.get(key)
    if fam is None or fam.label is None:
        return None
    return fam.label[1] if lang == "en" else fam.label[0]


__all__ = ["Family", "FAMILIES", "METRIC_KEYS", "DERIVED_KEYS", "COUNT_KEYS", "PERSON_KEYS",
           "PERCENT_KEYS", "RATIO_KEYS", "MEAN_KEYS", "DERIVED_FROM", "DECIMALS", "FAMILY_OF",
           "DIMS_OF", "SCALES", "ANY_LEVEL_KEYS", "label", "COUNT", "SHARE", "RATIO", "MEAN"]
