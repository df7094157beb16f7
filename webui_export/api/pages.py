"""The operator's console: server-rendered HTML pages (no build step, no external CDN).

Public API: :data:`bp` (the blueprint: ``GET /`` overview, ``GET /videos/<id>`` a video page).

The overview shows per-queue depth by stage, the oldest pending task, throughput over the
last hour, failing tasks with their last error, and recent and rejected videos.  A video page
draws its GPS track as inline SVG and lists its plate sightings.  Data comes from the spool
(live) and the published index snapshot (finalized videos); either may be missing, and the
page says so instead of failing.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from flask import Blueprint, abort, current_app, render_template_string

from spoold.errors import SpoolError
from spoold.spool import Spool
from spoold.spool import inspect as spool_inspect
from spoold.spool.display import format_age
from webui_export.api import queries
from webui_export.api.db import get_db
from webui_export.api.metrics import tracker_for
from webui_export.errors import SnapshotUnavailable

bp = Blueprint("dashboard", __name__)

_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2330;background:#f5f6f8}
header{background:#1d2330;color:#fff;padding:10px 20px;display:flex;gap:24px;align-items:baseline}
header h1{font-size:18px;margin:0} header a{color:#9cc3ff} main{padding:16px 20px;display:grid;gap:16px}
section{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:12px 16px}
h2{font-size:15px;margin:0 0 8px} table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eef0f3;vertical-align:top}
th{font-weight:600;color:#56607a} td.n{text-align:right;font-variant-numeric:tabular-nums}
.bad{color:#b3261e} .ok{color:#1e7d32} .muted{color:#8a93a6} code{font-size:12px}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:16px}
svg{background:#eef3f8;border-radius:4px} .bar{fill:#4a7bd0}
"""

