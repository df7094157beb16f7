"""Landing task files: a whole file appears under its name, or nothing does.

Public API: :class:`Lander` (``land``, ``recycle``, ``drop_spares``).

:meth:`Lander.land` writes into a temp file in ``tmp/``, optionally fsyncs, and renames it
into place.  The temp file is preferably a *spare*: a finished claim file that
:meth:`Lander.recycle` renamed to ``tmp/HOST.PID.SEQ.spare`` instead of unlinking it, because
creating an inode costs far more than a rename on common filesystems and a worker finishes one
claim per file it lands (``spool_layout.md`` §4.4).  Spares belong to one process: a forked
child starts with none.

Spares exist only with fsync off.  With fsync on, a finished claim's inode may still be what a
*durable* name points at: the renames that moved it (``pending/Q/ID.json`` -> ``claimed/`` ->
``tmp/``) are durable only once their folders are fsynced, so rewriting it with the next
task's record could leave, after a power cut, one task's name holding another's record
(spool_layout.md §7, the power-cut column).  Fsyncing those folders first would cost more
than the new inode it saves, so durable spools unlink finished claims instead.
"""

from __future__ import annotations

import errno
import logging
import os
import secrets
from pathlib import Path

from spoold.errors import SpoolError
from spoold.spool import fsops
from spoold.spool.folders import QueueFolders
from spoold.spool.host import current_pid
from spoold.spool.policy import Policy

log = logging.getLogger(__name__)

#: Spares kept per process: one per file landed between two finished claims is enough.
MAX_SPARES = 2


class Lander:
    """Writes task files atomically into one spool, recycling finished claim files."""

    def __init__(self, folders: QueueFolders, policy: Policy, host: str) -> None:
        self.layout = folders.layout
        self.folders = folders
        self.policy = policy
        self.host = host
        self._seq = 0
        self._spares: list[str] = []
        self._spares_pid = os.getpid()
        self._tmp_str = str(self.layout.tmp)

    def land(self, data: bytes, dest: str | Path, *, durable_dir: bool) -> None:
        """Write ``data`` to ``dest`` atomically (temp file in tmp/, then rename).

        The temp file is a spare inode when one is at hand (:meth:`recycle`), else a new one.
        If the write fails (disk full, quota, I/O or permission error) the temp file is
        removed and :class:`SpoolError` names ``dest``; nothing else has changed.
        """
        fsync = self.policy.fsync
        tmp: str | Path | None = self._take_spare()
        if tmp is not None:
            try:
                fsops.write_over(tmp, data, fsync=fsync)
            except OSError:  # purged by someone, or refused: start over with a new file
                fsops.discard(tmp)
                tmp = None
        try:
            if tmp is None:
                self._seq += 1
                name = (
                    f"{os.path.basename(dest)}.{os.getpid()}-{self._seq}-{secrets.token_hex(3)}.tmp"
                )
                tmp = self.layout.tmp / name
                fsops.write_new(tmp, data, fsync=fsync)
            self._rename_into(tmp, dest)
        except OSError as exc:
            if tmp is not None:
                fsops.discard(tmp)
            self.folders.check_mounted()
            code = errno.errorcode.get(exc.errno or 0)
            raise SpoolError(
                f"cannot write {self.layout.rel(Path(dest))}: {exc.strerror or exc}"
                + (f" ({code})" if code else "")
                + " — nothing was changed (its temp file is removed)"
            ) from exc
        if fsync and durable_dir:
            fsops.fsync_dir(Path(dest).parent)

    def _rename_into(self, tmp: str | Path, dest: str | Path) -> None:
        """Rename our own temp file to ``dest``, creating ``dest``'s folder if it is missing
        (only that last folder, complete/DAY/: never ``mkdir -p`` into a bare mount point)."""
        for _ in range(3):
            try:
                if fsops.rename(tmp, dest):
                    return
            except FileNotFoundError:  # the folder is missing
                folder = os.path.dirname(dest)
                try:
                    os.mkdir(folder)
                except FileExistsError:
                    pass
                else:
                    if self.policy.fsync:  # the new day folder's own name must be durable too
                        fsops.fsync_dir(Path(os.path.dirname(folder)))
                continue
            # fsops reads a missing source as a lost race; our temp file has no rivals, so it
            # is there unless someone removed it: the folder appeared between the rename and
            # fsops' look (another process making complete/DAY/ at the same moment).
            if not fsops.exists(tmp):
                break
        raise SpoolError(f"{self.layout.rel(Path(tmp))} vanished before it could be renamed")

    def _own_spares(self) -> list[str]:
        """This process's spares (a forked child starts with none: those are the parent's)."""
        pid = current_pid()
        if self._spares_pid != pid:
            self._spares, self._spares_pid = [], pid
        return self._spares

    def _take_spare(self) -> str | None:
        try:
            return self._own_spares().pop()  # atomic: threads never share a spare
        except IndexError:
            return None

    def drop_spares(self) -> None:
        """Remove this process's spares (when idle, or closing: an old spare would look like a
        crash leftover)."""
        while (spare := self._take_spare()) is not None:
            try:
                fsops.unlink(spare)
            except OSError as exc:  # best effort: check --repair removes it after an hour
                log.debug("could not remove %s: %s", spare, exc)

    def recycle(self, claim_file: str) -> None:
        """Dispose of a finished claim file, whose task now lives elsewhere.

        Instead of unlinking it, rename it to ``tmp/HOST.PID.SEQ.spare`` and rewrite it as
        the next temp file (with fsync off only: see the module docstring).  Path-based and exclusive like every other step: if a breaker
        renamed the claim away, ours fails and the breaker's copy is untouched.
        """
        spares = self._own_spares()
        if self.policy.fsync or len(spares) >= MAX_SPARES:
            fsops.unlink(claim_file)
            return
        self._seq += 1
        spare = f"{self._tmp_str}/{self.host}.{current_pid()}.{self._seq}.spare"
        try:
            if fsops.rename(claim_file, spare):
                spares.append(spare)
        except OSError:
            fsops.unlink(claim_file)
