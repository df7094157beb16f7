"""The ``archive`` executor: check that each input's archival copy is there, same size.

Public API: :func:`run_archive`, :func:`plan`.

Params: ``root`` (default ``shed-nas``), ``prefix`` (under which the copies are, default none)
and ``types`` (which inputs, default ``["video"]``).  An input already on ``root`` is its own
copy.  A copy missing or of another size than the ingested video fails the task (retried).
"""

from __future__ import annotations

import os
from pathlib import PurePosixPath

from schemas.task import FileRef, Task
from spoold.server.executors.base import Host, Job, Outcome, fail
from spoold.server.storage import PathOutsideRoot, Storage


def plan(task: Task, host: Host) -> Job:
    """In the threads of the archive root (which must be configured)."""
    video = host.video_meta(task)
    sizes = {(video.device, video.path): video.size} if video else {}
    root = str(task.params.get("root", "shed-nas"))
    if root not in host.storage.roots:
        raise PathOutsideRoot(f"{task.task_id}: archive root {root!r} is not configured")
    storage = host.storage
    return Job(
        root,
        f"{task.task_type} of {task.task_id}",
        lambda: run_archive(task, storage, sizes=sizes),
        host.cfg.daemon.probe_timeout_s,
    )


def run_archive(
    task: Task, storage: Storage, *, sizes: dict[tuple[str, str], int] | None = None
) -> Outcome:
    """Check the copies; ``sizes`` maps ``(device, path)`` of an input to its expected size."""
    root = str(task.params.get("root", "shed-nas"))
    prefix = str(task.params.get("prefix", ""))
    types = task.params.get("types", ["video"])
    missing: list[str] = []
    archived: list[FileRef] = []
    for ref in task.inputs:
        if ref.type not in types:
            continue
        target = ref
        if ref.device != root:
            rel = str(PurePosixPath(prefix, ref.path)) if prefix else ref.path
            target = FileRef(device=root, path=rel, type=ref.type)
        try:
            st = os.stat(storage.real_path(target))
        except FileNotFoundError:
            missing.append(f"{target.device}:{target.path} (copy of {ref.device}:{ref.path})")
            continue
        want = (sizes or {}).get((ref.device, ref.path))
        if want is not None and st.st_size != want:
            missing.append(f"{target.device}:{target.path}: {st.st_size} bytes, want {want}")
            continue
        archived.append(target)
    if missing:
        return fail("archival copy missing or incomplete: " + "; ".join(missing))
    return Outcome("complete", outputs=archived, result={"archived": len(archived), "root": root})
