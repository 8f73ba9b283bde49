"""The figures panels send are what Plotly's own update_layout would have made.

layouts.widgets.style_figure merges the big-screen look into the figure as plain dicts
(Plotly's validating update_layout was three quarters of a panel's render time). The
reference here is the former implementation, built on go.Figure.update_layout /
update_xaxes / update_yaxes: every figure of every panel, for regions of every level, in
each page kind, language and theme, must come out the same.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import pytest
from plotly.utils import PlotlyJSONEncoder

import layouts.widgets as widgets
from layouts import PANELS

TZ = "Asia/Shanghai"


def reference_style(fig: go.Figure, ctx: dict[str, Any], **layout: Any) -> dict[str, Any]:
    """The former style_figure: Plotly's validating updates on a go.Figure."""
    c = widgets.colors(ctx)
    size = widgets.FONT_SIZE.get(ctx["mode"], 14)
    fig.update_layout(
        paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)",
        font={"family": widgets.FONT_FAMILY, "size": size, "color": c["text"]},
        margin={"l": 10, "r": 20, "t": 10, "b": 10}, showlegend=False,
        hovermode=False if ctx["mode"] == "wall" else "closest", separators=".,",
        uirevision="keep",
    )
    fig.update_xaxes(gridcolor=c["grid"], zeroline=False, automargin=True,
                     tickfont={"color": c["muted"]})
    fig.update_yaxes(gridcolor=c["grid"], zeroline=False, automargin=True,
                     tickfont={"color": c["muted"]})
    if layout:
        fig.update_layout(**layout)
    return widgets.plain_figure(fig.to_plotly_json())


@pytest.fixture(scope="module")
def demo_app() -> Iterator[Any]:
    """A small demo database with one batch, and the app on it."""
    from dashboard.app import create_app
    from demo.generator import load_demo
    from queries.db import init_db, make_engine
    from queries.refresh import refresh

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'd.db'}"
        eng = make_engine(url)
        init_db(eng)
        load_demo(eng, scale=0.02, seed=5, tz=TZ)
        assert refresh(eng, tz=TZ).status == "ok"
        eng.dispose()
        yield create_app({"database_url": url})


def _regions(app: Any) -> list[str]:
    """One region of each level (city, county, township, community)."""
    client = app.server.test_client()
    codes = [client.get("/api/v1/regions?level=city").get_json()["results"][0]["code"]]
    while True:
        kids = client.get(f"/api/v1/regions/{codes[-1]}").get_json().get("children") or []
        if not kids:
            return codes
        codes.append(kids[0]["code"])


def _figures(app: Any, style: Any, codes: list[str]) -> list[str]:
    """Every figure of every panel for the regions, as JSON, with `style` in place."""
    from dashboard import pages

    out = []
    holders = [widgets] + [m for m in PANELS if hasattr(m, "style_figure")]
    import layouts.common as common
    holders.append(common)
    saved = [(h, h.style_figure) for h in holders]
    try:
        for h in holders:
            h.style_figure = style
        with app.server.test_request_context("/"):
            for code in codes:
                for kind, lang, theme in (("wall", "zh", "dark"), ("region", "en", "light"),
                                          ("embed", "zh", "transparent")):
                    for mod in PANELS:
                        view = {"kind": kind, "lang": lang, "theme": theme}
                        res = pages.render_panel(mod, {"region": code, "panel": None}, view)
                        figs = res[len(mod.CELLS):len(mod.CELLS) + len(mod.GRAPHS)]
                        out += [json.dumps(f, cls=PlotlyJSONEncoder, sort_keys=True)
                                for f in figs]
    finally:
        for h, f in saved:
            h.style_figure = f
    return out


def test_every_panel_figure_equals_plotlys_own_update(demo_app: Any) -> None:
    """Same JSON, figure for figure, as the go.Figure path."""
    codes = _regions(demo_app)
    assert len(codes) >= 4
    calls: list[int] = []

    def counted(fig: go.Figure, ctx: dict[str, Any], **layout: Any) -> dict[str, Any]:
        calls.append(1)
        return reference_style(fig, ctx, **layout)

    new = _figures(demo_app, widgets.style_figure, codes)
    ref = _figures(demo_app, counted, codes)
    assert len(new) == len(ref) > 100
    assert len(calls) >= len(ref) * 0.8  # the reference really drew (nearly) every figure
    for i, (a, b) in enumerate(zip(new, ref, strict=True)):
        assert a == b, (i, a[:400], b[:400])


@pytest.mark.parametrize("kw", [
    {"xaxis": {"visible": False, "range": [0, 5]}, "bargap": 0.3},
    {"margin": {"l": 1}, "annotations": [{"text": "a", "x": 0.5, "showarrow": False}]},
    {"yaxis": {"tickangle": 0}, "xaxis2": {"range": [1, 2]}},
])
def test_merge_semantics_on_small_figures(kw: dict[str, Any]) -> None:
    """Nested layout dicts merge, lists replace, extra axes get the axis look too."""
    ctx = {"mode": "region", "theme": "dark", "lang": "zh"}

    def fig() -> go.Figure:
        f = go.Figure(go.Bar(x=[1, 2], y=[3, 4]))
        if "xaxis2" in kw:
            f.add_scatter(x=[1], y=[2], xaxis="x2")
            f.update_layout(xaxis2={"anchor": "y"})
        return f

    a = json.dumps(widgets.style_figure(fig(), ctx, **kw), cls=PlotlyJSONEncoder, sort_keys=True)
    b = json.dumps(reference_style(fig(), ctx, **kw), cls=PlotlyJSONEncoder, sort_keys=True)
    assert a == b
