"""The spool against a model: random sequences of every operation keep disk and model equal.

A hypothesis state machine drives one spool through publish (new ids and republished ones),
claim by three devices, heartbeat, complete (with a child), fail, release, requeue, an
operator who moves complete records back to pending and breaks (then fixes) pending files
by hand, crashes (a device drops its claims and restarts), and the passage of time.  The
model is a dict task_id -> where the task is, its attempts, its claim.

Devices and the operator are separate :class:`Spool` instances, as separate processes would
be.  They share one *frozen* server clock: ``server_now`` returns a value that only the
``advance`` rule moves, starting in 2033, far ahead of the files' real ctimes -- so a
claim's age is judged only by the mtimes the spool itself stamps (heartbeats), nothing goes
stale while the test runs, and ``advance`` makes claims stale without sleeping.

Invariants, after every step:

* every task id is in exactly one place -- ready, deferred, claimed or complete -- the one
  the model says, under the claim name of its current holder (a crash here drops a
  ``Claim`` object, which leaves a stale claim, a place like any other);
* every complete record has ``completed_at``;
* a file an operator broke stays where it is, byte for byte, until the operator fixes it or
  a device claims it: then it is in the queue's ``invalid/``, byte for byte, and never put
  back over its name (spool_layout.md §4.8); the operator fixes it there and moves it back.

And per step: ``claim`` returns the oldest eligible task (smallest name, not_before passed)
-- never one whose not_before is in the future -- and returns None only when nothing is
eligible *and* no stale claim is left in its queues (an idle device has reaped them);
a claim that was broken raises LeaseLost from heartbeat/complete/fail/release and changes nothing.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from schemas.task import ChildSpec, child_task_id
from spoold.errors import InvalidTaskFile, LeaseLost, SpoolError
from spoold.spool import Claim, ClaimName, Spool, fsops, parse_task_bytes
from spoold.spool import inspect as spool_inspect

STAMP = "20260101T000000Z"
DAY = "2026-01-01"
KEYS = ["k0", "k1", "k2", "k3", "k4", "k5"]
PINNED = {"k4", "k5"}  # pinned to d0: they live in pending/cpu.d0/, only d0 runs them
DEVICES = ["d0", "d1", "d2"]
LEASE = 1.0  # what claim names carry (whole seconds, at least 1)
FREE_RETRIES, BACKOFF_BASE, BACKOFF_MAX = 1, 10.0, 100.0
GARBAGE = [b'{"task_id": ', b"not json\n", b"[1, 2]\n", b'{"schema_version": 1}\n', b"\xff\xfe"]


class Clock:
    now = 2_000_000_000.0


class FrozenSpool(Spool):
    """A spool whose server time is the shared test clock."""

    clock: Clock

    def server_now(self) -> float:
        return self.clock.now


def backoff(attempts: int) -> float:
    """The documented schedule: free retries, then doubling from the base up to the max."""
    n = attempts - FREE_RETRIES
    return 0.0 if n <= 0 else min(BACKOFF_MAX, BACKOFF_BASE * 2 ** (n - 1))


@dataclass
class M:
    """The model of one task."""

    task_id: str
    queue: str
    state: str  # ready | deferred | claimed | complete
    attempts: int = 0
    not_before: float | None = None  # when deferred
    token: str | None = None  # claim token, when claimed
    holder: str | None = None  # device whose live Claim holds it (None: orphaned by a crash)
    beat: float = 0.0  # server time of the claim's last heartbeat
    good: bytes = b""  # last valid content (what a fix restores)
    broken: bytes | None = None  # what an operator wrote in its place

    @property
    def name(self) -> str:
        return self.task_id + ".json"


class SpoolMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="spoold-stateful-"))
        self.root = self.dir / "spool"
        self.clock = Clock()
        Spool.init(self.root, default_lease=LEASE)
        self.devices = {d: self.new_spool() for d in DEVICES}
        self.operator = self.new_spool()
        self.tasks: dict[str, M] = {}
        self.claims: list[tuple[str, Claim]] = []  # live Claim objects, by device
        # Files in invalid/: path -> (the task's model when it was quarantined, its bytes).
        self.quarantined: dict[str, tuple[M, bytes]] = {}

    def new_spool(self) -> FrozenSpool:
        # A tiny lease switches off the per-process throttle on reaping (lease/3 of *real*
        # time) so an idle device reaps on every call; claim names still carry 1 s.
        # relist_interval=0: the cached listing is refreshed on every call, so "the oldest
        # eligible task" is exact.
        spool = FrozenSpool(
            self.root,
            fsync=False,
            lease=1e-6,
            relist_interval=0.0,
            free_retries=FREE_RETRIES,
            backoff_base=BACKOFF_BASE,
            backoff_max=BACKOFF_MAX,
        )
        spool.clock = self.clock
        return spool

    # ------------------------------------------------------------------ model helpers
    def path_of(self, m: M) -> Path:
        lay = self.operator.layout
        if m.state == "ready":
            return lay.ready(m.queue, m.task_id)
        if m.state == "deferred":
            return lay.deferred(m.queue, m.task_id)
        if m.state == "complete":
            return lay.completed(m.task_id)
        assert m.token is not None
        return next(
            lay.claimed(m.queue, cn)
            for cn in self.operator.finder.claims_of(m.queue, m.task_id)
            if cn.token == m.token
        )

    def holds(self, claim: Claim) -> bool:
        m = self.tasks.get(claim.task_id)  # None: quarantined since the claim was lost
        return m is not None and m.state == "claimed" and m.token == claim.name.token

    def queues_of(self, device: str) -> set[str]:
        return {"cpu", f"cpu.{device}"}

    def stale_unheld(self, device: str) -> list[M]:
        """Claims in ``device``'s queues that it may break: stale, and not its own."""
        now = self.clock.now
        return [
            m
            for m in self.tasks.values()
            if m.state == "claimed"
            and m.queue in self.queues_of(device)
            and now - m.beat > LEASE
            and m.holder != device
        ]

    def still_claimed(self, m: M) -> bool:
        return any(cn.token == m.token for cn in self.operator.finder.claims_of(m.queue, m.task_id))

    def put_back(self, m: M) -> None:
        """The model of breaking a stale claim: a lease-expired attempt, then back off."""
        m.attempts += 1
        delay = backoff(m.attempts)
        m.state = "deferred" if delay else "ready"
        m.not_before = self.clock.now + delay if delay else None
        m.token = m.holder = None

    def observe_quarantine(self, device: str) -> None:
        """A device that claimed (or passed over) broken files of its queues moved them to
        invalid/: each one, byte for byte, under its name or a numbered one; the task is
        gone from the queue until the operator moves it back."""
        for m in list(self.tasks.values()):
            if m.broken is None or m.queue not in self.queues_of(device):
                continue
            if self.path_of(m).exists():
                continue
            folder = self.operator.layout.invalid_dir(m.queue)
            new = [
                p
                for p in sorted(folder.iterdir())
                if str(p) not in self.quarantined and p.name.startswith(m.name)
            ]
            assert len(new) == 1, f"{m.task_id}: left its place but is not in invalid/: {new}"
            assert new[0].read_bytes() == m.broken, f"{m.task_id}: quarantined bytes changed"
            self.quarantined[str(new[0])] = (m, m.broken)
            del self.tasks[m.task_id]

    def eligible(self, device: str) -> list[str]:
        now = self.clock.now
        return sorted(
            m.name
            for m in self.tasks.values()
            if m.queue in self.queues_of(device)
            and m.broken is None
            and (
                m.state == "ready"
                or (m.state == "deferred" and m.not_before is not None and m.not_before <= now)
            )
        )

    def add_published(self, task_id: str, queue: str, state: str, nb: float | None) -> None:
        m = M(task_id, queue, state, not_before=nb)
        m.good = self.path_of(m).read_bytes()
        self.tasks[task_id] = m

    def pick_claim(self, data: st.DataObject) -> tuple[int, str, Claim]:
        i = data.draw(st.integers(0, len(self.claims) - 1), label="claim")
        dev, claim = self.claims[i]
        return i, dev, claim

    def pick_task(self, data: st.DataObject, *states: str, valid: bool | None = None) -> M:
        pool = sorted(
            (
                m
                for m in self.tasks.values()
                if (not states or m.state in states)
                and (valid is None or (m.broken is None) == valid)
            ),
            key=lambda m: m.task_id,
        )
        return data.draw(st.sampled_from(pool), label="task")

    def has(self, *states: str, valid: bool | None = None) -> bool:
        return any(
            (not states or m.state in states) and (valid is None or (m.broken is None) == valid)
            for m in self.tasks.values()
        )

    # ------------------------------------------------------------------ rules
    @initialize(key=st.sampled_from(KEYS))
    def first_task(self, key: str) -> None:
        self.publish(key, None)

    @rule(key=st.sampled_from(KEYS), delay=st.sampled_from([None, -3.0, 5.0, 40.0]))
    def publish(self, key: str, delay: float | None) -> None:
        """New ids appear ready (or deferred when not_before is ahead); an id that exists
        anywhere -- even as a broken file -- is left alone (publishing is idempotent)."""
        nb = None if delay is None else datetime.fromtimestamp(self.clock.now + delay, timezone.utc)
        pin = "d0" if key in PINNED else None
        task = self.operator.new_task("work", "cpu", key, device=pin, not_before=nb, stamp=STAMP)
        res = self.operator.publish(task)
        if task.task_id in self.tasks:
            assert not res.created
            return
        assert res.created
        queue = f"cpu.{pin}" if pin else "cpu"
        if nb is not None and nb.timestamp() > self.clock.now:
            self.add_published(task.task_id, queue, "deferred", nb.timestamp())
        else:
            self.add_published(task.task_id, queue, "ready", None)

    @rule(dev=st.sampled_from(DEVICES))
    def claim(self, dev: str) -> None:
        spool = self.devices[dev]
        may_break = self.stale_unheld(dev)
        got = spool.claim("cpu", dev)
        broken = [m for m in may_break if not self.still_claimed(m)]
        for m in broken:  # reaping is the device's choice (first call, or idle): observe
            self.put_back(m)
        want = self.eligible(dev)
        if got is None:
            assert want == [], f"{dev} found nothing but {want} are eligible"
            left = [m.task_id for m in may_break if m.state == "claimed"]
            assert left == [], f"{dev} went idle leaving stale claims {left}"
        else:
            assert want and got.task_id + ".json" == want[0], (got.task_id, want)
            nb = got.task.not_before
            assert nb is None or nb.timestamp() <= self.clock.now, "claimed too early"
            m = self.tasks[got.task_id]
            m.state, m.token, m.holder, m.beat = "claimed", got.name.token, dev, self.clock.now
            assert len(got.task.attempts) == m.attempts
            self.claims.append((dev, got))
        for m in broken:
            m.good = self.path_of(m).read_bytes()
        self.observe_quarantine(dev)

    @rule(dev=st.sampled_from(DEVICES))
    def reap(self, dev: str) -> None:
        """An idle device (or the daemon) breaks every stale claim it may break."""
        may_break = self.stale_unheld(dev)
        spool = self.devices[dev]
        n = sum(spool.reap(q, dev) for q in sorted(self.queues_of(dev)))
        assert n == len(may_break)
        for m in may_break:
            self.put_back(m)
            m.good = self.path_of(m).read_bytes()
        self.observe_quarantine(dev)

    @precondition(lambda self: self.claims)
    @rule(data=st.data())
    def heartbeat(self, data: st.DataObject) -> None:
        i, _, claim = self.pick_claim(data)
        if self.holds(claim):
            claim.heartbeat()
            self.tasks[claim.task_id].beat = self.clock.now
        else:
            with pytest.raises(LeaseLost):
                claim.heartbeat()
            del self.claims[i]

    @precondition(lambda self: self.claims)
    @rule(data=st.data())
    def complete(self, data: st.DataObject) -> None:
        """Children are published first (even by a worker that lost the claim: ids are
        deterministic, so that is harmless), then the fence, then the record."""
        i, _, claim = self.pick_claim(data)
        del self.claims[i]
        children = []
        if claim.task.task_type == "work":
            children = [ChildSpec(task_type="post", device_class="cpu")]
        holds = self.holds(claim)
        if holds:
            claim.complete(children=children, result={"ok": True})
        else:
            with pytest.raises(LeaseLost):
                claim.complete(children=children)
        for spec in children:
            cid = child_task_id(claim.task_id, spec.task_type, spec.suffix)
            if cid not in self.tasks:
                self.add_published(cid, "cpu", "ready", None)
        if holds:
            m = self.tasks[claim.task_id]
            m.state, m.token, m.holder, m.not_before = "complete", None, None, None
            m.good = self.path_of(m).read_bytes()

    @precondition(lambda self: self.claims)
    @rule(data=st.data())
    def fail(self, data: st.DataObject) -> None:
        i, _, claim = self.pick_claim(data)
        del self.claims[i]
        if not self.holds(claim):
            with pytest.raises(LeaseLost):
                claim.fail("boom")
            return
        claim.fail("boom")
        m = self.tasks[claim.task_id]
        m.attempts += 1
        delay = backoff(m.attempts)
        m.state = "deferred" if delay else "ready"
        m.not_before = self.clock.now + delay if delay else None
        m.token = m.holder = None
        m.good = self.path_of(m).read_bytes()

    @precondition(lambda self: self.claims)
    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        """Giving a task back: unchanged, ready.  A worker that lost the claim changes
        nothing (its rename finds no claim) and is told so: :class:`LeaseLost`."""
        i, _, claim = self.pick_claim(data)
        del self.claims[i]
        if not self.holds(claim):
            with pytest.raises(LeaseLost, match="lost the claim"):
                claim.release()
            return
        claim.release()
        m = self.tasks[claim.task_id]
        m.state, m.token, m.holder = "ready", None, None

    @precondition(lambda self: self.tasks)
    @rule(data=st.data(), force=st.booleans())
    def requeue(self, data: st.DataObject, force: bool) -> None:
        m = self.pick_task(data)
        if m.state == "ready":
            self.operator.requeue(m.task_id, force=force)  # nothing to do, even if broken
            return
        if m.state == "claimed" and not force:
            with pytest.raises(SpoolError, match="is being run by"):
                self.operator.requeue(m.task_id)
            return
        if m.broken is not None:
            with pytest.raises(InvalidTaskFile):
                self.operator.requeue(m.task_id, force=force)
            return
        self.operator.requeue(m.task_id, force=force)
        m.state, m.token, m.holder, m.not_before = "ready", None, None, None
        m.good = self.path_of(m).read_bytes()

    @precondition(lambda self: self.has("complete"))
    @rule(data=st.data())
    def operator_moves_complete_back(self, data: st.DataObject) -> None:
        """`mv complete/DAY/ID.json pending/CLASS/`: the task runs again."""
        m = self.pick_task(data, "complete")
        src = self.path_of(m)
        m.state = "ready"
        os.rename(src, self.path_of(m))

    @precondition(lambda self: self.has("ready", "deferred", valid=True))
    @rule(data=st.data(), garbage=st.sampled_from(GARBAGE))
    def operator_breaks_a_file(self, data: st.DataObject, garbage: bytes) -> None:
        """An editor saves a pending file that does not parse or validate, in place."""
        self.break_file(self.pick_task(data, "ready", "deferred", valid=True), garbage)

    def break_file(self, m: M, garbage: bytes) -> None:
        self.path_of(m).write_bytes(garbage)
        m.broken = garbage

    @precondition(lambda self: self.has(valid=False))
    @rule(data=st.data())
    def operator_fixes_it(self, data: st.DataObject) -> None:
        """Saved the safe way (temp file + rename, spool_layout.md §9): the rename rings
        the folder's doorbell, so idle devices look again.  (An in-place save does not
        change the folder: devices notice it at their periodic full re-list.)"""
        self.fix_file(self.pick_task(data, valid=False))

    def fix_file(self, m: M) -> None:
        path = self.path_of(m)
        tmp = path.parent / f".{path.name}.swp"
        tmp.write_bytes(m.good)
        os.rename(tmp, path)
        m.broken = None

    @precondition(
        lambda self: any(m.task_id not in self.tasks for m, _ in self.quarantined.values())
    )
    @rule(data=st.data())
    def operator_fixes_a_quarantined_file(self, data: st.DataObject) -> None:
        """Edit ``invalid/ID.json``, then ``mv`` it back to where it was (the fix the log
        and ``spoold check`` give)."""
        pool = sorted(p for p, (m, _) in self.quarantined.items() if m.task_id not in self.tasks)
        self.fix_quarantined(Path(data.draw(st.sampled_from(pool), label="quarantined")))

    def fix_quarantined(self, path: Path) -> None:
        """As the log says: fix it, then ``mv pending/Q/invalid/ID.json pending/Q/`` (ready:
        the fix drops a ``not_before`` too, so it runs now)."""
        m, _ = self.quarantined.pop(str(path))
        good = parse_task_bytes(m.good, str(path)).model_copy(update={"not_before": None})
        path.write_bytes(good.to_json())
        m.good, m.broken, m.state, m.not_before = good.to_json(), None, "ready", None
        self.tasks[m.task_id] = m
        os.rename(path, self.path_of(m))

    @rule(dev=st.sampled_from(DEVICES))
    def crash(self, dev: str) -> None:
        """The device's process dies: its Claim objects are gone, its claims stay on disk
        (stale once time passes), and it restarts as a new process."""
        for d, claim in self.claims:
            if d == dev and self.holds(claim):
                self.tasks[claim.task_id].holder = None
        self.claims = [(d, c) for d, c in self.claims if d != dev]
        self.devices[dev] = self.new_spool()

    @rule(dt=st.sampled_from([0.25, 2.0, 32.0]))
    def advance(self, dt: float) -> None:
        self.clock.now += dt

    # ------------------------------------------------------------------ invariants
    def scan(self) -> dict[str, list[tuple[str, str | None, Path]]]:
        """Every task file on disk: id -> [(place, queue, path)]."""
        found: dict[str, list[tuple[str, str | None, Path]]] = {}
        lay = self.operator.layout
        for q in os.listdir(lay.pending):
            for place, folder in (
                ("ready", lay.queue(q)),
                ("deferred", lay.deferred_dir(q)),
                ("claimed", lay.claimed_dir(q)),
            ):
                for name in os.listdir(folder):
                    if (folder / name).is_dir():
                        continue
                    cn = ClaimName.parse(name) if place == "claimed" else None
                    tid = cn.task_id if cn else name.removesuffix(".json")
                    found.setdefault(tid, []).append((place, q, folder / name))
        for day in os.listdir(lay.complete):
            for name in os.listdir(lay.complete / day):
                tid = name.removesuffix(".json")
                found.setdefault(tid, []).append(("complete", None, lay.complete / day / name))
        return found

    @invariant()
    def disk_matches_model(self) -> None:
        lay = self.operator.layout
        invalid = {
            str(lay.invalid_dir(q) / n): (lay.invalid_dir(q) / n).read_bytes()
            for q in os.listdir(lay.pending)
            for n in fsops.listdir(lay.invalid_dir(q))
        }
        assert invalid == {p: data for p, (_, data) in self.quarantined.items()}
        found = self.scan()
        assert set(found) == set(self.tasks), "a task appeared or vanished"
        for tid, m in self.tasks.items():
            places = found[tid]
            assert len(places) == 1, f"{tid} is in {len(places)} places: {places}"
            place, queue, path = places[0]
            assert place == m.state, (tid, place, m.state)
            if place == "complete":
                assert path.parent.name == DAY
            else:
                assert queue == m.queue
            if place == "claimed":
                cn = ClaimName.parse(path.name)
                assert cn is not None and cn.token == m.token
            data = path.read_bytes()
            if m.broken is not None:
                assert data == m.broken, f"{tid}: an operator's broken file was changed"
                continue
            rec = parse_task_bytes(data, str(path))
            assert len(rec.attempts) == m.attempts, tid
            if place == "complete":
                assert rec.completed_at is not None and rec.completed_by is not None
            if place == "deferred":
                assert rec.not_before is not None and rec.not_before.timestamp() == m.not_before

    def teardown(self) -> None:
        """``spoold check`` agrees with the model: the broken files and the stale claims are
        its only problems."""
        try:
            report = spool_inspect.check(self.operator)
            want = {str(self.path_of(m)) for m in self.tasks.values() if m.broken is not None}
            want |= set(self.quarantined)
            want |= {
                str(self.path_of(m))
                for m in self.tasks.values()
                if m.state == "claimed" and self.clock.now - m.beat > LEASE
            }
            got = {str(self.root / p.path) for p in report.problems}
            assert got == want, report.problems
            assert {p.kind for p in report.problems} <= {"invalid", "stale-claim"}
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


