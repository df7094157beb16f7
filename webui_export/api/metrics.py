"""``GET /metrics``: the pipeline for Prometheus, exposed with ``prometheus_client``.

Public API: :data:`bp` (the blueprint), :class:`SpooldCollector`, :func:`render_metrics`,
:data:`CONTENT_TYPE`, :func:`tracker_for` (the dashboard's recent-activity reader).

Nothing is counted in this process: :class:`SpooldCollector` reads the spool and the index at
scrape time, so every gunicorn worker answers the same numbers and a restart loses nothing.
Counters (``*_total``, and the finalize latency histogram) are sums over the spool's complete
records, which only ever accumulate (a requeued task leaves ``complete/``; Prometheus reads the
drop as a counter reset).  A complete record never changes, so each process parses a record
once: a scrape re-lists only the ``complete/DAY/`` folders whose version changed
(:meth:`spoold.spool.Spool.day_version`); the first scrape after a start reads them all.
Gauges are the spool's present state (queue contents by state, claims, the daemon's lease
heartbeat) and the published index (generation, rows).  Every known state of a series is
emitted, zero included, so a queue that empties reads 0 instead of vanishing.
"""

from __future__ import annotations

import platform
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import get_args

from flask import Blueprint, Response, current_app
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

import spoold
from schemas.task import STAMP_FORMAT, AttemptKind
from spoold.errors import InvalidTaskFile, SpoolError
from spoold.spool import Spool
from spoold.spool import inspect as spool_inspect
from spoold.spool.activity import ActivityTracker
from spoold.spool.layout import ClaimName
from spoold.spool.lease import DaemonLease
from webui_export.index import files as index_files

bp = Blueprint("metrics", __name__)

#: prometheus_client's own exposition content type, sent unchanged.
CONTENT_TYPE = CONTENT_TYPE_LATEST
#: The places a pending task can be in (spool_layout.md): ready, deferred (failing, backing
#: off), claimed (running).
TASK_STATES = ("ready", "deferred", "claimed")
ATTEMPT_KINDS: tuple[str, ...] = get_args(AttemptKind)
#: Finalize latency buckets (seconds from ingestion to finalization): minutes to a day.
LATENCY_BUCKETS = (60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 21600.0, 86400.0)


@dataclass(frozen=True)
class _Record:
    """What the counters need from one complete record."""

    task_type: str
    completed_by: str | None
    completed_at: float
    failed: tuple[str, ...]  # kinds of the attempts before it completed
    rejected: bool  # an ingest that refused its video
    since_start_s: float  # from the pipeline's first stamp (the id) to completion


def _summarize(spool: Spool, task_id: str) -> _Record | None:
    try:
        task = spool.read(spool.layout.completed(task_id))
    except (InvalidTaskFile, OSError):
        return None  # `spoold check` reports it; the completion itself is still counted
    if task.completed_at is None:
        return None
    done = task.completed_at.timestamp()
    started = datetime.strptime(task_id[:16], STAMP_FORMAT).replace(tzinfo=timezone.utc)
    return _Record(
        task.task_type,
        task.completed_by,
        done,
        tuple(a.kind for a in task.attempts),
        bool(task.result and task.result.get("rejected")),
        done - started.timestamp(),
    )


class _CompleteRecords:
    """Per-process cache of the complete records of one spool, refreshed per changed day."""

    def __init__(self) -> None:
        self._days: dict[str, tuple[int, dict[str, _Record | None]]] = {}
        self._lock = threading.Lock()

    def refresh(self, spool: Spool) -> dict[str, _Record | None]:
        """Every completed task id -> its summary (None when the record does not parse)."""
        with self._lock:
            days = spool.complete_days()
            for gone in set(self._days) - set(days):
                del self._days[gone]
            for day in days:
                version = spool.day_version(day)
                cached = self._days.get(day)
                if version is None or (cached is not None and cached[0] == version):
                    continue
                old = cached[1] if cached else {}
                ids = spool.completed_ids(day)
                self._days[day] = (
                    version,
                    {tid: old[tid] if tid in old else _summarize(spool, tid) for tid in ids},
                )
            return {tid: rec for _, recs in self._days.values() for tid, rec in recs.items()}


