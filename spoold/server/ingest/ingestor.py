"""The ingestor: every inbox, the video index and the publication of ingest tasks.

Public API: :class:`Ingestor` (``tick``, ``root_changed``, ``stop_watching``,
``rebuild_index``, ``export_state``, ``import_state``, ``idle``, ``find_paths``, ``summary``,
``unstable_count``), :class:`IngestReport`.

Each pass (:meth:`Ingestor.tick`) collects the scans and fingerprint batches that returned,
starts the next ones in each inbox's root threads, and publishes one ingest task per new video
in the ``(spool)`` lane.  The rules it follows are in :mod:`spoold.server.ingest`.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from schemas.task import FileRef, Task
from spoold.errors import SpoolError, StorageUnavailable
from spoold.server.ingest.finished import FpResult, Held, fingerprint_finished
from spoold.server.ingest.inbox import Inbox
from spoold.server.ingest.videos import VideoIndex
from spoold.server.pipeline import Pipeline
from spoold.server.scan import (
    DirInfo,
    ScanResult,
    effective_watch,
    join,
    scan_inbox,
)
from spoold.server.settings import DaemonConfig
from spoold.server.storage import Call, Storage
from spoold.server.verdicts import REASON_ZERO_END
from spoold.spool import Spool, queue_name

log = logging.getLogger(__name__)

FP_BATCH = 1024
#: How long a file renamed into place must keep its signature before it is fingerprinted (one
#: re-stat; capped by ``stable_s``), instead of ``stable_s`` (:mod:`spoold.server.ingest`).
RENAME_CONFIRM_S = 0.2


def _publish_all(spool: Spool, tasks: list[Task]) -> list[tuple[Task, bool, str | None]]:
    """Publish each task (the spool lane); (task, created, error) each."""
    out: list[tuple[Task, bool, str | None]] = []
    for task in tasks:
        try:
            out.append((task, spool.publish(task).created, None))
        except (SpoolError, OSError) as exc:
            out.append((task, False, str(exc)))
    return out


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
        self._take_renames(box)
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
                    fingerprint_finished,
                    box.base,
                    [(rel, s, m) for rel, (s, m) in batch],
                    frozenset(rel for rel, _ in batch if rel in box.prealloc),
                    timeout=self.cfg.daemon.probe_timeout_s,
                )
            except StorageUnavailable:
                pass

    def _take_renames(self, box: Inbox) -> None:
        """Files renamed into place since the last pass start afresh on the short confirm;
        files written to since leave it (:mod:`.watch`)."""
        renamed, written = box.hints.take_files()
        # Only names a scan looks at (not sidecars, temp names): the others would stay here.
        renamed = {rel for rel in renamed if box.accept_path(rel)}
        for rel in renamed:
            box.forget_copy(rel)  # a new file at this path: the earlier copy's state is stale
        box.renamed = (box.renamed | renamed) - written

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
            prev = box.unstable.signature(relpath)
            if prev is not None and prev != sig:
                # Changed since it was renamed into place: not whole after all (still being
                # written), so it waits stable_s like any other file.
                box.renamed.discard(relpath)
                if prev[0] == sig[0]:
                    box.prealloc.add(relpath)  # changed at its full size: pre-allocated
            window = None
            if relpath in box.renamed:
                window = min(RENAME_CONFIRM_S, box.stable_s)
                box.next_recheck = min(box.next_recheck, now + window)
            stable = box.unstable.see(relpath, sig, now=now, window=window)
            held = box.held.get(relpath)
            if held is not None and held.sig == sig:
                # Unchanged since it was held: nothing new to read; published at the limit.
                box.ready.pop(relpath, None)
                if now - held.since >= self._hold_limit(held):
                    self._release(box, relpath, held, now, rep)
            elif stable:
                box.ready[relpath] = (sig[0], sig[1])
            else:
                box.ready.pop(relpath, None)

    def _forget(self, box: Inbox, relpath: str) -> None:
        box.forget_copy(relpath)
        box.ready.pop(relpath, None)
        box.held.pop(relpath, None)

    def _hold_limit(self, held: Held) -> float:
        """How long a held file stays unchanged before it is published (finished.py)."""
        if held.reason == REASON_ZERO_END:
            return self.cfg.ingest.prealloc_settle_s
        return self.cfg.ingest.incomplete_reject_s

    def _apply_fingerprints(
        self,
        box: Inbox,
        results: list[FpResult],
        rep: IngestReport,
        now: float,
    ) -> None:
        if any(vid and vid not in self.index for _, _, _, vid, _, _ in results):
            # Someone (an operator, a worker) may have published an ingest task meanwhile.
            st = self.pipeline.first
            queue = queue_name(st.device_class, st.device)
            self.index.refresh(self.spool, self.pipeline.first_type, queue)
        for rel, size, mtime, vid, why, problem in results:
            want = box.ready.get(rel)
            if want is None or (vid is not None and want != (size, mtime)):
                continue
            box.ready.pop(rel, None)
            if vid is None:
                if why == "vanished":
                    self._forget(box, rel)
                elif why != "changed":
                    log.warning("inbox %s: cannot read %s: %s", box.label, rel, why)
                box.unstable.restart(rel, now=now)
                continue
            rep.fingerprinted += 1
            box.held.pop(rel, None)
            if problem is not None and vid not in self.index:
                self._hold(box, rel, vid, problem, now)
                continue
            parent, _, name = rel.rpartition("/")
            d = box.dirs.get(parent)
            if d is not None and d.files.get(name, (0, 0, None))[:2] == (size, mtime):
                d.files[name] = (size, mtime, vid)
                box.dirty = True
            box.forget_copy(rel)
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

    def _hold(self, box: Inbox, rel: str, vid: str, problem: tuple[str, str], now: float) -> None:
        """Hold an unfinished-looking file back: no task while its signature stays the same
        (:mod:`~spoold.server.ingest.finished`)."""
        sig = box.unstable.signature(rel)
        if sig is None:
            return  # forgotten meanwhile (vanished): the next scan sees it afresh
        held = box.held[rel] = Held(sig, vid, now, problem[0])
        then = "ingested" if problem[0] == REASON_ZERO_END else "rejected"
        log.info(
            "inbox %s: %s looks unfinished (%s: %s); held until it changes, %s if it "
            "stays so for %g s",
            box.label,
            rel,
            problem[0],
            problem[1],
            then,
            self._hold_limit(held),
            extra={"event": "ingest.held", "inbox": box.label, "path": rel},
        )

    def _release(self, box: Inbox, rel: str, held: Held, now: float, rep: IngestReport) -> None:
        """Publish a file held unchanged for ``incomplete_reject_s`` (its executor rejects
        it, or ingests it if it is a video after all), saying since when it was held; a
        settled pre-allocated copy (``prealloc_settle_s``) is published as any other file."""
        del box.held[rel]
        box.forget_copy(rel)
        parent, _, name = rel.rpartition("/")
        d = box.dirs.get(parent)
        size, mtime = held.sig[0], held.sig[1]
        if d is not None and d.files.get(name, (0, 0, None))[:2] == (size, mtime):
            d.files[name] = (size, mtime, held.video_id)
            box.dirty = True
        if held.video_id in self.index:
            rep.duplicates += 1
            return
        if held.reason == REASON_ZERO_END:
            self._publish(box, rel, size, mtime, held.video_id, rep)
            return
        since = datetime.now(timezone.utc) - timedelta(seconds=now - held.since)
        self._publish(box, rel, size, mtime, held.video_id, rep, held_since=since.isoformat())

    def _publish(
        self,
        box: Inbox,
        rel: str,
        size: int,
        mtime: int,
        vid: str,
        rep: IngestReport,
        *,
        held_since: str | None = None,
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
        if held_since is not None:
            params["held_since"] = held_since
        if box.settings.vehicle:
            params["vehicle"] = box.settings.vehicle
        tz = self.cfg.inbox_tz(box.settings)
        if tz:
            params["camera_tz"] = tz  # carried to the following stages (Pipeline.followups)
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
                "held": len(b.held),
                "scans": b.scans,
                "problem": b.problem,
            }
            for b in self.inboxes
        }
