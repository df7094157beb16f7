"""Leases: kept fresh by heartbeat, judged in server time, broken by exactly one other device."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from spoolkit import dead_pid, files_under, later, new_spool, task

from spoold.errors import LeaseLost
from spoold.spool import ClaimName, Spool


def claimed_names(spool: Spool) -> list[str]:
    return [n for n in files_under(spool.root / "pending") if "/claimed/" in n]


def test_heartbeat_keeps_a_claim_fresh(tmp_path: Path) -> None:
    spool = new_spool(tmp_path)
    spool.publish(task(spool))
    claim = spool.claim("jetson", "jetson-01")
    assert claim is not None
    judge = Spool(spool.root)
    later(spool, 50)
    later(judge, 100)
    assert len(judge.stale_claims("jetson")) == 1  # 100 s without a heartbeat
    claim.heartbeat()  # at +50 s
    assert judge.stale_claims("jetson") == []  # 50 s since the last one
    later(judge, 11)
    assert [c.task_id for c, _, _ in judge.stale_claims("jetson")] == [claim.task_id]


def test_a_stale_claim_is_put_back_with_the_attempt_recorded(tmp_path: Path) -> None:
    spool = new_spool(tmp_path)
    spool.publish(task(spool))
    holder = spool.claim("jetson", "jetson-01")
    assert holder is not None
    other = Spool(spool.root)
    later(other, 61)
    taken = other.claim("jetson", "jetson-02")
    assert taken is not None and taken.task_id == holder.task_id
    (attempt,) = taken.task.attempts
    assert attempt.kind == "lease-expired" and attempt.device == "jetson-01"
    assert "no heartbeat for 6" in attempt.error


def test_the_old_holder_learns_it_lost_and_does_not_clobber(tmp_path: Path) -> None:
    spool = new_spool(tmp_path)
    spool.publish(task(spool))
    holder = spool.claim("jetson", "jetson-01")
    assert holder is not None
    other = Spool(spool.root)
    later(other, 61)
    winner = other.claim("jetson", "jetson-02")
    assert winner is not None
    with pytest.raises(LeaseLost, match="lost the claim"):
        holder.complete(result={"by": "loser"})
    winner.complete(result={"by": "winner"})
    done = spool.read(spool.layout.completed(winner.task_id))
    assert done.result == {"by": "winner"} and done.completed_by == "jetson-02"


def test_exactly_one_of_two_breakers_takes_a_stale_claim(tmp_path: Path) -> None:
    spool = new_spool(tmp_path)
    spool.publish(task(spool))
    assert spool.claim("jetson", "jetson-01") is not None
    b, c = Spool(spool.root), Spool(spool.root)
    later(b, 61)
    later(c, 61)
    stale = b.stale_claims("jetson")
    assert len(stale) == 1
    cn, age, kind = stale[0]
    results = [
        b.break_claim("jetson", cn, kind, age, "jetson-02"),
        c.break_claim("jetson", cn, kind, age, "jetson-03"),
    ]
    assert results == [True, False]
    assert files_under(spool.root / "pending") == ["jetson/20261125T101530Z-preprocess-clip1.json"]


def test_a_restarted_device_retakes_its_own_claim_at_once(tmp_path: Path) -> None:
    spool = new_spool(tmp_path)
    spool.publish(task(spool))
    dead = ClaimName("20261125T101530Z-preprocess-clip1", "jetson-01", f"{dead_pid()}-abcd1234", 60)
    src = spool.layout.ready("jetson", dead.task_id)
    os.rename(src, spool.layout.claimed("jetson", dead))  # what a crashed worker left
    # Another device must wait for the lease...
    assert Spool(spool.root).claim("jetson", "jetson-02") is None
    # ...but jetson-01, restarted, takes it back immediately.
    again = Spool(spool.root).claim("jetson", "jetson-01")
    assert again is not None and again.task.attempts[0].kind == "worker-died"


def test_a_device_never_steals_a_live_sibling_process_claim(tmp_path: Path) -> None:
    spool = new_spool(tmp_path)
    spool.publish(task(spool))
    live = ClaimName(
        "20261125T101530Z-preprocess-clip1", "jetson-01", f"{os.getppid()}-abcd1234", 60
    )
    os.rename(spool.layout.ready("jetson", live.task_id), spool.layout.claimed("jetson", live))
    assert Spool(spool.root).claim("jetson", "jetson-01") is None


def test_leases_are_judged_in_server_time_not_the_device_clock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A device whose wall clock is 5 hours ahead neither breaks fresh claims nor writes
    future heartbeats: only the server's mtimes and the monotonic clock are used."""
    spool = new_spool(tmp_path)
    spool.publish(task(spool))
    holder = spool.claim("jetson", "jetson-01")
    assert holder is not None
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 5 * 3600)
    skewed = Spool(spool.root)
    assert skewed.claim("jetson", "jetson-02") is None  # the claim is fresh in server time
    holder.heartbeat()
    assert abs(os.stat(holder.path).st_mtime - real_time()) < 5


def test_a_claim_with_a_longer_stated_lease_is_respected(tmp_path: Path) -> None:
    spool = new_spool(tmp_path, lease=600)
    spool.publish(task(spool))
    claim = spool.claim("jetson", "slow-nas-box")
    assert claim is not None and claim.path.name.endswith("-L600.json")
    judge = Spool(spool.root)  # the spool default is 60 s
    later(judge, 120)
    assert judge.stale_claims("jetson") == []
    later(judge, 600)
    assert len(judge.stale_claims("jetson")) == 1
