"""The pipeline: which stage follows which, the daemon's chaining of completed tasks, and
where each stage of a video stands.

Public API: :class:`Pipeline` (``stage``, ``first``, ``followups``, ``child_ids``,
``select_inputs``, ``upstream``, ``downstream``, ``indexed_stages``), :class:`Chainer`
(``run_pass``, ``export_state``, ``import_state``), :func:`video_stages`,
:func:`gather_outputs`, :class:`StageTracker` (``note``, ``flush``), :class:`Lookup`,
:class:`Records`, :class:`NotReady`.

Stages come from ``[pipeline.stages.TYPE]`` (see :mod:`spoold.server.settings`): a device class, the
next stage(s), and *input selectors* saying which of the finished task's files the next task
gets: ``outputs`` / ``inputs`` (all of them) or ``outputs:TYPE`` / ``inputs:TYPE`` (only files
of that ``FileRef.type``), in order, without duplicates.

The follow-up of task ``X`` is ``spool.child_task(X, spec)``: same stamp and key, so its id is
known from ``X``'s name alone, and publishing it again is a no-op.  A task whose ``result``
has ``"rejected": true`` or ``"chain": false`` gets no follow-up (a rejected video; a worker
that published its own children).

:class:`Chainer` notices completions however they happened (a worker, the daemon, an
operator's ``mv``): a day folder of ``complete/`` whose mtime changed is listed again, and
each new name whose follow-up exists neither there (children share the parent's stamp, hence
its day) nor in its pending queue gets it published.  Recent days are checked every pass,
all days on a slower timer; unchanged folders cost one ``stat``.  Every new name is also
told to ``on_complete`` (the daemon's :class:`StageTracker`).

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from schemas.metadata import StageStatus
from schemas.task import ChildSpec, FileRef, Task, child_task_id, make_task_id, parse_task_id
from spoold.errors import InvalidTaskFile, SpoolError
from spoold.server.settings import PipelineSettings, StageSettings
from spoold.spool import Location, Spool, queue_name
from spoold.spool.layout import DAY_RE

log = logging.getLogger(__name__)

#: Params a follow-up inherits from its parent (params, else result); they win over the
#: stage's own params of the same name, being specific to the clip.
CARRIED_PARAMS = ("camera_tz", "start_local")


class Pipeline:
    """The configured stages, by task type."""

    def __init__(self, settings: PipelineSettings) -> None:
        self.settings = settings
        self.stages: dict[str, StageSettings] = dict(settings.stages)

    @property
    def first(self) -> StageSettings:
        return self.stages[self.settings.first]

    @property
    def first_type(self) -> str:
        return self.settings.first

    def stage(self, task_type: str) -> StageSettings | None:
        return self.stages.get(task_type)

    def child_ids(self, task_id: str) -> list[tuple[str, str]]:
        """(child task id, its queue) of each follow-up of ``task_id``, from the name alone."""
        _, task_type, _ = parse_task_id(task_id)
        st = self.stages.get(task_type)
        if st is None:
            return []
        out = []
        for nxt in st.next:
            child = self.stages[nxt]
            out.append((child_task_id(task_id, nxt), queue_name(child.device_class, child.device)))
        return out

    def followups(self, task: Task) -> list[ChildSpec]:
        """The follow-up specs of a *completed* ``task`` (with its outputs and result)."""
        if task.result and (task.result.get("rejected") or task.result.get("chain") is False):
            return []
        st = self.stages.get(task.task_type)
        if st is None:
            return []
        specs = []
        carried = self.carried_params(task)
        for nxt in st.next:
            child = self.stages[nxt]
            specs.append(
                ChildSpec(
                    task_type=nxt,
                    device_class=child.device_class,
                    device=child.device,
                    inputs=self.select_inputs(task, child.inputs),
                    params={**child.params, **carried},
                )
            )
        return specs

    def downstream(self, task_type: str) -> set[str]:
        """``task_type`` and every stage that follows it, directly or not."""
        out: set[str] = set()
        todo = [task_type]
        while todo:
            name = todo.pop()
            if name in out or name not in self.stages:
                continue
            out.add(name)
            todo += self.stages[name].next
        return out

    def upstream(self, task_type: str) -> list[str]:
        """The stages on the way from the first stage to ``task_type`` (not itself)."""
        reachable = self.downstream(self.first_type)
        return [
            n
            for n in self.stages
            if n != task_type and n in reachable and task_type in self.downstream(n)
        ]

    @property
    def indexed_stages(self) -> set[str]:
        """The stages whose changes the index must hear of: every ``finalize`` stage and what
        follows it (before finalize, a video is not in the index yet)."""
        out: set[str] = set()
        for name, st in self.stages.items():
            if (st.executor or name) == "finalize" and not st.command:
                out |= self.downstream(name)
        return out

    @staticmethod
    def carried_params(task: Task) -> dict[str, Any]:
        """What every follow-up of ``task`` inherits: the clip's camera time zone (the
        inbox's, set at ingestion) and its start on the camera clock (``start_local`` of the
        ingest result, read with the inbox's naming families), as params of the same name."""
        out: dict[str, Any] = {}
        for key in CARRIED_PARAMS:
            value = task.params.get(key)
            if value is None and task.result is not None:
                value = task.result.get(key)
            if isinstance(value, str) and value:
                out[key] = value
        return out

    @staticmethod
    def select_inputs(task: Task, selectors: Iterable[str]) -> list[FileRef]:
        out: list[FileRef] = []
        seen: set[tuple[str, str]] = set()
        for sel in selectors:
            source, _, kind = sel.partition(":")
            for ref in task.outputs if source == "outputs" else task.inputs:
                if kind and ref.type != kind:
                    continue
                if (ref.device, ref.path) not in seen:
                    seen.add((ref.device, ref.path))
                    out.append(ref)
        return out


