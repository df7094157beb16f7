"""Ingestion: find new videos in the inbox folders and publish one ingest task per video.

Public API: :class:`Ingestor` (``tick``, ``root_changed``, ``stop_watching``,
``rebuild_index``, ``export_state``, ``import_state``, ``idle``, ``find_paths``, ``summary``),
:class:`Inbox`, :class:`VideoIndex`, :class:`IngestReport`.  The listing and fingerprinting
themselves are :mod:`spoold.server.scan`.

How a video is found, and why it is found exactly once:

- **The listing is the truth; watchdog events are hints.**  Each inbox is listed
  incrementally every ``scan_interval_s``: a folder whose mtime did not change is not listed
  again (one ``stat``), so an idle tree of 100,000 files costs a few hundred ``stat`` calls.
  Every ``full_scan_interval_s``, at start and after an outage, every folder is listed and
  every file stat'ed.  A watchdog observer (``watch = native`` on a local disk, ``polling``
  if asked) only marks folders dirty and wakes the loop early: inotify never sees changes
  made by other NFS/SMB clients, so ``auto`` picks ``scan`` (no observer) on network mounts.
- Temp and partial names (dotfiles, ``*.part``, ``*.tmp``, rsync ``.name.XXXXXX``, Syncthing,
  Resilio ``*.!sync``...) and names not matching ``include`` are never looked at; a sync
  tool's rename into the final name simply shows up in the next listing.
- A file is *ready* when its size, mtime and ctime stayed the same for ``stable_s`` seconds of
  our own clock (the rule of :class:`spoold.server.media.StabilityTracker`, kept in a compact
  per-inbox table: a cold start may see 100,000 new files at once), then it is fingerprinted
  (:func:`spoold.server.media.fingerprint`: size + hashes of head and tail) into its video id.
- :class:`VideoIndex` maps video id → ingest task id and is rebuilt from the spool's task
  names at start, so a renamed or copied file, a second pass or a restart never publishes a
  second ingest task.  The task id is ``make_task_id(first-seen stamp, first stage, video_id)``.
- Fingerprints are cached by (path, size, mtime) and saved in the daemon's local state file,
  so a restart does not read 100,000 heads and tails again.

All filesystem work on an inbox runs in its storage root's threads
(:class:`spoold.server.storage.Storage`): a hung share delays its inbox only.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from schemas.task import FileRef, Task, parse_task_id
from spoold.dashcam import is_ignored_name, is_video_name
from spoold.errors import SpoolError, StorageUnavailable
from spoold.server.pipeline import Pipeline
from spoold.server.scan import (
    DirInfo,
    ScanResult,
    effective_watch,
    fingerprint_files,
    join,
    scan_inbox,
)
from spoold.server.settings import DaemonConfig, InboxSettings, match_any
from spoold.server.storage import Call, Storage
from spoold.spool import Spool

log = logging.getLogger(__name__)

FP_BATCH = 1024


def _publish_all(spool: Spool, tasks: list[Task]) -> list[tuple[Task, bool, str | None]]:
    """Publish each task (the spool lane); (task, created, error) each."""
    out: list[tuple[Task, bool, str | None]] = []
    for task in tasks:
        try:
            out.append((task, spool.publish(task).created, None))
        except (SpoolError, OSError) as exc:
            out.append((task, False, str(exc)))
    return out


# --------------------------------------------------------------------------- the index
class VideoIndex:
    """video id → ingest task id, rebuilt from the spool (task names carry the video id)."""

    def __init__(self) -> None:
        self._ids: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, video_id: object) -> bool:
        return video_id in self._ids

    def get(self, video_id: str) -> str | None:
        return self._ids.get(video_id)

    def add(self, video_id: str, task_id: str) -> None:
        self._ids.setdefault(video_id, task_id)

    def discard(self, video_id: str, task_id: str) -> None:
        if self._ids.get(video_id) == task_id:
            del self._ids[video_id]

    def rebuild(self, spool: Spool, task_type: str) -> int:
        """Read every task *name* (no file content) in pending/ and complete/."""
        self._ids.clear()
        for q in spool.queues():
            self._add(spool.task_ids(q, task_type=task_type))
        for day in spool.complete_days():
            self._add(spool.completed_ids(day, task_type=task_type))
        return len(self._ids)

    def refresh(self, spool: Spool, task_type: str, queue: str) -> None:
        """Add first-stage tasks someone else published into ``queue`` (cheap: one queue)."""
        self._add(spool.task_ids(queue, task_type=task_type))

    def _add(self, task_ids: set[str]) -> None:
        for task_id in task_ids:
            key = parse_task_id(task_id)[2]
            # Two tasks for one video (hand-made): the oldest stamp is the video's.
            prev = self._ids.get(key)
            if prev is None or task_id < prev:
                self._ids[key] = task_id


# --------------------------------------------------------------------------- one inbox
class _Hints:
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


def _make_handler(hints: _Hints) -> Any:
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
        # Files without a video id yet: their signature and since when (our clock) it held.
        # (media.StabilityTracker's rule, kept compact: 100,000 new files at a cold start.)
        self.unstable: dict[str, tuple[int, int, int, float]] = {}
        self.ready: dict[str, tuple[int, int]] = {}  # stable, waiting for a fingerprint
        self.hints = _Hints(self.base, wake)
        self.scan_call: Call[ScanResult] | None = None
        self.fp_call: Call[list[tuple[str, int, int, str | None, str | None]]] | None = None
        self.next_scan = -1e18
        self.next_full = -1e18
        self.next_recheck = -1e18
        self.scans = 0
        self.problem: str | None = None
        self.observer: Any = None
        self.observer_call: Call[Any] | None = None
        self.dirty = False

    # ---------------------------------------------------------------- names
    def accept_dir(self, name: str) -> bool:
        return not is_ignored_name(name) and not match_any(name, self.ignore)

    def accept_file(self, name: str) -> bool:
        return is_video_name(name, self.include) and not match_any(name, self.ignore)

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
        from watchdog.observers import Observer
        from watchdog.observers.polling import PollingObserver

        mode = effective_watch(self.watch_mode, self.base)
        if mode == "scan":
            return "scan"
        obs = PollingObserver(timeout=self.poll_interval) if mode == "polling" else Observer()
        obs.daemon = True
        obs.schedule(_make_handler(self.hints), str(self.base), recursive=True)
        obs.start()
        return obs

    def stop_observer(self) -> None:
        obs, self.observer = self.observer, None
        if obs is not None and obs != "scan":
            try:
                obs.stop()  # no join: a hung share must not block the loop
            except Exception as exc:
                log.debug("stopping the observer of %s: %s", self.label, exc)


# --------------------------------------------------------------------------- all inboxes
@dataclass
class IngestReport:
    scanned: int = 0
    published: int = 0
    duplicates: int = 0
    fingerprinted: int = 0


class Ingestor:
    """Every inbox, the video index and the publication of ingest tasks."""

    def __init__(
        self,
        cfg: DaemonConfig,
        spool: Spool,
        storage: Storage,
        pipeline: Pipeline,
        *,
        wake: Callable[[], None] = lambda: None,
        watch: bool = True,
    ) -> None:
        self.cfg = cfg
        self.spool = spool
        self.storage = storage
        self.pipeline = pipeline
        self.watch = watch
        self.index = VideoIndex()
        self.inboxes = [Inbox(cfg, box, wake) for box in cfg.inbox]
        self.total = IngestReport()
        self._problems: dict[str, str] = {}
        self._outbox: list[Task] = []
        self._publishing: Call[list[tuple[Task, bool, str | None]]] | None = None
        self.spool_lane = "(spool)"
        storage.add_lane(self.spool_lane, cfg.daemon.io_threads)

    # ---------------------------------------------------------------- start
    def rebuild_index(self) -> int:
        n = self.index.rebuild(self.spool, self.pipeline.first_type)
        log.info(
            "video index rebuilt from the spool: %d videos",
            n,
            extra={"event": "index.rebuilt", "videos": n},
        )
        return n

    def export_state(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for box in self.inboxes:
            out[box.label] = {
                "base": str(box.base),
                "dirs": {
                    rel: (d.mtime_ns, d.subdirs, d.files)  # tuples serialize as JSON arrays
                    for rel, d in box.dirs.items()
                },
            }
        return out

    def import_state(self, data: dict[str, Any]) -> None:
        for box in self.inboxes:
            saved = data.get(box.label)
            if not isinstance(saved, dict) or saved.get("base") != str(box.base):
                continue
            try:
                box.dirs = {
                    rel: DirInfo(
                        int(m), list(subs), {n: (int(f[0]), int(f[1]), f[2]) for n, f in fs.items()}
                    )
                    for rel, (m, subs, fs) in saved["dirs"].items()
                }
            except (KeyError, TypeError, ValueError, IndexError):
                log.warning(
                    "state file: the cache of inbox %s is unreadable; rescanning", box.label
                )
                box.dirs = {}

    @property
    def dirty(self) -> bool:
        return any(b.dirty for b in self.inboxes)

    def mark_saved(self) -> None:
        for b in self.inboxes:
            b.dirty = False

    # ---------------------------------------------------------------- the pass
    def tick(self, now: float) -> IngestReport:
        rep = IngestReport()
        for box in self.inboxes:
            self._tick_inbox(box, now, rep)
        self._flush(rep)
        self.total.scanned += rep.scanned
        self.total.published += rep.published
        self.total.duplicates += rep.duplicates
        self.total.fingerprinted += rep.fingerprinted
        return rep

    def root_changed(self, root: str) -> None:
        """A root came back (or went away): full rescan next; events may have been lost."""
        for box in self.inboxes:
            if box.root == root:
                box.next_full = -1e18
                box.next_scan = -1e18
                if not self.storage.available(root):
                    box.stop_observer()

    def _tick_inbox(self, box: Inbox, now: float, rep: IngestReport) -> None:
        if box.scan_call is not None and box.scan_call.done():
            call, box.scan_call = box.scan_call, None
            try:
                self._apply_scan(box, call.result(), now, rep)
            except Exception as exc:
                self._problem(box, f"scan failed: {exc}")
        if box.fp_call is not None and box.fp_call.done():
            call2, box.fp_call = box.fp_call, None
            try:
                self._apply_fingerprints(box, call2.result(), rep, now)
            except Exception as exc:
                self._problem(box, f"fingerprinting failed: {exc}")
        if not self.storage.available(box.root):
            return
        self._supervise_observer(box)
        hinted = box.hints.take()
        # Unstable files are looked at again within their stability window, whatever the
        # scan interval: an observer reports a file once, not when it stops changing.
        recheck = bool(box.unstable) and now >= box.next_recheck
        due = hinted or now >= box.next_scan or now >= box.next_full
        if box.scan_call is None and (due or recheck):
            full = now >= box.next_full
            walk = bool(due)
            if full:
                box.next_full = now + box.full_interval
            if walk:
                box.next_scan = now + box.scan_interval
            box.next_recheck = now + max(0.05, min(box.scan_interval, box.stable_s / 2))
            try:
                box.scan_call = self.storage.submit(
                    box.root,
                    f"{'full' if full else 'quick' if walk else 'unstable-file'} scan of "
                    f"inbox {box.label}",
                    lambda b=box, d=hinted, f=full, w=walk: scan_inbox(
                        b.base,
                        b.root_path,
                        self.storage.marker,
                        b.dirs,
                        dirty=d,
                        full=f,
                        watch=tuple(b.unstable),
                        walk=w,
                        accept_dir=b.accept_dir,
                        accept_file=b.accept_file,
                    ),
                    timeout=self.cfg.daemon.scan_timeout_s,
                )
            except StorageUnavailable:
                pass
        elif hinted:
            box.hints.put_back(hinted)  # a scan is running: keep the hints for the next one
        if box.fp_call is None and box.ready:
            batch = list(itertools.islice(box.ready.items(), FP_BATCH))
            try:
                box.fp_call = self.storage.submit(
                    box.root,
                    f"fingerprinting {len(batch)} files of inbox {box.label}",
                    fingerprint_files,
                    box.base,
                    [(rel, s, m) for rel, (s, m) in batch],
                    timeout=self.cfg.daemon.probe_timeout_s,
                )
            except StorageUnavailable:
                pass

    def _supervise_observer(self, box: Inbox) -> None:
        if not self.watch or box.watch_mode == "scan":
            return
        if box.observer_call is not None:
            if not box.observer_call.done():
                return
            call, box.observer_call = box.observer_call, None
            try:
                box.observer = call.result()
                if box.observer != "scan":
                    log.info(
                        "watching inbox %s (%s)",
                        box.label,
                        effective_watch(box.watch_mode, box.base),
                        extra={"event": "watch.started", "inbox": box.label},
                    )
            except Exception as exc:
                self._problem(box, f"cannot watch {box.base}: {exc}")
                box.observer = "scan"
            return
        if box.observer == "scan" or box.observer_alive():
            return
        if box.observer is not None:
            log.warning("observer of inbox %s stopped; restarting it", box.label)
            box.stop_observer()
        try:
            box.observer_call = self.storage.submit(
                box.root,
                f"starting the observer of inbox {box.label}",
                box.start_observer,
                timeout=self.cfg.daemon.scan_timeout_s,
            )
        except StorageUnavailable:
            pass

    def stop_watching(self) -> None:
        for box in self.inboxes:
            box.stop_observer()

    def _problem(self, box: Inbox, message: str | None) -> None:
        before = self._problems.get(box.label)
        if message is None:
            if before is not None:
                del self._problems[box.label]
                log.info("inbox %s: scanning again", box.label)
            box.problem = None
            return
        box.problem = message
        if before != message:
            self._problems[box.label] = message
            log.warning(
                "inbox %s: %s",
                box.label,
                message,
                extra={"event": "inbox.problem", "inbox": box.label},
            )

    def _apply_scan(self, box: Inbox, res: ScanResult, now: float, rep: IngestReport) -> None:
        if res.problem is not None:
            # Never conclude anything (least of all "deleted") from a root we cannot see.
            if res.unmounted:
                self.storage.check(force=True)  # the storage module says it, once
                box.problem = res.problem
            else:
                self._problem(box, res.problem)
            return
        self._problem(box, None)
        box.scans += 1
        rep.scanned += 1
        for rel, info in res.listed.items():
            old = box.dirs.get(rel)
            if old is not None:
                for name in old.files.keys() - info.files.keys():
                    self._forget(box, join(rel, name))
                # Fingerprints that arrived while this scan ran (it read the tree before).
                for name, (size, mtime, vid) in info.files.items():
                    if vid is None:
                        cur = old.files.get(name)
                        if cur is not None and cur[2] is not None and cur[:2] == (size, mtime):
                            info.files[name] = cur
                            res.stats.pop(join(rel, name), None)
            box.dirs[rel] = info
            box.dirty = True
            for name, (size, mtime, vid) in info.files.items():
                if vid is not None and vid not in self.index:
                    self._publish(box, join(rel, name), size, mtime, vid, rep)
        for rel in list(box.dirs) if res.reached is not None else []:
            if rel not in res.reached:  # type: ignore[operator]
                for name in box.dirs[rel].files:
                    self._forget(box, join(rel, name))
                del box.dirs[rel]
                box.dirty = True
        for relpath in res.gone:
            self._forget(box, relpath)
            parent, _, name = relpath.rpartition("/")
            d = box.dirs.get(parent)
            if d is not None:
                d.files.pop(name, None)
        for relpath, sig in res.stats.items():
            parent, _, name = relpath.rpartition("/")
            d = box.dirs.get(parent)
            cur = d.files.get(name) if d is not None else None
            if d is None or cur is None:
                continue
            if cur[2] is not None and cur[:2] == sig[:2]:
                continue  # fingerprinted while this scan ran
            d.files[name] = (sig[0], sig[1], None)
            prev = box.unstable.get(relpath)
            if prev is None or prev[:3] != sig:
                box.unstable[relpath] = (*sig, now)
                since = now
            else:
                since = prev[3]
            if now - since >= box.stable_s:
                box.ready[relpath] = (sig[0], sig[1])
            else:
                box.ready.pop(relpath, None)

    def _forget(self, box: Inbox, relpath: str) -> None:
        box.unstable.pop(relpath, None)
        box.ready.pop(relpath, None)

    def _apply_fingerprints(
        self,
        box: Inbox,
        results: list[tuple[str, int, int, str | None, str | None]],
        rep: IngestReport,
        now: float,
    ) -> None:
        if any(vid and vid not in self.index for _, _, _, vid, _ in results):
            # Someone (an operator, a worker) may have published an ingest task meanwhile.
            st = self.pipeline.first
            queue = st.device_class if st.device is None else f"{st.device_class}@{st.device}"
            self.index.refresh(self.spool, self.pipeline.first_type, queue)
        for rel, size, mtime, vid, why in results:
            want = box.ready.get(rel)
            if want is None or (vid is not None and want != (size, mtime)):
                continue
            box.ready.pop(rel, None)
            if vid is None:
                if why == "vanished":
                    self._forget(box, rel)
                elif why != "changed":
                    log.warning("inbox %s: cannot read %s: %s", box.label, rel, why)
                entry = box.unstable.get(rel)
                if entry is not None:  # start its window again
                    box.unstable[rel] = (*entry[:3], now)
                continue
            rep.fingerprinted += 1
            parent, _, name = rel.rpartition("/")
            d = box.dirs.get(parent)
            if d is not None and d.files.get(name, (0, 0, None))[:2] == (size, mtime):
                d.files[name] = (size, mtime, vid)
                box.dirty = True
            box.unstable.pop(rel, None)
            if vid in self.index:
                rep.duplicates += 1
                if log.isEnabledFor(logging.DEBUG):
                    log.debug(
                        "%s:%s is video %s, already ingested by %s (a copy or a rename)",
                        box.root,
                        box.ref_path(rel),
                        vid,
                        self.index.get(vid),
                    )
            else:
                self._publish(box, rel, size, mtime, vid, rep)

    def _publish(
        self, box: Inbox, rel: str, size: int, mtime: int, vid: str, rep: IngestReport
    ) -> None:
        stage = self.pipeline.first
        try:
            ref = FileRef(device=box.root, path=box.ref_path(rel), type="video")
        except ValueError:
            log.error(
                "inbox %s: %r cannot be named in a task (backslash?); skipped", box.label, rel
            )
            return
        params: dict[str, Any] = {**stage.params, "inbox": box.label, "size": size}
        params["mtime_ns"] = mtime
        if box.settings.vehicle:
            params["vehicle"] = box.settings.vehicle
        task = self.spool.new_task(
            self.pipeline.first_type,
            stage.device_class,
            vid,
            device=stage.device,
            video_id=vid,
            inputs=[ref],
            params=params,
        )
        # Known from now on (a second copy seen meanwhile is a duplicate); the spool write
        # and its fsyncs happen in the spool lane (see _flush).
        self.index.add(vid, task.task_id)
        self._outbox.append(task)

    def _flush(self, rep: IngestReport) -> None:
        """Collect the last batch of publications and start the next one."""
        call = self._publishing
        if call is not None:
            if not call.done():
                return
            self._publishing = None
            try:
                results = call.result()
            except Exception as exc:  # cannot happen per task (caught below): be safe
                results = []
                log.error("publishing ingest tasks failed: %s", exc)
            for task, created, error in results:
                vid = task.video_id or ""
                if error is not None:
                    # Forgotten again: the next full scan publishes it (its file is cached).
                    self.index.discard(vid, task.task_id)
                    log.error("%s: not published: %s", task.task_id, error)
                    continue
                rep.published += int(created)
                ref = task.inputs[0]
                log.info(
                    "new video %s at %s:%s: published %s",
                    vid,
                    ref.device,
                    ref.path,
                    task.task_id,
                    extra={"event": "ingest.published", "video_id": vid, "task_id": task.task_id},
                )
        if self._outbox:
            batch, self._outbox = self._outbox, []
            self._publishing = self.storage.submit_local(
                f"publishing {len(batch)} ingest task(s)",
                _publish_all,
                self.spool,
                batch,
                timeout=self.cfg.daemon.probe_timeout_s,
                lane=self.spool_lane,
            )

    # ---------------------------------------------------------------- queries
    def idle(self) -> bool:
        """Nothing in flight and nothing waiting to be fingerprinted (after one scan each)."""
        return (
            not self._outbox
            and self._publishing is None
            and all(
                b.scans > 0 and b.scan_call is None and b.fp_call is None and not b.ready
                for b in self.inboxes
                if self.storage.available(b.root)
            )
        )

    def unstable_count(self) -> int:
        return sum(len(b.unstable) for b in self.inboxes)

    def find_paths(self, video_id: str) -> list[FileRef]:
        """Where the scans last saw ``video_id`` (for an ingest task whose file moved)."""
        out = []
        for box in self.inboxes:
            for rel, d in box.dirs.items():
                for name, (_, _, vid) in d.files.items():
                    if vid == video_id:
                        out.append(
                            FileRef(
                                device=box.root, path=box.ref_path(join(rel, name)), type="video"
                            )
                        )
        return out

    def summary(self) -> dict[str, Any]:
        return {
            b.label: {
                "root": b.root,
                "watch": b.watch_mode,
                "files": b.files(),
                "unstable": len(b.unstable),
                "scans": b.scans,
                "problem": b.problem,
            }
            for b in self.inboxes
        }
