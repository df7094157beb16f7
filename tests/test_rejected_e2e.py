"""End to end, as a user meets it: the real daemon (``spoold run``) and two ``spoold work``
devices drain an inbox of good clips and bad inputs (an empty file, random bytes named .MP4, a
real clip cut short); then ``spoold serve`` answers over HTTP: each bad input is a video of
status ``rejected`` with its reason (the detail, the ``status`` filter, ``/api/stats``, the
console's panel), the same files ``spoold ls --rejected`` lists; and once the cut copy is
finished, its file is no longer rejected, in the API as in ``spoold ls --rejected``.  A daemon
that starts after rejections its index never heard of indexes them."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

from daemon_support import DaemonProcess, Env, WorkerProcess, cli_cmd, drive, wait_until
from test_api_server import free_port
from test_daemon_e2e import DETECT, PREPROCESS

from spoold.demo import samples
from spoold.server import media
from webui_export.api.app import create_app
from webui_export.index.shapes import iso_utc, utc_naive

CONFIG = '\n[index]\ndir = "index"\npublish_interval_s = 0.2\n'
GOOD = ("DCIM/Movie/2026_0513_172152_000120F.MP4", "Record/20190101_120000_NF.mp4")
EMPTY = "DCIM/Movie/2026_0513_173000_000130F.MP4"
RANDOM = "DCIM/Movie/2026_0513_173100_000131F.MP4"
CUT = "Normal/Front/NO20191130-120156-000121.MP4"
#: path on the storage root (the inbox is its folder cams/) -> the reason it is rejected for
REASONS = {
    f"cams/{EMPTY}": media.REASON_EMPTY,
    f"cams/{RANDOM}": media.REASON_NOT_MEDIA,
    f"cams/{CUT}": media.REASON_TRUNCATED,
}


def get(base: str, path: str) -> Any:
    with urllib.request.urlopen(base + path, timeout=10) as resp:
        body = resp.read().decode()
    return json.loads(body) if path.startswith("/api/") else body


def rejected_in_api(base: str) -> dict[str, dict[str, Any]]:
    rows = get(base, "/api/videos?status=rejected&limit=100")["rows"]
    return {r["path"]: r for r in rows}


def ls_rejected(env: Env) -> dict[str, str]:
    out = subprocess.run(
        cli_cmd("ls", "--rejected", "--json", "--config", str(env.config)),
        capture_output=True,
        text=True,
        check=True,
        cwd=env.base,
    ).stdout
    return {r["path"]: r["reason"] for r in json.loads(out)}


def test_rejected_inputs_read_rejected_over_http_until_the_file_is_ingested(
    tmp_path: Path,
) -> None:
    env = Env(tmp_path, extra=CONFIG)
    (env.base / "preprocess.py").write_text(PREPROCESS)
    (env.base / "detect.py").write_text(DETECT)
    for i, rel in enumerate(GOOD):
        samples.make_clip(env.inbox / rel, seed=80 + i)
    full = samples.make_clip(tmp_path / "staging" / "full.MP4", seconds=3, seed=90)
    data = full.read_bytes()
    (env.inbox / EMPTY).touch()
    (env.inbox / RANDOM).write_bytes(os.urandom(200_000))
    (env.inbox / CUT).parent.mkdir(parents=True)
    (env.inbox / CUT).write_bytes(data[: len(data) * 3 // 5])  # a copy that stalled
    port = free_port()
    daemon = DaemonProcess(env).start()
    jetson = WorkerProcess(env, "jetson", "jetson-01", env.base / "preprocess.py")
    gpu = WorkerProcess(env, "gpu", "gpu-4090", env.base / "detect.py")
    serve = subprocess.Popen(
        [*cli_cmd("serve", "--config", str(env.config)), "--port", str(port), "--workers", "1"],
        cwd=env.base,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: len(env.complete("archive")) == len(GOOD), 90, "the good clips")
        rejected = wait_until(
            lambda: (r := _try(rejected_in_api, base)) and len(r) == len(REASONS) and r,
            60,
            "three rejected videos in the API",
            poll=0.2,
        )
        # -- what the API says about each, and that it says what `spoold ls --rejected` says
        assert {p: r["rejection"]["reason"] for p, r in rejected.items()} == REASONS
        assert ls_rejected(env) == REASONS
        ingests = {r["video_id"]: r for r in env.complete("ingest").values()}
        for path, row in rejected.items():
            assert row["status"] == "rejected" and row["device"] == "indoor-nas"
            assert row["vehicle"] == "indoor-nas" and row["rejection"]["inbox"] == "cams"
            record = ingests[row["video_id"]]
            assert record["result"]["reason"] == REASONS[path]
            assert row["rejection"]["detail"] == record["result"].get("detail")
            assert row["rejection"]["task_id"] == record["task_id"]
            done = datetime.fromisoformat(record["completed_at"].replace("Z", "+00:00"))
            assert row["rejection"]["at"] == iso_utc(utc_naive(done))
            video = get(base, f"/api/videos/{row['video_id']}")["video"]
            assert video["status"] == "rejected" and video["rejection"] == row["rejection"]
            assert video["pipeline"][0] == {
                "stage": "ingest",
                "state": "complete",
                "task_id": record["task_id"],
                "device": "server",
                "updated_at": row["rejection"]["at"],
                "error": "rejected",
            }
            assert {s["state"] for s in video["pipeline"][1:]} == {"skipped"}
        assert rejected[f"cams/{CUT}"]["rejection"]["detail"]  # what mediainfo said of the cut copy
        stats = get(base, "/api/stats")["index"]["videos_by_status"]
        assert stats == {"complete": len(GOOD), "rejected": len(REASONS)}
        complete = get(base, "/api/videos?status=complete&limit=100")["rows"]
        assert sorted(r["path"] for r in complete) == sorted(f"cams/{p}" for p in GOOD)
        panel = get(base, "/ops/panel")  # the console's recent videos say it too
        for path in REASONS:
            assert f">{path}</a>" in panel
        # -- the stalled copy finishes: its content is a new video, its file not rejected
        tmp = env.inbox / "Normal" / ".copying"
        tmp.write_bytes(data)
        os.replace(tmp, env.inbox / CUT)
        wait_until(lambda: len(env.complete("archive")) == len(GOOD) + 1, 90, "the finished copy")
        left = wait_until(
            lambda: (r := _try(rejected_in_api, base)) and len(r) == len(REASONS) - 1 and r,
            30,
            "the finished copy's file no longer rejected",
            poll=0.2,
        )
        assert set(left) == set(REASONS) - {f"cams/{CUT}"}
        assert ls_rejected(env) == {p: r for p, r in REASONS.items() if p != f"cams/{CUT}"}
        old = get_status(base, f"/api/videos/{rejected[f'cams/{CUT}']['video_id']}")
        assert old == 404
        stats = get(base, "/api/stats")["index"]["videos_by_status"]
        assert stats == {"complete": len(GOOD) + 1, "rejected": len(REASONS) - 1}
    finally:
        jetson.stop()
        gpu.stop()
        _stop(serve)
        assert daemon.stop() == 0, daemon.output()[-3000:]


def _try(fn: Any, *args: Any) -> Any:
    """``fn(*args)``, or None while the server is not answering yet."""
    try:
        return fn(*args)
    except OSError:
        return None


def get_status(base: str, path: str) -> int:
    try:
        with urllib.request.urlopen(base + path, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, 2)  # gunicorn: quick shutdown
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(5)


def test_a_restarted_daemon_indexes_the_rejections_it_had_not(tmp_path: Path) -> None:
    """Rejections completed while no daemon told the index (one killed before its pass, or
    one run before the index existed) reach it at the next daemon's start: its first chain
    pass looks at the recent days again."""
    env = Env(tmp_path)  # no [index] yet
    (env.inbox / RANDOM).parent.mkdir(parents=True)
    (env.inbox / RANDOM).write_bytes(os.urandom(50_000))
    first = env.daemon()
    first.start()
    try:
        drive(first, lambda: env.complete("ingest"), 30, "the rejected ingest")
    finally:
        first.shutdown()
    [record] = env.complete("ingest").values()
    assert record["result"]["reason"] == media.REASON_NOT_MEDIA
    env.write_config(CONFIG)
    client = create_app({"INDEX_DIR": env.base / "index"}).test_client()

    def listed() -> list[dict[str, Any]]:
        body = client.get("/api/videos?status=rejected").get_json()
        return body["rows"] if body.get("ok") else []

    second = env.daemon()
    second.start()
    try:
        [row] = drive(second, listed, 30, "the rejection in the published index")
    finally:
        second.shutdown()
    assert (row["path"], row["rejection"]["reason"]) == (f"cams/{RANDOM}", media.REASON_NOT_MEDIA)
    assert row["rejection"]["task_id"] == record["task_id"]
