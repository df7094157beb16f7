"""Claiming: taking the oldest eligible task by one rename, and how racing workers spread out.

Public API: :class:`Claimer` (``claim``).

A claim renames ``pending/Q/ID.json`` to ``pending/Q/claimed/ID@DEVICE@TOKEN-L<lease>.json``.
The token is unique to this claim, so the claimant can tell that it won even when NFS reports
a false ENOENT, and it confirms by reading the file under its new name (SMB can tell two racing
renamers that both succeeded).  Its mtime, set at once in server time, is the lease.

Workers racing for the same names lose renames; each loss doubles the *window* of oldest names
a worker picks from at random (up to 16), and a run of uncontested claims halves it again.
Stale claims are broken on the first claim of a queue and later only while nothing else is
claimable, so busy devices leave reaping to idle ones and to the daemon.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from spoold.errors import InvalidTaskFile
from spoold.spool import fsops
from spoold.spool.claim import Claim, ClaimTokens
from spoold.spool.lander import Lander
from spoold.spool.layout import CLAIMED, ClaimName, queue_name
from spoold.spool.lister import Candidate, Lister
from spoold.spool.policy import Policy
from spoold.spool.recovery import MakeClaim, Recovery
from spoold.spool.taskfile import read_task

#: Widest window of oldest names a racing worker picks from.
MAX_WINDOW = 16
#: Uncontested claims in a row after which the window halves.
CALM_RUN = 8


class Claimer:
    """The claim logic of one spool in this process."""

    def __init__(
        self,
        lister: Lister,
        lander: Lander,
        recovery: Recovery,
        policy: Policy,
        tokens: ClaimTokens,
        make_claim: MakeClaim,
    ) -> None:
        self.layout = lister.layout
        self.folders = lister.folders
        self.now = lister.now  # server time
        self.lister = lister
        self.lander = lander
        self.recovery = recovery
        self.policy = policy
        self.tokens = tokens
        self.make_claim = make_claim
        self._claim_queues: dict[tuple[str, str], list[str]] = {}
        self._window = 1  # how many of the oldest names to pick from (grows when racing)
        self._calm = 0  # claims won at the first try since the window last changed

    def claim(self, device_class: str, device: str) -> Claim | None:
        """Take the oldest eligible task for ``device`` of ``device_class``, or None (see
        :meth:`spoold.spool.Spool.claim`)."""
        queues = self._claim_queues.get((device_class, device))
        if queues is None:
            queues = [device_class, queue_name(device_class, device)]
            self._claim_queues[device_class, device] = queues
            for q in queues:
                if q not in self.lister.views:
                    self._maybe_reap(q, device)
        for attempt in range(100_000):
            cand = self.lister.next_candidate(queues, self._window)
            if cand is None:
                if not any(self._maybe_reap(q, device) for q in queues):
                    self.folders.check_mounted()  # an unmounted share is not an empty queue
                    self.lander.drop_spares()  # idle: an old spare would look like a leftover
                    return None
                continue  # put-back tasks are claimable now
            claim = self._try_claim(cand, device)
            if claim is not None:
                # Narrow the window again only after a run of uncontested claims: halving
                # it on every success makes racing workers collide every other claim.
                if attempt:
                    self._calm = 0
                elif self._window > 1:
                    self._calm += 1
                    if self._calm >= CALM_RUN:
                        self._window >>= 1
                        self._calm = 0
                return claim
        return None  # pragma: no cover

    def _maybe_reap(self, queue: str, device: str) -> int:
        """Reap ``queue`` at most every ``min(lease/3, 10)`` s, and only when claims may
        exist there: claims were seen last time, or the queue changed (claims come from it).
        Returns how many tasks were put back."""
        view = self.lister.state(queue)
        mono = time.monotonic()
        first = view.reaped_at < -1e17
        if not first and mono - view.reaped_at <= min(self.policy.lease / 3, 10.0):
            return 0
        if not first and not view.claims_seen and view.reaped_sig == view.signature:
            return 0
        view.reaped_at = mono
        view.reaped_sig = view.signature
        n = self.recovery.reap(queue, device)
        try:
            view.claims_seen = any(True for _ in os.scandir(self.layout.claimed_dir(queue)))
        except FileNotFoundError:
            view.claims_seen = False
        if n:
            view.listed_at = -1e18  # re-list: the put-back tasks are in the folder now
        return n

    def _try_claim(self, cand: Candidate, device: str) -> Claim | None:
        """Rename ``cand`` to a claim of ours and confirm it; None if another worker won it
        or the file is not a task this device may run now (then it is put where it belongs)."""
        queue, name, path, from_deferred = cand
        task_id = name[:-5]  # minus ".json"
        cn = ClaimName(task_id, device, self.tokens.new(), self.policy.lease_tag())
        dst_str = f"{self.folders.qdir_str(queue)}/{CLAIMED}/{cn.name}"
        try:
            try:
                won = fsops.rename(path, dst_str)
            except FileNotFoundError:  # claimed/ missing: a queue made by hand with mkdir
                self.folders.ensure(queue)
                won = fsops.rename(path, dst_str)
        except PermissionError as exc:  # a read-only queue folder: skip it, say so
            self.lister.report_denied(Path(path), f"cannot move it to claimed/: {exc.strerror}")
            return None
        if not won:
            self._window = min(MAX_WINDOW, self._window * 2)
            self._calm = 0
            return None
        self.tokens.held.add(cn.token)
        try:
            now = self.now()
            os.utime(dst_str, (now, now))
            task = read_task(self.layout, dst_str)  # confirms: a double-won SMB rename fails here
        except (OSError, InvalidTaskFile) as exc:
            self.tokens.held.discard(cn.token)
            self._give_back(exc, dst_str, Path(path))
            return None
        claim = self.make_claim(task, dst_str, queue, cn, device)
        return claim if self._runnable(claim, path, from_deferred, now) else None

    def _give_back(self, exc: OSError | InvalidTaskFile, dst: str, src: Path) -> None:
        """After winning the rename of ``src`` to ``dst``: the file vanished (another claimant
        won after all), or cannot be read or parsed (put back exactly where it was, skipped
        until its permissions or content change)."""
        if isinstance(exc, InvalidTaskFile):
            fsops.rename(dst, src, dst_unique=False)
            self.lister.mark_bad(src, InvalidTaskFile(self.layout.rel(src), exc.reason, exc.line))
            return
        if fsops.is_gone(exc):
            return
        if not isinstance(exc, PermissionError):
            raise exc
        # A file we may move but not read (or not touch): say which file it is.
        fsops.rename(dst, src, dst_unique=False)
        reason = f"cannot read it: {exc.strerror} (running as uid {os.geteuid()})"
        self.lister.mark_bad(src, InvalidTaskFile(self.layout.rel(src), reason))

    def _runnable(self, claim: Claim, src: str, from_deferred: bool, now: float) -> bool:
        """Whether the task just claimed is for this device now; if not it is moved where it
        belongs (back, to its pinned device's queue, or to deferred/)."""
        task, queue, device = claim.task, claim.queue, claim.device
        task_id = claim.name.task_id
        if task.task_id != task_id:
            reason = f"file name says {task_id} but task_id is {task.task_id}"
            claim.put_back_bad(reason, Path(src))  # a Path only here: claims are hot
            return False
        if task.device is not None and task.device != device:
            target = queue_name(task.device_class, task.device)
            if target != queue:
                # Pinned elsewhere (a hand edit): move it to that device's queue.
                self.folders.ensure(target)
                claim.move_to(self.layout.ready(target, task.task_id))
                return False
        if task.not_before is not None and task.not_before.timestamp() > now:
            claim.move_to(self.layout.deferred(queue, task.task_id))
            if not from_deferred:
                self.folders.ring(queue)  # it landed in deferred/, like a deferred publish
            return False
        if from_deferred:
            # Taken out of deferred/, which leaves the queue folder's mtime alone: ring it, or
            # idle devices (which reap only when the queue changed or claims were seen) would
            # never look at this claim if its holder dies.
            self.folders.ring(queue)
        return True
