"""Import of exchange files (SPEC section 2): CSV, XLSX and JSON Lines, streamed in chunks.

Each file is validated row by row (pydantic models per KIND, then reference checks per
chunk against the database) and its valid rows are upserted in one transaction. Invalid
rows go to a rejects CSV with their line number and a reason naming the field.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import json
import logging
import math
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, model_validator
from sqlalchemy import Column, Connection, Engine, MetaData, String, Table, select, text
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError

from queries.domain import (
    ASSISTANCE_KINDS,
    KEY_GROUPS,
    KINDS,
    LEVELS,
    METRIC_KEYS,
    PERSON_STATUSES,
    PLACEMENT_FORMS,
    VACANCY_TYPES,
)
from queries.models import (
    Assistance,
    Employer,
    Household,
    Meta,
    Person,
    Placement,
    Region,
    Target,
    Vacancy,
)
from queries.safe_cells import SafeDictWriter
from queries.upsert import pg_copy_rows, upsert
from queries.validation import (
    credit_code_error,
    get_or_create_salt,
    hash_id_number,
    id_number_error,
)

log = logging.getLogger(__name__)

CHUNK_SIZE = 5000
UTF8_BLOCK = 1 << 18  # bytes per step of the UTF-8 pre-scan: bounds its memory
PROGRESS_MIN_ROWS = 5000  # below this a progress line is only noise
LAT_RANGE = (3.8, 53.6)  # China's extent, degrees
LON_RANGE = (73.5, 135.1)

# ================================================================ column names and aliases
COLUMNS: dict[str, tuple[str, ...]] = {
    "regions": ("code", "name", "level", "parent_code", "lat", "lon", "population"),
    "persons": (
        "person_id", "community_code", "id_number", "gender", "birth_year", "education",
        "status", "seeking_job", "key_groups", "registered_on", "household_id",
    ),
    "households": ("household_id", "community_code", "zero_identified_on", "zero_cleared_on"),
    "employers": ("employer_id", "credit_code", "name", "industry", "community_code"),
    "vacancies": (
        "vacancy_id", "employer_id", "community_code", "lat", "lon", "title", "type",
        "headcount", "salary_min", "salary_max", "industry", "posted_on", "closed_on",
    ),
    "placements": (
        "placement_id", "person_id", "vacancy_id", "community_code", "placed_at", "form",
    ),
    "assistance": ("record_id", "person_id", "community_code", "kind", "served_on"),
    "targets": ("region_code", "metric", "year", "target"),
}

REQUIRED: dict[str, tuple[str, ...]] = {
    "regions": ("code", "name", "level"),  # parent_code: empty for the root
    "persons": ("person_id", "community_code", "status", "seeking_job"),
    "households": ("household_id", "community_code"),
    "employers": ("employer_id", "credit_code", "name"),
    "vacancies": (
        "vacancy_id", "community_code", "lat", "lon", "title", "type", "headcount",
        "posted_on",
    ),
    "placements": ("placement_id", "person_id", "community_code", "placed_at", "form"),
    "assistance": ("record_id", "person_id", "community_code", "kind", "served_on"),
    "targets": ("region_code", "metric", "year", "target"),
}

# Columns that must be present in a file's header (parent_code may be absent only if every
# row is a root, which a header without it cannot express: require it too).
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    **REQUIRED, "regions": ("code", "name", "level", "parent_code"),
}

ID_COLUMNS: dict[str, tuple[str, ...]] = {
    "regions": ("code",),
    "persons": ("person_id",),
    "households": ("household_id",),
    "employers": ("employer_id",),
    "vacancies": ("vacancy_id",),
    "placements": ("placement_id",),
    "assistance": ("record_id",),
    "targets": ("region_code", "metric", "year"),
}

TABLES: dict[str, Any] = {
    "regions": Region,
    "persons": Person,
    "households": Household,
    "employers": Employer,
    "vacancies": Vacancy,
    "placements": Placement,
    "assistance": Assistance,
    "targets": Target,
}

# Chinese headers of the provincial platform (and a few common variants), shared by kinds.
_COMMON_ALIASES: dict[str, str] = {
    "社区代码": "community_code", "社区编码": "community_code", "所属社区代码": "community_code",
    "人员编号": "person_id", "户编号": "household_id", "单位编号": "employer_id",
    "岗位编号": "vacancy_id", "行业": "industry", "所属行业": "industry",
    "纬度": "lat", "经度": "lon",
}
ALIASES: dict[str, dict[str, str]] = {
    "regions": {
        "区划代码": "code", "行政区划代码": "code", "名称": "name", "区划名称": "name",
        "层级": "level", "级别": "level", "上级代码": "parent_code", "上级区划代码": "parent_code",
        "纬度": "lat", "经度": "lon", "人口": "population", "常住人口": "population",
    },
    "persons": {
        **_COMMON_ALIASES, "身份证号": "id_number", "身份证号码": "id_number",
        "公民身份号码": "id_number", "性别": "gender", "出生年份": "birth_year",
        "学历": "education", "文化程度": "education", "就业状态": "status",
        "求职意愿": "seeking_job", "重点群体": "key_groups", "人员类别": "key_groups",
        "登记日期": "registered_on",
    },
    "households": {
        **_COMMON_ALIASES, "零就业认定日期": "zero_identified_on",
        "零就业清零日期": "zero_cleared_on", "认定日期": "zero_identified_on",
        "清零日期": "zero_cleared_on",
    },
    "employers": {
        **_COMMON_ALIASES, "统一社会信用代码": "credit_code", "信用代码": "credit_code",
        "单位名称": "name", "名称": "name",
    },
    "vacancies": {
        **_COMMON_ALIASES, "工作地社区代码": "community_code", "岗位名称": "title",
        "岗位类型": "type", "招聘人数": "headcount", "最低月薪": "salary_min",
        "最高月薪": "salary_max", "发布日期": "posted_on", "关闭日期": "closed_on",
    },
    "placements": {
        **_COMMON_ALIASES, "就业记录编号": "placement_id", "就业时间": "placed_at",
        "就业日期": "placed_at", "就业形式": "form",
    },
    "assistance": {
        **_COMMON_ALIASES, "服务记录编号": "record_id", "服务类型": "kind",
        "服务日期": "served_on",
    },
    "targets": {
        "区划代码": "region_code", "指标": "metric", "年度": "year", "目标值": "target",
    },
}

# Chinese enum values accepted where the platform uses them.
LEVEL_ALIASES = {
    "省": "province", "省级": "province", "市": "city", "市级": "city", "地市": "city",
    "县": "county", "区": "county", "县区": "county", "区县": "county", "县级": "county",
    "乡镇": "township", "街道": "township", "乡镇街道": "township", "乡镇（街道）": "township",
    "社区": "community", "村": "community", "村居": "community", "社区（村）": "community",
}
GENDER_ALIASES = {"男": "M", "女": "F", "m": "M", "f": "F", "male": "M", "female": "F"}
STATUS_ALIASES = {
    "就业": "employed", "已就业": "employed", "在业": "employed",
    "灵活就业": "flexible",
    "失业": "unemployed", "未就业": "unemployed", "登记失业": "unemployed",
    "非劳动力": "inactive", "不在劳动力": "inactive", "无就业意愿": "inactive",
}
KEY_GROUP_ALIASES = {
    "就业困难人员": "difficulty", "就业困难": "difficulty", "困难人员": "difficulty",
    "登记失业人员": "registered_unemployed", "登记失业": "registered_unemployed",
    "高校毕业生": "graduate", "毕业生": "graduate",
    "脱贫人口": "poverty_alleviated", "脱贫劳动力": "poverty_alleviated",
    "退役军人": "veteran", "残疾人": "disabled",
    "返乡人员": "returnee", "返乡入乡人员": "returnee", "返乡": "returnee",
}
VACANCY_TYPE_ALIASES = {
    "全职": "full_time", "灵活就业": "flexible", "灵活用工": "flexible",
    "公益性": "public_welfare", "公益性岗位": "public_welfare", "实习": "internship",
    "见习": "traineeship", "就业见习": "traineeship", "共享用工": "shared",
}
FORM_ALIASES = {
    "单位就业": "employer", "用人单位": "employer", "灵活就业": "flexible",
    "公益性": "public_welfare", "公益性岗位": "public_welfare", "公益性岗位安置": "public_welfare",
    "自主创业": "entrepreneurship", "创业": "entrepreneurship",
    "见习": "traineeship", "就业见习": "traineeship",
}
ASSISTANCE_ALIASES = {
    "就业指导": "guidance", "职业指导": "guidance", "岗位推荐": "referral",
    "职业介绍": "referral", "培训": "training", "职业培训": "training", "技能培训": "training",
    "公益性岗位安置": "public_welfare_post", "公益性岗位": "public_welfare_post",
    "补贴": "subsidy", "就业补贴": "subsidy", "走访": "visit", "入户走访": "visit",
}
TRUE_WORDS = frozenset({"true", "1", "是", "yes", "y", "t", "有"})
FALSE_WORDS = frozenset({"false", "0", "否", "no", "n", "f", "无"})


def canonical_column(kind: str, header: str) -> str | None:
    """The canonical column of a header cell (English name or Chinese alias), else None."""
    h = header.strip().lstrip("\ufeff").strip()
    low = h.lower()
    if low in COLUMNS[kind]:
        return low
    return ALIASES[kind].get(h)


# ================================================================ field parsers
class RowError(ValueError):
    """A row-level validation failure whose message is shown to the user."""


def _s(v: Any) -> str | None:
    """The cell as text; NUL bytes and lone surrogates (no database stores them) fail."""
    if v is None:
        return None
    s = str(v)
    if "\x00" in s:
        raise ValueError("含有 NUL 字符 (contains a NUL character)")
    if not s.isascii():
        try:
            s.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("含有无效字符 (contains an invalid character)") from None
    return s


_CODE_RE = re.compile(r"[0-9]{12}")  # ASCII digits only: \d would admit full-width ones


def _parse_code(v: Any) -> str | None:
    s = _s(v)
    if s is None:
        return None
    if not _CODE_RE.fullmatch(s):
        raise ValueError("区划代码须为 12 位数字 (region code must be 12 digits)")
    return s


def _parse_int(v: Any) -> int | None:
    s = _s(v)
    if s is None:
        return None
    if not re.fullmatch(r"[+-]?\d+(\.0*)?", s):
        raise ValueError(f"不是整数 (not an integer): {s[:40]!r}")
    n = int(float(s)) if "." in s else int(s)
    if abs(n) > 2_147_483_647:  # INTEGER columns: a bigger value would abort the whole file
        raise ValueError(f"数值过大 (number too large): {s[:40]!r}")
    return n


def _parse_float(v: Any) -> float | None:
    s = _s(v)
    if s is None:
        return None
    try:
        f = float(s)
    except ValueError:
        raise ValueError(f"不是数字 (not a number): {s[:40]!r}") from None
    if not math.isfinite(f):
        raise ValueError(f"不是有限数字 (not a finite number): {s[:40]!r}")
    return f


_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _parse_date(v: Any) -> dt.date | None:
    s = _s(v)
    if s is None:
        return None
    if not _DATE_RE.fullmatch(s):
        raise ValueError(f"日期格式应为 YYYY-MM-DD (bad date): {s[:40]!r}")
    try:
        return dt.date.fromisoformat(s)
    except ValueError:
        raise ValueError(f"日期无效 (bad date): {s[:40]!r}") from None


def _parse_bool(v: Any) -> bool | None:
    s = _s(v)
    if s is None:
        return None
    low = s.lower()
    if low in TRUE_WORDS:
        return True
    if low in FALSE_WORDS:
        return False
    raise ValueError(f"应为 true/false/是/否 (expected true or false): {s[:40]!r}")


def _enum(values: tuple[str, ...], aliases: dict[str, str], what: str) -> Callable[[Any], Any]:
    allowed = "/".join(values)

    def parse(v: Any) -> str | None:
        s = _s(v)
        if s is None:
            return None
        if s in values:
            return s
        low = s.lower()
        if low in values:
            return low
        mapped = aliases.get(s) or aliases.get(low)
        if mapped:
            return mapped
        raise ValueError(f"未知{what} (unknown value {s[:40]!r}; expected {allowed})")

    return parse


def _text(max_len: int) -> Callable[[Any], Any]:
    def parse(v: Any) -> str | None:
        s = _s(v)
        if s is not None and len(s) > max_len:
            raise ValueError(f"超过 {max_len} 个字符 (longer than {max_len} characters)")
        return s

    return parse


def _parse_key_groups(v: Any) -> list[str]:
    s = _s(v)
    if s is None:
        return []
    out: list[str] = []
    for part in re.split(r"[;；、]", s):
        p = part.strip()
        if not p:
            continue
        g = p if p in KEY_GROUPS else KEY_GROUP_ALIASES.get(p) or (
            p.lower() if p.lower() in KEY_GROUPS else None
        )
        if g is None:
            raise ValueError(
                f"未知重点群体 (unknown key group {p[:40]!r}; expected {'/'.join(KEY_GROUPS)})"
            )
        if g not in out:
            out.append(g)
    return out


def _parse_id_number(v: Any) -> str | None:
    s = _s(v)
    if s is None:
        return None
    err = id_number_error(s)
    if err:
        raise ValueError(err)
    return s.upper()


def _parse_credit_code(v: Any) -> str | None:
    s = _s(v)
    if s is None:
        return None
    err = credit_code_error(s)
    if err:
        raise ValueError(err)
    return s.upper()


def _lat(v: Any) -> float | None:
    f = _parse_float(v)
    if f is not None and not LAT_RANGE[0] <= f <= LAT_RANGE[1]:
        raise ValueError(
            f"纬度超出中国范围 (lat outside China, {LAT_RANGE[0]}–{LAT_RANGE[1]}): {f}"
        )
    return f


def _lon(v: Any) -> float | None:
    f = _parse_float(v)
    if f is not None and not LON_RANGE[0] <= f <= LON_RANGE[1]:
        raise ValueError(
            f"经度超出中国范围 (lon outside China, {LON_RANGE[0]}–{LON_RANGE[1]}): {f}"
        )
    return f


def _non_negative(f: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def parse(v: Any) -> Any:
        x = f(v)
        if x is not None and x < 0:
            raise ValueError("不能为负数 (must not be negative)")
        return x

    return parse


def _this_year() -> int:
    return dt.datetime.now().year


Code = Annotated[str | None, BeforeValidator(_parse_code)]
Int = Annotated[int | None, BeforeValidator(_parse_int)]
NonNegInt = Annotated[int | None, BeforeValidator(_non_negative(_parse_int))]
Date = Annotated[dt.date | None, BeforeValidator(_parse_date)]
Bool = Annotated[bool | None, BeforeValidator(_parse_bool)]
Lat = Annotated[float | None, BeforeValidator(_lat)]
Lon = Annotated[float | None, BeforeValidator(_lon)]
Id = Annotated[str | None, BeforeValidator(_text(64))]
Name = Annotated[str | None, BeforeValidator(_text(200))]
Short = Annotated[str | None, BeforeValidator(_text(60))]


# ================================================================ pydantic models per KIND
class _Row(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=False)


class RegionRow(_Row):
    """A row of `regions`."""

    code: Code
    name: Annotated[str | None, BeforeValidator(_text(100))]
    level: Annotated[str | None, BeforeValidator(_enum(LEVELS, LEVEL_ALIASES, "层级 (level)"))]
    parent_code: Code = None
    lat: Lat = None
    lon: Lon = None
    population: NonNegInt = None

    @model_validator(mode="after")
    def _coords(self) -> RegionRow:
        if (self.lat is None) != (self.lon is None):
            raise RowError("lat/lon: 经纬度须同时填写 (lat and lon must be given together)")
        if self.level == "community" and self.lat is None:
            raise RowError("lat/lon: 社区须填写经纬度 (lat and lon are required for communities)")
        if self.parent_code is not None and self.parent_code == self.code:
            raise RowError("parent_code: 上级代码不能是自身 (a region cannot be its own parent)")
        return self


class PersonRow(_Row):
    """A row of `persons`."""

    person_id: Id
    community_code: Code
    id_number: Annotated[str | None, BeforeValidator(_parse_id_number)] = None
    gender: Annotated[str | None, BeforeValidator(_enum(("M", "F"), GENDER_ALIASES, "性别 (gender)"))] = None  # noqa: E501
    birth_year: Int = None
    education: Annotated[str | None, BeforeValidator(_text(40))] = None
    status: Annotated[
        str | None, BeforeValidator(_enum(PERSON_STATUSES, STATUS_ALIASES, "就业状态 (status)"))
    ]
    seeking_job: Bool
    key_groups: Annotated[list[str], BeforeValidator(_parse_key_groups)] = []
    registered_on: Date = None
    household_id: Id = None

    @model_validator(mode="after")
    def _year(self) -> PersonRow:
        if self.birth_year is not None and not 1900 <= self.birth_year <= _this_year():
            raise RowError(f"birth_year: 出生年份无效 (implausible birth year {self.birth_year})")
        return self


class HouseholdRow(_Row):
    """A row of `households`."""

    household_id: Id
    community_code: Code
    zero_identified_on: Date = None
    zero_cleared_on: Date = None

    @model_validator(mode="after")
    def _dates(self) -> HouseholdRow:
        if self.zero_cleared_on is not None:
            if self.zero_identified_on is None:
                raise RowError(
                    "zero_cleared_on: 有清零日期但无认定日期 "
                    "(cleared without zero_identified_on)"
                )
            if self.zero_cleared_on < self.zero_identified_on:
                raise RowError(
                    "zero_cleared_on: 清零日期早于认定日期 "
                    "(zero_cleared_on before zero_identified_on)"
                )
        return self


class EmployerRow(_Row):
    """A row of `employers`."""

    employer_id: Id
    credit_code: Annotated[str | None, BeforeValidator(_parse_credit_code)]
    name: Name
    industry: Short = None
    community_code: Code = None


class VacancyRow(_Row):
    """A row of `vacancies`."""

    vacancy_id: Id
    employer_id: Id = None
    community_code: Code
    lat: Lat
    lon: Lon
    title: Name
    type: Annotated[
        str | None, BeforeValidator(_enum(VACANCY_TYPES, VACANCY_TYPE_ALIASES, "岗位类型 (type)"))
    ]
    headcount: Int
    salary_min: NonNegInt = None
    salary_max: NonNegInt = None
    industry: Short = None
    posted_on: Date
    closed_on: Date = None

    @model_validator(mode="after")
    def _rules(self) -> VacancyRow:
        if self.headcount is not None and self.headcount < 1:
            raise RowError(
                f"headcount: 招聘人数须 ≥ 1 (headcount must be ≥ 1, got {self.headcount})"
            )
        if (
            self.salary_min is not None
            and self.salary_max is not None
            and self.salary_min > self.salary_max
        ):
            raise RowError(
                "salary_min: 最低月薪高于最高月薪 (salary_min greater than salary_max)"
            )
        if self.closed_on is not None and self.posted_on and self.closed_on < self.posted_on:
            raise RowError("closed_on: 关闭日期早于发布日期 (closed_on before posted_on)")
        return self


class PlacementRow(_Row):
    """A row of `placements`; placed_at is kept as given and localised later."""

    placement_id: Id
    person_id: Id
    vacancy_id: Id = None
    community_code: Code
    placed_at: Annotated[str | None, BeforeValidator(_text(64))]
    form: Annotated[
        str | None, BeforeValidator(_enum(PLACEMENT_FORMS, FORM_ALIASES, "就业形式 (form)"))
    ]


class AssistanceRow(_Row):
    """A row of `assistance`."""

    record_id: Id
    person_id: Id
    community_code: Code
    kind: Annotated[
        str | None, BeforeValidator(_enum(ASSISTANCE_KINDS, ASSISTANCE_ALIASES, "服务类型 (kind)"))
    ]
    served_on: Date


def _parse_metric(v: Any) -> str | None:
    s = _s(v)
    if s is not None and s not in METRIC_KEYS:
        raise ValueError(f"未知指标 (unknown metric {s[:80]!r})")
    return s


class TargetRow(_Row):
    """A row of `targets`."""

    region_code: Code
    metric: Annotated[str | None, BeforeValidator(_parse_metric)]
    year: Int
    target: Annotated[float | None, BeforeValidator(_non_negative(_parse_float))]

    @model_validator(mode="after")
    def _year(self) -> TargetRow:
        if self.year is not None and not 2000 <= self.year <= 2100:
            raise RowError(f"year: 年度无效 (implausible year {self.year})")
        return self


MODELS: dict[str, type[_Row]] = {
    "regions": RegionRow,
    "persons": PersonRow,
    "households": HouseholdRow,
    "employers": EmployerRow,
    "vacancies": VacancyRow,
    "placements": PlacementRow,
    "assistance": AssistanceRow,
    "targets": TargetRow,
}


def _parse_placed_at(value: str, zone: ZoneInfo) -> dt.datetime:
    """A date or ISO datetime as naive local time; aware values are converted to `zone`."""
    if _DATE_RE.fullmatch(value):
        try:
            day = _parse_date(value)
        except ValueError as err:
            raise RowError(f"placed_at: {err}") from None
        return dt.datetime.combine(day, dt.time())  # type: ignore[arg-type]
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}.*", value):
        raise RowError(
            f"placed_at: 应为日期或 ISO 8601 时间 (bad date/datetime): {value[:40]!r}"
        )
    try:
        t = dt.datetime.fromisoformat(value)
    except ValueError:
        raise RowError(
            f"placed_at: 应为日期或 ISO 8601 时间 (bad date/datetime): {value[:40]!r}"
        ) from None
    if t.tzinfo is not None:
        try:
            t = t.astimezone(zone).replace(tzinfo=None)
        except (OverflowError, ValueError):
            raise RowError(
                f"placed_at: 时间超出范围 (datetime out of range): {value[:40]!r}"
            ) from None
    return t


def _format_errors(err: ValidationError) -> str:
    """One line naming each failing field."""
    parts: list[str] = []
    for e in err.errors(include_url=False):
        msg = str(e.get("msg", ""))
        for prefix in ("Value error, ", "Assertion failed, "):
            if msg.startswith(prefix):
                msg = msg[len(prefix):]
        loc = ".".join(str(x) for x in e.get("loc", ()) if not isinstance(x, int))
        ctx = e.get("ctx") or {}
        if isinstance(ctx.get("error"), RowError) or not loc:
            parts.append(msg)  # model-level rules already name their field
        else:
            parts.append(f"{loc}: {msg}")
    return "; ".join(parts)


# ================================================================ result
@dataclass
class ImportResult:
    """Outcome of importing one file: counts, where the rejects went, and any fatal error."""

    kind: str
    path: str
    read: int = 0
    imported: int = 0
    rejected: int = 0
    rejects_path: str | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0 all imported, 3 some rows rejected, 2 fatal (nothing imported)."""
        if self.error:
            return 2
        return 3 if self.rejected else 0


