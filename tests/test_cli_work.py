"""``spoold work`` from outside: a COMMAND that cannot run claims nothing, a device that
cannot run tasks stops instead of churning through the queue, a task's own failure does not
stop it, each task logs one line taken and one finished (UTC, text or JSON), and one device
name runs once per host and spool.  Real subprocesses throughout."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from netshare import tmpfs
from spoolkit import new_spool, task

from spoold.spool import Spool

SPOOLD = [sys.executable, "-m", "spoold"]


def work(spool: Spool, *args: str, device: str = "cpu-01") -> list[str]:
    return [*SPOOLD, "work", "--spool", str(spool.root), "--class", "jetson", "--device", device,
            "--poll", "0.05", "--max-poll", "0.2", *args]  # fmt: skip


def run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, **kw)  # type: ignore[call-overload, no-any-return]


def publish(spool: Spool, *keys: str) -> list[str]:
    return [spool.publish(task(spool, k)).task_id for k in keys]


def untouched(spool: Spool, task_ids: list[str]) -> bool:
    """Every task is ready, with no attempt recorded and no claim left."""
    return all(
        spool.read(spool.layout.ready("jetson", t)).attempts == [] for t in task_ids
    ) and not list((spool.root / "pending/jetson/claimed").iterdir())


@pytest.mark.parametrize("how", ["not found on $PATH", "no such file", "not executable"])
def test_a_command_that_cannot_run_exits_2_before_claiming(tmp_path: Path, how: str) -> None:
    spool = new_spool(tmp_path)
    ids = publish(spool, "a", "b")
    tool = tmp_path / "tool"
    tool.write_text("#!/bin/sh\nexit 0\n")  # not executable
    command = {"not found on $PATH": "no-such-worker-cmd", "no such file": "./missing"}.get(
        how, "./tool"
    )
    out = run(work(spool, "--", command), cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    assert "cannot run COMMAND" in out.stderr and how in out.stderr
    assert "nothing was claimed" in out.stderr and "Traceback" not in out.stderr
    assert untouched(spool, ids)


def wait_until_polling(proc: subprocess.Popen[str]) -> None:
    """Until the worker has started its loop (its first log line): past its checks."""
    assert proc.stderr is not None
    line = proc.stderr.readline()
    assert "claiming jetson tasks from" in line, line + proc.communicate()[1]


def test_a_command_gone_at_run_time_hands_tasks_back_and_stops_with_3(tmp_path: Path) -> None:
    spool = new_spool(tmp_path)
    tool = tmp_path / "tool"
    shutil.copy("/bin/true", tool)
    proc = subprocess.Popen(work(spool, "--", str(tool)), stderr=subprocess.PIPE, text=True)
    wait_until_polling(proc)
    tool.unlink()  # uninstalled under a running worker
    ids = publish(spool, "a", "b", "c", "d", "e")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, err
    assert "stopped claiming after 3 tasks in a row that this device could not run" in err
    assert f"cannot run '{tool}': No such file or directory" in err
    assert err.count("device-fault") == 3
    assert untouched(spool, ids)  # the queue is as it was: no failed attempt on any task


def test_a_full_scratch_disk_is_the_devices_fault(tmp_path: Path) -> None:
    spool = new_spool(tmp_path)
    with tmpfs(tmp_path / "scratch", "64k") as scratch:
        env = dict(os.environ, TMPDIR=str(scratch))
        proc = subprocess.Popen(
            work(spool, "--max-device-faults", "2", "--", "true"),
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        wait_until_polling(proc)
        filler = os.open(scratch / ".filler", os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            with pytest.raises(OSError, match="No space left"):
                while True:
                    os.write(filler, b"\0" * 4096)
        finally:
            os.close(filler)
        ids = publish(spool, "a", "b")
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, err
    assert "No space left on device" in err and "stopped claiming after 2 tasks" in err
    assert untouched(spool, ids)


def test_a_tasks_own_failures_do_not_stop_the_worker(tmp_path: Path) -> None:
    spool = new_spool(tmp_path)
    ids = publish(spool, "a", "b", "c", "d")
    out = run(work(spool, "--max-tasks", "4", "--", "/bin/sh", "-c", "cat >/dev/null; exit 1"))
    assert out.returncode == 0, out.stderr
    assert "0 completed, 4 failed" in out.stderr and "stopped claiming" not in out.stderr
    for t in ids:
        assert len(spool.read(spool.layout.ready("jetson", t)).attempts) == 1


UTC_TEXT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (INFO|WARNING) spoold\.worker")


def test_each_task_logs_one_line_taken_and_one_finished_in_utc(tmp_path: Path) -> None:
    spool = new_spool(tmp_path)
    ok, bad = publish(spool, "a", "b")
    script = f'cat >/dev/null; test "$SPOOLD_TASK_ID" = {ok}'
    env = dict(os.environ, TZ="Asia/Kolkata")  # the host's zone must not leak into the log
    before = datetime.now(timezone.utc).replace(microsecond=0)
    out = run(work(spool, "--max-tasks", "2", "--", "/bin/sh", "-c", script), env=env)
    after = datetime.now(timezone.utc)
    assert out.returncode == 0, out.stderr
    lines = [ln for ln in out.stderr.splitlines() if " spoold.worker.runtime: 2026" in ln]
    assert len(lines) == 4 and all(UTC_TEXT.match(ln) for ln in lines), lines
    assert f"{ok}: taken by cpu-01 (preprocess, attempt 1)" in lines[0]
    assert re.search(rf"{ok}: complete in \d+\.\d s$", lines[1])
    assert re.search(rf"{bad}: failed in \d+\.\d s: /bin/sh: exit status 1$", lines[3])
    logged = datetime.strptime(lines[0].split()[0], "%Y-%m-%dT%H:%M:%S.%fZ")
    assert before <= logged.replace(tzinfo=timezone.utc) <= after  # UTC, not Asia/Kolkata

    again = publish(spool, "c")[0]
    out = run(work(spool, "--max-tasks", "2", "--log-format", "json", "--", "true"))
    recs = [json.loads(ln) for ln in out.stderr.splitlines() if ln.startswith("{")]
    ours = [r for r in recs if r.get("task_id") == again]
    assert [r["event"] for r in ours] == ["task_taken", "task_finished"]
    assert ours[1]["outcome"] == "complete" and isinstance(ours[1]["seconds"], float)
    assert all(r["ts"].endswith("+00:00") for r in recs)


@pytest.fixture
def first_worker(tmp_path: Path) -> Iterator[tuple[Spool, subprocess.Popen[str]]]:
    spool = new_spool(tmp_path)
    proc = subprocess.Popen(
        work(spool, "--exclusive", "--", "true"), stderr=subprocess.PIPE, text=True
    )
    wait_until_polling(proc)
    yield spool, proc
    proc.terminate()
    proc.communicate(timeout=30)


def test_one_device_name_runs_once_per_host_and_spool(
    first_worker: tuple[Spool, subprocess.Popen[str]], tmp_path: Path
) -> None:
    spool, _ = first_worker
    out = run(work(spool, "--once", "--exclusive", "--", "true"))
    assert out.returncode == 2, out.stderr
    assert "another worker on this host already runs as device 'cpu-01' on this spool" in out.stderr
    # Another device name, or the same name on another spool, is fine.
    other = Spool.init(tmp_path / "other")
    assert run(work(other, "--once", "--exclusive", "--", "true")).returncode == 0
    assert run(work(spool, "--once", "--exclusive", "--", "true", device="cpu-02")).returncode == 0
    # Without --exclusive, a second process of the same device runs beside the first.
    assert run(work(spool, "--once", "--", "true")).returncode == 0
