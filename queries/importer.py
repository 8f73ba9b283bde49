"""Import of exchange files (SPEC section 2): the public names of queries.exchange.

The KINDs are declared once in queries/exchange/kinds.py; the pipeline, readers and
rejects file live beside it. The dicts below are views of that registry, kept for callers.
"""

from __future__ import annotations

from typing import Any

from queries.exchange.fields import (
    ASSISTANCE_ALIASES,
    FALSE_WORDS,
    FORM_ALIASES,
    GENDER_ALIASES,
    KEY_GROUP_ALIASES,
    LAT_RANGE,
    LEVEL_ALIASES,
    LON_RANGE,
    STATUS_ALIASES,
    TRUE_WORDS,
    VACANCY_TYPE_ALIASES,
    RowError,
)
from queries.exchange.kinds import KIND_NAMES, REGISTRY, Kind
from queries.exchange.pipeline import (
    CHUNK_SIZE,
    PROGRESS_MIN_ROWS,
    ImportResult,
    Scope,
    _Importer,
    import_file,
    import_records,
)
from queries.exchange.readers import READERS, FatalImportError
from queries.exchange.rejects import mask_id_number

COLUMNS: dict[str, tuple[str, ...]] = {k: s.column_names for k, s in REGISTRY.items()}
REQUIRED: dict[str, tuple[str, ...]] = {k: s.required for k, s in REGISTRY.items()}
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    k: s.header_required for k, s in REGISTRY.items()
}
ID_COLUMNS: dict[str, tuple[str, ...]] = {k: s.id for k, s in REGISTRY.items()}
TABLES: dict[str, Any] = {k: s.table for k, s in REGISTRY.items()}
ALIASES: dict[str, dict[str, str]] = {k: s.aliases for k, s in REGISTRY.items()}
MODELS: dict[str, Any] = {k: s.model for k, s in REGISTRY.items()}
SCOPE_COLUMNS: dict[str, tuple[str, ...]] = {k: s.scope_columns for k, s in REGISTRY.items()}
# The row models, generated from the declarations, under their former names.
RegionRow, PersonRow, HouseholdRow, EmployerRow, VacancyRow, PlacementRow, AssistanceRow, \
    TargetRow = (REGISTRY[k].model for k in (
        "regions", "persons", "households", "employers", "vacancies", "placements",
        "assistance", "targets"))
REFERENCES: dict[str, tuple[tuple[str, str], ...]] = {
    k: s.references for k, s in REGISTRY.items() if s.references
}


def canonical_column(kind: str, header: str) -> str | None:
    """The canonical column of a header cell (English name or Chinese alias), else None."""
    return REGISTRY[kind].canonical(header)


__all__ = [
    "ALIASES", "ASSISTANCE_ALIASES", "CHUNK_SIZE", "COLUMNS", "FALSE_WORDS", "FORM_ALIASES",
    "GENDER_ALIASES", "ID_COLUMNS", "KEY_GROUP_ALIASES", "KIND_NAMES", "LAT_RANGE",
    "LEVEL_ALIASES", "LON_RANGE", "MODELS", "PROGRESS_MIN_ROWS", "READERS", "REFERENCES",
    "REQUIRED", "REQUIRED_COLUMNS", "SCOPE_COLUMNS", "STATUS_ALIASES", "TABLES", "TRUE_WORDS",
    "VACANCY_TYPE_ALIASES", "FatalImportError", "ImportResult", "Kind", "RowError", "Scope",
    "_Importer", "canonical_column", "import_file", "import_records", "mask_id_number",
    "RegionRow", "PersonRow", "HouseholdRow", "EmployerRow", "VacancyRow", "PlacementRow",
    "AssistanceRow", "TargetRow",
]
