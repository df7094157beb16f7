"""The daemon's ingest reads the naming families found last (Redtiger, Cobra) from real clips
in the inbox: brand, camera, mode and sequence from the name and folders, the start from the
name (Redtiger) or, where the name holds no time of day (Cobra), from the container."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from daemon_support import Env, drive

from spoold.demo.samples import make_clip

pytest.importorskip("pymediainfo")

CLIPS = {
    # path in the inbox -> the container's creation time (UTC), what the clip is
    "DCIM/20260312190947_000504A.MP4": datetime(2026, 3, 12, 18, 9, 47),
    "DCIM/LOCK/20260312191047_000505B.MP4": datetime(2026, 3, 12, 18, 10, 47),
    "DCIM/20260414_0002_CAM2_VID.MOV": datetime(2026, 4, 14, 13, 5, 0),
}


def test_the_daemon_ingests_redtiger_and_cobra_clips_by_their_families(tmp_path: Path) -> None:
    env = Env(tmp_path)
    for i, (rel, created) in enumerate(CLIPS.items()):
        make_clip(env.inbox / rel, seconds=1, creation_time=created, seed=150 + i)
    daemon = env.daemon()
    daemon.start()
    try:
        drive(daemon, lambda: len(env.complete("ingest")) == len(CLIPS), 30, "3 ingests")
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
    # No time of day in a Cobra name: the family still names the camera, the container dates it.
    assert fields("DCIM/20260414_0002_CAM2_VID.MOV") == (
        "cobra", "rear", "unknown", 2, "container", None, "2026-04-14T13:05:00Z",
    )  # fmt: skip
