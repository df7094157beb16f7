"""The spool protocol: publish, claim, heartbeat, complete, fail, release, reap.

Public API: :class:`Spool` (``init``, ``publish``, ``new_task``, ``child_task``, ``claim``,
``locate``, ``read``, ``requeue``, ``reap``, ``server_now``) and :class:`Claim`
(``heartbeat``, ``complete``, ``fail``, ``release``).

This package is the only code that renames, writes or removes spool files.  Every rule here is
written down, with its reason, in ``spool_layout.md``; the short version:

- A task file appears by write-in-``tmp/`` + fsync + rename + directory fsync, so readers see
  a whole file or none.  Ids are deterministic, so publishing twice is a no-op.
- A claim is one rename of ``pending/Q/ID.json`` to ``pending/Q/claimed/ID@DEVICE@TOKEN.json``.
  The token is unique to this claim, so the claimant can tell that it won even when NFS
  reports a false ENOENT, and it confirms by reading the file under its new name (SMB can tell
  two racing renamers that both succeeded).  The claim's mtime is its lease, set and refreshed
  in *server* time; ``max(mtime, ctime)`` older than the lease means the holder is gone.
- Completion publishes children first, re-proves the lease (a heartbeat that fails means the
  claim was broken: :class:`~spoold.errors.LeaseLost`, nothing written), then lands the
  completed record in ``complete/DAY/`` and removes the claim.
- Every step that rewrites a pending record holds a claim while it does, so a crash leaves a
  stale claim next to the new copy; whoever breaks a stale claim drops it when a newer copy
  exists, and otherwise records the lost attempt and puts the task back.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import random
import secrets
import socket
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from schemas.task import (
    Attempt,
    AttemptKind,
    ChildSpec,
    FileRef,
    Task,
    child_task_id,
    describe_error,
    format_stamp,
    make_task_id,
    parse_task_id,
)
from spoold.errors import InvalidTaskFile, LeaseLost, NotASpool, SpoolError, TaskNotFound
from spoold.spool import fsops
from spoold.spool.layout import (
    CLAIMED,
    DAY_RE,
    DEFERRED,
    TASK_FILE_RE,
    ClaimName,
    Layout,
    queue_name,
    split_queue,
    task_file_name,
)

log = logging.getLogger(__name__)

#: Task files larger than this are refused unread (a task is a few hundred bytes).
MAX_TASK_BYTES = 1 << 20
LAYOUT_VERSION = 1

TaskState = Literal["ready", "deferred", "claimed"]
#: Every state of a pending task, for :meth:`Spool.task_ids`.
PENDING_STATES: tuple[TaskState, ...] = ("ready", "deferred", "claimed")


_pid = os.getpid()


def _refresh_pid() -> None:
    global _pid
    _pid = os.getpid()


# This process's id, kept current across fork(): getpid() is a system call, and the claim path
# needs the pid several times per task (claim tokens, spare names, the forked-child checks).
if hasattr(os, "register_at_fork"):  # POSIX; elsewhere there is no fork to follow
    os.register_at_fork(after_in_child=_refresh_pid)


def _epoch_to_dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, timezone.utc)


def parse_task_bytes(data: bytes, display: str) -> Task:
    """Parse a task file's bytes; :class:`InvalidTaskFile` names the file, line and reason."""
    try:
        # Fast path (every claim reads its task): pydantic parses the bytes itself.  Any
        # failure takes the slow path, which says where and why.
        return Task.model_validate_json(data)
    except (ValidationError, ValueError, RecursionError):
        pass
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidTaskFile(display, f"not UTF-8 text (byte {exc.start})") from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidTaskFile(display, exc.msg.lower(), line=exc.lineno) from None
    except RecursionError:
        raise InvalidTaskFile(display, "JSON nested too deeply") from None
    if not isinstance(obj, dict):
        raise InvalidTaskFile(display, f"expected a JSON object, found {type(obj).__name__}")
    try:
        return Task.model_validate(obj)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "task"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise InvalidTaskFile(display, f"{where}: {describe_error(err)}{more}") from None
    except RecursionError:
        raise InvalidTaskFile(display, "JSON nested too deeply") from None


@dataclass(frozen=True)
class Location:
    """Where a task is: ``state`` is ``pending`` or ``complete``; ``where`` says more."""

    task_id: str
    state: str
    where: str  # ready | deferred | claimed | complete
    queue: str | None
    path: Path
    claim: ClaimName | None = None


@dataclass(frozen=True)
class Published:
    task_id: str
    created: bool
    location: Location


#: A claim candidate: (queue, file name, path, from deferred/).  A tuple of strs, not
#: objects: one is built per claim attempt, and under contention most attempts lose.
_Candidate = tuple[str, str, str, bool]


@dataclass
class _QueueView:
    """One worker's cached, sorted view of a queue folder (see "Listing cost" in the docs)."""

    ready: list[str] = field(default_factory=list)
    pos: int = 0
    deferred: dict[str, float] = field(default_factory=dict)  # name -> not_before (epoch)
    listed_at: float = -1e18
    signature: int = 0
    rung_at: float = -1e18  # when the doorbell (the folder's mtime) was last looked at
    misses: int = 0  # cached names found taken by others since the last listing
    reaped_at: float = -1e18
    reaped_sig: int = 0
    claims_seen: bool = False


