"""Every command line docs/workers.md prints runs in a test exactly as printed.

The lines are read from the document itself (``sh`` blocks), so the document and the tests
cannot drift: a new line with no test fails :func:`test_every_command_line_has_a_test`.
The ``spoold work`` lines run in ``tests/test_lifecycle_e2e.py`` (the real daemon drains
clips with them); the others here.  The test-suite lines are this suite's own files and
marker, which CI runs: here they are checked to name files and markers that exist (running
the suite inside itself would prove nothing more).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
from daemon_support import Env
from doc_commands import MAIN, command_lines, fenced_blocks

from schemas.task import FileRef
from spoold.demo import samples

DOC = MAIN / "docs" / "workers.md"

#: A stand-in for the ``ultralytics`` package the document's example detector imports (its
#: weights are the user's; neither is installed here): the same call shapes, fixed boxes.
FAKE_ULTRALYTICS = """
class _List(list):
    def tolist(self):
        return list(self)


class _Boxes:
    xyxy = _List([[16.0, 24.0, 96.0, 80.0]])
    conf = _List([0.87])
    cls = _List([2])


class _Result:
    names = {2: "car"}
    boxes = _Boxes()


class YOLO:
    def __init__(self, weights):
        self.weights = weights

    def __call__(self, image, conf, verbose):
        return [_Result()]
"""


def kind(argv: list[str]) -> str:
    """Which test runs a command line of the document."""
    if argv[:2] == ["spoold", "work"]:
        return "worker-loop"  # tests/test_lifecycle_e2e.py
    if argv[:3] == ["python", "-m", "spoold.demo.media"]:
        return "demo-media"
    if argv[:3] == ["python", "-m", "spoold.workers.detect"]:
        return "detector-plugin"
    if argv[:3] == [".venv/bin/python", "-m", "pytest"]:
        return "test-suite"
    return "untested"


def shell_env() -> dict[str, str]:
    """``python`` and ``spoold`` as a shell in this environment finds them."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


def test_every_command_line_has_a_test() -> None:
    lines = command_lines(DOC)
    kinds = {" ".join(argv): kind(argv) for argv in lines}
    assert "untested" not in kinds.values(), kinds
    assert list(kinds.values()).count("worker-loop") == 2, kinds


def test_the_test_suite_lines_name_files_and_markers_that_exist() -> None:
    markers = tomllib.loads((MAIN / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    registered = {m.split(":")[0] for m in markers["markers"]}
    for argv in (a for a in command_lines(DOC) if kind(a) == "test-suite"):
        args = argv[3:]
        for i, arg in enumerate(args):
            if arg == "-m":
                assert args[i + 1] in registered, argv
            elif arg.startswith("tests/"):
                assert (MAIN / arg).is_file(), argv


@pytest.mark.slow
def test_demo_media_line_as_printed(tmp_path: Path) -> None:
    [argv] = [a for a in command_lines(DOC) if kind(a) == "demo-media"]
    run = subprocess.run(
        argv, cwd=tmp_path, env=shell_env(), capture_output=True, text=True, timeout=170
    )
    assert run.returncode == 0, run.stderr[-3000:]
    out = tmp_path / argv[3]
    manifest = json.loads((out / "manifest.json").read_text())
    assert {c["brand"] for c in manifest["clips"]} >= {"viofo", "blackvue", "70mai", "tesla"}
    for clip in manifest["clips"]:
        assert (out / clip["path"]).stat().st_size > 0, clip


@pytest.mark.slow
def test_detector_plugin_line_as_printed(tmp_path: Path) -> None:
    """The document's example detector (its own code block) behind its own command line, run
    by ``spoold work`` on a detect task of a real clip."""
    [argv] = [a for a in command_lines(DOC) if kind(a) == "detector-plugin"]
    [example] = [b for b in fenced_blocks(DOC, "python") if "def factory" in b]
    env = Env(tmp_path)
    (env.base / "mydetect.py").write_text(example)
    (env.base / "ultralytics.py").write_text(FAKE_ULTRALYTICS)
    clip = samples.make_clip(env.root("indoor-nas") / "cams" / "clip.mp4", seconds=2, seed=5)
    spool = env.spool()
    ref = FileRef(device="indoor-nas", path=str(clip.relative_to(env.root("indoor-nas"))))
    task = spool.new_task(
        "detect", "gpu", "vdoc", video_id="vdoc", inputs=[ref.model_copy(update={"type": "video"})]
    )
    spool.publish(task)
    work = ["spoold", "work", "--once", "--class", "gpu", "--device", "rtx-01", "--", *argv]
    # "importable by the worker's Python": the user's module (and the stand-in) on its path
    environ = {**shell_env(), "PYTHONPATH": str(env.base)}
    run = subprocess.run(
        work, cwd=env.base, env=environ, capture_output=True, text=True, timeout=170
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    assert env.complete("detect"), spool.get(task.task_id)[1].attempts
    [record] = env.complete("detect").values()
    [out] = [o for o in record["outputs"] if o["type"] == "detections"]
    doc = json.loads((env.root(out["device"]) / out["path"]).read_text())
    assert doc["model"] == "yolo:/models/yolo11n.pt", doc
    assert doc["detections"] and {d["label"] for d in doc["detections"]} == {"car"}, doc
