"""Completing, failing with backoff, releasing: what each leaves on disk."""

from __future__ import annotations

from pathlib import Path

import pytest
from spoolkit import files_under, later, new_spool, task

from schemas.task import ChildSpec, FileRef
from spoold.errors import LeaseLost, SpoolError
from spoold.spool import Spool


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


def test_releasing_a_claim_another_device_broke_says_it_was_lost(tmp_path: Path) -> None:
    """A device cut off past its lease hands its task back after the heal: the claim is gone
    (broken and completed by another device), so nothing moves and the device learns it lost
    (found by the SMB partition test: it logged "released" for a task it no longer held)."""
    spool = new_spool(tmp_path)
    res = spool.publish(task(spool))
    cut_off = spool.claim("jetson", "j1")
    assert cut_off is not None
    other = Spool(spool.root, fsync=False)
    assert other.reap("jetson") == 0  # the lease has not run out yet
    later(other, 3600)  # an hour without a heartbeat from j1: cut off
    assert other.reap("jetson") == 1
    winner = other.claim("jetson", "j2")
    assert winner is not None
    winner.complete()
    with pytest.raises(LeaseLost, match="lost the claim"):
        cut_off.release()
    assert not res.location.path.exists()  # nothing handed back beside the completed record
    assert files_under(spool.layout.claimed_dir("jetson")) == []


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


def test_a_finished_claim_file_becomes_the_next_temp_file_and_is_dropped_when_idle(
    tmp_path: Path,
) -> None:
    """Spares (spool_layout.md 4.4): a worker keeps its finished claim file in tmp/ and
    rewrites it as the next record it lands, instead of creating a file per task."""
    spool = new_spool(tmp_path)
    # The first task is much bigger than the second's record: the rewrite must truncate.
    big = [FileRef(device="nas", path=f"clips/{i:04d}.mp4") for i in range(40)]
    spool.publish(task(spool, "clip1", inputs=big))
    spool.publish(task(spool, "clip2"))
    first = spool.claim("jetson", "j1")
    assert first is not None
    first_inode = first.path.stat().st_ino
    first.complete()
    spares = [p for p in (spool.root / "tmp").iterdir() if p.name.endswith(".spare")]
    assert [p.stat().st_ino for p in spares] == [first_inode]
    second = spool.claim("jetson", "j1")
    assert second is not None
    done = second.complete(result={"ok": True})
    assert done.stat().st_ino == first_inode  # the same inode, rewritten
    rec = spool.read(done)  # whole and valid: nothing of the longer old content is left
    assert rec.task_id == second.task_id and rec.result == {"ok": True}
    assert done.read_bytes() == rec.to_json()
    assert spool.claim("jetson", "j1") is None  # idle: spares are dropped
    assert not [p for p in (spool.root / "tmp").iterdir() if p.name.endswith(".spare")]


def test_a_spare_removed_by_someone_else_only_costs_a_new_temp_file(tmp_path: Path) -> None:
    spool = new_spool(tmp_path)
    for key in ("clip1", "clip2"):
        spool.publish(task(spool, key))
    first = spool.claim("jetson", "j1")
    assert first is not None
    first.complete()
    for spare in (spool.root / "tmp").glob("*.spare"):
        spare.unlink()  # e.g. `spoold check --repair`, or an operator cleaning tmp/
    second = spool.claim("jetson", "j1")
    assert second is not None
    rec = spool.read(second.complete())
    assert rec.task_id == second.task_id
    assert files_under(spool.root / "pending") == []


def test_completing_while_another_process_creates_the_day_folder_still_lands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first completions of a day race to create complete/DAY/: a rename that failed
    because the folder was missing, looked at after a rival made it, is tried again."""
    import os

    from spoold.spool import fsops

    spool = new_spool(tmp_path)
    spool.publish(task(spool))
    claim = spool.claim("jetson", "j1")
    assert claim is not None
    day = spool.layout.completed(claim.task_id).parent
    real_rename = os.rename

    def rival_makes_the_folder(src: str, dst: str) -> None:
        if str(dst).startswith(str(day)) and not day.exists():
            day.mkdir()  # the rival, between our rename and fsops' look at the folder
            raise FileNotFoundError(2, "No such file or directory", str(src))
        real_rename(src, dst)

    monkeypatch.setattr(fsops.os, "rename", rival_makes_the_folder)
    done = claim.complete()
    assert spool.read(done).task_id == claim.task_id
    assert [p.name for p in (spool.root / "tmp").iterdir() if p.suffix == ".tmp"] == []
