"""One daemon per spool: a lease file in the spool, renewed by heartbeat, judged in server time.

Public API: :class:`DaemonLease` (``acquire``, ``heartbeat``, ``release``, ``holder``,
``write_file``), :class:`Holder`, :class:`DaemonRunning`, :class:`DaemonLeaseLost`,
:func:`lease_host`.

``SPOOL/daemon/`` is the daemon's folder in the spool: besides the lease it holds the files the
daemon publishes for ``spoold status`` (``status.json``), written only through
:meth:`DaemonLease.write_file` so that this package stays the only code renaming spool files.

OS locks do not cross NFS/SMB clients, so the lock is a file whose *name* says who holds it,
in ``SPOOL/daemon/``: ``free.lease`` when nobody does, ``held.HOST.PID-START-NONCE.lease``
when a daemon does (portable characters only; a first-scheme ``held@HOST@...`` name, or the
``held%40HOST%40...`` an SMB client lists, is still read and renamed as it is on disk).
Taking it is one rename (``free`` → ``held.me``, or a stale ``held.other`` → ``held.me``): of
two racing daemons exactly one rename finds the source.  The
holder refreshes the file's mtime in *server* time (:meth:`spoold.spool.Spool.server_now`)
every few seconds, as claims do; a heartbeat that finds its file gone means another daemon
broke the lease, and the daemon stops.

A lease is stale when its mtime is older than ``lease_s`` in server time (any host; mtime
only: the holder sets it on every heartbeat, and a takeover sets it right after its rename), or at
once when its holder ran on this host and that process no longer exists (pid and process
start time, so a reused pid does not count): a SIGKILLed daemon never blocks a restart here,
and blocks one on another host for at most ``lease_s``.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from spoold.errors import SpoolError
from spoold.spool import Spool, fsops
from spoold.spool.host import pid_alive, process_start, short_hostname

log = logging.getLogger(__name__)

FREE = "free.lease"
_HELD_RE = re.compile(
    r"^held(?P<sep>\.|@|%40)(?P<host>[a-z0-9][a-z0-9-]{0,62})(?P=sep)"
    r"(?P<pid>\d+)-(?P<start>\d+)-(?P<nonce>[0-9a-f]{4,16})\.lease$"
)


class DaemonRunning(SpoolError):
    """Another live daemon holds this spool's lease."""


class DaemonLeaseLost(SpoolError):
    """This daemon's lease was taken over (it went without a heartbeat for too long)."""


def lease_host() -> str:
    """This host as lease names spell it: :func:`short_hostname`, lower-cased, with anything
    but ``a-z0-9-`` made a dash (the holder part of ``held.HOST.PID...``)."""
    name = short_hostname().lower()
    return re.sub(r"[^a-z0-9-]+", "-", name).strip("-")[:63] or "host"


@dataclass(frozen=True)
class Holder:
    """A lease holder; ``disk`` is its file name as listed (kept: only it renames the file)."""

    host: str
    pid: int
    start: int
    nonce: str
    disk: str | None = field(default=None, compare=False)

    @property
    def name(self) -> str:
        if self.disk is not None:
            return self.disk
        return f"held.{self.host}.{self.pid}-{self.start}-{self.nonce}.lease"

    @classmethod
    def parse(cls, name: str) -> Holder | None:
        m = _HELD_RE.match(name)
        if not m:
            return None
        return cls(m["host"], int(m["pid"]), int(m["start"]), m["nonce"], name)

    def describe(self) -> str:
        return f"pid {self.pid} on host {self.host}"


