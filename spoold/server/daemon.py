"""The main server's daemon: ``Daemon.tick(now)`` does one pass, ``run()`` loops it.

Public API: :class:`Daemon` (``start``, ``tick``, ``run``, ``stop``, ``shutdown``,
``backfill``, ``status``), :class:`TickReport`, :class:`BackfillReport`.  What ``spoold
status`` shows of it: :mod:`spoold.server.daemon_status`; its cache and finalize journal
outside the spool: :mod:`spoold.server.localstate`.

One pass (:meth:`Daemon.tick`), none of which waits on a NAS (every NAS call runs in its
root's threads, see :mod:`spoold.server.storage`):

1. storage roots: marker checks, hung calls; a root that returns gets its waiting tasks back;
2. the single-instance lease heartbeat (:mod:`spoold.spool.lease`);
3. ingestion: scans, stability, fingerprints, ingest tasks (:mod:`spoold.server.ingest`);
4. chaining: follow-ups of completed tasks (:class:`spoold.server.pipeline.Chainer`), every
   ``chain_interval_s``, and at once when a native observer of ``complete/`` (a spool on a
   local disk) reports a change, e.g. a device's completion, as long as chaining takes under
   a tenth of the loop (:mod:`spoold.server.completions`);
5. periodic utility tasks (``cleanup``, ``index``), one per period, deterministic ids;
6. server tasks, claimed and run like on any device (:mod:`spoold.server.runner`,
   :mod:`spoold.server.executors`); then the stages of finalized videos whose tasks changed
   go to the index (:class:`spoold.server.stages.StageTracker`);
7. ``SPOOL/daemon/status.json`` for ``spoold status``, and the local cache file.

Everything that matters is in the spool, written by its atomic verbs, so a SIGKILL at any
moment loses nothing: at start the video index is rebuilt from task names, stale claims of
the dead process are put back (same host: at once), recent completions are chained again
(idempotent), and the scans find whatever arrived meanwhile.  SIGTERM/SIGINT stop the loop:
running server tasks get ``shutdown_grace_s`` to finish, the rest are released unchanged.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import json
import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from schemas.task import make_task_id, parse_task_id
from spoold.errors import SpoolError
from spoold.server.completions import CompletionWatch
from spoold.server.executors.index import IndexService
from spoold.server.ingest import Ingestor
from spoold.server.localstate import (
    finalize_journal,
    read_state,
    state_file,
    take_back_queued,
    write_journal,
    write_state,
)
from spoold.server.pipeline import Chainer, Pipeline
from spoold.server.runner import ServerRunner
from spoold.server.sdnotify import Notifier
from spoold.server.settings import DaemonConfig
from spoold.server.stages import StageTracker
from spoold.server.storage import Storage
from spoold.spool import Spool, queue_name
from spoold.spool.lease import DaemonLease, DaemonLeaseLost
from spoold.worker.runtime import sweep_scratch

log = logging.getLogger(__name__)

UTILITIES = ("cleanup", "index")


@dataclass
class TickReport:
    """What one pass did (counts) and when the next one is due."""

    scanned: int = 0
    published: int = 0
    duplicates: int = 0
    chained: int = 0
    started: int = 0
    completed: int = 0
    failed: int = 0
    running: int = 0
    storage_down: list[str] = field(default_factory=list)
    next_wake_s: float = 1.0


@dataclass
class BackfillReport:
    files: int = 0
    published: int = 0
    duplicates: int = 0
    fingerprinted: int = 0
    completed: int = 0
    rejected: int = 0
    left: int = 0
    seconds: float = 0.0


def _libc() -> Any:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def limit_malloc_arenas(arenas: int = 2) -> None:
    """glibc gives each thread its own malloc arena; with a dozen storage threads that
    fragments memory for nothing (the daemon is not allocation-bound)."""
    libc = _libc()
    if libc is not None and hasattr(libc, "mallopt"):
        libc.mallopt(-8, arenas)  # M_ARENA_MAX


def trim_memory() -> None:
    """Give freed memory back to the OS after a burst (a cold scan of a big tree)."""
    gc.collect()
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


class Daemon:
    """The long-running server process for one spool; see the module docstring."""

    def __init__(
        self,
        cfg: DaemonConfig,
        *,
        spool: Spool | None = None,
        clock: Callable[[], float] = time.monotonic,
        backfill: bool = False,
    ) -> None:
        d = cfg.daemon
        limit_malloc_arenas()
        self.cfg = cfg
        self.clock = clock
        self.spool = spool or Spool(
            cfg.spool.root,
            fsync=cfg.spool.fsync,
            backoff_base=cfg.spool.backoff_base_s,
            backoff_max=cfg.spool.backoff_max_s,
        )
        self.wake = threading.Event()
        self.stop_event = threading.Event()
        self.storage = Storage(
            cfg.storage,
            marker=d.storage_marker,
            fs_timeout=d.fs_timeout_s,
            check_interval=d.storage_check_s,
            threads=d.io_threads,
            clock=clock,
            on_done=self.wake.set,
        )
        self.pipeline = Pipeline(cfg.pipeline)
        self.ingestor = Ingestor(
            cfg, self.spool, self.storage, self.pipeline, wake=self.wake.set, watch=not backfill
        )
        self.state_path = state_file(cfg, self.spool)
        self.index = IndexService(
            cfg.index.dir,
            self.storage,
            publish_interval=cfg.index.publish_interval_s,
            timeout=d.probe_timeout_s,
            batch=cfg.index.finalize_batch,
            journal=self._save_journal,
        )
        # The index's copy of each finalized video's stages follows every later change, and
        # it hears of every ingestion verdict (rejected files are videos of status rejected).
        self.tracker = StageTracker(
            self.spool, self.pipeline, self.index.update_stages, ingests=self.index.record_ingests
        )
        note = self.tracker.note if self.index.active else None
        self.chainer = Chainer(
            self.spool, self.pipeline, hot_days=d.chain_hot_days, on_complete=note
        )
        self.runner = ServerRunner(
            cfg,
            self.spool,
            self.storage,
            self.pipeline,
            find_paths=self.ingestor.find_paths,
            seen_video=self.ingestor.index.add,
            touched=note or (lambda task_id: None),
            index=self.index,
        )
        self.lease = DaemonLease(self.spool, d.lease_s)
        self.backfill_mode = backfill
        self.journal_path = finalize_journal(cfg, self.spool)
        self.started = False
        self.started_at = time.time()
        self._due: dict[str, float] = {}
        self._utility_period: dict[str, str] = {}
        self.last_report = TickReport()
        self._backlog = 0
        self.completions = CompletionWatch(self.spool.layout.complete, self.wake.set)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Take the lease (:class:`~spoold.spool.lease.DaemonRunning` if held), load the cache,
        look at every storage root, rebuild the video index."""
        self.lease.acquire()
        try:
            sweep_scratch()  # server-side commands' scratch folders, if we were killed
            try:  # before any claim; best effort: without it those tasks are only charged
                take_back_queued(self.spool, self.journal_path, self.runner.device)
            except (SpoolError, OSError) as exc:
                log.warning("could not put back the killed daemon's queued finalize tasks: %s", exc)
            self._load_state()
            self.storage.wait_checked(self.cfg.daemon.fs_timeout_s)
            for name in self.storage.down():
                self.ingestor.root_changed(name)
            self.ingestor.rebuild_index()
        except BaseException:
            self.lease.release()
            raise
        self.started = True
        if not self.backfill_mode:
            self.completions.start()
        log.info(
            "daemon started for spool %s (%s), %d inbox(es), storage: %s",
            self.spool.root,
            self.lease.me.describe(),
            len(self.ingestor.inboxes),
            ", ".join(f"{k}={v['state']}" for k, v in self.storage.summary().items()) or "none",
            extra={"event": "daemon.started"},
        )
        self._write_status("running")

    def stop(self) -> None:
        """Ask :meth:`run` to stop (safe from a signal handler: it only sets flags)."""
        self.stop_event.set()
        self.wake.set()

    def install_signal_handlers(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop())

    def run(self) -> None:
        """Start, loop until stopped, shut down.  Raises DaemonRunning / DaemonLeaseLost."""
        # systemd (Type=notify, WatchdogSec=): READY once started, WATCHDOG after every pass,
        # so a daemon whose loop hangs is restarted; a no-op when not run by systemd.
        notifier = Notifier.from_env()
        watchdog_s = notifier.watchdog_interval_s
        self.start()
        notifier.ready(status=f"holding the spool {self.spool.root}")
        lost = False
        try:
            while not self.stop_event.is_set():
                self.wake.clear()
                try:
                    rep = self.tick()
                except OSError as exc:
                    # The share failed mid-pass (EIO, ESTALE, a timeout: a NAS reboot or a
                    # partition).  Nothing of a pass is lost by redoing it, and the lease
                    # decides, once the share answers again, whether this daemon still holds
                    # the spool (DaemonLeaseLost) or carries on.
                    log.warning(
                        "spool unreachable mid-pass (%s): trying again",
                        exc,
                        extra={"event": "daemon.spool_error"},
                    )
                    rep = TickReport()
                notifier.watchdog()
                wait = rep.next_wake_s if watchdog_s is None else min(rep.next_wake_s, watchdog_s)
                self.wake.wait(wait)
        except DaemonLeaseLost:
            lost = True
            raise
        finally:
            notifier.stopping()
            self.shutdown(release=not lost)
            notifier.close()

    def shutdown(self, *, release: bool = True) -> None:
        if not self.started:
            return
        self.started = False
        log.info("daemon stopping", extra={"event": "daemon.stopping"})
        self.ingestor.stop_watching()
        self.completions.stop()
        self.runner.shutdown(self.cfg.daemon.shutdown_grace_s)
        self.index.close(self.cfg.daemon.shutdown_grace_s)
        self._save_state()
        if release:  # a daemon that lost the lease writes nothing more into SPOOL/daemon/
            self._write_status("stopped")
            self.lease.release()
        self.spool.close()
        log.info("daemon stopped", extra={"event": "daemon.stopped"})

    # ------------------------------------------------------------------ one pass
    def _is_due(self, name: str, now: float, every: float) -> bool:
        if now >= self._due.get(name, -1e18):
            self._due[name] = now + every
            return True
        return False

    def tick(self, now: float | None = None) -> TickReport:
        """One pass of everything; never waits on a storage root."""
        now = self.clock() if now is None else now
        d = self.cfg.daemon
        rep = TickReport()
        for st in self.storage.check(now):
            self.ingestor.root_changed(st.name)
            if st.state == "ok":
                n = self.runner.root_up(st.name)
                if n:
                    log.info("storage %s is back: %d waiting task(s) put back", st.name, n)
            self._due.pop("status", None)
        if self._is_due("lease", now, max(1.0, d.lease_s / 6)):
            self.lease.heartbeat()
        ing = self.ingestor.tick(now)
        rep.scanned, rep.published, rep.duplicates = ing.scanned, ing.published, ing.duplicates
        if self._chain_now(now) or self._is_due("chain", now, d.chain_interval_s):
            full = self._is_due("chain_full", now, d.chain_full_interval_s)
            started = time.monotonic()
            rep.chained = self.chainer.run_pass(full=full)
            self.completions.ran(now, time.monotonic() - started)
        if not self.backfill_mode and self._is_due("utilities", now, 60.0):
            self._publish_utilities()
        stats = self.runner.stats
        before = (stats.started, stats.completed, stats.failed)
        self.runner.tick(now)
        self.tracker.flush()
        self.index.tick()
        rep.started = stats.started - before[0]
        rep.completed = stats.completed - before[1]
        rep.failed = stats.failed - before[2]
        rep.running = len(self.runner.running)
        rep.storage_down = self.storage.down()
        if self._is_due("status", now, d.status_interval_s):
            self._write_status("running")
        if self.ingestor.dirty and self._is_due("save", now, d.state_save_s):
            self._save_state()
        backlog = self.ingestor.unstable_count()
        if self._backlog >= 1000 and backlog == 0:
            # A burst of new files is done: save the big cache now rather than in the next
            # quiet minute, and give its bookkeeping back to the OS.
            self._save_state()
            trim_memory()
        self._backlog = max(backlog, self._backlog) if backlog else 0
        # Busy: look again soon; finished calls wake the loop earlier (Storage.on_done).
        busy = rep.published or rep.completed or rep.started or rep.chained or self.tracker.backlog
        rep.next_wake_s = min(0.05, self._next_wake(now)) if busy else self._next_wake(now)
        self.last_report = rep
        return rep

    def _chain_now(self, now: float) -> bool:
        """Did the observer of ``complete/`` see a change, and may a pass run now?"""
        if not self.completions.due(now):
            return False
        self._due["chain"] = now + self.cfg.daemon.chain_interval_s
        return True

    def _next_wake(self, now: float) -> float:
        upcoming = [t for t in self._due.values() if t > now]
        for box in self.ingestor.inboxes:
            upcoming += [box.next_scan, box.next_full]
            if box.unstable:
                upcoming.append(box.next_recheck)
        soonest = min((t for t in upcoming if t > now), default=now + self.cfg.daemon.tick_s)
        return max(0.0, min(self.cfg.daemon.tick_s, soonest - now))

    def _publish_utilities(self) -> None:
        """One ``cleanup`` and one ``index`` task per period (ids from the period start)."""
        m = self.cfg.maintenance
        now = self.spool.server_now()
        pending = None
        for task_type, every in (("cleanup", m.cleanup_interval_s), ("index", m.index_interval_s)):
            start = datetime.fromtimestamp(now - now % every, timezone.utc)
            task_id = make_task_id(start, task_type, "periodic")
            if self._utility_period.get(task_type) == task_id:
                continue
            if pending is None:
                pending = self._pending_server_types()
            if task_type not in pending:
                task = self.spool.new_task(task_type, "server", "periodic", stamp=start)
                if self.spool.publish(task).created:
                    log.info("published %s", task.task_id, extra={"event": "utility.published"})
            self._utility_period[task_type] = task_id

    def _pending_server_types(self) -> set[str]:
        return {parse_task_id(tid)[1] for tid in self.spool.task_ids("server")}

    # ------------------------------------------------------------------ backfill
    def backfill(
        self,
        progress: Callable[[int, int], None] | None = None,
        *,
        timeout: float | None = None,
    ) -> BackfillReport:
        """Ingest everything in the inboxes now (no observers), then return.

        ``progress(done, total)`` is called as files are handled.  Tasks that must wait
        (a file still changing, a storage root away) are left for the daemon.
        """
        t0 = time.monotonic()
        for box in self.ingestor.inboxes:
            box.scan_interval = min(box.scan_interval, max(0.2, box.stable_s / 4))
        self.start()
        rep = BackfillReport()
        try:
            last_change = time.monotonic()
            last = (-1, -1)
            waiting = total = 0
            while not self.stop_event.is_set():
                self.wake.clear()
                tick = self.tick()
                total = sum(b.files() for b in self.ingestor.inboxes)
                if self._is_due("backfill_count", self.clock(), 0.5) or self.runner.idle():
                    waiting = self._pending_first_stage()
                left = self.ingestor.unstable_count() + waiting
                if progress is not None:
                    progress(total - left, total)
                if (total, left) != last:
                    last, last_change = (total, left), time.monotonic()
                idle = self.ingestor.idle() and self.runner.idle()
                stuck = time.monotonic() - last_change > 3 * max(
                    (b.stable_s + b.scan_interval for b in self.ingestor.inboxes), default=1.0
                )
                if idle and (left == 0 or (waiting == 0 and stuck)):
                    rep.left = left
                    break
                if timeout is not None and time.monotonic() - t0 > timeout:
                    rep.left = left
                    break
                self.wake.wait(min(tick.next_wake_s, 0.2))
            rep.files = total
        finally:
            self.shutdown()
        rep.published = self.ingestor.total.published
        rep.duplicates = self.ingestor.total.duplicates
        rep.fingerprinted = self.ingestor.total.fingerprinted
        rep.completed = self.runner.stats.by_type.get(self.pipeline.first_type, 0)
        rep.rejected = self.runner.stats.rejected
        rep.seconds = time.monotonic() - t0
        return rep

    def _pending_first_stage(self) -> int:
        """Ready or running first-stage tasks (deferred ones wait for the daemon)."""
        stage = self.pipeline.first
        q = queue_name(stage.device_class, stage.device)
        return len(self.spool.task_ids(q, ("ready", "claimed"), task_type=self.pipeline.first_type))

    # ------------------------------------------------------------------ state & status
    def _load_state(self) -> None:
        data = read_state(self.state_path)
        if data is None:
            return
        self.ingestor.import_state(data.get("inboxes") or {})
        self.chainer.import_state(data.get("chain") or {})

    def _save_state(self) -> None:
        inboxes, chain = self.ingestor.export_state(), self.chainer.export_state()
        try:
            write_state(self.state_path, self.spool.root, inboxes, chain)
            self.ingestor.mark_saved()
        except OSError as exc:
            log.warning("cannot save the state file %s: %s", self.state_path, exc)

    def _save_journal(self, queued: list[str]) -> None:
        """The index service's hook: see :func:`~spoold.server.localstate.write_journal`."""
        write_journal(self.journal_path, queued)

    def status(self, state: str = "running") -> dict[str, Any]:
        return {
            "state": state,
            "host": self.lease.me.host,
            "pid": self.lease.me.pid,
            "started_at": self.started_at,
            "updated_at": self.spool.server_now(),
            "videos": len(self.ingestor.index),
            "running": sorted(self.runner.running),
            "storage": self.storage.summary(),
            "inboxes": self.ingestor.summary(),
            "stats": asdict(self.runner.stats),
            "index": asdict(self.index.stats) if self.index.active else None,
        }

    def _write_status(self, state: str) -> None:
        try:
            self.lease.write_file("status.json", json.dumps(self.status(state), indent=1).encode())
        except OSError as exc:
            log.warning("cannot write %s: %s", self.lease.dir / "status.json", exc)
