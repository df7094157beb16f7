"""Claiming: taking the oldest eligible task by one rename, and how racing workers spread out.

Public API: :class:`Claimer` (``claim``).

A claim renames ``pending/Q/ID.json`` to ``pending/Q/claimed/ID.DEVICE.TOKEN-L<lease>.json``.
The token is unique to this claim, so the claimant can tell that it won even when NFS reports
a false ENOENT, and it confirms by reading the file under its new name (SMB can tell two racing
renamers that both succeeded).  Its mtime, set at once in server time, is the lease.

Workers racing for the same names lose renames; each loss doubles the *window* of oldest names
a worker picks from at random (up to 16), and a run of uncontested claims halves it again.
Stale claims are looked for on the first claim of a queue and later at most every
``min(lease/3, 10)`` s, and only when claims were seen there or the queue changed: a busy
fleet's cost is one listing of ``claimed/`` per device and interval, and a replaced device's
claims are broken within about a lease and an interval even while a backlog keeps everyone
busy.

A device claims from its class's queue, its pinned queue, and the first scheme's pinned
folders (``CLASS@DEVICE``, ``CLASS%40DEVICE``) while they exist (looked for again every
``LEGACY_LOOK_S`` while idle).  A claimed file that is not a valid task for its name is moved
to ``invalid/`` (:func:`~spoold.spool.claim.quarantine`), so the whole fleet tries one bad
content once.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from spoold.errors import InvalidTaskFile
from spoold.spool import fsops
from spoold.spool.claim import Claim, ClaimTokens, quarantine
from spoold.spool.lander import Lander
from spoold.spool.layout import CLAIMED, ClaimName, home_queue, legacy_queue_names, queue_name
from spoold.spool.lister import RACY_SIGNATURE, Candidate, Lister
from spoold.spool.policy import Policy
from spoold.spool.recovery import MakeClaim, Recovery
from spoold.spool.taskfile import read_task

#: Widest window of oldest names a racing worker picks from.
MAX_WINDOW = 16
#: Uncontested claims in a row after which the window halves.
CALM_RUN = 8
#: Seconds between looks (while idle) for the first scheme's pinned folders.
LEGACY_LOOK_S = 60.0
#: How many times per reap interval a busy worker looks whether a queue is due for reaping.
BUSY_LOOKS = 8


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
        # (class, device) -> (the queues claimed from, when legacy folders were looked for)
        self._claim_queues: dict[tuple[str, str], tuple[list[str], float]] = {}
        self._window = 1  # how many of the oldest names to pick from (grows when racing)
        self._calm = 0  # claims won at the first try since the window last changed
        self._busy_look = -1e18  # when a busy claim last looked for stale claims

    def claim(self, device_class: str, device: str) -> Claim | None:
        """Take the oldest eligible task for ``device`` of ``device_class``, or None (see
        :meth:`spoold.spool.Spool.claim`)."""
        queues = self._queues(device_class, device, idle=False)
        # Busy too (throttled): a dead device's claims must not wait for the backlog to drain
        # before anyone breaks them.  Looked at a few times per reap interval, not per claim.
        mono = time.monotonic()
        if mono - self._busy_look >= self._reap_interval() / BUSY_LOOKS:
            self._busy_look = mono
            for q in queues:
                self._maybe_reap(q, device)
        for attempt in range(100_000):
            cand = self.lister.next_candidate(queues, self._window)
            if cand is None:
                queues = self._queues(device_class, device, idle=True)
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

    def _queues(self, device_class: str, device: str, *, idle: bool) -> list[str]:
        """The queues ``device`` claims from: its class's, its pinned one, and the first
        scheme's pinned folders that exist (looked for on first use, then every
        ``LEGACY_LOOK_S`` while idle).  A queue new to this process is reaped at once."""
        key = (device_class, device)
        known = self._claim_queues.get(key)
        mono = time.monotonic()
        if known is not None and (not idle or mono - known[1] < LEGACY_LOOK_S):
            return known[0]
        queues = [device_class, queue_name(device_class, device)]
        queues += [
            q
            for q in legacy_queue_names(device_class, device)
            if os.path.isdir(self.layout.queue(q))
        ]
        self._claim_queues[key] = (queues, mono)
        for q in queues:
            if q not in self.lister.views:
                self._maybe_reap(q, device)
        return queues

    def _reap_interval(self) -> float:
        return min(self.policy.lease / 3, 10.0)

    def _maybe_reap(self, queue: str, device: str) -> int:
        """Reap ``queue`` at most every ``min(lease/3, 10)`` s, and only when claims may
        exist there: claims were seen last time, or the queue changed (claims come from it).
        Returns how many tasks were put back."""
        view = self.lister.state(queue)
        mono = time.monotonic()
        first = view.reaped_at < -1e17
        if not first and mono - view.reaped_at <= self._reap_interval():
            return 0
        unchanged = view.reaped_sig == view.signature != RACY_SIGNATURE
        if not first and not view.claims_seen and unchanged:
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
            self._give_back(exc, dst_str, queue, task_id)
            return None
        claim = self.make_claim(task, dst_str, queue, cn, device)
        return claim if self._runnable(claim, path, from_deferred, now) else None

    def _give_back(
        self, exc: OSError | InvalidTaskFile, dst: str, cand_queue: str, tid: str
    ) -> None:
        """After winning the rename to ``dst``: the file vanished (another claimant won after
        all), or cannot be read or parsed: then it goes to ``invalid/``, never back over its
        name (an operator's fix may be there by now)."""
        if isinstance(exc, InvalidTaskFile):
            quarantine(self.folders, dst, cand_queue, tid, exc)
            return
        if fsops.is_gone(exc):
            return
        if not isinstance(exc, PermissionError):
            raise exc
        # A file we may move but not read (or not touch): say which file it is.
        reason = f"cannot read it: {exc.strerror} (running as uid {os.geteuid()})"
        quarantine(self.folders, dst, cand_queue, tid, InvalidTaskFile(dst, reason))

    def _runnable(self, claim: Claim, src: str, from_deferred: bool, now: float) -> bool:
        """Whether the task just claimed is for this device now; if not it is moved where it
        belongs (back, to its pinned device's queue, or to deferred/)."""
        task, queue, device = claim.task, claim.queue, claim.device
        task_id = claim.name.task_id
        if task.task_id != task_id:
            claim.quarantine(f"file name says {task_id} but task_id is {task.task_id}")
            return False
        if task.device is not None and task.device != device:
            target = queue_name(task.device_class, task.device)
            if target != home_queue(queue):
                # Pinned elsewhere (a hand edit): move it to that device's queue.
                self.folders.ensure(target)
                claim.move_to(self.layout.ready(target, task.task_id))
                return False
        if task.not_before is not None and task.not_before.timestamp() > now:
            home = home_queue(queue)
            if home != queue:
                self.folders.ensure(home)
            claim.move_to(self.layout.deferred(home, task.task_id))
            if not from_deferred or home != queue:
                self.folders.ring(home)  # it landed in deferred/, like a deferred publish
            return False
        if from_deferred:
            # Taken out of deferred/, which leaves the queue folder's mtime alone: ring it, or
            # idle devices (which reap only when the queue changed or claims were seen) would
            # never look at this claim if its holder dies.
            self.folders.ring(queue)
        return True
