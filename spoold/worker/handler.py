"""What a task handler is, and the handler that runs an external COMMAND per task.

Public API: :data:`Handler`, :class:`Context`, :class:`TaskFailed`, :class:`Interrupted`,
:class:`DeviceFault`, :func:`command_handler`.

A handler is any callable ``(Task, Context) -> WorkResult``; raising fails the task with the
exception text (:class:`TaskFailed` with just its message), raising :class:`Interrupted`
hands it back unchanged, and raising :class:`DeviceFault` hands it back unchanged too: this
device could not run it (COMMAND missing or not executable, the scratch disk full or
refusing writes), which says nothing about the task, so no failed attempt is recorded.  :func:`command_handler` is the contract that ``spoold work``
offers devices (documented in ``spool_layout.md``, "Worker commands"): the task JSON on stdin
and in ``$SPOOLD_TASK_FILE``, the result JSON written by COMMAND to ``$SPOOLD_RESULT_FILE``,
exit 0 = done.  When the worker stops or loses the lease, COMMAND's process group gets
SIGTERM, then SIGKILL after ``grace`` seconds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from schemas.task import Task, WorkResult, describe_error
from spoold.errors import SpoolError


@dataclass
class Context:
    """What a handler may need besides the task."""

    device: str
    roots: dict[str, Path]
    workdir: Path
    stop: threading.Event
    lease_lost: threading.Event


Handler = Callable[[Task, Context], WorkResult]


class TaskFailed(SpoolError):
    """A handler's way of failing a task with a message (any exception does the same)."""


class Interrupted(Exception):
    """The worker is stopping; the task is released, not failed."""


class DeviceFault(SpoolError):
    """This device cannot run tasks now (not the task's fault): the task is released, not
    failed, and the worker stops after a run of these (see :class:`~spoold.worker.runtime.Worker`)."""


def command_handler(command: list[str], *, grace: float = 10.0, stderr_lines: int = 20) -> Handler:
    """A handler that runs ``command`` per task (the ``spoold work -- COMMAND`` contract)."""

    def handle(task: Task, ctx: Context) -> WorkResult:
        task_file = ctx.workdir / "task.json"
        result_file = ctx.workdir / "result.json"
        err_file = ctx.workdir / "stderr.txt"
        data = task.to_json()
        try:
            task_file.write_bytes(data)
            errf = open(err_file, "wb")  # noqa: SIM115 - closed by the with below
        except OSError as exc:
            raise DeviceFault(
                f"scratch folder {ctx.workdir}: {exc.strerror or exc} (cannot write the task file)"
            ) from None
        env = dict(os.environ)
        env.update(
            SPOOLD_TASK_FILE=str(task_file),
            SPOOLD_RESULT_FILE=str(result_file),
            SPOOLD_TASK_ID=task.task_id,
            SPOOLD_DEVICE=ctx.device,
            SPOOLD_ROOTS=json.dumps({k: str(v) for k, v in ctx.roots.items()}),
            SPOOLD_WORKDIR=str(ctx.workdir),
        )
        with errf:
            try:
                proc = subprocess.Popen(
                    command,
                    stdin=subprocess.PIPE,
                    stderr=errf,
                    env=env,
                    cwd=ctx.workdir,
                    start_new_session=True,
                )
            except OSError as exc:  # missing, not executable, bad interpreter: this device's
                raise DeviceFault(f"cannot run {command[0]!r}: {exc.strerror or exc}") from None
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
