"""A held task: the handle :meth:`Spool.claim <spoold.spool.Spool.claim>` returns.

Public API: :class:`Claim` (``heartbeat``, ``complete``, ``fail``, ``release``),
:class:`ClaimTokens`, :class:`ClaimHost`, :func:`safe_device`, :func:`quarantine`.

A claim is the file ``pending/Q/claimed/ID.DEVICE.TOKEN-L<lease>.json``; its mtime is the
lease, refreshed by :meth:`Claim.heartbeat` in server time.  A task leaving a claim goes back
to its *home* queue (:func:`~spoold.spool.layout.home_queue`: a first-scheme pinned folder's
tasks go to the new folder).  A claimed file that is not a valid task for its name is never
put back over that name (an operator's fix may be there by now): :func:`quarantine` moves it
to ``pending/Q/invalid/``.  Finishing lands the task's next
record first (complete/, or back in the queue) and only then disposes of the claim file, and
a heartbeat is the fence before anything is written: a claim broken by another device raises
:class:`~spoold.errors.LeaseLost` with nothing written.  Each claim finishes exactly once.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from schemas.task import Attempt, AttemptKind, ChildSpec, FileRef, Task
from spoold.errors import InvalidTaskFile, LeaseLost, SpoolError
from spoold.spool import fsops
from spoold.spool.clock import epoch_to_dt
from spoold.spool.folders import QueueFolders
from spoold.spool.host import ProcessRandom, current_pid
from spoold.spool.lander import Lander
from spoold.spool.layout import ClaimName, Layout, home_queue, task_file_name
from spoold.spool.lookup import Published
from spoold.spool.policy import Policy

log = logging.getLogger(__name__)

#: Numbered names tried in ``invalid/`` before giving up (``ID.json``, ``ID.json.1``, ...).
_QUARANTINE_SLOTS = 1000


class ClaimTokens:
    """Claim tokens of one spool in this process, and the ones it holds right now (a
    process never judges its own live claims stale)."""

    __slots__ = ("held", "rng")

    def __init__(self, rng: ProcessRandom) -> None:
        self.rng = rng
        self.held: set[str] = set()

    def new(self) -> str:
        """``PID-NONCE``: unique to one claim, so its claimant can tell it won."""
        return f"{current_pid()}-{self.rng.get().getrandbits(32):08x}"


class ClaimHost(Protocol):
    """What a claim uses of the spool that made it (:class:`~spoold.spool.Spool` is one):
    named here so that this module does not import the spool, which imports it."""

    layout: Layout
    folders: QueueFolders
    lander: Lander
    tokens: ClaimTokens
    policy: Policy

    def server_now(self) -> float: ...
    def now_dt(self) -> datetime: ...
    def backoff(self, attempts: int) -> float: ...
    def publish(self, task: Task) -> Published: ...
    def child_task(self, parent: Task, spec: ChildSpec) -> Task: ...


def safe_device(name: str) -> str:
    """``name`` as the device part of a claim name (operators and breakers are free text)."""
    cleaned = re.sub(r"[^a-z0-9_-]+", "-", name.lower()).strip("-_") or "operator"
    return cleaned[:63]


def quarantine(
    folders: QueueFolders, src: str | Path, queue: str, task_id: str, exc: InvalidTaskFile
) -> Path | None:
    """Move the claimed file ``src`` (a claim of ``task_id`` in ``queue``, not a valid task
    for that name: ``exc`` says why) to ``pending/HOME/invalid/ID.json``, and log it once
    with the fix.  Never replaces a file: a taken name gets a numbered suffix
    (``ID.json.1``, not a task name).  The path it went to, or None if ``src`` was gone."""
    layout = folders.layout
    home = home_queue(queue)
    if home != queue:
        folders.ensure(home)
    folder = layout.invalid_dir(home)
    base = task_file_name(task_id)
    for n in range(_QUARANTINE_SLOTS):
        dst = folder / (base if n == 0 else f"{base}.{n}")
        try:
            moved = fsops.rename_noreplace(src, dst)
        except FileExistsError:
            continue
        except FileNotFoundError:  # no invalid/ yet (it is made on first use)
            folder.mkdir(exist_ok=True)
            try:
                moved = fsops.rename_noreplace(src, dst)
            except FileExistsError:
                continue
        if not moved:
            return None
        line = f" (line {exc.line})" if exc.line else ""
        log.error(
            "%s: %s%s — moved to %s; fix it, then `mv %s %s/`",
            layout.rel(layout.queue(queue) / base),
            exc.reason,
            line,
            layout.rel(dst),
            layout.rel(dst),
            layout.rel(layout.queue(home)),
        )
        return dst
    raise SpoolError(f"{layout.rel(folder)}: no free name for {base}; empty that folder")


class Claim:
    """A task this process holds.  Finish it with exactly one of complete/fail/release."""

    __slots__ = ("_file", "device", "done", "name", "queue", "spool", "task")

    def __init__(
        self,
        spool: ClaimHost,
        task: Task,
        path: str | Path,
        queue: str,
        name: ClaimName,
        device: str,
    ) -> None:
        self.spool = spool
        self.task = task
        self._file = os.fspath(path)  # a str: building a Path costs more, and this is hot
        self.queue = queue
        self.name = name
        self.device = device
        self.done = False

    def __repr__(self) -> str:
        return f"<Claim {self.task.task_id} by {self.device} in {self.queue}>"

    @property
    def task_id(self) -> str:
        return self.task.task_id

    @property
    def path(self) -> Path:
        """The claim file, ``pending/Q/claimed/ID@DEVICE@TOKEN-L<lease>.json``."""
        return Path(self._file)

    def heartbeat(self) -> None:
        """Refresh the lease (server time).  :class:`LeaseLost` if the claim was broken."""
        self._beat()

    def _beat(self) -> float:
        """:meth:`heartbeat`, returning the server time it set (completion stamps it too)."""
        self._check_open()
        now = self.spool.server_now()
        try:
            os.utime(self._file, (now, now))
        except OSError as exc:
            if fsops.is_gone(exc):
                self._finish()
                raise LeaseLost(
                    f"{self.task_id}: lost the claim ({self.spool.layout.rel(self.path)} is gone: "
                    "the lease expired and another device took the task over)"
                ) from None
            raise
        return now

    def complete(
        self,
        outputs: Sequence[FileRef] = (),
        children: Sequence[ChildSpec] = (),
        result: dict[str, Any] | None = None,
    ) -> Path:
        """Publish ``children`` (idempotently), then land the completed record in complete/."""
        self._check_open()
        spool = self.spool
        for spec in children:
            spool.publish(spool.child_task(self.task, spec))
        now = self._beat()  # the fence: a broken claim stops here, before anything is written
        record = self.task.model_copy(
            update={
                "outputs": list(outputs),
                "result": result,
                "completed_at": epoch_to_dt(now),
                "completed_by": self.device,
                "not_before": None,
            }
        )
        layout = spool.layout
        dest = layout.completed_str(self.task.task_id)
        self._make_claim_durable()
        # Durable (file and folder, with fsync on) before the claim goes: a power cut must
        # never keep the claim's removal and lose the record it was replaced by.
        spool.lander.land(record.to_json(), dest, durable_dir=True)
        spool.lander.recycle(self._file)
        self._finish()
        return layout.completed(self.task.task_id)

    def fail(self, error: str, *, kind: AttemptKind = "error", device: str | None = None) -> Path:
        """Record a failed attempt and put the task back, deferred by the backoff."""
        self._check_open()
        self.heartbeat()
        spool = self.spool
        now = spool.server_now()
        attempt = Attempt(
            device=device or self.device, at=epoch_to_dt(now), error=error[-4000:], kind=kind
        )
        attempts = [*self.task.attempts, attempt]
        delay = spool.backoff(len(attempts))
        not_before = epoch_to_dt(now) + timedelta(seconds=delay) if delay else None
        record = self.task.model_copy(update={"attempts": attempts, "not_before": not_before})
        layout = spool.layout
        home = self._home()
        dest = layout.deferred(home, self.task_id) if delay else layout.ready(home, self.task_id)
        self._make_claim_durable()
        spool.lander.land(record.to_json(), dest, durable_dir=True)
        spool.lander.recycle(self._file)
        self._finish()
        if delay:
            spool.folders.ring(home)
        return dest

    def release(self) -> Path:
        """Give the task back untouched (e.g. on shutdown); no attempt is counted.

        :class:`LeaseLost` when the claim file is gone: another device broke the claim (a
        partition outlasted the lease), so there is nothing to give back."""
        self._check_open()
        dest = self.spool.layout.ready(self._home(), self.task_id)
        if not self.move_to(dest):
            raise LeaseLost(
                f"{self.task_id}: lost the claim: its file is gone, another device broke it "
                "(this device's lease ran out); nothing was handed back"
            )
        return dest

    def _home(self) -> str:
        """The queue this task goes back to: its own, or a first-scheme pinned queue's new
        name (made if missing)."""
        home = home_queue(self.queue)
        if home != self.queue:
            self.spool.folders.ensure(home)
        return home

    def _make_claim_durable(self) -> None:
        """With fsync on, make the rename that made this claim durable before the task's new
        record lands: else a power cut could bring back the ready or deferred file beside the
        record that replaced it (the task then in two places, and run again).  A rename is
        one change to both its folders; syncing ``claimed/``, where every claim (from ready,
        from deferred, or a broken one renamed) ends, makes it durable."""
        if self.spool.policy.fsync:
            fsops.fsync_dir(Path(self._file).parent)

    # Moves for the claim logic and recovery, each one rename (or unlink) of the claim file.
    def move_to(self, dest: Path) -> bool:
        """Put the task at ``dest`` as it is; drop this copy if ``dest`` exists already
        (never replaced: it may be an operator's newer copy).  False when the claim file was
        gone (broken by another device): nothing moved."""
        try:
            moved = fsops.rename_noreplace(self._file, dest)
        except FileExistsError:
            self.drop()
            return True
        self._finish()
        return moved

    def drop(self) -> None:
        """Remove this claim: another copy of the task supersedes it."""
        fsops.unlink(self._file)
        self._finish()

    def quarantine(self, reason: str) -> None:
        """Move this claim to ``invalid/``: its content is not a valid task for its name
        (:func:`quarantine`)."""
        spool, task_id = self.spool, self.name.task_id  # the name's id: the content's differs
        rel = spool.layout.rel(spool.layout.ready(self.queue, task_id))
        quarantine(spool.folders, self._file, self.queue, task_id, InvalidTaskFile(rel, reason))
        self._finish()

    def _check_open(self) -> None:
        if self.done:
            raise SpoolError(f"{self.task_id}: this claim is already finished")

    def _finish(self) -> None:
        self.done = True
        self.spool.tokens.held.discard(self.name.token)
