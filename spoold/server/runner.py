"""The runner: the daemon is the ``server`` device, claiming through the spool like any other.

Public API: :class:`ServerRunner` (``tick``, ``idle``, ``root_up``, ``shutdown``, ``stats``,
``running``), :class:`RunnerStats`.

Each claimed task becomes one call (:func:`spoold.server.executors.plan`) in the threads of
the storage root it reads (see :mod:`spoold.server.storage`), so a hung NAS delays its own
tasks only; the loop polls the call, heartbeats the claim meanwhile, and completes or fails it
when the call returns (follow-ups published first, :meth:`spoold.server.pipeline.Pipeline.followups`).

Tasks needing a storage root that is down fail with a "waiting for storage" error (counted,
backed off), claiming pauses for ``outage_pause_s``, and they are put back at once when the
root returns.  Nothing is completed while a root is missing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from schemas.metadata import StageStatus, VideoMeta
from schemas.task import FileRef, Task, make_task_id, parse_task_id
from spoold.errors import InvalidTaskFile, LeaseLost, SpoolError, StorageUnavailable
from spoold.server import executors
from spoold.server.executors.base import Outcome
from spoold.server.executors.index import IndexService
from spoold.server.pipeline import Pipeline
from spoold.server.settings import DaemonConfig
from spoold.server.stages import Lookup, Records, video_stages
from spoold.server.storage import Call, PathOutsideRoot, Storage
from spoold.spool import Claim, Spool

log = logging.getLogger(__name__)

WAITING = "waiting for storage"


@dataclass
class _Running:
    claim: Claim
    call: Call[Outcome]
    root: str | None
    last_beat: float
    finishing: Call[_Ending] | None = None  # complete/fail in progress (spool writes)
    batched: bool = False  # waits in the index's finalize queue, not in a server slot


@dataclass
class _Ending:
    """How a task ended, for the loop's counts and logs."""

    kind: Literal["complete", "rejected", "failed", "waiting", "lost"]
    message: str = ""
    root: str | None = None


@dataclass
class RunnerStats:
    started: int = 0
    completed: int = 0
    rejected: int = 0
    failed: int = 0
    waiting: int = 0
    by_type: dict[str, int] = field(default_factory=dict)


