"""This host and its processes: the host name spool files carry, and whether a process lives.

Public API: :func:`short_hostname`, :func:`portable_name`, :func:`pid_alive`,
:func:`process_start`, :func:`current_pid`, :class:`ProcessRandom`.

Temp, spare, scratch and lease names carry the host name so that a host only ever judges the
processes named by its own files; a process is judged by pid, and where the caller knows the
process's start time also by that, so a pid the kernel handed to a new process is not taken
for the old one.
"""

from __future__ import annotations

import os
import random
import re
import secrets
import socket

_pid = os.getpid()


def _refresh_pid() -> None:
    global _pid
    _pid = os.getpid()


# This process's id, kept current across fork(): getpid() is a system call, and the claim path
# needs the pid several times per task (claim tokens, spare names, the forked-child checks).
if hasattr(os, "register_at_fork"):  # POSIX; elsewhere there is no fork to follow
    os.register_at_fork(after_in_child=_refresh_pid)


def current_pid() -> int:
    """``os.getpid()`` without the system call (kept current across ``fork()``)."""
    return _pid


_NOT_PORTABLE_RE = re.compile(r"[^A-Za-z0-9_-]+")


def portable_name(text: str, default: str = "host") -> str:
    """``text`` as one part of a spool file name: runs of anything but ``A-Za-z0-9_-`` (dots
    included, since names are split on them) become ``-``; ``default`` if nothing is left."""
    return _NOT_PORTABLE_RE.sub("-", text).strip("-")[:63] or default


def short_hostname() -> str:
    """This host's name up to the first dot, reduced to portable characters
    (:func:`portable_name`), as temp, spare, probe, scratch and lease names carry it."""
    return portable_name(socket.gethostname().split(".")[0])


def process_start(pid: int) -> int:
    """The process's start time in clock ticks since boot (0 when unknown, e.g. not Linux)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
    except OSError:
        return 0
    try:
        return int(data.rsplit(b")", 1)[1].split()[19])
    except (IndexError, ValueError):
        return 0


def pid_alive(pid: int, start: int = 0) -> bool:
    """Whether process ``pid`` exists on this host (another user's counts as alive).

    ``start``: the start time (:func:`process_start`) the caller recorded for it, when it has
    one; a process with that pid but another start time is a new one, and the old is gone.
    0 (unknown) on either side trusts the pid alone.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return start == 0 or process_start(pid) in (0, start)


class ProcessRandom:
    """A fast random source of this process's own: ``secrets`` costs a system call per number,
    and a forked child must not repeat its parent's picks and nonces."""

    __slots__ = ("_pid", "_rng")

    def __init__(self) -> None:
        self._rng = random.Random(secrets.randbits(64))
        self._pid = os.getpid()

    def get(self) -> random.Random:
        if self._pid != _pid:
            self._rng, self._pid = random.Random(secrets.randbits(64)), _pid
        return self._rng
