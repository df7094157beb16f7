"""Completing, failing with backoff, releasing: what each leaves on disk."""

from __future__ import annotations

from pathlib import Path

import pytest
from spoolkit import files_under, later, new_spool, task

from schemas.task import ChildSpec, FileRef
from spoold.errors import SpoolError


def test_complete_lands_the_record_with_outputs_and_removes_the_claim(tmp_path: Path) -> None:
    spool = new_spool(tmp_path)
    spool.publish(task(spool))
    claim = spool.claim("jetson", "jetson-01")
    assert claim is not None
    out = [FileRef(device="server", path="meta/clip1/gps.json", type="gps")]
    path = claim.complete(outputs=out, result={"points": 3})
    assert files_under(spool.root / "pending") == []
    rec = spool.read(path)
    assert rec.outputs == out and rec.result == {"points": 3}
    assert rec.completed_by == "jetson-01" and rec.completed_at is not None


def test_children_are_published_before_the_parent_completes_and_only_once(tmp_path: Path) -> None:
    spool = new_spool(tmp_path)
    spool.publish(task(spool))
    claim = spool.claim("jetson", "jetson-01")
    assert claim is not None
    kids = [ChildSpec(task_type="detect", device_class="gpu", suffix=s) for s in ("front", "rear")]
    claim.complete(children=kids)
    names = files_under(spool.root / "pending")
    assert names == [
        "gpu/20261125T101530Z-detect-clip1.front.json",
        "gpu/20261125T101530Z-detect-clip1.rear.json",
    ]
    child = spool.read(spool.root / "pending" / names[0])
    assert child.parent_task_id == claim.task_id and child.video_id == claim.task.video_id
    # a re-run of the parent (operator mv back) publishes nothing new
    spool.requeue(claim.task_id)
    again = spool.claim("jetson", "jetson-02")
    assert again is not None
    again.complete(children=kids)
    assert files_under(spool.root / "pending") == names


def test_failures_back_off_and_never_block_the_tasks_behind(tmp_path: Path) -> None:
    spool = new_spool(tmp_path, backoff_base=10, backoff_max=40)
    spool.publish(task(spool, "poison", stamp="20261125T000000Z"))
    spool.publish(task(spool, "good"))
    waits = []
    for _ in range(5):
        spool.relist_interval = 0
        claim = spool.claim("jetson", "j1")
        assert claim is not None and claim.task_id.endswith("poison")
        claim.fail("segfault in decoder")
        rec = spool.read(spool.locate(claim.task_id).path)  # type: ignore[union-attr]
        waits.append(
            None
            if rec.not_before is None
            else round(rec.not_before.timestamp() - spool.server_now())
        )
        if rec.not_before is not None:
            good = spool.claim("jetson", "j1")
            assert good is not None and good.task_id.endswith("good")  # not blocked
            good.release()
            later(spool, waits[-1] + 1)
    assert waits == [None, 10, 20, 40, 40]
    assert len(rec.attempts) == 5 and rec.attempts[-1].error == "segfault in decoder"


def test_release_gives_the_task_back_unchanged(tmp_path: Path) -> None:
    spool = new_spool(tmp_path)
    res = spool.publish(task(spool))
    before = res.location.path.read_bytes()
    claim = spool.claim("jetson", "j1")
    assert claim is not None
    assert claim.release() == res.location.path
    assert res.location.path.read_bytes() == before


def test_a_finished_claim_cannot_be_finished_twice(tmp_path: Path) -> None:
    spool = new_spool(tmp_path)
    spool.publish(task(spool))
    claim = spool.claim("jetson", "j1")
    assert claim is not None
    claim.complete()
    with pytest.raises(SpoolError, match="already finished"):
        claim.fail("again")


def test_requeue_makes_a_failing_task_ready_now(tmp_path: Path) -> None:
    spool = new_spool(tmp_path, free_retries=0)
    spool.publish(task(spool))
    claim = spool.claim("jetson", "j1")
    assert claim is not None
    claim.fail("oops")
    assert spool.claim("jetson", "j1") is None
    loc = spool.requeue(claim.task_id)
    assert loc.where == "ready"
    rec = spool.read(loc.path)
    assert rec.not_before is None and len(rec.attempts) == 1
    assert spool.claim("jetson", "j1") is not None


def test_requeue_refuses_a_running_task_unless_forced(tmp_path: Path) -> None:
    spool = new_spool(tmp_path)
    spool.publish(task(spool))
    claim = spool.claim("jetson", "j1")
    assert claim is not None
    with pytest.raises(SpoolError, match="being run by j1"):
        spool.requeue(claim.task_id)
    spool.requeue(claim.task_id, force=True)
    with pytest.raises(SpoolError, match="lost the claim"):
        claim.complete()
