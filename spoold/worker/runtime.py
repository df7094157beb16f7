"""The worker loop: claim a task, run its handler, heartbeat meanwhile, complete or fail it.

Public API: :class:`Worker` (``run``, ``run_one``, ``stop``), :class:`WorkerStats`; and,
for its callers' convenience, the handler contract (:data:`Handler`, :class:`Context`,
:class:`TaskFailed`, :func:`command_handler` from :mod:`spoold.worker.handler`) and the
scratch folders (:func:`new_scratch`, :func:`sweep_scratch` from :mod:`spoold.worker.scratch`).

While a handler runs, a thread refreshes the lease every ``lease / 3`` seconds.  If the lease
is lost the handler is interrupted and nothing is completed.  SIGTERM stops the loop: a
running command gets SIGTERM too, and its task is released unchanged for another device.
Each task runs in its own scratch folder, removed when the task ends; :meth:`Worker.run`
first removes those that this host's dead workers left.
"""

from __future__ import annotations

import logging
import random
import shutil
import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path

from spoold.errors import LeaseLost, SpoolError
from spoold.spool import Claim, Spool
from spoold.worker.handler import Context, Handler, Interrupted, TaskFailed, command_handler
from spoold.worker.scratch import new_scratch, sweep_scratch

__all__ = [
    "Context",
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
        grace: float = 10.0,
    ) -> None:
        self.spool = spool
        self.device_class = device_class
        self.device = device
        self.handler = handler
        self.roots = roots or {}
        self.poll = poll
        self.max_poll = max(max_poll, poll)
        self.grace = grace
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
        delay = self.poll
        while not self.stop_event.is_set():
            if max_tasks is not None and len(self.stats.task_ids) >= max_tasks:
                break
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
                # Idle: poll less and less often, with jitter so a fleet does not beat in step.
                self.stop_event.wait(delay * random.uniform(0.8, 1.2))
                delay = min(self.max_poll, delay * 1.5)
                continue
            delay = self.poll
            if not self.run_one(claim):
                self.stop_event.wait(self.max_poll * random.uniform(0.8, 1.2))
            if once:
                break
        return self.stats

    def run_one(self, claim: Claim) -> bool:
        """Run one claimed task to its end; False when its outcome could not be written
        (the spool refused the write: the task was handed back, and the caller waits)."""
        task = claim.task
        self.stats.task_ids.append(task.task_id)
        lost = threading.Event()
        done = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(claim, lost, done), daemon=True)
        workdir = new_scratch(task.task_id)
        ctx = Context(self.device, self.roots, workdir, self.stop_event, lost)
        beat.start()
        log.info("%s: running on %s", task.task_id, self.device)
        try:
            try:
                result = self.handler(task, ctx)
                error = None
            except Interrupted:
                result, error = None, "interrupted"
            except Exception as exc:  # the handler's failure is the task's failure
                result, error = (
                    None,
                    f"{type(exc).__name__}: {exc}" if not isinstance(exc, TaskFailed) else str(exc),
                )
            done.set()
            beat.join()
            if lost.is_set():
                self.stats.lost += 1
                log.warning("%s: lease lost while running; result discarded", task.task_id)
                return True
            try:
                if error == "interrupted":
                    claim.release()
                    self.stats.released += 1
                    log.info("%s: released (worker stopping)", task.task_id)
                elif error is not None:
                    claim.fail(error)
                    self.stats.failed += 1
                    log.warning(
                        "%s: failed: %s", task.task_id, error.splitlines()[-1] if error else ""
                    )
                else:
                    assert result is not None
                    claim.complete(result.outputs, result.children, result.result)
                    self.stats.completed += 1
                    log.info("%s: complete", task.task_id)
            except LeaseLost as exc:
                self.stats.lost += 1
                log.warning("%s", exc)
            except (SpoolError, OSError) as exc:  # e.g. the disk is full: nothing was written
                log.error("%s: %s; handing the task back", task.task_id, exc)
                try:
                    claim.release()
                    self.stats.released += 1
                except (SpoolError, OSError) as again:  # its lease runs out instead
                    log.error("%s: could not hand it back either: %s", task.task_id, again)
                return False
            return True
        finally:
            done.set()
            shutil.rmtree(workdir, ignore_errors=True)

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