_RECORDS: dict[Path, _CompleteRecords] = {}
_TRACKERS: dict[Path, ActivityTracker] = {}
_LOCK = threading.Lock()


def _records_for(root: Path) -> _CompleteRecords:
    with _LOCK:
        return _RECORDS.setdefault(root, _CompleteRecords())


def tracker_for(root: Path) -> ActivityTracker:
    """The process-wide activity tracker of a spool (it caches parsed complete records)."""
    with _LOCK:
        tr = _TRACKERS.get(root)
        if tr is None:
            tr = _TRACKERS[root] = ActivityTracker(Spool(root, fsync=False))
        return tr


class SpooldCollector:
    """A ``prometheus_client`` collector reading the spool and the index at each scrape."""

    def __init__(self, spool_root: Path | None, index_dir: Path | None) -> None:
        self.spool_root = spool_root
        self.index_dir = index_dir

    def collect(self) -> Iterator[Metric]:
        build = InfoMetricFamily("spoold_build", "The spoold version serving these metrics.")
        build.add_metric([], {"version": spoold.__version__, "python": platform.python_version()})
        yield build
        yield from self._spool()
        yield from self._index()

    # ------------------------------------------------------------------ spool
    def _spool(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "spoold_spool_up", "1 when the spool is configured, mounted and readable."
        )
        if self.spool_root is None:
            up.add_metric([], 0)
            yield up
            return
        try:
            spool = Spool(self.spool_root, fsync=False)
            queues = spool_inspect.counts(spool)
            now = spool.server_now()
            records = _records_for(self.spool_root).refresh(spool)
            holder = DaemonLease(spool).holder()
            stale = {q.queue: spool.stale_claims(q.queue) for q in queues if q.claimed}
        except (SpoolError, OSError):
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from self._queues(queues, now)
        yield from self._completions(records)
        yield from self._devices(queues, stale, records, now)
        lease = GaugeMetricFamily(
            "spoold_daemon_lease_held", "1 while a daemon holds the spool's lease file."
        )
        lease.add_metric([], 1 if holder else 0)
        yield lease
        age = GaugeMetricFamily(
            "spoold_daemon_heartbeat_age_seconds",
            "Server seconds since the daemon last renewed its lease (absent when none holds it).",
            labels=["host"],
        )
        if holder is not None:
            age.add_metric([holder[0].host], max(0.0, holder[1]))
        yield age

    def _queues(self, queues: list[spool_inspect.QueueCounts], now: float) -> Iterator[Metric]:
        labels = ["device_class", "queue"]
        tasks = GaugeMetricFamily(
            "spoold_tasks",
            "Pending tasks by state (ready, deferred = failing/backing off, claimed = running).",
            labels=[*labels, "state", "task_type"],
        )
        claims = GaugeMetricFamily(
            "spoold_claims", "Tasks being run, by device.", labels=["device", "device_class"]
        )
        failing = GaugeMetricFamily(
            "spoold_failing_tasks", "Tasks waiting out a backoff after failures.", labels=labels
        )
        stale = GaugeMetricFamily(
            "spoold_stale_claims", "Claims whose holder stopped heartbeating.", labels=labels
        )
        oldest = GaugeMetricFamily(
            "spoold_oldest_pending_seconds",
            "Age of the task at the head of the queue (0 when empty).",
            labels=labels,
        )
        for q in queues:
            types = sorted(set(q.ready) | set(q.deferred) | set(q.claimed))
            for state, by_type in zip(TASK_STATES, (q.ready, q.deferred, q.claimed), strict=True):
                for ttype in types:
                    tasks.add_metric([q.device_class, q.queue, state, ttype], by_type.get(ttype, 0))
            for device, n in sorted(q.claims_by_device.items()):
                claims.add_metric([device, q.device_class], n)
            failing.add_metric([q.device_class, q.queue], sum(q.deferred.values()))
            stale.add_metric([q.device_class, q.queue], q.stale)
            age = now - q.oldest_created_at if q.oldest_created_at else 0.0
            oldest.add_metric([q.device_class, q.queue], max(0.0, age))
        yield from (tasks, claims, failing, stale, oldest)

    def _completions(self, records: dict[str, _Record | None]) -> Iterator[Metric]:
        done: Counter[str] = Counter(tid.split("-")[1] for tid in records)
        completed = CounterMetricFamily(
            "spoold_tasks_completed",
            "Tasks completed (records in the spool's complete/), by task type.",
            labels=["task_type"],
        )
        for ttype, n in sorted(done.items()):
            completed.add_metric([ttype], n)
        yield completed
        failed: Counter[tuple[str, str]] = Counter()
        for rec in records.values():
            if rec is not None:
                failed.update((rec.task_type, kind) for kind in rec.failed)
        attempts = CounterMetricFamily(
            "spoold_task_failed_attempts",
            "Failed or interrupted attempts of tasks that then completed, by task type and kind.",
            labels=["task_type", "kind"],
        )
        for ttype in sorted(done):
            for kind in ATTEMPT_KINDS:
                attempts.add_metric([ttype, kind], failed[ttype, kind])
        yield attempts
        ingests = [r for r in records.values() if r is not None and r.task_type == "ingest"]
        videos = CounterMetricFamily(
            "spoold_videos_ingested",
            "Videos ingestion decided on, by outcome (accepted, rejected).",
            labels=["outcome"],
        )
        rejected = sum(1 for r in ingests if r.rejected)
        videos.add_metric(["accepted"], len(ingests) - rejected)
        videos.add_metric(["rejected"], rejected)
        yield videos
        lat = [r.since_start_s for r in records.values() if r and r.task_type == "finalize"]
        buckets = [(_le(b), float(sum(1 for v in lat if v <= b))) for b in LATENCY_BUCKETS]
        latency = HistogramMetricFamily(
            "spoold_finalize_latency_seconds",
            "From a video's ingestion (its task id's stamp) to its finalization.",
            buckets=[*buckets, ("+Inf", float(len(lat)))],
            sum_value=float(sum(lat)),
        )
        yield latency

    def _devices(
        self,
        queues: list[spool_inspect.QueueCounts],
        stale: dict[str, list[tuple[ClaimName, float, AttemptKind]]],
        records: dict[str, _Record | None],
        now: float,
    ) -> Iterator[Metric]:
        seen: dict[str, float] = {}
        for rec in records.values():
            if rec is not None and rec.completed_by:
                seen[rec.completed_by] = max(seen.get(rec.completed_by, 0.0), rec.completed_at)
        for q in queues:
            dead = Counter(c.device for c, _, _ in stale.get(q.queue, []))
            for device, n in q.claims_by_device.items():
                if n > dead[device]:
                    seen[device] = now  # it renews a live claim: seen within its lease
        last = GaugeMetricFamily(
            "spoold_device_last_seen_timestamp_seconds",
            "When each device last completed a task, or now while it holds a live claim "
            "(server time, Unix seconds).",
            labels=["device"],
        )
        for device, t in sorted(seen.items()):
            last.add_metric([device], t)
        yield last

    # ------------------------------------------------------------------ index
    def _index(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("spoold_index_up", "1 when a published index snapshot is readable.")
        manifest = None
        if self.index_dir is not None:
            try:
                manifest = index_files.read_manifest(self.index_dir)
            except (OSError, ValueError):
                manifest = None
        up.add_metric([], 1 if manifest else 0)
        yield up
        generation = GaugeMetricFamily(
            "spoold_index_generation", "The published index snapshot's generation number."
        )
        rows = GaugeMetricFamily(
            "spoold_index_rows", "Rows in the published index, by table.", labels=["table"]
        )
        if manifest is not None:
            generation.add_metric([], manifest.generation)
            for table, n in sorted(manifest.counts.items()):
                rows.add_metric([table], n)
        yield generation
        yield rows


def _le(bound: float) -> str:
    return f"{bound:.1f}"


def render_metrics(spool_root: Path | None, index_dir: Path | None = None) -> bytes:
    """The exposition text of one scrape (what ``GET /metrics`` answers)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SpooldCollector(spool_root, index_dir))
    return generate_latest(registry)


@bp.get("/metrics")
def metrics() -> Response:
    root = current_app.config.get("SPOOL_ROOT")
    index_dir = current_app.config.get("INDEX_DIR")
    body = render_metrics(Path(root) if root else None, Path(index_dir) if index_dir else None)
    return Response(body, headers={"Content-Type": CONTENT_TYPE})
