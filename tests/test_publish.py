"""Publishing: atomic, idempotent by id (also once complete), deferred when not_before is ahead."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from spoolkit import files_under, new_spool, task


def test_publish_lands_one_whole_file_in_the_class_folder(tmp_path: Path) -> None:
    spool = new_spool(tmp_path)
    res = spool.publish(task(spool))
    assert res.created
    assert files_under(spool.root / "pending") == ["jetson/20261125T101530Z-preprocess-clip1.json"]
    assert spool.read(res.location.path).task_id == "20261125T101530Z-preprocess-clip1"
    assert [p for p in files_under(spool.root / "tmp") if not p.startswith("clock.")] == []


def test_publishing_the_same_id_twice_is_a_no_op_wherever_the_task_is(tmp_path: Path) -> None:
    spool = new_spool(tmp_path)
    t = task(spool)
    spool.publish(t)
    assert not spool.publish(t).created  # ready
    claim = spool.claim("jetson", "jetson-01")
    assert claim is not None
    again = spool.publish(t)
    assert not again.created and again.location.where == "claimed"
    claim.complete()
    again = spool.publish(t)
    assert not again.created and again.location.where == "complete"
    assert files_under(spool.root / "pending") == []


def test_pinned_tasks_go_to_the_device_queue(tmp_path: Path) -> None:
    spool = new_spool(tmp_path)
    spool.publish(task(spool, device="jetson-02"))
    assert files_under(spool.root / "pending") == [
        "jetson.jetson-02/20261125T101530Z-preprocess-clip1.json"
    ]


def test_a_task_for_later_waits_in_deferred(tmp_path: Path) -> None:
    spool = new_spool(tmp_path)
    res = spool.publish(task(spool, not_before=spool.now_dt() + timedelta(hours=1)))
    assert res.location.where == "deferred"
    assert spool.claim("jetson", "jetson-01") is None


def test_complete_is_partitioned_by_the_day_of_the_stamp(tmp_path: Path) -> None:
    spool = new_spool(tmp_path)
    spool.publish(task(spool, stamp="20260102T030405Z"))
    claim = spool.claim("jetson", "j1")
    assert claim is not None
    assert (
        claim.complete()
        == spool.root / "complete/2026-01-02/20260102T030405Z-preprocess-clip1.json"
    )


def test_publish_with_fsync_is_durable_and_still_atomic(tmp_path: Path) -> None:
    spool = new_spool(tmp_path, fsync=True)
    assert spool.publish(task(spool)).created
    assert len(files_under(spool.root / "pending")) == 1
