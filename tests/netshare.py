"""The netshare rig: real NFS / SMB / sshfs shares for the tests (plain functions, no fixtures).

A share is three views of one directory: ``mount`` and ``mount2`` are two independent
client mounts (two "hosts"), ``export`` is the directory the file server exports (what a
process on the server itself sees).  Where a share comes from, in this order:

1. ``SPOOLD_SHARE_<TYPE>_MOUNT`` (and optionally ``..._MOUNT2``, ``..._EXPORT``), TYPE one of
   NFS, SMB, SSHFS: a share you mounted yourself, e.g. a real NAS.  Without ``MOUNT2`` both
   "hosts" use ``MOUNT``; without ``EXPORT`` the server-side worker is left out.  The tests
   only create and remove their own ``spoold-test-*`` folders in it.
2. A rig of that type that ``up.sh`` already brought up (``$NETSHARE_STATE/<type>/env``,
   default ``/tmp/netshare``): reused as it is, and left up.
3. ``<repo>/../shared/netshare/up.sh --type T MNT1 MNT2`` run here (needs root and
   ``/dev/fuse``; the first run installs its Debian packages), and ``down.sh --type T`` at
   the end of the session.  ``SPOOLD_NETSHARE_DIR`` overrides where the scripts are.

Without a share a test skips with the reason; with ``CI=true`` it fails instead, so a CI
that silently lost its shares cannot pass.  ``bench/share_bench.py`` uses the same code.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

SHARE_TYPES = ("nfs", "smb", "sshfs")
REPO = Path(__file__).resolve().parent.parent
#: Where an auto-started rig mounts its two clients (fixed, so a crashed run is found again).
AUTO_MOUNTS = Path("/tmp/spoold-netshare")
UP_TIMEOUT_S = 900.0  # a cold up.sh runs apt-get update + install
NETNS_TRIES = 12


class ShareUnavailable(Exception):
    """No share of that type can be had here (the message says why and what to do)."""


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def netshare_dir() -> Path:
    env = os.environ.get("SPOOLD_NETSHARE_DIR")
    return Path(env) if env else (REPO.parent / "shared" / "netshare")


def netshare_state() -> Path:
    return Path(os.environ.get("NETSHARE_STATE", "/tmp/netshare"))


@dataclass(frozen=True)
class Share:
    """One share, as two client hosts and the server see it."""

    type: str
    mount: Path
    mount2: Path
    export: Path | None
    origin: str  # "env" | "running rig" | "up.sh"
    info: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        srv = str(self.export) if self.export else "not reachable"
        return f"{self.type} ({self.origin}): {self.mount} + {self.mount2}, server side {srv}"

    def settle(self) -> None:
        """Wait until the clients' caches show what the server has.

        A client mount may list a name that was renamed away, or miss a new one, for up to
        about twice its cache timeout (sshfs: FUSE cache + its own directory cache; the
        netshare README measured 1-2.3 s at ``--cache 1``).  Tests that inspect the final
        state through a mount wait this long first.
        """
        cache = float(self.info.get("NETSHARE_CACHE", "1") or 1)
        time.sleep(2 * cache + 1.0)

    @contextmanager
    def scratch(self, name: str) -> Iterator[ShareDir]:
        """A fresh folder on the share (removed afterwards, best effort)."""
        leaf = f"spoold-test-{name}-{uuid.uuid4().hex[:8]}"
        (self.mount / leaf).mkdir()
        d = ShareDir(
            self.mount / leaf, self.mount2 / leaf, self.export / leaf if self.export else None
        )
        try:
            yield d
        finally:
            # The server side is local disk: much faster than removing through a mount.
            shutil.rmtree(d.server or d.a, ignore_errors=True)
            shutil.rmtree(d.a, ignore_errors=True)


@dataclass(frozen=True)
class ShareDir:
    a: Path  # through client mount 1 ("host a")
    b: Path  # through client mount 2 ("host b")
    server: Path | None  # directly in the export ("the server")


def _parse_env_lines(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key.startswith("NETSHARE_"):
            out[key] = value
    return out


def _answers(path: Path) -> bool:
    """A mount point that is mounted and lists (a dead FUSE daemon gives ENOTCONN)."""
    try:
        return os.path.ismount(path) and isinstance(os.listdir(path), list)
    except OSError:
        return False


def _from_env(share_type: str) -> Share | None:
    pre = f"SPOOLD_SHARE_{share_type.upper()}_"
    mount = os.environ.get(pre + "MOUNT")
    if not mount:
        return None
    m1 = Path(mount)
    m2 = Path(os.environ.get(pre + "MOUNT2") or mount)
    exp = os.environ.get(pre + "EXPORT")
    for var, p in ((pre + "MOUNT", m1), (pre + "MOUNT2", m2)):
        if not p.is_dir():
            raise ShareUnavailable(f"${var}={p} is not a directory (is the share mounted?)")
    if exp and not Path(exp).is_dir():
        raise ShareUnavailable(f"${pre}EXPORT={exp} is not a directory")
    return Share(share_type, m1, m2, Path(exp) if exp else None, "env")


def _running_rig(share_type: str) -> Share | None:
    env_file = netshare_state() / share_type / "env"
    try:
        info = _parse_env_lines(env_file.read_text())
    except OSError:
        return None
    mounts = [info.get("NETSHARE_MOUNT", ""), info.get("NETSHARE_MOUNT2", "")]
    if not mounts[0] or not all(_answers(Path(m)) for m in mounts if m):
        return None
    ours = Path(mounts[0]).parent == AUTO_MOUNTS
    return Share(
        share_type,
        Path(mounts[0]),
        Path(mounts[1] or mounts[0]),
        Path(info["NETSHARE_EXPORT"]) if info.get("NETSHARE_EXPORT") else None,
        "up.sh" if ours else "running rig",
        info,
    )


def _up(share_type: str) -> Share:
    scripts = netshare_dir()
    if not (scripts / "up.sh").is_file():
        raise ShareUnavailable(
            f"no share: {scripts}/up.sh not found (set SPOOLD_SHARE_{share_type.upper()}_MOUNT, "
            "or SPOOLD_NETSHARE_DIR to the netshare scripts)"
        )
    if os.geteuid() != 0:
        raise ShareUnavailable(
            f"no share: starting the {share_type} rig needs root (or set "
            f"SPOOLD_SHARE_{share_type.upper()}_MOUNT to a mounted share)"
        )
    if not os.path.exists("/dev/fuse"):
        raise ShareUnavailable("no share: /dev/fuse is missing (the rig's clients are FUSE)")
    m1, m2 = AUTO_MOUNTS / f"{share_type}-1", AUTO_MOUNTS / f"{share_type}-2"
    cmd = ["bash", str(scripts / "up.sh"), "--type", share_type, str(m1), str(m2)]
    # Network namespaces first: the partition tests cut the veth between them.  up.sh's own
    # check of a fresh namespace pair fails now and then (a `ip | grep -q` pipe under
    # pipefail), and its fallback to 127.0.0.1 then sticks in its state folder; so ask for
    # netns mode a few times, and only then let it choose.
    modes = ["netns"] * NETNS_TRIES + ["auto"]
    for mode in modes:
        try:
            proc = subprocess.run(
                cmd,
                capture_output=True,
                text=True,
                timeout=UP_TIMEOUT_S,
                stdin=subprocess.DEVNULL,
                check=False,
                env={**os.environ, "NETSHARE_MODE": mode},
            )
        except subprocess.TimeoutExpired:
            _down(share_type)
            raise ShareUnavailable(
                f"{' '.join(cmd)} did not finish in {UP_TIMEOUT_S:.0f} s"
            ) from None
        if proc.returncode == 0 or mode == "auto":
            break
        _down(share_type)
        time.sleep(1.0)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise ShareUnavailable(f"{' '.join(cmd)} failed (exit {proc.returncode}):\n{tail}")
    info = _parse_env_lines(proc.stdout)
    mount = Path(info["NETSHARE_MOUNT"])
    mount2 = Path(info.get("NETSHARE_MOUNT2") or mount)
    return Share(share_type, mount, mount2, Path(info["NETSHARE_EXPORT"]), "up.sh", info)


def _down(share_type: str) -> None:
    scripts = netshare_dir()
    subprocess.run(
        ["bash", str(scripts / "down.sh"), "--type", share_type],
        capture_output=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )


class _Rig:
    """Process-wide registry: each type is brought up at most once and torn down by the last
    user (several test modules may hold it; ``atexit`` covers a run that dies early)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._shares: dict[str, Share] = {}
        self._users: dict[str, int] = {}
        atexit.register(self.shutdown)

    def acquire(self, share_type: str) -> Share:
        with self._lock:
            if share_type not in self._shares:
                share = _from_env(share_type) or _running_rig(share_type) or _up(share_type)
                self._shares[share_type] = share
            self._users[share_type] = self._users.get(share_type, 0) + 1
            return self._shares[share_type]

    def release(self, share_type: str) -> None:
        with self._lock:
            self._users[share_type] -= 1
            if self._users[share_type] == 0:
                share = self._shares.pop(share_type)
                if share.origin == "up.sh":
                    _down(share_type)

    def shutdown(self) -> None:
        with self._lock:
            for share_type, share in list(self._shares.items()):
                if share.origin == "up.sh":
                    _down(share_type)
            self._shares.clear()


