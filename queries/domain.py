"""Domain vocabulary of SPEC sections 2 and 3: enums, levels and the metric key list."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

LEVELS: tuple[str, ...] = ("province", "city", "county", "township", "community")

PERSON_STATUSES: tuple[str, ...] = ("employed", "flexible", "unemployed", "inactive")
KEY_GROUPS: tuple[str, ...] = (
    "difficulty",
    "registered_unemployed",
    "graduate",
    "poverty_alleviated",
    "veteran",
    "disabled",
    "returnee",
)
VACANCY_TYPES: tuple[str, ...] = (
    "full_time",
    "flexible",
    "public_welfare",
    "internship",
    "traineeship",
    "shared",
)
PLACEMENT_FORMS: tuple[str, ...] = (
    "employer",
    "flexible",
    "public_welfare",
    "entrepreneurship",
    "traineeship",
)
ASSISTANCE_KINDS: tuple[str, ...] = (
    "guidance",
    "referral",
    "training",
    "public_welfare_post",
    "subsidy",
    "visit",
)

if TYPE_CHECKING:
    KINDS: tuple[str, ...]  # the exchange KINDs, in declaration order


def __getattr__(name: str) -> Any:
    """KINDS comes from the KIND declarations (queries.exchange.kinds), loaded on first use."""
    if name == "KINDS":
        from queries.exchange.kinds import KIND_NAMES

        return KIND_NAMES
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


EARTH_RADIUS_KM = 6371.0088
CIRCLE_KM = 3.0
# Float haversine of a point placed exactly 3.0 km away can come out as 3.0000000000000004;
# a nanometre of tolerance keeps "≤ 3.0" true to its meaning without admitting 3.01 km.
CIRCLE_EPS_KM = 1e-9
OVERDUE_DAYS = 30


def metric_keys() -> list[str]:
    """Every scalar metric key of SPEC section 3, in a stable display order."""
    keys = ["placements.today", "placements.month", "placements.year"]
    keys += [f"placements.by_form.{f}" for f in PLACEMENT_FORMS]
    keys += ["placements.within_3km_share"]
    keys += ["vacancies.open", "vacancies.open_headcount"]
    keys += [f"vacancies.by_type.{t}" for t in VACANCY_TYPES]
    keys += ["vacancies.new.month", "jobseekers.active", "supply_demand_ratio"]
    for g in KEY_GROUPS:
        keys += [
            f"key_groups.{g}.registered",
            f"key_groups.{g}.assisted.year",
            f"key_groups.{g}.placed.year",
            f"key_groups.{g}.placement_rate",
        ]
    keys += ["assistance.year"] + [f"assistance.by_kind.{k}" for k in ASSISTANCE_KINDS]
    keys += [
        "zero_households.outstanding",
        "zero_households.overdue",
        "zero_households.identified.year",
        "zero_households.cleared.year",
        "zero_households.avg_days_to_clear.year",
        "circle.communities",
        "circle.covered",
        "circle.coverage",
    ]
    return keys


METRIC_KEYS: tuple[str, ...] = tuple(metric_keys())

# Ratios and averages: not summable over children; recomputed from their parts.
DERIVED_KEYS: frozenset[str] = frozenset(
    ["placements.within_3km_share", "supply_demand_ratio", "zero_households.avg_days_to_clear.year",
     "circle.coverage"]
    + [f"key_groups.{g}.placement_rate" for g in KEY_GROUPS]
)
COUNT_KEYS: tuple[str, ...] = tuple(k for k in METRIC_KEYS if k not in DERIVED_KEYS)

# Person- and household-level counts, subject to small-count suppression on public views.
PERSON_COUNT_PREFIXES: tuple[str, ...] = (
    "placements.",
    "jobseekers.",
    "key_groups.",
    "zero_households.",
    "assistance.",
)

SERIES_KEYS: tuple[str, ...] = ("placements.monthly",)
