"""Finalizing a video: validate its worker outputs, index them all or nothing, replace on redo."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from schemas.task import FileRef
from spoold.demo.synth import PlateSpec, pipeline_for, video_files
from webui_export.errors import FinalizeError
from webui_export.index import files as layout
from webui_export.index.validate import resolve_outputs
from webui_export.index.writer import Indexer

START = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def indexer(tmp_path: Path) -> Indexer:
    with Indexer(tmp_path / "index") as ix:
        yield ix


def counts(ix: Indexer, video_id: str | None = None) -> dict[str, int]:
    """Rows per table in the writer's database (for one video, if given)."""
    con = ix._con
    key = None
    if video_id is not None:
        row = con.execute("SELECT video_key FROM videos WHERE video_id = ?", [video_id]).fetchone()
        key = row[0] if row else -1
    out = {}
    for table in ("videos", "detections", "gps_points", "plate_reads", "stages"):
        sql = f"SELECT count(*) FROM {table}" + (" WHERE video_key = ?" if key is not None else "")
        out[table] = con.execute(sql, [key] if key is not None else []).fetchone()[0]
    out["sightings"] = con.execute("SELECT count(*) FROM sightings").fetchone()[0]
    return out


def test_finalize_indexes_every_kind_of_output(indexer: Indexer, tmp_path: Path) -> None:
    video, files = video_files(tmp_path / "w", "v1", start=START, plates=[PlateSpec("AB123", 5)])

    report = indexer.finalize(video, files, pipeline_for("v1"))

    assert (report.video_id, report.replaced) == ("v1", False)
    assert (report.detections, report.gps_points, report.plate_reads) == (100, 60, 3)
    assert counts(indexer, "v1") == {
        "videos": 1, "detections": 100, "gps_points": 60, "plate_reads": 3, "stages": 5,
        "sightings": 1,
    }  # fmt: skip


def test_refinalizing_replaces_rows_and_never_doubles_them(
    indexer: Indexer, tmp_path: Path
) -> None:
    video, files = video_files(tmp_path / "w", "v1", start=START, plates=[PlateSpec("AB123", 5)])
    indexer.finalize(video, files)
    first = counts(indexer)

    report = indexer.finalize(video, files)

    assert report.replaced
    assert counts(indexer) == first
    smaller, files2 = video_files(tmp_path / "w2", "v1", start=START, detections=7)
    indexer.finalize(smaller, files2)
    assert counts(indexer, "v1")["detections"] == 7
    assert counts(indexer)["sightings"] == 0  # the plate is gone from the new output


def test_detections_are_stored_in_time_order(indexer: Indexer, tmp_path: Path) -> None:
    video, files = video_files(tmp_path / "w", "v1", start=START, detections=300)
    indexer.finalize(video, files)
    rows = indexer._con.execute("SELECT seq, t FROM detections ORDER BY seq").fetchall()
    assert [r[0] for r in rows] == list(range(300))
    assert [r[1] for r in rows] == sorted(r[1] for r in rows)


def _broken(files: dict[str, Path], kind: str, content: str | None) -> Path:
    path = files[kind]
    if content is None:
        path.unlink()
    else:
        path.write_text(content)
    return path


@pytest.mark.parametrize(
    ("kind", "content", "reason"),
    [
        ("detections", None, "file does not exist"),
        ("gps", "", "empty file"),
        ("plates", '{"kind": "plates", "video_id": "v1", "reads": [{"t": 1', "not valid JSON"),
        ("detections", "[1, 2]", "Input should be an object"),
        (
            "detections",
            '{"video_id": "v1", "detections": [{"t": 1, "label": "car", "confidence": 2,'
            ' "bbox": {"x": 0, "y": 0, "w": 0.1, "h": 0.1}}]}',
            "detections.0.confidence: Input should be less than or equal to 1",
        ),
        (
            "detections",
            '{"video_id": "v1", "detections": [{"t": 1, "label": "car", "confidence": NaN,'
            ' "bbox": {"x": 0, "y": 0, "w": 0.1, "h": 0.1}}]}',
            "finite number",
        ),
        (
            "gps",
            '{"video_id": "v1", "source": "x", "points": [{"time": "2026-11-25T10:00:00",'
            ' "lat": 1, "lon": 2}]}',
            "must carry a timezone",
        ),
        (
            "plates",
            '{"video_id": "v1", "reads": [{"t": 1, "text_raw": "ab 1", "text": "ab 1",'
            ' "confidence": 0.5, "bbox": {"x": 0, "y": 0, "w": 0.1, "h": 0.1}}]}',
            "reads.0.text: String should match pattern",
        ),
        ("gps", '{"video_id": "v2", "source": "x", "points": []}', "is for video 'v2'"),
        ("detections", '{"video_id": "v1", "detections": [], "extra": 1}', "extra: Extra inputs"),
    ],
)
def test_invalid_or_partial_output_fails_with_the_file_and_reason(
    indexer: Indexer, tmp_path: Path, kind: str, content: str | None, reason: str
) -> None:
    video, files = video_files(tmp_path / "w", "v1", start=START, plates=[PlateSpec("AB1", 2)])
    path = _broken(files, kind, content)
    before = counts(indexer)

    with pytest.raises(FinalizeError) as err:
        indexer.finalize(video, files)

    assert str(err.value).startswith(str(path))
    assert reason in str(err.value)
    assert counts(indexer) == before  # nothing half-indexed


