"""The pipeline: which stage follows which, and the daemon's chaining of completed tasks.

Public API: :class:`Pipeline` (``stage``, ``first``, ``followups``, ``child_ids``,
``select_inputs``, ``upstream``, ``downstream``, ``indexed_stages``), :class:`Chainer`
(``run_pass``, ``export_state``, ``import_state``), ``CARRIED_PARAMS``.  Where each stage of
a video stands is :mod:`spoold.server.stages`.

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
told to ``on_complete`` (the daemon's :class:`~spoold.server.stages.StageTracker`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from schemas.task import ChildSpec, FileRef, Task, child_task_id, parse_task_id
from spoold.errors import InvalidTaskFile
from spoold.server.settings import PipelineSettings, StageSettings
from spoold.spool import Spool, queue_name
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
