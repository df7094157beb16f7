"""Real, small video files made on the spot, for tests, benchmarks and the demo.

Public API:

- :func:`make_clip(path, seconds=2, size=(320, 240), fps=10, creation_time=None, seed=0)
  <make_clip>` → ``Path``: a real MP4 (testsrc pattern, H.264 via libx264 when the bundled
  ffmpeg has it, else MPEG-4 Part 2), index (``moov``) at the end as dashcams write it.
- :func:`make_truncated_copy(src, dst)` — an interrupted copy: cut inside ``mdat``, before
  the ``moov`` index.
- :func:`make_zero_tail_copy(src, dst, zero_bytes=None)` — same size, last part zeroed (a
  pre-allocated SMB/Windows-style copy that never finished).
- :func:`make_fake_video(dst)` — a text file named ``.mp4``; :func:`make_empty(dst)` — 0 bytes.
- :func:`brand_names()` — one realistic relative path per dashcam naming convention.
- :func:`ffmpeg_exe()`, :func:`video_encoder()` — the ffmpeg used and the encoder chosen.

Encoding is the slow part, so every distinct clip is encoded once into a cache directory
(``$SPOOLD_SAMPLES_CACHE`` or ``<tmp>/spoold-samples-<uid>``) and then copied. Copies of the
same clip are byte-identical and therefore share a video id; pass a different ``seed`` to get
different content (hue-shifted picture + a comment tag) and hence a different id.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import struct
import subprocess
import tempfile
from datetime import datetime, timezone
from pathlib import Path

__all__ = [
    "brand_names",
    "ffmpeg_exe",
    "make_clip",
    "make_empty",
    "make_fake_video",
    "make_truncated_copy",
    "make_zero_tail_copy",
    "video_encoder",
]

# Bump when the ffmpeg command line changes, so cached clips are rebuilt.
_CACHE_VERSION = "1"

StrPath = str | os.PathLike[str]


@functools.cache
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary shipped by imageio-ffmpeg."""
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


@functools.cache
def video_encoder() -> str:
    """``libx264`` when this ffmpeg build has it, else ``mpeg4`` (always built in)."""
    out = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-encoders"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    ).stdout
    return "libx264" if any(" libx264 " in line for line in out.splitlines()) else "mpeg4"


def _cache_dir() -> Path:
    env = os.environ.get("SPOOLD_SAMPLES_CACHE")
    if env:
        d = Path(env)
    else:
        uid = os.getuid() if hasattr(os, "getuid") else 0
        d = Path(tempfile.gettempdir()) / f"spoold-samples-{uid}"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _iso_utc(t: datetime) -> str:
    if t.tzinfo is None:  # naive means UTC here, as the MP4 header stores UTC
        t = t.replace(tzinfo=timezone.utc)
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000000Z")


def _encode(
    out: Path, seconds: float, size: tuple[int, int], fps: int, created: str | None, seed: int
) -> None:
    enc = video_encoder()
    w, h = size
    cmd = [
        ffmpeg_exe(),
        *("-hide_banner", "-loglevel", "error", "-nostdin", "-y"),
        *("-f", "lavfi", "-i", f"testsrc=size={w}x{h}:rate={fps}:duration={seconds}"),
    ]
    if seed:
        cmd += ["-vf", f"hue=h={(seed * 47) % 360}"]  # different pixels, not just tags
    if enc == "libx264":
        cmd += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    else:
        cmd += ["-c:v", "mpeg4", "-q:v", "5"]
    # No -movflags: the moov index goes after mdat, like every dashcam writes it.
    cmd += ["-g", str(fps), "-map_metadata", "-1", "-metadata", f"comment=spoold-sample-{seed}"]
    if created is not None:
        cmd += ["-metadata", f"creation_time={created}"]
    cmd += ["-f", "mp4", str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)
    if res.returncode != 0:
        raise RuntimeError(f"ffmpeg failed making {out}: {res.stderr.strip()[-500:]}")


