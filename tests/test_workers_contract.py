"""The reference workers as ``spoold work`` runs them: subprocess, env contract, outputs.

Also the end-to-end plate timeline on the generated demo clips (``-m slow``).
"""

from __future__ import annotations

import itertools
import json
import math
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("cv2", reason="the workers extra (opencv-python-headless) is not installed")

from schemas.metadata import DetectionsFile, GpsPoint, GpsTrackFile, PlatesFile
from schemas.task import Task, WorkResult
from spoold.demo.media import DemoClip, DemoManifest, generate_demo_clips
from spoold.workers.keyframes import KeyframeIndex, load_index

REPO = Path(__file__).resolve().parents[1]
FIX = Path(__file__).parent / "workers_fixtures"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoManifest:
    return generate_demo_clips(tmp_path_factory.mktemp("nas"), brands=["viofo"])


def _task(
    task_type: str,
    key: str,
    inputs: list[dict[str, Any]],
    params: Mapping[str, Any] | None = None,
    device_class: str = "jetson",
) -> dict[str, Any]:
    return {
        "task_id": f"20261125T044500Z-{task_type}-{key}",
        "task_type": task_type,
        "video_id": key,
        "device_class": device_class,
        "inputs": inputs,
        "params": dict(params or {}),
        "created_at": "2026-11-25T04:50:00Z",
    }


def _run(
    module: str,
    task: Mapping[str, Any],
    roots: Mapping[str, Path],
    work: Path,
    *args: str,
    via_stdin: bool = False,
    extra_path: Path | None = None,
) -> tuple[subprocess.CompletedProcess[str], Path]:
    work.mkdir(parents=True, exist_ok=True)
    task_file = work / "task.json"
    task_file.write_text(json.dumps(task))
    result_file = work / "result.json"
    if result_file.exists():
        result_file.unlink()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPOOLD_")}
    env.update(
        SPOOLD_RESULT_FILE=str(result_file),
        SPOOLD_TASK_ID=str(task["task_id"]),
        SPOOLD_DEVICE="jetson-01",
        SPOOLD_ROOTS=json.dumps({k: str(v) for k, v in roots.items()}),
        SPOOLD_WORKDIR=str(work / "scratch"),
    )
    (work / "scratch").mkdir(exist_ok=True)
    if not via_stdin:
        env["SPOOLD_TASK_FILE"] = str(task_file)
    pythonpath = [str(REPO)] + ([str(extra_path)] if extra_path else [])
    env["PYTHONPATH"] = os.pathsep.join([*pythonpath, env.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, "-m", module, *args],
        input=json.dumps(task),
        capture_output=True,
        text=True,
        env=env,
        cwd=work,
        timeout=600,
        check=False,
    )
    return proc, result_file


def _preprocess(
    clip: DemoClip, nas: Path, server: Path, work: Path, *args: str
) -> tuple[WorkResult, Path]:
    task = _task(
        "preprocess",
        clip.video_id,
        [{"device": "indoor-nas", "path": clip.path, "type": "video"}],
        {"camera_tz": "Asia/Kolkata"},
    )
    proc, result_file = _run(
        "spoold.workers.preprocess", task, {"indoor-nas": nas, "server": server}, work, *args
    )
    assert proc.returncode == 0, proc.stderr
    return WorkResult.model_validate_json(result_file.read_text()), result_file


