"""The operator's console in a real headless Chromium: the panel renders the pipeline's data.

Screenshots land in ``test-output/screenshots/`` (kept by CI as artifacts).  Needs Debian's
``chromium`` (``.ci/run`` installs it) and the ``playwright`` package; with ``CI=true`` a
missing browser fails the test instead of skipping it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from spoolkit import new_spool, task
from webui_support import launch, need_browser, serve

from schemas.metadata import StageStatus
from schemas.task import FileRef
from spoold.demo.synth import build_demo_index
from webui_export.index.writer import Indexer

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "test-output" / "screenshots"
BAD_PATH = "cams/DCIM/Movie/2026_1125_101500_000999F.MP4"
BAD_REASON = "file is truncated (mediainfo IsTruncated)"
BAD_DETAIL = "File size 18774 is less than expected size 30367"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("console")
    demo = build_demo_index(tmp / "index", tmp / "files")
    spool = new_spool(tmp)
    for key in ("a", "b", "c"):
        spool.publish(task(spool, key))
    spool.publish(task(spool, "d", task_type="detect", device_class="gpu"))
    spool.publish(task(spool, "e", task_type="ocr", device_class="cpu"))  # no cpu device at all
    failing = spool.claim("gpu", "gpu-4090")
    assert failing is not None
    failing.fail("CUDA error: out of memory")
    failing = spool.claim("gpu", "gpu-4090")
    assert failing is not None
    failing.fail("CUDA error: out of memory")  # second attempt: backs off in deferred/
    running = spool.claim("jetson", "jetson-01")
    assert running is not None
    ingest = spool.new_task(
        "ingest", "server", "bad-clip", video_id="vbadclip",
        inputs=[FileRef(device="indoor-nas", path=BAD_PATH, type="video")],
        params={"inbox": "cams"},
    )  # fmt: skip
    spool.publish(ingest)
    claim = spool.claim("server", "server")
    assert claim is not None
    claim.complete(result={"rejected": True, "reason": BAD_REASON, "detail": BAD_DETAIL})
    # what the daemon's stage tracker does with a complete ingest record
    done = spool.locate(ingest.task_id, queues=())
    assert done is not None
    with Indexer(demo.index_dir) as ix:
        record = spool.read(done.path)
        stages = [
            StageStatus(
                stage="ingest", state="complete", task_id=record.task_id, device="server",
                updated_at=record.completed_at, error="rejected",
            ),
            StageStatus(stage="preprocess", state="skipped"),
        ]  # fmt: skip
        assert ix.record_ingests([(record, stages)]) == 1
        ix.publish()
    with serve({"INDEX_DIR": demo.index_dir, "SPOOL_ROOT": spool.root, "TILE_URL": ""}) as url:
        yield url


@pytest.fixture(scope="module")
def page(server: str) -> Iterator[Any]:
    need_browser()
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = launch(pw)
        pg = browser.new_page(viewport={"width": 1280, "height": 1000})
        yield pg
        browser.close()


def _colourful(png: Path) -> int:
    from PIL import Image

    with Image.open(png) as im:
        return len(im.convert("RGB").resize((320, 250)).getcolors(maxcolors=1 << 20) or [])


def test_the_overview_shows_queues_failures_and_videos(page: Any, server: str) -> None:
    page.goto(server + "/")
    page.locator("#queues table").wait_for()
    page.locator("#rejected-videos tbody tr").first.wait_for()
    text = page.inner_text("main")
    assert "jetson" in text and "preprocess" in text  # queue rows
    assert "CUDA error: out of memory" in text  # failing task with its last error
    assert "file is truncated (mediainfo IsTruncated)" in text  # a rejected video
    assert page.locator("#recent tbody tr a").count() >= 5  # finalized videos
    shot = SHOTS / "overview.png"
    page.screenshot(path=str(shot), full_page=True)
    assert _colourful(shot) > 20  # a rendered page, not a blank one


def test_the_console_lists_rejected_videos_from_the_public_api(page: Any, server: str) -> None:
    """Path, reason (with what the check found), inbox and time of each rejected file, read
    from /api/videos?status=rejected; its link opens the video page, which says why."""
    asked: list[str] = []

    def note(request: Any) -> None:
        asked.append(request.url)

    page.on("request", note)
    try:
        for width in (1280, 390):
            page.set_viewport_size({"width": width, "height": 900})
            page.goto(server + "/")
            row = page.locator("#rejected-videos tbody tr")
            row.first.wait_for()
            assert row.count() == 1
            text = row.inner_text()
            assert f"indoor-nas: {BAD_PATH}" in text and BAD_REASON in text and BAD_DETAIL in text
            assert "cams · vehicle indoor-nas" in text
            assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", text)  # when (UTC)
            assert "1 rejected file" in page.locator("#rejected-summary").inner_text()
            assert page.evaluate(
                "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"
            )
            page.locator("#rejected").screenshot(path=str(SHOTS / f"rejected-{width}.png"))
    finally:
        page.remove_listener("request", note)
        page.set_viewport_size({"width": 1280, "height": 1000})
    assert any("/api/videos?status=rejected" in url for url in asked), asked
    page.locator("#rejected-videos tbody a").first.click()
    page.locator("#meta dt").first.wait_for()
    meta = page.locator("#meta").inner_text()
    assert "rejected" in meta and BAD_REASON in meta and BAD_DETAIL in meta
    stages = page.locator("#stages tbody tr")
    assert "complete" in stages.nth(0).inner_text() and "rejected" in stages.nth(0).inner_text()
    assert "skipped" in stages.nth(1).inner_text()


def test_the_overview_shows_devices_and_when_failing_tasks_retry(page: Any, server: str) -> None:
    page.goto(server + "/")
    page.locator("#devices table").wait_for()
    devices = page.locator("#devices tbody").inner_text()
    # jetson-01 runs a preprocess task now; the daemon ("server") completed the ingest
    jetson = page.locator("#devices tbody tr", has_text="jetson-01").inner_text()
    assert "-preprocess-" in jetson and "ago" in jetson
    assert "server" in devices
    failing = page.locator("#failing tbody tr", has_text="CUDA error").inner_text()
    assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", failing)  # the retry time
    # ready work that no live device serves is flagged; jetson-01 serves the jetson queue
    assert "no live device" in page.locator("#queues tr", has_text="ocr").inner_text()
    assert "no live device" not in page.locator("#queues tr", has_text="preprocess").inner_text()


def test_the_overview_refreshes_in_place_keeping_the_scroll(page: Any, server: str) -> None:
    page.set_viewport_size({"width": 390, "height": 500})
    page.goto(server + "/")
    page.locator("#recent table").wait_for()
    page.evaluate("() => window.scrollTo(0, 400)")
    before = page.locator("#panel-stamp").inner_text()
    page.wait_for_timeout(1100)  # the stamp has one-second resolution
    # what the 10 s timer does (a real click would scroll to the button first)
    page.evaluate("() => document.getElementById('refresh-now').click()")
    page.wait_for_function(
        "(before) => document.getElementById('panel-stamp').textContent.trim() !== before",
        arg=before,
    )
    assert page.evaluate("() => window.scrollY") == 400
    assert page.evaluate(
        "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )
    page.set_viewport_size({"width": 1280, "height": 1000})


def test_a_video_page_draws_its_track_and_lists_sightings(page: Any, server: str) -> None:
    page.goto(server + "/")
    page.locator("#recent tbody a").first.click()
    page.locator("#meta dt").first.wait_for()
    assert page.locator("#meta").inner_text()
    page.locator("#stages tbody tr").first.wait_for()
    shot = SHOTS / "video.png"
    page.screenshot(path=str(shot), full_page=True)
    assert _colourful(shot) > 20


def test_a_video_with_plates_shows_them_on_the_page(page: Any, server: str) -> None:
    page.goto(server + "/videos/car1_f_0001")
    page.locator("#plates tbody tr").nth(1).wait_for()  # two sightings: AB123 and XY999
    page.locator("path.track-segment").first.wait_for(state="attached")
    assert page.locator("path.track-segment").count() == 59  # 60 fixes
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
