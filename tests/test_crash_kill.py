"""Workers SIGKILLed in the middle of the protocol lose nothing and leave nothing half-done.

Two parts:

* one crash at a time, at a chosen crash point (fast): what each kind of crash leaves
  behind, and how claim breaking and ``check --repair`` clean it up;
* the storm (``-m slow``): worker processes killed at random moments -- by themselves at
  random protocol steps and from outside at random times -- hundreds of times while they
  drain a pipeline whose tasks publish children.

Crash points come from ``procs/spool_workers.py``'s ``CrashPoints``: the worker process
wraps the spool's file primitives and kills itself with SIGKILL before/after one of them
(or half way through writing a temp file) while a given protocol step runs.

What a crash may leave behind -- the *expected leftovers* -- and who cleans it up:

1. a temp file in ``tmp/`` (killed while staging a copy, before the rename that publishes
   it; possibly half-written), or a spare (``tmp/HOST.PID.SEQ.spare``: a finished claim file
   a worker keeps to rewrite as its next temp file).  Never visible as a task.  ``check --repair`` deletes temp
   files older than an hour (a younger one may belong to a live writer on another host).
2. a clock probe ``tmp/clock.HOST.PID`` (every process has one; ``close()`` removes it, a
   killed process cannot).  Same rule as 1.
3. a stale claim next to a newer copy of its task (killed after landing the completed
   record, or the record of a failed attempt, and before removing the claim).  The next
   worker to break it drops it; ``check --repair`` removes it.
4. a stale claim that is the only copy of its task (killed while holding it).  Not garbage:
   breaking it puts the task back with the lost attempt recorded.

Nothing else: every file under ``pending/`` and ``complete/`` always parses and validates.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from spoolkit import age_tmp_files, spoold, temp_file_pid

from schemas.task import Task, child_task_id
from spoold.spool import ClaimName, Spool
from spoold.spool import inspect as spool_inspect

sys.path.insert(0, str(Path(__file__).parent / "procs"))
import spool_workers
from spool_workers import DEVICE_CLASS, PIPELINE, read_events

CTX = multiprocessing.get_context("fork")
STAMP = "20260101T000000Z"
LEASE = 1.0
HOUR = 3600.0


# ---------------------------------------------------------------------- helpers
def new_spool(root: Path) -> Spool:
    return Spool.init(root, default_lease=LEASE, free_retries=100)


def root_task(spool: Spool, key: str, task_type: str = "stage1") -> Task:
    return spool.new_task(task_type, DEVICE_CLASS, key, stamp=STAMP)


def crash(
    root: Path, at: str, action: str, device: str = "crashy", task: Task | None = None
) -> list[list[str]]:
    """Run ``action`` in a fresh process that SIGKILLs itself at crash point ``at``."""
    log = root.parent / f"{device}.log"
    payload = task.to_json() if task is not None else b""
    proc = CTX.Process(
        target=spool_workers.crash_at, args=(str(root), device, str(log), at, action, payload)
    )
    proc.start()
    proc.join(30)
    assert proc.exitcode == -signal.SIGKILL, f"crash point {at} was not reached"
    events = read_events(log)
    assert events[-1][:2] == ["kill", at]
    return events


def spool_files(root: Path) -> dict[str, list[Path]]:
    """Every file of the spool by area: tmp, ready, deferred, claimed, complete."""
    out: dict[str, list[Path]] = {
        k: [] for k in ("tmp", "ready", "deferred", "claimed", "complete")
    }
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).parts
        if rel[0] == "tmp":
            out["tmp"].append(path)
        elif rel[0] == "complete":
            out["complete"].append(path)
        elif rel[0] == "pending":
            area = rel[2] if len(rel) == 4 else "ready"
            out[area].append(path)
    return out


def _name_id(name: str) -> str:
    """The task id a task or claim file's name holds."""
    cn = ClaimName.parse(name)
    return cn.task_id if cn else name.removesuffix(".json")


def copies(root: Path, task_id: str) -> list[Path]:
    """Every task file (not temp file) that holds ``task_id``."""
    files = spool_files(root)
    return [
        p
        for area in ("ready", "deferred", "claimed", "complete")
        for p in files[area]
        if _name_id(p.name) == task_id
    ]


def wait_until_stale(spool: Spool, n: int, timeout: float = 10.0) -> None:
    """Bounded wait until ``n`` claims have gone a whole lease without heartbeat."""
    deadline = time.monotonic() + timeout
    while len(spool.stale_claims(DEVICE_CLASS)) < n:
        assert time.monotonic() < deadline, "claims never went stale"
        time.sleep(0.05)


