"""Operator-supplied district/county outlines for the map (`DASHBOARD_BOUNDARIES`, GeoJSON).

Nothing is drawn from third-party map data by default (publishing a map in China needs
review): outlines come only from the file the operator names. The file is validated when
it is loaded, with one clear message naming the feature and what is wrong:

- JSON, a FeatureCollection, a Feature or a bare geometry; Polygon, MultiPolygon,
  LineString and MultiLineString are drawn (points are ignored, other types rejected);
- positions are [longitude, latitude] in degrees (RFC 7946, WGS84); numbers beyond ±180 /
  ±90 mean projected metres (e.g. EPSG:3857) and are rejected, and a file whose positions
  only make sense swapped ([lat, lon]) is rejected with that advice;
- a legacy `crs` member must name WGS84 (CRS84, EPSG:4326) or CGCS2000 (EPSG:4490, within
  centimetres of WGS84 at this scale); anything else is rejected;
- at least one position must lie in China's envelope (lon 73–136, lat 3–54).

GCJ-02 (the "Mars" offset of Chinese web maps) cannot be recognised from positions alone:
it is a smooth shift of roughly 100–700 m that leaves every coordinate plausible. The
warning is therefore a heuristic over what the file says about itself: a `crs`, `name` or
file name mentioning GCJ-02, BD-09, AMap/高德 or Baidu/百度, or features with the property
signature of DataV.GeoAtlas exports (`adcode` with `acroutes`, `childrenNum` or `centroid`),
which are cut from AMap data and so are GCJ-02. A file without such hints passes silently
even if it is GCJ-02; the operator is told so in the docs.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

DRAWN = ("Polygon", "MultiPolygon", "LineString", "MultiLineString")
IGNORED = ("Point", "MultiPoint")
WGS84_NAMES = ("crs84", "epsg:4326", "epsg::4326", "epsg:4490", "epsg::4490", "wgs84",
               "wgs 84", "cgcs2000")
GCJ_HINT = re.compile(r"gcj|bd-?09|mars|amap|gaode|高德|baidu|百度|火星", re.IGNORECASE)
CHINA = (73.0, 136.0, 3.0, 54.0)  # lon min, lon max, lat min, lat max
MAX_BYTES = 200 * 1024 * 1024
# Vertices closer than this (degrees, about 50 m) to the last one kept are not drawn.
THIN_DEG = 0.0005


class BoundaryError(ValueError):
    """The boundaries file cannot be used; the message says which feature and why."""


@dataclass(frozen=True)
class Outline:
    """One feature's lines: lon/lat arrays with NaN between parts, its bounding box."""

    name: str
    code: str | None
    lon: np.ndarray
    lat: np.ndarray
    bbox: tuple[float, float, float, float]  # lon min, lon max, lat min, lat max


@dataclass(frozen=True)
class Boundaries:
    """The outlines of a validated file and the warnings found while reading it."""

    outlines: tuple[Outline, ...]
    warnings: tuple[str, ...] = ()
    source: str = ""

    def within(self, lon_min: float, lon_max: float, lat_min: float, lat_max: float
               ) -> list[Outline]:
        """Outlines whose bounding box meets the given box."""
        return [o for o in self.outlines
                if o.bbox[0] <= lon_max and o.bbox[1] >= lon_min
                and o.bbox[2] <= lat_max and o.bbox[3] >= lat_min]


