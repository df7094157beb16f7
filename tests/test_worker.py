"""The worker runtime: one COMMAND per task, heartbeats while it runs, complete/fail by exit status."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from spoolkit import files_under, new_spool, task

from schemas.task import Task, WorkResult
from spoold.spool import Spool
from spoold.worker.runtime import Context, Worker, command_handler


def sh(script: str) -> list[str]:
    return ["/bin/sh", "-c", script]


def run_once(spool: Spool, command: list[str], **kw: object) -> Worker:
    w = Worker(
        spool, "jetson", "jetson-01", command_handler(command), roots={"server": Path("/srv")}, **kw
    )  # type: ignore[arg-type]
    w.run(once=True)
    return w


def test_exit_zero_completes_with_the_outputs_and_children_of_the_result_file(
    tmp_path: Path,
) -> None:
    spool = new_spool(tmp_path)
    spool.publish(task(spool))
    script = (
        'test "$(cat | python3 -c "import json,sys; print(json.load(sys.stdin)[\'task_id\'])")" = "$SPOOLD_TASK_ID" || exit 9\n'
        'test -f "$SPOOLD_TASK_FILE" && test "$SPOOLD_ROOTS" = \'{"server": "/srv"}\' || exit 8\n'
        'cat > "$SPOOLD_RESULT_FILE" <<EOF\n'
        '{"outputs": [{"device": "server", "path": "meta/x/gps.json", "type": "gps"}],\n'
        ' "children": [{"task_type": "detect", "device_class": "gpu"}], "result": {"dev": "$SPOOLD_DEVICE"}}\n'
        "EOF\n"
    )
    w = run_once(spool, sh(script))
    assert w.stats.completed == 1, spool.read(
        spool.locate("20261125T101530Z-preprocess-clip1").path
    ).attempts  # type: ignore[union-attr]
    rec = spool.read(spool.layout.completed("20261125T101530Z-preprocess-clip1"))
    assert rec.outputs[0].path == "meta/x/gps.json" and rec.result == {"dev": "jetson-01"}
    assert files_under(spool.root / "pending") == ["gpu/20261125T101530Z-detect-clip1.json"]


def test_a_failing_command_records_the_end_of_its_stderr(tmp_path: Path) -> None:
    spool = new_spool(tmp_path)
    spool.publish(task(spool))
    w = run_once(
        spool,
        sh("cat >/dev/null; echo 'decoding frame 12' >&2; echo 'CUDA out of memory' >&2; exit 3"),
    )
    assert w.stats.failed == 1
    rec = spool.read(spool.layout.ready("jetson", "20261125T101530Z-preprocess-clip1"))
    assert rec.attempts[0].error == "/bin/sh: exit status 3\ndecoding frame 12\nCUDA out of memory"


def test_an_invalid_result_file_fails_the_task(tmp_path: Path) -> None:
    spool = new_spool(tmp_path)
    spool.publish(task(spool))
    run_once(
        spool,
        sh(
            'cat >/dev/null; echo \'{"outputs": [{"device": "server", "path": "/abs"}]}\' > "$SPOOLD_RESULT_FILE"'
        ),
    )
    rec = spool.read(spool.layout.ready("jetson", "20261125T101530Z-preprocess-clip1"))
    assert rec.attempts[0].error.startswith(
        "result file is invalid: outputs.0.path: Value error, path '/abs' is absolute"
    )


def test_a_missing_command_is_the_devices_fault_not_the_tasks(tmp_path: Path) -> None:
    spool = new_spool(tmp_path)
    spool.publish(task(spool))
    w = run_once(spool, ["/nonexistent/worker-binary"])
    assert w.stats.device_faults == 1 and w.stats.failed == 0 and w.stats.released == 1
    rec = spool.read(spool.layout.ready("jetson", "20261125T101530Z-preprocess-clip1"))
    assert rec.attempts == []  # handed back unchanged: the task did nothing wrong


def test_a_run_of_device_faults_stops_the_loop_and_says_why(tmp_path: Path) -> None:
    spool = new_spool(tmp_path)
    for k in "abcd":
        spool.publish(task(spool, k))
    w = Worker(
        spool, "jetson", "j1", command_handler(["/nonexistent/x"]), poll=0.01, max_device_faults=2
    )
    stats = w.run()
    assert stats.device_faults == 2 and stats.stopped_because is not None
    assert "2 tasks in a row that this device could not run" in stats.stopped_because
    assert "cannot run '/nonexistent/x'" in stats.stopped_because


def test_heartbeats_keep_a_long_task_alive_past_its_lease(tmp_path: Path) -> None:
    spool = new_spool(tmp_path, lease=1)
    spool.publish(task(spool))
    w = run_once(spool, sh("cat >/dev/null; sleep 2.5"))
    assert w.stats.completed == 1 and w.stats.lost == 0


def test_a_lost_lease_stops_the_command_and_completes_nothing(tmp_path: Path) -> None:
    spool = new_spool(tmp_path, lease=1)
    spool.publish(task(spool))
    marker = tmp_path / "stolen"

    def steal(t: Task, ctx: Context) -> WorkResult:
        # another device breaks the claim while we run
        (claimed,) = (spool.root / "pending/jetson/claimed").iterdir()
        claimed.rename(spool.root / "pending/jetson" / (t.task_id + ".json"))
        marker.touch()
        deadline = time.monotonic() + 10
        while not ctx.lease_lost.is_set() and time.monotonic() < deadline:
            time.sleep(0.05)
        return WorkResult()

    w = Worker(spool, "jetson", "jetson-01", steal)
    w.run(once=True)
    assert marker.exists() and w.stats.lost == 1 and w.stats.completed == 0
    assert not spool.layout.completed("20261125T101530Z-preprocess-clip1").exists()


def test_sigterm_hands_the_running_task_back(tmp_path: Path) -> None:
    spool = new_spool(tmp_path)
    spool.publish(task(spool))
    started = tmp_path / "started"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "spoold",
            "work",
            "--spool",
            str(spool.root),
            "--class",
            "jetson",
            "--device",
            "jetson-01",
            "--",
            "/bin/sh",
            "-c",
            f"touch {started}; sleep 60",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 20
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert started.exists()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "1 released" in err
    assert files_under(spool.root / "pending") == ["jetson/20261125T101530Z-preprocess-clip1.json"]
    assert (
        spool.read(spool.layout.ready("jetson", "20261125T101530Z-preprocess-clip1")).attempts == []
    )


def test_idle_polling_backs_off(tmp_path: Path) -> None:
    spool = new_spool(tmp_path)
    w = Worker(spool, "jetson", "j1", command_handler(["true"]), poll=0.01, max_poll=0.05)
    import threading

    threading.Timer(0.5, w.stop).start()
    stats = w.run()
    assert 5 <= stats.idle_polls <= 60


def test_max_tasks_stops_after_n(tmp_path: Path) -> None:
    spool = new_spool(tmp_path)
    for k in "abc":
        spool.publish(task(spool, k))
    w = Worker(spool, "jetson", "j1", command_handler(sh("cat >/dev/null")), poll=0.01)
    assert len(w.run(max_tasks=2).task_ids) == 2
    assert len(os.listdir(spool.root / "pending/jetson")) == 3  # claimed/, deferred/, one task
    assert json.loads((spool.root / ".spoold-spool").read_text())["lease_s"] == 60


def test_a_killed_workers_scratch_folder_is_removed_by_the_next_worker(tmp_path: Path) -> None:
    """SIGKILL leaves the task's scratch folder behind (a video's frames, on a Jetson); the next
    worker of this host removes it -- and never one of a live worker or of another host."""
    spool = new_spool(tmp_path)
    spool.publish(task(spool))
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    env = dict(os.environ, TMPDIR=str(scratch))
    cmd = [sys.executable, "-m", "spoold", "work", "--spool", str(spool.root)]
    cmd += ["--class", "jetson", "--device", "jetson-01", "--lease", "1"]
    proc = subprocess.Popen(
        [*cmd, "--", "/bin/sh", "-c", "touch frames.bin; exec sleep 60"],
        env=env,
        start_new_session=True,
    )
    deadline = time.monotonic() + 20
    while not list(scratch.glob("spoold-work.*/frames.bin")) and time.monotonic() < deadline:
        time.sleep(0.05)
    [left] = [p.parent for p in scratch.glob("spoold-work.*/frames.bin")]
    assert f".{proc.pid}.20261125T101530Z-preprocess-clip1-" in left.name
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert left.exists()
    host = left.name.split(".")[1]
    live = subprocess.Popen(["sleep", "60"])
    try:
        keep = [
            scratch / f"spoold-work.{host}.{live.pid}.20261125T101530Z-x-abc123",  # alive
            scratch / f"spoold-work.other-host.{proc.pid}.20261125T101530Z-x-abc123",
            scratch / "unrelated",
        ]
        for d in keep:
            d.mkdir()
        time.sleep(1.2)  # the killed worker's lease (1 s) runs out: the task can be re-run
        out = subprocess.run(
            [*cmd, "--once", "--", "true"], env=env, capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        assert not left.exists()
        assert f"removed {left}" in out.stderr
        assert all(d.exists() for d in keep)
    finally:
        live.kill()
        live.wait()
    assert [p.name for p in (spool.root / "complete").rglob("*.json")] == [
        "20261125T101530Z-preprocess-clip1.json"
    ]
