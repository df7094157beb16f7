"""The README's first command, end to end: sample clips with rendered plates go through the
daemon, a Jetson-class and a GPU-class worker and the API, and the plate timeline shows each
rendered plate at the right place and time."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest


@pytest.mark.slow
def test_the_demo_finds_every_rendered_plate_in_the_api(tmp_path: Path) -> None:
    where = tmp_path / "demo"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "spoold",
            "demo",
            "--dir",
            str(where),
            "--exit-when-done",
            "--timeout",
            "540",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    m = re.search(
        r"(\d+)/(\d+) rendered plates read at the right place and time in (\d+) s", run.stdout
    )
    assert m and m.group(1) == m.group(2) and int(m.group(2)) >= 5, run.stdout[-3000:]
    print(m.group(0))  # the closing note quotes this figure

    # Each stage's task was created exactly once per video.
    cfg = where / "spoold.toml"
    ls = subprocess.run(
        [
            sys.executable,
            "-m",
            "spoold",
            "ls",
            "--config",
            str(cfg),
            "--state",
            "all",
            "--limit",
            "10000",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = json.loads(ls.stdout)
    per_stage = Counter((r["task_id"].split("-")[1], r["task_id"].split("-", 2)[2]) for r in rows)
    assert per_stage and max(per_stage.values()) == 1
    stages = {t for t, _ in per_stage}
    assert {"ingest", "preprocess", "detect", "finalize"} <= stages
    check = subprocess.run(
        [sys.executable, "-m", "spoold", "check", "--config", str(cfg)],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout
