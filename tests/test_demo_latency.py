"""The per-stage latency breakdown: read from spool records and logs, its stages add up to
the clip's whole time from landing to a published index, and a device's log splits its
queue wait from its run."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from spoolkit import new_spool

from schemas.task import FileRef, Task
from spoold.demo.latency import STAGES, breakdown, format_breakdown, summary
from spoold.spool import Spool


def _stamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _one_video(tmp_path: Path) -> tuple[Spool, dict[str, Task], float]:
    """A video's four tasks run in turn; its tasks by type, and when its clip landed."""
    spool = new_spool(tmp_path)
    clip = tmp_path / "indoor-nas/cam/a.mp4"
    clip.parent.mkdir(parents=True)
    clip.write_bytes(b"video")
    landed = clip.stat().st_ctime
    ref = FileRef(device="indoor-nas", path="cam/a.mp4", type="video")
    taken_lines: list[str] = []
    done: dict[str, Task] = {}
    for task_type, device_class in (
        ("ingest", "server"), ("preprocess", "jetson"), ("detect", "gpu"), ("finalize", "server"),
    ):  # fmt: skip
        task = spool.new_task(task_type, device_class, "v1", video_id="v1", inputs=[ref])
        spool.publish(task)
        claim = spool.claim(device_class, "dev-1")
        assert claim is not None
        taken_lines.append(f"{_stamp(spool.server_now())} INFO x: {task.task_id}: taken by dev-1")
        claim.complete([], [])
        done[task_type] = spool.get(task.task_id)[1]
    (tmp_path / "worker.log").write_text("\n".join(taken_lines[1:3]) + "\n")
    return spool, done, landed


def test_stages_add_up_to_landing_to_published(tmp_path: Path) -> None:
    spool, done, landed = _one_video(tmp_path)
    finished = done["finalize"].completed_at
    assert finished is not None
    generation = finished.timestamp() + 0.5
    (tmp_path / "daemon.log").write_text(
        f"{_stamp(generation - 10)} INFO w: published generation 1: 0 block(s)\n"
        f"{_stamp(generation)} INFO w: published generation 2: 1 block(s)\n"
    )
    clips = breakdown(
        spool, {"indoor-nas": tmp_path / "indoor-nas"}, [tmp_path / "worker.log"],
        tmp_path / "daemon.log",
    )  # fmt: skip
    assert [c.video_id for c in clips] == ["v1"]
    (c,) = clips
    assert tuple(c.seconds) == STAGES
    # generation 1 was before the finalize: the next one is what made it searchable
    assert abs(c.seconds["publish"] - 0.5) < 0.002
    assert abs(c.total - (generation - landed)) < 0.01
    pre = done["preprocess"]
    assert pre.completed_at is not None
    # (1 ms of slack: the two sides are computed from differently rounded timestamps)
    assert (
        c.seconds["preprocess"] <= pre.completed_at.timestamp() - pre.created_at.timestamp() + 1e-3
    )
    assert summary(clips)["total"] == c.total
    assert format_breakdown(clips)[1].startswith("a.mp4")


def test_a_video_not_yet_published_is_left_out(tmp_path: Path) -> None:
    spool, done, _ = _one_video(tmp_path)
    finished = done["finalize"].completed_at
    assert finished is not None
    (tmp_path / "daemon.log").write_text(
        f"{_stamp(finished.timestamp() - 1)} INFO w: published generation 1: 0 block(s)\n"
    )
    roots = {"indoor-nas": tmp_path / "indoor-nas"}
    assert breakdown(spool, roots, [tmp_path / "worker.log"], tmp_path / "daemon.log") == []
    assert summary([]) == {}
