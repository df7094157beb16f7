"""A storage root that goes away: nothing is concluded from it, tasks needing it wait (retried
with backoff, never completed), the outage is logged once and shown in the daemon status, and
work resumes by itself when the marker returns."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from daemon_support import Env, drive, idle_ticks

from schemas.task import FileRef
from spoold.demo import samples
from spoold.server import media
from spoold.server.daemon_status import read_status, status_lines


def test_an_inbox_whose_marker_disappears_and_returns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    env = Env(tmp_path)
    samples.make_clip(env.inbox / "a.mp4", seed=61)
    daemon = env.daemon()
    daemon.start()
    marker = env.root("indoor-nas") / ".spoold-storage"
    try:
        drive(daemon, lambda: env.complete("ingest"), 15, "the first ingest")
        # The share drops: the mount point is an empty folder (files and marker "gone").
        hidden = env.base / "unmounted-nas"
        env.root("indoor-nas").rename(hidden)
        env.root("indoor-nas").mkdir()
        drive(
            daemon,
            lambda: daemon.storage.status("indoor-nas").state == "unmounted",
            10,
            "unmounted",
        )
        # An ingest task published before the drop (by hand here) must wait, not fail for good.
        clip = samples.make_clip(hidden / "cams" / "b.mp4", seed=62)
        vid = media.fingerprint(clip)
        spool = env.spool()
        task = spool.new_task(
            "ingest",
            "server",
            vid,
            video_id=vid,
            inputs=[FileRef(device="indoor-nas", path="cams/b.mp4", type="video")],
        )
        spool.publish(task)
        drive(daemon, lambda: daemon.runner.stats.waiting >= 1, 10, "the task to wait")
        idle_ticks(daemon, 1.0)
        assert task.task_id not in env.complete()
        assert len(daemon.ingestor.index) == 2 and vid in daemon.ingestor.index  # nothing forgotten
        waiting = env.spool().get(task.task_id)[1]
        assert waiting.attempts and waiting.attempts[-1].error.startswith(
            "waiting for storage indoor-nas"
        )
        daemon.tick()
        lines = status_lines(read_status(env.spool()))
        assert any(
            line.startswith("  storage indoor-nas: unmounted since") and str(marker) in line
            for line in lines
        ), lines
        # The share returns: the waiting task runs at once, new files are found.
        env.root("indoor-nas").rmdir()
        hidden.rename(env.root("indoor-nas"))
        samples.make_clip(env.inbox / "c.mp4", seed=63)
        drive(daemon, lambda: len(env.complete("ingest")) == 3, 15, "the waiting and new ingests")
        idle_ticks(daemon, 0.5)
    finally:
        daemon.shutdown()
    assert len(env.tasks("ingest")) == 3  # b.mp4 found again by the scan: no second task
    assert all("rejected" not in r["result"] for r in env.complete("ingest").values())
    downs = [r for r in caplog.records if getattr(r, "event", "") == "storage.down"]
    assert [r.root for r in downs] == ["indoor-nas"]  # type: ignore[attr-defined]
    assert len([r for r in caplog.records if getattr(r, "event", "") == "storage.up"]) == 1


def test_a_hung_inbox_share_does_not_stop_the_rest_of_the_daemon(tmp_path: Path) -> None:
    import os

    env = Env(tmp_path)
    env.write_config('[[inbox]]\nname = "shed"\nroot = "shed-nas"\npath = "cams"\nwatch = "scan"\n')
    (env.root("shed-nas") / "cams").mkdir()
    daemon = env.daemon()
    daemon.start()
    marker = env.root("indoor-nas") / ".spoold-storage"
    try:
        drive(daemon, lambda: daemon.ingestor.inboxes[0].scans >= 1, 10, "a first scan")
        marker.unlink()
        os.mkfifo(marker)  # the next marker check blocks, like a dead hard NFS mount
        drive(daemon, lambda: daemon.storage.status("indoor-nas").state == "hung", 15, "hung")
        # The loop goes on: the other share's new clip is ingested meanwhile.
        samples.make_clip(env.root("shed-nas") / "cams" / "x.mp4", seed=64)
        drive(daemon, lambda: env.complete("ingest"), 15, "the other share's ingest")
        os.rename(marker, env.base / "stuck.fifo")
        marker.touch()
        os.close(os.open(env.base / "stuck.fifo", os.O_WRONLY | os.O_NONBLOCK))
        drive(daemon, lambda: daemon.storage.available("indoor-nas"), 15, "the share to return")
    finally:
        daemon.shutdown()
