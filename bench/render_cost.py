"""Benchmark: server-side cost of one panel answer, figures styled as dicts vs by Plotly.

A wall on a region nobody else shows is a cache miss: the server renders the panel. This
times `dashboard.pages.render_panel` plus the JSON encoding of its answer for each panel
on random regions of the bench database (Hefei demo, scale 1), alternating the current
`style_figure` (plain dict merges) with the former one (Plotly's validating
`update_layout`, kept in tests/test_style_figure.py as the reference), same regions, same
order, in one process.

    python -m bench.render_cost                 # 20 regions per panel
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from typing import Any

from plotly.utils import PlotlyJSONEncoder

from bench.serve import ensure_db, machine, region_codes


def main(argv: list[str] | None = None) -> int:
    """Print per-panel medians of both ways and their ratio."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--regions", type=int, default=20)
    a = ap.parse_args(argv)
    url = ensure_db(a.scale)

    import layouts.common as common
    import layouts.widgets as widgets
    from dashboard import pages
    from dashboard.app import create_app
    from layouts import PANELS
    from tests.test_style_figure import reference_style

    app = create_app({"database_url": url})
    codes = [r["code"] for r in region_codes(url)]
    rng = random.Random(3)
    holders = [widgets, common, *(m for m in PANELS if hasattr(m, "style_figure"))]
    ways = {"dicts": widgets.style_figure, "plotly": reference_style}
    view = {"kind": "wall", "lang": "zh", "theme": "dark"}

    def once(mod: Any, code: str, style: Any) -> float:
        for h in holders:
            h.style_figure = style
        t = time.perf_counter()
        out = pages.render_panel(mod, {"region": code, "panel": None}, view)
        json.dumps(out, cls=PlotlyJSONEncoder)
        return (time.perf_counter() - t) * 1000

    print(f"# bench/render_cost.py  {machine()}  scale {a.scale}, {a.regions} regions per "
          f"panel, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"  {'panel':18s} {'dicts ms':>9s} {'plotly ms':>10s} {'ratio':>6s}")
    sums = {k: 0.0 for k in ways}
    with app.server.test_request_context("/"):
        once(PANELS[0], codes[0], ways["dicts"])  # warm the batch's region index
        for mod in PANELS:
            times: dict[str, list[float]] = {k: [] for k in ways}
            for i, code in enumerate(rng.sample(codes, a.regions)):
                order = list(ways) if i % 2 == 0 else list(ways)[::-1]
                for k in order:
                    times[k].append(once(mod, code, ways[k]))
            med = {k: statistics.median(v) for k, v in times.items()}
            for k in ways:
                sums[k] += med[k]
            print(f"  {mod.__name__.split('.')[-1]:18s} {med['dicts']:9.1f} "
                  f"{med['plotly']:10.1f} {med['dicts'] / med['plotly']:6.2f}")
    print(f"  {'sum of medians':18s} {sums['dicts']:9.1f} {sums['plotly']:10.1f} "
          f"{sums['dicts'] / sums['plotly']:6.2f}")
    print(f"  load average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for h in holders:
        h.style_figure = ways["dicts"]
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
