"""Video files on the NAS: identity, validation and ingestion metadata.

Public API:

- :func:`fingerprint(path) <fingerprint>` → ``"v" + 20 hex``: the stable video id (size + blake2b
  of the first and last 64 KiB; only those bytes are read).
- :func:`probe(path, *, timeout=None) <probe>` → :class:`MediaInfoResult`, or raises
  :class:`VideoRejected` (will never be a valid video as it is), :class:`VideoNotReady` (changed
  while being probed: try again later) or :class:`ProbeTimeout` (mediainfo did not answer).
- :func:`describe(root_name, root_path, relpath, *, timeout=None, vehicle=None) <describe>` →
  :class:`schemas.metadata.VideoMeta`: fingerprint + probe + :func:`spoold.dashcam.parse_name`.
- Reasons (``VideoRejected.reason``): :data:`REASON_EMPTY`, :data:`REASON_NOT_MEDIA`,
  :data:`REASON_TRUNCATED`, :data:`REASON_ZERO_TAIL`, :data:`REASON_NO_VIDEO`,
  :data:`REASON_NO_DURATION`, :data:`REASON_NO_PICTURE_SIZE`.

Completeness rule (research notes metadata-anchors.md §2): reject when mediainfo says
``IsTruncated``, finds no video track, or no duration. MediaInfo does **not** flag a
pre-allocated copy whose tail is still zero (size already final), so :func:`probe` also walks
the MP4 box headers itself (a few small reads) and reads the ``moov`` index:

- zero bytes where a top-level box header should be, before any complete ``moov`` → rejected
  with :data:`REASON_ZERO_TAIL` (covers every zero tail that starts in ``mdat``);
- inside ``moov``: an all-zero child header in a container box, or a sample table (``stco``,
  ``stsz``, ``stts``...) whose last entry is zero → rejected too (the tail reached the index);
- zeros *after* a complete ``moov`` are padding: the clip plays, so it is accepted;
- not detected: a zero tail confined to the final metadata box (``udta``; playback unaffected)
  or to fewer than 8 bytes of the last table, and zero tails of faststart files (``moov``
  first; dashcams never write those). The fingerprint still differs from the complete file's,
  and the caller's stability window (:mod:`spoold.server.ingest.stability`) is the other guard.

A 0-byte file, a text file and a truncated copy are rejected with their own reasons.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import struct
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from schemas.metadata import VideoMeta
from spoold.dashcam import parse_name
from spoold.errors import SpoolError, StorageUnavailable

__all__ = [
    "FINGERPRINT_CHUNK",
    "PARSE_SPEED",
    "REASON_EMPTY",
    "REASON_NOT_MEDIA",
    "REASON_NO_DURATION",
    "REASON_NO_PICTURE_SIZE",
    "REASON_NO_VIDEO",
    "REASON_TRUNCATED",
    "REASON_ZERO_TAIL",
    "MediaInfoResult",
    "ProbeTimeout",
    "VideoNotReady",
    "VideoRejected",
    "describe",
    "fingerprint",
    "probe",
]

StrPath = str | os.PathLike[str]

FINGERPRINT_CHUNK = 64 * 1024
# ParseSpeed 0: headers and root atoms only (~200 KiB read on a 4 MB clip instead of ~1 MiB
# at the default 0.5) and IsTruncated detection is kept. pymediainfo 7 takes it as the
# keyword ``parse_speed`` and passes it to the library option "ParseSpeed".
PARSE_SPEED = 0.0

REASON_EMPTY = "empty file (0 bytes)"
REASON_NOT_MEDIA = "not a media file"
REASON_TRUNCATED = "file is truncated (mediainfo IsTruncated)"
REASON_ZERO_TAIL = "zero-filled tail where the MP4 index should be (unfinished pre-allocated copy)"
REASON_NO_VIDEO = "no video track"
REASON_NO_DURATION = "duration is zero or missing"
REASON_NO_PICTURE_SIZE = "video track has no picture size"

_MP4_FORMATS = frozenset({"MPEG-4", "QuickTime"})
# Dates MP4 writers put there when the clock was never set (1904 = MP4 epoch, 1970 = Unix).
_EARLIEST_PLAUSIBLE = datetime(1980, 1, 1, tzinfo=timezone.utc)


class VideoRejected(SpoolError, ValueError):
    """The file is not a usable video as it stands; ``reason`` says why (one of ``REASON_*``)."""

    def __init__(self, path: StrPath, reason: str, detail: str | None = None) -> None:
        self.path = os.fspath(path)
        self.reason = reason
        self.detail = detail
        extra = f": {detail}" if detail else ""
        super().__init__(f"{self.path}: {reason}{extra} — not ingested, file left in place")


class VideoNotReady(SpoolError):
    """The file is still changing (or vanished) while being read: look again later."""

    def __init__(self, path: StrPath, reason: str) -> None:
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason} — not ready, will be looked at again")


class ProbeTimeout(StorageUnavailable):
    """mediainfo did not finish in time (hanging share, or a pathological file)."""

    def __init__(self, path: StrPath, timeout: float) -> None:
        self.path = os.fspath(path)
        self.timeout = timeout
        super().__init__(
            f"{self.path}: mediainfo did not finish within {timeout:g} s "
            "(share hanging or unreadable file?) — file left in place"
        )


@dataclass(frozen=True)
class MediaInfoResult:
    """What :func:`probe` learned; all numbers already coerced."""

    path: str
    size: int
    mtime_ns: int
    container: str  # mediainfo General format: "MPEG-4", "QuickTime", "MPEG-TS", "AVI"...
    duration_s: float
    codec: str  # "h264", "hevc", "mpeg4", ... (mediainfo format lower-cased if unknown)
    width: int
    height: int
    fps: float | None
    bitrate: int | None  # bits/s, whole file
    created_utc: datetime | None  # container creation/encoded date if plausible (aware, UTC)
    video_tracks: int = 1


# --------------------------------------------------------------------------- fingerprint


def _fingerprint(path: StrPath) -> tuple[str, os.stat_result]:
    with open(path, "rb") as f:
        st = os.fstat(f.fileno())
        size = st.st_size
        if size <= 2 * FINGERPRINT_CHUNK:  # head and tail overlap: one read
            data = f.read(size)
            head, tail, got = data[:FINGERPRINT_CHUNK], data[-FINGERPRINT_CHUNK:], len(data)
        else:
            head = f.read(FINGERPRINT_CHUNK)
            f.seek(size - FINGERPRINT_CHUNK)
            tail = f.read(FINGERPRINT_CHUNK)
            got = size if len(head) + len(tail) == 2 * FINGERPRINT_CHUNK else -1
        if got != size:
            raise VideoNotReady(path, f"file shrank while being read ({size} bytes before)")
    # Never change this recipe: every stored video id depends on it.
    h = hashlib.blake2b(digest_size=10, person=b"spoold.video.v1")
    h.update(size.to_bytes(8, "big"))
    h.update(head)
    h.update(tail)
    return "v" + h.hexdigest(), st


def fingerprint(path: StrPath) -> str:
    """Stable video id: ``"v"`` + 20 hex digits of blake2b(size, first 64 KiB, last 64 KiB).

    Cheap on a NAS (two reads of 64 KiB at most). A renamed or copied file keeps its id; a
    same-size copy whose tail is still zero gets a different one.
    """
    return _fingerprint(path)[0]


# --------------------------------------------------------------------------- MP4 layout

_ZERO8 = bytes(8)
# Boxes whose children are all boxes, in both ISO BMFF and QuickTime (udta/meta excluded:
# writers put non-box padding and terminators there).
_CONTAINERS = frozenset({b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"dinf", b"mvex"})
# Sample tables → size of the box with no entries. The last 8 bytes of a table with entries
# always hold a non-zero value (a chunk offset, a sample size or number, a count >= 1).
_TABLES = {
    b"stco": 16,
    b"co64": 16,
    b"stsz": 20,
    b"stsc": 16,
    b"stss": 16,
    b"stts": 16,
    b"ctts": 16,
}
_MOOV_READ_LIMIT = 16 * 1024 * 1024
_FOURCC = re.compile(rb"[\x20-\x7e\xa9]{4}")  # box types are printable ASCII (or ©)


def _all_zero(b: bytes) -> bool:
    return len(b) > 0 and not b.strip(b"\0")


def _zeros_to_eof(f: BinaryIO, pos: int, size: int) -> bool:
    """Spot check that [pos, EOF) is zero: its first 4 KiB and its last 64 KiB (which the
    fingerprint reads anyway). Reading a whole zero tail of a big clip would cost too much."""
    f.seek(pos)
    if not _all_zero(f.read(min(4096, size - pos))):
        return False
    start = max(pos, size - FINGERPRINT_CHUNK)
    f.seek(start)
    return _all_zero(f.read(size - start))


def _moov_zero_fill(moov: bytes, hlen: int) -> int | None:
    """Offset in ``moov`` (a whole moov box) where zero fill damages the index, if it does.

    Zero fill runs to the end, so only the trailing zero run [z, end) can be fill. It
    damages the index when it reaches a child box header inside the containers we walk,
    or the last entry of a sample table. A run confined to the final non-table box (e.g.
    ``udta`` metadata) leaves the clip playable and is not reported.
    """
    z = len(moov.rstrip(b"\0"))
    if z == len(moov):
        return None

    def walk(start: int, end: int) -> int | None:
        pos = start
        while end - pos >= 8:
            if pos + 8 > z:
                return max(pos, z)  # this header is (partly) zero fill
            size, typ = struct.unpack_from(">I4s", moov, pos)
            hdr = 8
            if size == 1:
                if pos + 16 > z:
                    return z
                (size,) = struct.unpack_from(">Q", moov, pos + 8)
                hdr = 16
            elif size == 0:
                size = end - pos
            if size < hdr or pos + size > end:
                return None  # a layout we do not understand: no verdict
            if typ in _CONTAINERS:
                inner = walk(pos + hdr, pos + size)
                if inner is not None:
                    return inner
            elif typ in _TABLES and size > _TABLES[typ] and z <= pos + size - 8:
                return z
            pos += size
        return None  # fewer than 8 bytes left: QuickTime's 4-byte terminator, or nothing

    return walk(hlen, len(moov))


def _mp4_layout_problem(f: BinaryIO, size: int) -> str | None:
    """Walk top-level boxes (and the moov tree); return a detail string if the file has a
    zero-filled tail where the index should be, else None. Unknown layouts get no verdict."""
    pos = 0
    moov_done = False
    while size - pos >= 8:
        f.seek(pos)
        hdr = f.read(16)
        if len(hdr) < 8:
            return None  # shrank meanwhile; the caller's stat check reports it
        box, typ = struct.unpack_from(">I4s", hdr)
        if hdr[:8] == _ZERO8 or not _FOURCC.fullmatch(typ):
            if moov_done:
                return None  # padding after a complete index: the clip plays
            # Zero fill may begin inside this header: then all that follows it is zero.
            if _zeros_to_eof(f, pos if hdr[:8] == _ZERO8 else pos + 8, size):
                return f"zero bytes from offset {pos} of {size} ({pos / size:.1%}) to the end"
            return None
        hlen = 8
        if box == 1 and len(hdr) >= 16:
            (box,) = struct.unpack_from(">Q", hdr, 8)
            hlen = 16
        elif box == 0:
            box = size - pos
        if box < hlen or pos + box > size:
            return None  # cut or odd: mediainfo's IsTruncated/no-video verdicts cover it
        if typ == b"moov" and box <= _MOOV_READ_LIMIT:
            f.seek(pos)
            moov = f.read(box)
            if len(moov) == box:
                z = _moov_zero_fill(moov, hlen)
                if z is not None:
                    return (
                        f"zero bytes inside the moov index from offset {pos + z} of {size} "
                        f"({(pos + z) / size:.1%}) to the end"
                    )
            moov_done = True
        elif typ == b"moov":
            moov_done = True  # too big to read cheaply; trust mediainfo
        pos += box
    return None


# --------------------------------------------------------------------------- probe


def _num(value: Any) -> float | None:
    """mediainfo numbers arrive as int, float or strings like "29.970" or "25.000 / 30"."""
    if value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    m = re.match(r"\s*(-?\d+(?:\.\d+)?)", str(value))
    return float(m.group(1)) if m else None


_DATE_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})")


def _utc_date(*values: Any) -> datetime | None:
    """First plausible "2024-01-02 03:04:05 UTC" (or "UTC 2024-...") among ``values``."""
    for value in values:
        if not value:
            continue
        m = _DATE_RE.search(str(value))
        if m is None:
            continue
        try:
            y, mo, d, h, mi, sec = map(int, m.groups())
            t = datetime(y, mo, d, h, mi, sec, tzinfo=timezone.utc)
        except ValueError:
            continue
        if t >= _EARLIEST_PLAUSIBLE:
            return t
    return None


_CODECS = {
    "AVC": "h264",
    "HEVC": "hevc",
    "MPEG-4 Visual": "mpeg4",
    "AV1": "av1",
    "VP9": "vp9",
    "VP8": "vp8",
    "JPEG": "mjpeg",
    "MPEG Video": "mpeg2video",
}


def _compliance(track: Any) -> str | None:
    texts = [track.general_compliance, *(track.other_general_compliance or [])]
    joined = "; ".join(dict.fromkeys(str(t) for t in texts if t))
    return joined[:300] or None


def _mediainfo(path: str, timeout: float | None) -> Any:
    from pymediainfo import MediaInfo

    def parse() -> Any:
        return MediaInfo.parse(path, parse_speed=PARSE_SPEED)

    if timeout is None:
        return parse()
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["ok"] = parse()
        except BaseException as e:  # handed over to the caller's thread
            box["err"] = e

    # A daemon thread: a parse stuck in the NAS client cannot be killed, but must not keep the
    # daemon from exiting. Same options every call, as the library requires across threads.
    t = threading.Thread(target=run, name=f"mediainfo:{path}", daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        raise ProbeTimeout(path, timeout)
    if "err" in box:
        raise box["err"]
    return box["ok"]


def probe(path: StrPath, *, timeout: float | None = None) -> MediaInfoResult:
    """Validate a video with mediainfo (``parse_speed`` 0) plus an MP4 box walk.

    Raises :class:`VideoRejected` (reason = one of the ``REASON_*`` texts), :class:`VideoNotReady`
    when size/mtime changed during the probe or the file vanished, :class:`ProbeTimeout`
    after ``timeout`` seconds; a missing file raises ``FileNotFoundError`` and other I/O
    errors propagate as ``OSError``.
    """
    p = os.fspath(path)
    st = os.stat(p)
    if not stat.S_ISREG(st.st_mode):
        raise VideoRejected(p, REASON_NOT_MEDIA, "not a regular file")
    if st.st_size == 0:
        raise VideoRejected(p, REASON_EMPTY)
    try:
        mi = _mediainfo(p, timeout)
    except RuntimeError as e:
        with open(p, "rb") as f:  # an OSError here (permissions, I/O) is the real cause
            f.read(1)
        raise VideoRejected(p, REASON_NOT_MEDIA, f"mediainfo could not open it: {e}") from e
    layout: str | None = None
    general: Any = mi.general_tracks[0] if mi.general_tracks else None
    container = general.format if general is not None else None
    if container in _MP4_FORMATS and general is not None and general.istruncated != "Yes":
        with open(p, "rb") as f:
            layout = _mp4_layout_problem(f, st.st_size)
    try:
        st2 = os.stat(p)
    except FileNotFoundError:
        raise VideoNotReady(p, "file vanished while being probed (renamed or deleted)") from None
    if (st2.st_size, st2.st_mtime_ns) != (st.st_size, st.st_mtime_ns):
        raise VideoNotReady(
            p, f"file changed while being probed ({st.st_size} → {st2.st_size} bytes)"
        )

    videos = list(mi.video_tracks)
    if general is None or (container is None and not videos):
        raise VideoRejected(p, REASON_NOT_MEDIA)
    if general.istruncated == "Yes":
        raise VideoRejected(p, REASON_TRUNCATED, _compliance(general))
    if layout is not None:
        raise VideoRejected(p, REASON_ZERO_TAIL, layout)
    if not videos:
        raise VideoRejected(p, REASON_NO_VIDEO, f"container {container or 'unknown'}")
    video = videos[0]
    duration_ms = _num(video.duration) or _num(general.duration)
    if not duration_ms or duration_ms <= 0:
        raise VideoRejected(p, REASON_NO_DURATION)
    width, height = _num(video.width), _num(video.height)
    if not width or not height:
        raise VideoRejected(p, REASON_NO_PICTURE_SIZE)
    fps = _num(video.frame_rate)
    if fps is None:
        frames = _num(video.frame_count)
        fps = round(frames * 1000 / duration_ms, 3) if frames else None
    bitrate = _num(general.overall_bit_rate) or _num(video.bit_rate)
    vformat = str(video.format or "unknown")
    return MediaInfoResult(
        path=p,
        size=st.st_size,
        mtime_ns=st.st_mtime_ns,
        container=str(container or "unknown"),
        duration_s=duration_ms / 1000,
        codec=_CODECS.get(vformat, vformat.lower()),
        width=int(width),
        height=int(height),
        fps=fps,
        bitrate=int(bitrate) if bitrate else None,
        created_utc=_utc_date(general.encoded_date, general.tagged_date, video.encoded_date),
        video_tracks=len(videos),
    )


# --------------------------------------------------------------------------- describe


def describe(
    root_name: str,
    root_path: StrPath,
    relpath: str,
    *,
    timeout: float | None = None,
    vehicle: str | None = None,
) -> VideoMeta:
    """Everything ingestion records about ``root_path/relpath`` (device = ``root_name``;
    ``vehicle`` is passed through, ``None`` meaning "same as device").

    Start time: from the file name (``start_source="filename"``, camera wall clock in
    ``start_local``), else the container creation date (``"container"``), else the file's
    mtime minus the duration (``"mtime"``: a camera closes a clip when it ends). ``start_utc``
    is the container date whenever one is present — many dashcams store local time labelled
    UTC there, so GPS time, when a worker finds it, should win.
    """
    parts = [p for p in re.split(r"[\\/]+", relpath) if p and p != "."]
    if not parts or ".." in parts:
        raise ValueError(f"{relpath!r}: not a relative path to a file inside {root_path}")
    rel = str(PurePosixPath(*parts))
    full = Path(root_path) / rel
    info = probe(full, timeout=timeout)
    try:
        video_id, st = _fingerprint(full)
    except FileNotFoundError:
        raise VideoNotReady(full, "file vanished while being read (renamed or deleted)") from None
    if (st.st_size, st.st_mtime_ns) != (info.size, info.mtime_ns):
        raise VideoNotReady(full, "file changed between probe and fingerprint")
    name = parse_name(rel)
    start_local: datetime | None = None
    start_utc = info.created_utc
    if name is not None:
        start_local, source = name.start_local, "filename"
    elif start_utc is not None:
        source = "container"
    else:
        mtime = datetime.fromtimestamp(info.mtime_ns / 1e9, tz=timezone.utc)
        start_utc, source = mtime - timedelta(seconds=info.duration_s), "mtime"
    return VideoMeta(
        video_id=video_id,
        device=root_name,
        vehicle=vehicle,
        path=rel,
        size=info.size,
        brand=name.brand if name else "generic",
        channel=name.channel if name else "unknown",
        mode=name.mode if name else "unknown",
        sequence=name.sequence if name else None,
        start_local=start_local,
        start_utc=start_utc,
        start_source=source,
        duration_s=info.duration_s,
        codec=info.codec,
        width=info.width,
        height=info.height,
        fps=info.fps,
        bitrate=info.bitrate,
    )
