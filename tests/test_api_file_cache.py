"""What a worker keeps per snapshot file (the row and value counts and the sorted paths of the
``videos`` files) follows new generations: a video finalized after the first requests is listed
and found, and nothing is kept for a file the current manifest no longer names."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from spoold.demo.synth import video_files
from webui_export.api.app import create_app
from webui_export.api.db import reader_for
from webui_export.index.writer import Indexer

JUNE = datetime(2026, 6, 20, tzinfo=timezone.utc)


def _finalize(index: Path, work: Path, video_id: str, start: datetime) -> None:
    with Indexer(index) as ix:
        ix.finalize(*video_files(work, video_id, start=start))
        ix.publish()


def test_lookups_follow_a_new_generation_and_forget_retired_files(tmp_path: Path) -> None:
    index = tmp_path / "index"
    _finalize(index, tmp_path / "w", "first", JUNE)
    client = create_app({"INDEX_DIR": index}).test_client()
    assert client.get("/api/videos/first").status_code == 200
    assert client.get("/api/videos/later").status_code == 404
    assert [r["video_id"] for r in client.get("/api/videos").get_json()["rows"]] == ["first"]
    by_path = client.get("/api/videos?path=videos/car1/f").get_json()["rows"]
    assert [r["video_id"] for r in by_path] == ["first"]
    kept_before = set(reader_for(index).session().files)
    assert {kind for kind, _ in kept_before} == {"counts", "paths"}

    _finalize(index, tmp_path / "w", "later", JUNE + timedelta(hours=1))
    later = client.get("/api/videos/later")
    assert later.status_code == 200 and later.get_json()["video"]["video_id"] == "later"
    assert client.get("/api/videos/later/track").status_code == 200
    assert client.get("/api/videos/later/detections").status_code == 200
    assert client.get("/api/videos/first").status_code == 200
    assert [r["video_id"] for r in client.get("/api/videos").get_json()["rows"]] == [
        "later",
        "first",
    ]
    session = reader_for(index).session()
    named = {str(index / p) for p in session.manifest.all_paths()}
    assert session.files and all(path in named for _, path in session.files)
    assert kept_before - set(session.files), "a rewritten partition's old file is still kept"