class FatalImportError(Exception):
    """The file as a whole cannot be imported (encoding, header, corrupt container)."""


# ================================================================ readers
# A reader yields (line, original cells by original header, canonical dict) or
# (line, original cells, reason) when the row is unreadable (e.g. a bad JSON line).
Raw = tuple[int, dict[str, Any], dict[str, Any] | None, str | None]


def _norm_cell(v: Any) -> str | None:
    """Normalise a cell to str or None: empty = null, integral floats lose their '.0'."""
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isfinite(v) and v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        return repr(v)
    if isinstance(v, dt.datetime):
        if v.time() == dt.time() and v.tzinfo is None:
            return v.date().isoformat()
        return v.isoformat()
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, dt.time):
        return v.isoformat()
    if isinstance(v, list):
        return ";".join(str(x) for x in v) or None
    s = str(v).strip()
    return s or None


def _map_header(kind: str, header: list[str]) -> tuple[list[str | None], list[str]]:
    """Canonical column per header cell; fatal on duplicates or missing required columns."""
    mapped: list[str | None] = []
    seen: dict[str, str] = {}
    ignored: list[str] = []
    for h in header:
        c = canonical_column(kind, h or "")
        if c is not None and c in seen:
            raise FatalImportError(
                f"列重复 (duplicate column): {h!r} 与 {seen[c]!r} 都对应 {c}"
            )
        if c is None and (h or "").strip():
            ignored.append(h)
        if c is not None:
            seen[c] = h
        mapped.append(c)
    missing = [c for c in REQUIRED_COLUMNS[kind] if c not in seen]
    if missing:
        raise FatalImportError(
            "缺少必填列 (missing required columns): " + ", ".join(missing)
            + f"；表头为 (header is): {', '.join(h for h in header if h)}"
        )
    return mapped, ignored


