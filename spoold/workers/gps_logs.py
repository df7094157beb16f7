"""GPS logs kept beside the clips and matched to a clip by time: per-day ``.dat``, GPX, NMEA.

Public API:

- :func:`parse_daylog(text) <parse_daylog>` → :class:`DayLog`: a HiSilicon per-day log
  (``gps/YYYYMMDD.dat``), one fix a line ``YYYYMMDDhhmmss,ddmm.mmmmm,N,dddmm.mmmmm,E,knots,
  course`` in the camera's wall clock, a ``#`` line at each camera start.
- :func:`parse_gpx(text) <parse_gpx>` → fixes (UTC) of every ``trkpt``/``rtept``/``wpt`` with
  a time; :class:`GpsLogError` when the text is not GPX.
- :func:`find_logs(video, *, days, root=None) <find_logs>` → :class:`LogSearch`: the log files
  a clip of ``days`` may have its GPS in, and a sentence saying where they were looked for
  (folders relative to ``root``, the storage root, when given).
- :func:`read_logs(out, search, clock, duration_s) <read_logs>` — the first log with fixes in
  the clip's window answers ``out`` (sources ``daylog``, ``gpx``, ``nmea-log``); the others
  leave a note.  True when found.

Where logs are looked for: the clip's folder and up to two folders above it (never above
``root``), each itself and its ``gps``/``GPS`` subfolder: ``YYYYMMDD.dat`` of the clip's day
(and of the next day for a clip running past midnight), ``*.gpx``, ``*.nmea`` and ``*.log``
(at most :data:`MAX_LOG_FILES` files of at most :data:`MAX_LOG_BYTES` each).

Times: ``.dat`` fixes are the camera's wall clock, like the clip's name, so they are matched
in local time and converted with the camera's time zone; GPX and NMEA carry UTC and are
matched against the clip start in UTC (the file-name time taken as UTC, with a note, when the
zone is unknown).  A fix belongs to the clip when it lies in [start, start + duration].
Runs on Python 3.10.
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from schemas.metadata import GpsPoint
from spoold.workers.gps_track import ClipClock, GpsExtraction, local_to_utc, make_point
from spoold.workers.nmea import KNOTS_TO_KMH, Fix, parse_nmea

__all__ = [
    "MAX_LOG_BYTES",
    "MAX_LOG_FILES",
    "DayLog",
    "GpsLogError",
    "LogSearch",
    "find_logs",
    "parse_daylog",
    "parse_gpx",
    "read_logs",
]

MAX_LOG_FILES = 64
MAX_LOG_BYTES = 32 * 1024 * 1024
LOG_SUFFIXES = (".gpx", ".nmea", ".log")
_GPS_DIRS = ("gps", "GPS", "Gps")
_DAT_LINE = re.compile(
    r"(\d{14}),(\d{1,5}(?:\.\d+)?),([NS]),(\d{1,5}(?:\.\d+)?),([EW]),"
    r"(-?\d+(?:\.\d+)?)?,?(-?\d+(?:\.\d+)?)?"
)


class GpsLogError(ValueError):
    """A log file that is not what its name says (not GPX, not a per-day log)."""


@dataclass
class DayLog:
    """A parsed per-day log: fixes on the camera's wall clock (naive), and counters."""

    fixes: list[Fix] = field(default_factory=list)
    starts: int = 0  # "#" lines: camera starts
    bad_lines: int = 0

    def summary(self) -> dict[str, int]:
        return {"fixes": len(self.fixes), "starts": self.starts, "bad_lines": self.bad_lines}


