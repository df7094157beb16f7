"""systemd's readiness and watchdog protocol (``sd_notify``) over ``$NOTIFY_SOCKET``, stdlib only.

Public API: :class:`Notifier` (``from_env``, ``ready``, ``watchdog``, ``stopping``, ``status``,
``notify``, ``enabled``, ``watchdog_interval_s``).

Under ``Type=notify`` systemd passes an ``AF_UNIX`` datagram socket in ``NOTIFY_SOCKET`` (a path,
or ``@name`` for the abstract namespace) and waits for ``READY=1``; with ``WatchdogSec=`` it
restarts the service when no ``WATCHDOG=1`` arrives within that time.  Without the variable
(a foreground run, tests) every call is a no-op returning False, so the daemon calls it
unconditionally.  A failed send is logged once and never raised: losing the supervisor must
not stop the daemon (systemd then restarts it on the watchdog, which is the intended outcome).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import MutableMapping

log = logging.getLogger(__name__)


class Notifier:
    """Sends state lines to systemd's notify socket (a no-op without one)."""

    def __init__(self, address: str | None, watchdog_usec: int | None = None) -> None:
        self.address = address
        self._watchdog_usec = watchdog_usec
        self._sock: socket.socket | None = None
        self._warned = False

    @classmethod
    def from_env(
        cls, env: MutableMapping[str, str] | None = None, *, unset: bool = True
    ) -> Notifier:
        """The notifier systemd configured for this process, from ``NOTIFY_SOCKET``.

        ``unset`` removes the variables from ``env`` (``os.environ`` by default) so that the
        commands the daemon starts do not inherit them and speak for the daemon.
        ``WATCHDOG_USEC`` counts only when ``WATCHDOG_PID`` is absent or names this process.
        """
        env = os.environ if env is None else env
        address = env.get("NOTIFY_SOCKET") or None
        usec: int | None = None
        pid = env.get("WATCHDOG_PID")
        if pid is None or pid == str(os.getpid()):
            try:
                usec = int(env.get("WATCHDOG_USEC", "")) or None
            except ValueError:
                usec = None
        if unset:
            for key in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
                env.pop(key, None)
        return cls(address, usec)

    @property
    def enabled(self) -> bool:
        return self.address is not None

    @property
    def watchdog_interval_s(self) -> float | None:
        """How often to send ``WATCHDOG=1``: half of ``WatchdogSec`` (None: no watchdog)."""
        return self._watchdog_usec / 2e6 if self._watchdog_usec else None

    def notify(self, state: str) -> bool:
        """Send one datagram of ``KEY=VALUE`` lines; True if it was sent."""
        if self.address is None:
            return False
        target = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto(state.encode(), target)
        except OSError as exc:
            if not self._warned:
                self._warned = True
                log.warning(
                    "systemd notify socket %s: %s (the service manager will not see this "
                    "daemon's readiness or watchdog pings; it may restart it)",
                    self.address,
                    exc,
                )
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        """Startup is complete: ``READY=1`` (systemd starts the units ordered after this one)."""
        return self.notify("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def watchdog(self) -> bool:
        """The main loop is alive: ``WATCHDOG=1``."""
        return self.notify("WATCHDOG=1")

    def stopping(self) -> bool:
        """Shutdown has begun: ``STOPPING=1``."""
        return self.notify("STOPPING=1")

    def status(self, text: str) -> bool:
        """A one-line status shown by ``systemctl status``."""
        return self.notify("STATUS=" + text.replace("\n", " "))

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
