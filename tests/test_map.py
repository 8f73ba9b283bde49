"""The map panel (issue 14): rings true to scale, worksites in and out, hexagons, metric
allow-list, boundaries validation, drill-down claims.

Expected positions are computed here with the textbook spherical destination formula and
the distances with a plain haversine, not with queries.mapgeo; inside/outside is decided
by a ray-casting test written here, on the figure's own trace coordinates.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from layouts import map as map_panel
from queries.boundaries import BoundaryError, load_boundaries, parse_boundaries
from queries.maplayer import (
    DEFAULT_METRIC,
    MAP_METRICS,
    STORED_KEYS,
    MapBase,
    decode_map_base,
    encode_map_base,
    load_map_base,
    map_metric,
    map_view,
)
from queries.models import Region, SnapshotItem, Vacancy
from queries.refresh import refresh

R = 6371.0088
TZ = "Asia/Shanghai"
PROVINCE, CITY, COUNTY, TOWN = "340000000000", "340100000000", "340102000000", "340102001000"
A, B = "340102001001", "340102001002"
A_LAT, A_LON = 31.8700, 117.3000
B_LAT, B_LON = 31.9500, 117.4200  # about 14 km from A: its ring is far from A's


def destination(lat: float, lon: float, km: float, bearing_deg: float) -> tuple[float, float]:
    """The point `km` from (lat, lon) along `bearing_deg` on the sphere (textbook formula)."""
    d = km / R
    b = math.radians(bearing_deg)
    p1, l1 = math.radians(lat), math.radians(lon)
    p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(b))
    l2 = l1 + math.atan2(math.sin(b) * math.sin(d) * math.cos(p1),
                         math.cos(d) - math.sin(p1) * math.sin(p2))
    return math.degrees(p2), math.degrees(l2)


def haversine(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Plain haversine in km."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (math.sin((p2 - p1) / 2) ** 2
         + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2)
    return 2 * R * math.asin(math.sqrt(a))


def inside(x: float, y: float, px: list[float], py: list[float]) -> bool:
    """Even-odd ray casting of (x, y) against a closed polygon."""
    hit = False
    j = len(px) - 1
    for i in range(len(px)):
        if (py[i] > y) != (py[j] > y) and x < px[j] + (y - py[j]) * (px[i] - px[j]) / (
                py[i] - py[j]):
            hit = not hit
        j = i
    return hit


def rings_of(trace: dict) -> list[tuple[list[float], list[float]]]:
    """The polygons of a None-separated line trace."""
    out, xs, ys = [], [], []
    for x, y in zip(trace["x"], trace["y"], strict=True):
        if x is None:
            out.append((xs, ys))
            xs, ys = [], []
        else:
            xs.append(x)
            ys.append(y)
    if xs:
        out.append((xs, ys))
    return out


def _plain(value: object) -> object:
    """A figure array as a list (Plotly sends numpy arrays as base64 typed arrays)."""
    if isinstance(value, dict) and "bdata" in value:
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"]).tolist()
    return value


def trace(fig: dict, name: str) -> dict:
    """The figure's trace of that name, arrays decoded to lists."""
    found = [t for t in fig["data"] if t.get("name") == name]
    assert found, f"no {name} trace in {[t.get('name') for t in fig['data']]}"
    return {k: _plain(v) for k, v in found[0].items()}


# Worksites around A: (id, km, bearing). 2.9 and 3.1 km on several bearings, so an
# ellipse or a wrong radius on either axis would put one on the wrong side.
AROUND_A = [("IN-N", 2.9, 0), ("IN-E", 2.9, 90), ("IN-SW", 2.9, 225),
            ("OUT-N", 3.1, 0), ("OUT-E", 3.1, 90), ("OUT-SW", 3.1, 225)]


def _fill(engine):  # noqa: ANN001, ANN202
    """Two communities, six worksites 2.9 / 3.1 km from A, a closed and a future posting."""
    d = dt.date.fromisoformat
    rows = [
        Region(code=PROVINCE, name="安徽省", level="province", parent_code=None),
        Region(code=CITY, name="合肥市", level="city", parent_code=PROVINCE),
        Region(code=COUNTY, name="瑶海区", level="county", parent_code=CITY),
        Region(code=TOWN, name="明光路街道", level="township", parent_code=COUNTY),
        Region(code=A, name="胜利路社区", level="community", parent_code=TOWN, lat=A_LAT,
               lon=A_LON),
        Region(code=B, name="站西路社区", level="community", parent_code=TOWN, lat=B_LAT,
               lon=B_LON),
    ]
    for vid, km, bearing in AROUND_A:
        lat, lon = destination(A_LAT, A_LON, km, bearing)
        rows.append(Vacancy(vacancy_id=vid, community_code=A, lat=lat, lon=lon, title="普工",
                            type="full_time", headcount=4, posted_on=d("2025-04-01")))
    lat, lon = destination(A_LAT, A_LON, 1.0, 45)
    rows += [
        Vacancy(vacancy_id="CLOSED", community_code=A, lat=lat, lon=lon, title="x",
                type="full_time", headcount=9, posted_on=d("2025-01-01"),
                closed_on=d("2025-04-10")),
        Vacancy(vacancy_id="FUTURE", community_code=A, lat=lat, lon=lon, title="x",
                type="full_time", headcount=9, posted_on=d("2025-04-20")),
    ]
    with Session(engine) as s:
        s.add_all(rows)
        s.commit()
    outcome = refresh(engine, as_of=dt.datetime(2025, 4, 15, 10, 0), tz=TZ)
    assert outcome.status == "ok", outcome.error
    return engine, outcome.batch_id


@pytest.fixture
def hand_db(engine):  # noqa: ANN001, ANN201
    """The hand-made data on each database."""
    return _fill(engine)


CTX = {"mode": "region", "lang": "zh", "theme": "dark", "region": A, "panel": "map", "qs": ""}


def test_known_distances_of_the_hand_data() -> None:
    """The fixture's worksites really are 2.9 and 3.1 km from A (independent check)."""
    for _, km, bearing in AROUND_A:
        lat, lon = destination(A_LAT, A_LON, km, bearing)
        assert haversine(A_LAT, A_LON, lat, lon) == pytest.approx(km, abs=1e-9)