class DaemonLease:
    """The single-instance lease of one spool for this process."""

    def __init__(self, spool: Spool, lease_s: float = 30.0, *, host: str | None = None) -> None:
        self.spool = spool
        self.lease_s = lease_s
        self.dir = spool.root / "daemon"
        self.host = host or lease_host()
        pid = os.getpid()
        self.me = Holder(self.host, pid, process_start(pid), secrets.token_hex(4))
        self.held = False

    @property
    def path(self) -> Path:
        return self.dir / self.me.name

    def holder(self) -> tuple[Holder, float] | None:
        """The current holder and the age of its last heartbeat (server seconds), if any."""
        now = self.spool.server_now()
        best: tuple[Holder, float] | None = None
        for h in self._holders():
            try:
                st = os.stat(self.dir / h.name)
            except FileNotFoundError:
                continue
            age = now - st.st_mtime
            if best is None or age < best[1]:
                best = (h, age)
        return best

    def _holders(self) -> list[Holder]:
        try:
            names = os.listdir(self.dir)
        except FileNotFoundError:
            return []
        return [h for n in names if (h := Holder.parse(n)) is not None]

    def _stale(self, h: Holder, age: float) -> bool:
        if age > self.lease_s:
            return True
        return h.host == self.host and not pid_alive(h.pid, h.start)

    def acquire(self) -> None:
        """Take the lease, or raise :class:`DaemonRunning` naming the live holder."""
        self.dir.mkdir(exist_ok=True)
        for _ in range(20):
            holders = self._holders()
            now = self.spool.server_now()
            src: str | None = None
            why = ""
            for h in holders:
                try:
                    st = os.stat(self.dir / h.name)
                except FileNotFoundError:
                    continue
                age = now - st.st_mtime
                if not self._stale(h, age):
                    wait = max(0.0, self.lease_s - age)
                    raise DaemonRunning(
                        f"{self.spool.root}: a spoold daemon is already running for this spool "
                        f"({h.describe()}, last heartbeat {age:.0f} s ago); stop it first — if it "
                        f"died on another host, its lease ({self.dir / h.name}) expires in "
                        f"{wait:.0f} s"
                    )
                if src is None:
                    src = h.name
                    why = (
                        f"no heartbeat for {age:.0f} s"
                        if age > self.lease_s
                        else "its process is gone from this host"
                    )
            if src is None:
                if not fsops.exists(self.dir / FREE):
                    try:
                        fsops.write_new(self.dir / FREE, b"spoold daemon lease\n", fsync=True)
                    except FileExistsError:
                        pass
                    continue
                src = FREE
            # RACE: two daemons rename the same source; one finds it gone and looks again.
            if not fsops.rename(self.dir / src, self.path):
                continue
            try:
                now = self.spool.server_now()
                os.utime(self.path, (now, now))
            except FileNotFoundError:
                continue  # SMB let two renames succeed and the other came second: it won
            if src != FREE:
                old = Holder.parse(src)
                log.warning(
                    "took over the spool lease of %s: %s",
                    old.describe() if old else src,
                    why,
                    extra={"event": "lease.takeover"},
                )
            self._remove_stale_leftovers()
            self.held = True
            return
        raise DaemonRunning(f"{self.dir}: could not take the daemon lease (contention); try again")

    def _remove_stale_leftovers(self) -> None:
        now = self.spool.server_now()
        for h in self._holders():
            if h == self.me:
                continue
            try:
                st = os.stat(self.dir / h.name)
            except FileNotFoundError:
                continue
            if self._stale(h, now - st.st_mtime):
                fsops.unlink(self.dir / h.name)

    def heartbeat(self) -> None:
        """Renew the lease; :class:`DaemonLeaseLost` if another daemon took it."""
        now = self.spool.server_now()
        try:
            os.utime(self.path, (now, now))
        except OSError as exc:
            if fsops.is_gone(exc):
                self.held = False
                raise DaemonLeaseLost(
                    f"{self.path} is gone: another daemon took over this spool (this one went "
                    f"without a heartbeat for over {self.lease_s:.0f} s); stopping"
                ) from None
            raise

    def write_file(self, name: str, data: bytes) -> None:
        """Replace ``SPOOL/daemon/NAME`` with ``data`` atomically (temp file beside it, then
        rename; no fsync: these files describe the running daemon and are rewritten often).

        For the daemon's published state (``status.json``); never a lease file.  Raises
        :class:`OSError` when the spool refuses the write (the caller decides how loud), and
        :class:`DaemonLeaseLost` when this daemon does not hold the lease (any more): only the
        holder writes, and the lease is renewed between the temp file and the rename (the
        fence), so a daemon cut off from the share cannot overwrite its successor's status
        when the link heals.
        """
        if Path(name).name != name or name.startswith(".") or name.endswith(".lease"):
            raise ValueError(f"{name!r}: not a daemon file name (a plain name, not a lease)")
        if not self.held:
            raise DaemonLeaseLost(f"not writing {name}: this daemon does not hold {self.dir}")
        tmp = self.dir / f".{Path(name).stem}.{os.getpid()}.tmp"
        fsops.unlink(tmp)
        fsops.write_new(tmp, data, fsync=False)
        try:
            self.heartbeat()
        except DaemonLeaseLost:
            fsops.unlink(tmp)
            raise
        fsops.rename(tmp, self.dir / name, dst_unique=False)

    def release(self) -> None:
        """Give the lease back (a clean shutdown); the next daemon starts without waiting."""
        if not self.held:
            return
        self.held = False
        try:
            if fsops.exists(self.dir / FREE):
                fsops.unlink(self.path)
            else:
                fsops.rename(self.path, self.dir / FREE)
        except OSError as exc:
            log.warning("could not release the daemon lease %s: %s", self.path, exc)
