"""Field types of the exchange KINDs: cell parsers, Chinese value aliases, column declarations.

A FieldType says how one cell is parsed (pydantic BeforeValidator), how it is described
(docs, OpenAPI) and, for a few types, how it is stored (hashed, spread over flag columns,
localised). A Column puts a FieldType under a name with its aliases and rules.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import BeforeValidator, ValidationError

from queries.domain import KEY_GROUPS
from queries.metrics import METRIC_KEYS
from queries.validation import credit_code_error, hash_id_number, id_number_error

LAT_RANGE = (3.8, 53.6)  # China's extent, degrees
LON_RANGE = (73.5, 135.1)

# ================================================================ Chinese values and words
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
# SPEC 6.1 values as the provincial platform words them.
FAIR_MODE_ALIASES = {
    "线下": "onsite", "现场": "onsite", "现场招聘会": "onsite", "线上": "online",
    "网络": "online", "网络招聘会": "online", "线上招聘会": "online", "直播": "livestream",
    "直播带岗": "livestream", "直播招聘": "livestream",
}
TRAINING_KIND_ALIASES = {
    "技能培训": "skills", "职业技能培训": "skills", "技能": "skills",
    "创业培训": "entrepreneurship", "创业": "entrepreneurship",
    "平台培训": "platform", "新业态培训": "platform", "平台": "platform",
    "其他": "other", "其它": "other",
}
SERVICE_MODE_ALIASES = {
    "线下": "onsite", "现场": "onsite", "线上": "remote", "远程": "remote",
    "网络": "remote", "视频": "remote", "视频面试": "remote",
}
OUTCOME_ALIASES = {
    "录用": "offer", "拟录用": "offer", "通过": "offer", "未录用": "no_offer",
    "不录用": "no_offer", "未通过": "no_offer", "待定": "pending", "待反馈": "pending",
}
SURVEY_SERVICE_ALIASES = {
    "求职登记": "registration", "登记": "registration", "岗位推荐": "referral",
    "职业介绍": "referral", "职业指导": "guidance", "就业指导": "guidance",
    "培训": "training", "职业培训": "training", "招聘会": "job_fair", "其他": "other",
    "其它": "other",
}
CHANNEL_ALIASES = {
    "现场": "onsite", "线下": "onsite", "电话": "phone", "电话回访": "phone",
    "线上": "online", "网络": "online", "网上": "online",
}
TRUE_WORDS = frozenset({"true", "1", "是", "yes", "y", "t", "有"})
FALSE_WORDS = frozenset({"false", "0", "否", "no", "n", "f", "无"})


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

def _parse_metric(v: Any) -> str | None:
    s = _s(v)
    if s is not None and s not in METRIC_KEYS:
        raise ValueError(f"未知指标 (unknown metric {s[:80]!r})")
    return s


def parse_local_datetime(value: str, zone: ZoneInfo, column: str) -> dt.datetime:
    """A date or ISO datetime as naive local time; aware values are converted to `zone`."""
    if _DATE_RE.fullmatch(value):
        try:
            day = _parse_date(value)
        except ValueError as err:
            raise RowError(f"{column}: {err}") from None
        return dt.datetime.combine(day, dt.time())  # type: ignore[arg-type]
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}.*", value):
        raise RowError(
            f"{column}: 应为日期或 ISO 8601 时间 (bad date/datetime): {value[:40]!r}"
        )
    try:
        t = dt.datetime.fromisoformat(value)
    except ValueError:
        raise RowError(
            f"{column}: 应为日期或 ISO 8601 时间 (bad date/datetime): {value[:40]!r}"
        ) from None
    if t.tzinfo is not None:
        try:
            t = t.astimezone(zone).replace(tzinfo=None)
        except (OverflowError, ValueError):
            raise RowError(
                f"{column}: 时间超出范围 (datetime out of range): {value[:40]!r}"
            ) from None
    return t


def format_errors(err: ValidationError) -> str:
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



# ================================================================ field types
Store = Callable[[dict[str, Any], str, "str | None"], None]


@dataclass(frozen=True)
class FieldType:
    """How a cell is parsed, described (docs, OpenAPI) and, if special, stored."""

    name: str  # as the docs show it
    parse: Callable[[Any], Any]
    python: Any  # type of the parsed value, for the row model
    schema: Mapping[str, Any]  # OpenAPI 3.0 schema of the canonical JSON value
    values: tuple[str, ...] = ()  # an enum's canonical values
    value_aliases: Mapping[str, str] = field(default_factory=dict)  # other accepted values
    many: bool = False  # a `;`-list (a JSON list is accepted too)
    secret: bool = False  # never stored in clear; masked in rejects files
    region: bool = False  # a 12-digit region code (scope checks apply)
    int_key: bool = False  # normalised as an integer when part of an id
    local_time: bool = False  # a date or datetime localised in the import's time zone
    default: Any = None  # the model's value when the column is absent
    store: Store | None = None  # rewrites the database row (parsed dict, column, salt)

    @property
    def annotation(self) -> Any:
        """The pydantic annotation: the parsed type behind this type's parser."""
        return Annotated[self.python, BeforeValidator(self.parse)]


