"""A spool root that disappears (its share is unmounted) and comes back.

An empty mount point is not an empty queue (spool_layout.md §1): every device sees the
marker gone, says so (:class:`NotASpool`), writes nothing into the bare mount point, and
`spoold work` keeps polling and picks up where it was once the share is back.

The share is a bind mount of a local spool (root only), unmounted and mounted again.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from netshare import SpooldWork, mount, python_cmd, require_root, umount, wait_for

from spoold.errors import NotASpool
from spoold.spool import Spool

STAMP = "20260101T000000Z"


@dataclass
class Share:
    store: Path  # where the spool really is (the file server)
    mnt: Path  # where devices see it

    def unmount(self) -> None:
        umount(self.mnt)
        assert os.listdir(self.mnt) == []

    def remount(self) -> None:
        mount("--bind", str(self.store), str(self.mnt))


@pytest.fixture
def share(tmp_path: Path) -> Iterator[Share]:
    require_root("bind-mounting a spool")
    s = Share(tmp_path / "store", tmp_path / "mnt")
    Spool.init(s.store, default_lease=60).close()
    s.mnt.mkdir()
    s.remount()
    try:
        yield s
    finally:
        umount(s.mnt)


def test_an_unmounted_spool_is_not_a_spool_and_nothing_is_written_into_the_mount_point(
    share: Share,
) -> None:
    spool = Spool(share.mnt)  # a device that opened the spool while it was there
    spool.publish(spool.new_task("ingest", "cpu", "v1", stamp=STAMP))
    share.unmount()
    with pytest.raises(NotASpool, match="not a spool"):
        Spool(share.mnt)  # a device starting now
    with pytest.raises(NotASpool, match=r"\.spoold-spool is gone\): is the share still mounted"):
        spool.claim("cpu", "d1")
    with pytest.raises(NotASpool):
        spool.publish(spool.new_task("ingest", "cpu", "v2", stamp=STAMP))
    r = subprocess.run(
        [
            *python_cmd(),
            "submit",
            "--spool",
            str(share.mnt),
            "--type",
            "x",
            "--class",
            "cpu",
            "--key",
            "v3",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 1 and "not a spool" in r.stderr and "Traceback" not in r.stderr
    assert os.listdir(share.mnt) == []  # no tmp/, pending/ or marker made in the mount point
    share.remount()
    claim = spool.claim("cpu", "d1")  # the same Spool object carries on
    assert claim is not None and claim.task_id == f"{STAMP}-ingest-v1"


def test_spoold_work_keeps_polling_while_the_share_is_gone_and_resumes_when_it_is_back(
    share: Share, tmp_path: Path
) -> None:
    server = Spool(share.store)
    worker = SpooldWork(
        [
            "--spool",
            str(share.mnt),
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
            "cat >/dev/null",
        ],
        tmp_path / "worker.log",
    )
    try:
        server.publish(server.new_task("ingest", "cpu", "v1", stamp=STAMP))
        wait_for(server.layout.completed(f"{STAMP}-ingest-v1").exists, 30, "v1 to complete")
        share.unmount()
        worker.wait_output(r"cannot claim: .*not a spool any more.*; retrying", 30)
        # The server side keeps receiving work while the devices are cut off.
        server.publish(server.new_task("ingest", "cpu", "v2", stamp=STAMP))
        worker.wait_output(r"(?s)not a spool any more.*not a spool any more", 30)  # polls on
        assert os.listdir(share.mnt) == []
        share.remount()
        wait_for(server.layout.completed(f"{STAMP}-ingest-v2").exists, 30, "v2 to complete")
        assert worker.alive()
    finally:
        assert worker.stop() == 0
    assert "Traceback" not in worker.output()