def assert_every_task_file_valid(spool: Spool) -> int:
    """Every file in pending/ and complete/ parses and validates (temp files excluded)."""
    n = 0
    for entry in spool_inspect.iter_entries(spool):
        assert entry.error is None, entry.error
        n += 1
    return n


# ---------------------------------------------------------------------- one crash at a time
@pytest.mark.parametrize(
    ("at", "visible"),
    [
        ("publish:write_new:half", False),  # half a temp file
        ("publish:write_new:after", False),  # whole temp file, not renamed
        ("publish:rename:before", False),
        ("publish:rename:after", True),  # renamed, directory not yet fsynced
    ],
)
def test_kill_mid_publish_leaves_the_task_whole_or_absent(
    tmp_path: Path, at: str, visible: bool
) -> None:
    """Readers see a whole task file or none: a publish killed before its rename leaves
    only a temp file (leftover 1), and publishing again creates the task."""
    root = tmp_path / "spool"
    spool = new_spool(root)
    task = root_task(spool, "v1")
    crash(root, at, "publish", task=task)

    files = spool_files(root)
    assert (spool.locate(task.task_id) is not None) == visible
    staged = [p for p in files["tmp"] if p.name.endswith(".tmp")]
    assert len(staged) == (0 if visible else 1)
    assert_every_task_file_valid(spool)
    assert spool.publish(task).created == (not visible)
    assert spool.read(spool.layout.ready(DEVICE_CLASS, task.task_id)) == task


def test_kill_right_after_the_claim_rename_puts_the_task_back(tmp_path: Path) -> None:
    """Killed between winning the rename and stamping the lease: the claim is the only copy
    (leftover 4).  The same device's next worker sees the pid is gone and puts the task
    back, recording the lost attempt; then it can claim it."""
    root = tmp_path / "spool"
    spool = new_spool(root)
    task = root_task(spool, "v1", "stage3")
    spool.publish(task)
    crash(root, "claim:rename:after", "claim")
    assert [p.parent.name for p in copies(root, task.task_id)] == ["claimed"]

    claim = Spool(root).claim(DEVICE_CLASS, "crashy")
    assert claim is not None and claim.task_id == task.task_id
    assert [a.kind for a in claim.task.attempts] == ["worker-died"]


def test_kill_between_completed_record_and_claim_removal(tmp_path: Path) -> None:
    """Killed after landing the completed record (children published first), before
    removing its claim: the stale claim (leftover 3) is dropped by whoever breaks it -- the
    task is not run again -- and nothing else changes."""
    root = tmp_path / "spool"
    spool = new_spool(root)
    task = root_task(spool, "v1")
    spool.publish(task)
    crash(root, "recycle:unlink:before", "complete")
    done = spool.layout.completed(task.task_id)
    assert sorted(p.parent.name for p in copies(root, task.task_id)) == ["2026-01-01", "claimed"]
    record = done.read_bytes()

    worker = Spool(root)
    claim = worker.claim(DEVICE_CLASS, "crashy")  # breaks the dead worker's claim first
    assert copies(root, task.task_id) == [done]
    assert done.read_bytes() == record
    # What it claimed instead is a child, published before the crash.
    assert claim is not None and claim.task.parent_task_id == task.task_id


def make_two_stale_claims(root: Path, spool: Spool) -> Task:
    """One task, two claims, no other copy: a worker killed inside fail() after landing
    the retry copy and before removing its claim; then a second worker killed right after
    claiming that retry copy."""
    task = root_task(spool, "v1", "stage3")
    spool.publish(task)
    crash(root, "recycle:unlink:before", "fail", device="first")
    crash(root, "claim:utime:after", "claim", device="second")
    found = copies(root, task.task_id)
    assert [p.parent.name for p in found] == ["claimed", "claimed"]
    return task


def test_check_repair_keeps_one_copy_of_a_task_with_two_stale_claims(tmp_path: Path) -> None:
    """Two stale claims of one task and nothing else: neither is superseded by a copy
    outside claimed/, so repair must not delete both -- exactly one copy is put back."""
    root = tmp_path / "spool"
    spool = new_spool(root)
    task = make_two_stale_claims(root, spool)
    wait_until_stale(spool, 2)

    report = spool_inspect.check(Spool(root), repair=True)

    assert report.clean, report.problems
    found = copies(root, task.task_id)
    assert len(found) == 1, f"want exactly one copy, found {found}"
    assert found[0].parent.name in ("cpu", "deferred"), "back in pending, ready or deferred"
    assert spool.read(found[0]).attempts, "the attempt that crashed is recorded"


