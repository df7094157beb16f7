"""Which task to try next: one process's cached, sorted listings of its queue folders.

Public API: :class:`Lister` (``next_candidate``, ``view``, ``report_denied``, ``views``),
:class:`QueueView`, :data:`Candidate`.

Listing a folder is the expensive part of claiming on a share, so each queue's listing is
cached and handed out name by name, oldest first.  The queue folder's mtime is the doorbell
(see :mod:`spoold.spool.folders`): an exhausted listing is renewed only when it rang, or after
``idle_relist`` as a backstop for coarse mtimes.  ``deferred/`` is read on each listing (its
tasks' ``not_before`` decides when they are due); a file there that cannot be read or parsed is
due at once, so that a claim moves it to ``invalid/`` like any bad file (no worker keeps a
memory of bad files: the quarantine is the whole fleet's).  "Listing cost" in
``spool_layout.md`` explains the re-listing rules.

The lister only proposes names; a claim is decided by the rename in
:mod:`spoold.spool.claiming`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from spoold.errors import InvalidTaskFile
from spoold.spool import fsops
from spoold.spool.folders import QueueFolders
from spoold.spool.host import ProcessRandom
from spoold.spool.layout import DEFERRED, TASK_FILE_RE
from spoold.spool.policy import Policy
from spoold.spool.taskfile import read_task

log = logging.getLogger(__name__)

#: A claim candidate: (queue, file name, path, from deferred/).  A tuple of strs, not
#: objects: one is built per claim attempt, and under contention most attempts lose.
Candidate = tuple[str, str, str, bool]
#: Seconds after a folder's change within which a listing may have missed another change in
#: the same mtime tick (whole seconds on sshfs; 2 s on FAT-backed shares).
RACY_S = 2.5
#: The signature of a listing that may have missed a change: equal to no folder mtime.
RACY_SIGNATURE = -1
#: A head of a queue listing: (name, queue, from deferred/).
_Head = tuple[str, str, bool]


@dataclass
class QueueView:
    """One worker's cached, sorted view of a queue folder (see "Listing cost" in spool_layout.md)."""

    ready: list[str] = field(default_factory=list)
    pos: int = 0
    deferred: dict[str, float] = field(default_factory=dict)  # name -> not_before (epoch)
    listed_at: float = -1e18
    signature: int = 0
    rung_at: float = -1e18  # when the doorbell (the folder's mtime) was last looked at
    misses: int = 0  # cached names found taken by others since the last listing
    # Kept here for the claim logic, which reaps a queue only when it may hold claims.
    reaped_at: float = -1e18
    reaped_sig: int = 0
    claims_seen: bool = False


