"""SQLAlchemy 2.0 typed ORM: source records (SPEC section 2), snapshots, runs, tokens."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Declarative base of every table."""


# ---------------------------------------------------------------- source tables
class Region(Base):
    """An admin unit; communities carry the centre used for 3-km distances."""

    __tablename__ = "regions"
    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[str] = mapped_column(String(12), index=True)
    parent_code: Mapped[str | None] = mapped_column(String(12), index=True)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    population: Mapped[int | None] = mapped_column(Integer)


class Person(Base):
    """A resident of a community; the identity number is kept only as a salted hash."""

    __tablename__ = "persons"
    person_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    community_code: Mapped[str] = mapped_column(String(12), index=True)
    id_hash: Mapped[str | None] = mapped_column(String(64))
    gender: Mapped[str | None] = mapped_column(String(1))
    birth_year: Mapped[int | None] = mapped_column(Integer)
    education: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(12))
    seeking_job: Mapped[bool] = mapped_column(Boolean)
    # One boolean per key group: a person may be in several, and SUM(CASE) over flags
    # keeps the aggregation a single pass on every database.
    kg_difficulty: Mapped[bool] = mapped_column(Boolean, default=False)
    kg_registered_unemployed: Mapped[bool] = mapped_column(Boolean, default=False)
    kg_graduate: Mapped[bool] = mapped_column(Boolean, default=False)
    kg_poverty_alleviated: Mapped[bool] = mapped_column(Boolean, default=False)
    kg_veteran: Mapped[bool] = mapped_column(Boolean, default=False)
    kg_disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    kg_returnee: Mapped[bool] = mapped_column(Boolean, default=False)
    registered_on: Mapped[dt.date | None] = mapped_column(Date)
    household_id: Mapped[str | None] = mapped_column(String(64))
    # Only with status unemployed (SPEC 6.1); long-term unemployment counts from it.
    unemployed_since: Mapped[dt.date | None] = mapped_column(Date)
    # Where `status` / `seeking_job` came from (SPEC 7: a new placement changes them).
    # status_on: the local date the current status holds from (the import date of the
    # record that set it, or the placement's date); status_source: None for a `persons`
    # record, "placement" when a placement set it, with record_status / record_seeking
    # keeping what the last record said, so re-importing that record does not undo it.
    status_on: Mapped[dt.date | None] = mapped_column(Date)
    status_source: Mapped[str | None] = mapped_column(String(12))
    record_status: Mapped[str | None] = mapped_column(String(12))
    record_seeking: Mapped[bool | None] = mapped_column(Boolean)


class Household(Base):
    """A household; zero_identified_on marks it as a zero-employment household."""

    __tablename__ = "households"
    household_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    community_code: Mapped[str] = mapped_column(String(12), index=True)
    zero_identified_on: Mapped[dt.date | None] = mapped_column(Date)
    zero_cleared_on: Mapped[dt.date | None] = mapped_column(Date)


class Employer(Base):
    """An employer identified by its unified social credit code."""

    __tablename__ = "employers"
    employer_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    credit_code: Mapped[str] = mapped_column(String(18))
    name: Mapped[str] = mapped_column(String(200))
    industry: Mapped[str | None] = mapped_column(String(60))
    community_code: Mapped[str | None] = mapped_column(String(12))
    registered_on: Mapped[dt.date | None] = mapped_column(Date)  # 企业入驻 (SPEC 6.1)


class Vacancy(Base):
    """A job posting with its worksite location."""

    __tablename__ = "vacancies"
    vacancy_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    employer_id: Mapped[str | None] = mapped_column(String(64))
    community_code: Mapped[str] = mapped_column(String(12), index=True)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    title: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(16))
    headcount: Mapped[int] = mapped_column(Integer)
    salary_min: Mapped[int | None] = mapped_column(Integer)
    salary_max: Mapped[int | None] = mapped_column(Integer)
    industry: Mapped[str | None] = mapped_column(String(60))
    posted_on: Mapped[dt.date] = mapped_column(Date)
    closed_on: Mapped[dt.date | None] = mapped_column(Date)

    # An increment reads the vacancies within 3 km of its communities as a few
    # rectangles (queries.incremental._near_boxes): index ranges, not a scan.
    __table_args__ = (Index("ix_vacancies_lat_lon", "lat", "lon"),)


