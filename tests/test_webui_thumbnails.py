"""Sighting thumbnails at the HTTP level, on a real server: a JPEG of the sighting's frame with
the plate box outlined, at the asked width; ETag/304; the disk cache (a clip archived after its
thumbnail was rendered still has one); JSON errors (bad ids, widths, missing clips, an offset past
the clip's end); containment (a clip path whose symlink leads out of the root is never read); and
the media signature standing in for the token on an ``<img>``."""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_webui_media import get
from webui_support import Site, app_config, build_site, serve

from webui_export.api import thumbnails
from webui_export.api.app import create_app
from webui_export.api.thumbnails import prune

Image = pytest.importorskip("PIL.Image", reason="Pillow (a dev dependency) decodes the JPEGs")

# The demo's plate read of AB123 in car1_f_0001 (5.0 s): its box, normalized
READ_BOX = (0.4, 0.6, 0.1, 0.05)
CLIP = "videos/car1/car1_f_0001.MP4"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Site, str]]:
    """The WebUI test site (demo index, clips on the root) and its server's base URL."""
    site = build_site(tmp_path_factory.mktemp("thumbs"))
    with serve(app_config(site)) as url:
        yield site, url


def sighting_ids(base: str, plate: str) -> dict[tuple[str, float], int]:
    """``(video_id, offset_s) -> sighting_id`` of a plate's sightings."""
    status, _, body = get(base, f"/api/plates/{plate}/timeline")
    assert status == 200
    return {(r["video_id"], r["offset_s"]): r["sighting_id"] for r in json.loads(body)["rows"]}


def url(sighting_id: int, query: str = "") -> str:
    return f"/api/sightings/{sighting_id}/thumbnail.jpg{query}"


def decode(body: bytes) -> Any:
    image = Image.open(io.BytesIO(body))
    assert image.format == "JPEG"
    return image.convert("RGB")


def diff(a: Any, b: Any, box: tuple[int, int, int, int]) -> float:
    """Mean absolute difference of two images' channels inside ``box`` (left, top, right,
    bottom)."""
    pa, pb = a.crop(box).tobytes(), b.crop(box).tobytes()
    return sum(abs(x - y) for x, y in zip(pa, pb, strict=True)) / len(pa)


def test_the_thumbnail_is_the_frame_at_the_sighting_with_the_plate_box(
    served: tuple[Site, str],
) -> None:
    site, base = served
    sid = sighting_ids(base, "AB123")[("car1_f_0001", 5.0)]
    status, headers, body = get(base, url(sid))
    assert status == 200, body
    assert headers["Content-Type"] == "image/jpeg"
    image = decode(body)
    assert image.size == (320, 240)  # the clip is 320x240: the default width, not enlarged
    clip = site.storage / CLIP
    bare = decode(thumbnails.render(clip, 5.0, 320, None))
    earlier = decode(thumbnails.render(clip, 4.0, 320, None))
    # the same frame as the clip's at 5.0 s (testsrc prints the second: 4.0 s differs) ...
    away = (0, 0, 100, 100)  # a corner far from the box
    assert diff(image, bare, away) < 3
    digit = (250, 80, 300, 160)  # where testsrc prints the second
    assert diff(image, bare, digit) < 3 < diff(image, earlier, digit)
    # ... with the read's box outlined in yellow just outside it (not over the plate)
    x, y, w, h = READ_BOX
    left, top, right, bottom = x * 320, y * 240, (x + w) * 320, (y + h) * 240
    mid_y, mid_x = int((top + bottom) / 2), int((left + right) / 2)
    for px in ((int(left) - 2, mid_y), (int(right) + 1, mid_y), (mid_x, int(top) - 2)):
        r, g, b = image.getpixel(px)
        assert r > 200 and g > 170 and b < 90, (px, (r, g, b))
    ring = (int(left) - 3, int(top) - 3, int(right) + 3, int(top))  # the ring's top edge
    inside = (int(left) + 2, int(top) + 2, int(right) - 2, int(bottom) - 2)
    assert diff(image, bare, inside) * 4 < diff(image, bare, ring)


