"""Server-side tasks: the daemon is the ``server`` device, claiming through the spool like any other.

Public API: :class:`ServerRunner` (``tick``, ``idle``, ``root_up``, ``shutdown``, ``stats``),
:class:`Outcome`, the executors :func:`run_ingest`, :func:`run_finalize`, :func:`run_archive`,
:func:`run_cleanup`, :func:`run_command`, :func:`check_outputs`, and :class:`IndexService`
(the one place that hands finalized metadata to ``webui_export.index.writer``, in batches;
:func:`keep_only` when no index is configured).

Each claimed task becomes one call in the threads of the storage root it reads (see
:mod:`spoold.server.storage`), so a hung NAS delays its own tasks only; the loop polls the call,
heartbeats the claim meanwhile, and completes or fails it when the call returns.

- ``ingest``: validates the video with :func:`spoold.server.media.describe`.  A rejected file (no video
  track, no duration, truncated, empty, not media, zero-filled tail) *completes* with
  ``result = {"rejected": true, "reason": ...}`` and gets no follow-up.  A file still changing
  fails and is retried (backoff), never rejected; a file that vanished or changed content is
  rejected only after ``[ingest] missing_max_attempts`` tries.
- ``finalize``: validates worker outputs (``detections``/``gps``/``plates`` files) with
  :mod:`schemas.metadata`; an invalid file fails the task naming the file.  With ``[index]
  dir`` set, :class:`IndexService` indexes the video (all or nothing) in the ``(index)``
  lane, with the other finalize tasks waiting, up to ``[index] finalize_batch`` per
  transaction, each task still ending on its own.  Otherwise the valid outputs are kept
  where the workers wrote them and the result says so.
- ``archive``: checks that the archival copy of each input of ``params.types`` (default
  video) exists on ``params.root`` (default ``shed-nas``) under ``params.prefix``, same size.
- ``cleanup``: removes entries older than ``[maintenance] temp_ttl_s`` from the configured
  temp folders on server storage, and old temp files of the spool.
- ``index``: index maintenance (``Indexer.maintain``) when an index is configured.
- Other server stages with ``command = [...]`` run that command, the ``spoold work`` contract.

Tasks needing a storage root that is down fail with a "waiting for storage" error (counted,
backed off), claiming pauses for ``outage_pause_s``, and they are put back at once when the
root returns.  Nothing is completed while a root is missing.
"""

from __future__ import annotations

import importlib
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from schemas.metadata import DetectionsFile, GpsTrackFile, PlatesFile, StageStatus, VideoMeta
from schemas.task import ChildSpec, FileRef, Task, make_task_id, parse_task_id
from spoold.errors import InvalidTaskFile, LeaseLost, SpoolError, StorageUnavailable
from spoold.server import media
from spoold.server.pipeline import Pipeline
from spoold.server.settings import BUILTIN_EXECUTORS, DaemonConfig
from spoold.server.storage import Call, PathOutsideRoot, Storage
from spoold.spool import Claim, Spool

log = logging.getLogger(__name__)

METADATA_MODELS: dict[str, type[BaseModel]] = {
    "detections": DetectionsFile,
    "gps": GpsTrackFile,
    "plates": PlatesFile,
}
MAX_METADATA_BYTES = 64 << 20
WAITING = "waiting for storage"
NOT_FOUND = "input not found"
CHANGED = "content changed"


@dataclass
class Outcome:
    """What an executor decided: complete (maybe as a rejection) or fail (retried later)."""

    kind: Literal["complete", "fail"]
    outputs: list[FileRef] = field(default_factory=list)
    result: dict[str, Any] | None = None
    error: str = ""
    children: list[ChildSpec] = field(default_factory=list)


def _fail(error: str) -> Outcome:
    return Outcome("fail", error=error)


def _tries(task: Task, prefix: str) -> int:
    return sum(1 for a in task.attempts if a.error.startswith(prefix))


# --------------------------------------------------------------------------- ingest
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
        if _tries(task, NOT_FOUND) + 1 >= max_tries:
            return _rejected(task, ref, "file vanished (moved or deleted before ingestion)")
        return _fail(f"{NOT_FOUND}: {where} (moved or deleted?) — will look again")
    ref, path, st = found
    want = (task.params.get("size"), task.params.get("mtime_ns"))
    if want not in ((None, None), (st.st_size, st.st_mtime_ns)):
        vid = media.fingerprint(path)
        if vid != task.video_id:
            if _tries(task, CHANGED) + 1 >= max_tries:
                return _rejected(
                    task,
                    ref,
                    f"content changed since it was found (now video {vid}, ingested on its own)",
                )
            return _fail(f"{CHANGED}: {where} is not video {task.video_id} now — will look again")
    root = storage.roots[ref.device]
    vehicle = task.params.get("vehicle")
    try:
        meta = media.describe(
            ref.device, root, ref.path, vehicle=vehicle if isinstance(vehicle, str) else None
        )
    except media.VideoRejected as exc:
        return _rejected(task, ref, exc.reason, exc.detail, size=st.st_size)
    except media.VideoNotReady as exc:
        return _fail(f"{CHANGED}: {exc}")
    if meta.video_id != task.video_id:
        return _fail(f"{CHANGED}: {where} is video {meta.video_id} now — will look again")
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


