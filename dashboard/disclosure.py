"""Secondary suppression: no value hidden as `<N` can be recovered from what a view shows.

A public view hides person counts between 1 and N−1 (primary suppression). Totals and
their parts sit side by side on the same screen — a year total and its placement forms, a
township and its communities — so a hidden part would come back by subtraction. This
module models what a reader knows: a shown cell is exact, a `<N` cell lies in [1, N−1],
a cell shown as `*` (hidden to protect another) promises nothing (any value ≥ 0), and
every additive group (total = Σ parts) holds. Bounds are tightened across all groups until
nothing changes (interval constraint propagation); whenever some `<N` cell's interval
shrinks to one value, one more cell becomes `*` and the check runs again. The cell is
taken from a group the leak runs through, nearest first: the smallest non-zero shown
cell, else another `<N` cell (its upper bound is what pins the leak), else a shown zero,
else the leaking cell itself.

Not covered (documented for operators): differences between two views (a region's wall
against its parent's), between two snapshots over time, and inequalities (today ≤ month).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

INF = math.inf
SECONDARY_TEXT = "*"


@dataclass(eq=False)
class Cell:
    """One displayed number: the dict a panel reads, its true value, what readers know."""

    shown: dict[str, Any]
    value: float | None
    groups: list[int] = field(default_factory=list)

    @property
    def hidden(self) -> bool:
        """Whether the cell is not shown as its value."""
        return bool(self.shown.get("suppressed"))

    @property
    def primary(self) -> bool:
        """Whether the cell reads `<N` (its value is small)."""
        return self.hidden and not self.shown.get("secondary")


@dataclass
class Group:
    """total = Σ parts (+ an unseen rest when the parts on screen are not all of them)."""

    total: Cell
    parts: list[Cell]
    complete: bool = True


def _bounds(cell: Cell, small_cell: int) -> tuple[float, float]:
    """What a reader knows of a cell before combining groups."""
    if not cell.hidden:
        v = cell.value
        return (v, v) if v is not None else (0.0, INF)
    if cell.primary:
        return 1.0, float(small_cell - 1)
    return 0.0, INF


def _tighten(grp: Group, b: dict[int, list]) -> list[Cell]:
    """Apply total = Σ parts to the bounds once; the cells whose bounds changed."""
    changed: list[Cell] = []
    lo_sum = sum(b[id(p)][0] for p in grp.parts)
    his = [b[id(p)][1] for p in grp.parts] + ([] if grp.complete else [INF])
    n_inf = sum(1 for h in his if h == INF)
    hi_fin = sum(h for h in his if h != INF)
    t = b[id(grp.total)]
    nlo, nhi = max(t[0], lo_sum), min(t[1], INF if n_inf else hi_fin)
    if (nlo, nhi) != (t[0], t[1]):
        t[0], t[1] = nlo, nhi
        changed.append(grp.total)
    for p in grp.parts:
        pb = b[id(p)]
        own_inf = pb[1] == INF
        others_hi = INF if n_inf - own_inf else hi_fin - (0 if own_inf else pb[1])
        plo = max(pb[0], t[0] - others_hi)
        phi = min(pb[1], t[1] - (lo_sum - pb[0]))
        if (plo, phi) != (pb[0], pb[1]):
            pb[0], pb[1] = plo, phi
            changed.append(p)
    return changed


def _leaks(groups: list[Group], active: list[int], small_cell: int) -> list[Cell]:
    """`<N` cells whose value a reader can pin down exactly (bounds tightened to a fixpoint).

    Only groups with a hidden cell can teach a reader anything; a worklist revisits a group
    when one of its cells' bounds changed.
    """
    b: dict[int, list] = {}
    for gi in active:
        grp = groups[gi]
        for c in (grp.total, *grp.parts):
            if id(c) not in b:
                b[id(c)] = list(_bounds(c, small_cell))
    active_set = set(active)
    queue = list(active)
    queued = set(active)
    budget = 200 * max(1, len(active))
    while queue and budget:
        budget -= 1
        gi = queue.pop()
        queued.discard(gi)
        for cell in _tighten(groups[gi], b):
            for other in cell.groups:
                if other in active_set and other not in queued:
                    queued.add(other)
                    queue.append(other)
    seen: set[int] = set()
    out = []
    for gi in active:
        grp = groups[gi]
        for c in (grp.total, *grp.parts):
            if c.primary and id(c) not in seen and b[id(c)][0] >= b[id(c)][1]:
                seen.add(id(c))
                out.append(c)
    return out


def _hide(cell: Cell) -> None:
    # Updated in place: the dict may carry other fields (a series point's month and label).
    cell.shown.update({"v": None, "s": SECONDARY_TEXT, "suppressed": True, "secondary": True})


def _candidate(leak: Cell, groups: list[Group]) -> Cell | None:
    """The next cell to show as `*`, from the groups nearest to `leak` (see module doc)."""
    seen_groups: set[int] = set()
    seen_cells = {id(leak)}
    frontier = [leak]
    while frontier:
        nonzero: Cell | None = None
        other_primary: Cell | None = None
        zero: Cell | None = None
        nxt: list[Cell] = []
        for cell in frontier:
            for gi in cell.groups:
                if gi in seen_groups:
                    continue
                seen_groups.add(gi)
                grp = groups[gi]
                # Parts before the total: hiding a part keeps the headline number on screen.
                for other in [*grp.parts, grp.total]:
                    if other.hidden:
                        if other.primary and other is not leak and other_primary is None:
                            other_primary = other
                        if id(other) not in seen_cells:
                            seen_cells.add(id(other))
                            nxt.append(other)
                    elif other.value:
                        if nonzero is None or other.value < nonzero.value:
                            nonzero = other
                    elif zero is None:
                        zero = other
        best = nonzero or other_primary or zero
        if best is not None:
            return best
        frontier = nxt
    return leak if leak.primary else None


def protect(groups: list[Group], small_cell: int) -> int:
    """Hide cells until no `<N` value can be recovered; returns how many were hidden."""
    if small_cell <= 2:
        return 0  # "<2" means exactly 1: primary suppression itself protects nothing
    cells_by_id: dict[int, Cell] = {}
    for gi, grp in enumerate(groups):
        for cell in [grp.total, *grp.parts]:
            if id(cell) not in cells_by_id:
                cells_by_id[id(cell)] = cell
                cell.groups = []
            if gi not in cell.groups:
                cell.groups.append(gi)
    cells = list(cells_by_id.values())
    if not any(c.primary for c in cells):
        return 0
    hidden = 0
    for _ in range(len(cells) + 1):
        active = [gi for gi, grp in enumerate(groups)
                  if grp.total.hidden or any(p.hidden for p in grp.parts)]
        leaks = _leaks(groups, active, small_cell)
        if not leaks:
            break
        # One cell per leak whose groups got nothing this round: independent leaks (one per
        # child region, say) are fixed together, then everything is checked again.
        touched: set[int] = set()
        progress = False
        for leak in leaks:
            if touched.intersection(leak.groups):
                continue
            target = _candidate(leak, groups)
            if target is None or target.shown.get("secondary"):
                continue
            _hide(target)
            touched.update(leak.groups)
            touched.update(target.groups)
            hidden += 1
            progress = True
        if not progress:
            break  # nothing left to hide: every cell around the leaks is already hidden
    return hidden


__all__ = ["Cell", "Group", "protect", "SECONDARY_TEXT"]
