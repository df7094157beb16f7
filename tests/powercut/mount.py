"""Drive the power-cut filesystem (``fs.py``) from a test: mount, sync, cut, remount.

``PowerCutMount(workdir, mode)`` keeps the durable tree in ``workdir/backing`` and mounts it
at ``workdir/mnt``; ``cut(policy, seed, victims=...)`` loses power: the processes under test
are killed and the filesystem rewrites its tree, in place, to what was durable; the mount
stays (no remount: a cut costs milliseconds plus what changed since the last one).
``fuse_missing()`` says why FUSE cannot run here, or None.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

FS_SCRIPT = Path(__file__).with_name("fs.py")


def fuse_missing() -> str | None:
    """Why a power-cut mount cannot be made on this machine (None: it can)."""
    if not os.path.exists("/dev/fuse"):
        return "/dev/fuse is missing (FUSE not available in this container)"
    if os.geteuid() != 0:
        return "mounting FUSE filesystems here needs root"
    return None


class PowerCutError(RuntimeError):
    """The power-cut filesystem process failed (its stderr is in the message)."""


class PowerCutMount:
    def __init__(self, workdir: Path, mode: str = "strict") -> None:
        self.workdir = workdir
        self.mode = mode
        self.backing = workdir / "backing"
        self.mnt = workdir / "mnt"
        self.control = workdir / "control.sock"
        self.log = workdir / "fs.log"
        self.backing.mkdir(parents=True, exist_ok=True)
        self.mnt.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen[bytes] | None = None
        self.cuts = 0

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> None:
        if self.control.exists():
            self.control.unlink()
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    str(FS_SCRIPT),
                    str(self.backing),
                    str(self.mnt),
                    "--mode",
                    self.mode,
                    "--control",
                    str(self.control),
                ],
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + 20
        while not (os.path.ismount(self.mnt) and self.control.exists()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self._detach()
                raise PowerCutError(f"power-cut filesystem did not mount: {self._log_tail()}")
            time.sleep(0.02)

    def stop(self) -> None:
        """Unmount cleanly (no cut: nothing is lost; the live tree stays in ``backing``)."""
        if self.proc is None:
            return
        subprocess.run(["fusermount3", "-u", str(self.mnt)], capture_output=True)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._detach()
        self.proc = None

    def __enter__(self) -> PowerCutMount:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---------------------------------------------------------------- control
    def request(self, **req: Any) -> dict[str, Any]:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(120)
            s.connect(str(self.control))
            s.sendall((json.dumps(req) + "\n").encode())
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    raise PowerCutError(f"control socket closed: {self._log_tail()}")
                buf += chunk
        reply: dict[str, Any] = json.loads(buf)
        if not reply.get("ok"):
            raise PowerCutError(f"{req['cmd']}: {reply.get('error')}")
        return reply

    def sync(self) -> None:
        """Make everything durable, as ``sync(1)`` would."""
        self.request(cmd="sync")

    def stats(self) -> dict[str, Any]:
        return self.request(cmd="stats")

    def cut(
        self,
        policy: str = "drop",
        seed: int = 0,
        *,
        victims: Iterable[int | subprocess.Popen[Any]] = (),
        resume: bool = True,
    ) -> dict[str, Any]:
        """Power cut: keep only what was durable (plus what ``policy`` lets persist), kill
        ``victims`` (the processes using the mount, as a power cut stops them), then power
        on again, in place: the mount stays, its tree is now the durable one.

        The victims are stopped (SIGSTOP) first, so none acts after the cut instant; a call
        already in the filesystem finishes before the cut, and is fair to acknowledge. Then
        the filesystem rewrites its tree and fails every call (EIO) until the victims are
        SIGKILLed and reaped (process ids must be our children or be reaped by someone).
        The reply counts the un-synced operations, how many persisted and how many entries
        the rewrite changed.

        With ``resume=False`` the power stays off: the caller may read or repair the durable
        tree in ``backing`` directly (as a rebooted machine's disk, before anything runs, and
        at native speed), then calls :meth:`resume`."""
        procs = list(victims)
        for v in procs:
            _signal(v, signal.SIGSTOP)
        reply = self.request(cmd="cut", policy=policy, seed=seed)
        for v in procs:
            _signal(v, signal.SIGKILL)
            _signal(v, signal.SIGCONT)
        for v in procs:
            _reap(v)
        self.cuts += 1
        if resume:
            self.resume()
        return reply

    def resume(self, *, rescan: bool = False) -> None:
        """Power on after ``cut(resume=False)``; ``rescan``: ``backing`` was changed directly,
        take it as it is now (all durable)."""
        self.request(cmd="resume", rescan=rescan)

    # ---------------------------------------------------------------- helpers
    def _detach(self) -> None:
        if os.path.ismount(self.mnt) or _is_dead_mount(self.mnt):
            subprocess.run(["umount", "-l", str(self.mnt)], capture_output=True)

    def _log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


def _signal(victim: int | subprocess.Popen[Any], sig: int) -> None:
    try:
        os.kill(victim if isinstance(victim, int) else victim.pid, sig)
    except ProcessLookupError:
        pass


def _reap(victim: int | subprocess.Popen[Any]) -> None:
    if not isinstance(victim, int):
        victim.wait()
        return
    try:
        os.waitpid(victim, 0)
    except ChildProcessError:  # not our child: wait until it is gone
        while os.path.exists(f"/proc/{victim}"):
            time.sleep(0.005)


def _is_dead_mount(path: Path) -> bool:
    try:
        os.stat(path)
    except OSError:
        return True  # ENOTCONN: a FUSE mount whose process died
    return False