# --------------------------------------------------------------------------- finalize
Hook = Callable[
    [Task, dict[str, list[BaseModel]], "VideoMeta | None", list[FileRef], list[StageStatus]],
    tuple[bool, str],
]
INVALID_OUTPUT = "finalize: invalid worker output, nothing of this video is indexed:\n"


def keep_only(
    task: Task,
    documents: dict[str, list[BaseModel]],
    video: VideoMeta | None,
    kept: list[FileRef],
    stages: list[StageStatus],
) -> tuple[bool, str]:
    """The finalize hook when there is no index: the validated outputs stay where they are."""
    return False, "no index configured ([index] dir): outputs validated and kept"


def check_outputs(
    task: Task, storage: Storage, *, parse: bool = True
) -> tuple[list[FileRef], dict[str, list[BaseModel]], list[str]]:
    """A finalize task's files to keep (worker outputs and the video), their validated
    documents, and what is wrong with them (one ``device:path: reason`` each).

    ``parse=False`` checks only what the index cannot (inside its root, there, not too big)
    and returns no documents: the index validates the content itself, and parsing a
    2,000-detection file twice would cost about a quarter of its throughput.
    """
    problems: list[str] = []
    docs: dict[str, list[BaseModel]] = {}
    kept: list[FileRef] = []
    for ref in task.inputs:
        model = METADATA_MODELS.get(ref.type or "")
        if model is None:
            if ref.type == "video":
                kept.append(ref)
            continue
        where = f"{ref.device}:{ref.path}"
        data = b""
        try:
            path = storage.real_path(ref)
            if parse:
                with open(path, "rb") as fh:
                    data = fh.read(MAX_METADATA_BYTES + 1)
                size = len(data)
            else:
                size = os.stat(path).st_size
        except FileNotFoundError:
            problems.append(f"{where}: missing")
            continue
        except PathOutsideRoot as exc:
            problems.append(str(exc))
            continue
        if size > MAX_METADATA_BYTES:
            problems.append(f"{where}: larger than {MAX_METADATA_BYTES} bytes")
            continue
        if parse:
            try:
                doc = model.model_validate_json(data)
            except ValidationError as exc:
                err = exc.errors()[0]
                loc = ".".join(str(p) for p in err["loc"]) or ref.type
                more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
                problems.append(f"{where}: {loc}: {err['msg']}{more}")
                continue
            if getattr(doc, "video_id", None) != task.video_id:
                problems.append(
                    f"{where}: video_id {getattr(doc, 'video_id', None)!r} is not {task.video_id}"
                )
                continue
            docs.setdefault(ref.type or "", []).append(doc)
        kept.append(ref)
    return kept, docs, problems


def _finalized(
    kept: list[FileRef],
    stages: list[StageStatus] | None,
    indexed: bool,
    note: str,
    **extra: Any,
) -> Outcome:
    files: dict[str, int] = {}
    for ref in kept:
        if ref.type in METADATA_MODELS:
            files[ref.type] = files.get(ref.type, 0) + 1
    result: dict[str, Any] = {
        "files": dict(sorted(files.items())),
        "indexed": indexed,
        "index": note,
        **extra,
    }
    if stages is not None:
        result["stages"] = [s.model_dump(mode="json", exclude_none=True) for s in stages]
    return Outcome("complete", outputs=kept, result=result)


def run_finalize(
    task: Task,
    storage: Storage,
    *,
    video: VideoMeta | None = None,
    stages: list[StageStatus] | None = None,
    hook: Hook = keep_only,
) -> Outcome:
    """Validate the worker outputs, then ``hook`` (no index: they stay where they are).

    With an index, the daemon queues finalize tasks for :class:`IndexService` instead.
    """
    kept, docs, problems = check_outputs(task, storage)
    if problems:
        return _fail(INVALID_OUTPUT + "\n".join(problems))
    indexed, note = hook(task, docs, video, kept, stages or [])
    return _finalized(kept, stages, indexed, note)


@dataclass
class IndexStats:
    """What the finalize batches did, for ``spoold status``."""

    batches: int = 0  # index transactions that indexed finalized videos
    videos: int = 0
    largest: int = 0  # most videos indexed in one transaction
    one_by_one: int = 0  # batches whose write failed and were indexed video by video