def test_ring_holds_the_2_9_km_worksites_and_not_the_3_1_km_ones(hand_db) -> None:  # noqa: ANN001
    """Community map: in the figure's coordinates, 2.9 km is inside A's ring, 3.1 outside."""
    engine, batch = hand_db
    base = load_map_base(engine, batch, dt.date(2025, 4, 15))
    # Open at T only: the closed and the future posting are not worksites on the map.
    assert sorted(base.vac_head.tolist()) == [4.0] * 6
    fig = map_panel.figure(map_view(base, A, "community", DEFAULT_METRIC), {}, CTX)
    (ring,) = rings_of(trace(fig, "rings"))
    vac = trace(fig, "vacancies")
    got = {}
    for x, y in zip(vac["x"], vac["y"], strict=True):
        got[(round(x, 2), round(y, 2))] = inside(x, y, *ring)
    assert sorted(got.values()) == [False] * 3 + [True] * 3
    # Which is which: the nearer three (by figure distance from the centre) are inside.
    by_radius = sorted(got.items(), key=lambda kv: math.hypot(*kv[0]))
    assert [v for _, v in by_radius] == [True] * 3 + [False] * 3
    # The ring is a circle of 3 km on the figure's axes (1 unit = 1 km both ways).
    radii = [math.hypot(x, y) for x, y in zip(*ring, strict=True)]
    assert min(radii) == pytest.approx(3.0, abs=0.01)
    assert max(radii) == pytest.approx(3.0, abs=0.01)
    layout = fig["layout"]
    assert layout["yaxis"]["scaleanchor"] == "x" and layout["yaxis"]["scaleratio"] == 1
    bar = layout["shapes"][0]
    assert bar["x1"] - bar["x0"] == pytest.approx(3.0)  # the scale bar is the ring's radius
    # Distances printed beside the three worksites inside the ring.
    assert sorted(trace(fig, "distances")["text"]) == ["2.9", "2.9", "2.9"]
    # The community itself is covered (green), the data says so too.
    assert base.values["circle.coverage"][base.codes.index(A)] == 1.0
    assert base.values["circle.coverage"][base.codes.index(B)] == 0.0


def test_wall_community_map_draws_worksites_in_and_out_of_the_ring(hand_db) -> None:  # noqa: ANN001
    """On the wall a community's worksites are one filled path per colour: the three 2.9 km
    away in the gold one, the three 3.1 km away in the grey one (centres at those distances
    from the community, drawn at the origin), each printed with its distance."""
    engine, batch = hand_db
    base = load_map_base(engine, batch, dt.date(2025, 4, 15))
    view = map_view(base, A, "community", DEFAULT_METRIC)
    fig = map_panel.figure(view, {}, {**CTX, "mode": "wall"})

    def radii(name: str) -> list[float]:
        polys = rings_of(trace(fig, name))
        return sorted(math.hypot(np.mean(px), np.mean(py)) for px, py in polys)

    assert radii("vacancies") == pytest.approx([2.9] * 3, abs=0.02)
    assert radii("vacancies_far") == pytest.approx([3.1] * 3, abs=0.02)
    assert trace(fig, "vacancies")["fillcolor"].startswith("rgba(255,197,61")
    assert sorted(trace(fig, "distances")["text"]) == ["2.9"] * 3


def test_township_map_draws_every_ring_to_scale(hand_db) -> None:  # noqa: ANN001
    """Township map: one ring per community; A's ring separates 2.9 from 3.1 km."""
    engine, batch = hand_db
    base = load_map_base(engine, batch, dt.date(2025, 4, 15))
    view = map_view(base, TOWN, "township", DEFAULT_METRIC)
    assert view.mode == "points"
    fig = map_panel.figure(view, {A: "胜利路社区", B: "站西路社区"}, {**CTX, "region": TOWN})
    rings = rings_of(trace(fig, "rings"))
    coms = trace(fig, "communities")
    assert coms["customdata"] == [A, B]
    ax, ay = coms["x"][0], coms["y"][0]
    ring_a = rings[0]
    for x, y in zip(trace(fig, "vacancies")["x"], trace(fig, "vacancies")["y"], strict=True):
        d = math.hypot(x - ax, y - ay)
        assert inside(x, y, *ring_a) == (d < 3.0)
    assert sum(inside(x, y, *ring_a) for x, y in zip(trace(fig, "vacancies")["x"],
                                                    trace(fig, "vacancies")["y"],
                                                    strict=True)) == 3
    # Distances between the two centres on the figure match the haversine within 0.2 %.
    bx, by = coms["x"][1], coms["y"][1]
    assert math.hypot(bx - ax, by - ay) == pytest.approx(
        haversine(A_LAT, A_LON, B_LAT, B_LON), rel=2e-3)


def test_rings_keep_enough_vertices_to_look_round() -> None:
    """A 72-vertex ring keeps every 4th vertex when a side's sagitta r·(1 − cos(π/18)) stays
    within half a pixel, else every 2nd (π/36), else all: 20 px: 0.30 px → 4; 36 px: 0.55
    px at 18 sides, 0.14 at 36 → 2; 114 px (an urban district): 0.43 at 36 → 2; 217 px (a
    township): 0.83 at 36 → 1."""
    assert [map_panel.ring_step(r) for r in (20, 36, 114, 217)] == [4, 2, 2, 1]


def test_wall_rings_are_closed_circles_of_3_km(hand_db) -> None:  # noqa: ANN001
    """On the wall's township map every ring is a closed polygon whose vertices are all
    3 km (± 0.3 %) from its community, with as many sides as ring_step leaves."""
    engine, batch = hand_db
    base = load_map_base(engine, batch, dt.date(2025, 4, 15))
    view = map_view(base, TOWN, "township", DEFAULT_METRIC)
    fig = map_panel.figure(view, {}, {**CTX, "mode": "wall", "region": TOWN})
    ppk = map_panel._px_per_km(view, *map_panel.plot_px({"mode": "wall"}))[0]
    sides = 72 // map_panel.ring_step(3.0 * ppk)
    rings = rings_of(trace(fig, "rings"))
    assert len(rings) == 2
    for (px, py), cx, cy in zip(rings, view.com_x, view.com_y, strict=True):
        assert len(px) == sides + 1 and (px[0], py[0]) == (px[-1], py[-1])
        for x, y in zip(px, py, strict=True):
            assert math.hypot(x - cx, y - cy) == pytest.approx(3.0, rel=3e-3)


