"""The metadata index in the daemon: finalize batches, publishing, and the ``index`` executor.

Public API: :class:`IndexService` (``queue``, ``start_batch``, ``update_stages``,
``record_ingests``, ``tick``, ``maintain``, ``close``, ``stats``, ``queue_room``), :class:`IndexStats`, :func:`plan` (the ``index``
utility task: :meth:`webui_export.index.writer.Indexer.maintain`).

This is the one place that hands finalized metadata to :mod:`webui_export.index.writer`,
always from the ``(index)`` lane's one thread; what each finalize task's files are and how its
task ends is :mod:`spoold.server.executors.finalize`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from schemas.metadata import StageStatus, VideoMeta
from schemas.task import FileRef, Task
from spoold.errors import SpoolError
from spoold.server.executors import finalize
from spoold.server.executors.base import INDEX_LANE, LOCAL_LANE, Host, Job, Outcome, Queued
from spoold.server.storage import Call, Storage
from webui_export.errors import IndexWriteFailed
from webui_export.index.writer import FinalizeReport, Indexer

log = logging.getLogger(__name__)


def plan(task: Task, host: Host) -> Job:
    """Index maintenance, in the index's lane (a no-op result without an index)."""
    return Job(
        None,
        f"{task.task_type} of {task.task_id}",
        host.maintain_index,
        host.cfg.daemon.probe_timeout_s,
        lane=INDEX_LANE if host.index_active else LOCAL_LANE,
    )


@dataclass
class IndexStats:
    """What the finalize batches did, for ``spoold status``."""

    batches: int = 0  # index transactions that indexed finalized videos
    videos: int = 0
    largest: int = 0  # most videos indexed in one transaction
    one_by_one: int = 0  # batches whose write failed and were indexed video by video