RIG = _Rig()


@contextmanager
def share_of(share_type: str) -> Iterator[Share]:
    """The share of ``share_type`` for as long as the block runs (raises ShareUnavailable)."""
    share = RIG.acquire(share_type)
    try:
        yield share
    finally:
        RIG.release(share_type)


def unavailable(reason: str) -> None:
    """Skip the test with ``reason``, or fail it when running in CI (CI=true)."""
    import pytest

    if in_ci():
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


def share_fixture(share_type: str) -> Iterator[Share]:
    """Body of a session-scoped fixture: ``yield from share_fixture(request.param)``."""
    try:
        share = RIG.acquire(share_type)
    except ShareUnavailable as exc:
        unavailable(str(exc))
        raise AssertionError("unreachable") from None
    try:
        yield share
    finally:
        RIG.release(share_type)


# ---------------------------------------------------------------- local helpers (faults)


def require_root(what: str) -> None:
    if os.geteuid() != 0:
        unavailable(f"{what} needs root")


def ensure_debian_packages(*packages: str) -> None:
    """Install missing Debian packages (root only); skip/fail the test when that is impossible."""
    missing = []
    for p in packages:
        r = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", p], capture_output=True, text=True, check=False
        )
        if "install ok installed" not in r.stdout:
            missing.append(p)
    if not missing:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        unavailable(f"needs the Debian packages {', '.join(missing)} (apt-get install as root)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
    ):
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, check=False)
        if r.returncode != 0:
            unavailable(f"{' '.join(cmd)} failed: {r.stderr.strip()[-500:]}")


