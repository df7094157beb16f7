"""Two client hosts drain one spool on a real share, under SIGKILL.

Per share type (nfs, smb, sshfs; see ``netshare.py`` for where the share comes from):
``spoold work`` processes on client mount A ("host-a", two processes) and client mount B
("host-b", three processes) drain ``ROOTS`` ingest tasks, each of which publishes two detect children with
deterministic ids.  Meanwhile a random worker is SIGKILLed and restarted every second or
so.  Every device runs on a client mount, never in the export: a process there would not see
what share clients do to names and caches; the export is only read, to judge.  Whatever the kills and the share's rename semantics do, at the end:

- every task (roots and children) has exactly one record, in ``complete/``; none is lost;
- nothing is left in ``pending/`` (no duplicate child, no stray copy) once
  ``spoold check --repair`` dropped the expected crash leftovers, and ``spoold check`` is
  clean; every file there parses;
- the only other leftovers are temp files of killed writers (``tmp/*.tmp`` and clock probes
  named with a killed pid), which ``check --repair`` deletes when they are an hour old.

Duplicate *work* (a task run more than once) is allowed and measured: after a kill the
task is re-run by design; a re-run with no kill behind it comes from a claim race (SMB can
tell two renamers that both won) or a broken lease.  The figures are printed and written
to ``test-output/netshare/drain-TYPE.json`` (docs/reliability.md quotes them).
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
from spoolkit import temp_file_pid

from spoold.spool import Spool
from spoold.spool.fsops import listdir

pytestmark = pytest.mark.netshare

ROOTS = 150  # -> 450 tasks
STAMP = "20260101T000000Z"
DAY = "2026-01-01"
LEASE_S = 6
KILLS = 25
DEADLINE_S = 420.0
RECORD_RUN = Path(__file__).parent / "procs_netshare" / "record_run.sh"


@pytest.fixture(scope="session", params=SHARE_TYPES)
def share(request: pytest.FixtureRequest) -> Iterator[Share]:
    yield from share_fixture(request.param)


def expected_ids() -> set[str]:
    ids = set()
    for i in range(ROOTS):
        ids.add(f"{STAMP}-ingest-v{i:04d}")
        ids.update(f"{STAMP}-detect-v{i:04d}.{s}" for s in "ab")
    return ids


def worker_args(root: Path, cfg: Path) -> list[str]:
    return [
        "--spool", str(root), "--config", str(cfg), "--class", "cpu", "--poll", "0.1",
        "--max-poll", "0.5", "--lease", str(LEASE_S), "--", "/bin/sh", str(RECORD_RUN),
    ]  # fmt: skip


def task_files(folder: Path) -> list[str]:
    return [n for n in listdir(folder) if n.endswith(".json")]


def pending_files(root: Path) -> list[str]:
    out = []
    for q in os.listdir(root / "pending"):
        for sub in ("", "deferred", "claimed"):
            out += [
                f"{q}/{sub}/{n}".replace("//", "/") for n in task_files(root / "pending" / q / sub)
            ]
    return sorted(out)


def spoold(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*python_cmd(), *args], capture_output=True, text=True, timeout=300, cwd=cwd, check=False
    )


def test_workers_on_two_hosts_and_the_server_drain_every_task_exactly_once_under_sigkill(
    share: Share, tmp_path: Path
) -> None:
    seed = int(os.environ.get("SPOOLD_CHAOS_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    with share.scratch("drain") as d:
        spool = Spool.init(d.a, default_lease=LEASE_S)
        for i in range(ROOTS):
            spool.publish(spool.new_task("ingest", "cpu", f"v{i:04d}", stamp=STAMP))
        cfg = tmp_path / "spoold.toml"
        cfg.write_text(f'[spool]\nroot = "{d.a}"\nbackoff_base_s = 1.0\nbackoff_max_s = 4.0\n')
        logs = tmp_path / "logs"
        logs.mkdir()
        workdirs = tmp_path / "workdirs"  # killed workers leave their scratch folders here
        workdirs.mkdir()
        runlog = tmp_path / "runs.log"
        env = dict(os.environ, RUNLOG=str(runlog), TMPDIR=str(workdirs))
        slots = [
            WorkerSlot(name, device, worker_args(root, cfg), logs)
            for name, device, root in (
                ("a1", "host-a", d.a), ("a2", "host-a", d.a),
                ("b1", "host-b", d.b), ("b2", "host-b", d.b), ("b3", "host-b", d.b),
            )
        ]  # fmt: skip
        watch = d.server or d.a  # the cheapest view of the spool (judging only)
        want = expected_ids()
        killed: list[int] = []
        started = time.monotonic()
        try:
            for w in slots:
                w.start(env)
            next_kill = time.monotonic() + rng.uniform(0.3, 1.2)
            while True:
                done = task_files(watch / "complete" / DAY)
                if len(done) >= len(want) and not pending_files(watch):
                    break
                elapsed = time.monotonic() - started
                assert elapsed < DEADLINE_S, (
                    f"[{share.describe()}] after {elapsed:.0f} s only {len(done)} of {len(want)} "
                    f"complete; pending: {pending_files(watch)[:20]}; seed {seed}"
                )
                for w in slots:  # a worker must only ever die by our hand
                    assert w.alive(), f"worker {w.name} exited: see {w.log}"
                if len(killed) < KILLS and time.monotonic() >= next_kill:
                    victim = rng.choice(slots)
                    killed.append(victim.kill())
                    victim.start(env)
                    next_kill = time.monotonic() + rng.uniform(0.3, 1.2)
                time.sleep(0.1)
            drained_s = time.monotonic() - started
        finally:
            for w in slots:
                w.stop()

        # --- the spool: leftovers of the kills, then a clean check (through host a's mount,
        # once its caches show what the server has: a listing may lag a rename by ~2 s)
        share.settle()
        repair = spoold("check", "--repair", "--spool", str(d.a), cwd=tmp_path)
        check = spoold("check", "--spool", str(d.a), cwd=tmp_path)
        assert check.returncode == 0, f"spoold check after repair:\n{check.stdout}{check.stderr}"
        assert not re.search(r"^invalid ", repair.stdout, re.M), f"unparsable:\n{repair.stdout}"
        assert pending_files(d.a) == [], "a task copy was left in pending/"
        done_ids = {n[: -len(".json")] for n in task_files(d.a / "complete" / DAY)}
        assert done_ids - want == set(), f"unexpected tasks completed: {sorted(done_ids - want)}"
        assert want - done_ids == set(), f"lost tasks: {sorted(want - done_ids)}"
        for tid in sorted(done_ids):  # every record parses and is the completion of its task
            rec = spool.read(spool.layout.completed(tid))
            assert rec.task_id == tid and rec.completed_at is not None
            if "-detect-" in tid:
                assert rec.parent_task_id == tid.replace("-detect-", "-ingest-")[:-2]
        killed_pids = {str(p) for p in killed}
        spool.close()  # this process's own clock probe
        leftovers = os.listdir(d.a / "tmp")
        for name in leftovers:
            pid = temp_file_pid(name)
            if name.startswith("clock.") and pid is not None:  # clock probe (§5): process gone
                assert not Path(f"/proc/{pid}").exists(), f"tmp/{name}: its process still runs"
                continue
            # a staged copy or a spare (spool_layout.md §4) of a killed worker
            assert pid is not None and str(pid) in killed_pids, (
                f"tmp/{name} was not left by a killed worker"
            )

        # --- duplicate work: runs per task, and what explains each re-run
        runs: Counter[str] = Counter()
        killed_runs: Counter[str] = Counter()
        who: dict[str, list[str]] = {}
        for line in runlog.read_text().splitlines():
            tid, device, pid = line.split()
            runs[tid] += 1
            killed_runs[tid] += pid in killed_pids
            who.setdefault(tid, []).append(
                f"{device}/{pid}" + ("(killed)" if pid in killed_pids else "")
            )
        assert set(runs) == want, "a task was never run (or an unknown one was)"
        extra = {t: n - 1 for t, n in runs.items() if n > 1}
        after_kill = sum(min(n, killed_runs[t]) for t, n in extra.items())
        pids = {f"{w.name}.{n}": pid for w in slots for n, pid in enumerate(w.pids, 1)}
        completions: Counter[str] = Counter()
        completed_by: dict[str, list[str]] = {}  # task -> worker logs (slot.incarnation)
        lost_leases = 0
        for log in logs.iterdir():
            text = log.read_text(errors="replace")
            for tid in completed_in(text):
                completions[tid] += 1
                completed_by.setdefault(tid, []).append(f"{log.stem}/{pids.get(log.stem)}")
            lost_leases += len(re.findall(r"lost the claim|lease lost", text))
        summary = {
            "share": share.type,
            "origin": share.origin,
            "server_side_worker": False,
            "tasks": len(want),
            "kills": len(killed),
            "seconds": round(drained_s, 1),
            "runs": sum(runs.values()),
            "duplicate_runs": sum(extra.values()),
            "duplicate_runs_after_kill": after_kill,
            "duplicate_runs_race_or_lease": sum(extra.values()) - after_kill,
            "tasks_completed_twice": sum(1 for n in completions.values() if n > 1),
            "lease_lost_events": lost_leases,
            "unexplained_reruns": [
                {"task": t, "runs": who[t], "completed_by": completed_by.get(t, [])}
                for t, n in sorted(extra.items())
                if n > killed_runs[t]
            ],
            "lost": len(want - done_ids),
            "corrupt": 0,
            "tmp_files_of_killed_writers": sum(n.endswith(".tmp") for n in leftovers),
            "check_repair": [ln for ln in repair.stdout.splitlines() if ln.strip()],
            "seed": seed,
        }
        out = REPO / "test-output" / "netshare"
        out.mkdir(parents=True, exist_ok=True)
        (out / f"drain-{share.type}.json").write_text(json.dumps(summary, indent=2) + "\n")
        with open(out / "drain-runs.jsonl", "a") as fh:  # every run, for the figures in the docs
            fh.write(json.dumps(summary) + "\n")
        print(json.dumps(summary))