def _bad_line(path: Path, encoding: str) -> int | None:
    """The line of the first byte that does not decode (block by block), or None."""
    dec = codecs.getincrementaldecoder(encoding)("strict")
    line = 1
    with open(path, "rb") as fh:
        while True:
            block = fh.read(UTF8_BLOCK)
            try:
                dec.decode(block, final=not block)
            except UnicodeDecodeError as err:
                return line + block[: max(err.start, 0)].count(b"\n")
            if not block:
                return None
            line += block.count(b"\n")


def _check_utf8(path: Path) -> bool:
    """True when the file is UTF-8; False when only some bytes are not (the rows holding
    them are rejected). A file in another encoding (GBK: it decodes as GB18030 throughout)
    fails clearly, before any row is imported."""
    bad_line = _bad_line(path, "utf-8")
    if bad_line is None:
        return True
    if _bad_line(path, "gb18030") is not None:
        return False  # stray bytes in a UTF-8 file
    raise FatalImportError(
        "文件不是 UTF-8 编码 (file is not UTF-8; 看起来是 GBK/GB18030 (looks like GBK); "
        f"re-save as UTF-8), 第 {bad_line} 行附近 (near line {bad_line})"
    )


_NOT_UTF8 = re.compile("[\udc80-\udcff]")  # bytes kept by surrogateescape


