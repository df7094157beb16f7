"""Watch hints: what a watchdog observer reports about an inbox, as folders to list again.

Public API: :class:`Hints`, :func:`make_handler`, :func:`start_observer`.

Events are hints only: they say which folder to list again, never what to ingest (the listing
is the truth, :mod:`spoold.server.scan`).  inotify never sees changes made by other NFS/SMB
clients, so ``auto`` picks ``scan`` (no observer) on network mounts
(:func:`spoold.server.scan.effective_watch`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from spoold.server.scan import effective_watch
from spoold.server.settings import WatchMode


class Hints:
    """What a watchdog observer reports: folders to look at again (thread-safe)."""

    def __init__(self, base: Path, wake: Callable[[], None]) -> None:
        self.base = base
        self.wake = wake
        self.lock = threading.Lock()
        self.dirs: set[str] = set()

    def add(self, path: str, *, is_dir: bool) -> None:
        try:
            rel = os.path.relpath(path, self.base)
        except ValueError:
            return
        if rel.startswith(".."):
            return
        parent = os.path.dirname(rel)
        with self.lock:
            self.dirs.add("" if parent in ("", ".") else parent)
            if is_dir and rel != ".":
                self.dirs.add(rel)
        self.wake()

    def put_back(self, dirs: frozenset[str]) -> None:
        with self.lock:
            self.dirs |= dirs

    def take(self) -> frozenset[str]:
        with self.lock:
            out, self.dirs = frozenset(self.dirs), set()
        return out


def make_handler(hints: Hints) -> Any:
    from watchdog.events import FileSystemEvent, FileSystemEventHandler

    wanted = {"created", "deleted", "modified", "moved", "closed"}

    class Handler(FileSystemEventHandler):
        # Hints only: the event says which folder to list again, never what to ingest.
        def on_any_event(self, event: FileSystemEvent) -> None:
            if event.event_type not in wanted:
                return
            hints.add(os.fsdecode(event.src_path), is_dir=event.is_directory)
            dest = getattr(event, "dest_path", "")
            if dest:
                hints.add(os.fsdecode(dest), is_dir=event.is_directory)

    return Handler()


def start_observer(mode: WatchMode, base: Path, poll_interval: float, hints: Hints) -> Any:
    """Start a watchdog observer of ``base`` reporting to ``hints`` (it walks the tree: call
    it in the root's threads); ``"scan"`` when ``mode`` resolves to no observer."""
    from watchdog.observers import Observer
    from watchdog.observers.polling import PollingObserver

    effective = effective_watch(mode, base)
    if effective == "scan":
        return "scan"
    obs = PollingObserver(timeout=poll_interval) if effective == "polling" else Observer()
    obs.daemon = True
    obs.schedule(make_handler(hints), str(base), recursive=True)
    obs.start()
    return obs
