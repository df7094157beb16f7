"""The media route at the HTTP level, on a real server: ranges, 416, ETag/304, containment
(``..``, ``%2e%2e``, encoded slashes, absolute paths, symlinks out of the root), missing
files, the token (bearer or media signature), and the WebUI's configuration."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from webui_support import Site, app_config, build_site, serve

from spoold.errors import ConfigError
from webui_export.api import media
from webui_export.api.app import create_app

CLIP = "videos/car1/car1_f_0001.MP4"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    site = build_site(tmp_path_factory.mktemp("media"))
    videos = site.storage / "videos"
    os.symlink(site.outside / "secret.mp4", videos / "escape.mp4")  # a file link leading out
    os.symlink(site.outside, videos / "elsewhere")  # a folder link leading out
    os.symlink("car1/car1_f_0001.MP4", videos / "alias.mp4")  # a link that stays inside
    (videos / "notes.json").write_text("{}")
    return site


@pytest.fixture(scope="module")
def base(site: Site) -> Iterator[str]:
    with serve(app_config(site)) as url:
        yield url


def get(base: str, raw_path: str, headers: dict[str, str] | None = None) -> tuple[int, Any, bytes]:
    """GET with the path sent exactly as given (no client-side normalisation or quoting)."""
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("GET", raw_path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()


def clip_bytes(site: Site) -> bytes:
    return (site.storage / CLIP).read_bytes()


def test_the_whole_file_with_validators(base: str, site: Site) -> None:
    status, headers, body = get(base, f"/api/media/server/{CLIP}")
    assert status == 200
    assert body == clip_bytes(site)
    assert headers["Content-Type"] == "video/mp4"
    assert headers["Accept-Ranges"] == "bytes"
    assert headers["ETag"] and not headers["ETag"].startswith("W/")
    assert headers["Last-Modified"]


def test_a_range_gets_206_with_content_range(base: str, site: Site) -> None:
    data = clip_bytes(site)
    status, headers, body = get(base, f"/api/media/server/{CLIP}", {"Range": "bytes=100-199"})
    assert status == 206
    assert headers["Content-Range"] == f"bytes 100-199/{len(data)}"
    assert body == data[100:200]
    status, headers, body = get(base, f"/api/media/server/{CLIP}", {"Range": "bytes=-16"})
    assert status == 206 and body == data[-16:]
    status, headers, body = get(base, f"/api/media/server/{CLIP}", {"Range": "bytes=1000-"})
    assert status == 206 and body == data[1000:]
    assert headers["Content-Range"] == f"bytes 1000-{len(data) - 1}/{len(data)}"


def test_an_unsatisfiable_range_gets_416_json(base: str, site: Site) -> None:
    size = len(clip_bytes(site))
    status, headers, body = get(base, f"/api/media/server/{CLIP}", {"Range": f"bytes={size}-"})
    assert status == 416
    assert headers["Content-Range"] == f"bytes */{size}"
    doc = json.loads(body)
    assert doc["ok"] is False and doc["status"] == 416 and str(size) in doc["error"]


def test_etag_revalidation_and_if_range(base: str, site: Site) -> None:
    _, headers, _ = get(base, f"/api/media/server/{CLIP}")
    etag = headers["ETag"]
    status, _, body = get(base, f"/api/media/server/{CLIP}", {"If-None-Match": etag})
    assert status == 304 and body == b""
    status, _, _ = get(base, f"/api/media/server/{CLIP}", {"If-None-Match": '"other"'})
    assert status == 200
    # If-Range with a stale validator: the whole (changed) file, not a range of it
    status, _, body = get(
        base, f"/api/media/server/{CLIP}", {"Range": "bytes=0-9", "If-Range": '"stale"'}
    )
    assert status == 200 and body == clip_bytes(site)
    status, _, body = get(
        base, f"/api/media/server/{CLIP}", {"Range": "bytes=0-9", "If-Range": etag}
    )
    assert status == 206 and body == clip_bytes(site)[:10]


@pytest.mark.parametrize(
    "raw_path",
    [
        "/api/media/server/../../outside/secret.mp4",
        "/api/media/server/videos/../../outside/secret.mp4",
        "/api/media/server/videos/%2e%2e/%2e%2e/outside/secret.mp4",
        "/api/media/server/videos/%2E%2E/car1/car1_f_0001.MP4",
        "/api/media/server/videos%2F..%2F..%2Foutside%2Fsecret.mp4",
        "/api/media/server/videos%2fcar1%2fcar1_f_0001.MP4",
        "/api/media/server/%2Fetc%2Fsecret.mp4",
        "/api/media/server//etc/secret.mp4",
        "/api/media/server/videos//car1/car1_f_0001.MP4",
        "/api/media/server/videos/..%5C..%5Coutside%5Csecret.mp4",
        "/api/media/server/videos/./car1/car1_f_0001.MP4",
        "/api/media/server/videos/car1/car1_f_0001.MP4%00.mp4",
    ],
)
def test_traversal_attempts_are_refused(base: str, raw_path: str) -> None:
    status, headers, body = get(base, raw_path)
    assert status in (400, 404), (status, body[:80])
    assert b"not for you" not in body
    assert headers["Content-Type"] == "application/json"
    doc = json.loads(body)
    assert doc["ok"] is False and doc["status"] == status


@pytest.mark.parametrize("name", ["escape.mp4", "elsewhere/secret.mp4"])
def test_symlinks_leading_out_of_the_root_are_404(base: str, name: str) -> None:
    status, _, body = get(base, f"/api/media/server/videos/{name}")
    assert status == 404
    assert b"not for you" not in body
    assert "no file" in json.loads(body)["error"]


def test_a_symlink_inside_the_root_is_served(base: str, site: Site) -> None:
    status, _, body = get(base, "/api/media/server/videos/alias.mp4")
    assert status == 200 and body == clip_bytes(site)


@pytest.mark.parametrize(
    ("raw_path", "says"),
    [
        ("/api/media/server/videos/car1/missing.mp4", "no file 'videos/car1/missing.mp4'"),
        ("/api/media/nas9/videos/car1/car1_f_0001.MP4", "no storage root 'nas9' (known: server)"),
        ("/api/media/server/videos/notes.json", "is not a media file"),
        ("/api/media/server/videos/car1", "is not a media file"),
    ],
)
def test_missing_files_and_roots_are_404_json(base: str, raw_path: str, says: str) -> None:
    status, headers, body = get(base, raw_path)
    assert status == 404
    assert headers["Content-Type"] == "application/json"
    assert says in json.loads(body)["error"]


def test_with_a_token_media_needs_the_bearer_or_a_fresh_signature(site: Site) -> None:
    with serve(app_config(site, API_TOKEN="s3cret")) as base:
        path = f"/api/media/server/{CLIP}"
        assert get(base, path)[0] == 401
        assert get(base, "/api/media-signature")[0] == 401
        assert get(base, path, {"Authorization": "Bearer s3cret"})[0] == 200
        status, _, body = get(base, "/api/media-signature", {"Authorization": "Bearer s3cret"})
        signed = json.loads(body)
        assert status == 200 and signed["param"] == "s"
        assert get(base, f"{path}?s={signed['value']}")[0] == 200
        status, _, _ = get(base, f"{path}?s={signed['value']}", {"Range": "bytes=0-9"})
        assert status == 206
        expired = media.sign("s3cret", int(time.time()) - 1)
        forged = media.sign("guess", int(time.time()) + 600)
        for bad in (expired, forged, "123.abc", signed["value"] + "0"):
            assert get(base, f"{path}?s={bad}")[0] == 401, bad
        # a signature opens media only, never the data API
        assert get(base, f"/api/videos?s={signed['value']}")[0] in (400, 401)
        # page shells and static files hold no data: they load without the token
        for page in ("/", "/browse", "/browse/2026-11-24", "/plates/AB123", "/videos/car1_f_0001"):
            status, _, body = get(base, page)
            assert status == 200 and b"<main" in body, page
        assert get(base, "/static/ui/api.js")[0] == 200
        assert get(base, "/ops/panel")[0] == 401
        assert get(base, "/api/plates/AB123/timeline")[0] == 401


def test_without_a_token_the_signature_is_null(base: str) -> None:
    status, _, body = get(base, "/api/media-signature")
    assert status == 200
    assert json.loads(body) == {"ok": True, "param": "s", "value": None, "expires_at": None}


def test_storage_roots_and_tiles_come_from_the_config_file(site: Site, tmp_path: Path) -> None:
    cfg = tmp_path / "spoold.toml"
    rel = os.path.relpath(site.storage, tmp_path)
    cfg.write_text(
        f'[spool]\nroot = "spool"\n[storage]\nserver = "{rel}"\n'
        '[webui]\ntile_url = "https://tiles.example.org/{z}/{x}/{y}.png"\n'
        'tile_attribution = "tiles by example"\n'
    )
    app = create_app({"INDEX_DIR": site.demo.index_dir, "CONFIG_FILE": str(cfg)})
    assert app.config["STORAGE_ROOTS"] == {"server": site.storage.resolve()}
    assert app.config["TILE_URL"] == "https://tiles.example.org/{z}/{x}/{y}.png"
    page = app.test_client().get("/browse").get_data(as_text=True)
    assert 'data-tile-url="https://tiles.example.org/{z}/{x}/{y}.png"' in page
    assert 'data-tile-attribution="tiles by example"' in page
    assert app.test_client().get(f"/api/media/server/{CLIP}").status_code == 200


def test_the_default_tiles_are_openstreetmaps_and_empty_means_none(site: Site) -> None:
    app = create_app({"INDEX_DIR": site.demo.index_dir})
    assert app.config["TILE_URL"] == "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    assert "OpenStreetMap" in app.config["TILE_ATTRIBUTION"]
    assert app.config["STORAGE_ROOTS"] == {}
    offline = create_app({"INDEX_DIR": site.demo.index_dir, "TILE_URL": ""})
    assert 'data-tile-url=""' in offline.test_client().get("/browse").get_data(as_text=True)


@pytest.mark.parametrize(
    ("config", "says"),
    [
        ({"TILE_URL": "ftp://tiles/{z}/{x}/{y}"}, "TILE_URL"),
        ({"TILE_URL": "https://tiles.example.org/{z}/{x}.png"}, "{y}"),
        ({"STORAGE_ROOTS": ["server"]}, "STORAGE_ROOTS"),
    ],
)
def test_bad_webui_settings_are_config_errors(
    site: Site, config: dict[str, Any], says: str
) -> None:
    with pytest.raises(ConfigError, match=says.replace("{", r"\{").replace("}", r"\}")):
        create_app({"INDEX_DIR": site.demo.index_dir, **config})


def test_an_unknown_webui_key_in_the_config_file_is_an_error(site: Site, tmp_path: Path) -> None:
    cfg = tmp_path / "spoold.toml"
    cfg.write_text('[spool]\nroot = "spool"\n[webui]\ntile_ulr = "x"\n')
    with pytest.raises(ConfigError, match=r"webui.tile_ulr: unknown setting"):
        create_app({"INDEX_DIR": site.demo.index_dir, "CONFIG_FILE": str(cfg)})


def test_the_daemon_accepts_the_webui_section(tmp_path: Path) -> None:
    from spoold.server.settings import load_settings

    cfg = tmp_path / "spoold.toml"
    cfg.write_text('[spool]\nroot = "spool"\n[webui]\ntile_url = ""\n')
    assert load_settings(cfg).webui == {"tile_url": ""}


def test_the_real_spoold_serve_reads_storage_and_tiles_from_its_config(
    site: Site, tmp_path: Path
) -> None:
    """``spoold serve --config`` (gunicorn, a worker process): the WebUI's settings reach it."""
    from test_api_server import free_port, stop, wait_until

    cfg = tmp_path / "spoold.toml"
    cfg.write_text(
        f'[spool]\nroot = "{tmp_path / "spool"}"\n'
        f'[storage]\nserver = "{site.storage}"\n'
        f'[index]\ndir = "{site.demo.index_dir}"\n'
        '[webui]\ntile_url = ""\n'
    )
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPOOLD_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "spoold", "serve", "--config", str(cfg), "--port", str(port),
         "--workers", "1"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: get(base, "/api/openapi.json")[0] == 200, 30, "server up", proc)
        status, _, body = get(base, f"/api/media/server/{CLIP}", {"Range": "bytes=0-3"})
        assert status == 206 and body == clip_bytes(site)[:4]
        status, _, page = get(base, "/plates/AB123")
        assert status == 200 and b'data-tile-url=""' in page
    finally:
        log = stop(proc)
    assert "Traceback" not in log, log