SpoolMachine.TestCase.settings = settings(
    max_examples=100,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_spool_against_model = SpoolMachine.TestCase


# Sequences hypothesis found (or that pin down a fix), replayed on every run.
def replay(steps: list[tuple[str, tuple[object, ...]]]) -> None:
    machine = SpoolMachine()
    try:
        for name, args in steps:
            if name in ("break_file", "fix_file"):
                task = machine.tasks[f"{STAMP}-work-{args[0]}"]
                getattr(machine, name)(task, *args[1:])
            elif name == "fix_quarantined":
                tid = f"{STAMP}-work-{args[0]}"
                [path] = [p for p, (m, _) in machine.quarantined.items() if m.task_id == tid]
                machine.fix_quarantined(Path(path))
            else:
                getattr(machine, name)(*args)
            machine.disk_matches_model()
    finally:
        machine.teardown()


def test_an_idle_device_reaps_a_dead_claim_taken_from_deferred() -> None:
    """d0 claims a task out of deferred/ (the queue folder's mtime does not change) and
    dies; d1, idle since before, must still find and break the stale claim."""
    replay(
        [
            ("publish", ("k1", 5.0)),
            ("claim", ("d1",)),  # idle: reaps, sees no claims
            ("advance", (32.0,)),
            ("claim", ("d0",)),  # takes k1 out of deferred/
            ("crash", ("d0",)),
            ("advance", (2.0,)),
            ("claim", ("d1",)),  # must break d0's claim and take k1
        ]
    )


def test_a_broken_deferred_file_is_quarantined_at_once_and_runs_once_fixed() -> None:
    """A file in deferred/ that does not parse has no ``not_before`` to wait for: the next
    claim moves it to invalid/; fixed there and moved back to the queue, it is claimed."""
    replay(
        [
            ("publish", ("k1", 5.0)),
            ("break_file", ("k1", b"not json\n")),
            ("claim", ("d1",)),  # lists deferred/: the broken file is due at once
            ("fix_quarantined", ("k1",)),
            ("claim", ("d1",)),  # k1 is ready and valid: it must be claimed
        ]
    )
