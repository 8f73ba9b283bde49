"""How a snapshot batch is stored without repeating itself (issue 13, goal 1).

A region's `lists` used to carry every item in full, so a placement or vacancy shown by a
community was written again for its street, district, city and province, and a vacancy
near many communities once per community. Each list item's JSON text is stored once per
batch in `snapshot_items` and regions refer to it by id. Item LAYOUT_ITEM holds what is
the same for every row of the batch (metric keys, months, bands, ...), written once.

Format 2 (layout `"v": 2`, written now; see docs/refresh.md section 1):

- Steps: items 1..N are the regions' path steps, `[code, name, level index]`; a row's
  `path` is their ids, and other items refer to a community by its step id.
- `metrics`: values by position in the layout's `metrics` order; a string `"k"` stands
  for k zeros (ints) in a row. `series` by position in `months`.
- `targets`: `[[metric index, target, completion], ...]`; every target's `expected` is
  the layout's `expected` (it depends on the date only).
- `lists`: an array by position in the layout's `lists` names; null or a missing tail
  means the list is absent from the region (the unpacked form has no such key):
  - latest_placements: an int g, "all of placement group g", or `[[g, k], ...]`, the
    k-th placement of group g. A group item holds one region code's newest placements,
    `[step, t, form, dt, form, ...]`: t the local wall time in seconds since 1970-01-01
    (naive), each next one `dt` seconds older; form an index into `forms`;
  - newest_vacancies, upcoming_fairs, fe_actions: `[id, ...]`;
  - by_industry: `[industry index, headcount, ...]` (flat pairs, `industries`);
  - salary_bands: headcounts by position in `bands`;
  - fe_criteria: `[failing mask, employment share]`, bit i for `criteria[i]`;
  - nearby_vacancies: `[[id, ...], [d, ...]]`, d the distance in hundredths of a km,
    each after the first as the increase over the previous one.
- Vacancy item: `[vacancy_id, title, employer, headcount, salary_min, salary_max, type
  index, industry index, posted_on (days since 1970-01-01), community step]`; fe action
  item `[step, failing mask]`; fair items are objects.

An index into a layout table is replaced by the value itself where the value is not in
it (a string where the table has strings), so nothing is ever lost.

Format 1 (batches written before format 2; layout without "v"): lists as an object of
item ids (`nearby_vacancies` `[id, distance_km]` pairs), placement and vacancy items as
arrays of PLACEMENT_FIELDS / VACANCY_FIELDS, steps `{"code","name","level"}`, metrics
without zero runs, targets as objects, by_industry `[[industry, headcount], ...]`.
Rows in the unpacked form (batches written before migration 0005, hand-made test rows)
are read as they are: a list element that is a dict is an item itself, a metrics value
that is a dict is the metrics.

Readers expand every form back to exactly the dicts the unpacked form decodes to.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

LAYOUT_ITEM = 0
FORMAT = 2
PLACEMENT_FIELDS: tuple[str, ...] = ("placed_at", "community_code", "community_name", "form")
VACANCY_FIELDS: tuple[str, ...] = (
    "vacancy_id", "title", "employer", "headcount", "salary_min", "salary_max", "type",
    "industry", "posted_on", "community_code", "community_name",
)
# The fields of each list's items stored as arrays in format 1.
ITEM_FIELDS: dict[str, tuple[str, ...]] = {
    "latest_placements": PLACEMENT_FIELDS,
    "newest_vacancies": VACANCY_FIELDS,
    "nearby_vacancies": VACANCY_FIELDS,
}
# Lists whose elements are item ids (format 1: [id, distance] for nearby vacancies).
REF_LISTS: tuple[str, ...] = (
    "latest_placements", "newest_vacancies", "upcoming_fairs", "fe_actions",
    "nearby_vacancies",
)
# Format 2: the lists of a region row, by position.
LIST_NAMES: tuple[str, ...] = (
    "latest_placements", "newest_vacancies", "by_industry", "salary_bands",
    "upcoming_fairs", "fe_actions", "fe_criteria", "nearby_vacancies",
)
SERIES_KEY = "placements.monthly"
EPOCH = dt.datetime(1970, 1, 1)
EPOCH_DAY = dt.date(1970, 1, 1)


# One encoder for every text: json.dumps with options builds a new encoder per call.
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _js(value: object) -> str:
    return _ENCODE(value)


def layout_text(
    metric_keys: Iterable[str], months: Iterable[str] = (), bands: Iterable[str] = (),
    **tables: Any,
) -> str:
    """The JSON text of the batch's layout item (format 2 when tables are given)."""
    body: dict[str, Any] = {"metrics": list(metric_keys), "months": list(months),
                            "bands": list(bands)}
    if tables:
        body = {"v": FORMAT, **body, "lists": list(LIST_NAMES), **tables}
    return _js(body)


