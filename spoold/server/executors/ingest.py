"""The ``ingest`` executor: validate and describe a task's video (:func:`run_ingest`).

Public API: :func:`run_ingest`, :func:`plan`, the error prefixes :data:`NOT_FOUND` and
:data:`CHANGED`.

The video is validated with :func:`spoold.server.media.describe`.  A rejected file (no video
track, no duration, truncated, empty, not media, zero-filled tail) *completes* with
``result = {"rejected": true, "reason": ...}`` and gets no follow-up.  A file still changing
fails and is retried (backoff), never rejected; a file that vanished or changed content is
rejected only after ``[ingest] missing_max_attempts`` tries.  Otherwise the task completes with
the video as its output and its :class:`schemas.metadata.VideoMeta` as its result.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from schemas.task import FileRef, Task
from spoold.server import media
from spoold.server.executors.base import Host, Job, Outcome, fail, tries
from spoold.server.storage import Storage

NOT_FOUND = "input not found"
CHANGED = "content changed"


def plan(task: Task, host: Host) -> Job:
    """In the threads of the video's root; a file that moved is looked for where the scans
    last saw its video."""
    also: tuple[FileRef, ...] = ()
    if task.video_id and tries(task, NOT_FOUND):
        also = tuple(host.find_paths(task.video_id))
    max_tries = host.cfg.ingest.missing_max_attempts
    storage = host.storage
    return Job(
        task.inputs[0].device if task.inputs else None,
        f"{task.task_type} of {task.task_id}",
        lambda: run_ingest(task, storage, max_tries=max_tries, also=also),
        host.cfg.daemon.probe_timeout_s,
    )


def run_ingest(
    task: Task, storage: Storage, *, max_tries: int, also: tuple[FileRef, ...] = ()
) -> Outcome:
    """Validate and describe the task's video; see the module docstring."""
    refs = [r for r in task.inputs if r.type in (None, "video")]
    if not refs:
        return Outcome("complete", result={"rejected": True, "reason": "task has no input video"})
    ref = refs[0]
    found: tuple[FileRef, Path, os.stat_result] | None = None
    for cand in (ref, *also):
        path = storage.real_path(cand)
        try:
            found = (cand, path, os.stat(path))
            break
        except FileNotFoundError:
            continue
    where = f"{ref.device}:{ref.path}"
    if found is None:
        if tries(task, NOT_FOUND) + 1 >= max_tries:
            return _rejected(task, ref, "file vanished (moved or deleted before ingestion)")
        return fail(f"{NOT_FOUND}: {where} (moved or deleted?) — will look again")
    ref, path, st = found
    want = (task.params.get("size"), task.params.get("mtime_ns"))
    if want not in ((None, None), (st.st_size, st.st_mtime_ns)):
        vid = media.fingerprint(path)
        if vid != task.video_id:
            if tries(task, CHANGED) + 1 >= max_tries:
                return _rejected(
                    task,
                    ref,
                    f"content changed since it was found (now video {vid}, ingested on its own)",
                )
            return fail(f"{CHANGED}: {where} is not video {task.video_id} now — will look again")
    root = storage.roots[ref.device]
    vehicle = task.params.get("vehicle")
    try:
        meta = media.describe(
            ref.device, root, ref.path, vehicle=vehicle if isinstance(vehicle, str) else None
        )
    except media.VideoRejected as exc:
        return _rejected(task, ref, exc.reason, exc.detail, size=st.st_size)
    except media.VideoNotReady as exc:
        return fail(f"{CHANGED}: {exc}")
    if meta.video_id != task.video_id:
        return fail(f"{CHANGED}: {where} is video {meta.video_id} now — will look again")
    return Outcome(
        "complete",
        outputs=[FileRef(device=ref.device, path=ref.path, type="video")],
        result=meta.model_dump(mode="json"),
    )


def _rejected(
    task: Task, ref: FileRef, reason: str, detail: str | None = None, size: int | None = None
) -> Outcome:
    result: dict[str, Any] = {
        "rejected": True,
        "reason": reason,
        "video_id": task.video_id,
        "device": ref.device,
        "path": ref.path,
    }
    if detail:
        result["detail"] = detail
    if size is not None:
        result["size"] = size
    return Outcome("complete", result=result)