def _ddmm(value: str, hemi: str, limit: int) -> float | None:
    raw = float(value)
    deg = int(raw // 100)
    minutes = raw - deg * 100
    if minutes >= 60 or deg + minutes / 60 > limit:
        return None
    result = deg + minutes / 60
    return -result if hemi in "SW" else result


def parse_daylog(text: str) -> DayLog:
    """A HiSilicon ``YYYYMMDD.dat`` log → :class:`DayLog` (times naive: camera wall clock)."""
    log = DayLog()
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            log.starts += 1
            continue
        m = _DAT_LINE.fullmatch(line)
        fix = _dat_fix(m) if m else None
        if fix is None:
            log.bad_lines += 1
            continue
        log.fixes.append(fix)
    log.fixes.sort(key=lambda f: f.time)
    return log


def _dat_fix(m: re.Match[str]) -> Fix | None:
    try:
        when = datetime.strptime(m[1], "%Y%m%d%H%M%S")
    except ValueError:
        return None
    lat, lon = _ddmm(m[2], m[3], 90), _ddmm(m[4], m[5], 180)
    if lat is None or lon is None:
        return None
    knots = float(m[6]) if m[6] else None
    course = float(m[7]) if m[7] else None
    return Fix(
        time=when,
        lat=lat,
        lon=lon,
        speed_kmh=knots * KNOTS_TO_KMH if knots is not None and knots >= 0 else None,
        heading=course % 360 if course is not None and 0 <= course <= 720 else None,
    )


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _child_text(el: ET.Element, name: str) -> str | None:
    for c in el:
        if _local(c.tag) == name:
            return (c.text or "").strip()
    return None


def _float(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


# xsd:dateTime as GPX writers use it (any number of fraction digits, which Python 3.10's
# fromisoformat does not take): 2024-01-12T07:11:19.5Z, ...+11:00, or no zone (= UTC).
_ISO_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:([Zz])|([+-])(\d{2}):?(\d{2}))?"
)


def _iso_utc(value: str) -> datetime | None:
    m = _ISO_RE.fullmatch(value.strip())
    if m is None:
        return None
    try:
        y, mo, d, h, mi, sec = (int(m[i]) for i in range(1, 7))
        when = datetime(y, mo, d, h, mi, sec, tzinfo=timezone.utc)
        if m[7]:
            when += timedelta(seconds=float("0." + m[7]))
        if m[9]:
            offset = timedelta(hours=int(m[10]), minutes=int(m[11]))
            when -= offset if m[9] == "+" else -offset
    except (OverflowError, ValueError):
        return None
    return when


def parse_gpx(text: str) -> list[Fix]:
    """GPX 1.0/1.1 text → the fixes with a valid position and time (UTC), sorted by time.

    Raises :class:`GpsLogError` when the text is not GPX (or carries a DTD: entity
    expansion is refused).
    """
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise GpsLogError("GPX with a DTD/entities is refused")
    try:
        root = ET.fromstring(text)
    except (ET.ParseError, ValueError) as exc:
        raise GpsLogError(f"not XML: {exc}") from None
    if _local(root.tag) != "gpx":
        raise GpsLogError(f"XML root is <{_local(root.tag)}>, not <gpx>")
    fixes: list[Fix] = []
    for el in root.iter():
        if _local(el.tag) not in ("trkpt", "rtept", "wpt"):
            continue
        lat, lon = _float(el.get("lat")), _float(el.get("lon"))
        when_text = _child_text(el, "time")
        when = _iso_utc(when_text) if when_text else None
        if lat is None or lon is None or when is None:
            continue
        speed = _float(_child_text(el, "speed"))  # GPX 1.0: m/s
        fixes.append(
            Fix(
                time=when,
                lat=lat,
                lon=lon,
                speed_kmh=speed * 3.6 if speed is not None else None,
                heading=_float(_child_text(el, "course")),
                altitude_m=_float(_child_text(el, "ele")),
            )
        )
    fixes.sort(key=lambda f: f.time)
    return fixes


# ------------------------------------------------------------------------ finding logs


@dataclass
class LogSearch:
    """Log files found for one clip, and where they were looked for (for the notes)."""

    files: list[Path] = field(default_factory=list)
    looked: str = ""
    capped: bool = False


def _within(path: Path, root: Path | None) -> bool:
    if root is None:
        return True
    try:
        Path(os.path.realpath(path)).relative_to(os.path.realpath(root))
    except ValueError:
        return False
    return True


def _search_dirs(video: Path, root: Path | None) -> list[Path]:
    dirs: list[Path] = []
    here = video.parent
    for _ in range(3):
        if not _within(here, root):
            break
        dirs.append(here)
        for sub in _GPS_DIRS:
            if (here / sub).is_dir():
                dirs.append(here / sub)
        if here.parent == here:
            break
        here = here.parent
    return list(dict.fromkeys(dirs))


def _shown(folder: Path, root: Path | None) -> str:
    """``folder`` as the notes show it: relative to the storage root when there is one."""
    if root is None:
        return str(folder)
    rel = Path(os.path.realpath(folder)).relative_to(os.path.realpath(root)).as_posix()
    return f"{rel}/" if rel != "." else "./ (the storage root)"


