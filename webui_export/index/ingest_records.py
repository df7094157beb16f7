"""Complete ingest records into the live database: each file's latest verdict, and a rejected
file as a video of status ``rejected``.

Public API: ``File`` and ``Change`` (a file and what its latest record says), :func:`changes`
(which files the records change, against table ``ingest_files``) and :func:`write_changes`
(in the caller's transaction: record the verdicts, replace the files' rejected videos).
:meth:`webui_export.index.writer.Indexer.record_ingests` composes them; the rules are in its
docstring.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import duckdb

from schemas.metadata import StageStatus
from schemas.task import Task
from webui_export.index.arrow import pa
from webui_export.index.files import BLOCK_TABLES, block_of, month_part
from webui_export.index.livedb import delete_videos, insert_rows, mark_dirty
from webui_export.index.rows import EPOCH, ingest_verdict, rejected_row, stages_table, video_doc
from webui_export.index.shapes import utc_naive

#: A file: ``(device, path)``.
File = tuple[str, str]
#: What a file's latest ingest record says: ``(record, verdict, stages of its video)``.
Change = tuple[Task, str, Sequence[StageStatus]]


def changes(
    con: duckdb.DuckDBPyConnection, items: Sequence[tuple[Task, Sequence[StageStatus]]]
) -> dict[File, Change]:
    """The files whose latest record among ``items`` (by task id) is newer than the one the
    index holds for them, with that record."""
    latest: dict[File, Change] = {}
    for task, stages in items:
        verdict = ingest_verdict(task)
        if verdict is None:
            continue
        device, path, kind = verdict
        seen = latest.get((device, path))
        if seen is None or task.task_id >= seen[0].task_id:
            latest[(device, path)] = (task, kind, stages)
    if not latest:
        return {}
    stored = {
        (d, p): (tid, at)
        for d, p, tid, at in con.execute(
            "SELECT device, path, task_id, completed_at FROM ingest_files"
            " WHERE list_contains($paths, path)",
            {"paths": sorted({p for _, p in latest})},
        ).fetchall()
    }
    return {
        file: (task, kind, stages)
        for file, (task, kind, stages) in latest.items()
        if file not in stored
        or (task.task_id, _completed(task)) > (stored[file][0], stored[file][1] or EPOCH)
    }


def write_changes(
    con: duckdb.DuckDBPyConnection, changed: Mapping[File, Change], next_key: int, block_size: int
) -> int:
    """(In a transaction.)  Record each file's latest verdict; replace its rejected video.
    Returns the next free ``video_key``."""
    files = sorted(changed)
    _record_verdicts(con, files, changed)
    rejected = [(task, stages) for task, kind, stages in changed.values() if kind == "rejected"]
    new_ids = sorted({str(t.video_id) for t, _ in rejected if t.video_id})
    indexed = _finalized_ids(con, new_ids)
    old = _drop_rejected(con, files, new_ids)
    reuse = {str(vid): int(key) for key, vid, _ in old}
    months = {month_part(ts) for _, _, ts in old}
    ids = {str(vid) for _, vid, _ in old}
    blocks = {block_of(int(key), block_size) for key, _, _ in old}
    tables: dict[str, list[pa.Table]] = {}
    for task, stages in rejected:
        row = rejected_row(task)
        if row["video_id"] in indexed:
            continue
        key = reuse.get(row["video_id"])
        if key is None:
            key, next_key = next_key, next_key + 1
        for table, rows in _rejected_tables(key, row, stages):
            tables.setdefault(table, []).append(rows)
        months.add(month_part(row["sort_ts"]))
        ids.add(row["video_id"])
        blocks.add(block_of(key, block_size))
    for table, parts in tables.items():
        insert_rows(con, table, pa.concat_tables(parts, promote_options="default"))
    mark_dirty(con, blocks, months, ids)
    return next_key


def _completed(task: Task) -> datetime:
    """When a record was completed (naive UTC; the epoch if it does not say)."""
    return utc_naive(task.completed_at) if task.completed_at else EPOCH


def _record_verdicts(
    con: duckdb.DuckDBPyConnection, files: list[File], changed: Mapping[File, Change]
) -> None:
    """Replace the ``ingest_files`` rows of ``files`` with their latest records."""
    con.execute(
        "DELETE FROM ingest_files WHERE list_contains($keys, device || ':' || path)",
        {"keys": [f"{d}:{p}" for d, p in files]},
    )
    con.register(
        "_files",
        pa.table(
            {
                "device": [d for d, _ in files],
                "path": [p for _, p in files],
                "task_id": [changed[f][0].task_id for f in files],
                "video_id": pa.array([changed[f][0].video_id for f in files], pa.string()),
                "verdict": [changed[f][1] for f in files],
                "completed_at": pa.array(
                    [_completed(changed[f][0]) for f in files], pa.timestamp("us")
                ),
            }
        ),
    )
    try:
        con.execute("INSERT INTO ingest_files BY NAME SELECT * FROM _files")
    finally:
        con.unregister("_files")


def _finalized_ids(con: duckdb.DuckDBPyConnection, ids: list[str]) -> set[str]:
    """Which of ``ids`` are indexed as finalized videos (a rejection never replaces those)."""
    return {
        r[0]
        for r in con.execute(
            "SELECT video_id FROM videos WHERE status <> 'rejected'"
            " AND list_contains($ids, video_id)",
            {"ids": ids},
        ).fetchall()
    }


def _drop_rejected(
    con: duckdb.DuckDBPyConnection, files: list[File], ids: list[str]
) -> list[tuple[Any, ...]]:
    """Delete the rejected videos of ``files`` and of the video ids ``ids`` (rejected again);
    returns their ``(video_key, video_id, sort_ts)``."""
    old = con.execute(
        "SELECT video_key, video_id, sort_ts FROM videos WHERE status = 'rejected'"
        " AND (list_contains($keys, device || ':' || path) OR list_contains($ids, video_id))",
        {"keys": [f"{d}:{p}" for d, p in files], "ids": ids},
    ).fetchall()
    delete_videos(con, ("videos", *BLOCK_TABLES), [int(key) for key, _, _ in old])
    return old


def _rejected_tables(
    key: int, row: Mapping[str, Any], stages: Sequence[StageStatus]
) -> list[tuple[str, pa.Table]]:
    """The rows of a rejected video: ``videos``, its detail document and its stages."""
    tables = [
        ("videos", pa.Table.from_pylist([{"video_key": key, **row}])),
        ("video_docs", video_doc(key, {**row, "video_key": key}, stages)),
    ]
    if stages:
        tables.append(("stages", stages_table(pa.scalar(key, pa.int32()), stages)))
    return tables
