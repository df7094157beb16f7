"""A WebUI test site: the demo index, real clips on a storage root, a live HTTP server, and
headless Chromium.

Plain functions (``build_site``, ``serve``, ``need_browser``, ``launch``) shared by the WebUI's
HTTP and browser tests and the console's browser test.
"""

from __future__ import annotations

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

from spoold.demo.samples import make_clip
from spoold.demo.synth import DemoIndex, build_demo_index
from webui_export.api.app import create_app

#: Clips made for real (the demo index says 60 s; these are shorter: a sighting's offset
#: must fall inside).  The rest of the demo's videos have no file on the root.
CLIPS = {"car1_f_0001": 20, "car2_f_0001": 30}


@dataclass(frozen=True)
class Site:
    demo: DemoIndex
    storage: Path  # the "server" storage root
    outside: Path  # a folder next to the root, holding a "secret" media file


def build_site(tmp: Path) -> Site:
    demo = build_demo_index(tmp / "index", tmp / "files")
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
