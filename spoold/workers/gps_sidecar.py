"""GPS from files beside a clip: NMEA sidecars and Tesla's ``event.json``.

Public API:

- :func:`find_sidecars(video) <find_sidecars>` — sidecar files next to a clip, most specific
  first: ``<stem>.gps`` / ``<stem>.nmea`` and BlackVue's per-recording
  ``<date>_<time>_<type>.gps`` (no channel letter).
- :func:`sidecar_names(video) <sidecar_names>` — the names :func:`find_sidecars` looks for.
- :func:`find_event_json(video) <find_event_json>` — Tesla's ``event.json`` beside a clip.
- :func:`read_tesla_event(path, *, clip_start_local, tz) <read_tesla_event>` → at most one
  point (``est_lat``/``est_lon``, strings that may be empty) and a note saying what was read.
- :func:`read_sidecars(out, sidecars, clock) <read_sidecars>` — source ``nmea-sidecar``: the
  first sidecar with a valid fix answers ``out``; the others leave a note.  True when found.
- :func:`read_event(out, event_json, clock) <read_event>` — source ``tesla-event-json``;
  True when found.

Tesla writes the camera's wall clock: it is converted with ``clock.tz``, taken as UTC (and
a note says so) when unknown.  Runs on Python 3.10.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime, tzinfo
from pathlib import Path

from schemas.metadata import GpsPoint
from spoold.workers.gps_track import (
    ClipClock,
    GpsExtraction,
    local_to_utc,
    make_point,
    read_nmea_text,
)

__all__ = [
    "find_event_json",
    "find_sidecars",
    "read_event",
    "read_sidecars",
    "read_tesla_event",
    "sidecar_names",
]

_BLACKVUE_RE = re.compile(r"^(\d{8}_\d{6})_([A-Z])([A-Z])([LS]?)$", re.IGNORECASE)


def sidecar_names(video: Path) -> list[str]:
    """The names of the sidecar GPS files ``video`` may have beside it (most specific first)."""
    names: list[str] = []
    stem = video.stem
    for ext in (".gps", ".GPS", ".nmea", ".NMEA", ".nma"):
        names.append(stem + ext)
    m = _BLACKVUE_RE.match(stem)
    if m:  # BlackVue: one .gps per recording, without the channel letter
        for ext in (".gps", ".GPS"):
            names.append(f"{m[1]}_{m[2]}{ext}")
    return list(dict.fromkeys(names))


def find_sidecars(video: Path) -> list[Path]:
    """Sidecar GPS files of ``video`` that exist beside it (most specific first)."""
    found: list[Path] = []
    for name in sidecar_names(video):
        p = video.with_name(name)
        if p.is_file() and p != video:
            found.append(p)
    return found


def find_event_json(video: Path) -> Path | None:
    """Tesla's ``event.json`` in the clip's folder, if there is one."""
    p = video.with_name("event.json")
    return p if p.is_file() else None


def read_tesla_event(
    path: Path, *, clip_start_local: datetime | None, tz: tzinfo | None
) -> tuple[list[GpsPoint], str]:
    """Tesla ``event.json`` → at most one point, and a note."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return [], f"{path.name}: unreadable Tesla event.json ({exc})"
    if not isinstance(data, dict):
        return [], f"{path.name}: not a JSON object"
    lat_s, lon_s = str(data.get("est_lat", "")).strip(), str(data.get("est_lon", "")).strip()
    if not lat_s or not lon_s:
        return [], f"{path.name}: est_lat/est_lon are empty (Tesla had no position)"
    try:
        lat, lon = float(lat_s), float(lon_s)
    except ValueError:
        return [], f"{path.name}: est_lat/est_lon {lat_s!r}/{lon_s!r} are not numbers"
    ts = str(data.get("timestamp", ""))
    try:
        local = datetime.fromisoformat(ts)
    except ValueError:
        return [], f"{path.name}: timestamp {ts!r} is not ISO 8601"
    when = local_to_utc(local, tz)
    t = None
    if clip_start_local is not None and local.tzinfo is None:
        offset = (local - clip_start_local).total_seconds()
        t = offset if offset >= 0 else None
    p = make_point(when, lat, lon, t=t)
    if p is None:
        return [], f"{path.name}: est_lat/est_lon {lat}, {lon} out of range"
    reason = data.get("reason", "")
    return [p], f"{path.name}: one estimated position (reason {reason!r})"


def read_sidecars(out: GpsExtraction, sidecars: Sequence[Path], clock: ClipClock) -> bool:
    """Answer ``out`` from the first sidecar with a valid fix; note why the others gave none."""
    for sc in sidecars:
        try:
            text = sc.read_bytes().decode("latin-1")
        except OSError as exc:
            out.notes.append(f"{sc.name}: unreadable sidecar ({exc.strerror})")
            continue
        points, stats = read_nmea_text(
            text, clip_start_utc=clock.start_utc, default_date=clock.default_day
        )
        if points:
            out.take("nmea-sidecar", points, sc.name, stats)
            return True
        out.notes.append(f"{sc.name}: no valid RMC/GGA fix ({stats})")
    return False


def read_event(out: GpsExtraction, event_json: Path, clock: ClipClock) -> bool:
    """Answer ``out`` from Tesla's ``event.json`` when it holds a position."""
    points, note = read_tesla_event(event_json, clip_start_local=clock.start_local, tz=clock.tz)
    out.notes.append(note)
    if not points:
        return False
    out.take("tesla-event-json", points, event_json.name)
    if clock.tz is None:
        out.notes.append("camera time zone unknown: event.json time taken as UTC")
    return True