def python_cmd() -> list[str]:
    """How to start spoold in a child process (the same interpreter, so the same venv)."""
    return [sys.executable, "-m", "spoold"]


def wait_for(cond: Callable[[], object], timeout: float, what: str, poll: float = 0.05) -> None:
    """Poll ``cond`` until it is true; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(poll)


def mount(*args: str) -> None:
    r = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    if r.returncode != 0:
        unavailable(f"mount {' '.join(args)} failed: {r.stderr.strip()}")


def is_mounted(path: Path) -> bool:
    """Whether something is mounted at ``path`` (bind mounts of the same filesystem too,
    which ``os.path.ismount`` misses)."""
    target = os.path.realpath(path)
    try:
        with open("/proc/self/mountinfo") as fh:
            points = [ln.split()[4] for ln in fh if ln.strip()]
    except OSError:
        return os.path.ismount(target)
    decoded = {p.encode().decode("unicode_escape") for p in points}  # \040 for a space
    return target in decoded


def umount(path: Path) -> None:
    """Unmount ``path`` (lazily if busy); a no-op when nothing is mounted there."""
    if is_mounted(path):
        r = subprocess.run(["umount", str(path)], capture_output=True, check=False)
        if r.returncode != 0:
            subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


@contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` (e.g. ``256k``) mounted at ``path`` for the block (root only)."""
    require_root(f"mounting a {size} tmpfs")
    path.mkdir(parents=True, exist_ok=True)
    mount("-t", "tmpfs", "-o", f"size={size},mode=0755", "spoold-test", str(path))
    try:
        yield path
    finally:
        umount(path)


#: A ``spoold work`` log line saying it completed a task (the id in group 1): the runtime's
#: "ID: complete in 1.2 s" (spoold/worker/runtime.py).
COMPLETED = re.compile(r": (\S+): complete in [0-9.]+ s$", re.M)


def completed_in(log_text: str) -> list[str]:
    """The ids of the tasks a ``spoold work`` log says it completed, once per completion."""
    return COMPLETED.findall(log_text)


class SpooldWork:
    """A real ``spoold work`` process, its output in a log file we can wait on."""

    def __init__(
        self,
        args: list[str],
        log: Path,
        *,
        env: dict[str, str] | None = None,
        prefix: list[str] | None = None,
        program: list[str] | None = None,
    ) -> None:
        """``program`` runs spoold (default :func:`python_cmd`; a test's deliberately broken
        variant: ``tests/procs_netshare/broken_spoold.py``)."""
        self.log = log
        self._fh = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [*(prefix or []), *(program or python_cmd()), "-v", "work", *args],
            stdout=self._fh,
            stderr=subprocess.STDOUT,
            env=env,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_output(self, pattern: str, timeout: float) -> re.Match[str]:
        found: list[re.Match[str]] = []

        def seen() -> bool:
            assert self.alive(), f"spoold work exited ({self.proc.returncode}):\n{self.output()}"
            m = re.search(pattern, self.output(), re.M)
            if m:
                found.append(m)
            return m is not None

        wait_for(seen, timeout, f"{pattern!r} in the output of spoold work ({self.log})")
        return found[0]

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=timeout)
        self._fh.close()
        return self.proc.returncode

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._fh.close()


