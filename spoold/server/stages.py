"""Where each stage of a video stands, and keeping the index's copy of it true.

Public API: :func:`video_stages`, :func:`gather_outputs`, :class:`StageTracker` (``note``,
``flush``), :class:`Lookup`, :class:`Records`, :class:`NotReady`.

A video's tasks all carry its pipeline's stamp and its key (children inherit both), so each
stage's task of a video has a known id and is found by it (``Spool.locate``: a few ``stat``
calls; for a batch of videos, a :class:`Lookup` lists the queues once instead, and
:class:`Records` keeps the completed records read while their files are unchanged).
:func:`video_stages` says where each configured stage of a video stands (with the
device that ran it and when, from the completed record), :func:`gather_outputs` collects
the outputs of every completed stage upstream of a task (whatever path the chain took: a
worker that published its own children may have passed on only part of its outputs), and
:class:`StageTracker` keeps the index's copy of the stages true after finalize: whenever a
task of a stage at or after finalize starts, completes or fails, the video's stages are
computed again and handed to the index (``publish``); and every completed ingest record is
handed to it too (``ingests``), so that a rejected file shows in the index as a video of
status ``rejected`` (until a later ingest of the same file accepts it).
"""

from __future__ import annotations

import logging
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path

from schemas.metadata import StageStatus
from schemas.task import FileRef, Task, make_task_id, parse_task_id
from spoold.errors import InvalidTaskFile, SpoolError
from spoold.server.pipeline import Pipeline
from spoold.spool import Location, Spool

log = logging.getLogger(__name__)


class NotReady(SpoolError):
    """A stage upstream of a task is published but not complete (or its record unreadable)."""


class Lookup:
    """Locates many task ids of one spool in a row (a batch of videos' stages).

    ``Spool.locate`` of an id that no queue holds looks in every queue's ready and deferred
    folders and lists its claims, then looks again (a task may move while it looks); most
    stages of a video have no task yet, or never will, so those misses are most of the cost
    of tracking stages in a backlog.  Once its lookups through ``Spool.locate`` took
    ``list_after`` seconds (what listing took last time, say), a lookup lists the pending
    ids of every queue, then their ready and deferred ids once more (the same two looks, in
    the same order, as ``locate`` takes), and from then on locates only the ids those lists
    hold; any other id is complete (a look at ``complete/``) or was not published when
    listed.  Either way the answer is the same.  The lists age: a lookup is for one batch,
    and lists again once they are ``max_age`` seconds old.  ``listing_s``: what the last
    listing took.
    """

    def __init__(
        self,
        spool: Spool,
        queues: list[str] | None = None,
        *,
        list_after: float = float("inf"),
        max_age: float = 0.25,
    ) -> None:
        self.spool = spool
        self.queues = spool.queues() if queues is None else queues
        self.list_after = list_after
        self.max_age = max_age
        self.created = time.monotonic()
        self.listing_s = 0.0
        self._spent = 0.0  # in lookups through Spool.locate
        self._listed: set[str] | None = None
        self._listed_at = 0.0

    def locate(self, task_id: str) -> Location | None:
        started = time.perf_counter()
        if self._listed is None and self._spent < self.list_after:
            try:
                return self.spool.locate(task_id, queues=self.queues)
            finally:
                self._spent += time.perf_counter() - started
        if self._listed is None or time.monotonic() - self._listed_at > self.max_age:
            self._listed_at = time.monotonic()
            listed: set[str] = set()
            for queue in self.queues:
                listed |= self.spool.task_ids(queue)
            for queue in self.queues:
                listed |= self.spool.task_ids(queue, ("ready", "deferred"))
            self._listed = listed
            self.listing_s = time.perf_counter() - started
        if task_id in self._listed:
            return self.spool.locate(task_id, queues=self.queues)
        return self.spool.locate(task_id, queues=())  # complete now, or not published then


