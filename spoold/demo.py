"""``spoold demo``: a spool with a few tasks flowing through simulated local device workers.

Public API: :func:`run_demo`.

Everything is real: the spool is a folder, each device is a ``spoold work`` process running a
small script, and the chain (preprocess on "jetson" → detect on "gpu") is made of children the
scripts publish through the result-file contract of spool_layout.md.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

from schemas.task import FileRef
from spoold.spool import Spool
from spoold.spool import inspect as spool_inspect

# A device script: reads the task, pretends to work, and chains a detect task after preprocess.
_SCRIPT = r"""
import json, os, sys, time
task = json.load(sys.stdin)
time.sleep(0.2)
result = {"outputs": [{"device": "server", "path": "meta/%s/%s.json" % (task["video_id"], task["task_type"]), "type": task["task_type"]}]}
if task["task_type"] == "preprocess":
    result["children"] = [{"task_type": "detect", "device_class": "gpu"}]
with open(os.environ["SPOOLD_RESULT_FILE"], "w") as fh:
    json.dump(result, fh)
"""


def run_demo(where: Path, videos: int = 6, echo: object = print) -> int:
    """Build ``where/spool``, run two jetson workers and one gpu worker until all is complete."""
    say = echo if callable(echo) else print
    if where.exists():
        shutil.rmtree(where)
    spool = Spool.init(where / "spool", fsync=False)
    script = where / "device.py"
    script.write_text(_SCRIPT)
    for i in range(videos):
        video = f"v{i:04d}"
        ref = FileRef(device="indoor-nas", path=f"dashcam/clip{i}.mp4", type="video")
        spool.publish(spool.new_task("preprocess", "jetson", video, video_id=video, inputs=[ref]))
    say(f"spool at {spool.root} with {videos} preprocess tasks; starting 3 devices")
    devices = [("jetson", "jetson-01"), ("jetson", "jetson-02"), ("gpu", "gpu-4090")]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "spoold",
                "work",
                "--spool",
                str(spool.root),
                "--class",
                cls,
                "--device",
                dev,
                "--poll",
                "0.2",
                "--max-poll",
                "0.5",
                "--",
                sys.executable,
                str(script),
            ],
        )
        for cls, dev in devices
    ]
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            st = spool_inspect.status(spool)
            done = sum(st["complete_by_day"].values())
            t = st["totals"]
            say(
                f"  complete {done:3d}/{2 * videos}   ready {t['ready']:3d}   running {t['claimed']:2d}"
            )
            if done >= 2 * videos:
                break
            time.sleep(0.5)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
    rep = spool_inspect.check(spool)
    say(f"done: {done} tasks complete; spoold check: {'clean' if rep.clean else rep.remaining}")
    say(f"look around: ls -R {spool.root} ; spoold status --spool {spool.root}")
    return 0 if done >= 2 * videos and rep.clean else 1
