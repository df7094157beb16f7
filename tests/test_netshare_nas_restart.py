"""The NAS restarts its file service mid-drain: devices ride it out, nothing lost or doubled.

Per share type (nfs: ganesha and its rpcbind; smb: smbd; sshfs: sshd and its sessions), while four real ``spoold work``
processes (two per client mount, i.e. two per "host") drain TASKS tasks, the server process
is SIGKILLed (pid from the rig's pid files under ``$NETSHARE_STATE/TYPE/run``), kept down
DOWN_S seconds and started again with the same command line, RESTARTS times.  The clients
keep their mounts: NFSv3 is stateless (nfs_fuse.py's libnfs reconnects and its calls wait for
the server), SMB loses its session and every open handle (smbnetfs reconnects; calls in
flight fail with EIO and the like); sshfs loses its SSH session (``-o reconnect``).  Judged from the export dir at the end:

- every task is in ``complete/`` exactly once, its record parses and names the device whose
  run it reports; nothing is left pending; no worker logged the completion of a task another
  worker also completed;
- no worker died: each rode the restarts out and exits 0 on SIGTERM;
- ``spoold check`` is clean after ``check --repair`` (which may drop a killed write's temp
  file).

Re-runs are allowed (a call that failed mid-completion hands the task back) and counted; the
figures (restarts, seconds down, seconds until the next completion, errors the workers
logged, re-runs) go to ``test-output/netshare/nas-restart-TYPE.json`` and
``nas-restart-runs.jsonl``.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import netfaults
import pytest
from netshare import Share, python_cmd, share_fixture, wait_for

from spoold.spool import Spool

pytestmark = [pytest.mark.netshare, pytest.mark.slow]

LEASE_S = 6
TASKS = 60
RESTARTS = 2
DOWN_S = 2.0
ERRORS = re.compile(r" (WARNING|ERROR) ")


@pytest.fixture(scope="module", params=["nfs", "smb", "sshfs"])
def share(request: pytest.FixtureRequest) -> Iterator[Share]:
    yield from share_fixture(request.param)


def test_devices_drain_every_task_exactly_once_while_the_nas_service_restarts(
    share: Share, tmp_path: Path
) -> None:
    ns = netfaults.rig_netns(share)

    def restart(ns: netfaults.Netns, down_s: float) -> float:
        if share.type == "nfs":
            return netfaults.restart_nfs_server(ns, down_s)
        return netfaults.restart_server(share.type, ns, down_s)

    with share.scratch("nas-restart") as d:
        assert d.server is not None, "the NAS-restart test judges from the export dir"
        spool = Spool.init(d.a, default_lease=LEASE_S)
        want = netfaults.publish_tasks(spool, "n", TASKS)
        spool.close()
        fleet = netfaults.Fleet(d.server, tmp_path, LEASE_S)
        downs: list[float] = []
        recovered: list[float] = []
        started = time.monotonic()
        try:
            for name, device, root in (
                ("a1", "host-a", d.a), ("a2", "host-a", d.a),
                ("b1", "host-b", d.b), ("b2", "host-b", d.b),
            ):  # fmt: skip
                fleet.start(name, device, root, 0.3)
            for k in range(RESTARTS):
                at = (k + 1) * TASKS // (RESTARTS + 2)
                wait_for(lambda n=at: len(fleet.done()) >= n, 120, f"{at} tasks done")
                downs.append(restart(ns, DOWN_S))
                back = len(fleet.done())
                t_back = time.monotonic()
                wait_for(lambda n=back: len(fleet.done()) > n, 120, "a completion after restart")
                recovered.append(time.monotonic() - t_back)
            fleet.wait_done(want, 120)
            drained_s = time.monotonic() - started
            for name, w in fleet.workers.items():  # no device died of the restarts
                assert w.alive(), f"{name} exited:\n{w.output()[-3000:]}"
            exits = {name: w.stop() for name, w in fleet.workers.items()}
            assert set(exits.values()) == {0}, exits
        finally:
            for w in fleet.workers.values():
                w.stop()

        share.settle()
        check = [
            subprocess.run(
                [*python_cmd(), "check", *extra, "--spool", str(d.a)],
                capture_output=True, text=True, timeout=300, check=False,
            )
            for extra in (["--repair"], [])
        ]  # fmt: skip
        assert check[1].returncode == 0, f"spoold check:\n{check[1].stdout}{check[1].stderr}"
        assert fleet.done() == want, f"lost: {sorted(want - fleet.done())}"
        assert fleet.pending() == [], f"left in pending/: {fleet.pending()}"
        judge = Spool(d.server)
        for tid in sorted(want):
            rec = judge.read(judge.layout.completed(tid))
            assert rec.completed_at is not None and rec.result == {"by": rec.completed_by}, rec
        completions = fleet.completions()
        assert all(n == 1 for n in completions.values()), {
            t: n for t, n in completions.items() if n > 1
        }
        runs = Counter(tid for tid, _dev, _pid in fleet.runs())
        assert set(runs) == want, "a task never ran, or an unknown one did"
        logs = "".join(w.output() for w in fleet.workers.values())
        netfaults.write_figures(
            "nas-restart",
            {
                "fault": "NAS service SIGKILLed and restarted",
                "share": share.type,
                "lease_s": LEASE_S,
                "tasks": TASKS,
                "restarts": len(downs),
                "down_s": [round(x, 1) for x in downs],
                "next_completion_s_after_restart": [round(x, 1) for x in recovered],
                "drained_s": round(drained_s, 1),
                "worker_errors_logged": len(ERRORS.findall(logs)),
                "error_kinds": sorted(set(re.findall(r"\[Errno \d+\] [^:'\n]+", logs))),
                "runs": sum(runs.values()),
                "tasks_rerun": sum(1 for n in runs.values() if n > 1),
                "check_repair": [ln for ln in check[0].stdout.splitlines() if ln.strip()][:20],
                "lost": 0,
                "completed_twice": 0,
            },
        )
