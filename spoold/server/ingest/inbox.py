"""One configured inbox folder: its settings, cached tree, files not yet stable, observer.

Public API: :class:`Inbox`.

The :class:`~spoold.server.ingest.ingestor.Ingestor` drives it: its scans fill ``dirs``
(:class:`spoold.server.scan.DirInfo` per folder), files without a video id wait in
``unstable`` (:class:`~spoold.server.ingest.stability.StabilityTracker`) until they are
``ready`` for a fingerprint; stable files that look unfinished wait in ``held``
(:mod:`~spoold.server.ingest.finished`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from spoold.dashcam import is_ignored_name, is_video_name
from spoold.server.ingest.finished import FpResult, Held
from spoold.server.ingest.stability import StabilityTracker
from spoold.server.ingest.watch import Hints, start_observer
from spoold.server.scan import DirInfo, ScanResult
from spoold.server.settings import DaemonConfig, InboxSettings, match_any
from spoold.server.storage import Call

log = logging.getLogger(__name__)


class Inbox:
    """One configured inbox folder: its cached tree, unstable files, scan and observer."""

    def __init__(
        self, cfg: DaemonConfig, settings: InboxSettings, wake: Callable[[], None]
    ) -> None:
        self.settings = settings
        self.label = settings.label
        self.root = settings.root
        self.prefix = settings.path
        self.root_path = cfg.storage[settings.root]
        self.base = self.root_path / settings.path if settings.path else self.root_path
        ing = cfg.ingest
        self.include = settings.include or ing.include
        self.ignore = [*ing.ignore, *settings.ignore]
        self.stable_s = ing.stable_s if settings.stable_s is None else settings.stable_s
        self.scan_interval = ing.scan_interval_s
        self.full_interval = ing.full_scan_interval_s
        self.poll_interval = settings.poll_interval_s or ing.poll_interval_s
        self.watch_mode = settings.watch  # resolved when the observer starts (auto)
        self.dirs: dict[str, DirInfo] = {}
        # Files without a video id yet: stable once their signature held for stable_s.
        self.unstable = StabilityTracker(self.stable_s)
        self.ready: dict[str, tuple[int, int]] = {}  # stable, waiting for a fingerprint
        self.hints = Hints(self.base, wake)
        self.scan_call: Call[ScanResult] | None = None
        self.fp_call: Call[list[FpResult]] | None = None
        # Stable files that look unfinished (a stalled copy): no task yet (finished.py).
        self.held: dict[str, Held] = {}
        # Files seen changing at the same size: a pre-allocated copy under way (finished.py).
        self.prealloc: set[str] = set()
        # Files renamed into place and unchanged since (watch.py): stable after a short
        # confirm instead of stable_s, while their signature holds.
        self.renamed: set[str] = set()
        self.next_scan = -1e18
        self.next_full = -1e18
        self.next_recheck = -1e18
        self.scans = 0
        self.problem: str | None = None
        self.observer: Any = None
        self.observer_call: Call[Any] | None = None
        self.dirty = False

    def forget_copy(self, rel: str) -> None:
        """Drop what was learnt of the copy at ``rel`` while it was being written (its
        stability, pre-allocation, rename): it was ingested, or a new copy starts there."""
        self.unstable.forget(rel)
        self.prealloc.discard(rel)
        self.renamed.discard(rel)

    # ---------------------------------------------------------------- names
    def accept_dir(self, name: str) -> bool:
        return not is_ignored_name(name) and not match_any(name, self.ignore)

    def accept_file(self, name: str) -> bool:
        return is_video_name(name, self.include) and not match_any(name, self.ignore)

    def accept_path(self, rel: str) -> bool:
        """Would a scan look at the file ``rel`` (its name and every folder on the way)?"""
        *folders, name = rel.split("/")
        return self.accept_file(name) and all(self.accept_dir(f) for f in folders)

    def ref_path(self, rel: str) -> str:
        """``rel`` (inside the inbox) as a path relative to the storage root."""
        return f"{self.prefix}/{rel}" if self.prefix else rel

    def files(self) -> int:
        return sum(len(d.files) for d in self.dirs.values())

    # ---------------------------------------------------------------- observer
    def observer_alive(self) -> bool:
        obs = self.observer
        if obs is None:
            return False
        return bool(obs.is_alive()) and all(e.is_alive() for e in obs.emitters)

    def start_observer(self) -> Any:
        """Start the watchdog observer (storage thread: it walks the tree)."""
        return start_observer(self.watch_mode, self.base, self.poll_interval, self.hints)

    def stop_observer(self) -> None:
        obs, self.observer = self.observer, None
        if obs is not None and obs != "scan":
            try:
                obs.stop()  # no join: a hung share must not block the loop
            except Exception as exc:
                log.debug("stopping the observer of %s: %s", self.label, exc)