def _not_utf8(line: int) -> str:
    return f"第 {line} 行含有非 UTF-8 字节 (row {line} has bytes that are not UTF-8)"


CSV_FIELD_LIMIT = 1 << 24  # characters: a longer cell rejects its record, not the file


def _read_csv(kind: str, path: Path, state: dict[str, Any]) -> Iterator[Raw]:
    clean = _check_utf8(path)
    if csv.field_size_limit() < CSV_FIELD_LIMIT:
        csv.field_size_limit(CSV_FIELD_LIMIT)
    with open(path, encoding="utf-8-sig", newline="", errors="surrogateescape") as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            raise FatalImportError("文件为空 (empty file: no header row)") from None
        header = [h.strip() for h in header]
        mapped, ignored = _map_header(kind, header)
        state["header"] = header
        state["ignored"] = ignored
        prev = reader.line_num
        while True:
            line = prev + 1  # first physical line of this record (cells may span lines)
            try:
                cells = next(reader)
            except StopIteration:
                break
            except csv.Error as err:  # e.g. a cell over the size limit: this record only
                prev = reader.line_num
                yield line, {}, None, f"CSV 格式错误 (malformed CSV record: {err})"
                continue
            prev = reader.line_num
            if not any(c.strip() for c in cells):
                continue
            original = dict(zip(header, cells, strict=False))
            if not clean and any(_NOT_UTF8.search(c) for c in cells):
                yield line, original, None, _not_utf8(line)
                continue
            if len(cells) > len(header) and any(c.strip() for c in cells[len(header):]):
                extra = {f"#{i + 1}": c for i, c in enumerate(cells) if i >= len(header)}
                yield line, {**original, **extra}, None, (
                    f"列数多于表头 (row has {len(cells)} cells, header has {len(header)})"
                )
                continue
            # CSV cells are always str: strip and turn empties into None inline (hot path).
            canon = {
                c: (v.strip() or None) for c, v in zip(mapped, cells, strict=False)
                if c is not None
            }
            yield line, original, canon, None


def _read_xlsx(kind: str, path: Path, state: dict[str, Any]) -> Iterator[Raw]:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as err:  # noqa: BLE001 - zip, XML and openpyxl errors alike
        raise FatalImportError(
            f"XLSX 文件损坏或不完整 (corrupt or truncated XLSX: {type(err).__name__}: {err})"
        ) from None
    try:
        ws = wb.worksheets[0] if wb.worksheets else None
        if ws is None:
            raise FatalImportError("XLSX 没有工作表 (no worksheet)")
        rows = ws.iter_rows(values_only=True)
        try:
            first = next(rows, None)
        except Exception as err:  # noqa: BLE001
            raise FatalImportError(
                f"XLSX 文件损坏或不完整 (corrupt or truncated XLSX: {type(err).__name__})"
            ) from None
        if first is None:
            raise FatalImportError("文件为空 (empty file: no header row)")
        header = [_norm_cell(h) or "" for h in first]
        while header and not header[-1]:
            header.pop()
        mapped, ignored = _map_header(kind, header)
        state["header"] = header
        state["ignored"] = ignored
        line = 1
        while True:
            try:
                cells = next(rows)
            except StopIteration:
                break
            except Exception as err:  # noqa: BLE001
                raise FatalImportError(
                    f"XLSX 文件损坏或不完整，第 {line + 1} 行附近 (corrupt or truncated XLSX "
                    f"near row {line + 1}: {type(err).__name__})"
                ) from None
            line += 1
            norm = [_norm_cell(v) for v in cells]
            if not any(v is not None for v in norm):
                continue
            original = {h: v for h, v in zip(header, norm, strict=False)}
            if len(norm) > len(header) and any(v is not None for v in norm[len(header):]):
                extra = {f"#{i + 1}": v for i, v in enumerate(norm) if i >= len(header)}
                yield line, {**original, **extra}, None, (
                    f"列数多于表头 (row has cells beyond the {len(header)} header columns)"
                )
                continue
            canon = {c: v for c, v in zip(mapped, norm, strict=False) if c is not None}
            yield line, original, canon, None
    finally:
        wb.close()