def metric_keys(layout: str | None) -> list[str] | None:
    """The metric key order of a layout item's text (None without one)."""
    return None if layout is None else json.loads(layout)["metrics"]


def unpack_series(value: Any, months: list[str] | None) -> dict[str, Any]:
    """A region's series dict from its decoded column (positional or already a dict)."""
    if isinstance(value, dict):
        return value
    if months is None or len(months) != len(value):
        raise ValueError("snapshot series stored by position without a matching layout")
    return {SERIES_KEY: dict(zip(months, value, strict=True))}


def read_layout(items: Mapping[int, str] | list[str]) -> dict[str, Any]:
    """The batch's layout from its items ({} when the batch has none)."""
    if isinstance(items, Mapping):
        text = items.get(LAYOUT_ITEM)
    else:
        text = items[LAYOUT_ITEM] if items else None
    return {} if text is None else json.loads(text)


# ---------------------------------------------------------------- writing (format 2)
class Table:
    """Values numbered in order of first use, for a layout table (forms, industries...)."""

    def __init__(self, values: Iterable[Any] = ()) -> None:
        self.values: list[Any] = []
        self.index: dict[Any, int] = {}
        for v in values:
            self.code(v)

    def code(self, value: Any) -> Any:
        """The value's index (None stays None: null is its own code)."""
        if value is None:
            return None
        i = self.index.get(value)
        if i is None:
            i = self.index[value] = len(self.values)
            self.values.append(value)
        return i


def local_seconds(naive: dt.datetime) -> int:
    """Seconds from 1970-01-01 00:00 to a naive local wall time (sub-seconds dropped)."""
    d = naive - EPOCH
    return d.days * 86400 + d.seconds


def pack_metrics(values: list[Any]) -> str:
    """Metric values by position, each run of 3 or more int zeros as the string "k"."""
    out: list[str] = []
    run = 0
    for v in values:
        if v == 0 and type(v) is int:
            run += 1
            continue
        if run:
            out.extend([f'"{run}"'] if run > 2 else ["0"] * run)
            run = 0
        # The common values without json.dumps (it costs 10× more): the same text.
        t = type(v)
        if t is int:
            out.append(str(v))
        elif v is None:
            out.append("null")
        elif t is float and math.isfinite(v):
            out.append(repr(v))
        else:
            out.append(_js(v))
    if run:
        out.extend([f'"{run}"'] if run > 2 else ["0"] * run)
    return "[" + ",".join(out) + "]"


def pack_nearby(ids: list[str], dists: list[float]) -> str:
    """`[[id, ...], [d, ...]]` (hundredths of a km, increases after the first)."""
    hundredths = [round(d * 100) for d in dists]
    # n / 100 is the double nearest n hundredths, as round(d, 2) is: check, never assume.
    if all(n / 100 == d for n, d in zip(hundredths, dists, strict=True)):
        steps = [b - a for a, b in zip([0, *hundredths], hundredths, strict=False)]
        if all(s >= 0 for s in steps):
            return f"[[{','.join(ids)}],{_js(steps)}]"
    return f"[[{','.join(ids)}],{_js(dists)}]"  # floats: the distances themselves


# ---------------------------------------------------------------- reading
def row_item_ids(row: Mapping[str, Any]) -> set[int]:
    """The item ids a decoded region row refers to (lists and path)."""
    out = item_ids(row["lists"])
    out.update(s for s in row["path"] if isinstance(s, int))
    return out


def item_ids(lists: Any) -> set[int]:
    """The item ids a region's decoded lists refer to."""
    out: set[int] = set()
    if isinstance(lists, list):  # format 2
        named = dict(zip(LIST_NAMES, lists, strict=False))
        latest = named.get("latest_placements")
        if isinstance(latest, int):
            out.add(latest)
        else:
            out.update(g for g, _k in latest or ())
        for key in ("newest_vacancies", "upcoming_fairs", "fe_actions"):
            out.update(named.get(key) or ())
        near = named.get("nearby_vacancies")
        if near:
            out.update(near[0])
        return out
    for key in REF_LISTS:
        for el in lists.get(key) or ():
            if isinstance(el, int):
                out.add(el)
            elif isinstance(el, list):
                out.add(el[0])
    return out


def _parse(items: Mapping[int, str] | list[str], i: int, parsed: dict[int, Any]) -> Any:
    """An item decoded once per read (format 2 items hold only scalars and arrays)."""
    value = parsed.get(i)
    if value is None:
        value = parsed[i] = json.loads(items[i])
    return value