class Spool:
    """A spool directory.  Cheap to create; keep one per process (it caches listings).

    ``fsync``: make publishes durable (file + directory) and completion/failure records
    crash-safe (file).  Turning it off keeps every guarantee against process crashes and
    loses only power-loss durability.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        fsync: bool = True,
        lease: float | None = None,
        relist_interval: float = 5.0,
        backoff_base: float = 10.0,
        backoff_max: float = 3600.0,
        free_retries: int = 1,
        check: bool = True,
    ) -> None:
        self.layout = Layout(Path(root))
        self.root = self.layout.root
        self.fsync = fsync
        self.lease = 60.0
        self.relist_interval = relist_interval
        #: Backstop re-list of an unchanged-looking queue, for shares with coarse mtimes.
        self.idle_relist = max(600.0, relist_interval)
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.free_retries = free_retries
        self._views: dict[str, _QueueView] = {}
        self._claim_queues: dict[tuple[str, str], list[str]] = {}
        self._window = 1  # how many of the oldest names to pick from (grows when racing)
        self._calm = 0  # claims won at the first try since the window last changed
        self._rng = random.Random(secrets.randbits(64))
        self._rng_pid = os.getpid()
        self._qdirs: dict[str, Path] = {}
        self._held: set[str] = set()
        self._bad: dict[str, tuple[int, int, int]] = {}
        self._denied: dict[str, float] = {}
        self._clock: tuple[float, float] | None = None
        #: Seconds added to server time: lets tests and simulations move time forward
        #: (a file's ctime cannot be set back, so aging files is not an option).
        self.clock_offset = 0.0
        self._last_reap: dict[str, float] = {}
        self._host = short_hostname()
        self._seq = 0
        #: Finished claim files kept as temp files to rewrite (see :meth:`_recycle`), and
        #: the pid they belong to (a forked child must not share its parent's).
        self._spares: list[str] = []
        self._qdir_strs: dict[str, str] = {}
        self._tmp_str = str(self.layout.tmp)
        self._spares_pid = os.getpid()
        if check:
            try:
                marker = json.loads(self.layout.marker.read_bytes())
                self.lease = float(marker.get("lease_s", self.lease))
            except FileNotFoundError:
                raise NotASpool(
                    f"{self.root}: not a spool ({self.layout.marker.name} missing) — run `spoold "
                    f"init {self.root}`, or mount the share if this is a network spool"
                ) from None
            except (ValueError, AttributeError, OSError) as exc:
                raise NotASpool(f"{self.layout.marker}: unreadable spool marker: {exc}") from None
        if lease is not None:
            self.lease = lease

    # ------------------------------------------------------------------ set-up
    @classmethod
    def init(
        cls, root: str | os.PathLike[str], *, default_lease: float = 60.0, **kwargs: Any
    ) -> Spool:
        """Create the spool layout (idempotent).  The marker file is written last.

        ``default_lease``: seconds without heartbeat after which a claim counts as abandoned,
        for devices that do not state their own (stored in the marker file).
        """
        layout = Layout(Path(root))
        for d in (layout.root, layout.tmp, layout.pending, layout.complete):
            d.mkdir(parents=d is layout.root, exist_ok=True)
        if not layout.marker.exists():
            marker = json.dumps(
                {"spoold_layout": LAYOUT_VERSION, "lease_s": default_lease}
            ).encode()
            marker += b"\n"
            tmp = layout.tmp / f"marker.{os.getpid()}.tmp"
            fsops.write_new(tmp, marker, fsync=True)
            fsops.rename(tmp, layout.marker)
            fsops.fsync_dir(layout.root)
        return cls(root, **kwargs)

    # ------------------------------------------------------------------ clock
    def server_now(self) -> float:
        """Now, in the clock of the server holding the spool (epoch seconds).

        Learned from the mtime the server gives a file we write, then carried forward with
        this host's monotonic clock, so a device whose wall clock is wrong still judges leases
        correctly.  Re-learned every 5 minutes (monotonic clocks drift by parts per million).
        """
        mono = time.monotonic()
        if self._clock is None or mono - self._clock[1] > 300.0:
            probe = self.layout.tmp / f"clock.{self._host}.{os.getpid()}"
            try:
                fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                try:
                    os.write(fd, b"clock\n")
                finally:
                    os.close(fd)
                mtime = os.stat(probe).st_mtime
            except OSError as exc:
                self._check_mounted()
                _discard(probe)
                if self._clock is None:
                    raise SpoolError(
                        f"cannot learn the server's time: writing {self.layout.rel(probe)} "
                        f"failed: {exc.strerror or exc}"
                    ) from exc
                # Full or refusing writes: carry the clock we have forward and try later.
                log.warning("%s: %s; keeping the server time learned before", probe, exc)
                mtime = self._clock[0] + (mono - self._clock[1])
            self._clock = (mtime, time.monotonic())
        return self._clock[0] + (mono - self._clock[1]) + self.clock_offset

    def _check_mounted(self) -> None:
        """:class:`NotASpool` when the marker is gone: the share was unmounted under us, and
        the bare mount point must not be written to (spool_layout.md §1)."""
        if not fsops.exists(self.layout.marker):
            raise NotASpool(
                f"{self.root}: not a spool any more ({self.layout.marker.name} is gone): "
                "is the share still mounted? Nothing is written there until it is back"
            )

    def now_dt(self) -> datetime:
        return _epoch_to_dt(self.server_now())

    def close(self) -> None:
        """Remove this process's clock probe and spare temp files (optional: ``check --repair``
        cleans leftovers)."""
        fsops.unlink(self.layout.tmp / f"clock.{self._host}.{os.getpid()}")
        self._drop_spares()

    # ------------------------------------------------------------------ building tasks
    def new_task(
        self,
        task_type: str,
        device_class: str,
        key: str,
        *,
        device: str | None = None,
        video_id: str | None = None,
        inputs: Sequence[FileRef] = (),
        params: dict[str, Any] | None = None,
        not_before: datetime | None = None,
        stamp: datetime | str | None = None,
    ) -> Task:
        """A new root task stamped now (server time); publish it with :meth:`publish`."""
        now = self.now_dt()
        return Task(
            task_id=make_task_id(stamp or now, task_type, key),
            task_type=task_type,
            video_id=video_id,
            device_class=device_class,
            device=device,
            inputs=list(inputs),
            params=params or {},
            created_at=now,
            not_before=not_before,
        )

    def child_task(self, parent: Task, spec: ChildSpec) -> Task:
        """The child ``spec`` of ``parent``, with its deterministic id."""
        return Task(
            task_id=child_task_id(parent.task_id, spec.task_type, spec.suffix),
            task_type=spec.task_type,
            video_id=parent.video_id,
            device_class=spec.device_class,
            device=spec.device,
            inputs=list(spec.inputs),
            params=dict(spec.params),
            created_at=self.now_dt(),
            parent_task_id=parent.task_id,
        )

    # ------------------------------------------------------------------ publish
    def publish(self, task: Task) -> Published:
        """Make ``task`` pending, unless a task with its id exists (pending or complete).

        Visible atomically; durable on return when ``fsync`` is on (file and folder fsynced).
        """
        queue = queue_name(task.device_class, task.device)
        found = self.locate(task.task_id, queues=[queue])
        if found is not None:
            return Published(task.task_id, False, found)
        defer = task.not_before is not None and task.not_before.timestamp() > self.server_now()
        dest = (
            self.layout.deferred(queue, task.task_id)
            if defer
            else self.layout.ready(queue, task.task_id)
        )
        self._ensure_queue(queue)
        # RACE: two publishers of one id both land the same content; the later rename wins.
        self._land(task.to_json(), dest, durable_dir=True)
        if defer:
            self._ring(queue)
        where = "deferred" if defer else "ready"
        return Published(task.task_id, True, Location(task.task_id, "pending", where, queue, dest))

    def _ensure_queue(self, queue: str) -> None:
        q = self.layout.queue(queue)
        if not (q / CLAIMED).is_dir():
            try:
                for d in (q, q / CLAIMED, q / DEFERRED):
                    d.mkdir(exist_ok=True)
            except FileNotFoundError:  # no pending/: the share is not mounted (or not a spool)
                self._check_mounted()
                raise

    def _ring(self, queue: str) -> None:
        """Bump the queue folder's mtime: idle workers stat only that folder, so a task that
        lands in ``deferred/`` (which does not change it) must ring this doorbell."""
        try:
            os.utime(self.layout.queue(queue))
        except OSError as exc:  # a missed doorbell only delays; the periodic re-list covers it
            log.debug("could not ring %s: %s", queue, exc)

    def _land(self, data: bytes, dest: str | Path, *, durable_dir: bool) -> None:
        """Write ``data`` to ``dest`` atomically (temp file in tmp/, then rename).

        The temp file is a spare inode when one is at hand (:meth:`_recycle`), else a new one.
        If the write fails (disk full, quota, I/O or permission error) the temp file is
        removed and :class:`SpoolError` names ``dest``; nothing else has changed.
        """
        tmp: str | Path | None = self._take_spare()
        if tmp is not None:
            try:
                fsops.write_over(tmp, data, fsync=self.fsync)
            except OSError:  # purged by someone, or refused: start over with a new file
                _discard(tmp)
                tmp = None
        try:
            if tmp is None:
                self._seq += 1
                name = (
                    f"{os.path.basename(dest)}.{os.getpid()}-{self._seq}-{secrets.token_hex(3)}.tmp"
                )
                tmp = self.layout.tmp / name
                fsops.write_new(tmp, data, fsync=self.fsync)
            self._rename_into(tmp, dest)
        except OSError as exc:
            if tmp is not None:
                _discard(tmp)
            self._check_mounted()
            code = errno.errorcode.get(exc.errno or 0)
            raise SpoolError(
                f"cannot write {self.layout.rel(Path(dest))}: {exc.strerror or exc}"
                + (f" ({code})" if code else "")
                + " — nothing was changed (its temp file is removed)"
            ) from exc
        if self.fsync and durable_dir:
            fsops.fsync_dir(Path(dest).parent)

    def _rename_into(self, tmp: str | Path, dest: str | Path) -> None:
        """Rename our own temp file to ``dest``, creating ``dest``'s folder if it is missing
        (only that last folder, complete/DAY/: never ``mkdir -p`` into a bare mount point)."""
        for _ in range(3):
            try:
                if fsops.rename(tmp, dest):
                    return
            except FileNotFoundError:  # the folder is missing
                try:
                    os.mkdir(os.path.dirname(dest))
                except FileExistsError:
                    pass
                continue
            # fsops reads a missing source as a lost race; our temp file has no rivals, so it
            # is there unless someone removed it: the folder appeared between the rename and
            # fsops' look (another process making complete/DAY/ at the same moment).
            if not fsops.exists(tmp):
                break
        raise SpoolError(f"{self.layout.rel(Path(tmp))} vanished before it could be renamed")

    def _own_spares(self) -> list[str]:
        """This process's spares (a forked child starts with none: those are the parent's)."""
        if self._spares_pid != _pid:
            self._spares, self._spares_pid = [], _pid
        return self._spares

    def _take_spare(self) -> str | None:
        try:
            return self._own_spares().pop()  # atomic: threads never share a spare
        except IndexError:
            return None

    def _drop_spares(self) -> None:
        while (spare := self._take_spare()) is not None:
            try:
                fsops.unlink(spare)
            except OSError as exc:  # best effort: check --repair removes it after an hour
                log.debug("could not remove %s: %s", spare, exc)

    def _recycle(self, claim_file: str) -> None:
        """Dispose of a finished claim file, whose task now lives elsewhere.

        Instead of unlinking it, rename it to ``tmp/HOST.PID.SEQ.spare`` and rewrite it as
        the next temp file: creating an inode costs 10-100x a rename on common filesystems,
        and a worker finishes one claim per new file it lands.  Path-based and exclusive
        like every other step: if a breaker renamed the claim away, ours fails and the
        breaker's copy is untouched.
        """
        spares = self._own_spares()
        if len(spares) >= 2:
            fsops.unlink(claim_file)
            return
        self._seq += 1
        spare = f"{self._tmp_str}/{self._host}.{_pid}.{self._seq}.spare"
        try:
            if fsops.rename(claim_file, spare):
                spares.append(spare)
        except OSError:
            fsops.unlink(claim_file)

    # ------------------------------------------------------------------ lookup
    def queues(self) -> list[str]:
        try:
            names = os.listdir(self.layout.pending)
        except FileNotFoundError:
            raise NotASpool(f"{self.layout.pending} is missing: is the share mounted?") from None
        return sorted(n for n in names if split_queue(n) and (self.layout.pending / n).is_dir())

    # ------------------------------------------------------------------ read verbs
    # Everyone outside this package asks these instead of listing and parsing folders, so the
    # names (and how old names are read) stay this package's business.
    def task_ids(
        self,
        queue: str,
        states: Iterable[TaskState] = PENDING_STATES,
        *,
        task_type: str | None = None,
    ) -> set[str]:
        """Ids of the tasks of one queue in ``states``, from file names only (no content read).

        A missing queue has none.  ``task_type`` keeps only ids of that type.
        """
        marker = f"-{task_type}-" if task_type else ""
        out: set[str] = set()
        for state in states:
            folder = {
                "ready": self.layout.queue,
                "deferred": self.layout.deferred_dir,
                "claimed": self.layout.claimed_dir,
            }[state](queue)
            for name in fsops.listdir(folder):
                if marker not in name:
                    continue
                tid = _id_of_name(name, claimed=state == "claimed")
                if tid is not None and (task_type is None or parse_task_id(tid)[1] == task_type):
                    out.add(tid)
        return out

    def complete_days(self) -> list[str]:
        """The day folders of ``complete/`` (``YYYY-MM-DD``), oldest first."""
        return sorted(d for d in fsops.listdir(self.layout.complete) if DAY_RE.match(d))

    def completed_ids(self, day: str, *, task_type: str | None = None) -> set[str]:
        """Ids of the tasks completed on ``day`` (file names only)."""
        marker = f"-{task_type}-" if task_type else ""
        out: set[str] = set()
        for name in fsops.listdir(self.layout.complete / day):
            m = TASK_FILE_RE.match(name) if marker in name else None
            if m and (task_type is None or parse_task_id(m["id"])[1] == task_type):
                out.add(m["id"])
        return out

    def day_version(self, day: str) -> int | None:
        """A number that changes whenever a task lands in or leaves ``complete/DAY/`` (its
        folder's mtime in ns), or None when the day folder is gone."""
        try:
            return os.stat(self.layout.complete / day).st_mtime_ns
        except OSError:
            return None

    def locate(self, task_id: str, *, queues: Iterable[str] | None = None) -> Location | None:
        """Where ``task_id`` is: complete first, then ready, deferred, claimed.

        A task can leave its claim while we look: complete() and fail() land the new copy
        (complete, ready or deferred) *before* removing the claim, so a look that found the
        claim already gone looked at the new place too early.  A miss is therefore confirmed
        by looking at those places once more; only a new id pays for it (three lookups).
        """
        parse_task_id(task_id)
        qs = self.queues() if queues is None else list(queues)
        found = self._locate_once(task_id, qs, claims=True)
        return found if found is not None else self._locate_once(task_id, qs, claims=False)

    def _locate_once(self, task_id: str, queues: list[str], *, claims: bool) -> Location | None:
        done = self.layout.completed(task_id)
        if fsops.exists(done):
            return Location(task_id, "complete", "complete", None, done)
        for queue in queues:
            for where, path in (
                ("ready", self.layout.ready(queue, task_id)),
                ("deferred", self.layout.deferred(queue, task_id)),
            ):
                if fsops.exists(path):
                    return Location(task_id, "pending", where, queue, path)
            for cn in self._claims_of(queue, task_id) if claims else ():
                return Location(
                    task_id, "pending", "claimed", queue, self.layout.claimed(queue, cn), cn
                )
        return None

    def _claims_of(self, queue: str, task_id: str) -> list[ClaimName]:
        prefix = task_id + "@"
        try:
            names = os.listdir(self.layout.claimed_dir(queue))
        except FileNotFoundError:
            return []
        found = [ClaimName.parse(n) for n in names if n.startswith(prefix)]
        return [c for c in found if c is not None]

    def read(self, path: str | Path) -> Task:
        """Read and validate one task file (:class:`InvalidTaskFile` if it is not one)."""
        try:
            data = fsops.read_bytes(path, MAX_TASK_BYTES)
        except fsops.TooLarge as exc:
            raise InvalidTaskFile(
                self.layout.rel(Path(path)),
                f"{exc.size} bytes; a task file is at most {MAX_TASK_BYTES} bytes",
            ) from None
        except fsops.NotRegular as exc:
            raise InvalidTaskFile(self.layout.rel(Path(path)), f"is {exc.what}") from None
        try:
            return parse_task_bytes(data, "")
        except InvalidTaskFile as exc:  # name the file only when there is something to say
            raise InvalidTaskFile(self.layout.rel(Path(path)), exc.reason, exc.line) from None

    def get(self, task_id: str) -> tuple[Location, Task]:
        loc = self.locate(task_id)
        if loc is None:
            raise TaskNotFound(f"no task {task_id} in pending/ or complete/")
        return loc, self.read(loc.path)

    # ------------------------------------------------------------------ claim
    def claim(self, device_class: str, device: str) -> Claim | None:
        """Take the oldest eligible task for ``device`` of ``device_class``, or None.

        Eligible: in ``pending/CLASS/`` or ``pending/CLASS@DEVICE/``, and its ``not_before``
        passed.  Stale claims are broken (see :meth:`reap`) on the first call, so a restarted
        device re-takes its own at once, and later only while there is nothing else to
        claim: busy devices leave reaping to idle ones and to the daemon, which keeps the
        cost of a big fleet's reaping off the NAS.
        """
        queues = self._claim_queues.get((device_class, device))
        if queues is None:
            queues = [device_class, queue_name(device_class, device)]
            self._claim_queues[device_class, device] = queues
            for q in queues:
                if q not in self._views:
                    self._maybe_reap(q, device)
        for attempt in range(100_000):
            cand = self._next_candidate(queues)
            if cand is None:
                if not any(self._maybe_reap(q, device) for q in queues):
                    self._check_mounted()  # an unmounted share is not an empty queue
                    self._drop_spares()  # idle: an old spare would look like a crash leftover
                    return None
                continue  # put-back tasks are claimable now
            claim = self._try_claim(cand, device)
            if claim is not None:
                # Narrow the window again only after a run of uncontested claims: halving
                # it on every success makes racing workers collide every other claim.
                if attempt:
                    self._calm = 0
                elif self._window > 1:
                    self._calm += 1
                    if self._calm >= 8:
                        self._window >>= 1
                        self._calm = 0
                return claim
        return None  # pragma: no cover

    def _maybe_reap(self, queue: str, device: str) -> int:
        """Reap ``queue`` at most every ``min(lease/3, 10)`` s, and only when claims may
        exist there: claims were seen last time, or the queue changed (claims come from it).
        Returns how many tasks were put back."""
        view = self._views.get(queue) or self._views.setdefault(queue, _QueueView())
        mono = time.monotonic()
        first = view.reaped_at < -1e17
        if not first and mono - view.reaped_at <= min(self.lease / 3, 10.0):
            return 0
        if not first and not view.claims_seen and view.reaped_sig == view.signature:
            return 0
        view.reaped_at = mono
        view.reaped_sig = view.signature
        n = self.reap(queue, device)
        try:
            view.claims_seen = any(True for _ in os.scandir(self.layout.claimed_dir(queue)))
        except FileNotFoundError:
            view.claims_seen = False
        if n:
            view.listed_at = -1e18  # re-list: the put-back tasks are in the folder now
        return n

    def _view(self, queue: str, *, lazy: bool = False) -> _QueueView:
        """``queue``'s cached listing, refreshed as needed.  ``lazy``: while some other queue
        has work, ring an empty queue's doorbell only every ``relist_interval`` (a stat per
        claim is a round trip per claim on a share; ordering across queues is best effort)."""
        view = self._views.get(queue) or self._views.setdefault(queue, _QueueView())
        mono = time.monotonic()
        exhausted = view.pos >= len(view.ready)
        if exhausted and lazy and mono - view.rung_at < self.relist_interval:
            return view
        view.rung_at = mono
        # Under contention many cached names were taken by others since the listing, and
        # skipping each costs an lstat.  Once there were as many of those as names are left,
        # list again: on local disk a name listed costs a fraction of an lstat (re-listing
        # sooner measured slower), on a share an lstat is a round trip and a listing returns
        # many names per round trip.
        fresh = view.misses < len(view.ready) - view.pos
        if not exhausted and fresh and mono - view.listed_at < self.relist_interval:
            return view
        qdir = self._qdir(queue)
        try:
            sig = os.stat(qdir).st_mtime_ns
        except FileNotFoundError:
            view.ready, view.pos, view.deferred, view.signature = [], 0, {}, 0
            return view
        # The folder's mtime is the doorbell: unchanged means nothing arrived or left (a
        # task landing in deferred/ rings it too, see _ring).  A full re-list now and then
        # still covers shares with coarse or cached mtimes.
        if (
            exhausted
            and sig == view.signature
            and mono - view.listed_at < self.idle_relist
            and not self._bad_edited(queue)
        ):
            return view
        view.signature = sig
        view.listed_at = mono
        view.misses = 0
        names = [
            e.name
            for e in os.scandir(qdir)
            if TASK_FILE_RE.match(e.name) and e.is_file(follow_symlinks=False)
        ]
        names.sort()
        if self._bad:  # skip files known not to parse (a dict lookup, not a Path, per name)
            prefix = str(qdir) + os.sep
            names = [n for n in names if prefix + n not in self._bad or not self._is_bad(qdir / n)]
        view.ready = names
        view.pos = 0
        view.deferred = self._scan_deferred(queue, view.deferred)
        return view

    def _scan_deferred(self, queue: str, old: dict[str, float]) -> dict[str, float]:
        out: dict[str, float] = {}
        ddir = self.layout.deferred_dir(queue)
        try:
            entries = list(os.scandir(ddir))
        except FileNotFoundError:  # a queue folder made by hand with mkdir
            return out
        for e in entries:
            if not (TASK_FILE_RE.match(e.name) and e.is_file(follow_symlinks=False)):
                continue
            path = ddir / e.name
            if self._is_bad(path):
                continue
            try:
                task = self.read(path)
            except InvalidTaskFile as exc:
                self._mark_bad(path, exc)
                continue
            except PermissionError as exc:
                reason = f"cannot read it: {exc.strerror} (running as uid {os.geteuid()})"
                self._mark_bad(path, InvalidTaskFile(self.layout.rel(path), reason))
                continue
            except OSError:
                continue
            out[e.name] = task.not_before.timestamp() if task.not_before else 0.0
        return out

    def _bad_edited(self, queue: str) -> bool:
        """Whether a file of ``queue`` skipped as unreadable was edited since: saving it in
        place, or inside deferred/, does not ring the doorbell (one lstat per such file)."""
        prefix = str(self.layout.queue(queue)) + os.sep
        return any(not self._is_bad(Path(p)) for p in list(self._bad) if p.startswith(prefix))

    def _is_bad(self, path: Path) -> bool:
        sig = self._bad.get(str(path))
        if sig is None:
            return False
        try:
            st = os.lstat(path)
        except OSError:
            self._bad.pop(str(path), None)
            return False
        if (st.st_mtime_ns, st.st_size, st.st_mode) == sig:
            return True
        del self._bad[str(path)]  # edited since: try it again
        return False

    def _mark_bad(self, path: Path, exc: InvalidTaskFile) -> None:
        try:
            st = os.lstat(path)
        except OSError:
            return
        if str(path) not in self._bad:
            log.error("%s", exc)
        self._bad[str(path)] = (st.st_mtime_ns, st.st_size, st.st_mode)

    def _report_denied(self, path: Path, what: str) -> None:
        """Log a permission problem with ``path`` (at most every 5 minutes per file)."""
        mono = time.monotonic()
        if mono - self._denied.get(str(path), -1e18) > 300.0:
            self._denied[str(path)] = mono
            log.error(
                "%s: %s (running as uid %d) — file left in place; fix the permissions",
                self.layout.rel(path),
                what,
                os.geteuid(),
            )

    def _next_candidate(self, queues: list[str]) -> _Candidate | None:
        """The next name to try: the oldest of the heads of ``queues`` (their ready names
        and due deferred ones), or under contention a random one of the oldest few.

        Runs once per claim attempt.  Under contention most cached names were taken by
        others since our listing: those are skipped here for the price of an ``lstat``
        each, and the common case (one queue with names, nothing deferred) stays lean.
        """
        views = self._views
        lazy = len(queues) > 1  # first look: leave empty queues be if they were looked at lately
        for _ in range(1_000_000):  # each round takes a name off a listing or re-lists
            window = self._window
            source: str | None = None  # the only queue with heads, while there is one
            heads: list[tuple[str, str, bool]] | None = None  # (name, queue, deferred)
            for q in queues:
                view = self._view(q, lazy=lazy)
                if view.pos < len(view.ready):
                    if source is None and heads is None:
                        source = q
                    else:
                        heads = heads if heads is not None else self._heads(source, window)
                        source = None
                        heads.extend(
                            (n, q, False) for n in view.ready[view.pos : view.pos + window]
                        )
                if view.deferred:
                    now = self.server_now()
                    due = sorted(n for n, nb in view.deferred.items() if nb <= now)[:window]
                    if due:
                        heads = heads if heads is not None else self._heads(source, window)
                        source = None
                        heads.extend((n, q, True) for n in due)
            if source is not None:  # one queue, ready names only: no tuples, no sort
                view = views[source]
                ready, pos = view.ready, view.pos
                qdir = self._qdir_str(source)
                if window == 1:  # a lone worker takes strictly the oldest
                    view.pos = pos + 1
                    return source, ready[pos], f"{qdir}/{ready[pos]}", False
                rand, end = self._random().random, len(ready)
                while pos < end:
                    i = pos + int(rand() * min(window, end - pos))
                    if i != pos:
                        ready[pos], ready[i] = ready[i], ready[pos]
                    name = ready[pos]
                    pos += 1
                    path = f"{qdir}/{name}"
                    if fsops.exists(path):
                        view.pos = pos
                        return source, name, path, False
                    view.misses += 1
                    if view.misses >= end - pos:
                        break  # cheaper to list again (see _view)
                view.pos = pos
                continue  # taken meanwhile: look again
            if not heads:
                if lazy:  # nothing anywhere: ring every doorbell before saying so
                    lazy = False
                    continue
                return None
            heads.sort()
            # Under contention the window widens so racing workers stop colliding.
            width = min(window, len(heads))
            name, queue, deferred = heads[self._random().randrange(width) if width > 1 else 0]
            view = views[queue]
            qdir = self._qdir_str(queue)
            if deferred:
                view.deferred.pop(name, None)
                path = f"{qdir}/{DEFERRED}/{name}"
            else:
                ready, pos = view.ready, view.pos
                if ready[pos] != name:
                    i = ready.index(name, pos)
                    ready[pos], ready[i] = ready[i], ready[pos]
                view.pos = pos + 1
                path = f"{qdir}/{name}"
            if window == 1 or fsops.exists(path):
                return queue, name, path, deferred
            view.misses += 1
        return None  # pragma: no cover

    def _heads(self, queue: str | None, window: int) -> list[tuple[str, str, bool]]:
        if queue is None:
            return []
        view = self._views[queue]
        return [(n, queue, False) for n in view.ready[view.pos : view.pos + window]]

    def _qdir_str(self, queue: str) -> str:
        qdir = self._qdir_strs.get(queue)
        if qdir is None:
            qdir = self._qdir_strs[queue] = str(self._qdir(queue))
        return qdir

    def _qdir(self, queue: str) -> Path:
        """``pending/QUEUE`` (cached: paths are built on every claim attempt)."""
        qdir = self._qdirs.get(queue)
        if qdir is None:
            qdir = self._qdirs[queue] = self.layout.queue(queue)
        return qdir

    def _random(self) -> random.Random:
        """A fast random source of this process's own (``secrets`` costs a system call per
        number; a forked child must not repeat its parent's picks and nonces)."""
        if self._rng_pid != _pid:
            self._rng, self._rng_pid = random.Random(secrets.randbits(64)), _pid
        return self._rng

    def _new_token(self) -> str:
        return f"{_pid}-{self._random().getrandbits(32):08x}"

    def _lease_tag(self) -> int:
        return max(1, round(self.lease))

    def _try_claim(self, cand: _Candidate, device: str) -> Claim | None:
        queue, name, path, from_deferred = cand
        task_id = name[:-5]  # minus ".json"
        cn = ClaimName(task_id, device, self._new_token(), self._lease_tag())
        dst_str = f"{self._qdir_str(queue)}/{CLAIMED}/{cn.name}"
        try:
            try:
                won = fsops.rename(path, dst_str)
            except FileNotFoundError:  # claimed/ missing: a queue made by hand with mkdir
                self._ensure_queue(queue)
                won = fsops.rename(path, dst_str)
        except PermissionError as exc:  # a read-only queue folder: skip it, say so
            self._report_denied(Path(path), f"cannot move it to claimed/: {exc.strerror}")
            return None
        if not won:
            self._window = min(16, self._window * 2)
            self._calm = 0
            return None
        self._held.add(cn.token)
        try:
            now = self.server_now()
            os.utime(dst_str, (now, now))
            task = self.read(dst_str)  # confirms the claim: a double-won SMB rename fails here
        except OSError as exc:
            self._held.discard(cn.token)
            if fsops.is_gone(exc):
                return None
            if not isinstance(exc, PermissionError):
                raise
            # A file we may move but not read (or not touch): put it back, skip it until its
            # permissions or content change, and say which file it is.
            src = Path(path)
            fsops.rename(dst_str, src, dst_unique=False)
            reason = f"cannot read it: {exc.strerror} (running as uid {os.geteuid()})"
            self._mark_bad(src, InvalidTaskFile(self.layout.rel(src), reason))
            return None
        except InvalidTaskFile as exc:
            self._held.discard(cn.token)
            # Put it back exactly where it was and skip it until someone edits it.
            src = Path(path)
            fsops.rename(dst_str, src, dst_unique=False)
            self._mark_bad(src, InvalidTaskFile(self.layout.rel(src), exc.reason, exc.line))
            return None
        claim = Claim(self, task, dst_str, queue, cn, device)
        if task.task_id != task_id:
            claim._put_back(
                f"file name says {task_id} but task_id is {task.task_id}", Path(path), bad=True
            )
            return None
        if task.device is not None and task.device != device:
            target = queue_name(task.device_class, task.device)
            if target != queue:
                # Pinned elsewhere (a hand edit): move it to that device's queue.
                self._ensure_queue(target)
                claim._move_to(self.layout.ready(target, task.task_id))
                return None
        if task.not_before is not None and task.not_before.timestamp() > now:
            claim._move_to(self.layout.deferred(queue, task.task_id))
            if not from_deferred:
                self._ring(queue)  # it landed in deferred/, like a deferred publish
            return None
        if from_deferred:
            # Taken out of deferred/, which leaves the queue folder's mtime alone: ring it, or
            # idle devices (which reap only when the queue changed or claims were seen) would
            # never look at this claim if its holder dies.
            self._ring(queue)
        return claim

    # ------------------------------------------------------------------ recovery
    def backoff(self, attempts: int) -> float:
        """Seconds to wait before attempt ``attempts + 1``: 0 for the first free retries, then
        doubling from ``backoff_base`` up to ``backoff_max``."""
        n = attempts - self.free_retries
        if n <= 0:
            return 0.0
        return float(min(self.backoff_max, self.backoff_base * 2 ** (n - 1)))

    def stale_claims(
        self, queue: str, device: str | None = None
    ) -> list[tuple[ClaimName, float, AttemptKind]]:
        """Claims in ``queue`` whose holder is gone: (claim, age in server seconds, why).

        Gone = no heartbeat for a whole lease (judged in server time), or — for this
        ``device``'s own claims — the holding process no longer exists on this host.
        """
        out: list[tuple[ClaimName, float, AttemptKind]] = []
        cdir = self.layout.claimed_dir(queue)
        try:
            entries = list(os.scandir(cdir))
        except FileNotFoundError:
            return out
        now = self.server_now()
        for e in entries:
            cn = ClaimName.parse(e.name)
            if cn is None or cn.token in self._held:
                continue
            try:
                st = e.stat(follow_symlinks=False)
            except OSError:
                continue
            age = now - max(st.st_mtime, st.st_ctime)
            if age > (cn.lease if cn.lease is not None else self.lease):
                out.append((cn, age, "lease-expired"))
            elif device is not None and cn.device == device and not pid_alive(cn.pid):
                out.append((cn, age, "worker-died"))
        return out

    def reap(self, queue: str, device: str | None = None) -> int:
        """Break the stale claims of ``queue``; returns how many tasks were put back."""
        n = 0
        for cn, age, kind in self.stale_claims(queue, device):
            if self.break_claim(queue, cn, kind, age, breaker=device or "spoold"):
                n += 1
        return n

    def break_claim(
        self,
        queue: str,
        stale: ClaimName,
        kind: AttemptKind,
        age: float,
        breaker: str,
        *,
        charge: bool = True,
    ) -> bool:
        """Take over a stale claim and put its task back (or drop it if superseded).

        One rename decides which breaker wins; the loser sees ENOENT and moves on.
        ``charge``: record the lost run as a failed attempt (which backs the task off).  Only
        a breaker that knows the holder never started the task passes False (the daemon, for
        the finalize tasks its killed predecessor had only queued for a batch).
        """
        mine = ClaimName(stale.task_id, _safe_device(breaker), self._new_token(), self._lease_tag())
        src = self.layout.claimed(queue, stale)
        dst = self.layout.claimed(queue, mine)
        if not fsops.rename(src, dst):
            return False
        self._held.add(mine.token)
        if kind == "lease-expired" and self._renewed(dst, stale):
            # The holder renewed its lease between our look and our rename, so it is alive
            # and may be past the fence in complete(): hand its claim back untouched.
            self._held.discard(mine.token)
            fsops.rename(dst, src)
            return False
        claim: Claim | None = None
        try:
            task = self.read(dst)
        except InvalidTaskFile as exc:
            self._held.discard(mine.token)
            ready = self.layout.ready(queue, stale.task_id)
            log.error("%s; putting it back as %s", exc, self.layout.rel(ready))
            fsops.rename(dst, ready, dst_unique=False)
            return True
        except OSError as exc:
            self._held.discard(mine.token)
            if fsops.is_gone(exc):
                return False
            raise
        claim = Claim(self, task, dst, queue, mine, breaker)
        newer = self._newer_copy(queue, task, mine)
        if newer is not None:
            log.info(
                "dropping stale claim %s: superseded by %s", stale.name, self.layout.rel(newer)
            )
            claim._drop()
            return False
        if not charge:
            log.info(
                "%s: %s pid %s died before it started the task; putting it back as it was",
                stale.task_id,
                stale.device,
                stale.pid,
            )
            claim.release()
            return True
        if kind == "worker-died":
            why = f"worker {stale.device} pid {stale.pid} died while running it"
        else:
            why = f"claim by {stale.device} expired: no heartbeat for {age:.0f} s"
        log.warning("%s: %s; putting it back", stale.task_id, why)
        claim.fail(why, kind=kind, device=stale.device)
        return True

    def _renewed(self, path: Path, stale: ClaimName) -> bool:
        """Whether the claim now at ``path`` (renamed from ``stale``; a rename keeps the
        mtime) got a heartbeat within its lease, i.e. after it was judged stale."""
        try:
            mtime = os.stat(path).st_mtime
        except OSError:
            return False
        lease = stale.lease if stale.lease is not None else self.lease
        return self.server_now() - mtime <= lease

    def _newer_copy(self, queue: str, task: Task, mine: ClaimName) -> Path | None:
        """A copy of ``task`` that supersedes the stale claim we took over, if any.

        A ready or deferred copy was written after the stale claim was taken.  Another
        *claim* supersedes ours only if it is ahead in one total order (more attempts, then
        not a completed record, then the larger token): a crash inside fail() leaves the
        stale claim next to a retry copy with one more attempt, which may be claimed and go
        stale too, and two breakers that each see the other's claim must not both drop.
        """
        for path in (
            self.layout.ready(queue, task.task_id),
            self.layout.deferred(queue, task.task_id),
        ):
            if fsops.exists(path):
                return path
        key = (len(task.attempts), task.completed_at is None, mine.token)
        for cn in self._claims_of(queue, task.task_id):
            if cn.token == mine.token:
                continue
            path = self.layout.claimed(queue, cn)
            try:
                other = self.read(path)
            except (InvalidTaskFile, OSError):
                continue  # gone meanwhile, or not a task: not a copy to defer to
            if (len(other.attempts), other.completed_at is None, cn.token) > key:
                return path
        done = self.layout.completed(task.task_id)
        if fsops.exists(done):
            try:
                finished = self.read(done)
            except (InvalidTaskFile, OSError):
                return done
            # Same completion stamp: an operator copied a complete task back to re-run it.
            if task.completed_at is None or finished.completed_at != task.completed_at:
                return done
        return None

    # ------------------------------------------------------------------ operator verbs
    def requeue(self, task_id: str, *, operator: str = "operator", force: bool = False) -> Location:
        """Make a complete or failing task ready to run now (attempt history is kept)."""
        loc = self.locate(task_id)
        if loc is None:
            raise TaskNotFound(f"no task {task_id} in pending/ or complete/")
        if loc.where == "ready":
            return loc
        if loc.where == "claimed" and not force:
            assert loc.claim is not None
            raise SpoolError(
                f"{task_id} is being run by {loc.claim.device} ({self.layout.rel(loc.path)}); "
                "wait for it, or use --force to put it back (the running worker will lose it)"
            )
        task = self.read(loc.path)
        queue = loc.queue or queue_name(task.device_class, task.device)
        self._ensure_queue(queue)
        mine = ClaimName(task_id, _safe_device(operator), self._new_token(), self._lease_tag())
        dst = self.layout.claimed(queue, mine)
        if not fsops.rename(loc.path, dst):
            raise SpoolError(f"{task_id} moved while requeueing it; run the command again")
        fresh = task.model_copy(
            update={
                "not_before": None,
                "completed_at": None,
                "completed_by": None,
                "outputs": [],
                "result": None,
            }
        )
        ready = self.layout.ready(queue, task_id)
        self._land(fresh.to_json(), ready, durable_dir=True)
        fsops.unlink(dst)
        return Location(task_id, "pending", "ready", queue, ready)

    @property
    def clock_probe(self) -> Path:
        """This process's clock probe (see :meth:`server_now`): never a crash leftover."""
        return self.layout.tmp / f"clock.{self._host}.{os.getpid()}"

    def purge_tmp(self, older_than: float) -> list[Path]:
        """Remove temp files older than ``older_than`` seconds (left by crashed writers)."""
        removed = []
        now = self.server_now()
        for e in os.scandir(self.layout.tmp):
            if e.name == self.clock_probe.name:
                continue
            try:
                st = e.stat(follow_symlinks=False)
            except OSError:
                continue
            old = now - st.st_mtime > older_than and e.is_file(follow_symlinks=False)
            if old and fsops.unlink(Path(e.path)):
                removed.append(Path(e.path))
        return removed

    def remove_claim(self, queue: str, claim: ClaimName) -> bool:
        """Delete a claim whose task exists elsewhere (used by ``check --repair``)."""
        return fsops.unlink(self.layout.claimed(queue, claim))


def _id_of_name(name: str, *, claimed: bool) -> str | None:
    if claimed:
        cn = ClaimName.parse(name)
        return cn.task_id if cn else None
    m = TASK_FILE_RE.match(name)
    return m["id"] if m else None


def _discard(path: str | Path) -> None:
    """Remove a file of our own, ignoring every error (clean-up on an error path)."""
    try:
        os.unlink(path)
    except OSError:
        pass


def short_hostname() -> str:
    """This host's name up to the first dot, as temp, spare and scratch names carry it."""
    return socket.gethostname().split(".")[0] or "host"


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (another user's counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _safe_device(name: str) -> str:
    import re

    cleaned = re.sub(r"[^a-z0-9_-]+", "-", name.lower()).strip("-_") or "operator"
    return cleaned[:63]


class Claim:
    """A task this process holds.  Finish it with exactly one of complete/fail/release."""

    __slots__ = ("_file", "device", "done", "name", "queue", "spool", "task")

    def __init__(
        self, spool: Spool, task: Task, path: str | Path, queue: str, name: ClaimName, device: str
    ) -> None:
        self.spool = spool
        self.task = task
        self._file = os.fspath(path)  # a str: a Path costs ~10 us to build, and this is hot
        self.queue = queue
        self.name = name
        self.device = device
        self.done = False

    def __repr__(self) -> str:
        return f"<Claim {self.task.task_id} by {self.device} in {self.queue}>"

    @property
    def task_id(self) -> str:
        return self.task.task_id

    @property
    def path(self) -> Path:
        """The claim file, ``pending/Q/claimed/ID@DEVICE@TOKEN-L<lease>.json``."""
        return Path(self._file)

    def heartbeat(self) -> None:
        """Refresh the lease (server time).  :class:`LeaseLost` if the claim was broken."""
        self._check_open()
        now = self.spool.server_now()
        try:
            os.utime(self._file, (now, now))
        except OSError as exc:
            if fsops.is_gone(exc):
                self._finish()
                raise LeaseLost(
                    f"{self.task_id}: lost the claim ({self.spool.layout.rel(self.path)} is gone: "
                    "the lease expired and another device took the task over)"
                ) from None
            raise

    def complete(
        self,
        outputs: Sequence[FileRef] = (),
        children: Sequence[ChildSpec] = (),
        result: dict[str, Any] | None = None,
    ) -> Path:
        """Publish ``children`` (idempotently), then land the completed record in complete/."""
        self._check_open()
        for spec in children:
            self.spool.publish(self.spool.child_task(self.task, spec))
        self.heartbeat()  # the fence: a broken claim stops here, before anything is written
        record = self.task.model_copy(
            update={
                "outputs": list(outputs),
                "result": result,
                "completed_at": self.spool.now_dt(),
                "completed_by": self.device,
                "not_before": None,
            }
        )
        dest = self.spool.layout.completed_str(self.task.task_id)
        self.spool._land(record.to_json(), dest, durable_dir=False)
        self.spool._recycle(self._file)
        self._finish()
        return Path(dest)

    def fail(self, error: str, *, kind: AttemptKind = "error", device: str | None = None) -> Path:
        """Record a failed attempt and put the task back, deferred by the backoff."""
        self._check_open()
        self.heartbeat()
        now = self.spool.server_now()
        attempt = Attempt(
            device=device or self.device, at=_epoch_to_dt(now), error=error[-4000:], kind=kind
        )
        attempts = [*self.task.attempts, attempt]
        delay = self.spool.backoff(len(attempts))
        not_before = _epoch_to_dt(now) + timedelta(seconds=delay) if delay else None
        record = self.task.model_copy(update={"attempts": attempts, "not_before": not_before})
        layout = self.spool.layout
        dest = (
            layout.deferred(self.queue, self.task_id)
            if delay
            else layout.ready(self.queue, self.task_id)
        )
        self.spool._land(record.to_json(), dest, durable_dir=False)
        self.spool._recycle(self._file)
        self._finish()
        if delay:
            self.spool._ring(self.queue)
        return dest

    def release(self) -> Path:
        """Give the task back untouched (e.g. on shutdown); no attempt is counted."""
        self._check_open()
        dest = self.spool.layout.ready(self.queue, self.task_id)
        self._move_to(dest)
        return dest

    # internal moves, each one rename of the claim file
    def _move_to(self, dest: Path) -> None:
        if fsops.exists(dest):
            self._drop()
            return
        fsops.rename(self._file, dest, dst_unique=False)
        self._finish()

    def _drop(self) -> None:
        fsops.unlink(self._file)
        self._finish()

    def _put_back(self, reason: str, original: Path, *, bad: bool) -> None:
        fsops.rename(self._file, original, dst_unique=False)
        self._finish()
        if bad:
            self.spool._mark_bad(original, InvalidTaskFile(self.spool.layout.rel(original), reason))

    def _check_open(self) -> None:
        if self.done:
            raise SpoolError(f"{self.task_id}: this claim is already finished")

    def _finish(self) -> None:
        self.done = True
        self.spool._held.discard(self.name.token)


def format_age(seconds: float) -> str:
    s = int(max(0, seconds))
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s // 60}m"
    if s < 172800:
        return f"{s // 3600}h"
    return f"{s // 86400}d"


__all__ = [
    "MAX_TASK_BYTES",
    "Claim",
    "Location",
    "Published",
    "Spool",
    "format_age",
    "format_stamp",
    "parse_task_bytes",
    "pid_alive",
    "short_hostname",
    "task_file_name",
]
