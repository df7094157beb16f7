"""One video, one ingest task: copies and renames share a video id, a restart (even with its
cache deleted) rebuilds the index from the spool, and files that arrived while the daemon was
down are ingested when it comes back."""

from __future__ import annotations

import shutil
from pathlib import Path

from daemon_support import Env, drive, idle_ticks

from spoold.demo import samples
from spoold.server import media


def test_a_copy_and_a_rename_of_a_video_do_not_make_a_second_video(tmp_path: Path) -> None:
    env = Env(tmp_path)
    clip = samples.make_clip(env.inbox / "2026_0513_172152_000120F.MP4", seed=31)
    daemon = env.daemon()
    daemon.start()
    try:
        drive(daemon, lambda: env.complete("ingest"), 15, "the first ingest")
        (env.inbox / "copy").mkdir()
        shutil.copyfile(clip, env.inbox / "copy" / "same.mp4")
        clip.rename(env.inbox / "renamed.MP4")
        drive(
            daemon,
            lambda: daemon.ingestor.total.duplicates >= 2,
            15,
            "the copy and the rename to be recognised",
        )
        idle_ticks(daemon, 0.5)
    finally:
        daemon.shutdown()
    [task_id] = env.tasks("ingest")
    assert task_id.endswith("-ingest-" + media.fingerprint(env.inbox / "renamed.MP4"))


def test_a_restart_never_creates_a_second_ingest_task(tmp_path: Path) -> None:
    env = Env(tmp_path)
    for i in range(3):
        samples.make_clip(env.inbox / f"clip{i}.mp4", seed=40 + i)
    first = env.daemon()
    first.start()
    try:
        drive(first, lambda: len(env.complete("ingest")) == 3, 15, "3 ingests")
    finally:
        first.shutdown()
    before = env.tasks()
    # Restart with a warm cache, then with the cache deleted: the spool is the truth.
    for cold in (False, True):
        if cold:
            shutil.rmtree(env.base / "state")
        again = env.daemon()
        again.start()
        try:
            assert len(again.ingestor.index) == 3
            box = again.ingestor.inboxes[0]
            drive(again, lambda: box.scans >= 2, 10, "two scans")  # noqa: B023
            idle_ticks(again, 0.8)
        finally:
            again.shutdown()
        after = {k: v for k, v in env.tasks().items() if "-ingest-" in k or "-preprocess-" in k}
        assert after == {k: v for k, v in before.items() if "-ingest-" in k or "-preprocess-" in k}
        assert all(len(where) == 1 for where in env.tasks().values())


def test_files_that_arrive_while_the_daemon_is_stopped_are_ingested_at_start(
    tmp_path: Path,
) -> None:
    env = Env(tmp_path)
    samples.make_clip(env.inbox / "before.mp4", seed=50)
    daemon = env.daemon()
    daemon.start()
    try:
        drive(daemon, lambda: env.complete("ingest"), 15, "the first ingest")
    finally:
        daemon.shutdown()
    samples.make_clip(env.inbox / "while-down" / "a.mp4", seed=51)
    samples.make_clip(env.inbox / "b.mp4", seed=52)
    daemon = env.daemon()
    daemon.start()
    try:
        drive(daemon, lambda: len(env.complete("ingest")) == 3, 15, "the two new ingests")
    finally:
        daemon.shutdown()
    paths = sorted(r["inputs"][0]["path"] for r in env.complete("ingest").values())
    assert paths == ["cams/b.mp4", "cams/before.mp4", "cams/while-down/a.mp4"]
