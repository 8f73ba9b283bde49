"""The tree KIND (regions): rows decided once the whole file is read, parents in any order.

A KIND declares `tree` (the column naming its parent row, regions: parent_code). Its
valid rows are held until the file ends; then each is accepted when its parent is in the
file or the database, of a higher level, and not on a cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from queries.exchange.fields import _CODE_RE
from queries.exchange.readers import Raw

Decided = tuple[int, dict[str, Any], str | None]  # (line, original cells, reason or None)


@dataclass
class _Pending:
    """A valid region row waiting for the whole file to be read (its parent may follow)."""

    line: int
    original: dict[str, Any]
    model: Any  # the row model of the tree KIND (regions)


class TreeRows:
    """The importer's part for the tree KIND; mixed into the pipeline's importer."""

    pending: dict[str, _Pending]
    rejected_codes: dict[str, int]
    regions: dict[str, str]
    parents: dict[str, str | None]
    level_rank: dict[str, int]
    id_cols: tuple[str, ...]
    write_chunk: int
    spec: Any
    _db_row: Any
    _write: Any

    def _hold_tree(
        self, chunk: list[Raw], models: list[Any], reasons: list[str | None]
    ) -> list[Decided]:
        """Keep valid rows of the tree KIND for finish(); return the rejected ones now."""
        out: list[Decided] = []
        for i, (line, original, canon, _) in enumerate(chunk):
            if reasons[i] is None:
                m = models[i]
                self.pending[m.code] = _Pending(line, original, m)
                continue
            code = (canon or {}).get(self.id_cols[0])
            if isinstance(code, str) and _CODE_RE.fullmatch(code):
                self.rejected_codes.setdefault(code, line)
            out.append((line, original, reasons[i]))
        return out

    def finish(self) -> list[Decided]:
        """Decide the held region rows over the whole file; upsert the accepted ones.

        Parents resolve within the file whatever the order. A row is rejected when its
        parent is in neither the file nor the database, when it lies on a cycle, when its
        level is not below its parent's, or when it hangs below a rejected row.
        """
        if not self.spec.tree or not self.pending:
            return []
        pending = self.pending
        verdict: dict[str, str | None] = {}
        children: dict[str, list[str]] = {}
        for code, p in pending.items():
            parent = p.model.parent_code
            if parent is not None and parent in pending:
                children.setdefault(parent, []).append(code)

        def below(parent: str, child: str) -> str | None:
            """The verdict of a row whose parent row of the file is decided."""
            if verdict[parent] is None:
                return self._level_error(pending[child].model, pending[parent].model.level)
            if parent in self.regions:  # the stored version of the parent stands
                return self._level_error(pending[child].model, self.regions[parent])
            return _depends_on(parent, pending[parent].line)

        def decide(code: str, reason: str | None) -> None:
            # Iterative: a deep chain must not hit the recursion limit.
            stack = [(code, reason)]
            while stack:
                c, r = stack.pop()
                verdict[c] = r
                stack.extend((child, below(c, child)) for child in children.get(c, ()))

        for code, p in pending.items():
            parent = p.model.parent_code
            if parent is None:
                decide(code, None)
            elif parent in pending:
                continue  # decided with its parent
            elif parent in self.regions:
                reason = self._level_error(p.model, self.regions[parent])
                if reason is None and self._closes_cycle(code, parent):
                    reason = _cycle_reason([code, parent])
                decide(code, reason)
            elif parent in self.rejected_codes:
                decide(code, _depends_on(parent, self.rejected_codes[parent]))
            else:
                decide(code, (
                    f"parent_code: 上级区划不存在 (unknown parent region {parent}: in neither "
                    "the file nor the database)"
                ))
        # Rows never reached lie on a cycle of the file or hang below one.
        for code in pending:
            if code in verdict:
                continue
            path = [code]
            seen = {code}
            nxt = pending[code].model.parent_code
            while nxt is not None and nxt in pending and nxt not in verdict and nxt not in seen:
                path.append(nxt)
                seen.add(nxt)
                nxt = pending[nxt].model.parent_code
            if nxt is None or nxt not in seen:  # pragma: no cover - reached rows are decided
                continue
            cycle = path[path.index(nxt):]
            for c in cycle:
                verdict[c] = _cycle_reason(cycle[cycle.index(c):] + cycle[:cycle.index(c)])
            for c in cycle:
                for child in children.get(c, ()):
                    if child not in verdict:
                        decide(child, below(c, child))

        decided: list[Decided] = []
        rows: list[dict[str, Any]] = []
        at: list[int] = []
        order = list(pending)
        reasons = [verdict[code] for code in order]
        for i, code in enumerate(order):
            if reasons[i] is None:
                rows.append(self._db_row(pending[code].model, None))
                at.append(i)
        for start in range(0, len(rows), self.write_chunk):
            part = range(start, min(start + self.write_chunk, len(rows)))
            self._write([rows[j] for j in part], [at[j] for j in part], reasons)
        for i, code in enumerate(order):
            p = pending[code]
            decided.append((p.line, p.original, reasons[i]))
            if reasons[i] is None:
                self.regions[code] = p.model.level
        self.pending = {}
        return decided

    def _level_error(self, m: Any, parent_level: str) -> str | None:
        if self.level_rank[parent_level] >= self.level_rank[m.level]:
            return f"level: 层级须低于上级 ({m.level} cannot be under a {parent_level})"
        return None

    def _closes_cycle(self, code: str, parent: str) -> bool:
        """Whether the stored ancestors of `parent`, as this file leaves them, reach `code`."""
        seen: set[str] = set()
        c: str | None = parent
        while c is not None and c not in seen:
            if c == code:
                return True
            seen.add(c)
            c = self.pending[c].model.parent_code if c in self.pending else self.parents.get(c)
        return False


def _depends_on(code: str, line: int) -> str:
    return (f"parent_code: 上级区划 {code} 在本文件第 {line} 行被拒绝 "
            f"(depends on the rejected row of region {code}, line {line})")


def _cycle_reason(cycle: list[str]) -> str:
    chain = " → ".join([*cycle, cycle[0]])
    return f"parent_code: 上级关系成环 (parents form a cycle: {chain})"
