"""What every GPS reader shares: the result, the clip's clock, checked points, NMEA → points.

Public API:

- :class:`GpsExtraction` — what :func:`spoold.workers.gps.extract_gps` found: ``source``
  (``"none"`` until a reader succeeds), ``points``, ``file``, ``notes`` (what was looked at and
  why it gave nothing), ``stats`` (the successful reader's counters);
  :meth:`GpsExtraction.take` records a reader's success, :meth:`GpsExtraction.gps_start` the
  clip start by the receiver's clock (None for :data:`CAMERA_CLOCK_SOURCES`).
- :class:`ClipClock` — the clip start on the camera's wall clock and the camera's time zone;
  ``start_utc`` (only when both are known) and ``default_day`` (for undated NMEA seconds).
- :func:`parse_tz(text) <parse_tz>` — ``"UTC"``, ``"+05:30"`` or an IANA name → ``tzinfo``.
- :func:`local_to_utc(local, tz) <local_to_utc>` — camera wall clock → UTC (no ``tz``: UTC).
- :func:`finite(*values) <finite>` — every value is ``None`` or a finite float.
- :func:`make_point(when, lat, lon, *, t, ...) <make_point>` → :class:`~schemas.metadata.GpsPoint`
  or ``None``: drops non-finite or out-of-range positions, rounds every field the same way for
  all readers, keeps only non-negative speed, ``t`` and fix quality.
- :func:`point_from_fix(fix, t) <point_from_fix>` — the same for a parsed NMEA/freeGPS
  :class:`~spoold.workers.nmea.Fix`.
- :func:`read_nmea_text(text, *, clip_start_utc=None, default_date=None) <read_nmea_text>` —
  NMEA text (sidecar, box or scan result) → points and the parser's counters; ``t`` from the
  BlackVue ``[epoch-ms]`` prefix, else from ``clip_start_utc``, else from the first fix.
- :func:`drop_outliers(points, max_kmh=MAX_SPEED_KMH) <drop_outliers>` → ``(kept, counts)``:
  fixes whose own speed, or whose distance from the previous kept fix, means more than
  ``max_kmh`` are dropped; ``counts`` says how many for each reason.
- :func:`distance_m(a, b) <distance_m>` — great-circle distance of two points in metres.

Runs on Python 3.10.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import Any

from schemas.metadata import GpsPoint
from spoold.workers.nmea import Fix, parse_nmea

__all__ = [
    "CAMERA_CLOCK_SOURCES",
    "MAX_SPEED_KMH",
    "ClipClock",
    "GpsExtraction",
    "distance_m",
    "drop_outliers",
    "finite",
    "local_to_utc",
    "make_point",
    "parse_tz",
    "point_from_fix",
    "read_nmea_text",
]


#: Sources whose fix times are the camera's wall clock (converted with its time zone), not
#: time from the GPS receiver: a start derived from them is only as good as the clock.
CAMERA_CLOCK_SOURCES = frozenset({"70mai", "daylog", "freegps-camera-clock", "tesla-event-json"})


@dataclass
class GpsExtraction:
    """What :func:`~spoold.workers.gps.extract_gps` found."""

    source: str = "none"
    points: list[GpsPoint] = field(default_factory=list)
    file: str | None = None
    notes: list[str] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)

    def take(
        self,
        source: str,
        points: list[GpsPoint],
        file: str | None,
        stats: dict[str, Any] | None = None,
    ) -> None:
        """Record ``points`` read by ``source`` from ``file`` as the answer."""
        self.source, self.points, self.file = source, points, file
        if stats is not None:
            self.stats = stats

    def gps_start(self) -> datetime | None:
        """The clip start in UTC by the GPS receiver's clock (first fix time minus its ``t``);
        None without fixes, or when the source writes the camera's clock
        (:data:`CAMERA_CLOCK_SOURCES`)."""
        if self.source in CAMERA_CLOCK_SOURCES:
            return None
        first = next((p for p in self.points if p.t is not None), None)
        if first is None or first.t is None:
            return None
        return first.time - timedelta(seconds=first.t)


def parse_tz(text: str | None) -> tzinfo | None:
    """``None``/``""`` → None; ``UTC``/``Z``; ``+05:30``/``-0800``; an IANA name (zoneinfo)."""
    if not text:
        return None
    value = text.strip()
    if value.upper() in {"UTC", "Z", "GMT"}:
        return timezone.utc
    m = re.fullmatch(r"([+-])(\d{1,2}):?(\d{2})?", value)
    if m:
        minutes = int(m[2]) * 60 + int(m[3] or 0)
        if minutes > 18 * 60:
            raise ValueError(f"time zone offset {text!r} is out of range")
        return timezone(timedelta(minutes=-minutes if m[1] == "-" else minutes))
    try:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
    except ImportError:  # pragma: no cover - Python < 3.9
        raise ValueError(f"unknown time zone {text!r}") from None
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {text!r}: use UTC, an offset like +05:30, or an IANA name "
            "like Europe/Berlin"
        ) from None


def local_to_utc(local: datetime, tz: tzinfo | None) -> datetime:
    """``local`` (camera wall clock, or already aware) in UTC; an unknown ``tz`` counts as UTC."""
    if local.tzinfo is not None:
        return local.astimezone(timezone.utc)
    return local.replace(tzinfo=tz or timezone.utc).astimezone(timezone.utc)


@dataclass(frozen=True)
class ClipClock:
    """When the clip started on the camera's wall clock, and the camera's time zone."""

    start_local: datetime | None = None
    tz: tzinfo | None = None

    @property
    def start_utc(self) -> datetime | None:
        """The clip start in UTC, only when both the start and the time zone are known."""
        return local_to_utc(self.start_local, self.tz) if self.start_local and self.tz else None

    @property
    def default_day(self) -> date | None:
        """The date NMEA seconds without one of their own fall back to."""
        return self.start_local.date() if self.start_local else None


def finite(*values: float | None) -> bool:
    """True when every value is None or a finite number."""
    return all(v is None or math.isfinite(v) for v in values)


def make_point(
    when: datetime,
    lat: float,
    lon: float,
    *,
    t: float | None,
    speed_kmh: float | None = None,
    heading: float | None = None,
    altitude_m: float | None = None,
    fix: int | None = None,
) -> GpsPoint | None:
    """A rounded :class:`GpsPoint`, or None when a value is not finite or out of range."""
    if not finite(lat, lon, t, speed_kmh, heading, altitude_m):
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    if heading is not None:
        heading = heading % 360
        if heading >= 360:  # float rounding of values just below 360
            heading = 0.0
    return GpsPoint(
        time=when,
        lat=round(lat, 7),
        lon=round(lon, 7),
        speed_kmh=round(speed_kmh, 3) if speed_kmh is not None and speed_kmh >= 0 else None,
        heading=round(heading, 2) % 360 if heading is not None else None,
        altitude_m=round(altitude_m, 2) if altitude_m is not None else None,
        fix=fix if fix is None or fix >= 0 else None,
        t=round(t, 3) if t is not None and t >= 0 else None,
    )


def point_from_fix(fix: Fix, t: float | None) -> GpsPoint | None:
    """:func:`make_point` of a parsed fix at ``t`` seconds into the clip."""
    return make_point(
        fix.time,
        fix.lat,
        fix.lon,
        t=t,
        speed_kmh=fix.speed_kmh,
        heading=fix.heading,
        altitude_m=fix.altitude_m,
        fix=fix.fix,
    )


def _points_from_fixes(
    fixes: Sequence[Fix], *, first_ms: int | None, clip_start_utc: datetime | None
) -> list[GpsPoint]:
    points: list[GpsPoint] = []
    first_time = fixes[0].time if fixes else None
    for f in fixes:
        if first_ms is not None and f.ms is not None:
            t: float | None = (f.ms - first_ms) / 1000
        elif clip_start_utc is not None:
            t = (f.time - clip_start_utc).total_seconds()
        elif first_time is not None:
            t = (f.time - first_time).total_seconds()
        else:
            t = None
        p = point_from_fix(f, t)
        if p is not None:
            points.append(p)
    return points


_FIRST_MS_RE = re.compile(r"\[(\d{10,14})\]")


def read_nmea_text(
    text: str, *, clip_start_utc: datetime | None = None, default_date: date | None = None
) -> tuple[list[GpsPoint], dict[str, int]]:
    """NMEA text (sidecar, box or scan result) → points and the parser's counters."""
    res = parse_nmea(text, default_date=default_date)
    m = _FIRST_MS_RE.search(text)
    first_ms = int(m[1]) if m else None
    points = _points_from_fixes(res.fixes, first_ms=first_ms, clip_start_utc=clip_start_utc)
    return points, res.summary()


