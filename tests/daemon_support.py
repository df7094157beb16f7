"""Helpers for the daemon tests: a spool with storage roots, a config, bounded waits, and the
daemon as an in-process object (driven by ``tick``) or as a real subprocess.

Not a test module; the daemon tests import it (``tests/`` is on ``sys.path`` under pytest).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spoold.server.daemon import Daemon
from spoold.server.settings import DaemonConfig, load_settings
from spoold.spool import Spool
from spoold.spool.layout import TASK_FILE_RE, ClaimName

MAIN = Path(__file__).resolve().parent.parent

# Fast timings: every wait in the tests is a bounded poll, never a sleep used as an assertion.
BASE_TOML = """
[spool]
root = "spool"
backoff_base_s = 0.3
backoff_max_s = 1.0

[storage]
indoor-nas = "indoor-nas"
shed-nas = "shed-nas"
server = "server"

[daemon]
state_dir = "state"
lease_s = 5.0
tick_s = 0.2
storage_check_s = 0.2
fs_timeout_s = 2.0
outage_pause_s = 0.2
chain_interval_s = 0.2
chain_full_interval_s = 1.0
status_interval_s = 0.5
state_save_s = 0.5
shutdown_grace_s = 2.0

[ingest]
stable_s = 0.4
scan_interval_s = 0.2
full_scan_interval_s = 5.0
poll_interval_s = 0.2
incomplete_reject_s = 1.5
prealloc_settle_s = 3

[[inbox]]
name = "cams"
root = "indoor-nas"
path = "cams"
watch = "scan"
"""


@dataclass
class Env:
    """A spool, three storage roots with markers, and a config file, under ``base``."""

    base: Path
    extra: str = ""
    #: The spool's claim lease: short, so that tests see claims break; a test that needs
    #: dead holders found by their pid (never by an expired lease) on a slow machine sets more.
    spool_lease: float = 5.0
    cfg_text: str = field(init=False, default="")

    def __post_init__(self) -> None:
        Spool.init(self.base / "spool", default_lease=self.spool_lease)
        for root in ("indoor-nas", "shed-nas", "server"):
            (self.base / root).mkdir(exist_ok=True)
            (self.base / root / ".spoold-storage").touch()
        self.inbox.mkdir(exist_ok=True)
        self.write_config(self.extra)

    @property
    def config(self) -> Path:
        return self.base / "spoold.toml"

    @property
    def spool_root(self) -> Path:
        return self.base / "spool"

    @property
    def inbox(self) -> Path:
        return self.base / "indoor-nas" / "cams"

    def root(self, name: str) -> Path:
        return self.base / name

    def write_config(self, extra: str = "", base: str = BASE_TOML) -> None:
        self.cfg_text = base + extra
        self.config.write_text(self.cfg_text)

    def settings(self) -> DaemonConfig:
        return load_settings(self.config)

    def daemon(self, **kwargs: Any) -> Daemon:
        return Daemon(self.settings(), **kwargs)

    def spool(self) -> Spool:
        return Spool(self.spool_root)

    # ------------------------------------------------------------------ what is in the spool
    def tasks(self, task_type: str | None = None) -> dict[str, list[str]]:
        """task id -> where it is (one entry per copy: several = a duplicate)."""
        out: dict[str, list[str]] = {}
        root = self.spool_root
        for path in sorted(root.glob("pending/*/*.json")) + sorted(
            root.glob("pending/*/deferred/*.json")
        ):
            m = TASK_FILE_RE.match(path.name)
            if m:
                out.setdefault(m["id"], []).append(str(path.relative_to(root)))
        for path in sorted(root.glob("pending/*/claimed/*.json")):
            cn = ClaimName.parse(path.name)
            if cn:
                out.setdefault(cn.task_id, []).append(str(path.relative_to(root)))
        for path in sorted(root.glob("complete/*/*.json")):
            m = TASK_FILE_RE.match(path.name)
            if m:
                out.setdefault(m["id"], []).append(str(path.relative_to(root)))
        if task_type is not None:
            out = {k: v for k, v in out.items() if k.split("-")[1] == task_type}
        return out

    def complete(self, task_type: str | None = None) -> dict[str, dict[str, Any]]:
        """Completed task records by id."""
        out = {}
        for path in sorted(self.spool_root.glob("complete/*/*.json")):
            rec = json.loads(path.read_text())
            if task_type is None or rec["task_type"] == task_type:
                out[rec["task_id"]] = rec
        return out


def wait_until(pred: Callable[[], Any], timeout: float, what: str, poll: float = 0.05) -> Any:
    """Poll ``pred`` until it is truthy (returned) or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(poll)