def test_hexagons_at_province_level_against_pandas(hand_db) -> None:  # noqa: ANN001
    """Province map: hexagons hold every community once; coverage per cell = covered ÷ n."""
    engine, batch = hand_db
    base = load_map_base(engine, batch, dt.date(2025, 4, 15))
    view = map_view(base, PROVINCE, "province", DEFAULT_METRIC)
    assert view.mode == "hex"
    assert view.hex_n.sum() == 2
    # Each community lies within its cell (distance to the centre ≤ circumradius).
    x, y = view.proj.xy(base.lat, base.lon)
    frame = pd.DataFrame({"x": x, "y": y, "cov": base.values["circle.coverage"]})
    for i, row in frame.iterrows():
        d = np.hypot(view.hex_x - row.x, view.hex_y - row.y)
        assert d.min() <= view.hex_size + 1e-6, i
    # Open headcount per cell adds up to all open headcount (6 × 4).
    assert view.hex_head.sum() == 24
    # 14 km apart with small cells: two community cells, one covered (A), one not (B);
    # cells holding worksites only have no value and are not coloured.
    with_communities = view.hex_n > 0
    assert sorted(view.hex_value[with_communities].tolist()) == [0.0, 1.0]
    assert np.isnan(view.hex_value[~with_communities]).all()
    fig = map_panel.figure(view, {CITY: "合肥市"}, {**CTX, "region": PROVINCE})
    assert trace(fig, "cells")["customdata"] == [CITY, CITY]
    filled = sum(x is None for t in fig["data"] if t.get("name") == "hex" for x in t["x"])
    assert filled == 2
    assert [a["text"] for a in fig["layout"]["annotations"]][0] == "合肥市"


def test_metric_allow_list_from_the_registry() -> None:
    """?metric= takes only allow-listed keys; person-level and unknown keys fall back."""
    from queries.metrics import PERSON_KEYS

    assert map_metric("vacancies.open_headcount") == "vacancies.open_headcount"
    for bad in ("jobseekers.active", "placements.today", "x' or 1=1", None, 3, ["a"],
                "circle.coverage.x"):
        assert map_metric(bad) == DEFAULT_METRIC
    assert not set(MAP_METRICS) & PERSON_KEYS


def test_count_metric_classes_and_legend() -> None:
    """Count colours: 0 apart, then classes covering every positive value exactly once."""
    values = np.array([0, 1, 2, 3, 5, 8, 13, 21, 34, np.nan])
    colours, legend = map_panel.classes("vacancies.open_headcount", values, "zh")
    assert colours[0] == map_panel.ZERO_COLOR and colours[-1] == map_panel.NO_DATA
    assert legend[0] == (map_panel.ZERO_COLOR, "0")
    assert all(c != map_panel.NO_DATA for c in colours[1:-1])


# ---------------------------------------------------------------- boundaries
SQUARE = [[117.2, 31.8], [117.4, 31.8], [117.4, 31.9], [117.2, 31.9], [117.2, 31.8]]


def _fc(*features: dict, **extra: object) -> dict:
    return {"type": "FeatureCollection", "features": list(features), **extra}


def _poly(coords: list, **props: object) -> dict:
    return {"type": "Feature", "properties": props,
            "geometry": {"type": "Polygon", "coordinates": [coords]}}


def test_boundaries_valid_file(tmp_path: Path) -> None:
    """A WGS84 FeatureCollection loads: one outline, its box, no warning."""
    path = tmp_path / "counties.geojson"
    path.write_text(json.dumps(_fc(_poly(SQUARE, name="瑶海区", code="340102"))), "utf-8")
    b = load_boundaries(path)
    assert len(b.outlines) == 1 and b.warnings == ()
    o = b.outlines[0]
    assert o.code == "340102000000" and o.name == "瑶海区"
    assert o.bbox == (117.2, 117.4, 31.8, 31.9)
    assert len(b.within(117.3, 117.5, 31.85, 32.0)) == 1
    assert b.within(118.0, 119.0, 31.0, 32.0) == []


