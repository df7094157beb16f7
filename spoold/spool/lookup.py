"""Finding tasks by name: where one task is, and which ids a queue or a day holds.

Public API: :class:`Finder` (``locate``, ``claims_of``, ``task_ids``, ``complete_days``,
``completed_ids``, ``day_version``), :class:`Location`, :class:`Published`,
:data:`PENDING_STATES`.

Everything here works from file names alone (no task file is opened), so everyone outside
this package asks these instead of listing and parsing folders, and the names (and how old
names are read) stay this package's business.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from schemas.task import parse_task_id
from spoold.spool import fsops
from spoold.spool.folders import QueueFolders
from spoold.spool.layout import DAY_RE, TASK_FILE_RE, ClaimName

TaskState = Literal["ready", "deferred", "claimed"]
#: Every state of a pending task, for :meth:`Finder.task_ids`.
PENDING_STATES: tuple[TaskState, ...] = ("ready", "deferred", "claimed")


@dataclass(frozen=True)
class Location:
    """Where a task is: ``state`` is ``pending`` or ``complete``; ``where`` says more."""

    task_id: str
    state: str
    where: str  # ready | deferred | claimed | complete
    queue: str | None
    path: Path
    claim: ClaimName | None = None


@dataclass(frozen=True)
class Published:
    task_id: str
    created: bool
    location: Location


class Finder:
    """Name-based lookups in one spool."""

    def __init__(self, folders: QueueFolders) -> None:
        self.layout = folders.layout
        self.folders = folders

    def locate(self, task_id: str, *, queues: Iterable[str] | None = None) -> Location | None:
        """Where ``task_id`` is: complete first, then ready, deferred, claimed.

        A task can leave its claim while we look: complete() and fail() land the new copy
        (complete, ready or deferred) *before* removing the claim, so a look that found the
        claim already gone looked at the new place too early.  A miss is therefore confirmed
        by looking at those places once more; only a new id pays for it (three lookups).
        """
        parse_task_id(task_id)
        qs = self.folders.names() if queues is None else list(queues)
        found = self._locate_once(task_id, qs, claims=True)
        return found if found is not None else self._locate_once(task_id, qs, claims=False)

    def _locate_once(self, task_id: str, queues: list[str], *, claims: bool) -> Location | None:
        layout = self.layout
        done = layout.completed(task_id)
        if fsops.exists(done):
            return Location(task_id, "complete", "complete", None, done)
        for queue in queues:
            for where, path in (
                ("ready", layout.ready(queue, task_id)),
                ("deferred", layout.deferred(queue, task_id)),
            ):
                if fsops.exists(path):
                    return Location(task_id, "pending", where, queue, path)
            for cn in self.claims_of(queue, task_id) if claims else ():
                return Location(task_id, "pending", "claimed", queue, layout.claimed(queue, cn), cn)
        return None

    def claims_of(self, queue: str, task_id: str) -> list[ClaimName]:
        """Every claim of ``task_id`` in ``queue`` (more than one after a crash mid-rewrite)."""
        prefix = task_id + "@"
        try:
            names = os.listdir(self.layout.claimed_dir(queue))
        except FileNotFoundError:
            return []
        found = [ClaimName.parse(n) for n in names if n.startswith(prefix)]
        return [c for c in found if c is not None]

    def task_ids(
        self,
        queue: str,
        states: Iterable[TaskState] = PENDING_STATES,
        *,
        task_type: str | None = None,
    ) -> set[str]:
        """Ids of the tasks of one queue in ``states``, from file names only (no content read).

        A missing queue has none.  ``task_type`` keeps only ids of that type.
        """
        marker = f"-{task_type}-" if task_type else ""
        out: set[str] = set()
        for state in states:
            folder = {
                "ready": self.layout.queue,
                "deferred": self.layout.deferred_dir,
                "claimed": self.layout.claimed_dir,
            }[state](queue)
            for name in fsops.listdir(folder):
                if marker not in name:
                    continue
                tid = _id_of_name(name, claimed=state == "claimed")
                if tid is not None and (task_type is None or parse_task_id(tid)[1] == task_type):
                    out.add(tid)
        return out

    def complete_days(self) -> list[str]:
        """The day folders of ``complete/`` (``YYYY-MM-DD``), oldest first."""
        return sorted(d for d in fsops.listdir(self.layout.complete) if DAY_RE.match(d))

    def completed_ids(self, day: str, *, task_type: str | None = None) -> set[str]:
        """Ids of the tasks completed on ``day`` (file names only)."""
        marker = f"-{task_type}-" if task_type else ""
        out: set[str] = set()
        for name in fsops.listdir(self.layout.complete / day):
            m = TASK_FILE_RE.match(name) if marker in name else None
            if m and (task_type is None or parse_task_id(m["id"])[1] == task_type):
                out.add(m["id"])
        return out

    def day_version(self, day: str) -> int | None:
        """A number that changes whenever a task lands in or leaves ``complete/DAY/`` (its
        folder's mtime in ns), or None when the day folder is gone."""
        try:
            return os.stat(self.layout.complete / day).st_mtime_ns
        except OSError:
            return None


def _id_of_name(name: str, *, claimed: bool) -> str | None:
    if claimed:
        cn = ClaimName.parse(name)
        return cn.task_id if cn else None
    m = TASK_FILE_RE.match(name)
    return m["id"] if m else None