@pytest.mark.parametrize(
    ("width", "size"), [(160, (160, 120)), (320, (320, 240)), (640, (320, 240))]
)
def test_widths(served: tuple[Site, str], width: int, size: tuple[int, int]) -> None:
    base = served[1]
    sid = sighting_ids(base, "AB123")[("car2_f_0001", 10.0)]
    status, _, body = get(base, url(sid, f"?width={width}"))
    assert status == 200
    assert decode(body).size == size


def test_etag_304_and_the_disk_cache(served: tuple[Site, str]) -> None:
    site, base = served
    sid = sighting_ids(base, "AB123")[("car1_f_0001", 5.0)]
    status, headers, body = get(base, url(sid))
    etag = headers["ETag"]
    assert status == 200 and etag.startswith('"') and not etag.startswith("W/")
    assert headers["Cache-Control"] == "private, no-cache"
    status, headers, again = get(base, url(sid), {"If-None-Match": etag})
    assert status == 304 and again == b"" and headers["ETag"] == etag
    assert get(base, url(sid), {"If-None-Match": '"other"'})[0] == 200
    # another width is another picture
    assert get(base, url(sid, "?width=160"))[1]["ETag"] != etag
    cached = site.storage.parent / "thumbnails" / etag[1:3] / f"{etag.strip(chr(34))}.jpg"
    assert cached.read_bytes() == body


def test_a_thumbnail_outlives_its_clip_once_rendered(
    served: tuple[Site, str], tmp_path: Path
) -> None:
    """Clips are archived off the storage roots: a thumbnail shown once stays available."""
    site = served[0]
    storage = tmp_path / "storage"
    shutil.copytree(site.storage, storage, symlinks=True)
    config = app_config(site, STORAGE_ROOTS={"server": storage}, THUMBNAIL_CACHE=tmp_path / "c")
    with serve(config) as base:
        sid = sighting_ids(base, "AB123")[("car1_f_0001", 5.0)]
        status, headers, body = get(base, url(sid))
        assert status == 200
        other = sighting_ids(base, "AB123")[("car2_f_0001", 10.0)]
        (storage / CLIP).unlink()
        (storage / "videos/car2/car2_f_0001.MP4").unlink()
        status, again_headers, again = get(base, url(sid))
        assert status == 200 and again == body and again_headers["ETag"] == headers["ETag"]
        status, _, err = get(base, url(other))  # never rendered: nothing to show
        assert status == 404
        assert "archived or removed" in json.loads(err)["error"]


@pytest.mark.parametrize(
    ("path", "status", "says"),
    [
        (url(999999), 404, "no sighting '999999'"),
        (url(0), 404, "no sighting '0'"),
        ("/api/sightings/abc/thumbnail.jpg", 404, "no sighting 'abc'"),
        ("/api/sightings/-1/thumbnail.jpg", 404, "no sighting '-1'"),
        ("/api/sightings/" + "9" * 30 + "/thumbnail.jpg", 404, "no sighting"),
        ("/api/sightings/..%2f..%2fetc%2fpasswd/thumbnail.jpg", 404, ""),
        ("/api/sightings/1/../../media/server/x.mp4", 404, ""),
        ("/api/sightings/%2e%2e/thumbnail.jpg", 404, ""),
        (url(1, "?width=100"), 400, "choose one of 160, 320, 640"),
        (url(1, "?width=big"), 400, "expected an integer"),
        (url(1, "?width=160&width=320"), 400, "given 2 times"),
        (url(1, "?size=1"), 400, "this endpoint takes: s, width"),
    ],
)
def test_bad_requests_are_json_errors(
    served: tuple[Site, str], path: str, status: int, says: str
) -> None:
    got, headers, body = get(served[1], path)
    assert got == status, body
    assert headers["Content-Type"] == "application/json"
    error = json.loads(body)
    assert error["ok"] is False and error["status"] == status
    assert says in error["error"]


