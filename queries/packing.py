"""How a snapshot batch is stored without repeating itself (issue 13, goal 1).

A region's `lists` used to carry every item in full, so a placement or vacancy shown by a
community was written again for its street, district, city and province, and a vacancy
near many communities once per community. Now each list item's JSON text is stored once
per batch in `snapshot_items` and a region's list holds its item ids:

- `latest_placements`, `newest_vacancies`, `upcoming_fairs`, `fe_actions`: `[id, ...]`;
- `nearby_vacancies`: `[[id, distance_km], ...]` (the vacancy's text plus its distance).

Placement and vacancy items, by far the most numerous, are JSON arrays of their values in
PLACEMENT_FIELDS / VACANCY_FIELDS order (the keys are not repeated in every item). A
region's own `by_industry` is `[[industry, headcount], ...]` and `salary_bands` the
headcounts `[n, ...]` of the layout's bands (`"bands"`), in that order.

Metric values are stored by position (`[v, ...]`) in the order of the batch's layout,
item LAYOUT_ITEM (`{"metrics": [key, ...], "months": [label, ...]}`), so the keys are
written once per batch and a batch stays readable after a release that adds metrics; the
monthly series likewise (`[n, ...]` for the layout's months). A region's `path` is the
ids of its steps' items (`{"code","name","level"}`, one per region per batch).

Readers expand both back to exactly the dicts the unpacked form decodes to; rows written
in the unpacked form (older batches, hand-made test rows) are read as they are: a list
element that is a dict is an item itself, a metrics value that is a dict is the metrics.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

LAYOUT_ITEM = 0
PLACEMENT_FIELDS: tuple[str, ...] = ("placed_at", "community_code", "community_name", "form")
VACANCY_FIELDS: tuple[str, ...] = (
    "vacancy_id", "title", "employer", "headcount", "salary_min", "salary_max", "type",
    "industry", "posted_on", "community_code", "community_name",
)
# The fields of each list's items stored as arrays (other items are stored as objects).
ITEM_FIELDS: dict[str, tuple[str, ...]] = {
    "latest_placements": PLACEMENT_FIELDS,
    "newest_vacancies": VACANCY_FIELDS,
    "nearby_vacancies": VACANCY_FIELDS,
}
# Lists whose elements are item ids ([id, distance] for nearby vacancies).
REF_LISTS: tuple[str, ...] = (
    "latest_placements", "newest_vacancies", "upcoming_fairs", "fe_actions",
    "nearby_vacancies",
)


SERIES_KEY = "placements.monthly"


def layout_text(
    metric_keys: Iterable[str], months: Iterable[str] = (), bands: Iterable[str] = ()
) -> str:
    """The JSON text of the batch's layout item."""
    return json.dumps({"metrics": list(metric_keys), "months": list(months),
                       "bands": list(bands)}, ensure_ascii=False, separators=(",", ":"))


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


def row_item_ids(row: Mapping[str, Any]) -> set[int]:
    """The item ids a decoded region row refers to (lists and path)."""
    out = item_ids(row["lists"])
    out.update(s for s in row["path"] if isinstance(s, int))
    return out


def read_layout(items: Mapping[int, str] | list[str]) -> dict[str, list[str]]:
    """The batch's layout from its items ({} when the batch has none)."""
    if isinstance(items, Mapping):
        text = items.get(LAYOUT_ITEM)
    else:
        text = items[LAYOUT_ITEM] if items else None
    return {} if text is None else json.loads(text)


def unpack_row(
    row: dict[str, Any], items: Mapping[int, str] | list[str], layout: dict[str, list[str]],
    parsed: dict[int, Any] | None = None,
) -> dict[str, Any]:
    """Expand a decoded region row in place: metrics, series, path and lists.

    `parsed` caches decoded array items between the rows of one read.
    """
    row["metrics"] = unpack_metrics(row["metrics"], layout.get("metrics"))
    row["series"] = unpack_series(row["series"], layout.get("months"))
    row["path"] = [json.loads(items[s]) if isinstance(s, int) else s for s in row["path"]]
    row["lists"] = expand_lists(row["lists"], items, parsed)
    _expand_counts(row["lists"], layout.get("bands"))
    return row


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
    if keys is None or len(keys) != len(value):
        raise ValueError("snapshot metrics stored by position without a matching layout")
    return dict(zip(keys, value, strict=True))


def item_ids(lists: Mapping[str, Any]) -> set[int]:
    """The item ids a region's decoded lists refer to."""
    out: set[int] = set()
    for key in REF_LISTS:
        for el in lists.get(key) or ():
            if isinstance(el, int):
                out.add(el)
            elif isinstance(el, list):
                out.add(el[0])
    return out


def expand_lists(
    lists: dict[str, Any], items: Mapping[int, str] | list[str],
    parsed: dict[int, Any] | None = None,
) -> dict[str, Any]:
    """The lists with each item id replaced by the item (a fresh dict per use)."""
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