def step_ids(
    rows: Iterable[Mapping[str, Any]], items: Mapping[int, str], parsed: dict[int, Any]
) -> set[int]:
    """Format 2: the step items that the rows' placement, vacancy and action items name.

    Read after the rows' own items, since only those say which communities they are in.
    """
    out: set[int] = set()
    for row in rows:
        lists = row["lists"]
        if not isinstance(lists, list):
            continue
        named = dict(zip(LIST_NAMES, lists, strict=False))
        latest = named.get("latest_placements")
        groups = [latest] if isinstance(latest, int) else {g for g, _k in latest or ()}
        for g in groups:
            out.add(_parse(items, g, parsed)[0])
        vacancies = list(named.get("newest_vacancies") or ())
        if named.get("nearby_vacancies"):
            vacancies += named["nearby_vacancies"][0]
        for v in vacancies:
            out.add(_parse(items, v, parsed)[9])
        for a in named.get("fe_actions") or ():
            out.add(_parse(items, a, parsed)[0])
    return {s for s in out if isinstance(s, int) and s not in items}


def unpack_row(
    row: dict[str, Any], items: Mapping[int, str] | list[str], layout: dict[str, Any],
    parsed: dict[int, Any] | None = None,
) -> dict[str, Any]:
    """Expand a decoded region row in place: metrics, series, path, targets and lists.

    `items` must hold every item the row refers to, steps named by items included
    (step_ids); `parsed` caches decoded items between the rows of one read.
    """
    parsed = {} if parsed is None else parsed
    row["metrics"] = unpack_metrics(row["metrics"], layout.get("metrics"))
    row["series"] = unpack_series(row["series"], layout.get("months"))
    if layout.get("v") == FORMAT:
        v2 = _Reader(items, layout, parsed)
        row["path"] = [v2.step(s) if isinstance(s, int) else s for s in row["path"]]
        if "targets" in row:
            row["targets"] = v2.targets(row["targets"])
        if isinstance(row["lists"], list):
            row["lists"] = v2.lists(row["lists"])
            return row
    else:
        row["path"] = [json.loads(items[s]) if isinstance(s, int) else s for s in row["path"]]
    row["lists"] = expand_lists(row["lists"], items, parsed)
    _expand_counts(row["lists"], layout.get("bands"))
    return row


