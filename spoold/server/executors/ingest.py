"""The ``ingest`` executor: validate and describe a task's video (:func:`run_ingest`).

Public API: :func:`run_ingest`, :func:`plan`, the error prefixes :data:`NOT_FOUND`,
:data:`CHANGED` and :data:`INCOMPLETE`, the reasons it adds to :mod:`spoold.server.media`'s
(:data:`REASON_NO_INPUT`, :data:`REASON_VANISHED`, :data:`REASON_SUPERSEDED`) and
:data:`VERDICTS` (every reason code an ingest record can carry -> its verdict).

The video is validated with :func:`spoold.server.media.describe`.  Verdicts (the table in
docs/reliability.md says the same; a test keeps them equal):

- a file that looks *unfinished* (:data:`spoold.server.media.INCOMPLETE_REASONS`: empty,
  truncated, zero-filled tail) fails with :data:`INCOMPLETE` and is retried (it
  may still be copying); it is rejected only once it has stayed so, unchanged, for
  ``[ingest] incomplete_reject_s`` (measured from its first such attempt, or from when the
  ingestor first held it: ``params["held_since"]``);
- any other :class:`~spoold.server.media.VideoRejected` (no video track, no duration, no
  picture size) *completes* at once with ``result = {"rejected": true, "reason": ...}``;
- a file still changing fails and is retried (backoff), never rejected;
- a file that vanished is rejected after ``[ingest] missing_max_attempts`` tries;
- a file whose content changed since the task was published is another video now (the
  ingestor publishes it): after ``missing_max_attempts`` tries the task completes as
  *superseded* (``rejected`` and ``superseded`` true, so nothing follows it), which no count
  takes for a rejection of the file.

Otherwise the task completes with the video as its output and its
:class:`schemas.metadata.VideoMeta` as its result.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from schemas.task import FileRef, Task
from spoold.dashcam import Family
from spoold.server import media
from spoold.server.executors.base import Host, Job, Outcome, fail, tries
from spoold.server.storage import Storage

NOT_FOUND = "input not found"
CHANGED = "content changed"
INCOMPLETE = "unfinished copy"

REASON_NO_INPUT = "task has no input video"
REASON_VANISHED = "file vanished (moved or deleted before ingestion)"
REASON_SUPERSEDED = "content changed since it was found (superseded by the file's new video)"

#: Every reason code an ingest record can carry -> its verdict: "rejected" (at once),
#: "deferred" (retried; rejected after incomplete_reject_s unchanged), "retried" (rejected
#: after missing_max_attempts), "superseded" (the file's newer video replaces it).
VERDICTS: dict[str, str] = {
    **media.VERDICTS,
    REASON_NO_INPUT: "rejected",
    REASON_VANISHED: "retried",
    REASON_SUPERSEDED: "superseded",
}


def plan(task: Task, host: Host) -> Job:
    """In the threads of the video's root; a file that moved is looked for where the scans
    last saw its video."""
    also: tuple[FileRef, ...] = ()
    if task.video_id and tries(task, NOT_FOUND):
        also = tuple(host.find_paths(task.video_id))
    max_tries = host.cfg.ingest.missing_max_attempts
    limit = host.cfg.ingest.incomplete_reject_s
    storage = host.storage
    inbox = task.params.get("inbox")
    families = host.cfg.inbox_families(
        host.cfg.inbox_named(inbox) if isinstance(inbox, str) else None
    )
    return Job(
        task.inputs[0].device if task.inputs else None,
        f"{task.task_type} of {task.task_id}",
        lambda: run_ingest(
            task, storage, max_tries=max_tries, also=also, families=families, incomplete_s=limit
        ),
        host.cfg.daemon.probe_timeout_s,
    )


def run_ingest(
    task: Task,
    storage: Storage,
    *,
    max_tries: int,
    also: tuple[FileRef, ...] = (),
    families: Sequence[Family] | None = None,
    incomplete_s: float = 3600.0,
    now: datetime | None = None,
) -> Outcome:
    """Validate and describe the task's video (its name read with ``families``, default the
    built-in ones); see the module docstring (``now``: the present, for the ``incomplete_s``
    limit)."""
    refs = [r for r in task.inputs if r.type in (None, "video")]
    if not refs:
        return Outcome("complete", result={"rejected": True, "reason": REASON_NO_INPUT})
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
            return _rejected(task, ref, REASON_VANISHED)
        return fail(f"{NOT_FOUND}: {where} (moved or deleted?) — will look again")
    ref, path, st = found
    want = (task.params.get("size"), task.params.get("mtime_ns"))
    if want not in ((None, None), (st.st_size, st.st_mtime_ns)):
        vid = media.fingerprint(path)
        if vid != task.video_id:
            if tries(task, CHANGED) + 1 >= max_tries:
                out = _rejected(task, ref, REASON_SUPERSEDED, f"the file is video {vid} now")
                assert out.result is not None
                out.result["superseded"] = True
                return out
            return fail(f"{CHANGED}: {where} is not video {task.video_id} now — will look again")
    root = storage.roots[ref.device]
    vehicle = task.params.get("vehicle")
    try:
        meta = media.describe(
            ref.device,
            root,
            ref.path,
            vehicle=vehicle if isinstance(vehicle, str) else None,
            families=families,
        )
    except media.VideoRejected as exc:
        if exc.reason in media.INCOMPLETE_REASONS:
            held = _incomplete_for(task, now or datetime.now(timezone.utc))
            if held < incomplete_s:
                return fail(
                    f"{INCOMPLETE}: {exc.reason}"
                    + (f" ({exc.detail})" if exc.detail else "")
                    + f" — may still be copying; looked at again, rejected if it stays so "
                    f"for {incomplete_s:g} s ({held:.0f} s so far)"
                )
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


def _incomplete_for(task: Task, now: datetime) -> float:
    """Seconds since the file was first seen unfinished: the task's first :data:`INCOMPLETE`
    attempt, or when the ingestor started holding it (``params["held_since"]``), if earlier.
    Another error in between (the content changed) starts the count again."""
    since: datetime | None = None
    for a in task.attempts:
        if a.error.startswith(INCOMPLETE):
            since = since or a.at
        elif a.error.startswith(CHANGED):
            since = None
    held = task.params.get("held_since")
    if isinstance(held, str):
        try:
            t = datetime.fromisoformat(held)
            since = t if since is None or t < since else since
        except ValueError:
            pass
    return (now - since).total_seconds() if since is not None else 0.0
