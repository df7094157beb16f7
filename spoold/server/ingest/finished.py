"""Is a stable file a finished copy?  The check ingestion runs before it publishes a file.

Public API: :func:`fingerprint_finished` (a storage thread's batch job), :class:`Held` (a file
held back because it looks unfinished), ``FpResult``.

A copy that stalls for longer than the stability window looks stable, yet is half-written
(cut short, or pre-allocated with a zero tail).  Publishing it would ingest a video that does
not exist: when the copy resumes the file becomes another video, and one file would end as
several ingest tasks.  So a stable file is also checked with :func:`spoold.server.media.unfinished`
(a few small reads, no mediainfo); an unfinished one is *held*: it gets no task, and is read
again only when its signature changes (then it is a new copy state, checked afresh).  Only when
it stayed unchanged for ``[ingest] incomplete_reject_s`` is it published, with
``params["held_since"]``, for the ingest executor to reject.

One case no structure check can settle: a pre-allocated copy that stalls when only trailing
bytes *after* the index are missing (metadata, a camera's GPS box) is a playable file, yet
its last bytes, and so its fingerprint, are still to change.  Zeros at the end are normal too
(70mai pads its GPS box with them), so such a file is not unfinished: its check reports the
soft :data:`~spoold.server.verdicts.REASON_ZERO_END` when its last byte is zero only for
the files the ingestor saw change at their full size (a pre-allocated copy under way, passed
as ``prealloc``); the ingestor lets such a file settle for ``[ingest] prealloc_settle_s``,
then ingests it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from spoold.server import media
from spoold.server.scan import fingerprint_files
from spoold.server.verdicts import REASON_ZERO_END

#: rel, size, mtime_ns, video id (or None), why no id, (reason, detail) if unfinished
FpResult = tuple[str, int, int, "str | None", "str | None", "tuple[str, str] | None"]


@dataclass
class Held:
    """A stable file held back because it looks unfinished (its signature when first held)."""

    sig: tuple[int, int, int]  # size, mtime_ns, ctime_ns (what the stability tracker saw)
    video_id: str
    since: float  # the ingestor's clock when first held with this signature
    reason: str


def fingerprint_finished(
    base: Path, items: list[tuple[str, int, int]], prealloc: frozenset[str] = frozenset()
) -> list[FpResult]:
    """:func:`spoold.server.scan.fingerprint_files`, plus the unfinished check of each file
    that got an id (and, for the ``prealloc`` paths, the soft last-byte check); a file that
    changed during the check is reported ``"changed"``."""
    out: list[FpResult] = []
    for rel, size, mtime, vid, why in fingerprint_files(base, items):
        if vid is None:
            out.append((rel, size, mtime, vid, why, None))
            continue
        path = base / rel
        try:
            problem = media.unfinished(path)
            if problem is None and rel in prealloc:
                problem = _zero_end(path)
            st = os.stat(path)
        except FileNotFoundError:
            out.append((rel, size, mtime, None, "vanished", None))
            continue
        except OSError as exc:
            out.append((rel, size, mtime, None, str(exc), None))
            continue
        if (st.st_size, st.st_mtime_ns) != (size, mtime):
            out.append((rel, st.st_size, st.st_mtime_ns, None, "changed", None))
        else:
            out.append((rel, size, mtime, vid, None, problem))
    return out


def _zero_end(path: Path) -> tuple[str, str] | None:
    """The soft verdict for a file whose last byte is zero (see the module docstring)."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            return None
        f.seek(size - 1)
        if f.read(1) != b"\0":
            return None
    return (REASON_ZERO_END, f"byte {size - 1} of {size} is zero")
