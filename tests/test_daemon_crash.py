"""The daemon SIGKILLed in the middle of ingesting, then restarted: every video ingested
exactly once, every follow-up published exactly once, nothing left claimed; and killed between
indexing a video and publishing the snapshot: the next daemon publishes it.  (The storm of
kills over the whole pipeline is ``test_crash_storm_pipeline.py``.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from daemon_support import DaemonProcess, Env, distinct_copies, drive, wait_until

from spoold.demo import samples
from webui_export.index.files import read_manifest

N = 40


def test_sigkill_mid_ingest_then_restart_loses_and_doubles_nothing(tmp_path: Path) -> None:
    env = Env(tmp_path)
    src = samples.make_clip(env.base / "src.mp4", seed=80)
    distinct_copies(src, env.inbox / "day1", N)
    samples.make_empty(env.inbox / "day1" / "empty.mp4")
    first = DaemonProcess(env).start()
    wait_until(lambda: env.complete("ingest"), 30, "a first completed ingest")
    first.kill()
    done_before = len(env.complete("ingest"))
    # More clips arrive while the daemon is down.
    distinct_copies(src, env.inbox / "day2", 5, prefix="late")
    second = DaemonProcess(env, "daemon2").start()
    try:
        wait_until(
            lambda: len(env.complete("ingest")) == N + 6 and len(env.tasks("preprocess")) == N + 5,
            60,
            "every ingest and follow-up",
        )
    finally:
        assert second.stop() == 0, second.output()
    assert done_before < N + 6, "the kill came too late to be mid-ingest"
    tasks = env.tasks()
    assert all(len(where) == 1 for where in tasks.values()), {
        k: v for k, v in tasks.items() if len(v) > 1
    }
    assert not list(env.spool_root.glob("pending/*/claimed/*"))
    ingests = env.complete("ingest")
    assert len({r["video_id"] for r in ingests.values()}) == N + 6
    assert sum("rejected" in r["result"] for r in ingests.values()) == 1


def test_a_restarted_daemon_publishes_what_a_killed_one_indexed(tmp_path: Path) -> None:
    """A daemon killed between indexing a video (committed) and publishing the snapshot:
    the next daemon publishes it at once, not only when another video is finalized or the
    next periodic ``index`` task runs.  (Found by the whole-pipeline crash storm.)"""
    index = pytest.importorskip("webui_export.index.writer")
    synth = pytest.importorskip("spoold.demo.synth")
    env = Env(
        tmp_path,
        extra='\n[index]\ndir = "index"\npublish_interval_s = 0.2\n'
        "\n[maintenance]\nindex_interval_s = 1e9\ncleanup_interval_s = 1e9\n",
    )

    def videos_published() -> int | None:
        manifest = read_manifest(env.base / "index")
        return manifest.counts.get("videos") if manifest else None

    # A first daemon runs this period's maintenance tasks (which would publish as well).
    first = env.daemon()
    first.start()
    try:
        drive(first, lambda: env.complete("index"), 30, "the periodic index task")
    finally:
        first.shutdown()
    # What the killed daemon left: a video committed to live.duckdb, the snapshot older.
    video, files = synth.video_files(env.root("server") / "meta", "v0123456789abcdef0123")
    ix = index.Indexer(env.base / "index", publish_interval=3600)
    ix.publish()  # nothing new: the next publish is due in an hour
    ix.finalize(video, files)
    ix.close()
    assert videos_published() == 0

    second = env.daemon()
    second.start()
    try:
        drive(second, lambda: videos_published() == 1, 30, "the video in the published snapshot")
    finally:
        second.shutdown()
