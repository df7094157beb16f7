"""Server time: the clock of the machine holding the spool, which judges every lease.

Public API: :class:`ServerClock`, :func:`epoch_to_dt`, :func:`parse_probe`.

Learned from the mtime the server gives a file we write (this process's *clock probe* in
``tmp/``), then carried forward with this host's monotonic clock, so a device whose wall clock
is wrong still judges leases correctly.  Re-learned every 5 minutes (monotonic clocks drift by
parts per million).  A probe is named ``tmp/clock.HOST.PID``; :meth:`ServerClock.close` removes
it (every command closes its spool), and ``check --repair`` removes the probes of this host's
dead processes.  Probes are the protocol's own housekeeping: never a problem for ``check``.
"""

from __future__ import annotations

import logging
import os
import re
import time
from datetime import datetime, timezone
from pathlib import Path

from spoold.errors import SpoolError
from spoold.spool import fsops
from spoold.spool.folders import check_mounted
from spoold.spool.layout import Layout

log = logging.getLogger(__name__)

#: Seconds after which the server's time is learned again.
RELEARN_S = 300.0
_PROBE_RE = re.compile(r"^clock\.(?P<host>[A-Za-z0-9_-]+)\.(?P<pid>[0-9]{1,10})$")


def parse_probe(name: str) -> tuple[str, int] | None:
    """(host, pid) of a clock probe's name, or None if ``name`` is not one."""
    m = _PROBE_RE.match(name)
    return (m["host"], int(m["pid"])) if m else None


def epoch_to_dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, timezone.utc)


class ServerClock:
    """Server time for one spool and this process."""

    def __init__(self, layout: Layout, host: str) -> None:
        self.layout = layout
        self.host = host
        self._clock: tuple[float, float] | None = None
        #: Seconds added to server time: lets tests and simulations move time forward
        #: (a file's ctime cannot be set back, so aging files is not an option).
        self.offset = 0.0

    @property
    def probe(self) -> Path:
        """This process's clock probe: never a crash leftover."""
        return self.layout.tmp / f"clock.{self.host}.{os.getpid()}"

    def now(self) -> float:
        """Now, in the server's clock (epoch seconds)."""
        mono = time.monotonic()
        if self._clock is None or mono - self._clock[1] > RELEARN_S:
            probe = self.probe
            try:
                fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                try:
                    os.write(fd, b"clock\n")
                finally:
                    os.close(fd)
                mtime = os.stat(probe).st_mtime
            except OSError as exc:
                check_mounted(self.layout)
                fsops.discard(probe)
                if self._clock is None:
                    raise SpoolError(
                        f"cannot learn the server's time: writing {self.layout.rel(probe)} "
                        f"failed: {exc.strerror or exc}"
                    ) from exc
                # Full or refusing writes: carry the clock we have forward and try later.
                log.warning("%s: %s; keeping the server time learned before", probe, exc)
                mtime = self._clock[0] + (mono - self._clock[1])
            self._clock = (mtime, time.monotonic())
        return self._clock[0] + (mono - self._clock[1]) + self.offset

    def close(self) -> None:
        """Remove the clock probe (clean-up at exit; ``check --repair`` removes leftovers)."""
        fsops.unlink(self.probe)
