"""Finding tasks by name: where one task is, and which ids a queue or a day holds.

Public API: :class:`Finder` (``locate``, ``claims_of``, ``with_legacy``), :class:`Location`,
:class:`Published`.

Everything here works from file names alone (no task file is opened).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from schemas.task import parse_task_id
from spoold.spool import fsops
from spoold.spool.folders import QueueFolders
from spoold.spool.layout import ClaimName, legacy_queue_names, split_queue


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
        """Every claim of ``task_id`` in ``queue`` (more than one after a crash mid-rewrite).

        Compared by parsed id, never by prefix alone: ``ID.`` also begins the claims of the
        child ``ID.SUFFIX``."""
        try:
            names = os.listdir(self.layout.claimed_dir(queue))
        except FileNotFoundError:
            return []
        found = [ClaimName.parse(n) for n in names if n.startswith(task_id)]
        return [c for c in found if c is not None and c.task_id == task_id]

    def with_legacy(self, queue: str) -> list[str]:
        """``queue`` and, for a pinned queue, the first scheme's folders of it that exist
        (a task may still be there, or claimed there by a device not yet upgraded)."""
        parts = split_queue(queue)
        if parts is None or parts[1] is None:
            return [queue]
        legacy = legacy_queue_names(parts[0], parts[1])
        return [queue, *(q for q in legacy if os.path.isdir(self.layout.queue(q)))]
