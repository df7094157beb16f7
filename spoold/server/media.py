"""Video files on the NAS: identity, validation and ingestion metadata.

Public API:

- :func:`fingerprint(path) <fingerprint>` → ``"v" + 20 hex``: the stable video id (size + blake2b
  of the first and last 64 KiB; only those bytes are read).
- :func:`probe(path, *, timeout=None) <probe>` → :class:`MediaInfoResult`, or raises
  :class:`VideoRejected` (will never be a valid video as it is), :class:`VideoNotReady` (changed
  while being probed: try again later) or :class:`ProbeTimeout` (mediainfo did not answer).
- :func:`describe(root_name, root_path, relpath, *, timeout=None, vehicle=None, now=None)
  <describe>` → :class:`schemas.metadata.VideoMeta`: fingerprint + probe +
  :func:`spoold.dashcam.parse_name` + :func:`decide_start`.
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
import struct
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from schemas.metadata import StartBasis, VideoMeta
from spoold.dashcam import Family, parse_name
from spoold.errors import SpoolError, StorageUnavailable

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

REASON_EMPTY = "empty file (0 bytes)"
REASON_NOT_MEDIA = "not a media file"
REASON_TRUNCATED = "file is truncated (mediainfo IsTruncated)"
REASON_ZERO_TAIL = "zero-filled tail (unfinished pre-allocated copy)"
REASON_NO_VIDEO = "no video track"
REASON_NO_DURATION = "duration is zero or missing"
REASON_NO_PICTURE_SIZE = "video track has no picture size"

#: Reasons that an unfinished copy also shows: such a file is deferred (retried) while it may
#: still be copying and rejected only once it stayed unchanged for ``[ingest]
#: incomplete_reject_s``.  Every other reason rejects at once.
INCOMPLETE_REASONS = frozenset({REASON_EMPTY, REASON_TRUNCATED, REASON_ZERO_TAIL})
#: Reason code -> verdict, as docs/reliability.md's table states it ("deferred" = retried,
#: rejected after the limit; "rejected" = at once).
VERDICTS: dict[str, str] = {
    reason: "deferred" if reason in INCOMPLETE_REASONS else "rejected"
    for reason in (
        REASON_EMPTY,
        REASON_NOT_MEDIA,
        REASON_TRUNCATED,
        REASON_ZERO_TAIL,
        REASON_NO_VIDEO,
        REASON_NO_DURATION,
        REASON_NO_PICTURE_SIZE,
    )
}

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


def _u32s(b: bytes, off: int, n: int, stride: int = 4) -> list[int]:
    return [struct.unpack_from(">I", b, off + i * stride)[0] for i in range(n)]


def _find(moov: bytes, start: int, end: int, path: tuple[bytes, ...]) -> list[tuple[int, int]]:
    """(payload start, end) of every box at ``path`` below [start, end) of ``moov``."""
    out: list[tuple[int, int]] = []
    pos = start
    while end - pos >= 8:
        size, typ = struct.unpack_from(">I4s", moov, pos)
        hdr = 8
        if size == 1 and end - pos >= 16:
            (size,) = struct.unpack_from(">Q", moov, pos + 8)
            hdr = 16
        elif size == 0:
            size = end - pos
        if size < hdr or pos + size > end:
            break
        if typ == path[0]:
            if len(path) == 1:
                out.append((pos + hdr, pos + size))
            else:
                out.extend(_find(moov, pos + hdr, pos + size, path[1:]))
        pos += size
    return out


@dataclass(frozen=True)
class _TrackEnd:
    """Where one track's media data ends: its last sample (offset, size)."""

    handler: bytes  # b"vide", b"soun", ...
    codec: bytes  # sample entry type: b"avc1", b"hvc1", b"mp4v"...
    last_offset: int
    last_size: int


