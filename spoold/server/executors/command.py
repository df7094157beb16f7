"""Server stages with ``command = [...]``: run that command, the ``spoold work`` contract.

Public API: :func:`run_command`, :func:`plan`.

The command runs in a fresh scratch folder with the task file and ``SPOOLD_RESULT_FILE`` as
for a device worker (:func:`spoold.worker.runtime.command_handler`); its time limit is the
stage's ``params.timeout_s`` (default one hour).
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

from schemas.task import Task
from spoold.errors import SpoolError
from spoold.server.executors.base import Host, Job, Outcome, fail
from spoold.server.settings import StageSettings


def plan(task: Task, host: Host, stage: StageSettings) -> Job:
    """Locally (the command reads storage paths itself)."""
    cmd, roots, device = list(stage.command or ()), dict(host.cfg.storage), host.device
    return Job(
        None,
        f"{task.task_type} of {task.task_id}",
        lambda: run_command(task, cmd, roots, device),
        float(stage.params.get("timeout_s", 3600)),
    )


def run_command(task: Task, command: list[str], roots: dict[str, Path], device: str) -> Outcome:
    """Run ``command`` for ``task`` as device ``device``; a SpoolError fails the task."""
    from spoold.worker.runtime import Context, command_handler, new_scratch

    workdir = new_scratch(task.task_id)
    try:
        ctx = Context(device, roots, workdir, threading.Event(), threading.Event())
        res = command_handler(command)(task, ctx)
    except SpoolError as exc:
        return fail(str(exc))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return Outcome("complete", res.outputs, res.result, children=list(res.children))
