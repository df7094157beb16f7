"""A held task: the handle :meth:`Spool.claim <spoold.spool.Spool.claim>` returns.

Public API: :class:`Claim` (``heartbeat``, ``complete``, ``fail``, ``release``),
:class:`ClaimTokens`, :class:`ClaimHost`, :func:`safe_device`.

A claim is the file ``pending/Q/claimed/ID@DEVICE@TOKEN-L<lease>.json``; its mtime is the
lease, refreshed by :meth:`Claim.heartbeat` in server time.  Finishing lands the task's next
record first (complete/, or back in the queue) and only then disposes of the claim file, and
a heartbeat is the fence before anything is written: a claim broken by another device raises
:class:`~spoold.errors.LeaseLost` with nothing written.  Each claim finishes exactly once.
"""

from __future__ import annotations

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
from spoold.spool.layout import ClaimName, Layout
from spoold.spool.lister import Lister
from spoold.spool.lookup import Published
from spoold.spool.policy import Policy


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
    lister: Lister
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
        self.heartbeat()  # the fence: a broken claim stops here, before anything is written
        record = self.task.model_copy(
            update={
                "outputs": list(outputs),
                "result": result,
                "completed_at": spool.now_dt(),
                "completed_by": self.device,
                "not_before": None,
            }
        )
        dest = spool.layout.completed_str(self.task.task_id)
        self._make_claim_durable()
        # Durable (file and folder, with fsync on) before the claim goes: a power cut must
        # never keep the claim's removal and lose the record it was replaced by.
        spool.lander.land(record.to_json(), dest, durable_dir=True)
        spool.lander.recycle(self._file)
        self._finish()
        return Path(dest)

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
        dest = (
            layout.deferred(self.queue, self.task_id)
            if delay
            else layout.ready(self.queue, self.task_id)
        )
        self._make_claim_durable()
        spool.lander.land(record.to_json(), dest, durable_dir=True)
        spool.lander.recycle(self._file)
        self._finish()
        if delay:
            spool.folders.ring(self.queue)
        return dest

    def release(self) -> Path:
        """Give the task back untouched (e.g. on shutdown); no attempt is counted."""
        self._check_open()
        dest = self.spool.layout.ready(self.queue, self.task_id)
        self.move_to(dest)
        return dest

    def _make_claim_durable(self) -> None:
        """With fsync on, make the rename that made this claim durable before the task's new
        record lands: else a power cut could bring back the ready or deferred file beside the
        record that replaced it (the task then in two places, and run again).  A rename is
        one change to both its folders; syncing ``claimed/``, where every claim (from ready,
        from deferred, or a broken one renamed) ends, makes it durable."""
        if self.spool.policy.fsync:
            fsops.fsync_dir(Path(self._file).parent)

    # Moves for the claim logic and recovery, each one rename (or unlink) of the claim file.
    def move_to(self, dest: Path) -> None:
        """Put the task at ``dest`` as it is; drop this copy if ``dest`` exists already."""
        if fsops.exists(dest):
            self.drop()
            return
        fsops.rename(self._file, dest, dst_unique=False)
        self._finish()

    def drop(self) -> None:
        """Remove this claim: another copy of the task supersedes it."""
        fsops.unlink(self._file)
        self._finish()

    def put_back_bad(self, reason: str, original: Path) -> None:
        """Return the file to ``original`` and skip it until edited (it is not a valid task
        for that name)."""
        fsops.rename(self._file, original, dst_unique=False)
        self._finish()
        self.spool.lister.mark_bad(
            original, InvalidTaskFile(self.spool.layout.rel(original), reason)
        )

    def _check_open(self) -> None:
        if self.done:
            raise SpoolError(f"{self.task_id}: this claim is already finished")

    def _finish(self) -> None:
        self.done = True
        self.spool.tokens.held.discard(self.name.token)