@pytest.mark.parametrize(("data", "message"), [
    ([1, 2], "top level"),
    ({"type": "Topology"}, "unsupported GeoJSON type"),
    (_fc(_poly([[31.8, 117.2], [31.8, 117.4], [31.9, 117.4], [31.8, 117.2]])), "[lat, lon]"),
    (_fc(_poly([[13048000.0, 3740000.0], [13050000.0, 3740000.0], [13048000.0, 3742000.0]])),
     "projected metres"),
    (_fc(_poly([[2.35, 48.85], [2.36, 48.85], [2.36, 48.86], [2.35, 48.85]])), "inside China"),
    (_fc(_poly([[117.2, "31.8"], [117.4, 31.8]])), "finite number"),
    (_fc({"type": "Feature", "properties": {}, "geometry": {"type": "Circle"}}),
     "unsupported geometry type"),
    (_fc(_poly(SQUARE), crs={"type": "name", "properties": {"name": "EPSG:3857"}}), "WGS84"),
    (_fc(), "no Polygon"),
])
def test_boundaries_rejected_with_a_clear_message(data: object, message: str) -> None:
    """Each kind of bad file names what is wrong."""
    with pytest.raises(BoundaryError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_boundaries(data)


def test_boundaries_bad_json_and_missing_file(tmp_path: Path) -> None:
    """Not JSON: line and column; no file: said so."""
    bad = tmp_path / "b.geojson"
    bad.write_text('{"type": "FeatureCollection",\n "features": [}', "utf-8")
    with pytest.raises(BoundaryError, match="line 2"):
        load_boundaries(bad)
    with pytest.raises(BoundaryError, match="not found"):
        load_boundaries(tmp_path / "none.geojson")


def test_boundaries_gcj02_hints_warn() -> None:
    """DataV.GeoAtlas properties, a GCJ-02 crs name or file name: a warning, still drawn."""
    datav = parse_boundaries(_fc(_poly(SQUARE, adcode=340102, name="瑶海区",
                                       acroutes=[100000, 340000], childrenNum=0)))
    assert len(datav.outlines) == 1 and "GCJ-02" in datav.warnings[0]
    named = parse_boundaries(_fc(_poly(SQUARE)), source="/data/hefei_gcj02.json")
    assert "GCJ-02" in named.warnings[0]
    crs = parse_boundaries(_fc(_poly(SQUARE), crs={"type": "name",
                                                   "properties": {"name": "GCJ-02"}}))
    assert "GCJ-02" in crs.warnings[0]
    plain = parse_boundaries(_fc(_poly(SQUARE), crs={
        "type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}}))
    assert plain.warnings == ()


def test_outlines_drawn_only_from_the_operator_file(hand_db) -> None:  # noqa: ANN001
    """No file: no outline trace. A file: its lines, projected like everything else."""
    engine, batch = hand_db
    base = load_map_base(engine, batch, dt.date(2025, 4, 15))
    fig = map_panel.figure(map_view(base, TOWN, "township", DEFAULT_METRIC), {}, CTX)
    assert "outline" not in [t.get("name") for t in fig["data"]]
    square = [[117.25, 31.85], [117.35, 31.85], [117.35, 31.89], [117.25, 31.85]]
    b = parse_boundaries(_fc(_poly(square, name="x")))
    view = map_view(base, TOWN, "township", DEFAULT_METRIC, boundaries=b)
    fig = map_panel.figure(view, {}, CTX)
    line = trace(fig, "outline")
    x, y = view.proj.xy(31.85, 117.25)
    assert line["x"][0] == pytest.approx(float(x), abs=1e-3)
    assert line["y"][0] == pytest.approx(float(y), abs=1e-3)


def test_worksites_outside_a_token_scope_are_not_drawn(hand_db) -> None:  # noqa: ANN001
    """A viewer scoped to community B sees none of A's worksites as points."""
    engine, batch = hand_db
    base = load_map_base(engine, batch, dt.date(2025, 4, 15))
    assert map_view(base, A, "community", DEFAULT_METRIC).vac_x.size == 6
    assert map_view(base, A, "community", DEFAULT_METRIC, scope=B).vac_x.size == 0
    assert map_view(base, A, "community", DEFAULT_METRIC, scope=TOWN).vac_x.size == 6


# ---------------------------------------------------------------- names that do not overlap
def _box(anchor: tuple[float, float], size: tuple[float, float],
         spot: tuple[float, float]) -> tuple[float, float, float, float]:
    cx, cy = anchor[0] + spot[0], anchor[1] + spot[1]
    return (cx - size[0] / 2, cy - size[1] / 2, cx + size[0] / 2, cy + size[1] / 2)


def _apart(a: tuple, b: tuple) -> bool:
    return a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 600), st.floats(0, 400), st.floats(20, 160),
                          st.floats(14, 40)), min_size=1, max_size=40),
       st.tuples(st.floats(0, 500), st.floats(0, 300), st.floats(10, 200), st.floats(10, 100)))
def test_placed_names_never_overlap(labels: list, block: tuple) -> None:
    """Whatever the anchors and sizes: every placed name lies inside the plot, apart from
    every other placed name and from the blocked box (the scale bar); the first is placed
    on its anchor when that spot is free."""
    plot = (600.0, 400.0)
    blocked = (block[0], block[1], block[0] + block[2], block[1] + block[3])
    anchors = [(x, y) for x, y, _, _ in labels]
    sizes = [(w, h) for _, _, w, h in labels]
    spots = map_panel.place_labels(anchors, sizes, plot, [blocked])
    boxes = [_box(a, s, p) for a, s, p in zip(anchors, sizes, spots, strict=True)
             if p is not None]
    for i, b in enumerate(boxes):
        assert b[0] >= 0 and b[1] >= 0 and b[2] <= plot[0] and b[3] <= plot[1]
        assert _apart(b, blocked)
        assert all(_apart(b, c) for c in boxes[i + 1:])
    first = _box(anchors[0], sizes[0], (0.0, 0.0))
    if (first[0] >= 0 and first[1] >= 0 and first[2] <= plot[0] and first[3] <= plot[1]
            and _apart(first, blocked)):
        assert spots[0] == (0.0, 0.0)


def test_crowded_names_move_aside_with_a_leader_line() -> None:
    """Four names on one spot (a city's urban districts): the one with most communities
    stays on its centroid, the others move aside with a line back; none overlap. The
    region page draws them as annotations, the wall as a text trace on plates."""
    view = map_view(_dense_base(), PROVINCE, "province", DEFAULT_METRIC)
    kids = {c: f"区{i}" for i, c in enumerate(view.kid_code)}
    region = map_panel.figure(view, kids, {**CTX, "region": PROVINCE})
    assert {"cells", "labels"} <= {t["name"] for t in region["data"]}
    notes = [a for a in region["layout"]["annotations"] if a.get("yref") == "y"]
    assert len(notes) == 4
    still = [a for a in notes if not a.get("showarrow")]
    assert [a["text"] for a in still] == [kids[view.kid_code[0]]]  # most communities
    assert all(a["arrowwidth"] > 0 and (a["ax"], a["ay"]) != (0, 0)
               for a in notes if a.get("showarrow"))

    fig = map_panel.figure(view, kids, {**CTX, "mode": "wall", "region": PROVINCE})
    # The wall is never clicked or hovered: no invisible marker traces on it, and no
    # annotation per name.
    assert {t["name"] for t in fig["data"]} == {"hex", "vacancies", "leaders", "plates",
                                                "names"}
    assert [a for a in fig["layout"]["annotations"] if a.get("yref") == "y"] == []
    names = trace(fig, "names")
    assert sorted(names["text"]) == sorted(kids.values())
    centroid = {kids[c]: (x, y) for c, x, y in zip(view.kid_code, view.kid_x, view.kid_y,
                                                   strict=True)}
    at = {t: (x, y) for t, x, y in zip(names["text"], names["x"], names["y"], strict=True)}
    top = kids[view.kid_code[0]]
    assert at[top] == pytest.approx(centroid[top], abs=1e-3)  # on its centroid
    moved = [t for t in at if t != top]
    assert all(math.dist(at[t], centroid[t]) > 0.5 for t in moved)
    # One leader per moved name, from its centroid to its name (a thin quad: the midpoints
    # of its two short sides are the centroid and the name's centre).
    leaders = rings_of(trace(fig, "leaders"))
    assert len(leaders) == len(moved)
    ends = [((px[0] + px[3]) / 2, (py[0] + py[3]) / 2, (px[1] + px[2]) / 2,
             (py[1] + py[2]) / 2) for px, py in leaders]
    for t in moved:
        assert any(math.dist(e[:2], centroid[t]) < 1e-2 and math.dist(e[2:], at[t]) < 1e-2
                   for e in ends)
    # Each name on its own plate (a rectangle around it), plates apart from each other.
    plates = [(min(px), min(py), max(px), max(py)) for px, py in rings_of(trace(fig, "plates"))]
    assert len(plates) == 4
    for t, (x, y) in at.items():
        assert sum(p[0] < x < p[2] and p[1] < y < p[3] for p in plates) == 1, t
    for i, p in enumerate(plates):
        assert all(_apart(p, q) for q in plates[i + 1:])


