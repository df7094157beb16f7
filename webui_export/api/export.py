"""Exports from the published index: GPX, GeoJSON, CSV and a day-partitioned Parquet dump.

Public API (``spoold export`` calls these)::

    track_gpx(index_dir, video_id, out) -> int          # points written
    track_geojson(index_dir, video_id, out) -> int      # points written
    plate_csv(index_dir, plate, out) -> int             # sightings written
    parquet_dump(index_dir, out_dir) -> dict[str, int]  # rows per table

``out`` is a path or an open text stream (e.g. ``sys.stdout``).  They read the published
snapshot like the API does, so they run fine while the daemon writes.  Unknown videos or plates
raise :class:`~webui_export.errors.NotInIndex`; a bad plate text or a non-empty ``out_dir``
raises ``ValueError``.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import duckdb

from webui_export.api import queries
from webui_export.api.db import Session, reader_for
from webui_export.api.geo import track_feature
from webui_export.api.geo import track_gpx as gpx_document
from webui_export.errors import NotInIndex, SnapshotUnavailable
from webui_export.index import files as layout
from webui_export.index.platetext import canonical_plate, normalize_plate

CSV_COLUMNS = (
    "sighting_id", "plate", "region", "text_raw", "confidence", "reads", "vehicle",
    "time_basis", "first_seen", "last_seen", "video_id", "offset_s", "channel", "video_ids",
    "channels", "lat", "lon", "gps_time",
)  # fmt: skip


@contextlib.contextmanager
def _session(index_dir: Path) -> Iterator[Session]:
    session = reader_for(index_dir).session()
    try:
        yield session
    finally:
        session.cursor.close()


@contextlib.contextmanager
def _output(out: Path | TextIO) -> Iterator[TextIO]:
    if isinstance(out, Path):
        tmp = out.with_name(f".{out.name}.tmp")
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            yield fh
        os.replace(tmp, out)
    else:
        yield out


def _track(index_dir: Path, video_id: str) -> tuple[dict[str, Any], list[tuple[Any, ...]]]:
    with _session(index_dir) as session:
        found = queries.track_points(session, video_id)
    if found is None:
        raise NotInIndex(f"no video {video_id!r} in the index at {index_dir}")
    return found


def track_gpx(index_dir: Path, video_id: str, out: Path | TextIO) -> int:
    """Write the video's GPS track as GPX 1.1; return the number of points."""
    video, points = _track(index_dir, video_id)
    with _output(out) as fh:
        fh.write(gpx_document(video, points))
    return len(points)


def track_geojson(index_dir: Path, video_id: str, out: Path | TextIO) -> int:
    """Write the video's GPS track as a GeoJSON Feature; return the number of points."""
    video, points = _track(index_dir, video_id)
    with _output(out) as fh:
        json.dump(track_feature(video, points), fh)
        fh.write("\n")
    return len(points)


def plate_csv(index_dir: Path, plate: str, out: Path | TextIO) -> int:
    """Write every sighting of ``plate`` (OCR-tolerant match) as CSV; return the row count.

    The columns are :data:`CSV_COLUMNS`, the fields of the API's ``Sighting``; ``region`` is
    the plate-format region of the best read (``UK``, ``DE``, ``US``, ...), empty when no
    format was matched or the sighting predates regions.
    """
    normalized = normalize_plate(plate)
    if normalized is None:
        raise ValueError(f"{plate!r} is not a plate: 1-32 letters A-Z and digits")
    canon = canonical_plate(normalized)
    rows: list[dict[str, Any]] = []
    with _session(index_dir) as session:
        after = None
        while True:
            page, after = queries.plate_timeline(session, canon, 1000, after)
            rows += page
            if after is None:
                break
    if not rows:
        raise NotInIndex(f"plate {plate!r} was never sighted (index at {index_dir})")
    with _output(out) as fh:
        writer = csv.DictWriter(fh, CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in rows:
            flat = dict(row)
            flat["video_ids"] = " ".join(row["video_ids"])
            flat["channels"] = " ".join(row["channels"])
            where = row["location"] or {}
            flat.update({k: where.get(k) for k in ("lat", "lon", "gps_time")})
            writer.writerow(flat)
    return len(rows)


# The day a row belongs to: the video's day, or the sighting's first day; 'unknown' if none.
_DUMPS = {
    "videos": (
        "SELECT * EXCLUDE (video_key, day), coalesce(CAST(day AS VARCHAR), 'unknown') AS part"
        " FROM read_parquet($videos)"
    ),
    "sightings": (
        "SELECT * EXCLUDE (timeline), CASE WHEN time_basis = 'none' THEN 'unknown'"
        " ELSE CAST(CAST(first_seen AS DATE) AS VARCHAR) END AS part FROM read_parquet($sightings)"
    ),
}
_FACT_DUMP = (
    "SELECT v.video_id, f.* EXCLUDE (video_key), coalesce(CAST(v.day AS VARCHAR), 'unknown') AS part"
    " FROM read_parquet($files) f JOIN read_parquet($videos) v USING (video_key)"
)


def parquet_dump(index_dir: Path, out_dir: Path) -> dict[str, int]:
    """Write the whole index as Parquet, one folder per table, partitioned by day.

    Layout: ``out_dir/<table>/day=YYYY-MM-DD/*.parquet`` (Hive style; ``day=unknown`` for
    videos without a time).  Written to a temporary sibling, then renamed: ``out_dir`` appears
    complete or not at all.  ``out_dir`` must not exist yet (or be an empty directory).
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise ValueError(f"{out_dir}: exists and is not an empty directory")
    manifest = layout.read_manifest(Path(index_dir))
    if manifest is None:
        raise SnapshotUnavailable(f"{index_dir}: no published index yet")
    tmp = out_dir.with_name(f".{out_dir.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    root = Path(index_dir).resolve()
    con = duckdb.connect(":memory:")
    con.execute("SET enable_progress_bar = false")
    counts: dict[str, int] = {}
    try:
        params: dict[str, Any] = {
            "videos": [str(root / p) for p in manifest.all_part_paths("videos")],
            "sightings": [str(root / p) for p in manifest.all_part_paths("sightings")],
        }
        jobs: list[tuple[str, str, dict[str, Any]]] = [
            (t, sql, params) for t, sql in _DUMPS.items()
        ]
        for table in layout.BLOCK_TABLES:
            files = [str(root / p) for p in manifest.all_block_paths(table)]
            if files:
                jobs.append((table, _FACT_DUMP, {**params, "files": files}))
        for table, sql, bound in jobs:
            used = {k: v for k, v in bound.items() if f"${k}" in sql}
            row = con.execute(f"SELECT count(*) FROM ({sql})", used).fetchone()
            counts[table] = int(row[0]) if row else 0
            con.execute(
                f"COPY (SELECT * EXCLUDE (part), part AS day FROM ({sql})) TO $out"
                " (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (day))",
                {**used, "out": str(tmp / table)},
            )
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        con.close()
    (tmp / "counts.json").write_text(json.dumps({"generation": manifest.generation, **counts}))
    if out_dir.exists():
        out_dir.rmdir()
    os.replace(tmp, out_dir)
    return counts
