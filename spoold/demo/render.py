"""Dashcam frames drawn with OpenCV, and their encoding into an MP4.

Public API: :func:`plate_frame` (one frame with a readable plate, for detector tests),
:class:`SceneClip` and :class:`ScenePlate` (what a demo clip shows), :func:`background`,
:func:`render_frame`, :func:`plate_geometry`, :func:`encode_mp4`.

Each frame is a simple road scene with a dashcam-style overlay (date, time, speed), and at
known times a car whose licence plate (white plate, black Hershey-font text: no font file)
is readable.  Frames are piped raw into the imageio-ffmpeg ffmpeg (H.264 when available),
which writes ``moov`` at the end as dashcams do.
"""

from __future__ import annotations

import math
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from spoold.demo.route import SPEED_MPS
from spoold.demo.samples import ffmpeg_exe, video_encoder

__all__ = [
    "SceneClip",
    "ScenePlate",
    "background",
    "encode_mp4",
    "plate_frame",
    "plate_geometry",
    "render_frame",
]

BGR = tuple[int, int, int]


@dataclass(frozen=True)
class ScenePlate:
    """A plate in view from ``t_start`` to ``t_end`` seconds into the clip."""

    text: str
    t_start: float
    t_end: float
    x_frac: float  # horizontal centre, fraction of the width


@dataclass(frozen=True)
class SceneClip:
    """One demo clip to draw: brand, file path, where on the route it starts, its plates."""

    brand: str
    path: str
    route_offset_s: float
    width: int
    height: int
    plates: tuple[ScenePlate, ...]
    car_colour: BGR
    overlay: str  # brand text in the overlay


def background(w: int, h: int) -> NDArray[np.uint8]:
    """The still part of every frame: sky, road, buildings."""
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
    img: NDArray[np.uint8] = np.array(background(width, height), copy=True)
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


def plate_geometry(spec: ScenePlate, t: float, w: int, h: int) -> tuple[int, int, int]:
    """Centre and width of the plate at ``t`` (the car slowly approaches)."""
    f = (t - spec.t_start) / max(1e-6, spec.t_end - spec.t_start)
    pw = int(w * (0.19 + 0.05 * f))
    cx = int(w * spec.x_frac + w * 0.02 * math.sin(f * math.pi))
    cy = int(h * (0.70 + 0.04 * f))
    return cx, cy, pw


def render_frame(
    spec: SceneClip, bg: NDArray[np.uint8], t: float, start_local: datetime, speed_kmh: float
) -> NDArray[np.uint8]:
    """The frame ``t`` seconds into ``spec``'s clip, drawn over its :func:`background`."""
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
            cx, cy, pw = plate_geometry(ps, t, w, h)
            _draw_plate(img, ps.text, cx, cy, pw, spec.car_colour)
    return img


def encode_mp4(path: Path, frames: Sequence[NDArray[np.uint8]], w: int, h: int, fps: int) -> None:
    """Write ``frames`` (BGR, ``w`` x ``h``) to ``path`` as an MP4 at ``fps``."""
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