class Lister:
    """The cached listings of one process."""

    def __init__(
        self,
        folders: QueueFolders,
        now: Callable[[], float],
        policy: Policy,
        rng: ProcessRandom,
    ) -> None:
        self.layout = folders.layout
        self.folders = folders
        self.now = now  # server time
        self.policy = policy
        self.rng = rng
        self.views: dict[str, QueueView] = {}
        self._denied: dict[str, float] = {}

    def state(self, queue: str) -> QueueView:
        """``queue``'s view as it is (made empty on first use), without refreshing it."""
        return self.views.get(queue) or self.views.setdefault(queue, QueueView())

    # ------------------------------------------------------------------ listings
    def view(self, queue: str, *, lazy: bool = False) -> QueueView:
        """``queue``'s cached listing, refreshed as needed.  ``lazy``: while some other queue
        has work, ring an empty queue's doorbell only every ``relist_interval`` (a stat per
        claim is a round trip per claim on a share; ordering across queues is best effort)."""
        view = self.views.get(queue) or self.views.setdefault(queue, QueueView())
        mono = time.monotonic()
        exhausted = view.pos >= len(view.ready)
        relist_interval = self.policy.relist_interval
        if exhausted and lazy and mono - view.rung_at < relist_interval:
            return view
        view.rung_at = mono
        # Under contention many cached names were taken by others since the listing, and
        # skipping each costs an lstat.  Once there were as many of those as names are left,
        # list again: on local disk a name listed costs a fraction of an lstat (re-listing
        # sooner measured slower), on a share an lstat is a round trip and a listing returns
        # many names per round trip.
        fresh = view.misses < len(view.ready) - view.pos
        if not exhausted and fresh and mono - view.listed_at < relist_interval:
            return view
        qdir = self.folders.qdir(queue)
        try:
            sig = os.stat(qdir).st_mtime_ns
        except FileNotFoundError:
            view.ready, view.pos, view.deferred, view.signature = [], 0, {}, 0
            return view
        # The folder's mtime is the doorbell: unchanged means nothing arrived or left (a
        # task landing in deferred/ rings it too, see QueueFolders.ring).  A full re-list now
        # and then still covers shares with coarse or cached mtimes.
        if exhausted and sig == view.signature and mono - view.listed_at < self.policy.idle_relist:
            return view
        # A listing taken within RACY_S of the folder's last change may have missed a second
        # change in the same mtime tick (sshfs and FAT-backed shares keep whole seconds): such
        # a signature is not trusted, so the next look lists again (git's "racy" index rule).
        racy = self.now() - sig / 1e9 < RACY_S
        view.signature = RACY_SIGNATURE if racy else sig
        view.listed_at = mono
        view.misses = 0
        view.ready = self._list_ready(qdir, view.ready)
        view.pos = 0
        view.deferred = self._scan_deferred(queue)
        return view

    def _list_ready(self, qdir: Path, before: list[str]) -> list[str]:
        """The task file names in ``qdir``, sorted.  A name of the previous listing
        (``before``) was matched then: racing workers re-list a long folder often, and the
        name pattern costs more per name than the listing itself."""
        known = set(before)
        match = TASK_FILE_RE.match
        names = [
            e.name
            for e in os.scandir(qdir)
            if (e.name in known or match(e.name)) and e.is_file(follow_symlinks=False)
        ]
        names.sort()
        return names

    def _scan_deferred(self, queue: str) -> dict[str, float]:
        out: dict[str, float] = {}
        ddir = self.layout.deferred_dir(queue)
        try:
            entries = list(os.scandir(ddir))
        except FileNotFoundError:  # a queue folder made by hand with mkdir
            return out
        for e in entries:
            if not (TASK_FILE_RE.match(e.name) and e.is_file(follow_symlinks=False)):
                continue
            try:
                task = read_task(self.layout, ddir / e.name)
            except (InvalidTaskFile, PermissionError):
                out[e.name] = 0.0  # due now: the claim moves it to invalid/ and says why
                continue
            except OSError:
                continue
            out[e.name] = task.not_before.timestamp() if task.not_before else 0.0
        return out

    # ------------------------------------------------------------------ unreadable files
    def report_denied(self, path: Path, what: str) -> None:
        """Log a permission problem with ``path`` (at most every 5 minutes per file)."""
        mono = time.monotonic()
        if mono - self._denied.get(str(path), -1e18) > 300.0:
            self._denied[str(path)] = mono
            log.error(
                "%s: %s (running as uid %d) — file left in place; fix the permissions",
                self.layout.rel(path),
                what,
                os.geteuid(),
            )

    # ------------------------------------------------------------------ candidates
    def next_candidate(self, queues: list[str], window: int) -> Candidate | None:
        """The next name to try: the oldest of the heads of ``queues`` (their ready names
        and due deferred ones), or when ``window`` > 1 (racing workers) a random one of the
        ``window`` oldest.

        Runs once per claim attempt.  Under contention most cached names were taken by
        others since our listing: those are skipped here for the price of an ``lstat``
        each, and the common case (one queue with names, nothing deferred) stays lean.
        """
        lazy = len(queues) > 1  # first look: leave empty queues be if they were looked at lately
        for _ in range(1_000_000):  # each round takes a name off a listing or re-lists
            source, heads = self._gather(queues, window, lazy)
            if source is not None:  # one queue, ready names only: no tuples, no sort
                cand = self._pick_ready(source, window)
                if cand is not None:
                    return cand
                continue  # taken meanwhile: look again
            if not heads:
                if lazy:  # nothing anywhere: ring every doorbell before saying so
                    lazy = False
                    continue
                return None
            cand = self._pick_head(heads, window)
            if cand is not None:
                return cand
        return None  # pragma: no cover

    def _gather(
        self, queues: list[str], window: int, lazy: bool
    ) -> tuple[str | None, list[_Head] | None]:
        """Refresh the views of ``queues``: the only queue with ready names and nothing due
        in deferred/ (``source``), or else the ``window`` oldest heads of each (``heads``)."""
        source: str | None = None  # the only queue with heads, while there is one
        heads: list[_Head] | None = None
        for q in queues:
            view = self.view(q, lazy=lazy)
            if view.pos < len(view.ready):
                if source is None and heads is None:
                    source = q
                else:
                    heads = heads if heads is not None else self._heads(source, window)
                    source = None
                    heads.extend((n, q, False) for n in view.ready[view.pos : view.pos + window])
            if view.deferred:
                now = self.now()
                due = sorted(n for n, nb in view.deferred.items() if nb <= now)[:window]
                if due:
                    heads = heads if heads is not None else self._heads(source, window)
                    source = None
                    heads.extend((n, q, True) for n in due)
        return source, heads

    def _pick_ready(self, source: str, window: int) -> Candidate | None:
        """The next ready name of the one queue with work; None when every name tried was
        taken meanwhile (or enough were that listing again is cheaper)."""
        view = self.views[source]
        ready, pos = view.ready, view.pos
        qdir = self.folders.qdir_str(source)
        if window == 1:  # a lone worker takes strictly the oldest
            view.pos = pos + 1
            return source, ready[pos], f"{qdir}/{ready[pos]}", False
        rand, end = self.rng.get().random, len(ready)
        while pos < end:
            i = pos + int(rand() * min(window, end - pos))
            if i != pos:
                ready[pos], ready[i] = ready[i], ready[pos]
            name = ready[pos]
            pos += 1
            path = f"{qdir}/{name}"
            if fsops.maybe_there(path):
                view.pos = pos
                return source, name, path, False
            view.misses += 1
            if view.misses >= end - pos:
                break  # cheaper to list again (see view())
        view.pos = pos
        return None

    def _pick_head(self, heads: list[_Head], window: int) -> Candidate | None:
        """The oldest of ``heads`` (or, when racing, one of the ``window`` oldest), taken off
        its listing; None if it was taken meanwhile."""
        heads.sort()
        # Under contention the window widens so racing workers stop colliding.
        width = min(window, len(heads))
        name, queue, deferred = heads[self.rng.get().randrange(width) if width > 1 else 0]
        view = self.views[queue]
        qdir = self.folders.qdir_str(queue)
        if deferred:
            view.deferred.pop(name, None)
            path = f"{qdir}/{DEFERRED}/{name}"
        else:
            ready, pos = view.ready, view.pos
            if ready[pos] != name:
                i = ready.index(name, pos)
                ready[pos], ready[i] = ready[i], ready[pos]
            view.pos = pos + 1
            path = f"{qdir}/{name}"
        if window == 1 or fsops.maybe_there(path):
            return queue, name, path, deferred
        view.misses += 1
        return None

    def _heads(self, queue: str | None, window: int) -> list[_Head]:
        if queue is None:
            return []
        view = self.views[queue]
        return [(n, queue, False) for n in view.ready[view.pos : view.pos + window]]
