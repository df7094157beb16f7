"""The ``finalize`` executor: a video's worker outputs go to the index (or are kept, checked).

Public API: :func:`plan`, :func:`run_finalize` (no index), :func:`prepare`, :func:`load` and
:func:`decide` (one task of a batch of :class:`spoold.server.executors.index.IndexService`),
:data:`INVALID_OUTPUT`, :data:`NOT_READY`.

A finalize task indexes its video with the outputs of *every* earlier stage of the video
(``detections``/``gps``/``plates`` files, and the video): its own inputs plus the outputs
found in the completed records of the stages upstream of it
(:func:`spoold.server.stages.gather_outputs`), whatever path the chain took — a worker that
publishes its own children may pass on only part of its outputs (preprocess with
``--detect-class`` gives detect the keyframes, not the GPS track).  While an earlier stage of
the video is published but not complete, the task fails with :data:`NOT_READY` and the reason
(retried later): it never indexes a part of the video's outputs.  The paths must stay inside
their storage roots; everything else about the files is checked by
:mod:`webui_export.index.validate`, the one place of those rules.  An invalid output fails the
task with a message starting with :data:`INVALID_OUTPUT` and naming the file.

- With ``[index] dir`` set, the task waits in the ``(index)`` lane's queue and is indexed (all
  or nothing) with up to ``[index] finalize_batch`` others in one transaction, each task still
  ending on its own (its files read and validated ahead of its batch); the result says
  ``indexed: true`` (the index publishes it within seconds, see ``IndexService``).
- Without, the outputs are validated and kept where the workers wrote them
  (``indexed: false``).

The result also counts the output files per type and records where each stage's task of the
video is (``stages``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from schemas.metadata import StageStatus
from schemas.task import FileRef, Task
from spoold.errors import SpoolError
from spoold.server.executors.base import INDEX_LANE, Host, Job, Outcome, Queued, fail
from spoold.server.pipeline import Pipeline
from spoold.server.stages import gather_outputs
from spoold.server.storage import PathOutsideRoot, Storage
from webui_export.errors import FinalizeError, IndexWriteFailed
from webui_export.index.validate import (
    OUTPUT_KINDS,
    check_outputs,
    load_outputs,
    resolve_outputs,
)
from webui_export.index.writer import FinalizeReport

INVALID_OUTPUT = "finalize: invalid worker output, nothing of this video is indexed:\n"
NOT_READY = "finalize: the video's outputs are incomplete, nothing of it is indexed: "
NO_INDEX = "no index configured ([index] dir): outputs validated and kept"


def plan(task: Task, host: Host) -> Job:
    """Queued for the index's batches, or (no index) in the threads of the outputs' root."""
    what = f"{task.task_type} of {task.task_id}"
    timeout = host.cfg.daemon.probe_timeout_s
    try:
        inputs = gather_outputs(host.spool, Pipeline(host.cfg.pipeline), task, OUTPUT_KINDS)
    except (SpoolError, OSError) as exc:  # NotReady, or the spool cannot be read
        refused = fail(NOT_READY + str(exc))
        return Job(None, what, lambda: refused, timeout)
    task = task.model_copy(update={"inputs": inputs})
    stages = host.stages(task)
    if host.index_active:  # the index is single-threaded: batches in its own lane
        entry = Queued(task, host.video_meta(task), stages, what)
        return Job(None, what, entry.result, timeout, INDEX_LANE, entry)
    meta_refs = [r for r in task.inputs if r.type in OUTPUT_KINDS]
    storage = host.storage
    return Job(
        meta_refs[0].device if meta_refs else None,
        what,
        lambda: run_finalize(task, storage, stages=stages),
        timeout,
    )


def run_finalize(
    task: Task, storage: Storage, *, stages: list[StageStatus] | None = None
) -> Outcome:
    """No index: validate the worker outputs, which stay where they are."""
    try:
        kept, files = task_files(task, storage)
    except (FinalizeError, PathOutsideRoot) as exc:
        return fail(INVALID_OUTPUT + str(exc))
    problems = check_outputs(task.video_id or "", files)
    if problems:
        return fail(INVALID_OUTPUT + "\n".join(problems))
    return finalized(kept, stages, False, NO_INDEX)


def task_files(task: Task, storage: Storage) -> tuple[list[FileRef], dict[str, Path]]:
    """The task's files to keep (the video and the worker outputs) and the outputs' local
    paths by type.  Raises :class:`PathOutsideRoot` for a path that leaves its root (or an
    unknown root) and :class:`FinalizeError` for two outputs of one type."""

    def local(ref: FileRef) -> Path:
        storage.real_path(ref)  # refuses a path leaving its root (a symlink elsewhere)
        return storage.resolve(ref)

    kept = [r for r in task.inputs if r.type == "video" or r.type in OUTPUT_KINDS]
    return kept, resolve_outputs(kept, local)


def prepare(entry: Queued, storage: Storage) -> tuple[list[FileRef], dict[str, Path]] | None:
    """A batched task's files (see :func:`task_files`), or None when this already decided
    the task (its ``outcome`` or ``error`` is set)."""
    try:
        kept, files = task_files(entry.task, storage)
    except (FinalizeError, PathOutsideRoot) as exc:
        entry.outcome = fail(INVALID_OUTPUT + str(exc))
        return None
    except Exception as exc:  # e.g. a root that cannot be read: this task's failure
        entry.error = exc
        return None
    if entry.video is None:
        entry.error = SpoolError(
            f"{entry.task.task_id}: no completed ingest record for video "
            f"{entry.task.video_id}: cannot index it (nothing indexed)"
        )
        return None
    return kept, files


def load(entry: Queued, storage: Storage) -> None:
    """Read and validate a batched task's files ahead of its batch (in the threads of their
    storage root, while the index writes the batch before): sets ``entry.loaded``, or decides
    the task (see :func:`prepare`).  An error of the outputs' values that only the index words
    (one a column cannot hold) leaves the files to the index, which refuses this video alone."""
    found = prepare(entry, storage)
    if found is None or entry.video is None:
        return
    kept, files = found
    try:
        entry.loaded = (kept, load_outputs(entry.video.video_id, files))
    except FinalizeError as exc:
        entry.outcome = fail(INVALID_OUTPUT + str(exc))
    except Exception:  # the index loads them again and words the error
        entry.loaded = (kept, files)


def decide(
    entry: Queued, kept: list[FileRef], res: FinalizeReport | Exception, together: int
) -> None:
    """Decide a batched task from what the index did with its video (indexed with
    ``together`` videos in one transaction, itself included)."""
    if isinstance(res, IndexWriteFailed):
        entry.outcome = fail(f"finalize: {res}")
    elif isinstance(res, FinalizeError):
        entry.outcome = fail(INVALID_OUTPUT + str(res))
    elif isinstance(res, Exception):
        entry.error = res
    else:
        gen = res.published_generation
        note = "indexed" if gen is None else f"indexed (published generation {gen})"
        entry.outcome = finalized(kept, entry.stages, True, note, batch=together)


def finalized(
    kept: list[FileRef],
    stages: list[StageStatus] | None,
    indexed: bool,
    note: str,
    **extra: Any,
) -> Outcome:
    """The completed task: its files kept, counted per output type, and the stages."""
    files: dict[str, int] = {}
    for ref in kept:
        if ref.type in OUTPUT_KINDS:
            files[ref.type] = files.get(ref.type, 0) + 1
    result: dict[str, Any] = {
        "files": dict(sorted(files.items())),
        "indexed": indexed,
        "index": note,
        **extra,
    }
    if stages is not None:
        result["stages"] = [s.model_dump(mode="json", exclude_none=True) for s in stages]
    return Outcome("complete", outputs=kept, result=result)
