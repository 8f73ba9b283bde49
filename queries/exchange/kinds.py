"""The exchange KINDs (SPEC section 2): one declaration each, read by everything else.

A Kind names its table, its columns (types, Chinese headers, required, region and record
references), its id and its cross-field rules. The importer (files and the HTTP exchange
endpoint), the OpenAPI schemas of that endpoint and docs/exchange.md are derived from it.
Adding a KIND: declare it here, add its table to queries/models.py and a migration, and
regenerate docs/exchange.md (`python -m queries.exchange.docs > docs/exchange.md`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from pydantic import BaseModel, ConfigDict, create_model, model_validator

from queries.domain import (
    ASSISTANCE_KINDS,
    FAIR_MODES,
    INTERVIEW_OUTCOMES,
    LEVELS,
    PERSON_STATUSES,
    PLACEMENT_FORMS,
    SERVICE_MODES,
    SURVEY_CHANNELS,
    SURVEY_SERVICES,
    TRAINING_KINDS,
    VACANCY_TYPES,
)
from queries.exchange.fields import (
    ASSISTANCE_ALIASES,
    BOOL,
    CHANNEL_ALIASES,
    CODE,
    CREDIT_CODE,
    DATE,
    FAIR_MODE_ALIASES,
    FORM_ALIASES,
    GENDER_ALIASES,
    ID,
    ID_NUMBER,
    INT,
    KEY_GROUP_LIST,
    LAT,
    LEVEL_ALIASES,
    LOCAL_DATETIME,
    LON,
    METRIC,
    NAME,
    NON_NEG_INT,
    NON_NEG_NUMBER,
    OUTCOME_ALIASES,
    SERVICE_MODE_ALIASES,
    SHORT,
    STATUS_ALIASES,
    SURVEY_SERVICE_ALIASES,
    TRAINING_KIND_ALIASES,
    VACANCY_TYPE_ALIASES,
    Column,
    RowError,
    _this_year,
    enum,
    text,
)
from queries.models import (
    Assistance,
    Employer,
    Household,
    Interview,
    JobFair,
    Loan,
    Person,
    Placement,
    Region,
    Survey,
    Target,
    Training,
    Vacancy,
)

Check = Callable[[Any], None]  # a cross-field rule: raises RowError naming its field


class _Row(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=False)


class _CheckedRow(_Row):
    """A row model with cross-field rules, run in order after the fields parse."""

    @model_validator(mode="after")
    def _rules(self) -> Any:
        for check in type(self).__checks__:  # type: ignore[attr-defined]
            check(self)
        return self


@dataclass(frozen=True)
class Kind:
    """One exchange KIND: every fact about it that the importer, API and docs need."""

    name: str
    title: str  # Chinese name
    table: Any  # the ORM model its rows are upserted into
    columns: tuple[Column, ...]
    id: tuple[str, ...]  # the stable id: a row with a stored id replaces it
    checks: tuple[Check, ...] = ()
    tree: str | None = None  # a column naming a parent row of the same KIND (any order)
    doc: str = ""  # a line for the docs
    model: type[BaseModel] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        base: type[_Row] = _CheckedRow if self.checks else _Row
        fields: dict[str, Any] = {
            c.name: (c.type.annotation, ...) if c.required else (c.type.annotation,
                                                                  c.type.default)
            for c in self.columns
        }
        model = create_model(  # type: ignore[call-overload]
            f"{self.name.title().replace('_', '')}Row", __base__=base, **fields
        )
        model.__doc__ = f"A row of `{self.name}`."
        model.__checks__ = self.checks
        object.__setattr__(self, "model", model)
        object.__setattr__(self, "_by_name", {c.name: c for c in self.columns})
        object.__setattr__(self, "_by_alias", {a: c.name for c in self.columns
                                               for a in c.headers})

    # -------------------------------------------------------------- derived views
    @cached_property
    def column_names(self) -> tuple[str, ...]:
        """Canonical column names, in declaration order."""
        return tuple(c.name for c in self.columns)

    @cached_property
    def required(self) -> tuple[str, ...]:
        """Columns whose value must be given."""
        return tuple(c.name for c in self.columns if c.required)

    @cached_property
    def header_required(self) -> tuple[str, ...]:
        """Columns a file's header must name."""
        return tuple(c.name for c in self.columns if c.header_required)

    @cached_property
    def aliases(self) -> dict[str, str]:
        """Chinese header -> canonical column."""
        return self._by_alias  # type: ignore[attr-defined,no-any-return]

    @cached_property
    def scope_columns(self) -> tuple[str, ...]:
        """Region columns: every one given must lie in a scoped import's region."""
        return tuple(c.name for c in self.columns if c.type.region)

    @cached_property
    def scope_required(self) -> tuple[str, ...]:
        """Optional region columns that a scoped import requires (else the row belongs to
        no region of the scope: a root region, an employer without a community)."""
        return tuple(c.name for c in self.columns if c.type.region and not c.required)

    @cached_property
    def owner(self) -> str | None:
        """The region column a stored record belongs to: the first one outside the id
        (a region: its parent); None when the id holds the region (targets)."""
        for c in self.columns:
            if c.type.region and c.name not in self.id:
                return c.name
        return None

    @cached_property
    def regions(self) -> tuple[tuple[str, str], ...]:
        """(column, level or "any") of each column naming a stored region."""
        return tuple((c.name, c.region) for c in self.columns if c.region)

    @cached_property
    def references(self) -> tuple[tuple[str, str], ...]:
        """(column, KIND) of each column naming a stored record of another KIND."""
        return tuple((c.name, c.ref) for c in self.columns if c.ref)

    @cached_property
    def local_times(self) -> tuple[Column, ...]:
        """Columns localised in the import's time zone."""
        return tuple(c for c in self.columns if c.type.local_time)

    @cached_property
    def stores(self) -> tuple[Column, ...]:
        """Columns whose type rewrites the database row (hashing, flag columns)."""
        return tuple(c for c in self.columns if c.type.store is not None)

    @cached_property
    def needs_salt(self) -> bool:
        """Whether a column is hashed with the installation's salt."""
        return any(c.type.secret for c in self.columns)

    def column(self, name: str) -> Column:
        """The column called `name`."""
        return self._by_name[name]  # type: ignore[attr-defined,no-any-return]

    def canonical(self, header: str) -> str | None:
        """The canonical column of a header cell (English name or Chinese alias), else None."""
        h = header.strip().lstrip("\ufeff").strip()
        low = h.lower()
        if low in self._by_name:  # type: ignore[attr-defined]
            return low
        return self._by_alias.get(h)  # type: ignore[attr-defined,no-any-return]


