"""GoPro GPMF telemetry (the ``gpmd`` track) → GPS points, read directly from the MP4.

Public API:

- :func:`read_gpmf(path) <read_gpmf>` → ``(points, note)``: the GPS fixes of a GoPro file,
  or ``[]`` and a note saying what the telemetry held instead.
- :func:`gpmf_payloads(f, moov_payload) <gpmf_payloads>` — ``(offset, size, t0, duration)``
  of each ``gpmd`` sample, from the track's sample tables.
- :func:`parse_klv(data) <parse_klv>` — one GPMF payload → nested :class:`Klv` items
  (raises :class:`GpmfError` for a structure that does not fit).
- :func:`payload_points(payload) <payload_points>` — the fixes of one payload on its own.

GPMF is key-length-value: a 4-byte key, a type byte, a structure size byte and a 16-bit
repeat count (big endian), the data padded to 4 bytes; type 0 nests (``DEVC`` → ``STRM``).
A stream's ``SCAL`` divides its values, ``TYPE`` describes ``?`` structures.  GPS forms:

============ ===================================================================================
``GPS5``     Hero5 … Hero10: lat, lon, alt, 2D speed, 3D speed; UTC of the payload in ``GPSU``
             (``yymmddhhmmss.sss``), fix in ``GPSF``, DOP x 100 in ``GPSP``; a payload's
             fixes are spread up to the next payload's ``GPSU`` (else over its duration)
``GPS9``     Hero11 on: lat, lon, alt, 2D/3D speed, days since 2000, seconds, DOP, fix
``GPRI``     Karma drone (“GPS RAW”): system time, lat, lon, alt, …, speed, track, fix, sats;
             UTC from the ``SYST`` pairs (system time ↔ UTC ms) the same file carries
``GLPI``     Karma fused position (system time, lat, lon, alt, …): used only without ``GPRI``
============ ===================================================================================

Fixes without a 2D/3D fix (``GPSF``/fix < 2) are dropped.  Runs on Python 3.10; no
dependencies.
"""

from __future__ import annotations

import bisect
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import BinaryIO

from schemas.metadata import GpsPoint
from spoold.workers.gps_track import make_point
from spoold.workers.mp4box import Box, child_boxes, top_level_boxes

__all__ = ["GpmfError", "Klv", "gpmf_payloads", "parse_klv", "payload_points", "read_gpmf"]

MAX_PAYLOAD = 4 * 1024 * 1024
MAX_MOOV = 64 * 1024 * 1024
_GPS_EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)
# GPMF type byte → (struct code, size); "c" is a character, "U" a 16-byte date string.
_TYPES: dict[str, tuple[str, int]] = {
    "b": ("b", 1),
    "B": ("B", 1),
    "c": ("c", 1),
    "s": ("h", 2),
    "S": ("H", 2),
    "l": ("i", 4),
    "L": ("I", 4),
    "f": ("f", 4),
    "d": ("d", 8),
    "j": ("q", 8),
    "J": ("Q", 8),
    "q": ("i", 4),
    "Q": ("q", 8),
    "F": ("4s", 4),
    "G": ("16s", 16),
    "U": ("16s", 16),
}
_FIXED = {"q": 65536.0, "Q": 4294967296.0}


class GpmfError(ValueError):
    """A GPMF payload whose structure does not fit (sizes past the end, unknown types)."""


@dataclass
class Klv:
    """One GPMF item: ``key``, ``type`` (``"\\0"`` when nested), raw ``data`` or ``children``."""

    key: str
    type: str
    size: int
    repeat: int
    data: bytes = b""
    children: list[Klv] = field(default_factory=list)


def parse_klv(data: bytes, depth: int = 0) -> list[Klv]:
    """Split ``data`` into KLV items (nested ones parsed too); :class:`GpmfError` when broken."""
    if depth > 8:
        raise GpmfError("GPMF nested deeper than 8 levels")
    items: list[Klv] = []
    pos = 0
    while pos + 8 <= len(data):
        key_raw, type_b, size, repeat = struct.unpack_from(">4sBBH", data, pos)
        if key_raw == b"\0\0\0\0":
            break
        length = size * repeat
        start, end = pos + 8, pos + 8 + length
        if end > len(data):
            raise GpmfError(f"GPMF item {key_raw!r} runs past the end ({end} > {len(data)})")
        key = key_raw.decode("latin-1")
        if type_b == 0:
            items.append(
                Klv(key, "\0", size, repeat, children=parse_klv(data[start:end], depth + 1))
            )
        else:
            items.append(Klv(key, chr(type_b), size, repeat, data=data[start:end]))
        pos = start + ((length + 3) & ~3)
    return items


