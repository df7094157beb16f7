"""The index directory: the writer's private database, the published snapshot and its manifest.

Public API: :class:`Manifest`, :func:`read_manifest`, :func:`write_manifest`,
:func:`make_dirs`, ``LIVE_DB``,
``MANIFEST``, ``SNAPSHOT_DIR``, ``BLOCK_TABLES``, ``PART_TABLES``, ``PARTITION_SQL``,
``LIVE_DDL``, :func:`block_of`, :func:`video_id_part`, :func:`canon_part`, :func:`month_part`.

Layout of an index directory (on the server's local disk, never on a NAS share)::

    live.duckdb, live.duckdb.wal    the writer's database: only the daemon's Indexer opens it
    CURRENT.json                    manifest of the published snapshot (replaced atomically)
    snapshot/blocks/<table>/bBBBBBB.gNNNNNNNN.I.parquet   rows of videos with
                                    video_key // block_size == BBBBBB, as of generation NNNNNNNN
    snapshot/parts/<table>/pPART.gNNNNNNNN.I.parquet      the rows of a table searched across
                                    videos, by partition: videos by month of their start,
                                    video_ids (id -> key) by a hash of the id, sightings by the
                                    first character of the canonical plate

Every snapshot file is immutable and versioned by generation: a publish writes new files, then
replaces ``CURRENT.json``; readers that still use the old manifest keep reading old files until
``Indexer`` prunes them (``retired`` list, after a grace period).  See docs/index-design.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

# Re-exported: the index's writers call ``files.fsync_dir`` (one policy, spoold.spool.fsops).
from spoold.spool.fsops import fsync_dir as fsync_dir  # noqa: PLC0414 (explicit re-export)

LIVE_DB = "live.duckdb"
MANIFEST = "CURRENT.json"
SNAPSHOT_DIR = "snapshot"
FORMAT = "spoold-index-snapshot/2"
#: Videos per block file.  Small enough that re-publishing a block is cheap (it is rewritten
#: whole whenever one of its videos is finalized), large enough to keep the file count sane.
BLOCK_SIZE = 64
#: Tables stored per block of video keys: the API reads them for one video at a time.
BLOCK_TABLES = ("detections", "gps_points", "plate_reads", "stages", "video_docs")
#: Tables stored by partition: the API filters and sorts across videos in them.
#: ``video_ids`` is the id -> key index of ``videos`` (``videos`` is sorted by time).
PART_TABLES = ("videos", "video_ids", "sightings")
#: Each partitioned table's rows (SELECT without ORDER BY), partition expression, and order.
PARTITION_SQL = {
    "videos": ("SELECT * FROM videos", "strftime(sort_ts, '%Y-%m')", "sort_ts, video_id"),
    "video_ids": (
        "SELECT video_id, video_key, vehicle, channel FROM videos",
        "left(md5(video_id), 1)",
        "video_id",
    ),
    "sightings": ("SELECT * FROM sightings", "left(canon, 1)", "canon, first_seen, sighting_id"),
}
#: The partition a table has when it has no rows at all (an empty file keeps readers simple).
EMPTY_PART = "none"

_REL_PATH = re.compile(
    r"^snapshot/(parts|blocks)/[a-z_]+/[bp][A-Za-z0-9-]+\.g[0-9]{8}\.[0-9]+\.parquet$"
)

#: The writer's tables.  Times are TIMESTAMP in UTC (naive), except ``start_local``.
LIVE_DDL = """
CREATE TABLE IF NOT EXISTS index_meta (key VARCHAR NOT NULL, value VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS videos (
    video_key INTEGER NOT NULL,      -- internal, dense, assigned at first finalize, kept after
    video_id VARCHAR NOT NULL,
    vehicle VARCHAR NOT NULL,
    timeline VARCHAR NOT NULL,       -- see webui_export.index.sightings
    device VARCHAR NOT NULL,
    path VARCHAR NOT NULL,
    size BIGINT NOT NULL,
    brand VARCHAR NOT NULL,
    channel VARCHAR NOT NULL,
    mode VARCHAR NOT NULL,
    sequence INTEGER,
    start_local TIMESTAMP,
    start_utc TIMESTAMP,
    start_source VARCHAR NOT NULL,
    time_basis VARCHAR NOT NULL,     -- utc | local | none: what start_ts is
    start_ts TIMESTAMP,              -- start_utc, else start_local, else from GPS; or NULL
    sort_ts TIMESTAMP NOT NULL,      -- start_ts, or 1970-01-01 when the video has no time;
                                     -- a rejected file: when it was rejected
    end_ts TIMESTAMP NOT NULL,       -- sort_ts + duration (or + the last offset seen)
    day DATE,
    duration_s DOUBLE,
    codec VARCHAR,
    width INTEGER,
    height INTEGER,
    fps DOUBLE,
    bitrate BIGINT,
    status VARCHAR NOT NULL,         -- processing | complete | failed (rows.video_status)
                                     -- | rejected (a file ingest refused: rows.rejected_row)
    finalized_at TIMESTAMP NOT NULL,
    n_detections INTEGER NOT NULL,
    n_gps_points INTEGER NOT NULL,
    n_plate_reads INTEGER NOT NULL,
    labels VARCHAR NOT NULL,         -- JSON object: label -> detections
    min_lat DOUBLE, min_lon DOUBLE, max_lat DOUBLE, max_lon DOUBLE,
    detector VARCHAR,
    gps_source VARCHAR,
    plate_reader VARCHAR,
    start_basis VARCHAR,             -- what gave the start (rows.start_basis); NULL: older row
    start_rule VARCHAR,              -- the naming rule that read the name's time
    start_note VARCHAR,
    rejection VARCHAR                -- JSON (reason, detail, inbox, task_id, at), rejected only
);
-- Indexes written before the start basis was kept get its columns (filled by the Indexer).
ALTER TABLE videos ADD COLUMN IF NOT EXISTS start_basis VARCHAR;
ALTER TABLE videos ADD COLUMN IF NOT EXISTS start_rule VARCHAR;
ALTER TABLE videos ADD COLUMN IF NOT EXISTS start_note VARCHAR;
ALTER TABLE videos ADD COLUMN IF NOT EXISTS rejection VARCHAR;  -- an index of before it
CREATE TABLE IF NOT EXISTS ingest_files (  -- the latest ingest record of each file (private)
    device VARCHAR NOT NULL,
    path VARCHAR NOT NULL,
    task_id VARCHAR NOT NULL,
    video_id VARCHAR,
    verdict VARCHAR NOT NULL,        -- accepted | rejected | superseded
    completed_at TIMESTAMP           -- of the record: a requeued task's new verdict replaces it
);
CREATE TABLE IF NOT EXISTS stages (
    video_key INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    stage VARCHAR NOT NULL,
    state VARCHAR NOT NULL,
    task_id VARCHAR,
    device VARCHAR,
    updated_at TIMESTAMP,
    error VARCHAR
);
CREATE TABLE IF NOT EXISTS video_docs (   -- the API's detail document, built at finalize
    video_key INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    detail VARCHAR NOT NULL          -- JSON (webui_export.index.shapes.video_json + pipeline_json)
);
CREATE TABLE IF NOT EXISTS detections (
    video_key INTEGER NOT NULL,
    seq INTEGER NOT NULL,            -- position in time order: the stable sort key
    t DOUBLE NOT NULL,
    label VARCHAR NOT NULL,
    confidence FLOAT NOT NULL,
    x FLOAT NOT NULL, y FLOAT NOT NULL, w FLOAT NOT NULL, h FLOAT NOT NULL,
    track_id INTEGER
);
CREATE TABLE IF NOT EXISTS gps_points (
    video_key INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    time TIMESTAMP NOT NULL,
    t DOUBLE,
    lat DOUBLE NOT NULL,
    lon DOUBLE NOT NULL,
    speed_kmh FLOAT,
    heading FLOAT,
    altitude_m FLOAT,
    fix SMALLINT
);
CREATE TABLE IF NOT EXISTS plate_reads (
    video_key INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    t DOUBLE NOT NULL,
    ts TIMESTAMP NOT NULL,           -- start_ts + t (or 1970-01-01 + t for a video with no time)
    text_raw VARCHAR NOT NULL,
    text VARCHAR NOT NULL,
    canon VARCHAR NOT NULL,
    confidence FLOAT NOT NULL,
    x FLOAT NOT NULL, y FLOAT NOT NULL, w FLOAT NOT NULL, h FLOAT NOT NULL,
    channel VARCHAR NOT NULL,
    region VARCHAR                   -- PlateRead.region: the matched format's region, or NULL
);
CREATE SEQUENCE IF NOT EXISTS sighting_ids;
CREATE TABLE IF NOT EXISTS sightings (
    sighting_id BIGINT NOT NULL,
    timeline VARCHAR NOT NULL,       -- vehicle, or 'video:<id>' for a video with no time
    vehicle VARCHAR NOT NULL,
    plate VARCHAR NOT NULL,          -- normalized text of the best read
    canon VARCHAR NOT NULL,
    time_basis VARCHAR NOT NULL,     -- utc | local | none: what the times below are
    first_seen TIMESTAMP NOT NULL,
    last_seen TIMESTAMP NOT NULL,
    reads INTEGER NOT NULL,
    best_text_raw VARCHAR NOT NULL,
    best_confidence FLOAT NOT NULL,
    best_video_id VARCHAR NOT NULL,
    best_t DOUBLE NOT NULL,
    best_channel VARCHAR NOT NULL,
    video_ids VARCHAR[] NOT NULL,
    channels VARCHAR[] NOT NULL,
    texts VARCHAR[] NOT NULL,        -- every normalized text read (OCR variants)
    lat DOUBLE,
    lon DOUBLE,
    gps_time TIMESTAMP,
    doc VARCHAR NOT NULL,            -- JSON timeline entry (webui_export.index.shapes.sighting_json)
    region VARCHAR                   -- the best read's region
);
-- Indexes written before plate regions: the column is added, NULL for the rows already there.
ALTER TABLE plate_reads ADD COLUMN IF NOT EXISTS region VARCHAR;
ALTER TABLE sightings ADD COLUMN IF NOT EXISTS region VARCHAR;
CREATE TABLE IF NOT EXISTS dirty_blocks (block INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS dirty_parts (tbl VARCHAR NOT NULL, part VARCHAR NOT NULL);
"""


def block_of(video_key: int, block_size: int = BLOCK_SIZE) -> int:
    return video_key // block_size


def video_id_part(video_id: str) -> str:
    """The ``video_ids`` partition of an id (the SQL in ``PARTITION_SQL`` computes the same)."""
    return hashlib.md5(video_id.encode(), usedforsecurity=False).hexdigest()[0]


def canon_part(canon: str) -> str:
    return canon[0]


def month_part(ts: datetime) -> str:
    return ts.strftime("%Y-%m")


@dataclass(frozen=True)
class Manifest:
    """What ``CURRENT.json`` says: which immutable files make up the published snapshot."""

    generation: int
    published_at: str
    block_size: int
    #: table -> partition -> (generation that wrote it, number of files)
    parts: dict[str, dict[str, tuple[int, int]]]
    #: table -> block -> (generation that wrote it, number of files)
    blocks: dict[str, dict[int, tuple[int, int]]]
    counts: dict[str, int] = field(default_factory=dict)
    #: (relative path, unix time retired) of files no longer referenced
    retired: list[tuple[str, float]] = field(default_factory=list)

    def block_paths(self, table: str, block: int) -> list[str]:
        """Relative paths of one block's files for ``table`` (empty if it has no rows)."""
        entry = self.blocks.get(table, {}).get(block)
        if entry is None:
            return []
        gen, nfiles = entry
        return [block_file(table, block, gen, i) for i in range(nfiles)]

    def all_block_paths(self, table: str) -> list[str]:
        return [p for b in sorted(self.blocks.get(table, {})) for p in self.block_paths(table, b)]

    def part_paths(self, table: str, part: str) -> list[str]:
        """Relative paths of one partition's files for ``table`` (empty if it has no rows)."""
        entry = self.parts.get(table, {}).get(part)
        if entry is None:
            return []
        gen, nfiles = entry
        return [part_file(table, part, gen, i) for i in range(nfiles)]

    def all_part_paths(self, table: str) -> list[str]:
        return [
            p for part in sorted(self.parts.get(table, {})) for p in self.part_paths(table, part)
        ]

    def all_paths(self) -> list[str]:
        """Every file this snapshot is made of."""
        paths = [p for t in self.parts for p in self.all_part_paths(t)]
        return paths + [p for t in self.blocks for p in self.all_block_paths(t)]

    def to_json(self) -> bytes:
        doc: dict[str, Any] = {
            "format": FORMAT,
            "generation": self.generation,
            "published_at": self.published_at,
            "block_size": self.block_size,
            "parts": {
                t: [[p, g, n] for p, (g, n) in sorted(m.items())] for t, m in self.parts.items()
            },
            "blocks": {
                t: [[b, g, n] for b, (g, n) in sorted(m.items())] for t, m in self.blocks.items()
            },
            "counts": self.counts,
            "retired": [[p, at] for p, at in self.retired],
        }
        return json.dumps(doc, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, raw: bytes, where: str) -> Manifest:
        try:
            doc = json.loads(raw)
            if doc.get("format") != FORMAT:
                raise ValueError(f"format {doc.get('format')!r}, want {FORMAT!r}")
            parts = {
                str(t): {_checked_part(p): (int(g), int(n)) for p, g, n in rows}
                for t, rows in doc["parts"].items()
            }
            blocks = {
                str(t): {int(b): (int(g), int(n)) for b, g, n in rows}
                for t, rows in doc["blocks"].items()
            }
            return cls(
                generation=int(doc["generation"]),
                published_at=str(doc["published_at"]),
                block_size=int(doc["block_size"]),
                parts=parts,
                blocks=blocks,
                counts={str(k): int(v) for k, v in doc.get("counts", {}).items()},
                retired=[(_checked_rel(p), float(at)) for p, at in doc.get("retired", [])],
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{where}: not a spoold index manifest ({exc})") from exc


def _checked_rel(path: str) -> str:
    if not isinstance(path, str) or not _REL_PATH.match(path) or ".." in path:
        raise ValueError(f"bad snapshot file name {path!r}")
    return path


def block_file(table: str, block: int, generation: int, index: int) -> str:
    return f"{SNAPSHOT_DIR}/blocks/{table}/b{block:06d}.g{generation:08d}.{index}.parquet"


def part_file(table: str, part: str, generation: int, index: int) -> str:
    return f"{SNAPSHOT_DIR}/parts/{table}/p{part}.g{generation:08d}.{index}.parquet"


def _checked_part(part: str) -> str:
    if not isinstance(part, str) or not re.fullmatch(r"[A-Za-z0-9-]{1,16}", part):
        raise ValueError(f"bad partition name {part!r}")
    return part


def read_manifest(index_dir: Path) -> Manifest | None:
    """The published manifest, or ``None`` if nothing was published yet."""
    path = index_dir / MANIFEST
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    return Manifest.from_json(raw, str(path))


def make_dirs(path: Path) -> None:
    """``path.mkdir(parents=True, exist_ok=True)``, durably: each folder it creates is synced
    into its parent (a new folder's name is an entry of its parent, which a power cut loses
    until the parent is synced, taking everything written under it along)."""
    missing: list[Path] = []
    while not path.is_dir():
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        try:
            folder.mkdir()
        except FileExistsError:
            pass
        fsync_dir(folder.parent)


def write_manifest(index_dir: Path, manifest: Manifest) -> None:
    """Replace ``CURRENT.json`` atomically; durable on return (file and directory fsynced)."""
    tmp = index_dir / f".{MANIFEST}.{os.getpid()}.tmp"
    with open(tmp, "wb") as fh:
        fh.write(manifest.to_json())
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, index_dir / MANIFEST)
    fsync_dir(index_dir)
