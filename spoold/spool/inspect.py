"""Read-only views of a spool, and the consistency check: what ``status``, ``ls`` and ``check`` show.

Public API: :func:`iter_entries`, :func:`status`, :func:`check`, :class:`Entry`,
:class:`QueueStatus`, :class:`Problem`, :class:`CheckReport`.

Nothing here renames a file; ``check(repair=True)`` asks :class:`~spoold.spool.Spool` to do
the few repairs that are safe (break stale claims, drop claims superseded by a newer copy,
delete old temp files and dead processes' clock probes).  Files that do not parse are
reported, never moved; files in a queue's ``invalid/`` (put there by a claim) are reported with
their reason and the fix.  Clock probes are never problems.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from schemas.task import AttemptKind, Task
from spoold.errors import InvalidTaskFile
from spoold.spool import fsops
from spoold.spool.clock import parse_probe
from spoold.spool.layout import (
    CLAIMED,
    DEFERRED,
    INVALID,
    INVALID_FILE_RE,
    TASK_FILE_RE,
    ClaimName,
    day_of,
    home_queue,
    is_ignorable,
    queue_name,
    split_queue,
)
from spoold.spool.spool import Spool

TMP_TTL = 3600.0


@dataclass
class Entry:
    """One task file as found on disk (``task`` is None when it does not parse)."""

    path: Path
    state: str  # pending | complete
    where: str  # ready | deferred | claimed | invalid | complete
    queue: str | None
    task_id: str
    claim: ClaimName | None = None
    task: Task | None = None
    error: InvalidTaskFile | None = None
    #: Listed but gone when read: it moved meanwhile (a live spool, or a share's cached listing).
    vanished: bool = False


def _task_files(folder: Path, *, claims: bool) -> Iterator[tuple[str, str, ClaimName | None]]:
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except FileNotFoundError:
        return
    for e in entries:
        if claims:
            cn = ClaimName.parse(e.name)
            if cn is not None:
                yield e.name, cn.task_id, cn
        else:
            m = TASK_FILE_RE.match(e.name)
            if m and not e.is_dir(follow_symlinks=False):
                yield e.name, m["id"], None


def _quarantined(folder: Path) -> Iterator[tuple[str, str]]:
    """(file name, task id of the name) of each file in a queue's ``invalid/``."""
    for name in sorted(fsops.listdir(folder)):
        m = INVALID_FILE_RE.match(name)
        if m:
            yield name, m["id"]


def iter_entries(
    spool: Spool,
    *,
    pending: bool = True,
    complete: bool = True,
    read: bool = True,
    queues: list[str] | None = None,
) -> Iterator[Entry]:
    """Every task file, pending queues first (in claim order), then complete/ newest day first."""
    lay = spool.layout
    if pending:
        for q in queues if queues is not None else spool.queues():
            for where, folder, claims in (
                ("claimed", lay.claimed_dir(q), True),
                ("ready", lay.queue(q), False),
                ("deferred", lay.deferred_dir(q), False),
            ):
                for name, task_id, cn in _task_files(folder, claims=claims):
                    yield _entry(spool, folder / name, "pending", where, q, task_id, cn, read)
            for name, task_id in _quarantined(lay.invalid_dir(q)):
                entry = _entry(
                    spool, lay.invalid_dir(q) / name, "pending", "invalid", q, task_id, None, read
                )
                if entry.error is None and entry.task is not None and read:
                    # Parses now: the content names another task id (or was fixed in place).
                    reason = f"file name says {task_id} but task_id is {entry.task.task_id}"
                    if entry.task.task_id == task_id:
                        reason = "quarantined; it parses now: move it back to its queue"
                    entry.error = InvalidTaskFile(lay.rel(entry.path), reason)
                yield entry
    if complete:
        try:
            days = sorted(os.listdir(lay.complete), reverse=True)
        except FileNotFoundError:
            days = []
        for day in days:
            folder = lay.complete / day
            if not folder.is_dir():
                continue
            for name, task_id, _ in _task_files(folder, claims=False):
                yield _entry(
                    spool, folder / name, "complete", "complete", None, task_id, None, read
                )


def _entry(
    spool: Spool,
    path: Path,
    state: str,
    where: str,
    queue: str | None,
    task_id: str,
    cn: ClaimName | None,
    read: bool,
) -> Entry:
    entry = Entry(path, state, where, queue, task_id, cn)
    if read:
        try:
            entry.task = spool.read(path)
        except InvalidTaskFile as exc:
            entry.error = exc
        except FileNotFoundError:
            entry.error = InvalidTaskFile(spool.layout.rel(path), "vanished while reading (moved)")
            entry.vanished = True
    return entry


