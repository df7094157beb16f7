"""A device cut off from the NAS while it holds claims, and one that can read but not write.

Two client hosts on each share type, nfs, smb and sshfs (``../shared/netshare``): host-a's
``spoold work`` processes run on client mount A, host-b's on client mount B.  Both mounts'
FUSE clients live in the one client network namespace, so the cut is not a downed link (that
would cut both hosts) but a blackhole of every packet between the namespaces except host-b's
TCP connection (``tests/netfaults.py``: htb + u32, this kernel has no netem).  Each test runs
one fault, then judges only from the server's export dir:

- every task is in ``complete/`` exactly once and nothing is left pending;
- the tasks host-a held when it was cut off were broken by host-b after the lease (an attempt
  of kind ``lease-expired`` in the record) and completed by host-b: the record says so,
  so host-a clobbered nothing when it came back;
- host-a settled those tasks without completing them (``lost the claim`` in its log, or, when
  its fence call failed with EIO as the cut ended, ``handed-back``), stayed up, and drains
  new tasks once healed; every other task ran exactly once.

The one-way fault ("reads work, writes do not") has no packet-level stand-in on this rig: NFS
reads and writes share one TCP connection per mount, so dropping one direction (or only the
segments carrying WRITE/CREATE/RENAME/SETATTR calls) stalls the whole stream behind the first
dropped segment and reads hang too.  It is injected as a read-only remount of the bind mount
host-a works through (``mount -o remount,bind,ro``): reads reach the NAS, every write gets
EROFS, as with a NAS that turned its export read-only or a full/quota-limited volume.

The judge is shown to fail on a deliberately broken device: the same cut with host-a run
through ``procs_netshare/broken_spoold.py fenceless-claim`` (its heartbeat ignores a vanished
claim file, so it completes the tasks it lost over host-b's records) must be reported as
clobbered and completed twice.

Figures (cut length, when the claims were broken, time for host-a to learn it lost and to
complete work again, runs per task) go to ``test-output/netshare/partition-KIND.json`` and
``partition-runs.jsonl`` (docs/reliability.md quotes them).
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest
from netfaults import (
    Fleet,
    dropped_packets,
    host_ports,
    isolate,
    publish_tasks,
    readonly_view,
    rig_netns,
    write_figures,
)
from netshare import SHARE_TYPES, Share, ShareDir, completed_in, share_fixture, wait_for

from spoold.spool import Spool

pytestmark = [pytest.mark.netshare, pytest.mark.slow]

LEASE_S = 4
TASKS = 8  # published before the fault
AFTER = 4  # published after it heals: host-a alone must drain them
HOLD_A_S = 2.0  # how long host-a's command holds a task (the fault starts meanwhile)
FAULT_MIN_S = 3 * LEASE_S  # the fault lasts at least this long (and until host-b is done)
#: host-a as a deliberately broken device (tests/procs_netshare/broken_spoold.py)
FENCELESS = [sys.executable, str(Path(__file__).parent / "procs_netshare" / "broken_spoold.py"),
             "fenceless-claim"]  # fmt: skip


@pytest.fixture(scope="module", params=SHARE_TYPES)
def share(request: pytest.FixtureRequest) -> Iterator[Share]:
    yield from share_fixture(request.param)


def held_by_a(run: Fleet) -> set[str]:
    return {tid for tid, device, _pid in run.runs() if device == "host-a"}


def judge(run: Fleet, want: set[str], held: set[str]) -> tuple[list[str], dict[str, object]]:
    """The invariants, from the server's export dir: every violation found (none, or the
    test fails), and the run counts for the figures."""
    problems: list[str] = []
    done = run.done()
    if done != want:
        problems.append(f"lost: {sorted(want - done)}; unexpected: {sorted(done - want)}")
    if run.pending():
        problems.append(f"left in pending/: {run.pending()}")
    spool = Spool(run.server)
    for tid in sorted(want & done):
        rec = spool.read(spool.layout.completed(tid))
        if rec.task_id != tid or rec.completed_at is None:
            problems.append(f"{tid}: not its completion record: {rec}")
        if tid not in held:
            if rec.result != {"by": rec.completed_by}:
                problems.append(f"{tid}: the record's result is not its completer's: {rec}")
            continue
        # broken after the lease and completed by host-b: host-a clobbered nothing
        if (rec.completed_by, rec.result) != ("host-b", {"by": "host-b"}):
            problems.append(
                f"{tid}: clobbered: held by host-a when it was cut off, but the record says "
                f"completed_by={rec.completed_by!r}, result={rec.result}"
            )
        expired = [a.error for a in rec.attempts if a.kind == "lease-expired"]
        # broken only once host-a had gone a whole lease without a heartbeat (server time)
        ages = [int(m) for e in expired for m in re.findall(r"no heartbeat for (\d+) s", e)]
        if not ages or min(ages) < LEASE_S:
            problems.append(f"{tid}: not broken after a whole lease: {rec.attempts}")
    spool.close()
    runs = Counter(tid for tid, _dev, _pid in run.runs())
    if set(runs) != want:
        problems.append(f"a task never ran, or an unknown one did: {sorted(set(runs) ^ want)}")
    reruns = {t: n for t, n in runs.items() if n > 1}
    if not set(reruns) <= held:
        problems.append(f"re-run with no fault behind it: {reruns}")
    completions = run.completions()
    twice = {t: n for t, n in completions.items() if n > 1}
    if twice:
        problems.append(f"completed twice: {twice}")
    by_a = sorted(held & set(completed_in(run.log_of("a1", "a2"))))
    if by_a:
        problems.append(f"completed by host-a after it lost the claim: {by_a}")
    return problems, {"runs": sum(runs.values()), "tasks_rerun": len(reruns)}


def survive(
    share: Share,
    d: ShareDir,
    root_a: Path,
    tmp: Path,
    fault: Callable[[], AbstractContextManager[None]],
    program_a: list[str] | None = None,
) -> tuple[list[str], dict[str, object]]:
    """Publish TASKS; host-a (on ``root_a``; ``program_a``: a broken spoold) takes two;
    ``fault()`` starts; host-b drains everything; the fault lasts FAULT_MIN_S at least, then
    ends; host-a must come back, settle the two it held, and drain AFTER new tasks alone.
    Returns :func:`judge`'s problems and the figures."""
    assert d.server is not None, "the partition tests judge from the export dir"
    spool = Spool.init(d.a, default_lease=LEASE_S)
    want = publish_tasks(spool, "p", TASKS)
    run = Fleet(d.server, tmp, LEASE_S)
    try:
        for name in ("a1", "a2"):
            run.start(name, "host-a", root_a, HOLD_A_S, program_a)
        wait_for(lambda: len(held_by_a(run)) == 2, 60, "host-a to hold two claims")
        held = held_by_a(run)
        t0 = time.monotonic()
        with fault():
            for name in ("b1", "b2"):
                run.start(name, "host-b", d.b, 0.2)
            wait_for(lambda: run.done() == want, 120, "host-b to complete every task")
            broken_s = time.monotonic() - t0
            time.sleep(max(0.0, FAULT_MIN_S - broken_s))
            fault_s = time.monotonic() - t0
            a_during = run.log_of("a1", "a2")
        heal_t0 = time.monotonic()
        assert not completed_in(a_during), "host-a wrote during the fault"
        for name in ("a1", "a2"):  # a device rides the fault out, it does not exit
            assert run.workers[name].alive(), run.workers[name].output()
        lost_seen = set()
        for tid in held:  # back on the network, host-a settles what it held: a sound one
            # learns it lost, or (its fence call failed with EIO as the cut ended: smb, sshfs)
            # hands the task back, which moves nothing, the claim being gone; a read-only
            # host-a cannot even try its fence: it gave the claim up on EROFS during the
            # fault; a broken one may complete it.  The judge tells which was harmless.
            if "Read-only file system" in a_during:
                continue
            pat = rf"{re.escape(tid)}: (lost the claim|complete in |handed-back in )"
            try:
                wait_for(lambda p=pat: re.search(p, run.log_of("a1", "a2")), 120, pat)
            except AssertionError as exc:
                raise AssertionError(
                    f"host-a never settled {tid} after the heal: {exc}; its log:\n"
                    + run.log_of("a1", "a2")[-4000:]
                ) from None
            if re.search(rf"{re.escape(tid)}: lost the claim", run.log_of("a1", "a2")):
                lost_seen.add(tid)
        learned_s = time.monotonic() - heal_t0
        for name in ("b1", "b2"):
            assert run.workers[name].stop() == 0, run.workers[name].output()
        after = publish_tasks(spool, "after", AFTER)
        wait_for(lambda: after <= run.done(), 90, "host-a alone to drain the tasks published after")
        drained_s = time.monotonic() - heal_t0
        for name in ("a1", "a2"):
            assert run.workers[name].stop() == 0, run.workers[name].output()
    finally:
        for w in run.workers.values():
            w.stop()
    problems, counts = judge(run, want | after, held)
    spool.close()
    return problems, {
        "share": share.type,
        "lease_s": LEASE_S,
        "tasks": len(want | after),
        "claims_held_when_cut": len(held),
        "fault_s": round(fault_s, 1),
        "all_done_s_after_fault_start": round(broken_s, 1),
        "host_a_errors_logged_during_fault": len(re.findall(r" (WARNING|ERROR) ", a_during)),
        "host_a_lease_lost_seen": len(lost_seen),
        "host_a_handed_back_after_an_error": len(
            re.findall(r": handed-back in ", run.log_of("a1", "a2"))
        ),
        "host_a_learned_it_lost_s_after_heal": round(learned_s, 1) if lost_seen else None,
        "host_a_drained_new_tasks_s_after_heal": round(drained_s, 1),
        **counts,
        "problems": problems,
    }