def test_preprocess_subprocess_contract(demo: DemoManifest, tmp_path: Path) -> None:
    nas, server = Path(demo.root), tmp_path / "server"
    server.mkdir()
    clip = demo.clips[0]
    res, _ = _preprocess(clip, nas, server, tmp_path / "w", "--detect-class", "gpu")
    types = {o.type: o for o in res.outputs}
    assert set(types) == {"gps", "keyframes"}
    for o in res.outputs:
        assert o.device == "server"
        assert o.path.startswith(f"meta/{clip.video_id}/preprocess/")
    track = GpsTrackFile.model_validate_json((server / types["gps"].path).read_text())
    assert track.source == "freegps" and track.video_id == clip.video_id
    assert len(track.points) == int(clip.seconds)
    assert track.points[0].time.isoformat() == clip.start_utc
    kf_dir = server / types["keyframes"].path
    index = load_index(kf_dir)
    assert isinstance(index, KeyframeIndex)
    assert len(index.frames) == int(clip.seconds) and index.channel == "front"
    assert [f.t for f in index.frames[:3]] == [0.0, 1.0, 2.0]
    assert (index.width, index.height) == (clip.width, clip.height)
    assert res.result is not None
    assert res.result["gps_source"] == "freegps" and res.result["brand"] == "viofo"
    assert res.result["start_utc"] == clip.start_utc
    [child] = res.children
    assert res.result["chain"] is False  # the daemon must not chain a second detect
    assert child.task_type == "detect" and child.device_class == "gpu"
    assert child.inputs == [types["keyframes"]]
    # no stray temp files or directories left on storage
    leftovers = [p.name for p in (kf_dir.parent).iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_preprocess_rerun_replaces_outputs(demo: DemoManifest, tmp_path: Path) -> None:
    nas, server = Path(demo.root), tmp_path / "server"
    server.mkdir()
    clip = demo.clips[1]  # rear
    _preprocess(clip, nas, server, tmp_path / "w1")
    res, _ = _preprocess(clip, nas, server, tmp_path / "w2", "--rate", "0.5", "--max-width", "320")
    kf = next(o for o in res.outputs if o.type == "keyframes")
    index = load_index(server / kf.path)
    assert index.rate == 0.5 and index.width == 320
    assert len(list((server / kf.path).glob("*.jpg"))) == len(index.frames) == 6
    assert index.channel == "rear"


def test_task_from_stdin_and_no_gps(tmp_path: Path) -> None:
    from spoold.demo.samples import make_clip

    nas, server = tmp_path / "nas", tmp_path / "server"
    make_clip(nas / "garmin" / "GRMN0042.MP4", seconds=2)
    server.mkdir()
    task = _task("preprocess", "GRMN0042", [{"device": "nas", "path": "garmin/GRMN0042.MP4"}])
    proc, result_file = _run(
        "spoold.workers.preprocess",
        task,
        {"nas": nas, "server": server},
        tmp_path / "w",
        "--no-keyframes",
        via_stdin=True,
    )
    assert proc.returncode == 0, proc.stderr
    res = WorkResult.model_validate_json(result_file.read_text())
    [out] = res.outputs
    track = GpsTrackFile.model_validate_json((server / out.path).read_text())
    assert track.source == "none" and track.points == []
    assert res.result is not None and res.result["gps"] == "no GPS"


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        (
            [{"device": "nas", "path": "../x", "type": "video"}],
            "contains '..'; paths may not leave the storage root",
        ),
        ([{"device": "nas", "path": "link.mp4", "type": "video"}], "symlink escape"),
        ([{"device": "nowhere", "path": "a.mp4", "type": "video"}], "storage root 'nowhere'"),
        ([{"device": "nas", "path": "missing.mp4", "type": "video"}], "no such file"),
        ([], "want exactly one input of type 'video'"),
    ],
)
def test_bad_inputs_fail_with_clear_message(
    tmp_path: Path, inputs: list[dict[str, Any]], message: str
) -> None:
    nas, server, outside = tmp_path / "nas", tmp_path / "server", tmp_path / "outside"
    for d in (nas, server, outside):
        d.mkdir()
    (outside / "secret.mp4").write_bytes(b"x")
    (nas / "link.mp4").symlink_to(outside / "secret.mp4")
    task = _task("preprocess", "x", inputs)
    proc, result_file = _run(
        "spoold.workers.preprocess", task, {"nas": nas, "server": server}, tmp_path / "w"
    )
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("spoold.workers.preprocess: error: ")
    assert message in last
    assert "Traceback" not in proc.stderr
    assert not result_file.exists()
    assert list(server.iterdir()) == []


