"""End to end, a camera whose GPS is only in a per-day log: a Kaiser Bass R50-style HiSilicon
card (``DCIM/100video/YYYYMMDDhhmmss_<s>.MP4``, ``gps/YYYYMMDD.dat`` in the camera's wall
clock) copied to the inbox of an inbox configured with the camera's time zone.  The real daemon
(``spoold run``) and the reference workers (``spoold work`` running ``spoold.workers.preprocess``
and ``spoold.workers.detect``) drain it; the API then shows the video complete, its start in
UTC from the name's camera-clock time and the zone, the basis of that start, the track from
the log, and every rendered plate's sighting within 30 m of where the car was."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from daemon_support import DaemonProcess, Env, WorkerProcess, wait_until

pytest.importorskip("cv2", reason="the workers extra (opencv-python-headless) is not installed")
pytest.importorskip("rapidocr", reason="the workers extra (rapidocr) is not installed")

from test_lifecycle_e2e import sync_clips
from test_workers_gps_logs import MELBOURNE, ROUTE_START, _route_dat

from schemas.metadata import GpsPoint
from spoold.demo.render import SceneClip, ScenePlate, background, encode_mp4, render_frame
from spoold.demo.route import SPEED_MPS, route_position
from spoold.workers.gps_track import distance_m

SECONDS, FPS = 12, 10
CLIP_LOCAL = datetime(2024, 1, 12, 18, 11, 19)  # camera clock; Melbourne is UTC+11 in January
OFFSET = (CLIP_LOCAL - ROUTE_START).total_seconds()  # where on the logged route the clip starts
CLIP = f"kaiser/DCIM/100video/{CLIP_LOCAL:%Y%m%d%H%M%S}_{SECONDS}.MP4"
PLATES = (ScenePlate("KA02CD5678", 2.5, 5.1, 0.45), ScenePlate("KA04EF9012", 7.0, 9.6, 0.55))
CONFIG = f"""tz = "{MELBOURNE}"

[index]
dir = "index"
publish_interval_s = 0.2

