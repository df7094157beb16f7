"""The power-cut filesystem itself (tests/powercut): each durability rule, in both modes.

Every test writes through the FUSE mount, cuts the power, and looks at what came back.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from powercut import PowerCutMount, fuse_missing

pytestmark = pytest.mark.skipif(fuse_missing() is not None, reason=fuse_missing() or "")


@pytest.fixture
def mount(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[PowerCutMount]:
    mode = getattr(request, "param", "strict")
    m = PowerCutMount(tmp_path / "pc", mode)
    m.start()
    try:
        yield m
    finally:
        m.stop()


def write(path: Path, data: bytes, *, fsync: bool) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def names(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


both = pytest.mark.parametrize("mount", ["strict", "ext4"], indirect=True)
strict = pytest.mark.parametrize("mount", ["strict"], indirect=True)
ext4 = pytest.mark.parametrize("mount", ["ext4"], indirect=True)


@both
def test_unsynced_data_is_lost_and_fsynced_data_kept(mount: PowerCutMount) -> None:
    m = mount.mnt
    write(m / "kept", b"v1", fsync=True)
    write(m / "lost", b"v1", fsync=True)
    fsync_dir(m)
    write(m / "kept", b"version 2", fsync=True)
    write(m / "lost", b"version 2", fsync=False)
    mount.cut("drop")
    assert (m / "kept").read_bytes() == b"version 2"
    assert (m / "lost").read_bytes() == b"v1"


@both
def test_a_new_file_whose_data_was_never_fsynced_comes_back_empty(mount: PowerCutMount) -> None:
    m = mount.mnt
    write(m / "f", b"data", fsync=False)
    fsync_dir(m)
    mount.cut("drop")
    assert (m / "f").read_bytes() == b""


@strict
def test_strict_a_files_fsync_does_not_make_its_name_durable(mount: PowerCutMount) -> None:
    m = mount.mnt
    write(m / "f", b"data", fsync=True)
    mount.cut("drop")
    assert not (m / "f").exists()


@ext4
def test_ext4_a_files_fsync_commits_its_name(mount: PowerCutMount) -> None:
    m = mount.mnt
    write(m / "f", b"data", fsync=True)
    mount.cut("drop")
    assert (m / "f").read_bytes() == b"data"


@both
def test_a_rename_without_any_fsync_after_it_is_lost(mount: PowerCutMount) -> None:
    m = mount.mnt
    (m / "d").mkdir()
    write(m / "a", b"x", fsync=True)
    mount.sync()
    os.rename(m / "a", m / "d" / "b")
    mount.cut("drop")
    assert names(m) == {"a", "d"}


@strict
def test_strict_a_rename_is_lost_until_a_directory_it_touches_is_fsynced(
    mount: PowerCutMount,
) -> None:
    m = mount.mnt
    (m / "d").mkdir()
    (m / "e").mkdir()
    write(m / "a", b"x", fsync=True)
    write(m / "c", b"y", fsync=True)
    mount.sync()
    os.rename(m / "a", m / "d" / "a")
    os.rename(m / "c", m / "e" / "c")
    write(m / "other", b"z", fsync=True)  # a file's fsync: commits no name
    fsync_dir(m / "d")  # commits the first rename (its destination) only
    mount.cut("drop")
    assert names(m) == {"c", "d", "d/a", "e"}
    assert (m / "d" / "a").read_bytes() == b"x"


@ext4
def test_ext4_any_fsync_commits_every_earlier_rename(mount: PowerCutMount) -> None:
    m = mount.mnt
    (m / "d").mkdir()
    write(m / "a", b"x", fsync=True)
    mount.sync()
    os.rename(m / "a", m / "d" / "b")
    write(m / "other", b"z", fsync=True)
    os.rename(m / "d" / "b", m / "late")  # after the last fsync: lost
    mount.cut("drop")
    assert names(m) == {"d", "d/b", "other"}


@both
def test_an_unlink_without_a_directory_fsync_is_undone(mount: PowerCutMount) -> None:
    m = mount.mnt
    write(m / "f", b"old", fsync=True)
    mount.sync()
    write(m / "f", b"newer", fsync=False)
    os.unlink(m / "f")
    mount.cut("drop")
    assert (m / "f").read_bytes() == b"old"


@strict
def test_strict_an_entry_in_a_new_directory_needs_the_parent_fsynced_too(
    mount: PowerCutMount,
) -> None:
    m = mount.mnt
    (m / "new").mkdir()
    write(m / "new" / "f", b"x", fsync=True)
    fsync_dir(m / "new")
    mount.cut("drop")
    assert names(m) == set()
    (m / "new").mkdir()
    write(m / "new" / "f", b"x", fsync=True)
    fsync_dir(m / "new")
    fsync_dir(m)
    mount.cut("drop")
    assert names(m) == {"new", "new/f"}


@both
def test_a_rewritten_inode_keeps_its_durable_names(mount: PowerCutMount) -> None:
    """The pattern of issue 19: rename a file, rewrite and fsync it, rename it again."""
    m = mount.mnt
    (m / "tmp").mkdir()
    (m / "done").mkdir()
    write(m / "v1", b"record of v1", fsync=True)
    mount.sync()
    os.rename(m / "v1", m / "tmp" / "spare")
    fd = os.open(m / "tmp" / "spare", os.O_WRONLY)
    os.pwrite(fd, b"record of v2", 0)
    os.fsync(fd)
    os.close(fd)
    os.rename(m / "tmp" / "spare", m / "done" / "v2")
    mount.cut("drop")
    if mount.mode == "strict":  # the renames were never committed: the old name, new content
        assert names(m) == {"tmp", "done", "v1"}
        assert (m / "v1").read_bytes() == b"record of v2"
    else:  # the fsync committed the first rename, not the one after it
        assert names(m) == {"tmp", "done", "tmp/spare"}
        assert (m / "tmp" / "spare").read_bytes() == b"record of v2"


@both
def test_sync_makes_everything_durable(mount: PowerCutMount) -> None:
    m = mount.mnt
    (m / "d").mkdir()
    write(m / "d" / "f", b"x", fsync=False)
    os.rename(m / "d" / "f", m / "g")
    mount.sync()
    mount.cut("drop")
    assert names(m) == {"d", "g"}
    assert (m / "g").read_bytes() == b"x"


@both
def test_prefix_policy_keeps_an_ordered_prefix_of_unsynced_operations(
    mount: PowerCutMount,
) -> None:
    m = mount.mnt
    seen: set[int] = set()
    for seed in range(6):
        for i in range(5):
            (m / f"f{i}").mkdir()
        mount.cut("prefix", seed)
        present = sorted(int(n[1:]) for n in names(m))
        assert present == list(range(len(present))), present  # f0..fk-1, no gaps
        seen.add(len(present))
        for n in present:
            (m / f"f{n}").rmdir()
        mount.sync()
    assert len(seen) > 1  # different instants, not always all or nothing


@both
def test_subset_policy_keeps_renames_atomic_and_data_in_order(mount: PowerCutMount) -> None:
    m = mount.mnt
    (m / "d").mkdir()
    write(m / "a", b"", fsync=True)
    mount.sync()
    outcomes: set[tuple[bool, bytes]] = set()
    for seed in range(8):
        fd = os.open(m / "a", os.O_WRONLY)
        os.pwrite(fd, b"1111", 0)
        os.pwrite(fd, b"22", 4)
        os.close(fd)
        os.rename(m / "a", m / "d" / "b")
        mount.cut("subset", seed)
        moved = (m / "d" / "b").exists()
        assert moved != (m / "a").exists()  # one name, never both or neither
        path = m / "d" / "b" if moved else m / "a"
        data = path.read_bytes()
        assert data in (b"", b"1111", b"111122")  # writes persist in the order made
        outcomes.add((moved, data))
        os.rename(path, m / "a")
        write(m / "a", b"", fsync=True)
        mount.sync()
    assert len(outcomes) > 1


@strict
def test_a_cut_in_place_puts_swapped_folders_back(mount: PowerCutMount) -> None:
    """The rewrite after a cut moves whole folders back, even into each other's names."""
    m = mount.mnt
    (m / "a").mkdir()
    (m / "b").mkdir()
    write(m / "a" / "f", b"1", fsync=True)
    write(m / "b" / "g", b"2", fsync=True)
    mount.sync()
    os.rename(m / "a", m / "c")
    os.rename(m / "b", m / "a")
    os.rename(m / "c" / "f", m / "a" / "f2")
    (m / "c" / "new").mkdir()
    mount.cut("drop")
    assert names(m) == {"a", "a/f", "b", "b/g"}
    assert (m / "a" / "f").read_bytes() == b"1"
    assert (m / "b" / "g").read_bytes() == b"2"