def _values(item: Klv, type_desc: str | None) -> list[list[float | bytes]]:
    """The samples of ``item``: one list of values per repeat (``?`` decoded with TYPE)."""
    fmt = type_desc if item.type == "?" else item.type
    if not fmt or any(c not in _TYPES for c in fmt):
        raise GpmfError(f"GPMF item {item.key}: type {fmt!r} is not decodable")
    if item.type != "?":
        width = _TYPES[fmt][1]
        per = item.size // width
        fmt = fmt * per
    codes = "".join(_TYPES[c][0] for c in fmt)
    width = struct.calcsize(">" + codes)
    if width > item.size or width == 0:
        raise GpmfError(f"GPMF item {item.key}: TYPE {fmt!r} needs {width} bytes, has {item.size}")
    out: list[list[float | bytes]] = []
    for k in range(item.repeat):
        raw = struct.unpack_from(">" + codes, item.data, k * item.size)
        row: list[float | bytes] = []
        for c, v in zip(fmt, raw, strict=True):
            if isinstance(v, bytes):
                row.append(v)
            else:
                row.append(float(v) / _FIXED.get(c, 1.0))
        out.append(row)
    return out


def _numbers(row: Sequence[float | bytes]) -> list[float]:
    return [v for v in row if isinstance(v, float)]


@dataclass
class _Stream:
    """The items of one ``STRM`` that GPS decoding needs."""

    scale: list[float]
    type_desc: str | None
    items: dict[str, Klv]

    def rows(self, key: str) -> list[list[float]]:
        item = self.items[key]
        rows = [_numbers(r) for r in _values(item, self.type_desc)]
        if not self.scale:
            return rows
        return [
            [v / (self.scale[i % len(self.scale)] or 1.0) for i, v in enumerate(r)] for r in rows
        ]

    def first(self, key: str) -> float | bytes | None:
        item = self.items.get(key)
        if item is None or item.repeat == 0:
            return None
        vals = _values(item, None)
        return vals[0][0] if vals and vals[0] else None


def _streams(items: list[Klv]) -> Iterator[_Stream]:
    for devc in items:
        for strm in devc.children if devc.key == "DEVC" else []:
            if strm.key != "STRM":
                continue
            inner = {c.key: c for c in strm.children}
            scal = inner.get("SCAL")
            scale = [float(v) for r in _values(scal, None) for v in _numbers(r)] if scal else []
            tdesc = inner.get("TYPE")
            type_desc = tdesc.data.split(b"\0")[0].decode("latin-1") if tdesc else None
            yield _Stream(scale, type_desc, inner)


# ------------------------------------------------------------------------ the gpmd track


def _find(payload: bytes, path: Sequence[bytes]) -> list[bytes]:
    """Payloads of every box at ``path`` under ``payload``."""
    found: list[bytes] = []
    for box in child_boxes(payload):
        if box.type != path[0] or box.truncated:
            continue
        body = payload[box.payload_offset : box.end]
        found.extend([body] if len(path) == 1 else _find(body, path[1:]))
    return found


def _table(stbl: bytes, kind: bytes) -> bytes:
    tables = _find(stbl, [kind])
    return tables[0][4:] if tables else b""  # past version+flags