class IndexService:
    """The metadata index (:class:`webui_export.index.writer.Indexer`), used from its one thread.

    Active when ``db_dir`` (``[index] dir``) is set.  Then claimed finalize tasks wait in claim
    order (:meth:`queue`) for the ``(index)`` lane, which reads, checks and indexes up to
    ``batch`` of them in one transaction (:meth:`start_batch`; ``finalize_many``: a backlog
    goes faster than one video at a time, see docs/index-design.md).  Each task still ends on
    its own: a video with invalid output fails its task only, and a batch whose write fails is
    indexed again one by one, so that a video that breaks the write fails alone.
    :meth:`tick` publishes new data every pass, and :meth:`maintain` is the ``index`` utility
    task.

    ``journal`` is told the ids of the claimed finalize tasks that only wait for a batch,
    whenever that list changes and before a batch starts; the daemon keeps them in a local
    file, so that the next daemon, if this one is killed, puts those back without counting
    an attempt (they never ran).  Without it, a crash-looping daemon would push every
    finalize it held into backoff.
    """

    def __init__(
        self,
        db_dir: Path | None,
        storage: Storage,
        *,
        publish_interval: float = 1.0,
        timeout: float = 120.0,
        batch: int = 20,
        journal: Callable[[list[str]], None] | None = None,
    ) -> None:
        self.db_dir = db_dir
        self.journal = journal
        self.storage = storage
        self.publish_interval = publish_interval
        self.timeout = timeout
        self.batch = max(1, batch)
        self.stats = IndexStats()
        self.active = db_dir is not None
        self._indexer: Indexer | None = None
        self._publishing: Call[int | None] | None = None
        # Claimed finalize tasks no batch took yet, in claim order: the loop appends, the lane
        # takes.
        self._queue: list[Queued] = []
        self._lock = threading.Lock()
        self._batch_waiting = False
        if self.active:
            storage.add_lane(INDEX_LANE, 1)

    def _open(self) -> Indexer:
        if self._indexer is None:
            if self.db_dir is None:  # callers check ``active`` first: a bug otherwise
                raise SpoolError("no index configured ([index] dir): nothing to open")
            self._indexer = Indexer(self.db_dir, publish_interval=self.publish_interval)
        return self._indexer

    # ---------------------------------------------------------------- finalize batches
    @property
    def queue_room(self) -> int:
        """How many finalize tasks may wait for the index: one batch indexed, one filling."""
        return 2 * self.batch if self.active else 0

    def queue(self, entry: Queued, timeout: float) -> Call[Outcome]:
        """Queue a claimed finalize task for a batch; poll the call like any other."""
        entry.call = Call(INDEX_LANE, entry.what, entry.result, self.storage.clock() + timeout)
        with self._lock:
            self._queue.append(entry)
            self._save_journal()
        return entry.call

    def start_batch(self, *, full: bool = False) -> None:
        """Have the lane take the next batch, unless one is waiting for it (never blocks).

        The batch is taken when the lane gets to it, so whatever was queued meanwhile (up to
        ``batch``) goes with it.  ``full``: only if a whole batch is queued already (while
        claiming more: the lane need not wait for the end of the claiming).
        """
        with self._lock:
            if len(self._queue) < (self.batch if full else 1) or self._batch_waiting:
                return
            self._batch_waiting = True
        self.storage.submit_local(
            "finalize batch", self._run_batch, timeout=self.timeout, lane=INDEX_LANE
        )

    def _take(self) -> list[Queued]:
        """The oldest queued tasks, up to ``batch``, one per video (a second finalize of a
        video waits for the next batch; in one transaction it would be refused)."""
        taken: list[Queued] = []
        left: list[Queued] = []
        videos: set[str] = set()
        with self._lock:
            self._batch_waiting = False
            for entry in self._queue:
                if entry.call.abandoned:  # overdue, or the daemon stopping: given back
                    continue
                video = entry.task.video_id or entry.task.task_id
                if len(taken) < self.batch and video not in videos:
                    taken.append(entry)
                    videos.add(video)
                else:
                    left.append(entry)
            self._queue = left
            self._save_journal()  # before the batch starts: from now on they count as run
        return taken

    def _save_journal(self) -> None:
        """(Lock held.)  Report which claims only wait (see ``journal``)."""
        if self.journal is not None:
            self.journal([e.task.task_id for e in self._queue if not e.call.abandoned])

    def _run_batch(self) -> None:
        """(index) lane: finalize the next batch; every task taken ends, whatever happens."""
        taken = self._take()
        try:
            self._finalize(taken)
        except Exception as exc:  # e.g. the index cannot be opened: each task fails with it
            for entry in taken:
                if entry.outcome is None and entry.error is None:
                    entry.error = exc
        finally:
            for entry in taken:
                entry.call.run()
            self.start_batch()  # more waiting: next (the loop need not come round first)

    def _finalize(self, entries: list[Queued]) -> None:
        """Find each task's files, index the valid videos together, decide every task."""
        todo: list[tuple[Queued, list[FileRef]]] = []
        items: list[tuple[VideoMeta, dict[str, Path], list[StageStatus]]] = []
        for entry in entries:
            found = finalize.prepare(entry, self.storage)
            if found is not None and entry.video is not None:
                kept, files = found
                todo.append((entry, kept))
                items.append((entry.video, files, entry.stages))
        if not todo:
            return
        results, together = self._index(items)
        for (entry, kept), res, n in zip(todo, results, together, strict=True):
            finalize.decide(entry, kept, res, n)

    def _index(
        self, items: list[tuple[VideoMeta, dict[str, Path], list[StageStatus]]]
    ) -> tuple[list[FinalizeReport | Exception], list[int]]:
        """``finalize_many``, and one by one what a failed batch write left out.

        Returns one FinalizeReport or exception per item, and how many videos each was
        indexed with (itself included).
        """
        started = time.monotonic()
        indexer = self._open()
        try:
            results: list[FinalizeReport | Exception] = list(indexer.finalize_many(items))
            retry = [i for i, r in enumerate(results) if isinstance(r, IndexWriteFailed)]
        except Exception as exc:  # not a video's fault we can name: find out one by one
            results, retry = [exc] * len(items), list(range(len(items)))
        indexed = sum(not isinstance(r, Exception) for r in results)
        together = [indexed] * len(items)
        transactions = 1 if indexed else 0
        if retry and len(items) > 1:
            log.warning(
                "finalize batch of %d videos not indexed (%s): indexing them one by one",
                len(items),
                results[retry[0]],
                extra={"event": "index.batch_failed"},
            )
            self.stats.one_by_one += 1
            for i in retry:
                try:
                    [results[i]] = indexer.finalize_many([items[i]])
                    transactions += not isinstance(results[i], Exception)
                except Exception as exc:  # this video's own error now
                    results[i] = exc
                together[i] = 1
        done = sum(not isinstance(r, Exception) for r in results)
        self.stats.batches += transactions
        self.stats.videos += done
        self.stats.largest = max(self.stats.largest, indexed, 1 if done else 0)
        log.info(
            "finalize batch: %d of %d video(s) indexed in %.2f s",
            done,
            len(items),
            time.monotonic() - started,
            extra={"event": "index.batch", "videos": len(items), "indexed": done},
        )
        return results, together

    # ---------------------------------------------------------------- stages
    def update_stages(self, items: list[tuple[str, list[StageStatus]]]) -> None:
        """Have the lane replace the stages (and status) of these videos, where indexed
        (never blocks; after whatever the lane was given before)."""
        if self.active and items:
            self.storage.submit_local(
                "stage update", self._update_stages, items, timeout=self.timeout, lane=INDEX_LANE
            )

    def _update_stages(self, items: list[tuple[str, list[StageStatus]]]) -> None:
        try:
            n = self._open().update_stages(items)
        except Exception as exc:  # the next change of those videos tries again
            log.warning("stages of %d video(s) not updated in the index: %s", len(items), exc)
            return
        if n:
            log.debug("stages of %d video(s) updated in the index", n)

    # ---------------------------------------------------------------- ingestion verdicts
    def record_ingests(self, items: list[tuple[Task, list[StageStatus]]]) -> None:
        """Have the lane take complete ingest records into the index (a rejected file is a
        video of status ``rejected`` there; never blocks)."""
        if self.active and items:
            self.storage.submit_local(
                "ingest verdicts", self._record_ingests, items, timeout=self.timeout,
                lane=INDEX_LANE,
            )  # fmt: skip

    def _record_ingests(self, items: list[tuple[Task, list[StageStatus]]]) -> None:
        try:
            n = self._open().record_ingests(items)
        except Exception as exc:  # the next daemon start looks at the recent days again
            log.warning("%d ingestion verdict(s) not indexed: %s", len(items), exc)
            return
        if n:
            log.info(
                "%d file(s) changed in the index by ingestion verdicts",
                n,
                extra={"event": "index.ingests", "files": n},
            )

    # ---------------------------------------------------------------- upkeep
    def maintain(self) -> Outcome:
        if not self.active:
            return Outcome("complete", result={"skipped": "no index configured ([index] dir)"})
        rep = self._open().maintain()
        return Outcome("complete", result={"maintained": True, **asdict(rep)})

    def tick(self) -> None:
        """New finalized data becomes visible within ``publish_interval`` (never blocks).

        The first tick opens the index: what a killed daemon committed after its last
        publish is published now, not only once the next video is finalized."""
        if not self.active:
            return
        if self._publishing is not None and not self._publishing.done():
            return
        self._publishing = self.storage.submit_local(
            "index publish", self._publish_if_due, timeout=self.timeout, lane=INDEX_LANE
        )

    def _publish_if_due(self) -> int | None:
        return self._open().publish_if_due()

    def close(self, grace: float) -> None:
        if self._indexer is None:
            return
        call = self.storage.submit_local("index close", self._indexer.close, lane=INDEX_LANE)
        if not call.wait(grace):
            log.warning("the index did not close within %.0f s", grace)