def _many_kids_base(n_kids: int, spread_km: float) -> MapBase:
    """A province of `n_kids` cities, one community each, on a line `spread_km` apart (0:
    all on one spot); worksites far north and south widen the map."""
    kids = [f"34{i + 1:02d}00000000" for i in range(n_kids)]
    codes = [f"{k[:4]}01001001" for k in kids]
    tree = [PROVINCE, *kids, *codes]
    chain = np.array([[0, 1 + i, 1 + n_kids + i] for i in range(n_kids)], dtype=np.int32)
    lat = np.full(n_kids, 31.86)
    lon = 117.28 + np.arange(n_kids) * spread_km / 94.6  # ≈ km per degree of lon at 31.9°
    return MapBase(codes=codes, names=codes, lat=lat, lon=lon,
                   values={k: np.ones(n_kids) for k in STORED_KEYS}, tree_codes=tree,
                   chain=chain, vac_lat=np.array([30.5, 33.2]),
                   vac_lon=np.array([117.28, 117.28]), vac_head=np.array([5.0, 5.0]),
                   vac_comm=np.array([0, 0]))


def _legend_text(view: object, ctx: dict, fig: dict) -> str:
    return json.dumps(map_panel.legend(view, ctx, unlabelled=fig["layout"]["meta"]["unlabelled"]),
                      default=lambda c: c.to_plotly_json(), ensure_ascii=False)


@pytest.mark.parametrize("mode", ["wall", "region"])
def test_no_child_goes_unnamed(mode: str) -> None:
    """Forty-five cities on one spot: the names that find no spot at full size are drawn
    smaller, those that find none then are listed in the legend; every child is either
    drawn or listed, none twice, and drawn names stay apart."""
    view = map_view(_many_kids_base(45, 0.0), PROVINCE, "province", DEFAULT_METRIC)
    kids = {c: f"城市{i:02d}" for i, c in enumerate(view.kid_code)}
    ctx = {**CTX, "mode": mode, "region": PROVINCE}
    fig = map_panel.figure(view, kids, ctx)
    missing = fig["layout"]["meta"]["unlabelled"]
    if mode == "wall":
        names = trace(fig, "names")
        drawn = list(names["text"])
        plates = [(min(px), min(py), max(px), max(py))
                  for px, py in rings_of(trace(fig, "plates"))]
        assert len(plates) == len(drawn)
        for i, a in enumerate(plates):
            assert all(_apart(a, b) for b in plates[i + 1:])
    else:
        notes = [a for a in fig["layout"]["annotations"] if a.get("yref") == "y"]
        drawn = [a["text"] for a in notes]
    assert sorted(drawn + missing) == sorted(kids.values())
    assert len(set(drawn)) == len(drawn)
    assert missing, "45 names cannot all fit around one spot"
    text = _legend_text(view, ctx, fig)
    assert "图上未标注" in text
    assert all(name in text for name in missing[:map_panel.MAX_LISTED])
    if len(missing) > map_panel.MAX_LISTED:
        assert f"等{len(missing)}个" in text
    en = _legend_text(view, {**ctx, "lang": "en"}, fig)
    assert "Not named on the map" in en


@pytest.mark.parametrize("mode", ["wall", "region"])
def test_a_name_too_wide_at_full_size_is_drawn_smaller(mode: str) -> None:
    """Three cities far apart, one with an 80-character name: wider than the map at the
    full size (80 em), it fits at the smaller one; nothing is listed."""
    view = map_view(_many_kids_base(3, 40.0), PROVINCE, "province", DEFAULT_METRIC)
    long_name = "长" * 80
    kids = dict(zip(view.kid_code, ["甲市", long_name, "丙市"], strict=True))
    fig = map_panel.figure(view, kids, {**CTX, "mode": mode, "region": PROVINCE})
    assert fig["layout"]["meta"]["unlabelled"] == []
    if mode == "wall":
        names = trace(fig, "names")
        font = dict(zip(names["text"], names["textfont"]["size"], strict=True))
    else:
        font = {a["text"]: a["font"]["size"] for a in fig["layout"]["annotations"]
                if a.get("yref") == "y"}
    assert sorted(font) == sorted(kids.values())
    assert font[long_name] < font["甲市"] == font["丙市"]
    width = map_panel.PLOT_PX[mode][0]
    assert 80 * font["甲市"] > width > map_panel.text_px(long_name, font[long_name])[0]