def test_concurrent_breakers_of_two_stale_claims_keep_one_copy(tmp_path: Path) -> None:
    """Two workers break the two stale claims of one task at the same moment (each has
    renamed its claim before either looks for other copies).  Each sees the other's claim;
    they must not both defer to the other and drop the task."""
    root = tmp_path / "spool"
    spool = new_spool(root)
    task = make_two_stale_claims(root, spool)
    claims = sorted(
        (ClaimName.parse(p.name) for p in copies(root, task.task_id)),
        key=lambda cn: cn.device if cn else "",
    )
    assert [cn.device if cn else None for cn in claims] == ["first", "second"]

    barrier = threading.Barrier(2, timeout=10)
    errors: list[BaseException] = []

    def breaker(name: str, cn: ClaimName | None) -> None:
        assert cn is not None
        s = Spool(root, free_retries=100)
        real_claims_of = s.finder.claims_of

        def claims_of(queue: str, task_id: str) -> list[ClaimName]:
            # Both breakers have renamed their claim and listed the other's before either
            # acts on what it saw: the worst interleaving, made certain.
            found = real_claims_of(queue, task_id)
            barrier.wait()
            return found

        s.finder.claims_of = claims_of  # type: ignore[method-assign]
        try:
            s.break_claim(DEVICE_CLASS, cn, "worker-died", 0.0, breaker=name)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [
        threading.Thread(target=breaker, args=(f"breaker-{i}", cn)) for i, cn in enumerate(claims)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    found = copies(root, task.task_id)
    assert [p.parent.name for p in found] == ["cpu"], f"want one ready copy, found {found}"


def test_check_repair_removes_exactly_the_expected_leftovers(tmp_path: Path) -> None:
    """After crashes that leave leftovers 1-3, ``check`` reports them, ``check --repair``
    removes exactly those files (nothing else), and ``check`` then exits 0."""
    root = tmp_path / "spool"
    spool = new_spool(root)
    a, b = root_task(spool, "a", "stage3"), root_task(spool, "b", "stage3")
    spool.publish(a)
    crash(root, "recycle:unlink:before", "complete")  # leftover 3 (+ its clock probe)
    crash(root, "publish:write_new:half", "publish", task=b)  # leftover 1 (+ probe)
    spool.close()
    before = spool_files(root)
    expected = {str(p.relative_to(root)) for p in before["tmp"] + before["claimed"]}
    assert len(before["claimed"]) == 1
    assert len([p for p in before["tmp"] if p.name.endswith(".tmp")]) == 1
    assert all(p.name.startswith("clock.") for p in before["tmp"] if not p.name.endswith(".tmp"))
    wait_until_stale(spool, 1)
    age_tmp_files(root, 2 * HOUR)

    out = spoold("check", "--spool", str(root), "--repair", "--json")
    report = json.loads(out.stdout)
    assert {p["path"] for p in report["problems"]} == expected
    assert all(p["repaired"] for p in report["problems"]), report
    after = spool_files(root)
    assert after["claimed"] == []
    assert after["complete"] == before["complete"]
    # All that is left in tmp/ is the clock probe of the `spoold check` process itself.
    assert [
        p.name for p in after["tmp"] if p in before["tmp"] or not p.name.startswith("clock.")
    ] == []
    assert spoold("check", "--spool", str(root)).returncode == 0


# ---------------------------------------------------------------------- the storm
ROOTS = 400  # stage1 roots; each has 2 stage2 children, each of those 1 stage3: 2,000 tasks
SLOTS = 4
CRASH_PROB = 0.006  # per crash point of a protocol step: roughly one task in six kills itself
FAIL_PROB = 0.03
MIN_KILLS = 200
STORM_DEADLINE = 200.0


def pipeline_ids(spool: Spool) -> tuple[list[Task], dict[str, str | None]]:
    """The seed tasks, and every task id the pipeline must complete -> its parent's id."""
    roots = [root_task(spool, f"r{i:04d}") for i in range(ROOTS)]
    want: dict[str, str | None] = {}

    def walk(task_id: str, task_type: str, parent: str | None) -> None:
        want[task_id] = parent
        for spec in PIPELINE[task_type]:
            walk(child_task_id(task_id, spec.task_type, spec.suffix), spec.task_type, task_id)

    for r in roots:
        walk(r.task_id, r.task_type, None)
    return roots, want


class Incarnation:
    """One worker process of a slot; slots 0-1 keep their device name across restarts (a
    restarted device re-takes its own claims at once), slots 2-3 get a new name each time
    (their claims are recovered only when the lease runs out)."""

    def __init__(self, root: Path, logs: Path, slot: int, gen: int, seed: int) -> None:
        self.device = f"w{slot}" if slot < 2 else f"w{slot}-g{gen}"
        self.log = logs / f"w{slot}-g{gen}.log"
        self.proc = CTX.Process(
            target=spool_workers.crash_worker,
            args=(str(root), self.device, str(self.log)),
            kwargs={"crash_prob": CRASH_PROB, "fail_prob": FAIL_PROB, "seed": seed, "fsync": True},
        )
        self.proc.start()


def storm_done(root: Path, want: dict[str, str | None]) -> bool:
    done = (
        {n.removesuffix(".json") for n in os.listdir(root / "complete" / "2026-01-01")}
        if (root / "complete" / "2026-01-01").is_dir()
        else set()
    )
    q = root / "pending" / DEVICE_CLASS
    waiting = [
        n for d in (q, q / "deferred") if d.is_dir() for n in os.listdir(d) if n.endswith(".json")
    ]
    return done >= set(want) and not waiting


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_sigkill_storm_loses_nothing_and_leaves_only_expected_leftovers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Four worker processes drain a 2,000-task pipeline (every stage1 task publishes two
    stage2 children, each of those a stage3 child; ids are deterministic, so a duplicate
    would show) while they are SIGKILLed at least 200 times: by themselves at random crash
    points of publish / claim / complete / fail / break, and from outside at random times.
    A 1 s lease makes abandoned claims come back quickly.

    Afterwards: every task has exactly one record, in complete/, completing the right
    parent's child; nothing is pending; every file under pending/ and complete/ parses;
    the only leftovers are the expected ones (stale claims of completed tasks, temp files
    and clock probes of killed processes), ``check --repair`` removes exactly those, and
    ``check`` exits 0.  Duplicate work is printed."""
    root = tmp_path / "spool"
    logs = tmp_path / "logs"
    logs.mkdir()
    spool = Spool.init(root, default_lease=LEASE, fsync=False)  # seeding is not under test
    roots, want = pipeline_ids(spool)
    for task in roots:
        spool.publish(task)
    spool.close()

    # The workers run with fsync on: the real code path, and longer windows to die in.
    rng = random.Random(20260101)
    gens = [0] * SLOTS
    live: list[Incarnation | None] = [None] * SLOTS
    dead: list[Incarnation] = []
    external = 0
    started = time.monotonic()
    deadline = started + STORM_DEADLINE
    next_kill = started + rng.uniform(0.05, 0.4)
    next_look = started
    try:
        while True:
            now = time.monotonic()
            for slot in range(SLOTS):
                inc = live[slot]
                if inc is not None and inc.proc.exitcode is not None:  # reaps the zombie
                    assert inc.proc.exitcode == -signal.SIGKILL, (
                        f"{inc.device} exited with {inc.proc.exitcode} (see its traceback above)"
                    )
                    dead.append(inc)
                    live[slot] = None
                if live[slot] is None:
                    gens[slot] += 1
                    live[slot] = Incarnation(root, logs, slot, gens[slot], rng.randrange(1 << 30))
            if now >= next_kill:
                victim = live[rng.randrange(SLOTS)]
                assert victim is not None and victim.proc.pid is not None
                try:
                    os.kill(victim.proc.pid, signal.SIGKILL)
                    external += 1
                except ProcessLookupError:
                    pass  # it had just killed itself
                next_kill = now + rng.uniform(0.05, 0.4)
            if now >= next_look:
                next_look = now + 0.25
                if storm_done(root, want):
                    break
            assert now < deadline, "the pipeline did not drain in time"
            time.sleep(0.01)
        drained_s = time.monotonic() - started
    finally:
        for inc in live:
            if inc is not None:
                inc.proc.kill()
                inc.proc.join()
                dead.append(inc)

    # --- kills
    self_kills = Counter[str]()
    for inc in dead:
        for ev in read_events(inc.log):
            if ev[0] == "kill":
                self_kills[ev[1].split(":")[0]] += 1
    kills = external + sum(self_kills.values())
    assert kills >= MIN_KILLS, f"only {kills} kills"
    for step in ("publish", "claim", "complete", "fail"):
        assert self_kills[step] > 0, f"no worker was killed inside {step}"

    # --- the spool: one record per task, nothing pending, every file valid
    done_dir = root / "complete" / "2026-01-01"
    assert sorted(n.removesuffix(".json") for n in os.listdir(done_dir)) == sorted(want)
    assert os.listdir(root / "complete") == ["2026-01-01"]
    files = spool_files(root)
    assert files["ready"] == files["deferred"] == [], "a task copy was left waiting"
    reader = Spool(root)
    for task_id, parent in want.items():
        rec = reader.read(done_dir / f"{task_id}.json")
        assert rec.task_id == task_id and rec.parent_task_id == parent
        assert rec.completed_at is not None and rec.completed_by is not None
    n_files = assert_every_task_file_valid(reader)
    assert n_files == len(want) + len(files["claimed"])

    # --- leftovers: each stale claim is of a completed task (leftover 3); each temp file
    # or clock probe belongs to a killed process (leftovers 1 and 2).
    killed_pids = {str(inc.proc.pid) for inc in dead}
    for claim in files["claimed"]:
        cn = ClaimName.parse(claim.name)
        assert cn is not None and cn.task_id in want, claim.name
    for tmp in files["tmp"]:
        pid = temp_file_pid(tmp.name)
        assert pid is not None and str(pid) in killed_pids, (
            f"tmp/{tmp.name} was not left by a killed worker"
        )
    expected = {str(p.relative_to(root)) for p in files["claimed"] + files["tmp"]}
    wait_until_stale(reader, len(files["claimed"]))
    reader.close()  # this process's own clock probe is not a leftover
    age_tmp_files(root, 2 * HOUR)
    report = json.loads(spoold("check", "--spool", str(root), "--repair", "--json").stdout)
    assert {p["path"] for p in report["problems"]} == expected
    assert all(p["repaired"] for p in report["problems"]), report["problems"]
    after = spool_files(root)
    assert after["claimed"] == [] and sorted(after["complete"]) == sorted(files["complete"])
    assert spoold("check", "--spool", str(root)).returncode == 0

    # --- duplicate work: how often a task was run more than once, and why.  The run that
    # completed a task is the one whose pid its record names (its "done" line may be
    # missing: killed between landing the record and logging); every other run of it is
    # duplicate work, explained by how that run ended.
    completed_by = {t: reader.read(done_dir / f"{t}.json").result for t in want}
    runs: Counter[str] = Counter()
    completions: Counter[str] = Counter()
    redone = Counter[str]()  # how each run that did not complete its task ended
    for inc in dead:
        events = read_events(inc.log)
        for i, ev in enumerate(events):
            if ev[0] != "claim":
                continue
            runs[ev[1]] += 1
            end = next((e for e in events[i + 1 :] if len(e) > 1 and e[1] == ev[1]), None)
            if end is not None and end[0] == "done":
                completions[ev[1]] += 1
            ended = "killed" if end is None else end[0]
            if (completed_by[ev[1]] or {}).get("pid") != inc.proc.pid or ended in ("fail", "lost"):
                redone[ended] += 1
    assert set(runs) == set(want), "a task was never run (or an unknown one was)"
    extra = sum(n - 1 for n in runs.values())
    twice = {t: n for t, n in completions.items() if n > 1}
    for task_id in twice:  # only a worker that stalled past its lease after its fence
        rec = reader.read(done_dir / f"{task_id}.json")
        assert any(a.kind == "lease-expired" for a in rec.attempts), task_id
    assert redone.get("done", 0) == sum(n - 1 for n in twice.values())
    assert sum(redone.values()) == extra, "every extra run is accounted for"
    with capsys.disabled():
        print(
            f"\nSIGKILL storm: {len(want)} tasks drained in {drained_s:.0f} s by {len(dead)} "
            f"worker processes; {kills} SIGKILLs ({external} from outside, "
            f"{sum(self_kills.values())} at crash points: "
            + ", ".join(f"{k} {v}" for k, v in sorted(self_kills.items()))
            + f")\n  duplicate work: {sum(1 for n in runs.values() if n > 1)} of {len(want)} "
            f"tasks ran more than once, {extra} extra runs in {sum(runs.values())}; "
            "the runs that did not complete their task ended: "
            + ", ".join(f"{k} {v}" for k, v in sorted(redone.items()))
            + f"\n  tasks completed twice: {len(twice)}; leftovers removed by check --repair: "
            f"{len(files['claimed'])} stale claims, {len(files['tmp'])} temp files/clock probes"
        )
