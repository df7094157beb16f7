"""The worker loop: claim a task, run its handler, heartbeat meanwhile, complete or fail it.

Public API: :class:`Worker` (``run``, ``run_one``, ``stop``), :class:`WorkerStats`; and,
for its callers' convenience, the handler contract (:data:`Handler`, :class:`Context`,
:class:`TaskFailed`, :class:`DeviceFault`, :func:`command_handler` from
:mod:`spoold.worker.handler`) and the scratch folders (:func:`new_scratch`,
:func:`sweep_scratch` from :mod:`spoold.worker.scratch`).

While idle it claims less and less often (``poll`` growing to ``max_poll``, with jitter), and
between claims looks at the doorbell every ``doorbell`` seconds: the mtimes of its two queue
folders (one ``stat`` each), which every publish changes.  When they change it claims at once,
so a task published to an idle device waits about ``doorbell`` seconds, not ``max_poll``.

Each task logs one line when taken (``event=task_taken``) and one when finished
(``event=task_finished`` with ``outcome`` and ``seconds``).  A task that fails for this
device's reasons (:class:`DeviceFault`: COMMAND missing, scratch disk full or refusing
writes) is handed back without a failed attempt; after ``max_device_faults`` of those in a row
the loop stops claiming and says why in :attr:`WorkerStats.stopped_because`, so a broken
device does not churn through the queue.

While a handler runs, a thread refreshes the lease every ``lease / 3`` seconds.  If the lease
is lost the handler is interrupted and nothing is completed.  SIGTERM stops the loop: a
running command gets SIGTERM too, and its task is released unchanged for another device.
Each task runs in its own scratch folder, removed when the task ends; :meth:`Worker.run`
first removes those that this host's dead workers left.
"""

from __future__ import annotations

import logging
import os
import random
import shutil
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from schemas.task import WorkResult
from spoold.errors import LeaseLost, SpoolError
from spoold.spool import Claim, Spool, queue_name
from spoold.worker.handler import (
    Context,
    DeviceFault,
    Handler,
    Interrupted,
    TaskFailed,
    command_handler,
)
from spoold.worker.scratch import new_scratch, sweep_scratch

__all__ = [
    "Context",
    "DeviceFault",
    "Handler",
    "TaskFailed",
    "Worker",
    "WorkerStats",
    "command_handler",
    "new_scratch",
    "sweep_scratch",
]

log = logging.getLogger(__name__)


@dataclass
class WorkerStats:
    completed: int = 0
    failed: int = 0
    lost: int = 0
    released: int = 0
    idle_polls: int = 0
    #: Tasks handed back because this device could not run them (no attempt recorded).
    device_faults: int = 0
    #: Why the loop stopped by itself (a run of device faults), None otherwise.
    stopped_because: str | None = None
    task_ids: list[str] = field(default_factory=list)