class ServerRunner:
    """Claims ``server`` tasks and runs them without ever blocking the daemon's loop.

    A task's file work runs in its storage root's threads; its completion (spool writes and
    fsyncs, follow-ups published first) in the ``(spool)`` lane, so the loop only claims,
    heartbeats and counts.  ``Claim.complete``/``fail`` from those threads touch only the
    claim's files and GIL-atomic bookkeeping of the shared :class:`Spool`.
    """

    SPOOL_LANE = "(spool)"

    def __init__(
        self,
        cfg: DaemonConfig,
        spool: Spool,
        storage: Storage,
        pipeline: Pipeline,
        *,
        find_paths: Callable[[str], list[FileRef]] = lambda vid: [],
        seen_video: Callable[[str, str], None] = lambda vid, task_id: None,
        touched: Callable[[str], None] = lambda task_id: None,
        index: IndexService | None = None,
        types: frozenset[str] | None = None,
    ) -> None:
        self.cfg = cfg
        self.spool = spool
        self.storage = storage
        self.pipeline = pipeline
        self.find_paths = find_paths
        self.seen_video = seen_video  # first-stage tasks published by others join the index
        self.touched = touched  # a task started or ended here (the daemon's StageTracker)
        self.index = index or IndexService(None, storage)
        storage.add_lane(self.SPOOL_LANE, cfg.daemon.io_threads)
        self.types = types  # run only these task types (others are released); None = all
        self.device = cfg.daemon.device
        self.running: dict[str, _Running] = {}
        # A plan reads its video's ingest record twice (its metadata, its stages).
        self.records = Records(spool, size=64)
        self._lookup: Lookup | None = None  # shared by the plans of a short while
        self._listing_s = 0.002  # what listing the queues took last (see Lookup)
        self.waiting: dict[str, set[str]] = {}
        self.paused_until = -1e18
        self.stats = RunnerStats()

    def idle(self) -> bool:
        return not self.running

    # ---------------------------------------------------------------- loop
    def tick(self, now: float) -> None:
        beat = max(0.5, self.spool.lease / 3)
        for task_id, r in list(self.running.items()):
            if r.finishing is not None:
                if r.finishing.done():
                    del self.running[task_id]
                    try:
                        ending = r.finishing.result()
                    except Exception as exc:  # e.g. the spool's disk is full: the claim stays
                        ending = _Ending("lost", f"could not record the end of the task: {exc}")
                    self._account(r.claim.task, ending)
                continue
            if r.call.done():
                # Completing writes and fsyncs a few spool files: off the loop's thread.
                r.finishing = self.storage.submit_local(
                    f"finishing {task_id}",
                    self._conclude,
                    r,
                    timeout=self.cfg.daemon.probe_timeout_s,
                    lane=self.SPOOL_LANE,
                )
            elif r.call.overdue(now):
                del self.running[task_id]
                r.call.abandoned = True
                self.storage.check(now)
                why = f"{r.call.what} did not return in time (hung?)"
                self._account(r.claim.task, self._do_outage(r.claim, r.root or "(local)", why))
            elif now - r.last_beat >= beat:
                try:
                    r.claim.heartbeat()
                    r.last_beat = now
                except LeaseLost as exc:
                    log.warning("%s", exc)
                    r.call.abandoned = True
                    del self.running[task_id]
        self._claim_more(now)
        self.index.start_batch()

    def _claim_more(self, now: float) -> None:
        while now >= self.paused_until and self._room():
            claim = self.spool.claim("server", self.device)
            if claim is None:
                return
            if self.types is not None and claim.task.task_type not in self.types:
                try:
                    claim.release()
                except LeaseLost:
                    pass  # broken at once by another daemon's reaper: not ours either way
                return
            self._start(claim, now)
            self.index.start_batch(full=True)

    def _room(self) -> bool:
        """Room for one more claim, whatever its type turns out to be: a free server slot, and
        room in the index's finalize queue (finalize tasks wait there for a batch, so that a
        backlog is indexed ``batch`` at a time rather than ``server_slots`` at a time)."""
        slots, queue_room = self.cfg.daemon.server_slots, self.index.queue_room
        working = [r for r in self.running.values() if r.finishing is None]
        batched = sum(r.batched for r in working)
        return (
            len(working) - batched < slots
            and (queue_room == 0 or batched < queue_room)
            and len(self.running) < 4 * slots + queue_room
        )

    def _start(self, claim: Claim, now: float) -> None:
        task = claim.task
        if task.task_type == self.pipeline.first_type and task.video_id:
            self.seen_video(task.video_id, task.task_id)
        try:
            job, needs = executors.plan(task, self, self.pipeline.stage(task.task_type))
        except SpoolError as exc:
            self._account(task, self._do_fail(claim, str(exc)))
            return
        for name in sorted(needs):
            if name not in self.storage.roots:
                why = f"no storage root {name!r} on this host (configure [storage])"
                self._account(task, self._do_fail(claim, why))
                return
            if not self.storage.available(name):
                st = self.storage.status(name)
                self._account(task, self._do_outage(claim, name, f"{st.state}: {st.message}"))
                self.paused_until = now + self.cfg.daemon.outage_pause_s
                return
        try:
            if job.batch is not None:
                call = self.index.queue(job.batch, job.timeout)
            elif job.root is None:
                call = self.storage.submit_local(
                    job.what, job.fn, timeout=job.timeout, lane=job.lane
                )
            else:
                call = self.storage.submit(job.root, job.what, job.fn, timeout=job.timeout)
        except StorageUnavailable as exc:
            self._account(task, self._do_outage(claim, job.root or job.lane, str(exc)))
            return
        batched = job.batch is not None
        self.running[task.task_id] = _Running(claim, call, job.root, now, batched=batched)
        self.stats.started += 1
        self.touched(task.task_id)

    @property
    def index_active(self) -> bool:
        return self.index.active

    def maintain_index(self) -> Outcome:
        return self.index.maintain()

    def video_meta(self, task: Task) -> VideoMeta | None:
        """The ingest task's result for this task's video (None if unknown or rejected)."""
        try:
            stamp, _, key = parse_task_id(task.task_id)
            ingest_id = make_task_id(stamp, self.pipeline.first_type, key.split(".")[0])
            loc = self.spool.locate(ingest_id, queues=())  # only a complete one will do
            if loc is None or loc.state != "complete":
                return None
            result = self.records.read(loc.path).result
            return VideoMeta.model_validate(result) if result and "rejected" not in result else None
        except (ValueError, InvalidTaskFile, OSError):
            return None

    def stages(self, task: Task) -> list[StageStatus]:
        """Where each stage's task of this video is (this very task: running here)."""
        try:
            lookup = self._lookup
            if lookup is None or time.monotonic() - lookup.created > lookup.max_age:
                self._listing_s = (
                    lookup.listing_s if lookup and lookup.listing_s else self._listing_s
                )
                lookup = self._lookup = Lookup(self.spool, list_after=self._listing_s)
            return video_stages(
                self.spool,
                self.pipeline,
                task.task_id,
                running=(task.task_id, self.device),
                lookup=lookup,
                records=self.records,
            )
        except (SpoolError, OSError, ValueError) as exc:
            log.warning("%s: stages of its video unknown: %s", task.task_id, exc)
            return []

    # ---------------------------------------------------------------- endings
    def _conclude(self, r: _Running) -> _Ending:
        """Complete or fail the claim from the executor's outcome (a spool-lane thread)."""
        claim = r.claim
        try:
            out = r.call.result()
        except StorageUnavailable as exc:
            return self._do_outage(claim, r.root or "(local)", str(exc))
        except PathOutsideRoot as exc:
            return self._do_fail(claim, str(exc))
        except Exception as exc:  # an executor's failure is the task's failure
            return self._do_fail(claim, f"{type(exc).__name__}: {exc}")
        if out.kind == "fail":
            return self._do_fail(claim, out.error)
        record = claim.task.model_copy(update={"outputs": out.outputs, "result": out.result})
        children = [*out.children, *self.pipeline.followups(record)]
        try:
            claim.complete(out.outputs, children, out.result)
        except LeaseLost as exc:
            return _Ending("lost", str(exc))
        if out.result and out.result.get("rejected"):
            res = out.result
            return _Ending(
                "rejected", f"rejected {res.get('device')}:{res.get('path')}: {res.get('reason')}"
            )
        return _Ending("complete")

    @staticmethod
    def _do_fail(claim: Claim, error: str) -> _Ending:
        try:
            claim.fail(error)
        except LeaseLost as exc:
            return _Ending("lost", str(exc))
        return _Ending("failed", error)

    @staticmethod
    def _do_outage(claim: Claim, root: str, why: str) -> _Ending:
        try:
            claim.fail(f"{WAITING} {root} ({why}) — retried when it is back")
        except LeaseLost as exc:
            return _Ending("lost", str(exc))
        return _Ending("waiting", why, root=root)

    def _account(self, task: Task, end: _Ending) -> None:
        """Counts, logs and the waiting list (the loop's thread)."""
        tid, t = task.task_id, task.task_type
        self.touched(tid)
        if end.kind in ("complete", "rejected"):
            self.stats.completed += 1
            self.stats.by_type[t] = self.stats.by_type.get(t, 0) + 1
        if end.kind == "complete":
            log.info(
                "%s: complete", tid, extra={"event": "task.complete", "task_id": tid, "type": t}
            )
        elif end.kind == "rejected":
            self.stats.rejected += 1
            log.warning(
                "%s: %s", tid, end.message, extra={"event": "task.rejected", "task_id": tid}
            )
        elif end.kind == "failed":
            self.stats.failed += 1
            first = end.message.splitlines()[0] if end.message else ""
            log.warning(
                "%s: failed: %s", tid, first, extra={"event": "task.failed", "task_id": tid}
            )
        elif end.kind == "waiting":
            assert end.root is not None
            self.waiting.setdefault(end.root, set()).add(tid)
            self.stats.waiting += 1
            log.info(
                "%s: waiting for storage %s",
                tid,
                end.root,
                extra={"event": "task.waiting", "task_id": tid, "root": end.root},
            )
        else:
            log.warning("%s", end.message, extra={"event": "task.lost", "task_id": tid})

    def root_up(self, root: str) -> int:
        """Put the tasks that waited for ``root`` back in the queue now."""
        n = 0
        for task_id in sorted(self.waiting.pop(root, set())):
            try:
                loc = self.spool.locate(task_id)
                if loc is not None and loc.where == "deferred":
                    self.spool.requeue(task_id, operator=self.device)
                    n += 1
            except (SpoolError, OSError) as exc:
                log.debug("%s: not requeued: %s", task_id, exc)
        self.paused_until = -1e18
        return n

    def shutdown(self, grace: float) -> None:
        """Let running tasks finish for ``grace`` seconds; give the others back untouched."""
        deadline = time.monotonic() + grace
        for task_id, r in list(self.running.items()):
            left = max(0.0, deadline - time.monotonic())
            if r.finishing is not None:
                if r.finishing.wait(left):
                    try:
                        self._account(r.claim.task, r.finishing.result())
                    except Exception as exc:
                        log.warning("%s: %s", task_id, exc)
            elif r.call.wait(left):
                self._account(r.claim.task, self._conclude(r))
            else:
                r.call.abandoned = True
                try:
                    r.claim.release()
                    log.info("%s: released (daemon stopping)", task_id)
                except (SpoolError, OSError) as exc:
                    log.warning("%s: could not release: %s", task_id, exc)
            del self.running[task_id]