class Records:
    """Completed task records read before, kept while their file is unchanged.

    A completed record does not change while it stays in ``complete/``; a requeued task's
    later completion is a new file (another inode, mtime or size), so a ``stat`` of the
    path tells whether what was read is still what is there.  Keeps the ``size`` most recent
    records.  The records returned are shared: callers read them, never change them.
    """

    def __init__(self, spool: Spool, size: int = 1024) -> None:
        self.spool = spool
        self.size = size
        self._records: OrderedDict[str, tuple[tuple[int, int, int], Task]] = OrderedDict()

    def read(self, path: Path) -> Task:
        """``Spool.read(path)`` (same errors), from memory when the file is unchanged."""
        key = str(path)
        try:
            st = os.stat(path)
        except OSError:  # read says what is wrong, as ever
            self._records.pop(key, None)
            return self.spool.read(path)
        version = (st.st_ino, st.st_mtime_ns, st.st_size)
        known = self._records.get(key)
        if known is not None and known[0] == version:
            self._records.move_to_end(key)
            return known[1]
        rec = self.spool.read(path)
        self._records[key] = (version, rec)
        self._records.move_to_end(key)
        while len(self._records) > self.size:
            self._records.popitem(last=False)
        return rec


def _video_of(task_id: str) -> tuple[str, str]:
    """(stamp, video key) of a task: its pipeline's stamp and its key without a suffix."""
    stamp, _, key = parse_task_id(task_id)
    return stamp, key.split(".")[0]


def _ordered(pipeline: Pipeline) -> list[str]:
    """The stages from the first one along ``next`` (breadth first), then any other."""
    order: list[str] = []
    todo = [pipeline.first_type]
    while todo:
        name = todo.pop(0)
        if name in order or name not in pipeline.stages:
            continue
        order.append(name)
        todo += pipeline.stages[name].next
    return order + [n for n in pipeline.stages if n not in order]


def video_stages(
    spool: Spool,
    pipeline: Pipeline,
    task_id: str,
    *,
    running: tuple[str, str] | None = None,
    queues: list[str] | None = None,
    lookup: Lookup | None = None,
    records: Records | None = None,
) -> list[StageStatus]:
    """Where each configured stage of ``task_id``'s video stands, in pipeline order.

    ``complete`` (device and time from the completed record), ``running`` (the claim's
    device), ``failed`` (waiting for a retry after a failed attempt: its error, device and
    time), ``pending`` (published and waiting, or not published yet: no task id) or
    ``skipped`` (after a rejected ingest).  ``running``: (task id, device) of a claim the
    caller holds; ``queues``: the spool's queues, if the caller listed them already.  Each
    stage's task is looked up by its id (stamp, stage, video key): a few ``stat`` calls,
    fewer with a ``lookup`` shared by a batch of videos; ``records`` keeps the completed
    records read.
    """
    stamp, vkey = _video_of(task_id)
    look = lookup if lookup is not None else Lookup(spool, queues)
    read = records.read if records is not None else spool.read
    rejected = False
    out: list[StageStatus] = []
    for name in _ordered(pipeline):
        tid = make_task_id(stamp, name, vkey)
        if running is not None and running[0] == tid:
            out.append(StageStatus(stage=name, state="running", task_id=tid, device=running[1]))
            continue
        if rejected:
            out.append(StageStatus(stage=name, state="skipped"))
            continue
        loc = look.locate(tid)
        if loc is None:
            out.append(StageStatus(stage=name, state="pending"))
        elif loc.state == "complete":
            status = _completed_status(read, name, tid, loc.path)
            rejected = status.error == "rejected"
            out.append(status)
        elif loc.claim is not None:
            out.append(
                StageStatus(stage=name, state="running", task_id=tid, device=loc.claim.device)
            )
        else:  # ready or deferred: failed if its last attempt failed
            out.append(_waiting_status(spool, name, tid, loc.path))
    return out


