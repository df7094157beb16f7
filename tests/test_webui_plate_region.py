"""A plate's region (the plate format it matched: ``DE``, ``UK``, ...) where users meet it.

``spoold export plate-csv`` has a ``region`` column, and the WebUI shows the region beside
the plate text on the plate page (title and each sighting), the video page's plate list and
the search suggestions, in a real headless Chromium (the plate page's screenshot lands in
``test-output/screenshots/webui/plate-region.png``).  The index is the demo's (sightings
without a region) plus one video whose reads matched the German format.  Needs Debian's
``chromium`` and ``playwright`` for the browser part; with ``CI=true`` a missing browser
fails instead of skipping.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from webui_support import launch, need_browser, serve

from spoold.demo.synth import PlateSpec, build_demo_index, video_files
from webui_export.index.writer import Indexer

PLATE, REGION, VIDEO = "JFL7406", "DE", "car3_f_0001"
SHOTS = Path(__file__).resolve().parent.parent / "test-output" / "screenshots" / "webui"


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("region")
    demo = build_demo_index(tmp / "index", tmp / "files")
    video, files = video_files(
        tmp / "files",
        VIDEO,
        vehicle="car3",
        start=datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc),
        plates=[PlateSpec(PLATE, 5.0)],
    )
    doc = json.loads(files["plates"].read_text())
    for read in doc["reads"]:
        read["region"] = REGION  # what the detect worker writes for a German format
    files["plates"].write_text(json.dumps(doc))
    with Indexer(demo.index_dir) as ix:
        ix.finalize(video, files)
        ix.publish()
    return demo.index_dir


def _export(index_dir: Path, plate: str) -> list[dict[str, str]]:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "spoold",
            "export",
            "plate-csv",
            plate,
            "--index-dir",
            str(index_dir),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return list(csv.DictReader(io.StringIO(out.stdout)))


def test_the_plate_csv_has_the_region_column(index_dir: Path) -> None:
    rows = _export(index_dir, "JFL 74O6")  # O for 0: the same plate
    assert [(r["plate"], r["region"], r["video_id"]) for r in rows] == [(PLATE, REGION, VIDEO)]
    assert list(rows[0])[:3] == ["sighting_id", "plate", "region"]
    # a sighting derived before regions (the demo's): the column is there, empty
    older = _export(index_dir, "AB123")
    assert older and all(r["region"] == "" for r in older)


@pytest.fixture(scope="module")
def server(index_dir: Path) -> Iterator[str]:
    with serve({"INDEX_DIR": index_dir, "TILE_URL": ""}) as url:
        yield url


@pytest.fixture(scope="module")
def page(server: str) -> Iterator[Any]:
    need_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = launch(pw)
        pg = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        pg.on("pageerror", lambda exc: errors.append(str(exc)))
        yield pg
        browser.close()
        assert not errors, errors


def test_the_plate_page_shows_the_region_beside_the_plate(page: Any, server: str) -> None:
    page.goto(f"{server}/plates/{PLATE}")
    page.locator("#sightings tbody tr").first.wait_for()
    assert page.locator("#plate-regions abbr.region").inner_text() == REGION
    assert PLATE in page.locator("h1").inner_text() and REGION in page.locator("h1").inner_text()
    cell = page.locator("#sightings tbody tr").first.locator("td").nth(4)  # "read as"
    assert cell.locator("abbr.region").inner_text() == REGION
    assert PLATE in cell.inner_text()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "plate-region.png"), full_page=True)


def test_a_plate_without_a_region_shows_none(page: Any, server: str) -> None:
    page.goto(f"{server}/plates/AB123")
    page.locator("#sightings tbody tr").nth(2).wait_for()
    assert page.locator("abbr.region").count() == 0


def test_the_video_page_lists_the_plate_with_its_region(page: Any, server: str) -> None:
    page.goto(f"{server}/videos/{VIDEO}")
    row = page.locator("#plates tbody tr").first
    row.locator("a").wait_for()
    first_cell = row.locator("td").first
    assert first_cell.locator("a").inner_text() == PLATE
    assert first_cell.locator("abbr.region").inner_text() == REGION


def test_the_search_suggestion_shows_the_region(page: Any, server: str) -> None:
    page.goto(f"{server}/browse")
    page.locator("#plate-q").fill("JFL74")
    option = page.locator(f'#plate-suggestions li[data-plate="{PLATE}"]')
    option.wait_for()
    assert option.locator("abbr.region").inner_text() == REGION
    page.locator("#plate-q").fill("AB12")
    plain = page.locator('#plate-suggestions li[data-plate="AB123"]')
    plain.wait_for()
    assert plain.locator("abbr.region").count() == 0
