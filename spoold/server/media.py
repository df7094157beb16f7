"""Video files on the NAS: identity, validation and ingestion metadata.

Public API:

- :func:`fingerprint(path) <fingerprint>` → ``"v" + 20 hex``: the stable video id (size + blake2b
  of the first and last 64 KiB; only those bytes are read).
- :func:`probe(path, *, timeout=None) <probe>` → :class:`MediaInfoResult`, or raises
  :class:`VideoRejected` (will never be a valid video as it is), :class:`VideoNotReady` (changed
  while being probed: try again later) or :class:`ProbeTimeout` (mediainfo did not answer).
- :func:`describe(root_name, root_path, relpath, *, timeout=None, vehicle=None, now=None)
  <describe>` → :class:`schemas.metadata.VideoMeta`: fingerprint + probe +
  :func:`spoold.dashcam.recognise` (brand, channel, mode also from a family whose names hold
  no time, such as Garmin's or Cobra's) + :func:`decide_start`.
- :func:`unfinished(path) <unfinished>` → ``(reason, detail)`` or None: the cheap structural
  "is this a finished copy?" check ingestion runs before it publishes a file.
- :func:`decide_start` → :class:`StartTime`: the start time from the best plausible source.
- Reasons (``VideoRejected.reason``): :data:`REASON_EMPTY`, :data:`REASON_NOT_MEDIA`,
  :data:`REASON_TRUNCATED`, :data:`REASON_ZERO_TAIL`, :data:`REASON_NO_VIDEO`,
  :data:`REASON_NO_DURATION`, :data:`REASON_NO_PICTURE_SIZE`; :data:`INCOMPLETE_REASONS` (what
  an unfinished copy also shows: deferred, not rejected at once) and :data:`VERDICTS`.

Completeness rule (research notes metadata-anchors.md §2): reject when mediainfo says
``IsTruncated``, finds no video track, or no duration. MediaInfo does **not** flag a
pre-allocated copy whose tail is still zero (size already final), so :func:`probe` also walks
the MP4 box headers itself (a few small reads) and reads the ``moov`` index:

- zero bytes where a top-level box header should be, before any complete ``moov`` →
  :data:`REASON_ZERO_TAIL` (covers every zero tail that starts in ``mdat`` of a moov-last file);
- inside ``moov``: an all-zero child header in a container box, or a sample table (``stco``,
  ``stsz``, ``stts``...) whose last entry is zero → :data:`REASON_ZERO_TAIL` too;
- the media data, whatever the layout (``moov`` first — faststart — or last): each track's
  last sample must end inside the file (else :data:`REASON_TRUNCATED`), and the last sample of
  each video track must not be zero fill: its first 8 bytes are a NAL length or start code,
  never all zero, and an H.264/H.265 sample never ends in a 0 byte (else
  :data:`REASON_ZERO_TAIL`);
- a top-level box that runs past the end of the file → :data:`REASON_TRUNCATED`;
- zeros *after* a complete ``moov`` and its media data are padding: the clip plays, accepted;
- MPEG-TS and AVI: a last 64 KiB that is all zero → :data:`REASON_ZERO_TAIL`;
- not detected: a zero tail confined to the final metadata box (``udta``; playback
  unaffected), to fewer than 8 bytes of the last table, or to non-video samples after the
  last video frame.  The fingerprint still differs from the complete file's, and the
  caller's stability window (:mod:`spoold.server.ingest.stability`) is the other guard.

A 0-byte file, a text file and a truncated copy are rejected with their own reasons.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path, PurePosixPath
from typing import Any

from schemas.metadata import StartBasis, VideoMeta
from spoold.dashcam import Family, recognise
from spoold.errors import SpoolError, StorageUnavailable
from spoold.server.completeness import generic_zero_tail, mp4_layout_problem, unfinished
from spoold.server.verdicts import (
    INCOMPLETE_REASONS,
    REASON_EMPTY,
    REASON_NO_DURATION,
    REASON_NO_PICTURE_SIZE,
    REASON_NO_VIDEO,
    REASON_NOT_MEDIA,
    REASON_TRUNCATED,
    REASON_ZERO_TAIL,
    VERDICTS,
)

__all__ = [
    "FINGERPRINT_CHUNK",
    "INCOMPLETE_REASONS",
    "PARSE_SPEED",
    "REASON_EMPTY",
    "REASON_NOT_MEDIA",
    "REASON_NO_DURATION",
    "REASON_NO_PICTURE_SIZE",
    "REASON_NO_VIDEO",
    "REASON_TRUNCATED",
    "REASON_ZERO_TAIL",
    "VERDICTS",
    "MediaInfoResult",
    "ProbeTimeout",
    "StartTime",
    "VideoNotReady",
    "VideoRejected",
    "decide_start",
    "describe",
    "fingerprint",
    "probe",
    "unfinished",
]

StrPath = str | os.PathLike[str]

FINGERPRINT_CHUNK = 64 * 1024
# ParseSpeed 0: headers and root atoms only (~200 KiB read on a 4 MB clip instead of ~1 MiB
# at the default 0.5) and IsTruncated detection is kept. pymediainfo 7 takes it as the
# keyword ``parse_speed`` and passes it to the library option "ParseSpeed".
PARSE_SPEED = 0.0

_MP4_FORMATS = frozenset({"MPEG-4", "QuickTime"})
_TAIL_FORMATS = frozenset({"MPEG-TS", "BDAV", "AVI"})
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
    layout: tuple[str, str] | None = None
    general: Any = mi.general_tracks[0] if mi.general_tracks else None
    container = general.format if general is not None else None
    if general is not None and general.istruncated != "Yes":
        with open(p, "rb") as f:
            if container in _MP4_FORMATS:
                layout = mp4_layout_problem(f, st.st_size)
            elif container in _TAIL_FORMATS:
                detail = generic_zero_tail(f, st.st_size)
                layout = (REASON_ZERO_TAIL, detail) if detail else None
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
        raise VideoRejected(p, *layout)
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


# --------------------------------------------------------------------------- start time

#: Sources dated before this are a camera whose clock was never set.
EARLIEST_START = datetime(2005, 1, 1, tzinfo=timezone.utc)
#: A source dated later than now + this is a clock set wrong.
FUTURE_SLACK = timedelta(days=1)
#: The container date must lie this close to the name's time (the name is the camera's local
#: wall clock, the container often UTC: time zones reach +-14 h, plus clock drift).
NAME_TOLERANCE = timedelta(hours=26)
FILE_TIME_NOTE = (
    "start is the file's modification time on the NAS minus its duration: the time it was "
    "copied there, not necessarily when it was recorded (no usable name or container date)"
)
_LEGACY_SOURCE = {
    "name": "filename",
    "container": "container",
    "file-time": "mtime",
    "gps": "gps",
    "unknown": "unknown",
}


@dataclass(frozen=True)
class StartTime:
    """The decided start: ``local`` (camera wall clock), ``utc``, ``basis``, ``note``."""

    local: datetime | None
    utc: datetime | None
    basis: StartBasis
    note: str | None


def _implausible(t: datetime, now: datetime) -> str | None:
    if t < EARLIEST_START:
        return f"before {EARLIEST_START:%Y}"
    if t > now + FUTURE_SLACK:
        return "more than a day in the future"
    return None


def decide_start(
    name_local: datetime | None,
    container_utc: datetime | None,
    file_time_utc: datetime | None,
    *,
    now: datetime | None = None,
) -> StartTime:
    """The start time from the best plausible source: the name (camera wall clock, no zone),
    then the container's creation date, then the file's modification time minus duration.

    A source is implausible before :data:`EARLIEST_START`, after ``now`` +
    :data:`FUTURE_SLACK`, or (the container date) further than :data:`NAME_TOLERANCE` from
    a plausible name time; implausible sources are ignored and named in ``note``.  The
    container date is kept as ``utc`` beside a name basis when it agrees with the name.
    """
    now = now or datetime.now(timezone.utc)
    notes: list[str] = []
    name_utc = name_local.replace(tzinfo=timezone.utc) if name_local is not None else None
    if name_utc is not None and (why := _implausible(name_utc, now)):
        notes.append(f"name time {name_local:%Y-%m-%d %H:%M:%S} ignored: {why}")
        name_local = name_utc = None
    if container_utc is not None:
        why = _implausible(container_utc, now)
        if why is None and name_utc is not None and abs(container_utc - name_utc) > NAME_TOLERANCE:
            why = f"{abs(container_utc - name_utc).days} days from the name's time"
        if why:
            notes.append(f"container date {container_utc:%Y-%m-%d %H:%M:%S} ignored: {why}")
            container_utc = None
    if name_local is not None:
        return StartTime(name_local, container_utc, "name", "; ".join(notes) or None)
    if container_utc is not None:
        return StartTime(None, container_utc, "container", "; ".join(notes) or None)
    if file_time_utc is not None:
        why = _implausible(file_time_utc, now)
        if why is None:
            return StartTime(None, file_time_utc, "file-time", "; ".join([*notes, FILE_TIME_NOTE]))
        notes.append(f"file time {file_time_utc:%Y-%m-%d %H:%M:%S} ignored: {why}")
    return StartTime(None, None, "unknown", "; ".join(notes) or None)


# --------------------------------------------------------------------------- describe


def describe(
    root_name: str,
    root_path: StrPath,
    relpath: str,
    *,
    timeout: float | None = None,
    vehicle: str | None = None,
    families: Sequence[Family] | None = None,
    now: datetime | None = None,
) -> VideoMeta:
    """Everything ingestion records about ``root_path/relpath`` (device = ``root_name``;
    ``vehicle`` is passed through, ``None`` meaning "same as device"; ``families``: the
    inbox's naming families, default the built-in ones).

    Start time: :func:`decide_start` (``now``: the present, for the plausibility check).
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
    name = recognise(rel, families)
    start = decide_start(
        name.start_local if name is not None else None,
        info.created_utc,
        datetime.fromtimestamp(info.mtime_ns / 1e9, tz=timezone.utc)
        - timedelta(seconds=info.duration_s),
        now=now,
    )
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
        start_local=start.local,
        start_utc=start.utc,
        start_source=_LEGACY_SOURCE[start.basis],
        start_basis=start.basis,
        start_note=start.note,
        duration_s=info.duration_s,
        codec=info.codec,
        width=info.width,
        height=info.height,
        fps=info.fps,
        bitrate=info.bitrate,
    )
