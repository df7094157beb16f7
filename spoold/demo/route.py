"""The demo route: a real street polyline in Bengaluru, driven at a steady speed.

Public API: :data:`ROUTE`, :data:`SPEED_MPS`, :func:`route_position`, :class:`TrackPoint`.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

__all__ = ["ROUTE", "SPEED_MPS", "TrackPoint", "route_position"]

#: MG Road → Brigade Road → Residency Road, Bengaluru (lat, lon); ~1.7 km.
ROUTE: tuple[tuple[float, float], ...] = (
    (12.97560, 77.60500),
    (12.97540, 77.60900),
    (12.97510, 77.61300),
    (12.97380, 77.61500),
    (12.97150, 77.61560),
    (12.96900, 77.61600),
)
SPEED_MPS = 10.0  # 36 km/h
EARTH_R = 6_371_000.0


def _haversine(a: tuple[float, float], b: tuple[float, float]) -> float:
    la1, lo1, la2, lo2 = map(math.radians, (*a, *b))
    h = (
        math.sin((la2 - la1) / 2) ** 2
        + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    )
    return 2 * EARTH_R * math.asin(math.sqrt(h))


def _bearing(a: tuple[float, float], b: tuple[float, float]) -> float:
    la1, lo1, la2, lo2 = map(math.radians, (*a, *b))
    y = math.sin(lo2 - lo1) * math.cos(la2)
    x = math.cos(la1) * math.sin(la2) - math.sin(la1) * math.cos(la2) * math.cos(lo2 - lo1)
    return (math.degrees(math.atan2(y, x)) + 360) % 360


def route_position(t: float) -> tuple[float, float, float]:
    """(lat, lon, heading) after ``t`` seconds along :data:`ROUTE` at :data:`SPEED_MPS`."""
    dist = max(0.0, t) * SPEED_MPS
    for a, b in itertools.pairwise(ROUTE):
        seg = _haversine(a, b)
        if dist <= seg or b == ROUTE[-1]:
            f = min(1.0, dist / seg) if seg else 0.0
            return (a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, _bearing(a, b))
        dist -= seg
    return (*ROUTE[-1], 0.0)  # pragma: no cover


@dataclass
class TrackPoint:
    t: float
    time_utc: str
    lat: float
    lon: float
    speed_kmh: float
    heading: float
