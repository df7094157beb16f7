"""Finalized videos into the live database: a batch validated item by item, written at once.

Public API: ``Staged`` (a validated video waiting for the write), :func:`stage` (validate a
batch: an error per invalid item, the valid ones staged) and :func:`write_batch` (in the
caller's transaction: replace the staged videos' rows and re-derive the sightings around them).
:class:`webui_export.index.writer.Indexer` composes them in ``finalize_many``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from schemas.metadata import StageStatus, VideoMeta
from webui_export.errors import FinalizeError
from webui_export.index.arrow import pa
from webui_export.index.files import BLOCK_TABLES, block_of, month_part
from webui_export.index.livedb import delete_videos, insert_rows, mark_dirty
from webui_export.index.rows import video_row, video_tables
from webui_export.index.sightings import rederive_around
from webui_export.index.validate import Outputs, load_outputs

#: A validated video waiting for the batch transaction: (slot, video, outputs, stages, row).
Staged = tuple[int, VideoMeta, Outputs, Sequence[StageStatus], dict[str, Any]]
#: One item of a batch: the video, its output files (or what ``load_outputs`` made of them)
#: and its pipeline stages.
Item = tuple[VideoMeta, Mapping[str, Path] | Outputs, Sequence[StageStatus]]
#: An indexed video's ``(video_key, timeline, sort_ts, end_ts)`` before the write.
Previous = tuple[Any, ...]


def stage(items: Sequence[Item]) -> tuple[list[FinalizeError | None], list[Staged]]:
    """Validate each item on its own: per slot the item's :class:`FinalizeError` (``None``
    for a valid one), and the valid items staged.  A video id twice: the second is refused."""
    errors: list[FinalizeError | None] = [None] * len(items)
    staged: list[Staged] = []
    seen: set[str] = set()
    for i, (video, files, pipeline) in enumerate(items):
        if video.video_id in seen:
            errors[i] = FinalizeError(f"video {video.video_id}: given twice in one batch")
            continue
        try:
            outputs = files if isinstance(files, Outputs) else load_outputs(video.video_id, files)
            row = video_row(video, outputs, pipeline)
        except FinalizeError as exc:
            errors[i] = exc
            continue
        except (pa.ArrowException, ValueError, OverflowError) as exc:
            # A value the schema allows but a column cannot hold (e.g. a track_id beyond
            # 32 bits): this video's problem, never its batch's.
            errors[i] = FinalizeError(
                f"video {video.video_id}: outputs cannot be indexed ({type(exc).__name__}: {exc})"
            )
            continue
        seen.add(video.video_id)
        staged.append((i, video, outputs, pipeline, row))
    return errors, staged


def write_batch(
    con: duckdb.DuckDBPyConnection,
    staged: Sequence[Staged],
    next_key: int,
    block_size: int,
    *,
    gap_s: float,
    gps_window_s: float,
) -> tuple[dict[str, Previous], int, int]:
    """(In a transaction.)  Replace the staged videos' rows, re-derive sightings around them.

    Returns the replaced videos (id -> their :data:`Previous` row), how many sightings the
    re-derivation touched, and the next free ``video_key``."""
    ids = [video.video_id for _, video, *_ in staged]
    old = _drop_previous(con, ids)
    tables: dict[str, list[pa.Table]] = {}
    video_rows: list[dict[str, Any]] = []
    spans: list[tuple[str, datetime, datetime]] = []
    blocks: set[int] = set()
    for _, video, outputs, pipeline, row in staged:
        previous = old.get(video.video_id)
        if previous is None:
            key, next_key = next_key, next_key + 1
        else:
            key = int(previous[0])
            spans.append((previous[1], previous[2], previous[3]))
        spans.append((row["timeline"], row["sort_ts"], row["end_ts"]))
        blocks.add(block_of(key, block_size))
        video_rows.append({"video_key": key, **row})
        for table, rows in video_tables(key, row, outputs, pipeline, video):
            tables.setdefault(table, []).append(rows)
    insert_rows(con, "videos", pa.Table.from_pylist(video_rows))
    for table, parts in tables.items():
        insert_rows(con, table, pa.concat_tables(parts, promote_options="default"))
    margin = timedelta(seconds=2 * max(gap_s, gps_window_s))
    near = 0
    for timeline, lo, hi in _merge_spans(spans, margin):
        near += rederive_around(con, timeline, lo, hi, gap_s=gap_s, gps_window_s=gps_window_s)
    mark_dirty(con, blocks, {month_part(lo) for _, lo, _ in spans}, ids)  # old and new starts
    return old, near, next_key


def _drop_previous(con: duckdb.DuckDBPyConnection, ids: list[str]) -> dict[str, Previous]:
    """Delete the rows of the videos ``ids`` already indexed; returns what they were."""
    old: dict[str, Previous] = {
        r[0]: r[1:]
        for r in con.execute(
            "SELECT video_id, video_key, timeline, sort_ts, end_ts FROM videos"
            " WHERE list_contains($ids, video_id)",
            {"ids": ids},
        ).fetchall()
    }
    delete_videos(con, ("videos", *BLOCK_TABLES), [int(v[0]) for v in old.values()])
    return old


def _merge_spans(
    spans: Sequence[tuple[str, datetime, datetime]], margin: timedelta
) -> list[tuple[str, datetime, datetime]]:
    """Per timeline, merge spans closer than ``margin`` (one sightings pass each)."""
    merged: list[tuple[str, datetime, datetime]] = []
    for timeline, lo, hi in sorted(spans):
        if merged and merged[-1][0] == timeline and lo - merged[-1][2] <= margin:
            merged[-1] = (timeline, merged[-1][1], max(merged[-1][2], hi))
        else:
            merged.append((timeline, lo, hi))
    return merged
