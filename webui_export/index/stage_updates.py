"""Pipeline stages that changed after finalize, into the live database: each indexed video's
stages, and with them its status and detail document.

Public API: ``Changed`` (a video's ``videos`` row and its new stages), :func:`changes` (which
indexed videos the new stages change) and :func:`write_changes` (in the caller's transaction).
:meth:`webui_export.index.writer.Indexer.update_stages` composes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb

from schemas.metadata import StageStatus
from webui_export.index.arrow import pa
from webui_export.index.files import block_of, month_part
from webui_export.index.livedb import delete_videos, insert_rows, mark_dirty
from webui_export.index.rows import stage_rows, stages_table, video_doc, video_status

#: An indexed video whose stages changed: its ``videos`` row (a dict) and its new stages.
Changed = tuple[dict[str, Any], Sequence[StageStatus]]


def changes(
    con: duckdb.DuckDBPyConnection, items: Sequence[tuple[str, Sequence[StageStatus]]]
) -> list[Changed]:
    """The indexed videos among ``items`` (video id, stages; the last of an id counts) whose
    stored stages differ; rejected and unknown videos are left out."""
    latest = {vid: list(stages) for vid, stages in items}
    if not latest:
        return []
    result = con.execute(
        "SELECT * FROM videos WHERE list_contains($ids, video_id) AND status <> 'rejected'",
        {"ids": list(latest)},
    )
    columns = [d[0] for d in result.description]
    rows = {
        r["video_id"]: r for r in (dict(zip(columns, v, strict=True)) for v in result.fetchall())
    }
    if not rows:
        return []
    stored: dict[int, list[tuple[Any, ...]]] = {}
    for key, *rest in con.execute(
        "SELECT video_key, stage, state, task_id, device, updated_at, error FROM stages"
        " WHERE list_contains($keys, video_key) ORDER BY video_key, seq",
        {"keys": [int(r["video_key"]) for r in rows.values()]},
    ).fetchall():
        stored.setdefault(int(key), []).append(tuple(rest))
    return [
        (row, latest[vid])
        for vid, row in rows.items()
        if stored.get(int(row["video_key"]), []) != stage_rows(latest[vid])
    ]


def write_changes(
    con: duckdb.DuckDBPyConnection, changed: Sequence[Changed], block_size: int
) -> None:
    """(In a transaction.)  Replace the stages and detail documents of the ``changed`` videos
    and set their status (each row's ``status`` is set to the one its new stages give)."""
    keys = [int(row["video_key"]) for row, _ in changed]
    tables: dict[str, list[pa.Table]] = {}
    for row, stages in changed:
        row["status"] = video_status(stages)
        key = int(row["video_key"])
        tables.setdefault("video_docs", []).append(video_doc(key, row, stages))
        if stages:
            tables.setdefault("stages", []).append(stages_table(pa.scalar(key, pa.int32()), stages))
    delete_videos(con, ("stages", "video_docs"), keys)
    for table, parts in tables.items():
        insert_rows(con, table, pa.concat_tables(parts))
    con.execute(
        "UPDATE videos SET status = s.status FROM (SELECT unnest($keys) AS video_key,"
        " unnest($statuses) AS status) s WHERE videos.video_key = s.video_key",
        {"keys": keys, "statuses": [row["status"] for row, _ in changed]},
    )
    mark_dirty(
        con,
        {block_of(k, block_size) for k in keys},
        {month_part(row["sort_ts"]) for row, _ in changed},
    )
