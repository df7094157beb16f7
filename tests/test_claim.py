"""Claiming: the oldest eligible task, by one rename, and only the claimant's."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path

from spoolkit import files_under, new_spool, task

from spoold.spool import Spool
from spoold.spool import inspect as spool_inspect


def test_claim_takes_the_oldest_task_of_its_class(tmp_path: Path) -> None:
    spool = new_spool(tmp_path)
    spool.publish(task(spool, "b", stamp="20261125T100000Z"))
    spool.publish(task(spool, "a", stamp="20261125T110000Z"))
    spool.publish(
        task(spool, "c", stamp="20261125T090000Z", device_class="gpu", task_type="detect")
    )
    order = []
    while (claim := spool.claim("jetson", "jetson-01")) is not None:
        order.append(claim.task_id)
        claim.complete()
    assert order == ["20261125T100000Z-preprocess-b", "20261125T110000Z-preprocess-a"]


def test_a_claimed_task_stays_pending_with_its_claimant_in_the_name(tmp_path: Path) -> None:
    spool = new_spool(tmp_path)
    spool.publish(task(spool))
    claim = spool.claim("jetson", "jetson-01")
    assert claim is not None
    (name,) = files_under(spool.root / "pending")
    assert name.startswith("jetson/claimed/20261125T101530Z-preprocess-clip1.jetson-01.")
    assert name.endswith("-L60.json")
    assert spool.locate(claim.task_id).where == "claimed"  # type: ignore[union-attr]


def test_only_one_of_two_devices_wins_a_task(tmp_path: Path) -> None:
    a = new_spool(tmp_path)
    b = Spool(a.root)
    a.publish(task(a))
    first = a.claim("jetson", "jetson-01")
    assert first is not None
    assert b.claim("jetson", "jetson-02") is None


def test_a_stale_listing_never_causes_a_wrong_claim(tmp_path: Path) -> None:
    """Worker B listed the folder before A took the task: B's rename fails, B gets nothing."""
    a = new_spool(tmp_path)
    b = Spool(a.root)
    a.publish(task(a))
    b.lister.view("jetson")  # B caches the listing
    assert a.claim("jetson", "jetson-01") is not None
    assert b.claim("jetson", "jetson-02") is None


def test_pinned_tasks_go_only_to_their_device(tmp_path: Path) -> None:
    spool = new_spool(tmp_path)
    spool.publish(task(spool, "pinned", device="jetson-02", stamp="20261125T090000Z"))
    spool.publish(task(spool, "free"))
    claim = spool.claim("jetson", "jetson-01")
    assert claim is not None and claim.task.task_id.endswith("-free")
    claim.complete()
    assert spool.claim("jetson", "jetson-01") is None
    other = Spool(spool.root).claim("jetson", "jetson-02")
    assert other is not None and other.task_id.endswith("-pinned")


def test_a_hand_edit_that_pins_a_task_elsewhere_moves_it_to_that_queue(tmp_path: Path) -> None:
    spool = new_spool(tmp_path)
    res = spool.publish(task(spool))
    text = res.location.path.read_text().replace(
        '"device_class": "jetson",', '"device_class": "jetson", "device": "jetson-09",'
    )
    res.location.path.write_text(text)
    assert spool.claim("jetson", "jetson-01") is None
    assert files_under(spool.root / "pending") == [
        "jetson.jetson-09/20261125T101530Z-preprocess-clip1.json"
    ]


def test_not_before_in_the_future_is_skipped_and_taken_when_due(tmp_path: Path) -> None:
    spool = new_spool(tmp_path)
    spool.publish(
        task(
            spool,
            "later",
            not_before=spool.now_dt() + timedelta(minutes=5),
            stamp="20261125T000000Z",
        )
    )
    spool.publish(task(spool, "now"))
    first = spool.claim("jetson", "j1")
    assert first is not None and first.task_id.endswith("-now")
    first.complete()
    assert spool.claim("jetson", "j1") is None
    spool.clock_offset += 301
    spool.relist_interval = 0
    due = spool.claim("jetson", "j1")
    assert due is not None and due.task_id.endswith("-later")


def test_a_ready_file_with_not_before_ahead_is_moved_to_deferred(tmp_path: Path) -> None:
    spool = new_spool(tmp_path)
    res = spool.publish(task(spool))
    later = (spool.now_dt() + timedelta(hours=2)).isoformat()
    res.location.path.write_text(
        res.location.path.read_text().replace('"params"', f'"not_before": "{later}",\n  "params"')
    )
    assert spool.claim("jetson", "j1") is None
    assert files_under(spool.root / "pending") == [
        "jetson/deferred/20261125T101530Z-preprocess-clip1.json"
    ]