class _Queued:
    """A claimed finalize task waiting for the ``(index)`` lane's next batch."""

    call: Call[Outcome]  # set by IndexService.queue: ends when the task's batch decided it

    def __init__(
        self, task: Task, video: VideoMeta | None, stages: list[StageStatus], what: str
    ) -> None:
        self.task = task
        self.video = video
        self.stages = stages
        self.what = what
        self.outcome: Outcome | None = None
        self.error: Exception | None = None

    def result(self) -> Outcome:
        """The task's call: what its batch decided (its exception re-raised)."""
        if self.error is not None:
            raise self.error
        if self.outcome is None:  # the batch decides every task it takes; a bug otherwise
            raise SpoolError(f"{self.task.task_id}: its finalize batch left it undecided")
        return self.outcome


class IndexService:
    """The metadata index (``webui_export.index.writer.Indexer``), used from its one thread.

    Active when ``[index] dir`` is set and ``webui_export.index.writer`` offers ``Indexer``.  Then
    claimed finalize tasks wait in claim order (:meth:`queue`) for the ``(index)`` lane, which
    reads, checks and indexes up to ``batch`` of them in one transaction (:meth:`start_batch`;
    ``finalize_many``: a backlog goes about 2.5 times faster than one video at a time).  Each
    task still ends on its own: a video with invalid output fails its task only, and a batch
    whose write fails is indexed again one by one, so that a video that breaks the write
    fails alone.  :meth:`tick` publishes new data every pass, and :meth:`maintain` is the
    ``index`` utility task.

    ``journal`` is told the ids of the claimed finalize tasks that only wait for a batch,
    whenever that list changes and before a batch starts; the daemon keeps them in a local
    file, so that the next daemon, if this one is killed, puts those back without counting
    an attempt (they never ran).  Without it, a crash-looping daemon would push every
    finalize it held into backoff.
    """

    LANE = "(index)"

    def __init__(
        self,
        db_dir: Path | None,
        storage: Storage,
        roots: dict[str, Path],
        *,
        publish_interval: float = 1.0,
        timeout: float = 120.0,
        batch: int = 20,
        journal: Callable[[list[str]], None] | None = None,
    ) -> None:
        self.db_dir = db_dir
        self.journal = journal
        self.storage = storage
        self.roots = roots
        self.publish_interval = publish_interval
        self.timeout = timeout
        self.batch = max(1, batch)
        self.stats = IndexStats()
        self._cls: Any = None
        if db_dir is not None:
            try:
                self._cls = importlib.import_module("webui_export.index.writer").Indexer
            except (ImportError, AttributeError) as exc:
                log.error("[index] dir is set but webui_export.index.writer is unusable: %s", exc)
        self.active = self._cls is not None
        self._indexer: Any = None
        self._publishing: Call[Any] | None = None
        # Claimed finalize tasks no batch took yet, in claim order: the loop appends, the lane
        # takes.
        self._queue: list[_Queued] = []
        self._lock = threading.Lock()
        self._batch_waiting = False
        if self.active:
            storage.add_lane(self.LANE, 1)

    def _open(self) -> Any:
        if self._indexer is None:
            self._indexer = self._cls(self.db_dir, publish_interval=self.publish_interval)
        return self._indexer

    # ---------------------------------------------------------------- finalize batches
    @property
    def queue_room(self) -> int:
        """How many finalize tasks may wait for the index: one batch indexed, one filling."""
        return 2 * self.batch if self.active else 0

    def queue(self, entry: _Queued, timeout: float) -> Call[Outcome]:
        """Queue a claimed finalize task for a batch; poll the call like any other."""
        entry.call = Call(self.LANE, entry.what, entry.result, self.storage.clock() + timeout)
        with self._lock:
            self._queue.append(entry)
            self._save_journal()
        return entry.call

    def start_batch(self, *, full: bool = False) -> None:
        """Have the lane take the next batch, unless one is waiting for it (never blocks).

        The batch is taken when the lane gets to it, so whatever was queued meanwhile (up to
        ``batch``) goes with it.  ``full``: only if a whole batch is queued already (while
        claiming more: the lane need not wait for the end of the claiming).
        """
        with self._lock:
            if len(self._queue) < (self.batch if full else 1) or self._batch_waiting:
                return
            self._batch_waiting = True
        self.storage.submit_local(
            "finalize batch", self._run_batch, timeout=self.timeout, lane=self.LANE
        )

    def _take(self) -> list[_Queued]:
        """The oldest queued tasks, up to ``batch``, one per video (a second finalize of a
        video waits for the next batch; in one transaction it would be refused)."""
        taken: list[_Queued] = []
        left: list[_Queued] = []
        videos: set[str] = set()
        with self._lock:
            self._batch_waiting = False
            for entry in self._queue:
                if entry.call.abandoned:  # overdue, or the daemon stopping: given back
                    continue
                video = entry.task.video_id or entry.task.task_id
                if len(taken) < self.batch and video not in videos:
                    taken.append(entry)
                    videos.add(video)
                else:
                    left.append(entry)
            self._queue = left
            self._save_journal()  # before the batch starts: from now on they count as run
        return taken

    def _save_journal(self) -> None:
        """(Lock held.)  Report which claims only wait (see ``journal``)."""
        if self.journal is not None:
            self.journal([e.task.task_id for e in self._queue if not e.call.abandoned])

    def _run_batch(self) -> None:
        """(index) lane: finalize the next batch; every task taken ends, whatever happens."""
        taken = self._take()
        try:
            self._finalize(taken)
        except Exception as exc:  # e.g. the index cannot be opened: each task fails with it
            for entry in taken:
                if entry.outcome is None and entry.error is None:
                    entry.error = exc
        finally:
            for entry in taken:
                entry.call.run()
            self.start_batch()  # more waiting: next (the loop need not come round first)

    def _finalize(self, entries: list[_Queued]) -> None:
        """Check each task's files, index the valid videos together, decide every task."""
        from webui_export.errors import FinalizeError, IndexWriteFailed
        from webui_export.index.writer import resolve_outputs

        todo: list[tuple[_Queued, list[FileRef], tuple[VideoMeta, dict[str, Path], Any]]] = []
        for entry in entries:
            # The index parses the files (once); here only what it cannot check.
            try:
                kept, _, problems = check_outputs(entry.task, self.storage, parse=False)
                files = resolve_outputs(kept, self.roots) if not problems else {}
            except FinalizeError as exc:  # two outputs of one type, an unknown device
                problems = [str(exc)]
            except Exception as exc:  # e.g. a file that cannot be read: this task's failure
                entry.error = exc
                continue
            if problems:
                entry.outcome = _fail(INVALID_OUTPUT + "\n".join(problems))
            elif entry.video is None:
                entry.error = SpoolError(
                    f"{entry.task.task_id}: no completed ingest record for video "
                    f"{entry.task.video_id}: cannot index it (nothing indexed)"
                )
            else:
                todo.append((entry, kept, (entry.video, files, entry.stages)))
        if not todo:
            return
        results, together = self._index([item for _, _, item in todo])
        for (entry, kept, _), res, n in zip(todo, results, together, strict=True):
            if isinstance(res, IndexWriteFailed):
                entry.outcome = _fail(f"finalize: {res}")
            elif isinstance(res, FinalizeError):
                entry.outcome = _fail(INVALID_OUTPUT + str(res))
            elif isinstance(res, Exception):
                entry.error = res
            else:
                note = f"indexed (published generation {res.published_generation})"
                entry.outcome = _finalized(kept, entry.stages, True, note, batch=n)

    def _index(self, items: list[Any]) -> tuple[list[Any], list[int]]:
        """``finalize_many``, and one by one what a failed batch write left out.

        Returns one FinalizeReport or exception per item, and how many videos each was
        indexed with (itself included).
        """
        from webui_export.errors import IndexWriteFailed

        started = time.monotonic()
        indexer = self._open()
        try:
            results: list[Any] = list(indexer.finalize_many(items))
            retry = [i for i, r in enumerate(results) if isinstance(r, IndexWriteFailed)]
        except Exception as exc:  # not a video's fault we can name: find out one by one
            results, retry = [exc] * len(items), list(range(len(items)))
        indexed = sum(not isinstance(r, Exception) for r in results)
        together = [indexed] * len(items)
        transactions = 1 if indexed else 0
        if retry and len(items) > 1:
            log.warning(
                "finalize batch of %d videos not indexed (%s): indexing them one by one",
                len(items),
                results[retry[0]],
                extra={"event": "index.batch_failed"},
            )
            self.stats.one_by_one += 1
            for i in retry:
                try:
                    [results[i]] = indexer.finalize_many([items[i]])
                    transactions += not isinstance(results[i], Exception)
                except Exception as exc:  # this video's own error now
                    results[i] = exc
                together[i] = 1
        done = sum(not isinstance(r, Exception) for r in results)
        self.stats.batches += transactions
        self.stats.videos += done
        self.stats.largest = max(self.stats.largest, indexed, 1 if done else 0)
        log.info(
            "finalize batch: %d of %d video(s) indexed in %.2f s",
            done,
            len(items),
            time.monotonic() - started,
            extra={"event": "index.batch", "videos": len(items), "indexed": done},
        )
        return results, together

    # ---------------------------------------------------------------- upkeep
    def maintain(self) -> Outcome:
        if not self.active:
            return Outcome("complete", result={"skipped": "no index configured ([index] dir)"})
        rep = self._open().maintain()
        return Outcome("complete", result={"maintained": True, **asdict(rep)})

    def tick(self) -> None:
        """New finalized data becomes visible within ``publish_interval`` (never blocks).

        The first tick opens the index: what a killed daemon committed after its last
        publish is published now, not only once the next video is finalized."""
        if not self.active:
            return
        if self._publishing is not None and not self._publishing.done():
            return
        self._publishing = self.storage.submit_local(
            "index publish", self._publish_if_due, timeout=self.timeout, lane=self.LANE
        )

    def _publish_if_due(self) -> int | None:
        return self._open().publish_if_due()  # type: ignore[no-any-return]

    def close(self, grace: float) -> None:
        if self._indexer is None:
            return
        call = self.storage.submit_local("index close", self._indexer.close, lane=self.LANE)
        if not call.wait(grace):
            log.warning("the index did not close within %.0f s", grace)


