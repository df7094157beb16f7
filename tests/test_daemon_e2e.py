"""End to end: clips dropped into the inbox flow through every stage — the daemon (server
stages) as a real process, `spoold work` devices running small scripts — and each stage's
task is created exactly once per video."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from daemon_support import DaemonProcess, Env, WorkerProcess, wait_until

from spoold.demo import samples

PREPROCESS = """
import json, os, pathlib
task = json.load(open(os.environ["SPOOLD_TASK_FILE"]))
roots = json.loads(os.environ["SPOOLD_ROOTS"])
vid = task["video_id"]
out = pathlib.Path(roots["server"]) / "meta" / f"{vid}.gps.json"
out.parent.mkdir(parents=True, exist_ok=True)
out.write_text(json.dumps({"kind": "gps", "video_id": vid, "source": "test", "points": [
    {"time": "2026-05-13T15:21:52Z", "lat": 52.1, "lon": 4.3, "t": 0.5}]}))
json.dump({"outputs": [{"device": "server", "path": f"meta/{vid}.gps.json", "type": "gps"}]},
          open(os.environ["SPOOLD_RESULT_FILE"], "w"))
"""

DETECT = """
import json, os, pathlib, shutil
task = json.load(open(os.environ["SPOOLD_TASK_FILE"]))
roots = json.loads(os.environ["SPOOLD_ROOTS"])
vid = task["video_id"]
meta = pathlib.Path(roots["server"]) / "meta"
(meta / f"{vid}.det.json").write_text(json.dumps({"video_id": vid, "detections": [
    {"t": 0.5, "label": "car", "confidence": 0.9, "bbox": {"x": 0.1, "y": 0.1, "w": 0.2, "h": 0.2}}]}))
(meta / f"{vid}.plates.json").write_text(json.dumps({"video_id": vid, "reads": []}))
video = next(r for r in task["inputs"] if r["type"] == "video")
archive = pathlib.Path(roots["shed-nas"]) / video["path"]   # the archival copy
archive.parent.mkdir(parents=True, exist_ok=True)
shutil.copyfile(pathlib.Path(roots[video["device"]]) / video["path"], archive)
json.dump({"outputs": [
    {"device": "server", "path": f"meta/{vid}.det.json", "type": "detections"},
    {"device": "server", "path": f"meta/{vid}.plates.json", "type": "plates"}]},
    open(os.environ["SPOOLD_RESULT_FILE"], "w"))
"""

STAGES = ["ingest", "preprocess", "detect", "finalize", "archive"]


@pytest.mark.parametrize("index", [False, True], ids=["no-index", "index"])
def test_videos_flow_through_all_stages_each_task_created_once(tmp_path: Path, index: bool) -> None:
    env = Env(tmp_path)
    if index:
        pytest.importorskip("webui_export.index.writer").Indexer  # noqa: B018
        env.write_config('\n[index]\ndir = "index"\npublish_interval_s = 0.2\n')
    (env.base / "preprocess.py").write_text(PREPROCESS)
    (env.base / "detect.py").write_text(DETECT)
    names = samples.brand_names()
    for i, brand in enumerate(("viofo", "blackvue", "tesla")):
        samples.make_clip(env.inbox / names[brand], seed=70 + i)
    samples.make_fake_video(env.inbox / "notes-about-the-trip.mp4")
    daemon = DaemonProcess(env).start()
    jetson = WorkerProcess(env, "jetson", "jetson-01", env.base / "preprocess.py")
    gpu = WorkerProcess(env, "gpu", "gpu-4090", env.base / "detect.py")
    try:
        wait_until(lambda: len(env.complete("archive")) == 3, 60, "3 archived videos")
    finally:
        jetson.stop()
        gpu.stop()
        assert daemon.stop() == 0, daemon.output()
    tasks = env.tasks()
    assert all(len(where) == 1 for where in tasks.values()), "a task exists twice"
    videos = {
        r["video_id"] for r in env.complete("ingest").values() if "rejected" not in r["result"]
    }
    assert len(videos) == 3
    for vid in videos:
        per_stage = sorted(t.split("-")[1] for t in tasks if t.endswith(vid))
        assert per_stage == sorted(STAGES), per_stage
        assert all(
            where[0].startswith("complete/") for t, where in tasks.items() if t.endswith(vid)
        )
    [rejected] = [r for r in env.complete("ingest").values() if "rejected" in r["result"]]
    assert [t for t in tasks if t.endswith(rejected["video_id"])] == [rejected["task_id"]]
    fin = next(iter(env.complete("finalize").values()))
    assert fin["result"]["files"] == {"detections": 1, "gps": 1, "plates": 1}
    assert fin["result"]["indexed"] is index
    if index:
        assert (env.base / "index" / "live.duckdb").exists()
    assert [s["state"] for s in fin["result"]["stages"]][:3] == ["complete"] * 3
    arc = next(iter(env.complete("archive").values()))
    assert arc["outputs"][0]["device"] == "shed-nas"
    assert json.loads((env.spool_root / "daemon" / "status.json").read_text())["videos"] == 4
