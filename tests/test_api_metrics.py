"""``GET /metrics`` read by Prometheus' own tools: the client library's parser and ``promtool``.

Every family appears once and is typed; values keep full precision; counters only grow as the
spool's complete records accumulate; known states are present at zero; the content type is
exactly prometheus_client's.
"""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from spoolkit import new_spool, task

import spoold
from spoold.spool import Spool
from spoold.spool.lease import DaemonLease
from tests.netshare import ensure_debian_packages
from webui_export.api.app import create_app
from webui_export.api.metrics import ATTEMPT_KINDS, CONTENT_TYPE, TASK_STATES


def _scrape(client: Any) -> tuple[str, dict[str, Any]]:
    resp = client.get("/metrics")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == CONTENT_TYPE
    body = resp.get_data(as_text=True)
    families = list(text_string_to_metric_families(body))
    names = Counter(f.name for f in families)
    assert not [n for n, k in names.items() if k > 1], names
    assert not [f.name for f in families if f.type in ("untyped", "unknown")]
    return body, {f.name: f for f in families}


def _value(families: dict[str, Any], name: str, sample: str | None = None, **labels: str) -> float:
    fam = families[name]
    found = [
        s.value
        for s in fam.samples
        if s.name == (sample or name) and all(s.labels.get(k) == v for k, v in labels.items())
    ]
    assert len(found) == 1, (name, labels, fam.samples)
    return float(found[0])


def _spool_with_history(tmp_path: Path) -> Spool:
    spool = new_spool(tmp_path)
    for key in ("a", "b", "c"):
        spool.publish(task(spool, key))
    spool.publish(task(spool, "d", task_type="detect", device_class="gpu"))
    for _ in range(2):  # the second failure backs off in deferred/
        failing = spool.claim("gpu", "gpu-4090")
        assert failing is not None
        failing.fail("CUDA error: out of memory")
    running = spool.claim("jetson", "jetson-01")
    assert running is not None
    for key, result in (("bad-clip", {"rejected": True, "reason": "truncated"}), ("ok", None)):
        spool.publish(spool.new_task("ingest", "server", key))
        claim = spool.claim("server", "server")
        assert claim is not None
        claim.complete(result=result)
    spool.publish(spool.new_task("finalize", "server", "vid1"))
    claim = spool.claim("server", "server")
    assert claim is not None
    claim.fail("index busy")
    spool.requeue(claim.task_id)
    claim = spool.claim("server", "server")
    assert claim is not None
    claim.complete()
    return spool


@pytest.fixture
def app_spool(tmp_path: Path) -> tuple[Any, Spool]:
    spool = _spool_with_history(tmp_path)
    index = tmp_path / "index"
    index.mkdir()
    app = create_app({"INDEX_DIR": index, "SPOOL_ROOT": spool.root})
    return app.test_client(), spool


def test_metrics_parse_as_typed_families_with_zero_states(app_spool: tuple[Any, Spool]) -> None:
    client, _ = app_spool
    _, fams = _scrape(client)
    assert _value(fams, "spoold_build_info", version=spoold.__version__) == 1
    assert _value(fams, "spoold_spool_up") == 1
    jetson = {"queue": "jetson", "device_class": "jetson", "task_type": "preprocess"}
    assert _value(fams, "spoold_tasks", state="ready", **jetson) == 2
    assert _value(fams, "spoold_tasks", state="claimed", **jetson) == 1
    # Known states at zero, so an emptied queue reads 0 rather than disappearing.
    assert _value(fams, "spoold_tasks", state="deferred", **jetson) == 0
    assert {s.labels["state"] for s in fams["spoold_tasks"].samples} == set(TASK_STATES)
    assert _value(fams, "spoold_claims", device="jetson-01", device_class="jetson") == 1
    assert _value(fams, "spoold_failing_tasks", device_class="gpu", queue="gpu") == 1

    assert fams["spoold_tasks_completed"].type == "counter"
    total = "spoold_tasks_completed_total"
    assert _value(fams, "spoold_tasks_completed", total, task_type="ingest") == 2
    assert _value(fams, "spoold_tasks_completed", total, task_type="finalize") == 1
    failed = "spoold_task_failed_attempts_total"
    assert (
        _value(fams, "spoold_task_failed_attempts", failed, task_type="finalize", kind="error") == 1
    )
    for kind in ATTEMPT_KINDS:
        _value(fams, "spoold_task_failed_attempts", failed, task_type="ingest", kind=kind)
    videos = "spoold_videos_ingested_total"
    assert _value(fams, "spoold_videos_ingested", videos, outcome="rejected") == 1
    assert _value(fams, "spoold_videos_ingested", videos, outcome="accepted") == 1
    assert fams["spoold_finalize_latency_seconds"].type == "histogram"
    assert (
        _value(fams, "spoold_finalize_latency_seconds", "spoold_finalize_latency_seconds_count")
        == 1
    )

    seen = "spoold_device_last_seen_timestamp_seconds"
    assert _value(fams, seen, device="server") > 1.7e9
    assert _value(fams, seen, device="jetson-01") > 1.7e9  # holds a live claim
    assert _value(fams, "spoold_daemon_lease_held") == 0
    assert not fams["spoold_daemon_heartbeat_age_seconds"].samples
    assert _value(fams, "spoold_index_up") == 0


def test_counters_grow_with_the_spool_and_keep_full_precision(
    app_spool: tuple[Any, Spool],
) -> None:
    client, spool = app_spool
    lease = DaemonLease(spool)
    lease.acquire()
    _, before = _scrape(client)
    spool.publish(spool.new_task("ingest", "server", "third"))
    claim = spool.claim("server", "server")
    assert claim is not None
    claim.complete()
    _, after = _scrape(client)
    total = "spoold_tasks_completed_total"
    assert _value(after, "spoold_tasks_completed", total, task_type="ingest") == (
        _value(before, "spoold_tasks_completed", total, task_type="ingest") + 1
    )
    assert _value(after, "spoold_daemon_lease_held") == 1
    age = _value(after, "spoold_daemon_heartbeat_age_seconds", host=lease.me.host)
    assert 0 <= age < 30
    # Full precision: a Unix time (~1.8e9) written with %g would be off by minutes.
    _, done = spool.get(claim.task_id)
    assert done.completed_at is not None
    seen = _value(after, "spoold_device_last_seen_timestamp_seconds", device="server")
    assert seen == pytest.approx(done.completed_at.timestamp(), abs=1e-3)


def test_without_a_spool_the_scrape_still_answers(tmp_path: Path) -> None:
    index = tmp_path / "index"
    index.mkdir()
    client = create_app({"INDEX_DIR": index}).test_client()
    _, fams = _scrape(client)
    assert _value(fams, "spoold_spool_up") == 0
    assert _value(fams, "spoold_index_up") == 0


def test_promtool_check_metrics_accepts_the_exposition(app_spool: tuple[Any, Spool]) -> None:
    ensure_debian_packages("prometheus")
    promtool = shutil.which("promtool")
    assert promtool, "the prometheus package is installed but promtool is not on PATH"
    client, _ = app_spool
    body, _ = _scrape(client)
    r = subprocess.run(
        [promtool, "check", "metrics"], input=body, capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert (r.stdout + r.stderr).strip() == "", r.stdout + r.stderr
