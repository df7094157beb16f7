"""The index's per-video stages follow what happens after finalize (``Indexer.update_stages``),
and a video's status, detail document, list filter and stats always agree with them."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.metadata import StageStatus
from schemas.task import Task
from spoold.demo.synth import PlateSpec, video_files
from spoold.server.executors.base import INDEX_LANE
from spoold.server.executors.index import IndexService
from spoold.server.storage import Storage
from webui_export.api.app import create_app
from webui_export.index.files import BLOCK_SIZE
from webui_export.index.livedb import mark_all_dirty
from webui_export.index.rows import rebuild_video_docs, video_status
from webui_export.index.shapes import STATES, STATUSES
from webui_export.index.writer import Indexer

T0 = datetime(2025, 3, 2, 22, 40, 7, 123456, tzinfo=timezone.utc)
NAMES = ["ingest", "preprocess", "detect", "finalize", "archive"]


def stages(*states: str, devices: tuple[str, ...] = ()) -> list[StageStatus]:
    out = []
    for i, (name, state) in enumerate(zip(NAMES, states, strict=False)):
        done = state in ("complete", "failed")
        out.append(
            StageStatus(
                stage=name,
                state=state,  # type: ignore[arg-type]
                task_id=f"20250302T224000Z-{name}-vx{i}",
                device=(devices[i] if i < len(devices) else f"dev-{i}") if done else None,
                updated_at=T0 + timedelta(seconds=7 * i) if done else None,
                error="archival copy missing" if state == "failed" else None,
            )
        )
    return out


def index_with(tmp_path: Path, videos: dict[str, list[StageStatus]]) -> Indexer:
    ix = Indexer(tmp_path / "index", publish_interval=0)
    for n, (vid, pipeline) in enumerate(videos.items()):
        video, files = video_files(
            tmp_path / "meta", vid, start=T0 + timedelta(minutes=3 * n), duration_s=20,
            detections=5, plates=[PlateSpec("MH12DE1433", 4.0)], brand="nextbase",
        )  # fmt: skip
        ix.finalize(video, files, pipeline)
    ix.publish()
    return ix


def api(tmp_path: Path) -> Any:
    return create_app({"INDEX_DIR": tmp_path / "index"}).test_client()


def test_a_finished_video_reads_complete_everywhere_once_its_last_stage_completes(
    tmp_path: Path,
) -> None:
    at_finalize = stages("complete", "complete", "complete", "running", "pending")
    ix = index_with(tmp_path, {"va": at_finalize, "vb": at_finalize})
    c = api(tmp_path)
    assert c.get("/api/videos/va").get_json()["video"]["status"] == "processing"
    assert c.get("/api/stats").get_json()["index"]["videos_by_status"] == {"processing": 2}

    archive_failed = stages("complete", "complete", "complete", "complete", "failed")
    assert ix.update_stages([("va", archive_failed)]) == 1
    ix.publish()
    c = api(tmp_path)
    va = c.get("/api/videos/va").get_json()["video"]
    assert va["status"] == "failed" and va["stages"]["failed"] == ["archive"]
    assert va["pipeline"][4]["error"] == "archival copy missing"
    assert [r["video_id"] for r in c.get("/api/videos?status=failed").get_json()["rows"]] == ["va"]

    done = stages(*["complete"] * 5, devices=("server", "jet-2", "gpu-9", "server", "server"))
    assert ix.update_stages([("va", done), ("vb", done), ("never-indexed", done)]) == 2
    assert ix.update_stages([("va", done)]) == 0  # unchanged: nothing to write
    ix.publish()
    c = api(tmp_path)
    for vid in ("va", "vb"):
        video = c.get(f"/api/videos/{vid}").get_json()["video"]
        assert video["status"] == "complete"
        assert [(s["stage"], s["device"]) for s in video["pipeline"]] == [
            ("ingest", "server"),
            ("preprocess", "jet-2"),
            ("detect", "gpu-9"),
            ("finalize", "server"),
            ("archive", "server"),
        ]
        assert video["pipeline"][1]["updated_at"] == "2025-03-02T22:40:14.123Z"
        assert video["counts"]["plate_reads"] == 3  # the rest of the document is kept
    listed = c.get("/api/videos?status=complete").get_json()["rows"]
    assert sorted(r["video_id"] for r in listed) == ["va", "vb"]
    assert c.get("/api/videos?status=processing").get_json()["rows"] == []
    assert c.get("/api/stats").get_json()["index"]["videos_by_status"] == {"complete": 2}
    ix.close()


def test_refinalizing_keeps_the_stages_it_is_given(tmp_path: Path) -> None:
    ix = index_with(tmp_path, {"vr": stages(*["complete"] * 5)})
    ix.update_stages([("vr", stages("complete", "complete", "complete", "running", "pending"))])
    ix.publish()
    assert api(tmp_path).get("/api/videos/vr").get_json()["video"]["status"] == "processing"
    ix.close()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(STATES), max_size=6))
def test_status_of_any_stage_states(states: list[str]) -> None:
    pipeline = [StageStatus(stage=f"s{i}", state=s) for i, s in enumerate(states)]  # type: ignore[arg-type]
    status = video_status(pipeline)
    assert status in STATUSES
    assert (status == "failed") == ("failed" in states)
    finished = bool(states) and set(states) <= {"complete", "skipped"}
    assert (status == "complete") == finished
    assert (status == "processing") == (not finished and "failed" not in states)


def test_an_index_saying_pending_is_renamed_to_processing_when_opened(tmp_path: Path) -> None:
    ix = index_with(tmp_path, {"vo": stages("complete", "complete", "complete", "running")})
    ix._con.execute("UPDATE videos SET status = 'pending'")  # as an older writer left it
    rebuild_video_docs(ix._con)
    mark_all_dirty(ix._con, BLOCK_SIZE)
    ix.publish()
    ix.close()
    assert api(tmp_path).get("/api/videos/vo").get_json()["video"]["status"] == "pending"
    with Indexer(tmp_path / "index", publish_interval=0) as again:
        again.publish()
    c = api(tmp_path)
    assert c.get("/api/videos/vo").get_json()["video"]["status"] == "processing"
    assert [r["video_id"] for r in c.get("/api/videos?status=processing").get_json()["rows"]] == [
        "vo"
    ]


class RecordingIndexer:
    """Stands in for the index in the daemon's lane: records what it is asked to do."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[Any]]] = []

    def update_stages(self, items: list[Any]) -> int:
        self.calls.append(("stages", [(vid, [s.state for s in st]) for vid, st in items]))
        return len(items)

    def record_ingests(self, items: list[Any]) -> int:
        self.calls.append(("ingests", [task.task_id for task, _ in items]))
        return 0


