"""Watch hints: what a watchdog observer reports about an inbox, as folders to list again.

Public API: :class:`Hints`, :func:`make_handler`, :func:`start_observer`.

Events are hints only: they say which folder to list again, never what to ingest (the listing
is the truth, :mod:`spoold.server.scan`).  inotify never sees changes made by other NFS/SMB
clients, so ``auto`` picks ``scan`` (no observer) on network mounts
(:func:`spoold.server.scan.effective_watch`).

One more hint, from a native (inotify) observer on a local disk only: which files *arrived by
rename* (``IN_MOVED_TO``) and were not written to since.  Sync tools (Syncthing, rsync) and
the demo write a temp file, then rename it into place, so such a file is finished by
construction, like a Maildir ``tmp/`` → ``new/`` delivery; the ingestor confirms it with one
re-stat instead of waiting ``stable_s`` (:mod:`spoold.server.ingest`).  Polling observers and
network mounts never give it: a polling observer infers moves from snapshots, and inotify on
NFS/SMB does not see another client writing to the file after its rename.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from spoold.server.scan import effective_watch, filesystem_type, is_network_fs
from spoold.server.settings import WatchMode


class Hints:
    """What a watchdog observer reports: folders to look at again (thread-safe)."""

    def __init__(self, base: Path, wake: Callable[[], None], *, track_files: bool = True) -> None:
        self.base = base
        self.wake = wake
        self.lock = threading.Lock()
        self.dirs: set[str] = set()
        #: Whether the files renamed in / written to are wanted (an inbox's question only).
        self.track_files = track_files
        #: Set by :func:`start_observer` when moved events are inotify's own (see above) and
        #: files are tracked.
        self.trust_renames = False
        # Files renamed into place and not written since / written since (exclusive, so the
        # later event wins within one take).
        self.renamed: set[str] = set()
        self.written: set[str] = set()

    def add(self, path: str, *, is_dir: bool, arrived: bool | None = None) -> None:
        """Mark ``path``'s folder dirty; for a file, ``arrived`` True says it was renamed into
        place, False that it was written to (None: neither, e.g. a deletion)."""
        rel = self._rel(path)
        if rel is None:
            return
        parent = os.path.dirname(rel)
        with self.lock:
            self.dirs.add("" if parent in ("", ".") else parent)
            if is_dir and rel != ".":
                self.dirs.add(rel)
            elif not is_dir and arrived is not None and self.trust_renames:
                rel = rel.replace(os.sep, "/")
                (self.renamed if arrived else self.written).add(rel)
                (self.written if arrived else self.renamed).discard(rel)
        self.wake()

    def _rel(self, path: str) -> str | None:
        if not path:
            return None  # the outside end of a move into or out of the tree
        try:
            rel = os.path.relpath(path, self.base)
        except ValueError:
            return None
        return None if rel.startswith("..") else rel

    def put_back(self, dirs: frozenset[str]) -> None:
        with self.lock:
            self.dirs |= dirs

    def take(self) -> frozenset[str]:
        with self.lock:
            out, self.dirs = frozenset(self.dirs), set()
        return out

    def take_files(self) -> tuple[set[str], set[str]]:
        """(renamed into place, written to) since the last call: paths inside the inbox."""
        with self.lock:
            out = self.renamed, self.written
            self.renamed, self.written = set(), set()
        return out


def make_handler(hints: Hints) -> Any:
    from watchdog.events import FileSystemEvent, FileSystemEventHandler

    wanted = {"created", "deleted", "modified", "moved", "closed"}

    class Handler(FileSystemEventHandler):
        # Hints only: the event says which folder to list again, never what to ingest.
        def on_any_event(self, event: FileSystemEvent) -> None:
            kind = event.event_type
            if kind not in wanted:
                return
            # A file created or written to in place is not one that arrived whole; a write
            # after its rename takes a file off the renamed list too.
            arrived = False if kind in ("created", "modified", "closed") else None
            hints.add(os.fsdecode(event.src_path), is_dir=event.is_directory, arrived=arrived)
            dest = getattr(event, "dest_path", "")
            if dest:
                hints.add(os.fsdecode(dest), is_dir=event.is_directory, arrived=True)

    return Handler()


def start_observer(mode: WatchMode, base: Path, poll_interval: float, hints: Hints) -> Any:
    """Start a watchdog observer of ``base`` reporting to ``hints`` (it walks the tree: call
    it in the root's threads); ``"scan"`` when ``mode`` resolves to no observer."""
    from watchdog.observers import Observer
    from watchdog.observers.polling import PollingObserver

    effective = effective_watch(mode, base)
    if effective == "scan":
        return "scan"
    if effective == "polling":
        obs: Any = PollingObserver(timeout=poll_interval)
    elif _inotify_on_local_disk(base):
        from watchdog.observers.inotify import InotifyObserver

        # Full events: a file renamed in from outside the tree is a move (not a creation),
        # the one sign that it arrived whole (the module docstring).
        obs = InotifyObserver(generate_full_events=True)
        hints.trust_renames = hints.track_files
    else:
        obs = Observer()
    obs.daemon = True
    obs.schedule(make_handler(hints), str(base), recursive=True)
    obs.start()
    return obs


def _inotify_on_local_disk(base: Path) -> bool:
    """Is the native observer inotify, on a local disk (where its move events are trusted)?"""
    from watchdog.observers import Observer

    try:
        from watchdog.observers.inotify import InotifyObserver
    except ImportError:  # not Linux
        return False
    return Observer is InotifyObserver and not is_network_fs(filesystem_type(base))
