"""Each crash point of the protocol leaves a state that recovery turns back into a clean spool.

The states are built exactly as a process killed at that instant leaves them; the real
SIGKILL runs are in test_crash_kill.py.
"""

from __future__ import annotations

import os
from pathlib import Path

from spoolkit import dead_pid, files_under, later, new_spool, task

from spoold.spool import ClaimName, Spool
from spoold.spool import inspect as spool_inspect


def crashed_claim(
    spool: Spool, task_id: str, queue: str = "jetson", device: str = "jetson-01"
) -> Path:
    """Rename a ready task to a claim whose holder process is dead."""
    cn = ClaimName(task_id, device, f"{dead_pid()}-0badc0de", 60)
    dst = spool.layout.claimed(queue, cn)
    os.rename(spool.layout.ready(queue, task_id), dst)
    return dst


def test_crash_before_publish_rename_leaves_only_an_old_temp_file(tmp_path: Path) -> None:
    spool = new_spool(tmp_path)
    leftover = spool.layout.tmp / "20261125T101530Z-preprocess-clip1.json.999-1-abc.tmp"
    leftover.write_text('{"half": ')
    rep = spool_inspect.check(spool)
    assert rep.clean  # young temp files may belong to a live writer
    later(spool, 2 * 3600)
    rep = spool_inspect.check(spool, repair=True)
    assert [p.kind for p in rep.problems] == ["tmp"] and rep.clean
    assert not leftover.exists()


def test_crash_while_running_is_recovered_by_breaking_the_claim(tmp_path: Path) -> None:
    spool = new_spool(tmp_path)
    spool.publish(task(spool))
    crashed_claim(spool, "20261125T101530Z-preprocess-clip1")
    other = Spool(spool.root)
    later(other, 61)
    claim = other.claim("jetson", "jetson-02")
    assert claim is not None and claim.task.attempts[0].kind == "lease-expired"


def test_crash_after_completing_leaves_a_stale_claim_that_is_dropped(tmp_path: Path) -> None:
    spool = new_spool(tmp_path)
    spool.publish(task(spool))
    claim = spool.claim("jetson", "jetson-01")
    assert claim is not None
    claim_file = claim.path.read_bytes()
    claim.complete()
    # the crash: the claim's unlink never happened
    stale = ClaimName(claim.task_id, "jetson-01", f"{dead_pid()}-0badc0de", 60)
    spool.layout.claimed("jetson", stale).write_bytes(claim_file)
    other = Spool(spool.root)
    later(other, 61)
    assert other.claim("jetson", "jetson-02") is None  # nothing to run again
    assert files_under(spool.root / "pending") == []


def test_crash_after_a_failure_landed_drops_the_stale_claim(tmp_path: Path) -> None:
    spool = new_spool(tmp_path)
    spool.publish(task(spool))
    claim = spool.claim("jetson", "jetson-01")
    assert claim is not None
    old = claim.path.read_bytes()
    claim.fail("boom")  # lands pending/jetson/ID.json (free retry) and removes the claim
    crashed = spool.layout.claimed(
        "jetson", ClaimName(claim.task_id, "jetson-01", f"{dead_pid()}-0badc0de", 60)
    )
    crashed.write_bytes(old)
    rep = spool_inspect.check(spool)
    assert [
        p.kind for p in rep.problems
    ] == []  # the holder is only dead after its lease, for others
    later(spool, 61)
    rep = spool_inspect.check(spool, repair=True)
    assert [p.kind for p in rep.problems] == ["stale-claim"] and rep.clean
    rec = spool.read(spool.layout.ready("jetson", claim.task_id))
    assert len(rec.attempts) == 1  # the newer copy won


def test_a_crashed_claim_of_a_re_run_complete_task_is_run_again(tmp_path: Path) -> None:
    """An operator copied a complete task back to re-run it; the worker died running it.
    The complete copy is the *old* completion, so the claim is not a leftover: re-run it."""
    spool = new_spool(tmp_path)
    spool.publish(task(spool))
    c = spool.claim("jetson", "j1")
    assert c is not None
    done = c.complete()
    ready = spool.layout.ready("jetson", c.task_id)
    ready.write_bytes(done.read_bytes())  # cp complete/... pending/jetson/
    crashed_claim(spool, c.task_id)
    other = Spool(spool.root)
    later(other, 61)
    again = other.claim("jetson", "j2")
    assert again is not None and again.task_id == c.task_id


def test_check_repair_puts_back_abandoned_claims(tmp_path: Path) -> None:
    spool = new_spool(tmp_path)
    spool.publish(task(spool))
    crashed_claim(spool, "20261125T101530Z-preprocess-clip1")
    later(spool, 61)
    rep = spool_inspect.check(spool)
    assert [p.kind for p in rep.problems] == ["stale-claim"] and not rep.clean
    rep = spool_inspect.check(spool, repair=True)
    assert rep.clean
    assert files_under(spool.root / "pending") == ["jetson/20261125T101530Z-preprocess-clip1.json"]
