"""From a file to its tasks: what ``spoold ls --path`` and ``spoold show PATH`` read from
the spool (the rejected files are :mod:`spoold.cli.rejections`).

Public API: :func:`path_matcher`, :func:`tasks_for_path`, :func:`outcome`, :func:`task_row`.

Everything is computed from the spool's task files, never from a daemon's memory, so it
survives restarts.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from typing import Any

from schemas.task import FileRef, Task
from spoold.spool import Spool
from spoold.spool import inspect as spool_inspect

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


def outcome(state: str, task: Task | None) -> str:
    """``rejected: <reason>``, ``superseded``, ``complete``, or the pending place."""
    if task is None:
        return "invalid"
    if state != "complete":
        return "failing" if task.attempts else state
    if task.verdict == "superseded":
        return "superseded"
    if task.verdict == "rejected":
        return f"rejected: {(task.result or {}).get('reason')}"
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
