"""Disk full: a write the spool refuses is a clear error that loses nothing and leaves no
temp file; once there is room again, work resumes without an operator.

The spool is a 256 KiB tmpfs (root only), filled up by a dotfile the spool ignores.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from netshare import SpooldWork, python_cmd, tmpfs, wait_for

from schemas.task import ChildSpec
from spoold.errors import SpoolError
from spoold.spool import Spool

STAMP = "20260101T000000Z"
ENOSPC = r"No space left on device \(ENOSPC\)"


@pytest.fixture
def small(tmp_path: Path) -> Iterator[Spool]:
    """A spool alone on a 256 KiB filesystem."""
    with tmpfs(tmp_path / "small", "256k") as root:
        yield Spool.init(root, default_lease=60)


def fill(spool: Spool) -> Path:
    """Take every free block (in a dotfile, which the spool never looks at)."""
    filler = spool.root / ".filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as exc:
        assert exc.strerror == "No space left on device"
    finally:
        os.close(fd)
    return filler


def spool_files(spool: Spool) -> list[str]:
    """Every file of the spool but the marker, the filler and the clock probes (one per live
    process, spool_layout.md §5)."""
    out = []
    for dirpath, _, names in os.walk(spool.root):
        out += [str(Path(dirpath, n).relative_to(spool.root)) for n in names]
    return sorted(f for f in out if not f.startswith((".", "tmp/clock.")))


def test_publishing_to_a_full_spool_is_a_clear_error_that_leaves_nothing_behind(
    small: Spool,
) -> None:
    task = small.new_task("ingest", "cpu", "v1", stamp=STAMP)
    before = spool_files(small)
    filler = fill(small)
    with pytest.raises(
        SpoolError, match=rf"cannot write pending/cpu/{task.task_id}.json: {ENOSPC}"
    ):
        small.publish(task)
    assert spool_files(small) == before  # no temp file, no half-written task
    filler.unlink()
    assert small.publish(task).created


def test_a_publisher_on_a_full_spool_gets_one_line_from_the_cli(small: Spool) -> None:
    fill(small)
    r = subprocess.run(
        [
            *python_cmd(),
            "submit",
            "--spool",
            str(small.root),
            "--type",
            "ingest",
            "--class",
            "cpu",
            "--key",
            "v1",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "No space left on device" in r.stderr, r.stderr
    assert [f for f in spool_files(small) if f.startswith(("tmp/", "pending/"))] == []


def test_completing_on_a_full_spool_keeps_the_claimed_task_intact_until_there_is_room(
    small: Spool,
) -> None:
    small.publish(small.new_task("ingest", "cpu", "v1", stamp=STAMP))
    claim = small.claim("cpu", "d1")
    assert claim is not None
    held = claim.path.read_bytes()
    filler = fill(small)
    child = ChildSpec(task_type="detect", device_class="cpu")
    with pytest.raises(SpoolError, match=ENOSPC):
        claim.complete(children=[child], result={"n": 1})
    assert claim.path.read_bytes() == held  # the task, still claimed by us, is untouched
    assert spool_files(small) == [f"pending/cpu/claimed/{claim.path.name}"]
    filler.unlink()
    claim.complete(children=[child], result={"n": 1})  # the same claim finishes it
    small.close()  # drops the spare temp file a worker keeps (tmp/HOST.PID.SEQ.spare)
    assert spool_files(small) == [
        f"complete/2026-01-01/{claim.task_id}.json",
        f"pending/cpu/{STAMP}-detect-v1.json",
    ]


def test_a_worker_on_a_full_spool_reports_it_hands_the_task_back_and_completes_it_later(
    small: Spool, tmp_path: Path
) -> None:
    """`spoold work` keeps running while the disk is full; the task is never lost, and it
    completes exactly once when space comes back (it may run more than once meanwhile)."""
    go, runs = tmp_path / "go", tmp_path / "runs"
    small.publish(small.new_task("ingest", "cpu", "v1", stamp=STAMP))
    script = f"cat >/dev/null; echo run >> {runs}; while [ ! -e {go} ]; do sleep 0.05; done"
    worker = SpooldWork(
        [
            "--spool",
            str(small.root),
            "--class",
            "cpu",
            "--device",
            "d1",
            "--poll",
            "0.1",
            "--max-poll",
            "0.5",
            "--",
            "/bin/sh",
            "-c",
            script,
        ],
        tmp_path / "worker.log",
    )
    try:
        wait_for(runs.exists, 30, "the worker to start the task")
        filler = fill(small)
        go.touch()  # the command finishes: completing it needs room the spool has not got
        worker.wait_output(
            rf"{STAMP}-ingest-v1: cannot write .*{ENOSPC}.*handing the task back", 30
        )
        task_files = [f for f in spool_files(small) if f.endswith(".json")]
        assert len(task_files) == 1 and task_files[0].startswith("pending/cpu/")
        assert not [f for f in spool_files(small) if f.startswith("tmp/")]
        filler.unlink()
        done = small.layout.completed(f"{STAMP}-ingest-v1")
        wait_for(done.exists, 30, "the task to complete once there is room")
        assert worker.alive()
    finally:
        worker.stop()
    assert [f for f in spool_files(small) if f.endswith(".json")] == [
        f"complete/2026-01-01/{STAMP}-ingest-v1.json"
    ]
