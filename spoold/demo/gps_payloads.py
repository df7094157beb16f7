"""The GPS payloads dashcam brands write, as the demo clips and the tests need them.

Public API: :func:`novatek_freegps_block`, :func:`embed_novatek_gps` (Viofo: a ``moov/gps ``
index and binary ``freeGPS `` blocks), :func:`blackvue_nmea_lines`,
:func:`embed_blackvue_gps` (BlackVue: NMEA in a ``.gps`` sidecar and a ``free/gps `` box),
:func:`mai_gps_box` (70mai: a top-level ``GPS `` box), :func:`tesla_event_json` (Tesla:
``event.json``).  Each writes what :mod:`spoold.workers.gps` reads back.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from spoold.demo.route import TrackPoint
from spoold.workers.mp4box import make_box, top_level_boxes
from spoold.workers.nmea import nmea_sentence, to_nmea_coord

__all__ = [
    "blackvue_nmea_lines",
    "embed_blackvue_gps",
    "embed_novatek_gps",
    "mai_gps_box",
    "novatek_freegps_block",
    "tesla_event_json",
]

KNOTS_PER_KMH = 1 / 1.852


def novatek_freegps_block(
    when: datetime, lat: float, lon: float, speed_kmh: float, heading: float, size: int = 0x400
) -> bytes:
    """One binary ``freeGPS `` block (Viofo A119/A129/A139 layout, as exiftool decodes it)."""
    utc = when.astimezone(timezone.utc)

    def ddmm(v: float) -> float:
        v = abs(v)
        d = int(v)
        return d * 100 + (v - d) * 60

    body = bytearray(size)
    struct.pack_into(">I4s4s", body, 0, size, b"free", b"GPS ")
    struct.pack_into("<I", body, 12, 0x4C)
    struct.pack_into(
        "<6I", body, 48, utc.hour, utc.minute, utc.second, utc.year - 2000, utc.month, utc.day
    )
    body[72:76] = b"A" + (b"N" if lat >= 0 else b"S") + (b"E" if lon >= 0 else b"W") + b"\0"
    struct.pack_into("<4f", body, 76, ddmm(lat), ddmm(lon), speed_kmh * KNOTS_PER_KMH, heading)
    return bytes(body)


def embed_novatek_gps(mp4: Path, blocks: Sequence[bytes]) -> None:
    """Add a ``moov/gps `` index and the blocks it points to (moov must be the last box)."""
    data = bytearray(mp4.read_bytes())
    with open(mp4, "rb") as f:
        boxes = top_level_boxes(f, len(data))
    moov = boxes[-1] if boxes else None
    if moov is None or moov.type != b"moov" or moov.header != 8:
        raise ValueError(f"{mp4}: want a file whose last top-level box is moov")
    gps_atom_size = 8 + 8 + 8 * len(blocks)
    new_moov_end = moov.end + gps_atom_size
    index = b""
    pos = new_moov_end
    for block in blocks:
        index += struct.pack(">II", pos, len(block))
        pos += len(block)
    gps_atom = make_box(b"gps ", struct.pack(">II", 0x101, len(blocks)) + index)
    struct.pack_into(">I", data, moov.offset, moov.size + len(gps_atom))
    data[moov.end : moov.end] = gps_atom
    data += b"".join(blocks)
    mp4.write_bytes(bytes(data))


def blackvue_nmea_lines(points: Sequence[TrackPoint]) -> str:
    """BlackVue ``.gps`` text: ``[epoch-ms]$GPRMC`` + ``$GPGGA`` per fix."""
    lines = []
    for p in points:
        when = datetime.fromisoformat(p.time_utc)
        ms = int(when.timestamp() * 1000)
        hms = when.strftime("%H%M%S") + f".{when.microsecond // 10000:02d}"
        lat, lon = to_nmea_coord(p.lat, True), to_nmea_coord(p.lon, False)
        knots = p.speed_kmh * KNOTS_PER_KMH
        rmc = nmea_sentence(
            f"GPRMC,{hms},A,{lat},{lon},{knots:.3f},{p.heading:.2f},{when:%d%m%y},,,A"
        )
        gga = nmea_sentence(f"GPGGA,{hms},{lat},{lon},1,09,0.9,912.0,M,-86.0,M,,")
        lines += [f"[{ms}]{rmc}", f"[{ms}]{gga}"]
    return "\n".join(lines) + "\n"


def embed_blackvue_gps(mp4: Path, nmea_text: str) -> None:
    """Append BlackVue's top-level ``free`` box holding ``gps `` (NMEA) and ``3gf `` boxes."""
    accel = b"".join(struct.pack(">Ihhh", i * 100, 0, 0, 256) for i in range(10))
    free = make_box(
        b"free", make_box(b"gps ", nmea_text.encode("ascii")) + make_box(b"3gf ", accel)
    )
    with open(mp4, "ab") as f:
        f.write(free)


def mai_gps_box(points: Sequence[TrackPoint], slots: int | None = None) -> bytes:
    """70mai's top-level ``GPS `` box: 36-byte records, unused slots zero."""

    def raw(v: float) -> int:
        v = abs(v)
        d = int(v)
        return d * 100_000 + round((v - d) * 60_000)

    recs = b""
    for p in points:
        rec = struct.pack("<IIII", 1, 1, round(p.t), round(p.speed_kmh * 1000))
        rec += (b"N" if p.lat >= 0 else b"S") + struct.pack("<I", raw(p.lat))
        rec += (b"E" if p.lon >= 0 else b"W") + struct.pack("<I", raw(p.lon))
        recs += rec.ljust(36, b"\0")
    total = max(slots or 0, len(points))
    recs = recs.ljust(36 * total, b"\0")
    return make_box(b"GPS ", recs)


def tesla_event_json(when_local: datetime, lat: float | None, lon: float | None) -> str:
    """A Tesla ``event.json`` (est_lat/est_lon are strings; "" when unknown)."""
    return json.dumps(
        {
            "timestamp": when_local.strftime("%Y-%m-%dT%H:%M:%S"),
            "city": "Bengaluru",
            "street": "Brigade Road",
            "est_lat": "" if lat is None else f"{lat:.5f}",
            "est_lon": "" if lon is None else f"{lon:.5f}",
            "reason": "user_interaction_dashcam_icon_tapped",
            "camera": "0",
        }
    )
