"""A running spool upgrades in place: names of the first scheme (``@`` separators, and the
``%40`` an SMB client lists them as) are read, honoured and, when stale, broken like any
other (spool_layout.md §2, "Upgrading from @ names")."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from spoolkit import dead_pid, files_under, later, new_spool, task

from spoold.spool import ClaimName, Spool
from spoold.spool import inspect as spool_inspect
from spoold.spool.lease import DaemonLease, DaemonRunning

SEPS = ["@", "%40"]


def legacy_claim(spool: Spool, queue: str, task_id: str, sep: str, pid: int) -> Path:
    """What an old-version worker's claim of ``task_id`` looks like through this mount."""
    loc = spool.locate(task_id)
    assert loc is not None
    dst = spool.layout.claimed_dir(queue) / f"{task_id}{sep}old-dev{sep}{pid}-9f3a2c1b-L60.json"
    dst.parent.mkdir(parents=True, exist_ok=True)
    os.rename(loc.path, dst)
    now = spool.server_now()
    os.utime(dst, (now, now))
    return dst


@pytest.mark.parametrize("sep", SEPS)
def test_a_live_old_claim_is_honoured(tmp_path: Path, sep: str) -> None:
    spool = new_spool(tmp_path)
    t = task(spool)
    spool.publish(t)
    claim = legacy_claim(spool, "jetson", t.task_id, sep, os.getpid())
    cn = ClaimName.parse(claim.name)
    assert cn is not None and cn.legacy and cn.task_id == t.task_id and cn.name == claim.name
    assert spool.claim("jetson", "j1") is None  # not stale: nobody takes it over
    assert not spool.publish(t).created  # publishing stays idempotent
    loc = spool.locate(t.task_id)
    assert loc is not None and loc.where == "claimed" and loc.claim == cn
    st = spool_inspect.status(spool)
    assert st["totals"]["claimed"] == 1 and st["totals"]["stale"] == 0
    assert spool_inspect.check(spool).clean
    assert claim.exists()


@pytest.mark.parametrize("sep", SEPS)
def test_a_stale_old_claim_is_broken_and_its_task_runs(tmp_path: Path, sep: str) -> None:
    spool = new_spool(tmp_path)
    t = task(spool)
    spool.publish(t)
    claim = legacy_claim(spool, "jetson", t.task_id, sep, os.getpid())
    later(spool, 61)
    assert [s[0].name for s in spool.stale_claims("jetson")] == [claim.name]
    got = spool.claim("jetson", "j1")  # breaks it (one free retry), then claims the task
    assert got is not None and got.task_id == t.task_id
    assert len(got.task.attempts) == 1 and got.task.attempts[0].device == "old-dev"
    assert not claim.exists()
    got.complete()
    assert files_under(spool.root / "pending") == []


@pytest.mark.parametrize("sep", SEPS)
def test_an_old_pinned_folder_is_claimed_from_and_drains_into_the_new_one(
    tmp_path: Path, sep: str
) -> None:
    spool = new_spool(tmp_path)
    old_q = f"jetson{sep}j1"
    spool.folders.ensure(old_q)
    for key in ("a", "b", "c"):
        t = task(spool, key, device="j1")
        (spool.layout.queue(old_q) / f"{t.task_id}.json").write_bytes(t.to_json())
    assert spool.claim("jetson", "j2") is None  # pinned to j1 only
    first = spool.claim("jetson", "j1")
    assert first is not None and first.queue == old_q
    first.complete()
    second = spool.claim("jetson", "j1")
    assert second is not None
    second.release()  # back to the NEW pinned folder
    third = spool.claim("jetson", "j1")
    assert third is not None
    third.fail("boom")  # the free retry: ready again, in the new folder
    assert sorted(files_under(spool.root / "pending")) == sorted(
        f"jetson.j1/{task(spool, k, device='j1').task_id}.json" for k in ("b", "c")
    )
    t = task(spool, "d", device="j1")
    res = spool.publish(t)  # publishing writes only the new folder
    assert res.created and res.location.path.parent.name == "jetson.j1"


@pytest.mark.parametrize("sep", SEPS)
def test_a_stale_claim_in_an_old_pinned_folder_goes_back_to_the_new_one(
    tmp_path: Path, sep: str
) -> None:
    spool = new_spool(tmp_path)
    old_q = f"jetson{sep}j1"
    spool.folders.ensure(old_q)
    t = task(spool, device="j1")
    (spool.layout.queue(old_q) / f"{t.task_id}.json").write_bytes(t.to_json())
    claim = legacy_claim(spool, old_q, t.task_id, sep, dead_pid())
    assert not spool.publish(t).created  # the old folder's claim counts: no second copy
    later(spool, 61)
    assert spool.reap(old_q, "j2") == 1
    assert not claim.exists()
    assert files_under(spool.root / "pending") == [f"jetson.j1/{t.task_id}.json"]
    got = spool.claim("jetson", "j1")
    assert got is not None and got.queue == "jetson.j1" and len(got.task.attempts) == 1


def test_an_invalid_old_claim_is_quarantined_when_stale(tmp_path: Path) -> None:
    spool = new_spool(tmp_path)
    spool.folders.ensure("jetson")
    name = "20261125T101530Z-preprocess-x@old-dev@4711-9f3a2c1b-L60.json"
    claim = spool.layout.claimed_dir("jetson") / name
    claim.write_text("{ not json")
    later(spool, 61)
    assert spool.claim("jetson", "j1") is None
    assert files_under(spool.root / "pending") == [
        "jetson/invalid/20261125T101530Z-preprocess-x.json"
    ]


@pytest.mark.parametrize("sep", SEPS)
def test_an_old_daemon_lease_is_honoured_then_taken_over_when_stale(
    tmp_path: Path, sep: str
) -> None:
    spool = new_spool(tmp_path)
    folder = spool.root / "daemon"
    folder.mkdir()
    old = folder / f"held{sep}otherhost{sep}4711-123-9f3a2c1b.lease"
    old.write_text("spoold daemon lease\n")
    lease = DaemonLease(spool, lease_s=30)
    with pytest.raises(DaemonRunning, match="pid 4711 on host otherhost"):
        lease.acquire()
    aged = time.time() - 120
    os.utime(old, (aged, aged))
    lease.acquire()
    assert not old.exists() and lease.path.name.startswith("held.")
    lease.release()
