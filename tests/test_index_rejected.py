"""A file that ingestion refused reads ``rejected`` in the read API (``Indexer.record_ingests``):
the detail with the reason, the ``status`` filter, ``/api/stats``; and, like ``spoold ls
--rejected``, only while the rejection is its file's latest ingest record, whatever order the
records come in."""

from __future__ import annotations

from datetime import timedelta
from itertools import permutations
from pathlib import Path
from typing import Any

import pytest
from test_api_openapi import response_validator

from schemas.metadata import StageStatus
from schemas.task import FileRef, Task
from spoold.demo.synth import video_files
from webui_export.api.app import create_app
from webui_export.index.writer import Indexer

STAMPS = ("20261125T101500Z", "20261125T111500Z", "20261125T121500Z")


def record(
    stamp: str, video_id: str, path: str, result: dict[str, Any], *, device: str = "indoor-nas"
) -> Task:
    """A complete ingest record as the daemon writes it."""
    t = Task.model_validate(
        {
            "task_id": f"{stamp}-ingest-{video_id}",
            "task_type": "ingest",
            "device_class": "server",
            "video_id": video_id,
            "inputs": [FileRef(device=device, path=path, type="video")],
            "params": {"inbox": "cams", "vehicle": "van-7", "size": 1234},
            "created_at": "2026-11-25T10:15:00Z",
        }
    )
    at = t.created_at + timedelta(minutes=int(stamp[9:11]))
    return t.model_copy(update={"completed_at": at, "completed_by": "server", "result": result})


def rejected(
    stamp: str, video_id: str, path: str, reason: str = "not a media file", **extra: Any
) -> Task:
    res = {"rejected": True, "reason": reason, "video_id": video_id, "path": path, **extra}
    return record(stamp, video_id, path, res)


def accepted(stamp: str, video_id: str, path: str) -> Task:
    return record(stamp, video_id, path, {"video_id": video_id, "path": path, "size": 9})


def ingest_stages(t: Task) -> list[StageStatus]:
    return [
        StageStatus(
            stage="ingest",
            state="complete",
            task_id=t.task_id,
            device="server",
            updated_at=t.completed_at,
            error="rejected",
        ),
        StageStatus(stage="preprocess", state="skipped"),
    ]


def api(index: Path) -> Any:
    return create_app({"INDEX_DIR": index}).test_client()


def rejected_rows(client: Any) -> dict[str, dict[str, Any]]:
    rows = client.get("/api/videos?status=rejected&limit=100").get_json()["rows"]
    return {r["path"]: r for r in rows}


def test_a_rejected_file_reads_rejected_with_its_reason_everywhere(tmp_path: Path) -> None:
    ix = Indexer(tmp_path / "index", publish_interval=0)
    video, files = video_files(tmp_path / "meta", "good1", duration_s=20, detections=3)
    ix.finalize(video, files, [])
    bad = rejected(
        STAMPS[0], "vbad1", "cams/2026/junk.MP4", "file is truncated (mediainfo IsTruncated)",
        detail="IsTruncated: Yes", size=4096,
    )  # fmt: skip
    assert ix.record_ingests([(bad, ingest_stages(bad))]) == 1
    ix.publish()
    client = api(tmp_path / "index")

    [row] = client.get("/api/videos?status=rejected").get_json()["rows"]
    assert row["video_id"] == "vbad1" and row["status"] == "rejected"
    assert row["path"] == "cams/2026/junk.MP4" and row["device"] == "indoor-nas"
    assert row["vehicle"] == "van-7" and row["start"] is None
    assert row["rejection"] == {
        "reason": "file is truncated (mediainfo IsTruncated)",
        "detail": "IsTruncated: Yes",
        "inbox": "cams",
        "task_id": bad.task_id,
        "at": "2026-11-25T10:25:00.000Z",
    }
    detail = client.get("/api/videos/vbad1").get_json()["video"]
    assert detail["status"] == "rejected" and detail["size"] == 4096
    assert detail["rejection"] == row["rejection"]
    assert [(s["stage"], s["state"], s["error"]) for s in detail["pipeline"]] == [
        ("ingest", "complete", "rejected"),
        ("preprocess", "skipped", None),
    ]
    good = client.get("/api/videos?status=complete&status=processing").get_json()["rows"]
    assert [r["video_id"] for r in good] == ["good1"] and good[0]["rejection"] is None
    stats = client.get("/api/stats").get_json()["index"]
    assert stats["videos_by_status"] == {"processing": 1, "rejected": 1}
    # the OpenAPI document describes these answers
    for url, template in (
        ("/api/videos?status=rejected", "/api/videos"),
        ("/api/videos", "/api/videos"),
        ("/api/videos/vbad1", "/api/videos/{video_id}"),
        ("/api/stats", "/api/stats"),
    ):
        response = client.get(url)
        validator = response_validator(template, response.status_code, response.mimetype)
        assert not [e.message for e in validator.iter_errors(response.get_json())], url