_BASE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }} · spoold</title><style>{{ style }}</style></head><body>
<header><h1><a href="/" style="color:#fff;text-decoration:none">spoold</a></h1>
<span>{{ subtitle }}</span></header><main>{{ body | safe }}</main></body></html>"""

_OVERVIEW = """
<div class="grid">
<section id="queues"><h2>Queues</h2>
{% if not spool_ok %}<p class="bad">{{ spool_error }}</p>{% else %}
<table><tr><th>queue</th><th>stage</th><th class="n">ready</th><th class="n">running</th>
<th class="n">failing</th><th>oldest pending</th></tr>
{% for r in queue_rows %}<tr><td>{{ r.queue }}</td><td>{{ r.stage }}</td><td class="n">{{ r.ready }}</td>
<td class="n">{{ r.claimed }}</td><td class="n {{ 'bad' if r.deferred }}">{{ r.deferred }}</td><td>{{ r.oldest }}</td></tr>
{% else %}<tr><td colspan="6" class="muted">no pending tasks</td></tr>{% endfor %}
</table>{% endif %}</section>
<section id="throughput"><h2>Throughput, last hour</h2>
<svg width="400" height="90" viewBox="0 0 400 90" role="img" aria-label="completions per 5 minutes">
{% for b in bins %}<rect class="bar" x="{{ b.x }}" y="{{ b.y }}" width="30" height="{{ b.h }}"><title>{{ b.n }} completed</title></rect>{% endfor %}
</svg>
<table><tr><th>stage</th><th>class</th><th class="n">completed</th></tr>
{% for r in done_rows %}<tr><td>{{ r[0] }}</td><td>{{ r[1] }}</td><td class="n">{{ r[2] }}</td></tr>
{% else %}<tr><td colspan="3" class="muted">nothing completed in the last hour</td></tr>{% endfor %}</table>
</section>
</div>
<section id="failing"><h2>Failing tasks</h2>
<table><tr><th>task</th><th class="n">attempts</th><th>last device</th><th>last error</th><th>retry at</th></tr>
{% for f in failing %}<tr><td><code>{{ f.task_id }}</code></td><td class="n">{{ f.attempts }}</td><td>{{ f.device }}</td>
<td class="bad">{{ f.error }}</td><td>{{ f.not_before }}</td></tr>
{% else %}<tr><td colspan="5" class="muted">no failing tasks</td></tr>{% endfor %}</table></section>
<div class="grid">
<section id="recent"><h2>Recent videos</h2>
{% if index_error %}<p class="muted">{{ index_error }}</p>{% endif %}
<table><tr><th>video</th><th>brand</th><th>channel</th><th>start</th><th>status</th><th class="n">plates</th></tr>
{% for v in videos %}<tr><td><a href="/videos/{{ v.video_id }}">{{ v.path or v.video_id }}</a></td><td>{{ v.brand }}</td>
<td>{{ v.channel }}</td><td>{{ (v.start or "-")[:19] }}</td><td>{{ v.status }}</td><td class="n">{{ v.counts.plate_reads }}</td></tr>
{% else %}<tr><td colspan="6" class="muted">no finalized videos yet</td></tr>{% endfor %}</table></section>
<section id="rejected"><h2>Rejected videos (48 h)</h2>
<table><tr><th>when</th><th>task</th><th>reason</th></tr>
{% for r in rejected %}<tr><td>{{ r.when }}</td><td><code>{{ r.task_id }}</code></td><td class="bad">{{ r.reason }}</td></tr>
{% else %}<tr><td colspan="3" class="muted">none</td></tr>{% endfor %}</table></section>
</div>
"""

_VIDEO = """
<section id="meta"><h2>{{ v.path or v.video_id }}</h2>
<table>{% for k in keys %}{% if v.get(k) is not none %}<tr><th>{{ k }}</th><td>{{ v[k] }}</td></tr>{% endif %}{% endfor %}</table>
</section>
<div class="grid">
<section id="track"><h2>GPS track</h2>
{% if track %}<svg width="{{ track.w }}" height="{{ track.h }}" viewBox="0 0 {{ track.w }} {{ track.h }}" role="img" aria-label="GPS track">
<polyline points="{{ track.points }}" fill="none" stroke="#d0402b" stroke-width="3" stroke-linejoin="round"/>
<circle cx="{{ track.start[0] }}" cy="{{ track.start[1] }}" r="5" fill="#1e7d32"><title>start</title></circle>
{% for s in track.marks %}<circle cx="{{ s.x }}" cy="{{ s.y }}" r="6" fill="#1d2330"><title>{{ s.plate }}</title></circle>
<text x="{{ s.x + 8 }}" y="{{ s.y - 6 }}" font-size="12">{{ s.plate }}</text>{% endfor %}
</svg><p class="muted">{{ track.n }} fixes</p>{% else %}<p class="muted">no GPS in this video</p>{% endif %}
</section>
<section id="pipeline"><h2>Pipeline</h2><table><tr><th>stage</th><th>state</th><th>device</th><th>error</th></tr>
{% for p in v.get("pipeline", []) %}<tr><td>{{ p.stage }}</td><td class="{{ 'ok' if p.state == 'complete' else '' }}">{{ p.state }}</td>
<td>{{ p.device or "" }}</td><td class="bad">{{ p.error or "" }}</td></tr>{% endfor %}</table></section>
</div>
<section id="sightings"><h2>Plate sightings</h2>
<table><tr><th>plate</th><th>read as</th><th class="n">confidence</th><th>first seen</th><th>offset</th><th>where</th></tr>
{% for s in sightings %}<tr><td><a href="/api/plates/{{ s.plate }}/timeline">{{ s.plate }}</a></td><td>{{ s.text_raw }}</td>
<td class="n">{{ "%.2f"|format(s.confidence) }}</td><td>{{ s.first_seen }}</td><td>{{ "%.1f"|format(s.offset_s) }} s</td>
<td>{% if s.location %}{{ "%.5f, %.5f"|format(s.location.lat, s.location.lon) }}{% else %}-{% endif %}</td></tr>
{% else %}<tr><td colspan="6" class="muted">no plates read</td></tr>{% endfor %}</table></section>
"""

_META_KEYS = (
    "video_id",
    "vehicle",
    "brand",
    "channel",
    "mode",
    "start",
    "start_utc",
    "start_local",
    "duration_s",
    "status",
    "device",
    "path",
    "counts",
)


def _page(title: str, subtitle: str, body: str) -> str:
    return render_template_string(_BASE, title=title, subtitle=subtitle, style=_STYLE, body=body)


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
            "not_before": t.not_before.strftime("%H:%M:%S") if t.not_before else "now",
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


@bp.get("/")
def overview() -> str:
    ctx: dict[str, Any] = {
        "spool_ok": False,
        "spool_error": "no SPOOL_ROOT configured",
        "queue_rows": [],
        "failing": [],
        "bins": [],
        "done_rows": [],
        "rejected": [],
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
            ctx.update(spool_ok=True, queue_rows=_queue_rows(spool), failing=_failing(spool))
            tracker = tracker_for(Path(spool.root))
            now = spool.now_dt()
            hour = tracker.recent(timedelta(hours=1))
            ctx["bins"] = _bins(hour, now)
            done: dict[tuple[str, str], int] = {}
            for c in hour:
                done[(c.task_type, c.device_class)] = done.get((c.task_type, c.device_class), 0) + 1
            ctx["done_rows"] = sorted((k[0], k[1], n) for k, n in done.items())
            ctx["rejected"] = [
                {
                    "when": c.completed_at.strftime("%Y-%m-%d %H:%M"),
                    "task_id": c.task_id,
                    "reason": c.rejected,
                }
                for c in reversed(tracker.recent(timedelta(hours=48)))
                if c.rejected
            ][:50]
        except SpoolError as exc:
            ctx.update(spool_ok=False, spool_error=str(exc))
    try:
        ctx["videos"], _ = queries.list_videos(get_db(), queries.VideoFilters(), 20, None, True)
    except SnapshotUnavailable as exc:
        ctx["index_error"] = str(exc)
    sub = (
        f"spool {spool.root if spool else '-'} · {datetime.now(timezone.utc):%Y-%m-%d %H:%M:%S} UTC"
    )
    return _page("pipeline", sub, render_template_string(_OVERVIEW, **ctx))


def _project(points: list[tuple[float, float]], w: int = 560, h: int = 320, pad: int = 16) -> Any:
    lats = [p[0] for p in points]
    lons = [p[1] for p in points]
    mid = math.cos(math.radians((min(lats) + max(lats)) / 2))
    span_x = max((max(lons) - min(lons)) * mid, 1e-6)
    span_y = max(max(lats) - min(lats), 1e-6)
    scale = min((w - 2 * pad) / span_x, (h - 2 * pad) / span_y)

    def xy(lat: float, lon: float) -> tuple[float, float]:
        return (
            round(pad + (lon - min(lons)) * mid * scale, 1),
            round(h - pad - (lat - min(lats)) * scale, 1),
        )

    return xy


@bp.get("/videos/<video_id>")
def video_page(video_id: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", video_id):
        abort(404)
    try:
        session = get_db()
        detail = queries.get_video(session, video_id)
        if detail is None:
            abort(404)
        v = json.loads(detail)
        found = queries.track_points(session, video_id)
        sightings = [
            {"sighting_id": sid, **json.loads(doc)}
            for sid, doc in session.rows(
                "SELECT sighting_id, doc FROM read_parquet($s) WHERE list_contains(video_ids, $id)"
                " ORDER BY first_seen",
                {"s": session.global_file("sightings"), "id": video_id},
            )
        ]
    except SnapshotUnavailable as exc:
        return _page(
            video_id,
            "index unavailable",
            f"<section><p class='bad'>{_html(str(exc))}</p></section>",
        )
    track = None
    points = [(float(p[2]), float(p[3])) for p in (found[1] if found else [])]
    if points:
        xy = _project(points)
        line = " ".join(f"{x},{y}" for x, y in (xy(la, lo) for la, lo in points))
        marks = []
        for s in sightings:
            loc = s.get("location")
            if loc:
                x, y = xy(loc["lat"], loc["lon"])
                marks.append({"x": x, "y": y, "plate": s["plate"]})
        track = {
            "w": 560,
            "h": 320,
            "points": line,
            "start": xy(*points[0]),
            "marks": marks,
            "n": len(points),
        }
    body = render_template_string(_VIDEO, v=v, keys=_META_KEYS, track=track, sightings=sightings)
    return _page(v.get("path") or video_id, f"video {video_id}", body)


def _html(text: str) -> str:
    from markupsafe import escape

    return str(escape(text))