def _track_ends(moov: bytes, hlen: int) -> list[_TrackEnd]:
    """The last sample of each track of a whole ``moov`` box (tracks we cannot read: none)."""
    ends: list[_TrackEnd] = []
    for t0, t1 in _find(moov, hlen, len(moov), (b"trak",)):
        try:
            hdlr = _find(moov, t0, t1, (b"mdia", b"hdlr"))
            stbl = _find(moov, t0, t1, (b"mdia", b"minf", b"stbl"))
            if not hdlr or not stbl:
                continue
            handler = moov[hdlr[0][0] + 8 : hdlr[0][0] + 12]
            s0, s1 = stbl[0]
            stsd = _find(moov, s0, s1, (b"stsd",))
            codec = moov[stsd[0][0] + 12 : stsd[0][0] + 16] if stsd else b""
            chunks: list[int] = []
            for c0, _ in _find(moov, s0, s1, (b"stco",)):
                (n,) = struct.unpack_from(">I", moov, c0 + 4)
                chunks = _u32s(moov, c0 + 8, n)
            for c0, _ in _find(moov, s0, s1, (b"co64",)):
                (n,) = struct.unpack_from(">I", moov, c0 + 4)
                chunks = [struct.unpack_from(">Q", moov, c0 + 8 + 8 * i)[0] for i in range(n)]
            stsc = _find(moov, s0, s1, (b"stsc",))
            stsz = _find(moov, s0, s1, (b"stsz",))
            if not chunks or not stsc or not stsz:
                continue
            (n,) = struct.unpack_from(">I", moov, stsc[0][0] + 4)
            entries = [_u32s(moov, stsc[0][0] + 8 + 12 * i, 2) for i in range(n)]
            per_chunk = next((spc for first, spc in reversed(entries) if first <= len(chunks)), 1)
            z0 = stsz[0][0]
            const, count = struct.unpack_from(">II", moov, z0 + 4)
            if count == 0:
                continue
            k = max(1, min(per_chunk, count))
            sizes = [const] * k if const else _u32s(moov, z0 + 12 + 4 * (count - k), k)
            ends.append(_TrackEnd(handler, codec, chunks[-1] + sum(sizes[:-1]), sizes[-1] or const))
        except (struct.error, IndexError):
            continue  # a table we cannot read: no verdict on this track
    return ends


# NAL-unit codecs: a NAL unit's last byte is never 0 (H.264/H.265 §7.4.2), so neither is
# the last byte of a sample.
_NAL_CODECS = frozenset({b"avc1", b"avc3", b"hvc1", b"hev1"})


def _media_data_problem(f: BinaryIO, size: int, moov: bytes, hlen: int) -> tuple[str, str] | None:
    """(reason, detail) when the media data the index points to is missing or zero-filled.

    Works for every layout (``moov`` first or last): each track's last sample must lie inside
    the file, and the last sample of each video track must not be zero fill (its first 8 bytes
    are a NAL length or a start code, never all zero; with H.264/H.265 its last byte is not 0).
    """
    for end in _track_ends(moov, hlen):
        stop = end.last_offset + end.last_size
        if stop > size:
            return (
                REASON_TRUNCATED,
                f"the index points to media data up to offset {stop}, the file has {size} bytes",
            )
        if end.handler != b"vide" or end.last_size < 8:
            continue
        f.seek(end.last_offset)
        head = f.read(8)
        tail = head[-1:]
        if end.last_size > 8:
            f.seek(stop - 1)
            tail = f.read(1)
        zero_tail = end.codec in _NAL_CODECS and tail == b"\0"
        if _all_zero(head) or zero_tail:
            where = end.last_offset if _all_zero(head) else stop - 1
            return (
                REASON_ZERO_TAIL,
                f"the last video frame (offset {end.last_offset}, {end.last_size} bytes) is "
                f"zero-filled from offset {where} of {size} ({where / size:.1%})",
            )
    return None