def test_a_sighting_whose_clip_is_missing_is_404_json(served: tuple[Site, str]) -> None:
    base = served[1]
    sid = sighting_ids(base, "AB123")[("car1_f_0002", 50.0)]  # no file on the root
    status, headers, body = get(base, url(sid))
    assert status == 404 and headers["Content-Type"] == "application/json"
    assert "videos/car1/car1_f_0002.MP4" in json.loads(body)["error"]


def test_an_offset_past_the_clips_end_is_422_json(served: tuple[Site, str]) -> None:
    base = served[1]
    # the demo index says car1_f_0001 lasts 60 s and XY999 shows at 40 s; the clip has 20 s
    sid = sighting_ids(base, "XY999")[("car1_f_0001", 40.0)]
    status, headers, body = get(base, url(sid))
    assert status == 422 and headers["Content-Type"] == "application/json"
    assert "no frame of car1_f_0001.MP4 decodes at 40.000 s" in json.loads(body)["error"]


def test_a_clip_path_leading_out_of_the_root_is_never_read(
    served: tuple[Site, str], tmp_path: Path
) -> None:
    """The index names the clip; a symlink there pointing out of the root is refused, even to
    a real video (containment is media.resolve's, shared with the media route)."""
    site = served[0]
    storage = tmp_path / "storage"
    shutil.copytree(site.storage, storage, symlinks=True)
    outside = tmp_path / "outside" / "real.mp4"
    outside.parent.mkdir()
    shutil.copyfile(site.storage / CLIP, outside)
    os.symlink(outside, storage / "videos/car1/car1_f_0002.MP4")
    config = app_config(site, STORAGE_ROOTS={"server": storage}, THUMBNAIL_CACHE=tmp_path / "c")
    with serve(config) as base:
        sid = sighting_ids(base, "AB123")[("car1_f_0002", 50.0)]
        status, _, body = get(base, url(sid))
        assert status == 404
        assert "no file 'videos/car1/car1_f_0002.MP4' under storage root" in body.decode()
    assert not (tmp_path / "c").exists()  # nothing rendered, nothing cached


def test_with_a_token_an_img_uses_the_media_signature(served: tuple[Site, str]) -> None:
    with serve(app_config(served[0], API_TOKEN="s3cret")) as base:
        auth = {"Authorization": "Bearer s3cret"}
        status, _, body = get(base, "/api/plates/AB123/timeline", auth)
        sid = next(r["sighting_id"] for r in json.loads(body)["rows"] if r["offset_s"] == 5.0)
        assert get(base, url(sid))[0] == 401
        assert get(base, url(sid), auth)[0] == 200
        signature = json.loads(get(base, "/api/media-signature", auth)[2])["value"]
        status, headers, _ = get(base, url(sid, f"?width=160&s={signature}"))
        assert status == 200 and headers["Content-Type"] == "image/jpeg"
        assert get(base, url(sid, "?s=123.abc"))[0] == 401


def test_an_unwritable_cache_still_serves_and_says_so(
    served: tuple[Site, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    with serve(app_config(served[0], THUMBNAIL_CACHE=blocker / "cache")) as base:
        sid = sighting_ids(base, "AB123")[("car1_f_0001", 5.0)]
        for _ in range(2):  # rendered each time
            status, _, body = get(base, url(sid))
            assert status == 200 and decode(body).size == (320, 240)
    warned = [r.getMessage() for r in caplog.records if r.name == thumbnails.__name__]
    assert len(warned) == 2 and "set THUMBNAIL_CACHE to a writable folder" in warned[0]


@pytest.mark.parametrize(
    ("configured", "env", "expected"),
    [
        ("/srv/thumbs", "/var/cache/spoold", "/srv/thumbs"),
        (None, "/var/cache/spoold:/var/cache/other", "/var/cache/spoold/thumbnails"),
        (None, None, None),  # the temporary folder
    ],
)
def test_where_the_cache_is(
    served: tuple[Site, str],
    monkeypatch: pytest.MonkeyPatch,
    configured: str | None,
    env: str | None,
    expected: str | None,
) -> None:
    if env is None:
        monkeypatch.delenv("CACHE_DIRECTORY", raising=False)
    else:
        monkeypatch.setenv("CACHE_DIRECTORY", env)
    monkeypatch.delenv("SPOOLD_THUMBNAIL_CACHE", raising=False)
    app = create_app({**app_config(served[0]), "THUMBNAIL_CACHE": configured})
    with app.app_context():
        found = thumbnails.cache_dir()
    if expected is None:
        assert found == Path(tempfile.gettempdir()) / f"spoold-thumbnails-{os.getuid()}"
    else:
        assert found == Path(expected)


def _fill(folder: Path, count: int, size: int, mtime: float) -> list[Path]:
    """``count`` cached-looking thumbnails of ``size`` bytes, last used at ``mtime``."""
    made = []
    for i in range(count):
        path = folder / f"{i % 256:02x}" / f"old{i:04d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\xff\xd8" + bytes(size - 2))
        os.utime(path, (mtime, mtime))
        made.append(path)
    return made


def _cache_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.glob("*/*.jpg"))


