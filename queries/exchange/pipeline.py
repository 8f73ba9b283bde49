"""The import pipeline (SPEC section 2): validate chunks of canonical rows, upsert them.

Each file is validated row by row (the KIND's row model, then reference checks per chunk
against the database) and its valid rows are upserted in one transaction. Invalid rows go
to a rejects CSV with their line number and a reason naming the field. Everything about a
KIND comes from its declaration in queries.exchange.kinds.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy import Column, Connection, Engine, MetaData, String, Table, select, text
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError

from queries.domain import LEVELS
from queries.exchange.fields import (
    RowError,
    _parse_int,
    format_errors,
    parse_local_datetime,
)
from queries.exchange.kinds import KIND_NAMES, REGISTRY, Kind, get
from queries.exchange.readers import READERS, FatalImportError, Raw, _map_record
from queries.exchange.rejects import RejectsWriter
from queries.exchange.tree import Decided, TreeRows, _Pending
from queries.incremental import Marker
from queries.models import Meta, Region
from queries.outbox import tracker_for
from queries.upsert import pg_copy_rows, upsert
from queries.validation import get_or_create_salt

log = logging.getLogger(__name__)

CHUNK_SIZE = 5000
PROGRESS_MIN_ROWS = 5000  # below this a progress line is only noise


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



class Progress:
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
        """End the progress line if one was shown."""
        if self.shown:
            sys.stderr.write("\n")
            sys.stderr.flush()


_SEEN_TABLE = "tmp_import_seen_ids"

# An import's scope: a predicate on 12-digit region codes (e.g. a token's subtree).
Scope = Callable[[str], bool]


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


_MYSQL_VALUE_ERRORS = frozenset((1048, 1264, 1265, 1292, 1366, 1367, 1406, 1411))


def _row_fault(err: BaseException, dbapi: Any) -> bool:
    """Whether a failed write is the row's fault (bad data, a key clash, a value the driver
    cannot bind) rather than the database's (connection lost, lock timeout): only the
    former may become a reject; the latter fails the whole import."""
    if isinstance(err, DBAPIError):
        if err.connection_invalidated:
            return False
        code = (getattr(err.orig, "args", None) or (None,))[0]
        # MySQL/MariaDB report some bad values under OperationalError (PyMySQL maps errors
        # by code): a wrong datetime, integer or string value, out of range, too long.
        return isinstance(err, DataError | IntegrityError) or code in _MYSQL_VALUE_ERRORS
    if isinstance(err, StatementError | ValueError | TypeError | OverflowError | UnicodeError):
        return True
    # The driver's own errors (PostgreSQL's COPY path calls it directly).
    row_errors = tuple(getattr(dbapi, n) for n in ("DataError", "IntegrityError")
                       if hasattr(dbapi, n))
    return bool(row_errors) and isinstance(err, row_errors)

class _Importer(TreeRows):
    """Validates chunks of canonical rows and upserts the valid ones on one connection.

    Every stage is per row: whatever one row contains becomes that row's reject reason.
    Regions are decided once the whole file is read, so parents may come in any order.
    """

    write_chunk = CHUNK_SIZE  # rows per upsert of the held tree rows

    def __init__(
        self, conn: Connection, kind: str, tz: str, salt: str | None,
        scope: Scope | None = None, cause: str = "import",
    ) -> None:
        self.conn = conn
        self.kind = kind
        self.spec: Kind = get(kind)
        self.zone = ZoneInfo(tz)
        self.salt = salt
        self.scope = scope
        # Outbound changes (SPEC 7) are recorded in the same savepoint as their rows.
        self.tracker = tracker_for(kind, conn, cause, dt.datetime.now(ZoneInfo(tz)).date())
        self.id_cols = self.spec.id
        # The regions an upsert may change, marked in the same transaction (incremental
        # refresh recomputes only those).
        self.marker = Marker(conn, kind, self.spec.table.__table__, self.id_cols)
        self.model = self.spec.model
        self.table = self.spec.table.__table__
        self.id_cols = self.spec.id
        self.int_keys = [j for j, c in enumerate(self.id_cols)
                         if self.spec.column(c).type.int_key]
        self.local_times = [(c.name, c.date_column) for c in self.spec.local_times]
        self.stores = self.spec.stores
        self.regions: dict[str, str] = {}
        self.parents: dict[str, str | None] = {}
        for code, level, parent in conn.execute(
            select(Region.code, Region.level, Region.parent_code)
        ).tuples():
            self.regions[code] = level
            if self.spec.tree:
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
        """Drop this import's temporary table."""
        self.conn.execute(text(f"DROP TABLE IF EXISTS {_SEEN_TABLE}"))

    # -------------------------------------------------------------- helpers
    def _key(self, canon: dict[str, Any]) -> str | None:
        if len(self.id_cols) == 1 and not self.int_keys:  # the usual case, on the hot path
            key = canon.get(self.id_cols[0])
            return _safe_key(key if key is None else str(key))
        parts = [canon.get(c) for c in self.id_cols]
        if any(p is None for p in parts):
            return None
        for j in self.int_keys:  # "2025" and "2025.0" are the same year
            try:
                parts[j] = str(_parse_int(parts[j]))
            except ValueError:
                pass
        return _safe_key("\x1f".join(str(p) for p in parts))

    def _in_scope(self, code: str | None) -> bool:
        return self.scope is None or (code is not None and self.scope(code))

    def _owners(self, kind: str, ids: set[str]) -> dict[str, str | None]:
        """Stored records of KIND among `ids`: id -> the region that owns it."""
        if not ids:
            return {}
        spec = REGISTRY[kind]
        model = spec.table
        id_col = getattr(model, spec.id[0])
        owner = getattr(model, spec.owner)  # type: ignore[arg-type]
        rows = self.conn.execute(select(id_col, owner).where(id_col.in_(list(ids)))).tuples()
        return dict(rows.all())

    def _region(self, field_name: str, code: str | None, want: str) -> str | None:
        """Why `code` is not a stored region of level `want` ("any": of any level)."""
        if code is None:
            return None
        level = self.regions.get(code)
        if level is None:
            return f"{field_name}: 区划不存在 (unknown region {code})"
        if want != "any" and level != want:
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
        local: list[dict[str, dt.datetime | None] | None] = [None] * n
        for i, (_, _, canon, reason) in enumerate(chunk):
            if reason is not None or canon is None:
                reasons[i] = reason or "无法读取该行 (row could not be read)"
                continue
            keys[i] = self._key(canon)
            reasons[i], models[i], local[i] = self._validate(canon)

        self._duplicates(keys, reasons)
        self._check_scope(models, reasons)
        self._references(models, reasons)

        if self.spec.tree:
            return self._hold_tree(chunk, models, reasons)
        rows: list[dict[str, Any]] = []
        at: list[int] = []
        for i, (m, r) in enumerate(zip(models, reasons, strict=True)):
            if r is not None:
                continue
            try:
                rows.append(self._db_row(m, local[i]))
                at.append(i)
            except Exception as err:  # noqa: BLE001 - the row's values, reported as such
                reasons[i] = f"无法转换该行 (row could not be converted: {type(err).__name__})"
        self._write(rows, at, reasons)
        return [(line, original, reasons[i]) for i, (line, original, _, _) in enumerate(chunk)]

    def _validate(
        self, canon: dict[str, Any]
    ) -> tuple[str | None, Any, dict[str, dt.datetime | None] | None]:
        """(reason, model, local times) of one canonical row."""
        missing = [c for c in self.spec.required if canon.get(c) is None]
        if missing:
            return "缺少必填字段 (missing required field): " + ", ".join(missing), None, None
        try:
            m = self.model.model_validate(canon)
            at = {
                col: None if (v := getattr(m, col)) is None
                else parse_local_datetime(v, self.zone, col)
                for col, _ in self.local_times
            } if self.local_times else None
        except ValidationError as err:
            return format_errors(err), None, None
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
                self._upsert(rows)
            self.marker.commit()
            return
        except Exception as err:
            self.marker.rollback()
            if not _row_fault(err, dbapi):
                raise
            log.info("chunk refused by the database (%s); retrying row by row",
                     type(err).__name__)
        for row, i in zip(rows, at, strict=True):
            try:
                with self.conn.begin_nested():
                    self._upsert([row])
                self.marker.commit()
            except Exception as err:
                self.marker.rollback()
                if not _row_fault(err, dbapi):
                    raise
                orig = getattr(err, "orig", None) or err
                first = (str(orig).splitlines() or [""])[0][:120]
                reasons[i] = ("数据库拒绝该行 (the database refused the row: "
                              f"{type(orig).__name__}: {first})")

    def _upsert(self, rows: list[dict[str, Any]]) -> None:
        """Upsert rows, recording their outbound changes (outbox, feed) and the regions
        they change (refresh marks) with them."""
        old = self.marker.before(rows)
        if self.tracker is None:
            upsert(self.conn, self.table, rows)
        else:
            state = self.tracker.before(rows)
            upsert(self.conn, self.table, rows)
            self.tracker.after(state)
        self.marker.after(rows, old)

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
        id_cols = ", ".join(self.id_cols)
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
        spec = self.spec
        live = [i for i, r in enumerate(reasons) if r is None]
        id_col = spec.id[0]
        stored = (self._owners(spec.name, {getattr(models[i], id_col) for i in live})
                  if spec.owner else {})
        scope_columns = spec.scope_columns
        scope_required = spec.scope_required
        for i in live:
            m = models[i]
            errs: list[str] = []
            for col in scope_columns:
                code = getattr(m, col)
                if code is None:
                    if col in scope_required:
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
        """Region columns name stored regions of their level; references, stored records
        inside the scope. (A tree KIND's parents are resolved over the file in finish().)"""
        region_cols = self.spec.regions
        references = self.spec.references
        if not region_cols and not references:
            return
        live = [i for i, r in enumerate(reasons) if r is None]
        refs = {
            col: self._owners(ref_kind, {getattr(models[i], col) for i in live} - {None})
            for col, ref_kind in references
        }
        for i in live:
            m = models[i]
            errs: list[str] = []
            for col, level in region_cols:
                e = self._region(col, getattr(m, col), level)
                if e:
                    errs.append(e)
            for col, ref_kind in references:
                v = getattr(m, col)
                if v is None:
                    continue
                if v not in refs[col]:
                    errs.append(f"{col}: 引用的记录不存在 (no such {ref_kind} id {v!r})")
                elif not self._in_scope(refs[col][v]):
                    errs.append(f"{col}: 引用的记录属于其他区域 (the {ref_kind} "
                                f"record {v!r} belongs to another region)")
            if errs:
                reasons[i] = "; ".join(errs)

    def _db_row(self, m: Any, local: dict[str, dt.datetime | None] | None) -> dict[str, Any]:
        """The database row of a validated model (local times from _validate)."""
        d = dict(m.__dict__)  # the validated fields; much cheaper than model_dump()
        if local:
            for col, date_col in self.local_times:
                t = local[col]
                d[col] = t
                if date_col:
                    d[date_col] = None if t is None else t.date()
        for c in self.stores:
            c.type.store(d, c.name, self.salt)  # type: ignore[misc]
        return d


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
    cause: str = "import",
) -> None:
    """Validate and upsert everything in one transaction, counting into `counts`."""
    salt = get_or_create_salt(engine) if get(kind).needs_salt else None

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
        imp = _Importer(conn, kind, tz, salt, scope, cause)
        for chunk in _chunks(raws, chunk_size):
            counts["read"] += len(chunk)
            tally(imp.process(chunk))
            if on_chunk is not None:
                on_chunk(counts["read"])
        tally(imp.finish())
        imp.close()


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
    if kind not in REGISTRY:
        result.error = (
            f"未知类型 (unknown KIND {kind!r}; expected one of {', '.join(KIND_NAMES)})"
        )
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
        bar = Progress(False)
        on_chunk: Callable[[int], None] = progress
    else:
        bar = Progress(progress if progress is not None else sys.stderr.isatty())
        on_chunk = bar
    state: dict[str, Any] = {}
    writer = RejectsWriter(kind, rej, state)
    counts = {"read": 0, "imported": 0, "rejected": 0}
    try:
        _run(engine, kind, reader(kind, p, state), tz, writer.write, on_chunk, chunk_size, counts,
             scope, f"import:{p.name}")
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
    cause: str = "exchange",
) -> tuple[int, list[dict[str, Any]]]:
    """Validate and import a JSON array of records; returns (imported, [{index, reason}]).

    With `scope` (a predicate on 12-digit region codes, e.g. a token's subtree), checked on
    each canonical row after header aliasing and parsing: every region column given must be
    in scope; a record whose id is stored in a region outside it is rejected ("belongs to
    another region") and left as it is; regions go only under in-scope parents; references
    to records outside the scope are rejected.
    """
    get(kind)  # ValueError for an unknown KIND
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
    _run(engine, kind, raws(), tz, on_reject, None, CHUNK_SIZE, counts, scope, cause)
    rejected.sort(key=lambda r: r["index"])
    return counts["imported"], rejected