@both
def test_a_handle_opened_before_a_cut_is_dead_after_it(mount: PowerCutMount) -> None:
    m = mount.mnt
    write(m / "f", b"durable", fsync=True)
    mount.sync()
    fd = os.open(m / "f", os.O_WRONLY)
    try:
        mount.cut("drop")
        with pytest.raises(OSError):
            os.pwrite(fd, b"late", 0)
    finally:
        os.close(fd)
    assert (m / "f").read_bytes() == b"durable"


WRITER = """
import os, sys
d = sys.argv[1]
for i in range(1_000_000):
    fd = os.open(os.path.join(d, f"f{i}"), os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b"x")
    os.fsync(fd)
    os.close(fd)
    dfd = os.open(d, os.O_RDONLY)
    os.fsync(dfd)
    os.close(dfd)
    print(i, flush=True)
"""


@both
def test_a_process_killed_at_the_cut_acts_no_more(mount: PowerCutMount) -> None:
    """Every file the writer reported synced is there; nothing appears after the cut."""
    m = mount.mnt
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(m)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()  # it runs
    assert first.strip() == "0"
    time.sleep(0.3)  # let it write a few more
    mount.cut("drop", victims=[proc])
    reported = {f"f{n}" for n in [first.strip(), *proc.stdout.read().split()]}
    present = names(m)
    assert reported <= present
    assert len(present - reported) <= 1  # the one in flight, created and synced
    assert names(m) == present