def test_a_file_ingested_later_no_longer_reads_rejected(tmp_path: Path) -> None:
    """A stalled copy rejected, then finished: its new content is its own (accepted) video,
    and the file's rejected video goes, as it leaves ``spoold ls --rejected``."""
    ix = Indexer(tmp_path / "index", publish_interval=0)
    first = rejected(
        STAMPS[0], "vold", "cams/a.MP4", "zero-filled tail (unfinished pre-allocated copy)"
    )
    other = rejected(STAMPS[0], "vother", "cams/b.MP4")
    ix.record_ingests([(first, ingest_stages(first)), (other, ingest_stages(other))])
    ix.publish()
    assert set(rejected_rows(api(tmp_path / "index"))) == {"cams/a.MP4", "cams/b.MP4"}

    assert ix.record_ingests([(accepted(STAMPS[1], "vnew", "cams/a.MP4"), [])]) == 1
    ix.publish()
    client = api(tmp_path / "index")
    assert set(rejected_rows(client)) == {"cams/b.MP4"}
    assert client.get("/api/videos/vold").status_code == 404
    assert client.get("/api/stats").get_json()["index"]["videos_by_status"] == {"rejected": 1}
    # the same records again, or an older one arriving late, change nothing
    assert ix.record_ingests([(first, ingest_stages(first))]) == 0
    assert ix.record_ingests([(other, ingest_stages(other))]) == 0


@pytest.mark.parametrize("order", list(permutations(range(3))))
def test_the_latest_record_of_a_file_decides_whatever_the_order(
    tmp_path: Path, order: tuple[int, ...]
) -> None:
    records = [
        rejected(STAMPS[0], "v1", "cams/c.MP4", "not a media file"),
        accepted(STAMPS[1], "v2", "cams/c.MP4"),
        rejected(STAMPS[2], "v3", "cams/c.MP4", "no video track"),
    ]
    ix = Indexer(tmp_path / "index", publish_interval=0)
    for i in order:  # one at a time, as passes of the daemon would bring them
        ix.record_ingests([(records[i], ingest_stages(records[i]))])
    ix.publish()
    rows = rejected_rows(api(tmp_path / "index"))
    assert {p: (r["video_id"], r["rejection"]["reason"]) for p, r in rows.items()} == {
        "cams/c.MP4": ("v3", "no video track")
    }


def test_superseded_and_inputless_records_are_no_rejected_files(tmp_path: Path) -> None:
    ix = Indexer(tmp_path / "index", publish_interval=0)
    old = rejected(STAMPS[0], "v1", "cams/d.MP4")
    superseded = rejected(STAMPS[1], "v2", "cams/d.MP4", "content changed", superseded=True)
    no_input = rejected(STAMPS[0], "v3", "x").model_copy(update={"inputs": []})
    ix.record_ingests([(old, []), (superseded, []), (no_input, [])])
    ix.publish()
    assert rejected_rows(api(tmp_path / "index")) == {}


def test_a_requeued_rejection_that_completes_again_shows_its_new_reason(tmp_path: Path) -> None:
    ix = Indexer(tmp_path / "index", publish_interval=0)
    t = rejected(STAMPS[0], "v1", "cams/e.MP4", "not a media file")
    ix.record_ingests([(t, [])])
    again = t.model_copy(
        update={
            "completed_at": t.completed_at + timedelta(hours=1),  # type: ignore[operator]
            "result": {**(t.result or {}), "reason": "no video track"},
        }
    )
    assert ix.record_ingests([(again, [])]) == 1
    ix.publish()
    [row] = rejected_rows(api(tmp_path / "index")).values()
    assert row["rejection"]["reason"] == "no video track"
    assert row["rejection"]["at"] == "2026-11-25T11:25:00.000Z"


def test_a_finalized_video_is_not_rejected_over_and_replaces_a_rejected_row(
    tmp_path: Path,
) -> None:
    """A video id that ended up finalized is that video, with its data, in the index."""
    ix = Indexer(tmp_path / "index", publish_interval=0)
    video, files = video_files(tmp_path / "meta", "v1", duration_s=20, detections=3)
    t = rejected(STAMPS[0], "v1", video.path, "file vanished (moved or deleted before ingestion)")
    ix.record_ingests([(t, [])])
    ix.finalize(video, files, [])  # requeued by an operator, then ingested and finalized
    ix.publish()
    client = api(tmp_path / "index")
    assert client.get("/api/videos/v1").get_json()["video"]["status"] == "processing"
    assert client.get("/api/stats").get_json()["index"]["videos_by_status"] == {"processing": 1}
    t2 = rejected(STAMPS[1], "v1", video.path)
    ix.record_ingests([(t2, [])])
    ix.publish()
    client = api(tmp_path / "index")
    assert client.get("/api/videos/v1").get_json()["video"]["status"] == "processing"
    assert rejected_rows(client) == {}


def test_an_index_from_before_rejected_videos_is_brought_up_to_date(tmp_path: Path) -> None:
    """Its ``videos`` table gains the column, and every detail document its ``rejection``."""
    index = tmp_path / "index"
    with Indexer(index, publish_interval=0) as ix:
        video, files = video_files(tmp_path / "meta", "v1", duration_s=20, detections=3)
        ix.finalize(video, files, [])
        ix._con.execute("ALTER TABLE videos DROP COLUMN rejection")
        ix._con.execute("DROP TABLE ingest_files")
        ix._con.execute("UPDATE video_docs SET detail = json_remove(detail, '$.rejection')")
        ix.publish()
    assert "rejection" not in api(index).get("/api/videos/v1").get_json()["video"]
    with Indexer(index, publish_interval=0) as ix:
        t = rejected(STAMPS[0], "vbad", "cams/f.MP4")
        assert ix.record_ingests([(t, [])]) == 1
        ix.publish()
    client = api(index)
    assert client.get("/api/videos/v1").get_json()["video"]["rejection"] is None
    assert set(rejected_rows(client)) == {"cams/f.MP4"}
