"""The operator's console in a real headless Chromium: pages render the pipeline's data.

Screenshots land in ``test-output/screenshots/`` (kept by CI as artifacts).  Needs Debian's
``chromium`` (``.ci/run`` installs it) and the ``playwright`` package; with ``CI=true`` a
missing browser fails the test instead of skipping it.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from spoolkit import new_spool, task
from werkzeug.serving import make_server

from spoold.demo.synth import build_demo_index
from webui_export.api.app import create_app

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "test-output" / "screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _need_browser() -> None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        reason = "the playwright package is not installed"
    else:
        reason = "" if CHROMIUM else "Debian's chromium is not installed (apt-get install chromium)"
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser test cannot run in CI: {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("console")
    demo = build_demo_index(tmp / "index", tmp / "files")
    spool = new_spool(tmp)
    for key in ("a", "b", "c"):
        spool.publish(task(spool, key))
    spool.publish(task(spool, "d", task_type="detect", device_class="gpu"))
    failing = spool.claim("gpu", "gpu-4090")
    assert failing is not None
    failing.fail("CUDA error: out of memory")
    failing = spool.claim("gpu", "gpu-4090")
    assert failing is not None
    failing.fail("CUDA error: out of memory")  # second attempt: backs off in deferred/
    running = spool.claim("jetson", "jetson-01")
    assert running is not None
    ingest = spool.new_task("ingest", "server", "bad-clip")
    spool.publish(ingest)
    claim = spool.claim("server", "server")
    assert claim is not None
    claim.complete(result={"rejected": True, "reason": "file is truncated (mediainfo IsTruncated)"})
    app = create_app({"INDEX_DIR": demo.index_dir, "SPOOL_ROOT": spool.root})
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def page(server: str) -> Iterator[Any]:
    _need_browser()
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        pg = browser.new_page(viewport={"width": 1280, "height": 1000})
        yield pg
        browser.close()


def _colourful(png: Path) -> int:
    from PIL import Image

    with Image.open(png) as im:
        return len(im.convert("RGB").resize((320, 250)).getcolors(maxcolors=1 << 20) or [])


def test_the_overview_shows_queues_failures_and_videos(page: Any, server: str) -> None:
    page.goto(server + "/")
    text = page.inner_text("main")
    assert "jetson" in text and "preprocess" in text  # queue rows
    assert "CUDA error: out of memory" in text  # failing task with its last error
    assert "file is truncated (mediainfo IsTruncated)" in text  # a rejected video
    assert page.locator("#recent tbody tr a, #recent tr a").count() >= 5  # finalized videos
    shot = SHOTS / "overview.png"
    page.screenshot(path=str(shot), full_page=True)
    assert _colourful(shot) > 20  # a rendered page, not a blank one


def test_a_video_page_draws_its_track_and_lists_sightings(page: Any, server: str) -> None:
    page.goto(server + "/")
    page.locator("#recent a").first.click()
    page.wait_for_selector("#track")
    assert page.locator("#meta").inner_text()
    points = page.locator("#track polyline")
    if points.count():
        assert len(points.get_attribute("points").split()) > 2
    shot = SHOTS / "video.png"
    page.screenshot(path=str(shot), full_page=True)
    assert _colourful(shot) > 20


def test_a_video_with_plates_shows_them_on_the_page(page: Any, server: str) -> None:
    page.goto(server + "/videos/car1_f_0001")
    assert page.locator("#sightings tr").count() >= 2  # header + at least one sighting
    assert page.locator("#track polyline").count() == 1
    page.screenshot(path=str(SHOTS / "video-with-plates.png"), full_page=True)


def test_metrics_are_prometheus_text(server: str) -> None:
    import urllib.request

    with urllib.request.urlopen(server + "/metrics") as resp:
        body = resp.read().decode()
        assert resp.headers["Content-Type"].startswith("text/plain; version=")
    assert (
        'spoold_tasks{device_class="jetson",queue="jetson",state="ready",task_type="preprocess"} 2.0'
        in body
    )
    assert 'spoold_claims{device="jetson-01",device_class="jetson"} 1.0' in body
    assert 'spoold_failing_tasks{device_class="gpu",queue="gpu"} 1.0' in body
    assert 'spoold_videos_ingested_total{outcome="rejected"} 1.0' in body
    assert "# TYPE spoold_finalize_latency_seconds histogram" in body


def test_api_stats_reports_live_queues_and_failing_tasks(server: str) -> None:
    import json
    import urllib.request

    with urllib.request.urlopen(server + "/api/stats") as resp:
        body = json.load(resp)
    queues = body["queues"]
    assert queues["available"] is True
    rows = {(q["device_class"], q["stage"]): q for q in queues["queues"]}
    assert (
        rows[("jetson", "preprocess")]["pending"] == 2
        and rows[("jetson", "preprocess")]["running"] == 1
    )
    assert [f["error"] for f in queues["failing"]] == ["CUDA error: out of memory"]