@dataclass
class QueueStatus:
    queue: str
    device_class: str
    device: str | None
    ready: int = 0
    deferred: int = 0
    claimed: int = 0
    stale: int = 0
    failing: int = 0
    invalid: int = 0
    oldest_age_s: float | None = None
    by_type: dict[str, int] = field(default_factory=dict)
    claims: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)


def status(spool: Spool, *, complete_days: int = 2) -> dict[str, Any]:
    """Counts per queue and task type, oldest pending age, claims, failing tasks (like qshape)."""
    now = spool.server_now()
    queues: list[QueueStatus] = []
    for q in spool.queues():
        cls, dev = split_queue(q) or (q, None)
        qs = QueueStatus(q, cls, dev)
        stale = {cn.token for cn, _, _ in spool.stale_claims(q)}
        for entry in iter_entries(spool, complete=False, queues=[q], read=True):
            if entry.error is not None or entry.task is None:
                qs.invalid += 1
                continue
            task = entry.task
            qs.by_type[task.task_type] = qs.by_type.get(task.task_type, 0) + 1
            age = now - task.created_at.timestamp()
            qs.oldest_age_s = age if qs.oldest_age_s is None else max(qs.oldest_age_s, age)
            if entry.where == "ready":
                qs.ready += 1
            elif entry.where == "deferred":
                qs.deferred += 1
            else:
                qs.claimed += 1
                assert entry.claim is not None
                is_stale = entry.claim.token in stale
                qs.stale += is_stale
                try:
                    st = os.stat(entry.path)
                    beat = now - max(st.st_mtime, st.st_ctime)
                except OSError:
                    beat = float("nan")
                qs.claims.append(
                    {
                        "task_id": task.task_id,
                        "device": entry.claim.device,
                        "last_heartbeat_s": round(beat, 1),
                        "stale": is_stale,
                    }
                )
            if task.attempts:
                qs.failing += 1
                last = task.attempts[-1]
                qs.failures.append(
                    {
                        "task_id": task.task_id,
                        "attempts": len(task.attempts),
                        "device": last.device,
                        "at": last.at.isoformat(),
                        "error": last.error.strip().splitlines()[-1:],
                        "not_before": task.not_before.isoformat() if task.not_before else None,
                    }
                )
        queues.append(qs)
    days = sorted((d for d in fsops.listdir(spool.layout.complete)), reverse=True)[:complete_days]
    complete = {
        d: sum(1 for n in fsops.listdir(spool.layout.complete / d) if TASK_FILE_RE.match(n))
        for d in days
    }
    return {
        "spool": str(spool.root),
        "server_time": now,
        "queues": [asdict(q) for q in queues],
        "totals": {
            "ready": sum(q.ready for q in queues),
            "deferred": sum(q.deferred for q in queues),
            "claimed": sum(q.claimed for q in queues),
            "stale": sum(q.stale for q in queues),
            "failing": sum(q.failing for q in queues),
            "invalid": sum(q.invalid for q in queues),
        },
        "complete_by_day": complete,
    }


@dataclass
class Problem:
    kind: str
    path: str
    message: str
    repaired: bool = False


@dataclass
class CheckReport:
    problems: list[Problem] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    files: int = 0

    @property
    def remaining(self) -> list[Problem]:
        return [p for p in self.problems if not p.repaired]

    @property
    def clean(self) -> bool:
        return not self.remaining


def check(spool: Spool, *, repair: bool = False, tmp_ttl: float = TMP_TTL) -> CheckReport:
    """Validate every file of the spool; with ``repair``, fix what is safe to fix."""
    run = _Check(spool, repair)
    run.layout()
    run.copies(run.entries())
    run.temp_files(tmp_ttl)
    return run.rep


