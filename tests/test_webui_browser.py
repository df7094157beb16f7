"""The WebUI in a real headless Chromium, on the demo index with real clips on a storage root.

A person's path through it: search a plate by a confusable spelling, open its page, see the
sightings with their frame thumbnails and on the map, watch the clip at the sighting; browse a day (keyset pages), open a video;
at 1400 px and 390 px wide, with nothing clipped.  No page loads anything from outside the
server but map tiles (which are refused here: the plain map view must still work).
Screenshots land in ``test-output/screenshots/webui/``; the plate page's also in
``docs/img/plate-page.png`` (the README shows it) when that is missing or
``SPOOLD_README_SHOT=1`` (so a test run does not rewrite a tracked file each time).  Needs Debian's ``chromium`` and the
``playwright`` package; with ``CI=true`` a missing browser fails instead of skipping.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from webui_support import PLATE_BOX, Site, app_config, build_site, launch, need_browser, serve

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "test-output" / "screenshots" / "webui"
README_SHOT = ROOT / "docs" / "img" / "plate-page.png"
TILE_HOST = "tile.openstreetmap.org"
WIDTHS = {"desktop": 1400, "phone": 390}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    return build_site(tmp_path_factory.mktemp("webui"))


@pytest.fixture(scope="module")
def server(site: Site) -> Iterator[str]:
    with serve(app_config(site)) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    need_browser()
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        b = launch(pw)
        yield b
        b.close()


class Requests:
    """Every URL the page asked for; tile requests are refused (an offline site)."""

    def __init__(self) -> None:
        self.urls: list[str] = []
        self.tiles = 0

    def handle(self, route: Any) -> None:
        url = route.request.url
        self.urls.append(url)
        if urlsplit(url).hostname == TILE_HOST:
            self.tiles += 1
            route.abort()
        else:
            route.continue_()


@pytest.fixture(params=list(WIDTHS))
def page(request: pytest.FixtureRequest, browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": WIDTHS[request.param], "height": 900})
    requests = Requests()
    context.route("**/*", requests.handle)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.width_name = request.param
    pg.requests = requests
    yield pg
    context.close()
    assert not errors, errors  # no uncaught script error on any page


def shot(page: Any, name: str) -> Path:
    path = SHOTS / f"{name}-{page.width_name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def assert_nothing_clipped(page: Any) -> None:
    """No horizontal page scroll: wide tables scroll inside their own box, nothing overflows."""
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the page is {overflow}px wider than the {page.width_name} viewport"


def assert_only_local_requests(page: Any, server: str) -> None:
    origin = urlsplit(server).netloc
    outside = [
        u
        for u in page.requests.urls
        if not u.startswith("data:") and urlsplit(u).netloc not in (origin, TILE_HOST)
    ]
    assert not outside, outside


def assert_thumbnails(page: Any) -> None:
    """Each sighting's frame shows (lazy: scrolled to first), decoded at 320 px for 160 px; the
    sighting whose clip is not on the storage root (car1_f_0002) says so instead."""
    rows = page.locator("#sightings tbody tr")
    for i in (0, 2):  # car1_f_0001 and car2_f_0001: clips on the root
        img = rows.nth(i).locator("img.thumb")
        img.scroll_into_view_if_needed()
        img.evaluate("el => el.decode()")  # resolves once loaded and decoded, throws on error
        size = img.evaluate("el => [el.naturalWidth, el.naturalHeight, el.clientWidth]")
        assert size == [320, 240, 160], size
        assert "AB123" in img.get_attribute("alt") and "outlined" in img.get_attribute("alt")
        assert img.get_attribute("loading") == "lazy"
        assert "/api/sightings/" in img.get_attribute("src")
    missing = rows.nth(1)
    missing.scroll_into_view_if_needed()
    missing.locator(".thumb-missing").wait_for()
    assert missing.locator("img.thumb").count() == 0
    page.evaluate("() => window.scrollTo(0, 0)")


def test_search_by_a_confusable_spelling_then_watch_the_moment(page: Any, server: str) -> None:
    page.goto(server + "/browse")
    box = page.locator("#plate-q")
    box.fill("A8 12")  # the plate is AB123: 8 for B
    option = page.locator('#plate-suggestions li[data-plate="AB123"]')
    option.wait_for()
    assert "3 sightings" in option.inner_text()
    box.press("ArrowDown")
    assert page.locator('#plate-suggestions li[aria-selected="true"]').count() == 1
    box.press("Enter")
    page.wait_for_url("**/plates/AB123")
    page.locator("#sightings tbody tr").nth(2).wait_for()
    rows = page.locator("#sightings tbody tr")
    assert rows.count() == 3
    first = rows.nth(0).inner_text()
    # UTC and the vehicle's local time (the camera clock is one hour ahead) together
    assert "2026-11-24 08:00:05 UTC" in first and "09:00:05 UTC+01:00" in first
    assert "48.13659, 11.57559" in first and "car1_f_0001" in first and "0.90" in first
    assert_thumbnails(page)
    assert page.locator("path.sighting-marker").count() == 3  # the map's markers
    assert page.locator("#map.plain").count() == 1  # tiles refused: the plain view ...
    assert page.locator("#map .leaflet-control-scale").count() == 1  # ... with a scale
    rows.nth(0).locator("button.watch").click()
    clip = page.locator("#clip")
    clip.wait_for()
    # the clip plays from the sighting's second (5.0 s into car1_f_0001)
    page.wait_for_function(
        "() => { const v = document.getElementById('clip');"
        " return v.readyState >= 2 && Math.abs(v.currentTime - 5.0) < 1; }",
        timeout=15000,
    )
    assert page.evaluate("() => document.getElementById('clip').error") is None
    # the detector's plate box is drawn over the picture at that moment (held there: a
    # playing clip leaves the moment, and the box, within half a second)
    page.evaluate(
        "() => { const v = document.getElementById('clip'); v.pause(); v.currentTime = 5.0; }"
    )
    box = page.locator("#plate-box")
    box.wait_for(state="visible")
    assert "plate box at 5.0 s" in page.locator("#box-caption").inner_text()
    frame = page.evaluate(
        "() => { const v = document.getElementById('clip'), b = document.getElementById('plate-box');"
        " const s = Math.min(v.clientWidth / v.videoWidth, v.clientHeight / v.videoHeight);"
        " return {x: (b.offsetLeft - (v.clientWidth - v.videoWidth * s) / 2) / (v.videoWidth * s),"
        " w: b.offsetWidth / (v.videoWidth * s), y: (b.offsetTop - (v.clientHeight - v.videoHeight * s) / 2)"
        " / (v.videoHeight * s)}; }"
    )
    assert frame["x"] == pytest.approx(PLATE_BOX["x"], abs=0.02)
    assert frame["y"] == pytest.approx(PLATE_BOX["y"], abs=0.02)
    assert frame["w"] == pytest.approx(PLATE_BOX["w"], abs=0.02)
    assert page.evaluate("() => document.getElementById('clip').src").endswith(
        "/api/media/server/videos/car1/car1_f_0001.MP4"
    )
    assert_nothing_clipped(page)
    path = shot(page, "plate-page")
    if page.width_name == "desktop" and (
        not README_SHOT.exists() or os.environ.get("SPOOLD_README_SHOT") == "1"
    ):
        README_SHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, README_SHOT)
    assert_only_local_requests(page, server)


def test_a_plate_read_with_o_for_zero_is_found(page: Any, server: str) -> None:
    page.goto(server + "/")
    page.locator("#plate-q").fill("KOS7")  # the plate is K0S77: O for 0
    page.locator('#plate-suggestions li[data-plate="K0S77"]').click()
    page.wait_for_url("**/plates/K0S77")
    page.locator("#sightings tbody tr").first.wait_for()
    assert "car2_f_0001" in page.locator("#sightings tbody").inner_text()
    page.locator("button.watch").first.click()
    page.wait_for_function(
        "() => { const v = document.getElementById('clip');"
        " return v.readyState >= 2 && Math.abs(v.currentTime - 20.0) < 1; }",
        timeout=15000,
    )
    assert_nothing_clipped(page)


def test_browse_a_day_in_pages_then_open_a_video(page: Any, server: str) -> None:
    page.goto(server + "/browse")
    day = page.locator('a[data-day="2026-11-24"]')
    day.wait_for()
    assert day.inner_text().startswith("3")
    assert page.locator("#days a").count() == 3  # the demo's three days
    assert_nothing_clipped(page)
    shot(page, "browse")
    page.goto(server + "/browse/2026-11-24?limit=2")  # keyset pages of two
    page.locator("#videos tbody tr").nth(1).wait_for()
    more = page.locator("#more")
    more.wait_for()
    assert page.locator("#videos tbody tr").count() == 2
    more.click()
    page.locator("#videos tbody tr").nth(2).wait_for()
    assert page.locator("#videos tbody tr").count() == 3
    page.wait_for_function("() => document.getElementById('more').hidden")
    names = page.locator("#videos tbody").inner_text()
    assert names.index("car1_f_0001") < names.index("car1_r_0001") < names.index("car1_f_0002")
    assert_nothing_clipped(page)
    shot(page, "day")
    page.locator("#videos a", has_text="car1_f_0001").click()
    page.wait_for_url("**/videos/car1_f_0001")
    page.locator("#stages tbody tr").nth(4).wait_for()
    page.locator("path.track-segment").first.wait_for(state="attached")
    assert page.locator("path.track-segment").count() == 59  # 60 fixes, coloured by speed
    assert "km/h" in page.locator("#speed-legend").inner_text()
    stages = page.locator("#stages tbody").inner_text()
    assert "preprocess" in stages and "complete" in stages and "server" in stages
    page.locator("#plates tbody tr").nth(1).wait_for()
    plates = page.locator("#plates tbody").inner_text()
    assert "AB123" in plates and "XY999" in plates
    # the frames: AB123's at 5.0 s; XY999's 40.0 s lies past this 20 s clip's end (no frame)
    frame = page.locator("#plates tbody tr").nth(0).locator("img.thumb")
    frame.scroll_into_view_if_needed()
    frame.evaluate("el => el.decode()")
    assert frame.evaluate("el => el.naturalWidth") == 320
    page.locator("#plates tbody tr").nth(1).locator(".thumb-missing").wait_for()
    page.locator("#detections tbody tr").nth(49).wait_for()
    page.locator("#more-det").click()
    page.locator("#detections tbody tr").nth(99).wait_for()
    assert_nothing_clipped(page)
    shot(page, "video")
    assert_only_local_requests(page, server)


def test_a_video_page_opens_at_the_given_second(page: Any, server: str) -> None:
    page.goto(server + "/videos/car2_f_0001?t=10")
    page.wait_for_function(
        "() => { const v = document.getElementById('clip');"
        " return v.readyState >= 1 && Math.abs(v.currentTime - 10) < 1; }",
        timeout=15000,
    )
    page.locator("#plates tbody tr").nth(1).wait_for()
    assert "K0S77" in page.locator("#plates tbody").inner_text()


def test_the_search_and_the_watch_buttons_are_keyboard_reachable(page: Any, server: str) -> None:
    page.goto(server + "/plates/AB123")
    page.locator("button.watch").first.wait_for()
    reached = set()
    for _ in range(40):
        page.keyboard.press("Tab")
        reached.add(
            page.evaluate("() => document.activeElement.id || document.activeElement.className")
        )
        if "watch" in reached:
            break
    assert "plate-q" in reached and "watch" in reached
    page.keyboard.press("Enter")  # the focused Watch button
    page.wait_for_function(
        "() => Math.abs(document.getElementById('clip').currentTime - 5.0) < 1", timeout=15000
    )


def test_no_page_asks_anything_of_another_host_but_tiles(page: Any, server: str) -> None:
    pages = {
        "/": "#recent table",
        "/browse": "#days a",
        "/browse/2026-11-25": "#videos tbody tr",
        "/plates/AB123": "path.sighting-marker",
        "/videos/car2_f_0001": "path.track-segment",
    }
    for path, ready in pages.items():
        page.goto(server + path)
        page.locator(ready).first.wait_for(state="attached")
        page.wait_for_load_state("networkidle")
        assert_nothing_clipped(page)
    assert_only_local_requests(page, server)
    assert page.requests.tiles > 0  # the maps did ask the configured tile server (refused)


def test_text_has_readable_contrast(page: Any, server: str) -> None:
    page.goto(server + "/plates/AB123")
    page.locator("#sightings tbody tr").first.wait_for()
    worst = page.evaluate(CONTRAST_JS)
    assert worst["ratio"] >= 4.5, worst


def test_the_token_is_asked_once_and_works_for_pages_and_the_clip(browser: Any, site: Site) -> None:
    with serve(app_config(site, API_TOKEN="s3cret")) as base:
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        context.route(f"**://{TILE_HOST}/**", lambda route: route.abort())
        page = context.new_page()
        page.goto(base + "/plates/AB123")
        page.locator("#token-input").fill("s3cret")
        page.locator("#token-form button").click()
        page.locator("#sightings tbody tr").nth(2).wait_for()
        page.locator("button.watch").first.click()
        page.wait_for_function(
            "() => { const v = document.getElementById('clip');"
            " return v.readyState >= 2 && Math.abs(v.currentTime - 5.0) < 1; }",
            timeout=15000,
        )
        assert "?s=" in page.evaluate("() => document.getElementById('clip').src")
        page.goto(base + "/videos/car1_f_0001")  # same tab: no second prompt
        page.locator("#stages tbody tr").first.wait_for()
        assert page.locator("#token-form").is_hidden()
        context.close()


# The lowest contrast ratio between a text element's colour and the background behind it.
CONTRAST_JS = """
() => {
  const rgb = (s) => (s.match(/[0-9.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const bg = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0.5)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  let worst = { ratio: 21, text: "" };
  for (const el of document.querySelectorAll("main *, header *")) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own || el.closest(".leaflet-container") || !el.offsetParent) continue;
    const a = lum(rgb(getComputedStyle(el).color)), b = lum(bg(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < worst.ratio) worst = { ratio, text: el.textContent.trim().slice(0, 40), tag: el.tagName };
  }
  return worst;
}
"""
