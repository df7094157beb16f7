"""GPS in Novatek ``freeGPS `` blocks (Viofo and its clones, Nextbase, INNOVV, Rexing).

Public API:

- :func:`parse_freegps_block(block, *, rexing) <parse_freegps_block>` — one block (from its
  size field on) → fixes and the name of its layout.
- :func:`freegps_points(f, offsets, file_size, *, rexing, start_utc) <freegps_points>` — the
  points of the blocks at ``offsets`` in an open file (one block per second of the clip) and
  counters by layout; INNOVV blocks, whose records hold no time, are timed by ``start_utc``
  (the clip start) plus the block's second.
- :func:`novatek_index(payload) <novatek_index>` — the (offset, size) of each block from a
  ``moov/gps `` index box's payload.
- :func:`is_rexing_v1_4k(f, boxes) <is_rexing_v1_4k>` — whether the file is a Rexing V1-4K,
  whose blocks hold scaled degrees.
- ``FREEGPS_MAGIC``: the bytes after a block's size field.

Used by :mod:`spoold.workers.gps_container` (through the index, or by a scan of the file).
Reads at most 64 KiB of one block.  Runs on Python 3.10.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import BinaryIO

from schemas.metadata import GpsPoint
from spoold.workers.gps_track import finite, make_point, point_from_fix
from spoold.workers.mp4box import Box, child_boxes, read_at
from spoold.workers.nmea import KNOTS_TO_KMH, Fix, parse_nmea

__all__ = [
    "FREEGPS_MAGIC",
    "freegps_points",
    "is_rexing_v1_4k",
    "novatek_index",
    "parse_freegps_block",
]

FREEGPS_MAGIC = b"freeGPS "
# Rexing V1-4K (Kodak ``frea``/``ver `` 3.01.054): its freeGPS lat/lon are decimal degrees,
# scaled and offset; exiftool's QuickTimeStream.pl undoes it with these constants.
REXING_VERSION = b"3.01.054"
REXING_LAT_OFFSET = 187.982162849635
REXING_LON_OFFSET = 2199.19873715495


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


def is_rexing_v1_4k(f: BinaryIO, boxes: Sequence[Box]) -> bool:
    """True when a top-level ``frea`` box (Kodak-style) holds ``ver `` = ``3.01.054``: the
    Rexing V1-4K, whose Novatek blocks are scaled (exiftool recognises it the same way)."""
    frea = next((b for b in boxes if b.type == b"frea" and b.payload_size <= 0x100000), None)
    if frea is None:
        return False
    payload = read_at(f, frea.payload_offset, frea.payload_size)
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


def freegps_points(
    f: BinaryIO,
    offsets: Sequence[tuple[int, int]],
    file_size: int,
    *,
    rexing: bool = False,
    start_utc: datetime | None = None,
) -> tuple[list[GpsPoint], dict[str, int]]:
    """The points of the ``freeGPS `` blocks at ``offsets`` (offset, size) in ``f``, one
    block per second of the clip, and counters by layout (``bad_index``: an entry outside the
    file).  INNOVV blocks count only with ``start_utc``, the clip start."""
    stats: dict[str, int] = {"blocks": len(offsets)}
    points: list[GpsPoint] = []
    for index, (offset, size) in enumerate(offsets):
        if offset < 0 or size < 16 or offset + 16 > file_size:
            stats["bad_index"] = stats.get("bad_index", 0) + 1
            continue
        block = read_at(f, offset, min(size, 0x10000, file_size - offset))
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


def novatek_index(payload: bytes) -> list[tuple[int, int]]:
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
