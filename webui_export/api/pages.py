"""The operator's console: ``/`` (a page shell) and ``/ops/panel`` (its data, an HTML fragment).

Public API: :data:`bp` (the blueprint).

The panel shows per-queue depth by stage (a queue with work that no live device serves is
flagged), the devices (last claim or completion, what each runs now), throughput over the last
hour, failing tasks with their last error and retry time, and recent videos (rejected ones
among them, with that status).  Data comes from the spool (live, through the spool's
inspect/activity helpers) and the published index snapshot; either may be missing, and the
panel says so instead of failing.  The shell holds no data (it loads without a token);
``static/ui/ops.js`` fetches the panel with the bearer token and refreshes it in place,
keeping the scroll position, together with the page's "Rejected videos" section, which it
reads from the public API (``/api/videos?status=rejected``), not from the panel.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from flask import Blueprint, current_app, render_template_string

from spoold.errors import SpoolError
from spoold.spool import Spool, queue_class
from spoold.spool import inspect as spool_inspect
from spoold.spool.activity import Completion
from spoold.spool.display import format_age
from webui_export.api import queries
from webui_export.api.db import get_db
from webui_export.api.metrics import tracker_for
from webui_export.api.ui import render_page
from webui_export.errors import SnapshotUnavailable

bp = Blueprint("dashboard", __name__)

#: A device that claimed or completed a task within this long counts as live.
LIVE_WITHIN = timedelta(minutes=15)

_PANEL = """
<div class="grid">
<section id="queues"><h2>Queues</h2>
{% if not spool_ok %}<p class="bad">{{ spool_error }}</p>{% else %}
<div class="scroll"><table><thead><tr><th scope="col">queue</th><th scope="col">stage</th><th class="n" scope="col">ready</th>
<th class="n" scope="col">running</th><th class="n" scope="col">failing</th><th scope="col">oldest pending</th></tr></thead><tbody>
{% for r in queue_rows %}<tr><td>{{ r.queue }}{% if r.unserved %} <strong class="bad">no live device</strong>{% endif %}</td>
<td>{{ r.stage }}</td><td class="n">{{ r.ready }}</td>
<td class="n">{{ r.claimed }}</td><td class="n {{ 'bad' if r.deferred }}">{{ r.deferred }}</td><td>{{ r.oldest }}</td></tr>
{% else %}<tr><td colspan="6" class="muted">no pending tasks</td></tr>{% endfor %}
</tbody></table></div>{% endif %}</section>
<section id="devices"><h2>Devices (last 48 h)</h2>
<div class="scroll"><table><thead><tr><th scope="col">device</th><th scope="col">class</th><th scope="col">running now</th>
<th scope="col">last claim (heartbeat)</th><th scope="col">last completion</th></tr></thead><tbody>
{% for d in devices %}<tr><td>{{ d.device }}</td><td>{{ d.classes }}</td>
<td>{% for t in d.running %}<code>{{ t }}</code><br>{% else %}<span class="muted">idle</span>{% endfor %}</td>
<td>{{ d.last_claim }}</td><td>{{ d.last_completion }}</td></tr>
{% else %}<tr><td colspan="5" class="muted">no device claimed or completed a task</td></tr>{% endfor %}
</tbody></table></div></section>
</div>
<section id="failing"><h2>Failing tasks</h2>
<div class="scroll"><table><thead><tr><th scope="col">task</th><th class="n" scope="col">attempts</th><th scope="col">last device</th>
<th scope="col">last error</th><th scope="col">retry at (UTC)</th></tr></thead><tbody>
{% for f in failing %}<tr><td><code>{{ f.task_id }}</code></td><td class="n">{{ f.attempts }}</td><td>{{ f.device }}</td>
<td class="bad">{{ f.error }}</td><td>{{ f.not_before }}</td></tr>
{% else %}<tr><td colspan="5" class="muted">no failing tasks</td></tr>{% endfor %}</tbody></table></div></section>
<div class="grid">
<section id="throughput"><h2>Throughput, last hour</h2>
<svg class="bars" width="400" height="90" viewBox="0 0 400 90" role="img" aria-label="completions per 5 minutes">
{% for b in bins %}<rect class="bar" x="{{ b.x }}" y="{{ b.y }}" width="30" height="{{ b.h }}"><title>{{ b.n }} completed</title></rect>{% endfor %}
</svg>
<div class="scroll"><table><thead><tr><th scope="col">stage</th><th scope="col">class</th><th class="n" scope="col">completed</th></tr></thead><tbody>
{% for r in done_rows %}<tr><td>{{ r[0] }}</td><td>{{ r[1] }}</td><td class="n">{{ r[2] }}</td></tr>
{% else %}<tr><td colspan="3" class="muted">nothing completed in the last hour</td></tr>{% endfor %}</tbody></table></div>
</section>
</div>
<section id="recent"><h2>Recent videos</h2>
{% if index_error %}<p class="muted">{{ index_error }}</p>{% endif %}
<div class="scroll"><table><thead><tr><th scope="col">video</th><th scope="col">vehicle</th><th scope="col">brand</th><th scope="col">channel</th>
<th scope="col">start</th><th scope="col">status</th><th class="n" scope="col">plates</th></tr></thead><tbody>
{% for v in videos %}<tr><td><a href="/videos/{{ v.video_id }}">{{ v.path or v.video_id }}</a></td><td>{{ v.vehicle }}</td><td>{{ v.brand }}</td>
<td>{{ v.channel }}</td><td>{{ (v.start or "-")[:19] }}</td><td class="{{ 'bad' if v.status in ('failed', 'rejected') }}">{{ v.status }}</td>
<td class="n">{{ v.counts.plate_reads }}</td></tr>
{% else %}<tr><td colspan="7" class="muted">no finalized videos yet</td></tr>{% endfor %}</tbody></table></div></section>
<p class="muted" id="panel-stamp">spool {{ spool_root }} · {{ stamp }} UTC</p>
"""


def _spool() -> Spool | None:
    root = current_app.config.get("SPOOL_ROOT")
    return Spool(root, fsync=False) if root else None


def _queue_rows(spool: Spool) -> list[dict[str, Any]]:
    now = spool.server_now()
    rows = []
    for q in spool_inspect.counts(spool):
        stages = sorted(set(q.ready) | set(q.deferred) | set(q.claimed))
        for i, stage in enumerate(stages):
            oldest = "-"
            if i == 0 and q.oldest_created_at:
                oldest = f"{format_age(now - q.oldest_created_at)} ({q.oldest_task_id})"
            rows.append(
                {
                    "queue": q.queue,
                    "stage": stage,
                    "ready": q.ready.get(stage, 0),
                    "claimed": q.claimed.get(stage, 0),
                    "deferred": q.deferred.get(stage, 0),
                    "oldest": oldest,
                }
            )
    return rows


def _failing(spool: Spool, limit: int = 50) -> list[dict[str, Any]]:
    return [
        {
            "task_id": t.task_id,
            "attempts": len(t.attempts),
            "device": t.attempts[-1].device,
            "error": spool_inspect.last_error_line(t)[:200],
            "not_before": t.not_before.strftime("%Y-%m-%d %H:%M:%S") if t.not_before else "now",
        }
        for t in spool_inspect.failing(spool, limit)
    ]


def _bins(recent: list[Any], now: datetime) -> list[dict[str, float]]:
    counts = [0] * 12
    for c in recent:
        i = int((now - c.completed_at).total_seconds() // 300)
        if 0 <= i < 12:
            counts[11 - i] += 1
    top = max(counts) or 1
    return [
        {"x": 4 + 33 * i, "h": 80 * n / top, "y": 85 - 80 * n / top, "n": n}
        for i, n in enumerate(counts)
    ]


@dataclass
class _Device:
    device: str
    classes: set[str]
    running: list[str]
    last_claim: float | None = None
    last_completion: datetime | None = None


def _devices(spool: Spool, recent: list[Completion]) -> list[_Device]:
    """Each device seen claiming (now) or completing (in ``recent``), most recent first."""
    found: dict[str, _Device] = {}
    for entry in spool_inspect.iter_entries(spool, complete=False, read=False):
        if entry.claim is None:
            continue
        d = found.setdefault(entry.claim.device, _Device(entry.claim.device, set(), []))
        d.classes.add(queue_class(entry.queue or "?"))
        d.running.append(entry.task_id)
        try:
            mtime = entry.path.stat().st_mtime  # a heartbeat touches the claim file
        except FileNotFoundError:
            continue  # completed meanwhile
        d.last_claim = max(d.last_claim or 0.0, mtime)
    for c in recent:
        if not c.completed_by:
            continue
        d = found.setdefault(c.completed_by, _Device(c.completed_by, set(), []))
        d.classes.add(c.device_class)
        if d.last_completion is None or c.completed_at > d.last_completion:
            d.last_completion = c.completed_at

    def latest(d: _Device) -> float:
        done = d.last_completion.timestamp() if d.last_completion else 0.0
        return max(d.last_claim or 0.0, done)

    return sorted(found.values(), key=latest, reverse=True)


def _live_classes(devices: list[_Device], now: datetime) -> set[str]:
    cutoff = (now - LIVE_WITHIN).timestamp()
    live: set[str] = set()
    for d in devices:
        done = d.last_completion.timestamp() if d.last_completion else 0.0
        if d.running or max(d.last_claim or 0.0, done) >= cutoff:
            live |= d.classes
    return live


def _when(ts: float | datetime | None, now: datetime) -> str:
    if ts is None:
        return "-"
    at = ts if isinstance(ts, datetime) else datetime.fromtimestamp(ts, timezone.utc)
    return f"{at:%Y-%m-%d %H:%M:%S} ({format_age((now - at).total_seconds())} ago)"


def _spool_context(spool: Spool) -> dict[str, Any]:
    tracker = tracker_for(Path(spool.root))
    now = spool.now_dt()
    hour = tracker.recent(timedelta(hours=1))
    two_days = tracker.recent(timedelta(hours=48))
    done: dict[tuple[str, str], int] = {}
    for c in hour:
        done[(c.task_type, c.device_class)] = done.get((c.task_type, c.device_class), 0) + 1
    devices = _devices(spool, two_days)
    live = _live_classes(devices, now)
    queue_rows = _queue_rows(spool)
    for r in queue_rows:
        cls = queue_class(r["queue"])
        # server tasks run in the daemon itself, which never shows up as a claiming device
        # until it claims; flag only device classes with ready work and no live device
        r["unserved"] = bool(r["ready"]) and cls != "server" and cls not in live
    return {
        "spool_ok": True,
        "queue_rows": queue_rows,
        "failing": _failing(spool),
        "bins": _bins(hour, now),
        "done_rows": sorted((k[0], k[1], n) for k, n in done.items()),
        "devices": [
            {
                "device": d.device,
                "classes": ", ".join(sorted(d.classes)),
                "running": d.running,
                "last_claim": _when(d.last_claim, now),
                "last_completion": _when(d.last_completion, now),
            }
            for d in devices
        ],
    }


@bp.get("/")
def overview() -> str:
    return render_page("ui/ops.html", "pipeline")


@bp.get("/ops/panel")
def panel() -> str:
    ctx: dict[str, Any] = {
        "spool_ok": False,
        "spool_error": "no SPOOL_ROOT configured",
        "queue_rows": [],
        "devices": [],
        "failing": [],
        "bins": [],
        "done_rows": [],
        "videos": [],
        "index_error": None,
    }
    spool = None
    try:
        spool = _spool()
    except SpoolError as exc:
        ctx["spool_error"] = str(exc)
    if spool is not None:
        try:
            ctx.update(_spool_context(spool))
        except SpoolError as exc:
            ctx.update(spool_ok=False, spool_error=str(exc))
    try:
        ctx["videos"], _ = queries.list_videos(get_db(), queries.VideoFilters(), 20, None, True)
    except SnapshotUnavailable as exc:
        ctx["index_error"] = str(exc)
    return render_template_string(
        _PANEL,
        spool_root=spool.root if spool else "-",
        stamp=f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M:%S}",
        **ctx,
    )
