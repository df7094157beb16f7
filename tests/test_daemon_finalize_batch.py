"""The daemon indexes a backlog of finalize tasks in batches, and each task still ends on its own.

An in-process daemon (driven by ``tick``) with ``[index] dir`` set; the finalize tasks are made
the way the pipeline makes them (a completed ingest whose result is the video's metadata, its
finalize child naming the worker output files; the pipeline goes from ingest to finalize), published before the daemon starts so that a
backlog waits.  Batching is observed through each task's ``result["batch"]`` and the index
service's counters, never through timing.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import pytest
from daemon_support import DaemonProcess, Env, drive, wait_until

from schemas.task import ChildSpec, FileRef, child_task_id
from spoold.demo.synth import PlateSpec, video_files
from spoold.server.daemon import Daemon
from spoold.server.localstate import finalize_journal
from spoold.spool import ClaimName
from webui_export.index.writer import Indexer

START = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)
BATCH = 5
CONFIG = f"""
[index]
dir = "index"
publish_interval_s = 0.2
finalize_batch = {BATCH}

[pipeline.stages.ingest]
next = ["finalize"]

[pipeline.stages.finalize]
next = []
"""


def backlog(env: Env, videos: list[str], *, redo: bool = False) -> dict[str, str]:
    """Per video: its worker outputs on ``server``, a completed ingest and its finalize task
    (``redo``: a second finalize task of each video, as an operator's re-run would be).
    Returns video id -> finalize task id."""
    spool = env.spool()
    server = env.root("server")
    out = {}
    for n, vid in enumerate(videos):
        video, files = video_files(
            server / "meta", vid, start=START + timedelta(minutes=5 * n), detections=40,
            channel=("front", "rear")[n % 2], plates=[PlateSpec("AB123", 5.0)],
        )  # fmt: skip
        refs = [
            FileRef(device="server", path=str(path.relative_to(server)), type=kind)
            for kind, path in files.items()
        ]
        ingest = spool.new_task(  # in a queue of its own: the daemon must not run it
            "ingest", "setup", vid, video_id=vid,
            inputs=[FileRef(device="indoor-nas", path=f"cams/{vid}.mp4", type="video")],
        )  # fmt: skip
        spool.publish(ingest)
        claim = spool.claim("setup", "setup")
        assert claim is not None and claim.task.task_id == ingest.task_id
        children = [ChildSpec(task_type="finalize", device_class="server", inputs=refs)]
        if redo:
            children.append(children[0].model_copy(update={"suffix": "redo"}))
        claim.complete([], children, video.model_dump(mode="json"))
        out[vid] = child_task_id(ingest.task_id, "finalize")
    return out


def run_until(env: Env, daemon: Daemon, done: Any, what: str) -> None:
    daemon.start()
    try:
        drive(daemon, done, 60, what)
    finally:
        daemon.shutdown()


def finalized(env: Env) -> dict[str, dict[str, Any]]:
    return {t: rec["result"] for t, rec in env.complete("finalize").items()}


def last_error(env: Env, task_id: str) -> str:
    task = env.spool().get(task_id)[1]
    return task.attempts[-1].error if task.attempts else ""


def _open_closed_index(index_dir: Path) -> duckdb.DuckDBPyConnection | None:
    """The index read-only, or None while the daemon's lane still holds it open (a publish on
    a loaded machine may outlast the daemon's close grace; the close then follows it)."""
    try:
        return duckdb.connect(str(index_dir / "live.duckdb"), read_only=True)
    except duckdb.ConnectionException:
        return None


def index_rows(index_dir: Path) -> dict[str, Any]:
    """What the daemon's index holds (read after the daemon closed it)."""
    con = wait_until(lambda: _open_closed_index(index_dir), 30, "the daemon to close the index")
    try:
        out: dict[str, Any] = {
            table: con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("videos", "detections", "gps_points", "plate_reads", "stages")
        }
        out["video_ids"] = sorted(
            r[0] for r in con.execute("SELECT video_id FROM videos").fetchall()
        )
        out["sightings"] = con.execute(
            "SELECT plate, first_seen, last_seen, reads, video_ids FROM sightings ORDER BY 2"
        ).fetchall()
        return out
    finally:
        con.close()


def test_a_backlog_is_indexed_in_batches_and_every_task_completes(tmp_path: Path) -> None:
    env = Env(tmp_path, extra=CONFIG)
    videos = [f"v{n:02d}" for n in range(12)]
    tasks = backlog(env, videos)
    daemon = env.daemon()

    run_until(env, daemon, lambda: len(env.complete("finalize")) == len(videos), "12 finalized")

    results = finalized(env)
    assert sorted(results) == sorted(tasks.values())
    sizes = Counter(r["batch"] for r in results.values())
    assert max(sizes) == BATCH, sizes  # the first batch found a full backlog queued
    assert all(n <= BATCH for n in sizes), sizes
    assert all(count % n == 0 for n, count in sizes.items()), sizes  # whole batches
    assert all(r["indexed"] and r["files"] == {"detections": 1, "gps": 1, "plates": 1}
               for r in results.values())  # fmt: skip
    stats = daemon.index.stats
    assert stats.videos == len(videos) and stats.largest == BATCH and stats.one_by_one == 0
    assert stats.batches < len(videos)
    status = json.loads((env.spool_root / "daemon" / "status.json").read_text())
    assert status["index"]["videos"] == len(videos)
    # The batches give the index one video at a time would have given.
    rows = index_rows(env.base / "index")
    with Indexer(tmp_path / "one-by-one") as one:
        for n, vid in enumerate(videos):
            video, files = video_files(
                tmp_path / "again", vid, start=START + timedelta(minutes=5 * n), detections=40,
                channel=("front", "rear")[n % 2], plates=[PlateSpec("AB123", 5.0)],
            )  # fmt: skip
            one.finalize(video, files)
    assert {k: v for k, v in rows.items() if k != "stages"} == {
        k: v for k, v in index_rows(tmp_path / "one-by-one").items() if k != "stages"
    }
    assert rows["video_ids"] == videos and rows["detections"] == 40 * len(videos)


def test_an_invalid_video_fails_only_its_own_task_and_is_not_indexed(tmp_path: Path) -> None:
    env = Env(tmp_path, extra=CONFIG)
    videos = [f"v{n:02d}" for n in range(BATCH)]
    tasks = backlog(env, videos)
    bad = env.root("server") / "meta" / "v02.detections.json"
    doc = json.loads(bad.read_text())
    doc["detections"][7]["confidence"] = 2
    bad.write_text(json.dumps(doc))
    daemon = env.daemon()

    run_until(
        env,
        daemon,
        lambda: len(env.complete("finalize")) == BATCH - 1 and last_error(env, tasks["v02"]),
        "the good ones finalized, the bad one failed",
    )

    error = last_error(env, tasks["v02"])
    assert error.startswith("finalize: invalid worker output, nothing of this video is indexed")
    assert f"{bad}: detections.7.confidence: Input should be less than or equal to 1" in error
    results = finalized(env)
    assert tasks["v02"] not in results
    assert [r["batch"] for r in results.values()] == [BATCH - 1] * (BATCH - 1)
    assert index_rows(env.base / "index")["video_ids"] == ["v00", "v01", "v03", "v04"]


def test_a_video_that_breaks_the_batch_write_is_isolated_one_by_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Valid files, yet the transaction fails with this video in it (here: injected)."""
    write_batch = Indexer._write_batch

    def poisoned(self: Indexer, staged: list[Any]) -> Any:
        if any(video.video_id == "v03" for _, video, *_ in staged):
            raise duckdb.ConstraintException("poisoned row")
        return write_batch(self, staged)

    monkeypatch.setattr(Indexer, "_write_batch", poisoned)
    env = Env(tmp_path, extra=CONFIG)
    videos = [f"v{n:02d}" for n in range(BATCH)]
    tasks = backlog(env, videos)
    daemon = env.daemon()

    run_until(
        env,
        daemon,
        lambda: len(env.complete("finalize")) == BATCH - 1 and last_error(env, tasks["v03"]),
        "the others finalized, v03 failed",
    )

    assert last_error(env, tasks["v03"]) == (
        "finalize: video v03: indexing failed, nothing indexed (poisoned row)"
    )
    results = finalized(env)
    assert tasks["v03"] not in results and len(results) == BATCH - 1
    assert [r["batch"] for r in results.values()] == [1] * (BATCH - 1)  # indexed one by one
    assert daemon.index.stats.one_by_one >= 1
    assert index_rows(env.base / "index")["video_ids"] == ["v00", "v01", "v02", "v04"]


def test_refinalizing_replaces_rows_even_with_both_tasks_in_one_backlog(tmp_path: Path) -> None:
    env = Env(tmp_path, extra=CONFIG)
    videos = [f"v{n:02d}" for n in range(4)]
    tasks = backlog(env, videos, redo=True)  # eight tasks: two per video, waiting together
    daemon = env.daemon()

    run_until(env, daemon, lambda: len(env.complete("finalize")) == 8, "8 finalized")
    first = index_rows(env.base / "index")
    assert first["video_ids"] == videos
    assert first["detections"] == 40 * len(videos) and first["stages"] == 5 * len(videos)
    assert all(r["batch"] <= len(videos) for r in finalized(env).values())  # one per video

    again = env.daemon()  # and once more, after a restart: a third finalize of each video
    spool = env.spool()
    for task_id in tasks.values():
        done = spool.get(task_id)[1]
        assert done.parent_task_id is not None
        parent = spool.get(done.parent_task_id)[1]
        spec = ChildSpec(
            task_type="finalize", device_class="server", inputs=done.inputs, suffix="again"
        )
        spool.publish(spool.child_task(parent, spec))
    run_until(env, again, lambda: len(env.complete("finalize")) == 12, "12 finalized")
    assert index_rows(env.base / "index") == first


def test_a_killed_daemons_queued_finalize_tasks_come_back_without_an_attempt(
    tmp_path: Path,
) -> None:
    """SIGKILL while finalize tasks wait in the daemon's queue for a batch: the next daemon
    puts those back as they were (they never ran), so a crash-looping daemon does not push a
    whole backlog into backoff; only what was running is charged."""
    # A lease longer than any daemon start on a loaded machine: the claims the killed daemon
    # ran are found by its dead pid ("worker-died"), never by an expired lease.
    env = Env(tmp_path, extra=CONFIG, spool_lease=120.0)
    videos = [f"v{n:02d}" for n in range(60)]
    tasks = backlog(env, videos)
    journal = finalize_journal(env.settings(), env.spool())

    def queued() -> list[str]:
        try:
            return list(json.loads(journal.read_text())["queued"])
        except (FileNotFoundError, ValueError):
            return []

    first = DaemonProcess(env).start()
    wait_until(queued, 60, "finalize tasks queued for a batch")
    first.kill()
    spared = queued()  # what the killed daemon last recorded
    assert spared, "the kill came after the queue emptied"
    claims = (env.spool_root / "pending" / "server").glob("claimed/*")
    held = {cn.task_id for p in claims if (cn := ClaimName.parse(p.name)) is not None}
    assert set(spared) <= held  # their claims are still there, their holder dead

    second = DaemonProcess(env, "daemon2").start()
    try:
        wait_until(lambda: len(env.complete("finalize")) == len(videos), 120, "all finalized")
    finally:
        assert second.stop() == 0, second.output()
    records = env.complete("finalize")
    assert sorted(records) == sorted(tasks.values())
    for tid in spared:
        assert records[tid]["attempts"] == [], (tid, records[tid]["attempts"])
    charged = {t for t, r in records.items() if r["attempts"]}
    assert charged <= held - set(spared)  # only claims that had started can be charged
    assert all(a["kind"] == "worker-died" for t in charged for a in records[t]["attempts"])
    assert not journal.exists() or queued() == []