def test_names_past_the_cap_are_drawn_when_there_is_room() -> None:
    """Forty-five cities 8 km apart: all 45 names drawn (the 5 past MAX_CHILD_LABELS at
    the smaller size), none listed."""
    view = map_view(_many_kids_base(45, 8.0), PROVINCE, "province", DEFAULT_METRIC)
    kids = {c: f"市{i:02d}" for i, c in enumerate(view.kid_code)}
    fig = map_panel.figure(view, kids, {**CTX, "mode": "wall", "region": PROVINCE})
    names = trace(fig, "names")
    assert sorted(names["text"]) == sorted(kids.values())
    assert fig["layout"]["meta"]["unlabelled"] == []
    fonts = names["textfont"]["size"]
    assert sorted(fonts).count(min(fonts)) == 45 - map_panel.MAX_CHILD_LABELS


def test_distances_of_worksites_side_by_side_are_not_printed_on_each_other() -> None:
    """Two worksites 20 m apart 1 km from the community, a third 2 km away: two distances
    printed (the nearer of the pair and the third), not three."""
    sites = [destination(A_LAT, A_LON, 1.0, 90), destination(A_LAT, A_LON, 1.02, 90),
             destination(A_LAT, A_LON, 2.0, 270)]
    base = MapBase(codes=[A], names=["胜利路社区"], lat=np.array([A_LAT]),
                   lon=np.array([A_LON]), values={k: np.ones(1) for k in STORED_KEYS},
                   tree_codes=[PROVINCE, A], chain=np.array([[0, 1]], dtype=np.int32),
                   vac_lat=np.array([p[0] for p in sites]),
                   vac_lon=np.array([p[1] for p in sites]),
                   vac_head=np.array([3.0, 3.0, 3.0]), vac_comm=np.array([0, 0, 0]))
    fig = map_panel.figure(map_view(base, A, "community", DEFAULT_METRIC), {},
                           {**CTX, "mode": "wall"})
    assert sorted(trace(fig, "distances")["text"]) == ["1.0", "2.0"]


def _dense_base() -> MapBase:
    """Four child regions whose communities share one spot (10, 6, 3, 1 of them)."""
    rng = np.random.default_rng(3)
    kids = [f"34010{i}000000" for i in range(1, 5)]
    counts = [10, 6, 3, 1]
    codes, chains = [], []
    tree = [PROVINCE, *kids]
    for k, n in enumerate(counts):
        for j in range(n):
            codes.append(f"{kids[k][:6]}001{j:03d}")
            tree.append(codes[-1])
            chains.append([0, 1 + k, len(tree) - 1])
    n = len(codes)
    # Worksites 150 km north and south widen the map (the spot in its middle), so the four
    # centroids are a few pixels apart.
    return MapBase(codes=codes, names=codes, lat=31.86 + rng.uniform(-0.005, 0.005, n),
                   lon=117.28 + rng.uniform(-0.005, 0.005, n),
                   values={k: np.ones(n) for k in STORED_KEYS}, tree_codes=tree,
                   chain=np.array(chains, dtype=np.int32),
                   vac_lat=np.array([30.5, 33.2]), vac_lon=np.array([117.28, 117.28]),
                   vac_head=np.array([5.0, 5.0]), vac_comm=np.array([0, 0]))


def test_wall_worksite_dots_are_one_path_at_the_right_places(hand_db) -> None:  # noqa: ANN001
    """On the wall the worksites of a township map are small polygons in one trace, each
    centred on its worksite (the centre of its vertices) and far smaller than a ring."""
    engine, batch = hand_db
    base = load_map_base(engine, batch, dt.date(2025, 4, 15))
    view = map_view(base, TOWN, "township", DEFAULT_METRIC)
    fig = map_panel.figure(view, {}, {**CTX, "mode": "wall", "region": TOWN})
    dots = trace(fig, "vacancies")
    assert dots["fill"] == "toself"
    polys = rings_of(dots)
    assert len(polys) == 6
    assert {len(px) for px, _ in polys} == {6}  # hexagons, no vertex repeated
    sites = list(zip(view.vac_x, view.vac_y, strict=True))
    for px, py in polys:
        cx, cy = np.mean(px), np.mean(py)
        nearest = min(math.hypot(cx - x, cy - y) for x, y in sites)
        assert nearest < 0.02  # km: coordinates are drawn to 10 m
    assert all(max(px) - min(px) < 0.6 for px, _ in polys)


def test_merge_points_sums_each_cell_at_its_weighted_centre() -> None:
    """Three tight clusters, each around the centre of a different hexagon of radius 0.5 km
    (centres from the textbook pointy-top layout: x = √3·s·(q + r/2), y = 1.5·s·r), a fourth
    cluster of zero weight: one point per cluster, at the headcount-weighted mean (pandas),
    with the summed headcount."""
    from queries.mapgeo import merge_points

    s3 = math.sqrt(3.0)
    size = 0.5
    centres = [(0.0, 0.0), (s3 * size * 6, 0.0), (s3 * size * (0 + 4 / 2), 1.5 * size * 4),
               (s3 * size * (-3 - 2 / 2), 1.5 * size * -2)]
    rng = np.random.default_rng(5)
    rows = []
    for k, (cx, cy) in enumerate(centres):
        for _ in range(7):
            rows.append({"k": k, "x": cx + rng.uniform(-0.1, 0.1),
                         "y": cy + rng.uniform(-0.1, 0.1),
                         "w": 0.0 if k == 3 else float(rng.integers(1, 9))})
    df = pd.DataFrame(rows).sample(frac=1.0, random_state=1)  # clusters interleaved
    x, y, w = merge_points(df["x"].to_numpy(), df["y"].to_numpy(), df["w"].to_numpy(), size)
    got = sorted(zip(np.round(w, 6), np.round(x, 6), np.round(y, 6), strict=True))
    want = []
    for _, g in df.groupby("k"):
        total = g["w"].sum()
        if total > 0:
            want.append((round(total, 6), round((g["x"] * g["w"]).sum() / total, 6),
                         round((g["y"] * g["w"]).sum() / total, 6)))
        else:  # no weight: the plain mean
            want.append((0.0, round(g["x"].mean(), 6), round(g["y"].mean(), 6)))
    assert got == sorted(want)


