"""Keyframe extraction with ffmpeg: JPEG frames at a fixed rate plus an ``index.json``.

Public API:

- :class:`KeyframeIndex` / :class:`Keyframe` — the ``index.json`` written into every
  keyframes directory: ``video_id``, ``video`` (``ROOT:PATH`` of the source), ``channel``,
  ``rate`` (frames per second asked for), ``width`` /
  ``height`` of the JPEGs, and per frame its ``file`` name and ``t`` (seconds from the start
  of the video, as ffmpeg's ``showinfo`` reported it).
- :func:`extract_keyframes(video, out_dir, *, video_id, video_ref=None, channel="unknown",
  rate=1.0, max_width=None, quality=3, timeout=None) <extract_keyframes>` →
  :class:`KeyframeIndex`; raises :class:`~spoold.workers._contract.WorkerError` naming the
  video when ffmpeg fails or yields no frame.
- :func:`load_index(directory) <load_index>` — read and validate a keyframes directory.
- :func:`ffmpeg_exe() <ffmpeg_exe>` — the ffmpeg binary of the ``imageio-ffmpeg`` package.
- ``INDEX_NAME`` = ``"index.json"``.

Runs on Python 3.10.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from schemas.metadata import Channel
from spoold.workers._contract import WorkerError, atomic_write_json

__all__ = [
    "INDEX_NAME",
    "Keyframe",
    "KeyframeIndex",
    "extract_keyframes",
    "ffmpeg_exe",
    "load_index",
]

INDEX_NAME = "index.json"
_SHOWINFO_RE = re.compile(r"\bn:\s*(\d+)\s+pts:\s*(-?\d+)\s+pts_time:\s*(-?[0-9.]+)")


class Keyframe(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    file: str = Field(pattern=r"^[A-Za-z0-9_.-]+\.jpg$")
    t: float = Field(ge=0, description="seconds from the start of the video")


class KeyframeIndex(BaseModel):
    """``index.json`` of a keyframes directory."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    kind: str = "keyframes"
    version: int = 1
    video_id: str
    video: str | None = Field(default=None, description="ROOT:PATH of the source video")
    channel: Channel = "unknown"
    rate: float = Field(gt=0, description="frames per second requested")
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    frames: list[Keyframe]


def ffmpeg_exe() -> str:
    """The ffmpeg shipped inside the imageio-ffmpeg wheel (no system ffmpeg needed)."""
    try:
        import imageio_ffmpeg
    except ImportError:
        raise WorkerError(
            "the imageio-ffmpeg package is not installed (pip install imageio-ffmpeg)"
        ) from None
    return str(imageio_ffmpeg.get_ffmpeg_exe())


def _jpeg_size(path: Path) -> tuple[int, int]:
    """(width, height) from a baseline/progressive JPEG's SOF marker."""
    data = path.read_bytes()
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        seg_len = int.from_bytes(data[i + 2 : i + 4], "big")
        if marker in (0xC0, 0xC1, 0xC2, 0xC3):
            h = int.from_bytes(data[i + 5 : i + 7], "big")
            w = int.from_bytes(data[i + 7 : i + 9], "big")
            return w, h
        i += 2 + seg_len
    raise WorkerError(f"{path}: ffmpeg wrote a JPEG without a frame header")


def extract_keyframes(
    video: Path,
    out_dir: Path,
    *,
    video_id: str,
    video_ref: str | None = None,
    channel: Channel = "unknown",
    rate: float = 1.0,
    max_width: int | None = None,
    quality: int = 3,
    timeout: float | None = None,
) -> KeyframeIndex:
    """Write ``kf_NNNNNN.jpg`` at ``rate`` frames/s and ``index.json`` into ``out_dir``.

    ``max_width`` scales larger frames down (aspect kept); ``quality`` is ffmpeg's ``-q:v``
    (2 best … 31 worst).  Frame ``k`` is the source frame nearest to ``k / rate`` seconds.
    """
    if not rate > 0:
        raise WorkerError(f"keyframe rate must be > 0 frames per second, got {rate}")
    out_dir.mkdir(parents=True, exist_ok=True)
    filters = [f"fps={rate:g}"]
    if max_width:
        filters.append(f"scale='min(iw,{int(max_width)})':-2")
    filters.append("showinfo")
    cmd = [
        ffmpeg_exe(),
        *("-hide_banner", "-nostdin", "-loglevel", "info", "-y"),
        *("-i", str(video)),
        *("-an", "-sn", "-dn", "-vf", ",".join(filters)),
        *("-q:v", str(int(quality)), "-f", "image2", "-start_number", "0"),
        str(out_dir / "kf_%06d.jpg"),
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise WorkerError(
            f"{video}: ffmpeg keyframe extraction timed out after {timeout}s"
        ) from None
    if proc.returncode != 0:
        tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
        raise WorkerError(f"{video}: ffmpeg failed (exit {proc.returncode}): {tail}")
    times = {int(m[1]): float(m[3]) for m in _SHOWINFO_RE.finditer(proc.stderr)}
    files = sorted(out_dir.glob("kf_*.jpg"))
    if not files:
        raise WorkerError(f"{video}: ffmpeg decoded no video frame (no keyframe written)")
    frames = []
    for path in files:
        n = int(path.stem.split("_")[1])
        t = times.get(n, n / rate)
        frames.append(Keyframe(file=path.name, t=round(max(t, 0.0), 3)))
    width, height = _jpeg_size(files[0])
    index = KeyframeIndex(
        video_id=video_id,
        video=video_ref,
        channel=channel,
        rate=rate,
        width=width,
        height=height,
        frames=frames,
    )
    atomic_write_json(out_dir / INDEX_NAME, index)
    return index


def load_index(directory: Path) -> KeyframeIndex:
    """The validated ``index.json`` of a keyframes directory (WorkerError naming the file)."""
    path = directory / INDEX_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise WorkerError(f"{path}: cannot read keyframes index ({exc.strerror})") from None
    try:
        index = KeyframeIndex.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first.get("loc", ()))
        raise WorkerError(f"{path}: invalid keyframes index: {loc}: {first['msg']}") from None
    for fr in index.frames:
        if not (directory / fr.file).is_file():
            raise WorkerError(f"{directory / fr.file}: listed in {INDEX_NAME} but missing")
    return index
