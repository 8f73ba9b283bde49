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

from queries.domain import ASSISTANCE_KINDS, KEY_GROUPS, PLACEMENT_FORMS, VACANCY_TYPES

# What kind of number a metric is: decides formatting, roll-up and suppression.
COUNT, SHARE, RATIO, MEAN = "count", "share", "ratio", "mean"
DIMENSIONS: dict[str, tuple[str, ...]] = {
    "form": PLACEMENT_FORMS,
    "type": VACANCY_TYPES,
    "group": KEY_GROUPS,
    "kind": ASSISTANCE_KINDS,
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

FAMILIES: tuple[Family, ...] = tuple(_PLACEMENTS + _VACANCIES + _KEY_GROUP_BLOCK + _REST)


def _expand_all() -> list[tuple[str, Family, dict[str, str]]]:
    out: list[tuple[str, Family, dict[str, str]]] = []
    for fam in _PLACEMENTS + _VACANCIES:
        out += [(k, fam, d) for k, d in fam.expand()]
    for g in KEY_GROUPS:  # per group: registered, assisted, placed, rate
        for fam in _KEY_GROUP_BLOCK:
            out.append((fam.pattern.format(group=g), fam, {"group": g}))
    for fam in _REST:
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


def label(key: str, lang: str = "zh") -> str | None:
    """The declared display label of a key (None when its family has none)."""
    fam = FAMILY_OF.get(key)
    if fam is None or fam.label is None:
        return None
    return fam.label[1] if lang == "en" else fam.label[0]


__all__ = ["Family", "FAMILIES", "METRIC_KEYS", "DERIVED_KEYS", "COUNT_KEYS", "PERSON_KEYS",
           "PERCENT_KEYS", "RATIO_KEYS", "MEAN_KEYS", "DERIVED_FROM", "DECIMALS", "FAMILY_OF",
           "DIMS_OF", "label", "COUNT", "SHARE", "RATIO", "MEAN"]
