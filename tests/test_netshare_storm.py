"""A kill storm with device replacement on a real share, every device on a client mount.

Per share type (nfs, smb, sshfs; ``netshare.py`` says where the share comes from): four
``spoold work`` processes, two on client mount A and two on client mount B (never in the
export: the server side is only for judging), drain ``TASKS`` tasks while one of them is
SIGKILLed every ~0.4 s, ``KILLS`` times.  Every third kill *replaces* the device (its victim
is a slot that holds a claim at that moment): the slot restarts under a new device id, so nobody re-takes the dead claims as its own and the other
devices must break them once their lease has run out (spool_layout.md §4.7).  Claim names
must survive the client (an SMB client lists ``@`` as ``%40``: names use portable
characters only, §2), or those claims are never broken and their tasks stay stuck.

Asserted: every task completed, none twice, nothing left pending, ``spoold check`` clean;
and every claim a replaced device left behind was broken within ``STALE_BOUND_S`` of its last
heartbeat: the lease, plus one reaping interval (``min(lease/3, 10)``), plus one poll, plus the
client caches' lag.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from netshare import (
    REPO,
    SHARE_TYPES,
    Share,
    WorkerSlot,
    completed_in,
    python_cmd,
    share_fixture,
)

from spoold.spool import ClaimName, Spool
from spoold.spool.fsops import listdir

pytestmark = [pytest.mark.netshare, pytest.mark.slow]

TASKS = 300
KILLS = 45
REPLACE_EVERY = 3  # every third kill restarts the slot under a new device id
STAMP = "20260101T000000Z"
DAY = "2026-01-01"
LEASE_S = 5
MAX_POLL_S = 0.5
CACHE_LAG_S = 3.0  # a client's listing may lag the server by ~2x its 1 s cache (netshare.py)
STALE_BOUND_S = LEASE_S + min(LEASE_S / 3, 10) + MAX_POLL_S + CACHE_LAG_S
DEADLINE_S = 170.0
HOLDER_WAIT_S = 10.0  # a replacement kill waits this long for a slot holding a claim
RUN = Path(__file__).parent / "procs_netshare" / "storm_run.sh"


@pytest.fixture(scope="session", params=SHARE_TYPES)
def share(request: pytest.FixtureRequest) -> Iterator[Share]:
    yield from share_fixture(request.param)


def worker_args(root: Path, cfg: Path) -> list[str]:
    return [
        "--spool", str(root), "--config", str(cfg), "--class", "cpu", "--poll", "0.1",
        "--max-poll", str(MAX_POLL_S), "--lease", str(LEASE_S), "--", "/bin/sh", str(RUN),
    ]  # fmt: skip


def pick_victim(
    slots: list[WorkerSlot], claimed: Path, rng: random.Random, holding: bool
) -> WorkerSlot | None:
    """A random slot; with ``holding``, one whose process holds a claim right now (None if
    none does): a replaced device must leave claims behind to be broken, and on a loaded
    machine a worker killed every 0.2-0.6 s is often still starting when it dies."""
    if not holding:
        return rng.choice(slots)
    pids = {cn.pid for n in listdir(claimed) if (cn := ClaimName.parse(n)) is not None}
    holders = [s for s in slots if s.alive() and s.pids[-1] in pids]
    return rng.choice(holders) if holders else None


def pending_files(root: Path) -> list[str]:
    out = []
    for q in listdir(root / "pending"):
        for sub in ("", "deferred", "claimed", "invalid"):
            folder = root / "pending" / q / sub
            out += [f"{q}/{sub}/{n}" for n in listdir(folder) if ".json" in n]
    return sorted(out)


def test_a_kill_storm_with_replaced_devices_loses_nothing_and_breaks_every_stale_claim(
    share: Share, tmp_path: Path
) -> None:
    seed = int(os.environ.get("SPOOLD_CHAOS_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    with share.scratch("storm") as d:
        spool = Spool.init(d.a, default_lease=LEASE_S)
        for i in range(TASKS):
            spool.publish(spool.new_task("work", "cpu", f"s{i:04d}", stamp=STAMP))
        cfg = tmp_path / "spoold.toml"
        cfg.write_text(f'[spool]\nroot = "{d.a}"\nbackoff_base_s = 0.5\nbackoff_max_s = 2.0\n')
        logs = tmp_path / "logs"
        logs.mkdir()
        runlog = tmp_path / "runs.log"
        env = dict(os.environ, RUNLOG=str(runlog), TMPDIR=str(tmp_path))
        slots = [
            WorkerSlot(name, f"{name}-0", worker_args(root, cfg), logs)
            for name, root in (("a1", d.a), ("a2", d.a), ("b1", d.b), ("b2", d.b))
        ]
        judge = d.server or d.a  # the export, where there is one: judging only
        claimed = judge / "pending" / "cpu" / "claimed"
        orphaned: dict[str, float] = {}  # claim of a replaced device -> its last heartbeat
        broken_after: dict[str, float] = {}  # claim -> seconds from last heartbeat to gone
        kills = replaced = 0
        started = time.monotonic()
        try:
            for s in slots:
                s.start(env)
            next_kill = time.monotonic() + 2.0  # let every slot start claiming first
            while True:
                done = listdir(judge / "complete" / DAY)
                if kills >= KILLS and len(done) >= TASKS and not pending_files(judge):
                    break
                elapsed = time.monotonic() - started
                assert elapsed < DEADLINE_S, (
                    f"[{share.describe()}] after {elapsed:.0f} s {len(done)} of {TASKS} complete,"
                    f" {kills} kills; pending: {pending_files(judge)[:20]}; seed {seed}"
                )
                for s in slots:
                    assert s.alive(), f"worker {s.name} exited: see {s.log}"
                now = time.time()  # the rig's server runs on this machine: one clock
                for name in list(orphaned):
                    try:  # a heartbeat the dead worker had queued in its FUSE client can
                        # still land after the kill: its last heartbeat is the latest mtime
                        mtime = os.lstat(claimed / name).st_mtime
                    except FileNotFoundError:
                        broken_after[name] = now - orphaned.pop(name)
                    else:
                        orphaned[name] = max(orphaned[name], mtime)
                if kills < KILLS and time.monotonic() >= next_kill:
                    replace = (kills + 1) % REPLACE_EVERY == 0
                    victim = pick_victim(slots, claimed, rng, replace)
                    if victim is None:  # a replacement waits for a slot that holds a claim
                        time.sleep(0.05)
                        if time.monotonic() < next_kill + HOLDER_WAIT_S:
                            continue
                        victim = rng.choice(slots)
                    pid = victim.kill()
                    kills += 1
                    if replace:  # a new device id: its claims are orphans
                        replaced += 1
                        for n in listdir(claimed):
                            cn = ClaimName.parse(n)
                            if cn is not None and cn.pid == pid:
                                try:
                                    orphaned[n] = os.lstat(claimed / n).st_mtime
                                except FileNotFoundError:
                                    pass
                        victim.device = f"{victim.name}-{victim.incarnation}"
                    victim.start(env)
                    next_kill = time.monotonic() + rng.uniform(0.2, 0.6)
                time.sleep(0.05)
            drained_s = time.monotonic() - started
        finally:
            for s in slots:
                s.stop()

        share.settle()
        repair = subprocess.run(
            [*python_cmd(), "check", "--repair", "--spool", str(d.a)],
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        check = subprocess.run(
            [*python_cmd(), "check", "--spool", str(d.a)],
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert check.returncode == 0, f"spoold check after repair:\n{check.stdout}{check.stderr}"
        assert not re.search(r"^invalid ", repair.stdout, re.M), repair.stdout
        assert pending_files(d.a) == []
        done_ids = {n.removesuffix(".json") for n in listdir(d.a / "complete" / DAY)}
        want = {f"{STAMP}-work-s{i:04d}" for i in range(TASKS)}
        assert want - done_ids == set(), f"lost: {sorted(want - done_ids)}"
        assert done_ids == want
        completions: Counter[str] = Counter()
        for log in logs.iterdir():
            text = log.read_text(errors="replace")
            completions.update(completed_in(text))
        twice = sorted(t for t, n in completions.items() if n > 1)
        assert twice == [], f"completed twice: {twice}"
        assert orphaned == {}, f"stale claims never broken: {sorted(orphaned)}"
        slow = {n: round(s, 1) for n, s in broken_after.items() if s > STALE_BOUND_S}
        assert slow == {}, f"broken later than {STALE_BOUND_S:.1f} s after the last heartbeat"
        assert replaced >= KILLS // REPLACE_EVERY and broken_after, "no claim was orphaned"
        runs = Counter(line.split()[0] for line in runlog.read_text().splitlines())
        summary = {
            "share": share.type,
            "origin": share.origin,
            "tasks": TASKS,
            "kills": kills,
            "replaced_devices": replaced,
            "orphaned_claims_broken": len(broken_after),
            "slowest_break_s": round(max(broken_after.values()), 1),
            "stale_bound_s": STALE_BOUND_S,
            "seconds": round(drained_s, 1),
            "runs": sum(runs.values()),
            "completed_twice": len(twice),
            "lost": 0,
            "seed": seed,
        }
        out = REPO / "test-output" / "netshare"
        out.mkdir(parents=True, exist_ok=True)
        with open(out / "storm-runs.jsonl", "a") as fh:
            fh.write(json.dumps(summary) + "\n")
        print(json.dumps(summary))