def make_clip(
    path: StrPath,
    seconds: float = 2,
    size: tuple[int, int] = (320, 240),
    fps: int = 10,
    creation_time: datetime | None = None,
    *,
    seed: int = 0,
) -> Path:
    """Write a real MP4 clip to ``path`` (parents created) and return it as a ``Path``.

    ``creation_time`` goes into the MP4 header (naive = UTC). Same arguments → byte-identical
    file (same video id); change ``seed`` for distinct content.
    """
    created = _iso_utc(creation_time) if creation_time is not None else None
    key = "|".join(
        map(str, (_CACHE_VERSION, ffmpeg_exe(), video_encoder(), seconds, size, fps, created, seed))
    )
    cache = _cache_dir() / f"clip-{hashlib.sha256(key.encode()).hexdigest()[:20]}.mp4"
    if not cache.exists():
        fd, tmp = tempfile.mkstemp(prefix=".clip-", suffix=".mp4", dir=cache.parent)
        os.close(fd)
        try:
            _encode(Path(tmp), seconds, size, fps, created, seed)
            os.replace(tmp, cache)  # atomic: parallel test processes may race here
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    dst = Path(path)
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(cache, dst)
    return dst


def _top_level_boxes(data: bytes) -> list[tuple[int, bytes, int]]:
    """(offset, type, size) of each top-level MP4 box."""
    boxes: list[tuple[int, bytes, int]] = []
    pos = 0
    while pos + 8 <= len(data):
        size, typ = struct.unpack_from(">I4s", data, pos)
        if size == 1:
            (size,) = struct.unpack_from(">Q", data, pos + 8)
        elif size == 0:
            size = len(data) - pos
        if size < 8:
            break
        boxes.append((pos, typ, size))
        pos += size
    return boxes


def _box(data: bytes, typ: bytes, src: StrPath) -> tuple[int, int]:
    for off, t, size in _top_level_boxes(data):
        if t == typ:
            return off, size
    raise ValueError(f"{os.fspath(src)}: no top-level {typ.decode()!r} box — not an MP4 clip")


def make_truncated_copy(src: StrPath, dst: StrPath) -> Path:
    """Copy ``src`` cut halfway through its media data, so the ``moov`` index is missing
    (what an interrupted copy of a dashcam file looks like)."""
    data = Path(src).read_bytes()
    mdat_off, _ = _box(data, b"mdat", src)
    moov_off, _ = _box(data, b"moov", src)
    if moov_off < mdat_off:
        raise ValueError(f"{os.fspath(src)}: moov is before mdat (faststart); cannot cut it off")
    cut = mdat_off + (moov_off - mdat_off) // 2
    out = Path(dst)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data[:cut])
    return out


def make_zero_tail_copy(src: StrPath, dst: StrPath, zero_bytes: int | None = None) -> Path:
    """Copy ``src`` at full size with the last ``zero_bytes`` bytes zeroed (default: a quarter
    of the file, which reaches into ``mdat``), like a pre-allocated copy that never finished."""
    data = bytearray(Path(src).read_bytes())
    n = len(data) // 4 if zero_bytes is None else zero_bytes
    if not 0 < n <= len(data):
        raise ValueError(f"zero_bytes must be in 1..{len(data)}, got {n}")
    data[len(data) - n :] = bytes(n)
    out = Path(dst)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(bytes(data))
    return out


def make_fake_video(dst: StrPath) -> Path:
    """A text file with a video name."""
    out = Path(dst)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("This is not a video. It only has a video's name.\n" * 4, encoding="utf-8")
    return out


def make_empty(dst: StrPath) -> Path:
    """A 0-byte file (what many copy tools create first)."""
    out = Path(dst)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(b"")
    return out


def brand_names() -> dict[str, str]:
    """brand → one realistic relative path (as found under a device's storage root)."""
    return {
        "viofo": "DCIM/Movie/2026_0513_172152_000120F.MP4",
        "blackvue": "Record/20190101_120000_NF.mp4",
        "nextbase": "DCIM/Video/240915_143027_001_FH.MP4",
        "70mai": "Normal/Front/NO20191130-120156-000121.MP4",
        "thinkware": "cont_rec/REC_20240915_143027_F.MP4",
        "tesla": "TeslaCam/RecentClips/2024-09-15_14-25-00-front.mp4",
    }
