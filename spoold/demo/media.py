"""Sample dashcam clips made on the spot for the end-to-end demo: brands, GPS, licence plates.

Public API:

- :func:`generate_demo_clips(out_dir, *, seconds=12.0, fps=10, camera_tz="Asia/Kolkata",
  start_local=datetime(2026, 11, 25, 10, 15), brands=None) <generate_demo_clips>` →
  :class:`DemoManifest`; also writes ``out_dir/manifest.json``.
- :class:`DemoManifest` (``clips``, ``camera_tz``, :meth:`~DemoManifest.to_json`,
  :meth:`~DemoManifest.plates`), :class:`DemoClip` (``path`` relative to ``out_dir``,
  ``brand``, ``channel``, ``start_local``/``start_utc``, size, ``gps_source`` the extractor
  should report, ``sidecars``, ``plates``, ``track``; :meth:`~DemoClip.position_at`),
  :class:`DemoPlate` (``text``, ``t_start``/``t_end``/``t_mid`` seconds into the clip,
  ``time_utc``, ``lat``/``lon`` at ``t_mid``, ``bbox`` at ``t_mid``), :class:`TrackPoint`.
- :func:`plate_frame(text, *, width=640, height=360, plate_width=None, ...) <plate_frame>` —
  one rendered frame with a readable plate (for detector tests), and its plate box.
- :data:`ROUTE` — the demo route (a real street polyline in Bengaluru, lat/lon) and
  :func:`route_position(t) <route_position>` → (lat, lon, heading) at 10 m/s.
- Writers of the brands' GPS payloads, used here and by the tests:
  :func:`novatek_freegps_block`, :func:`embed_novatek_gps`, :func:`blackvue_nmea_lines`,
  :func:`embed_blackvue_gps`, :func:`mai_gps_box`, :func:`tesla_event_json`.
- ``python -m spoold.demo.media OUT_DIR [--seconds S] [--brands viofo,blackvue,...]`` —
  generate and print the manifest path.

The clips (file names, folders and GPS as each brand writes them):

=========== ================================================= =================================
brand       file                                              GPS
=========== ================================================= =================================
viofo       ``viofo/DCIM/Movie/2026_1125_101500_000120F.MP4`` Novatek ``moov/gps `` index +
            and ``...R.MP4`` (rear, smaller)                  binary ``freeGPS `` blocks (1 Hz)
blackvue    ``blackvue/Record/20261125_101600_NF.mp4``         ``20261125_101600_N.gps`` sidecar
                                                              and a ``free/gps `` box (NMEA)
70mai       ``70mai/Normal/Front/NO20261125-101630-000001.MP4`` top-level ``GPS `` box
tesla       ``tesla/TeslaCam/SavedClips/<event>/...-front.mp4`` ``event.json`` est_lat/est_lon
=========== ================================================= =================================

Each frame is a simple road scene with a dashcam-style overlay (date, time, speed), and at
known times a car whose licence plate (white plate, black Hershey-font text: no font file)
is readable for ~2.6 s.  Encoded with the imageio-ffmpeg ffmpeg (raw frames piped in, H.264
when available), ``moov`` at the end as dashcams write it.  Five 12-s clips take a few seconds.
Runs on Python 3.10.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import struct
import subprocess
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from spoold.demo.samples import ffmpeg_exe, video_encoder
from spoold.workers.mp4box import make_box, top_level_boxes
from spoold.workers.nmea import nmea_sentence, to_nmea_coord

__all__ = [
    "ROUTE",
    "SPEED_MPS",
    "DemoClip",
    "DemoManifest",
    "DemoPlate",
    "TrackPoint",
    "blackvue_nmea_lines",
    "embed_blackvue_gps",
    "embed_novatek_gps",
    "generate_demo_clips",
    "mai_gps_box",
    "novatek_freegps_block",
    "plate_frame",
    "route_position",
    "tesla_event_json",
]

#: MG Road → Brigade Road → Residency Road, Bengaluru (lat, lon); ~1.7 km.
ROUTE: tuple[tuple[float, float], ...] = (
    (12.97560, 77.60500),
    (12.97540, 77.60900),
    (12.97510, 77.61300),
    (12.97380, 77.61500),
    (12.97150, 77.61560),
    (12.96900, 77.61600),
)
SPEED_MPS = 10.0  # 36 km/h
EARTH_R = 6_371_000.0
KNOTS_PER_KMH = 1 / 1.852
BGR = tuple[int, int, int]


def _haversine(a: tuple[float, float], b: tuple[float, float]) -> float:
    la1, lo1, la2, lo2 = map(math.radians, (*a, *b))
    h = (
        math.sin((la2 - la1) / 2) ** 2
        + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    )
    return 2 * EARTH_R * math.asin(math.sqrt(h))


def _bearing(a: tuple[float, float], b: tuple[float, float]) -> float:
    la1, lo1, la2, lo2 = map(math.radians, (*a, *b))
    y = math.sin(lo2 - lo1) * math.cos(la2)
    x = math.cos(la1) * math.sin(la2) - math.sin(la1) * math.cos(la2) * math.cos(lo2 - lo1)
    return (math.degrees(math.atan2(y, x)) + 360) % 360


def route_position(t: float) -> tuple[float, float, float]:
    """(lat, lon, heading) after ``t`` seconds along :data:`ROUTE` at :data:`SPEED_MPS`."""
    dist = max(0.0, t) * SPEED_MPS
    for a, b in itertools.pairwise(ROUTE):
        seg = _haversine(a, b)
        if dist <= seg or b == ROUTE[-1]:
            f = min(1.0, dist / seg) if seg else 0.0
            return (a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, _bearing(a, b))
        dist -= seg
    return (*ROUTE[-1], 0.0)  # pragma: no cover


@dataclass
class TrackPoint:
    t: float
    time_utc: str
    lat: float
    lon: float
    speed_kmh: float
    heading: float


@dataclass
class DemoPlate:
    text: str
    t_start: float
    t_end: float
    t_mid: float
    time_utc: str
    lat: float
    lon: float
    bbox: tuple[float, float, float, float]  # normalized x, y, w, h at t_mid


@dataclass
class DemoClip:
    path: str
    brand: str
    channel: str
    video_id: str
    start_local: str
    start_utc: str
    route_offset_s: float
    seconds: float
    fps: int
    width: int
    height: int
    gps_source: str
    sidecars: list[str] = field(default_factory=list)
    plates: list[DemoPlate] = field(default_factory=list)
    track: list[TrackPoint] = field(default_factory=list)

    def position_at(self, t: float) -> tuple[float, float]:
        """(lat, lon) of the car ``t`` seconds into this clip."""
        lat, lon, _ = route_position(self.route_offset_s + t)
        return lat, lon


@dataclass
class DemoManifest:
    root: str
    camera_tz: str
    clips: list[DemoClip]

    def plates(self) -> list[tuple[DemoClip, DemoPlate]]:
        return [(c, p) for c in self.clips for p in c.plates]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


# --------------------------------------------------------------------------------------------
# GPS payload writers


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


# --------------------------------------------------------------------------------------------
# rendering


@dataclass(frozen=True)
class _PlateSpec:
    text: str
    t_start: float
    t_end: float
    x_frac: float  # horizontal centre, fraction of the width


@dataclass(frozen=True)
class _ClipSpec:
    brand: str
    path: str
    route_offset_s: float
    width: int
    height: int
    plates: tuple[_PlateSpec, ...]
    car_colour: BGR
    overlay: str  # brand text in the overlay


def _specs(start_local: datetime) -> list[_ClipSpec]:
    def name(offset: float, fmt: str) -> str:
        return (start_local + timedelta(seconds=offset)).strftime(fmt)

    tesla_event = start_local + timedelta(seconds=125)
    return [
        _ClipSpec(
            "viofo",
            "viofo/DCIM/Movie/" + name(0, "%Y_%m%d_%H%M%S") + "_000120F.MP4",
            0.0,
            640,
            360,
            (_PlateSpec("KA01AB1234", 3.0, 5.6, 0.45), _PlateSpec("KA05MN4321", 8.0, 10.6, 0.6)),
            (40, 40, 150),
            "VIOFO A139",
        ),
        _ClipSpec(
            "viofo",
            "viofo/DCIM/Movie/" + name(0, "%Y_%m%d_%H%M%S") + "_000120R.MP4",
            0.0,
            480,
            272,
            (_PlateSpec("KA03HB7788", 4.0, 6.6, 0.5),),
            (120, 90, 30),
            "VIOFO A139 R",
        ),
        _ClipSpec(
            "blackvue",
            "blackvue/Record/" + name(60, "%Y%m%d_%H%M%S") + "_NF.mp4",
            60.0,
            640,
            360,
            (_PlateSpec("MH12DE1433", 2.0, 4.6, 0.5),),
            (60, 60, 60),
            "BLACKVUE",
        ),
        _ClipSpec(
            "70mai",
            "70mai/Normal/Front/NO" + name(90, "%Y%m%d-%H%M%S") + "-000001.MP4",
            90.0,
            640,
            360,
            (_PlateSpec("DL8CAF5031", 5.0, 7.6, 0.4),),
            (30, 110, 30),
            "70MAI",
        ),
        _ClipSpec(
            "tesla",
            "tesla/TeslaCam/SavedClips/"
            + tesla_event.strftime("%Y-%m-%d_%H-%M-%S")
            + "/"
            + name(120, "%Y-%m-%d_%H-%M-%S")
            + "-front.mp4",
            120.0,
            640,
            360,
            (_PlateSpec("TN09BC6543", 3.0, 5.6, 0.55),),
            (140, 140, 140),
            "",
        ),
    ]


def _background(w: int, h: int) -> NDArray[np.uint8]:
    img = np.zeros((h, w, 3), np.uint8)
    horizon = h // 2
    ramp = np.linspace(0.0, 1.0, horizon)[:, None]
    img[:horizon, :, 0] = (215 - 60 * ramp).astype(np.uint8)
    img[:horizon, :, 1] = (185 - 50 * ramp).astype(np.uint8)
    img[:horizon, :, 2] = (140 - 20 * ramp).astype(np.uint8)
    img[horizon:, :] = (70, 75, 70)
    road = np.array([[w * 0.44, horizon], [w * 0.56, horizon], [w * 0.98, h], [w * 0.02, h]])
    cv2.fillPoly(img, [road.astype(np.int32)], (95, 95, 95))
    for i in range(6):  # buildings
        x0 = int(w * (0.02 + 0.07 * i))
        cv2.rectangle(img, (x0, int(h * 0.2)), (x0 + int(w * 0.05), horizon), (110, 120, 150), -1)
        x1 = int(w * (0.6 + 0.065 * i))
        cv2.rectangle(img, (x1, int(h * 0.25)), (x1 + int(w * 0.05), horizon), (140, 130, 120), -1)
    return img


def _draw_plate(
    img: NDArray[np.uint8], text: str, cx: int, cy: int, pw: int, colour: BGR
) -> tuple[int, int, int, int]:
    ph = int(pw * 0.24)
    cw, ch = int(pw * 2.6), int(pw * 1.3)
    cv2.rectangle(
        img, (cx - cw // 2, cy - int(ch * 0.7)), (cx + cw // 2, cy + int(ch * 0.3)), colour, -1
    )
    cv2.rectangle(
        img,
        (cx - cw // 2 + 4, cy - int(ch * 0.65)),
        (cx + cw // 2 - 4, cy - int(ch * 0.3)),
        (50, 40, 40),
        -1,
    )
    x0, y0 = cx - pw // 2, cy - ph // 2
    cv2.rectangle(img, (x0, y0), (x0 + pw, y0 + ph), (245, 245, 245), -1)
    cv2.rectangle(img, (x0, y0), (x0 + pw, y0 + ph), (0, 0, 0), max(1, pw // 80))
    font, thick = cv2.FONT_HERSHEY_SIMPLEX, max(1, pw // 60)
    (tw, th), _ = cv2.getTextSize(text, font, 1.0, thick)
    scale = min(pw * 0.9 / tw, ph * 0.7 / th)
    (tw, th), _ = cv2.getTextSize(text, font, scale, thick)
    cv2.putText(
        img,
        text,
        (x0 + (pw - tw) // 2, y0 + (ph + th) // 2),
        font,
        scale,
        (0, 0, 0),
        thick,
        cv2.LINE_AA,
    )
    return x0, y0, pw, ph


def plate_frame(
    text: str,
    *,
    width: int = 640,
    height: int = 360,
    plate_width: int | None = None,
    x_frac: float = 0.5,
    colour: BGR = (40, 40, 150),
    noise: float = 0.0,
    seed: int = 0,
) -> tuple[NDArray[np.uint8], tuple[int, int, int, int]]:
    """One road-scene frame with a car showing plate ``text``; returns (BGR image, plate box).

    ``plate_width`` defaults to 21 % of ``width``; ``noise`` adds Gaussian pixel noise with
    that standard deviation (then a JPEG round trip, as keyframes get).
    """
    img: NDArray[np.uint8] = np.array(_background(width, height), copy=True)
    pw = plate_width or int(width * 0.21)
    box = _draw_plate(img, text, int(width * x_frac), int(height * 0.72), pw, colour)
    if noise > 0:
        rng = np.random.default_rng(seed)
        noisy = img.astype(np.float64) + rng.normal(0.0, noise, img.shape)
        img = np.clip(noisy, 0, 255).astype(np.uint8)
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 85])
        if ok:
            img = np.asarray(cv2.imdecode(buf, cv2.IMREAD_COLOR), dtype=np.uint8)
    return img, box


def _plate_geometry(spec: _PlateSpec, t: float, w: int, h: int) -> tuple[int, int, int]:
    """Centre and width of the plate at ``t`` (the car slowly approaches)."""
    f = (t - spec.t_start) / max(1e-6, spec.t_end - spec.t_start)
    pw = int(w * (0.19 + 0.05 * f))
    cx = int(w * spec.x_frac + w * 0.02 * math.sin(f * math.pi))
    cy = int(h * (0.70 + 0.04 * f))
    return cx, cy, pw


def _render(
    spec: _ClipSpec, bg: NDArray[np.uint8], t: float, start_local: datetime, speed_kmh: float
) -> NDArray[np.uint8]:
    w, h = spec.width, spec.height
    img: NDArray[np.uint8] = np.array(bg, copy=True)
    horizon = h // 2
    phase = (t * SPEED_MPS * 6) % 60
    for k in range(8):  # centre-line dashes moving towards the camera
        y0 = horizon + int(((k * 60 + phase) / 480) ** 1.6 * (h - horizon))
        y1 = y0 + max(2, (y0 - horizon) // 4)
        cv2.line(
            img,
            (w // 2, y0),
            (w // 2, min(h - 1, y1)),
            (235, 235, 235),
            max(1, (y0 - horizon) // 25),
        )
    if spec.brand == "tesla":
        pass  # Tesla clips carry no overlay
    else:
        when = start_local + timedelta(seconds=t)
        stamp = f"{when:%Y/%m/%d %H:%M:%S}  {speed_kmh:.0f} KM/H  {spec.overlay}"
        cv2.putText(
            img,
            stamp,
            (8, h - 10),
            cv2.FONT_HERSHEY_PLAIN,
            max(0.8, w / 640),
            (255, 255, 255),
            1,
            cv2.LINE_AA,
        )
    for ps in spec.plates:
        if ps.t_start <= t <= ps.t_end:
            cx, cy, pw = _plate_geometry(ps, t, w, h)
            _draw_plate(img, ps.text, cx, cy, pw, spec.car_colour)
    return img


def _encode(path: Path, frames: Sequence[NDArray[np.uint8]], w: int, h: int, fps: int) -> None:
    enc = video_encoder()
    cmd = [
        ffmpeg_exe(),
        *("-hide_banner", "-loglevel", "error", "-nostdin", "-y"),
        *("-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{w}x{h}", "-r", str(fps), "-i", "-"),
    ]
    if enc == "libx264":
        cmd += ["-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p"]
    else:
        cmd += ["-c:v", "mpeg4", "-q:v", "3"]
    cmd += ["-g", str(fps), "-map_metadata", "-1", "-f", "mp4", str(path)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdin is not None and proc.stderr is not None
    try:
        for frame in frames:
            proc.stdin.write(frame.tobytes())
        proc.stdin.close()
    except BrokenPipeError:
        pass
    err = proc.stderr.read().decode(errors="replace")
    if proc.wait(timeout=120) != 0:
        raise RuntimeError(f"ffmpeg failed encoding {path}: {err.strip()[-500:]}")


# --------------------------------------------------------------------------------------------
# generation


def generate_demo_clips(
    out_dir: Path,
    *,
    seconds: float = 12.0,
    fps: int = 10,
    camera_tz: str = "Asia/Kolkata",
    start_local: datetime = datetime(2026, 11, 25, 10, 15),
    brands: Sequence[str] | None = None,
) -> DemoManifest:
    """Write the demo clips (and sidecars) under ``out_dir``; return and save the manifest."""
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(camera_tz)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    clips: list[DemoClip] = []
    for spec in _specs(start_local):
        if brands is not None and spec.brand not in brands:
            continue
        clip_local = start_local + timedelta(seconds=spec.route_offset_s)
        clip_utc = clip_local.replace(tzinfo=tz).astimezone(timezone.utc)
        path = out_dir / spec.path
        path.parent.mkdir(parents=True, exist_ok=True)
        n_frames = round(seconds * fps)
        track = []
        for i in range(int(seconds) + 1):
            lat, lon, heading = route_position(spec.route_offset_s + i)
            track.append(
                TrackPoint(
                    t=float(i),
                    time_utc=(clip_utc + timedelta(seconds=i)).isoformat(),
                    lat=round(lat, 7),
                    lon=round(lon, 7),
                    speed_kmh=SPEED_MPS * 3.6,
                    heading=round(heading, 2),
                )
            )
        bg = _background(spec.width, spec.height)
        frames = [_render(spec, bg, k / fps, clip_local, SPEED_MPS * 3.6) for k in range(n_frames)]
        _encode(path, frames, spec.width, spec.height, fps)

        sidecars: list[str] = []
        if spec.brand == "viofo":
            blocks = [
                novatek_freegps_block(
                    datetime.fromisoformat(p.time_utc), p.lat, p.lon, p.speed_kmh, p.heading
                )
                for p in track[: int(seconds)]
            ]
            embed_novatek_gps(path, blocks)
            source = "freegps"
        elif spec.brand == "blackvue":
            text = blackvue_nmea_lines(track)
            gps_name = path.name.rsplit("_", 1)[0] + "_" + path.stem[-2] + ".gps"
            (path.parent / gps_name).write_text(text)
            embed_blackvue_gps(path, text)
            sidecars.append(str(Path(spec.path).parent / gps_name))
            source = "nmea-sidecar"
        elif spec.brand == "70mai":
            with open(path, "ab") as f:
                f.write(mai_gps_box(track, slots=max(len(track), 60)))
            source = "70mai"
        elif spec.brand == "tesla":
            event_local = datetime.strptime(path.parent.name, "%Y-%m-%d_%H-%M-%S")
            t_event = (event_local - clip_local).total_seconds()
            lat, lon, _ = route_position(spec.route_offset_s + t_event)
            (path.parent / "event.json").write_text(tesla_event_json(event_local, lat, lon))
            sidecars.append(str(Path(spec.path).parent / "event.json"))
            source = "tesla-event-json"
        else:  # pragma: no cover
            source = "none"

        plates = []
        for ps in spec.plates:
            t_mid = round((ps.t_start + ps.t_end) / 2, 3)
            lat, lon, _ = route_position(spec.route_offset_s + t_mid)
            cx, cy, pw = _plate_geometry(ps, t_mid, spec.width, spec.height)
            ph = int(pw * 0.24)
            plates.append(
                DemoPlate(
                    text=ps.text,
                    t_start=ps.t_start,
                    t_end=ps.t_end,
                    t_mid=t_mid,
                    time_utc=(clip_utc + timedelta(seconds=t_mid)).isoformat(),
                    lat=round(lat, 7),
                    lon=round(lon, 7),
                    bbox=(
                        round((cx - pw // 2) / spec.width, 4),
                        round((cy - ph // 2) / spec.height, 4),
                        round(pw / spec.width, 4),
                        round(ph / spec.height, 4),
                    ),
                )
            )
        channel = "rear" if path.stem.endswith("R") else "front"
        clips.append(
            DemoClip(
                path=spec.path,
                brand=spec.brand,
                channel=channel,
                video_id=path.stem,
                start_local=clip_local.isoformat(),
                start_utc=clip_utc.isoformat(),
                route_offset_s=spec.route_offset_s,
                seconds=n_frames / fps,
                fps=fps,
                width=spec.width,
                height=spec.height,
                gps_source=source,
                sidecars=sidecars,
                plates=plates,
                track=track,
            )
        )
    manifest = DemoManifest(root=str(out_dir), camera_tz=camera_tz, clips=clips)
    (out_dir / "manifest.json").write_text(manifest.to_json() + "\n")
    return manifest


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m spoold.demo.media", description=__doc__.split("\n")[0]
    )
    p.add_argument("out_dir", type=Path)
    p.add_argument("--seconds", type=float, default=12.0)
    p.add_argument("--fps", type=int, default=10)
    p.add_argument("--camera-tz", default="Asia/Kolkata")
    p.add_argument("--brands", default=None, help="comma list: viofo,blackvue,70mai,tesla")
    ns = p.parse_args(argv)
    brands = ns.brands.split(",") if ns.brands else None
    m = generate_demo_clips(
        ns.out_dir, seconds=ns.seconds, fps=ns.fps, camera_tz=ns.camera_tz, brands=brands
    )
    for c in m.clips:
        plates = ", ".join(f"{pl.text}@{pl.t_start:g}-{pl.t_end:g}s" for pl in c.plates)
        print(f"{c.path}  gps={c.gps_source}  plates: {plates}")
    print(f"manifest: {ns.out_dir / 'manifest.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
