"""The writer's database ``live.duckdb``: opening it, and the writes every part of the writer makes.

Public API: :func:`connect` (the one read-write connection; :class:`IndexLocked` if another
process holds it), :func:`transaction`, :func:`insert_rows`, :func:`delete_videos`,
:func:`mark_dirty` and :func:`mark_all_dirty` (what the next publish rewrites: tables
``dirty_blocks`` and ``dirty_parts``, read by :meth:`webui_export.index.writer.Indexer.publish`).

Only :class:`webui_export.index.writer.Indexer` and the modules it composes call these, on the
Indexer's connection, from its one thread.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import duckdb

from webui_export.errors import IndexLocked
from webui_export.index.arrow import pa
from webui_export.index.files import LIVE_DB, PARTITION_SQL, video_id_part


def connect(db_dir: Path) -> duckdb.DuckDBPyConnection:
    """Open ``db_dir/live.duckdb`` read-write (DuckDB lets one process do so at a time)."""
    path = db_dir / LIVE_DB
    try:
        con = duckdb.connect(str(path), config={"threads": 2})
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise IndexLocked(
                f"{path}: another process holds the index writer; only the daemon's "
                f"Indexer may write it ({exc})"
            ) from None
        raise
    con.execute("SET enable_progress_bar = false")  # a daemon has no terminal
    return con


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """One DuckDB transaction on ``con``: committed when the block ends, rolled back (and the
    error raised) when it does not."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def insert_rows(con: duckdb.DuckDBPyConnection, table: str, rows: pa.Table) -> None:
    """Append an Arrow table whose column names match ``table``'s (by name, any order)."""
    con.register("_rows", rows)
    try:
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _rows")
    finally:
        con.unregister("_rows")


def delete_videos(
    con: duckdb.DuckDBPyConnection, tables: Iterable[str], keys: Sequence[int]
) -> None:
    """Delete the rows of the videos ``keys`` from ``tables`` (each keyed by ``video_key``)."""
    if not keys:
        return
    for table in tables:
        # the range lets DuckDB skip the row groups of other keys before testing the list
        con.execute(
            f"DELETE FROM {table} WHERE video_key BETWEEN $lo AND $hi"
            " AND list_contains($keys, video_key)",
            {"lo": min(keys), "hi": max(keys), "keys": list(keys)},
        )


def mark_dirty(
    con: duckdb.DuckDBPyConnection,
    blocks: Iterable[int],
    months: Iterable[str],
    video_ids: Iterable[str] = (),
) -> None:
    """Make the next publish rewrite ``blocks``, the ``videos`` partitions ``months`` and the
    ``video_ids`` partitions of ``video_ids``."""
    con.execute(
        "INSERT INTO dirty_blocks SELECT unnest($blocks::INTEGER[])", {"blocks": sorted(blocks)}
    )
    con.execute(
        "INSERT INTO dirty_parts SELECT 'videos', unnest($months::VARCHAR[])"
        " UNION ALL SELECT 'video_ids', unnest($ids::VARCHAR[])",
        {"months": sorted(months), "ids": sorted({video_id_part(i) for i in video_ids})},
    )


def mark_all_dirty(con: duckdb.DuckDBPyConnection, block_size: int) -> None:
    """Make the next publish rewrite every block and partition (bulk loads, format changes)."""
    con.execute(
        "INSERT INTO dirty_blocks SELECT DISTINCT video_key // $bs FROM videos",
        {"bs": block_size},
    )
    for table, (select, expr, _order) in PARTITION_SQL.items():
        con.execute(
            f"INSERT INTO dirty_parts SELECT DISTINCT $t, {expr} FROM ({select})", {"t": table}
        )