class WorkerSlot:
    """A ``spoold work`` slot on one client mount that a kill storm kills and restarts: each
    incarnation is a new :class:`SpooldWork` (``args`` plus ``--device``), logging to
    ``LOGS/NAME.N.log``; ``pids[N - 1]`` is incarnation N's pid."""

    def __init__(self, name: str, device: str, args: list[str], logs: Path) -> None:
        self.name, self.device, self.args, self.logs = name, device, args, logs
        self.work: SpooldWork | None = None
        self.pids: list[int] = []

    @property
    def incarnation(self) -> int:
        return len(self.pids)

    @property
    def log(self) -> Path:
        return self.logs / f"{self.name}.{self.incarnation}.log"

    def start(self, env: dict[str, str]) -> None:
        self.pids.append(0)  # names the new log
        self.work = SpooldWork(["--device", self.device, *self.args], self.log, env=env)
        self.pids[-1] = self.work.proc.pid

    def alive(self) -> bool:
        return self.work is not None and self.work.alive()

    def kill(self) -> int:
        """SIGKILL the running incarnation; its pid."""
        assert self.work is not None
        self.work.kill()
        return self.work.proc.pid

    def stop(self) -> None:
        """SIGTERM the running incarnation (SIGKILL after 60 s)."""
        if self.work is not None:
            self.work.stop(timeout=60.0)


# ---------------------------------------------------------------- share round trips

#: FUSE request opcodes (linux/fuse.h) by number, for the counts below.
FUSE_OPS = {
    1: "LOOKUP", 2: "FORGET", 3: "GETATTR", 4: "SETATTR", 5: "READLINK", 9: "MKDIR",
    10: "UNLINK", 11: "RMDIR", 12: "RENAME", 13: "LINK", 14: "OPEN", 15: "READ", 16: "WRITE",
    17: "STATFS", 18: "RELEASE", 20: "FSYNC", 22: "GETXATTR", 25: "FLUSH", 27: "OPENDIR",
    28: "READDIR",
    29: "RELEASEDIR", 30: "FSYNCDIR", 34: "ACCESS", 35: "CREATE", 39: "IOCTL", 42: "BATCH_FORGET",
    44: "READDIRPLUS", 45: "RENAME2",
}  # fmt: skip
#: NFSv3 procedures (RFC 1813) by number.
NFS3_PROCS = {
    0: "NULL", 1: "GETATTR", 2: "SETATTR", 3: "LOOKUP", 4: "ACCESS", 5: "READLINK", 6: "READ",
    7: "WRITE", 8: "CREATE", 9: "MKDIR", 12: "REMOVE", 13: "RMDIR", 14: "RENAME", 15: "LINK",
    16: "READDIR", 17: "READDIRPLUS", 18: "FSSTAT", 19: "FSINFO", 21: "COMMIT",
}  # fmt: skip
#: SMB2 commands (MS-SMB2 2.2.1) by number.
SMB2_CMDS = {
    5: "CREATE", 6: "CLOSE", 7: "FLUSH", 8: "READ", 9: "WRITE", 14: "QUERY_DIRECTORY",
    15: "CHANGE_NOTIFY", 16: "QUERY_INFO", 17: "SET_INFO",
}  # fmt: skip
#: SFTP v3 request types by number (200: an extension such as posix-rename@openssh.com).
SFTP_TYPES = {
    3: "OPEN", 4: "CLOSE", 5: "READ", 6: "WRITE", 7: "LSTAT", 8: "FSTAT", 9: "SETSTAT",
    10: "FSETSTAT", 11: "OPENDIR", 12: "READDIR", 13: "REMOVE", 14: "MKDIR", 16: "REALPATH",
    17: "STAT", 18: "RENAME", 200: "EXTENDED",
}  # fmt: skip

_STRACE_RE = re.compile(
    r"^\d+\s+(read|write|writev|sendto|sendmsg)\((\d+), (?:\[\{iov_base=)?\"((?:[^\"\\]|\\.)*)\"",
)