class Worker:
    """Runs ``handler`` on tasks of ``device_class`` claimed as ``device``."""

    def __init__(
        self,
        spool: Spool,
        device_class: str,
        device: str,
        handler: Handler,
        *,
        roots: dict[str, Path] | None = None,
        poll: float = 1.0,
        max_poll: float = 30.0,
        doorbell: float = 1.0,
        grace: float = 10.0,
        max_device_faults: int = 3,
    ) -> None:
        self.spool = spool
        self.device_class = device_class
        self.device = device
        self.handler = handler
        self.roots = roots or {}
        self.poll = poll
        self.max_poll = max(max_poll, poll)
        self.doorbell = doorbell
        self._queues = [
            spool.layout.queue(queue_name(device_class, None)),
            spool.layout.queue(queue_name(device_class, device)),
        ]
        self.grace = grace
        self.max_device_faults = max_device_faults
        self._faults_in_a_row = 0
        self._last_fault = ""
        self.stop_event = threading.Event()
        self.stats = WorkerStats()

    def stop(self) -> None:
        """Ask the loop to stop; a running task is interrupted and released."""
        self.stop_event.set()

    def install_signal_handlers(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop())

    def run(self, *, once: bool = False, max_tasks: int | None = None) -> WorkerStats:
        """Work until stopped (``once``: at most one task, and return when there is none)."""
        sweep_scratch()
        log.info(
            "%s: claiming %s tasks from %s",
            self.device,
            self.device_class,
            self.spool.root,
            extra={"event": "worker_started", "device": self.device},
        )
        delay = self.poll
        while not self.stop_event.is_set():
            if max_tasks is not None and len(self.stats.task_ids) >= max_tasks:
                break
            # Looked at before claiming, so a task published while the claim ran rings.
            bell = self._doorbell()
            try:
                claim = self.spool.claim(self.device_class, self.device)
            except (SpoolError, OSError) as exc:
                # The share is unmounted, full or refusing access: say so and keep polling,
                # so the worker resumes by itself once it is back.
                if once:
                    raise
                log.error("cannot claim: %s; retrying", exc)
                claim = None
            if claim is None:
                self.stats.idle_polls += 1
                if once:
                    break
                # Idle: poll less and less often, with jitter so a fleet does not beat in step,
                # but claim at once when the doorbell rings.
                if self._idle_wait(delay * random.uniform(0.8, 1.2), bell):
                    delay = self.poll
                else:
                    delay = min(self.max_poll, delay * 1.5)
                continue
            delay = self.poll
            if not self.run_one(claim):
                self.stop_event.wait(self.max_poll * random.uniform(0.8, 1.2))
            if self._faults_in_a_row >= self.max_device_faults:
                self.stats.stopped_because = (
                    f"stopped claiming after {self._faults_in_a_row} tasks in a row that this "
                    f"device could not run (last: {self._last_fault}); the tasks were handed "
                    "back unchanged: fix the device, then start the worker again"
                )
                log.error("%s", self.stats.stopped_because, extra={"event": "worker_stopped"})
                break
            if self._faults_in_a_row:  # give a passing fault (a full disk) time to clear
                self.stop_event.wait(self.poll)
            if once:
                break
        return self.stats

    def _doorbell(self) -> tuple[int, ...]:
        """The mtimes (ns) of this device's two queue folders, 0 for a missing one: a publish
        into either, or a task leaving deferred/, changes them (spool_layout.md §4.2)."""
        out = []
        for qdir in self._queues:
            try:
                out.append(os.stat(qdir).st_mtime_ns)
            except OSError:  # not made yet, or the share is away: the next poll says which
                out.append(0)
        return tuple(out)

    def _idle_wait(self, seconds: float, bell: tuple[int, ...]) -> bool:
        """Sleep ``seconds`` (or until stopped), looking at the doorbell every ``doorbell``
        seconds; True when it rang.  Costs one stat per queue folder per look, which is what
        lets an idle device wait long between claims and still start within a second."""
        deadline = time.monotonic() + seconds
        while not self.stop_event.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if self.doorbell <= 0 or self.doorbell >= left:
                self.stop_event.wait(left)
                return False
            if self.stop_event.wait(self.doorbell):
                return False
            if self._doorbell() != bell:
                return True
        return False

    def run_one(self, claim: Claim) -> bool:
        """Run one claimed task to its end; False when its outcome could not be written
        (the spool refused the write: the task was handed back, and the caller waits)."""
        task = claim.task
        self.stats.task_ids.append(task.task_id)
        started = time.monotonic()
        log.info(
            "%s: taken by %s (%s, attempt %d)",
            task.task_id,
            self.device,
            task.task_type,
            len(task.attempts) + 1,
            extra={"event": "task_taken", "task_id": task.task_id, "device": self.device},
        )
        outcome, detail = "error", "the worker itself failed (see the traceback)"
        try:
            outcome, detail = self._run_and_record(claim)
            return outcome != "handed-back"
        finally:
            seconds = round(time.monotonic() - started, 3)
            log.log(
                logging.INFO if outcome in ("complete", "released") else logging.WARNING,
                "%s: %s in %.1f s%s",
                task.task_id,
                outcome,
                seconds,
                f": {detail}" if detail else "",
                extra={
                    "event": "task_finished",
                    "task_id": task.task_id,
                    "device": self.device,
                    "outcome": outcome,
                    "seconds": seconds,
                },
            )

    def _run_and_record(self, claim: Claim) -> tuple[str, str]:
        """Run the handler on ``claim`` and write its outcome: (outcome, detail) where outcome
        is complete, failed, released, device-fault, lost or handed-back (not written)."""
        task = claim.task
        lost = threading.Event()
        done = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(claim, lost, done), daemon=True)
        workdir: Path | None = None
        beat.start()
        try:
            try:
                workdir = self._scratch(task.task_id)
                ctx = Context(self.device, self.roots, workdir, self.stop_event, lost)
                result = self.handler(task, ctx)
                error, fault = None, None
            except Interrupted:
                result, error, fault = None, "interrupted", None
            except DeviceFault as exc:
                result, error, fault = None, None, str(exc)
            except Exception as exc:  # the handler's failure is the task's failure
                result, error, fault = (
                    None,
                    f"{type(exc).__name__}: {exc}" if not isinstance(exc, TaskFailed) else str(exc),
                    None,
                )
            done.set()
            beat.join()
            if lost.is_set():
                self.stats.lost += 1
                return "lost", "lease lost while running; result discarded"
            return self._record(claim, result, error, fault)
        except LeaseLost as exc:
            self.stats.lost += 1
            return "lost", str(exc)
        except (SpoolError, OSError) as exc:  # e.g. the disk is full: nothing was written
            log.error("%s: %s; handing the task back", task.task_id, exc)
            try:
                claim.release()
                self.stats.released += 1
            except LeaseLost as lost_exc:  # broken meanwhile (a partition): not ours to give
                self.stats.lost += 1
                return "lost", str(lost_exc)
            except (SpoolError, OSError) as again:  # its lease runs out instead
                log.error("%s: could not hand it back either: %s", task.task_id, again)
            return "handed-back", str(exc)
        finally:
            done.set()
            if workdir is not None:
                shutil.rmtree(workdir, ignore_errors=True)

    @staticmethod
    def _scratch(task_id: str) -> Path:
        try:
            return new_scratch(task_id)
        except OSError as exc:  # TMPDIR full, missing or refusing writes: this device's fault
            raise DeviceFault(f"cannot make a scratch folder: {exc.strerror or exc}") from None

    def _record(
        self, claim: Claim, result: WorkResult | None, error: str | None, fault: str | None
    ) -> tuple[str, str]:
        """Write the outcome of a task to the spool; (outcome, detail) for the log line."""
        if fault is not None:
            claim.release()
            self.stats.released += 1
            self.stats.device_faults += 1
            self._faults_in_a_row += 1
            self._last_fault = fault
            return "device-fault", f"{fault}; handed back, no attempt recorded"
        if error == "interrupted":
            claim.release()
            self.stats.released += 1
            return "released", "worker stopping"
        self._faults_in_a_row = 0
        if error is not None:
            claim.fail(error)
            self.stats.failed += 1
            return "failed", error.splitlines()[-1] if error else ""
        assert result is not None
        claim.complete(result.outputs, result.children, result.result)
        self.stats.completed += 1
        return "complete", ""

    def _heartbeat(self, claim: Claim, lost: threading.Event, done: threading.Event) -> None:
        interval = max(0.05, self.spool.lease / 3)
        while not done.wait(interval):
            try:
                claim.heartbeat()
            except LeaseLost as exc:
                log.warning("%s", exc)
                lost.set()
                return
            except OSError as exc:  # a NAS hiccup: try again next beat, the lease has slack
                log.warning("%s: heartbeat failed: %s", claim.task_id, exc)