# ================================================================ cross-field rules
def _region_coords(m: Any) -> None:
    if (m.lat is None) != (m.lon is None):
        raise RowError("lat/lon: 经纬度须同时填写 (lat and lon must be given together)")
    if m.level == "community" and m.lat is None:
        raise RowError("lat/lon: 社区须填写经纬度 (lat and lon are required for communities)")
    if m.parent_code is not None and m.parent_code == m.code:
        raise RowError("parent_code: 上级代码不能是自身 (a region cannot be its own parent)")


def _birth_year(m: Any) -> None:
    if m.birth_year is not None and not 1900 <= m.birth_year <= _this_year():
        raise RowError(f"birth_year: 出生年份无效 (implausible birth year {m.birth_year})")


def _unemployed_since(m: Any) -> None:
    if m.unemployed_since is not None and m.status != "unemployed":
        raise RowError(
            "unemployed_since: 失业日期仅限失业人员 "
            "(unemployed_since only with status unemployed)"
        )


def _zero_dates(m: Any) -> None:
    if m.zero_cleared_on is not None:
        if m.zero_identified_on is None:
            raise RowError(
                "zero_cleared_on: 有清零日期但无认定日期 "
                "(cleared without zero_identified_on)"
            )
        if m.zero_cleared_on < m.zero_identified_on:
            raise RowError(
                "zero_cleared_on: 清零日期早于认定日期 "
                "(zero_cleared_on before zero_identified_on)"
            )


def _vacancy_rules(m: Any) -> None:
    if m.headcount is not None and m.headcount < 1:
        raise RowError(f"headcount: 招聘人数须 ≥ 1 (headcount must be ≥ 1, got {m.headcount})")
    if m.salary_min is not None and m.salary_max is not None and m.salary_min > m.salary_max:
        raise RowError("salary_min: 最低月薪高于最高月薪 (salary_min greater than salary_max)")
    if m.closed_on is not None and m.posted_on and m.closed_on < m.posted_on:
        raise RowError("closed_on: 关闭日期早于发布日期 (closed_on before posted_on)")


def _training_dates(m: Any) -> None:
    if m.completed_on is not None and m.started_on and m.completed_on < m.started_on:
        raise RowError("completed_on: 结业日期早于开班日期 (completed_on before started_on)")


def _loan_amount(m: Any) -> None:
    if m.amount is not None and m.amount <= 0:
        raise RowError(f"amount: 贷款金额须大于 0 (amount must be > 0, got {m.amount})")


def _survey_score(m: Any) -> None:
    if m.score is not None and not 1 <= m.score <= 5:
        raise RowError(f"score: 评分须为 1–5 的整数 (score must be 1–5, got {m.score})")


def _target_year(m: Any) -> None:
    if m.year is not None and not 2000 <= m.year <= 2100:
        raise RowError(f"year: 年度无效 (implausible year {m.year})")


# ================================================================ the KINDs
C = Column
COMMUNITY = C("community_code", CODE, required=True, region="community")

