"""A real watchdog observer (native inotify and polling) wakes the daemon: with the periodic
scan far away, a new or renamed-into-place clip is still ingested promptly.  Events are only
hints; the listing decides."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from daemon_support import BASE_TOML, Env, drive

from spoold.demo import samples
from spoold.server.scan import effective_watch, filesystem_type, is_network_fs

# Periodic scans every 60 s: only the observer can make the daemon look within the test.
SLOW_SCANS = BASE_TOML.replace("scan_interval_s = 0.2", "scan_interval_s = 60.0").replace(
    "full_scan_interval_s = 5.0", "full_scan_interval_s = 120.0"
)


@pytest.mark.parametrize("watch", ["native", "polling"])
def test_the_observer_gets_a_new_clip_ingested_without_waiting_for_a_scan(
    tmp_path: Path, watch: str
) -> None:
    env = Env(tmp_path)
    env.write_config(base=SLOW_SCANS.replace('watch = "scan"', f'watch = "{watch}"'))
    daemon = env.daemon()
    daemon.start()
    try:
        box = daemon.ingestor.inboxes[0]
        drive(daemon, lambda: box.scans >= 1 and box.observer_alive(), 15, "the observer")
        samples.make_clip(env.inbox / "Record" / "20190101_120000_NF.mp4", seed=21)
        drive(daemon, lambda: env.complete("ingest"), 20, "the new clip's ingest")
        # A sync tool's temp file renamed into place: a moved event, then the listing.
        tmp = samples.make_clip(env.inbox / "Record" / ".20190101_120100_NF.mp4.Qx81zz", seed=22)
        os.rename(tmp, env.inbox / "Record" / "20190101_120100_NF.mp4")
        drive(daemon, lambda: len(env.complete("ingest")) == 2, 20, "the renamed clip's ingest")
        paths = sorted(r["inputs"][0]["path"] for r in env.complete("ingest").values())
        assert paths == ["cams/Record/20190101_120000_NF.mp4", "cams/Record/20190101_120100_NF.mp4"]
    finally:
        daemon.shutdown()
    assert not box.observer_alive()


def test_auto_watch_is_native_on_a_local_disk_and_scan_on_a_network_mount(tmp_path: Path) -> None:
    assert effective_watch("auto", tmp_path) == (
        "scan" if is_network_fs(filesystem_type(tmp_path)) else "native"
    )
    mounts = tmp_path / "mounts"
    mounts.write_text(
        "/dev/vda / ext4 rw 0 0\n"
        "nas:/volume1 /mnt/indoor-nas nfs4 rw 0 0\n"
        "//shed/share /mnt/shed\\040nas cifs rw 0 0\n"
        "sshfs#x /mnt/ssh fuse.sshfs rw 0 0\n"
    )
    assert filesystem_type("/mnt/indoor-nas/cams", mounts=str(mounts)) == "nfs4"
    assert filesystem_type("/mnt/shed nas/a", mounts=str(mounts)) == "cifs"
    assert filesystem_type("/srv/x", mounts=str(mounts)) == "ext4"
    assert [is_network_fs(k) for k in ("nfs4", "cifs", "fuse.sshfs", "ext4", "xfs")] == [
        True,
        True,
        True,
        False,
        False,
    ]
