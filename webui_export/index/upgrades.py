"""An index an older version wrote, brought up to date once when the writer opens it.

Public API: :func:`lacks_rejection_column` (ask before ``LIVE_DDL`` adds the column) and
:func:`upgrade_rows` (after it).  Each upgrade rewrites only the rows an older version left,
rebuilds the detail documents and marks everything for the next publish, in one transaction;
on an index that is up to date each is one ``count(*)``.
"""

from __future__ import annotations

import logging

import duckdb

from spoold.dashcam import GENERIC_RULE
from webui_export.index.livedb import mark_all_dirty, transaction
from webui_export.index.rows import LEGACY_BASIS, rebuild_video_docs

logger = logging.getLogger(__name__)


def lacks_rejection_column(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether ``videos`` exists without its ``rejection`` column (an older index)."""
    row = con.execute(
        "SELECT count(*) FILTER (WHERE column_name = 'rejection'), count(*)"
        " FROM information_schema.columns WHERE table_name = 'videos'"
    ).fetchone()
    return bool(row and row[1] and not row[0])


def upgrade_rows(
    con: duckdb.DuckDBPyConnection, block_size: int, *, rebuild_docs: bool = False
) -> None:
    """Rewrite what older versions left in ``videos``; ``rebuild_docs``: the index had no
    rejected videos (:func:`lacks_rejection_column` said so), every detail document is
    rebuilt."""
    _rename_pending_status(con, block_size)
    _fill_start_basis(con, block_size)
    if rebuild_docs:
        _rebuild_all(con, block_size, "an index without rejected videos: detail documents rebuilt")


def _rebuild_all(
    con: duckdb.DuckDBPyConnection, block_size: int, why: str, update: str | None = None
) -> None:
    """Run ``update`` (SQL), rebuild every detail document and republish everything, in
    one transaction (a format change)."""
    with transaction(con):
        if update is not None:
            con.execute(update)
        rebuild_video_docs(con)
        mark_all_dirty(con, block_size)
    logger.info("%s", why)


def _rename_pending_status(con: duckdb.DuckDBPyConnection, block_size: int) -> None:
    """An index written before the status vocabulary was ``processing | complete |
    failed`` says ``pending`` for a video not through its pipeline: renamed once."""
    _upgrade_videos(
        con,
        block_size,
        "status = 'pending'",
        "status = 'processing'",
        "video(s) of status 'pending' now read 'processing'",
    )


def _fill_start_basis(con: duckdb.DuckDBPyConnection, block_size: int) -> None:
    """Rows written before the start basis was kept get it from ``start_source`` (the
    same decision, older words) and a note saying so."""
    cases = " ".join(f"WHEN '{old}' THEN '{new}'" for old, new in LEGACY_BASIS.items())
    _upgrade_videos(
        con,
        block_size,
        "start_basis IS NULL",
        f"start_basis = CASE start_source {cases} ELSE 'unknown' END,"
        f" start_rule = CASE WHEN start_local IS NULL THEN NULL"
        f" WHEN brand = 'generic' THEN '{GENERIC_RULE}' ELSE brand END,"
        " start_note = 'from an index row written before the start basis was kept'",
        "video(s) given the start basis of their start_source",
    )


def _upgrade_videos(
    con: duckdb.DuckDBPyConnection, block_size: int, where: str, assign: str, done: str
) -> None:
    """``UPDATE videos SET assign WHERE where`` once, for rows an older version wrote;
    detail documents rebuilt and everything republished when a row changed."""
    row = con.execute(f"SELECT count(*) FROM videos WHERE {where}").fetchone()
    if not row or not row[0]:
        return
    _rebuild_all(con, block_size, f"{row[0]} {done}", f"UPDATE videos SET {assign} WHERE {where}")