def test_an_invalid_file_is_quarantined_with_the_fix_and_does_not_stop_the_queue(
    tmp_path: Path, caplog
) -> None:  # type: ignore[no-untyped-def]
    spool = new_spool(tmp_path)
    bad = spool.root / "pending/jetson/20261125T000000Z-preprocess-bad.json"
    spool.publish(task(spool))
    bad.write_text('{"task_id": "x",\n "oops" 1}\n')
    claim = spool.claim("jetson", "j1")
    assert claim is not None and claim.task_id.endswith("-clip1")
    moved = spool.root / "pending/jetson/invalid/20261125T000000Z-preprocess-bad.json"
    assert not bad.exists() and moved.read_text() == '{"task_id": "x",\n "oops" 1}\n'
    assert (
        "pending/jetson/20261125T000000Z-preprocess-bad.json: expecting ':' delimiter (line 2)"
        " — moved to pending/jetson/invalid/20261125T000000Z-preprocess-bad.json; fix it, then "
        "`mv pending/jetson/invalid/20261125T000000Z-preprocess-bad.json pending/jetson/`"
        in caplog.text
    )
    claim.complete()
    assert spool.claim("jetson", "j1") is None
    assert moved.exists()
    problems = [(p.kind, p.path, p.message) for p in spool_inspect.check(spool).problems]
    assert problems == [
        (
            "invalid",
            "pending/jetson/invalid/20261125T000000Z-preprocess-bad.json",
            "expecting ':' delimiter (line 2); fix it, then "
            "`mv pending/jetson/invalid/20261125T000000Z-preprocess-bad.json pending/jetson/`",
        )
    ]
    assert spool_inspect.status(spool)["totals"]["invalid"] == 1


def test_a_quarantined_file_fixed_and_moved_back_is_claimed(tmp_path: Path) -> None:
    spool = new_spool(tmp_path)
    res = spool.publish(task(spool))
    good = res.location.path.read_text()
    res.location.path.write_text("{ broken")
    assert spool.claim("jetson", "j1") is None
    moved = spool.root / "pending/jetson/invalid" / res.location.path.name
    moved.write_text(good)  # the operator's fix, then `mv invalid/ID.json ..`
    moved.rename(res.location.path)
    claim = spool.claim("jetson", "j1")
    assert claim is not None and claim.task_id == res.task_id
    assert files_under(spool.root / "pending/jetson/invalid") == []


def test_a_taken_quarantine_name_gets_a_number_and_is_never_replaced(tmp_path: Path) -> None:
    spool = new_spool(tmp_path)
    ready = spool.root / "pending/jetson/20261125T000000Z-preprocess-bad.json"
    ready.parent.mkdir(parents=True)
    for n in range(3):
        ready.write_text(f"broken {n}")
        assert spool.claim("jetson", "j1") is None
    invalid = spool.root / "pending/jetson/invalid"
    assert {p.name: p.read_text() for p in invalid.iterdir()} == {
        ready.name: "broken 0",
        ready.name + ".1": "broken 1",
        ready.name + ".2": "broken 2",
    }
    kinds = sorted((p.kind, p.path) for p in spool_inspect.check(spool).problems)
    assert kinds == [
        ("invalid", f"pending/jetson/invalid/{n}") for n in sorted(os.listdir(invalid))
    ]


def test_editor_leftovers_symlinks_and_folders_are_never_claimed(tmp_path: Path) -> None:
    spool = new_spool(tmp_path)
    q = spool.root / "pending/jetson"
    res = spool.publish(task(spool))
    for junk in (
        ".20261125T101530Z-preprocess-x.json.swp",
        "20261125T101530Z-preprocess-x.json~",
        "4913",
    ):
        (q / junk).write_text("junk")
    outside = tmp_path / "secret.json"
    outside.write_text(res.location.path.read_text())
    os.symlink(outside, q / "20261125T000000Z-preprocess-link.json")
    (q / "20261125T000001Z-preprocess-dir.json").mkdir()
    claim = spool.claim("jetson", "j1")
    assert claim is not None and claim.task_id.endswith("-clip1")
    claim.complete()
    assert spool.claim("jetson", "j1") is None
    assert outside.exists() and (q / "20261125T000000Z-preprocess-link.json").is_symlink()


def test_a_file_whose_name_and_task_id_disagree_is_quarantined(tmp_path: Path) -> None:
    spool = new_spool(tmp_path)
    res = spool.publish(task(spool))
    content = res.location.path.read_bytes()
    wrong = res.location.path.with_name("20261125T000000Z-preprocess-other.json")
    res.location.path.rename(wrong)
    assert spool.claim("jetson", "j1") is None
    assert not wrong.exists()
    assert (wrong.parent / "invalid" / wrong.name).read_bytes() == content
    [problem] = spool_inspect.check(spool).problems
    assert problem.message.startswith(
        f"file name says 20261125T000000Z-preprocess-other but task_id is {res.task_id}; fix it"
    )


