"""A real watchdog observer (native inotify and polling) wakes the daemon: with the periodic
scan far away, a new or renamed-into-place clip is still ingested promptly.  Events are only
hints; the listing decides."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from daemon_support import BASE_TOML, Env, drive, idle_ticks

from spoold.demo import samples
from spoold.server.daemon import Daemon
from spoold.server.ingest.inbox import Inbox
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


# A window no test waits out: a clip ingested within a test came by the rename path.
LONG_STABLE = SLOW_SCANS.replace("stable_s = 0.4", "stable_s = 60.0").replace(
    'watch = "scan"', 'watch = "native"'
)


def test_hints_keep_the_latest_of_renamed_into_place_and_written_to(tmp_path: Path) -> None:
    from watchdog.events import FileCreatedEvent, FileModifiedEvent, FileMovedEvent

    from spoold.server.ingest.watch import Hints, make_handler

    hints = Hints(tmp_path, lambda: None)
    handler = make_handler(hints)
    a, b, c = (str(tmp_path / "Record" / n) for n in ("a.mp4", "b.mp4", "c.mp4"))
    handler.dispatch(FileMovedEvent("", a))  # moved in from outside: not trusted yet
    assert hints.take_files() == (set(), set())
    hints.trust_renames = True
    handler.dispatch(FileMovedEvent("", a))
    handler.dispatch(FileMovedEvent(str(tmp_path / "Record" / ".b.mp4.tmp"), b))
    handler.dispatch(FileModifiedEvent(b))  # written to after its rename
    handler.dispatch(FileCreatedEvent(c))
    assert hints.take_files() == ({"Record/a.mp4"}, {"Record/b.mp4", "Record/c.mp4"})
    handler.dispatch(FileModifiedEvent(a))
    handler.dispatch(FileMovedEvent("", a))  # replaced by a rename since: the rename wins
    assert hints.take_files() == ({"Record/a.mp4"}, set())
    assert hints.take() == frozenset({"Record"})


@contextmanager
def _watched(tmp_path: Path) -> Iterator[tuple[Env, Daemon, Inbox]]:
    """A started daemon whose native observer watches the inbox (``stable_s`` 60 s)."""
    env = Env(tmp_path)
    env.write_config(base=LONG_STABLE)
    (env.inbox / "Record").mkdir(parents=True, exist_ok=True)
    daemon = env.daemon()
    daemon.start()
    try:
        box = daemon.ingestor.inboxes[0]
        drive(daemon, lambda: box.scans >= 1 and box.observer_alive(), 15, "the observer")
        assert box.hints.trust_renames
        yield env, daemon, box
    finally:
        daemon.shutdown()


def test_a_whole_clip_renamed_into_place_is_ingested_without_waiting_stable_s(
    tmp_path: Path,
) -> None:
    with _watched(tmp_path) as (env, daemon, box):
        tmp = samples.make_clip(env.inbox / "Record" / ".20190101_120100_NF.mp4.Qx81zz", seed=22)
        os.rename(tmp, env.inbox / "Record" / "20190101_120100_NF.mp4")
        # Also from outside the inbox (a move, not a creation, for the observer).
        outside = samples.make_clip(tmp_path / "staging" / "20190101_120200_NF.mp4", seed=23)
        os.rename(outside, env.inbox / "Record" / "20190101_120200_NF.mp4")
        # Written in place instead: stable_s (60 s) applies, so not ingested in this test.
        samples.make_clip(env.inbox / "Record" / "20190101_120300_NF.mp4", seed=24)
        drive(daemon, lambda: len(env.complete("ingest")) == 2, 20, "the renamed clips' ingest")
        paths = sorted(r["inputs"][0]["path"] for r in env.complete("ingest").values())
        assert paths == ["cams/Record/20190101_120100_NF.mp4", "cams/Record/20190101_120200_NF.mp4"]
        assert list(box.unstable) == ["Record/20190101_120300_NF.mp4"]
        assert not box.renamed


def test_a_renamed_in_file_that_keeps_growing_waits_stable_s(tmp_path: Path) -> None:
    with _watched(tmp_path) as (env, daemon, box):
        data = samples.make_clip(tmp_path / "whole.mp4", seed=25).read_bytes()
        rel = "Record/20190101_120400_NF.mp4"
        tmp = env.inbox / "Record" / ".part"
        tmp.write_bytes(data[: len(data) // 3])
        os.rename(tmp, env.inbox / rel)
        drive(daemon, lambda: rel in box.renamed and rel in box.unstable, 15, "the first sight")
        with open(env.inbox / rel, "ab") as f:  # the writer carries on after its rename
            for i in range(1, 11):
                f.write(data[len(data) // 3 :][(i - 1) * len(data) // 15 : i * len(data) // 15])
                f.flush()
                idle_ticks(daemon, 0.15)
        assert rel not in box.renamed
        idle_ticks(daemon, 1.0)  # five confirm windows of the rename path
        assert rel in box.unstable and rel not in box.ready and not box.held
        assert env.tasks("ingest") == {} and env.complete("ingest") == {}


def test_a_renamed_in_clip_cut_short_is_held_not_published(tmp_path: Path) -> None:
    with _watched(tmp_path) as (env, daemon, box):
        data = samples.make_clip(tmp_path / "whole.mp4", seed=26).read_bytes()
        tmp = env.inbox / "Record" / ".part"
        tmp.write_bytes(data[: len(data) // 2])
        os.rename(tmp, env.inbox / "Record" / "20190101_120500_NF.mp4")
        # The structure check still runs on the rename path: a half file is held, no task.
        drive(daemon, lambda: box.held, 20, "the cut file held")
        assert env.tasks("ingest") == {} and env.complete("ingest") == {}
