"""The spool protocol's front door: publish, claim, heartbeat, complete, fail, release, reap.

Public API: :class:`Spool` (a context manager that closes it; ``init``, ``publish``, ``new_task``, ``child_task``, ``claim``,
``locate``, ``read``, ``get``, ``requeue``, ``reap``, ``stale_claims``, ``break_claim``,
``purge_tmp``, ``purge_probes``, ``server_now``, the read verbs ``task_ids``, ``complete_days``, ``completed_ids``,
``day_version``) and the :class:`~spoold.spool.claim.Claim` it hands out.

Every rule is written down, with its reason, in ``spool_layout.md``; the short version:

- A task file appears by write-in-``tmp/`` + fsync + rename + directory fsync, so readers see
  a whole file or none (:mod:`~spoold.spool.lander`).  Ids are deterministic, so publishing
  twice is a no-op.
- A claim is one rename of ``pending/Q/ID.json`` to ``pending/Q/claimed/ID.DEVICE.TOKEN.json``
  (:mod:`~spoold.spool.claiming`, choosing names from :mod:`~spoold.spool.lister`); its
  mtime is its lease, in *server* time (:mod:`~spoold.spool.clock`).
- Completion publishes children first, re-proves the lease, then lands the completed record
  and removes the claim (:mod:`~spoold.spool.claim`).
- Every step that rewrites a pending record holds a claim while it does, so a crash leaves a
  stale claim next to the new copy; whoever breaks a stale claim drops it when a newer copy
  exists, and otherwise records the lost attempt and puts the task back
  (:mod:`~spoold.spool.recovery`).

A :class:`Spool` composes those parts, each given only the collaborators it needs; the
:class:`Claim` handle is the one part that calls back into the spool (through the narrow
:class:`~spoold.spool.claim.ClaimHost`, so no module imports this one but the package).
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar, overload

from schemas.task import (
    AttemptKind,
    ChildSpec,
    FileRef,
    Task,
    child_task_id,
    make_task_id,
    parse_task_id,
)
from spoold.errors import NotASpool, SpoolError, TaskNotFound
from spoold.spool import fsops
from spoold.spool.claim import Claim, ClaimTokens
from spoold.spool.claiming import Claimer
from spoold.spool.clock import ServerClock, epoch_to_dt
from spoold.spool.folders import QueueFolders
from spoold.spool.host import ProcessRandom, short_hostname
from spoold.spool.lander import Lander
from spoold.spool.layout import DAY_RE, TASK_FILE_RE, ClaimName, Layout, queue_name
from spoold.spool.lister import Lister
from spoold.spool.lookup import Finder, Location, Published
from spoold.spool.policy import Policy
from spoold.spool.recovery import Recovery, Stale
from spoold.spool.taskfile import read_task

LAYOUT_VERSION = 1

TaskState = Literal["ready", "deferred", "claimed"]
#: Every state of a pending task, for :meth:`Spool.task_ids`.
PENDING_STATES: tuple[TaskState, ...] = ("ready", "deferred", "claimed")

_T = TypeVar("_T")


class _Setting(Generic[_T]):
    """A :class:`Spool` attribute kept on its :class:`Policy`, so every part sees a change."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type) -> _Setting[_T]: ...
    @overload
    def __get__(self, obj: Spool, owner: type) -> _T: ...
    def __get__(self, obj: Spool | None, owner: type) -> _Setting[_T] | _T:
        if obj is None:
            return self
        value: _T = getattr(obj.policy, self.name)
        return value

    def __set__(self, obj: Spool, value: _T) -> None:
        setattr(obj.policy, self.name, value)


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
        self.policy = Policy(
            fsync=fsync,
            relist_interval=relist_interval,
            idle_relist=max(600.0, relist_interval),
            backoff_base=backoff_base,
            backoff_max=backoff_max,
            free_retries=free_retries,
        )
        if check:
            self.policy.lease = self._marker_lease()
        if lease is not None:
            self.policy.lease = lease
        host = short_hostname()
        rng = ProcessRandom()
        self.folders = QueueFolders(self.layout, self.policy)
        self.server_clock = ServerClock(self.layout, host)
        self.finder = Finder(self.folders)
        self.lander = Lander(self.folders, self.policy, host)
        # The parts get server time as ``self.server_now`` (bound here, so a subclass that
        # overrides it, as simulations do, is the one clock of every part).
        self.lister = Lister(self.folders, self.server_now, self.policy, rng)
        self.tokens = ClaimTokens(rng)
        make_claim = functools.partial(Claim, self)
        self.recovery = Recovery(
            self.finder, self.lander, self.server_now, self.policy, self.tokens, make_claim
        )
        self.claimer = Claimer(
            self.lister, self.lander, self.recovery, self.policy, self.tokens, make_claim
        )

    def _marker_lease(self) -> float:
        marker = self.layout.marker
        try:
            return float(json.loads(marker.read_bytes()).get("lease_s", self.policy.lease))
        except FileNotFoundError:
            raise NotASpool(
                f"{self.root}: not a spool ({marker.name} missing) — run `spoold "
                f"init {self.root}`, or mount the share if this is a network spool"
            ) from None
        except (ValueError, AttributeError, OSError) as exc:
            raise NotASpool(f"{marker}: unreadable spool marker: {exc}") from None

    # ------------------------------------------------------------------ settings
    #: Seconds without heartbeat after which a claim counts as abandoned.
    lease = _Setting[float]()
    fsync = _Setting[bool]()
    relist_interval = _Setting[float]()
    #: Backstop re-list of an unchanged-looking queue, for shares with coarse mtimes.
    idle_relist = _Setting[float]()

    @property
    def clock_offset(self) -> float:
        """Seconds added to server time (tests and simulations move time forward with it)."""
        return self.server_clock.offset

    @clock_offset.setter
    def clock_offset(self, value: float) -> None:
        self.server_clock.offset = value

    def backoff(self, attempts: int) -> float:
        """Seconds to wait before attempt ``attempts + 1`` (see :meth:`Policy.backoff`)."""
        return self.policy.backoff(attempts)

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

    def close(self) -> None:
        """Remove this process's clock probe and spare temp files (optional: ``check --repair``
        cleans leftovers)."""
        self.server_clock.close()
        self.lander.drop_spares()

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ clock
    def server_now(self) -> float:
        """Now, in the clock of the server holding the spool (epoch seconds); see
        :mod:`spoold.spool.clock`."""
        return self.server_clock.now()

    def now_dt(self) -> datetime:
        return epoch_to_dt(self.server_now())

    @property
    def clock_probe(self) -> Path:
        """This process's clock probe (see :meth:`server_now`): never a crash leftover."""
        return self.server_clock.probe

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
        """The child ``spec`` of ``parent``, with its deterministic id.

        :class:`SpoolError` when that id is the parent's own (a child of the parent's type
        without a suffix): publishing it would be a silent no-op, and the child lost.
        """
        task_id = child_task_id(parent.task_id, spec.task_type, spec.suffix)
        if task_id == parent.task_id:
            raise SpoolError(
                f"child {spec.task_type!r} of {parent.task_id} would have its parent's id: "
                "a child of the same type needs a suffix"
            )
        return Task(
            task_id=task_id,
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
        found = self.finder.locate(task.task_id, queues=self.finder.with_legacy(queue))
        if found is not None:
            return Published(task.task_id, False, found)
        defer = task.not_before is not None and task.not_before.timestamp() > self.server_now()
        dest = (
            self.layout.deferred(queue, task.task_id)
            if defer
            else self.layout.ready(queue, task.task_id)
        )
        self.folders.ensure(queue)
        # RACE: two publishers of one id both land the same content; the later rename wins.
        self.lander.land(task.to_json(), dest, durable_dir=True)
        if defer:
            self.folders.ring(queue)
        where = "deferred" if defer else "ready"
        return Published(task.task_id, True, Location(task.task_id, "pending", where, queue, dest))

    # ------------------------------------------------------------------ claim
    def claim(self, device_class: str, device: str) -> Claim | None:
        """Take the oldest eligible task for ``device`` of ``device_class``, or None.

        Eligible: in ``pending/CLASS/`` or ``pending/CLASS.DEVICE/`` (or a first-scheme pinned
        folder, ``CLASS@DEVICE``, while one exists), and its ``not_before``
        passed.  Stale claims are broken (see :meth:`reap`) on the first call, so a restarted
        device re-takes its own at once, and later only while there is nothing else to
        claim: busy devices leave reaping to idle ones and to the daemon, which keeps the
        cost of a big fleet's reaping off the NAS.
        """
        return self.claimer.claim(device_class, device)

    # ------------------------------------------------------------------ lookup
    def queues(self) -> list[str]:
        """Every queue folder of ``pending/``, sorted."""
        return self.folders.names()

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
        """Where ``task_id`` is: complete first, then ready, deferred, claimed."""
        return self.finder.locate(task_id, queues=queues)

    def read(self, path: str | Path) -> Task:
        """Read and validate one task file (:class:`InvalidTaskFile` if it is not one)."""
        return read_task(self.layout, path)

    def get(self, task_id: str) -> tuple[Location, Task]:
        loc = self.finder.locate(task_id)
        if loc is None:
            raise TaskNotFound(f"no task {task_id} in pending/ or complete/")
        return loc, self.read(loc.path)

    # ------------------------------------------------------------------ recovery
    def stale_claims(
        self, queue: str, device: str | None = None
    ) -> list[tuple[ClaimName, float, AttemptKind]]:
        """Claims in ``queue`` whose holder is gone: (claim, age in server seconds, why);
        each is a :class:`~spoold.spool.recovery.Stale`, typed here as the plain tuple."""
        found: list[tuple[ClaimName, float, AttemptKind]] = [
            *self.recovery.stale_claims(queue, device)
        ]
        return found

    def reap(self, queue: str, device: str | None = None) -> int:
        """Break the stale claims of ``queue``; returns how many tasks were put back."""
        return self.recovery.reap(queue, device)

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
        """Take over a stale claim and put its task back (or drop it if superseded); see
        :meth:`Recovery.break_claim <spoold.spool.recovery.Recovery.break_claim>`."""
        return self.recovery.break_claim(queue, Stale(stale, age, kind), breaker, charge=charge)

    # ------------------------------------------------------------------ operator verbs
    def requeue(self, task_id: str, *, operator: str = "operator", force: bool = False) -> Location:
        """Make a complete or failing task ready to run now (attempt history is kept)."""
        return self.recovery.requeue(task_id, operator=operator, force=force)

    def purge_tmp(self, older_than: float) -> list[Path]:
        """Remove temp files older than ``older_than`` seconds (left by crashed writers)."""
        return self.recovery.purge_tmp(older_than, keep=self.clock_probe.name)

    def purge_probes(self) -> list[Path]:
        """Remove the clock probes of this host's dead processes (``check --repair``)."""
        return self.recovery.purge_probes()

    def remove_claim(self, queue: str, claim: ClaimName) -> bool:
        """Delete a claim whose task exists elsewhere (used by ``check --repair``)."""
        return self.recovery.remove_claim(queue, claim)


def _id_of_name(name: str, *, claimed: bool) -> str | None:
    if claimed:
        cn = ClaimName.parse(name)
        return cn.task_id if cn else None
    m = TASK_FILE_RE.match(name)
    return m["id"] if m else None
