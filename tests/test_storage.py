"""Storage roots: a missing marker means "not mounted", paths stay inside their root, and a
hung filesystem call never blocks the caller."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest
from daemon_support import wait_until

from schemas.task import FileRef
from spoold.errors import StorageUnavailable
from spoold.server.storage import PathOutsideRoot, Storage

MARKER = ".spoold-storage"


@pytest.fixture
def nas(tmp_path: Path) -> Path:
    root = tmp_path / "nas"
    root.mkdir()
    (root / MARKER).touch()
    return root


def settle(storage: Storage, name: str, state: str) -> None:
    wait_until(
        lambda: storage.check() is not None and storage.status(name).state == state,
        10,
        f"{name} to be {state}",
        poll=0.01,
    )


def test_a_root_with_its_marker_is_available(nas: Path) -> None:
    storage = Storage({"nas": nas}, check_interval=0.05)
    settle(storage, "nas", "ok")
    assert storage.available("nas")
    assert storage.run("nas", "listing", os.listdir, nas) == [MARKER]


def test_a_missing_marker_means_not_mounted_and_is_logged_once(
    nas: Path, caplog: pytest.LogCaptureFixture
) -> None:
    storage = Storage({"nas": nas}, check_interval=0.01)
    settle(storage, "nas", "ok")
    caplog.set_level(logging.INFO, logger="spoold.server.storage")
    (nas / MARKER).unlink()
    settle(storage, "nas", "unmounted")
    status = storage.status("nas")
    assert str(nas / MARKER) in status.message and "not mounted" in status.message
    with pytest.raises(StorageUnavailable, match="storage nas is unmounted"):
        storage.submit("nas", "listing", os.listdir, nas)
    for _ in range(20):  # many more checks while it stays away: no more log lines
        storage.check(force=True)
        time.sleep(0.005)
    (nas / MARKER).touch()
    settle(storage, "nas", "ok")
    downs = [r for r in caplog.records if getattr(r, "event", "") == "storage.down"]
    ups = [r for r in caplog.records if getattr(r, "event", "") == "storage.up"]
    assert len(downs) == 1 and len(ups) == 1
    assert "storage nas is back (was unmounted" in ups[0].getMessage()


def test_paths_resolve_inside_their_root_only(nas: Path, tmp_path: Path) -> None:
    storage = Storage({"nas": nas})
    (nas / "cams").mkdir()
    (nas / "cams" / "a.mp4").write_bytes(b"x")
    (nas / "cams" / "inside.mp4").symlink_to(nas / "cams" / "a.mp4")
    outside = tmp_path / "secret.txt"
    outside.write_text("no")
    (nas / "cams" / "escape.mp4").symlink_to(outside)
    ref = FileRef(device="nas", path="cams/a.mp4")
    assert storage.resolve(ref) == nas / "cams" / "a.mp4"
    assert storage.real_path(FileRef(device="nas", path="cams/inside.mp4")) == nas / "cams/a.mp4"
    with pytest.raises(PathOutsideRoot, match="outside storage root nas"):
        storage.real_path(FileRef(device="nas", path="cams/escape.mp4"))
    with pytest.raises(PathOutsideRoot, match="no storage root 'shed-nas' on this host"):
        storage.resolve(FileRef(device="shed-nas", path="a.mp4"))
    with pytest.raises(ValueError, match="may not leave the storage root"):
        FileRef(device="nas", path="../secret.txt")


def test_a_hung_call_marks_the_root_hung_without_blocking_and_it_recovers(
    nas: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A FIFO as the marker: open() blocks until a writer comes, like a dead hard NFS mount.
    caplog.set_level(logging.INFO, logger="spoold.server.storage")
    storage = Storage({"nas": nas}, fs_timeout=0.3, check_interval=0.05)
    settle(storage, "nas", "ok")
    (nas / MARKER).unlink()
    os.mkfifo(nas / MARKER)
    settle(storage, "nas", "hung")  # each check() returned at once while open() hangs
    assert "has not returned" in storage.status("nas").message
    with pytest.raises(StorageUnavailable, match="storage nas is hung"):
        storage.submit("nas", "listing", os.listdir, nas)
    # The share comes back: the stuck open() returns, the marker is a file again.
    os.rename(nas / MARKER, nas / "stuck.fifo")
    (nas / MARKER).touch()
    fd = os.open(nas / "stuck.fifo", os.O_WRONLY | os.O_NONBLOCK)
    os.close(fd)
    settle(storage, "nas", "ok")
    assert storage.run("nas", "stat", os.stat, nas).st_size >= 0
    messages = [r.getMessage() for r in caplog.records if r.name == "spoold.server.storage"]
    assert [m.split(":")[0] for m in messages if "hung" in m] == [
        "storage nas unavailable (hung)",
        messages[-1].split(":")[0],
    ]
    assert messages[-1].startswith("storage nas is back (was hung for")


def test_a_blocking_run_gives_up_at_its_timeout(nas: Path) -> None:
    storage = Storage({"nas": nas}, fs_timeout=5, check_interval=0.05)
    settle(storage, "nas", "ok")
    os.mkfifo(nas / "pipe")
    with pytest.raises(StorageUnavailable, match=r"did not return within 0\.3 s"):
        storage.run("nas", "read a pipe", (nas / "pipe").read_bytes, timeout=0.3)
    fd = os.open(nas / "pipe", os.O_WRONLY | os.O_NONBLOCK)
    os.close(fd)
