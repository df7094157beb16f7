"""An idle ``spoold work`` starts on a task published after it went idle within about its
``--doorbell`` interval, not its poll interval: it watches the queue folders' mtime between
polls.  Real subprocesses; the bounds are several times the doorbell and a fraction of the
poll, so they check the mechanism, not the machine's speed."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from spoolkit import new_spool, task

from spoold.spool import Spool

SPOOLD = [sys.executable, "-m", "spoold"]
#: The idle worker's poll: without the doorbell a task would wait at least 0.8 x this.
POLL = 30.0


def idle_worker(spool: Spool, device: str, *args: str) -> subprocess.Popen[str]:
    """A worker polling every POLL seconds, returned once it has looked and found nothing."""
    proc = subprocess.Popen(
        [*SPOOLD, "work", "--spool", str(spool.root), "--class", "jetson", "--device", device,
         "--poll", str(POLL), "--max-poll", str(POLL), *args, "--", "true"],
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert proc.stderr is not None
    line = proc.stderr.readline()
    assert "claiming jetson tasks from" in line, line + proc.communicate()[1]
    # A first task: once it is complete the worker claims again at once, finds nothing and
    # waits (a second later it is surely idle, however slow its start-up was).
    warm_up = spool.publish(task(spool, "warm-up", device=device)).task_id
    deadline = time.monotonic() + 60
    while (loc := spool.locate(warm_up)) is None or loc.where != "complete":
        assert time.monotonic() < deadline, stop(proc)
        time.sleep(0.05)
    time.sleep(1.0)
    return proc


def picked_up_within(spool: Spool, task_id: str, seconds: float) -> bool:
    """Whether ``task_id`` left the ready folder (claimed or completed) within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        loc = spool.locate(task_id)
        if loc is not None and loc.where != "ready":
            return True
        time.sleep(0.05)
    return False


def stop(proc: subprocess.Popen[str]) -> str:
    proc.terminate()
    _, err = proc.communicate(timeout=30)
    return err


def test_an_idle_worker_wakes_on_the_doorbell_not_its_poll(tmp_path: Path) -> None:
    spool = new_spool(tmp_path)
    proc = idle_worker(spool, "cpu-01", "--doorbell", "0.5")
    try:
        published = spool.publish(task(spool, "a"))
        assert picked_up_within(spool, published.task_id, 5.0)
        # Its own device queue rings too (a task pinned to this device).
        pinned = spool.publish(task(spool, "b", device="cpu-01"))
        assert picked_up_within(spool, pinned.task_id, 5.0)
    finally:
        err = stop(proc)
    assert err.count("taken by cpu-01") == 3, err  # the warm-up, then the two


def test_without_the_doorbell_the_same_task_waits_for_the_poll(tmp_path: Path) -> None:
    """The control: the bound above is not met by polling alone."""
    spool = new_spool(tmp_path)
    proc = idle_worker(spool, "cpu-01", "--doorbell", "0")
    try:
        published = spool.publish(task(spool, "a"))
        assert not picked_up_within(spool, published.task_id, 5.0)
    finally:
        stop(proc)