REGISTRY: dict[str, Kind] = {k.name: k for k in (
    Kind("regions", "区划", Region, id=("code",), tree="parent_code", checks=(_region_coords,),
         columns=(
             C("code", CODE, ("区划代码", "行政区划代码"), required=True),
             C("name", text(100), ("名称", "区划名称"), required=True),
             C("level", enum(LEVELS, LEVEL_ALIASES, "层级 (level)"), ("层级", "级别"),
               required=True),
             C("parent_code", CODE, ("上级代码", "上级区划代码"), in_header=True,
               note="column yes, value empty for the root"),
             C("lat", LAT),
             C("lon", LON),
             C("population", NON_NEG_INT, ("人口", "常住人口")),
         )),
    Kind("persons", "人员", Person, id=("person_id",), checks=(_birth_year, _unemployed_since),
         columns=(
        C("person_id", ID, required=True),
        COMMUNITY,
        C("id_number", ID_NUMBER, ("身份证号", "身份证号码", "公民身份号码")),
        C("gender", enum(("M", "F"), GENDER_ALIASES, "性别 (gender)"), ("性别",)),
        C("birth_year", INT, ("出生年份",)),
        C("education", text(40), ("学历", "文化程度")),
        C("status", enum(PERSON_STATUSES, STATUS_ALIASES, "就业状态 (status)"), ("就业状态",),
          required=True),
        C("seeking_job", BOOL, ("求职意愿",), required=True),
        C("key_groups", KEY_GROUP_LIST, ("重点群体", "人员类别")),
        C("registered_on", DATE, ("登记日期",)),
        C("household_id", ID, ref="households"),
        C("unemployed_since", DATE, ("失业日期", "失业时间"), note="only with status unemployed"),
    )),
    Kind("households", "家庭", Household, id=("household_id",), checks=(_zero_dates,),
         columns=(
             C("household_id", ID, required=True),
             COMMUNITY,
             C("zero_identified_on", DATE, ("零就业认定日期", "认定日期")),
             C("zero_cleared_on", DATE, ("零就业清零日期", "清零日期")),
         )),
    Kind("employers", "用人单位", Employer, id=("employer_id",), columns=(
        C("employer_id", ID, required=True),
        C("credit_code", CREDIT_CODE, ("统一社会信用代码", "信用代码"), required=True),
        C("name", NAME, ("单位名称", "名称"), required=True),
        C("industry", SHORT),
        C("community_code", CODE, region="community"),
        C("registered_on", DATE, ("入驻日期", "入驻时间"), note="企业入驻"),
    )),
    Kind("vacancies", "岗位", Vacancy, id=("vacancy_id",), checks=(_vacancy_rules,), columns=(
        C("vacancy_id", ID, required=True),
        C("employer_id", ID, ref="employers"),
        C("community_code", CODE, ("工作地社区代码",), required=True, region="community",
          note="the worksite"),
        C("lat", LAT, required=True, note="the worksite"),
        C("lon", LON, required=True, note="the worksite"),
        C("title", NAME, ("岗位名称",), required=True),
        C("type", enum(VACANCY_TYPES, VACANCY_TYPE_ALIASES, "岗位类型 (type)"), ("岗位类型",),
          required=True),
        C("headcount", INT, ("招聘人数",), required=True, note="≥ 1"),
        C("salary_min", NON_NEG_INT, ("最低月薪",), note="yuan/month"),
        C("salary_max", NON_NEG_INT, ("最高月薪",), note="yuan/month, ≥ salary_min"),
        C("industry", SHORT),
        C("posted_on", DATE, ("发布日期",), required=True),
        C("closed_on", DATE, ("关闭日期",), note="≥ posted_on"),
    )),
    Kind("placements", "就业", Placement, id=("placement_id",), columns=(
        C("placement_id", ID, ("就业记录编号",), required=True),
        C("person_id", ID, required=True, ref="persons"),
        C("vacancy_id", ID, ref="vacancies"),
        C("community_code", CODE, required=True, region="community",
          note="the person's"),
        C("placed_at", LOCAL_DATETIME, ("就业时间", "就业日期"), required=True,
          date_column="placed_on"),
        C("form", enum(PLACEMENT_FORMS, FORM_ALIASES, "就业形式 (form)"), ("就业形式",),
          required=True),
    )),
    Kind("assistance", "就业服务", Assistance, id=("record_id",), columns=(
        C("record_id", ID, ("服务记录编号",), required=True),
        C("person_id", ID, required=True, ref="persons"),
        COMMUNITY,
        C("kind", enum(ASSISTANCE_KINDS, ASSISTANCE_ALIASES, "服务类型 (kind)"), ("服务类型",),
          required=True),
        C("served_on", DATE, ("服务日期",), required=True),
    )),
    Kind("job_fairs", "招聘会", JobFair, id=("fair_id",),
         doc="region_code may name a region of any level: a county's fair belongs to the "
             "county (and counts for its ancestors), not to any community.",
         columns=(
             C("fair_id", ID, ("招聘会编号",), required=True),
             C("region_code", CODE, ("举办地区划代码", "区划代码", "举办地代码"),
               required=True, region="any"),
             C("held_on", DATE, ("举办日期", "招聘会日期"), required=True),
             C("title", NAME, ("招聘会名称", "名称"), required=True),
             C("mode", enum(FAIR_MODES, FAIR_MODE_ALIASES, "举办形式 (mode)"),
               ("举办形式", "招聘会形式"), required=True),
             C("employers", NON_NEG_INT, ("参会企业数", "参会单位数")),
             C("posts", NON_NEG_INT, ("提供岗位数", "岗位数"), note="headcount offered"),
             C("visitors", NON_NEG_INT, ("进场求职人数", "入场人数")),
             C("intentions", NON_NEG_INT, ("达成意向人数", "意向人数")),
             C("views", NON_NEG_INT, ("直播观看人次", "观看人次")),
         )),
    Kind("trainings", "培训", Training, id=("training_id",), checks=(_training_dates,),
         columns=(
             C("training_id", ID, ("培训记录编号", "培训编号"), required=True),
             C("person_id", ID, required=True, ref="persons"),
             COMMUNITY,
             C("kind", enum(TRAINING_KINDS, TRAINING_KIND_ALIASES, "培训类型 (kind)"),
               ("培训类型",), required=True),
             C("mode", enum(SERVICE_MODES, SERVICE_MODE_ALIASES, "培训方式 (mode)"),
               ("培训方式",), required=True),
             C("started_on", DATE, ("开班日期", "开始日期"), required=True),
             C("completed_on", DATE, ("结业日期",), note="≥ started_on"),
             C("certified", BOOL, ("取得证书", "是否取证")),
             C("subsidised", BOOL, ("享受补贴", "是否补贴")),
         )),
    Kind("interviews", "面试", Interview, id=("interview_id",), columns=(
        C("interview_id", ID, ("面试编号", "面试记录编号"), required=True),
        C("person_id", ID, required=True, ref="persons"),
        C("vacancy_id", ID, ref="vacancies"),
        COMMUNITY,
        C("held_at", LOCAL_DATETIME, ("面试时间", "面试日期"), required=True,
          date_column="held_on"),
        C("mode", enum(SERVICE_MODES, SERVICE_MODE_ALIASES, "面试方式 (mode)"), ("面试方式",),
          required=True),
        C("outcome", enum(INTERVIEW_OUTCOMES, OUTCOME_ALIASES, "面试结果 (outcome)"),
          ("面试结果",)),
    )),
    Kind("loans", "创业担保贷款", Loan, id=("loan_id",), checks=(_loan_amount,), columns=(
        C("loan_id", ID, ("贷款编号",), required=True),
        C("person_id", ID, required=True, ref="persons"),
        COMMUNITY,
        C("granted_on", DATE, ("发放日期", "放款日期"), required=True),
        C("amount", NON_NEG_NUMBER, ("贷款金额", "金额"), required=True, note="yuan, > 0"),
        C("jobs_created", NON_NEG_INT, ("带动就业人数",)),
    )),
    Kind("surveys", "满意度评价", Survey, id=("response_id",), checks=(_survey_score,),
         columns=(
             C("response_id", ID, ("评价编号", "问卷编号"), required=True),
             COMMUNITY,
             C("answered_on", DATE, ("评价日期",), required=True),
             C("score", INT, ("评分", "满意度评分"), required=True, note="1–5"),
             C("service", enum(SURVEY_SERVICES, SURVEY_SERVICE_ALIASES, "服务事项 (service)"),
               ("服务事项", "评价事项")),
             C("channel", enum(SURVEY_CHANNELS, CHANNEL_ALIASES, "评价渠道 (channel)"),
               ("评价渠道", "渠道")),
         )),
    Kind("targets", "目标", Target, id=("region_code", "metric", "year"),
         checks=(_target_year,), columns=(
             C("region_code", CODE, ("区划代码",), required=True, region="any"),
             C("metric", METRIC, ("指标",), required=True),
             C("year", INT, ("年度",), required=True),
             C("target", NON_NEG_NUMBER, ("目标值",), required=True),
         )),
)}

KIND_NAMES: tuple[str, ...] = tuple(REGISTRY)


def get(kind: str) -> Kind:
    """The declaration of KIND; ValueError naming the known ones otherwise."""
    spec = REGISTRY.get(kind)
    if spec is None:
        raise ValueError(
            f"未知类型 (unknown KIND {kind!r}; expected one of {', '.join(KIND_NAMES)})"
        )
    return spec
