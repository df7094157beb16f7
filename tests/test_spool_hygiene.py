"""The protocol's own housekeeping never makes ``spoold check`` fail: commands remove their
clock probes, ``check`` never counts a probe as a problem, and ``check --repair`` removes the
probes that killed processes of this host left."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from spoolkit import age_tmp_files, dead_pid, new_spool, spoold, task

from spoold.spool import inspect as spool_inspect
from spoold.spool.host import short_hostname

SUBMIT = (sys.executable, "-m", "spoold", "submit", "--type", "detect", "--class", "gpu")


@pytest.mark.slow  # 50 interpreter starts: about a minute on a loaded CI machine
def test_fifty_submits_leave_no_temp_file_and_check_passes_an_hour_later(tmp_path: Path) -> None:
    spool = new_spool(tmp_path)
    spool.close()
    env = {**os.environ, "SPOOLD_SPOOL": str(spool.root)}
    for i in range(50):
        res = subprocess.run(
            [*SUBMIT, "--key", f"clip{i}"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert res.returncode == 0, res.stderr
    assert sorted(os.listdir(spool.root / "tmp")) == []
    assert len(os.listdir(spool.root / "pending/gpu")) == 50 + 2  # + claimed/, deferred/
    for p in (spool.root / "pending/gpu").iterdir():
        os.utime(p, (p.stat().st_mtime - 3600, p.stat().st_mtime - 3600))
    res = spoold("check", "--spool", str(spool.root))
    assert res.returncode == 0, res.stdout + res.stderr
    assert sorted(os.listdir(spool.root / "tmp")) == []


def test_clock_probes_are_never_problems_and_repair_removes_dead_ones(tmp_path: Path) -> None:
    spool = new_spool(tmp_path)
    spool.publish(task(spool))
    host = short_hostname()
    dead, alive = dead_pid(), os.getppid()
    for name in (f"clock.{host}.{dead}", f"clock.{host}.{alive}", f"clock.otherhost.{dead}"):
        (spool.root / "tmp" / name).write_text("clock\n")
    age_tmp_files(spool.root, 7200)
    rep = spool_inspect.check(spool)
    assert rep.clean, rep.problems
    rep = spool_inspect.check(spool, repair=True)
    assert rep.clean and [(p.kind, p.path, p.repaired) for p in rep.problems] == [
        ("tmp", f"tmp/clock.{host}.{dead}", True)
    ]
    left = sorted(os.listdir(spool.root / "tmp"))
    assert left == sorted(
        [f"clock.{host}.{alive}", f"clock.otherhost.{dead}", spool.clock_probe.name]
    )
    spool.close()
    assert spool.clock_probe.name not in os.listdir(spool.root / "tmp")


def test_old_temp_files_are_still_problems(tmp_path: Path) -> None:
    """(The probe rule is narrow: a crashed writer's temp file is still reported.)"""
    spool = new_spool(tmp_path)
    (spool.root / "tmp/20261125T101530Z-x-y.json.4711-1-abcdef.tmp").write_text("half")
    age_tmp_files(spool.root, 7200)
    assert [p.kind for p in spool_inspect.check(spool).problems] == ["tmp"]