def find_logs(video: Path, *, days: Sequence[date], root: Path | None = None) -> LogSearch:
    """Per-day logs of ``days`` and GPX/NMEA logs near ``video`` (see the module doc)."""
    dat_names = {f"{d:%Y%m%d}.dat".lower() for d in days}
    dirs = _search_dirs(video, root)
    found: list[Path] = []
    for d in dirs:
        try:
            entries = sorted(os.scandir(d), key=lambda e: e.name)
        except OSError:
            continue
        for e in entries:
            low = e.name.lower()
            if not (low in dat_names or low.endswith(LOG_SUFFIXES)):
                continue
            p = Path(e.path)
            if p.stem == video.stem:
                continue  # <stem>.nmea & co are the clip's own sidecars, read before
            try:
                if e.is_file() and e.stat().st_size <= MAX_LOG_BYTES:
                    found.append(p)
            except OSError:
                continue
    names = ", ".join(sorted(dat_names)) or "YYYYMMDD.dat"
    where = ", ".join(_shown(d, root) for d in dirs) or "(no folder inside the storage root)"
    looked = f"per-day logs {names} and *.gpx/*.nmea/*.log in {where}"
    return LogSearch(found[:MAX_LOG_FILES], looked, capped=len(found) > MAX_LOG_FILES)


# ------------------------------------------------------------------------ matching


def _window(
    fixes: Sequence[Fix], start: datetime, end: datetime, to_utc: bool, clock: ClipClock
) -> list[GpsPoint]:
    points: list[GpsPoint] = []
    for f in fixes:
        if not start <= f.time <= end:
            continue
        when = local_to_utc(f.time, clock.tz) if to_utc else f.time
        p = make_point(
            when,
            f.lat,
            f.lon,
            t=(f.time - start).total_seconds(),
            speed_kmh=f.speed_kmh,
            heading=f.heading,
            altitude_m=f.altitude_m,
            fix=f.fix,
        )
        if p is not None:
            points.append(p)
    return points


def _parse(path: Path, text: str) -> tuple[str, list[Fix], bool, dict[str, int]]:
    """(source, fixes, fixes are local wall clock, counters) of one log file."""
    low = path.name.lower()
    if low.endswith(".dat"):
        log = parse_daylog(text)
        return "daylog", log.fixes, True, log.summary()
    if low.endswith(".gpx"):
        fixes = parse_gpx(text)
        return "gpx", fixes, False, {"fixes": len(fixes)}
    res = parse_nmea(text)
    return "nmea-log", res.fixes, False, res.summary()


def read_logs(out: GpsExtraction, search: LogSearch, clock: ClipClock, duration_s: float) -> bool:
    """Answer ``out`` from the first log with fixes in the clip's window; notes for the rest."""
    if clock.start_local is None:
        if search.files:
            out.notes.append(
                f"{len(search.files)} GPS log(s) nearby, but the clip start is unknown (no time "
                "in its name): logs are matched by time"
            )
        return False
    start_local = clock.start_local
    start_utc = local_to_utc(start_local, clock.tz)
    span = timedelta(seconds=max(duration_s, 0.0))
    for path in search.files:
        try:
            text = path.read_bytes().decode("utf-8", errors="replace")
            source, fixes, local, stats = _parse(path, text)
        except OSError as exc:
            out.notes.append(f"{path.name}: unreadable log ({exc.strerror})")
            continue
        except GpsLogError as exc:
            out.notes.append(f"{path.name}: not a GPS log ({exc})")
            continue
        start = start_local if local else start_utc
        points = _window(fixes, start, start + span, local, clock)
        if points:
            out.take(source, points, path.name, {**stats, "in_window": len(points)})
            if clock.tz is None:
                out.notes.append("camera time zone unknown: file-name time taken as UTC")
            return True
        if fixes:
            out.notes.append(
                f"{path.name}: {len(fixes)} fixes, none in the clip's "
                f"{start:%Y-%m-%d %H:%M:%S}+{duration_s:g}s"
                + (" (camera time)" if local else " UTC")
            )
        else:
            out.notes.append(f"{path.name}: no fixes ({stats})")
    return False
