"""Every command line docs/workers.md prints runs in a test exactly as printed.

The commands are read from the document itself (its ``sh`` blocks), so the document and the
tests cannot drift: a new command with no test fails :func:`test_every_command_has_a_test`.
The ``spoold work`` lines run in ``tests/test_lifecycle_e2e.py`` (the real daemon drains
clips with them); the others here, by ``bash`` in a fresh folder (their paths are relative).
The test-suite lines are this suite's own files and marker, which CI runs: here they are
checked to name files and markers that exist (running the suite inside itself would prove
nothing more).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
from daemon_support import Env
from doc_commands import MAIN, fenced_blocks, shell_commands

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


def kind(command: str) -> str:
    """Which test runs a command of the document."""
    if command.startswith("spoold work "):
        return "worker-loop"  # tests/test_lifecycle_e2e.py
    if command.startswith("python -m spoold.workers.detect --detector "):
        return "detector-plugin"
    if command.startswith("python -m spoold.demo.media "):
        return "demo-media"
    if command.startswith("echo '") and "python -m spoold.workers.detect" in command:
        return "detect-by-hand"
    if command.startswith(".venv/bin/python -m pytest "):
        return "test-suite"
    if command.startswith(".venv/bin/python bench/"):
        return "bench"  # tests/test_bench_smoke.py runs each bench (in its --quick mode)
    return "untested"


def commands() -> list[tuple[str, str]]:
    """(block, command) for every command of the document's ``sh`` blocks."""
    return [(b, c) for b in fenced_blocks(DOC, "sh") for c in shell_commands(b)]


def of_kind(name: str) -> list[tuple[str, str]]:
    return [(b, c) for b, c in commands() if kind(c) == name]


def shell_env() -> dict[str, str]:
    """``python`` and ``spoold`` as a shell in this environment finds them."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


def bash(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", script], cwd=cwd, env=shell_env(), capture_output=True, text=True,
        timeout=170,
    )  # fmt: skip


def test_every_command_has_a_test() -> None:
    kinds = {c: kind(c) for _, c in commands()}
    assert "untested" not in kinds.values(), kinds
    assert list(kinds.values()).count("worker-loop") == 2, kinds


def test_the_test_suite_lines_name_files_and_markers_that_exist() -> None:
    options = tomllib.loads((MAIN / "pyproject.toml").read_text())["tool"]["pytest"]
    registered = {m.split(":")[0] for m in options["ini_options"]["markers"]}
    lines = of_kind("test-suite")
    assert lines
    for _, command in lines:
        args = shlex.split(command, comments=True)[3:]
        for i, arg in enumerate(args):
            if arg == "-m":
                assert args[i + 1] in registered, command
            elif arg.startswith("tests/"):
                assert (MAIN / arg).is_file(), command


@pytest.mark.slow
def test_demo_media_lines_as_printed(tmp_path: Path) -> None:
    lines = of_kind("demo-media")
    assert lines
    for n, (_, command) in enumerate(lines):
        here = tmp_path / str(n)
        here.mkdir()
        run = bash(command, here)
        assert run.returncode == 0, (command, run.stderr[-3000:])
        [out] = [p for p in here.iterdir() if (p / "manifest.json").exists()]
        manifest = json.loads((out / "manifest.json").read_text())
        assert {c["brand"] for c in manifest["clips"]} >= {"viofo", "blackvue", "70mai", "tesla"}
        for clip in manifest["clips"]:
            assert (out / clip["path"]).stat().st_size > 0, clip


@pytest.mark.slow
def test_detect_by_hand_block_as_printed(tmp_path: Path) -> None:
    """The block that runs detect on a demo clip by hand, whole (it makes the clip first)."""
    [(block, _)] = of_kind("detect-by-hand")
    run = bash(block, tmp_path)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    assert "seconds_per_keyframe_plates" in run.stdout, run.stdout


@pytest.mark.slow
def test_detector_plugin_line_as_printed(tmp_path: Path) -> None:
    """The document's example detector (its own code block) behind its own command line, run
    by ``spoold work`` on a detect task of a real clip."""
    [(_, command)] = of_kind("detector-plugin")
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
    work = ["spoold", "work", "--once", "--class", "gpu", "--device", "rtx-01", "--"]
    work += shlex.split(command, comments=True)
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
