"""The index writer: the only process that opens ``live.duckdb`` read-write.

Daemon-facing API (this module never imports Flask)::

    indexer = Indexer(db_dir)       # IndexLocked if another process holds the writer
    report = indexer.finalize(video, files, pipeline)
        # video: VideoMeta; files: {"detections"|"gps"|"plates": Path}; pipeline: [StageStatus]
        # -> FinalizeReport; FinalizeError (message names the file and reason): nothing indexed
    indexer.publish_if_due()        # call on every daemon tick: new data visible within seconds
    indexer.finalize_many([(video, files, pipeline), ...])   # a backlog in one transaction
        # (files, or the Outputs load_outputs made of them; publish=False: publish later)
        # -> [FinalizeReport | FinalizeError] (per video; the valid ones are indexed;
        #    IndexWriteFailed in every slot if the write itself failed: nothing indexed)
    indexer.update_stages([(video_id, pipeline), ...])   # stages changed after finalize
        # -> how many indexed videos changed (status, stages, detail document)
    indexer.record_ingests([(ingest_record, pipeline), ...])   # complete ingest tasks
        # -> how many files changed: a rejected file is a video of status ``rejected``
        #    until a later ingest record of the same file accepts it
    indexer.publish()               # publish a snapshot now -> generation (None: nothing new)
    indexer.maintain()              # the index-maintenance utility task -> MaintenanceReport
    indexer.close()                 # or use ``with Indexer(db_dir) as indexer:``

A finalize task's outputs become ``files`` with
:func:`webui_export.index.validate.resolve_outputs`, which also holds the validation rules.

Re-finalizing a video replaces its rows (one transaction: delete, insert, re-derive the
sightings around it).  Readers never open ``live.duckdb``: :meth:`Indexer.publish` writes
immutable Parquet files plus a manifest (see :mod:`webui_export.index.files`,
docs/index-design.md).  One Indexer per index directory, used from one thread.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import duckdb

from schemas.metadata import StageStatus, VideoMeta
from schemas.task import Task
from spoold.dashcam import GENERIC_RULE
from webui_export.errors import FinalizeError, IndexLocked, IndexWriteFailed
from webui_export.index import files as layout
from webui_export.index.arrow import pa
from webui_export.index.files import (
    BLOCK_TABLES,
    PARTITION_SQL,
    Manifest,
    month_part,
    video_id_part,
)
from webui_export.index.rows import (
    EPOCH,
    LEGACY_BASIS,
    ingest_verdict,
    rebuild_video_docs,
    rejected_row,
    stage_rows,
    stages_table,
    video_doc,
    video_row,
    video_status,
    video_tables,
)
from webui_export.index.shapes import utc_naive
from webui_export.index.sightings import DEFAULT_GAP_S, DEFAULT_GPS_WINDOW_S, rederive_around
from webui_export.index.snapshot import fsync_file, prune_orphans, prune_retired, write_snapshot
from webui_export.index.validate import Outputs, load_outputs

logger = logging.getLogger(__name__)

#: Snapshot files no longer referenced are deleted this long after they were replaced, so a
#: reader that loaded the previous manifest can finish its request.
DEFAULT_KEEP_RETIRED_S = 120.0
#: ``maintain()`` rewrites live.duckdb when more than this share of its blocks is free.
COMPACT_FREE_RATIO = 0.3


#: A validated video waiting for the batch transaction: (slot, video, outputs, stages, row).
_Staged = tuple[int, VideoMeta, Outputs, Sequence[StageStatus], dict[str, Any]]


@dataclass(frozen=True)
class FinalizeReport:
    video_id: str
    replaced: bool
    detections: int
    gps_points: int
    plate_reads: int
    sightings_near: int
    published_generation: int | None
    seconds: float


@dataclass(frozen=True)
class MaintenanceReport:
    generation: int
    compacted: bool
    live_bytes_before: int
    live_bytes_after: int
    files_pruned: int


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


def _completed(task: Task) -> datetime:
    """When a record was completed (naive UTC; the epoch if it does not say)."""
    return utc_naive(task.completed_at) if task.completed_at else EPOCH


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


class Indexer:
    """Writes finalized videos into ``db_dir/live.duckdb`` and publishes read snapshots."""

    def __init__(
        self,
        db_dir: Path,
        *,
        publish_interval: float = 1.0,
        sighting_gap_s: float = DEFAULT_GAP_S,
        gps_window_s: float = DEFAULT_GPS_WINDOW_S,
        keep_retired_s: float = DEFAULT_KEEP_RETIRED_S,
    ) -> None:
        self.db_dir = Path(db_dir)
        self.publish_interval = publish_interval
        self.sighting_gap_s = sighting_gap_s
        self.gps_window_s = gps_window_s
        self.keep_retired_s = keep_retired_s
        layout.make_dirs(self.db_dir)
        self._con = self._connect()
        older = self._lacks_rejection_column()
        self._con.execute(layout.LIVE_DDL)
        row = self._con.execute("SELECT coalesce(max(video_key) + 1, 0) FROM videos").fetchone()
        self._next_key = int(row[0]) if row else 0
        try:
            self._manifest = layout.read_manifest(self.db_dir)
        except ValueError as exc:  # an older snapshot format: publish everything afresh
            logger.warning("%s; publishing a complete new snapshot", exc)
            self._manifest = None
            mark_all_dirty(self._con, layout.BLOCK_SIZE)
        self._block_size = self._manifest.block_size if self._manifest else layout.BLOCK_SIZE
        self._rename_pending_status()
        self._fill_start_basis()
        if older:
            self._rebuild_all("an index without rejected videos: detail documents rebuilt")
        self._last_publish = 0.0
        self._publish_cost = 0.0
        if self._manifest is None:
            self.publish()  # readers always find a snapshot, even of an empty index

    def _lacks_rejection_column(self) -> bool:
        """Whether ``videos`` exists without its ``rejection`` column (an older index)."""
        row = self._con.execute(
            "SELECT count(*) FILTER (WHERE column_name = 'rejection'), count(*)"
            " FROM information_schema.columns WHERE table_name = 'videos'"
        ).fetchone()
        return bool(row and row[1] and not row[0])

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One DuckDB transaction on the writer's connection: committed when the block ends,
        rolled back (and the error raised) when it does not."""
        self._con.execute("BEGIN TRANSACTION")
        try:
            yield
            self._con.execute("COMMIT")
        except BaseException:
            self._con.execute("ROLLBACK")
            raise

    def _rebuild_all(self, why: str, update: str | None = None) -> None:
        """Run ``update`` (SQL), rebuild every detail document and republish everything, in
        one transaction (a format change)."""
        con = self._con
        with self._transaction():
            if update is not None:
                con.execute(update)
            rebuild_video_docs(con)
            mark_all_dirty(con, self._block_size)
        logger.info("%s", why)

    def _rename_pending_status(self) -> None:
        """An index written before the status vocabulary was ``processing | complete |
        failed`` says ``pending`` for a video not through its pipeline: renamed once."""
        self._upgrade_videos(
            "status = 'pending'",
            "status = 'processing'",
            "video(s) of status 'pending' now read 'processing'",
        )

    def _fill_start_basis(self) -> None:
        """Rows written before the start basis was kept get it from ``start_source`` (the
        same decision, older words) and a note saying so."""
        cases = " ".join(f"WHEN '{old}' THEN '{new}'" for old, new in LEGACY_BASIS.items())
        self._upgrade_videos(
            "start_basis IS NULL",
            f"start_basis = CASE start_source {cases} ELSE 'unknown' END,"
            f" start_rule = CASE WHEN start_local IS NULL THEN NULL"
            f" WHEN brand = 'generic' THEN '{GENERIC_RULE}' ELSE brand END,"
            " start_note = 'from an index row written before the start basis was kept'",
            "video(s) given the start basis of their start_source",
        )

    def _upgrade_videos(self, where: str, assign: str, done: str) -> None:
        """``UPDATE videos SET assign WHERE where`` once, for rows an older version wrote;
        detail documents rebuilt and everything republished when a row changed."""
        row = self._con.execute(f"SELECT count(*) FROM videos WHERE {where}").fetchone()
        if not row or not row[0]:
            return
        self._rebuild_all(f"{row[0]} {done}", f"UPDATE videos SET {assign} WHERE {where}")

    # -- lifecycle ---------------------------------------------------------------------------

    def _connect(self) -> duckdb.DuckDBPyConnection:
        path = self.db_dir / layout.LIVE_DB
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

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> Indexer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def last_publish(self) -> float:
        """``time.monotonic()`` of the last publish (or of the last one that found nothing new)."""
        return self._last_publish

    @property
    def publish_cost(self) -> float:
        """Seconds the last publish took."""
        return self._publish_cost

    @property
    def generation(self) -> int:
        return self._manifest.generation if self._manifest else 0

    # -- finalize ----------------------------------------------------------------------------

    def finalize(
        self,
        video: VideoMeta,
        files: Mapping[str, Path],
        pipeline: Sequence[StageStatus] = (),
    ) -> FinalizeReport:
        """Validate ``files`` and index the video, replacing any earlier version of it.

        All or nothing: on :class:`FinalizeError` nothing of the video changed in the index.
        """
        [result] = self.finalize_many([(video, files, pipeline)])
        if isinstance(result, FinalizeError):
            raise result
        return result

    def finalize_many(
        self,
        items: Sequence[tuple[VideoMeta, Mapping[str, Path] | Outputs, Sequence[StageStatus]]],
        *,
        publish: bool = True,
    ) -> list[FinalizeReport | FinalizeError]:
        """Finalize several videos in one transaction (a backlog): one result per item.

        Each video is validated on its own: an invalid one gets its FinalizeError in its slot
        and is left out, the others are indexed together (one insert per table, one sightings
        pass per vehicle and stretch of time).  If the database write itself fails, nothing of
        the batch is indexed and every slot holds that :class:`IndexWriteFailed` (finalize the
        videos one by one to find out whether one of them caused it).  A video id twice in one
        batch: the second is refused.

        An item's outputs are its files, or what :func:`~webui_export.index.validate.load_outputs`
        made of them already (the daemon validates the next batch's files while this one is
        written).  ``publish=False``: the caller publishes (:meth:`publish_if_due`) when it
        sees fit; the rows are committed either way.
        """
        started = time.perf_counter()
        results: list[FinalizeReport | FinalizeError | None] = [None] * len(items)
        staged: list[_Staged] = []
        seen: set[str] = set()
        for i, (video, files, pipeline) in enumerate(items):
            if video.video_id in seen:
                results[i] = FinalizeError(f"video {video.video_id}: given twice in one batch")
                continue
            try:
                outputs = (
                    files if isinstance(files, Outputs) else load_outputs(video.video_id, files)
                )
                row = video_row(video, outputs, pipeline)
            except FinalizeError as exc:
                results[i] = exc
                continue
            except (pa.ArrowException, ValueError, OverflowError) as exc:
                # A value the schema allows but a column cannot hold (e.g. a track_id beyond
                # 32 bits): this video's problem, never its batch's.
                results[i] = FinalizeError(
                    f"video {video.video_id}: outputs cannot be indexed "
                    f"({type(exc).__name__}: {exc})"
                )
                continue
            seen.add(video.video_id)
            staged.append((i, video, outputs, pipeline, row))
        replaced: dict[str, tuple[Any, ...]] = {}
        near = 0
        if staged:
            try:
                replaced, near = self._write_batch(staged)
            except (duckdb.Error, pa.ArrowException, ValueError, OverflowError) as exc:
                for i, video, *_ in staged:
                    results[i] = IndexWriteFailed(
                        f"video {video.video_id}: indexing failed, nothing indexed ({exc})"
                    )
                staged = []
        generation = self.publish_if_due() if staged and publish else None
        seconds = (time.perf_counter() - started) / max(1, len(items))
        for i, video, outputs, _pipeline, _row in staged:
            results[i] = FinalizeReport(
                video_id=video.video_id,
                replaced=video.video_id in replaced,
                detections=outputs.n_detections,
                gps_points=len(outputs.gps),
                plate_reads=len(outputs.plates),
                sightings_near=near,
                published_generation=generation,
                seconds=seconds,
            )
            logger.info(
                "finalized %s (%s): %d detections, %d fixes, %d plate reads",
                video.video_id,
                "replaced" if video.video_id in replaced else "new",
                outputs.n_detections,
                len(outputs.gps),
                len(outputs.plates),
            )
        return [r for r in results if r is not None]

    def _write_batch(self, staged: list[_Staged]) -> tuple[dict[str, tuple[Any, ...]], int]:
        """One transaction: replace the staged videos' rows, re-derive sightings around them."""
        con = self._con
        ids = [video.video_id for _, video, *_ in staged]
        with self._transaction():
            old: dict[str, tuple[Any, ...]] = {
                r[0]: r[1:]
                for r in con.execute(
                    "SELECT video_id, video_key, timeline, sort_ts, end_ts FROM videos"
                    " WHERE list_contains($ids, video_id)",
                    {"ids": ids},
                ).fetchall()
            }
            if old:
                keys = [int(v[0]) for v in old.values()]
                for table in ("videos", *BLOCK_TABLES):
                    con.execute(
                        f"DELETE FROM {table} WHERE video_key BETWEEN $lo AND $hi"
                        " AND list_contains($keys, video_key)",
                        {"lo": min(keys), "hi": max(keys), "keys": keys},
                    )
            next_key = self._next_key
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
                blocks.add(layout.block_of(key, self._block_size))
                video_rows.append({"video_key": key, **row})
                for table, rows in video_tables(key, row, outputs, pipeline, video):
                    tables.setdefault(table, []).append(rows)
            self._insert_rows("videos", pa.Table.from_pylist(video_rows))
            for table, parts in tables.items():
                self._insert_rows(table, pa.concat_tables(parts, promote_options="default"))
            near = 0
            for timeline, lo, hi in _merge_spans(spans, self._margin()):
                near += rederive_around(
                    con,
                    timeline,
                    lo,
                    hi,
                    gap_s=self.sighting_gap_s,
                    gps_window_s=self.gps_window_s,
                )
            con.execute(
                "INSERT INTO dirty_blocks SELECT unnest($blocks::INTEGER[])",
                {"blocks": sorted(blocks)},
            )
            months = {month_part(lo) for _, lo, _ in spans}  # old and new starts
            con.execute(
                "INSERT INTO dirty_parts SELECT 'videos', unnest($months::VARCHAR[])"
                " UNION ALL SELECT 'video_ids', unnest($ids::VARCHAR[])",
                {"months": sorted(months), "ids": sorted({video_id_part(i) for i in ids})},
            )
        self._next_key = next_key
        return old, near

    def update_stages(self, items: Sequence[tuple[str, Sequence[StageStatus]]]) -> int:
        """Replace the pipeline stages of indexed videos, and with them each one's status and
        detail document (one transaction).  Videos not in the index are skipped (their
        finalize stores the stages of its time), and so are unchanged ones.  Returns how many
        videos changed; published by the next :meth:`publish_if_due`."""
        latest = {vid: list(stages) for vid, stages in items}
        if not latest:
            return 0
        con = self._con
        result = con.execute(
            "SELECT * FROM videos WHERE list_contains($ids, video_id) AND status <> 'rejected'",
            {"ids": list(latest)},
        )
        columns = [d[0] for d in result.description]
        rows = {
            r["video_id"]: r
            for r in (dict(zip(columns, v, strict=True)) for v in result.fetchall())
        }
        if not rows:
            return 0
        keys = [int(r["video_key"]) for r in rows.values()]
        stored: dict[int, list[tuple[Any, ...]]] = {}
        for key, *rest in con.execute(
            "SELECT video_key, stage, state, task_id, device, updated_at, error FROM stages"
            " WHERE list_contains($keys, video_key) ORDER BY video_key, seq",
            {"keys": keys},
        ).fetchall():
            stored.setdefault(int(key), []).append(tuple(rest))
        changed = [
            (row, latest[vid])
            for vid, row in rows.items()
            if stored.get(int(row["video_key"]), []) != stage_rows(latest[vid])
        ]
        if not changed:
            return 0
        keys = [int(row["video_key"]) for row, _ in changed]
        tables: dict[str, list[pa.Table]] = {}
        for row, stages in changed:
            row["status"] = video_status(stages)
            key = int(row["video_key"])
            tables.setdefault("video_docs", []).append(video_doc(key, row, stages))
            if stages:
                tables.setdefault("stages", []).append(
                    stages_table(pa.scalar(key, pa.int32()), stages)
                )
        with self._transaction():
            for table in ("stages", "video_docs"):
                con.execute(
                    f"DELETE FROM {table} WHERE list_contains($keys, video_key)", {"keys": keys}
                )
            for table, parts in tables.items():
                self._insert_rows(table, pa.concat_tables(parts))
            con.execute(
                "UPDATE videos SET status = s.status FROM (SELECT unnest($keys) AS video_key,"
                " unnest($statuses) AS status) s WHERE videos.video_key = s.video_key",
                {"keys": keys, "statuses": [row["status"] for row, _ in changed]},
            )
            blocks = sorted({layout.block_of(k, self._block_size) for k in keys})
            months = sorted({month_part(row["sort_ts"]) for row, _ in changed})
            con.execute(
                "INSERT INTO dirty_blocks SELECT unnest($blocks::INTEGER[])", {"blocks": blocks}
            )
            con.execute(
                "INSERT INTO dirty_parts SELECT 'videos', unnest($months::VARCHAR[])",
                {"months": months},
            )
        self.publish_if_due()
        return len(changed)

    def record_ingests(self, items: Sequence[tuple[Task, Sequence[StageStatus]]]) -> int:
        """Take complete ingest records (with the stages of each one's video) into the index:
        a file whose latest ingest record (by task id, as ``spoold ls --rejected`` goes) is a
        rejection is a video of status ``rejected``; any other latest record (accepted,
        superseded) removes the file's rejected video.  Records older than what the index
        holds for their file change nothing, so they may come in any order and more than
        once.  A rejection of a video that is indexed as finalized leaves that video alone.
        One transaction; returns how many files changed, published by the next
        :meth:`publish_if_due`."""
        latest: dict[tuple[str, str], tuple[Task, str, Sequence[StageStatus]]] = {}
        for task, stages in items:
            verdict = ingest_verdict(task)
            if verdict is None:
                continue
            device, path, kind = verdict
            seen = latest.get((device, path))
            if seen is None or task.task_id >= seen[0].task_id:
                latest[(device, path)] = (task, kind, stages)
        if not latest:
            return 0
        con = self._con
        paths = sorted({p for _, p in latest})
        stored = {
            (d, p): (tid, at)
            for d, p, tid, at in con.execute(
                "SELECT device, path, task_id, completed_at FROM ingest_files"
                " WHERE list_contains($paths, path)",
                {"paths": paths},
            ).fetchall()
        }
        changed = {
            file: (task, kind, stages)
            for file, (task, kind, stages) in latest.items()
            if file not in stored
            or (task.task_id, _completed(task)) > (stored[file][0], stored[file][1] or EPOCH)
        }
        if not changed:
            return 0
        with self._transaction():
            self._write_ingests(changed)
        self.publish_if_due()
        return len(changed)

    def _write_ingests(self, changed: Mapping[tuple[str, str], tuple[Task, str, Any]]) -> None:
        """(In a transaction.)  Record each file's latest verdict; replace its rejected video."""
        con = self._con
        files = sorted(changed)
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
        rejected = {f: v for f, v in changed.items() if v[1] == "rejected"}
        new_ids = sorted({str(t.video_id) for t, _, _ in rejected.values() if t.video_id})
        # Out go the rejected videos of these files and of the videos rejected again; a
        # finalized video of the same id stays (and is not rejected over).
        old = con.execute(
            "SELECT video_key, video_id, sort_ts FROM videos WHERE status = 'rejected'"
            " AND (list_contains($keys, device || ':' || path) OR list_contains($ids, video_id))",
            {"keys": [f"{d}:{p}" for d, p in files], "ids": new_ids},
        ).fetchall()
        indexed = {
            r[0]
            for r in con.execute(
                "SELECT video_id FROM videos WHERE status <> 'rejected'"
                " AND list_contains($ids, video_id)",
                {"ids": new_ids},
            ).fetchall()
        }
        reuse = {str(vid): int(key) for key, vid, _ in old}
        keys = [int(key) for key, _, _ in old]
        if keys:
            for table in ("videos", *BLOCK_TABLES):
                con.execute(
                    f"DELETE FROM {table} WHERE list_contains($keys, video_key)", {"keys": keys}
                )
        months = {month_part(ts) for _, _, ts in old}
        ids = {str(vid) for _, vid, _ in old}
        blocks = {layout.block_of(k, self._block_size) for k in keys}
        tables: dict[str, list[pa.Table]] = {}
        next_key = self._next_key
        for task, _, stages in rejected.values():
            row = rejected_row(task)
            if row["video_id"] in indexed:
                continue
            key = reuse.get(row["video_id"])
            if key is None:
                key, next_key = next_key, next_key + 1
            k = pa.scalar(key, pa.int32())
            tables.setdefault("videos", []).append(
                pa.Table.from_pylist([{"video_key": key, **row}])
            )
            tables.setdefault("video_docs", []).append(
                video_doc(key, {**row, "video_key": key}, stages)
            )
            if stages:
                tables.setdefault("stages", []).append(stages_table(k, stages))
            months.add(month_part(row["sort_ts"]))
            ids.add(row["video_id"])
            blocks.add(layout.block_of(key, self._block_size))
        for table, parts in tables.items():
            self._insert_rows(table, pa.concat_tables(parts, promote_options="default"))
        self._next_key = next_key
        con.execute(
            "INSERT INTO dirty_blocks SELECT unnest($blocks::INTEGER[])", {"blocks": sorted(blocks)}
        )
        con.execute(
            "INSERT INTO dirty_parts SELECT 'videos', unnest($months::VARCHAR[])"
            " UNION ALL SELECT 'video_ids', unnest($ids::VARCHAR[])",
            {"months": sorted(months), "ids": sorted({video_id_part(i) for i in ids})},
        )

    def _margin(self) -> timedelta:
        return timedelta(seconds=2 * max(self.sighting_gap_s, self.gps_window_s))

    def _insert_rows(self, table: str, rows: pa.Table) -> None:
        """Append an Arrow table whose column names match ``table``'s (by name, any order)."""
        self._con.register("_rows", rows)
        try:
            self._con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _rows")
        finally:
            self._con.unregister("_rows")

    # -- publish -----------------------------------------------------------------------------

    def publish_if_due(self, now: float | None = None) -> int | None:
        """Publish if there is unpublished data and the last publish is old enough.

        "Old enough" is ``publish_interval`` seconds, or three times what the last publish
        took if that is longer, so publishing never takes more than a quarter of the writer.
        """
        now = time.monotonic() if now is None else now
        if now - self._last_publish < max(self.publish_interval, 3 * self._publish_cost):
            return None
        return self.publish()

    def publish(self) -> int | None:
        """Write the changed blocks and the global tables, then switch ``CURRENT.json``.

        Returns the new generation, or ``None`` if nothing changed since the last publish.
        Readers see either the old or the new snapshot, never a mix.
        """
        started = time.monotonic()
        con = self._con
        blocks = [
            int(r[0]) for r in con.execute("SELECT DISTINCT block FROM dirty_blocks").fetchall()
        ]
        parts: dict[str, set[str]] = {}
        for table, part in con.execute("SELECT DISTINCT tbl, part FROM dirty_parts").fetchall():
            parts.setdefault(table, set()).add(part)
        old = self._manifest
        if old is not None and not blocks and not parts:
            self._last_publish = started
            return None
        manifest, pruned = write_snapshot(
            con, self.db_dir, old, blocks, parts, self._block_size, self.keep_retired_s
        )
        generation = manifest.generation
        con.execute("DELETE FROM dirty_blocks")
        con.execute("DELETE FROM dirty_parts")
        self._manifest = manifest
        self._last_publish = time.monotonic()
        self._publish_cost = self._last_publish - started
        logger.info(
            "published generation %d: %d block(s), pruned %d file(s) in %.3fs",
            generation,
            len(blocks),
            pruned,
            self._publish_cost,
        )
        return generation

    # -- maintenance -------------------------------------------------------------------------

    def maintain(
        self, *, force_compact: bool = False, republish: bool = False
    ) -> MaintenanceReport:
        """The index-maintenance task: publish, checkpoint, compact, prune old snapshot files.

        Compaction rewrites ``live.duckdb`` into a fresh file when more than
        ``COMPACT_FREE_RATIO`` of it is free space (re-finalized videos leave holes).
        Pruning deletes retired snapshot files past their grace period and any orphan left
        by a crash mid-publish.  ``republish`` rewrites every block (after a format change).
        """
        if republish:
            mark_all_dirty(self._con, self._block_size)
        self.publish()
        live = self.db_dir / layout.LIVE_DB
        self._con.execute("CHECKPOINT")
        before = live.stat().st_size
        row = self._con.execute(
            "SELECT free_blocks, total_blocks FROM pragma_database_size()"
        ).fetchone()
        free, total = (int(row[0]), int(row[1])) if row else (0, 0)
        compacted = force_compact or (total > 0 and free / total > COMPACT_FREE_RATIO)
        if compacted:
            self._compact(live)
        pruned = 0
        if self._manifest is not None:
            pruned = prune_orphans(self.db_dir, self._manifest, self.keep_retired_s)
            kept, n = prune_retired(
                self.db_dir, list(self._manifest.retired), time.time(), self.keep_retired_s
            )
            if n:
                pruned += n
                self._manifest = Manifest(**{**self._manifest.__dict__, "retired": kept})
                layout.write_manifest(self.db_dir, self._manifest)
        after = live.stat().st_size
        logger.info(
            "maintenance: live.duckdb %d -> %d bytes (compacted: %s), pruned %d file(s)",
            before,
            after,
            compacted,
            pruned,
        )
        return MaintenanceReport(self.generation, compacted, before, after, pruned)

    def _compact(self, live: Path) -> None:
        tmp = live.with_name(live.name + ".compact")
        tmp.unlink(missing_ok=True)
        self._con.execute("ATTACH $p AS compact", {"p": str(tmp)})
        catalog = self._con.execute("SELECT current_database()").fetchone()
        self._con.execute(f'COPY FROM DATABASE "{catalog[0] if catalog else "live"}" TO compact')
        self._con.execute("DETACH compact")
        self._con.close()
        fsync_file(tmp)
        os.replace(tmp, live)
        layout.fsync_dir(self.db_dir)
        self._con = self._connect()