class _Check:
    """One run of :func:`check`: the report it fills, one concern per method."""

    def __init__(self, spool: Spool, repair: bool) -> None:
        self.spool = spool
        self.lay = spool.layout
        self.repair = repair
        self.rep = CheckReport()

    def add(self, kind: str, path: Path | str, message: str, repaired: bool = False) -> None:
        rel = self.lay.rel(path) if isinstance(path, Path) else path
        self.rep.problems.append(Problem(kind, rel, message, repaired))

    def layout(self) -> None:
        """Unknown names in the places the protocol owns."""
        lay, add = self.lay, self.add
        for name in fsops.listdir(lay.pending):
            p = lay.pending / name
            if is_ignorable(name):
                self.rep.ignored.append(lay.rel(p))
            elif split_queue(name) is None or not p.is_dir() or p.is_symlink():
                add("stray", p, "not a queue folder (want pending/CLASS or pending/CLASS.DEVICE/)")
        for q in self.spool.queues():
            for sub, kind in (
                (lay.queue(q), "ready"),
                (lay.deferred_dir(q), "deferred"),
                (lay.claimed_dir(q), "claimed"),
            ):
                for name in fsops.listdir(sub):
                    self._queue_file(sub / name, kind)
        for day in fsops.listdir(lay.complete):
            p = lay.complete / day
            if not p.is_dir() and not is_ignorable(day):
                add("stray", p, "not a day folder (want complete/YYYY-MM-DD/)")
            for name in fsops.listdir(p) if p.is_dir() else []:
                if not TASK_FILE_RE.match(name) and not is_ignorable(name):
                    add("stray", p / name, "not a task file name")

    def _queue_file(self, p: Path, kind: str) -> None:
        name = p.name
        if is_ignorable(name):
            self.rep.ignored.append(self.lay.rel(p))
            return
        if kind == "ready" and name in (CLAIMED, DEFERRED, INVALID) and p.is_dir():
            return
        ok = ClaimName.parse(name) if kind == "claimed" else TASK_FILE_RE.match(name)
        if not ok:
            self.add("stray", p, "not a task file name; the queue ignores it")
        elif p.is_symlink():
            self.add("symlink", p, "a symbolic link; the queue never follows it")
        elif p.is_dir():
            self.add("stray", p, "a folder where a task file is expected")

    def entries(self) -> dict[str, list[Entry]]:
        """Check each task file on its own; returns the valid ones by task id."""
        where_of: dict[str, list[Entry]] = {}
        for entry in iter_entries(self.spool):
            if entry.vanished:
                continue  # moved while we looked: not a problem (found at its new place, or done)
            if entry.path.is_symlink() or entry.path.is_dir():
                continue
            self.rep.files += 1
            if entry.error is not None:
                line = f" (line {entry.error.line})" if entry.error.line else ""
                fix = ""
                if entry.where == "invalid" and entry.queue is not None:
                    home = self.lay.rel(self.lay.queue(home_queue(entry.queue)))
                    fix = f"; fix it, then `mv {self.lay.rel(entry.path)} {home}/`"
                self.add("invalid", entry.path, entry.error.reason + line + fix)
                continue
            assert entry.task is not None
            task = entry.task
            if task.task_id != entry.task_id:
                msg = f"file name says {entry.task_id} but task_id is {task.task_id}"
                self.add("misnamed", entry.path, msg)
                continue
            if entry.state == "complete" and entry.path.parent.name != day_of(task.task_id):
                self.add("misplaced", entry.path, f"belongs in complete/{day_of(task.task_id)}/")
            if entry.queue is not None:
                want = queue_name(task.device_class, task.device)
                cls = (split_queue(entry.queue) or (entry.queue, None))[0]
                if cls != task.device_class:
                    self.add(
                        "misplaced",
                        entry.path,
                        f"in pending/{entry.queue}/ but device_class is {task.device_class} "
                        f"(the folder decides who runs it; its home is pending/{want}/)",
                    )
            where_of.setdefault(task.task_id, []).append(entry)
        return where_of

    def copies(self, where_of: dict[str, list[Entry]]) -> None:
        """Stale claims (broken or removed with ``repair``) and tasks in several places."""
        spool = self.spool
        stale = {
            (q, cn.token): (cn, age, why)
            for q in spool.queues()
            for cn, age, why in spool.stale_claims(q)
        }
        for task_id, entries in where_of.items():
            claims = [e for e in entries if e.where == "claimed"]
            others = [e for e in entries if e.where != "claimed"]
            for e in claims:
                assert e.claim is not None and e.queue is not None
                found = stale.get((e.queue, e.claim.token))
                if found is not None:
                    self._stale_claim(e, *found, superseded=bool(others))
            if len(others) > 1:
                places = ", ".join(self.lay.rel(e.path) for e in others)
                self.add(
                    "duplicate",
                    others[0].path,
                    f"{task_id} is in more than one place: {places} — "
                    "keep the one you want and delete the others (`spoold show` prints each)",
                )

    def _stale_claim(
        self, e: Entry, cn: ClaimName, age: float, why: AttemptKind, *, superseded: bool
    ) -> None:
        assert e.queue is not None
        repair = self.repair
        if superseded:
            msg = f"stale claim by {cn.device} ({age:.0f} s), superseded by another copy"
            done = repair and self.spool.remove_claim(e.queue, cn)
            self.add("stale-claim", e.path, msg + ("; removed" if done else ""), done)
            return
        # Only claims hold this task: breaking decides which one (if any) goes back,
        # and never drops them all (see Recovery._newer_copy).
        msg = f"stale claim: {cn.device} gave no heartbeat for {age:.0f} s"
        put_back = repair and self.spool.break_claim(e.queue, cn, why, age, breaker="check")
        done = put_back or (repair and not os.path.lexists(e.path))
        if put_back:
            msg += "; put back in pending"
        elif done:
            msg += "; dropped (another claim of the task supersedes it)"
        self.add("stale-claim", e.path, msg, done)

    def temp_files(self, tmp_ttl: float) -> None:
        """Temp files older than ``tmp_ttl`` (deleted with ``repair``).  Clock probes are
        never problems; ``repair`` removes those of this host's dead processes."""
        lay = self.lay
        now = self.spool.server_now()
        old: dict[str, float] = {}
        for name in fsops.listdir(lay.tmp):
            if parse_probe(name) is not None:
                continue
            try:
                age = now - (lay.tmp / name).lstat().st_mtime
            except OSError:
                continue
            if age > tmp_ttl:
                old[name] = age
        if self.repair:
            for p in self.spool.purge_probes():
                self.add("tmp", p, "clock probe of a process gone from this host; deleted", True)
        # One purge removes them all; report each file it removed.
        removed = {p.name for p in self.spool.purge_tmp(tmp_ttl)} if self.repair and old else set()
        for name, age in sorted(old.items()):
            p = lay.tmp / name
            done = name in removed or (self.repair and not os.path.lexists(p))
            self.add(
                "tmp",
                p,
                f"temp file left by a crashed writer ({age / 3600:.1f} h old)"
                + ("; deleted" if done else ""),
                done,
            )


