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
``start_local`` and ``tz`` are known, else minus the first fix.  Runs on Python 3.10.
"""

from __future__ import annotations

import json
import math
import os
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any, BinaryIO

from schemas.metadata import GpsPoint
from spoold.workers.mp4box import child_boxes, top_level_boxes
from spoold.workers.nmea import KNOTS_TO_KMH, Fix, parse_nmea

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

MAX_MOOV_BYTES = 64 * 1024 * 1024
MAX_BOX_TEXT = 32 * 1024 * 1024
SCAN_CHUNK = 16 * 1024 * 1024
SCAN_OVERLAP = 512
FREEGPS_MAGIC = b"freeGPS "
# Box types an MP4/MOV file may start with.
_FIRST_BOXES = {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"uuid", b"styp"}
MAI_RECORD = 36


@dataclass
class GpsExtraction:
    """What :func:`extract_gps` found."""

    source: str = "none"
    points: list[GpsPoint] = field(default_factory=list)
    file: str | None = None
    notes: list[str] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# helpers


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


def _local_to_utc(local: datetime, tz: tzinfo | None) -> datetime:
    if local.tzinfo is not None:
        return local.astimezone(timezone.utc)
    return local.replace(tzinfo=tz or timezone.utc).astimezone(timezone.utc)


def _finite(*values: float | None) -> bool:
    return all(v is None or math.isfinite(v) for v in values)


def _point(
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
    if not _finite(lat, lon, t, speed_kmh, heading, altitude_m):
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
        p = _point(
            f.time,
            f.lat,
            f.lon,
            t=t,
            speed_kmh=f.speed_kmh,
            heading=f.heading,
            altitude_m=f.altitude_m,
            fix=f.fix,
        )
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


# --------------------------------------------------------------------------------------------
# sidecars and Tesla event.json

_BLACKVUE_RE = re.compile(r"^(\d{8}_\d{6})_([A-Z])([A-Z])([LS]?)$", re.IGNORECASE)


def find_sidecars(video: Path) -> list[Path]:
    """Sidecar GPS files of ``video`` that exist beside it (most specific first)."""
    names: list[str] = []
    stem = video.stem
    for ext in (".gps", ".GPS", ".nmea", ".NMEA", ".nma"):
        names.append(stem + ext)
    m = _BLACKVUE_RE.match(stem)
    if m:  # BlackVue: one .gps per recording, without the channel letter
        for ext in (".gps", ".GPS"):
            names.append(f"{m[1]}_{m[2]}{ext}")
    found: list[Path] = []
    for name in dict.fromkeys(names):
        p = video.with_name(name)
        if p.is_file() and p != video:
            found.append(p)
    return found


def find_event_json(video: Path) -> Path | None:
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
    when = _local_to_utc(local, tz)
    t = None
    if clip_start_local is not None and local.tzinfo is None:
        offset = (local - clip_start_local).total_seconds()
        t = offset if offset >= 0 else None
    p = _point(when, lat, lon, t=t)
    if p is None:
        return [], f"{path.name}: est_lat/est_lon {lat}, {lon} out of range"
    reason = data.get("reason", "")
    return [p], f"{path.name}: one estimated position (reason {reason!r})"


# --------------------------------------------------------------------------------------------
# 70mai


def read_70mai_box(payload: bytes, *, start_utc: datetime) -> tuple[list[GpsPoint], dict[str, int]]:
    """70mai ``GPS `` box payload → points (records stop at the first empty/garbled one).

    Record (36 bytes, little endian): u32 has_record, u32 has_fix, u32 seconds from clip start,
    u32 speed km/h * 1000, char N/S, u32 latitude ddmm.mmm * 1000, char E/W, u32 longitude.
    """
    points: list[GpsPoint] = []
    stats = {"records": 0, "no_fix": 0, "invalid": 0}
    last_sec = -1
    for pos in range(0, len(payload) - MAI_RECORD + 1, MAI_RECORD):
        rec = payload[pos : pos + MAI_RECORD]
        has_record, has_fix, seconds = struct.unpack_from("<III", rec, 0)
        if has_record == 0:
            break
        stats["records"] += 1
        if has_record != 1 or seconds > 86400 or seconds < last_sec:
            stats["invalid"] += 1
            break  # garbage: stop rather than invent points
        last_sec = seconds
        if not has_fix:
            stats["no_fix"] += 1
            continue
        (speed,) = struct.unpack_from("<I", rec, 12)
        lat_ref = rec[16:17]
        (lat_raw,) = struct.unpack_from("<I", rec, 17)
        lon_ref = rec[21:22]
        (lon_raw,) = struct.unpack_from("<I", rec, 22)
        if lat_ref not in (b"N", b"S") or lon_ref not in (b"E", b"W"):
            stats["invalid"] += 1
            continue
        lat = lat_raw // 100_000 + (lat_raw % 100_000) / 60_000
        lon = lon_raw // 100_000 + (lon_raw % 100_000) / 60_000
        if lat > 90 or lon > 180 or lat_raw % 100_000 >= 60_000 or lon_raw % 100_000 >= 60_000:
            stats["invalid"] += 1
            continue
        lat = -lat if lat_ref == b"S" else lat
        lon = -lon if lon_ref == b"W" else lon
        p = _point(
            start_utc + timedelta(seconds=seconds),
            lat,
            lon,
            t=float(seconds),
            speed_kmh=speed / 1000,
        )
        if p is None:
            stats["invalid"] += 1
            continue
        points.append(p)
    return points, stats


# --------------------------------------------------------------------------------------------
# Novatek freeGPS


def parse_freegps_block(block: bytes) -> tuple[list[Fix], str]:
    """One ``freeGPS `` block (from its size field on) → fixes and the layout name.

    Layouts: ``binary`` (Viofo A119/A129/A139 family: at 0x30 six u32 H,M,S,Y,m,d, status
    ``A``, N/S, E/W, then float32 lat/lon ``ddmm.mmmm``, speed in knots, course), ``nmea``
    (Nextbase 512GW style: RMC/GGA text inside the block), ``encrypted`` (Azdome-style, byte
    0x0c = 5: not decoded) or ``unknown``.
    """
    if len(block) < 16 or block[4:12] != FREEGPS_MAGIC:
        return [], "unknown"
    if block[12] == 0x05:
        return [], "encrypted"
    if b"RMC," in block or b"GGA," in block:
        res = parse_nmea(block.decode("latin-1"))
        return res.fixes, "nmea"
    if len(block) < 92:
        return [], "unknown"
    hour, minute, second, year, month, day = struct.unpack_from("<6I", block, 48)
    status, lat_ref, lon_ref = block[72:73], block[73:74], block[74:75]
    if status != b"A":
        return [], "binary-void" if status == b"V" else "unknown"
    if lat_ref not in (b"N", b"S") or lon_ref not in (b"E", b"W"):
        return [], "unknown"
    lat_raw, lon_raw, knots, course = struct.unpack_from("<4f", block, 76)
    if year < 100:
        year += 2000
    try:
        when = datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc)
    except ValueError:
        return [], "unknown"

    def conv(raw: float) -> float:
        deg = int(raw // 100)
        return deg + (raw - deg * 100) / 60

    if not _finite(lat_raw, lon_raw, knots, course):
        return [], "unknown"
    lat, lon = conv(lat_raw), conv(lon_raw)
    if lat > 90 or lon > 180:
        return [], "unknown"
    fix = Fix(
        time=when,
        lat=-lat if lat_ref == b"S" else lat,
        lon=-lon if lon_ref == b"W" else lon,
        speed_kmh=knots * KNOTS_TO_KMH if knots >= 0 else None,
        heading=course % 360 if 0 <= course < 720 else None,
    )
    return [fix], "binary"


def _read_at(f: BinaryIO, offset: int, size: int) -> bytes:
    f.seek(offset)
    return f.read(size)


def _freegps_points(
    f: BinaryIO, offsets: Sequence[tuple[int, int]], file_size: int
) -> tuple[list[GpsPoint], dict[str, int]]:
    stats: dict[str, int] = {"blocks": len(offsets)}
    points: list[GpsPoint] = []
    for index, (offset, size) in enumerate(offsets):
        if offset < 0 or size < 16 or offset + 16 > file_size:
            stats["bad_index"] = stats.get("bad_index", 0) + 1
            continue
        block = _read_at(f, offset, min(size, 0x10000, file_size - offset))
        fixes, layout = parse_freegps_block(block)
        stats[layout] = stats.get(layout, 0) + 1
        for k, fx in enumerate(fixes):
            p = _point(
                fx.time,
                fx.lat,
                fx.lon,
                t=float(index) + (k / len(fixes) if len(fixes) > 1 else 0.0),
                speed_kmh=fx.speed_kmh,
                heading=fx.heading,
                altitude_m=fx.altitude_m,
                fix=fx.fix,
            )
            if p is not None:
                points.append(p)
    return points, stats


def _novatek_index(payload: bytes) -> list[tuple[int, int]]:
    """``moov/gps `` payload → (offset, size) of each freeGPS block.

    Layout: 4 bytes version, 4 bytes count, then big-endian u32 pairs (offset, size).
    """
    entries: list[tuple[int, int]] = []
    for pos in range(8, len(payload) - 7, 8):
        offset, size = struct.unpack_from(">II", payload, pos)
        if offset == 0 and size == 0:
            continue
        entries.append((offset, size))
    return entries


# --------------------------------------------------------------------------------------------
# GoPro GPMF (telemetry-parser)


def read_gpmf(path: Path) -> tuple[list[GpsPoint], str]:
    """GoPro GPS5/GPS9 fixes via ``telemetry-parser``; ([], reason) when there are none."""
    try:
        import telemetry_parser
    except ImportError:
        return [], (
            "GoPro GPMF track present, but the telemetry-parser package is not installed "
            "(pip install telemetry-parser) — GPS not read"
        )
    try:
        groups = telemetry_parser.Parser(str(path)).telemetry()
    except Exception as exc:  # the Rust parser raises OSError and others
        return [], f"telemetry-parser could not read the GPMF track: {exc}"
    payloads: list[dict[str, Any]] = [
        g["GPS"] for g in groups if isinstance(g, dict) and isinstance(g.get("GPS"), dict)
    ]
    payloads = [p for p in payloads if isinstance(p.get("Data"), list) and p["Data"]]
    if not payloads:
        return [], "GPMF track has no GPS5/GPS9 stream (e.g. only raw GPRI records)"
    points: list[GpsPoint] = []
    gps_epoch = datetime(2000, 1, 1, tzinfo=timezone.utc)
    for i, pay in enumerate(payloads):
        data: list[list[float]] = pay["Data"]
        scale = pay.get("Scale") or [1] * len(data[0])
        if not isinstance(scale, list):
            scale = [scale] * len(data[0])
        t0 = float(pay.get("TimestampUs", 0)) / 1e6
        if i + 1 < len(payloads):
            dur = float(payloads[i + 1].get("TimestampUs", 0)) / 1e6 - t0
        else:
            dur = 1.0
        dur = dur if 0 < dur < 5 else 1.0
        gpsu = pay.get("0x47505355")  # GPSU: UTC of the payload, epoch ms here
        fix_all = pay.get("0x47505346")  # GPSF: 0 none, 2 2D, 3 3D
        name = str(pay.get("Name", ""))
        is_gps9 = "days" in name
        for k, row in enumerate(data):
            vals = [float(v) / float(s or 1) for v, s in zip(row, scale, strict=False)]
            if len(vals) < 4:
                continue
            t = t0 + dur * k / len(data)
            fix: int | None
            if is_gps9 and len(vals) >= 9:
                when = gps_epoch + timedelta(days=vals[5], seconds=vals[6])
                fix = int(vals[8])
            elif isinstance(gpsu, (int, float)) and gpsu > 0:
                when = datetime.fromtimestamp(gpsu / 1000, timezone.utc) + timedelta(seconds=t - t0)
                fix = int(fix_all) if isinstance(fix_all, (int, float)) else None
            else:
                continue
            if fix is not None and fix < 2:
                continue
            p = _point(
                when, vals[0], vals[1], t=t, speed_kmh=vals[3] * 3.6, altitude_m=vals[2], fix=fix
            )
            if p is not None:
                points.append(p)
    if not points:
        return [], "GPMF GPS stream has no fix (GPSF < 2) or no time (GPSU)"
    return points, f"{len(points)} GPMF fixes from {len(payloads)} payloads"


# --------------------------------------------------------------------------------------------
# scanning


def _scan(f: BinaryIO, file_size: int) -> tuple[list[int], str]:
    """Offsets of ``freeGPS `` blocks (box start) and the NMEA text found anywhere."""
    free_offsets: set[int] = set()
    sentences: dict[int, str] = {}
    nmea_re = re.compile(rb"(?:\[\d{10,14}\])?\$[A-Z]{2}(?:RMC|GGA),[ -~]{0,160}")
    pos = 0
    while pos < file_size:
        f.seek(pos)
        chunk = f.read(SCAN_CHUNK + SCAN_OVERLAP)
        if not chunk:
            break
        start = 0
        while True:
            i = chunk.find(FREEGPS_MAGIC, start)
            if i < 0:
                break
            if i >= 4:
                free_offsets.add(pos + i - 4)
            start = i + 1
        for m in nmea_re.finditer(chunk):
            sentences.setdefault(pos + m.start(), m.group().decode("latin-1"))
        pos += SCAN_CHUNK
    text = "\n".join(sentences[k] for k in sorted(sentences))
    return sorted(free_offsets), text


# --------------------------------------------------------------------------------------------
# the driver


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
    clip_start_utc = _local_to_utc(start_local, tz) if start_local and tz else None
    default_day = start_local.date() if start_local else None

    for sc in sidecars:
        try:
            text = sc.read_bytes().decode("latin-1")
        except OSError as exc:
            out.notes.append(f"{sc.name}: unreadable sidecar ({exc.strerror})")
            continue
        points, stats = read_nmea_text(
            text, clip_start_utc=clip_start_utc, default_date=default_day
        )
        if points:
            out.source, out.points, out.file = "nmea-sidecar", points, sc.name
            out.stats = stats
            return out
        out.notes.append(f"{sc.name}: no valid RMC/GGA fix ({stats})")

    if video is not None:
        _from_container(out, video, start_local, tz, clip_start_utc, default_day, scan)
        if out.points:
            return out

    if event_json is not None:
        points, note = read_tesla_event(event_json, clip_start_local=start_local, tz=tz)
        out.notes.append(note)
        if points:
            out.source, out.points, out.file = "tesla-event-json", points, event_json.name
            if tz is None:
                out.notes.append("camera time zone unknown: event.json time taken as UTC")
            return out

    out.source, out.points = "none", []
    if not out.notes:
        out.notes.append("no GPS source found")
    return out


def _from_container(
    out: GpsExtraction,
    video: Path,
    start_local: datetime | None,
    tz: tzinfo | None,
    clip_start_utc: datetime | None,
    default_day: date | None,
    scan: bool,
) -> None:
    name = video.name
    try:
        with open(video, "rb") as f:
            _walk(out, f, name, video, start_local, tz, clip_start_utc, default_day, scan)
    except OSError as exc:
        out.notes.append(f"{name}: cannot read ({exc.strerror})")


def _walk(
    out: GpsExtraction,
    f: BinaryIO,
    name: str,
    video: Path,
    start_local: datetime | None,
    tz: tzinfo | None,
    clip_start_utc: datetime | None,
    default_day: date | None,
    scan: bool,
) -> None:
    size = os.fstat(f.fileno()).st_size
    boxes = top_level_boxes(f, size)
    if not boxes or boxes[0].type not in _FIRST_BOXES:
        out.notes.append(f"{name}: not an MP4/MOV file (no ftyp/moov/mdat box at the start)")
        boxes = []
    types = [b.type for b in boxes]
    moov = next((b for b in boxes if b.type == b"moov"), None)

    # BlackVue: free → "gps " box with NMEA lines
    for box in boxes:
        if box.type != b"free" or box.payload_size < 8:
            continue
        payload = _read_at(f, box.payload_offset, min(box.payload_size, MAX_BOX_TEXT))
        for child in child_boxes(payload, base=box.payload_offset):
            if child.type != b"gps ":
                continue
            text = _read_at(f, child.payload_offset, min(child.payload_size, MAX_BOX_TEXT))
            points, stats = read_nmea_text(
                text.decode("latin-1"), clip_start_utc=clip_start_utc, default_date=default_day
            )
            if points:
                out.source, out.points, out.file, out.stats = (
                    "blackvue-gps-box",
                    points,
                    name,
                    stats,
                )
                return
            out.notes.append(f"{name}: BlackVue gps box without valid fixes ({stats})")

    # 70mai: top-level "GPS " box
    mai = next((b for b in boxes if b.type == b"GPS "), None)
    if mai is not None:
        available = max(0, min(mai.end, size) - mai.payload_offset)
        payload = _read_at(f, mai.payload_offset, min(available, MAX_BOX_TEXT))
        if mai.truncated:
            out.notes.append(
                f"{name}: 70mai GPS box truncated (declares {mai.size} bytes, "
                f"{size - mai.offset} present)"
            )
        if start_local is None:
            out.notes.append(
                f"{name}: 70mai GPS box found, but the clip start is unknown (file name "
                "is not NOYYYYMMDD-HHMMSS-NNNNNN.MP4): 70mai records carry only offsets"
            )
        else:
            points, stats = read_70mai_box(payload, start_utc=_local_to_utc(start_local, tz))
            if points:
                out.source, out.points, out.file, out.stats = "70mai", points, name, stats
                if tz is None:
                    out.notes.append("camera time zone unknown: file-name time taken as UTC")
                return
            out.notes.append(f"{name}: 70mai GPS box without valid fixes ({stats})")

    # Novatek: moov/"gps " index → freeGPS blocks; GoPro: gpmd track
    moov_payload = b""
    if moov is not None and not moov.truncated and moov.payload_size <= MAX_MOOV_BYTES:
        moov_payload = _read_at(f, moov.payload_offset, moov.payload_size)
    for child in child_boxes(moov_payload):
        if child.type != b"gps ":
            continue
        index = _novatek_index(moov_payload[child.payload_offset : child.end])
        points, stats = _freegps_points(f, index, size)
        if points:
            out.source, out.points, out.file, out.stats = "freegps", points, name, stats
            return
        out.notes.append(f"{name}: Novatek gps index without decodable fixes ({stats})")
    if b"gpmd" in moov_payload:
        points, note = read_gpmf(video)
        out.notes.append(f"{name}: {note}")
        if points:
            out.source, out.points, out.file = "gpmf", points, name
            return

    if not scan:
        out.notes.append(f"{name}: no GPS box; content scan disabled")
        return
    free_offsets, nmea_text = _scan(f, size)
    if free_offsets:
        index = []
        for off in free_offsets:
            head = _read_at(f, off, 4)
            index.append((off, struct.unpack(">I", head)[0] if len(head) == 4 else 0))
        points, stats = _freegps_points(f, index, size)
        if points:
            out.source, out.points, out.file, out.stats = "freegps", points, name, stats
            out.notes.append(f"{name}: freeGPS blocks found by scanning (no moov index)")
            return
        out.notes.append(f"{name}: freeGPS blocks without decodable fixes ({stats})")
    if nmea_text:
        points, stats = read_nmea_text(
            nmea_text, clip_start_utc=clip_start_utc, default_date=default_day
        )
        if points:
            out.source, out.points, out.file, out.stats = "nmea-embedded", points, name, stats
            return
        out.notes.append(f"{name}: NMEA text found but no valid fix ({stats})")
    if moov is None and boxes:
        out.notes.append(f"{name}: no moov box (top level: {', '.join(_fourcc(t) for t in types)})")
    out.notes.append(f"{name}: no GPS in the file")


def _fourcc(kind: bytes) -> str:
    return kind.decode("latin-1").strip() or repr(kind)
