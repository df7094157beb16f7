"""From a file to its tasks, and the rejected videos: what ``spoold ls --path/--rejected``,
``spoold show PATH`` and the rejection count of ``spoold status`` read from the spool.

Public API: :func:`path_matcher`, :func:`tasks_for_path`, :func:`rejections`,
:func:`outcome`, :func:`task_row`, :data:`INGEST_TYPE`.

Everything is computed from the spool's task files, never from a daemon's memory, so it
survives restarts.  A *rejection* is a complete ingest record whose result says
``rejected`` and is the latest ingest record of its file (device and path): a rejection a
later ingest of the same file replaced (the copy went on after it was judged) and a task
*superseded* by the file's new content are not counted, so one file counts once.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator
from typing import Any

from schemas.task import FileRef, Task, parse_task_id
from spoold.spool import Spool
from spoold.spool import inspect as spool_inspect

#: The task type whose complete records are the ingestion verdicts (the first stage).
INGEST_TYPE = "ingest"

_GLOB = frozenset("*?[")


def path_matcher(pattern: str) -> Callable[[FileRef], bool]:
    """A test of a task input against ``pattern``: ``[device:]path``, where the path is a
    glob (``*`` crosses folders) or else the file itself or a folder prefix of it."""
    device, sep, path = pattern.partition(":")
    if not sep or "/" in device:  # no device given ("a:b" with a slash before ":" is a path)
        device, path = "", pattern
    path = path.strip("/")

    def match(ref: FileRef) -> bool:
        if device and ref.device != device:
            return False
        if _GLOB & set(path):
            return fnmatch.fnmatchcase(ref.path, path)
        return ref.path == path or ref.path.startswith(path + "/")

    return match


def _ingest_ids(spool: Spool) -> Iterator[spool_inspect.Entry]:
    for e in spool_inspect.iter_entries(spool, pending=False, complete=True, read=False):
        try:
            if parse_task_id(e.task_id)[1] == INGEST_TYPE:
                yield e
        except ValueError:
            continue


def _read(spool: Spool, e: spool_inspect.Entry) -> Task | None:
    try:
        return spool.read(e.path)
    except (OSError, ValueError):
        return None  # moved meanwhile or unreadable: `spoold check` reports those


def rejections(spool: Spool) -> list[dict[str, Any]]:
    """The files whose latest complete ingest record is a rejection (not a supersession),
    oldest first: task id, video id, device, path, reason and detail of each."""
    latest: dict[tuple[str, str], Task] = {}
    for e in _ingest_ids(spool):
        t = _read(spool, e)
        if t is None or not t.inputs:
            continue
        key = (t.inputs[0].device, t.inputs[0].path)
        if key not in latest or t.task_id > latest[key].task_id:
            latest[key] = t
    out = []
    for (device, path), t in sorted(latest.items(), key=lambda kv: kv[1].task_id):
        res = t.result or {}
        if res.get("rejected") and not res.get("superseded"):
            out.append(
                {
                    "task_id": t.task_id,
                    "video_id": t.video_id,
                    "device": device,
                    "path": path,
                    "reason": res.get("reason"),
                    "detail": res.get("detail"),
                }
            )
    return out


def outcome(state: str, task: Task | None) -> str:
    """``rejected: <reason>``, ``superseded``, ``complete``, or the pending place."""
    if task is None:
        return "invalid"
    if state != "complete":
        return "failing" if task.attempts else state
    res = task.result or {}
    if res.get("superseded"):
        return "superseded"
    if res.get("rejected"):
        return f"rejected: {res.get('reason')}"
    return "complete"


def task_row(e: spool_inspect.Entry) -> dict[str, Any]:
    """The ``--json`` fields a path lookup adds: video id, inputs and outcome."""
    t = e.task
    return {
        "video_id": t.video_id if t else None,
        "inputs": [r.model_dump(mode="json") for r in t.inputs] if t else [],
        "outcome": outcome(e.where if e.state == "pending" else "complete", t),
    }


def tasks_for_path(spool: Spool, pattern: str) -> list[spool_inspect.Entry]:
    """Every task (pending and complete) with an input matching ``pattern``
    (:func:`path_matcher`), pending first."""
    match = path_matcher(pattern)
    return [
        e
        for e in spool_inspect.iter_entries(spool)
        if e.task is not None and any(match(r) for r in e.task.inputs)
    ]
