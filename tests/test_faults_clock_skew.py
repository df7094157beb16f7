"""A device whose wall clock is hours off still keeps and judges leases in server time.

The device is a real ``spoold work`` under libfaketime (``faketime -f +5h``, and ``-5h``):
its ``time.time()`` is off by hours while its monotonic clock is right, as on a device that
booted without NTP.  Its clock must never meet a file's mtime (spool_layout.md §5):

- it does not break a fresh claim of a correct-clock device (+5h would think it 5 h old);
- its own heartbeats carry server time, so a correct-clock device never sees its live claim
  as stale (-5h would write mtimes 5 h in the past) ...
- ... and does see it stale one lease after it died (+5h would write mtimes 5 h ahead);
- its records carry server time (``completed_at``).
"""

from __future__ import annotations

import glob
import os
import signal
import time
from pathlib import Path

import pytest
from netshare import SpooldWork, ensure_debian_packages, wait_for

from spoold.spool import Spool

STAMP = "20260101T000000Z"
LEASE = 3  # seconds; the skewed worker heartbeats every second
#: time.sleep() for processes under libfaketime 0.9.10 (see its docstring); spoold unchanged.
SHIM = Path(__file__).parent / "procs_netshare" / "faketime_shim"


def libfaketime() -> str:
    """The multi-threaded libfaketime (the worker heartbeats from a thread)."""
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1"))
    assert found, "libfaketime is installed but libfaketimeMT.so.1 was not found"
    return found[0]


@pytest.mark.parametrize("skew", ["+5h", "-5h"])
def test_a_device_hours_off_keeps_and_judges_leases_in_server_time(
    skew: str, tmp_path: Path
) -> None:
    ensure_debian_packages("faketime")
    spool = Spool.init(tmp_path / "spool", default_lease=LEASE)
    for key in ("a", "b", "c"):
        spool.publish(spool.new_task("ingest", "cpu", key, stamp=STAMP))
    holder = spool.claim("cpu", "right-clock")  # a correct device is running task a
    assert holder is not None and holder.task_id.endswith("-a")
    runs = tmp_path / "runs"
    script = (
        f'cat >/dev/null; echo "$SPOOLD_TASK_ID $$" >> {runs}; case "$SPOOLD_TASK_ID" in '
        f"*-b) sleep {2.5 * LEASE};; *-c) exec sleep 600;; esac"
    )
    worker = SpooldWork(
        [
            "--spool",
            str(spool.root),
            "--class",
            "cpu",
            "--device",
            "skewed",
            "--lease",
            str(LEASE),
            "--poll",
            "0.1",
            "--max-poll",
            "0.3",
            "--",
            "/bin/sh",
            "-c",
            script,
        ],
        tmp_path / "worker.log",
        env=dict(
            os.environ,
            LD_PRELOAD=libfaketime(),  # not the `faketime` wrapper: it forks, and we SIGKILL
            FAKETIME=skew,
            FAKETIME_DONT_FAKE_MONOTONIC="1",  # a wrong wall clock, a right monotonic one
            PYTHONPATH=os.pathsep.join(filter(None, [str(SHIM), os.environ.get("PYTHONPATH")])),
        ),
    )
    judge = Spool(spool.root)  # another correct-clock device, looking at the claims
    done_b = spool.layout.completed(f"{STAMP}-ingest-b")
    try:
        # While the skewed device runs b for 2.5 leases: a stays ours, b's claim stays fresh.
        deadline = time.monotonic() + 30
        while not done_b.exists():
            assert time.monotonic() < deadline, f"b not complete:\n{worker.output()}"
            assert worker.alive(), worker.output()
            holder.heartbeat()  # LeaseLost here = the skewed device broke a fresh claim
            assert judge.stale_claims("cpu") == []
            for c in (spool.root / "pending/cpu/claimed").glob("*.skewed.*"):
                try:
                    age = judge.server_now() - c.stat().st_mtime
                except FileNotFoundError:
                    continue  # completed meanwhile
                assert -1.0 < age < LEASE, f"skewed heartbeat {age:+.0f} s off server time"
            time.sleep(0.2)
        completed_at = spool.read(done_b).completed_at
        assert completed_at is not None
        assert abs(completed_at.timestamp() - judge.server_now()) < 60

        # Now it runs c; it dies.  Its claim is stale one lease later, not hours later.
        def c_started() -> bool:
            holder.heartbeat()
            return runs.exists() and "-c " in runs.read_text()

        def skewed_claim_stale() -> bool:
            holder.heartbeat()
            return any(cn.device == "skewed" for cn, _, _ in judge.stale_claims("cpu"))

        wait_for(c_started, 30, "c to start")
        worker.kill()
        dead_at = time.monotonic()
        wait_for(skewed_claim_stale, LEASE + 5, "the dead skewed device's claim to go stale")
        assert time.monotonic() - dead_at >= LEASE - 1.5  # ...and not before its lease ran out
        ((stale, _age, _why),) = judge.stale_claims("cpu")  # only that one
        assert stale.task_id.endswith("-c")
        holder.heartbeat()  # a was never taken from its correct-clock holder
    finally:
        worker.stop()
        for line in runs.read_text().splitlines() if runs.exists() else []:
            try:
                os.kill(int(line.split()[1]), signal.SIGKILL)  # the orphaned `sleep 600`
            except ProcessLookupError:
                pass
