"""End to end, as a user runs it: the real daemon (``spoold run``) and the reference workers
started with the ``spoold work`` command lines of docs/workers.md exactly as printed drain
clips of three brands (GPS in each brand's own format, plates rendered in); then, per video,
the API says ``complete`` everywhere a user looks (the detail, the ``status`` filter,
``/api/stats``, the dashboard), every stage names its device and time, and the GPS track is
there and locates every plate sighting (UTC times, with ``Z``)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from api_views import dashboard_html
from daemon_support import DaemonProcess, Env, wait_until
from doc_commands import MAIN, fenced_blocks, shell_commands

from spoold.demo.media import generate_demo_clips

BRANDS = ("viofo", "blackvue", "70mai")
STAGES = ["ingest", "preprocess", "detect", "finalize", "archive"]
# Keyframes every 2 s: each rendered plate (readable ~2.6 s) is still on one of them.
CONFIG = """
[index]
dir = "index"
publish_interval_s = 0.2

[pipeline.stages.preprocess]
params = { rate = 0.5 }
"""


def doc_workers() -> dict[str, list[str]]:
    """device class -> the ``spoold work`` command line docs/workers.md prints for it."""
    out = {}
    for block in fenced_blocks(MAIN / "docs" / "workers.md", "sh"):
        for command in shell_commands(block):
            argv = shlex.split(command, comments=True)
            if argv[:2] == ["spoold", "work"]:
                out[argv[argv.index("--class") + 1]] = argv
    return out


def start_worker(env: Env, argv: list[str], name: str) -> subprocess.Popen[bytes]:
    """Run a printed command line as a shell in ``env.base`` would: ``./spoold.toml`` is the
    configuration, ``spoold`` and ``python`` are this environment's."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    with open(env.base / f"{name}.log", "ab") as log:
        return subprocess.Popen(
            argv,
            cwd=env.base,
            env={**os.environ, "PATH": path},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(10)


def sync_clips(env: Env, staging: Path) -> int:
    """Clips into the inbox by rename, with the archival copy the NAS keeps on shed-nas."""
    n = 0
    for src in sorted(staging.rglob("*")):
        if not src.is_file() or src.name == "manifest.json":
            continue
        rel = src.relative_to(staging)
        shed = env.root("shed-nas") / "cams" / rel
        shed.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, shed)
        dst = env.inbox / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.rename(src, dst)
        n += src.suffix.lower() == ".mp4"
    return n


def all_complete(client: Any, n: int) -> list[dict[str, Any]] | None:
    rows = client.get("/api/videos?limit=100").get_json()["rows"]
    return rows if len(rows) == n and all(r["status"] == "complete" for r in rows) else None


@pytest.mark.slow
def test_documented_workers_drain_three_brands_to_complete_videos_with_gps(
    tmp_path: Path,
) -> None:
    from webui_export.api.app import create_app

    workers = doc_workers()
    assert set(workers) == {"jetson", "gpu"}, workers
    env = Env(tmp_path, extra=CONFIG)
    manifest = generate_demo_clips(tmp_path / "staging", brands=BRANDS)
    assert {c.brand for c in manifest.clips} == set(BRANDS)
    daemon = DaemonProcess(env).start()
    clips = sync_clips(env, tmp_path / "staging")
    procs = {cls: start_worker(env, argv, f"worker-{cls}") for cls, argv in sorted(workers.items())}
    try:
        wait_until(
            lambda: (
                len(env.complete("archive")) == clips
                or any(p.poll() is not None for p in procs.values())
            ),
            170,
            f"{clips} archived videos",
            poll=0.5,
        )
        for cls, p in procs.items():
            assert p.poll() is None, (env.base / f"worker-{cls}.log").read_text()[-3000:]
        client = create_app(
            {"INDEX_DIR": env.base / "index", "SPOOL_ROOT": env.spool_root}
        ).test_client()
        # The daemon tells the index of the last completions within a pass and a publish.
        rows = wait_until(lambda: all_complete(client, clips), 20, "every video complete")
    finally:
        for p in procs.values():
            stop(p)
        assert daemon.stop() == 0, daemon.output()[-3000:]

    ingested = {r["video_id"]: r for r in env.complete("ingest").values()}
    assert {r["video_id"] for r in rows} == set(ingested)
    listed = client.get("/api/videos?status=complete&limit=100").get_json()["rows"]
    assert {r["video_id"] for r in listed} == set(ingested)
    assert client.get("/api/videos?status=processing").get_json()["rows"] == []
    stats = client.get("/api/stats").get_json()
    assert stats["index"]["videos_by_status"] == {"complete": clips}
    dashboard = dashboard_html(client)
    devices = {"preprocess": "jetson-01", "detect": "rtx-01"}
    for vid, rec in ingested.items():
        video = client.get(f"/api/videos/{vid}").get_json()["video"]
        assert video["status"] == "complete", video
        assert [s["stage"] for s in video["pipeline"]] == STAGES
        for stage in video["pipeline"]:
            assert stage["state"] == "complete", stage
            assert stage["device"] == devices.get(stage["stage"], "server"), stage
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+Z", stage["updated_at"] or ""), stage
        row = re.search(rf'href="/videos/{vid}".*?</tr>', dashboard, re.S)
        assert row and ">complete<" in row.group(0), (vid, dashboard)
        # GPS: the track, and every plate sighting of the video placed on it, in UTC.
        track = client.get(f"/api/videos/{vid}/track").get_json()
        assert video["counts"]["gps_points"] > 0 and track["geometry"]["coordinates"], video
        assert video["time_basis"] == "utc" and video["start"].endswith("Z"), video
        clip = next(c for c in manifest.clips if rec["inputs"][0]["path"].endswith(c.path))
        if clip.plates:
            assert video["counts"]["plate_reads"] > 0, (clip.path, video)
    plates = client.get("/api/plates?limit=100").get_json()["rows"]
    assert plates, "no plate read at all"
    for plate in plates:
        timeline = client.get(f"/api/plates/{plate['plate']}/timeline").get_json()["rows"]
        for sighting in timeline:
            assert sighting["location"] is not None, sighting
            assert sighting["time_basis"] == "utc" and sighting["first_seen"].endswith("Z")
