"""One text per physical plate: reads tracked across keyframes and merged by weighted voting.

Public API:

- :class:`Read` — one plate read in one keyframe: ``t``, ``text``, ``confidence``, ``bbox``
  (normalized ``x, y, w, h``).
- :func:`track_reads(reads, max_gap_s=2.5) <track_reads>` — groups the reads into tracks
  (lists of indexes into ``reads``): a read continues a track whose last read is at most
  ``max_gap_s`` earlier, in an earlier keyframe, with an overlapping or nearby box (centres
  within 1.5 box widths) and a similar text (edit distance at most half its length).
- :func:`vote(texts_weights) <vote>` — per-character voting weighted by confidence: the
  length with the most weight wins, every read is aligned to the heaviest read of that length
  (``difflib``), and each position takes the character with the most weight.
- :func:`consensus(reads, regions=None, max_gap_s=2.5) <consensus>` — the consensus text for
  every read (same order as ``reads``); a track's vote that fits no plate format of
  ``regions`` falls back to its heaviest single text.

Why: a plate is in view for several keyframes, and OCR misreads some of them differently
(``RN24NZP``, ``RN24N2P``, ``0RN24NZP``); the index makes one plate (and one sighting) per
distinct text, so the worker gives every read of one track the same text.  Runs on Python 3.10.
"""

from __future__ import annotations

import difflib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from spoold.workers.plate_formats import is_valid_plate

__all__ = ["Read", "consensus", "track_reads", "vote"]


@dataclass(frozen=True)
class Read:
    t: float
    text: str
    confidence: float
    bbox: tuple[float, float, float, float]


def _near(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    overlap_x = min(ax + aw, bx + bw) - max(ax, bx)
    overlap_y = min(ay + ah, by + bh) - max(ay, by)
    if overlap_x > 0 and overlap_y > 0:
        return True
    dx = abs((ax + aw / 2) - (bx + bw / 2))
    dy = abs((ay + ah / 2) - (by + bh / 2))
    width = max(aw, bw)
    return dx < 1.5 * width and dy < 1.5 * max(ah, bh, width / 4)


def _distance(a: str, b: str) -> int:
    """Levenshtein distance (plates are short)."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def track_reads(reads: Sequence[Read], max_gap_s: float = 2.5) -> list[list[int]]:
    """Tracks of reads (index lists, each in time order); see the module docstring."""
    order = sorted(range(len(reads)), key=lambda i: (reads[i].t, -reads[i].confidence))
    tracks: list[list[int]] = []
    for i in order:
        r = reads[i]
        best: tuple[int, int] | None = None  # (distance, track number)
        for k, track in enumerate(tracks):
            last = reads[track[-1]]
            if not (last.t < r.t <= last.t + max_gap_s) or not _near(last.bbox, r.bbox):
                continue
            dist = _distance(last.text, r.text)
            if dist <= max(1, max(len(last.text), len(r.text)) // 2) and (
                best is None or dist < best[0]
            ):
                best = (dist, k)
        if best is None:
            tracks.append([i])
        else:
            tracks[best[1]].append(i)
    return tracks


def vote(texts_weights: Iterable[tuple[str, float]]) -> str:
    """The per-character weighted vote of the texts (see the module docstring)."""
    items = [(t, max(1e-6, w)) for t, w in texts_weights if t]
    if not items:
        return ""
    by_len: dict[int, float] = defaultdict(float)
    for text, w in items:
        by_len[len(text)] += w
    length = max(by_len, key=lambda n: (by_len[n], n))
    ref = max((x for x in items if len(x[0]) == length), key=lambda x: x[1])[0]
    votes: list[dict[str, float]] = [defaultdict(float) for _ in range(length)]
    for text, w in items:
        matcher = difflib.SequenceMatcher(None, ref, text, autojunk=False)
        for op, i1, i2, j1, j2 in matcher.get_opcodes():
            if op == "equal" or (op == "replace" and i2 - i1 == j2 - j1):
                for k in range(i2 - i1):
                    votes[i1 + k][text[j1 + k]] += w
    return "".join(
        max(v, key=lambda c: (v[c], c == ref[k])) if v else ref[k] for k, v in enumerate(votes)
    )


def consensus(
    reads: Sequence[Read], regions: Sequence[str] | None = None, max_gap_s: float = 2.5
) -> list[str]:
    """Every read's track text, in the order of ``reads``."""
    out = [r.text for r in reads]
    for track in track_reads(reads, max_gap_s):
        merged = vote((reads[i].text, reads[i].confidence) for i in track)
        if not is_valid_plate(merged, regions):
            weights: dict[str, float] = defaultdict(float)
            for i in track:
                weights[reads[i].text] += reads[i].confidence
            merged = max(weights, key=lambda t: weights[t])
        for i in track:
            out[i] = merged
    return out
