"""The spool package's single implementations of host facts and small file rules: the host
name, process liveness (with start time), directory fsync's error policy, the daemon's files
in ``SPOOL/daemon/``, and how ages read."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from spoold.spool import Spool, fsops, host
from spoold.spool.display import format_age
from spoold.spool.lease import DaemonLease, DaemonLeaseLost, lease_host


def test_the_lease_spells_the_one_host_name_lower_case_and_safe(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(host.socket, "gethostname", lambda: "Jetson_01.lab.example")
    assert host.short_hostname() == "Jetson_01"
    assert lease_host() == "jetson-01"
    monkeypatch.setattr(host.socket, "gethostname", lambda: ".")
    assert host.short_hostname() == "host" and lease_host() == "host"


def test_a_pid_is_alive_only_with_the_start_time_it_was_recorded_with() -> None:
    me = os.getpid()
    start = host.process_start(me)
    assert host.pid_alive(me)
    if start:  # Linux: a recorded start time that differs means a recycled pid
        assert host.pid_alive(me, start)
        assert not host.pid_alive(me, start + 1)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not host.pid_alive(child.pid)


@pytest.mark.parametrize("code", [errno.EINVAL, errno.ENOTSUP, errno.EACCES])
def test_fsync_dir_is_a_no_op_where_directories_cannot_be_fsynced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    def refuse(fd: int) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(fsops.os, "fsync", refuse)
    fsops.fsync_dir(tmp_path)  # nothing to flush there: no error


def test_fsync_dir_raises_a_real_io_error_and_a_missing_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(FileNotFoundError):
        fsops.fsync_dir(tmp_path / "gone")

    def fail(fd: int) -> None:
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(fsops.os, "fsync", fail)
    with pytest.raises(OSError) as exc:
        fsops.fsync_dir(tmp_path)
    assert exc.value.errno == errno.EIO


@pytest.mark.parametrize("access_nofollow", [True, False])
def test_maybe_there_sees_files_and_symlinks_never_followed_and_raises_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, access_nofollow: bool
) -> None:
    monkeypatch.setattr(fsops, "_ACCESS_NOFOLLOW", access_nofollow)  # both ways of looking
    (tmp_path / "task.json").write_text("{}")
    (tmp_path / "dangling.json").symlink_to(tmp_path / "nowhere")
    assert fsops.maybe_there(str(tmp_path / "task.json"))
    assert fsops.maybe_there(str(tmp_path / "dangling.json"))  # a name is there, so is a rename
    assert not fsops.maybe_there(str(tmp_path / "taken.json"))
    assert not fsops.maybe_there(str(tmp_path / "task.json" / "below"))  # ENOTDIR: no raise
    monkeypatch.setattr(
        fsops, "exists", lambda p: (_ for _ in ()).throw(OSError(errno.EIO, "I/O error"))
    )
    if not access_nofollow:  # an error that is not "gone" skips the name, never stops a claim
        assert not fsops.maybe_there(str(tmp_path / "task.json"))


def test_daemon_files_are_replaced_whole_and_never_lease_files(tmp_path: Path) -> None:
    lease = DaemonLease(Spool.init(tmp_path / "spool"))
    lease.acquire()
    lease.write_file("status.json", b'{"state": "starting"}')
    lease.write_file("status.json", b'{"state": "running"}')
    assert (lease.dir / "status.json").read_bytes() == b'{"state": "running"}'
    assert sorted(n for n in os.listdir(lease.dir) if not n.endswith(".lease")) == [
        "status.json"
    ]  # no temp file left
    for name in ("free.lease", "../status.json", ".hidden"):
        with pytest.raises(ValueError):
            lease.write_file(name, b"x")


def test_ages_read_in_one_unit() -> None:
    assert [format_age(s) for s in (-5, 0, 119, 120, 7199, 7200, 172799, 172800)] == [
        "0s",
        "0s",
        "119s",
        "2m",
        "119m",
        "2h",
        "47h",
        "2d",
    ]


def test_a_daemon_that_lost_its_lease_never_writes_its_successors_status(tmp_path: Path) -> None:
    """A daemon cut off from the share past its lease: the successor took the lease (the old
    lease file is gone) and wrote its status; the old one's late write is fenced off."""
    lease = DaemonLease(Spool.init(tmp_path / "spool"))
    lease.acquire()
    lease.write_file("status.json", b'{"host": "a"}')
    lease.path.unlink()  # what the successor's takeover does to a stale lease
    (lease.dir / "status.json").write_bytes(b'{"host": "b"}')
    with pytest.raises(DaemonLeaseLost):
        lease.write_file("status.json", b'{"host": "a", "state": "stopped"}')
    assert (lease.dir / "status.json").read_bytes() == b'{"host": "b"}'
    assert not [n for n in os.listdir(lease.dir) if n.endswith(".tmp")]
    with pytest.raises(DaemonLeaseLost):  # and once lost, it writes nothing at all
        lease.write_file("status.json", b"{}")


MOUNTINFO = """\
22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw
75 22 0:42 / /mnt/nas rw,relatime - nfs4 nas:/spool rw,vers=4.1
76 22 0:43 / /mnt/nas\\040b rw,relatime - cifs //nas/spool rw
77 75 0:44 / /mnt/nas/local rw,relatime - tmpfs tmpfs rw
78 22 0:45 /10.0.0.1/spool /mnt/smb rw,nosuid - fuse.smbnetfs smbnetfs rw
"""


def test_fstype_at_takes_the_innermost_mount_of_a_path() -> None:
    assert fsops.fstype_at("/mnt/nas/spool/pending", MOUNTINFO) == "nfs4"
    assert fsops.fstype_at("/mnt/nas", MOUNTINFO) == "nfs4"
    assert fsops.fstype_at("/mnt/nas/local/x", MOUNTINFO) == "tmpfs"  # mounted inside
    assert fsops.fstype_at("/mnt/nas b/spool", MOUNTINFO) == "cifs"  # \040 is a space
    assert fsops.fstype_at("/mnt/nasty/spool", MOUNTINFO) == "ext4"  # not under /mnt/nas
    assert fsops.fstype_at("/mnt/smb/spool", MOUNTINFO) == "fuse.smbnetfs"
    assert fsops.fstype_at("/x", "") is None


def test_fsync_dir_does_not_open_a_folder_whose_fsync_no_client_sends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []
    real_open = os.open

    def watch(path: str, flags: int, *args: int) -> int:
        opened.append(str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(fsops.os, "open", watch)
    monkeypatch.setattr(fsops, "folder_fsync_is_sent", lambda folder: False)
    fsops.fsync_dir(tmp_path)
    assert opened == []
    monkeypatch.setattr(fsops, "folder_fsync_is_sent", lambda folder: True)
    fsops.fsync_dir(tmp_path)
    assert opened == [str(tmp_path)]
