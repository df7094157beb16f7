"""The main server's daemon: ``Daemon.tick(now)`` does one pass, ``run()`` loops it.

Public API: :class:`Daemon` (``start``, ``tick``, ``run``, ``stop``, ``shutdown``,
``backfill``), :class:`TickReport`, :class:`BackfillReport`, :func:`read_status`,
:func:`status_lines`, :func:`state_file`, :func:`finalize_journal`.

One pass (:meth:`Daemon.tick`), none of which waits on a NAS (every NAS call runs in its
root's threads, see :mod:`spoold.server.storage`):

1. storage roots: marker checks, hung calls; a root that returns gets its waiting tasks back;
2. the single-instance lease heartbeat (:mod:`spoold.spool.lease`);
3. ingestion: scans, stability, fingerprints, ingest tasks (:mod:`spoold.server.ingest`);
4. chaining: follow-ups of completed tasks (:class:`spoold.server.pipeline.Chainer`), every
   ``chain_interval_s``, and at once when a native observer of ``complete/`` (a spool on a
   local disk) reports a change, e.g. a device's completion, as long as chaining takes under
   a tenth of the loop (:data:`CHAIN_DUTY`);
5. periodic utility tasks (``cleanup``, ``index``), one per period, deterministic ids;
6. server tasks, claimed and run like on any device (:mod:`spoold.server.runner`,
   :mod:`spoold.server.executors`); then the stages of finalized videos whose tasks changed
   go to the index (:class:`spoold.server.pipeline.StageTracker`);
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
import hashlib
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from schemas.task import make_task_id, parse_task_id
from spoold.errors import SpoolError
from spoold.server.executors.index import IndexService
from spoold.server.ingest import Ingestor
from spoold.server.ingest.watch import Hints, start_observer
from spoold.server.pipeline import Chainer, Pipeline, StageTracker
from spoold.server.runner import ServerRunner
from spoold.server.scan import effective_watch
from spoold.server.sdnotify import Notifier
from spoold.server.settings import DaemonConfig
from spoold.server.storage import Storage
from spoold.spool import Spool, pid_alive, queue_name
from spoold.spool.lease import DaemonLease, DaemonLeaseLost
from spoold.worker.runtime import sweep_scratch

log = logging.getLogger(__name__)

STATE_VERSION = 1
UTILITIES = ("cleanup", "index")
#: Chain passes started by a completion event take at most this share of the loop: after a
#: pass that took d seconds, the next event-driven one waits d / CHAIN_DUTY (a big day folder
#: listed on every completion of a backlog would otherwise take the whole loop).
CHAIN_DUTY = 0.1


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


def state_file(cfg: DaemonConfig, spool: Spool) -> Path:
    """The daemon's local cache for this spool (fingerprints, chain watermarks)."""
    key = hashlib.sha1(str(spool.root.resolve()).encode()).hexdigest()[:12]
    return cfg.state_dir() / f"daemon-{key}.json"


def finalize_journal(cfg: DaemonConfig, spool: Spool) -> Path:
    """Which claimed finalize tasks wait for a batch (see ``IndexService``), next to the cache."""
    state = state_file(cfg, spool)
    return state.with_name(f"{state.stem}.finalize-queue.json")


def _stop_observer(obs: Any) -> None:
    """Stop a watchdog observer (no join, like the inboxes' observers), if any."""
    if obs is not None and obs != "scan":
        try:
            obs.stop()
        except Exception as exc:
            log.debug("stopping the observer of complete/: %s", exc)


