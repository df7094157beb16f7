"""Is a video file a finished copy?  Cheap checks of the container's own layout.

Public API: :func:`unfinished` (a few small reads, no mediainfo), and for
:mod:`spoold.server.media` the checks it runs after a probe: :func:`mp4_layout_problem`,
:func:`generic_zero_tail`.

A copy that a NAS client pre-allocates (SMB) or writes in order is unfinished while its index
points past the end of the file, its last video frame is zeros, or (MPEG-TS, AVI) its tail is
zeros; such a file is deferred, never chained (docs/daemon.md).
"""

from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass
from typing import BinaryIO

from spoold.server.verdicts import (
    REASON_EMPTY,
    REASON_TRUNCATED,
    REASON_ZERO_TAIL,
)

StrPath = str | os.PathLike[str]
#: How much of a file's end the tail checks read (the span the fingerprint reads too).
TAIL_BYTES = 64 * 1024

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
    start = max(pos, size - TAIL_BYTES)
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


def mp4_layout_problem(f: BinaryIO, size: int) -> tuple[str, str] | None:
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


def generic_zero_tail(f: BinaryIO, size: int) -> str | None:
    """Non-MP4 containers (MPEG-TS, AVI...): a last 64 KiB that is all zero is an unfinished
    pre-allocated copy (TS packets start with 0x47; AVI ends with its ``idx1`` index)."""
    start = max(0, size - TAIL_BYTES)
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
            found = mp4_layout_problem(f, size)
            if found is None and not _has_moov(f, size):
                return (REASON_TRUNCATED, "no moov index (the copy has not reached it yet)")
            return found
        if head[:1] in (b"\x47", b"R"):  # MPEG-TS / RIFF (AVI): the media data is the tail
            detail = generic_zero_tail(f, size)
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