def load_boundaries(path: str | Path) -> Boundaries:
    """Read and validate a GeoJSON file; BoundaryError with a clear message otherwise."""
    p = Path(path)
    where = f"DASHBOARD_BOUNDARIES={p}"
    if not p.is_file():
        raise BoundaryError(f"{where}: 文件不存在 (file not found)")
    if p.stat().st_size > MAX_BYTES:
        raise BoundaryError(f"{where}: 文件过大 (over {MAX_BYTES // 2**20} MB)")
    try:
        data = json.loads(p.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError as err:
        raise BoundaryError(f"{where}: 不是 UTF-8 文本 (not UTF-8 text): {err}") from None
    except json.JSONDecodeError as err:
        raise BoundaryError(f"{where}: 不是有效的 JSON (not valid JSON): line {err.lineno}, "
                            f"column {err.colno}: {err.msg}") from None
    return parse_boundaries(data, source=str(p))


def _features(data: Any) -> list[dict[str, Any]]:
    if not isinstance(data, dict):
        raise BoundaryError("GeoJSON 顶层必须是对象 (top level must be a JSON object)")
    kind = data.get("type")
    if kind == "FeatureCollection":
        feats = data.get("features")
        if not isinstance(feats, list):
            raise BoundaryError("FeatureCollection 缺少 features 数组 (no features array)")
        return feats
    if kind == "Feature":
        return [data]
    if kind in DRAWN or kind in IGNORED:
        return [{"type": "Feature", "properties": {}, "geometry": data}]
    raise BoundaryError(f"不支持的 GeoJSON 类型 (unsupported GeoJSON type): {kind!r}")


def _check_crs(data: dict[str, Any], warnings: list[str]) -> None:
    crs = data.get("crs")
    if crs is None:
        return
    name = ""
    if isinstance(crs, dict):
        name = str((crs.get("properties") or {}).get("name") or "")
    low = name.lower().replace(" ", "")
    if GCJ_HINT.search(name):
        warnings.append(f"crs {name!r} 指向 GCJ-02/BD-09 偏移坐标 (looks like GCJ-02/BD-09); "
                        "请转换为 WGS84")
        return
    if not any(w.replace(" ", "") in low for w in WGS84_NAMES):
        raise BoundaryError(f"坐标系必须是 WGS84 (crs must be WGS84/CRS84/EPSG:4326), "
                            f"got {name or crs!r}")


def _position(pos: Any, where: str) -> tuple[float, float]:
    if not isinstance(pos, list | tuple) or len(pos) < 2:
        raise BoundaryError(f"{where}: 坐标必须是 [经度, 纬度] (position must be [lon, lat])")
    lon, lat = pos[0], pos[1]
    for v in (lon, lat):
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise BoundaryError(f"{where}: 坐标不是有限数值 (not a finite number): {pos!r}")
    if -90 <= lon <= 90 and 90 < abs(lat) <= 180:
        raise BoundaryError(f"{where}: 坐标顺序颠倒: GeoJSON 是 [经度, 纬度] (position looks "
                            f"like [lat, lon]; GeoJSON is [lon, lat]): {pos!r}")
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise BoundaryError(f"{where}: 坐标超出经纬度范围 (outside ±180/±90: projected metres? "
                            f"convert to WGS84 degrees): {pos!r}")
    return float(lon), float(lat)


def _lines(geom: Any, where: str) -> list[list[tuple[float, float]]]:
    """The geometry's polylines (polygon rings included) as lists of (lon, lat)."""
    if not isinstance(geom, dict):
        raise BoundaryError(f"{where}: geometry 必须是对象 (geometry must be an object)")
    kind, coords = geom.get("type"), geom.get("coordinates")
    if kind in IGNORED:
        return []
    if kind not in DRAWN:
        raise BoundaryError(f"{where}: 不支持的几何类型 (unsupported geometry type) {kind!r}")
    depth = {"LineString": 1, "MultiLineString": 2, "Polygon": 2, "MultiPolygon": 3}[kind]

    def walk(node: Any, level: int) -> list[list[tuple[float, float]]]:
        if not isinstance(node, list):
            raise BoundaryError(f"{where}: {kind} 的 coordinates 结构不对 (malformed coordinates)")
        if level == 1:
            line = [_position(p, where) for p in node]
            if len(line) < 2:
                raise BoundaryError(f"{where}: 线或环至少两个点 (a line needs 2+ positions)")
            return [line]
        out: list[list[tuple[float, float]]] = []
        for child in node:
            out += walk(child, level - 1)
        return out

    return walk(coords, depth)


def _thin(line: list[tuple[float, float]]) -> list[tuple[float, float]]:
    kept = [line[0]]
    for lon, lat in line[1:-1]:
        if abs(lon - kept[-1][0]) + abs(lat - kept[-1][1]) >= THIN_DEG:
            kept.append((lon, lat))
    kept.append(line[-1])
    return kept


def _code(props: dict[str, Any]) -> str | None:
    raw = props.get("code", props.get("adcode"))
    text = str(raw) if raw is not None else ""
    if text.isdigit() and len(text) in (6, 9, 12):
        return text.ljust(12, "0")
    return None


def parse_boundaries(data: Any, source: str = "") -> Boundaries:
    """Validate parsed GeoJSON and keep its outlines (see the module docstring)."""
    warnings: list[str] = []
    feats = _features(data)
    _check_crs(data, warnings)
    if GCJ_HINT.search(str(data.get("name") or "")) or GCJ_HINT.search(Path(source).name):
        warnings.append("文件名称提示 GCJ-02/BD-09 偏移坐标 (name suggests GCJ-02/BD-09); "
                        "边界会与社区位置错开数百米")
    outlines: list[Outline] = []
    datav = 0
    for i, feat in enumerate(feats):
        where = f"feature {i}"
        if not isinstance(feat, dict) or feat.get("type") != "Feature":
            raise BoundaryError(f"{where}: 不是 Feature (not a Feature)")
        props = feat.get("properties") or {}
        if not isinstance(props, dict):
            raise BoundaryError(f"{where}: properties 必须是对象 (properties must be an object)")
        name = str(props.get("name") or props.get("NAME") or props.get("名称") or "")
        if name:
            where += f" ({name})"
        if "adcode" in props and ({"acroutes", "childrenNum", "centroid"} & set(props)):
            datav += 1
        if feat.get("geometry") is None:
            continue
        lines = [_thin(line) for line in _lines(feat["geometry"], where)]
        if not lines:
            continue
        lon: list[float] = []
        lat: list[float] = []
        for line in lines:
            lon += [p[0] for p in line] + [math.nan]
            lat += [p[1] for p in line] + [math.nan]
        alon, alat = np.array(lon), np.array(lat)
        bbox = (float(np.nanmin(alon)), float(np.nanmax(alon)),
                float(np.nanmin(alat)), float(np.nanmax(alat)))
        outlines.append(Outline(name, _code(props), alon, alat, bbox))
    if not outlines:
        raise BoundaryError("文件中没有面或线 (no Polygon, MultiPolygon or line features)")
    if not any(_in_china(o.lon, o.lat) for o in outlines):
        if any(_in_china(o.lat, o.lon) for o in outlines):
            raise BoundaryError("坐标顺序颠倒: GeoJSON 是 [经度, 纬度] (positions look like "
                                "[lat, lon]; GeoJSON is [lon, lat])")
        raise BoundaryError("没有坐标落在中国范围内 (no position inside China: wrong "
                            "coordinate system?)")
    if datav:
        warnings.append(f"{datav} 个要素带有 DataV.GeoAtlas 属性 (adcode/acroutes): 这类数据"
                        "来自高德, 是 GCJ-02 坐标 (DataV exports are GCJ-02); 请转换为 WGS84")
    return Boundaries(tuple(outlines), tuple(warnings), source)


def _in_china(lon: np.ndarray, lat: np.ndarray) -> bool:
    ok = ((lon >= CHINA[0]) & (lon <= CHINA[1]) & (lat >= CHINA[2]) & (lat <= CHINA[3]))
    return bool(np.any(ok))