def _busy_township(n: int) -> MapBase:
    """Three communities of one township and `n` worksites within 3.2 km of the first (all
    inside the map: its extent is the communities and 3.5 km around them)."""
    rng = np.random.default_rng(11)
    coms = [A, B, "340102001003"]
    lat = np.array([A_LAT, A_LAT + 0.02, A_LAT - 0.02])
    lon = np.array([A_LON, A_LON + 0.03, A_LON - 0.01])
    sites = [destination(A_LAT, A_LON, float(rng.uniform(0, 3.2)), float(rng.uniform(0, 360)))
             for _ in range(n)]
    return MapBase(codes=coms, names=["甲社区", "乙社区", "丙社区"], lat=lat, lon=lon,
                   values={k: np.ones(3) for k in STORED_KEYS},
                   tree_codes=[PROVINCE, TOWN, *coms],
                   chain=np.array([[0, 1, 2], [0, 1, 3], [0, 1, 4]], dtype=np.int32),
                   vac_lat=np.array([p[0] for p in sites]),
                   vac_lon=np.array([p[1] for p in sites]),
                   vac_head=rng.integers(1, 20, n).astype(float),
                   vac_comm=rng.integers(0, 3, n))


def test_a_busy_wall_map_merges_its_worksite_dots_and_says_so() -> None:
    """A township map with more worksites than a wall draws one by one: on the wall they
    are merged per small hexagon (fewer dots, every worksite within a cell's width of its
    dot) and the legend says so, in Chinese and in English; the region page still draws
    every worksite and says nothing of merging; a quiet map is never merged."""
    n = map_panel.MERGE_DOTS_ABOVE + 400
    view = map_view(_busy_township(n), TOWN, "township", DEFAULT_METRIC)
    assert view.mode == "points" and view.vac_x.size == n
    wall = {**CTX, "mode": "wall", "region": TOWN}
    fig = map_panel.figure(view, {}, wall)
    km = fig["layout"]["meta"]["dots_merged_km"]
    assert km in map_panel.MERGE_STEPS_KM
    polys = rings_of(trace(fig, "vacancies"))
    assert len(polys) <= map_panel.MAX_WALL_DOTS and len(polys) < n / 2
    dots = np.array([(np.mean(px), np.mean(py)) for px, py in polys])
    for x, y in zip(view.vac_x, view.vac_y, strict=True):
        # A cell is 2·km across: its dot (inside it) is at most that far from its worksites.
        assert np.hypot(dots[:, 0] - x, dots[:, 1] - y).min() <= 2 * km + 0.02

    def legend_text(ctx: dict) -> str:
        return json.dumps(map_panel.legend(view, ctx), default=lambda c: c.to_plotly_json(),
                          ensure_ascii=False)

    assert f"岗位点按{km:g}公里六边形合并" in legend_text(wall)
    assert f"merged per {km:g} km hexagon" in legend_text({**wall, "lang": "en"})
    region = map_panel.figure(view, {}, {**CTX, "region": TOWN})
    assert region["layout"]["meta"]["dots_merged_km"] == 0
    assert len(trace(region, "vacancies")["x"]) == n
    assert "合并" not in legend_text({**CTX, "region": TOWN})
    quiet = map_view(_busy_township(50), TOWN, "township", DEFAULT_METRIC)
    qfig = map_panel.figure(quiet, {}, wall)
    assert qfig["layout"]["meta"]["dots_merged_km"] == 0
    assert len(rings_of(trace(qfig, "vacancies"))) == 50
    assert "合并" not in json.dumps(map_panel.legend(quiet, wall),
                                    default=lambda c: c.to_plotly_json(), ensure_ascii=False)


# ---------------------------------------------------------------- stored with the batch
def _map_items(engine, batch: int) -> list[tuple[int, str]]:  # noqa: ANN001
    with engine.connect() as conn:
        return conn.execute(select(SnapshotItem.item_id, SnapshotItem.body).where(
            SnapshotItem.batch_id == batch, SnapshotItem.item_id < 0)).tuples().all()


def test_map_shows_the_batch_not_the_live_tables(hand_db) -> None:  # noqa: ANN001
    """The refresh stores the map's data with the batch: a posting imported afterwards is
    not a dot until the next refresh, and a region's rows rewritten in the source table do
    not move the map; the next batch has both."""
    engine, batch = hand_db
    assert _map_items(engine, batch)
    lat, lon = destination(A_LAT, A_LON, 1.0, 135)
    with Session(engine) as s:
        s.add(Vacancy(vacancy_id="LATE", community_code=A, lat=lat, lon=lon, title="x",
                      type="full_time", headcount=7, posted_on=dt.date(2025, 4, 2)))
        s.get(Region, B).lat = B_LAT + 0.5
        s.commit()
    base = load_map_base(engine, batch, dt.date(2025, 4, 15))
    assert sorted(base.vac_head.tolist()) == [4.0] * 6
    assert base.lat[base.codes.index(B)] == pytest.approx(B_LAT, abs=1e-6)
    nxt = refresh(engine, as_of=dt.datetime(2025, 4, 15, 11, 0), tz=TZ)
    assert nxt.status == "ok", nxt.error
    base = load_map_base(engine, nxt.batch_id, dt.date(2025, 4, 15))
    assert sorted(base.vac_head.tolist()) == [4.0] * 6 + [7.0]
    assert base.lat[base.codes.index(B)] == pytest.approx(B_LAT + 0.5, abs=1e-6)


def test_a_batch_without_map_items_is_read_from_its_rows(hand_db) -> None:  # noqa: ANN001
    """A batch written before map items existed gives the same map from its rows."""
    engine, batch = hand_db
    stored = load_map_base(engine, batch, dt.date(2025, 4, 15))
    with engine.begin() as conn:
        conn.execute(SnapshotItem.__table__.delete().where(
            SnapshotItem.batch_id == batch, SnapshotItem.item_id < 0))
    rows = load_map_base(engine, batch, dt.date(2025, 4, 15))
    assert rows.codes == stored.codes == [A, B]
    assert rows.names == stored.names == ["胜利路社区", "站西路社区"]
    for k in stored.values:
        np.testing.assert_allclose(rows.values[k], stored.values[k], equal_nan=True)
    np.testing.assert_allclose(rows.vac_lat, stored.vac_lat, atol=1e-6)
    assert rows.vac_comm.tolist() == stored.vac_comm.tolist() == [0] * 6
    assert rows.tree_codes == stored.tree_codes


