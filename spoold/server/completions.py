"""Chain passes on completion events: a native observer of the spool's ``complete/``.

Public API:

- :class:`CompletionWatch` — ``CompletionWatch(folder, wake)``: :meth:`~CompletionWatch.start`
  watches ``folder`` (the spool's ``complete/``) in a thread when it is on a local disk;
  :meth:`~CompletionWatch.due` says whether a change was seen and an event-driven chain pass
  may run now; :meth:`~CompletionWatch.ran` records how long a pass took;
  :meth:`~CompletionWatch.stop` stops the observer.  ``hints`` is None until the observer
  runs; ``observer`` is None once stopped.
- :data:`CHAIN_DUTY` — the share of the loop event-driven chain passes may take.

On a share, inotify does not see the devices' completions (other clients write them), so
there is no observer and the daemon chains on its ``chain_interval_s`` timer alone.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from spoold.server.ingest.watch import Hints, start_observer
from spoold.server.scan import effective_watch

log = logging.getLogger(__name__)

__all__ = ["CHAIN_DUTY", "CompletionWatch"]

#: Chain passes started by a completion event take at most this share of the loop: after a
#: pass that took d seconds, the next event-driven one waits d / CHAIN_DUTY (a big day folder
#: listed on every completion of a backlog would otherwise take the whole loop).
CHAIN_DUTY = 0.1


def _stop_observer(obs: Any) -> None:
    """Stop a watchdog observer (no join, like the inboxes' observers), if any."""
    if obs is not None and obs != "scan":
        try:
            obs.stop()
        except Exception as exc:
            log.debug("stopping the observer of complete/: %s", exc)


class CompletionWatch:
    """Changes in ``complete/`` reported by a native observer (see the module docstring)."""

    def __init__(self, folder: Path, wake: Callable[[], None]) -> None:
        self.folder = folder
        self.wake = wake
        self.hints: Hints | None = None  # None: chaining on its timer
        self.observer: Any = None
        self._next_event = -1e18  # no event-driven chain pass before this (CHAIN_DUTY)
        self._stopped = False

    def start(self) -> None:
        """Start a native observer of ``complete/`` in a thread (it walks the day folders),
        when the spool is on a local disk; on a share inotify does not see the devices'
        completions (other clients), so chaining stays on ``chain_interval_s`` there."""
        self._stopped = False
        folder = self.folder
        if effective_watch("auto", folder) != "native":
            return
        hints = Hints(folder, self.wake, track_files=False)

        def start() -> None:
            try:
                obs = start_observer("native", folder, 1.0, hints)
            except Exception as exc:  # e.g. the inotify limits: the timer still chains
                log.warning("cannot watch %s (%s): chaining every chain_interval_s", folder, exc)
                return
            self.observer, self.hints = obs, hints
            if self._stopped:  # stopped meanwhile
                _stop_observer(obs)

        threading.Thread(target=start, name="watch complete/", daemon=True).start()

    def due(self, now: float) -> bool:
        """Did the observer see a change, and may an event-driven pass run now?"""
        hints = self.hints
        if hints is None:
            return False
        if now < self._next_event:
            return False  # the timer, or the next wake after the duty pause, runs it
        return bool(hints.take())

    def ran(self, now: float, seconds: float) -> None:
        """A chain pass started at ``now`` took ``seconds``: hold the next event-driven one
        back so that they take at most :data:`CHAIN_DUTY` of the loop."""
        self._next_event = now + seconds / CHAIN_DUTY

    def stop(self) -> None:
        """Stop the observer (safe to call when none runs, or twice)."""
        self._stopped = True
        obs, self.observer = self.observer, None
        _stop_observer(obs)
