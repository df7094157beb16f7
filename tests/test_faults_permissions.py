"""Permission denied on spool files: a clear error naming the file, the file left in place,
and the rest of the queue keeps moving; once the permissions are fixed the task runs.

Root ignores file permissions, so the worker runs as ``nobody`` (``setpriv``); the spool is
owned by ``nobody``, and "the operator" (this test, as root) takes permissions away.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from netshare import SpooldWork, python_cmd, require_root, unavailable, wait_for

from spoold.spool import Spool

STAMP = "20260101T000000Z"
NOBODY = 65534
AS_NOBODY = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]


@pytest.fixture
def spool() -> Iterator[Spool]:
    """A spool owned by nobody, outside pytest's root-only tmp folder."""
    require_root("running a worker as another user")
    probe = subprocess.run(
        [*AS_NOBODY, *python_cmd(), "--version"], capture_output=True, check=False
    )
    if probe.returncode != 0:
        unavailable(f"user nobody cannot run spoold here: {probe.stderr.decode()[-300:]}")
    base = Path(tempfile.mkdtemp(prefix="spoold-perm-", dir="/tmp"))
    try:
        base.chmod(0o755)
        s = Spool.init(base / "spool", default_lease=60)
        s.close()
        for dirpath, dirnames, filenames in os.walk(base / "spool"):
            for n in [".", *dirnames, *filenames]:
                os.chown(os.path.join(dirpath, n), NOBODY, NOBODY)
        yield s
    finally:
        shutil.rmtree(base, ignore_errors=True)


def publish(spool: Spool, key: str, device: str | None = None) -> Path:
    res = spool.publish(spool.new_task("ingest", "cpu", key, stamp=STAMP, device=device))
    os.chown(res.location.path, NOBODY, NOBODY)
    for d in (res.location.path.parent, *res.location.path.parent.iterdir()):
        if d.is_dir():
            os.chown(d, NOBODY, NOBODY)
    return res.location.path


def worker_as_nobody(spool: Spool, log: Path, device: str = "w1") -> SpooldWork:
    return SpooldWork(
        [
            "--spool",
            str(spool.root),
            "--class",
            "cpu",
            "--device",
            device,
            "--poll",
            "0.1",
            "--max-poll",
            "0.3",
            "--",
            "/bin/sh",
            "-c",
            "cat >/dev/null",
        ],
        log,
        prefix=AS_NOBODY,
    )


def done(spool: Spool, key: str) -> bool:
    return spool.layout.completed(f"{STAMP}-ingest-{key}").exists()


def test_an_unreadable_task_file_is_reported_by_name_and_the_queue_moves_on(
    spool: Spool, tmp_path: Path
) -> None:
    publish(spool, "a")
    b = publish(spool, "b")
    publish(spool, "c")
    content = b.read_bytes()
    b.chmod(0o000)
    worker = worker_as_nobody(spool, tmp_path / "worker.log")
    try:
        wait_for(lambda: done(spool, "a") and done(spool, "c"), 30, "a and c to complete")
        moved = b.parent / "invalid" / b.name
        worker.wait_output(
            rf"pending/cpu/{STAMP}-ingest-b\.json: cannot read it: Permission denied "
            rf"\(running as uid {NOBODY}\) — moved to pending/cpu/invalid/{STAMP}-ingest-b\.json; "
            rf"fix it, then `mv pending/cpu/invalid/{STAMP}-ingest-b\.json pending/cpu/`",
            10,
        )
        # Quarantined as it was (never put back over its name, where a fix may be by now).
        assert not b.exists() and (moved.stat().st_mode & 0o777) == 0
        # The operator fixes it and moves it back, as the message says.
        moved.chmod(0o644)
        assert moved.read_bytes() == content
        moved.rename(b)
        publish(spool, "d")
        wait_for(lambda: done(spool, "b") and done(spool, "d"), 30, "b to complete once readable")
        assert worker.alive()
    finally:
        assert worker.stop() == 0
    assert worker.output().count("cannot read it") == 1  # said once, not once per poll
    assert "Traceback" not in worker.output()


def test_a_read_only_queue_folder_is_reported_and_the_other_queues_keep_moving(
    spool: Spool, tmp_path: Path
) -> None:
    stuck = publish(spool, "a")  # pending/cpu/: every w1 of the class may run it
    publish(spool, "p", device="w1")  # pending/cpu.w1/: pinned to this device
    queue = stuck.parent
    queue.chmod(0o555)
    worker = worker_as_nobody(spool, tmp_path / "worker.log")
    try:
        wait_for(lambda: done(spool, "p"), 30, "the pinned task to complete")
        worker.wait_output(
            rf"pending/cpu/{STAMP}-ingest-a\.json: cannot move it to claimed/: Permission denied "
            rf"\(running as uid {NOBODY}\) — file left in place; fix the permissions",
            10,
        )
        assert stuck.exists() and worker.alive()
        queue.chmod(0o755)
        publish(spool, "e")  # the folder changes: the worker lists it again
        wait_for(lambda: done(spool, "a") and done(spool, "e"), 30, "a to complete once writable")
    finally:
        queue.chmod(0o755)
        assert worker.stop() == 0
    assert "Traceback" not in worker.output()