def test_a_failed_refinalize_leaves_the_previous_version_intact(
    indexer: Indexer, tmp_path: Path
) -> None:
    video, files = video_files(tmp_path / "w", "v1", start=START, plates=[PlateSpec("AB1", 2)])
    indexer.finalize(video, files)
    before = counts(indexer)
    _broken(files, "plates", '{"kind": "plates", "video_id": "v1", "reads": [')

    with pytest.raises(FinalizeError):
        indexer.finalize(video, files)

    assert counts(indexer) == before


def test_a_database_error_mid_transaction_rolls_everything_back(
    indexer: Indexer, tmp_path: Path
) -> None:
    video, files = video_files(tmp_path / "w", "v1", start=START, plates=[PlateSpec("AB1", 2)])
    indexer.finalize(video, files)
    before = counts(indexer)
    indexer._con.execute("ALTER TABLE sightings ADD COLUMN poison INTEGER NOT NULL DEFAULT 0")
    indexer._con.execute("ALTER TABLE sightings ALTER poison DROP DEFAULT")  # inserts now fail

    with pytest.raises(FinalizeError, match="video v1: indexing failed, nothing indexed"):
        indexer.finalize(video, files)

    assert counts(indexer) == before


def test_unknown_output_types_are_refused(indexer: Indexer, tmp_path: Path) -> None:
    video, files = video_files(tmp_path / "w", "v1", start=START)
    with pytest.raises(FinalizeError, match="unknown output type"):
        indexer.finalize(video, {**files, "thumbnails": files["gps"]})


def test_resolve_outputs_maps_task_outputs_to_local_paths(tmp_path: Path) -> None:
    outputs = [
        FileRef(device="server", path="meta/v1.detections.json", type="detections"),
        FileRef(device="server", path="meta/v1.gps.json", type="gps"),
        FileRef(device="shed-nas", path="video/v1.mp4", type="video"),
    ]
    roots = {"server": tmp_path / "srv"}
    assert resolve_outputs(outputs, roots) == {
        "detections": tmp_path / "srv/meta/v1.detections.json",
        "gps": tmp_path / "srv/meta/v1.gps.json",
    }
    with pytest.raises(FinalizeError, match="unknown storage device 'nas'"):
        resolve_outputs([FileRef(device="nas", path="a.json", type="gps")], roots)
    with pytest.raises(FinalizeError, match="two gps outputs"):
        resolve_outputs([outputs[1], outputs[1]], roots)


def test_time_basis_comes_from_utc_then_gps_then_camera_clock(
    indexer: Indexer, tmp_path: Path
) -> None:
    utc, f1 = video_files(tmp_path / "w", "utc", start=START)
    from_gps, f2 = video_files(tmp_path / "w", "gps", start=START)
    from_gps = from_gps.model_copy(update={"start_utc": None})
    local, f3 = video_files(tmp_path / "w", "local", start=START, camera_clock_only=True)
    none, f4 = video_files(tmp_path / "w", "none", start=None)
    for video, files in ((utc, f1), (from_gps, f2), (local, f3), (none, f4)):
        indexer.finalize(video, files)
    rows = dict(
        (r[0], r[1:])
        for r in indexer._con.execute(
            "SELECT video_id, time_basis, start_ts, timeline FROM videos"
        ).fetchall()
    )
    naive = START.replace(tzinfo=None)
    assert rows["utc"] == ("utc", naive, "car1")
    assert rows["gps"] == ("utc", naive, "car1")
    assert rows["local"][0] == "local" and rows["local"][2] == "car1#local"
    assert rows["none"] == ("none", None, "video:none")