def _local_tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def _write_local(path: Path, data: Any) -> None:
    """Replace one of the daemon's local files (outside the spool) with ``data`` as JSON, by
    temp file and rename; no fsync: they matter after a kill, and a lost one is rebuilt."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _local_tmp(path)
    tmp.write_text(json.dumps(data, separators=(",", ":")))
    os.replace(tmp, path)


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
        # Changes in complete/ reported by a native observer (None: chaining on its timer).
        self._completions: Hints | None = None
        self._completions_observer: Any = None
        self._chain_next_event = -1e18  # no event-driven chain pass before this (CHAIN_DUTY)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Take the lease (:class:`~spoold.spool.lease.DaemonRunning` if held), load the cache,
        look at every storage root, rebuild the video index."""
        self.lease.acquire()
        try:
            sweep_scratch()  # server-side commands' scratch folders, if we were killed
            try:  # before any claim; best effort: without it those tasks are only charged
                self._take_back_queued()
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
            self._watch_completions()
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
        obs, self._completions_observer = self._completions_observer, None
        _stop_observer(obs)
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
            self._chain_next_event = now + (time.monotonic() - started) / CHAIN_DUTY
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
        hints = self._completions
        if hints is None:
            return False
        if now < self._chain_next_event:
            return False  # the timer, or the next wake after the duty pause, runs it
        if not hints.take():
            return False
        self._due["chain"] = now + self.cfg.daemon.chain_interval_s
        return True

    def _watch_completions(self) -> None:
        """Start a native observer of ``complete/`` in a thread (it walks the day folders),
        when the spool is on a local disk; on a share inotify does not see the devices'
        completions (other clients), so chaining stays on ``chain_interval_s`` there."""
        folder = self.spool.layout.complete
        if effective_watch("auto", folder) != "native":
            return
        hints = Hints(folder, self.wake.set, track_files=False)

        def start() -> None:
            try:
                obs = start_observer("native", folder, 1.0, hints)
            except Exception as exc:  # e.g. the inotify limits: the timer still chains
                log.warning("cannot watch %s (%s): chaining every chain_interval_s", folder, exc)
                return
            self._completions_observer, self._completions = obs, hints
            if not self.started:  # stopped meanwhile
                _stop_observer(obs)

        threading.Thread(target=start, name="watch complete/", daemon=True).start()

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
        try:
            data = json.loads(self.state_path.read_bytes())
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            log.warning(
                "state file %s unreadable (%s): starting with a cold cache", self.state_path, exc
            )
            return
        if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
            return
        self.ingestor.import_state(data.get("inboxes") or {})
        self.chainer.import_state(data.get("chain") or {})

    def _save_state(self) -> None:
        data = {
            "version": STATE_VERSION,
            "spool": str(self.spool.root),
            "inboxes": self.ingestor.export_state(),
            "chain": self.chainer.export_state(),
        }
        try:
            _write_local(self.state_path, data)
            self.ingestor.mark_saved()
        except OSError as exc:
            log.warning("cannot save the state file %s: %s", self.state_path, exc)

    def _save_journal(self, queued: list[str]) -> None:
        """Record the finalize claims that only wait for an index batch (called by the index
        service whenever they change, and before a batch starts: from then on they ran)."""
        path = self.journal_path
        try:
            _write_local(path, {"pid": os.getpid(), "queued": queued})
        except OSError as exc:
            # A journal we cannot update must not survive: a stale one would spare tasks
            # that did run.  Without one, every held claim is charged, as without batches.
            log.warning("cannot write %s (%s): removing it", path, exc)
            for p in (_local_tmp(path), path):
                try:
                    p.unlink(missing_ok=True)
                except OSError as again:
                    log.error("cannot remove %s either: %s", p, again)

    def _take_back_queued(self) -> int:
        """Put back, without counting an attempt, the finalize claims that a killed daemon
        of this device (the journal's pid, dead) held only in its batch queue: they never
        ran.  Before the first claim, which would charge them all.  Returns how many."""
        path, device = self.journal_path, self.runner.device
        try:
            data = json.loads(path.read_bytes())
            pid, queued = int(data["pid"]), set(data["queued"])
        except FileNotFoundError:
            return 0
        except (OSError, ValueError, TypeError, KeyError) as exc:
            log.warning("ignoring the finalize journal %s: %s", path, exc)
            pid, queued = 0, set()
        n = 0
        if queued and pid != os.getpid() and not pid_alive(pid):
            for queue in sorted({"server", queue_name("server", device)}):
                for cn, age, kind in self.spool.stale_claims(queue, device):
                    if cn.device == device and cn.pid == pid and cn.task_id in queued:
                        n += self.spool.break_claim(queue, cn, kind, age, device, charge=False)
        path.unlink(missing_ok=True)
        if n:
            log.info("put back %d finalize task(s) the killed daemon had only queued", n)
        return n

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


def read_status(spool: Spool, lease_s: float | None = None) -> dict[str, Any] | None:
    """What ``spoold status`` shows about the daemon: its lease and last status (or None)."""
    lease = DaemonLease(spool, lease_s or 30.0)
    holder = lease.holder()
    try:
        data: dict[str, Any] = json.loads((lease.dir / "status.json").read_bytes())
    except (OSError, ValueError):
        data = {}
    if holder is None and not data:
        return None
    if holder is not None:
        h, age = holder
        data["lease"] = {"host": h.host, "pid": h.pid, "heartbeat_age_s": round(age, 1)}
        data["alive"] = age <= (lease_s or 30.0) and data.get("state") != "stopped"
    else:
        data["alive"] = False
    return data


def status_lines(st: dict[str, Any] | None) -> list[str]:
    """Human lines for ``spoold status``: the daemon, storage outages, inbox problems."""
    if st is None:
        return ["daemon: never ran on this spool"]
    lease = st.get("lease") or {}
    if st.get("alive"):
        head = (
            f"daemon: running, pid {lease.get('pid')} on {lease.get('host')} "
            f"(heartbeat {lease.get('heartbeat_age_s')} s ago), {st.get('videos', 0)} videos, "
            f"{len(st.get('running') or [])} server task(s) running"
        )
    else:
        head = f"daemon: not running (last seen on {st.get('host', '?')}, pid {st.get('pid', '?')})"
    lines = [head]
    for name, s in sorted((st.get("storage") or {}).items()):
        if s.get("state") != "ok":
            since = datetime.fromtimestamp(s.get("since", 0), timezone.utc).strftime(
                "%Y-%m-%d %H:%M:%SZ"
            )
            lines.append(f"  storage {name}: {s.get('state')} since {since}: {s.get('message')}")
    for name, b in sorted((st.get("inboxes") or {}).items()):
        if b.get("problem"):
            lines.append(f"  inbox {name}: {b['problem']}")
    return lines
