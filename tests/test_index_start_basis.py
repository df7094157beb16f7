"""Which rule gave a video's start time (file-name family, container date, GPS track, NAS file
time) is kept in the index and shown in the API's video detail; indexes written before it was
kept get it from their ``start_source`` when the writer opens them."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any, get_args

from schemas.metadata import StartBasis, VideoMeta
from spoold.demo.synth import video_files
from webui_export.api.app import create_app
from webui_export.index.writer import Indexer

START = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)


def _detail(index_dir: Path, video_id: str) -> dict[str, Any]:
    client = create_app({"INDEX_DIR": index_dir}).test_client()
    response = client.get(f"/api/videos/{video_id}")
    assert response.status_code == 200, response.get_json()
    video: dict[str, Any] = response.get_json()["video"]
    return video


def _videos(tmp_path: Path) -> dict[str, tuple[VideoMeta, dict[str, Path]]]:
    """One video per basis: a Viofo name with an agreeing container date, a camera-clock
    name pinned to UTC by its GPS track, a generic name, the container date, the NAS file
    time, nothing."""
    w = tmp_path / "w"
    out: dict[str, tuple[VideoMeta, dict[str, Path]]] = {}
    video, files = video_files(w, "name", start=START)
    out["name"] = (video.model_copy(update={"start_basis": "name"}), files)
    video, files = video_files(w, "gps", start=START, brand="hisilicon")
    out["gps"] = (video.model_copy(update={"start_utc": None, "start_basis": "name"}), files)
    video, files = video_files(w, "generic", start=START, camera_clock_only=True)
    out["generic"] = (video.model_copy(update={"brand": "generic", "start_basis": "name"}), files)
    note = "name time 1970-01-01 00:00:00 ignored: before 2000"
    video, files = video_files(w, "container", start=START, brand="garmin")
    update = {"start_local": None, "start_basis": "container", "start_note": note}
    out["container"] = (video.model_copy(update=update), files)
    video, files = video_files(w, "file-time", start=START, brand="generic", gps_hz=None)
    update = {"start_local": None, "start_basis": "file-time", "start_note": "copy time"}
    out["file-time"] = (video.model_copy(update=update), files)
    out["unknown"] = video_files(w, "unknown", start=None, brand="generic")
    return out


def test_the_video_detail_says_which_rule_gave_the_start(tmp_path: Path) -> None:
    with Indexer(tmp_path / "index", publish_interval=0) as ix:
        for video, files in _videos(tmp_path).values():
            ix.finalize(video, files)
        ix.publish()
    got = {
        vid: {k: v for k, v in _detail(tmp_path / "index", vid).items() if k.startswith("start")}
        for vid in ("name", "gps", "generic", "container", "file-time", "unknown")
    }
    assert got["name"] | {"start_utc": None} == {
        "start": "2026-11-25T10:00:00.000Z",
        "start_utc": None,
        "start_local": "2026-11-25T11:00:00.000",
        "start_source": "filename",
        "start_basis": "name",
        "start_rule": "viofo",
        "start_note": None,
    }
    # No UTC from ingestion: the GPS track pins the start, the name still says who read it.
    assert got["gps"]["start_basis"] == "gps"
    assert got["gps"]["start_rule"] == "hisilicon"
    assert got["gps"]["start_note"] == (
        "UTC start from the GPS track (synth); the name (hisilicon) gave the camera-clock start"
    )
    assert got["gps"]["start_utc"] == "2026-11-25T10:00:00.000Z"
    assert (got["generic"]["start_basis"], got["generic"]["start_rule"]) == (
        "name",
        "generic-datetime",
    )
    assert got["container"]["start_basis"] == "container"
    assert got["container"]["start_rule"] is None
    assert got["container"]["start_note"] == "name time 1970-01-01 00:00:00 ignored: before 2000"
    assert (got["file-time"]["start_basis"], got["file-time"]["start_note"]) == (
        "file-time",
        "copy time",
    )
    assert got["unknown"] | {"start_source": None} == {
        "start": None,
        "start_utc": None,
        "start_local": None,
        "start_source": None,
        "start_basis": "unknown",
        "start_rule": None,
        "start_note": None,
    }


def test_an_older_index_gets_the_basis_of_its_start_source(tmp_path: Path) -> None:
    videos = _videos(tmp_path)
    with Indexer(tmp_path / "index") as ix:
        for vid in ("name", "container"):
            ix.finalize(*videos[vid])
        # As an index written before the start basis was kept: no such columns, old documents.
        con = ix._con
        for column in ("start_basis", "start_rule", "start_note"):
            con.execute(f"ALTER TABLE videos DROP COLUMN {column}")
        con.execute("UPDATE videos SET start_source = 'container' WHERE video_id = 'container'")
        con.execute("UPDATE video_docs SET detail = '{}'")
    with Indexer(tmp_path / "index", publish_interval=0) as ix:
        rows = ix._con.execute(
            "SELECT video_id, start_basis, start_rule, start_note FROM videos ORDER BY video_id"
        ).fetchall()
        ix.publish()
    old = "from an index row written before the start basis was kept"
    assert rows == [("container", "container", None, old), ("name", "name", "viofo", old)]
    detail = _detail(tmp_path / "index", "name")
    assert (detail["start_basis"], detail["start_rule"]) == ("name", "viofo")


def test_the_documented_basis_values_are_those_ingestion_records() -> None:
    from webui_export.api.openapi_schemas import SCHEMAS

    found = [
        schema["properties"]["start_basis"]["enum"]
        for schema in SCHEMAS.values()
        if "start_basis" in schema.get("properties", {})
    ]
    assert found and all(enum == list(get_args(StartBasis)) for enum in found)
