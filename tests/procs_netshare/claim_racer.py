"""One racer of test_netshare_claim_race.py: a process on one client mount that, in lockstep
with a racer on the other mount, claims the oldest task, waits, heartbeats and completes.

Run as a ``multiprocessing`` target (fork).  Every round it reports one dict to ``out``:
``{"round", "racer", "renamed": [task ids whose claim rename reported success],
"claimed": task id or None, "fenced": bool, "completed": bool}``.
"""

from __future__ import annotations

import time
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

from spoold.errors import LeaseLost
from spoold.spool import Spool, fsops

_renamed: list[str] = []  # task ids whose claim rename reported success, this round


def _observed_rename(src: str | Path, dst: str | Path, *, dst_unique: bool = True) -> bool:
    won = _real_rename(src, dst, dst_unique=dst_unique)
    if won and Path(dst).parent.name == "claimed" and Path(src).parent.name != "claimed":
        _renamed.append(Path(src).name[: -len(".json")])
    return won


_real_rename = fsops.rename


def race(root: str, racer: str, rounds: int, barrier: Barrier, out: Queue[dict[str, Any]]) -> None:
    fsops.rename = _observed_rename  # count the claim renames that "won"; change nothing
    for r in range(rounds):
        spool = Spool(Path(root), fsync=False)  # a fresh view: both take the oldest task
        spool.server_now()  # learn the clock and reap now, so that after the barrier
        spool.reap("cpu", racer)  # both go straight to listing and renaming
        _renamed.clear()
        barrier.wait(60)
        claim = spool.claim("cpu", racer)
        row: dict[str, Any] = {"round": r, "racer": racer, "claimed": None}
        row.update(renamed=list(_renamed), fenced=False, completed=False)
        if claim is not None:
            row["claimed"] = claim.task_id
            time.sleep(0.2)  # let a late second rename of the same file land
            try:
                claim.heartbeat()
                row["fenced"] = True
                claim.complete(result={"by": racer})
                row["completed"] = True
            except LeaseLost:
                pass
        out.put(row)
        barrier.wait(60)  # nobody starts the next round before both finished this one
        spool.close()
