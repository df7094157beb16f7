"""The ingest task validates real MP4 files: each brand's clip is described, broken files are
rejected with a clear reason and get no follow-up, a file still being written is never
rejected."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from daemon_support import Env, drive

from schemas.task import FileRef
from spoold.demo import samples
from spoold.server import media
from spoold.server.executors.ingest import run_ingest
from spoold.server.storage import Storage
from spoold.spool import Spool

EXPECTED = {  # brand -> (channel, mode, sequence, start_local)
    "viofo": ("front", "normal", 120, "2026-05-13T17:21:52"),
    "blackvue": ("front", "normal", None, "2019-01-01T12:00:00"),
    "nextbase": ("front", "normal", 1, "2024-09-15T14:30:27"),
    "70mai": ("front", "normal", 121, "2019-11-30T12:01:56"),
    "thinkware": ("front", "normal", None, "2024-09-15T14:30:27"),
    "tesla": ("front", "normal", None, "2024-09-15T14:25:00"),
}


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> tuple[Env, dict[str, dict]]:
    env = Env(tmp_path_factory.mktemp("validation"))
    for i, (_, rel) in enumerate(samples.brand_names().items()):
        samples.make_clip(env.inbox / rel, seed=10 + i)
    clip = samples.make_clip(env.base / "src.mp4", seed=99)
    samples.make_clip(
        env.inbox / "generic" / "clip.mp4",
        seed=98,
        creation_time=__import__("datetime").datetime(2024, 2, 3, 4, 5, 6),
    )
    samples.make_truncated_copy(clip, env.inbox / "bad" / "truncated.mp4")
    samples.make_empty(env.inbox / "bad" / "empty.mp4")
    samples.make_fake_video(env.inbox / "bad" / "text.mp4")
    samples.make_zero_tail_copy(clip, env.inbox / "bad" / "zerotail.mp4")
    daemon = env.daemon()
    daemon.start()
    try:
        drive(daemon, lambda: len(env.complete("ingest")) == 11, 30, "11 ingest tasks")
        drive(daemon, lambda: len(env.tasks("preprocess")) == 7, 10, "7 preprocess tasks")
        assert daemon.ingestor.total.fingerprinted == 11  # each file read once, no re-reads
    finally:
        daemon.shutdown()
    by_path = {r["inputs"][0]["path"]: r for r in env.complete("ingest").values()}
    return env, by_path


@pytest.mark.parametrize("brand", list(EXPECTED))
def test_each_brands_clip_is_described(ingested: tuple[Env, dict], brand: str) -> None:
    _, by_path = ingested
    meta = by_path["cams/" + samples.brand_names()[brand]]["result"]
    channel, mode, seq, start = EXPECTED[brand]
    assert meta["brand"] == brand
    assert (meta["channel"], meta["mode"], meta["sequence"]) == (channel, mode, seq)
    assert meta["start_local"] == start and meta["start_source"] == "filename"
    assert meta["duration_s"] == pytest.approx(2.0, abs=0.2)
    assert (meta["width"], meta["height"], meta["fps"]) == (320, 240, pytest.approx(10.0))
    assert meta["codec"] in ("h264", "mpeg4") and meta["bitrate"] and meta["size"] > 0


def test_an_unknown_name_falls_back_to_the_container_time(ingested: tuple[Env, dict]) -> None:
    _, by_path = ingested
    meta = by_path["cams/generic/clip.mp4"]["result"]
    assert (meta["brand"], meta["start_source"]) == ("generic", "container")
    assert meta["start_local"] is None and meta["start_utc"].startswith("2024-02-03T04:05:06")


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("truncated.mp4", media.REASON_TRUNCATED),
        ("empty.mp4", media.REASON_EMPTY),
        ("text.mp4", media.REASON_NOT_MEDIA),
        ("zerotail.mp4", media.REASON_ZERO_TAIL),
    ],
)
def test_a_broken_file_completes_rejected_with_its_reason_and_no_followup(
    ingested: tuple[Env, dict], name: str, reason: str
) -> None:
    env, by_path = ingested
    rec = by_path[f"cams/bad/{name}"]
    assert rec["result"]["rejected"] is True and rec["result"]["reason"] == reason
    assert rec["outputs"] == [] and rec["attempts"] == []
    assert rec["task_id"].replace("ingest", "preprocess") not in env.tasks()


def test_a_valid_video_gets_its_followup_with_the_video_as_input(
    ingested: tuple[Env, dict],
) -> None:
    env, by_path = ingested
    rec = by_path["cams/" + samples.brand_names()["viofo"]]
    child = env.spool().get(rec["task_id"].replace("ingest", "preprocess"))[1]
    assert child.device_class == "jetson" and child.video_id == rec["video_id"]
    assert [r.model_dump() for r in child.inputs] == rec["outputs"]


def test_a_file_still_growing_is_ingested_once_it_is_complete_never_rejected(
    tmp_path: Path,
) -> None:
    env = Env(tmp_path)
    data = samples.make_clip(env.base / "src.mp4", seconds=4, seed=5).read_bytes()
    target = env.inbox / "Record" / "20190101_120000_NF.mp4"
    target.parent.mkdir()
    finished = threading.Event()

    def copy_slowly() -> None:  # a slow copy: chunks written over ~2 s (5x stable_s)
        with open(target, "wb") as fh:
            for i in range(0, len(data), len(data) // 20 + 1):
                fh.write(data[i : i + len(data) // 20 + 1])
                fh.flush()
                time.sleep(0.1)
        finished.set()

    daemon = env.daemon()
    daemon.start()
    writer = threading.Thread(target=copy_slowly)
    try:
        writer.start()
        drive(daemon, finished.is_set, 30, "the copy to finish")
        assert env.tasks("ingest") == {}, "published while the file was still growing"
        drive(daemon, lambda: env.complete("ingest"), 15, "the ingest of the finished copy")
    finally:
        writer.join()
        daemon.shutdown()
    [rec] = env.complete("ingest").values()
    assert "rejected" not in rec["result"] and rec["result"]["brand"] == "blackvue"
    assert rec["video_id"] == media.fingerprint(target)


def test_a_file_that_changed_since_it_was_published_is_retried_not_rejected(
    tmp_path: Path,
) -> None:
    root = tmp_path / "nas"
    clip = samples.make_clip(root / "a.mp4", seed=3)
    (root / ".spoold-storage").touch()
    spool = Spool.init(tmp_path / "spool")
    task = spool.new_task(
        "ingest",
        "server",
        "vdeadbeef",
        video_id="vdeadbeef",
        inputs=[FileRef(device="nas", path="a.mp4", type="video")],
        params={"size": 1, "mtime_ns": 1},
    )
    out = run_ingest(task, Storage({"nas": root}), max_tries=3)
    assert out.kind == "fail" and out.error.startswith("content changed")
    clip.unlink()
    out = run_ingest(task, Storage({"nas": root}), max_tries=3)
    assert out.kind == "fail" and out.error.startswith("input not found")