# --------------------------------------------------------------------------- archive
def run_archive(
    task: Task, storage: Storage, *, sizes: dict[tuple[str, str], int] | None = None
) -> Outcome:
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
        return _fail("archival copy missing or incomplete: " + "; ".join(missing))
    return Outcome("complete", outputs=archived, result={"archived": len(archived), "root": root})


# --------------------------------------------------------------------------- utilities
def run_cleanup(
    spool_root: Path, temp_dirs: list[Path], *, ttl: float, spool_tmp_ttl: float
) -> Outcome:
    """Remove entries older than ``ttl`` from each temp folder (never following symlinks)."""
    removed = 0
    now = time.time()
    for folder in temp_dirs:
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            continue
        for e in entries:
            try:
                st = e.stat(follow_symlinks=False)
                if now - st.st_mtime < ttl:
                    continue
                if e.is_dir(follow_symlinks=False):
                    shutil.rmtree(e.path)
                else:
                    os.unlink(e.path)
                removed += 1
            except FileNotFoundError:
                continue
    spool = Spool(spool_root, check=False)
    purged = len(spool.purge_tmp(spool_tmp_ttl))
    return Outcome("complete", result={"removed": removed, "spool_tmp_removed": purged})


def run_command(task: Task, command: list[str], roots: dict[str, Path], device: str) -> Outcome:
    from spoold.worker.runtime import Context, command_handler, new_scratch

    workdir = new_scratch(task.task_id)
    try:
        ctx = Context(device, roots, workdir, threading.Event(), threading.Event())
        res = command_handler(command)(task, ctx)
    except SpoolError as exc:
        return _fail(str(exc))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return Outcome("complete", res.outputs, res.result, children=list(res.children))


