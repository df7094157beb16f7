"""What the pipeline finished recently: completions per type and class, with their timings.

Public API: :class:`ActivityTracker`, :class:`Completion`.

Complete records never change once written, so a tracker keeps what it parsed and, on each
call, reads only names it has not seen in the recent ``complete/DAY/`` folders.  The
dashboard and ``/metrics`` call it on every page view or scrape; a day with 10,000 completions
costs one listing per call after the first.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from spoold.errors import InvalidTaskFile
from spoold.spool.layout import TASK_FILE_RE
from spoold.spool.spool import Spool


@dataclass(frozen=True)
class Completion:
    task_id: str
    task_type: str
    device_class: str
    video_id: str | None
    created_at: datetime
    completed_at: datetime
    completed_by: str | None
    rejected: str | None  # the reason, for an ingest that refused its video
    pipeline_started: datetime  # the id's stamp: when the video's pipeline began

    @property
    def duration_s(self) -> float:
        return (self.completed_at - self.created_at).total_seconds()

    @property
    def since_pipeline_start_s(self) -> float:
        return (self.completed_at - self.pipeline_started).total_seconds()


class ActivityTracker:
    """Incremental reader of recent complete records (thread-safe; one per process)."""

    def __init__(self, spool: Spool, days: int = 2) -> None:
        self.spool = spool
        self.days = days
        self._seen: dict[str, Completion | None] = {}
        self._lock = threading.Lock()

    def recent(self, within: timedelta) -> list[Completion]:
        """Completions whose ``completed_at`` is within ``within`` of server time now."""
        now = self.spool.now_dt()
        cutoff = now - within
        with self._lock:
            self._refresh(now)
            return sorted(
                (c for c in self._seen.values() if c is not None and c.completed_at >= cutoff),
                key=lambda c: c.completed_at,
            )

    def _refresh(self, now: datetime) -> None:
        lay = self.spool.layout
        wanted = {(now - timedelta(days=d)).strftime("%Y-%m-%d") for d in range(self.days)}
        try:
            days = [d for d in os.listdir(lay.complete) if d in wanted]
        except FileNotFoundError:
            return
        live: set[str] = set()
        for day in days:
            folder = lay.complete / day
            try:
                names = os.listdir(folder)
            except (FileNotFoundError, NotADirectoryError):
                continue
            for name in names:
                if not TASK_FILE_RE.match(name):
                    continue
                key = f"{day}/{name}"
                live.add(key)
                if key not in self._seen:
                    self._seen[key] = self._parse(folder / name)
        for key in [k for k in self._seen if k not in live]:
            del self._seen[key]  # requeued, or the day rolled out of the window

    def _parse(self, path: os.PathLike[str]) -> Completion | None:
        try:
            task = self.spool.read(path)  # type: ignore[arg-type]
        except (InvalidTaskFile, OSError):
            return None  # `spoold check` reports it; activity just skips it
        if task.completed_at is None:
            return None
        rejected = None
        if task.result and task.result.get("rejected"):
            rejected = str(task.result.get("reason") or task.result.get("rejected"))
        stamp = datetime.strptime(task.task_id[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
        return Completion(
            task.task_id,
            task.task_type,
            task.device_class,
            task.video_id,
            task.created_at,
            task.completed_at,
            task.completed_by,
            rejected,
            stamp,
        )
