"""spoold.server.sdnotify against a real AF_UNIX datagram socket, as systemd's would be."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_support import Env, cli_cmd

from spoold.server.sdnotify import Notifier


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """The service manager's end: a bound datagram socket and its NOTIFY_SOCKET address."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify")
    sock.bind(path)
    sock.settimeout(5)
    yield sock, path
    sock.close()


def test_ready_watchdog_stopping_arrive_as_datagrams(manager: tuple[socket.socket, str]) -> None:
    sock, path = manager
    env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "120000000", "WATCHDOG_PID": str(os.getpid())}
    n = Notifier.from_env(env)
    assert n.enabled
    assert n.watchdog_interval_s == 60.0
    # The daemon's children must not inherit the socket and speak for it.
    assert env == {}
    assert n.ready(status="lease taken")
    assert sock.recv(4096) == b"READY=1\nSTATUS=lease taken"
    assert n.watchdog()
    assert sock.recv(4096) == b"WATCHDOG=1"
    assert n.status("two\nlines")
    assert sock.recv(4096) == b"STATUS=two lines"
    assert n.stopping()
    assert sock.recv(4096) == b"STOPPING=1"
    n.close()


def test_abstract_namespace_address() -> None:
    name = f"spoold-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(5)
    try:
        n = Notifier.from_env({"NOTIFY_SOCKET": "@" + name})
        assert n.ready()
        assert sock.recv(4096) == b"READY=1"
    finally:
        sock.close()


def test_without_notify_socket_every_call_is_a_no_op() -> None:
    n = Notifier.from_env({})
    assert not n.enabled
    assert n.watchdog_interval_s is None
    assert not n.ready()
    assert not n.watchdog()
    assert not n.stopping()


def test_watchdog_of_another_process_is_not_ours(manager: tuple[socket.socket, str]) -> None:
    _, path = manager
    n = Notifier.from_env(
        {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"}, unset=False
    )
    assert n.watchdog_interval_s is None


def test_a_vanished_manager_is_reported_once_not_raised(
    manager: tuple[socket.socket, str], caplog: pytest.LogCaptureFixture
) -> None:
    sock, path = manager
    n = Notifier.from_env({"NOTIFY_SOCKET": path})
    sock.close()
    os.unlink(path)
    assert not n.watchdog()
    assert not n.watchdog()
    warnings = [r for r in caplog.records if "notify socket" in r.getMessage()]
    assert len(warnings) == 1


def test_spoold_run_tells_systemd_ready_watchdog_and_stopping(tmp_path: Path) -> None:
    """The real daemon under a fake systemd: READY=1 once it holds the spool, WATCHDOG=1 at
    least every WatchdogSec/2, STOPPING=1 on SIGTERM (deploy/systemd/spoold.service is
    Type=notify with WatchdogSec=)."""
    env = Env(tmp_path)
    sock_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(30)
    proc_env = {**os.environ, "NOTIFY_SOCKET": str(sock_path), "WATCHDOG_USEC": "2000000"}
    with open(tmp_path / "daemon.log", "wb") as log:
        proc = subprocess.Popen(
            cli_cmd("run", "--config", str(env.config)),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
            env=proc_env,
        )
    try:
        got: list[str] = []
        while got.count("WATCHDOG=1") < 3:
            got.extend(sock.recv(4096).decode().splitlines())
        assert got.index("READY=1") < got.index("WATCHDOG=1"), got
        proc.send_signal(signal.SIGTERM)
        while "STOPPING=1" not in got:
            got.extend(sock.recv(4096).decode().splitlines())
        assert proc.wait(30) == 0, (tmp_path / "daemon.log").read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
        sock.close()
