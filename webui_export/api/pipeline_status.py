"""Live pipeline state for ``/api/stats``: the one place the read API asks the spool.

Public API: :func:`queue_stats`.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from spoold.errors import SpoolError
from spoold.spool import Spool
from spoold.spool import inspect as spool_inspect


def queue_stats(spool_root: Path | None) -> dict[str, Any]:
    """Queue depth per device class and stage, the oldest pending task, the failing tasks.

    Shape (documented in the OpenAPI document as ``QueueStats``)::

        {"available": bool, "reason": str | None,
         "queues": [{"device_class", "stage", "pending", "running", "failed"}],
         "oldest_pending": {"task_id", "stage", "device_class", "created_at"} | None,
         "failing": [{"task_id", "stage", "device_class", "error", "attempts"}]}
    """
    if spool_root is None:
        return _unavailable("no SPOOL_ROOT configured")
    try:
        spool = Spool(spool_root, fsync=False)
        counts = spool_inspect.counts(spool)
    except SpoolError as exc:
        return _unavailable(str(exc))
    queues: list[dict[str, Any]] = []
    oldest: dict[str, Any] | None = None
    for q in counts:
        for stage in sorted(set(q.ready) | set(q.claimed) | set(q.deferred)):
            queues.append(
                {
                    "device_class": q.device_class,
                    "stage": stage,
                    "pending": q.ready.get(stage, 0) + q.deferred.get(stage, 0),
                    "running": q.claimed.get(stage, 0),
                    "failed": q.deferred.get(stage, 0),
                }
            )
        if (
            q.oldest_task_id
            and q.oldest_created_at is not None
            and (oldest is None or q.oldest_created_at < oldest["_t"])
        ):
            oldest = {
                "task_id": q.oldest_task_id,
                "stage": q.oldest_task_id.split("-")[1],
                "device_class": q.device_class,
                "created_at": datetime.fromtimestamp(q.oldest_created_at, timezone.utc)
                .isoformat()
                .replace("+00:00", "Z"),
                "_t": q.oldest_created_at,
            }
    if oldest is not None:
        del oldest["_t"]
    failing = [
        {
            "task_id": task.task_id,
            "stage": task.task_type,
            "device_class": task.device_class,
            "error": spool_inspect.last_error_line(task),
            "attempts": len(task.attempts),
        }
        for task in spool_inspect.failing(spool, 100)
    ]
    return {
        "available": True,
        "reason": None,
        "queues": queues,
        "oldest_pending": oldest,
        "failing": failing,
    }


def _unavailable(reason: str) -> dict[str, Any]:
    return {
        "available": False,
        "reason": reason,
        "queues": [],
        "oldest_pending": None,
        "failing": [],
    }
