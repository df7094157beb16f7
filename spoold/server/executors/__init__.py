"""Server-side tasks: which executor runs a claimed task, and which storage roots it needs.

Public API: :data:`EXECUTORS` (executor name -> :class:`Executor`), :func:`plan`.

A ``server`` stage runs the executor named by its ``executor`` setting, or by its task type
(``ingest``, ``finalize``, ``archive``, ``cleanup``, ``index``: one module each in this
package), or, when it has a ``command``, that command (:mod:`.command`, the ``spoold work``
contract).  The names are :data:`spoold.server.settings.BUILTIN_EXECUTORS` (the configuration
checks stages against them); this table gives each its plan and the input types it reads.

A task needs the storage root of each input it reads (an input without a type always counts)
and the root its job runs in; the runner (:mod:`spoold.server.runner`) checks they are up
before it starts the job.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from schemas.task import Task
from spoold.errors import SpoolError
from spoold.server.executors import archive, cleanup, command, finalize, index, ingest
from spoold.server.executors.base import Host, Job
from spoold.server.settings import BUILTIN_EXECUTORS, StageSettings
from webui_export.index.validate import OUTPUT_KINDS


@dataclass(frozen=True)
class Executor:
    """A built-in executor: how a task of it runs, and which input types it reads."""

    plan: Callable[[Task, Host], Job]
    reads: tuple[str, ...]


EXECUTORS: dict[str, Executor] = {
    "ingest": Executor(ingest.plan, reads=("video",)),
    "finalize": Executor(finalize.plan, reads=tuple(OUTPUT_KINDS)),
    "archive": Executor(archive.plan, reads=()),
    "cleanup": Executor(cleanup.plan, reads=()),
    "index": Executor(index.plan, reads=()),
}
#: What a stage's command reads: the video and the worker outputs.
COMMAND_READS = ("video", *OUTPUT_KINDS)

if tuple(EXECUTORS) != BUILTIN_EXECUTORS:  # the configuration's names and this table must agree
    raise ImportError(
        f"spoold.server.executors: EXECUTORS {tuple(EXECUTORS)} is not "
        f"settings.BUILTIN_EXECUTORS {BUILTIN_EXECUTORS}"
    )


def plan(task: Task, host: Host, stage: StageSettings | None) -> tuple[Job, set[str]]:
    """The job of a claimed task and the storage roots it needs (``stage``: its stage, if
    the pipeline has one).  Raises :class:`SpoolError` when no executor can run it here."""
    if stage is not None and stage.command:
        job, reads = command.plan(task, host, stage), COMMAND_READS
    else:
        kind = (stage.executor if stage else None) or task.task_type
        executor = EXECUTORS.get(kind)
        if executor is None:
            raise SpoolError(
                f"{task.task_id}: no server executor for task type {task.task_type!r} "
                f"(built in: {', '.join(EXECUTORS)}; or give its stage a command)"
            )
        job, reads = executor.plan(task, host), executor.reads
    needs = {r.device for r in task.inputs if r.type is None or r.type in reads}
    if job.root is not None:
        needs.add(job.root)
    return job, needs
