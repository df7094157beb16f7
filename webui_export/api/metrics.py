"""``GET /metrics``: the pipeline in Prometheus text format (version 0.0.4).

Public API: :data:`bp` (the blueprint), :func:`render_metrics`.

Everything comes from the spool (names only, plus one read per queue for the oldest task) and
from recent complete records via :class:`~spoold.spool.activity.ActivityTracker`, so a scrape
every 15 s costs a few folder listings.  Counters that would need state across restarts are
exposed as "last hour" gauges instead: the spool, not this process, is the source of truth.
"""

from __future__ import annotations

import statistics
import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path

from flask import Blueprint, Response, current_app

from spoold.errors import SpoolError
from spoold.spool import Spool
from spoold.spool import inspect as spool_inspect
from spoold.spool.activity import ActivityTracker

bp = Blueprint("metrics", __name__)

_TRACKERS: dict[Path, ActivityTracker] = {}
_LOCK = threading.Lock()


def tracker_for(root: Path) -> ActivityTracker:
    """The process-wide activity tracker of a spool (it caches parsed complete records)."""
    with _LOCK:
        tr = _TRACKERS.get(root)
        if tr is None:
            tr = _TRACKERS[root] = ActivityTracker(Spool(root, fsync=False))
        return tr


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class _Out:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.declared: set[str] = set()

    def metric(self, name: str, kind: str, help_: str, value: float, **labels: str) -> None:
        if name not in self.declared:
            self.declared.add(name)
            self.lines.append(f"# HELP {name} {help_}")
            self.lines.append(f"# TYPE {name} {kind}")
        lab = ",".join(f'{k}="{_esc(v)}"' for k, v in sorted(labels.items()))
        self.lines.append(f"{name}{{{lab}}} {value:g}" if lab else f"{name} {value:g}")


def render_metrics(spool_root: Path) -> str:
    out = _Out()
    try:
        spool = Spool(spool_root, fsync=False)
        queues = spool_inspect.counts(spool)
        now = spool.server_now()
        recent = tracker_for(Path(spool_root)).recent(timedelta(hours=1))
        up = 1.0
    except SpoolError:
        queues, recent, now, up = [], [], 0.0, 0.0
    out.metric("spoold_spool_up", "gauge", "1 when the spool is mounted and readable.", up)
    for q in queues:
        for state, by_type in (
            ("ready", q.ready),
            ("deferred", q.deferred),
            ("claimed", q.claimed),
        ):
            for ttype, n in sorted(by_type.items()):
                out.metric(
                    "spoold_tasks",
                    "gauge",
                    "Pending tasks by place (ready, deferred = failing/backing off, claimed = running).",
                    n,
                    state=state,
                    queue=q.queue,
                    device_class=q.device_class,
                    task_type=ttype,
                )
        for device, n in sorted(q.claims_by_device.items()):
            out.metric(
                "spoold_claims",
                "gauge",
                "Tasks being run, by device.",
                n,
                device_class=q.device_class,
                device=device,
            )
        out.metric(
            "spoold_failing_tasks",
            "gauge",
            "Tasks waiting out a backoff after failures.",
            sum(q.deferred.values()),
            queue=q.queue,
            device_class=q.device_class,
        )
        out.metric(
            "spoold_stale_claims",
            "gauge",
            "Claims whose holder stopped heartbeating.",
            q.stale,
            queue=q.queue,
            device_class=q.device_class,
        )
        age = now - q.oldest_created_at if q.oldest_created_at else 0.0
        out.metric(
            "spoold_oldest_pending_seconds",
            "gauge",
            "Age of the task at the head of the queue (0 when empty).",
            max(0.0, age),
            queue=q.queue,
            device_class=q.device_class,
        )
    done = Counter((c.task_type, c.device_class) for c in recent)
    for (ttype, cls), n in sorted(done.items()):
        out.metric(
            "spoold_completed_last_hour",
            "gauge",
            "Tasks completed in the last hour.",
            n,
            task_type=ttype,
            device_class=cls,
        )
    ingests = [c for c in recent if c.task_type == "ingest"]
    out.metric(
        "spoold_ingested_videos_last_hour",
        "gauge",
        "Videos accepted by ingestion in the last hour.",
        sum(1 for c in ingests if not c.rejected),
    )
    out.metric(
        "spoold_rejected_videos_last_hour",
        "gauge",
        "Videos rejected by ingestion in the last hour.",
        sum(1 for c in ingests if c.rejected),
    )
    lat = sorted(c.since_pipeline_start_s for c in recent if c.task_type == "finalize")
    name = "spoold_finalize_latency_seconds"
    out.lines.append(f"# HELP {name} From a video's ingestion to its finalization, last hour.")
    out.lines.append(f"# TYPE {name} summary")
    for q_ in (0.5, 0.9, 0.99):
        v = lat[min(len(lat) - 1, int(q_ * len(lat)))] if lat else float("nan")
        out.lines.append(f'{name}{{quantile="{q_}"}} {v:g}')
    out.lines.append(f"{name}_sum {sum(lat):g}")
    out.lines.append(f"{name}_count {len(lat)}")
    if lat:
        out.metric(
            "spoold_finalize_latency_mean_seconds",
            "gauge",
            "Mean of the above.",
            statistics.fmean(lat),
        )
    return "\n".join(out.lines) + "\n"


@bp.get("/metrics")
def metrics() -> Response:
    root = current_app.config.get("SPOOL_ROOT")
    if not root:
        return Response(
            "# no SPOOL_ROOT configured: nothing to report\n",
            503,
            mimetype="text/plain; version=0.0.4",
        )
    return Response(render_metrics(Path(root)), mimetype="text/plain; version=0.0.4; charset=utf-8")