@contextmanager
def cut_off_host_a(share: Share, dropped: list[int]) -> Iterator[None]:
    """Blackhole host-a (every packet but host-b's connection); appends the packets dropped."""
    ns = rig_netns(share)
    keep = host_ports(share, ns, 2)
    assert keep, "host-b's mount has no TCP connection to the NAS"
    with isolate(ns, keep):
        yield
        dropped.append(dropped_packets(ns))


def test_a_device_cut_off_past_its_lease_loses_its_claims_and_clobbers_nothing(
    share: Share, tmp_path: Path
) -> None:
    rig_netns(share)
    dropped: list[int] = []
    with share.scratch("partition") as d:
        problems, figures = survive(share, d, d.a, tmp_path, lambda: cut_off_host_a(share, dropped))
    write_figures(
        "partition",
        {"fault": "host-a cut off (100 % loss)", "packets_dropped": dropped[0], **figures},
    )
    assert dropped[0] > 0, "the blackhole dropped nothing: host-a was never cut off"
    assert not problems, "\n".join(problems)


def test_the_judge_catches_a_cut_off_device_that_ignores_the_fence(
    share: Share, tmp_path: Path
) -> None:
    """The same partition with a deliberately broken host-a (``broken_spoold.py
    fenceless-claim``: its heartbeat takes a vanished claim file for a hiccup): back on the
    network it completes the tasks host-b broke and completed, over host-b's records, and the
    judge must say so."""
    rig_netns(share)
    dropped: list[int] = []
    with share.scratch("partition-broken") as d:
        problems, figures = survive(
            share, d, d.a, tmp_path, lambda: cut_off_host_a(share, dropped), FENCELESS
        )
    write_figures("partition-broken", {"fault": "host-a cut off, no fence", **figures})
    assert dropped[0] > 0, "the blackhole dropped nothing: host-a was never cut off"
    text = "\n".join(problems)
    assert "clobbered: held by host-a" in text, text
    assert "completed twice" in text, text
    assert "completed by host-a after it lost the claim" in text, text


def test_a_device_that_can_read_but_not_write_loses_its_claims_and_clobbers_nothing(
    share: Share, tmp_path: Path
) -> None:
    rig_netns(share)  # root and the rig (the bind mount needs root)
    with share.scratch("readonly") as d, readonly_view(d.a, tmp_path / "view-a") as view:
        read_ok: list[bool] = []

        @contextmanager
        def readonly() -> Iterator[None]:
            view.flip(readonly=True)
            try:
                # host-a still reads the share; only its writes fail
                read_ok.append(bool(os.listdir(view.path / "pending" / "cpu")))
                yield
            finally:
                view.flip(readonly=False)

        problems, figures = survive(share, d, view.path, tmp_path, readonly)
    write_figures("readonly", {"fault": "host-a's mount read-only", **figures})
    assert read_ok == [True]
    assert figures["host_a_errors_logged_during_fault"], "host-a never met the read-only share"
    assert not problems, "\n".join(problems)
