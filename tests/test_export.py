"""Exports: a track as GPX and GeoJSON, a plate's sightings as CSV, the index as Parquet."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import duckdb
import pytest

from spoold.demo.synth import DemoIndex, build_demo_index
from webui_export.api.export import parquet_dump, plate_csv, track_geojson, track_gpx
from webui_export.errors import NotInIndex

GPX = "{http://www.topografix.com/GPX/1/1}"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoIndex:
    tmp = tmp_path_factory.mktemp("demo")
    return build_demo_index(tmp / "index", tmp / "files")


def test_track_as_gpx(demo: DemoIndex, tmp_path: Path) -> None:
    out = tmp_path / "track.gpx"
    assert track_gpx(demo.index_dir, "car1_f_0001", out) == 60
    root = ET.parse(out).getroot()
    points = root.findall(f"{GPX}trk/{GPX}trkseg/{GPX}trkpt")
    assert len(points) == 60
    assert points[0].find(f"{GPX}time").text == "2026-11-24T08:00:00.000Z"
    assert 48 < float(points[0].get("lat")) < 49 and 11 < float(points[0].get("lon")) < 12
    assert root.find(f"{GPX}trk/{GPX}name").text == "car1_f_0001"


def test_track_as_geojson_to_a_stream(demo: DemoIndex) -> None:
    out = io.StringIO()
    assert track_geojson(demo.index_dir, "car1_f_0001", out) == 60
    feature = json.loads(out.getvalue())
    assert feature["geometry"]["type"] == "LineString"
    assert len(feature["geometry"]["coordinates"]) == 60


def test_plate_sightings_as_csv(demo: DemoIndex, tmp_path: Path) -> None:
    out = tmp_path / "ab123.csv"
    assert plate_csv(demo.index_dir, "a8 123", out) == 3
    rows = list(csv.DictReader(out.open()))
    assert [r["video_id"] for r in rows] == ["car1_f_0001", "car1_f_0002", "car2_f_0001"]
    assert rows[0]["video_ids"] == "car1_f_0001 car1_r_0001"
    assert rows[0]["first_seen"] == "2026-11-24T08:00:05.000Z" and rows[0]["lat"]
    assert list(rows[0])[:3] == ["sighting_id", "plate", "region"]
    assert rows[0]["region"] == ""  # the demo's texts match no plate format


def test_unknown_video_or_plate_is_reported(demo: DemoIndex, tmp_path: Path) -> None:
    with pytest.raises(NotInIndex, match="no video 'nope'"):
        track_gpx(demo.index_dir, "nope", tmp_path / "x.gpx")
    with pytest.raises(NotInIndex, match="never sighted"):
        plate_csv(demo.index_dir, "ZZ999", tmp_path / "x.csv")
    with pytest.raises(ValueError, match="is not a plate"):
        plate_csv(demo.index_dir, "!!", tmp_path / "x.csv")
    assert not (tmp_path / "x.gpx").exists() and not (tmp_path / "x.csv").exists()


def test_whole_index_as_parquet_partitioned_by_day(demo: DemoIndex, tmp_path: Path) -> None:
    out = tmp_path / "dump"
    counts = parquet_dump(demo.index_dir, out)

    assert counts["videos"] == 8 and counts["detections"] == 345
    assert sorted(p.name for p in (out / "videos").iterdir()) == [
        "day=2026-11-23", "day=2026-11-24", "day=2026-11-25", "day=unknown",
    ]  # fmt: skip
    con = duckdb.connect()
    per_day = con.execute(
        "SELECT day, count(*) FROM read_parquet($p, hive_partitioning = true)"
        " GROUP BY day ORDER BY day",
        {"p": str(out / "detections" / "*" / "*.parquet")},
    ).fetchall()
    assert per_day == [
        ("2026-11-23", 5), ("2026-11-24", 240), ("2026-11-25", 90), ("unknown", 10),
    ]  # fmt: skip
    video_ids = con.execute(
        "SELECT DISTINCT video_id FROM read_parquet($p, hive_partitioning = true)",
        {"p": str(out / "plate_reads" / "*" / "*.parquet")},
    ).fetchall()
    assert len(video_ids) == 5
    assert json.loads((out / "counts.json").read_text())["videos"] == 8


def test_parquet_dump_refuses_to_overwrite(demo: DemoIndex, tmp_path: Path) -> None:
    (tmp_path / "dump").mkdir()
    (tmp_path / "dump" / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match="not an empty directory"):
        parquet_dump(demo.index_dir, tmp_path / "dump")
