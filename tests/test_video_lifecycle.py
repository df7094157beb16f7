"""What the API says about a video is true at every step of its pipeline, and finalize indexes
the outputs of every stage, whatever path the chain took.

An in-process daemon (driven by ``tick``, index on) ingests real clips of brands and timings the
code was not tuned to (``spoold.demo.samples``); the device stages are played by the test
through the spool's verbs, as a worker does (claim, write outputs, complete, maybe publish its
own children).  The API is read through the Flask app over the published index.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from api_views import dashboard_html
from daemon_support import Env, drive

from schemas.task import ChildSpec, FileRef
from spoold.demo import samples
from spoold.demo.synth import PlateSpec, video_files
from spoold.errors import SpoolError
from spoold.server.daemon import Daemon
from spoold.server.executors.finalize import NOT_READY
from spoold.spool import Spool

CONFIG = """
[index]
dir = "index"
publish_interval_s = 0.1
"""
STAGES = ["ingest", "preprocess", "detect", "finalize", "archive"]
#: brand -> (seconds, fps) of its clip: none of the e2e test's brands, other timings.
CLIPS = {"nextbase": (3, 12), "thinkware": (2, 25), "tesla": (4, 8)}
GPS_FALLBACK = datetime(2024, 9, 15, 9, 0, tzinfo=timezone.utc)


def drop_clips(env: Env) -> dict[str, Path]:
    names = samples.brand_names()
    out = {}
    for i, (brand, (seconds, fps)) in enumerate(CLIPS.items()):
        out[brand] = samples.make_clip(
            env.inbox / names[brand], seconds=seconds, fps=fps, seed=300 + i
        )
    return out


def client(env: Env) -> Any:
    from webui_export.api.app import create_app

    return create_app({"INDEX_DIR": env.base / "index", "SPOOL_ROOT": env.spool_root}).test_client()


def outputs_of(env: Env, task: Any, kinds: tuple[str, ...]) -> list[FileRef]:
    """A worker's files for ``task``'s video (all kinds written once), the ``kinds`` listed."""
    vid = task.video_id
    ingest = next(r for r in env.complete("ingest").values() if r["video_id"] == vid)
    start = ingest["result"].get("start_utc")
    start_dt = datetime.fromisoformat(start) if start else GPS_FALLBACK
    server = env.root("server")
    _, files = video_files(
        server / "meta" / vid, vid, start=start_dt, duration_s=4.0, detections=6,
        plates=[PlateSpec(f"KA{len(vid) % 10}{vid[-4:].upper()}Z", 1.0)],
    )  # fmt: skip
    return [FileRef(device="server", path=str(files[k].relative_to(server)), type=k) for k in kinds]


def work(env: Env, spool: Spool, device_class: str, device: str, fn: Any) -> int:
    """Claim and handle every ready task of ``device_class`` with ``fn(claim)``."""
    n = 0
    while (claim := spool.claim(device_class, device)) is not None:
        fn(claim)
        n += 1
    return n


def video_docs(c: Any) -> dict[str, dict[str, Any]]:
    rows = c.get("/api/videos?limit=100").get_json()["rows"]
    return {r["video_id"]: c.get(f"/api/videos/{r['video_id']}").get_json()["video"] for r in rows}


def test_status_is_true_at_every_step_until_complete(tmp_path: Path) -> None:
    env = Env(tmp_path, extra=CONFIG)
    drop_clips(env)
    spool = env.spool()
    daemon: Daemon = env.daemon()
    daemon.start()
    try:
        drive(daemon, lambda: len(env.complete("ingest")) == len(CLIPS), 60, "ingested")

        def preprocess(claim: Any) -> None:
            claim.complete(outputs_of(env, claim.task, ("gps",)), [], {"gps": "ok"})

        def detect(claim: Any) -> None:
            claim.complete(outputs_of(env, claim.task, ("detections", "plates")), [], {})

        drive(daemon, lambda: work(env, spool, "jetson", "jetson-07", preprocess) or
              len(env.complete("preprocess")) == len(CLIPS), 60, "preprocessed")  # fmt: skip
        drive(daemon, lambda: work(env, spool, "gpu", "gpu-3", detect) or
              len(env.complete("detect")) == len(CLIPS), 60, "detected")  # fmt: skip
        c = client(env)

        # No archival copy yet: the archive stage fails, and the API says so.
        def archive_failing() -> dict[str, dict[str, Any]] | None:
            docs = video_docs(c)
            ok = len(docs) == len(CLIPS) and all(d["status"] == "failed" for d in docs.values())
            return docs if ok else None

        docs = drive(daemon, archive_failing, 60, "every video failed at archive")
        for doc in docs.values():
            stages = {s["stage"]: s for s in doc["pipeline"]}
            assert [s["stage"] for s in doc["pipeline"]] == STAGES
            assert stages["archive"]["state"] == "failed"
            assert "archival copy missing" in stages["archive"]["error"]
            assert stages["finalize"]["state"] == "complete", stages
            assert stages["finalize"]["device"] == "server" and stages["finalize"]["updated_at"]
            assert stages["preprocess"]["device"] == "jetson-07"
            assert stages["detect"]["device"] == "gpu-3"
        stats = c.get("/api/stats").get_json()["index"]["videos_by_status"]
        assert stats == {"failed": len(CLIPS)}

        # The NAS's replication catches up: the retried archive completes.
        for rec in env.complete("ingest").values():
            ref = rec["inputs"][0]
            copy = env.root("shed-nas") / ref["path"]
            copy.parent.mkdir(parents=True, exist_ok=True)
            copy.write_bytes((env.root(ref["device"]) / ref["path"]).read_bytes())

        def all_complete() -> dict[str, dict[str, Any]] | None:
            docs = video_docs(c)
            done = all(d["status"] == "complete" for d in docs.values())
            return docs if len(docs) == len(CLIPS) and done else None

        docs = drive(daemon, all_complete, 60, "every video complete")
    finally:
        daemon.shutdown()
    for doc in docs.values():
        for stage in doc["pipeline"]:
            assert stage["state"] == "complete" and stage["device"], stage
            assert stage["updated_at"].endswith("Z") and stage["error"] is None, stage
        assert doc["stages"]["complete"] == STAGES
    listed = c.get("/api/videos?status=complete").get_json()["rows"]
    assert {r["video_id"] for r in listed} == set(docs)
    assert c.get("/api/videos?status=failed").get_json()["rows"] == []
    assert c.get("/api/stats").get_json()["index"]["videos_by_status"] == {"complete": len(CLIPS)}
    dashboard = dashboard_html(c)
    for vid in docs:
        row = re.search(rf'href="/videos/{vid}".*?</tr>', dashboard, re.S)
        assert row and ">complete<" in row.group(0), vid


# The clips stay where they are: the inbox's root is their own archival copy.
DETECT_CLASS = """
[pipeline.stages.archive]
params = { root = "indoor-nas" }
"""


def test_finalize_indexes_gps_when_preprocess_publishes_detect_itself(tmp_path: Path) -> None:
    """preprocess with ``--detect-class``: detect gets the keyframes only, yet the index has
    the track and every sighting its place, in UTC; a finalize that would miss the track
    (preprocess published detect, then had not completed yet) fails, saying why."""
    env = Env(tmp_path, extra=CONFIG + DETECT_CLASS)
    drop_clips(env)
    spool = env.spool()
    daemon = env.daemon()
    daemon.start()
    held: list[Any] = []
    try:
        drive(daemon, lambda: len(env.complete("ingest")) == len(CLIPS), 60, "ingested")

        def preprocess(claim: Any) -> None:
            gps = outputs_of(env, claim.task, ("gps",))
            keyframes = FileRef(
                device="server", path=f"meta/{claim.task.video_id}/kf", type="keyframes"
            )
            child = ChildSpec(task_type="detect", device_class="gpu", inputs=[keyframes])
            if not held:  # this one publishes its child, then is slow to complete
                spool.publish(spool.child_task(claim.task, child))
                held.append(claim)
                return
            claim.complete([*gps, keyframes], [child], {"chain": False})

        def detect(claim: Any) -> None:
            assert [r.type for r in claim.task.inputs] == ["keyframes"]
            claim.complete(outputs_of(env, claim.task, ("detections", "plates")), [], {})

        drive(daemon, lambda: work(env, spool, "jetson", "jetson-01", preprocess) or
              len(env.complete("preprocess")) == len(CLIPS) - 1, 60, "preprocessed")  # fmt: skip
        slow = held[0].task

        def waiting() -> str:
            held[0].heartbeat()
            work(env, spool, "gpu", "rtx-01", detect)
            try:
                _, task = spool.get(slow.task_id.replace("-preprocess-", "-finalize-"))
            except SpoolError:  # not published yet
                return ""
            return task.attempts[-1].error if task.attempts else ""

        error = drive(daemon, waiting, 60, "the held video's finalize to fail")
        assert error.startswith(NOT_READY) and slow.task_id in error, error
        assert c_video(env, slow.video_id) is None  # nothing of it indexed
        held[0].complete([*outputs_of(env, slow, ("gps",))], [], {"chain": False})
        drive(daemon, lambda: len(env.complete("archive")) == len(CLIPS), 60, "archived")
        drive(daemon, lambda: all(
            (c_video(env, r["video_id"]) or {}).get("status") == "complete"
            for r in env.complete("ingest").values()), 30, "complete in the API")  # fmt: skip
    finally:
        daemon.shutdown()
    c = client(env)
    for rec in env.complete("archive").values():  # the video reached archive through finalize
        assert rec["result"]["archived"] == 1, rec
    for rec in env.complete("ingest").values():
        vid = rec["video_id"]
        video = c_video(env, vid)
        assert video is not None and video["counts"]["gps_points"] > 0, video
        assert video["sources"]["gps"] == "synth" and video["time_basis"] == "utc", video
        track = c.get(f"/api/videos/{vid}/track").get_json()
        assert track["geometry"]["coordinates"], track
    plates = c.get("/api/plates?limit=100").get_json()["rows"]
    assert len(plates) == len(CLIPS), plates
    for plate in plates:
        for s in c.get(f"/api/plates/{plate['plate']}/timeline").get_json()["rows"]:
            assert s["location"] is not None and s["first_seen"].endswith("Z"), s


def c_video(env: Env, vid: str) -> dict[str, Any] | None:
    response = client(env).get(f"/api/videos/{vid}")
    return response.get_json()["video"] if response.status_code == 200 else None
