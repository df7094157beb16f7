"""One daemon per spool: a second `spoold run` refuses (also for a daemon on another host),
a dead daemon's lease never blocks a restart, SIGTERM shuts down cleanly."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from daemon_support import DaemonProcess, Env, cli_cmd, same_host_dead_pid

from spoold.spool import Spool
from spoold.spool.lease import DaemonLease, DaemonLeaseLost, DaemonRunning, Holder


def fake_holder(spool: Spool, host: str, pid: int, age: float) -> Path:
    """A lease file as another daemon leaves it, last heartbeat ``age`` server seconds ago."""
    (spool.root / "daemon").mkdir(exist_ok=True)
    path = spool.root / "daemon" / Holder(host, pid, 0, "abcd1234").name
    path.write_text("spoold daemon lease\n")
    t = spool.server_now() - age
    os.utime(path, (t, t))
    return path


def test_a_second_daemon_refuses_to_start_with_a_clear_message(tmp_path: Path) -> None:
    env = Env(tmp_path)
    first = DaemonProcess(env).start()
    try:
        second = subprocess.run(
            cli_cmd("run", "--config", str(env.config)),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert second.returncode == 1
        assert (
            f"a spoold daemon is already running for this spool (pid {first.proc.pid} on host"
            in second.stderr
        )  # type: ignore[union-attr]
        assert "Traceback" not in second.stderr
    finally:
        assert first.stop() == 0
    # Clean shutdown: lease given back, status says stopped, the next start needs no wait.
    assert (env.spool_root / "daemon" / "free.lease").exists()
    status = json.loads((env.spool_root / "daemon" / "status.json").read_text())
    assert status["state"] == "stopped"
    DaemonProcess(env, "daemon2").start().stop()


def test_a_live_daemon_on_another_host_blocks_until_its_lease_expires(tmp_path: Path) -> None:
    env = Env(tmp_path)
    spool = env.spool()
    path = fake_holder(spool, "shed-server", 4242, age=1.0)
    lease = DaemonLease(spool, lease_s=5.0)
    with pytest.raises(
        DaemonRunning, match=r"pid 4242 on host shed-server, last heartbeat 1 s ago.*expires in 4 s"
    ):
        lease.acquire()
    t = spool.server_now() - 6.0  # no heartbeat for longer than the lease: it died
    os.utime(path, (t, t))
    lease.acquire()
    assert lease.held and not path.exists() and lease.path.exists()


def test_a_dead_daemon_on_this_host_never_blocks_a_restart(tmp_path: Path) -> None:
    env = Env(tmp_path)
    spool = env.spool()
    lease = DaemonLease(spool, lease_s=30.0)
    fake_holder(spool, lease.host, same_host_dead_pid(), age=0.0)  # fresh, but its pid is gone
    lease.acquire()
    assert lease.held


def test_a_daemon_whose_lease_was_taken_over_stops(tmp_path: Path) -> None:
    env = Env(tmp_path)
    lease = DaemonLease(env.spool(), lease_s=5.0)
    lease.acquire()
    lease.path.unlink()  # what another daemon's takeover looks like from here
    with pytest.raises(DaemonLeaseLost, match="another daemon took over this spool"):
        lease.heartbeat()


def test_sigkill_leaves_a_lease_that_a_restart_on_the_same_host_takes_at_once(
    tmp_path: Path,
) -> None:
    env = Env(tmp_path)
    first = DaemonProcess(env).start()
    first.kill()
    held = list((env.spool_root / "daemon").glob("held.*.lease"))
    assert len(held) == 1 and f".{first.proc.pid}-" in held[0].name  # type: ignore[union-attr]
    second = DaemonProcess(env, "daemon2").start()  # within its bounded wait, no lease wait
    try:
        assert second.events("daemon.started")
        [takeover] = second.events("lease.takeover")  # same host: the dead pid is enough
        assert takeover["msg"].endswith("its process is gone from this host")
    finally:
        assert second.stop() == 0
