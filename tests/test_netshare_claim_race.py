"""Two client hosts claim the same task at the same instant, round after round.

A racer process on each client mount takes the oldest task of a shared queue in lockstep
(barrier), so every round is a head-on claim race.  SMB can tell both renamers that they won
(``../shared/netshare/README.md``, a3.1): spoold confirms a claim by touching and reading
the file under its own claim name, and fences every completion with a heartbeat on that
name.  Whatever the share does:

- no task is completed by both racers (at most one passes the fence);
- every task ends with exactly one record, in ``complete/``; nothing is left pending.

"Both claimed it" (the loser's confirmation ran before the winner's late rename landed) is
allowed, counted, and written to ``test-output/netshare/claim-race-TYPE.json``.
"""

from __future__ import annotations

import functools
import json
import multiprocessing
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from netshare import REPO, SHARE_TYPES, Share, share_fixture, wait_for

from spoold.spool import Spool

sys.path.insert(0, str(Path(__file__).parent / "procs_netshare"))
import claim_racer

pytestmark = pytest.mark.netshare

ROUNDS = 60
STAMP = "20260101T000000Z"
CTX = multiprocessing.get_context("fork")


@pytest.fixture(scope="session", params=SHARE_TYPES)
def share(request: pytest.FixtureRequest) -> Iterator[Share]:
    yield from share_fixture(request.param)


def lists_all(root: Path) -> bool:
    return len([n for n in os.listdir(root / "pending" / "cpu") if n.endswith(".json")]) == ROUNDS


def test_two_hosts_racing_for_one_task_never_both_complete_it(share: Share) -> None:
    with share.scratch("race") as d:
        spool = Spool.init(d.a, default_lease=60, fsync=False)
        names = set()
        for i in range(ROUNDS):
            names.add(
                spool.publish(spool.new_task("ingest", "cpu", f"r{i:03d}", stamp=STAMP)).task_id
            )
        for m in (d.a, d.b):  # both hosts must list them all (sshfs caches listings ~1 s)
            wait_for(functools.partial(lists_all, m), 30, f"{m} to list every task")
        barrier = CTX.Barrier(2)
        out: Any = CTX.Queue()
        racers = [
            CTX.Process(target=claim_racer.race, args=(str(root), name, ROUNDS, barrier, out))
            for root, name in ((d.a, "host-a"), (d.b, "host-b"))
        ]
        for p in racers:
            p.start()
        rows: list[dict[str, Any]] = []
        deadline = time.monotonic() + 300
        try:
            while len(rows) < 2 * ROUNDS:
                assert time.monotonic() < deadline, f"racers stuck after {len(rows)} reports"
                assert all(p.exitcode in (None, 0) for p in racers), "a racer crashed"
                try:
                    rows.append(out.get(timeout=1))
                except Exception:  # queue.Empty
                    continue
        finally:
            for p in racers:
                p.join(timeout=60)
                if p.is_alive():
                    p.kill()
        by_round: dict[int, list[dict[str, Any]]] = {}
        for row in rows:
            by_round.setdefault(row["round"], []).append(row)
        double_renames = both_claimed = both_fenced = both_completed = 0
        for pair in by_round.values():
            a, b = pair
            double_renames += len(set(a["renamed"]) & set(b["renamed"]))
            if a["claimed"] and a["claimed"] == b["claimed"]:
                both_claimed += 1
                both_fenced += a["fenced"] and b["fenced"]
                both_completed += a["completed"] and b["completed"]
        completed = [r["claimed"] for r in rows if r["completed"]]
        assert both_completed == 0, "two hosts completed the same task"
        assert len(completed) == len(set(completed)), "a task was completed twice"
        # Some rounds may end with nobody completing (both lost their rename); finish those.
        while (c := spool.claim("cpu", "sweeper")) is not None:
            c.complete()
        done = {n[: -len(".json")] for n in os.listdir(d.a / "complete" / "2026-01-01")}
        assert done == names, f"lost: {sorted(names - done)}"
        left = [str(p) for p in (d.a / "pending" / "cpu").rglob("*.json")]
        assert left == [], f"left pending: {left}"
        summary = {
            "share": share.type,
            "rounds": ROUNDS,
            "claim_renames_both_reported_success": double_renames,
            "of_which_both_held_a_claim": both_claimed,
            "of_which_both_passed_the_fence": both_fenced,
            "tasks_completed_twice": both_completed,
            "tasks_completed_by_racers": len(completed),
        }
        out_dir = REPO / "test-output" / "netshare"
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / f"claim-race-{share.type}.json").write_text(json.dumps(summary, indent=2) + "\n")
        with open(out_dir / "claim-race-runs.jsonl", "a") as fh:
            fh.write(json.dumps(summary) + "\n")
        print(json.dumps(summary))