def _mp4_layout_problem(f: BinaryIO, size: int) -> tuple[str, str] | None:
    """Walk top-level boxes (and the moov tree); (reason, detail) when the file is not a
    finished copy: a zero-filled tail (:data:`REASON_ZERO_TAIL`) where the index or the media
    data should be, or media data the index points to beyond the end
    (:data:`REASON_TRUNCATED`).  None when it looks finished or the layout is unknown."""
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
                return (
                    REASON_ZERO_TAIL,
                    f"zero bytes from offset {pos} of {size} ({pos / size:.1%}) to the end",
                )
            return None
        hlen = 8
        if box == 1 and len(hdr) >= 16:
            (box,) = struct.unpack_from(">Q", hdr, 8)
            hlen = 16
        elif box == 0:
            box = size - pos
        if box < hlen:
            return None  # odd: mediainfo's verdicts cover it
        if pos + box > size:  # a copy still under way looks the same (mediainfo agrees)
            return (
                REASON_TRUNCATED,
                f"box {typ.decode('latin-1')!r} at offset {pos} needs {box} bytes, "
                f"{size - pos} are there",
            )
        if typ == b"moov" and box <= _MOOV_READ_LIMIT:
            f.seek(pos)
            moov = f.read(box)
            if len(moov) == box:
                z = _moov_zero_fill(moov, hlen)
                if z is not None:
                    return (
                        REASON_ZERO_TAIL,
                        f"zero bytes inside the moov index from offset {pos + z} of {size} "
                        f"({(pos + z) / size:.1%}) to the end",
                    )
                data = _media_data_problem(f, size, moov, hlen)
                if data is not None:
                    return data
            moov_done = True
        elif typ == b"moov":
            moov_done = True  # too big to read cheaply; trust mediainfo
        pos += box
    return None


def _generic_zero_tail(f: BinaryIO, size: int) -> str | None:
    """Non-MP4 containers (MPEG-TS, AVI...): a last 64 KiB that is all zero is an unfinished
    pre-allocated copy (TS packets start with 0x47; AVI ends with its ``idx1`` index)."""
    start = max(0, size - FINGERPRINT_CHUNK)
    f.seek(start)
    if _all_zero(f.read(size - start)):
        return f"the last {size - start} bytes (from offset {start} of {size}) are zero"
    return None


def _is_mp4(head: bytes) -> bool:
    return len(head) >= 8 and head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip")


def unfinished(path: StrPath) -> tuple[str, str] | None:
    """Cheap structural check (a few small reads, no mediainfo) that ``path`` is a finished
    copy: ``(reason, detail)`` when it is not (:data:`INCOMPLETE_REASONS`), else None.

    Used by ingestion before a file is published: a copy that stalled longer than the
    stability window is held, not ingested half-written.  Raises ``OSError`` as ``open`` does.
    """
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            return (REASON_EMPTY, "0 bytes")
        head = f.read(8)
        if len(head) < 8:
            return (REASON_TRUNCATED, f"{size} bytes: not even one MP4 box header yet")
        if _all_zero(head):  # pre-allocated, nothing (or only a middle part) written yet
            return (REASON_ZERO_TAIL, f"zero bytes from offset 0 of {size}")
        if _is_mp4(head):
            found = _mp4_layout_problem(f, size)
            if found is None and not _has_moov(f, size):
                return (REASON_TRUNCATED, "no moov index (the copy has not reached it yet)")
            return found
        if head[:1] in (b"\x47", b"R"):  # MPEG-TS / RIFF (AVI): the media data is the tail
            detail = _generic_zero_tail(f, size)
            return (REASON_ZERO_TAIL, detail) if detail else None
        return None


def _has_moov(f: BinaryIO, size: int) -> bool:
    pos = 0
    while size - pos >= 8:
        f.seek(pos)
        hdr = f.read(16)
        if len(hdr) < 8:
            return False
        box, typ = struct.unpack_from(">I4s", hdr)
        if typ == b"moov":
            return True
        if box == 1 and len(hdr) >= 16:
            (box,) = struct.unpack_from(">Q", hdr, 8)
        elif box == 0:
            return False
        if box < 8:
            return False
        pos += box
    return False


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
                layout = _mp4_layout_problem(f, st.st_size)
            elif container in _TAIL_FORMATS:
                detail = _generic_zero_tail(f, st.st_size)
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
    name = parse_name(rel, families)
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