@pytest.mark.parametrize(
    ("module", "params", "message"),
    [
        (
            "spoold.workers.preprocess",
            {"rate": "fast"},
            "params['rate'] = 'fast' is not a valid rate",
        ),
        (
            "spoold.workers.preprocess",
            {"keyframe_rate": "x"},  # an alias of rate
            "params['keyframe_rate'] = 'x' is not a valid rate",
        ),
        (
            "spoold.workers.preprocess",
            {"scan": "maybe"},
            "params['scan'] = 'maybe' is not a valid scan",
        ),
        (
            "spoold.workers.detect",
            {"threads": "many"},
            "params['threads'] = 'many' is not a valid threads",
        ),
        (
            "spoold.workers.detect",
            {"detector_options": [1]},
            "params['detector_options'] must be an object",
        ),
    ],
)
def test_bad_task_params_are_named(
    tmp_path: Path, module: str, params: dict[str, Any], message: str
) -> None:
    task = _task(module.rsplit(".", 1)[1], "x", [], params)
    proc, result_file = _run(module, task, {"nas": tmp_path}, tmp_path / "w")
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"{module}: error: ")
    assert message in last
    assert not result_file.exists()


def test_missing_roots_env_is_reported(tmp_path: Path) -> None:
    task = _task("preprocess", "x", [{"device": "nas", "path": "a.mp4", "type": "video"}])
    proc, _ = _run("spoold.workers.preprocess", task, {}, tmp_path / "w")
    assert proc.returncode == 2
    assert "storage root 'nas' is not in SPOOLD_ROOTS" in proc.stderr


def test_detect_subprocess_on_keyframes(demo: DemoManifest, tmp_path: Path) -> None:
    pytest.importorskip("rapidocr")
    nas, server = Path(demo.root), tmp_path / "server"
    server.mkdir()
    clip = demo.clips[0]
    pre, _ = _preprocess(clip, nas, server, tmp_path / "w1", "--rate", "0.5")
    kf = next(o for o in pre.outputs if o.type == "keyframes")
    task = _task(
        "detect",
        clip.video_id,
        [kf.model_dump(exclude_none=True)],
        {"detector_options": {"min_area": "0.01"}},
        device_class="gpu",
    )
    proc, result_file = _run(
        "spoold.workers.detect",
        task,
        {"server": server},
        tmp_path / "w2",
        "--detector",
        "plugin_red_car:factory",
        extra_path=FIX,
    )
    assert proc.returncode == 0, proc.stderr
    res = WorkResult.model_validate_json(result_file.read_text())
    files = {o.type: server / o.path for o in res.outputs}
    plates = PlatesFile.model_validate_json(files["plates"].read_text())
    dets = DetectionsFile.model_validate_json(files["detections"].read_text())
    assert plates.reader is not None and plates.reader.startswith("rapidocr")
    expected = {p.text: p for p in clip.plates}
    seen = {r.text for r in plates.reads}
    assert seen == set(expected)
    for r in plates.reads:
        p = expected[r.text]
        assert p.t_start <= r.t <= p.t_end and r.channel == "front"
    assert dets.model == "example:red-car-colour-threshold 1.0"
    car_times = sorted({d.t for d in dets.detections if d.label == "car"})
    # the demo's cars are red in the front clip and visible exactly when their plates are
    assert car_times == sorted({r.t for r in plates.reads})


def test_detect_bad_plugin_fails_cleanly(demo: DemoManifest, tmp_path: Path) -> None:
    nas, server = Path(demo.root), tmp_path / "server"
    server.mkdir()
    task = _task(
        "detect",
        demo.clips[0].video_id,
        [{"device": "nas", "path": demo.clips[0].path, "type": "video"}],
        device_class="gpu",
    )
    proc, _ = _run(
        "spoold.workers.detect",
        task,
        {"nas": nas, "server": server},
        tmp_path / "w",
        "--detector",
        "no_such_pkg.models:make",
    )
    assert proc.returncode == 2
    assert "--detector no_such_pkg.models:make: cannot import" in proc.stderr


