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

The Indexer owns the connection, the next free ``video_key`` and the published manifest; each
kind of write is a module it composes, run in one transaction it opens:
:mod:`~webui_export.index.finalize_batch` (finalize), :mod:`~webui_export.index.stage_updates`,
:mod:`~webui_export.index.ingest_records`, on the primitives of
:mod:`~webui_export.index.livedb`; :mod:`~webui_export.index.upgrades` brings an older index up
to date when it opens, :mod:`~webui_export.index.snapshot` writes what :meth:`Indexer.publish`
publishes.

Re-finalizing a video replaces its rows (one transaction: delete, insert, re-derive the
sightings around it).  Readers never open ``live.duckdb``: :meth:`Indexer.publish` writes
immutable Parquet files plus a manifest (see :mod:`webui_export.index.files`,
docs/index-design.md).  One Indexer per index directory, used from one thread.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import duckdb

from schemas.metadata import StageStatus, VideoMeta
from schemas.task import Task
from webui_export.errors import FinalizeError, IndexWriteFailed
from webui_export.index import files as layout
from webui_export.index import finalize_batch, ingest_records, livedb, stage_updates, upgrades
from webui_export.index.arrow import pa
from webui_export.index.files import Manifest
from webui_export.index.livedb import mark_all_dirty
from webui_export.index.sightings import DEFAULT_GAP_S, DEFAULT_GPS_WINDOW_S
from webui_export.index.snapshot import fsync_file, prune_orphans, prune_retired, write_snapshot
from webui_export.index.validate import Outputs

logger = logging.getLogger(__name__)

#: Snapshot files no longer referenced are deleted this long after they were replaced, so a
#: reader that loaded the previous manifest can finish its request.
DEFAULT_KEEP_RETIRED_S = 120.0
#: ``maintain()`` rewrites live.duckdb when more than this share of its blocks is free.
COMPACT_FREE_RATIO = 0.3


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
        self._con = livedb.connect(self.db_dir)
        older = upgrades.lacks_rejection_column(self._con)
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
        upgrades.upgrade_rows(self._con, self._block_size, rebuild_docs=older)
        self._last_publish = 0.0
        self._publish_cost = 0.0
        if self._manifest is None:
            self.publish()  # readers always find a snapshot, even of an empty index

    # -- lifecycle ---------------------------------------------------------------------------

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
        errors, staged = finalize_batch.stage(items)
        results: list[FinalizeReport | FinalizeError | None] = list(errors)
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

    def _write_batch(
        self, staged: list[finalize_batch.Staged]
    ) -> tuple[dict[str, tuple[Any, ...]], int]:
        """One transaction: replace the staged videos' rows, re-derive sightings around them.
        Returns the replaced videos (by id) and how many sightings were re-derived."""
        with livedb.transaction(self._con):
            old, near, next_key = finalize_batch.write_batch(
                self._con,
                staged,
                self._next_key,
                self._block_size,
                gap_s=self.sighting_gap_s,
                gps_window_s=self.gps_window_s,
            )
        self._next_key = next_key
        return old, near

    # -- stages and ingest records -----------------------------------------------------------

    def update_stages(self, items: Sequence[tuple[str, Sequence[StageStatus]]]) -> int:
        """Replace the pipeline stages of indexed videos, and with them each one's status and
        detail document (one transaction).  Videos not in the index are skipped (their
        finalize stores the stages of its time), and so are unchanged ones.  Returns how many
        videos changed; published by the next :meth:`publish_if_due`."""
        changed = stage_updates.changes(self._con, items)
        if not changed:
            return 0
        with livedb.transaction(self._con):
            stage_updates.write_changes(self._con, changed, self._block_size)
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
        changed = ingest_records.changes(self._con, items)
        if not changed:
            return 0
        with livedb.transaction(self._con):
            next_key = ingest_records.write_changes(
                self._con, changed, self._next_key, self._block_size
            )
        self._next_key = next_key
        self.publish_if_due()
        return len(changed)

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
        self._con = livedb.connect(self.db_dir)