def drive(daemon: Daemon, pred: Callable[[], Any], timeout: float, what: str) -> Any:
    """Tick an in-process daemon until ``pred`` holds (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        daemon.wake.clear()
        rep = daemon.tick()
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        daemon.wake.wait(min(rep.next_wake_s, 0.05))


def idle_ticks(daemon: Daemon, seconds: float) -> None:
    """Let the daemon run for a while (for "nothing more happens" checks)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        daemon.wake.clear()
        rep = daemon.tick()
        daemon.wake.wait(min(rep.next_wake_s, 0.05))


def cli_cmd(*args: str) -> list[str]:
    """``spoold ARGS`` as a subprocess command line."""
    return [sys.executable, "-m", "spoold", *args]


class DaemonProcess:
    """``spoold run`` as a real subprocess, with its log in a file."""

    def __init__(self, env: Env, name: str = "daemon") -> None:
        self.env = env
        self.log = env.base / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, wait: bool = True) -> DaemonProcess:
        with open(self.log, "ab") as fh:
            self.proc = subprocess.Popen(
                cli_cmd("run", "--config", str(self.env.config), "--log-format", "json"),
                stdout=fh,
                stderr=subprocess.STDOUT,
                cwd=self.env.base,
            )
        if wait:
            wait_until(
                lambda: self.events("daemon.started") or self._died(), 30, "the daemon to start"
            )
            assert self.proc.poll() is None, self.output()
        return self

    def _died(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"daemon exited with {self.proc.returncode}:\n{self.output()}")
        return False

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def events(self, event: str) -> list[dict[str, Any]]:
        out = []
        for line in self.output().splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if rec.get("event") == event:
                out.append(rec)
        return out

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, timeout: float = 20) -> int:
        """SIGTERM, then wait (SIGKILL if it does not stop in time); the exit status."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode


class WorkerProcess:
    """``spoold work`` running a small script for one device class."""

    def __init__(self, env: Env, device_class: str, device: str, script: Path) -> None:
        self.log = env.base / f"{device}.log"
        with open(self.log, "ab") as fh:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "spoold",
                    "work",
                    "--config",
                    str(env.config),
                    "--class",
                    device_class,
                    "--device",
                    device,
                    "--poll",
                    "0.1",
                    "--max-poll",
                    "0.3",
                    "--",
                    sys.executable,
                    str(script),
                ],
                stdout=fh,
                stderr=subprocess.STDOUT,
                cwd=env.base,
            )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def distinct_copies(src: Path, folder: Path, n: int, prefix: str = "clip") -> list[Path]:
    """``n`` valid, distinct MP4s from one clip: each gets a top-level ``free`` box with its
    own bytes appended (players skip it), so each has its own fingerprint."""
    data = src.read_bytes()
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        tag = f"spoold-copy-{prefix}-{i:08d}".encode()
        path = folder / f"{prefix}{i:05d}.mp4"
        path.write_bytes(data + (8 + len(tag)).to_bytes(4, "big") + b"free" + tag)
        out.append(path)
    return out


def same_host_dead_pid() -> int:
    """A pid that is not running on this host (for a "dead daemon" lease)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    pid = proc.pid
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return pid
    raise AssertionError("pid reused at once; run again")
