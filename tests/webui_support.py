"""A WebUI test site: the demo index, real clips on a storage root, a live HTTP server, and
headless Chromium.

Plain functions (``build_site``, ``serve``, ``need_browser``, ``launch``) shared by the WebUI's
HTTP and browser tests and the console's browser test.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from schemas.metadata import VideoMeta
from spoold.demo.samples import make_clip
from spoold.demo.synth import DemoIndex, demo_videos
from webui_export.api.app import create_app
from webui_export.index.writer import Indexer

#: Clips made for real (the demo index says 60 s; these are shorter: a sighting's offset
#: must fall inside).  The rest of the demo's videos have no file on the root.
CLIPS = {"car1_f_0001": 20, "car2_f_0001": 30}


@dataclass(frozen=True)
class Site:
    demo: DemoIndex
    storage: Path  # the "server" storage root
    outside: Path  # a folder next to the root, holding a "secret" media file


#: The plate box the detector found in car1_f_0001 at the AB123 sighting (5.0 s).
PLATE_BOX = {"x": 0.25, "y": 0.5, "w": 0.2, "h": 0.1}


def _demo_index(index_dir: Path, files_dir: Path) -> DemoIndex:
    """The demo index, plus a ``license_plate`` detection where car1_f_0001 sees AB123."""
    videos: dict[str, VideoMeta] = {}
    files_by_video: dict[str, dict[str, Path]] = {}
    with Indexer(index_dir) as indexer:
        for video, files, pipeline in demo_videos(files_dir):
            if video.video_id == "car1_f_0001":
                doc = json.loads(files["detections"].read_text())
                doc["detections"].append(
                    {"t": 5.0, "label": "license_plate", "confidence": 0.97, "bbox": PLATE_BOX}
                )
                files["detections"].write_text(json.dumps(doc))
            indexer.finalize(video, files, pipeline)
            videos[video.video_id] = video
            files_by_video[video.video_id] = files
        indexer.publish()
    return DemoIndex(index_dir, files_dir, videos, files_by_video)


def build_site(tmp: Path) -> Site:
    demo = _demo_index(tmp / "index", tmp / "files")
    storage = tmp / "storage"
    for video_id, seconds in CLIPS.items():
        video = demo.videos[video_id]
        make_clip(storage / video.path, seconds=seconds, size=(320, 240), fps=10)
    outside = tmp / "outside"
    outside.mkdir()
    (outside / "secret.mp4").write_bytes(b"not for you" * 10)
    return Site(demo, storage, outside)


def app_config(site: Site, **extra: Any) -> dict[str, Any]:
    return {
        "INDEX_DIR": site.demo.index_dir,
        "STORAGE_ROOTS": {"server": site.storage},
        "THUMBNAIL_CACHE": site.storage.parent / "thumbnails",
        **extra,
    }


@contextmanager
def serve(config: dict[str, Any]) -> Iterator[str]:
    """The app on a real loopback HTTP server in a thread; yields its base URL."""
    httpd = make_server("127.0.0.1", 0, create_app(config), threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        thread.join(5)


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def need_browser() -> None:
    """Skip (fail under ``CI=true``) when playwright or Debian's chromium is missing."""
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


def launch(pw: Any) -> Any:
    """Debian's chromium, headless, quiet (no background network), clips may autoplay."""
    return pw.chromium.launch(
        executable_path=CHROMIUM,
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--autoplay-policy=no-user-gesture-required",
        ],
    )