@dataclass
class _Day:
    mtime_ns: int
    settled: set[str] = field(default_factory=set)


class Chainer:
    """Publishes the follow-ups of completed tasks; see the module docstring."""

    def __init__(
        self,
        spool: Spool,
        pipeline: Pipeline,
        *,
        hot_days: int = 7,
        on_complete: Callable[[str], None] | None = None,
    ) -> None:
        self.spool = spool
        self.pipeline = pipeline
        self.hot_days = hot_days
        self.on_complete = on_complete
        self._days: dict[str, _Day] = {}
        self._recheck_hot = True  # first pass after a start: look at recent days whatever
        self._bad: set[str] = set()

    def export_state(self) -> dict[str, int]:
        return {d: s.mtime_ns for d, s in self._days.items()}

    def import_state(self, data: dict[str, int]) -> None:
        self._days = {d: _Day(int(m)) for d, m in data.items() if DAY_RE.match(d)}
        self._recheck_hot = True

    def run_pass(self, *, full: bool = False) -> int:
        """Check recent day folders (all of them with ``full``); returns follow-ups published."""
        days = self.spool.complete_days()[::-1]
        hot = set(days[: self.hot_days])
        pending: dict[str, set[str]] = {}
        published = 0
        for day in days if full else days[: self.hot_days]:
            mtime = self.spool.day_version(day)
            if mtime is None:
                continue
            known = self._days.get(day)
            force = self._recheck_hot and day in hot
            if known is not None and known.mtime_ns == mtime and not force:
                continue
            settled = known.settled if known is not None and day in hot else set()
            published += self._check_day(day, settled, pending)
            # Old days keep no name set: they rarely change, and then are read again whole.
            self._days[day] = _Day(mtime, settled if day in hot else set())
        self._recheck_hot = False
        for day in list(self._days):
            if day not in days:
                del self._days[day]
        return published

    def _check_day(self, day: str, settled: set[str], pending: dict[str, set[str]]) -> int:
        names = self.spool.completed_ids(day)
        published = 0
        for task_id in sorted(names - settled):
            children = self.pipeline.child_ids(task_id)
            missing = [
                cid
                for cid, q in children
                if cid not in names and cid not in self._pending_ids(q, pending)
            ]
            if missing:
                published += self._publish_followups(self.spool.layout.completed(task_id), task_id)
            if self.on_complete is not None:
                self.on_complete(task_id)
            settled.add(task_id)
        return published

    def _pending_ids(self, queue: str, cache: dict[str, set[str]]) -> set[str]:
        ids = cache.get(queue)
        if ids is None:
            ids = cache[queue] = self.spool.task_ids(queue)
        return ids

    def _publish_followups(self, path: Path, task_id: str) -> int:
        try:
            parent = self.spool.read(path)
        except FileNotFoundError:
            return 0
        except InvalidTaskFile as exc:
            if task_id not in self._bad:
                self._bad.add(task_id)
                log.error("%s; its follow-ups are not published until it is fixed", exc)
            return 0
        n = 0
        for spec in self.pipeline.followups(parent):
            child = self.spool.child_task(parent, spec)
            if self.spool.publish(child).created:
                n += 1
                log.info(
                    "%s: published follow-up %s for %s",
                    task_id,
                    child.task_id,
                    child.device_class,
                    extra={"event": "chain.published", "task_id": child.task_id},
                )
        return n


# -- where each stage of a video stands --------------------------------------------------------


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