class Placement(Base):
    """A person placed in work; placed_on is the local date of placed_at."""

    __tablename__ = "placements"
    placement_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(64))
    vacancy_id: Mapped[str | None] = mapped_column(String(64))
    community_code: Mapped[str] = mapped_column(String(12))
    # placed_at as given, converted to naive local time in DASHBOARD_TIMEZONE at import.
    placed_at: Mapped[dt.datetime] = mapped_column(DateTime)
    placed_on: Mapped[dt.date] = mapped_column(Date)
    form: Mapped[str] = mapped_column(String(20))

    __table_args__ = (
        Index("ix_placements_community_on", "community_code", "placed_on"),
        Index("ix_placements_person_on", "person_id", "placed_on"),
        # Newest placements of a community; covers the refresh's placement passes (0002).
        Index(
            "ix_placements_community_at",
            "community_code", "placed_at", "placement_id", "placed_on", "form", "vacancy_id",
        ),
    )


class Assistance(Base):
    """One assistance service to a person (服务人次)."""

    __tablename__ = "assistance"
    record_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(64))
    community_code: Mapped[str] = mapped_column(String(12))
    kind: Mapped[str] = mapped_column(String(24))
    served_on: Mapped[dt.date] = mapped_column(Date)

    __table_args__ = (
        Index("ix_assistance_community_on", "community_code", "served_on"),
        Index("ix_assistance_person_on", "person_id", "served_on"),
    )


class Target(Base):
    """A yearly target for one metric of one region."""

    __tablename__ = "targets"
    region_code: Mapped[str] = mapped_column(String(12), primary_key=True)
    metric: Mapped[str] = mapped_column(String(80), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    target: Mapped[float] = mapped_column(Float)


class JobFair(Base):
    """A job fair (招聘会) of a region at any level; the counts are as reported."""

    __tablename__ = "job_fairs"
    fair_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    region_code: Mapped[str] = mapped_column(String(12), index=True)
    held_on: Mapped[dt.date] = mapped_column(Date, index=True)
    title: Mapped[str] = mapped_column(String(200))
    mode: Mapped[str] = mapped_column(String(12))
    employers: Mapped[int | None] = mapped_column(Integer)
    posts: Mapped[int | None] = mapped_column(Integer)
    visitors: Mapped[int | None] = mapped_column(Integer)
    intentions: Mapped[int | None] = mapped_column(Integer)
    views: Mapped[int | None] = mapped_column(Integer)


class Training(Base):
    """One person's training course (培训)."""

    __tablename__ = "trainings"
    training_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(64))
    community_code: Mapped[str] = mapped_column(String(12))
    kind: Mapped[str] = mapped_column(String(20))
    mode: Mapped[str] = mapped_column(String(8))
    started_on: Mapped[dt.date] = mapped_column(Date)
    completed_on: Mapped[dt.date | None] = mapped_column(Date)
    certified: Mapped[bool | None] = mapped_column(Boolean)
    subsidised: Mapped[bool | None] = mapped_column(Boolean)

    __table_args__ = (Index("ix_trainings_community_on", "community_code", "started_on"),)


class Interview(Base):
    """A job interview (面试); held_on is the local date of held_at."""

    __tablename__ = "interviews"
    interview_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(64))
    vacancy_id: Mapped[str | None] = mapped_column(String(64))
    community_code: Mapped[str] = mapped_column(String(12))
    held_at: Mapped[dt.datetime] = mapped_column(DateTime)
    held_on: Mapped[dt.date] = mapped_column(Date)
    mode: Mapped[str] = mapped_column(String(8))
    outcome: Mapped[str | None] = mapped_column(String(12))

    __table_args__ = (Index("ix_interviews_community_on", "community_code", "held_on"),)