def test_stage_updates_given_while_the_lane_is_busy_go_as_one_in_order(tmp_path: Path) -> None:
    """Updates handed over while the index lane is busy join the last one waiting, unless
    something else was handed to the lane after it: each video ends with its latest stages,
    and nothing runs before what it was handed after."""
    storage = Storage({})
    service = IndexService(tmp_path / "index", storage)
    indexer = RecordingIndexer()
    service._indexer = indexer  # type: ignore[assignment]
    gate = threading.Event()
    storage.submit_local("busy", gate.wait, 30, lane=INDEX_LANE)
    service.update_stages([("va", stages("complete", "running"))])
    service.update_stages([("vb", stages("complete", "pending"))])
    service.update_stages([("va", stages("complete", "complete"))])
    ingest = Task(
        task_id="20250302T224000Z-ingest-vc", task_type="ingest", device_class="server",
        created_at=T0,
    )  # fmt: skip
    service.record_ingests([(ingest, [])])
    service.update_stages([("va", stages("complete", "failed"))])
    gate.set()
    done = storage.submit_local("after", lambda: None, lane=INDEX_LANE)
    assert done.wait(30)
    assert indexer.calls == [
        (
            "stages",
            [
                ("va", ["complete", "running"]),
                ("vb", ["complete", "pending"]),
                ("va", ["complete", "complete"]),
            ],
        ),
        ("ingests", [ingest.task_id]),
        ("stages", [("va", ["complete", "failed"])]),
    ]
