"""GPS inside an MP4/MOV clip: the dashcam boxes, GoPro's GPMF track and a content scan.

Public API:

- :func:`read_container(out, video, clock, *, scan) <read_container>` — try the readers below
  on one file in this order; the first with a fix answers ``out``
  (:class:`~spoold.workers.gps_track.GpsExtraction`), every other leaves a note.  Never raises
  for odd content or an unreadable file: it says so in ``out.notes``.
- :func:`container_duration(video) <container_duration>` — the clip's length in seconds from
  ``moov/mvhd``, or None (not an MP4/MOV, no index yet, unreadable).
- Per-format readers, usable alone:

  * :func:`read_70mai_box(payload, *, start_utc) <read_70mai_box>` — 70mai's top-level ``GPS ``
    box of 36-byte records (source ``70mai``);
  * :func:`parse_freegps_block(block) <parse_freegps_block>` — one Novatek ``freeGPS `` block
    (source ``freegps``; found through the ``moov/gps `` index, else by scanning); INNOVV
    blocks, whose records hold no time, are timed by the clip start (file name) plus the
    block's second: source ``freegps-camera-clock``;
  * :func:`~spoold.workers.gps_gpmf.read_gpmf` — GoPro GPS9/GPS5 and the Karma GPRI/GLPI
    forms of the ``gpmd`` telemetry track (source ``gpmf``).

Order: BlackVue ``free/gps `` box of NMEA lines (``blackvue-gps-box``), 70mai ``GPS `` box,
Novatek ``moov/gps `` index, GoPro ``gpmd`` track, then (unless ``scan`` is false) a chunked
scan of the whole file for ``freeGPS `` blocks and NMEA sentences (``nmea-embedded``).
Reads are bounded: ``moov`` up to ``MAX_MOOV_BYTES``, one box's text up to ``MAX_BOX_TEXT``,
one ``freeGPS `` block up to 64 KiB.  Runs on Python 3.10.
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import BinaryIO

from schemas.metadata import GpsPoint
from spoold.workers.gps_gpmf import read_gpmf
from spoold.workers.gps_track import (
    ClipClock,
    GpsExtraction,
    finite,
    local_to_utc,
    make_point,
    point_from_fix,
    read_nmea_text,
)
from spoold.workers.mp4box import Box, child_boxes, top_level_boxes
from spoold.workers.nmea import KNOTS_TO_KMH, Fix, parse_nmea

__all__ = [
    "container_duration",
    "parse_freegps_block",
    "read_70mai_box",
    "read_container",
    "read_gpmf",
]

MAX_MOOV_BYTES = 64 * 1024 * 1024
MAX_BOX_TEXT = 32 * 1024 * 1024
SCAN_CHUNK = 16 * 1024 * 1024
SCAN_OVERLAP = 512
FREEGPS_MAGIC = b"freeGPS "
# Box types an MP4/MOV file may start with.
_FIRST_BOXES = {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"uuid", b"styp"}
MAI_RECORD = 36
# Rexing V1-4K (Kodak ``frea``/``ver `` 3.01.054): its freeGPS lat/lon are decimal degrees,
# scaled and offset; exiftool's QuickTimeStream.pl undoes it with these constants.
REXING_VERSION = b"3.01.054"
REXING_LAT_OFFSET = 187.982162849635
REXING_LON_OFFSET = 2199.19873715495


def _read_at(f: BinaryIO, offset: int, size: int) -> bytes:
    f.seek(offset)
    return f.read(size)


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
        p = _mai_point(rec, start_utc, seconds)
        if p is None:
            stats["invalid"] += 1
            continue
        points.append(p)
    return points, stats


def _mai_point(rec: bytes, start_utc: datetime, seconds: int) -> GpsPoint | None:
    """The position of one 70mai record with a fix; None when it is garbled."""
    (speed,) = struct.unpack_from("<I", rec, 12)
    lat_ref = rec[16:17]
    (lat_raw,) = struct.unpack_from("<I", rec, 17)
    lon_ref = rec[21:22]
    (lon_raw,) = struct.unpack_from("<I", rec, 22)
    if lat_ref not in (b"N", b"S") or lon_ref not in (b"E", b"W"):
        return None
    lat = lat_raw // 100_000 + (lat_raw % 100_000) / 60_000
    lon = lon_raw // 100_000 + (lon_raw % 100_000) / 60_000
    if lat > 90 or lon > 180 or lat_raw % 100_000 >= 60_000 or lon_raw % 100_000 >= 60_000:
        return None
    lat = -lat if lat_ref == b"S" else lat
    lon = -lon if lon_ref == b"W" else lon
    return make_point(
        start_utc + timedelta(seconds=seconds),
        lat,
        lon,
        t=float(seconds),
        speed_kmh=speed / 1000,
    )


# --------------------------------------------------------------------------------------------
# Novatek freeGPS


def parse_freegps_block(block: bytes, *, rexing: bool = False) -> tuple[list[Fix], str]:
    """One ``freeGPS `` block (from its size field on) → fixes and the layout name.

    Layouts: ``binary`` (Viofo A119/A129/A139 family: at 0x30 six u32 H,M,S,Y,m,d, status
    ``A``, N/S, E/W, then float32 lat/lon ``ddmm.mmmm``, speed in knots, course),
    ``innovv`` (INNOVV: 32-byte records from 0x10, ``A`` N/S E/W 0, float32 ddmm lat, lon,
    knots, course, three int32 accelerations, **no time**: no fix is returned, the caller
    times them by the clip start), ``binary-type2`` (exiftool's "Type 2", firmware dated 2013: u32 H,M,S at 0x30, ``A`` at
    0x3c, float64 ddmm lat at 0x40 with its ref at 0x48, lon at 0x50 / 0x58, knots at 0x60,
    course at 0x68, u32 year-2000, month, day at 0x70), ``nmea``
    (Nextbase 512GW style: RMC/GGA text inside the block), ``nextbase-binary`` (Nextbase
    512G: big-endian 32-byte records from 0x30, several a second), ``encrypted`` (Azdome-style,
    byte 0x0c = 5: not decoded) or ``unknown``.  ``rexing``: the block comes from a Rexing
    V1-4K file (a top-level ``frea`` box with ``ver `` = 3.01.054), whose ``binary`` blocks
    hold scaled decimal degrees, not ddmm (layout ``binary-rexing``; exiftool's scaling).
    """
    if len(block) < 16 or block[4:12] != FREEGPS_MAGIC:
        return [], "unknown"
    if block[12] == 0x05:
        return [], "encrypted"
    if b"RMC," in block or b"GGA," in block:
        res = parse_nmea(block.decode("latin-1"))
        return res.fixes, "nmea"
    if _is_innovv(block):
        return [], "innovv"  # timeless records: see _innovv_points
    if len(block) < 92:
        return [], "unknown"
    if _is_type2(block):
        return _type2_fix(block), "binary-type2"
    hour, minute, second, year, month, day = struct.unpack_from("<6I", block, 48)
    status, lat_ref, lon_ref = block[72:73], block[73:74], block[74:75]
    if status != b"A":
        if status == b"V":
            return [], "binary-void"
        records = _nextbase_records(block)
        return records, "nextbase-binary" if records else "unknown"
    if lat_ref not in (b"N", b"S") or lon_ref not in (b"E", b"W"):
        return [], "unknown"
    lat_raw, lon_raw, knots, course = struct.unpack_from("<4f", block, 76)
    if rexing:
        lat, lon = (lat_raw - REXING_LAT_OFFSET) / 3, (lon_raw - REXING_LON_OFFSET) / 2
    else:
        lat, lon = _ddmm_to_deg(lat_raw), _ddmm_to_deg(lon_raw)
    fix = _binary_fix(
        (year, month, day, hour, minute, second),
        -lat if lat_ref == b"S" else lat,
        -lon if lon_ref == b"W" else lon,
        knots,
        course,
    )
    if fix is None or (rexing and min(lat, lon) < 0):
        return [], "unknown"
    return [fix], "binary-rexing" if rexing else "binary"


def _ddmm_to_deg(raw: float) -> float:
    """``ddmm.mmmm`` (degrees * 100 + minutes) → degrees; NaN stays NaN."""
    if not finite(raw):
        return raw
    deg = int(raw // 100)
    return deg + (raw - deg * 100) / 60


def _binary_fix(
    ymdhms: tuple[int, ...], lat: float, lon: float, knots: float, course: float
) -> Fix | None:
    """A fix from the binary layouts' fields (a year below 100 is year-2000; signed decimal
    degrees), or None when a field cannot be one."""
    year, month, day, hour, minute, second = ymdhms
    if year < 100:
        year += 2000
    try:
        when = datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc)
    except ValueError:
        return None
    if not finite(lat, lon, knots, course) or abs(lat) > 90 or abs(lon) > 180:
        return None
    return Fix(
        time=when,
        lat=lat,
        lon=lon,
        speed_kmh=knots * KNOTS_TO_KMH if knots >= 0 else None,
        heading=course % 360 if 0 <= course < 720 else None,
    )


def _is_type2(block: bytes) -> bool:
    """exiftool's test for its "Type 2" block: ``A\0`` at 0x3c, ``N``/``S`` + 0 at 0x48,
    ``E``/``W`` + 0 at 0x58, and room for the date at 0x70."""
    return (
        len(block) >= 0x88
        and block[0x3C:0x3E] == b"A\0"
        and block[0x48:0x49] in (b"N", b"S")
        and block[0x49] == 0
        and block[0x58:0x59] in (b"E", b"W")
        and block[0x59] == 0
    )


def _is_innovv(block: bytes) -> bool:
    """exiftool's test for an INNOVV block: the first record's ``A``, N/S, E/W, 0 at 0x10."""
    return (
        block[16:17] == b"A"
        and block[17:18] in (b"N", b"S")
        and block[18:19] in (b"E", b"W")
        and block[19:20] == b"\0"
    )


_INNOVV_RECORD = re.compile(rb"A[NS][EW]\0.{28}", re.DOTALL)


def _innovv_points(block: bytes, start_utc: datetime, second: int) -> list[GpsPoint]:
    """The records of one INNOVV block, spread over its second of the clip (no time of their
    own: ``start_utc`` is the clip start by the camera's clock)."""
    records = [m.group() for m in _INNOVV_RECORD.finditer(block, 16)]
    points: list[GpsPoint] = []
    for k, rec in enumerate(records):
        lat, lon, knots, course = struct.unpack_from("<4f", rec, 4)
        t = second + k / len(records)
        lat, lon = _ddmm_to_deg(abs(lat)), _ddmm_to_deg(abs(lon))
        p = make_point(
            start_utc + timedelta(seconds=t),
            -lat if rec[1:2] == b"S" else lat,
            -lon if rec[2:3] == b"W" else lon,
            t=t,
            speed_kmh=knots * KNOTS_TO_KMH if finite(knots) and knots >= 0 else None,
            heading=course if finite(course) and 0 <= course < 720 else None,
        )
        if p is not None:
            points.append(p)
    return points


def _type2_fix(block: bytes) -> list[Fix]:
    hour, minute, second = struct.unpack_from("<3I", block, 0x30)
    year, month, day = struct.unpack_from("<3I", block, 0x70)
    (lat,), (lon,) = struct.unpack_from("<d", block, 0x40), struct.unpack_from("<d", block, 0x50)
    knots, course = struct.unpack_from("<2d", block, 0x60)
    lat, lon = _ddmm_to_deg(lat), _ddmm_to_deg(lon)
    fix = _binary_fix(
        (year, month, day, hour, minute, second),
        -lat if block[0x48:0x49] == b"S" else lat,
        -lon if block[0x58:0x59] == b"W" else lon,
        knots,
        course,
    )
    return [] if fix is None else [fix]


def _is_rexing_v1_4k(f: BinaryIO, boxes: Sequence[Box]) -> bool:
    """True when a top-level ``frea`` box (Kodak-style) holds ``ver `` = ``3.01.054``: the
    Rexing V1-4K, whose Novatek blocks are scaled (exiftool recognises it the same way)."""
    frea = next((b for b in boxes if b.type == b"frea" and b.payload_size <= 0x100000), None)
    if frea is None:
        return False
    payload = _read_at(f, frea.payload_offset, frea.payload_size)
    return any(
        c.type == b"ver " and payload[c.payload_offset : c.end].strip(b"\0 ") == REXING_VERSION
        for c in child_boxes(payload)
    )


def _nextbase_records(block: bytes) -> list[Fix]:
    """Nextbase 512G records: from 0x30, 32 bytes each (big-endian), read while their date
    is valid: u16 speed (m/s * 100) at +2, s16 heading (deg * 100), u16 year, u8 month, day,
    hour, minute, u16 second * 10, one byte, s32 lat and lon (deg * 1e7) at +15."""
    fixes: list[Fix] = []
    for pos in range(0x30, len(block) - 0x17, 0x20):
        speed, heading, year, month, day, hour, minute, tenths, lat, lon = struct.unpack_from(
            ">HhHBBBBHxii", block, pos + 2
        )
        if not (2000 <= year <= 2200 and tenths < 600 and abs(lat) <= 900_000_000):
            break
        try:
            when = datetime(year, month, day, hour, minute, tzinfo=timezone.utc)
        except ValueError:
            break
        if abs(lon) > 1_800_000_000:
            break
        fixes.append(
            Fix(
                time=when + timedelta(seconds=tenths / 10),
                lat=lat / 1e7,
                lon=lon / 1e7,
                speed_kmh=speed / 100 * 3.6,
                heading=(heading / 100) % 360,
            )
        )
    return fixes


def _take_freegps(clip: _Clip, offsets: Sequence[tuple[int, int]], how: str) -> bool:
    """Answer from the ``freeGPS `` blocks at ``offsets`` (``how``: what found them), else
    leave a note.  Blocks whose records hold no time (INNOVV) need the clip start."""
    start = clip.clock.start_local
    start_utc = local_to_utc(start, clip.clock.tz) if start is not None else None
    points, stats = _freegps_points(
        clip.f, offsets, clip.size, rexing=clip.rexing, start_utc=start_utc
    )
    timeless = stats.get("innovv", 0)
    if points:
        clip.out.take("freegps-camera-clock" if timeless else "freegps", points, clip.name, stats)
        if timeless and clip.clock.tz is None:
            clip.out.notes.append("camera time zone unknown: file-name time taken as UTC")
        return True
    if timeless and start_utc is None:
        clip.note(
            f"{how}: INNOVV freeGPS records carry no time and the clip start is unknown "
            "(no time in the file name)"
        )
    else:
        clip.note(f"{how} without decodable fixes ({stats})")
    return False


def _freegps_points(
    f: BinaryIO,
    offsets: Sequence[tuple[int, int]],
    file_size: int,
    *,
    rexing: bool = False,
    start_utc: datetime | None = None,
) -> tuple[list[GpsPoint], dict[str, int]]:
    stats: dict[str, int] = {"blocks": len(offsets)}
    points: list[GpsPoint] = []
    for index, (offset, size) in enumerate(offsets):
        if offset < 0 or size < 16 or offset + 16 > file_size:
            stats["bad_index"] = stats.get("bad_index", 0) + 1
            continue
        block = _read_at(f, offset, min(size, 0x10000, file_size - offset))
        fixes, layout = parse_freegps_block(block, rexing=rexing)
        stats[layout] = stats.get(layout, 0) + 1
        if layout == "innovv" and start_utc is not None:
            points += _innovv_points(block, start_utc, index)
        for k, fx in enumerate(fixes):
            # one block per second; several fixes in one block share it evenly
            p = point_from_fix(fx, float(index) + (k / len(fixes) if len(fixes) > 1 else 0.0))
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
# the walk over one file


@dataclass
class _Clip:
    """One open clip being searched, and where the answer and notes go."""

    out: GpsExtraction
    f: BinaryIO
    name: str
    video: Path
    size: int
    boxes: list[Box]
    clock: ClipClock
    rexing: bool = False  # a Rexing V1-4K file: its freeGPS lat/lon are scaled

    def from_nmea(self, text: str, source: str, failure: str) -> bool:
        """Answer from NMEA ``text`` as ``source``, else note ``failure`` and the counters."""
        points, stats = read_nmea_text(
            text, clip_start_utc=self.clock.start_utc, default_date=self.clock.default_day
        )
        if points:
            self.out.take(source, points, self.name, stats)
            return True
        self.note(f"{failure} ({stats})")
        return False

    def note(self, text: str) -> None:
        self.out.notes.append(f"{self.name}: {text}")


def container_duration(video: Path) -> float | None:
    """Seconds of ``moov/mvhd`` (duration / timescale), None when there is none to read."""
    try:
        with open(video, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            moov = next((b for b in top_level_boxes(f, size) if b.type == b"moov"), None)
            if moov is None or moov.truncated or moov.payload_size > MAX_MOOV_BYTES:
                return None
            payload = _read_at(f, moov.payload_offset, moov.payload_size)
    except OSError:
        return None
    mvhd = next((b for b in child_boxes(payload) if b.type == b"mvhd"), None)
    if mvhd is None:
        return None
    body = payload[mvhd.payload_offset : mvhd.end]
    if len(body) >= 32 and body[0] == 1:
        timescale, duration = struct.unpack_from(">IQ", body, 20)
    elif len(body) >= 20:
        timescale, duration = struct.unpack_from(">II", body, 12)
    else:
        return None
    return duration / timescale if timescale and duration else None


def read_container(out: GpsExtraction, video: Path, clock: ClipClock, *, scan: bool) -> None:
    """Answer ``out`` from the GPS inside ``video``, or leave notes on why there is none."""
    try:
        with open(video, "rb") as f:
            _walk(out, f, video, clock, scan)
    except OSError as exc:
        out.notes.append(f"{video.name}: cannot read ({exc.strerror})")


def _walk(out: GpsExtraction, f: BinaryIO, video: Path, clock: ClipClock, scan: bool) -> None:
    size = os.fstat(f.fileno()).st_size
    boxes = top_level_boxes(f, size)
    clip = _Clip(out, f, video.name, video, size, boxes, clock)
    if not boxes or boxes[0].type not in _FIRST_BOXES:
        clip.note("not an MP4/MOV file (no ftyp/moov/mdat box at the start)")
        clip.boxes = []
    if _blackvue_box(clip) or _mai_box(clip):
        return
    clip.rexing = _is_rexing_v1_4k(f, clip.boxes)
    moov = next((b for b in clip.boxes if b.type == b"moov"), None)
    moov_payload = b""
    if moov is not None and not moov.truncated and moov.payload_size <= MAX_MOOV_BYTES:
        moov_payload = _read_at(f, moov.payload_offset, moov.payload_size)
    if _novatek_moov(clip, moov_payload) or _gpmf_track(clip, moov_payload):
        return
    if not scan:
        clip.note("no GPS box; content scan disabled")
        return
    if _scanned(clip):
        return
    if moov is None and clip.boxes:
        top = ", ".join(_fourcc(b.type) for b in clip.boxes)
        clip.note(f"no moov box (top level: {top})")
    clip.note("no GPS in the file")


def _blackvue_box(clip: _Clip) -> bool:
    """BlackVue: top-level ``free`` box → ``gps `` box of NMEA lines."""
    for box in clip.boxes:
        if box.type != b"free" or box.payload_size < 8:
            continue
        payload = _read_at(clip.f, box.payload_offset, min(box.payload_size, MAX_BOX_TEXT))
        for child in child_boxes(payload, base=box.payload_offset):
            if child.type != b"gps ":
                continue
            text = _read_at(clip.f, child.payload_offset, min(child.payload_size, MAX_BOX_TEXT))
            if clip.from_nmea(
                text.decode("latin-1"), "blackvue-gps-box", "BlackVue gps box without valid fixes"
            ):
                return True
    return False


def _mai_box(clip: _Clip) -> bool:
    """70mai: top-level ``GPS `` box; its records carry only offsets from the file-name time."""
    mai = next((b for b in clip.boxes if b.type == b"GPS "), None)
    if mai is None:
        return False
    available = max(0, min(mai.end, clip.size) - mai.payload_offset)
    payload = _read_at(clip.f, mai.payload_offset, min(available, MAX_BOX_TEXT))
    if mai.truncated:
        clip.note(
            f"70mai GPS box truncated (declares {mai.size} bytes, {clip.size - mai.offset} present)"
        )
    start_local, tz = clip.clock.start_local, clip.clock.tz
    if start_local is None:
        clip.note(
            "70mai GPS box found, but the clip start is unknown (file name "
            "is not NOYYYYMMDD-HHMMSS-NNNNNN.MP4): 70mai records carry only offsets"
        )
        return False
    points, stats = read_70mai_box(payload, start_utc=local_to_utc(start_local, tz))
    if points:
        clip.out.take("70mai", points, clip.name, stats)
        if tz is None:
            clip.out.notes.append("camera time zone unknown: file-name time taken as UTC")
        return True
    clip.note(f"70mai GPS box without valid fixes ({stats})")
    return False


def _novatek_moov(clip: _Clip, moov_payload: bytes) -> bool:
    """Novatek: ``moov/gps `` index → ``freeGPS `` blocks."""
    for child in child_boxes(moov_payload):
        if child.type != b"gps ":
            continue
        index = _novatek_index(moov_payload[child.payload_offset : child.end])
        if _take_freegps(clip, index, "Novatek gps index"):
            return True
    return False


def _gpmf_track(clip: _Clip, moov_payload: bytes) -> bool:
    """GoPro: a ``gpmd`` track in ``moov`` (:mod:`spoold.workers.gps_gpmf`)."""
    if b"gpmd" not in moov_payload:
        return False
    points, note = read_gpmf(clip.video)
    clip.note(note)
    if points:
        clip.out.take("gpmf", points, clip.name)
        return True
    return False


def _scanned(clip: _Clip) -> bool:
    """The whole file scanned for ``freeGPS `` blocks without an index, then NMEA text."""
    free_offsets, nmea_text = _scan(clip.f, clip.size)
    if free_offsets:
        index = []
        for off in free_offsets:
            head = _read_at(clip.f, off, 4)
            index.append((off, struct.unpack(">I", head)[0] if len(head) == 4 else 0))
        if _take_freegps(clip, index, "freeGPS blocks"):
            clip.note("freeGPS blocks found by scanning (no moov index)")
            return True
    if nmea_text:
        return clip.from_nmea(nmea_text, "nmea-embedded", "NMEA text found but no valid fix")
    return False


def _fourcc(kind: bytes) -> str:
    return kind.decode("latin-1").strip() or repr(kind)
