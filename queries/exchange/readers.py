"""Readers of exchange files: CSV, XLSX and JSON Lines, streamed, as canonical rows.

A reader yields one Raw per record: (line, original cells by original header, canonical
dict or None, reason or None); the reason says why a record could not be read.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import json
import math
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from queries.exchange.kinds import get

UTF8_BLOCK = 1 << 18  # bytes per step of the UTF-8 pre-scan: bounds its memory


class FatalImportError(Exception):
    """The file as a whole cannot be imported (encoding, header, corrupt container)."""


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
    spec = get(kind)
    mapped: list[str | None] = []
    seen: dict[str, str] = {}
    ignored: list[str] = []
    for h in header:
        c = spec.canonical(h or "")
        if c is not None and c in seen:
            raise FatalImportError(
                f"列重复 (duplicate column): {h!r} 与 {seen[c]!r} 都对应 {c}"
            )
        if c is None and (h or "").strip():
            ignored.append(h)
        if c is not None:
            seen[c] = h
        mapped.append(c)
    missing = [c for c in spec.header_required if c not in seen]
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
    spec = get(kind)
    canon: dict[str, Any] = {}
    for k, v in rec.items():
        c = spec.canonical(str(k))
        if c is None:
            continue
        if c in canon:
            return canon, f"字段重复 (duplicate field): {str(k)!r}"
        if isinstance(v, dict) or (isinstance(v, list) and not spec.column(c).type.many):
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