@dataclass
class QueueCounts:
    """Counts of one queue folder from file names alone (no file is opened but the oldest)."""

    queue: str
    device_class: str
    device: str | None
    ready: dict[str, int] = field(default_factory=dict)  # task type -> count
    deferred: dict[str, int] = field(default_factory=dict)
    claimed: dict[str, int] = field(default_factory=dict)
    claims_by_device: dict[str, int] = field(default_factory=dict)
    stale: int = 0
    oldest_created_at: float | None = None  # server epoch seconds
    oldest_task_id: str | None = None


def counts(spool: Spool) -> list[QueueCounts]:
    """Cheap per-queue counts by task type (the type is part of the file name), for metrics
    and dashboards that poll often.  Failing tasks are the ones in ``deferred/``."""
    out: list[QueueCounts] = []
    for q in spool.queues():
        cls, dev = split_queue(q) or (q, None)
        qc = QueueCounts(q, cls, dev)
        oldest: Path | None = None
        for bucket, folder in (
            (qc.ready, spool.layout.queue(q)),
            (qc.deferred, spool.layout.deferred_dir(q)),
        ):
            for name in fsops.listdir(folder):
                m = TASK_FILE_RE.match(name)
                if m:
                    ttype = m["id"].split("-")[1]
                    bucket[ttype] = bucket.get(ttype, 0) + 1
                    if bucket is qc.ready and (oldest is None or name < oldest.name):
                        oldest = folder / name
        for name in fsops.listdir(spool.layout.claimed_dir(q)):
            cn = ClaimName.parse(name)
            if cn:
                ttype = cn.task_id.split("-")[1]
                qc.claimed[ttype] = qc.claimed.get(ttype, 0) + 1
                qc.claims_by_device[cn.device] = qc.claims_by_device.get(cn.device, 0) + 1
        qc.stale = len(spool.stale_claims(q)) if qc.claimed else 0
        if oldest is not None:
            try:
                task = spool.read(oldest)
                qc.oldest_created_at = task.created_at.timestamp()
                qc.oldest_task_id = task.task_id
            except (InvalidTaskFile, OSError):
                pass
        out.append(qc)
    return out


def failing(spool: Spool, limit: int = 100) -> list[Task]:
    """Tasks backing off in ``deferred/`` after failed attempts; only those folders are read
    (reading every ready task would not scale)."""
    out: list[Task] = []
    for q in spool.queues():
        folder = spool.layout.deferred_dir(q)
        for name, _, _ in _task_files(folder, claims=False):
            if len(out) >= limit:
                return out
            try:
                task = spool.read(folder / name)
            except (InvalidTaskFile, OSError):
                continue  # `spoold check` reports it
            if task.attempts:
                out.append(task)
    return out


def last_error_line(task: Task) -> str:
    """The last line of a task's last error (where tracebacks put the reason)."""
    lines = task.attempts[-1].error.strip().splitlines() if task.attempts else []
    return lines[-1] if lines else ""