def _completed_status(read: Callable[[Path], Task], name: str, tid: str, path: Path) -> StageStatus:
    try:
        rec = read(path)
    except (FileNotFoundError, InvalidTaskFile):  # requeued meanwhile, or broken (check says)
        return StageStatus(stage=name, state="complete", task_id=tid)
    rejected = bool(rec.result and rec.result.get("rejected"))
    return StageStatus(
        stage=name,
        state="complete",
        task_id=tid,
        device=rec.completed_by,
        updated_at=rec.completed_at,
        error="rejected" if rejected else None,
    )


def _waiting_status(spool: Spool, name: str, tid: str, path: Path) -> StageStatus:
    try:
        rec = spool.read(path)
    except (FileNotFoundError, InvalidTaskFile):
        return StageStatus(stage=name, state="pending", task_id=tid)
    if not rec.attempts:
        return StageStatus(stage=name, state="pending", task_id=tid)
    last = rec.attempts[-1]
    return StageStatus(
        stage=name,
        state="failed",
        task_id=tid,
        device=last.device,
        updated_at=last.at,
        error=last.error[-4000:],
    )


def gather_outputs(
    spool: Spool, pipeline: Pipeline, task: Task, kinds: Iterable[str]
) -> list[FileRef]:
    """``task``'s inputs plus the outputs of the types ``kinds`` of every completed task of its
    video upstream of its stage (a ``video`` only when the inputs hold none).

    The chain may have passed on only part of a stage's outputs (a worker publishing its own
    children chooses their inputs); this finds them all.  Raises :class:`NotReady` when an
    upstream stage of the video is published but not complete yet (its outputs would be
    missed) or its completed record cannot be read.  A stage with no task at all for the
    video is one the chain did not take.
    """
    wanted = set(kinds)
    refs = list(task.inputs)
    seen = {(r.device, r.path) for r in refs}
    has_video = any(r.type == "video" for r in refs)
    stamp, vkey = _video_of(task.task_id)
    waiting: list[str] = []
    queues: list[str] | None = None
    for name in pipeline.upstream(task.task_type):
        tid = make_task_id(stamp, name, vkey)
        queues = spool.queues() if queues is None else queues
        loc = spool.locate(tid, queues=queues)
        if loc is None:
            continue
        if loc.state != "complete":  # published, not done: its outputs are still to come
            waiting.append(f"{tid} is {loc.where}")
            continue
        try:
            rec = spool.read(loc.path)
        except FileNotFoundError:
            waiting.append(f"{tid} left complete/ (requeued?)")
            continue
        except InvalidTaskFile as exc:
            raise NotReady(
                f"{task.task_id}: cannot read the completed record of {tid}, whose "
                f"outputs this task needs: {exc}"
            ) from None
        for ref in rec.outputs:
            take = (ref.type == "video" and not has_video) or ref.type in wanted
            if take and ref.type is not None and (ref.device, ref.path) not in seen:
                seen.add((ref.device, ref.path))
                has_video = has_video or ref.type == "video"
                refs.append(ref)
    if waiting:
        raise NotReady(
            f"{task.task_id}: an earlier stage of video {vkey} is not complete "
            f"({'; '.join(waiting)}): its outputs would be missing; retried later"
        )
    return refs


