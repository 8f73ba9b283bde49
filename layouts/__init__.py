"""Panels of the wall, region and embed pages; `PANELS` is the explicit registry (order kept)."""

from __future__ import annotations

from types import ModuleType

from layouts import (
    circle,
    full_employment,
    key_groups,
    map,
    overview,
    placements,
    services,
    vacancies,
    zero_households,
)

PANELS: tuple[ModuleType, ...] = (
    overview,
    placements,
    vacancies,
    key_groups,
    zero_households,
    circle,
    services,
    full_employment,
    map,
)
PANEL_IDS: tuple[str, ...] = tuple(m.PANEL_ID for m in PANELS)
BY_ID: dict[str, ModuleType] = {m.PANEL_ID: m for m in PANELS}