def _map_record(kind: str, rec: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """Canonical dict of one JSON object, or a reason when it cannot be mapped."""
    canon: dict[str, Any] = {}
    for k, v in rec.items():
        c = canonical_column(kind, str(k))
        if c is None:
            continue
        if c in canon:
            return canon, f"字段重复 (duplicate field): {str(k)!r}"
        if isinstance(v, dict) or (isinstance(v, list) and c != "key_groups"):
            return canon, f"{c}: 应为单个值 (expected a single value, got {type(v).__name__})"
        canon[c] = _norm_cell(v)
    return canon, None


def _read_jsonl(kind: str, path: Path, state: dict[str, Any]) -> Iterator[Raw]:
    clean = _check_utf8(path)
    state["header"] = None
    with open(path, encoding="utf-8-sig", errors="surrogateescape") as fh:
        for line_no, line in enumerate(fh, start=1):
            s = line.strip()
            if not s:
                continue
            if not clean and _NOT_UTF8.search(s):
                yield line_no, {"raw": s}, None, _not_utf8(line_no)
                continue
            try:
                rec = json.loads(s)
            except json.JSONDecodeError as err:
                yield line_no, {"raw": s}, None, f"JSON 格式错误 (bad JSON: {err.msg})"
                continue
            except (ValueError, RecursionError) as err:  # huge numbers, deep nesting
                yield line_no, {"raw": s[:1000]}, None, (
                    f"JSON 无法解析 (JSON not readable: {type(err).__name__})")
                continue
            if not isinstance(rec, dict):
                yield line_no, {"raw": s}, None, "应为 JSON 对象 (expected a JSON object)"
                continue
            canon, reason = _map_record(kind, rec)
            original = {k: _norm_cell(v) for k, v in rec.items()}
            yield line_no, original, (None if reason else canon), reason


READERS: dict[str, Callable[[str, Path, dict[str, Any]], Iterator[Raw]]] = {
    ".csv": _read_csv,
    ".xlsx": _read_xlsx,
    ".xlsm": _read_xlsx,
    ".jsonl": _read_jsonl,
    ".ndjson": _read_jsonl,
}


# ================================================================ rejects file
_ID_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])(\d{6})(\d{11}[\dXx])(?![0-9A-Za-z])")


def mask_id_number(value: str | None) -> str | None:
    """First 6 characters then stars: enough to find the row, not enough to identify."""
    if value is None:
        return None
    return value[:6] + "*" * max(len(value) - 6, 0)


class _RejectsWriter:
    """Opens the rejects CSV lazily (first reject), writes to a temp file, renames at end."""

    def __init__(self, kind: str, path: Path, state: dict[str, Any]) -> None:
        self.kind = kind
        self.path = path
        self.tmp = path.with_name(path.name + ".part")
        self.state = state
        self.fh: Any = None
        self.writer: Any = None
        self.fields: list[str] = []
        self.id_cols: set[str] = set()
        self.count = 0

    def _open(self) -> None:
        header = self.state.get("header")
        if header is None:  # JSON Lines: canonical columns, plus the raw line of bad JSON
            fields = list(COLUMNS[self.kind]) + ["raw"]
            self.id_cols = {"id_number", *[k for k, v in ALIASES[self.kind].items()
                                           if v == "id_number"]}
        else:
            fields = [h for h in header]
            self.id_cols = {h for h in header if canonical_column(self.kind, h) == "id_number"}
        self.fields = [f for f in fields if f not in ("line", "reason")] + ["line", "reason"]
        # backslashreplace: a lone surrogate from a JSON record must not stop the import.
        self.fh = open(self.tmp, "w", encoding="utf-8-sig", newline="",
                       errors="backslashreplace")
        self.writer = SafeDictWriter(self.fh, fieldnames=self.fields, extrasaction="ignore")
        self.writer.writeheader()

    def write(self, line: int, original: dict[str, Any], reason: str) -> None:
        if self.fh is None:
            self._open()
        row: dict[str, Any] = {}
        for k, v in original.items():
            key = k
            if self.state.get("header") is None:
                key = canonical_column(self.kind, str(k)) or k
            if key in self.id_cols or k in self.id_cols:
                v = mask_id_number(v)
            elif isinstance(v, str):
                v = _ID_IN_TEXT.sub(lambda m: m.group(1) + "*" * 12, v)
            if isinstance(v, str) and "\x00" in v:
                v = v.replace("\x00", "\\x00")  # NUL: shown, not written
            if key not in self.fields and k.startswith("#"):
                continue
            row[key] = v
        row["line"] = line
        row["reason"] = reason
        self.writer.writerow(row)
        self.count += 1

    def finish(self, keep: bool) -> str | None:
        if self.fh is not None:
            self.fh.close()
        if keep and self.count:
            os.replace(self.tmp, self.path)
            return str(self.path)
        if self.tmp.exists():
            self.tmp.unlink()
        if self.path.exists():
            self.path.unlink()  # a stale rejects file would describe another import
        return None