def _u32s(data: bytes, pos: int, count: int, width: int = 1) -> list[tuple[int, ...]]:
    n = min(count, max(0, (len(data) - pos) // (4 * width)))
    return [struct.unpack_from(f">{width}I", data, pos + 4 * width * i) for i in range(n)]


def _sample_table(stbl: bytes) -> list[tuple[int, int]]:
    """(offset, size) of each sample from stsz, stsc and stco/co64."""
    stsz = _table(stbl, b"stsz")
    if len(stsz) < 8:
        return []
    uniform, count = struct.unpack_from(">II", stsz, 0)
    sizes = [uniform] * count if uniform else [s[0] for s in _u32s(stsz, 8, count)]
    stco, co64 = _table(stbl, b"stco"), _table(stbl, b"co64")
    if len(stco) >= 4:
        chunks = [c[0] for c in _u32s(stco, 4, struct.unpack_from(">I", stco)[0])]
    elif len(co64) >= 4:
        n = struct.unpack_from(">I", co64)[0]
        chunks = [(hi << 32) | lo for hi, lo in _u32s(co64, 4, n, 2)]
    else:
        return []
    stsc = _table(stbl, b"stsc")
    runs = _u32s(stsc, 4, struct.unpack_from(">I", stsc)[0] if len(stsc) >= 4 else 0, 3)
    out: list[tuple[int, int]] = []
    k = 0
    for ci, chunk_off in enumerate(chunks, start=1):
        per = next((r[1] for r in reversed(runs) if r[0] <= ci), 1)
        pos = chunk_off
        for _ in range(per):
            if k >= len(sizes):
                return out
            out.append((pos, sizes[k]))
            pos += sizes[k]
            k += 1
    return out


def _sample_times(mdia: bytes, count: int) -> list[tuple[float, float]]:
    """(start, duration) in seconds of each sample, from mdhd's timescale and stts."""
    mdhd = _find(mdia, [b"mdhd"])
    timescale = 1
    if mdhd and len(mdhd[0]) >= 24:
        timescale = struct.unpack_from(">I", mdhd[0], 20 if mdhd[0][0] == 1 else 12)[0] or 1
    stts = b""
    for stbl in _find(mdia, [b"minf", b"stbl"]):
        stts = _table(stbl, b"stts")
    runs = _u32s(stts, 4, struct.unpack_from(">I", stts)[0] if len(stts) >= 4 else 0, 2)
    out: list[tuple[float, float]] = []
    t = 0
    for n, delta in runs:
        for _ in range(min(n, count - len(out))):
            out.append((t / timescale, delta / timescale))
            t += delta
    while len(out) < count:  # no stts: one second each, as GoPro writes
        out.append((float(len(out)), 1.0))
    return out


def gpmf_payloads(moov_payload: bytes) -> list[tuple[int, int, float, float]]:
    """(file offset, size, start s, duration s) of every sample of the ``gpmd`` track."""
    for trak in _find(moov_payload, [b"trak"]):
        for mdia in _find(trak, [b"mdia"]):
            for stbl in _find(mdia, [b"minf", b"stbl"]):
                stsd = _table(stbl, b"stsd")
                if len(stsd) < 12 or stsd[8:12] != b"gpmd":
                    continue
                samples = _sample_table(stbl)
                times = _sample_times(mdia, len(samples))
                return [(o, s, t0, d) for (o, s), (t0, d) in zip(samples, times, strict=False)]
    return []


# ------------------------------------------------------------------------ fixes


def _gpsu(value: float | bytes | None) -> datetime | None:
    if not isinstance(value, bytes):
        return None
    text = value.decode("latin-1").strip("\0 ")
    try:
        when = datetime.strptime(text[:12], "%y%m%d%H%M%S").replace(tzinfo=timezone.utc)
        frac = float("0" + text[12:]) if text[12:] else 0.0
    except ValueError:
        return None
    return when + timedelta(seconds=frac)


@dataclass
class _Found:
    """GPS rows per form, and the system-time ↔ UTC pairs for the Karma forms."""

    rows: dict[str, list[tuple[float, datetime | None, list[float], int | None]]] = field(
        default_factory=lambda: {"GPS5": [], "GPS9": [], "GPRI": [], "GLPI": []}
    )
    syst: list[tuple[float, float]] = field(default_factory=list)
    # GPS5 rows [start, end) of one payload, its GPSU time and the sample's duration (s)
    gps5_spans: list[tuple[int, int, datetime, float]] = field(default_factory=list)
    _keys: list[float] | None = None  # the system times of ``syst``, once sorted

    def spread_gps5(self) -> None:
        """Fit each payload's GPS5 fixes between its ``GPSU`` and the next payload's.

        The fixes are first spread over the sample's duration on the camera clock, which runs
        a few ms a second apart from the receiver's: a HERO7's last fixes of one second
        then land after the next payload's first.  Where the next ``GPSU`` is known (and
        within two sample durations), the receiver's own interval is used instead."""
        rows = self.rows["GPS5"]
        for (a, b, base, dur), (_, _, nxt, _) in zip(
            self.gps5_spans, self.gps5_spans[1:], strict=False
        ):
            gap = (nxt - base).total_seconds()
            if not 0 < gap <= 2 * dur:
                continue
            for k, i in enumerate(range(a, b)):
                t, _, row, fix = rows[i]
                rows[i] = (t, base + timedelta(seconds=gap * k / (b - a)), row, fix)

    def system_to_utc(self, sys_s: float) -> datetime | None:
        """exiftool's ConvertSystemTime: interpolate between the nearest SYST pairs."""
        if not self.syst:
            return None
        if self._keys is None or len(self._keys) != len(self.syst):
            self.syst.sort()
            self._keys = [p[0] for p in self.syst]
        pairs, keys = self.syst, self._keys
        j = min(max(bisect.bisect_right(keys, sys_s), 1), len(pairs) - 1) if len(pairs) > 1 else 0
        i = max(0, j - 1)
        (s0, u0), (s1, u1) = pairs[i], pairs[j]
        utc = u0 if s1 == s0 else u0 + (u1 - u0) * (sys_s - s0) / (s1 - s0)
        try:
            return datetime.fromtimestamp(utc, timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None


def _collect(found: _Found, items: list[Klv], t0: float, dur: float) -> None:
    for st in _streams(items):
        if "SYST" in st.items:
            found.syst.extend((r[0], r[1]) for r in st.rows("SYST") if len(r) >= 2)
        for key in ("GPS5", "GPS9", "GPRI", "GLPI"):
            if key not in st.items:
                continue
            rows = st.rows(key)
            base = _gpsu(st.first("GPSU"))
            gpsf = st.first("GPSF")
            fix = int(gpsf) if isinstance(gpsf, float) else None
            if key == "GPS5" and base is not None and rows:
                start = len(found.rows[key])
                found.gps5_spans.append((start, start + len(rows), base, dur))
            for k, row in enumerate(rows):
                t = t0 + dur * k / max(1, len(rows))
                when = base + timedelta(seconds=t - t0) if base is not None else None
                found.rows[key].append((t, when, row, fix))


def _point(
    key: str, t: float, when: datetime | None, row: list[float], fix: int | None, found: _Found
) -> GpsPoint | None:
    speed: float | None
    heading: float | None = None
    if key == "GPS9" and len(row) >= 9:
        when = _GPS_EPOCH + timedelta(days=row[5], seconds=row[6])
        fix, speed = int(row[8]), row[3] * 3.6
    elif key == "GPS5" and len(row) >= 5:
        speed = row[3] * 3.6
    elif key == "GPRI" and len(row) >= 9:
        when = found.system_to_utc(row[0])
        fix, speed, heading = int(row[8]), row[6] * 3.6, row[7]
        row = row[1:]
    elif key == "GLPI" and len(row) >= 9:
        when, speed, heading = found.system_to_utc(row[0]), None, row[8]
        row = row[1:]
    else:
        return None
    if when is None or (fix is not None and fix < 2):
        return None
    return make_point(
        when, row[0], row[1], t=t, speed_kmh=speed, heading=heading, altitude_m=row[2], fix=fix
    )


def _safe_point(
    key: str, row: tuple[float, datetime | None, list[float], int | None], found: _Found
) -> GpsPoint | None:
    """:func:`_point`, None for values no clock or integer can hold (NaN fix, huge days)."""
    try:
        return _point(key, *row, found)
    except (OverflowError, ValueError):
        return None


def payload_points(payload: bytes) -> list[GpsPoint]:
    """The GPS fixes of one GPMF payload on its own (``t`` from 0 over one second);
    :class:`GpmfError` when its structure does not fit."""
    found = _Found()
    _collect(found, parse_klv(payload), 0.0, 1.0)
    for key in ("GPS9", "GPS5", "GPRI", "GLPI"):
        points = [p for r in found.rows[key] if (p := _safe_point(key, r, found)) is not None]
        if points:
            return points
    return []


def _read(f: BinaryIO, size: int) -> tuple[_Found, int, str | None]:
    boxes: list[Box] = top_level_boxes(f, size)
    moov = next((b for b in boxes if b.type == b"moov" and not b.truncated), None)
    if moov is None or moov.payload_size > MAX_MOOV:
        return _Found(), 0, "no readable moov box"
    f.seek(moov.payload_offset)
    payloads = gpmf_payloads(f.read(moov.payload_size))
    found = _Found()
    errors = 0
    for offset, length, t0, dur in payloads:
        if length > MAX_PAYLOAD or offset + length > size:
            errors += 1
            continue
        f.seek(offset)
        try:
            _collect(found, parse_klv(f.read(length)), t0, dur)
        except GpmfError:
            errors += 1
    if not payloads:
        return found, 0, "no gpmd track in moov"
    return found, errors, None


def read_gpmf(path: Path) -> tuple[list[GpsPoint], str]:
    """GoPro GPS fixes of ``path`` (GPS9, GPS5, then the Karma GPRI/GLPI forms); ([], why)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            found, errors, problem = _read(f, f.tell())
    except OSError as exc:
        return [], f"cannot read the GPMF track ({exc.strerror})"
    if problem:
        return [], f"GPMF: {problem}"
    bad = f", {errors} payloads unreadable" if errors else ""
    found.spread_gps5()
    for key in ("GPS9", "GPS5", "GPRI", "GLPI"):
        rows = found.rows[key]
        if not rows:
            continue
        points = [p for r in rows if (p := _safe_point(key, r, found)) is not None]
        points.sort(key=lambda p: p.time)
        if points:
            return points, f"{len(points)} GPMF {key} fixes of {len(rows)}{bad}"
    seen = ", ".join(f"{k}: {len(v)}" for k, v in found.rows.items() if v)
    return [], (
        f"GPMF telemetry has no GPS fix ({seen or 'no GPS5/GPS9/GPRI/GLPI stream'}; "
        f"fix < 2 or no time{bad})"
    )
