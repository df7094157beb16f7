"""The worker runtime: claim a task, run it, heartbeat meanwhile, complete or fail it.

Public API: :class:`Worker` (``run``, ``run_one``, ``stop``), :func:`command_handler`,
:data:`Handler`, :class:`WorkerStats`, :func:`new_scratch`, :func:`sweep_scratch`.

A handler is any callable ``(Task, Context) -> WorkResult``; raising fails the task with the
exception text.  :func:`command_handler` runs an external COMMAND per task, the contract that
``spoold work`` offers devices (documented in ``spool_layout.md``, "Worker commands"):
the task JSON on stdin and in ``$SPOOLD_TASK_FILE``, the result JSON written by COMMAND to
``$SPOOLD_RESULT_FILE``, exit 0 = done.

While a handler runs, a thread refreshes the lease every ``lease / 3`` seconds.  If the lease
is lost the command is terminated and nothing is completed.  SIGTERM stops the loop: a running
command gets SIGTERM too, and its task is released unchanged for another device.

Each task runs in a scratch folder ``$TMPDIR/spoold-work.HOST.PID.TASKID-XXXXXX``, removed when
the task ends.  A worker killed mid-task cannot remove its own (a Jetson's scratch may hold a
video's frames), so every worker, when it starts, removes those of this host's dead workers.
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from schemas.task import Task, WorkResult, describe_error
from spoold.errors import LeaseLost, SpoolError
from spoold.spool import Claim, Spool, pid_alive, short_hostname

log = logging.getLogger(__name__)


@dataclass
class Context:
    """What a handler may need besides the task."""

    device: str
    roots: dict[str, Path]
    workdir: Path
    stop: threading.Event
    lease_lost: threading.Event


Handler = Callable[[Task, Context], WorkResult]

SCRATCH_PREFIX = "spoold-work."


def new_scratch(task_id: str) -> Path:
    """A new scratch folder for running ``task_id`` in this process (see :func:`sweep_scratch`)."""
    prefix = f"{SCRATCH_PREFIX}{short_hostname()}.{os.getpid()}.{task_id[:40]}-"
    return Path(tempfile.mkdtemp(prefix=prefix))


def sweep_scratch(tmpdir: str | Path | None = None) -> list[Path]:
    """Remove the scratch folders that workers of this host left when they were killed.

    Only folders named by a worker of this host (other hosts and containers may share the
    folder) whose process no longer exists; returns the folders removed.
    """
    base = Path(tmpdir or tempfile.gettempdir())
    mine = f"{SCRATCH_PREFIX}{short_hostname()}."
    removed: list[Path] = []
    try:
        entries = list(os.scandir(base))
    except OSError as exc:
        log.warning("cannot look for old scratch folders in %s: %s", base, exc)
        return removed
    for e in entries:
        if not e.name.startswith(mine) or not e.is_dir(follow_symlinks=False):
            continue
        pid_text = e.name[len(mine) :].split(".", 1)[0]
        if not pid_text.isdigit() or pid_alive(int(pid_text)):
            continue
        shutil.rmtree(e.path, ignore_errors=True)
        if not os.path.lexists(e.path):
            log.warning("removed %s: scratch folder of worker pid %s, which died", e.path, pid_text)
            removed.append(Path(e.path))
    return removed


class TaskFailed(SpoolError):
    """A handler's way of failing a task with a message (any exception does the same)."""


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


class Interrupted(Exception):
    """The worker is stopping; the task is released, not failed."""


def command_handler(command: list[str], *, grace: float = 10.0, stderr_lines: int = 20) -> Handler:
    """A handler that runs ``command`` per task (the ``spoold work -- COMMAND`` contract)."""

    def handle(task: Task, ctx: Context) -> WorkResult:
        task_file = ctx.workdir / "task.json"
        result_file = ctx.workdir / "result.json"
        err_file = ctx.workdir / "stderr.txt"
        data = task.to_json()
        task_file.write_bytes(data)
        env = dict(os.environ)
        env.update(
            SPOOLD_TASK_FILE=str(task_file),
            SPOOLD_RESULT_FILE=str(result_file),
            SPOOLD_TASK_ID=task.task_id,
            SPOOLD_DEVICE=ctx.device,
            SPOOLD_ROOTS=json.dumps({k: str(v) for k, v in ctx.roots.items()}),
            SPOOLD_WORKDIR=str(ctx.workdir),
        )
        with open(err_file, "wb") as errf:
            try:
                proc = subprocess.Popen(
                    command,
                    stdin=subprocess.PIPE,
                    stderr=errf,
                    env=env,
                    cwd=ctx.workdir,
                    start_new_session=True,
                )
            except OSError as exc:
                raise TaskFailed(f"cannot run {command[0]!r}: {exc.strerror}") from None
            assert proc.stdin is not None
            try:
                proc.stdin.write(data)
                proc.stdin.close()
            except BrokenPipeError:
                pass
            while True:
                try:
                    rc = proc.wait(timeout=0.2)
                    break
                except subprocess.TimeoutExpired:
                    if ctx.stop.is_set() or ctx.lease_lost.is_set():
                        _terminate(proc, grace)
                        raise Interrupted() from None
        tail = _tail(err_file, stderr_lines)
        if rc != 0:
            how = f"killed by signal {-rc}" if rc < 0 else f"exit status {rc}"
            raise TaskFailed(f"{command[0]}: {how}" + (f"\n{tail}" if tail else ""))
        if not result_file.exists():
            return WorkResult()
        try:
            return WorkResult.model_validate_json(result_file.read_bytes())
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"]) or "result"
            raise TaskFailed(f"result file is invalid: {where}: {describe_error(err)}") from None

    return handle


def _terminate(proc: subprocess.Popen[bytes], grace: float) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def _tail(path: Path, n: int) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 8192))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-n:])
