"""NMEA 0183 RMC/GGA parsing, as dashcams write it (sidecar files, boxes, text tracks).

Public API:

- :func:`parse_nmea(text, *, default_date=None) <parse_nmea>` → :class:`NmeaResult`: the fixes
  (:class:`Fix`, one per UTC timestamp, RMC and GGA of the same second merged) and counters of
  what was skipped (bad checksum, no checksum, void fix, malformed).
- :func:`checksum_ok(sentence) <checksum_ok>` — XOR checksum check of one ``$...*HH`` sentence.
- :func:`nmea_sentence(body) <nmea_sentence>` — ``$body*HH`` with the checksum computed (for
  writing test and demo data).
- :func:`to_nmea_coord(value, is_lat) <to_nmea_coord>` — decimal degrees → ``ddmm.mmmm,H``.

Accepted line shapes: plain sentences; BlackVue's ``[1546344000000]$GPRMC,...`` with the
camera's epoch-milliseconds prefix (kept as :attr:`Fix.ms`, used for the date of GGA-only
seconds); any talker (GP, GN, GL, GA, BD...).  Sentences without a valid ``*HH`` checksum are
skipped, as are RMC with status ``V`` or mode ``N`` and GGA with fix quality 0.
Runs on Python 3.10; no dependencies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

__all__ = [
    "Fix",
    "NmeaResult",
    "checksum_ok",
    "nmea_sentence",
    "parse_nmea",
    "to_nmea_coord",
]

KNOTS_TO_KMH = 1.852

# One sentence, optionally preceded by a BlackVue-style [epoch-ms] prefix.
_SENTENCE_RE = re.compile(
    r"(?:\[(?P<ms>\d{10,14})\])?\s*(?P<sentence>\$(?P<talker>[A-Z]{2})(?P<kind>[A-Z]{3}),"
    r"[^$\r\n*]*(?:\*(?P<cs>[0-9A-Fa-f]{2}))?)"
)


@dataclass
class Fix:
    """One merged GPS fix (UTC)."""

    time: datetime
    lat: float
    lon: float
    speed_kmh: float | None = None
    heading: float | None = None
    altitude_m: float | None = None
    fix: int | None = None
    ms: int | None = None  # the line's [epoch-ms] prefix, when the file has one


@dataclass
class NmeaResult:
    fixes: list[Fix] = field(default_factory=list)
    sentences: int = 0
    bad_checksum: int = 0
    no_checksum: int = 0
    void: int = 0
    malformed: int = 0
    no_date: int = 0

    def summary(self) -> dict[str, int]:
        return {
            "sentences": self.sentences,
            "fixes": len(self.fixes),
            "bad_checksum": self.bad_checksum,
            "no_checksum": self.no_checksum,
            "void": self.void,
            "malformed": self.malformed,
            "no_date": self.no_date,
        }


def _xor(body: str) -> int:
    value = 0
    for ch in body.encode("ascii", errors="replace"):
        value ^= ch
    return value


def checksum_ok(sentence: str) -> bool:
    """True when ``$BODY*HH`` carries the XOR of BODY as HH."""
    if not sentence.startswith("$") or len(sentence) < 4 or sentence[-3] != "*":
        return False
    try:
        given = int(sentence[-2:], 16)
    except ValueError:
        return False
    return _xor(sentence[1:-3]) == given


def nmea_sentence(body: str) -> str:
    """``$BODY*HH`` for ``body`` without ``$`` (e.g. ``"GPRMC,..."``)."""
    return f"${body}*{_xor(body):02X}"


def to_nmea_coord(value: float, is_lat: bool) -> str:
    """Decimal degrees → ``ddmm.mmmm,N`` / ``dddmm.mmmm,E`` (4 decimals of minutes)."""
    hemi = ("N" if value >= 0 else "S") if is_lat else ("E" if value >= 0 else "W")
    v = abs(value)
    deg = int(v)
    minutes = round((v - deg) * 60, 4)
    if minutes >= 60:
        deg, minutes = deg + 1, 0.0
    width = 2 if is_lat else 3
    return f"{deg:0{width}d}{minutes:07.4f},{hemi}"


def _coord(value: str, hemi: str, is_lat: bool) -> float | None:
    if not value or hemi not in ("NS" if is_lat else "EW"):
        return None
    try:
        raw = float(value)
    except ValueError:
        return None
    deg = int(raw // 100)
    minutes = raw - deg * 100
    if minutes < 0 or minutes >= 60:
        return None
    result = deg + minutes / 60
    if result > (90 if is_lat else 180):
        return None
    return -result if hemi in "SW" else result


def _tod(value: str) -> time | None:
    m = re.fullmatch(r"(\d{2})(\d{2})(\d{2})(?:\.(\d{1,6}))?", value)
    if not m:
        return None
    hh, mm, ss = int(m[1]), int(m[2]), int(m[3])
    if hh > 23 or mm > 59 or ss > 60:
        return None
    ss = min(ss, 59)  # leap second: keep it in range
    micro = int((m[4] or "0").ljust(6, "0")[:6])
    return time(hh, mm, ss, micro)


def _date(value: str) -> date | None:
    m = re.fullmatch(r"(\d{2})(\d{2})(\d{2})", value)
    if not m:
        return None
    day, month, yy = int(m[1]), int(m[2]), int(m[3])
    year = 1900 + yy if yy >= 80 else 2000 + yy
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _float(value: str) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        return None


@dataclass
class _Partial:
    tod: time
    order: int
    day: date | None = None
    lat: float | None = None
    lon: float | None = None
    speed_kmh: float | None = None
    heading: float | None = None
    altitude_m: float | None = None
    fix: int | None = None
    ms: int | None = None
    rmc_valid: bool = False
    gga_valid: bool = False


class _Seconds:
    """The partial fixes of one text, keyed by time of day, in first-seen order."""

    def __init__(self) -> None:
        self.by_tod: dict[time, list[_Partial]] = {}
        self.ordered: list[_Partial] = []

    def get(self, tod: time, day: date | None) -> _Partial:
        """The partial of ``tod`` on ``day`` (an undated one matches any day and takes it)."""
        for cand in self.by_tod.get(tod, ()):
            if cand.day is None or day is None or cand.day == day:
                if cand.day is None:
                    cand.day = day
                return cand
        new = _Partial(tod=tod, order=len(self.ordered), day=day)
        self.by_tod.setdefault(tod, []).append(new)
        self.ordered.append(new)
        return new


def _add_rmc(fields: list[str], tod: time, seconds: _Seconds, res: NmeaResult) -> _Partial | None:
    """Merge one checksummed RMC into ``seconds``; None (and a counter) when it is unusable."""
    # $xxRMC,hhmmss.ss,A,llll.ll,a,yyyyy.yy,a,x.x,x.x,ddmmyy,x.x,a[,m[,s]]
    mode = fields[12] if len(fields) > 12 else ""
    if fields[2] != "A" or mode == "N":
        res.void += 1
        return None
    day = _date(fields[9])
    lat = _coord(fields[3], fields[4], True)
    lon = _coord(fields[5], fields[6], False)
    if lat is None or lon is None or day is None:
        res.malformed += 1
        return None
    p = seconds.get(tod, day)
    p.rmc_valid = True
    p.lat, p.lon = lat, lon
    knots = _float(fields[7])
    p.speed_kmh = knots * KNOTS_TO_KMH if knots is not None and knots >= 0 else None
    course = _float(fields[8])
    p.heading = course % 360 if course is not None else None
    return p


def _add_gga(
    fields: list[str], tod: time, ms_day: date | None, seconds: _Seconds, res: NmeaResult
) -> _Partial | None:
    """Merge one checksummed GGA into ``seconds``; None (and a counter) when it is unusable."""
    # $xxGGA,hhmmss.ss,llll.ll,a,yyyyy.yy,a,q,nn,h.h,alt,M,geoid,M,age,ref
    try:
        quality = int(fields[6] or "0")
    except ValueError:
        res.malformed += 1
        return None
    if quality == 0:
        res.void += 1
        return None
    lat = _coord(fields[2], fields[3], True)
    lon = _coord(fields[4], fields[5], False)
    if lat is None or lon is None:
        res.malformed += 1
        return None
    p = seconds.get(tod, ms_day)
    p.gga_valid = True
    if not p.rmc_valid:
        p.lat, p.lon = lat, lon
    p.fix = quality
    p.altitude_m = _float(fields[9])
    return p


def _add_sentence(m: re.Match[str], seconds: _Seconds, res: NmeaResult) -> None:
    """Count one RMC/GGA match and merge it into ``seconds`` when it is valid."""
    res.sentences += 1
    sentence = m["sentence"]
    if m["cs"] is None:
        res.no_checksum += 1
        return
    if not checksum_ok(sentence):
        res.bad_checksum += 1
        return
    fields = sentence[1:-3].split(",")
    ms = int(m["ms"]) if m["ms"] else None
    ms_day = datetime.fromtimestamp(ms / 1000, timezone.utc).date() if ms else None
    tod = _tod(fields[1]) if len(fields) > 1 else None
    if len(fields) < 10 or tod is None:
        res.malformed += 1
        return
    if m["kind"] == "RMC":
        p = _add_rmc(fields, tod, seconds, res)
    else:
        p = _add_gga(fields, tod, ms_day, seconds, res)
    if p is not None and p.ms is None:
        p.ms = ms


def _fill_dates(ordered: list[_Partial], default_date: date | None) -> None:
    """Date the undated seconds from the nearest dated neighbour (midnight rollover aware)."""
    for i, p in enumerate(ordered):
        if p.day is not None:
            continue
        neighbour = next(
            (q for q in ordered[i + 1 :] + ordered[:i][::-1] if q.day is not None), None
        )
        if neighbour is not None and neighbour.day is not None:
            day = neighbour.day
            delta = (
                datetime.combine(day, p.tod) - datetime.combine(day, neighbour.tod)
            ).total_seconds()
            if delta > 12 * 3600:
                day -= timedelta(days=1)
            elif delta < -12 * 3600:
                day += timedelta(days=1)
            p.day = day
        else:
            p.day = default_date


def _collect_fixes(ordered: list[_Partial], res: NmeaResult) -> None:
    """Positioned, dated seconds → ``res.fixes`` (one per UTC instant, sorted by time)."""
    seen: set[datetime] = set()
    for p in ordered:
        if p.lat is None or p.lon is None:
            continue
        if p.day is None:
            res.no_date += 1
            continue
        when = datetime.combine(p.day, p.tod, tzinfo=timezone.utc)
        if when in seen:
            continue
        seen.add(when)
        res.fixes.append(
            Fix(
                time=when,
                lat=p.lat,
                lon=p.lon,
                speed_kmh=p.speed_kmh,
                heading=p.heading,
                altitude_m=p.altitude_m,
                fix=p.fix,
                ms=p.ms,
            )
        )
    res.fixes.sort(key=lambda f: f.time)


def parse_nmea(text: str, *, default_date: date | None = None) -> NmeaResult:
    """Parse RMC and GGA sentences out of ``text`` (other sentences are ignored).

    Fixes are keyed by time of day and merged: position from whichever sentence is valid,
    speed/course from RMC, altitude/fix quality from GGA.  The date comes from RMC; a
    GGA-only second takes it from its ``[epoch-ms]`` prefix, else from the nearest RMC,
    else from ``default_date``; without any it is dropped (counted in ``no_date``).
    """
    res = NmeaResult()
    seconds = _Seconds()
    for m in _SENTENCE_RE.finditer(text):
        if m["kind"] in ("RMC", "GGA"):
            _add_sentence(m, seconds, res)
    _fill_dates(seconds.ordered, default_date)
    _collect_fixes(seconds.ordered, res)
    return res
