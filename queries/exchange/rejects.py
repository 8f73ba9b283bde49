"""The rejects file: a UTF-8 CSV of the rows not imported, with `line` and `reason`."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from queries.exchange.kinds import REGISTRY, get
from queries.safe_cells import SafeDictWriter

_ID_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])(\d{6})(\d{11}[\dXx])(?![0-9A-Za-z])")


def mask_id_number(value: str | None) -> str | None:
    """First 6 characters then stars: enough to find the row, not enough to identify."""
    if value is None:
        return None
    return value[:6] + "*" * max(len(value) - 6, 0)


# Secret columns of any KIND: masked wherever a JSON record names them.
_SECRET_NAMES = frozenset(c.name for k in REGISTRY.values() for c in k.columns if c.type.secret)


class RejectsWriter:
    """Opens the rejects CSV lazily (first reject), writes to a temp file, renames at end."""

    def __init__(self, kind: str, path: Path, state: dict[str, Any]) -> None:
        self.kind = kind
        self.spec = get(kind)
        self.path = path
        self.tmp = path.with_name(path.name + ".part")
        self.state = state
        self.fh: Any = None
        self.writer: Any = None
        self.fields: list[str] = []
        self.id_cols: set[str] = set()
        self.count = 0

    def _open(self) -> None:
        header = self.state.get("header")
        if header is None:  # JSON Lines: canonical columns, plus the raw line of bad JSON
            fields = list(self.spec.column_names) + ["raw"]
            self.id_cols = _SECRET_NAMES | {
                a for c in self.spec.columns if c.type.secret for a in c.headers}
        else:
            fields = [h for h in header]
            secret = {c.name for c in self.spec.columns if c.type.secret}
            self.id_cols = {h for h in header if self.spec.canonical(h) in secret}
        self.fields = [f for f in fields if f not in ("line", "reason")] + ["line", "reason"]
        # backslashreplace: a lone surrogate from a JSON record must not stop the import.
        self.fh = open(self.tmp, "w", encoding="utf-8-sig", newline="",
                       errors="backslashreplace")
        self.writer = SafeDictWriter(self.fh, fieldnames=self.fields, extrasaction="ignore")
        self.writer.writeheader()

    def write(self, line: int, original: dict[str, Any], reason: str) -> None:
        """Write one rejected row (identity numbers masked) with its line and reason."""
        if self.fh is None:
            self._open()
        row: dict[str, Any] = {}
        for k, v in original.items():
            key = k
            if self.state.get("header") is None:
                key = self.spec.canonical(str(k)) or k
            if key in self.id_cols or k in self.id_cols:
                v = mask_id_number(v)
            elif isinstance(v, str):
                v = _ID_IN_TEXT.sub(lambda m: m.group(1) + "*" * 12, v)
            if isinstance(v, str) and "\x00" in v:
                v = v.replace("\x00", "\\x00")  # NUL: shown, not written
            if key not in self.fields and k.startswith("#"):
                continue
            row[key] = v
        row["line"] = line
        row["reason"] = reason
        self.writer.writerow(row)
        self.count += 1

    def finish(self, keep: bool) -> str | None:
        """Close the file; keep it (returning its path) only if asked and not empty."""
        if self.fh is not None:
            self.fh.close()
        if keep and self.count:
            os.replace(self.tmp, self.path)
            return str(self.path)
        if self.tmp.exists():
            self.tmp.unlink()
        if self.path.exists():
            self.path.unlink()  # a stale rejects file would describe another import
        return None

