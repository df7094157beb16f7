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
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

from schemas.metadata import StageStatus, VideoMeta
from schemas.task import FileRef, Task
from spoold.errors import SpoolError
from spoold.server.executors import finalize
from spoold.server.executors.base import INDEX_LANE, LOCAL_LANE, Host, Job, Outcome, Queued
from spoold.server.storage import Call, Storage
from webui_export.errors import IndexWriteFailed
from webui_export.index.validate import OUTPUT_KINDS, Outputs
from webui_export.index.writer import FinalizeReport, Indexer

log = logging.getLogger(__name__)

T = TypeVar("T")

#: A finalize batch takes as many ready tasks as the index is expected to write in this long.
BATCH_BUDGET_S = 5.0
#: ... but never fewer than this (a busy machine's slow writes must not shrink batches to a
#: size where each transaction's fixed costs dominate), unless ``[index] finalize_batch`` is.
MIN_BATCH = 20
#: While a backlog is indexed, the published snapshot lags the index by at most about this.
PUBLISH_LAG_S = 10.0
#: During a long claiming pass, the journal of waiting claims is rewritten this often.
JOURNAL_EVERY_S = 0.1
#: Queued finalize tasks whose files are read at once, in their storage root's threads.
LOADS_IN_FLIGHT = 8
#: A ready task waits this long at most for the others queued with it to be read.
READY_WAIT_S = 0.5


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
class _StageUpdate:
    """Stage updates waiting in the lane as one call; more join it until it starts, as long
    as nothing else was handed to the lane after it."""

    items: list[tuple[str, list[StageStatus]]]
    seq: int  # the lane submission it is
    started: bool = False


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
    order (:meth:`queue`) for the ``(index)`` lane; meanwhile each one's files are read and
    validated in the threads of their storage root (:func:`finalize.load`), so that the lane
    only writes.  The lane indexes the ready ones in one transaction (:meth:`start_batch`;
    ``finalize_many``: a backlog goes faster than one video at a time, see
    docs/index-design.md): as many as its write is expected to take ``batch_budget`` seconds
    for (from the last batches), at least ``MIN_BATCH`` and at most ``batch``; the next batch
    starts as soon as one ends while tasks are ready.  Each task still ends on its own, and
    only after its rows are committed: a video with invalid output fails its task only, and a
    batch whose write fails is indexed again one by one, so that a video that breaks the write
    fails alone.

    Publishing: new data becomes visible within ``publish_interval`` (:meth:`tick`, and after
    each batch); while a backlog is being indexed (tasks ready for the next batch), only once
    the snapshot is ``publish_lag`` seconds old (or three times the last publish's cost), so
    that publishes take little of the writer's time.  :meth:`maintain` is the ``index``
    utility task.

    ``journal`` is told the ids of the claimed finalize tasks that only wait for a batch
    before a batch starts, at the end of each pass of the loop and every ``JOURNAL_EVERY_S``
    of a long claiming pass, when that list changed; the daemon keeps them in a local file,
    so that the next daemon, if this one is killed, puts those back without counting an
    attempt (they never ran).  Without it, a crash-looping daemon would push every finalize
    it held into backoff.
    """

    def __init__(
        self,
        db_dir: Path | None,
        storage: Storage,
        *,
        publish_interval: float = 1.0,
        timeout: float = 120.0,
        batch: int = 200,
        journal: Callable[[list[str]], None] | None = None,
        batch_budget: float = BATCH_BUDGET_S,
        publish_lag: float = PUBLISH_LAG_S,
    ) -> None:
        self.db_dir = db_dir
        self.journal = journal
        self.storage = storage
        self.publish_interval = publish_interval
        self.timeout = timeout
        self.batch = max(1, batch)
        self.batch_budget = batch_budget
        self.publish_lag = max(publish_lag, publish_interval)
        self.stats = IndexStats()
        self.active = db_dir is not None
        self._indexer: Indexer | None = None
        self._publishing: Call[int | None] | None = None
        # Claimed finalize tasks no batch took yet, in claim order: the loop appends, the lane
        # takes.
        self._queue: list[Queued] = []
        self._lock = threading.Lock()
        # Every call this hands to the lane is numbered (under ``_submit_lock``, so that the
        # numbers follow the lane's order); the stage update waiting last takes more.
        self._submit_lock = threading.RLock()
        self._submitted = 0
        self._stage_update: _StageUpdate | None = None
        self._batch_waiting = False
        self._journal_dirty = False
        self._journal_at = 0.0
        # Queued tasks whose files are still to be read (task, root, timeout), and how many
        # are being read.
        self._to_load: deque[tuple[Queued, str, float]] = deque()
        self._loading = 0
        # Most videos the next batch takes: what its write is expected to finish within
        # ``batch_budget``, from the last batches' seconds per video (at most ``batch``).
        self._limit = self.batch
        self._per_video: float | None = None
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
        """How many finalize tasks may wait for the index: two of the largest batches (their
        files are read while batches before them are written, and their ends recorded)."""
        return 2 * self.batch if self.active else 0

    def queue(self, entry: Queued, timeout: float) -> Call[Outcome]:
        """Queue a claimed finalize task for a batch, its files read and validated meanwhile
        in the threads of their storage root (at most ``LOADS_IN_FLIGHT`` at a time, so that
        a deep queue neither holds up the root's other work nor looks like a hung mount);
        poll the call like any other."""
        root = next((r.device for r in entry.task.inputs if r.type in OUTPUT_KINDS), None)
        entry.call = Call(INDEX_LANE, entry.what, entry.result, self.storage.clock() + timeout)
        with self._lock:
            self._queue.append(entry)
            self._journal_dirty = True
            if root is not None and root in self.storage.roots:
                self._to_load.append((entry, root, timeout))
            else:  # nothing to read ahead (its batch finds out what is wrong)
                entry.ready_at = time.monotonic()
        self._start_loads()
        return entry.call

    def _start_loads(self) -> None:
        """Start reading the next queued tasks' files, up to ``LOADS_IN_FLIGHT`` at a time."""
        while True:
            with self._lock:
                if self._loading >= LOADS_IN_FLIGHT or not self._to_load:
                    return
                entry, root, timeout = self._to_load.popleft()
                if entry.call.abandoned:
                    continue
                self._loading += 1
            try:
                entry.loading = self.storage.submit(
                    root, f"reading the outputs of {entry.what}", self._load, entry, timeout=timeout
                )
            except Exception as exc:  # the root went away since the claim: the task's outage
                with self._lock:
                    self._loading -= 1
                entry.error = exc
                entry.ready_at = time.monotonic()

    def _load(self, entry: Queued) -> None:
        """(The outputs' root threads.)  Read the task's files, then maybe start a batch."""
        try:
            finalize.load(entry, self.storage)
        except Exception as exc:  # e.g. the root went away: this task's failure
            entry.error = exc
        finally:
            entry.ready_at = time.monotonic()
            with self._lock:
                self._loading -= 1
            self._start_loads()
            self.start_batch()

    def _ready(self, entry: Queued) -> bool:
        return entry.ready_at is not None and not entry.call.abandoned

    def start_batch(self, *, full: bool = False) -> None:
        """Have the lane take the next batch, unless one is waiting for it (never blocks).

        A batch starts once a whole batch (see ``_limit``) is read ahead, or every queued task
        is, or the oldest ready one waited ``READY_WAIT_S`` (a root slow to read holds up the
        others only that long); it takes whatever is ready when the lane gets to it.
        ``full``: only if a whole batch is ready (while claiming more).
        """
        now = time.monotonic()
        with self._lock:
            # The journal (see ``journal``): at the end of each pass, and every
            # ``JOURNAL_EVERY_S`` of a long claiming pass, not once per claim (it lists them all).
            if not full or now - self._journal_at >= JOURNAL_EVERY_S:
                self._flush_journal()
            if self._batch_waiting:
                return
            pending = [e for e in self._queue if not e.call.abandoned]
            ready = [e for e in pending if e.ready_at is not None]
            if not ready:
                return
            enough = len(ready) >= min(self._limit, len(pending))
            stale = now - min(e.ready_at or now for e in ready) >= READY_WAIT_S
            if not (len(ready) >= self._limit if full else enough or stale):
                return
            self._batch_waiting = True
        self._submit("finalize batch", self._run_batch)

    def _take(self) -> list[Queued]:
        """The oldest ready tasks, up to ``_limit``, one per video (a second finalize of a
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
                if len(taken) < self._limit and self._ready(entry) and video not in videos:
                    taken.append(entry)
                    videos.add(video)
                else:
                    left.append(entry)
            self._queue = left
            self._journal_dirty = True
            self._flush_journal()  # before the batch starts: from now on they count as run
        return taken

    def _flush_journal(self) -> None:
        """(Lock held.)  Report which claims only wait (see ``journal``), if that changed."""
        if self.journal is not None and self._journal_dirty:
            self.journal([e.task.task_id for e in self._queue if not e.call.abandoned])
            self._journal_at = time.monotonic()
        self._journal_dirty = False

    def _run_batch(self) -> None:
        """(index) lane: finalize the next batch; every task taken ends, whatever happens.
        Then publish, unless more is ready and the snapshot is younger than ``publish_lag``."""
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
        if taken:
            self._publish_if_due(after_batch=True)

    def _finalize(self, entries: list[Queued]) -> None:
        """Index the valid videos together (files read ahead, or read now), decide every task."""
        todo: list[tuple[Queued, list[FileRef]]] = []
        items: list[tuple[VideoMeta, Outputs | dict[str, Path], list[StageStatus]]] = []
        for entry in entries:
            if entry.outcome is not None or entry.error is not None:
                continue  # decided while its files were read
            found = entry.loaded or finalize.prepare(entry, self.storage)
            if found is not None and entry.video is not None:
                kept, outputs = found
                todo.append((entry, kept))
                items.append((entry.video, outputs, entry.stages))
        if not todo:
            return
        started = time.monotonic()
        results, together = self._index(items)
        for (entry, kept), res, n in zip(todo, results, together, strict=True):
            finalize.decide(entry, kept, res, n)
        self._adapt(len(items), time.monotonic() - started)

    def _adapt(self, videos: int, seconds: float) -> None:
        """The next batch's size: as many videos as the last batches wrote in the budget."""
        per = seconds / videos
        self._per_video = per if self._per_video is None else (self._per_video + per) / 2
        fit = int(self.batch_budget / max(self._per_video, 1e-4))
        self._limit = min(self.batch, max(MIN_BATCH, fit))

    def _index(
        self, items: list[tuple[VideoMeta, Outputs | dict[str, Path], list[StageStatus]]]
    ) -> tuple[list[FinalizeReport | Exception], list[int]]:
        """``finalize_many``, and one by one what a failed batch write left out.

        Returns one FinalizeReport or exception per item, and how many videos each was
        indexed with (itself included).
        """
        started = time.monotonic()
        indexer = self._open()
        try:
            results: list[FinalizeReport | Exception] = list(
                indexer.finalize_many(items, publish=False)
            )
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
                    [results[i]] = indexer.finalize_many([items[i]], publish=False)
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
    def _submit(self, what: str, fn: Callable[..., T], *args: Any) -> Call[T]:
        """Hand ``fn(*args)`` to the lane, numbered (see ``_stage_update``)."""
        with self._submit_lock:
            self._submitted += 1
            return self.storage.submit_local(what, fn, *args, timeout=self.timeout, lane=INDEX_LANE)

    def update_stages(self, items: list[tuple[str, list[StageStatus]]]) -> None:
        """Have the lane replace the stages (and status) of these videos, where indexed
        (never blocks; after whatever the lane was given before).

        Each update is a transaction whose fixed cost is many times a video's share, and a
        backlog's completions come a few at a time while the lane writes a batch: updates
        given while the last one handed to the lane has not started join it (the latest
        stages of a video win, as they would one after the other)."""
        if not (self.active and items):
            return
        with self._submit_lock:
            waiting = self._stage_update
            if waiting is not None and not waiting.started and waiting.seq == self._submitted:
                waiting.items.extend(items)
                return
            update = self._stage_update = _StageUpdate(list(items), self._submitted + 1)
            self._submit("stage update", self._update_stages, update)

    def _update_stages(self, update: _StageUpdate) -> None:
        with self._submit_lock:
            update.started = True
            items = update.items
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
            self._submit("ingest verdicts", self._record_ingests, items)

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
        with self._lock:  # a batch publishes when it ends; a pass need not ask the lane too
            if self._batch_waiting or any(self._ready(e) for e in self._queue):
                return
        self._publishing = self._submit("index publish", self._publish_if_due)

    def _publish_if_due(self, *, after_batch: bool = False) -> int | None:
        """Publish what is new within ``publish_interval``: at once when no finalize task
        waits (the writer has nothing else to do; right after a batch, whatever the interval:
        an idle lane's empty publishes restart the interval, so waiting for it only delays
        what was just finalized), else at most a quarter of the writer's time
        (``Indexer.publish_if_due``); while a backlog is being indexed (a task ready for the
        next batch), once ``publish_lag`` has passed, so that publishing takes little of the
        writer's time yet the snapshot stays that fresh."""
        indexer = self._open()
        with self._lock:
            backlog = any(self._ready(e) for e in self._queue)
            idle = not self._queue
        if idle:
            due = after_batch or time.monotonic() - indexer.last_publish >= self.publish_interval
            return indexer.publish() if due else None
        if not backlog:
            return indexer.publish_if_due()
        lag = max(self.publish_lag, 3 * indexer.publish_cost)  # a quarter of the writer at most
        if time.monotonic() - indexer.last_publish >= lag:
            return indexer.publish()
        return None

    def close(self, grace: float) -> None:
        if self._indexer is None:
            return
        call = self.storage.submit_local("index close", self._indexer.close, lane=INDEX_LANE)
        if not call.wait(grace):
            log.warning("the index did not close within %.0f s", grace)
