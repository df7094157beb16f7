"""The daemon's ingest reads the naming families found last (Redtiger, Transcend DrivePro,
Cobra) from real clips in the inbox: brand, camera, mode and sequence from the name and
folders, the start from the name or, where the name holds no time of day (Cobra), from the
container; a DrivePro 10/250 card (Novatek names) by an inbox configured to its family."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from daemon_support import Env, drive, idle_ticks

from spoold.demo.samples import make_clip

pytest.importorskip("pymediainfo")

CLIPS = {
    # path in the inbox -> the container's creation time (UTC), what the clip is
    "DCIM/20260312190947_000504A.MP4": datetime(2026, 3, 12, 18, 9, 47),
    "DCIM/LOCK/20260312191047_000505B.MP4": datetime(2026, 3, 12, 18, 10, 47),
    "DCIM/20260414_0002_CAM2_VID.MOV": datetime(2026, 4, 14, 13, 5, 0),
    "DCIM/EVENT/TS20140301123000.MOV": datetime(2014, 3, 1, 11, 30, 0),
}


def test_the_daemon_ingests_redtiger_transcend_and_cobra_clips_by_their_families(
    tmp_path: Path,
) -> None:
    env = Env(tmp_path)
    for i, (rel, created) in enumerate(CLIPS.items()):
        make_clip(env.inbox / rel, seconds=1, creation_time=created, seed=150 + i)
    daemon = env.daemon()
    daemon.start()
    try:
        drive(daemon, lambda: len(env.complete("ingest")) == len(CLIPS), 30, "the ingests")
    finally:
        daemon.shutdown()
    got = {
        rec["inputs"][0]["path"].removeprefix("cams/"): rec["result"]
        for rec in env.complete("ingest").values()
    }
    assert set(got) == set(CLIPS)
    keys = ("brand", "channel", "mode", "sequence", "start_basis", "start_local", "start_utc")

    def fields(rel: str) -> tuple[object, ...]:
        return tuple(got[rel][k] for k in keys)

    assert fields("DCIM/20260312190947_000504A.MP4") == (
        "redtiger", "front", "normal", 504, "name",
        "2026-03-12T19:09:47", "2026-03-12T18:09:47Z",
    )  # fmt: skip
    assert fields("DCIM/LOCK/20260312191047_000505B.MP4") == (
        "redtiger", "rear", "event", 505, "name",
        "2026-03-12T19:10:47", "2026-03-12T18:10:47Z",
    )  # fmt: skip
    assert fields("DCIM/EVENT/TS20140301123000.MOV") == (
        "transcend", "unknown", "event", None, "name",
        "2014-03-01T12:30:00", "2014-03-01T11:30:00Z",
    )  # fmt: skip
    # No time of day in a Cobra name: the family still names the camera, the container dates it.
    assert fields("DCIM/20260414_0002_CAM2_VID.MOV") == (
        "cobra", "rear", "unknown", 2, "container", None, "2026-04-14T13:05:00Z",
    )  # fmt: skip


def test_an_inbox_configured_to_transcend_dp_reads_its_novatek_names_and_skips_proxies(
    tmp_path: Path,
) -> None:
    env = Env(tmp_path)
    env.write_config('families = ["transcend-dp"]\nignore = ["TEMP", "E_TEMP"]\n')
    clips = ["DP250/N_VIDEO/2026_0513_120237_012.mp4", "DP250/E_VIDEO/2026_0513_120337_013.mp4"]
    for i, rel in enumerate(clips):
        make_clip(env.inbox / rel, seconds=1, seed=160 + i)
    # the low-resolution copies the camera keeps beside them: never ingested
    make_clip(env.inbox / "DP250/TEMP/2026_0513_120237_012.mp4", seconds=1, seed=170)
    make_clip(env.inbox / "DP250/E_TEMP/2026_0513_120337_013.mp4", seconds=1, seed=171)
    daemon = env.daemon()
    daemon.start()
    try:
        drive(daemon, lambda: len(env.complete("ingest")) == 2, 30, "2 ingests")
        idle_ticks(daemon, 1.0)  # well past the stability window: the proxies stay out
    finally:
        daemon.shutdown()
    got = {
        rec["inputs"][0]["path"].removeprefix("cams/"): rec["result"]
        for rec in env.complete("ingest").values()
    }
    assert {rel: (r["brand"], r["mode"], r["sequence"]) for rel, r in got.items()} == {
        clips[0]: ("transcend-dp", "normal", 12),
        clips[1]: ("transcend-dp", "event", 13),
    }