[pipeline.stages.preprocess]
params = {{ rate = 0.5 }}
"""


def _card_files(staging: Path) -> None:
    """What the camera writes beside its clips: a thumbnail, the day's GPS log (1 Hz, from
    18:10:00 on the camera clock)."""
    thumbs = staging / "kaiser" / "DCIM" / "103thumb"
    thumbs.mkdir(parents=True)
    (thumbs / f"{CLIP_LOCAL:%Y%m%d%H%M%S}.JPG").write_bytes(b"\xff\xd8\xff")
    (staging / "kaiser" / "gps").mkdir()
    (staging / "kaiser" / "gps" / f"{CLIP_LOCAL:%Y%m%d}.dat").write_text(_route_dat(300))


def _clip(staging: Path) -> None:
    """The clip as the camera wrote it, plates in view."""
    scene = SceneClip("hisilicon", CLIP, OFFSET, 640, 360, PLATES, (40, 40, 150), "R50")
    bg = background(scene.width, scene.height)
    frames = [
        render_frame(scene, bg, k / FPS, CLIP_LOCAL, SPEED_MPS * 3.6) for k in range(SECONDS * FPS)
    ]
    path = staging / CLIP
    path.parent.mkdir(parents=True)
    encode_mp4(path, frames, scene.width, scene.height, FPS)


def _worker(env: Env, device_class: str, device: str, module: str, *args: str) -> WorkerProcess:
    script = env.base / f"{device}.py"
    script.write_text(
        f"import sys, runpy\nsys.argv = [{module!r}, *{list(args)!r}]\n"
        f"runpy.run_module({module!r}, run_name='__main__')\n"
    )
    return WorkerProcess(env, device_class, device, script)


def _metres_from_route(lat: float, lon: float, t: float) -> float:
    """Metres between (lat, lon) and where the car was ``t`` seconds into the clip."""
    rlat, rlon, _ = route_position(OFFSET + t)
    when = datetime(2024, 1, 12, tzinfo=timezone.utc)  # unused by the distance
    return distance_m(
        GpsPoint(time=when, lat=lat, lon=lon), GpsPoint(time=when, lat=rlat, lon=rlon)
    )


def _complete(client: Any) -> dict[str, Any] | None:
    rows = client.get("/api/videos?limit=10").get_json()["rows"]
    return rows[0] if len(rows) == 1 and rows[0]["status"] == "complete" else None


@pytest.mark.slow
def test_a_camera_with_gps_only_in_a_per_day_log_is_drained_to_the_api(tmp_path: Path) -> None:
    from webui_export.api.app import create_app

    env = Env(tmp_path, extra=CONFIG)
    staging = tmp_path / "staging"
    daemon = DaemonProcess(env).start()
    # Onto the NAS (the archival copy on shed-nas too): the log first, so it is there when
    # the clip is found.
    _card_files(staging)
    sync_clips(env, staging)
    _clip(staging)
    assert sync_clips(env, staging) == 1
    workers = [
        _worker(env, "jetson", "jetson-01", "spoold.workers.preprocess", "--detect-class", "gpu"),
        _worker(env, "gpu", "rtx-01", "spoold.workers.detect"),
    ]
    try:
        wait_until(lambda: env.complete("archive"), 170, "the clip archived", poll=0.5)
        client = create_app(
            {"INDEX_DIR": env.base / "index", "SPOOL_ROOT": env.spool_root}
        ).test_client()
        row = wait_until(lambda: _complete(client), 20, "the video complete in the API")
    finally:
        for w in workers:
            w.stop()
        assert daemon.stop() == 0, daemon.output()[-3000:]
    logs = "\n".join(p.read_text()[-2000:] for p in sorted(env.base.glob("*-01.log")))

    [ingest] = env.complete("ingest").values()
    assert ingest["inputs"][0]["path"] == f"cams/{CLIP}"
    assert ingest["params"]["camera_tz"] == MELBOURNE
    [pre] = env.complete("preprocess").values()
    assert pre["result"]["gps_source"] == "daylog", (pre["result"], logs)
    assert pre["result"]["gps_file"] == "20240112.dat"

    video = client.get(f"/api/videos/{row['video_id']}").get_json()["video"]
    assert (video["brand"], video["mode"], video["status"]) == ("hisilicon", "normal", "complete")
    # The name's camera-clock time, in the camera's zone (UTC+11): not the NAS copy time.
    assert video["time_basis"] == "utc"
    assert video["start"] == "2024-01-12T07:11:19.000Z"
    assert video["start_local"] == "2024-01-12T18:11:19.000"
    assert (video["start_basis"], video["start_rule"]) == ("gps", "hisilicon")
    assert video["start_note"].startswith("UTC start from the GPS track (daylog)"), video
    assert video["sources"]["gps"] == "daylog"
    assert video["counts"]["gps_points"] >= SECONDS

    track = client.get(f"/api/videos/{row['video_id']}/track").get_json()
    coords = track["geometry"]["coordinates"]
    offsets = track["properties"]["coordinateProperties"]["offsets_s"]
    assert len(coords) == len(offsets) == video["counts"]["gps_points"]
    assert offsets[0] == 0.0 and offsets[-1] >= SECONDS - 1
    assert (
        max(_metres_from_route(lat, lon, t) for (lon, lat), t in zip(coords, offsets, strict=True))
        < 30
    )

    clip_utc = datetime(2024, 1, 12, 7, 11, 19)
    for plate in PLATES:
        timeline = client.get(f"/api/plates/{plate.text}/timeline").get_json()
        assert timeline.get("rows"), (plate.text, timeline, logs)
        [sighting] = timeline["rows"]
        assert sighting["video_id"] == row["video_id"]
        seen = datetime.fromisoformat(sighting["first_seen"].removesuffix("Z"))
        t = (seen - clip_utc).total_seconds()
        assert plate.t_start - 1 <= t <= plate.t_end + 1, (plate, sighting)
        where = sighting["location"]
        assert where is not None, sighting
        t_mid = (plate.t_start + plate.t_end) / 2
        assert _metres_from_route(where["lat"], where["lon"], t_mid) < 30, (plate, sighting)