class StageTracker:
    """Keeps the index's per-video stages true once a video is finalized, and tells it of
    every ingestion verdict.

    :meth:`note` is told of every task that started, completed or failed (the chainer sees
    every completion, the runner its own starts and failures); those of
    :attr:`Pipeline.indexed_stages` mark their video.  :meth:`flush` (each daemon pass)
    computes the stages of up to ``batch`` marked videos (:func:`video_stages`) and hands
    ``[(video_id, stages)]`` to ``publish`` (the index updates the videos it holds).

    With ``ingests``, first-stage tasks are noted too: :meth:`flush` reads the complete record
    of up to ``batch`` of them and hands ``[(record, stages)]`` to ``ingests`` (the stages only
    for a rejection, whose video the index then shows as ``rejected``; an accepted record
    tells it the file is no longer rejected).  A record not complete yet is dropped: the
    chainer notes it again when it completes, and again after a daemon restart (its first
    pass looks at the recent days whole), so a verdict the index missed is caught up then.
    """

    def __init__(
        self,
        spool: Spool,
        pipeline: Pipeline,
        publish: Callable[[list[tuple[str, list[StageStatus]]]], None],
        *,
        batch: int = 50,
        ingests: Callable[[list[tuple[Task, list[StageStatus]]]], None] | None = None,
    ) -> None:
        self.spool = spool
        self.pipeline = pipeline
        self.publish = publish
        self.ingests = ingests
        self.batch = batch
        self.types = pipeline.indexed_stages
        # A video's ingest record is read for its verdict and each change of its stages, and
        # those come up to two finalize queues (two batches of 200) apart.
        self.records = Records(spool, size=1024)
        self._listing_s = 0.002  # what listing the queues took last (see Lookup)
        self._todo: dict[str, str] = {}  # "stamp-video" -> a task id of that video
        self._ingest_todo: dict[str, None] = {}  # first-stage task ids, in the order noted

    def note(self, task_id: str) -> None:
        try:
            stamp, task_type, key = parse_task_id(task_id)
        except ValueError:
            return
        if task_type in self.types:
            self._todo[f"{stamp}-{key.split('.')[0]}"] = task_id
        if self.ingests is not None and task_type == self.pipeline.first_type:
            self._ingest_todo[task_id] = None

    @property
    def backlog(self) -> int:
        return len(self._todo) + len(self._ingest_todo)

    def flush(self) -> int:
        """Publish the stages of up to ``batch`` marked videos, and up to ``batch`` ingestion
        verdicts; returns how many."""
        return self._flush_stages() + self._flush_ingests()

    def _flush_stages(self) -> int:
        if not self._todo:
            return 0
        taken = list(self._todo.items())[: self.batch]
        items: list[tuple[str, list[StageStatus]]] = []
        lookup: Lookup | None = None  # one per pass
        for mark, task_id in taken:
            del self._todo[mark]
            try:
                lookup = self._lookup() if lookup is None else lookup
                stages = video_stages(
                    self.spool, self.pipeline, task_id, lookup=lookup, records=self.records
                )
                items.append((_video_of(task_id)[1], stages))
            except (SpoolError, OSError, ValueError) as exc:  # the spool is away: next time
                self._todo.setdefault(mark, task_id)
                log.warning("stages of %s not updated yet: %s", task_id, exc)
                break
        self._learn(lookup)
        if items:
            self.publish(items)
        return len(items)

    def _flush_ingests(self) -> int:
        if not self._ingest_todo or self.ingests is None:
            return 0
        items: list[tuple[Task, list[StageStatus]]] = []
        lookup: Lookup | None = None
        for task_id in list(self._ingest_todo)[: self.batch]:
            del self._ingest_todo[task_id]
            try:
                loc = self.spool.locate(task_id, queues=())  # only a complete record
                if loc is None or loc.state != "complete":
                    continue  # noted again when it completes
                rec = self.records.read(loc.path)
                stages: list[StageStatus] = []
                if rec.verdict == "rejected":
                    lookup = self._lookup() if lookup is None else lookup
                    stages = video_stages(
                        self.spool, self.pipeline, task_id, lookup=lookup, records=self.records
                    )
                items.append((rec, stages))
            except (FileNotFoundError, InvalidTaskFile):
                continue  # requeued meanwhile (noted again), or broken (`spoold check` says)
            except (SpoolError, OSError, ValueError) as exc:  # the spool is away: next time
                self._ingest_todo[task_id] = None
                log.warning("ingestion verdict of %s not indexed yet: %s", task_id, exc)
                break
        self._learn(lookup)
        if items:
            self.ingests(items)
        return len(items)

    def _lookup(self) -> Lookup:
        return Lookup(self.spool, list_after=self._listing_s)

    def _learn(self, lookup: Lookup | None) -> None:
        if lookup is not None and lookup.listing_s:
            self._listing_s = lookup.listing_s