def test_prune_removes_the_least_recently_used_down_to_90_percent(tmp_path: Path) -> None:
    old = _fill(tmp_path / "a", 50, 1000, 1_000_000.0)
    new = _fill(tmp_path / "b", 50, 1000, 2_000_000.0)
    for path in (tmp_path / "a").glob("*/*.jpg"):
        target = tmp_path / "c" / path.parent.name / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        path.rename(target)
    for path in (tmp_path / "b").glob("*/*.jpg"):
        target = tmp_path / "c" / path.parent.name / ("new" + path.name)
        path.rename(target)
    folder = tmp_path / "c"
    (folder / "00" / ".tmp-render.jpg").write_bytes(bytes(5000))  # being stored: kept
    assert prune(folder, 100_000) == (0, 100_000)  # at the limit: nothing to do
    removed, left = prune(folder, 60_000)
    assert (removed, left) == (46, 54_000)
    kept = {p.name for p in folder.glob("*/*.jpg")}
    assert {"new" + p.name for p in new} <= kept  # the recently used stay
    assert len(kept & {p.name for p in old}) == 4
    assert (folder / "00" / ".tmp-render.jpg").exists()


def test_the_cache_stays_under_its_limit_and_keeps_what_was_just_served(
    served: tuple[Site, str], tmp_path: Path
) -> None:
    """A cache left at 100 KB by an earlier, larger limit, and a limit of 40 KB: the first
    thumbnail stored starts a prune that removes the least recently used, never the new one."""
    cache = tmp_path / "cache"
    _fill(cache, 100, 1000, 1_000_000.0)
    limit_mb = 40_000 / 1048576
    with serve(
        app_config(served[0], THUMBNAIL_CACHE=cache, THUMBNAIL_CACHE_MAX_MB=limit_mb)
    ) as base:
        sid = sighting_ids(base, "AB123")[("car1_f_0001", 5.0)]
        status, headers, body = get(base, url(sid))
        assert status == 200
        fresh = cache / headers["ETag"].strip('"')[:2] / f"{headers['ETag'].strip(chr(34))}.jpg"
        deadline = time.monotonic() + 10
        while _cache_bytes(cache) > 40_000 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _cache_bytes(cache) <= 40_000
        assert fresh.read_bytes() == body
        assert get(base, url(sid))[2] == body  # still served from the cache


def test_a_bad_cache_limit_is_a_clear_error(served: tuple[Site, str], tmp_path: Path) -> None:
    config = app_config(served[0], THUMBNAIL_CACHE=tmp_path / "c", THUMBNAIL_CACHE_MAX_MB="lots")
    with serve(config) as base:
        sid = sighting_ids(base, "AB123")[("car1_f_0001", 5.0)]
        status, _, body = get(base, url(sid))
    assert status == 500
    assert "THUMBNAIL_CACHE_MAX_MB='lots' is not a size in MB" in json.loads(body)["error"]