def test_workers_stay_python_310_compatible() -> None:
    vermin = shutil.which("vermin") or str(Path(sys.executable).with_name("vermin"))
    if not Path(vermin).exists():
        pytest.skip("vermin not installed")
    files = [str(REPO / "spoold" / "workers"), str(REPO / "spoold" / "demo" / "media.py")]
    assert all(Path(f).exists() for f in files), files  # vermin skips a missing path silently
    proc = subprocess.run(
        [vermin, "-t=3.10-", "--violations", "--no-tips", "--eval-annotations", *files],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


# ---------------------------------------------------------------------------------- end to end


def _interp(points: list[GpsPoint], t: float) -> tuple[float, float]:
    timed = [p for p in points if p.t is not None]
    if len(timed) == 1:
        return timed[0].lat, timed[0].lon
    for a, b in itertools.pairwise(timed):
        assert a.t is not None and b.t is not None
        if a.t <= t <= b.t:
            f = (t - a.t) / (b.t - a.t) if b.t > a.t else 0.0
            return a.lat + (b.lat - a.lat) * f, a.lon + (b.lon - a.lon) * f
    last = timed[-1]
    return last.lat, last.lon


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    dy = (a[0] - b[0]) * 111_320
    dx = (a[1] - b[1]) * 111_320 * math.cos(math.radians(a[0]))
    return math.hypot(dx, dy)


@pytest.mark.slow
def test_demo_plate_timeline_end_to_end(tmp_path: Path) -> None:
    """Every rendered plate is read, at the right clip time and the right place."""
    pytest.importorskip("rapidocr")
    manifest = generate_demo_clips(tmp_path / "nas")
    nas, server = Path(manifest.root), tmp_path / "server"
    server.mkdir()
    read, total = 0, 0
    for clip in manifest.clips:
        pre, _ = _preprocess(clip, nas, server, tmp_path / f"w-{clip.video_id}")
        assert pre.result is not None and pre.result["gps_source"] == clip.gps_source
        gps_ref = next(o for o in pre.outputs if o.type == "gps")
        track = GpsTrackFile.model_validate_json((server / gps_ref.path).read_text())
        kf = next(o for o in pre.outputs if o.type == "keyframes")
        task = _task(
            "detect", clip.video_id, [kf.model_dump(exclude_none=True)], device_class="gpu"
        )
        proc, result_file = _run(
            "spoold.workers.detect", task, {"server": server}, tmp_path / f"d-{clip.video_id}"
        )
        assert proc.returncode == 0, proc.stderr
        res = WorkResult.model_validate_json(result_file.read_text())
        plates_ref = next(o for o in res.outputs if o.type == "plates")
        plates = PlatesFile.model_validate_json((server / plates_ref.path).read_text())
        assert {r.text for r in plates.reads} <= {p.text for p in clip.plates}, "false read"
        start_utc = datetime.fromisoformat(clip.start_utc)
        for p in clip.plates:
            total += 1
            hits = [r for r in plates.reads if r.text == p.text]
            if not hits:
                continue
            read += 1
            for r in hits:
                assert p.t_start <= r.t <= p.t_end
                assert r.channel == clip.channel
                where = _interp(track.points, r.t)
                tolerance = 40.0 if clip.gps_source == "tesla-event-json" else 5.0
                assert _metres(where, clip.position_at(r.t)) < tolerance
                # and the wall-clock time of the sighting is the clip start + t
                when = start_utc + timedelta(seconds=r.t)
                assert abs((when - datetime.fromisoformat(p.time_utc)).total_seconds()) <= 1.5
    print(f"demo plates read: {read}/{total}")
    assert read == total


def test_task_model_accepts_what_the_tests_send() -> None:
    Task.model_validate(_task("preprocess", "k", []))
