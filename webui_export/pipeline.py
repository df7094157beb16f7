"""Live pipeline state for ``/api/stats``: the one place the read API asks the spool.

Public API: :func:`queue_stats`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def queue_stats(spool_root: Path | None) -> dict[str, Any]:
    """Queue depth per device class and stage, the oldest pending task, the failing tasks.

    Shape (documented in the OpenAPI document as ``QueueStats``)::

        {"available": bool, "reason": str | None,
         "queues": [{"device_class", "stage", "pending", "running", "failed"}],
         "oldest_pending": {"task_id", "stage", "device_class", "created_at"} | None,
         "failing": [{"task_id", "stage", "device_class", "error", "attempts"}]}
    """
    # TODO(spool): fill this from spoold.spool.Spool(spool_root).status() once the spool
    # library provides it.  Until then it reports "not available" rather than made-up numbers.
    if spool_root is None:
        reason = "no SPOOL_ROOT configured"
    else:
        reason = "queue statistics need spoold.spool.Spool.status(), which is not wired in yet"
    return {
        "available": False,
        "reason": reason,
        "queues": [],
        "oldest_pending": None,
        "failing": [],
    }
