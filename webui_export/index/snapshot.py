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
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from webui_export.index import files as layout
from webui_export.index.files import BLOCK_TABLES, EMPTY_PART, PART_TABLES, PARTITION_SQL, Manifest

# Small row groups (2048 rows, sorted) let a lookup by video id or plate decode one group.
# Partitions are read on every list request and rewritten when they change: lz4 decodes
# fastest.  Block files are read one video at a time: zstd keeps them small; at level 1
# (against the default 3) a backlog's publishes cost about a fifth less CPU for files about
# 6% larger (measured, docs/scaling.md).
_BLOCK_COMPRESSION = "COMPRESSION zstd, COMPRESSION_LEVEL 1"
_COUNTED = ("videos", "sightings", "detections", "gps_points", "plate_reads")


def _install(moves: list[tuple[Path, Path]]) -> list[Path]:
    """Move staged files to their final, versioned names (new names: no reader has them)."""
    for staged, final in moves:
        layout.make_dirs(final.parent)
        os.replace(staged, final)
    return [final for _, final in moves]


@dataclass
class _Publish:
    """One publish in progress: where it stages, what it wrote and what it retired."""

    con: duckdb.DuckDBPyConnection
    db_dir: Path
    old: Manifest | None
    generation: int
    staging: Path
    wall: float
    retired: list[tuple[str, float]]
    written: list[Path] = field(default_factory=list)

    def retire(self, paths: Iterable[str]) -> None:
        self.retired.extend((p, self.wall) for p in paths)

    def install(self, moves: list[tuple[Path, Path]]) -> None:
        self.written += _install(moves)


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
    pub = _Publish(
        con, db_dir, old, generation, staging, time.time(), list(old.retired) if old else []
    )
    new_blocks = {t: dict(old.blocks.get(t, {})) if old else {} for t in BLOCK_TABLES}
    for table in BLOCK_TABLES if blocks else ():
        _write_blocks(pub, table, blocks, block_size, new_blocks[table])
    new_parts = {t: dict(old.parts.get(t, {})) if old else {} for t in PART_TABLES}
    for table in PART_TABLES:
        _write_parts(pub, table, dirty_parts.get(table, set()), new_parts[table])
    for path in pub.written:
        fsync_file(path)
    for directory in {p.parent for p in pub.written}:
        layout.fsync_dir(directory)
    kept, pruned = prune_retired(db_dir, pub.retired, pub.wall, keep_retired_s)
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


def _write_blocks(
    pub: _Publish,
    table: str,
    blocks: list[int],
    block_size: int,
    current: dict[int, tuple[int, int]],
) -> None:
    """Write ``table``'s rows of the dirty ``blocks``; update ``current`` (block -> files)."""
    out = pub.staging / table
    out.mkdir()
    for n, (first, last) in enumerate(_runs(blocks)):
        # the key range lets DuckDB skip row groups by their min/max video_key
        pub.con.execute(
            f"COPY (SELECT *, video_key // $bs AS block FROM {table}"
            " WHERE video_key BETWEEN $lo AND $hi ORDER BY video_key, seq)"
            f" TO $out (FORMAT parquet, {_BLOCK_COMPRESSION}, ROW_GROUP_SIZE 2048,"
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
        if pub.old:
            pub.retire(pub.old.block_paths(table, block))
        pub.install(
            [
                (p, pub.db_dir / layout.block_file(table, block, pub.generation, i))
                for i, p in enumerate(parts)
            ]
        )
        if parts:
            current[block] = (pub.generation, len(parts))
        else:
            current.pop(block, None)


def _write_parts(
    pub: _Publish, table: str, dirty: set[str], current: dict[str, tuple[int, int]]
) -> None:
    """Write ``table``'s dirty partitions; update ``current`` (partition -> files).  A table
    without rows gets one empty file with its columns (:data:`EMPTY_PART`)."""
    wanted = sorted(dirty)
    if pub.old is None or not current:
        wanted = sorted({*wanted, EMPTY_PART})
    if not wanted:
        return
    select, expr, order = PARTITION_SQL[table]
    out = pub.staging / "parts" / table
    out.mkdir(parents=True)
    pub.con.execute(
        f"COPY (SELECT * FROM (SELECT *, {expr} AS part FROM ({select}))"
        f" WHERE list_contains($parts, part) ORDER BY {order})"
        " TO $out (FORMAT parquet, COMPRESSION lz4, ROW_GROUP_SIZE 2048, PARTITION_BY (part))",
        {"parts": wanted, "out": str(out)},
    )
    for name in wanted:
        files = sorted(out.glob(f"part={name}/*.parquet"))
        if pub.old:
            pub.retire(pub.old.part_paths(table, name))
        pub.install(
            [
                (f, pub.db_dir / layout.part_file(table, name, pub.generation, i))
                for i, f in enumerate(files)
            ]
        )
        if files:
            current[name] = (pub.generation, len(files))
        else:
            current.pop(name, None)
    if not current:  # no rows at all: an empty file with the table's columns
        final = pub.db_dir / layout.part_file(table, EMPTY_PART, pub.generation, 0)
        layout.make_dirs(final.parent)
        pub.con.execute(
            f"COPY (SELECT * FROM ({select}) WHERE false) TO $out (FORMAT parquet)",
            {"out": str(final)},
        )
        pub.written.append(final)
        current[EMPTY_PART] = (pub.generation, 1)
    elif EMPTY_PART in current and len(current) > 1:
        if pub.old:
            pub.retire(pub.old.part_paths(table, EMPTY_PART))
        current.pop(EMPTY_PART)


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