def client_pid(share: Share) -> int | None:
    """The FUSE client process behind ``share.mount`` when the netshare rig mounted it
    (``STATE/TYPE/run/client-N.{mnt,pid}``), else None (a share of your own)."""
    run = Path(share.info.get("NETSHARE_STATE") or netshare_state()) / share.type / "run"
    for mnt in run.glob("client-*.mnt"):
        try:
            if Path(mnt.read_text().strip()) != share.mount:
                continue
            pid = int(mnt.with_suffix(".pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        return pid if Path(f"/proc/{pid}").is_dir() else None
    return None


def _c_bytes(escaped: str) -> bytes:
    """strace's C-escaped string back to bytes."""
    return escaped.encode("latin-1").decode("unicode_escape").encode("latin-1")


def _wire_op(share_type: str, data: bytes) -> str:
    """The request a message to the server carries, from its first bytes (strace shows 32)."""
    if share_type == "nfs" and len(data) >= 28:  # record mark, xid, CALL, 2, prog, vers, proc
        proc = int.from_bytes(data[24:28], "big")
        return NFS3_PROCS.get(proc, f"proc{proc}")
    if share_type == "smb" and len(data) >= 18 and data[4:8] == b"\xfeSMB":
        cmd = int.from_bytes(data[16:18], "little")
        return SMB2_CMDS.get(cmd, f"cmd{cmd}")
    if share_type == "sshfs" and len(data) >= 5:  # length, type
        return SFTP_TYPES.get(data[4], f"type{data[4]}")
    return "message"


@dataclass
class OpCounts:
    """What a block of code cost a share's client: the requests the kernel sent the FUSE
    client (``fuse``, by opcode) and the requests that client sent its server (``wire``:
    a synchronous client waits for each, so each is one round trip)."""

    fuse: dict[str, int] = field(default_factory=dict)
    wire: dict[str, int] = field(default_factory=dict)
    lookups: dict[str, int] = field(default_factory=dict)  # LOOKUP requests, by name

    def per(self, n: int) -> tuple[dict[str, float], dict[str, float]]:
        return (
            {k: v / n for k, v in sorted(self.fuse.items())},
            {k: v / n for k, v in sorted(self.wire.items())},
        )


@contextmanager
def count_client_ops(share: Share, out: Path) -> Iterator[OpCounts]:
    """Count, with ``strace`` on the rig's FUSE client of ``share.mount``, the requests the
    block causes (filled in when the block ends; ``out`` keeps the raw trace).  Raises
    :class:`ShareUnavailable` without a rig client or ``strace``.  The trace slows the
    client: count, do not time, inside it."""
    if out.resolve().is_relative_to(share.mount.resolve()):
        # The tracer would write through the client it has stopped: a deadlock.
        raise ValueError(f"{out}: the trace must not be written to the traced share")
    pid = client_pid(share)
    if pid is None or shutil.which("strace") is None:
        raise ShareUnavailable("counting round trips needs the rig's FUSE client and strace")
    fds: dict[int, str] = {}
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target == "/dev/fuse":
            fds[int(fd.name)] = "fuse"
        elif target.startswith(("socket:", "pipe:")):
            fds[int(fd.name)] = "server"
    tids = [p.name for p in Path(f"/proc/{pid}/task").iterdir()]
    cmd = ["strace", "-qq", "-f", "-s", "160", "-e", "status=successful", "-o", str(out)]
    cmd += ["-e", "trace=read,write,writev,sendto,sendmsg"]
    for tid in tids:
        cmd += ["-p", tid]
    tracer = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # attached (strace has no "ready" signal)
    counts = OpCounts()
    try:
        yield counts
    finally:
        time.sleep(0.5)  # the last replies
        tracer.send_signal(signal.SIGINT)
        tracer.wait(timeout=30)
    for line in out.read_text(errors="replace").splitlines():
        m = _STRACE_RE.match(line)
        if not m:
            continue
        call, fd, data = m[1], int(m[2]), _c_bytes(m[3])
        kind = fds.get(fd)
        if kind == "fuse" and call == "read" and len(data) >= 8:
            op = int.from_bytes(data[4:8], "little")
            name = FUSE_OPS.get(op, f"op{op}")
            counts.fuse[name] = counts.fuse.get(name, 0) + 1
            if name == "LOOKUP":  # the name follows the 40-byte request header
                looked = data[40:].split(b"\0", 1)[0].decode(errors="replace")
                counts.lookups[looked] = counts.lookups.get(looked, 0) + 1
        elif kind == "server" and call != "read":
            name = _wire_op(share.type, data)
            counts.wire[name] = counts.wire.get(name, 0) + 1