def test_a_second_writer_process_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    with Indexer(tmp_path / "index"):
        code = (
            "import sys; from pathlib import Path; from webui_export.index.writer import Indexer\n"
            "from webui_export.errors import IndexLocked\n"
            "try:\n    Indexer(Path(sys.argv[1]))\n"
            "except IndexLocked as exc:\n    print('LOCKED', exc); sys.exit(3)\n"
        )
        proc = subprocess.run(
            [sys.executable, "-c", code, str(tmp_path / "index")],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert proc.returncode == 3, proc.stderr
    assert "another process holds the index writer" in proc.stdout


def test_first_open_publishes_an_empty_snapshot(tmp_path: Path) -> None:
    with Indexer(tmp_path / "index") as ix:
        manifest = layout.read_manifest(ix.db_dir)
    assert manifest is not None and manifest.generation == 1
    assert manifest.counts["videos"] == 0
    doc = json.loads((tmp_path / "index" / layout.MANIFEST).read_text())
    assert doc["format"] == layout.FORMAT


def test_a_batch_indexes_the_valid_videos_and_reports_the_invalid_ones(
    indexer: Indexer, tmp_path: Path
) -> None:
    good1, f1 = video_files(tmp_path / "w", "b1", start=START, plates=[PlateSpec("AB1", 2)])
    bad, f2 = video_files(tmp_path / "w", "b2", start=START)
    _broken(f2, "gps", "{")
    good2, f3 = video_files(tmp_path / "w", "b3", channel="rear", start=START, gps_hz=None,
                            plates=[PlateSpec("A81", 3)])  # fmt: skip

    results = indexer.finalize_many(
        [(good1, f1, []), (bad, f2, []), (good2, f3, []), (good1, f1, [])]
    )

    assert [type(r).__name__ for r in results] == [
        "FinalizeReport", "FinalizeError", "FinalizeReport", "FinalizeError",
    ]  # fmt: skip
    assert "not valid JSON" in str(results[1]) and "given twice" in str(results[3])
    assert counts(indexer)["videos"] == 2
    assert counts(indexer)["sightings"] == 1  # front and rear merged within the batch


def test_a_batch_gives_the_same_index_as_one_video_at_a_time(tmp_path: Path) -> None:
    made = [
        video_files(tmp_path / "w", f"s{n}", channel=("front", "rear")[n % 2],
                    start=START.replace(minute=n), plates=[PlateSpec("XY1", 50.0 + n)])
        for n in range(6)
    ]  # fmt: skip
    query = (
        "SELECT plate, first_seen, last_seen, reads, video_ids, lat FROM sightings"
        " ORDER BY first_seen"
    )
    with Indexer(tmp_path / "one") as one, Indexer(tmp_path / "many") as many:
        for video, files in made:
            one.finalize(video, files)
        many.finalize_many([(video, files, []) for video, files in made])
        assert one._con.execute(query).fetchall() == many._con.execute(query).fetchall()
        assert counts(one) == counts(many)


def test_finalizing_does_not_rescan_sys_path_for_a_missing_module(
    indexer: Indexer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pyarrow tries ``import dateutil.relativedelta`` on every type inference.  Python does
    not cache a failed import, so without python-dateutil (a server dependency) each attempt
    rescans sys.path: ~40 per video, which once halved finalize throughput."""
    import builtins

    real_import = builtins.__import__
    failed: list[str] = []

    def counting_import(name: str, *args: object, **kwargs: object) -> object:
        try:
            return real_import(name, *args, **kwargs)  # type: ignore[arg-type]
        except ImportError:
            failed.append(name)
            raise

    made = [
        video_files(tmp_path / "w", f"v{i}", start=START, plates=[PlateSpec("AB123", 5)])
        for i in range(3)
    ]
    monkeypatch.setattr(builtins, "__import__", counting_import)
    indexer.finalize_many([(video, files, pipeline_for(video.video_id)) for video, files in made])
    monkeypatch.setattr(builtins, "__import__", real_import)
    assert [n for n in failed if n.startswith("dateutil")] == []
