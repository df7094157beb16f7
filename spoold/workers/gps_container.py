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
  * :func:`~spoold.workers.gps_freegps.parse_freegps_block` — one Novatek ``freeGPS `` block
    (source ``freegps``; found through the ``moov/gps `` index, else by scanning); INNOVV
    blocks, whose records hold no time, are timed by the clip start (file name) plus the
    block's second: source ``freegps-camera-clock`` (:mod:`spoold.workers.gps_freegps`);
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
from datetime import datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from schemas.metadata import GpsPoint
from spoold.workers.gps_freegps import (
    FREEGPS_MAGIC,
    freegps_points,
    is_rexing_v1_4k,
    novatek_index,
)
from spoold.workers.gps_gpmf import read_gpmf
from spoold.workers.gps_track import (
    ClipClock,
    GpsExtraction,
    local_to_utc,
    make_point,
    read_nmea_text,
)
from spoold.workers.mp4box import Box, child_boxes, read_at, top_level_boxes

__all__ = [
    "container_duration",
    "read_70mai_box",
    "read_container",
    "read_gpmf",
]

MAX_MOOV_BYTES = 64 * 1024 * 1024
MAX_BOX_TEXT = 32 * 1024 * 1024
SCAN_CHUNK = 16 * 1024 * 1024
SCAN_OVERLAP = 512
# Box types an MP4/MOV file may start with.
_FIRST_BOXES = {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"uuid", b"styp"}
MAI_RECORD = 36


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
            payload = read_at(f, moov.payload_offset, moov.payload_size)
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
    clip.rexing = is_rexing_v1_4k(f, clip.boxes)
    moov = next((b for b in clip.boxes if b.type == b"moov"), None)
    moov_payload = b""
    if moov is not None and not moov.truncated and moov.payload_size <= MAX_MOOV_BYTES:
        moov_payload = read_at(f, moov.payload_offset, moov.payload_size)
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
        payload = read_at(clip.f, box.payload_offset, min(box.payload_size, MAX_BOX_TEXT))
        for child in child_boxes(payload, base=box.payload_offset):
            if child.type != b"gps ":
                continue
            text = read_at(clip.f, child.payload_offset, min(child.payload_size, MAX_BOX_TEXT))
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
    payload = read_at(clip.f, mai.payload_offset, min(available, MAX_BOX_TEXT))
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
        index = novatek_index(moov_payload[child.payload_offset : child.end])
        if _take_freegps(clip, index, "Novatek gps index"):
            return True
    return False


def _take_freegps(clip: _Clip, offsets: Sequence[tuple[int, int]], how: str) -> bool:
    """Answer from the ``freeGPS `` blocks at ``offsets`` (``how``: what found them), else
    leave a note.  Blocks whose records hold no time (INNOVV) need the clip start."""
    start = clip.clock.start_local
    start_utc = local_to_utc(start, clip.clock.tz) if start is not None else None
    points, stats = freegps_points(
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
            head = read_at(clip.f, off, 4)
            index.append((off, struct.unpack(">I", head)[0] if len(head) == 4 else 0))
        if _take_freegps(clip, index, "freeGPS blocks"):
            clip.note("freeGPS blocks found by scanning (no moov index)")
            return True
    if nmea_text:
        return clip.from_nmea(nmea_text, "nmea-embedded", "NMEA text found but no valid fix")
    return False


def _fourcc(kind: bytes) -> str:
    return kind.decode("latin-1").strip() or repr(kind)