# --------------------------------------------------------------------------- the runner
@dataclass
class _Job:
    root: str | None  # whose threads run it (None: a lane of no storage root)
    what: str
    fn: Callable[[], Outcome]
    timeout: float
    lane: str = "(local)"
    batch: _Queued | None = None  # a finalize waiting for the index's batches (fn: its result)


@dataclass
class _Running:
    claim: Claim
    call: Call[Outcome]
    root: str | None
    last_beat: float
    finishing: Call[_Ending] | None = None  # complete/fail in progress (spool writes)
    batched: bool = False  # waits in the index's finalize queue, not in a server slot


@dataclass
class _Ending:
    """How a task ended, for the loop's counts and logs."""

    kind: Literal["complete", "rejected", "failed", "waiting", "lost"]
    message: str = ""
    root: str | None = None


@dataclass
class RunnerStats:
    started: int = 0
    completed: int = 0
    rejected: int = 0
    failed: int = 0
    waiting: int = 0
    by_type: dict[str, int] = field(default_factory=dict)


class ServerRunner:
    """Claims ``server`` tasks and runs them without ever blocking the daemon's loop.

    A task's file work runs in its storage root's threads; its completion (spool writes and
    fsyncs, follow-ups published first) in the ``(spool)`` lane, so the loop only claims,
    heartbeats and counts.  ``Claim.complete``/``fail`` from those threads touch only the
    claim's files and GIL-atomic bookkeeping of the shared :class:`Spool`.
    """

    SPOOL_LANE = "(spool)"

    def __init__(
        self,
        cfg: DaemonConfig,
        spool: Spool,
        storage: Storage,
        pipeline: Pipeline,
        *,
        find_paths: Callable[[str], list[FileRef]] = lambda vid: [],
        seen_video: Callable[[str, str], None] = lambda vid, task_id: None,
        index: IndexService | None = None,
        types: frozenset[str] | None = None,
    ) -> None:
        self.cfg = cfg
        self.spool = spool
        self.storage = storage
        self.pipeline = pipeline
        self.find_paths = find_paths
        self.seen_video = seen_video  # first-stage tasks published by others join the index
        self.index = index or IndexService(None, storage, dict(cfg.storage))
        storage.add_lane(self.SPOOL_LANE, cfg.daemon.io_threads)
        self.types = types  # run only these task types (others are released); None = all
        self.device = cfg.daemon.device
        self.running: dict[str, _Running] = {}
        self.waiting: dict[str, set[str]] = {}
        self.paused_until = -1e18
        self.stats = RunnerStats()

    def idle(self) -> bool:
        return not self.running

    # ---------------------------------------------------------------- loop
    def tick(self, now: float) -> None:
        beat = max(0.5, self.spool.lease / 3)
        for task_id, r in list(self.running.items()):
            if r.finishing is not None:
                if r.finishing.done():
                    del self.running[task_id]
                    try:
                        ending = r.finishing.result()
                    except Exception as exc:  # e.g. the spool's disk is full: the claim stays
                        ending = _Ending("lost", f"could not record the end of the task: {exc}")
                    self._account(r.claim.task, ending)
                continue
            if r.call.done():
                # Completing writes and fsyncs a few spool files: off the loop's thread.
                r.finishing = self.storage.submit_local(
                    f"finishing {task_id}",
                    self._conclude,
                    r,
                    timeout=self.cfg.daemon.probe_timeout_s,
                    lane=self.SPOOL_LANE,
                )
            elif r.call.overdue(now):
                del self.running[task_id]
                r.call.abandoned = True
                self.storage.check(now)
                why = f"{r.call.what} did not return in time (hung?)"
                self._account(r.claim.task, self._do_outage(r.claim, r.root or "(local)", why))
            elif now - r.last_beat >= beat:
                try:
                    r.claim.heartbeat()
                    r.last_beat = now
                except LeaseLost as exc:
                    log.warning("%s", exc)
                    r.call.abandoned = True
                    del self.running[task_id]
        self._claim_more(now)
        self.index.start_batch()

    def _claim_more(self, now: float) -> None:
        while now >= self.paused_until and self._room():
            claim = self.spool.claim("server", self.device)
            if claim is None:
                return
            if self.types is not None and claim.task.task_type not in self.types:
                claim.release()
                return
            self._start(claim, now)
            self.index.start_batch(full=True)

    def _room(self) -> bool:
        """Room for one more claim, whatever its type turns out to be: a free server slot, and
        room in the index's finalize queue (finalize tasks wait there for a batch, so that a
        backlog is indexed ``batch`` at a time rather than ``server_slots`` at a time)."""
        slots, queue_room = self.cfg.daemon.server_slots, self.index.queue_room
        working = [r for r in self.running.values() if r.finishing is None]
        batched = sum(r.batched for r in working)
        return (
            len(working) - batched < slots
            and (queue_room == 0 or batched < queue_room)
            and len(self.running) < 4 * slots + queue_room
        )

    def _start(self, claim: Claim, now: float) -> None:
        task = claim.task
        if task.task_type == self.pipeline.first_type and task.video_id:
            self.seen_video(task.video_id, task.task_id)
        try:
            job = self._job(task)
        except SpoolError as exc:
            self._account(task, self._do_fail(claim, str(exc)))
            return
        needs = {
            r.device for r in task.inputs if r.type is None or r.type in _READS[task.task_type]
        }
        if job.root is not None:
            needs.add(job.root)
        for name in sorted(needs):
            if name not in self.storage.roots:
                why = f"no storage root {name!r} on this host (configure [storage])"
                self._account(task, self._do_fail(claim, why))
                return
            if not self.storage.available(name):
                st = self.storage.status(name)
                self._account(task, self._do_outage(claim, name, f"{st.state}: {st.message}"))
                self.paused_until = now + self.cfg.daemon.outage_pause_s
                return
        try:
            if job.batch is not None:
                call = self.index.queue(job.batch, job.timeout)
            elif job.root is None:
                call = self.storage.submit_local(
                    job.what, job.fn, timeout=job.timeout, lane=job.lane
                )
            else:
                call = self.storage.submit(job.root, job.what, job.fn, timeout=job.timeout)
        except StorageUnavailable as exc:
            self._account(task, self._do_outage(claim, job.root or job.lane, str(exc)))
            return
        batched = job.batch is not None
        self.running[task.task_id] = _Running(claim, call, job.root, now, batched=batched)
        self.stats.started += 1

    def _job(self, task: Task) -> _Job:
        """Where and how a claimed task runs (raises SpoolError when it cannot run here)."""
        timeout = self.cfg.daemon.probe_timeout_s
        stage = self.pipeline.stage(task.task_type)
        kind = (stage.executor if stage else None) or task.task_type
        what = f"{task.task_type} of {task.task_id}"
        if stage is not None and stage.command:
            cmd, roots = list(stage.command), dict(self.cfg.storage)
            limit = float(stage.params.get("timeout_s", 3600))
            return _Job(None, what, lambda: run_command(task, cmd, roots, self.device), limit)
        if kind not in BUILTIN_EXECUTORS:
            raise SpoolError(
                f"{task.task_id}: no server executor for task type {task.task_type!r} "
                f"(built in: {', '.join(BUILTIN_EXECUTORS)}; or give its stage a command)"
            )
        if kind == "ingest":
            also: tuple[FileRef, ...] = ()
            if task.video_id and _tries(task, NOT_FOUND):
                also = tuple(self.find_paths(task.video_id))
            tries = self.cfg.ingest.missing_max_attempts
            root = task.inputs[0].device if task.inputs else None
            return _Job(
                root,
                what,
                lambda: run_ingest(task, self.storage, max_tries=tries, also=also),
                timeout,
            )
        if kind == "finalize":
            video, stages = self._video_meta(task), self._stages(task)
            if self.index.active:  # the index is single-threaded: batches in its own lane
                entry = _Queued(task, video, stages, what)
                return _Job(None, what, entry.result, timeout, IndexService.LANE, entry)
            meta_refs = [r for r in task.inputs if r.type in METADATA_MODELS]
            return _Job(
                meta_refs[0].device if meta_refs else None,
                what,
                lambda: run_finalize(task, self.storage, video=video, stages=stages),
                timeout,
            )
        if kind == "archive":
            video = self._video_meta(task)
            sizes = {(video.device, video.path): video.size} if video else {}
            root = str(task.params.get("root", "shed-nas"))
            if root not in self.storage.roots:
                raise PathOutsideRoot(f"{task.task_id}: archive root {root!r} is not configured")
            return _Job(root, what, lambda: run_archive(task, self.storage, sizes=sizes), timeout)
        if kind == "cleanup":
            m = self.cfg.maintenance
            dirs = []
            for item in m.temp_dirs:
                name, _, rel = item.partition(":")
                if self.storage.available(name):
                    dirs.append(self.cfg.storage[name] / rel)
            first = next((i.partition(":")[0] for i in m.temp_dirs), None)
            spool_root = self.spool.root
            return _Job(
                first if first is not None and self.storage.available(first) else None,
                what,
                lambda: run_cleanup(
                    spool_root, dirs, ttl=m.temp_ttl_s, spool_tmp_ttl=m.spool_tmp_ttl_s
                ),
                timeout,
            )
        lane = IndexService.LANE if self.index.active else "(local)"
        return _Job(None, what, self.index.maintain, timeout, lane=lane)

    def _video_meta(self, task: Task) -> VideoMeta | None:
        """The ingest task's result for this task's video (None if unknown or rejected)."""
        try:
            stamp, _, key = parse_task_id(task.task_id)
            ingest_id = make_task_id(stamp, self.pipeline.first_type, key.split(".")[0])
            loc = self.spool.locate(ingest_id, queues=())  # only a complete one will do
            if loc is None or loc.state != "complete":
                return None
            result = self.spool.read(loc.path).result
            return VideoMeta.model_validate(result) if result and "rejected" not in result else None
        except (ValueError, InvalidTaskFile, OSError):
            return None

    def _stages(self, task: Task) -> list[StageStatus]:
        """Where each stage's task of this video is (the loop's thread: one queue listing)."""
        stamp, _, key = parse_task_id(task.task_id)
        try:
            queues = self.spool.queues()
        except OSError:
            queues = []
        out = []
        for name in self.pipeline.stages:
            tid = make_task_id(stamp, name, key)
            if tid == task.task_id:  # this very task, claimed by us
                out.append(
                    StageStatus(stage=name, state="running", task_id=tid, device=self.device)
                )
                continue
            try:
                loc = self.spool.locate(tid, queues=queues)
            except (ValueError, OSError):
                loc = None
            if loc is None:
                out.append(
                    StageStatus(
                        stage=name, state="pending" if name != task.task_type else "running"
                    )
                )
                continue
            state = "complete" if loc.state == "complete" else "pending"
            if loc.where == "claimed":
                state = "running"
            out.append(
                StageStatus(
                    stage=name,
                    state=state,  # type: ignore[arg-type]
                    task_id=tid,
                    device=loc.claim.device if loc.claim else None,
                )
            )
        return out

    # ---------------------------------------------------------------- endings
    def _conclude(self, r: _Running) -> _Ending:
        """Complete or fail the claim from the executor's outcome (a spool-lane thread)."""
        claim = r.claim
        try:
            out = r.call.result()
        except StorageUnavailable as exc:
            return self._do_outage(claim, r.root or "(local)", str(exc))
        except PathOutsideRoot as exc:
            return self._do_fail(claim, str(exc))
        except Exception as exc:  # an executor's failure is the task's failure
            return self._do_fail(claim, f"{type(exc).__name__}: {exc}")
        if out.kind == "fail":
            return self._do_fail(claim, out.error)
        record = claim.task.model_copy(update={"outputs": out.outputs, "result": out.result})
        children = [*out.children, *self.pipeline.followups(record)]
        try:
            claim.complete(out.outputs, children, out.result)
        except LeaseLost as exc:
            return _Ending("lost", str(exc))
        if out.result and out.result.get("rejected"):
            res = out.result
            return _Ending(
                "rejected", f"rejected {res.get('device')}:{res.get('path')}: {res.get('reason')}"
            )
        return _Ending("complete")

    @staticmethod
    def _do_fail(claim: Claim, error: str) -> _Ending:
        try:
            claim.fail(error)
        except LeaseLost as exc:
            return _Ending("lost", str(exc))
        return _Ending("failed", error)

    @staticmethod
    def _do_outage(claim: Claim, root: str, why: str) -> _Ending:
        try:
            claim.fail(f"{WAITING} {root} ({why}) — retried when it is back")
        except LeaseLost as exc:
            return _Ending("lost", str(exc))
        return _Ending("waiting", why, root=root)

    def _account(self, task: Task, end: _Ending) -> None:
        """Counts, logs and the waiting list (the loop's thread)."""
        tid, t = task.task_id, task.task_type
        if end.kind in ("complete", "rejected"):
            self.stats.completed += 1
            self.stats.by_type[t] = self.stats.by_type.get(t, 0) + 1
        if end.kind == "complete":
            log.info(
                "%s: complete", tid, extra={"event": "task.complete", "task_id": tid, "type": t}
            )
        elif end.kind == "rejected":
            self.stats.rejected += 1
            log.warning(
                "%s: %s", tid, end.message, extra={"event": "task.rejected", "task_id": tid}
            )
        elif end.kind == "failed":
            self.stats.failed += 1
            first = end.message.splitlines()[0] if end.message else ""
            log.warning(
                "%s: failed: %s", tid, first, extra={"event": "task.failed", "task_id": tid}
            )
        elif end.kind == "waiting":
            assert end.root is not None
            self.waiting.setdefault(end.root, set()).add(tid)
            self.stats.waiting += 1
            log.info(
                "%s: waiting for storage %s",
                tid,
                end.root,
                extra={"event": "task.waiting", "task_id": tid, "root": end.root},
            )
        else:
            log.warning("%s", end.message, extra={"event": "task.lost", "task_id": tid})

    def root_up(self, root: str) -> int:
        """Put the tasks that waited for ``root`` back in the queue now."""
        n = 0
        for task_id in sorted(self.waiting.pop(root, set())):
            try:
                loc = self.spool.locate(task_id)
                if loc is not None and loc.where == "deferred":
                    self.spool.requeue(task_id, operator=self.device)
                    n += 1
            except (SpoolError, OSError) as exc:
                log.debug("%s: not requeued: %s", task_id, exc)
        self.paused_until = -1e18
        return n

    def shutdown(self, grace: float) -> None:
        """Let running tasks finish for ``grace`` seconds; give the others back untouched."""
        deadline = time.monotonic() + grace
        for task_id, r in list(self.running.items()):
            left = max(0.0, deadline - time.monotonic())
            if r.finishing is not None:
                if r.finishing.wait(left):
                    try:
                        self._account(r.claim.task, r.finishing.result())
                    except Exception as exc:
                        log.warning("%s: %s", task_id, exc)
            elif r.call.wait(left):
                self._account(r.claim.task, self._conclude(r))
            else:
                r.call.abandoned = True
                try:
                    r.claim.release()
                    log.info("%s: released (daemon stopping)", task_id)
                except (SpoolError, OSError) as exc:
                    log.warning("%s: could not release: %s", task_id, exc)
            del self.running[task_id]


# Which input types a task reads (their roots must be there): None = any input.
class _Reads(dict[str, tuple[str, ...]]):
    def __missing__(self, key: str) -> tuple[str, ...]:
        return ("video", *METADATA_MODELS)


_READS = _Reads(
    ingest=("video",),
    finalize=tuple(METADATA_MODELS),
    archive=(),
    cleanup=(),
    index=(),
)
