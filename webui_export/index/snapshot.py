"""Publishing read snapshots from the live database, and pruning the ones no longer used.

Public API: :func:`write_snapshot`, :func:`prune_retired`, :func:`prune_orphans`,
:func:`fsync_file`.

Used by :class:`webui_export.index.writer.Indexer` only (the one writer).  A snapshot is a set of
immutable, versioned Parquet files plus the manifest naming them (see
:mod:`webui_export.index.files`); a publish writes new files for what changed, fsyncs them, then
replaces the manifest, so readers see the old generation or the new one, never a mix.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from webui_export.index import files as layout
from webui_export.index.files import BLOCK_TABLES, EMPTY_PART, PART_TABLES, PARTITION_SQL, Manifest

# Small row groups (2048 rows, sorted) let a lookup by video id or plate decode one group.
# Partitions are read on every list request and rewritten when they change: lz4 decodes
# fastest.  Block files are read one video at a time: zstd keeps them small.
_COUNTED = ("videos", "sightings", "detections", "gps_points", "plate_reads")


def _install(moves: list[tuple[Path, Path]]) -> list[Path]:
    """Move staged files to their final, versioned names (new names: no reader has them)."""
    for staged, final in moves:
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged, final)
    return [final for _, final in moves]


def write_snapshot(
    con: duckdb.DuckDBPyConnection,
    db_dir: Path,
    old: Manifest | None,
    blocks: list[int],
    dirty_parts: dict[str, set[str]],
    block_size: int,
    keep_retired_s: float,
) -> tuple[Manifest, int]:
    """Publish the next generation: the dirty ``blocks`` and partitions ``dirty_parts``.

    Returns the new manifest (already in place as ``CURRENT.json``) and how many retired files
    past their grace period were deleted on the way.
    """
    generation = (old.generation if old else 0) + 1
    staging = db_dir / layout.SNAPSHOT_DIR / f".staging-g{generation:08d}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    written: list[Path] = []
    retired = list(old.retired) if old else []
    wall = time.time()
    new_blocks = {t: dict(old.blocks.get(t, {})) if old else {} for t in BLOCK_TABLES}
    for table in BLOCK_TABLES if blocks else ():
        out = staging / table
        out.mkdir()
        for n, (first, last) in enumerate(_runs(blocks)):
            # the key range lets DuckDB skip row groups by their min/max video_key
            con.execute(
                f"COPY (SELECT *, video_key // $bs AS block FROM {table}"
                " WHERE video_key BETWEEN $lo AND $hi ORDER BY video_key, seq)"
                " TO $out (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 2048,"
                " PARTITION_BY (block))",
                {
                    "bs": block_size,
                    "lo": first * block_size,
                    "hi": (last + 1) * block_size - 1,
                    "out": f"{out}/{n}",
                },
            )
        for block in blocks:
            parts = sorted(out.glob(f"*/block={block}/*.parquet"))
            if old:
                retired.extend((p, wall) for p in old.block_paths(table, block))
            written += _install(
                [
                    (p, db_dir / layout.block_file(table, block, generation, i))
                    for i, p in enumerate(parts)
                ]
            )
            if parts:
                new_blocks[table][block] = (generation, len(parts))
            else:
                new_blocks[table].pop(block, None)
    new_parts = {t: dict(old.parts.get(t, {})) if old else {} for t in PART_TABLES}
    for table in PART_TABLES:
        wanted = sorted(dirty_parts.get(table, set()))
        if old is None or not new_parts[table]:
            wanted = sorted({*wanted, EMPTY_PART})
        if not wanted:
            continue
        select, expr, order = PARTITION_SQL[table]
        out = staging / "parts" / table
        out.mkdir(parents=True)
        con.execute(
            f"COPY (SELECT * FROM (SELECT *, {expr} AS part FROM ({select}))"
            f" WHERE list_contains($parts, part) ORDER BY {order})"
            " TO $out (FORMAT parquet, COMPRESSION lz4, ROW_GROUP_SIZE 2048, PARTITION_BY (part))",
            {"parts": wanted, "out": str(out)},
        )
        for name in wanted:
            files = sorted(out.glob(f"part={name}/*.parquet"))
            if old:
                retired.extend((p, wall) for p in old.part_paths(table, name))
            written += _install(
                [
                    (f, db_dir / layout.part_file(table, name, generation, i))
                    for i, f in enumerate(files)
                ]
            )
            if files:
                new_parts[table][name] = (generation, len(files))
            else:
                new_parts[table].pop(name, None)
        if not new_parts[table]:  # no rows at all: an empty file with the table's columns
            final = db_dir / layout.part_file(table, EMPTY_PART, generation, 0)
            final.parent.mkdir(parents=True, exist_ok=True)
            con.execute(
                f"COPY (SELECT * FROM ({select}) WHERE false) TO $out (FORMAT parquet)",
                {"out": str(final)},
            )
            written.append(final)
            new_parts[table][EMPTY_PART] = (generation, 1)
        elif EMPTY_PART in new_parts[table] and len(new_parts[table]) > 1:
            if old:
                retired.extend((p, wall) for p in old.part_paths(table, EMPTY_PART))
            new_parts[table].pop(EMPTY_PART)
    for path in written:
        fsync_file(path)
    for directory in {p.parent for p in written}:
        layout.fsync_dir(directory)
    kept, pruned = prune_retired(db_dir, retired, wall, keep_retired_s)
    counts = {}
    for table in _COUNTED:
        row = con.execute(f"SELECT count(*) FROM {table}").fetchone()
        counts[table] = int(row[0]) if row else 0
    manifest = Manifest(
        generation=generation,
        published_at=datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
        block_size=block_size,
        parts=new_parts,
        blocks=new_blocks,
        counts=counts,
        retired=kept,
    )
    layout.write_manifest(db_dir, manifest)
    shutil.rmtree(staging, ignore_errors=True)
    return manifest, pruned


def prune_retired(
    db_dir: Path, retired: list[tuple[str, float]], now: float, keep_s: float
) -> tuple[list[tuple[str, float]], int]:
    """Delete retired files older than ``keep_s``; return the ones kept and the count deleted."""
    kept: list[tuple[str, float]] = []
    pruned = 0
    for rel, at in retired:
        if now - at < keep_s:
            kept.append((rel, at))
            continue
        try:
            (db_dir / rel).unlink()
            pruned += 1
        except FileNotFoundError:
            pass
    return kept, pruned


def prune_orphans(db_dir: Path, manifest: Manifest, keep_s: float) -> int:
    """Delete snapshot files no manifest knows (a publish that crashed half-way) and stale
    staging folders, once they are older than ``keep_s``; return how many files went."""
    referenced = set(manifest.all_paths()) | {p for p, _ in manifest.retired}
    cutoff = time.time() - keep_s
    pruned = 0
    snap = db_dir / layout.SNAPSHOT_DIR
    for path in snap.rglob("*"):
        rel = path.relative_to(db_dir).as_posix()
        if path.is_file() and rel not in referenced and path.stat().st_mtime < cutoff:
            path.unlink()
            pruned += 1
    for staging in snap.glob(".staging-*"):
        if staging.stat().st_mtime < cutoff:
            shutil.rmtree(staging, ignore_errors=True)
    return pruned


def _runs(blocks: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted block numbers as ``(first, last)`` runs of consecutive numbers."""
    runs: list[tuple[int, int]] = []
    for block in sorted(set(blocks)):
        if runs and block == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], block)
        else:
            runs.append((block, block))
    return runs


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
