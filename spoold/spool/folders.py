"""The spool's queue folders on disk: the mount check, making a queue, its doorbell, listing.

Public API: :func:`check_mounted`, :class:`QueueFolders`.

A queue is ``pending/QUEUE/`` with ``claimed/`` and ``deferred/`` inside.  Idle workers watch
only the queue folder's mtime (the *doorbell*), so whatever lands in ``deferred/`` or leaves it
without changing the queue folder must :meth:`QueueFolders.ring` it.  Nothing is written into
a spool whose marker is gone: that is a share unmounted under us (``spool_layout.md`` §1).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from spoold.errors import NotASpool
from spoold.spool import fsops
from spoold.spool.layout import CLAIMED, DEFERRED, Layout, split_queue
from spoold.spool.policy import Policy

log = logging.getLogger(__name__)


def check_mounted(layout: Layout) -> None:
    """:class:`NotASpool` when the marker is gone: the share was unmounted under us, and
    the bare mount point must not be written to (spool_layout.md §1)."""
    if not fsops.exists(layout.marker):
        raise NotASpool(
            f"{layout.root}: not a spool any more ({layout.marker.name} is gone): "
            "is the share still mounted? Nothing is written there until it is back"
        )


class QueueFolders:
    """The queue folders of one spool, with their paths cached (built on every claim)."""

    def __init__(self, layout: Layout, policy: Policy | None = None) -> None:
        self.layout = layout
        self.policy = policy
        self._qdirs: dict[str, Path] = {}
        self._qdir_strs: dict[str, str] = {}

    def check_mounted(self) -> None:
        check_mounted(self.layout)

    def names(self) -> list[str]:
        """Every queue folder of ``pending/``, sorted."""
        try:
            names = os.listdir(self.layout.pending)
        except FileNotFoundError:
            raise NotASpool(f"{self.layout.pending} is missing: is the share mounted?") from None
        return sorted(n for n in names if split_queue(n) and (self.layout.pending / n).is_dir())

    def ensure(self, queue: str) -> None:
        """Make ``queue`` with its ``claimed/`` and ``deferred/`` (never ``pending/`` itself)."""
        q = self.layout.queue(queue)
        if not (q / CLAIMED).is_dir():
            try:
                for d in (q, q / CLAIMED, q / DEFERRED):
                    d.mkdir(exist_ok=True)
            except FileNotFoundError:  # no pending/: the share is not mounted (or not a spool)
                self.check_mounted()
                raise
            if self.policy is not None and self.policy.fsync:
                # A task published into a new queue is durable only if the queue's own name
                # (in pending/) and its subfolders' names (in the queue) are.
                fsops.fsync_dir(q)
                fsops.fsync_dir(self.layout.pending)

    def ring(self, queue: str) -> None:
        """Bump the queue folder's mtime: idle workers stat only that folder, so a task that
        lands in ``deferred/`` (which does not change it) must ring this doorbell."""
        try:
            os.utime(self.layout.queue(queue))
        except OSError as exc:  # a missed doorbell only delays; the periodic re-list covers it
            log.debug("could not ring %s: %s", queue, exc)

    def qdir(self, queue: str) -> Path:
        """``pending/QUEUE`` (cached: paths are built on every claim attempt)."""
        qdir = self._qdirs.get(queue)
        if qdir is None:
            qdir = self._qdirs[queue] = self.layout.queue(queue)
        return qdir

    def qdir_str(self, queue: str) -> str:
        """:meth:`qdir` as a str (a Path costs microseconds to join; claims are hot)."""
        qdir = self._qdir_strs.get(queue)
        if qdir is None:
            qdir = self._qdir_strs[queue] = str(self.qdir(queue))
        return qdir
