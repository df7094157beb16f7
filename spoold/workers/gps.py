"""GPS extraction from what dashcams really write, into :class:`schemas.metadata.GpsPoint` lists.

Public API:

- :func:`extract_gps(video, *, sidecars=(), event_json=None, start_local=None, tz=None,
  scan=True) <extract_gps>` → :class:`GpsExtraction` (``source``, ``points``, ``file``,
  ``notes``).  ``source`` is ``"none"`` and ``points`` empty when nothing carries GPS; ``notes``
  then say what was looked at and why it gave nothing.
- :func:`find_sidecars(video) <find_sidecars>` — sidecar files next to a clip: ``<stem>.gps`` /
  ``<stem>.nmea`` and BlackVue's per-recording ``<date>_<time>_<type>.gps``.
- :func:`find_event_json(video) <find_event_json>` — Tesla's ``event.json`` beside a clip.
- :func:`parse_tz(text) <parse_tz>` — ``"UTC"``, ``"+05:30"`` or an IANA name → ``tzinfo``.
- Per-format readers, used by :func:`extract_gps` and usable alone: :func:`read_nmea_text`,
  :func:`read_70mai_box`, :func:`parse_freegps_block`, :func:`read_tesla_event`,
  :func:`read_gpmf`.

Sources, in the order they are tried (the first that yields a fix wins):

==================== ==========================================================================
``nmea-sidecar``     BlackVue ``.gps`` (``[epoch-ms]$GPRMC...`` lines) or plain ``.nmea`` files
``blackvue-gps-box`` BlackVue: top-level ``free`` box holding a ``gps `` box of NMEA lines
``70mai``            70mai: top-level ``GPS `` box of 36-byte records (time = file name + offset)
``freegps``          Novatek (Viofo...): ``moov/gps `` index → ``freeGPS `` blocks (binary or
                     NMEA layout); without the index, a scan for ``freeGPS `` signatures
``gpmf``             GoPro ``gpmd`` track (GPS5/GPS9), read with the ``telemetry-parser`` package
``nmea-embedded``    NMEA sentences anywhere in the file (text/subtitle tracks), by a scan
``tesla-event-json`` Tesla ``event.json`` ``est_lat``/``est_lon`` (one point; strings, maybe "")
==================== ==========================================================================

Times: fixes carry UTC from the GPS itself, except 70mai and Tesla, whose records hold only
the camera's local wall clock; those are converted with ``tz`` (default: taken as UTC, and a
note says so).  ``GpsPoint.t`` (seconds from the clip start) comes from the format's own
timing: BlackVue's ms prefix, the Novatek block index (one block per second), the 70mai record
offset, the GPMF payload times; for plain NMEA it is the fix time minus the clip start when
``start_local`` and ``tz`` are known, else minus the first fix.

Where each part lives: :mod:`spoold.workers.gps_sidecar` (sidecars, ``event.json``),
:mod:`spoold.workers.gps_container` (the readers inside the MP4/MOV file and the scan),
:mod:`spoold.workers.gps_track` (the result, time zones, point checks, NMEA text → points);
this module orders them and re-exports their public names.  Runs on Python 3.10.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo
from pathlib import Path

from spoold.workers.gps_container import (
    parse_freegps_block,
    read_70mai_box,
    read_container,
    read_gpmf,
)
from spoold.workers.gps_sidecar import (
    find_event_json,
    find_sidecars,
    read_event,
    read_sidecars,
    read_tesla_event,
)
from spoold.workers.gps_track import ClipClock, GpsExtraction, parse_tz, read_nmea_text

__all__ = [
    "GpsExtraction",
    "extract_gps",
    "find_event_json",
    "find_sidecars",
    "parse_freegps_block",
    "parse_tz",
    "read_70mai_box",
    "read_gpmf",
    "read_nmea_text",
    "read_tesla_event",
]


def extract_gps(
    video: Path | None,
    *,
    sidecars: Sequence[Path] = (),
    event_json: Path | None = None,
    start_local: datetime | None = None,
    tz: tzinfo | None = None,
    scan: bool = True,
) -> GpsExtraction:
    """Find the GPS track of one clip; see the module docstring for the sources and times.

    ``start_local`` is the clip start on the camera's wall clock (from its file name), ``tz``
    the camera's time zone.  Never raises for odd content: it reports it in ``notes``.
    """
    out = GpsExtraction()
    clock = ClipClock(start_local=start_local, tz=tz)
    if read_sidecars(out, sidecars, clock):
        return out
    if video is not None:
        read_container(out, video, clock, scan=scan)
        if out.points:
            return out
    if event_json is not None and read_event(out, event_json, clock):
        return out
    out.source, out.points = "none", []
    if not out.notes:
        out.notes.append("no GPS source found")
    return out
