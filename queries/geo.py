"""Great-circle distances (haversine, SPEC section 3) for scalars and numpy arrays."""

from __future__ import annotations

import numpy as np

from queries.domain import CIRCLE_EPS_KM, CIRCLE_KM, EARTH_RADIUS_KM


def haversine_km(lat1, lon1, lat2, lon2):  # noqa: ANN001, ANN201 - scalars or arrays
    """Haversine distance in km on a sphere of radius 6371.0088 km; broadcasts over arrays."""
    p1 = np.radians(lat1)
    p2 = np.radians(lat2)
    dp = p2 - p1
    dl = np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.minimum(a, 1.0)))


def within_circle(distance_km):  # noqa: ANN001, ANN201
    """True where a distance counts as "within 3 km" (≤ 3.0, float noise tolerated)."""
    return np.asarray(distance_km) <= CIRCLE_KM + CIRCLE_EPS_KM
