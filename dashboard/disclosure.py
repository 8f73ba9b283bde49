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
    eligible: bool  # primary suppression applies here (person count at a suppressed level)
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


def _propagate(groups: list[Group], cells: list[Cell], small_cell: int) -> dict[int, list]:
    """Tightest bounds readers can derive for every cell (by object id)."""
    b = {id(c): list(_bounds(c, small_cell)) for c in cells}
    for _ in range(100):
        changed = False
        for grp in groups:
            lo_sum = sum(b[id(p)][0] for p in grp.parts)
            his = [b[id(p)][1] for p in grp.parts] + ([] if grp.complete else [INF])
            n_inf = sum(1 for h in his if h == INF)
            hi_fin = sum(h for h in his if h != INF)
            hi_sum = INF if n_inf else hi_fin
            t = b[id(grp.total)]
            nlo, nhi = max(t[0], lo_sum), min(t[1], hi_sum)
            if (nlo, nhi) != (t[0], t[1]):
                t[0], t[1], changed = nlo, nhi, True
            for p in grp.parts:
                pb = b[id(p)]
                own_inf = 1 if pb[1] == INF else 0
                others_hi = INF if n_inf - own_inf else hi_fin - (pb[1] if not own_inf else 0)
                others_lo = lo_sum - pb[0]
                plo = max(pb[0], t[0] - others_hi)
                phi = min(pb[1], t[1] - others_lo)
                if (plo, phi) != (pb[0], pb[1]):
                    pb[0], pb[1], changed = plo, phi, True
        if not changed:
            break
    return b


def _leaks(groups: list[Group], cells: list[Cell], small_cell: int) -> list[Cell]:
    """`<N` cells whose value a reader can pin down exactly."""
    b = _propagate(groups, cells, small_cell)
    return [c for c in cells if c.primary and b[id(c)][0] >= b[id(c)][1]]


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
        leaks = _leaks(groups, cells, small_cell)
        if not leaks:
            break
        target = None
        for leak in leaks:
            target = _candidate(leak, groups)
            if target is not None:
                break
        if target is None:
            break  # nothing left to hide: every cell around the leak is already hidden
        _hide(target)
        hidden += 1
    return hidden


__all__ = ["Cell", "Group", "protect", "SECONDARY_TEXT"]
