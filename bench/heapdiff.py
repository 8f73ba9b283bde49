"""What a page keeps between two heap snapshots (saved by `bench/soak.py --save-snapshots`).

Objects are matched by V8's node id (stable across snapshots of one page), so "new" means
allocated after the first snapshot and still alive at the second. New objects are grouped
by kind and name; closure contexts by the functions that own them; V8 code objects by
their name; each group with the first retainer seen, so the owner can be found.

    python -m bench.heapdiff /tmp/snaps/0.heapsnapshot /tmp/snaps/1.heapsnapshot
"""

from __future__ import annotations

import collections
import json
import sys
from typing import Any


class Snapshot:
    """The nodes and edges of one .heapsnapshot file, with reverse edges."""

    def __init__(self, path: str) -> None:
        with open(path, encoding="utf-8") as fh:
            snap = json.load(fh)
        meta = snap["snapshot"]["meta"]
        self.nf = meta["node_fields"]
        self.ef = meta["edge_fields"]
        self.ntypes = meta["node_types"][0]
        self.etypes = meta["edge_types"][0]
        self.nodes = snap["nodes"]
        self.edges = snap["edges"]
        self.strings = snap["strings"]
        self.w = len(self.nf)
        self.ew = len(self.ef)
        self.n = len(self.nodes) // self.w
        f = self.nf.index
        self.t_i, self.n_i, self.id_i, self.s_i, self.ec_i = (
            f("type"), f("name"), f("id"), f("self_size"), f("edge_count"))
        # Edges of node k are a contiguous run, in node order.
        self.first = [0] * (self.n + 1)
        acc = 0
        for k in range(self.n):
            self.first[k] = acc
            acc += self.nodes[k * self.w + self.ec_i]
        self.first[self.n] = acc
        self.rev: dict[int, list[tuple[int, int]]] | None = None

    def kind(self, k: int) -> str:
        """The node's type name."""
        return self.ntypes[self.nodes[k * self.w + self.t_i]]

    def name(self, k: int) -> str:
        """The node's name."""
        return self.strings[self.nodes[k * self.w + self.n_i]]

    def nid(self, k: int) -> int:
        """V8's id of the node."""
        return self.nodes[k * self.w + self.id_i]

    def size(self, k: int) -> int:
        """Self size, bytes."""
        return self.nodes[k * self.w + self.s_i]

    def out(self, k: int) -> list[tuple[str, Any, int]]:
        """(edge type, name or index, target node) of the node's edges."""
        res = []
        et, en, eto = self.ef.index("type"), self.ef.index("name_or_index"), self.ef.index(
            "to_node")
        for e in range(self.first[k], self.first[k + 1]):
            base = e * self.ew
            typ = self.etypes[self.edges[base + et]]
            nm = self.edges[base + en]
            if typ not in ("element", "hidden"):
                nm = self.strings[nm]
            res.append((typ, nm, self.edges[base + eto] // self.w))
        return res

    def retainers(self, k: int) -> list[tuple[str, Any, int]]:
        """(edge type, name, source node) of the edges pointing at the node."""
        if self.rev is None:
            self.rev = collections.defaultdict(list)
            for src in range(self.n):
                for typ, nm, dst in self.out(src):
                    self.rev[dst].append((typ, nm, src))
        return self.rev.get(k, [])


def main(argv: list[str] | None = None) -> int:
    """Print what was allocated after snapshot A and is still alive in snapshot B."""
    a_path, b_path = (argv or sys.argv[1:])[:2]
    a, b = Snapshot(a_path), Snapshot(b_path)
    old = {a.nid(k) for k in range(a.n)}
    new = [k for k in range(b.n) if b.nid(k) not in old]
    groups: dict[str, list[int]] = collections.defaultdict(list)
    for k in new:
        kind, name = b.kind(k), b.name(k)
        if kind == "object" and name.startswith("system / Context"):
            # Which functions use this context: the closures pointing at it.
            owners = sorted({b.name(src) or "(anonymous)" for typ, nm, src in b.retainers(k)
                             if b.kind(src) == "closure" and nm == "context"})
            key = f"context of {', '.join(owners[:3]) or '(no closure: held by another context)'}"
        elif kind in ("object", "closure", "native", "code", "hidden", "array"):
            key = f"{kind}: {name[:70]}"
        else:
            key = kind
        groups[key].append(k)
    total = sum(b.size(k) for k in new)
    size_a = {a.nid(k): (a.size(k), k) for k in range(a.n)}
    in_b = {b.nid(k) for k in range(b.n)}
    died = sum(sz for i, (sz, _) in size_a.items() if i not in in_b)
    grown = sorted(((b.size(k) - size_a[b.nid(k)][0], k) for k in range(b.n)
                    if b.nid(k) in size_a and b.size(k) != size_a[b.nid(k)][0]), reverse=True)
    print(f"total self size A {sum(a.size(k) for k in range(a.n)) / 1024:.1f} kB, "
          f"B {sum(b.size(k) for k in range(b.n)) / 1024:.1f} kB; died {died / 1024:.1f} kB; "
          f"objects in both changed size by {sum(d for d, _ in grown) / 1024:+.1f} kB")
    for d, k in grown[:8]:
        print(f"  grew {d / 1024:+8.1f} kB  {b.kind(k)}: {b.name(k)[:60]}  "
              f"retained by {[(t, str(n)[:20], b.name(s)[:40]) for t, n, s in b.retainers(k)[:2]]}")
    print(f"{len(new)} objects ({total / 1024:.1f} kB) allocated after A and alive in B")
    rows = sorted(groups.items(), key=lambda kv: -sum(b.size(k) for k in kv[1]))
    for key, ks in rows[:30]:
        size = sum(b.size(k) for k in ks)
        k0 = ks[len(ks) // 2]
        ret = [(typ, str(nm)[:30], b.kind(src), b.name(src)[:50])
               for typ, nm, src in b.retainers(k0)[:2]]
        print(f"  {size / 1024:9.1f} kB {len(ks):6d}  {key}")
        print(f"                       e.g. retained by {ret}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