class _Reader:
    """Format 2 items and columns back to the unpacked form's dicts."""

    def __init__(self, items: Mapping[int, str] | list[str], layout: dict[str, Any],
                 parsed: dict[int, Any]) -> None:
        self.items, self.layout, self.parsed = items, layout, parsed
        self.zone = ZoneInfo(layout["tz"])

    def _item(self, i: int) -> Any:
        return _parse(self.items, i, self.parsed)

    def _of(self, table: str, value: Any) -> Any:
        """A layout table's value from its index (a value not in the table is itself)."""
        return self.layout[table][value] if type(value) is int else value

    def step(self, s: int) -> dict[str, Any]:
        code, name, level = self._item(s)
        return {"code": code, "name": name, "level": self._of("levels", level)}

    def _where(self, s: Any) -> tuple[Any, Any]:
        """(community_code, community_name) of a step id, or of a code without a step."""
        if type(s) is int:
            code, name, _level = self._item(s)
            return code, name
        return s, None

    def targets(self, value: Any) -> dict[str, Any]:
        if isinstance(value, dict):
            return value
        keys, expected = self.layout["metrics"], self.layout["expected"]
        return {keys[m]: {"target": t, "completion": c, "expected": expected}
                for m, t, c in value}

    def placement(self, g: int, k: int) -> dict[str, Any]:
        group = self._item(g)
        t = group[1] - sum(group[3:2 * k + 2:2])
        at = (EPOCH + dt.timedelta(seconds=t)).replace(tzinfo=self.zone)
        code, name = self._where(group[0])
        return {"placed_at": at.isoformat(timespec="seconds"), "community_code": code,
                "community_name": name, "form": self._of("forms", group[2 * k + 2])}

    def vacancy(self, v: int) -> dict[str, Any]:
        vid, title, employer, head, smin, smax, ty, ind, day, s = self._item(v)
        code, name = self._where(s)
        return {"vacancy_id": vid, "title": title, "employer": employer, "headcount": head,
                "salary_min": smin, "salary_max": smax, "type": self._of("types", ty),
                "industry": self._of("industries", ind),
                "posted_on": (EPOCH_DAY + dt.timedelta(days=day)).isoformat(),
                "community_code": code, "community_name": name}

    def _item_or_object(self, i: Any) -> Any:
        return i if isinstance(i, dict) else json.loads(self.items[i])

    def action(self, a: int) -> dict[str, Any]:
        s, mask = self._item(a)
        code, name = self._where(s)
        return {"code": code, "name": name, "failing": self._failing(mask)}

    def _failing(self, mask: int) -> list[str]:
        return [c for i, c in enumerate(self.layout["criteria"]) if mask >> i & 1]

    def lists(self, packed: list[Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in zip(self.layout["lists"], packed, strict=False):
            if value is None:
                continue  # the region has no such list
            if key == "latest_placements":
                if type(value) is int:
                    n = (len(self._item(value)) - 1) // 2
                    out[key] = [self.placement(value, k) for k in range(n)]
                else:
                    out[key] = [self.placement(g, k) for g, k in value]
            elif key == "newest_vacancies":
                out[key] = [self.vacancy(v) for v in value]
            elif key == "by_industry":
                out[key] = [{"industry": self._of("industries", value[i]),
                             "headcount": value[i + 1]} for i in range(0, len(value), 2)]
            elif key == "salary_bands":
                out[key] = value
                _expand_counts(out, self.layout.get("bands"))
            elif key == "upcoming_fairs":
                out[key] = [self._item_or_object(f) for f in value]
            elif key == "fe_actions":
                out[key] = [self.action(a) for a in value]
            elif key == "fe_criteria":
                mask, share = value
                crit: dict[str, Any] = {c: {"ok": not mask >> i & 1}
                                        for i, c in enumerate(self.layout["criteria"])}
                crit["employment"]["share"] = share
                out[key] = crit
            elif key == "nearby_vacancies":
                ids, dists = value
                if dists and all(type(d) is int for d in dists):
                    total = 0
                    absolute = []
                    for d in dists:
                        total += d
                        absolute.append(total / 100)
                    dists = absolute
                out[key] = [{**self.vacancy(v), "distance_km": d}
                            for v, d in zip(ids, dists, strict=True)]
            else:
                out[key] = value
        return out


def _expand_counts(lists: dict[str, Any], bands: list[str] | None) -> None:
    """by_industry and salary_bands back to their objects (when stored as arrays)."""
    industries = lists.get("by_industry")
    if industries and isinstance(industries[0], list):
        lists["by_industry"] = [{"industry": k, "headcount": n} for k, n in industries]
    counts = lists.get("salary_bands")
    if counts and not isinstance(counts[0], dict):
        if bands is None or len(bands) != len(counts):
            raise ValueError("snapshot salary bands stored by position without a layout")
        lists["salary_bands"] = [{"band": b, "headcount": n}
                                 for b, n in zip(bands, counts, strict=True)]


def unpack_metrics(value: Any, keys: list[str] | None) -> dict[str, Any]:
    """A region's metrics dict from its decoded column (positional or already a dict)."""
    if isinstance(value, dict):
        return value
    if any(type(v) is str for v in value):  # runs of zeros (format 2)
        flat: list[Any] = []
        for v in value:
            if type(v) is str:
                flat.extend([0] * int(v))
            else:
                flat.append(v)
        value = flat
    if keys is None or len(keys) != len(value):
        raise ValueError("snapshot metrics stored by position without a matching layout")
    return dict(zip(keys, value, strict=True))


def expand_lists(
    lists: dict[str, Any], items: Mapping[int, str] | list[str],
    parsed: dict[int, Any] | None = None,
) -> dict[str, Any]:
    """Format 1: the lists with each item id replaced by the item (a fresh dict per use)."""
    parsed = {} if parsed is None else parsed
    for key in REF_LISTS:
        seq = lists.get(key)
        if not seq:
            continue
        fields = ITEM_FIELDS.get(key, ())
        out = []
        for el in seq:
            if isinstance(el, int):
                out.append(_item(items, el, fields, parsed))
            elif isinstance(el, list):
                out.append({**_item(items, el[0], fields, parsed), "distance_km": el[1]})
            else:
                out.append(el)
        lists[key] = out
    return lists


def _item(
    items: Mapping[int, str] | list[str], item_id: int, fields: tuple[str, ...],
    parsed: dict[int, Any],
) -> dict[str, Any]:
    """An item's dict (an array of its fields' values, or an object), fresh each time."""
    value = parsed.get(item_id)
    if value is None:
        value = json.loads(items[item_id])
        if not isinstance(value, list):
            return value  # objects are not cached: each use gets its own
        # Arrays hold only scalars: a new dict per use shares nothing mutable.
        parsed[item_id] = value
    return dict(zip(fields, value, strict=True))
