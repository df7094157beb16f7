"""The video index: video id -> ingest task id, so that each video is ingested once.

Public API: :class:`VideoIndex`.

It is rebuilt from the spool's task *names* at start (:meth:`VideoIndex.rebuild`: the ingest
task id is ``make_task_id(first-seen stamp, first stage, video_id)``), so a renamed or copied
file, a second pass or a restart never publishes a second ingest task.
"""

from __future__ import annotations

from schemas.task import parse_task_id
from spoold.spool import Spool


class VideoIndex:
    """video id → ingest task id, rebuilt from the spool (task names carry the video id)."""

    def __init__(self) -> None:
        self._ids: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, video_id: object) -> bool:
        return video_id in self._ids

    def get(self, video_id: str) -> str | None:
        return self._ids.get(video_id)

    def add(self, video_id: str, task_id: str) -> None:
        self._ids.setdefault(video_id, task_id)

    def discard(self, video_id: str, task_id: str) -> None:
        if self._ids.get(video_id) == task_id:
            del self._ids[video_id]

    def rebuild(self, spool: Spool, task_type: str) -> int:
        """Read every task *name* (no file content) in pending/ and complete/."""
        self._ids.clear()
        for q in spool.queues():
            self._add(spool.task_ids(q, task_type=task_type))
        for day in spool.complete_days():
            self._add(spool.completed_ids(day, task_type=task_type))
        return len(self._ids)

    def refresh(self, spool: Spool, task_type: str, queue: str) -> None:
        """Add first-stage tasks someone else published into ``queue`` (cheap: one queue)."""
        self._add(spool.task_ids(queue, task_type=task_type))

    def _add(self, task_ids: set[str]) -> None:
        for task_id in task_ids:
            key = parse_task_id(task_id)[2]
            # Two tasks for one video (hand-made): the oldest stamp is the video's.
            prev = self._ids.get(key)
            if prev is None or task_id < prev:
                self._ids[key] = task_id
