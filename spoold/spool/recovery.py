"""Recovery: finding claims whose holder is gone, and putting their tasks back.

Public API: :class:`Recovery` (``stale_claims``, ``reap``, ``break_claim``, ``requeue``,
``purge_tmp``, ``purge_probes``, ``remove_claim``), :class:`Stale`, :data:`MakeClaim`.

A claim is stale when it went a whole lease without a heartbeat (``max(mtime, ctime)`` judged
in server time), or at once when it is this device's own and its process is gone from this
host.  Breaking one is a single rename of the claim to a claim of the breaker's, so of two
breakers exactly one wins.  The winner hands it back if the holder renewed it meanwhile,
drops it if a newer copy of the task exists (a crash in the middle of a rewrite leaves both),
and otherwise records the lost attempt and puts the task back (``spool_layout.md`` §4.7).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from schemas.task import AttemptKind, Task
from spoold.errors import InvalidTaskFile, LeaseLost, SpoolError, TaskNotFound
from spoold.spool import fsops
from spoold.spool.claim import Claim, ClaimTokens, quarantine, safe_device
from spoold.spool.clock import parse_probe
from spoold.spool.host import pid_alive, short_hostname
from spoold.spool.lander import Lander
from spoold.spool.layout import ClaimName, home_queue, queue_name
from spoold.spool.lookup import Finder, Location
from spoold.spool.policy import Policy
from spoold.spool.taskfile import read_task

log = logging.getLogger(__name__)


class Stale(NamedTuple):
    """A claim judged stale: the claim, its age in server seconds, and why."""

    claim: ClaimName
    age: float
    kind: AttemptKind


#: Makes the :class:`Claim` handle for (task, claim file, queue, claim name, device).
MakeClaim = Callable[[Task, "str | Path", str, ClaimName, str], Claim]


class Recovery:
    """Stale-claim breaking and the operator's repairs, for one spool."""

    def __init__(
        self,
        finder: Finder,
        lander: Lander,
        now: Callable[[], float],
        policy: Policy,
        tokens: ClaimTokens,
        make_claim: MakeClaim,
    ) -> None:
        self.layout = finder.layout
        self.folders = finder.folders
        self.finder = finder
        self.lander = lander
        self.now = now  # server time
        self.policy = policy
        self.tokens = tokens
        self.make_claim = make_claim

    def _claim_name(self, task_id: str, who: str) -> ClaimName:
        return ClaimName(task_id, safe_device(who), self.tokens.new(), self.policy.lease_tag())

    # ------------------------------------------------------------------ stale claims
    def stale_claims(self, queue: str, device: str | None = None) -> list[Stale]:
        """Claims in ``queue`` whose holder is gone: (claim, age in server seconds, why).

        Gone = no heartbeat for a whole lease (judged in server time), or — for this
        ``device``'s own claims — the holding process no longer exists on this host.
        """
        out: list[Stale] = []
        cdir = self.layout.claimed_dir(queue)
        try:
            entries = list(os.scandir(cdir))
        except FileNotFoundError:
            return out
        now = self.now()
        held = self.tokens.held
        for e in entries:
            cn = ClaimName.parse(e.name)
            if cn is None or cn.token in held:
                continue
            try:
                st = e.stat(follow_symlinks=False)
            except OSError:
                continue
            age = now - max(st.st_mtime, st.st_ctime)
            if age > (cn.lease if cn.lease is not None else self.policy.lease):
                out.append(Stale(cn, age, "lease-expired"))
            elif device is not None and cn.device == device and not pid_alive(cn.pid):
                out.append(Stale(cn, age, "worker-died"))
        return out

    def reap(self, queue: str, device: str | None = None) -> int:
        """Break the stale claims of ``queue``; returns how many tasks were put back."""
        n = 0
        for found in self.stale_claims(queue, device):
            if self.break_claim(queue, found, device or "spoold"):
                n += 1
        return n

    def break_claim(self, queue: str, found: Stale, breaker: str, *, charge: bool = True) -> bool:
        """Take over a stale claim and put its task back (or drop it if superseded).

        One rename decides which breaker wins; the loser sees ENOENT and moves on.
        ``charge``: record the lost run as a failed attempt (which backs the task off).  Only
        a breaker that knows the holder never started the task passes False (the daemon, for
        the finalize tasks its killed predecessor had only queued for a batch).
        """
        stale, age, kind = found
        mine = self._claim_name(stale.task_id, breaker)
        taken = self._take_over(queue, stale, mine, kind)
        if isinstance(taken, bool):
            return taken
        claim = self.make_claim(taken, self.layout.claimed(queue, mine), queue, mine, breaker)
        newer = self._newer_copy(queue, taken, mine)
        if newer is not None:
            log.info(
                "dropping stale claim %s: superseded by %s", stale.name, self.layout.rel(newer)
            )
            claim.drop()
            return False
        if not charge:
            log.info(
                "%s: %s pid %s died before it started the task; putting it back as it was",
                stale.task_id,
                stale.device,
                stale.pid,
            )
            try:
                claim.release()
            except LeaseLost:
                return False  # the broken claim vanished under us: another breaker has it
            return True
        if kind == "worker-died":
            why = f"worker {stale.device} pid {stale.pid} died while running it"
        else:
            why = f"claim by {stale.device} expired: no heartbeat for {age:.0f} s"
        log.warning("%s: %s; putting it back", stale.task_id, why)
        claim.fail(why, kind=kind, device=stale.device)
        return True

    def _take_over(
        self, queue: str, stale: ClaimName, mine: ClaimName, kind: AttemptKind
    ) -> Task | bool:
        """Rename ``stale`` to ``mine`` and read the task: the task when we hold it now;
        otherwise whether the claim left claimed/ (True: not a valid task file, moved to
        ``invalid/``; False: lost the race, or the holder is alive after all)."""
        src = self.layout.claimed(queue, stale)
        dst = self.layout.claimed(queue, mine)
        if not fsops.rename(src, dst):
            return False
        held = self.tokens.held
        held.add(mine.token)
        if kind == "lease-expired" and self._renewed(dst, stale):
            # The holder renewed its lease between our look and our rename, so it is alive
            # and may be past the fence in complete(): hand its claim back untouched.
            held.discard(mine.token)
            fsops.rename(dst, src)
            return False
        rel = self.layout.rel(self.layout.ready(queue, stale.task_id))
        try:
            task = read_task(self.layout, dst)
        except InvalidTaskFile as exc:
            bad = exc
        except PermissionError as exc:
            bad = InvalidTaskFile(rel, f"cannot read it: {exc.strerror} (uid {os.geteuid()})")
        except OSError as exc:
            held.discard(mine.token)
            if fsops.is_gone(exc):
                return False
            raise
        else:
            if task.task_id == stale.task_id:
                return task
            bad = InvalidTaskFile(
                rel, f"file name says {stale.task_id} but task_id is {task.task_id}"
            )
        held.discard(mine.token)
        return quarantine(self.folders, dst, queue, stale.task_id, bad) is not None

    def _renewed(self, path: Path, stale: ClaimName) -> bool:
        """Whether the claim now at ``path`` (renamed from ``stale``; a rename keeps the
        mtime) got a heartbeat within its lease, i.e. after it was judged stale."""
        try:
            mtime = os.stat(path).st_mtime
        except OSError:
            return False
        lease = stale.lease if stale.lease is not None else self.policy.lease
        return self.now() - mtime <= lease

    def _newer_copy(self, queue: str, task: Task, mine: ClaimName) -> Path | None:
        """A copy of ``task`` that supersedes the stale claim we took over, if any.

        A ready or deferred copy was written after the stale claim was taken.  Another
        *claim* supersedes ours only if it is ahead in one total order (more attempts, then
        not a completed record, then the larger token): a crash inside fail() leaves the
        stale claim next to a retry copy with one more attempt, which may be claimed and go
        stale too, and two breakers that each see the other's claim must not both drop.
        """
        for q in {queue, home_queue(queue)}:  # a first-scheme pinned queue's tasks go home
            for path in (self.layout.ready(q, task.task_id), self.layout.deferred(q, task.task_id)):
                if fsops.exists(path):
                    return path
        key = (len(task.attempts), task.completed_at is None, mine.token)
        for cn in self.finder.claims_of(queue, task.task_id):
            if cn.token == mine.token:
                continue
            path = self.layout.claimed(queue, cn)
            try:
                other = read_task(self.layout, path)
            except (InvalidTaskFile, OSError):
                continue  # gone meanwhile, or not a task: not a copy to defer to
            if (len(other.attempts), other.completed_at is None, cn.token) > key:
                return path
        done = self.layout.completed(task.task_id)
        if fsops.exists(done):
            try:
                finished = read_task(self.layout, done)
            except (InvalidTaskFile, OSError):
                return done
            # Same completion stamp: an operator copied a complete task back to re-run it.
            if task.completed_at is None or finished.completed_at != task.completed_at:
                return done
        return None

    # ------------------------------------------------------------------ operator verbs
    def requeue(self, task_id: str, *, operator: str = "operator", force: bool = False) -> Location:
        """Make a complete or failing task ready to run now (attempt history is kept)."""
        loc = self.finder.locate(task_id)
        if loc is None:
            raise TaskNotFound(f"no task {task_id} in pending/ or complete/")
        if loc.where == "ready":
            return loc
        if loc.where == "claimed" and not force:
            assert loc.claim is not None
            raise SpoolError(
                f"{task_id} is being run by {loc.claim.device} ({self.layout.rel(loc.path)}); "
                "wait for it, or use --force to put it back (the running worker will lose it)"
            )
        task = read_task(self.layout, loc.path)
        queue = home_queue(loc.queue) if loc.queue else queue_name(task.device_class, task.device)
        self.folders.ensure(queue)
        dst = self.layout.claimed(queue, self._claim_name(task_id, operator))
        if not fsops.rename(loc.path, dst):
            raise SpoolError(f"{task_id} moved while requeueing it; run the command again")
        fresh = task.model_copy(
            update={
                "not_before": None,
                "completed_at": None,
                "completed_by": None,
                "outputs": [],
                "result": None,
            }
        )
        ready = self.layout.ready(queue, task_id)
        self.lander.land(fresh.to_json(), ready, durable_dir=True)
        fsops.unlink(dst)
        return Location(task_id, "pending", "ready", queue, ready)

    def purge_tmp(self, older_than: float, *, keep: str) -> list[Path]:
        """Remove temp files older than ``older_than`` seconds (left by crashed writers),
        but never ``keep`` nor any clock probe (old by design: :meth:`purge_probes`)."""
        removed = []
        now = self.now()
        for e in os.scandir(self.layout.tmp):
            if e.name == keep or parse_probe(e.name) is not None:
                continue
            try:
                st = e.stat(follow_symlinks=False)
            except OSError:
                continue
            old = now - st.st_mtime > older_than and e.is_file(follow_symlinks=False)
            if old and fsops.unlink(Path(e.path)):
                removed.append(Path(e.path))
        return removed

    def purge_probes(self) -> list[Path]:
        """Remove the clock probes of this host's processes that are gone (a killed command
        leaves its probe; other hosts' processes cannot be judged from here)."""
        removed = []
        host = short_hostname()
        for name in fsops.listdir(self.layout.tmp):
            probe = parse_probe(name)
            dead = probe is not None and probe[0] == host and not pid_alive(probe[1])
            if dead and fsops.unlink(self.layout.tmp / name):
                removed.append(self.layout.tmp / name)
        return removed

    def remove_claim(self, queue: str, claim: ClaimName) -> bool:
        """Delete a claim whose task exists elsewhere (used by ``check --repair``)."""
        return fsops.unlink(self.layout.claimed(queue, claim))
