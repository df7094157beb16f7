"""Which files are looked at: temp and partial names never, a sync tool's rename into the final
name exactly once, and only names matching the video patterns."""

from __future__ import annotations

from pathlib import Path

from daemon_support import Env, drive, idle_ticks

from spoold.demo import samples

TEMP_NAMES = [
    ".2026_0513_172152_000120F.MP4.AbC123",  # rsync temp
    ".syncthing.clip.mp4.tmp",  # Syncthing
    "~syncthing~clip.mp4.tmp",  # Syncthing on Windows
    "clip.mp4.!sync",  # Resilio
    "clip.mp4.part",
    "clip.mp4.tmp",
    ".hidden.mp4",
    "notes.txt",
    "clip.jpg",
    "@eaDir/clip.mp4",  # Synology thumbnails folder
    ".trash/clip.mp4",
]


def test_temp_partial_and_foreign_files_are_never_ingested(tmp_path: Path) -> None:
    env = Env(tmp_path)
    for i, name in enumerate(TEMP_NAMES):
        samples.make_clip(env.inbox / name, seconds=1, seed=100 + i)
    daemon = env.daemon()
    daemon.start()
    try:
        idle_ticks(daemon, 1.5)  # several scans, well past the stability window
        assert env.tasks("ingest") == {}
        assert daemon.ingestor.inboxes[0].files() == 0
    finally:
        daemon.shutdown()


def test_a_temp_file_renamed_into_its_final_name_is_ingested_once(tmp_path: Path) -> None:
    env = Env(tmp_path)
    env.write_config('vehicle = "family-car"\n')  # appended to the [[inbox]] table
    daemon = env.daemon()
    daemon.start()
    try:
        tmp = samples.make_clip(env.inbox / "DCIM" / ".2026_0513_172152_000120F.MP4.x7Gh2a", seed=7)
        idle_ticks(daemon, 0.8)
        assert env.tasks("ingest") == {}
        tmp.rename(tmp.with_name("2026_0513_172152_000120F.MP4"))
        drive(daemon, lambda: env.complete("ingest"), 15, "the renamed clip's ingest")
        idle_ticks(daemon, 0.8)
        [rec] = env.complete("ingest").values()
        assert rec["inputs"][0]["path"] == "cams/DCIM/2026_0513_172152_000120F.MP4"
        assert rec["result"]["brand"] == "viofo"
        assert rec["result"]["vehicle"] == "family-car"
    finally:
        daemon.shutdown()


def test_include_patterns_come_from_the_config(tmp_path: Path) -> None:
    env = Env(tmp_path)
    env.write_config('include = ["*.mkv"]\n')  # appended to the [[inbox]] table
    samples.make_clip(env.inbox / "a.mp4", seed=1)
    (env.inbox / "b.mkv").write_bytes(b"not really a video")
    daemon = env.daemon()
    daemon.start()
    try:
        drive(daemon, lambda: env.complete("ingest"), 15, "the .mkv's ingest")
        [rec] = env.complete("ingest").values()
        assert rec["inputs"][0]["path"] == "cams/b.mkv"
        assert rec["result"]["rejected"] is True
    finally:
        daemon.shutdown()
