"""Domain vocabulary of SPEC sections 2 and 3: enums and levels (metric keys: queries.metrics)."""

from __future__ import annotations

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

# SPEC section 6.1: services KINDs.
FAIR_MODES: tuple[str, ...] = ("onsite", "online", "livestream")
# The count columns of a job fair, summed by job_fairs.<c>.year.
FAIR_COUNTS: tuple[str, ...] = ("employers", "posts", "visitors", "intentions", "views")
TRAINING_KINDS: tuple[str, ...] = ("skills", "entrepreneurship", "platform", "other")
SERVICE_MODES: tuple[str, ...] = ("onsite", "remote")  # trainings and interviews
INTERVIEW_OUTCOMES: tuple[str, ...] = ("offer", "no_offer", "pending")
SURVEY_SERVICES: tuple[str, ...] = (
    "registration", "referral", "guidance", "training", "job_fair", "other",
)
SURVEY_CHANNELS: tuple[str, ...] = ("onsite", "phone", "online")
# SPEC section 6.2: the 充分就业社区 criteria, in display order.
FE_CRITERIA: tuple[str, ...] = ("employment", "long_term", "zero_households", "assistance")
FE_EMPLOYMENT_MIN = 0.95  # employed ÷ (employed + unemployed) at least this
LONG_TERM_DAYS = 180  # unemployed longer than this (strictly) is long-term

EARTH_RADIUS_KM = 6371.0088
CIRCLE_KM = 3.0
# Float haversine of a point placed exactly 3.0 km away can come out as 3.0000000000000004;
# a nanometre of tolerance keeps "≤ 3.0" true to its meaning without admitting 3.01 km.
CIRCLE_EPS_KM = 1e-9
OVERDUE_DAYS = 30


SERIES_KEYS: tuple[str, ...] = ("placements.monthly",)
