"""GPS extraction from what dashcams really write, into :class:`schemas.metadata.GpsPoint` lists.

Public API:

- :func:`extract_gps(video, *, sidecars=(), event_json=None, start_local=None, tz=None,
  scan=True, duration_s=None, logs=None, max_speed_kmh=300) <extract_gps>` →
  :class:`GpsExtraction` (``source``, ``points``, ``file``, ``notes``, ``stats``).  ``source``
  is ``"none"`` and ``points`` empty when nothing carries GPS; ``notes`` then say what was
  looked at, where, and why it gave nothing.
- :func:`find_sidecars(video) <find_sidecars>` — sidecar files next to a clip: ``<stem>.gps`` /
  ``<stem>.nmea`` and BlackVue's per-recording ``<date>_<time>_<type>.gps``.
- :func:`find_logs(video, *, days, root=None) <find_logs>` — per-day ``.dat`` logs and GPX /
  NMEA logs near a clip, matched to it by time (:mod:`spoold.workers.gps_logs`).
- :func:`find_event_json(video) <find_event_json>` — Tesla's ``event.json`` beside a clip.
- :func:`container_duration(video) <container_duration>` — the clip's length from ``mvhd``;
  :func:`clip_days(start_local, duration_s) <clip_days>` — the camera days a clip spans.
- :func:`parse_tz(text) <parse_tz>` — ``"UTC"``, ``"+05:30"`` or an IANA name → ``tzinfo``.
- Per-format readers, used by :func:`extract_gps` and usable alone: :func:`read_nmea_text`,
  :func:`read_70mai_box`, :func:`parse_freegps_block`, :func:`read_tesla_event`,
  :func:`read_gpmf`, :func:`parse_daylog`, :func:`parse_gpx`; :func:`drop_outliers`.

Sources, in the order they are tried (the first that yields a fix wins):

==================== ==========================================================================
``nmea-sidecar``     BlackVue ``.gps`` (``[epoch-ms]$GPRMC...`` lines) or plain ``.nmea`` files
``blackvue-gps-box`` BlackVue: top-level ``free`` box holding a ``gps `` box of NMEA lines
``70mai``            70mai: top-level ``GPS `` box of 36-byte records (time = file name + offset)
``freegps``          Novatek (Viofo...): ``moov/gps `` index → ``freeGPS `` blocks (binary,
                     Rexing V1-4K scaled, "Type 2" float64, Nextbase 512G records or NMEA
                     layout); without the index, a scan for ``freeGPS `` signatures;
                     ``freegps-camera-clock`` for INNOVV blocks (records without time:
                     file-name start + block second)
``gpmf``             GoPro ``gpmd`` track: GPS9, GPS5, the Karma GPRI/GLPI forms
``nmea-embedded``    NMEA sentences anywhere in the file (text/subtitle tracks), by a scan
``daylog``           HiSilicon per-day ``gps/YYYYMMDD.dat``: the fixes of the clip's window
``gpx``/``nmea-log`` ``.gpx`` / ``.nmea`` / ``.log`` files near the clip, matched by time
``tesla-event-json`` Tesla ``event.json`` ``est_lat``/``est_lon`` (one point; strings, maybe "")
==================== ==========================================================================

Whatever the source, fixes implying more than ``max_speed_kmh`` (their own speed, or the
distance from the previous fix) are dropped and counted (``stats["outliers"]`` and a note).

Times: fixes carry UTC from the GPS itself, except 70mai, INNOVV ``freeGPS``, Tesla and
per-day logs, whose records hold (or are timed by) the camera's local wall clock; those are converted with ``tz`` (default: taken
as UTC, and a note says so).  ``GpsPoint.t`` (seconds from the clip start) comes from the
format's own timing: BlackVue's ms prefix, the Novatek block index (one block per second), the
70mai record offset, the GPMF payload times; for plain NMEA and logs it is the fix time minus
the clip start (``start_local`` in ``tz``), else minus the first fix.  Logs need the clip's
window: ``start_local`` and ``duration_s`` (default: the container's ``mvhd`` duration).

Where each part lives: :mod:`spoold.workers.gps_sidecar` (sidecars, ``event.json``),
:mod:`spoold.workers.gps_container` (the readers inside the MP4/MOV file and the scan),
:mod:`spoold.workers.gps_freegps` (Novatek ``freeGPS`` blocks), :mod:`spoold.workers.gps_gpmf`
(GoPro telemetry), :mod:`spoold.workers.gps_logs` (logs matched by time),
:mod:`spoold.workers.gps_track` (the result, time zones, point checks, outliers, NMEA text →
points); this module orders them and re-exports their public names.
Runs on Python 3.10.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta, tzinfo
from pathlib import Path

from spoold.workers.gps_container import (
    container_duration,
    read_70mai_box,
    read_container,
    read_gpmf,
)
from spoold.workers.gps_freegps import parse_freegps_block
from spoold.workers.gps_logs import LogSearch, find_logs, parse_daylog, parse_gpx, read_logs
from spoold.workers.gps_sidecar import (
    find_event_json,
    find_sidecars,
    read_event,
    read_sidecars,
    read_tesla_event,
    sidecar_names,
)
from spoold.workers.gps_track import (
    MAX_SPEED_KMH,
    ClipClock,
    GpsExtraction,
    drop_outliers,
    parse_tz,
    read_nmea_text,
)

__all__ = [
    "GpsExtraction",
    "LogSearch",
    "clip_days",
    "container_duration",
    "drop_outliers",
    "extract_gps",
    "find_event_json",
    "find_logs",
    "find_sidecars",
    "parse_daylog",
    "parse_freegps_block",
    "parse_gpx",
    "parse_tz",
    "read_70mai_box",
    "read_gpmf",
    "read_nmea_text",
    "read_tesla_event",
]

#: Clip length assumed for log matching when neither the caller nor the container knows it.
DEFAULT_DURATION_S = 60.0


def clip_days(start_local: datetime, duration_s: float | None) -> list[date]:
    """The camera-clock days a clip starting at ``start_local`` spans (per-day log names)."""
    end = start_local + timedelta(seconds=duration_s or DEFAULT_DURATION_S)
    days = [start_local.date()]
    if end.date() != days[0]:
        days.append(end.date())
    return days


def extract_gps(
    video: Path | None,
    *,
    sidecars: Sequence[Path] = (),
    event_json: Path | None = None,
    start_local: datetime | None = None,
    tz: tzinfo | None = None,
    scan: bool = True,
    duration_s: float | None = None,
    logs: LogSearch | None = None,
    max_speed_kmh: float = MAX_SPEED_KMH,
) -> GpsExtraction:
    """Find the GPS track of one clip; see the module docstring for the sources and times.

    ``start_local`` is the clip start on the camera's wall clock (from its file name), ``tz``
    the camera's time zone, ``logs`` the nearby logs (:func:`find_logs`) to match by time.
    Never raises for odd content: it reports it in ``notes``.
    """
    out = GpsExtraction()
    clock = ClipClock(start_local=start_local, tz=tz)
    if not _found(out, video, sidecars, event_json, clock, scan, duration_s, logs):
        out.source, out.points = "none", []
        out.notes.append(_looked_for(video, logs))
        return out
    kept, dropped = drop_outliers(out.points, max_speed_kmh)
    if dropped["speed"] or dropped["jump"]:
        out.points = kept
        out.stats = {**out.stats, "outliers": dropped}
        out.notes.append(
            f"dropped {dropped['speed'] + dropped['jump']} outlier fix(es): "
            f"{dropped['speed']} with a speed over {max_speed_kmh:g} km/h, "
            f"{dropped['jump']} out of reach of the previous fix"
        )
        if not kept:
            out.source = "none"
    return out


def _found(
    out: GpsExtraction,
    video: Path | None,
    sidecars: Sequence[Path],
    event_json: Path | None,
    clock: ClipClock,
    scan: bool,
    duration_s: float | None,
    logs: LogSearch | None,
) -> bool:
    """Try the sources in order; True when one answered ``out``."""
    if read_sidecars(out, sidecars, clock):
        return True
    if video is not None:
        read_container(out, video, clock, scan=scan)
        if out.points:
            return True
    if logs is not None:
        if duration_s is None and video is not None:
            duration_s = container_duration(video)
        if duration_s is None:
            out.notes.append(f"clip length unknown: logs matched over {DEFAULT_DURATION_S:g} s")
        if read_logs(out, logs, clock, duration_s or DEFAULT_DURATION_S):
            return True
    return event_json is not None and read_event(out, event_json, clock)


def _looked_for(video: Path | None, logs: LogSearch | None) -> str:
    """One note saying every place GPS was looked for."""
    parts: list[str] = []
    if video is not None:
        parts.append(f"sidecars {', '.join(sidecar_names(video))} beside {video.name}")
        parts.append(f"GPS boxes/tracks inside {video.name}")
    if logs is not None:
        parts.append(logs.looked + (" (too many files: first ones read)" if logs.capped else ""))
    elif video is not None:
        parts.append("no GPS logs (none searched: the clip start is unknown)")
    return "no GPS found; looked for " + "; ".join(parts) if parts else "no GPS source found"