# ================================================================ core pipeline
class _Progress:
    """A single stderr line, rewritten per chunk."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.shown = False

    def __call__(self, read: int) -> None:
        if self.enabled and read >= PROGRESS_MIN_ROWS:
            sys.stderr.write(f"\r已读取 {read} 行 (rows read) …")
            sys.stderr.flush()
            self.shown = True

    def done(self) -> None:
        if self.shown:
            sys.stderr.write("\n")
            sys.stderr.flush()


_SEEN_TABLE = "tmp_import_seen_ids"

# An import's scope: a predicate on 12-digit region codes (e.g. a token's subtree).
Scope = Callable[[str], bool]

# The region columns of each KIND: every one that is given must lie in the scope.
SCOPE_COLUMNS: dict[str, tuple[str, ...]] = {
    "regions": ("code", "parent_code"),
    "persons": ("community_code",),
    "households": ("community_code",),
    "employers": ("community_code",),
    "vacancies": ("community_code",),
    "placements": ("community_code",),
    "assistance": ("community_code",),
    "targets": ("region_code",),
}
# Region columns that are optional in general but must be given in a scoped import: a root
# region or an employer with no community would belong to no region of the scope.
SCOPE_REQUIRED: dict[str, tuple[str, ...]] = {
    "regions": ("parent_code",), "employers": ("community_code",),
}
# Where a stored record lives: a scoped import may replace it only if this lies in scope
# (a region is managed by its parent's holder; targets are keyed by their region).
OWNER_COLUMN: dict[str, str] = {
    "regions": "parent_code",
    "persons": "community_code",
    "households": "community_code",
    "employers": "community_code",
    "vacancies": "community_code",
    "placements": "community_code",
    "assistance": "community_code",
}
# References to other records: (column, KIND it names).
REFERENCES: dict[str, tuple[tuple[str, str], ...]] = {
    "persons": (("household_id", "households"),),
    "vacancies": (("employer_id", "employers"),),
    "placements": (("person_id", "persons"), ("vacancy_id", "vacancies")),
    "assistance": (("person_id", "persons"),),
}
_REF_LABELS = {"households": "households", "employers": "employers", "persons": "persons",
               "vacancies": "vacancies"}


def _out_of_scope(col: str, code: str | None) -> str:
    return f"{col}: 超出授权的区域范围 (region outside the permitted scope: {code})"


def _belongs_elsewhere(col: str, ident: str) -> str:
    return f"{col}: 属于其他区域 (belongs to another region: {ident!r})"


def _printable(text: str) -> str:
    """A reason safe for any UTF-8 sink: NULs and lone surrogates escaped."""
    text = text.replace("\x00", "\\x00")
    if text.isascii():
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _safe_key(key: str | None) -> str | None:
    """An id usable in SQL (no NUL, valid UTF-8, not over-long), else None."""
    if key is None or len(key) > 300 or "\x00" in key:
        return None
    if not key.isascii():
        try:
            key.encode("utf-8")
        except UnicodeEncodeError:
            return None
    return key


def _row_fault(err: BaseException, dbapi: Any) -> bool:
    """Whether a failed write is the row's fault (bad data, a key clash, a value the driver
    cannot bind) rather than the database's (connection lost, lock timeout): only the
    former may become a reject; the latter fails the whole import."""
    if isinstance(err, DBAPIError):
        return isinstance(err, DataError | IntegrityError) and not err.connection_invalidated
    if isinstance(err, StatementError | ValueError | TypeError | OverflowError | UnicodeError):
        return True
    # The driver's own errors (PostgreSQL's COPY path calls it directly).
    row_errors = tuple(getattr(dbapi, n) for n in ("DataError", "IntegrityError")
                       if hasattr(dbapi, n))
    return bool(row_errors) and isinstance(err, row_errors)

Decided = tuple[int, dict[str, Any], str | None]  # (line, original cells, reason or None)


@dataclass
class _Pending:
    """A valid region row waiting for the whole file to be read (its parent may follow)."""

    line: int
    original: dict[str, Any]
    model: RegionRow


class _Importer:
    """Validates chunks of canonical rows and upserts the valid ones on one connection.

    Every stage is per row: whatever one row contains becomes that row's reject reason.
    Regions are decided once the whole file is read, so parents may come in any order.
    """

    def __init__(
        self, conn: Connection, kind: str, tz: str, salt: str | None,
        scope: Scope | None = None,
    ) -> None:
        self.conn = conn
        self.kind = kind
        self.zone = ZoneInfo(tz)
        self.salt = salt
        self.scope = scope
        self.model = MODELS[kind]
        self.table = TABLES[kind].__table__
        self.regions: dict[str, str] = {}
        self.parents: dict[str, str | None] = {}
        for code, level, parent in conn.execute(
            select(Region.code, Region.level, Region.parent_code)
        ).tuples():
            self.regions[code] = level
            if kind == "regions":
                self.parents[code] = parent
        self.level_rank = {lv: i for i, lv in enumerate(LEVELS)}
        # Regions: valid rows by code until the file is read, and codes rejected (line).
        self.pending: dict[str, _Pending] = {}
        self.rejected_codes: dict[str, int] = {}
        # Ids seen earlier in this file live in a temp table, not in memory: memory must
        # not grow with the file.
        self.seen = Table(_SEEN_TABLE, MetaData(), Column("k", String(400), primary_key=True),
                          prefixes=["TEMPORARY"])
        conn.execute(text(f"DROP TABLE IF EXISTS {_SEEN_TABLE}"))
        self.seen.create(conn)

    def close(self) -> None:
        self.conn.execute(text(f"DROP TABLE IF EXISTS {_SEEN_TABLE}"))

    # -------------------------------------------------------------- helpers
    def _key(self, canon: dict[str, Any]) -> str | None:
        if self.kind != "targets":
            key = canon.get(ID_COLUMNS[self.kind][0])
            return _safe_key(key if key is None else str(key))
        parts = [canon.get(c) for c in ID_COLUMNS[self.kind]]
        if any(p is None for p in parts):
            return None
        try:
            parts[2] = str(_parse_int(parts[2]))
        except ValueError:
            pass
        return _safe_key("\x1f".join(str(p) for p in parts))

    def _in_scope(self, code: str | None) -> bool:
        return self.scope is None or (code is not None and self.scope(code))

    def _owners(self, kind: str, ids: set[str]) -> dict[str, str | None]:
        """Stored records of KIND among `ids`: id -> the region that owns it."""
        if not ids:
            return {}
        model = TABLES[kind]
        id_col = getattr(model, ID_COLUMNS[kind][0])
        owner = getattr(model, OWNER_COLUMN[kind])
        rows = self.conn.execute(select(id_col, owner).where(id_col.in_(list(ids)))).tuples()
        return dict(rows.all())

    def _community(self, field_name: str, code: str | None) -> str | None:
        if code is None:
            return None
        level = self.regions.get(code)
        if level is None:
            return f"{field_name}: 区划不存在 (unknown region {code})"
        if level != "community":
            return f"{field_name}: {code} 不是社区 (region is a {level}, not a community)"
        return None

    # -------------------------------------------------------------- one chunk
    def process(self, chunk: list[Raw]) -> list[Decided]:
        """Validate and upsert a chunk; returns (line, original, reason or None) per row.

        Region rows that pass every per-row check are held back until finish().
        """
        n = len(chunk)
        reasons: list[str | None] = [reason for _, _, _, reason in chunk]
        models: list[Any] = [None] * n
        keys: list[str | None] = [None] * n
        placed: list[dt.datetime | None] = [None] * n
        for i, (_, _, canon, reason) in enumerate(chunk):
            if reason is not None or canon is None:
                reasons[i] = reason or "无法读取该行 (row could not be read)"
                continue
            keys[i] = self._key(canon)
            reasons[i], models[i], placed[i] = self._validate(canon)

        self._duplicates(keys, reasons)
        self._check_scope(models, reasons)
        self._references(models, reasons)

        if self.kind == "regions":
            return self._hold_regions(chunk, models, reasons)
        rows: list[dict[str, Any]] = []
        at: list[int] = []
        for i, (m, r) in enumerate(zip(models, reasons, strict=True)):
            if r is not None:
                continue
            try:
                rows.append(self._db_row(m, placed[i]))
                at.append(i)
            except Exception as err:  # noqa: BLE001 - the row's values, reported as such
                reasons[i] = f"无法转换该行 (row could not be converted: {type(err).__name__})"
        self._write(rows, at, reasons)
        return [(line, original, reasons[i]) for i, (line, original, _, _) in enumerate(chunk)]

    def _validate(
        self, canon: dict[str, Any]
    ) -> tuple[str | None, Any, dt.datetime | None]:
        """(reason, model, local placed_at) of one canonical row."""
        missing = [c for c in REQUIRED[self.kind] if canon.get(c) is None]
        if missing:
            return "缺少必填字段 (missing required field): " + ", ".join(missing), None, None
        try:
            m = self.model.model_validate(canon)
            at = _parse_placed_at(m.placed_at, self.zone) if self.kind == "placements" else None
        except ValidationError as err:
            return _format_errors(err), None, None
        except RowError as err:
            return str(err), None, None
        except Exception as err:  # noqa: BLE001 - a value no parser foresaw: reject the row
            log.debug("row could not be parsed", exc_info=True)
            return f"无法解析该行 (row could not be parsed: {type(err).__name__})", None, None
        return None, m, at

    def _write(self, rows: list[dict[str, Any]], at: list[int],
               reasons: list[str | None]) -> None:
        """Upsert a chunk in a savepoint; if the database refuses it, row by row."""
        if not rows:
            return
        dbapi = self.conn.dialect.dbapi
        try:
            with self.conn.begin_nested():
                upsert(self.conn, self.table, rows)
            return
        except Exception as err:
            if not _row_fault(err, dbapi):
                raise
            log.info("chunk refused by the database (%s); retrying row by row",
                     type(err).__name__)
        for row, i in zip(rows, at, strict=True):
            try:
                with self.conn.begin_nested():
                    upsert(self.conn, self.table, [row])
            except Exception as err:
                if not _row_fault(err, dbapi):
                    raise
                orig = getattr(err, "orig", None) or err
                first = (str(orig).splitlines() or [""])[0][:120]
                reasons[i] = ("数据库拒绝该行 (the database refused the row: "
                              f"{type(orig).__name__}: {first})")

    def _duplicates(self, keys: list[str | None], reasons: list[str | None]) -> None:
        present = {k for k in keys if k is not None}
        if not present:
            return
        earlier = set(
            self.conn.execute(select(self.seen.c.k).where(self.seen.c.k.in_(list(present))))
            .scalars()
        )
        in_chunk: set[str] = set()
        new: list[dict[str, str]] = []
        id_cols = ", ".join(ID_COLUMNS[self.kind])
        for i, k in enumerate(keys):
            if k is None:
                continue
            if k in earlier or k in in_chunk:
                dup = f"{id_cols}: 文件内重复 (duplicate id within the file: {k.replace(chr(31), '/')})"  # noqa: E501
                reasons[i] = dup if reasons[i] is None else f"{dup}; {reasons[i]}"
                continue
            in_chunk.add(k)
            new.append({"k": k})
        if new:
            self._remember([n["k"] for n in new])

    def _remember(self, keys: list[str]) -> None:
        """Record ids as seen; driver-level executemany skips per-row SQLAlchemy work."""
        if self.conn.dialect.name == "postgresql" and pg_copy_rows(
            self.conn, _SEEN_TABLE, ["k"], ((k,) for k in keys)
        ):
            return
        style = self.conn.dialect.paramstyle
        ph = {"qmark": "?", "format": "%s", "pyformat": "%s"}.get(style)
        if ph is None:
            self.conn.execute(self.seen.insert(), [{"k": k} for k in keys])
            return
        self.conn.exec_driver_sql(
            f"INSERT INTO {_SEEN_TABLE} (k) VALUES ({ph})", [(k,) for k in keys]
        )

    def _check_scope(self, models: list[Any], reasons: list[str | None]) -> None:
        """A scoped import writes only rows, and replaces only records, inside its scope."""
        if self.scope is None:
            return
        k = self.kind
        live = [i for i, r in enumerate(reasons) if r is None]
        owner_col = OWNER_COLUMN.get(k)
        id_col = ID_COLUMNS[k][0]
        stored = self._owners(k, {getattr(models[i], id_col) for i in live}) if owner_col else {}
        for i in live:
            m = models[i]
            errs: list[str] = []
            for col in SCOPE_COLUMNS[k]:
                code = getattr(m, col)
                if code is None:
                    if col in SCOPE_REQUIRED.get(k, ()):
                        errs.append(f"{col}: 限定区域的导入必须填写 (required when the import "
                                    "is limited to a region)")
                elif not self._in_scope(code):
                    errs.append(_out_of_scope(col, code))
            ident = getattr(m, id_col)
            if not errs and ident in stored and not self._in_scope(stored[ident]):
                errs.append(_belongs_elsewhere(id_col, ident))
            if errs:
                reasons[i] = "; ".join(errs)

    def _references(self, models: list[Any], reasons: list[str | None]) -> None:
        k = self.kind
        if k == "regions":
            return  # parents are resolved over the whole file in finish()
        live = [i for i, r in enumerate(reasons) if r is None]
        refs = {
            col: self._owners(ref_kind, {getattr(models[i], col) for i in live} - {None})
            for col, ref_kind in REFERENCES.get(k, ())
        }
        for i in live:
            m = models[i]
            errs: list[str] = []
            if k == "targets":
                if m.region_code not in self.regions:
                    errs.append(f"region_code: 区划不存在 (unknown region {m.region_code})")
            else:
                e = self._community("community_code", m.community_code)
                if e:
                    errs.append(e)
            for col, ref_kind in REFERENCES.get(k, ()):
                v = getattr(m, col)
                if v is None:
                    continue
                if v not in refs[col]:
                    errs.append(
                        f"{col}: 引用的记录不存在 (no such {_REF_LABELS[ref_kind]} id {v!r})"
                    )
                elif not self._in_scope(refs[col][v]):
                    errs.append(f"{col}: 引用的记录属于其他区域 (the {_REF_LABELS[ref_kind]} "
                                f"record {v!r} belongs to another region)")
            if errs:
                reasons[i] = "; ".join(errs)

    # -------------------------------------------------------------- regions, any order
    def _hold_regions(
        self, chunk: list[Raw], models: list[Any], reasons: list[str | None]
    ) -> list[Decided]:
        """Keep valid region rows for finish(); return the rejected ones now."""
        out: list[Decided] = []
        for i, (line, original, canon, _) in enumerate(chunk):
            if reasons[i] is None:
                m = models[i]
                self.pending[m.code] = _Pending(line, original, m)
                continue
            code = (canon or {}).get("code")
            if isinstance(code, str) and _CODE_RE.fullmatch(code):
                self.rejected_codes.setdefault(code, line)
            out.append((line, original, reasons[i]))
        return out

    def finish(self) -> list[Decided]:
        """Decide the held region rows over the whole file; upsert the accepted ones.

        Parents resolve within the file whatever the order. A row is rejected when its
        parent is in neither the file nor the database, when it lies on a cycle, when its
        level is not below its parent's, or when it hangs below a rejected row.
        """
        if self.kind != "regions" or not self.pending:
            return []
        pending = self.pending
        verdict: dict[str, str | None] = {}
        children: dict[str, list[str]] = {}
        for code, p in pending.items():
            parent = p.model.parent_code
            if parent is not None and parent in pending:
                children.setdefault(parent, []).append(code)

        def below(parent: str, child: str) -> str | None:
            """The verdict of a row whose parent row of the file is decided."""
            if verdict[parent] is None:
                return self._level_error(pending[child].model, pending[parent].model.level)
            if parent in self.regions:  # the stored version of the parent stands
                return self._level_error(pending[child].model, self.regions[parent])
            return _depends_on(parent, pending[parent].line)

        def decide(code: str, reason: str | None) -> None:
            # Iterative: a deep chain must not hit the recursion limit.
            stack = [(code, reason)]
            while stack:
                c, r = stack.pop()
                verdict[c] = r
                stack.extend((child, below(c, child)) for child in children.get(c, ()))

        for code, p in pending.items():
            parent = p.model.parent_code
            if parent is None:
                decide(code, None)
            elif parent in pending:
                continue  # decided with its parent
            elif parent in self.regions:
                reason = self._level_error(p.model, self.regions[parent])
                if reason is None and self._closes_cycle(code, parent):
                    reason = _cycle_reason([code, parent])
                decide(code, reason)
            elif parent in self.rejected_codes:
                decide(code, _depends_on(parent, self.rejected_codes[parent]))
            else:
                decide(code, (
                    f"parent_code: 上级区划不存在 (unknown parent region {parent}: in neither "
                    "the file nor the database)"
                ))
        # Rows never reached lie on a cycle of the file or hang below one.
        for code in pending:
            if code in verdict:
                continue
            path = [code]
            seen = {code}
            nxt = pending[code].model.parent_code
            while nxt is not None and nxt in pending and nxt not in verdict and nxt not in seen:
                path.append(nxt)
                seen.add(nxt)
                nxt = pending[nxt].model.parent_code
            if nxt is None or nxt not in seen:  # pragma: no cover - reached rows are decided
                continue
            cycle = path[path.index(nxt):]
            for c in cycle:
                verdict[c] = _cycle_reason(cycle[cycle.index(c):] + cycle[:cycle.index(c)])
            for c in cycle:
                for child in children.get(c, ()):
                    if child not in verdict:
                        decide(child, below(c, child))

        decided: list[Decided] = []
        rows: list[dict[str, Any]] = []
        at: list[int] = []
        order = list(pending)
        reasons = [verdict[code] for code in order]
        for i, code in enumerate(order):
            if reasons[i] is None:
                rows.append(self._db_row(pending[code].model, None))
                at.append(i)
        for start in range(0, len(rows), CHUNK_SIZE):
            part = range(start, min(start + CHUNK_SIZE, len(rows)))
            self._write([rows[j] for j in part], [at[j] for j in part], reasons)
        for i, code in enumerate(order):
            p = pending[code]
            decided.append((p.line, p.original, reasons[i]))
            if reasons[i] is None:
                self.regions[code] = p.model.level
        self.pending = {}
        return decided

    def _level_error(self, m: RegionRow, parent_level: str) -> str | None:
        if self.level_rank[parent_level] >= self.level_rank[m.level]:
            return f"level: 层级须低于上级 ({m.level} cannot be under a {parent_level})"
        return None

    def _closes_cycle(self, code: str, parent: str) -> bool:
        """Whether the stored ancestors of `parent`, as this file leaves them, reach `code`."""
        seen: set[str] = set()
        c: str | None = parent
        while c is not None and c not in seen:
            if c == code:
                return True
            seen.add(c)
            c = self.pending[c].model.parent_code if c in self.pending else self.parents.get(c)
        return False

    def _db_row(self, m: Any, placed_at: dt.datetime | None) -> dict[str, Any]:
        k = self.kind
        d = dict(m.__dict__)  # the validated fields; much cheaper than model_dump()
        if k == "placements":
            d["placed_at"] = placed_at
            d["placed_on"] = placed_at.date()  # type: ignore[union-attr]
        elif k == "persons":
            idn = d.pop("id_number")
            d["id_hash"] = hash_id_number(idn, self.salt) if idn else None  # type: ignore[arg-type]
            groups = set(d.pop("key_groups"))
            for g in KEY_GROUPS:
                d[f"kg_{g}"] = g in groups
        return d


def _depends_on(code: str, line: int) -> str:
    return (f"parent_code: 上级区划 {code} 在本文件第 {line} 行被拒绝 "
            f"(depends on the rejected row of region {code}, line {line})")


def _cycle_reason(cycle: list[str]) -> str:
    chain = " → ".join([*cycle, cycle[0]])
    return f"parent_code: 上级关系成环 (parents form a cycle: {chain})"


def _chunks(
    raws: Iterable[Raw], size: int
) -> Iterator[list[Raw]]:
    buf: list[Raw] = []
    for r in raws:
        buf.append(r)
        if len(buf) >= size:
            yield buf
            buf = []
    if buf:
        yield buf


def _run(
    engine: Engine,
    kind: str,
    raws: Iterable[Raw],
    tz: str,
    on_reject: Callable[[int, dict[str, Any], str], None],
    on_chunk: Callable[[int], None] | None,
    chunk_size: int,
    counts: dict[str, int],
    scope: Scope | None = None,
) -> None:
    """Validate and upsert everything in one transaction, counting into `counts`."""
    salt = get_or_create_salt(engine) if kind == "persons" else None

    def tally(decided: list[Decided]) -> None:
        for line, original, reason in decided:
            if reason is None:
                counts["imported"] += 1
            else:
                counts["rejected"] += 1
                on_reject(line, original, _printable(reason))

    with engine.connect() as conn, conn.begin():
        if conn.dialect.name == "sqlite":
            # Take SQLite's write lock first (waiting on busy_timeout if needed): a WAL read
            # snapshot taken before our first write could not be upgraded later if another
            # process committed meanwhile ("database is locked" mid-import). Being a write,
            # it also opens the transaction that the savepoints of each chunk nest in.
            upsert(conn, Meta, [{"key": "last_import", "value": f"{kind} {dt.datetime.now()}"}])
        imp = _Importer(conn, kind, tz, salt, scope)
        for chunk in _chunks(raws, chunk_size):
            counts["read"] += len(chunk)
            tally(imp.process(chunk))
            if on_chunk is not None:
                on_chunk(counts["read"])
        tally(imp.finish())
        imp.close()


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"未知类型 (unknown KIND {kind!r}; expected one of {', '.join(KINDS)})")


def import_file(
    engine: Engine,
    kind: str,
    path: str | os.PathLike[str],
    *,
    rejects_path: str | os.PathLike[str] | None = None,
    tz: str = "Asia/Shanghai",
    progress: bool | Callable[[int], None] | None = None,
    chunk_size: int = CHUNK_SIZE,
    scope: Scope | None = None,
) -> ImportResult:
    """Import one exchange file (CSV, XLSX, JSON Lines) of KIND in one transaction.

    With `scope` (a predicate on region codes), rows are written only inside it: see
    import_records.
    """
    p = Path(path)
    rej = Path(rejects_path) if rejects_path else p.with_name(p.name + ".rejects.csv")
    result = ImportResult(kind=kind, path=str(p))
    if kind not in KINDS:
        result.error = f"未知类型 (unknown KIND {kind!r}; expected one of {', '.join(KINDS)})"
        return result
    reader = READERS.get(p.suffix.lower())
    if reader is None:
        hint = "；请另存为 .xlsx (save as .xlsx)" if p.suffix.lower() == ".xls" else ""
        result.error = (
            f"不支持的文件类型 (unsupported file type {p.suffix!r}; "
            f"expected .csv, .xlsx, .jsonl or .ndjson){hint}"
        )
        return result
    if not p.is_file():
        result.error = f"文件不存在 (file not found): {p}"
        return result

    if callable(progress):
        bar = _Progress(False)
        on_chunk: Callable[[int], None] = progress
    else:
        bar = _Progress(progress if progress is not None else sys.stderr.isatty())
        on_chunk = bar
    state: dict[str, Any] = {}
    writer = _RejectsWriter(kind, rej, state)
    counts = {"read": 0, "imported": 0, "rejected": 0}
    try:
        _run(engine, kind, reader(kind, p, state), tz, writer.write, on_chunk, chunk_size, counts,
             scope)
    except FatalImportError as err:
        result.error = str(err)
    except Exception as err:  # noqa: BLE001 - report, never a traceback, and roll back
        log.exception("import of %s failed", p)
        result.error = (
            "导入失败，已全部回滚 (import failed, nothing imported): "
            f"{type(err).__name__}: {err}"
        )
    finally:
        bar.done()
    ignored = state.get("ignored") or []
    if ignored:
        result.warnings.append("忽略未知列 (ignored unknown columns): " + ", ".join(ignored))
    if result.error:
        # The transaction was rolled back: every row read so far is not imported.
        result.read = result.rejected = counts["read"]
        writer.finish(keep=False)
        return result
    result.read, result.imported, result.rejected = (
        counts["read"], counts["imported"], counts["rejected"]
    )
    result.rejects_path = writer.finish(keep=True)
    return result


def import_records(
    engine: Engine,
    kind: str,
    records: list[dict[str, Any]],
    *,
    tz: str = "Asia/Shanghai",
    scope: Scope | None = None,
) -> tuple[int, list[dict[str, Any]]]:
    """Validate and import a JSON array of records; returns (imported, [{index, reason}]).

    With `scope` (a predicate on 12-digit region codes, e.g. a token's subtree), checked on
    each canonical row after header aliasing and parsing: every region column given must be
    in scope; a record whose id is stored in a region outside it is rejected ("belongs to
    another region") and left as it is; regions go only under in-scope parents; references
    to records outside the scope are rejected.
    """
    _check_kind(kind)
    rejected: list[dict[str, Any]] = []

    def raws() -> Iterator[Raw]:
        for i, rec in enumerate(records):
            if not isinstance(rec, dict):
                yield i, {}, None, "应为 JSON 对象 (expected a JSON object)"
                continue
            canon, reason = _map_record(kind, rec)
            yield i, {}, (None if reason else canon), reason

    def on_reject(index: int, _original: dict[str, Any], reason: str) -> None:
        rejected.append({"index": index, "reason": reason})

    counts = {"read": 0, "imported": 0, "rejected": 0}
    _run(engine, kind, raws(), tz, on_reject, None, CHUNK_SIZE, counts, scope)
    rejected.sort(key=lambda r: r["index"])
    return counts["imported"], rejected
