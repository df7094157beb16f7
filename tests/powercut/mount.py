"""Drive the power-cut filesystem (``fs.py``) from a test: mount, sync, cut, remount.

``PowerCutMount(workdir, mode)`` keeps the durable tree in ``workdir/backing`` and mounts it
at ``workdir/mnt``; ``cut(policy, seed)`` loses power (the filesystem process rewrites the
backing tree to its durable state and is killed; the mount is detached) and mounts again.
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
        victims: Iterable[int] = (),
        remount: bool = True,
    ) -> dict[str, Any]:
        """Power cut: keep only what was durable (plus what ``policy`` lets persist), then
        mount again unless ``remount`` is false.

        From the cut on, every call on the mount blocks; ``victims`` (process ids using the
        mount) are then SIGKILLed, as a power cut stops them, before the filesystem process
        dies and the blocked calls would return. The caller reaps them."""
        reply = self.request(cmd="cut", policy=policy, seed=seed)
        for pid in victims:
            os.kill(pid, signal.SIGKILL)
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)  # closes /dev/fuse: the kernel aborts the mount
        self.proc.wait()
        self.proc = None
        self._detach()
        self.cuts += 1
        if remount:
            self.start()
        return reply

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


def _is_dead_mount(path: Path) -> bool:
    try:
        os.stat(path)
    except OSError:
        return True  # ENOTCONN: a FUSE mount whose process died
    return False
