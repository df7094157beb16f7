"""Publishing read snapshots: atomic switch, consistent readers, retirement, maintenance."""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from spoold.demo.synth import video_files
from webui_export.api.db import IndexReader
from webui_export.index import files as layout
from webui_export.index.validate import load_outputs
from webui_export.index.writer import Indexer

START = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)


def video_ids(reader: IndexReader) -> list[str]:
    session = reader.session()
    try:
        rows = session.rows(
            "SELECT video_id FROM read_parquet($v) ORDER BY video_id",
            {"v": session.global_file("videos")},
        )
        return [r[0] for r in rows]
    finally:
        session.cursor.close()


def test_a_finalized_video_becomes_visible_when_published(tmp_path: Path) -> None:
    with Indexer(tmp_path / "index", publish_interval=3600) as ix:
        reader = IndexReader(ix.db_dir)
        video, files = video_files(tmp_path / "w", "v1", start=START)
        report = ix.finalize(video, files)
        assert report.published_generation is None  # not due yet: one publish per interval
        assert video_ids(reader) == []

        generation = ix.publish()

        assert generation == 2
        assert video_ids(reader) == ["v1"]
        assert ix.publish() is None  # nothing new


def test_publish_if_due_waits_for_the_interval(tmp_path: Path) -> None:
    with Indexer(tmp_path / "index", publish_interval=10) as ix:
        video, files = video_files(tmp_path / "w", "v1", start=START)
        ix.finalize(video, files)
        now = time.monotonic()
        assert ix.publish_if_due(now) is None
        assert ix.publish_if_due(now + 11) == 2


def test_outputs_validated_ahead_are_indexed_and_published_when_the_caller_says(
    tmp_path: Path,
) -> None:
    with Indexer(tmp_path / "index", publish_interval=0) as ix:
        reader = IndexReader(ix.db_dir)
        v1, files1 = video_files(tmp_path / "w", "v1", start=START, detections=30)
        v2, files2 = video_files(tmp_path / "w", "v2", start=START, detections=7)
        ahead = load_outputs("v1", files1)  # as the daemon reads them ahead of the batch

        reports = ix.finalize_many([(v1, ahead, []), (v2, files2, [])], publish=False)

        assert [(r.video_id, r.detections, r.published_generation) for r in reports] == [
            ("v1", 30, None),
            ("v2", 7, None),
        ]  # committed, not published
        assert video_ids(reader) == []
        assert ix.publish() == 2
        assert video_ids(reader) == ["v1", "v2"]


def test_a_session_keeps_its_generation_while_the_writer_publishes(tmp_path: Path) -> None:
    with Indexer(tmp_path / "index") as ix:
        reader = IndexReader(ix.db_dir)
        old = reader.session()
        video, files = video_files(tmp_path / "w", "v1", start=START)
        ix.finalize(video, files)
        ix.publish()

        rows = old.rows("SELECT count(*) FROM read_parquet($v)", {"v": old.global_file("videos")})

        assert rows == [(0,)] and old.generation == 1
        assert video_ids(reader) == ["v1"]
        old.cursor.close()


def test_changed_blocks_and_partitions_are_rewritten_and_old_files_retired(tmp_path: Path) -> None:
    with Indexer(tmp_path / "index", keep_retired_s=0) as ix:
        video, files = video_files(tmp_path / "w", "v1", start=START)
        ix.finalize(video, files)
        ix.publish()
        first = layout.read_manifest(ix.db_dir)
        assert first is not None
        old_files = first.all_paths()

        ix.finalize(video, files)
        ix.publish()  # retires generation 2's files
        ix.publish()  # nothing new: no-op
        ix.finalize(video, files)
        ix.publish()  # prunes retired files past their (zero) grace period

        current = layout.read_manifest(ix.db_dir)
        assert current is not None
        replaced = [p for p in old_files if p not in current.all_paths()]
        assert first.block_paths("detections", 0)[0] in replaced
        assert any("/parts/videos/" in p for p in replaced)
        assert all(not (ix.db_dir / p).exists() for p in replaced)
        assert any("/parts/sightings/" in p for p in current.all_paths())  # untouched: kept
        for rel in current.all_paths():
            assert (ix.db_dir / rel).is_file()


def test_readers_never_see_a_half_written_snapshot(tmp_path: Path) -> None:
    """Every file a manifest names exists when the manifest becomes visible."""
    with Indexer(tmp_path / "index") as ix:
        for n in range(3):
            video, files = video_files(tmp_path / "w", f"v{n}", start=START)
            ix.finalize(video, files)
            ix.publish()
            manifest = layout.read_manifest(ix.db_dir)
            assert manifest is not None
            paths = manifest.all_paths()
            assert all((ix.db_dir / p).is_file() for p in paths)
        assert not list((ix.db_dir / layout.SNAPSHOT_DIR).glob(".staging-*"))


def test_maintain_compacts_checkpoints_and_prunes_orphans(tmp_path: Path) -> None:
    with Indexer(tmp_path / "index", keep_retired_s=0) as ix:
        for _ in range(5):
            video, files = video_files(tmp_path / "w", "v1", start=START, detections=3000)
            ix.finalize(video, files)  # re-finalizing leaves free blocks behind
        orphan = (
            ix.db_dir
            / layout.SNAPSHOT_DIR
            / "blocks"
            / "detections"
            / "b000009.g00000099.0.parquet"
        )
        orphan.parent.mkdir(parents=True, exist_ok=True)
        orphan.write_bytes(b"left by a crash mid-publish")
        staging = ix.db_dir / layout.SNAPSHOT_DIR / ".staging-g00000099"
        staging.mkdir()
        old = time.time() - 3600
        os.utime(orphan, (old, old))
        os.utime(staging, (old, old))

        report = ix.maintain(force_compact=True)

        assert report.compacted and report.files_pruned >= 1
        assert not orphan.exists() and not staging.exists()
        assert ix._con.execute("SELECT count(*) FROM detections").fetchone() == (3000,)
        video, files = video_files(tmp_path / "w2", "v2", start=START)
        ix.finalize(video, files)  # the writer carries on after compaction
        assert ix.publish() is not None


def test_reader_reports_a_missing_snapshot_clearly(tmp_path: Path) -> None:
    from webui_export.errors import SnapshotUnavailable

    with pytest.raises(SnapshotUnavailable, match="no published index yet"):
        IndexReader(tmp_path).session()


def test_reader_connection_cannot_read_outside_the_index(tmp_path: Path) -> None:
    import duckdb

    outside = tmp_path / "secret.csv"
    outside.write_text("a\n1\n")
    with Indexer(tmp_path / "index") as ix:
        session = IndexReader(ix.db_dir).session()
        with pytest.raises(duckdb.PermissionException):
            session.cursor.execute("SELECT * FROM read_csv($p)", {"p": str(outside)}).fetchall()


def test_an_older_snapshot_format_is_replaced_by_a_complete_publish(tmp_path: Path) -> None:
    with Indexer(tmp_path / "index") as ix:
        video, files = video_files(tmp_path / "w", "v1", start=START)
        ix.finalize(video, files)
        ix.publish()
    manifest = tmp_path / "index" / layout.MANIFEST
    manifest.write_text('{"format": "spoold-index-snapshot/1", "generation": 7}')
    with Indexer(tmp_path / "index"):
        pass
    assert video_ids(IndexReader(tmp_path / "index")) == ["v1"]
