"""Trim a GoPro MP4 to its ``gpmd`` telemetry track (how ``karma_gpmd.mp4`` was made).

Usage: ``python trim_gpmf.py SRC.mp4 OUT.mp4``.  Keeps ``ftyp``, ``mvhd`` and the ``gpmd``
track (its ``stco`` rewritten) and an ``mdat`` holding only the telemetry samples; video,
audio and the other tracks are dropped.
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

from spoold.workers.gps_gpmf import gpmf_payloads
from spoold.workers.mp4box import child_boxes, make_box, top_level_boxes

_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl"}


def _rebuild(payload: bytes, stco: bytes) -> bytes:
    out = b""
    for box in child_boxes(payload):
        body = payload[box.payload_offset : box.end]
        if box.type == b"trak" and b"gpmd" not in body:
            continue
        if box.type in _CONTAINERS:
            body = _rebuild(body, stco)
        elif box.type in (b"stco", b"co64"):
            out += make_box(b"stco", stco)
            continue
        out += make_box(box.type, body)
    return out


def trim(src: Path, dst: Path) -> None:
    data = src.read_bytes()
    with src.open("rb") as f:
        boxes = top_level_boxes(f, len(data))
    ftyp = next(b for b in boxes if b.type == b"ftyp")
    moov = next(b for b in boxes if b.type == b"moov")
    moov_payload = data[moov.payload_offset : moov.end]
    samples = gpmf_payloads(moov_payload)
    head = data[ftyp.offset : ftyp.end]
    blob = b"".join(data[o : o + n] for o, n, _, _ in samples)
    first = len(head) + 8
    offsets, pos = [], first
    for _, n, _, _ in samples:
        offsets.append(pos)
        pos += n
    # one chunk per sample: stsc is rewritten to match
    stco = struct.pack(">II", 0, len(offsets)) + b"".join(struct.pack(">I", o) for o in offsets)
    new_moov = _rebuild(moov_payload, stco)
    new_moov = new_moov.replace(_stsc(moov_payload), struct.pack(">IIIII", 0, 1, 1, 1, 1))
    dst.write_bytes(head + make_box(b"mdat", blob) + make_box(b"moov", new_moov))


def _stsc(moov_payload: bytes) -> bytes:
    def walk(payload: bytes) -> bytes | None:
        for box in child_boxes(payload):
            body = payload[box.payload_offset : box.end]
            if box.type == b"trak" and b"gpmd" not in body:
                continue
            if box.type == b"stsc":
                return body
            if box.type in _CONTAINERS:
                found = walk(body)
                if found is not None:
                    return found
        return None

    found = walk(moov_payload)
    assert found is not None
    return found


if __name__ == "__main__":
    trim(Path(sys.argv[1]), Path(sys.argv[2]))