def text(max_len: int) -> FieldType:
    """Free text of at most `max_len` characters."""
    return FieldType(f"text ≤ {max_len}", _text(max_len), str | None,
                     {"type": "string", "maxLength": max_len})


def enum(values: tuple[str, ...], aliases: Mapping[str, str], what: str) -> FieldType:
    """One of `values`; `aliases` (Chinese) and lower case are accepted too."""
    return FieldType("enum (values below)", _enum(values, dict(aliases), what), str | None,
                     {"type": "string", "enum": list(values)}, values=values,
                     value_aliases=aliases)


def _non_negative_float(v: Any) -> float | None:
    return _non_negative(_parse_float)(v)


def _store_id_hash(row: dict[str, Any], column: str, salt: str | None) -> None:
    value = row.pop(column)
    row["id_hash"] = hash_id_number(value, salt) if value else None  # type: ignore[arg-type]


def _store_key_groups(row: dict[str, Any], column: str, salt: str | None) -> None:
    groups = set(row.pop(column))
    for g in KEY_GROUPS:
        row[f"kg_{g}"] = g in groups


CODE = FieldType("region code (12 digits)", _parse_code, str | None,
                 {"type": "string", "pattern": r"^[0-9]{12}$"}, region=True)
ID = FieldType("id (text ≤ 64)", _text(64), str | None, {"type": "string", "maxLength": 64})
NAME = text(200)
SHORT = text(60)
INT = FieldType("integer", _parse_int, int | None, {"type": "integer"}, int_key=True)
NON_NEG_INT = FieldType("integer ≥ 0", _non_negative(_parse_int), int | None,
                        {"type": "integer", "minimum": 0}, int_key=True)
NON_NEG_NUMBER = FieldType("number ≥ 0", _non_negative_float, float | None,
                           {"type": "number", "minimum": 0})
DATE = FieldType("date (YYYY-MM-DD)", _parse_date, dt.date | None,
                 {"type": "string", "format": "date"})
LOCAL_DATETIME = FieldType("date or ISO 8601 datetime", _text(64), str | None,
                           {"type": "string", "maxLength": 64}, local_time=True)
BOOL = FieldType("boolean", _parse_bool, bool | None, {"type": "boolean"})
LAT = FieldType(f"latitude {LAT_RANGE[0]}–{LAT_RANGE[1]}", _lat, float | None,
                {"type": "number", "minimum": LAT_RANGE[0], "maximum": LAT_RANGE[1]})
LON = FieldType(f"longitude {LON_RANGE[0]}–{LON_RANGE[1]}", _lon, float | None,
                {"type": "number", "minimum": LON_RANGE[0], "maximum": LON_RANGE[1]})
ID_NUMBER = FieldType("resident ID (18 chars, checksum)", _parse_id_number, str | None,
                      {"type": "string", "pattern": r"^[0-9]{17}[0-9Xx]$"}, secret=True,
                      store=_store_id_hash)
CREDIT_CODE = FieldType("unified social credit code (18 chars, checksum)",
                        _parse_credit_code, str | None,
                        {"type": "string", "minLength": 18, "maxLength": 18})
KEY_GROUP_LIST = FieldType("`;`-list of key groups", _parse_key_groups, list[str],
                           {"type": "array", "items": {"type": "string",
                                                       "enum": list(KEY_GROUPS)}},
                           values=KEY_GROUPS, value_aliases=KEY_GROUP_ALIASES, many=True,
                           default=[], store=_store_key_groups)
METRIC = FieldType("metric key (SPEC section 3)", _parse_metric, str | None,
                   {"type": "string", "enum": list(METRIC_KEYS)})

# Chinese headers of the provincial platform (and a few common variants), by column name:
# every KIND with such a column accepts them.
SHARED_ALIASES: dict[str, tuple[str, ...]] = {
    "community_code": ("社区代码", "社区编码", "所属社区代码"),
    "person_id": ("人员编号",),
    "household_id": ("户编号",),
    "employer_id": ("单位编号",),
    "vacancy_id": ("岗位编号",),
    "industry": ("行业", "所属行业"),
    "lat": ("纬度",),
    "lon": ("经度",),
}


@dataclass(frozen=True)
class Column:
    """One column of a KIND: name, type, Chinese headers and the rules that name it."""

    name: str
    type: FieldType
    aliases: tuple[str, ...] = ()  # Chinese headers beyond SHARED_ALIASES
    required: bool = False  # the value must be given
    in_header: bool = False  # the header must name it even where the value may be empty
    region: str | None = None  # names a stored region: "community" or "any" level
    ref: str | None = None  # names a stored record of this KIND
    date_column: str | None = None  # local_time: also store the local date here
    note: str = ""  # for the docs

    @property
    def headers(self) -> tuple[str, ...]:
        """Every Chinese header accepted for this column (shared ones first)."""
        shared = SHARED_ALIASES.get(self.name, ())
        return shared + tuple(a for a in self.aliases if a not in shared)

    @property
    def header_required(self) -> bool:
        """Whether a file's header must name this column."""
        return self.required or self.in_header