def test_map_items_round_trip_in_chunks_small_enough_for_mariadb_text() -> None:
    """Thousands of communities and worksites: several items, each under 64 KB, decoded
    back to the same codes, names, tree, values and positions (to 1e-6 degree)."""
    rng = np.random.default_rng(14)
    n, m = 3000, 20000
    codes = [f"3401020{i:05d}" for i in range(n)]
    names = [f"社区{i}\n“{i % 7}”" for i in range(n)]  # any text, newlines included
    chain = np.array([[0, 1, 2 + i] for i in range(n)], dtype=np.int32)
    values = {k: rng.integers(0, 50, n).astype(float) for k in STORED_KEYS}
    values["circle.coverage"][::3] = np.nan
    base = MapBase(codes=codes, names=names, lat=rng.uniform(29, 35, n),
                   lon=rng.uniform(114, 120, n), values=values,
                   tree_codes=[PROVINCE, CITY, *codes], chain=chain,
                   vac_lat=rng.uniform(29, 35, m), vac_lon=rng.uniform(114, 120, m),
                   vac_head=rng.integers(1, 30, m).astype(float),
                   vac_comm=rng.integers(-1, n, m))
    texts = encode_map_base(base)
    assert len(texts) > 1
    assert max(len(t.encode("utf-8")) for t in texts) < 65_535
    got = decode_map_base(texts)
    assert got.codes == codes and got.names == names and got.tree_codes == base.tree_codes
    assert got.chain.tolist() == chain.tolist()
    for k in STORED_KEYS:
        np.testing.assert_array_equal(got.values[k], values[k])
    for a, b in ((got.lat, base.lat), (got.lon, base.lon), (got.vac_lat, base.vac_lat),
                 (got.vac_lon, base.vac_lon)):
        assert np.abs(a - b).max() <= 0.5e-6 + 1e-12
    assert got.vac_head.tolist() == base.vac_head.tolist()
    assert got.vac_comm.tolist() == base.vac_comm.tolist()
    with pytest.raises(ValueError, match="incomplete"):
        decode_map_base(texts[:-1])


# ---------------------------------------------------------------- drill-down claims
def _drill_body(app, click: object, region: str, kind: str = "region") -> dict:  # noqa: ANN001
    """A drill callback request as the browser sends it (ids and properties registered)."""
    rules = app.server.extensions["dashboard.callback_rules"]
    key = next(k for k in rules if "url.pathname@" in k)
    rule = rules[key]
    return {
        "output": key,
        "outputs": [{"id": i, "property": p} for i, p in rule.outputs],
        "inputs": [{"id": "map-g-map", "property": "clickData", "value": click}],
        "state": [{"id": "url", "property": "search", "value": "?panel=map"},
                  {"id": "target", "property": "data", "value": {"region": region,
                                                                "panel": "map"}},
                  {"id": "view", "property": "data", "value": {"kind": kind, "lang": "zh"}}],
        "changedPropIds": ["map-g-map.clickData"],
    }


def test_drill_accepts_only_a_child_of_the_region_shown(sqlite_url: str) -> None:
    """A click naming a child drills there; any other code (a grandchild, the parent, a
    sibling's child, garbage) is refused before the callback runs."""
    from dashboard.app import create_app
    from queries.db import init_db, make_engine

    engine = make_engine(sqlite_url)
    init_db(engine)
    _fill(engine)
    app = create_app({"database_url": sqlite_url, "timezone": TZ, "root_region": PROVINCE})
    client = app.server.test_client()

    def post(click: object, region: str = COUNTY, kind: str = "region"):  # noqa: ANN202
        return client.post("/_dash-update-component", json=_drill_body(app, click, region, kind))

    ok = post({"points": [{"customdata": TOWN}]})
    assert ok.status_code == 200, ok.get_data(as_text=True)
    body = json.dumps(ok.get_json(), ensure_ascii=False)
    assert f"/region/{TOWN}" in body and "panel=map" in body
    for bad in (A, CITY, PROVINCE, "340102009000", "34010200100x", "x" * 5000):
        resp = post({"points": [{"customdata": bad}]})
        assert resp.status_code == 400, bad
        assert "traceback" not in resp.get_data(as_text=True).lower()
    for shape in ("a string", {"points": "x"}, {"points": [5]}, {"points": [{"customdata": 7}]}):
        assert post(shape).status_code == 400, shape
    # No point, or a click on the wall: nothing happens (204), nothing is refused.
    assert post({"points": []}).status_code == 204
    assert post({"points": [{"customdata": TOWN}]}, kind="wall").status_code == 204


def test_app_start_validates_the_boundaries_file(sqlite_url: str, tmp_path: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    """DASHBOARD_BOUNDARIES is read at start: a bad file stops the app with its message,
    a GCJ-02-looking one starts with a warning in the log."""
    from dashboard.app import create_app
    from queries.db import init_db, make_engine

    init_db(make_engine(sqlite_url))
    bad = tmp_path / "bad.geojson"
    bad.write_text(json.dumps(_fc(_poly([[31.8, 117.2], [31.8, 117.4], [31.9, 117.2]]))),
                   "utf-8")
    with pytest.raises(BoundaryError, match=r"\[lat, lon\]"):
        create_app({"database_url": sqlite_url, "boundaries": str(bad)})
    good = tmp_path / "datav.geojson"
    good.write_text(json.dumps(_fc(_poly(SQUARE, adcode=340102, acroutes=[100000]))), "utf-8")
    with caplog.at_level("WARNING"):
        app = create_app({"database_url": sqlite_url, "boundaries": str(good)})
    assert len(app.server.extensions["dashboard.boundaries"].outlines) == 1
    assert "GCJ-02" in caplog.text
    assert create_app({"database_url": sqlite_url}).server.extensions[
        "dashboard.boundaries"] is None
