"""A small, defensive ISO-BMFF (MP4/MOV) box walker for the GPS extractors.

Public API:

- :class:`Box` — ``type`` (4 bytes), ``offset``, ``size``, ``header`` size, ``truncated`` flag;
  ``payload_offset`` / ``payload_size`` of what follows the header.
- :func:`top_level_boxes(f, file_size) <top_level_boxes>` — the file's top-level boxes, stopping
  at the first unparseable header; a box that claims more bytes than the file has is returned
  with ``truncated=True`` (what an interrupted copy or a fuzzed file looks like).
- :func:`child_boxes(data, base=0) <child_boxes>` — the boxes inside an in-memory container
  payload (e.g. ``moov``), same rules.
- :func:`make_box(kind, payload) <make_box>` — serialize one box (for building test/demo files).
- :func:`read_at(f, offset, size) <read_at>` — up to ``size`` bytes of an open file from
  ``offset`` (fewer at its end).

Runs on Python 3.10; no dependencies.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import BinaryIO

__all__ = ["Box", "child_boxes", "make_box", "read_at", "top_level_boxes"]

MAX_TOP_LEVEL_BOXES = 100_000


@dataclass(frozen=True)
class Box:
    type: bytes
    offset: int
    size: int
    header: int
    truncated: bool = False

    @property
    def payload_offset(self) -> int:
        return self.offset + self.header

    @property
    def payload_size(self) -> int:
        return max(0, self.size - self.header)

    @property
    def end(self) -> int:
        return self.offset + self.size


def _parse_header(head: bytes, offset: int, limit: int) -> Box | None:
    if len(head) < 8:
        return None
    size, kind = struct.unpack(">I4s", head[:8])
    header = 8
    if size == 1:
        if len(head) < 16:
            return None
        size = struct.unpack(">Q", head[8:16])[0]
        header = 16
    elif size == 0:  # box extends to the end of the file / container
        size = limit - offset
    if size < header:
        return None
    truncated = offset + size > limit
    return Box(kind, offset, size, header, truncated)


def top_level_boxes(f: BinaryIO, file_size: int) -> list[Box]:
    """Top-level boxes of an open binary file."""
    boxes: list[Box] = []
    pos = 0
    while pos + 8 <= file_size and len(boxes) < MAX_TOP_LEVEL_BOXES:
        f.seek(pos)
        box = _parse_header(f.read(16), pos, file_size)
        if box is None:
            break
        boxes.append(box)
        if box.truncated:
            break
        pos = box.end
    return boxes


def child_boxes(data: bytes, base: int = 0) -> list[Box]:
    """Boxes inside ``data`` (a container's payload); offsets are relative to ``data`` + base."""
    boxes: list[Box] = []
    pos = 0
    limit = len(data)
    while pos + 8 <= limit:
        box = _parse_header(data[pos : pos + 16], pos, limit)
        if box is None:
            break
        boxes.append(Box(box.type, box.offset + base, box.size, box.header, box.truncated))
        if box.truncated:
            break
        pos += box.size
    return boxes


def make_box(kind: bytes, payload: bytes) -> bytes:
    """One box: 32-bit size, 4-byte type, payload."""
    if len(kind) != 4:
        raise ValueError(f"box type must be 4 bytes, got {kind!r}")
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def read_at(f: BinaryIO, offset: int, size: int) -> bytes:
    """Up to ``size`` bytes of ``f`` from ``offset`` (fewer at the end of the file)."""
    f.seek(offset)
    return f.read(size)