#: Faster than any car: a fix implying this speed (its own, or from the previous fix) is wrong.
MAX_SPEED_KMH = 300.0
EARTH_R = 6_371_000.0
# Below this, two fixes of the same instant are the same place seen twice, not a jump.
_SAME_PLACE_M = 30.0


def distance_m(a: GpsPoint, b: GpsPoint) -> float:
    """Great-circle (haversine) distance between two points, in metres."""
    la1, lo1, la2, lo2 = map(math.radians, (a.lat, a.lon, b.lat, b.lon))
    h = (
        math.sin((la2 - la1) / 2) ** 2
        + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    )
    return 2 * EARTH_R * math.asin(min(1.0, math.sqrt(h)))


def _jump(a: GpsPoint, b: GpsPoint, max_kmh: float) -> bool:
    """True when going from ``a`` to ``b`` needs more than ``max_kmh``."""
    dist = distance_m(a, b)
    dt = abs((b.time - a.time).total_seconds())
    if dt == 0:
        return dist > _SAME_PLACE_M
    return dist / dt * 3.6 > max_kmh


def drop_outliers(
    points: Sequence[GpsPoint], max_kmh: float = MAX_SPEED_KMH
) -> tuple[list[GpsPoint], dict[str, int]]:
    """Points without impossible speeds or jumps, and how many were dropped for each.

    A fix whose recorded speed exceeds ``max_kmh`` is dropped (``speed``).  Positions are then
    checked from an *anchor*: the first fix that its successor agrees with (so a wrong first
    fix does not condemn the track); later fixes that cannot be reached from the previous kept
    one within ``max_kmh`` are dropped (``jump``), and so are earlier ones that cannot reach
    the first kept one.
    """
    counts = {"speed": 0, "jump": 0}
    pts = sorted(points, key=lambda p: p.time)
    sane: list[GpsPoint] = []
    for p in pts:
        if p.speed_kmh is not None and p.speed_kmh > max_kmh:
            counts["speed"] += 1
        else:
            sane.append(p)
    if len(sane) < 2:
        return sane, counts
    anchor = next((i for i in range(len(sane) - 1) if not _jump(sane[i], sane[i + 1], max_kmh)), 0)
    after = [sane[anchor]]
    for p in sane[anchor + 1 :]:
        if _jump(after[-1], p, max_kmh):
            counts["jump"] += 1
        else:
            after.append(p)
    before: list[GpsPoint] = []
    for p in reversed(sane[:anchor]):
        if _jump(p, (before[-1] if before else after[0]), max_kmh):
            counts["jump"] += 1
        else:
            before.append(p)
    return before[::-1] + after, counts
