"""OpenAPI 3.0 schemas of exchange records, derived from the KIND declarations."""

from __future__ import annotations

import copy
from typing import Any

from queries.exchange.kinds import REGISTRY, Kind


def schema_name(kind: str) -> str:
    """The components/schemas name of a KIND's record, e.g. ExchangePersons."""
    return "Exchange" + "".join(part.title() for part in kind.split("_"))


def record_schema(spec: Kind) -> dict[str, Any]:
    """The schema of one JSON record of `spec` (canonical keys; Chinese headers also work)."""
    props: dict[str, Any] = {}
    for c in spec.columns:
        schema = copy.deepcopy(dict(c.type.schema))
        if not c.required:
            schema["nullable"] = True
            if "enum" in schema:
                schema["enum"] = [*schema["enum"], None]
        words = [c.type.name]
        if c.note:
            words.append(c.note)
        if c.type.values and c.type.value_aliases:
            words.append("Chinese values accepted (docs/exchange.md)")
        if c.headers:
            words.append("中文表头 (Chinese keys): " + "、".join(c.headers))
        schema["description"] = "; ".join(words)
        props[c.name] = schema
    return {
        "type": "object",
        "description": f"A record of `{spec.name}` ({spec.title}); id: "
                       f"{', '.join(spec.id)}. Unknown keys are ignored.",
        "required": list(spec.required),
        "properties": props,
        "additionalProperties": True,
    }


def record_schemas() -> dict[str, Any]:
    """components/schemas entries: one record schema per KIND."""
    return {schema_name(k): record_schema(spec) for k, spec in REGISTRY.items()}