def test_an_idle_poll_costs_one_stat_per_queue_folder(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """On a NAS every call is a round trip: an idle device only stats its two queue folders."""
    spool = new_spool(tmp_path)
    spool.publish(task(spool))
    c = spool.claim("jetson", "j1")
    assert c is not None
    c.complete()
    assert spool.claim("jetson", "j1") is None
    spool.clock_offset += 3600  # even long after the last reap: nothing changed, nothing to reap
    # The listing above was taken within the same second as the queue's last change, so it is
    # not trusted ("racy", see the next test): the first look after that lists once more.
    assert spool.claim("jetson", "j1") is None
    calls: list[str] = []
    for name in ("scandir", "stat", "listdir", "open", "utime"):
        real = getattr(os, name)
        monkeypatch.setattr(
            os, name, lambda *a, _n=name, _r=real, **k: calls.append(_n) or _r(*a, **k)
        )
    for _ in range(5):
        assert spool.claim("jetson", "j1") is None
    assert calls == ["stat"] * 10


def test_a_failure_deferred_elsewhere_rings_idle_workers(tmp_path: Path) -> None:
    spool = new_spool(tmp_path, backoff_base=5, free_retries=0)
    idle = Spool(spool.root)
    spool.publish(task(spool))
    claim = spool.claim("jetson", "j1")
    assert claim is not None
    assert idle.claim("jetson", "j2") is None  # idle, with an empty view
    claim.fail("flaky network")  # lands in deferred/ (not the folder idle stats)
    idle.clock_offset += 6
    again = idle.claim("jetson", "j2")
    assert again is not None and again.task_id == claim.task_id


def test_a_busy_worker_looks_at_its_empty_pinned_queue_only_now_and_then(
    tmp_path: Path,
    monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    """Draining its class queue, a device does not stat its (empty or missing) pinned queue
    on every claim -- a round trip per claim on a share -- but a pinned task published
    meanwhile is still taken, at the latest one re-list interval later."""
    spool = new_spool(tmp_path, relist_interval=0.3)
    for i in range(8):
        spool.publish(task(spool, f"free{i}", stamp=f"20261125T10{i:02d}00Z"))
    first = spool.claim("jetson", "jetson-01")
    assert first is not None
    first.complete()
    pinned_dir = str(spool.layout.queue("jetson.jetson-01"))
    stats: list[str] = []
    real_stat = os.stat
    monkeypatch.setattr(
        os, "stat", lambda p, *a, **k: stats.append(str(p)) or real_stat(p, *a, **k)
    )
    for _ in range(3):
        c = spool.claim("jetson", "jetson-01")
        assert c is not None and "-free" in c.task_id
        c.complete()
    assert pinned_dir not in stats
    # An older task pinned to this device arrives while the class queue still has work.
    spool.publish(task(spool, "pinned", stamp="20261125T090000Z", device="jetson-01"))
    taken = []
    while (c := spool.claim("jetson", "jetson-01")) is not None:
        taken.append(c.task_id)
        c.complete()
        if len(taken) == 1:
            time.sleep(0.4)  # one re-list interval
    assert taken[:2] in (
        ["20261125T090000Z-preprocess-pinned", "20261125T100400Z-preprocess-free4"],
        ["20261125T100400Z-preprocess-free4", "20261125T090000Z-preprocess-pinned"],
    )
    assert len(taken) == 5 and stats.count(pinned_dir) >= 1


def test_an_empty_class_queue_always_looks_at_the_pinned_queue(tmp_path: Path) -> None:
    spool = new_spool(tmp_path, relist_interval=3600)
    spool.publish(task(spool, "free"))
    c = spool.claim("jetson", "jetson-01")
    assert c is not None
    c.complete()
    assert spool.claim("jetson", "jetson-01") is None
    spool.publish(task(spool, "pinned", device="jetson-01"))
    c = spool.claim("jetson", "jetson-01")  # at once: nothing else to do, so it looks
    assert c is not None and c.task_id.endswith("-pinned")


def test_a_task_published_in_the_same_mtime_tick_as_the_listing_is_seen(tmp_path: Path) -> None:
    """Shares with whole-second folder mtimes (sshfs): an idle worker listed the queue, then a
    task arrived within the same second, so the doorbell (the folder's mtime) did not change.
    The worker must not wait for the 10-minute backstop re-list to see it."""
    publisher = new_spool(tmp_path)
    publisher.publish(task(publisher, "first"))
    first = publisher.claim("jetson", "j0")
    assert first is not None
    first.complete()
    qdir = publisher.root / "pending" / "jetson"
    tick = int(time.time()) * 1_000_000_000  # the folder's mtime, in whole seconds
    os.utime(qdir, ns=(tick, tick))
    idle = Spool(publisher.root)
    assert idle.claim("jetson", "j1") is None  # listed: empty, at mtime `tick`
    publisher.publish(task(publisher, "second"))
    os.utime(qdir, ns=(tick, tick))  # what a whole-second mtime share shows
    got = idle.claim("jetson", "j1")
    assert got is not None and got.task_id.endswith("-second")
