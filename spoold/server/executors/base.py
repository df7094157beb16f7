"""What every server executor shares: its verdict, its plan, and what it may ask the runner.

Public API: :class:`Outcome` (complete, maybe as a rejection, or fail), :func:`fail`,
:func:`tries`, :class:`Job` (where and how a claimed task runs), :class:`Queued` (a finalize
task waiting for the index's next batch), :class:`Host` (what a plan may use: the daemon's
configuration, storage, spool and the runner's look-ups), and the lane names
:data:`LOCAL_LANE` and :data:`INDEX_LANE`.

An executor module offers a ``plan(task, host) -> Job`` (registered in
:mod:`spoold.server.executors`) and the function the job calls, which returns an
:class:`Outcome` and never touches the claim: the runner completes or fails it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from schemas.metadata import StageStatus, VideoMeta
from schemas.task import ChildSpec, FileRef, Task
from spoold.errors import SpoolError

if TYPE_CHECKING:
    from spoold.server.settings import DaemonConfig
    from spoold.server.storage import Call, Storage
    from spoold.spool import Spool
    from webui_export.index.validate import Outputs

#: The lane of local work that belongs to no storage root.
LOCAL_LANE = "(local)"
#: The index's one thread: finalize batches, publishing and maintenance.
INDEX_LANE = "(index)"


@dataclass
class Outcome:
    """What an executor decided: complete (maybe as a rejection) or fail (retried later)."""

    kind: Literal["complete", "fail"]
    outputs: list[FileRef] = field(default_factory=list)
    result: dict[str, Any] | None = None
    error: str = ""
    children: list[ChildSpec] = field(default_factory=list)


def fail(error: str) -> Outcome:
    """The task fails with ``error`` (its attempt is counted and it is retried later)."""
    return Outcome("fail", error=error)


def tries(task: Task, prefix: str) -> int:
    """How many earlier attempts of ``task`` failed with an error starting with ``prefix``."""
    return sum(1 for a in task.attempts if a.error.startswith(prefix))


class Queued:
    """A claimed finalize task waiting for the ``(index)`` lane's next batch."""

    call: Call[Outcome]  # set by IndexService.queue: ends when the task's batch decided it
    #: Reading and validating its files ahead of its batch (None: its batch does it).
    loading: Call[None] | None = None

    def __init__(
        self, task: Task, video: VideoMeta | None, stages: list[StageStatus], what: str
    ) -> None:
        self.task = task
        self.video = video
        self.stages = stages
        self.what = what
        self.outcome: Outcome | None = None
        self.error: Exception | None = None
        #: Its files to keep and its validated outputs (or their paths: the index loads
        #: them), once read ahead of its batch.
        self.loaded: tuple[list[FileRef], Outputs | dict[str, Path]] | None = None
        self.ready_at: float | None = None  # time.monotonic() when it became ready for a batch

    def result(self) -> Outcome:
        """The task's call: what its batch decided (its exception re-raised)."""
        if self.error is not None:
            raise self.error
        if self.outcome is None:  # the batch decides every task it takes; a bug otherwise
            raise SpoolError(f"{self.task.task_id}: its finalize batch left it undecided")
        return self.outcome


@dataclass
class Job:
    """Where and how a claimed task runs."""

    root: str | None  # whose threads run it (None: a lane of no storage root)
    what: str
    fn: Callable[[], Outcome]
    timeout: float
    lane: str = LOCAL_LANE
    batch: Queued | None = None  # a finalize waiting for the index's batches (fn: its result)


class Host(Protocol):
    """What a plan may use (the runner provides it)."""

    cfg: DaemonConfig
    spool: Spool
    storage: Storage
    device: str
    find_paths: Callable[[str], list[FileRef]]

    @property
    def index_active(self) -> bool:
        """Whether finalized videos go to the index (``[index] dir`` is set)."""
        ...

    def maintain_index(self) -> Outcome:
        """The ``index`` utility task."""
        ...

    def video_meta(self, task: Task) -> VideoMeta | None:
        """The ingest task's result for this task's video (None if unknown or rejected)."""
        ...

    def stages(self, task: Task) -> list[StageStatus]:
        """Where each stage's task of this task's video is."""
        ...