class Loan(Base):
    """A start-up guarantee loan (创业担保贷款); amount in yuan."""

    __tablename__ = "loans"
    loan_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(64))
    community_code: Mapped[str] = mapped_column(String(12))
    granted_on: Mapped[dt.date] = mapped_column(Date)
    amount: Mapped[float] = mapped_column(Float)
    jobs_created: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (Index("ix_loans_community_on", "community_code", "granted_on"),)


class Survey(Base):
    """One satisfaction answer (满意度评价); anonymous, by community."""

    __tablename__ = "surveys"
    response_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    community_code: Mapped[str] = mapped_column(String(12))
    answered_on: Mapped[dt.date] = mapped_column(Date)
    score: Mapped[int] = mapped_column(Integer)
    service: Mapped[str | None] = mapped_column(String(16))
    channel: Mapped[str | None] = mapped_column(String(8))

    __table_args__ = (Index("ix_surveys_community_on", "community_code", "answered_on"),)


# ---------------------------------------------------------------- service tables
class Meta(Base):
    """Installation-wide values, e.g. the salt of identity-number hashes."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Lock(Base):
    """A lease-based lock shared by all processes using the database."""

    __tablename__ = "locks"
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(100))
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class RefreshRun(Base):
    """One refresh attempt; a finished one (status ok) is a visible snapshot batch."""

    __tablename__ = "refresh_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    as_of: Mapped[dt.datetime] = mapped_column(DateTime)  # naive UTC
    started_at: Mapped[dt.datetime] = mapped_column(DateTime)  # naive UTC
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(12), index=True)  # running / ok / failed
    rows: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    holder: Mapped[str | None] = mapped_column(String(100))
    # The full batch this batch's snapshot rows descend from (queries.versions); NULL:
    # itself (every batch written before versioned rows).
    chain_id: Mapped[int | None] = mapped_column(Integer)


class SnapshotRegion(Base):
    """Every metric, series, target and bounded list of one region in one batch (JSON)."""

    __tablename__ = "snapshot_regions"
    batch_id: Mapped[int] = mapped_column(
        ForeignKey("refresh_runs.id", ondelete="CASCADE"), primary_key=True
    )
    region_code: Mapped[str] = mapped_column(String(12), primary_key=True)
    parent_code: Mapped[str | None] = mapped_column(String(12))
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[str] = mapped_column(String(12))
    path: Mapped[str] = mapped_column(Text)  # JSON [{"code","name","level"}, ...] root first
    metrics: Mapped[str] = mapped_column(Text)  # JSON {key: number|null}
    series: Mapped[str] = mapped_column(Text)  # JSON {"placements.monthly": {...}}
    targets: Mapped[str] = mapped_column(Text)  # JSON {key: {"target", "completion"}}
    lists: Mapped[str] = mapped_column(Text)  # JSON bounded lists for panels
    # The batch that replaced this row (NULL: current); batch_id is the one that wrote it.
    valid_to: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (Index("ix_snapshot_parent", "parent_code", "batch_id"),
                      Index("ix_snapshot_region", "region_code", "batch_id"),
                      # Prune deletes replaced rows by valid_to; most rows are current.
                      Index("ix_snapshot_regions_valid_to", "valid_to",
                            postgresql_where=text("valid_to IS NOT NULL"),
                            sqlite_where=text("valid_to IS NOT NULL")))


class SnapshotItem(Base):
    """One list item of a batch (JSON), stored once; regions' lists refer to it by id.

    Item 0 is the batch's layout (queries.packing): the order of the metric values.
    """

    __tablename__ = "snapshot_items"
    batch_id: Mapped[int] = mapped_column(
        ForeignKey("refresh_runs.id", ondelete="CASCADE"), primary_key=True
    )
    item_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    body: Mapped[str] = mapped_column(Text)
    # The batch that replaced this item (NULL: current; only the layout and the map's
    # items are ever replaced, list items are appended).
    valid_to: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (Index("ix_snapshot_item", "item_id", "batch_id"),
                      Index("ix_snapshot_items_valid_to", "valid_to",
                            postgresql_where=text("valid_to IS NOT NULL"),
                            sqlite_where=text("valid_to IS NOT NULL")))


class Token(Base):
    """An issued access token (its id is inside the signed token)."""

    __tablename__ = "tokens"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    region_code: Mapped[str] = mapped_column(String(12))
    role: Mapped[str] = mapped_column(String(12))
    panels: Mapped[str | None] = mapped_column(Text)
    issued_at: Mapped[dt.datetime] = mapped_column(DateTime)
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    last_route: Mapped[str | None] = mapped_column(String(200))
    last_region: Mapped[str | None] = mapped_column(String(12))
    uses: Mapped[int] = mapped_column(Integer, default=0)


# ---------------------------------------------------------------- outbound exchange (SPEC 7)
class OutboxEvent(Base):
    """An event for the provincial platform, written in the transaction of its change."""

    __tablename__ = "outbox_events"
    # Allocated at insert, after the changed row is locked: one subject's events get
    # increasing ids in commit order, which is the delivery order per subject.
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36))
    topic: Mapped[str] = mapped_column(String(16))  # person_status / vacancy
    subject: Mapped[str] = mapped_column(String(80))  # "person:<id>" / "vacancy:<id>"
    payload: Mapped[str] = mapped_column(Text)  # the JSON object sent, without seq
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)  # naive UTC
    state: Mapped[str] = mapped_column(String(10))  # pending / delivered / dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    __table_args__ = (
        Index("ux_outbox_event_id", "event_id", unique=True),
        Index("ix_outbox_state_id", "state", "id"),
        Index("ix_outbox_subject_id", "subject", "id"),
        # While the receiver is down every pending event waits for a retry: finding the
        # few that are due must not walk them all (migration 0006).
        Index("ix_outbox_state_next", "state", "next_attempt_at"),
    )


class VacancyChange(Base):
    """One change of a vacancy as the outbound feed serves it (the record at that time)."""

    __tablename__ = "vacancy_changes"
    # Taken from feed_counters under its row lock, held to commit: seq order is commit order.
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    vacancy_id: Mapped[str] = mapped_column(String(64))
    community_code: Mapped[str] = mapped_column(String(12))
    record: Mapped[str] = mapped_column(Text)  # JSON, the SPEC section 2 format
    changed_at: Mapped[dt.datetime] = mapped_column(DateTime)  # naive UTC


class FeedCounter(Base):
    """The last sequence number handed out for a feed (its row lock orders writers)."""

    __tablename__ = "feed_counters"
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


# ---------------------------------------------------------------- incremental refresh
class RefreshMark(Base):
    """A region whose parts changed since the last batch (written with the change).

    code "*" asks for a full refresh (the region tree changed); "c" + code: only the
    community's nearby vacancies may have changed (queries.incremental.NEAR_MARK);
    "v" + code: vacancies of that community were restated at the same place and days
    (VAC_MARK); "w": some vacancy was written, the map's worksites are read again
    (WORKSITE_MARK).
    """

    __tablename__ = "refresh_marks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(16))


class RefreshState(Base):
    """One region's rolled-up parts and list keys as of the base batch (JSON)."""

    __tablename__ = "refresh_state"
    region_code: Mapped[str] = mapped_column(String(12), primary_key=True)
    body: Mapped[str] = mapped_column(Text)


class RefreshBase(Base):
    """The batch refresh_state describes, and what it was computed for (one row, id 1)."""

    __tablename__ = "refresh_base"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    batch_id: Mapped[int] = mapped_column(Integer)
    day: Mapped[dt.date] = mapped_column(Date)
    tz: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(40))
    regions_hash: Mapped[str] = mapped_column(String(40))
    items_full: Mapped[int] = mapped_column(Integer)  # items of the last full batch
    items_added: Mapped[int] = mapped_column(Integer)  # items appended since
